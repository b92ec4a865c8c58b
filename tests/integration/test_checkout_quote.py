"""The physical-goods checkout against the emulator: the quote for an address (shipping, a discount code, Stripe
Tax), the confirm that prices it all again from the ConfirmationToken's own address, and what is refused."""
from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import pytest

from app.checkout import quotes
from app.models import DiscountCode, Order, OrderState, Product, db
from app.payments import get_gateway
from tests.support.shopper import Checkout

CALIFORNIA = {"name": "Jenny Rosen", "phone": "+1 415 555 0100",
              "address": {"line1": "1 Market St", "line2": "Suite 300", "city": "San Francisco", "state": "CA",
                          "postal_code": "94105", "country": "US"}}
OREGON = {"name": "Sam Lee", "address": {"line1": "9 Pearl St", "city": "Portland", "state": "OR",
                                         "postal_code": "97209", "country": "US"}}
BERLIN = {"name": "Mia Weber", "address": {"line1": "Torstraße 1", "city": "Berlin", "postal_code": "10119",
                                           "country": "DE"}}
RATES = {"CA": Decimal("0.0725"), "OR": Decimal(0), "DE": Decimal("0.19")}  # the emulator's table
STANDARD, EXPRESS, INTERNATIONAL = 599, 1499, 1999  # Settings' default SHIPPING_RATES
MUG = 1200


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def exclusive_tax(amounts: list[int], rate: Decimal) -> int:
    return sum(_round(amount * rate) for amount in amounts)


def inclusive_tax(amounts: list[int], rate: Decimal) -> int:
    return sum(amount - _round(amount / (1 + rate)) for amount in amounts)


@pytest.fixture
def taxed_settings(stripe_settings):
    """The shop's own defaults for pricing: Stripe Tax, tax on top, the default shipping rates."""
    return stripe_settings.with_overrides(tax="stripe", tax_behavior="exclusive",
                                          shipping_rates=type(stripe_settings)().shipping_rates)


@pytest.fixture
def shop(make_app, taxed_settings):
    return make_app(taxed_settings)


def _order(app, attempt_id: str) -> Order:
    with app.app_context():
        order = db.session.query(Order).filter_by(attempt_id=attempt_id).one()
        db.session.expunge(order)
        return order


def _intents_created(emulator) -> int:
    return emulator.ctl("GET", "/_emulator/stats")["payment_intents"]["created"]


def test_a_quote_prices_shipping_and_stripe_tax_and_the_confirm_charges_exactly_it(shop, emulator):
    shopper = Checkout(shop, emulator, quantity=2)
    answer = shopper.quote(CALIFORNIA)
    assert answer.status_code == 200, answer.json
    quote = answer.json
    tax = exclusive_tax([2 * MUG, STANDARD], RATES["CA"])
    assert (quote["subtotal"], quote["discount"], quote["shipping"]["amount"], quote["tax"]) == (
        2 * MUG, 0, STANDARD, tax)
    assert quote["total"] == 2 * MUG + STANDARD + tax and quote["shown"]["total"] == f"${quote['total'] / 100:.2f}"
    assert [rate["method"] for rate in quote["rates"]] == ["standard", "express"]

    response = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=quote["quote"])
    assert response.status_code == 200 and response.json["status"] == "succeeded", response.json
    order = _order(shop, shopper.attempt_id)
    assert (order.amount, order.subtotal, order.shipping_amount, order.tax_amount, order.shipping_method) == (
        quote["total"], 2 * MUG, STANDARD, tax, "standard")
    assert order.tax_calculation_id.startswith("taxcalc_")
    assert json.loads(order.shipping_address)["postal_code"] == "94105" and order.shipping_name == "Jenny Rosen"
    with shop.app_context():
        intent = get_gateway(shop).retrieve_payment_intent(order.payment_intent_id)
    assert intent["amount"] == quote["total"]
    assert intent["metadata"]["tax_calculation"] == order.tax_calculation_id
    assert intent["shipping"]["address"]["city"] == "San Francisco" and intent["shipping"]["name"] == "Jenny Rosen"


def test_express_shipping_and_the_free_standard_threshold(shop, emulator):
    shopper = Checkout(shop, emulator, product="burr-grinder")  # $89.00: over the $75 threshold
    standard = shopper.quote(OREGON).json
    assert standard["shipping"]["amount"] == 0 and standard["shown"]["shipping"] == "Free"
    assert standard["tax"] == 0  # Oregon: no sales tax
    express = shopper.quote(OREGON, method="express").json
    assert express["shipping"] == {"method": "express", "amount": EXPRESS}
    assert express["total"] == 8900 + EXPRESS
    response = shopper.confirm(shopper.token(shipping=OREGON), quote=express["quote"])
    assert response.json["status"] == "succeeded"
    assert _order(shop, shopper.attempt_id).shipping_method == "express"


