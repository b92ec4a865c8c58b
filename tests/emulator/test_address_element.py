"""The Address Element of the Stripe.js look-alike in a real browser: labelled fields, events, validation, and the
shipping address it puts on the ConfirmationToken and so on the PaymentIntent."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from emu_helpers import PUBLISHABLE_KEY
from test_stripejs import _csp

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Checkout</title>
<script src="{api}/v3/"></script>
<script src="/app.js" defer></script>
</head><body>
<form id="payment-form"><div id="address-element"></div><div id="payment-element"></div></form>
</body></html>"""

# window.setup(elementsOptions, addressOptions) mounts an Address Element and a Payment Element in one group.
APP_JS = """
window.cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
});
var stripe = Stripe('%(pk)s');
window.changes = [];
window.events = [];
window.ready = 0;
window.setup = function (elementsOptions, addressOptions) {
  window.elements = stripe.elements(elementsOptions);
  window.address = window.elements.create('address', addressOptions);
  window.payment = window.elements.create('payment', {});
  window.address.on('ready', function (e) { window.ready += 1; window.events.push('ready:' + e.elementType); });
  window.payment.on('ready', function () { window.ready += 1; });
  window.address.on('change', function (e) { window.changes.push(e); });
  window.address.on('focus', function (e) { window.events.push('focus:' + e.elementType); });
  window.address.on('blur', function (e) { window.events.push('blur:' + e.elementType); });
  window.address.mount('#address-element');
  window.payment.mount('#payment-element');
};
window.token = function (params) {
  return window.elements.submit().then(function (r) {
    if (r.error) { return r; }
    return stripe.createConfirmationToken({elements: window.elements, params: params});
  });
};
"""

ELEMENTS = {"mode": "payment", "amount": 2500, "currency": "usd"}
SHIPPING = {"mode": "shipping", "allowedCountries": ["US", "CA", "GB"]}


@pytest.fixture(scope="module")
def address_page_url(emulator_process):
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


class Checkout:
    def __init__(self, page, url):
        self.page = page
        page.goto(url)

    def start(self, address_options=None, elements_options=None):
        self.page.evaluate("([a, b]) => window.setup(a, b)", [elements_options or ELEMENTS,
                                                              address_options or SHIPPING])
        self.page.wait_for_function("() => window.ready === 2")
        return self.page.frame_locator('iframe[title="Secure address input frame"]')

    def evaluate(self, *args):
        return self.page.evaluate(*args)

    def last_change(self):
        return self.page.evaluate("window.changes[window.changes.length - 1]")


@pytest.fixture
def checkout(browser, address_page_url, emu):
    context = browser.new_context()
    yield Checkout(context.new_page(), address_page_url)
    context.close()


def _fill_card(page):
    card = page.frame_locator('iframe[title="Secure payment input frame"]')
    card.get_by_label("Card number").fill("4242424242424242")
    card.get_by_label("Expiration date").fill("12 / 34")
    card.get_by_label("Security code").fill("123")
    card.get_by_label("ZIP code").fill("94102")


def _fill_us_address(frame):
    frame.get_by_label("Full name").fill("Jenny Rosen")
    frame.get_by_label("Address line 1").fill("1234 Fake Street")
    frame.get_by_label("Address line 2").fill("Apt 5")
    frame.get_by_label("City").fill("San Francisco")
    frame.get_by_label("State", exact=True).select_option("CA")
    frame.get_by_label("ZIP").fill("94102")


def test_fields_by_label_change_events_and_get_value(checkout):
    frame = checkout.start()
    assert checkout.evaluate("window.events") == ["ready:address"]
    country = frame.get_by_label("Country or region")
    assert country.evaluate("s => Array.from(s.options).map(o => o.value)") == ["US", "CA", "GB"]
    expect(country).to_have_value("US")
    expect(frame.get_by_label("Phone number")).to_be_hidden()
    _fill_us_address(frame)
    checkout.page.wait_for_function("() => window.changes.length && window.changes[window.changes.length - 1].complete")
    change = checkout.last_change()
    assert change == {"elementType": "address", "empty": False, "complete": True, "isNewAddress": True,
                      "value": {"name": "Jenny Rosen", "phone": None,
                                "address": {"line1": "1234 Fake Street", "line2": "Apt 5", "city": "San Francisco",
                                            "state": "CA", "postal_code": "94102", "country": "US"}}}
    got = checkout.evaluate("window.address.getValue()")
    assert got == {"complete": True, "isNewAddress": True, "value": change["value"]}
    assert "focus:address" in checkout.evaluate("window.events")
    assert "blur:address" in checkout.evaluate("window.events")

    # Elsewhere the state is free text (optional outside the US and Canada) and the ZIP is a postal code.
    country.select_option("GB")
    expect(frame.get_by_label("State", exact=True)).to_be_hidden()
    expect(frame.get_by_label("State, county, province, or region")).to_be_visible()
    frame.get_by_label("Postal code").fill("SW1A 1AA")
    checkout.page.wait_for_function("() => window.changes[window.changes.length - 1].value.address.country === 'GB'"
                                    " && window.changes[window.changes.length - 1].value.address.postal_code "
                                    "=== 'SW1A 1AA'")
    gb = checkout.evaluate("window.address.getValue()")
    assert gb["complete"] is True and gb["value"]["address"]["state"] is None
    country.select_option("CA")
    assert checkout.evaluate("window.address.getValue()")["complete"] is False  # a province is needed
    frame.get_by_label("State, county, province, or region").fill("ON")
    assert checkout.evaluate("window.address.getValue()")["value"]["address"]["state"] == "ON"
    assert checkout.evaluate("window.cspViolations") == []


