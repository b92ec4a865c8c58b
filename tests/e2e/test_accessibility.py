"""axe-core over every page type, payment state and error page (no serious or critical violation), a purchase
made with the keyboard alone, landmarks and titles, and the shop without JavaScript."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

import storefront as sf
from checkout_steps import ADDRESS_FRAME, tab_in_frame_until, tab_until


@pytest.fixture(autouse=True)
def clean_emulator(shop):
    yield
    sf.reset_emulator(shop)


@pytest.mark.parametrize("name", list(sf.PAGES))
def test_every_page_type_passes_axe(shop, shop_page, name):
    sf.PAGES[name](shop_page, shop)
    sf.assert_accessible(shop_page)


@pytest.mark.parametrize("name", list(sf.STATES))
def test_every_payment_state_passes_axe(shop, shop_page, name):
    held = sf.STATES[name](shop_page, shop)
    try:
        sf.assert_accessible(shop_page)
    finally:
        for route in held or []:
            route.abort()


@pytest.mark.parametrize("code", sf.ERROR_STATUSES)
def test_every_error_page_passes_axe_and_offers_a_way_back(shop, shop_page, error_pages, code):
    sf.error_page(shop_page, shop, error_pages, code)
    sf.assert_accessible(shop_page)
    expect(shop_page.get_by_role("link", name="Back to the shop")).to_be_visible()
    assert "Traceback" not in shop_page.content()


def test_the_real_404_and_400_pages_are_the_shops_own(shop, shop_page):
    sf.real_404(shop_page, shop)
    expect(shop_page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(shop_page).to_have_title(re.compile(r"Page not found \(404\) · Ember & Grind"))
    sf.real_400(shop_page, shop)
    expect(shop_page.get_by_role("link", name="Back to the shop")).to_be_visible()


def test_an_unknown_order_is_the_shops_own_404_page(shop, shop_page):
    sf.order_not_found(shop_page, shop)
    assert shop_page.locator("html").get_attribute("lang") == "en"
    expect(shop_page).to_have_title("Page not found (404) · Ember & Grind")
    expect(shop_page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(shop_page.get_by_role("link", name="Back to the shop")).to_be_visible()
    sf.assert_accessible(shop_page)


def test_the_footer_leads_to_the_shops_policies_and_contact(shop, shop_page):
    page = shop_page
    page.goto(shop.url + "/")
    footer = page.get_by_role("navigation", name="Shop information")
    for name, heading in (("Shipping and returns", "Shipping and returns"), ("Terms of sale", "Terms of sale"),
                          ("Privacy", "Privacy"), ("Contact us", "Contact us")):
        footer.get_by_role("link", name=name).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(footer.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")


def test_every_page_has_lang_a_title_of_its_own_one_h1_and_landmarks(shop, shop_page):
    page = shop_page
    titles = set()
    for name, reach in sf.PAGES.items():
        reach(page, shop)
        assert page.locator("html").get_attribute("lang") == "en"
        titles.add(page.title())
        expect(page.locator("h1")).to_have_count(1)
        for role in ("banner", "main", "contentinfo", "navigation"):
            expect(page.get_by_role(role).first).to_be_attached()
    # catalog, product, cart (empty, full or with an error), checkout, the 404 page, and the four footer pages
    assert len(titles) == 9, titles


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_content(shop, shop_page):
    page = shop_page
    page.goto(shop.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0  # visible when focused
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()


def test_focus_is_visible_on_every_control(shop, shop_page):
    page = shop_page
    sf.cart(page, shop)
    for _ in range(12):
        page.keyboard.press("Tab")
        outline = page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
                                           return [s.outlineStyle, s.outlineWidth]; }""")
        assert outline[0] != "none" and outline[1] != "0px", outline




def test_a_whole_purchase_with_the_keyboard_alone(shop, shop_page):
    page = shop_page
    page.goto(shop.url + "/")
    tab_until(page, "() => document.activeElement.textContent.trim() === 'Add Enamel Camp Mug to cart'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/cart")
    tab_until(page, "() => document.activeElement.textContent.trim() === 'Check out'")
    page.keyboard.press("Enter")
    page.wait_for_url("**/checkout")
    page.locator(ADDRESS_FRAME).wait_for()
    tab_until(page, "() => document.activeElement.id === 'email'")
    page.keyboard.type("keys@example.com")
    address = next(f for f in page.frames if "elements-inner-address" in f.url)
    address.locator("#name").wait_for()
    for name, typed in (("name", "Kim Keys"), ("line1", "1 Market St"), ("city", "San Francisco"),
                        ("state", "California"), ("postalCode", "94105")):
        tab_in_frame_until(page, address, name)
        page.keyboard.type(typed)
    page.locator("#pay-button:not([disabled])").wait_for()  # the shop has quoted the address
    frame = next(f for f in page.frames if "elements-inner-payment" in f.url)
    tab_in_frame_until(page, frame, "number")
    page.keyboard.type("4242424242424242")
    tab_in_frame_until(page, frame, "expiry")
    page.keyboard.type("1234")
    tab_in_frame_until(page, frame, "cvc")
    page.keyboard.type("123")
    tab_in_frame_until(page, frame, "postalCode")
    page.keyboard.type("12345")
    tab_until(page, "() => document.activeElement.id === 'pay-button'", limit=5)
    page.keyboard.press("Enter")
    page.wait_for_url(sf.ORDER_URL)
    expect(page.get_by_test_id("order-state")).to_have_text(sf.PREPARING, timeout=20000)


def test_a_decline_with_the_keyboard_lands_focus_on_the_reason_then_on_the_card(shop, shop_page):
    page = shop_page
    sf.declined(page, shop)
    expect(page.get_by_role("alert")).to_be_focused()
    page.keyboard.press("Shift+Tab")  # back into the card form to fix it
    assert page.evaluate("() => document.activeElement.tagName") == "IFRAME"


def test_an_invalid_email_is_announced_and_focused(shop, shop_page):
    page = shop_page
    sf.checkout(page, shop)
    page.locator("#email").fill("not-an-email")
    page.locator("#pay-button").click()
    expect(page.get_by_role("alert")).to_have_text("Please enter a valid email address for your receipt.")
    expect(page.locator("#email")).to_be_focused()
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")


def test_without_javascript_the_shop_works_and_checkout_says_it_needs_javascript(shop, browser):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(shop.url + "/products/enamel-mug")
        page.get_by_label("Quantity").fill("2")
        page.get_by_role("button", name="Add to cart").click()
        page.wait_for_url("**/cart")
        expect(page.get_by_test_id("cart-count")).to_have_text("2")
        page.get_by_label("Qty of Enamel Camp Mug").fill("3")
        page.get_by_role("button", name="Update quantity of Enamel Camp Mug").click()
        expect(page.get_by_test_id("cart-total")).to_have_text("$36.00")
        page.get_by_role("link", name="Check out").click()
        expect(page.locator("#needs-js")).to_contain_text("Checkout needs JavaScript")
        expect(page.locator("#payment-form")).to_be_hidden()
        expect(page.locator("#summary-subtotal")).to_have_text("$36.00")  # the total needs the address
    finally:
        context.close()


def test_prices_follow_the_shoppers_locale(shop, browser):
    context = browser.new_context(locale="de-DE")
    page = context.new_page()
    try:
        page.goto(shop.url + "/products/gooseneck-kettle")
        expect(page.locator(".product-detail .price")).to_have_text("45,99\u00a0$")
    finally:
        context.close()
