"""The checkout tells the truth in every state: a bought cart is gone, an unknown outcome is said to be unknown
and found out, a reload never asks for a card again, and a changed cart or stock refuses with what changed."""
from __future__ import annotations

import re

import pytest
import stripe
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

import storefront as sf
from checkout_steps import add_to_cart, fill_card, open_checkout
from tests.support.emulator import EMULATOR_SECRET_KEY

CHALLENGE = 'iframe[title="3D Secure challenge"]'
NOT_CHARGED = re.compile("nothing was charged", re.I)


@pytest.fixture(autouse=True)
def clean_emulator(shop):
    yield
    sf.reset_emulator(shop)


def _sql(shop, statement: str, **params) -> list:
    engine = create_engine(shop.database_url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.fetchall() if result.returns_rows else []
    finally:
        engine.dispose()


def _order_id(page) -> str:
    return sf.ORDER_URL.match(page.url).group(0).rsplit("/", 1)[1]


def _charges(shop, order_id: str) -> int:
    client = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": shop.emulator.api})
    intents = [pi.id for pi in client.v1.payment_intents.list(params={"limit": 100}).data
               if pi.to_dict().get("metadata", {}).get("order_id") == order_id]
    charges = client.v1.charges.list(params={"limit": 100}).data
    return sum(1 for c in charges if c.payment_intent in intents and c.status == "succeeded")


def _three_d_secure_purchase(page, shop, product: str) -> str:
    add_to_cart(page, shop.url, product)
    open_checkout(page, shop.url)
    fill_card(page, sf.THREE_DS)
    page.locator("#pay-button").click()
    page.frame_locator(CHALLENGE).get_by_role("button", name="Complete").click()
    page.wait_for_url(sf.ORDER_URL)
    return _order_id(page)


def test_after_a_3ds_purchase_the_cart_is_empty_and_the_next_order_holds_only_the_new_item(shop, shop_page):
    page = shop_page
    first = _three_d_secure_purchase(page, shop, "Enamel Camp Mug")
    expect(page.get_by_test_id("order-state")).to_have_text("Payment received. We're preparing your parcel.",
                                                            timeout=20000)
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
    page.goto(shop.url + "/")
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
    add_to_cart(page, shop.url, "Hand Burr Grinder")
    open_checkout(page, shop.url)
    fill_card(page, sf.CARD)
    page.locator("#pay-button").click()
    page.wait_for_url(sf.ORDER_URL)
    second = _order_id(page)
    assert second != first
    names = [row[0] for row in _sql(shop, "SELECT l.name FROM order_line l JOIN \"order\" o ON o.id = l.order_id "
                                          "WHERE o.public_id = :id", id=second)]
    assert names == ["Hand Burr Grinder"]


def test_the_order_page_speaks_with_one_voice_in_shopper_words(shop, shop_page):
    page = shop_page
    _three_d_secure_purchase(page, shop, "Enamel Camp Mug")
    expect(page.get_by_test_id("order-state")).to_have_text("Payment received. We're preparing your parcel.",
                                                            timeout=20000)
    expect(page.get_by_test_id("payment-state")).to_have_text(re.compile("^Paid"))
    expect(page.locator(".timeline li.current")).to_have_text(re.compile("Preparing your parcel"))
    page.reload()  # the server's drawing and the polled one agree
    expect(page.get_by_test_id("payment-state")).to_have_text(re.compile("^Paid"))
    body = page.locator("main").inner_text()
    assert "fulfilled" not in body.lower() and "awaiting" not in body.lower(), body
    sf.assert_accessible(page)


def test_a_confirm_that_runs_out_of_time_is_said_to_be_unknown_then_found_paid_with_one_charge(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, "Hand Burr Grinder")
    open_checkout(page, shop.url)
    fill_card(page, sf.CARD)
    shop.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents",
                                                    "latency_ms": 12000, "count": 1})
    page.locator("#pay-button").click()
    page.wait_for_url(sf.ORDER_URL, timeout=30000)
    state = page.get_by_test_id("order-state")
    expect(state).to_have_text("We're confirming your payment with your bank.")
    expect(page.get_by_test_id("next-steps")).to_contain_text("Please don't pay again")
    assert not NOT_CHARGED.search(page.locator("main").inner_text())
    expect(page.get_by_role("link", name="Return to your cart")).to_have_count(0)  # nothing to pay again
    expect(state).to_have_text("Payment received. We're preparing your parcel.", timeout=60000)
    assert _charges(shop, _order_id(page)) == 1


