"""Every state a payment can be in has its own words and look, and the Pay button never submits twice."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

import storefront as sf
from checkout_steps import fill_card


@pytest.fixture(autouse=True)
def clean_emulator(shop):
    yield
    sf.reset_emulator(shop)


def confirm_requests(page) -> list:
    seen = []
    page.on("request", lambda r: seen.append(r) if r.url.endswith("/checkout/confirm") else None)
    return seen


def test_processing_disables_pay_and_shows_a_spinner(shop, shop_page):
    page = shop_page
    held = sf.processing(page, shop)
    button = page.locator("#pay-button")
    expect(button).to_be_disabled()
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button).to_have_text("Processing…")
    expect(button.locator(".spinner")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Processing your payment")).to_be_visible()
    page.wait_for_timeout(300)
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_url(sf.ORDER_URL)


def test_the_pay_button_cannot_submit_twice(shop, shop_page):
    page = shop_page
    sf.checkout(page, shop)
    fill_card(page, sf.CARD)
    seen = confirm_requests(page)
    # a burst: five synchronous clicks, three form submissions and Enter twice, before any answer
    page.evaluate("""() => {
        const button = document.getElementById('pay-button'), form = document.getElementById('payment-form');
        for (let i = 0; i < 5; i++) button.click();
        for (let i = 0; i < 3; i++) form.requestSubmit();
    }""")
    page.locator("#email").press("Enter")
    # three more clicks on the busy button; the page may already be leaving for the order page, so they
    # are dispatched from inside the page rather than waited on by Playwright
    try:
        page.evaluate("() => { const b = document.getElementById('pay-button');"
                      " if (b) for (let i = 0; i < 3; i++) b.click(); }")
    except PlaywrightError as error:  # the page left for the order page first: nothing more to click
        assert "context was destroyed" in str(error) or "navigat" in str(error), error
    page.wait_for_url(sf.ORDER_URL)
    assert len(seen) == 1, [r.url for r in seen]


def test_three_d_secure_says_the_bank_is_checking_then_finishes(shop, shop_page):
    page = shop_page
    sf.authenticating(page, shop)
    expect(page.locator("#pay-button")).to_have_text("Waiting for your bank…")
    expect(page.locator("#pay-button")).to_be_disabled()
    expect(page.locator("#payment-status")).to_contain_text("Your bank wants to confirm it's you")
    page.frame_locator('iframe[title="3D Secure challenge"]').get_by_role("button", name="Complete").click()
    page.wait_for_url(sf.ORDER_URL)
    expect(page.get_by_test_id("order-state")).to_have_text(sf.PREPARING, timeout=20000)


def test_a_failed_3ds_check_says_so_in_plain_words_and_lets_the_shopper_retry(shop, shop_page):
    page = shop_page
    sf.authenticating(page, shop)
    page.frame_locator('iframe[title="3D Secure challenge"]').get_by_role("button", name="Fail").click()
    expect(page.get_by_role("alert")).to_have_text(re.compile("couldn't (confirm|verify)"))
    expect(page.locator("#pay-button")).to_be_enabled()


def test_a_decline_explains_why_moves_focus_to_it_and_keeps_the_cart(shop, shop_page):
    page = shop_page
    sf.declined(page, shop)
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Your card was declined. Please try another card.")
    expect(alert).to_be_focused()
    expect(page.locator("#payment-hint")).to_contain_text("use a different card")
    expect(page.locator("#pay-button")).to_have_text(f"Pay {sf.PRICE}")
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    # another card, same page: it goes through
    page.frame_locator(sf.FRAME).locator('input[name="number"]').fill(sf.CARD)
    page.locator("#pay-button").click()
    page.wait_for_url(sf.ORDER_URL)


def test_insufficient_funds_is_named_in_plain_language(shop, shop_page):
    page = shop_page
    sf.checkout(page, shop)
    fill_card(page, "4000 0000 0000 9995")
    page.locator("#pay-button").click()
    expect(page.get_by_role("alert")).to_have_text("Your card has insufficient funds. Please use another card.")


def test_payments_unavailable_keeps_the_cart_and_a_retry_goes_through(shop, shop_page):
    page = shop_page
    seen = confirm_requests(page)
    sf.unavailable(page, shop)
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(sf.UNAVAILABLE)
    expect(alert).to_be_focused()
    expect(page.locator("#pay-button")).to_have_text("Try again")
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    shop.emulator.ctl("DELETE", "/_emulator/faults")
    page.wait_for_timeout(3500)  # the shop's circuit breaker (BREAKER_RESET_TIMEOUT=3 in E2E) half-opens
    page.locator("#pay-button").click()
    page.wait_for_url(sf.ORDER_URL)
    tokens = {r.post_data_json["confirmation_token"] for r in seen}
    assert len(seen) == 2 and len(tokens) == 1  # the retry replays the same confirmation token


def test_when_stripe_js_cannot_load_the_page_says_so_and_offers_a_reload(shop, shop_page):
    page = shop_page
    sf.stripe_down(page, shop)
    expect(page.get_by_role("alert")).to_contain_text("The secure payment form couldn't be loaded.")
    expect(page.get_by_role("alert")).not_to_contain_text("temporarily unavailable")
    retry = page.get_by_role("link", name="Reload this page")
    expect(retry).to_be_visible()
    shop.emulator.ctl("POST", "/_emulator/outage", {"down": False})
    retry.click()
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "ready")


def test_an_incomplete_card_is_announced_once_by_the_payment_form_itself(shop, shop_page):
    page = shop_page
    sf.checkout(page, shop)
    page.get_by_label("Email for your receipt").fill("shopper@example.com")
    page.frame_locator(sf.FRAME).locator('input[name="number"]').fill("4242")
    page.locator("#pay-button").click()
    field_error = page.frame_locator(sf.FRAME).get_by_role("alert").filter(has_text="card number is incomplete")
    expect(field_error).to_be_visible()
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "ready")
    expect(page.locator("#payment-message")).to_be_hidden()
    expect(page.locator("#pay-button")).to_be_enabled()


def test_the_email_and_card_fields_are_read_only_while_the_payment_is_processing(shop, shop_page):
    page = shop_page
    held = sf.processing(page, shop)
    expect(page.get_by_label("Email for your receipt")).to_have_attribute("readonly", "")
    expect(page.frame_locator(sf.FRAME).locator('input[name="number"]')).to_have_attribute("readonly", "")
    held[0].continue_()
    page.wait_for_url(sf.ORDER_URL)


def test_the_payment_form_takes_the_pages_look(shop, shop_page):
    page = shop_page
    sf.checkout(page, shop)
    accent = page.evaluate("() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()")
    number = page.frame_locator(sf.FRAME).locator('input[name="number"]')
    number.focus()
    border = number.evaluate("el => getComputedStyle(el).borderColor")
    rgb = tuple(int(accent[i:i + 2], 16) for i in (1, 3, 5))
    assert border == f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})", (border, accent)


def test_success_shows_the_order_number_and_what_happens_next(shop, shop_page):
    page = shop_page
    sf.succeeded(page, shop)
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your order")
    expect(page.get_by_test_id("order-number")).to_have_text(re.compile(r"^[0-9A-F]{8}$"))
    expect(page.get_by_test_id("next-steps")).to_contain_text("ship within 2 business days")
    expect(page.locator(".timeline li.done")).to_have_count(2)  # placed, payment received
    expect(page.locator(".timeline li.current")).to_have_text(re.compile("Preparing your parcel"))
    expect(page.get_by_test_id("payment-state")).to_have_text("Paid with Visa ending 4242")
    expect(page.get_by_test_id("order-total")).to_have_text(sf.PRICE)
    expect(page.get_by_test_id("cart-count")).to_have_text("0")


def test_a_late_webhook_keeps_the_order_page_polling_and_never_shows_an_error(shop, shop_page):
    page = shop_page
    polls = []
    page.on("request", lambda r: polls.append(r) if r.url.endswith("/status") else None)
    sf.late_webhook(page, shop, slow_after_ms=0)
    # the status endpoint failing for a while is not an error either
    page.route("**/status", lambda route: route.fulfill(status=503, body="{}"))
    for _ in range(5):  # 30 s of fake time, letting each poll's fetch finish in between
        page.clock.fast_forward(6000)
        page.wait_for_timeout(200)
    status = page.get_by_test_id("order-state")
    expect(status).to_have_text(re.compile("still confirming your payment"))
    expect(page.get_by_test_id("next-steps")).to_contain_text("won't be charged twice")
    expect(page.locator("#order-status")).to_have_attribute("data-status", "confirming")
    expect(page.get_by_role("alert")).to_have_count(0)
    page.unroute("**/status")
    count = len(polls)
    for _ in range(3):
        page.clock.fast_forward(11000)
        page.wait_for_timeout(200)
    assert len(polls) > count >= 3  # still polling


def test_a_failed_payment_order_page_shows_the_failure_and_the_way_back(shop, shop_page):
    page = shop_page
    sf.order_failed(page, shop)
    expect(page.locator(".timeline li.bad")).to_have_text(re.compile("Payment failed"))
    expect(page.get_by_test_id("payment-state")).to_have_text("Not charged")
    page.get_by_role("link", name="Return to your cart").click()
    page.wait_for_url("**/cart")