def test_prices_that_include_tax_show_the_tax_inside_the_total(make_app, taxed_settings, emulator):
    shop = make_app(taxed_settings.with_overrides(tax_behavior="inclusive"))
    shopper = Checkout(shop, emulator, quantity=2)
    quote = shopper.quote(BERLIN).json
    assert quote["tax_inclusive"] is True
    assert quote["tax"] == inclusive_tax([2 * MUG, INTERNATIONAL], RATES["DE"])
    assert quote["total"] == 2 * MUG + INTERNATIONAL  # the tax is inside the prices
    response = shopper.confirm(shopper.token(shipping=BERLIN), quote=quote["quote"])
    assert response.json["status"] == "succeeded"
    order = _order(shop, shopper.attempt_id)
    assert order.tax_inclusive and order.amount == quote["total"]


def test_a_discount_code_lowers_the_goods_before_shipping_and_tax(shop, emulator):
    with shop.app_context():
        db.session.add(DiscountCode(code="SAVE10", kind="percent", value=10, currency="usd", min_subtotal=0))
        db.session.commit()
    shopper = Checkout(shop, emulator, quantity=2)
    quote = shopper.quote(CALIFORNIA, code="save10").json
    discount = 240
    assert (quote["discount"], quote["code"]) == (discount, "SAVE10")
    assert quote["tax"] == exclusive_tax([2 * MUG - discount, STANDARD], RATES["CA"])
    response = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=quote["quote"])
    assert response.json["status"] == "succeeded"
    order = _order(shop, shopper.attempt_id)
    assert (order.discount_code, order.discount_amount, order.amount) == ("SAVE10", discount, quote["total"])
    with shop.app_context():
        assert db.session.query(DiscountCode).filter_by(code="SAVE10").one().uses == 1


@pytest.mark.parametrize("code, words", [
    ("NOPE", "We don't know the code"),
    ("bad code!", "letters, digits and dashes"),
    ("A" * 10_000, "letters, digits and dashes"),
])
def test_a_code_the_shop_refuses_gets_a_clear_answer_and_nothing_else(shop, emulator, code, words):
    shopper = Checkout(shop, emulator)
    response = shopper.quote(CALIFORNIA, code=code)
    assert response.status_code == 400 and response.json["field"] == "discount_code"
    assert words in response.json["error"] and len(response.json["error"]) < 300  # a 10 KB code is not echoed


def test_a_token_whose_address_is_not_the_quoted_one_changes_nothing(shop, emulator):
    """The PaymentIntent carries the quoted address, which takes precedence over the token's: a page that quotes
    one address and sends another in its token pays, and is shipped to, the one it was priced for."""
    import stripe

    from tests.support.emulator import EMULATOR_SECRET_KEY

    shopper = Checkout(shop, emulator)
    quote = shopper.quote(OREGON).json  # no tax in Oregon...
    response = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=quote["quote"])  # ...the token says CA
    assert response.status_code == 200, response.json
    order = _order(shop, shopper.attempt_id)
    assert order.amount == quote["total"] and order.tax_amount == 0
    assert json.loads(order.shipping_address)["state"] == "OR"
    client = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": emulator.api})
    intent = client.v1.payment_intents.retrieve(order.payment_intent_id)
    assert intent.amount == quote["total"] and intent.shipping.address.state == "OR"
    assert _intents_created(emulator) == 1


def test_a_tampered_quote_is_refused(shop, emulator):
    shopper = Checkout(shop, emulator)
    signed = shopper.quote(CALIFORNIA).json["quote"]
    payload = quotes.load(signed, shop.config["SETTINGS"].secret_key)
    forged = quotes._serializer("not-the-shop's-key").dumps({**payload, "total": 1})
    response = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=forged)
    assert response.status_code == 400 and response.json["error"].startswith("quote is malformed")
    assert _intents_created(emulator) == 0


def test_a_price_change_after_the_quote_answers_the_new_summary(shop, emulator):
    shopper = Checkout(shop, emulator)
    quote = shopper.quote(CALIFORNIA).json
    with shop.app_context():
        db.session.get(Product, "enamel-mug").price = 1500
        db.session.commit()
    response = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=quote["quote"])
    assert response.status_code == 409 and "changed from $12.00 to $15.00" in response.json["error"]
    summary = response.json["summary"]
    assert summary["subtotal"] == 1500 and summary["tax"] == exclusive_tax([1500, STANDARD], RATES["CA"])
    again = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=summary["quote"])
    assert again.json["status"] == "succeeded" and _order(shop, shopper.attempt_id).amount == summary["total"]


def test_a_tax_calculation_near_its_expiry_is_made_again_never_trusted(shop, emulator):
    """The worker records the tax transaction after the payment: a calculation about to expire is not used."""
    emulator.ctl("POST", "/_emulator/tax", {"calculation_validity": quotes.CALCULATION_MARGIN - 60})
    shopper = Checkout(shop, emulator)
    quote = shopper.quote(CALIFORNIA).json
    first = quotes.load(quote["quote"], shop.config["SETTINGS"].secret_key)["calculation"]
    response = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=quote["quote"])
    assert response.json["status"] == "succeeded"
    order = _order(shop, shopper.attempt_id)
    assert order.tax_calculation_id != first and order.amount == quote["total"]


