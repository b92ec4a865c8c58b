"""Steps a shopper takes, written once for every E2E test."""
from __future__ import annotations

FRAME = 'iframe[title="Secure payment input frame"]'


def add_to_cart(page, shop_url: str, product_name: str = "Enamel Camp Mug") -> None:
    page.goto(shop_url + "/")
    page.get_by_role("button", name=f"Add {product_name} to cart").click()
    page.wait_for_url("**/cart")


def open_checkout(page, shop_url: str) -> None:
    page.goto(shop_url + "/checkout")
    page.locator("#pay-button:not([disabled])").wait_for()


def fill_card(page, number: str, expiry: str = "12 / 34", cvc: str = "123", postal: str = "12345",
              email: str = "shopper@example.com") -> None:
    page.get_by_label("Email for your receipt").fill(email)
    frame = page.frame_locator(FRAME)
    frame.locator('input[name="number"]').fill(number)
    frame.locator('input[name="expiry"]').fill(expiry)
    frame.locator('input[name="cvc"]').fill(cvc)
    frame.locator('input[name="postalCode"]').fill(postal)


def pay(page) -> None:
    page.locator("#pay-button").click()
