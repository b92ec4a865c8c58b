"""From 360 px phones to desktop: nothing overflows sideways, the Pay button is on the first screen of a
375 x 812 phone, every touch target is at least 44 px, and zoom is never disabled."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

import storefront as sf

PHONE = {"width": 375, "height": 812}
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('body *')].filter(el => {
        const r = el.getBoundingClientRect(), s = getComputedStyle(el);
        if (!r.width || s.visibility === 'hidden' || el.closest('.visually-hidden')) return false;
        return r.right > width + 1 || r.left < -1;
    }).map(el => el.tagName + (el.id ? '#' + el.id : '') + '.' + [...el.classList].join('.'));
    return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""
SMALL_TARGETS = """() => [
    ...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')
].filter(el => {
        const r = el.getBoundingClientRect(), s = getComputedStyle(el);
        if (!r.width || s.visibility === 'hidden' || el.closest('.visually-hidden')) return false;
        if (el.matches('.skip-link')) return false;  /* off screen until focused */
        /* a radio or checkbox is pressed through its whole label */
        const label = el.matches('input[type=radio], input[type=checkbox]') && el.closest('label');
        const target = label ? label.getBoundingClientRect() : r;
        return target.height < 44 || target.width < 44;
    }).map(el => {
        const r = el.getBoundingClientRect();
        const label = (el.textContent || el.name || '').trim().slice(0, 30);
        return `${el.tagName} "${label}" ${Math.round(r.width)}x${Math.round(r.height)}`;
    })"""


@pytest.fixture(autouse=True)
def clean_emulator(shop):
    yield
    sf.reset_emulator(shop)


def assert_no_horizontal_overflow(page):
    result = page.evaluate(OVERFLOW)
    assert result["scroll"] <= result["width"] and not result["wide"], result


@pytest.mark.parametrize("width", [360, 375])
@pytest.mark.parametrize("name", list(sf.PAGES))
def test_no_page_overflows_sideways_on_a_phone(shop, shop_page, name, width):
    shop_page.set_viewport_size({"width": width, "height": 812})
    sf.PAGES[name](shop_page, shop)
    assert_no_horizontal_overflow(shop_page)


@pytest.mark.parametrize("name", list(sf.STATES))
def test_no_payment_state_overflows_sideways_on_a_phone(shop, shop_page, name):
    shop_page.set_viewport_size(PHONE)
    held = sf.STATES[name](shop_page, shop)
    try:
        if name != "authenticating":  # the bank's challenge window is Stripe's, drawn over the page
            assert_no_horizontal_overflow(shop_page)
    finally:
        for route in held or []:
            route.abort()


@pytest.mark.parametrize("code", sf.ERROR_STATUSES)
def test_error_pages_fit_a_phone(shop, shop_page, error_pages, code):
    shop_page.set_viewport_size({"width": 360, "height": 740})
    sf.error_page(shop_page, shop, error_pages, code)
    assert_no_horizontal_overflow(shop_page)


def test_a_phone_sees_the_subtotal_first_and_a_full_width_pay_button(shop, shop_page):
    """At 375 x 812 the first screen says what is being bought and for how much, and the delivery address starts
    on it; the Pay button, below the address and card, spans the form and is easy to press."""
    page = shop_page
    page.set_viewport_size(PHONE)
    sf.checkout(page, shop)
    page.evaluate("() => window.scrollTo(0, 0)")
    expect(page.locator(".checkout-intro")).to_be_in_viewport(ratio=1)
    expect(page.locator(".delivery legend")).to_be_in_viewport(ratio=1)
    page.locator("#pay-button").scroll_into_view_if_needed()
    box = page.locator("#pay-button").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert box["width"] >= 300 and box["height"] >= 44, box
    expect(page.locator("#pay-button")).to_be_in_viewport(ratio=1)


@pytest.mark.parametrize("name", ["catalog", "product", "cart", "checkout"])
def test_touch_targets_are_at_least_44_px(shop, shop_page, name):
    shop_page.set_viewport_size(PHONE)
    sf.PAGES[name](shop_page, shop)
    small = shop_page.evaluate(SMALL_TARGETS)
    assert not small, small


def test_the_order_page_targets_and_layout_fit_a_phone(shop, shop_page):
    shop_page.set_viewport_size(PHONE)
    sf.succeeded(shop_page, shop)
    assert_no_horizontal_overflow(shop_page)
    assert not shop_page.evaluate(SMALL_TARGETS)


def test_zoom_is_never_disabled(shop, shop_page):
    shop_page.goto(shop.url + "/")
    viewport = shop_page.locator('meta[name="viewport"]').get_attribute("content")
    assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport


def test_the_desktop_checkout_puts_the_summary_beside_the_payment_form(shop, shop_page):
    shop_page.set_viewport_size({"width": 1280, "height": 800})
    sf.checkout(shop_page, shop)
    payment = shop_page.locator(".checkout .payment").bounding_box()
    summary = shop_page.locator(".checkout .summary").bounding_box()
    assert summary["x"] > payment["x"] + payment["width"] - 1 and abs(summary["y"] - payment["y"]) < 2
