"""Stripe goes down mid-checkout: the shopper gets the saved-cart message, the catalog still loads, and the
same checkout goes through once Stripe is back. Charges are counted at the (emulated) Stripe."""
import re

import stripe
from playwright.sync_api import expect

from checkout_steps import add_to_cart, fill_card, open_checkout, pay
from tests.support.emulator import EMULATOR_SECRET_KEY
from storefront import UNAVAILABLE

ORDER_URL = re.compile(r".*/orders/([0-9a-f]{32})$")


def _succeeded_charges(shop, order_public_id: str) -> int:
    client = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": shop.emulator.api})
    intents = [pi for pi in client.v1.payment_intents.list(params={"limit": 100}).data
               if pi.to_dict().get("metadata", {}).get("order_id") == order_public_id]
    assert len(intents) == 1, intents
    charges = client.v1.charges.list(params={"limit": 100}).data
    return sum(1 for c in charges if c.payment_intent == intents[0].id and c.status == "succeeded")


def test_an_outage_keeps_the_cart_and_the_catalog_and_the_same_checkout_succeeds_after(shop, shop_page, context):
    page = shop_page
    add_to_cart(page, shop.url, "Hand Burr Grinder")
    open_checkout(page, shop.url)
    fill_card(page, "4242 4242 4242 4242")
    shop.emulator.ctl("POST", "/_emulator/outage", {"down": True})
    try:
        pay(page)
        expect(page.get_by_role("alert")).to_have_text(UNAVAILABLE)
        expect(page.get_by_test_id("cart-count")).to_have_text("1")
        catalog = context.new_page()
        response = catalog.goto(shop.url + "/")
        assert response.status == 200
        expect(catalog.get_by_role("button", name="Add Hand Burr Grinder to cart")).to_be_visible()
        catalog.close()
    finally:
        shop.emulator.ctl("POST", "/_emulator/outage", {"down": False})
    page.wait_for_timeout(3500)  # BREAKER_RESET_TIMEOUT=3 in E2E: the breaker lets a probe through
    page.locator("#pay-button").click()
    page.wait_for_url(ORDER_URL)
    order_id = ORDER_URL.match(page.url).group(1)
    assert _succeeded_charges(shop, order_id) == 1


def test_a_double_click_on_pay_charges_once(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, "Hand Burr Grinder")
    open_checkout(page, shop.url)
    fill_card(page, "4242 4242 4242 4242")
    page.locator("#pay-button").dblclick()
    page.wait_for_url(ORDER_URL)
    assert _succeeded_charges(shop, ORDER_URL.match(page.url).group(1)) == 1