def test_a_current_calculation_is_used_again_at_confirm(shop, emulator):
    shopper = Checkout(shop, emulator)
    quote = shopper.quote(CALIFORNIA).json
    calculations = len(emulator.requests_log("/v1/tax/calculations"))
    assert shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=quote["quote"]).json["status"] == "succeeded"
    assert len(emulator.requests_log("/v1/tax/calculations")) == calculations  # no second calculation
    assert _order(shop, shopper.attempt_id).tax_calculation_id == \
        quotes.load(quote["quote"], shop.config["SETTINGS"].secret_key)["calculation"]


def test_stripe_tax_down_says_so_and_charges_nothing(shop, emulator):
    shopper = Checkout(shop, emulator)
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/tax/*", "status": 503})
    response = shopper.quote(CALIFORNIA)
    assert response.status_code == 503 and response.json["error"] == quotes.TAX_UNAVAILABLE
    assert "Nothing was charged" in quotes.TAX_UNAVAILABLE
    # a confirm that needs a calculation (no quote from the page) refuses too, before any PaymentIntent
    response = shopper.confirm(shopper.token(shipping=CALIFORNIA))
    assert response.status_code == 503 and response.json["error"] == quotes.TAX_UNAVAILABLE
    assert _intents_created(emulator) == 0


@pytest.mark.parametrize("shipping, words", [
    ({"name": "A", "address": {"line1": "1 Main St", "city": "Austin", "state": "TX", "country": "US"}},
     "Please enter your ZIP."),
    ({"name": "", "address": {"line1": "", "city": "Austin", "state": "TX", "postal_code": "73301",
                              "country": "US"}}, "Please enter your full name and address."),
    ({"name": "A", "address": {"line1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "JP"}},
     "we don't ship to that country"),
    ({"name": "A", "address": "1 Main St"}, "Please enter a delivery address."),
    ({"name": "A" * 300, "address": CALIFORNIA["address"]}, "too long"),
    ({"name": "A", "address": {**CALIFORNIA["address"], "postal_code": "ABCDE"}}, "We couldn't find that address"),
])
def test_an_address_the_shop_cannot_ship_to_or_tax_is_refused_with_what_is_wrong(shop, emulator, shipping, words):
    response = Checkout(shop, emulator).quote(shipping)
    assert response.status_code == 400 and response.json["field"] == "shipping"
    assert words in response.json["error"]


def test_a_quote_for_an_empty_cart_is_refused(shop, emulator):
    shopper = Checkout(shop, emulator)
    shopper.client.post("/cart/remove", data={"product_id": "enamel-mug"})
    response = shopper.quote(CALIFORNIA)
    assert response.status_code == 400 and response.json["error"] == "Your cart is empty."


@pytest.mark.parametrize("body, words", [
    ("not json", "Send a JSON object."),
    ({"attempt_id": "x"}, "attempt_id is missing or malformed."),
    ({"shipping_method": "teleport"}, "Please choose a shipping method."),
    ({"surprise": 1}, "Unknown field: surprise."),
])
def test_malformed_quote_requests_are_refused(shop, emulator, body, words):
    shopper = Checkout(shop, emulator)
    if isinstance(body, dict):
        body = {"attempt_id": shopper.attempt_id, "shipping": CALIFORNIA, **body}
        response = shopper.client.post("/checkout/quote", json=body)
    else:
        response = shopper.client.post("/checkout/quote", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == words


def test_a_token_without_an_address_is_refused(shop, emulator):
    shopper = Checkout(shop, emulator)
    token = shopper.token(shipping={"name": "", "address": {}})
    response = shopper.confirm(token)
    assert response.status_code == 400 and response.json["error"].startswith("Please enter a delivery address")
    assert _intents_created(emulator) == 0


def test_a_new_address_after_a_decline_starts_a_new_order_and_gives_the_old_ones_stock_back(shop, emulator):
    shopper = Checkout(shop, emulator)
    first = shopper.quote(OREGON).json
    declined = shopper.confirm(shopper.token("pm_card_visa_chargeDeclined", shipping=OREGON), quote=first["quote"])
    assert declined.json["status"] == "failed"
    old_attempt = shopper.attempt_id
    second = shopper.quote(CALIFORNIA).json
    assert second["attempt_id"] != old_attempt  # the declined order keeps its Oregon address and total
    response = shopper.confirm(shopper.token(shipping=CALIFORNIA), quote=second["quote"])
    assert response.json["status"] == "succeeded"
    assert _order(shop, old_attempt).stock_reserved is False
    paid = _order(shop, shopper.attempt_id)
    assert paid.state == OrderState.PAID and json.loads(paid.shipping_address)["state"] == "CA"