def test_reloading_a_paid_checkout_goes_to_its_order_instead_of_asking_for_a_card(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, "Hand Burr Grinder")
    open_checkout(page, shop.url)
    fill_card(page, sf.CARD)
    answered = []

    def pass_through_then_lose_the_answer(route):
        answered.append(route.fetch())  # the shop confirms and charges; the browser never hears back
        route.abort()

    page.route("**/checkout/confirm", pass_through_then_lose_the_answer)
    page.locator("#pay-button").click()
    page.wait_for_function("() => document.querySelector('#payment-form').dataset.state !== 'processing'")
    assert answered and answered[0].status == 200
    page.goto(shop.url + "/checkout")
    page.wait_for_url(sf.ORDER_URL)
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
    page.go_back()
    page.wait_for_url(re.compile(r".*/(orders/[0-9a-f]{32}|cart)$"))
    expect(page.locator("#payment-element")).to_have_count(0)


def test_reloading_during_the_bank_check_reopens_it_and_finishes_with_one_charge(shop, shop_page):
    page = shop_page
    sf.authenticating(page, shop)
    page.reload()
    expect(page.locator(CHALLENGE)).to_be_visible()
    expect(page.locator("#payment-status")).to_contain_text("Your bank wants to confirm it's you")
    page.frame_locator(CHALLENGE).get_by_role("button", name="Complete").click()
    page.wait_for_url(sf.ORDER_URL)
    expect(page.get_by_test_id("order-state")).to_have_text("Payment received. We're preparing your parcel.",
                                                            timeout=20000)
    assert _charges(shop, _order_id(page)) == 1


def test_a_price_changed_after_the_page_loaded_refuses_with_the_new_total(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, "Ceramic Pour-Over")
    open_checkout(page, shop.url)
    old = _sql(shop, "SELECT price FROM product WHERE name = 'Ceramic Pour-Over'")[0][0]
    _sql(shop, "UPDATE product SET price = :p WHERE name = 'Ceramic Pour-Over'", p=old + 500)
    try:
        fill_card(page, sf.CARD)
        page.locator("#pay-button").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("The price of Ceramic Pour-Over changed")
        expect(alert).to_contain_text(NOT_CHARGED)
        # the page now shows the new total, and paying again is for that total
        expect(page.get_by_test_id("checkout-total")).to_contain_text(f"{(old + 500) / 100:.2f}")
        expect(page.locator("#pay-button")).to_have_text(f"Pay ${(old + 500) / 100:.2f}")
    finally:
        _sql(shop, "UPDATE product SET price = :p WHERE name = 'Ceramic Pour-Over'", p=old)


def test_too_few_left_names_the_product_and_how_many_then_leads_to_the_cart(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, "Gooseneck Kettle")
    add_to_cart(page, shop.url, "Gooseneck Kettle")
    open_checkout(page, shop.url)
    stock = _sql(shop, "SELECT stock FROM product WHERE name = 'Gooseneck Kettle'")[0][0]
    _sql(shop, "UPDATE product SET stock = 1 WHERE name = 'Gooseneck Kettle'")
    try:
        fill_card(page, sf.CARD)
        page.locator("#pay-button").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("only 1 Gooseneck Kettle left, and your cart asks for 2")
        page.get_by_role("link", name="Update your cart").click()
        page.wait_for_url("**/cart")
    finally:
        _sql(shop, "UPDATE product SET stock = :s WHERE name = 'Gooseneck Kettle'", s=stock)


def test_a_blocked_stripe_js_is_explained_without_speaking_of_an_order(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, sf.PRODUCT)
    page.route(re.compile(r".*/v3/?$"), lambda route: route.abort("blockedbyclient"))
    page.goto(shop.url + "/checkout")
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "blocked")
    message = page.get_by_role("alert")
    expect(message).to_contain_text("ad blocker")
    assert "order" not in message.inner_text().lower()
    sf.screenshot(page, "checkout-stripe-blocked")


def test_a_hanging_stripe_js_stops_spinning_and_says_so(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, sf.PRODUCT)
    page.clock.install()
    page.route(re.compile(r".*/v3/?$"), lambda route: None)  # never answered
    page.goto(shop.url + "/checkout", wait_until="domcontentloaded")
    page.clock.fast_forward(16000)
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "slow")
    expect(page.locator("#payment-message")).to_contain_text("taking longer than usual")


def test_back_from_the_bank_the_shop_asks_stripe_instead_of_waiting_for_a_late_webhook(shop, shop_page):
    page = shop_page
    shop.emulator.ctl("POST", "/_emulator/webhook_faults", {"mode": "delay", "delay_ms": 120000})
    _three_d_secure_purchase(page, shop, "Enamel Camp Mug")
    expect(page.get_by_test_id("order-state")).to_have_text(sf.PREPARING, timeout=20000)
    expect(page.get_by_test_id("cart-count")).to_have_text("0")
