"""The cart outlives the browser: its cookie is HttpOnly and lasts 30 days, so a browser reopened with only its
persistent cookies finds the cart again; two tabs adding at the same moment end with one cart holding both."""
import time

import pytest
from playwright.sync_api import expect

from checkout_steps import add_to_cart

pytestmark = pytest.mark.live_ok  # no Stripe call at all
THIRTY_DAYS = 30 * 24 * 3600
# started in a tab without waiting for it, so two tabs' adds are in flight together
START_ADD = """product => { window.added = fetch('/cart/add', {method: 'POST', body: new URLSearchParams({
    product_id: product, quantity: '1', csrf_token: document.querySelector('input[name=csrf_token]').value})})
    .then(response => response.status); }"""


def test_the_cart_outlives_the_browser_and_two_tabs_adding_at_once_share_it(shop, shop_page, browser):
    page = shop_page
    add_to_cart(page, shop.url, "Enamel Camp Mug")
    cookies = {c["name"]: c for c in page.context.cookies()}
    cart = cookies["cart"]
    assert cart["httpOnly"] and cart["sameSite"] == "Lax" and cart["path"] == "/"
    assert THIRTY_DAYS - 300 < cart["expires"] - time.time() <= THIRTY_DAYS + 5
    assert cookies["session"]["expires"] == -1  # the session cookie ends with the browser
    assert "cart=" not in page.evaluate("document.cookie")  # no script can read it

    # Close the browser: what survives is the cookies with an expiry, i.e. the cart's and not the session's.
    kept = [c for c in page.context.storage_state()["cookies"] if c["expires"] > 0]
    assert [c["name"] for c in kept] == ["cart"]
    reopened = browser.new_context(storage_state={"cookies": kept, "origins": []})
    try:
        first, second = reopened.new_page(), reopened.new_page()
        first.goto(shop.url + "/cart")
        expect(first.get_by_test_id("cart-count")).to_have_text("1")
        expect(first.get_by_role("link", name="Enamel Camp Mug")).to_be_visible()

        second.goto(shop.url + "/")
        first.evaluate(START_ADD, "enamel-mug")
        second.evaluate(START_ADD, "single-origin-beans")
        assert [first.evaluate("() => window.added"), second.evaluate("() => window.added")] == [200, 200]

        for tab in (first, second):
            tab.goto(shop.url + "/cart")
            expect(tab.get_by_test_id("cart-count")).to_have_text("3")
            expect(tab.get_by_label("Qty of Enamel Camp Mug")).to_have_value("2")
            expect(tab.get_by_label("Qty of Single-Origin Beans, 340 g")).to_have_value("1")
        assert [c["value"] for c in reopened.cookies() if c["name"] == "cart"] == [cart["value"]]
    finally:
        reopened.close()