def test_submit_refuses_an_incomplete_address_and_shows_why(checkout):
    frame = checkout.start()
    _fill_card(checkout.page)
    result = checkout.evaluate("window.elements.submit()")
    assert result["error"]["type"] == "validation_error"
    assert result["error"]["message"] == "Your full name is incomplete."
    expect(frame.get_by_text("Your full name is incomplete.")).to_be_visible()
    expect(frame.get_by_text("Your city is incomplete.")).to_be_visible()
    expect(frame.get_by_label("Full name")).to_have_attribute("aria-invalid", "true")
    _fill_us_address(frame)
    frame.get_by_label("ZIP").fill("9410")
    assert checkout.evaluate("window.elements.submit()")["error"]["message"] == "Your ZIP is invalid."
    expect(frame.get_by_text("Your ZIP is invalid.")).to_be_visible()
    frame.get_by_label("ZIP").fill("94102")
    assert checkout.evaluate("window.elements.submit()") == {}
    expect(frame.get_by_text("Your full name is incomplete.")).to_have_count(0)
    tokens = checkout.evaluate("window.token()")
    assert tokens["confirmationToken"]["shipping"]["name"] == "Jenny Rosen"


def test_the_token_carries_the_shipping_to_the_api_and_the_payment_intent(checkout, client):
    frame = checkout.start({"mode": "shipping", "allowedCountries": ["US"], "fields": {"phone": "always"},
                            "validation": {"phone": {"required": "always"}}})
    _fill_card(checkout.page)
    _fill_us_address(frame)
    assert checkout.evaluate("window.elements.submit()")["error"]["message"] == "Your phone number is incomplete."
    frame.get_by_label("Phone number").fill("+1 415 555 0100")
    checkout.evaluate("() => window.elements.update({amount: 3100})")
    token = checkout.evaluate("window.token()")["confirmationToken"]
    expected = {"name": "Jenny Rosen", "phone": "+1 415 555 0100",
                "address": {"line1": "1234 Fake Street", "line2": "Apt 5", "city": "San Francisco", "state": "CA",
                            "postal_code": "94102", "country": "US"}}
    assert token["shipping"] == expected
    stored = client.v1.confirmation_tokens.retrieve(token["id"])
    assert stored.shipping.to_dict() == expected
    pi = client.v1.payment_intents.create(params={"amount": 3100, "currency": "usd", "confirm": True,
                                                  "confirmation_token": token["id"]})
    assert pi.status == "succeeded"
    assert pi.shipping.to_dict() == dict(expected, carrier=None, tracking_number=None)
    assert checkout.evaluate("window.cspViolations") == []


def test_explicit_params_shipping_wins_and_defaults_prefill(checkout):
    frame = checkout.start({"mode": "shipping", "allowedCountries": ["US", "GB"], "defaultValues": {
        "name": "Sam Shopper", "address": {"line1": "10 Downing St", "city": "London", "postal_code": "SW1A 2AA",
                                           "country": "GB"}}})
    expect(frame.get_by_label("Full name")).to_have_value("Sam Shopper")
    expect(frame.get_by_label("Country or region")).to_have_value("GB")
    assert checkout.evaluate("window.address.getValue()")["complete"] is True
    _fill_card(checkout.page)
    own = {"name": "Pickup Desk", "address": {"line1": "1 Depot Rd", "country": "US", "postal_code": "10001"}}
    token = checkout.evaluate("s => window.token({shipping: s})", own)["confirmationToken"]
    assert token["shipping"]["name"] == "Pickup Desk" and token["shipping"]["address"]["line1"] == "1 Depot Rd"
    token = checkout.evaluate("window.token()")["confirmationToken"]
    assert token["shipping"]["name"] == "Sam Shopper" and token["shipping"]["address"]["country"] == "GB"


def test_keyboard_focus_narrow_screen_and_appearance(checkout):
    checkout.page.set_viewport_size({"width": 375, "height": 800})
    frame = checkout.start(elements_options=dict(ELEMENTS, appearance={"variables": {
        "borderRadius": "11px", "colorPrimary": "rgb(255, 0, 128)"}}))
    inner = next(f for f in checkout.page.frames if "elements-inner-address" in f.url)
    inner.wait_for_function("() => document.documentElement.dataset.appearanceApplied === '1'")
    name = frame.get_by_label("Full name")
    name.focus()
    order = []
    for _ in range(6):
        order.append(inner.evaluate("() => document.activeElement.id"))
        checkout.page.keyboard.press("Tab")
    assert order == ["name", "country", "line1", "line2", "city", "state"]
    line1 = frame.get_by_label("Address line 1")
    line1.focus()
    assert inner.evaluate("() => getComputedStyle(document.activeElement).boxShadow") != "none"
    assert inner.evaluate("() => getComputedStyle(document.activeElement).borderTopColor") == "rgb(255, 0, 128)"
    assert inner.evaluate("() => getComputedStyle(document.getElementById('city')).borderTopLeftRadius") == "11px"
    checkout.page.keyboard.type("1 Main St")
    expect(line1).to_have_value("1 Main St")
    box = checkout.page.locator('iframe[title="Secure address input frame"]').bounding_box()
    assert box["width"] <= 375
    assert inner.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    for label in ("City", "ZIP"):
        field = frame.get_by_label(label).bounding_box()
        assert field["x"] >= box["x"] and field["x"] + field["width"] <= box["x"] + box["width"] + 1
