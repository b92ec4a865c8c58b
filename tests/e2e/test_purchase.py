"""A shopper buys with Stripe's test cards, end to end, in Chromium."""
import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from checkout_steps import add_to_cart, fill_card, open_checkout, pay

CARD = "4242 4242 4242 4242"
pytestmark = pytest.mark.live_ok  # these run unchanged against Stripe's test mode (E2E_STRIPE=live)


def test_buying_with_4242_ends_on_an_order_page_that_says_the_parcel_is_being_prepared(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url)
    open_checkout(page, shop.url)
    fill_card(page, CARD)
    started = time.monotonic()
    pay(page)
    page.wait_for_url(re.compile(r".*/orders/[0-9a-f]{32}$"))
    expect(page.get_by_test_id("order-state")).to_have_text("Payment received. We're preparing your parcel.",
                                                            timeout=15000)
    print(f"pay click to payment received: {time.monotonic() - started:.2f} s")
    expect(page.get_by_test_id("cart-count")).to_have_text("0")


def test_a_declined_card_shows_the_decline_and_leaves_no_paid_order(shop, shop_page):
    page = shop_page
    add_to_cart(page, shop.url, "Gooseneck Kettle")
    open_checkout(page, shop.url)
    fill_card(page, "4000 0000 0000 0002")
    pay(page)
    expect(page.get_by_role("alert")).to_have_text("Your card was declined. Please try another card.")
    expect(page.locator("#pay-button")).to_be_enabled()
    assert page.url.endswith("/checkout")
    with create_engine(shop.database_url).connect() as connection:
        states = connection.execute(text(
            "SELECT o.state FROM \"order\" o JOIN order_line l ON l.order_id = o.id "
            "WHERE l.product_id = 'gooseneck-kettle'")).scalars().all()
    assert states and "paid" not in states and "fulfilled" not in states
    expect(page.get_by_test_id("cart-count")).to_have_text("1")


def test_no_request_to_the_shop_carries_the_card_number(shop, shop_page):
    page = shop_page
    seen = []
    page.on("request", lambda request: seen.append(request) if request.url.startswith(shop.url) else None)
    add_to_cart(page, shop.url, "Ceramic Pour-Over")
    open_checkout(page, shop.url)
    fill_card(page, CARD, expiry="11 / 33", cvc="987")
    pay(page)
    page.wait_for_url(re.compile(r".*/orders/"))
    assert any(r.url.endswith("/checkout/confirm") for r in seen)
    for request in seen:
        blob = request.url + (request.post_data or "")
        for secret in ("4242424242424242", "4242 4242 4242 4242", "424242", "11 / 33", "11/33"):
            assert secret not in blob, (secret, request.url)
        assert "987" not in _field_values(request.post_data), request.url


def _field_values(body: str | None) -> list[str]:
    """Every value a JSON or form body sends (the CVC is too short to search for in the raw text)."""
    import json
    from urllib.parse import parse_qsl

    if not body:
        return []
    try:
        data = json.loads(body)
        return [str(v) for v in data.values()] if isinstance(data, dict) else [str(data)]
    except ValueError:
        return [value for _, value in parse_qsl(body)]
