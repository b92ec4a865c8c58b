"""A purchase of physical goods in Chromium: a delivery address in the Address Element, express shipping, a
discount code and Stripe Tax, at desktop and phone widths and with the keyboard alone; axe-clean throughout."""
from __future__ import annotations

import os
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from playwright.sync_api import expect
from redis import Redis
from sqlalchemy import create_engine, text

import storefront as sf
from checkout_steps import (ADDRESS_FRAME, SAN_FRANCISCO, add_to_cart, fill_address, fill_card, pay, tab_in_frame_until,
                            tab_until)
from tests.support.stack import Stack

LIVE = os.environ.get("E2E_STRIPE") == "live"
pytestmark = pytest.mark.live_ok  # the selectors are the Address Element's own labels
PRESS = ("Travel Coffee Press", 3495)
EXPRESS = 1499  # Settings' default SHIPPING_RATES, domestic
CALIFORNIA = Decimal("0.0725")  # the emulator's rate table (Stripe's own differ by account)
DEFAULT_RATES = "domestic:standard=599@3-5,express=1499@1-2;international:standard=1999@6-10,express=3999@2-4"


@pytest.fixture(scope="module")
def taxed_shop(tmp_path_factory, e2e_redis_url):
    """The shop with its own pricing defaults: Stripe Tax on prices before tax, the default shipping rates."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(e2e_redis_url)  # a database of its own beside the shared E2E shop's
    redis_url = urlunsplit(parts._replace(path=f"/{int(parts.path.strip('/') or 0) + 1}"))
    Redis.from_url(redis_url).flushdb()
    stack = Stack(tmp_path_factory.mktemp("taxed"), database_url=os.environ.get("TEST_DATABASE_URL"),
                  redis_url=redis_url, web_workers=1, web_threads=4, workers=1, emulator=not LIVE,
                  extra_env={"TAX": "stripe", "TAX_BEHAVIOR": "exclusive", "SHIPPING_RATES": DEFAULT_RATES,
                             "RATE_LIMIT_CONFIRM": "1000/minute", "RATE_LIMIT_QUOTE": "10000/minute"})
    stack.extra_env["PUBLIC_URL"] = stack.url
    stack.start()
    engine = create_engine(stack.database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO discount_code (code, kind, value, currency, min_subtotal, uses, disabled, created_by, "
            "created_at) VALUES ('SAVE10', 'percent', 10, 'usd', 0, 0, false, 'e2e', CURRENT_TIMESTAMP)"))
    engine.dispose()
    try:
        yield stack
    finally:
        stack.stop()


def _cents(text_: str) -> int:
    return int(round(Decimal(re.sub(r"[^0-9.]", "", text_)) * 100))


def _half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _summary(page) -> dict[str, int]:
    return {name: _cents(page.locator(f"#summary-{name}").inner_text()) for name in ("subtotal", "shipping", "tax")} | {
        "discount": _cents(page.locator("#summary-discount").inner_text() or "0"),
        "total": _cents(page.get_by_test_id("checkout-total").inner_text())}


@pytest.mark.parametrize("width, height", [(1280, 900), (375, 812)])
def test_express_shipping_a_code_and_tax_from_address_to_order_page(taxed_shop, page, width, height):
    page.set_viewport_size({"width": width, "height": height})
    page.set_default_timeout(15000)
    add_to_cart(page, taxed_shop.url, PRESS[0])
    page.goto(taxed_shop.url + "/checkout")
    fill_address(page, SAN_FRANCISCO)
    page.get_by_label("Express").check()
    page.get_by_label("Discount code").fill("save10")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#discount-message")).to_have_text(re.compile(r"Code SAVE10 applied"))
    expect(page.locator("#summary-shipping")).to_have_text("$14.99")
    page.locator("#pay-button:not([disabled])").wait_for()
    shown = _summary(page)
    discount = _half_up(Decimal(PRESS[1]) / 10)
    assert (shown["subtotal"], shown["discount"], shown["shipping"]) == (PRESS[1], discount, EXPRESS)
    assert shown["total"] == PRESS[1] - discount + EXPRESS + shown["tax"]
    if not LIVE:
        assert shown["tax"] == _half_up((PRESS[1] - discount) * CALIFORNIA) + _half_up(EXPRESS * CALIFORNIA)
    expect(page.locator("#pay-button")).to_have_text(f"Pay ${shown['total'] / 100:.2f}")
    sf.assert_accessible(page)
    sf.screenshot(page, f"checkout-physical-goods-{width}")

    fill_card(page, "4242 4242 4242 4242")
    pay(page)
    page.wait_for_url(sf.ORDER_URL)
    expect(page.get_by_test_id("order-total")).to_have_text(f"${shown['total'] / 100:.2f}")
    expect(page.get_by_test_id("order-discount")).to_have_text(f"−${discount / 100:.2f}")
    expect(page.get_by_test_id("order-shipping")).to_have_text("$14.99")
    expect(page.get_by_test_id("order-tax")).to_have_text(f"${shown['tax'] / 100:.2f}")
    expect(page.get_by_test_id("order-address")).to_contain_text("San Francisco")
    expect(page.get_by_text("Express shipping")).to_be_visible()
    sf.assert_accessible(page)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # nothing wider than the phone


def test_an_unknown_code_is_said_plainly_and_the_total_stays_without_it(taxed_shop, page):
    page.set_default_timeout(15000)
    add_to_cart(page, taxed_shop.url, PRESS[0])
    page.goto(taxed_shop.url + "/checkout")
    fill_address(page, SAN_FRANCISCO)
    page.locator("#pay-button:not([disabled])").wait_for()
    page.get_by_label("Discount code").fill("NOSUCHCODE")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#discount-message")).to_have_text(re.compile("We don't know the code NOSUCHCODE"))
    expect(page.get_by_label("Discount code")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#summary-discount-row")).to_be_hidden()
    page.locator("#pay-button:not([disabled])").wait_for()
    sf.assert_accessible(page)




def test_a_purchase_with_address_shipping_and_code_by_keyboard_alone(taxed_shop, page):
    if LIVE:
        pytest.skip("Tab order inside Stripe's own iframes is Stripe's")
    page.set_default_timeout(15000)
    add_to_cart(page, taxed_shop.url, PRESS[0])
    page.goto(taxed_shop.url + "/checkout")
    page.locator(ADDRESS_FRAME).wait_for()
    tab_until(page, "() => document.activeElement.id === 'email'")
    page.keyboard.type("keys@example.com")
    address = next(f for f in page.frames if "elements-inner-address" in f.url)
    address.locator("#name").wait_for()
    for name, typed in (("name", "Kim Keys"), ("line1", "1 Market St"), ("city", "San Francisco"),
                        ("state", "California"), ("postalCode", "94105")):
        tab_in_frame_until(page, address, name)
        page.keyboard.type(typed)
    tab_until(page, "() => document.activeElement.name === 'shipping_method'")
    page.keyboard.press("ArrowDown")  # the radio group: standard -> express
    tab_until(page, "() => document.activeElement.id === 'discount-code'")
    page.keyboard.type("SAVE10")
    page.keyboard.press("Enter")  # applies the code, never pays
    expect(page.locator("#discount-message")).to_have_text(re.compile("Code SAVE10 applied"))
    expect(page.locator("#summary-shipping")).to_have_text("$14.99")
    page.locator("#pay-button:not([disabled])").wait_for()
    card = next(f for f in page.frames if "elements-inner-payment" in f.url)
    for name, typed in (("number", "4242424242424242"), ("expiry", "1234"), ("cvc", "123"), ("postalCode", "94105")):
        tab_in_frame_until(page, card, name)
        page.keyboard.type(typed)
    tab_until(page, "() => document.activeElement.id === 'pay-button'", limit=5)
    page.keyboard.press("Enter")
    page.wait_for_url(sf.ORDER_URL)
    expect(page.get_by_test_id("order-discount")).to_be_visible()
    expect(page.get_by_text("Express shipping")).to_be_visible()
