"""The Stripe.js look-alike in a real browser, on a page with a strict CSP (no unsafe-inline/eval)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emu_helpers import PUBLISHABLE_KEY

pytest.importorskip("playwright.sync_api")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout</title>
<script src="{api}/v3/"></script>
<script src="/app.js" defer></script>
</head><body>
<form id="payment-form"><div id="payment-element"></div></form>
</body></html>"""

APP_JS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
var stripe = Stripe('%(pk)s');
var elements = stripe.elements({mode: 'payment', amount: 2500, currency: 'usd'});
var element = elements.create('payment', {});
window.changes = [];
element.on('ready', function () { window.elementReady = true; });
element.on('change', function (e) { window.changes.push(e); });
element.mount('#payment-element');
window.emu = {
  submit: function () { return elements.submit(); },
  token: function () {
    return elements.submit().then(function (r) {
      if (r.error) { return r; }
      return stripe.createConfirmationToken({elements: elements});
    });
  },
  next: function (secret) { return stripe.handleNextAction({clientSecret: secret}); }
};
"""


def _csp(api):
    return (f"default-src 'self'; script-src 'self' {api}; frame-src {api}; connect-src 'self' {api}; "
            "style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'")


@pytest.fixture(scope="module")
def shop_page(emulator_process):
    api = emulator_process.api

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/app.js":
                body, ctype = APP_JS % {"pk": PUBLISHABLE_KEY}, "application/javascript"
            else:
                body, ctype = PAGE.format(api=api), "text/html"
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Security-Policy", _csp(api))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/checkout"
    server.shutdown()
    server.server_close()


@pytest.fixture
def checkout_page(browser, shop_page, emu):
    """pytest-playwright's browser (Debian's chromium where Playwright's own is absent: tests/conftest.py)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(shop_page)
    page.wait_for_function("() => window.elementReady === true")
    yield page
    context.close()


def _frame(page):
    return page.frame_locator('iframe[title="Secure payment input frame"]')


def test_payment_element_iframe_validates_and_creates_token(checkout_page, client):
    page = checkout_page
    iframe = page.locator('iframe[title="Secure payment input frame"]')
    assert iframe.get_attribute("name").startswith("__privateStripeFrame")
    frame = _frame(page)
    for name, placeholder in [("number", "1234 1234 1234 1234"), ("expiry", "MM / YY"), ("cvc", "CVC"),
                              ("postalCode", "12345")]:
        assert frame.locator(f'input[name="{name}"]').get_attribute("placeholder") == placeholder

    assert page.evaluate("window.emu.submit()")["error"]["message"] == "Your card number is incomplete."

    frame.locator('input[name="number"]').fill("4242 4242 4242 4241")
    frame.get_by_text("Your card number is invalid.").wait_for()
    result = page.evaluate("window.emu.submit()")
    assert result["error"] == {"type": "validation_error", "code": "invalid_number",
                               "message": "Your card number is invalid."}

    frame.locator('input[name="number"]').fill("4242424242424242")
    frame.locator('input[name="expiry"]').fill("1220")
    assert page.evaluate("window.emu.submit()")["error"]["message"] == "Your card's expiration year is in the past."
    frame.locator('input[name="expiry"]').fill("12 / 34")
    frame.locator('input[name="cvc"]').fill("12")
    assert page.evaluate("window.emu.submit()")["error"]["message"] == "Your card's security code is incomplete."
    frame.locator('input[name="cvc"]').fill("123")
    assert page.evaluate("window.emu.submit()")["error"]["message"] == "Your postal code is incomplete."
    frame.locator('input[name="postalCode"]').fill("12345")
    assert page.evaluate("window.emu.submit()") == {}
    assert page.evaluate("window.changes[window.changes.length - 1].complete") is True

    token = page.evaluate("window.emu.token()")["confirmationToken"]
    assert token["id"].startswith("ctoken_")
    assert token["payment_method_preview"]["card"]["last4"] == "4242"
    assert "4242424242424242" not in json.dumps(token)

    pi = client.v1.payment_intents.create(params={"amount": 2500, "currency": "usd", "confirm": True,
                                                  "confirmation_token": token["id"]})
    assert pi.status == "succeeded"
    assert page.evaluate("window.cspViolations") == []


def test_network_failure_gives_api_connection_error(checkout_page, emu):
    page = checkout_page
    frame = _frame(page)
    frame.locator('input[name="number"]').fill("4242424242424242")
    frame.locator('input[name="expiry"]').fill("12 / 34")
    frame.locator('input[name="cvc"]').fill("123")
    frame.locator('input[name="postalCode"]').fill("12345")
    emu.ctl("POST", "/_emulator/outage", {"down": True})
    try:
        result = page.evaluate("window.emu.token()")
    finally:
        emu.ctl("POST", "/_emulator/outage", {"down": False})
    assert result["error"]["type"] == "api_connection_error"
    assert page.evaluate("window.emu.token()")["confirmationToken"]["id"].startswith("ctoken_")


@pytest.mark.parametrize("button,expected",
                         [("Complete", "succeeded"), ("Fail", "payment_intent_authentication_failure")])
def test_three_d_secure_challenge(checkout_page, client, button, expected):
    page = checkout_page
    pi = client.v1.payment_intents.create(params={"amount": 2500, "currency": "usd", "confirm": True,
                                                  "payment_method": "pm_card_threeDSecure2Required"})
    assert pi.status == "requires_action"
    assert pi.next_action.type == "use_stripe_sdk"
    page.evaluate("s => { window.nextResult = null; window.emu.next(s).then(r => { window.nextResult = r; }); }",
                  pi.client_secret)
    challenge = page.frame_locator('iframe[title="3D Secure challenge"]')
    challenge.get_by_role("button", name=button).click()
    page.wait_for_function("() => window.nextResult !== null")
    result = page.evaluate("window.nextResult")
    if expected == "succeeded":
        assert result["paymentIntent"]["status"] == "succeeded"
    else:
        assert result["error"]["code"] == expected
        assert result["error"]["payment_intent"]["status"] == "requires_payment_method"
    assert page.locator('iframe[title="3D Secure challenge"]').count() == 0
    assert client.v1.payment_intents.retrieve(pi.id).status == (
        "succeeded" if expected == "succeeded" else "requires_payment_method")
    assert page.evaluate("window.cspViolations") == []
