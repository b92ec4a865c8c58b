"""``shipping`` on PaymentIntents and ConfirmationTokens: Stripe's checks and shapes, and a token's shipping
becoming its PaymentIntent's."""

import pytest
import stripe

SHIPPING = {"name": "Jenny Rosen", "phone": "+14155550100",
            "address": {"line1": "1234 Fake Street", "city": "San Francisco", "state": "CA", "postal_code": "94102",
                        "country": "US"}}
ADDRESS_OUT = dict(SHIPPING["address"], line2=None)


def _error(call) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as info:
        call()
    return info.value


def test_a_payment_intent_takes_and_returns_shipping(client):
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "shipping": SHIPPING})
    assert pi.shipping.to_dict() == {"address": ADDRESS_OUT, "carrier": None, "name": "Jenny Rosen",
                                     "phone": "+14155550100", "tracking_number": None}
    updated = client.v1.payment_intents.update(pi.id, params={"shipping": {
        "name": "Sam", "address": {"line1": "1 Main St", "country": "US"}, "carrier": "UPS"}})
    assert updated.shipping.name == "Sam" and updated.shipping.carrier == "UPS"
    assert updated.shipping.address.city is None and updated.shipping.phone is None
    assert client.v1.payment_intents.update(pi.id, params={"shipping": ""}).shipping is None


@pytest.mark.parametrize("value,code,param", [
    ({"address": {"line1": "1 Main St"}}, "parameter_missing", "shipping[name]"),
    ({"name": "Sam"}, "parameter_missing", "shipping[address]"),
    ({"name": "Sam", "address": {"city": "Paris"}}, "parameter_missing", "shipping[address][line1]"),
    ({"name": "Sam", "address": {"line1": "1 Main St", "zip": "12345"}}, "parameter_unknown",
     "shipping[address][zip]"),
    ({"name": "Sam", "address": {"line1": "1 Main St"}, "email": "a@b.c"}, "parameter_unknown", "shipping[email]"),
    ("Sam", "parameter_invalid_object", "shipping"),
])
def test_malformed_shipping_is_refused(client, emu, value, code, param):
    err = _error(lambda: client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd",
                                                                  "shipping": value}))
    assert (err.http_status, err.code, err.param) == (400, code, param)
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd"})
    err = _error(lambda: client.v1.payment_intents.update(pi.id, params={"shipping": value}))
    assert (err.http_status, err.code, err.param) == (400, code, param)
    err = _error(lambda: client.v1.test_helpers.confirmation_tokens.create(params={"shipping": value}))
    assert (err.http_status, err.param) == (400, param)
    assert emu.ctl("GET", "/_emulator/stats")["confirmation_tokens"]["created"] == 0


def test_a_tokens_shipping_becomes_the_intents_when_it_has_none(client):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa",
                                                                      "shipping": SHIPPING})
    assert token.shipping.to_dict() == {"address": ADDRESS_OUT, "name": "Jenny Rosen", "phone": "+14155550100"}
    assert client.v1.confirmation_tokens.retrieve(token.id).shipping.name == "Jenny Rosen"
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd"})
    confirmed = client.v1.payment_intents.confirm(pi.id, params={"confirmation_token": token.id})
    assert confirmed.status == "succeeded"
    assert confirmed.shipping.to_dict() == {"address": ADDRESS_OUT, "carrier": None, "name": "Jenny Rosen",
                                            "phone": "+14155550100", "tracking_number": None}
    charge = client.v1.charges.retrieve(confirmed.latest_charge)
    assert charge.shipping.name == "Jenny Rosen"


def test_the_intents_own_shipping_wins_over_the_tokens(client):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"shipping": SHIPPING})
    own = {"name": "Shop Pickup", "address": {"line1": "9 Depot Rd", "country": "US"}}
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "shipping": own})
    confirmed = client.v1.payment_intents.confirm(pi.id, params={"confirmation_token": token.id})
    assert confirmed.shipping.name == "Shop Pickup"
    token2 = client.v1.test_helpers.confirmation_tokens.create(params={"shipping": SHIPPING})
    given = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                     "confirmation_token": token2.id,
                                                     "shipping": dict(own, name="Given At Confirm")})
    assert given.shipping.name == "Given At Confirm"


def test_a_token_without_shipping_leaves_the_intent_without(client):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    assert token.shipping is None
    pi = client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", "confirm": True,
                                                  "confirmation_token": token.id})
    assert pi.shipping is None
