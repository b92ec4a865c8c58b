"""The shopper-facing pages and payment states, reached the way a shopper reaches them, for the accessibility,
responsive, screenshot and payment-state tests. axe-core is vendored (tests/e2e/vendor/axe.min.js, from
`npm pack axe-core`, MPL-2.0) so the suite runs offline."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from playwright.sync_api import Page, expect

from checkout_steps import FRAME, add_to_cart, fill_card, open_checkout

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# pytest-playwright empties test-results/ when a session starts; SCREENSHOT_DIR puts them elsewhere
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR")
                   or Path(__file__).resolve().parents[2] / "test-results" / "screenshots")
CARD = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"
THREE_DS = "4000 0027 6000 3184"
ORDER_URL = re.compile(r".*/orders/[0-9a-f]{32}$")
# the product every checkout here buys: plenty in stock, and one test_purchase.py doesn't count orders of
PRODUCT, PRICE = "Single-Origin Beans, 340 g", "$18.50"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 812}}
UNAVAILABLE = "Payments are temporarily unavailable. Your cart is saved — try again in a minute."
PREPARING = "Payment received. We're preparing your parcel."


def axe_violations(page: Page, impacts=("serious", "critical")) -> list[dict]:
    """Run axe-core in the page (evaluated through the DevTools protocol, so the page's CSP doesn't apply) and
    return the violations of the given impacts, each with the selectors of its nodes. The Payment Element's
    iframe belongs to Stripe (here the emulator) and is not ours to audit."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {iframes: false, resultTypes: ['violations'],
                                           runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a',
                                                     'wcag21aa', 'wcag22aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in impacts]


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, json.dumps(violations, indent=1)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
    return path


def form_state(page: Page) -> str:
    return page.locator("#payment-form").get_attribute("data-state")


# Page types ---------------------------------------------------------------------------------------------

def catalog(page, shop):
    page.goto(shop.url + "/")


def product(page, shop):
    page.goto(shop.url + "/products/burr-grinder")


def empty_cart(page, shop):
    page.goto(shop.url + "/cart")


def cart(page, shop):
    add_to_cart(page, shop.url, "Enamel Camp Mug")
    add_to_cart(page, shop.url, "Single-Origin Beans, 340 g")


def cart_error(page, shop):
    """A quantity the shop refuses: the cart page with its error."""
    add_to_cart(page, shop.url, "Enamel Camp Mug")
    page.locator("input[name=quantity]").first.fill("500")
    page.locator("input[name=quantity]").first.evaluate("el => el.removeAttribute('max')")
    page.get_by_role("button", name="Update quantity of Enamel Camp Mug").click()
    expect(page.locator("#cart-error")).to_be_visible()


def checkout(page, shop):
    add_to_cart(page, shop.url, PRODUCT)
    open_checkout(page, shop.url)


UNKNOWN_ORDER = "0123456789abcdef" * 2


def order_not_found(page, shop):
    """An order link that leads nowhere (mistyped, or from another shop): the shop's own 404 page."""
    response = page.goto(f"{shop.url}/orders/{UNKNOWN_ORDER}")
    assert response.status == 404


def info_page(path: str):
    def reach(page, shop):
        page.goto(shop.url + path)
    return reach


# Payment states -----------------------------------------------------------------------------------------

def processing(page, shop):
    """The Pay button pressed and the shop still answering: the confirm request is held until released."""
    held = []
    page.route("**/checkout/confirm", lambda route: held.append(route))
    checkout(page, shop)
    fill_card(page, CARD)
    page.locator("#pay-button").click()
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "processing")
    page.wait_for_timeout(300)  # the confirmation token round trip, then the held confirm
    return held


def authenticating(page, shop):
    checkout(page, shop)
    fill_card(page, THREE_DS)
    page.locator("#pay-button").click()
    expect(page.locator('iframe[title="3D Secure challenge"]')).to_be_visible()
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "authenticating")


def declined(page, shop):
    checkout(page, shop)
    fill_card(page, DECLINED)
    page.locator("#pay-button").click()
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "declined")


def unavailable(page, shop):
    """Stripe turns every PaymentIntent call away with a 429 (so none was carried out: a 5xx might have been,
    and would be "unknown"): the shop says payments are paused, keeps the cart and offers a retry."""
    checkout(page, shop)
    fill_card(page, CARD)
    shop.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents*", "rate_limit": True})
    page.locator("#pay-button").click()
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "unavailable", timeout=30000)


def stripe_down(page, shop):
    """Stripe.js itself can't be loaded (the emulator is down): the page says the form couldn't load, why that
    may be, and that nothing was charged."""
    add_to_cart(page, shop.url, PRODUCT)
    shop.emulator.ctl("POST", "/_emulator/outage", {"down": True})
    page.goto(shop.url + "/checkout")
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "blocked")


def succeeded(page, shop):
    checkout(page, shop)
    fill_card(page, CARD)
    page.locator("#pay-button").click()
    page.wait_for_url(ORDER_URL)
    expect(page.get_by_test_id("order-state")).to_have_text(PREPARING, timeout=20000)


