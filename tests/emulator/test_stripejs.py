"""The Stripe.js look-alike in a real browser, on a page with a strict CSP (no unsafe-inline/eval)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emu_helpers import PUBLISHABLE_KEY

sync_api = pytest.importorskip("playwright.sync_api")
expect, PlaywrightTimeout = sync_api.expect, sync_api.TimeoutError

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout</title>
<script src="{api}/v3/"></script>
<script src="/{script}" defer></script>
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


# A page for the appearance and readOnly tests: each test builds its own Elements with window.setup(...).
SETUP_JS = """
var stripe = Stripe('%(pk)s');
window.setup = function (elementsOptions, elementOptions) {
  window.elements = stripe.elements(elementsOptions);
  window.element = window.elements.create('payment', elementOptions || {});
  window.element.on('ready', function () { window.elementReady = true; });
  window.element.mount('#payment-element');
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
            if self.path in ("/app.js", "/setup.js"):
                script = APP_JS if self.path == "/app.js" else SETUP_JS
                body, ctype = script % {"pk": PUBLISHABLE_KEY}, "application/javascript"
            else:
                script = "setup.js" if self.path == "/setup" else "app.js"
                body, ctype = PAGE.format(api=api, script=script), "text/html"
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


class SetupPage:
    """The /setup page: the test decides the Elements options. ``warnings`` collects console warnings
    (the iframe's too)."""

    def __init__(self, page, url):
        self.page = page
        self.keyboard = page.keyboard
        self.warnings = []
        page.on("console", lambda m: self.warnings.append(m.text) if m.type == "warning" else None)
        page.goto(url)

    def evaluate(self, *args):
        return self.page.evaluate(*args)

    def warned(self, text, timeout=5000):
        """Whether a console warning containing ``text`` came, or comes within ``timeout`` ms."""
        if any(text in w for w in self.warnings):
            return True
        try:
            self.page.wait_for_event("console", lambda m: m.type == "warning" and text in m.text, timeout=timeout)
        except PlaywrightTimeout:
            return False
        return True

    def start(self, elements_options, element_options=None):
        """Mount the Payment Element with these options; return the iframe's Frame."""
        self.page.evaluate("([a, b]) => window.setup(a, b)", [elements_options, element_options or {}])
        self.page.wait_for_function("() => window.elementReady === true")
        return next(f for f in self.page.frames if "elements-inner-payment" in f.url)


@pytest.fixture
def setup_page(browser, shop_page, emu):
    context = browser.new_context()
    yield SetupPage(context.new_page(), shop_page.rsplit("/", 1)[0] + "/setup")
    context.close()


ELEMENTS = {"mode": "payment", "amount": 2500, "currency": "usd"}


def _style(frame, name, prop):
    return frame.evaluate("([n, p]) => getComputedStyle(document.getElementsByName(n)[0])[p]", [name, prop])


def _wait_applied(frame, count):
    frame.wait_for_function("n => document.documentElement.dataset.appearanceApplied === String(n)", arg=count)


def test_appearance_variables_reach_the_iframe_and_update_replaces_them(setup_page):
    page = setup_page
    frame = page.start(dict(ELEMENTS, appearance={"theme": "stripe", "variables": {
        "colorPrimary": "rgb(255, 0, 128)", "colorText": "rgb(1, 2, 3)", "colorBackground": "rgb(250, 240, 230)",
        "colorDanger": "rgb(200, 0, 0)", "fontFamily": '"Courier New", monospace', "fontSizeBase": "18px",
        "spacingUnit": "4px", "borderRadius": "12px", "colorIconTab": "red"}, "rules": {".Input": {"color": "red"}}}))
    _wait_applied(frame, 1)
    number = frame.locator('input[name="number"]')
    assert _style(frame, "number", "borderTopLeftRadius") == "12px"
    assert _style(frame, "number", "color") == "rgb(1, 2, 3)"
    assert _style(frame, "number", "backgroundColor") == "rgb(250, 240, 230)"
    assert _style(frame, "number", "fontSize") == "18px"
    assert _style(frame, "number", "paddingTop") == "18px"  # 4.5 spacing units
    assert "Courier New" in _style(frame, "number", "fontFamily")
    assert _style(frame, "number", "borderTopColor") == "rgb(230, 230, 230)"  # not focused yet
    number.focus()
    frame.wait_for_function("() => document.activeElement && document.activeElement.name === 'number'")
    assert _style(frame, "number", "borderTopColor") == "rgb(255, 0, 128)"
    number.fill("4242 4242 4242 4241")
    frame.get_by_text("Your card number is invalid.").wait_for()
    assert frame.evaluate("() => getComputedStyle(document.getElementById('number-error')).color") == "rgb(200, 0, 0)"
    assert page.warned("Unrecognized appearance.variables parameter: colorIconTab"), page.warnings
    assert page.warned("appearance.rules is not supported"), page.warnings

    # elements.update({appearance}) replaces the whole appearance: the night theme, one variable.
    page.evaluate("() => window.elements.update({appearance: {theme: 'night', "
                  "variables: {colorPrimary: 'rgb(0, 128, 0)'}}})")
    _wait_applied(frame, 2)
    assert _style(frame, "number", "borderTopLeftRadius") == "5px"
    assert _style(frame, "number", "backgroundColor") == "rgb(48, 49, 61)"  # the night theme's #30313d
    assert frame.evaluate("() => getComputedStyle(document.querySelector('label[for=number]')).color") == (
        "rgb(255, 255, 255)")
    assert _style(frame, "number", "color") == "rgb(254, 135, 161)"  # still invalid: the night theme's danger
    number.fill("4242424242424242")  # valid, so the border is the focus colour, not the danger one
    assert _style(frame, "number", "borderTopColor") == "rgb(0, 128, 0)"


# Each value is one the browser itself would take for that variable (checked first), so only the
# emulator's own check keeps it out.
HOSTILE = [
    ("colorBackground", "color", "var(--x, url(https://attacker.invalid/a.png))"),
    ("colorBackground", "color", "var(--x, image-set(\"https://attacker.invalid/a.png\" 1x))"),
    ("fontFamily", "font-family", '"</style><script>alert(1)</script>"'),
    ("focusBoxShadow", "box-shadow", "var(--x, expression(alert(1)))"),
    ("colorText", "color", "var(--x, {a: b})"),
    ("colorText", "color", "var(--x, u\\72l(https://attacker.invalid/a.png))"),
]


@pytest.mark.parametrize("name,css_property,value", HOSTILE)
def test_a_hostile_appearance_value_is_refused(setup_page, name, css_property, value):
    page = setup_page
    frame = page.start(dict(ELEMENTS, appearance={"variables": {name: value, "borderRadius": "9px"}}))
    _wait_applied(frame, 1)
    assert frame.evaluate("([p, v]) => CSS.supports(p, v)", [css_property, value]), "not a meaningful case"
    assert _style(frame, "number", "borderTopLeftRadius") == "9px"  # the rest of the appearance applied
    assert frame.evaluate("n => document.documentElement.style.getPropertyValue('--' + n)", name) == ""
    assert _style(frame, "number", "backgroundColor") == "rgb(255, 255, 255)"
    assert _style(frame, "number", "color") == "rgb(48, 49, 61)"
    assert page.warned(f"Invalid value for appearance.variables.{name}"), page.warnings


def _fill_card(frame):
    frame.locator('input[name="number"]').fill("4242424242424242")
    frame.locator('input[name="expiry"]').fill("12 / 34")
    frame.locator('input[name="cvc"]').fill("123")
    frame.locator('input[name="postalCode"]').fill("12345")


def test_read_only_blocks_typing_until_lifted(setup_page):
    page = setup_page
    frame = page.start(ELEMENTS)
    _fill_card(frame)
    number = frame.locator('input[name="number"]')
    assert _style(frame, "number", "opacity") == "1"
    page.evaluate("() => window.element.update({readOnly: true})")
    for name in ("number", "expiry", "cvc", "postalCode"):
        expect(frame.locator(f'input[name="{name}"]')).to_have_attribute("readonly", "")
        expect(frame.locator(f'input[name="{name}"]')).to_have_attribute("aria-readonly", "true")
    assert float(_style(frame, "number", "opacity")) < 1
    number.click()
    page.keyboard.press("End")
    page.keyboard.press("Backspace")
    page.keyboard.type("99")
    assert number.input_value() == "4242 4242 4242 4242"
    # The shop locks the fields while it pays: the token is still made from what they hold.
    token = page.evaluate("() => stripe.createConfirmationToken({elements: window.elements})")
    assert token["confirmationToken"]["payment_method_preview"]["card"]["last4"] == "4242"

    page.evaluate("() => window.element.update({readOnly: false})")
    expect(number).not_to_have_attribute("readonly", "")
    expect(number).to_have_attribute("aria-readonly", "false")
    assert _style(frame, "number", "opacity") == "1"
    number.click()
    page.keyboard.press("End")
    page.keyboard.press("Backspace")
    page.keyboard.type("1")
    expect(number).to_have_value("4242 4242 4242 4241")
    frame.get_by_text("Your card number is invalid.").wait_for()


def test_read_only_from_create_options(setup_page):
    page = setup_page
    frame = page.start(ELEMENTS, {"readOnly": True})
    number = frame.locator('input[name="number"]')
    expect(number).to_have_attribute("readonly", "")
    number.click()
    page.keyboard.type("4242")
    assert number.input_value() == ""
    page.evaluate("() => window.element.update({readOnly: false})")
    expect(number).not_to_have_attribute("readonly", "")
    page.keyboard.type("4242")
    expect(number).to_have_value("4242")
