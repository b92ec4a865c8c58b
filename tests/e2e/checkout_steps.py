"""Steps a shopper takes, written once for every E2E test."""
from __future__ import annotations

FRAME = 'iframe[title="Secure payment input frame"]'
ADDRESS_FRAME = 'iframe[title="Secure address input frame"]'
# what a shopper types into the Address Element: by its labels, which are Stripe's own (E2E_STRIPE=live)
SAN_FRANCISCO = {"name": "Jenny Rosen", "country": "United States", "line1": "1 Market St", "city": "San Francisco",
                 "state": "California", "postal_code": "94105"}


def add_to_cart(page, shop_url: str, product_name: str = "Enamel Camp Mug") -> None:
    page.goto(shop_url + "/")
    page.get_by_role("button", name=f"Add {product_name} to cart").click()
    page.wait_for_url("**/cart")


def open_checkout(page, shop_url: str, address: dict | None = None) -> None:
    """Open the checkout and enter a delivery address; ready when the shop has quoted it (Pay is on)."""
    page.goto(shop_url + "/checkout")
    fill_address(page, address or SAN_FRANCISCO)
    page.locator("#pay-button:not([disabled])").wait_for()


def fill_address(page, address: dict) -> None:
    frame = page.frame_locator(ADDRESS_FRAME)
    frame.get_by_label("Full name").fill(address["name"])
    frame.get_by_label("Country or region").select_option(label=address["country"])
    frame.get_by_label("Address line 1").fill(address["line1"])
    frame.get_by_label("City").fill(address["city"])
    if address.get("state"):
        frame.get_by_label("State", exact=True).select_option(label=address["state"])
    if address.get("region"):
        frame.get_by_label("State, county, province, or region").fill(address["region"])
    frame.get_by_label("ZIP" if address["country"] == "United States" else "Postal code").fill(
        address["postal_code"])


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


def tab_until(page, test: str, limit: int = 40) -> None:
    """Press Tab until the page's `test` (a JS expression) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(test):
            return
    raise AssertionError(f"never reached by Tab: {test}")


def tab_in_frame_until(page, frame, name: str, limit: int = 12) -> None:
    """Press Tab until the field named `name` inside `frame` (an Element's iframe) has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if frame.evaluate("() => document.activeElement && document.activeElement.name") == name:
            return
    raise AssertionError(f"never reached by Tab: {name} in {frame.url}")