def late_webhook(page, shop, slow_after_ms: int = 20000):
    """3-D Secure completed but Stripe's webhook is late and Stripe can't be asked either (the shop's own check
    of the PaymentIntent fails): the order stays pending and the page keeps polling."""
    shop.emulator.ctl("POST", "/_emulator/webhook_faults", {"mode": "delay", "delay_ms": 120000})
    shop.emulator.ctl("POST", "/_emulator/faults", {"route": "GET /v1/payment_intents/*", "status": 500,
                                                    "caller": "server"})
    page.clock.install()
    checkout(page, shop)
    fill_card(page, THREE_DS)
    page.locator("#pay-button").click()
    challenge = page.frame_locator('iframe[title="3D Secure challenge"]')
    challenge.get_by_role("button", name="Complete").click()
    page.wait_for_url(ORDER_URL)
    expect(page.get_by_test_id("order-state")).to_have_text("Confirming your payment…")
    if slow_after_ms:
        page.clock.fast_forward(slow_after_ms + 1000)
        expect(page.get_by_test_id("order-state")).to_have_text(re.compile("still confirming your payment"))


def order_failed(page, shop):
    """3-D Secure failed and Stripe's payment_failed webhook arrived: the order page says so and leads back."""
    answers = []
    page.on("response", lambda r: answers.append(r) if r.url.endswith("/checkout/confirm") else None)
    checkout(page, shop)
    fill_card(page, THREE_DS)
    page.locator("#pay-button").click()
    page.frame_locator('iframe[title="3D Secure challenge"]').get_by_role("button", name="Fail").click()
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "declined")
    page.goto(answers[0].json()["order_url"])
    expect(page.get_by_test_id("order-state")).to_have_text(re.compile("didn't go through"), timeout=20000)


def stripe_blocked(page, shop):
    """An extension blocks Stripe.js: the page says so, and that no order or payment exists yet."""
    add_to_cart(page, shop.url, PRODUCT)
    page.route(re.compile(r".*/v3/?$"), lambda route: route.abort("blockedbyclient"))
    page.goto(shop.url + "/checkout")
    expect(page.locator("#payment-form")).to_have_attribute("data-state", "blocked")


def unknown_outcome(page, shop):
    """Stripe took longer than the shop's deadline to confirm: the order page says the payment is being
    confirmed and not to pay again (the shop's own check finds it paid afterwards)."""
    checkout(page, shop)
    fill_card(page, CARD)
    shop.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents",
                                                    "latency_ms": 12000, "count": 1})
    page.locator("#pay-button").click()
    page.wait_for_url(ORDER_URL, timeout=30000)
    expect(page.get_by_test_id("order-state")).to_have_text("We're confirming your payment with your bank.")


def price_changed(page, shop):
    """The price changed after the page loaded: the payment is refused with what changed and the new total."""
    from sqlalchemy import create_engine, text

    checkout(page, shop)
    fill_card(page, CARD)
    engine = create_engine(shop.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE product SET price = price + 100 WHERE name = :n"), {"n": PRODUCT})
        page.locator("#pay-button").click()
        expect(page.get_by_role("alert")).to_contain_text("changed")
    finally:
        with engine.begin() as connection:
            connection.execute(text("UPDATE product SET price = price - 100 WHERE name = :n"), {"n": PRODUCT})
        engine.dispose()


PAGES = {"catalog": catalog, "product": product, "cart-empty": empty_cart, "cart": cart, "cart-error": cart_error,
         "checkout": checkout, "order-not-found": order_not_found, "terms": info_page("/terms"),
         "privacy": info_page("/privacy"), "shipping-returns": info_page("/shipping-returns"),
         "contact": info_page("/contact")}
STATES = {"processing": processing, "authenticating": authenticating, "declined": declined,
          "unavailable": unavailable, "stripe-down": stripe_down, "succeeded": succeeded,
          "late-webhook": late_webhook, "order-failed": order_failed, "stripe-blocked": stripe_blocked,
          "unknown-outcome": unknown_outcome, "price-changed": price_changed}
__all__ = ["AXE", "FRAME", "PAGES", "STATES", "VIEWPORTS", "assert_accessible", "axe_violations", "screenshot"]


# Error pages --------------------------------------------------------------------------------------------

ERROR_STATUSES = (400, 404, 429, 500, 503)


def render_errors(app) -> dict[int, tuple[str, dict]]:
    """Each error page as the app's own handlers render it (a route that fails with each status), so the
    pages the shop can't be made to show on demand (429, 500, 503) are still its real pages."""
    from flask import abort

    def fail(code: int):
        if code == 500:
            raise RuntimeError("a bug")
        abort(code)

    app.add_url_rule("/_fail/<int:code>", "fail_for_test", fail)
    client = app.test_client()
    pages = {}
    for code in ERROR_STATUSES:
        response = client.get(f"/_fail/{code}", headers={"Accept": "text/html"})
        assert response.status_code == code, (code, response.status_code)
        pages[code] = (response.get_data(as_text=True), dict(response.headers))
    return pages


def error_page(page, shop, pages, code: int) -> None:
    """Serve the rendered page at a URL of the shop (so its stylesheet loads from the real server)."""
    html, headers = pages[code]
    page.route(f"{shop.url}/_errors/{code}", lambda route: route.fulfill(status=code, body=html, headers=headers))
    page.goto(f"{shop.url}/_errors/{code}")


def real_404(page, shop) -> None:
    response = page.goto(shop.url + "/products/no-such-thing")
    assert response.status == 404


def real_400(page, shop) -> None:
    """A form posted without its CSRF token: the shop's real 400 page."""
    page.goto(shop.url + "/")
    with page.expect_navigation():
        page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post';
                                 f.action = '/cart/add'; document.body.append(f); f.submit(); }""")
    expect(page.locator("h1")).to_have_text("We couldn't use that request")


def reset_emulator(shop) -> None:
    shop.emulator.ctl("DELETE", "/_emulator/faults")
    shop.emulator.ctl("DELETE", "/_emulator/webhook_faults")
    shop.emulator.ctl("POST", "/_emulator/outage", {"down": False})
