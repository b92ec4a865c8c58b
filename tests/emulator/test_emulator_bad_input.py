"""Bad input gets Stripe's 400/404 answers, never a 500."""

import random

import pytest
import requests
import stripe

from emu_helpers import PUBLISHABLE_KEY, SECRET_KEY


def post(emu, path, data, **kw):
    return requests.post(emu.api + path, data=data, auth=(SECRET_KEY, ""), timeout=5, **kw)


def test_unknown_parameter(emu):
    resp = post(emu, "/v1/payment_intents", {"amount": "1000", "currency": "usd", "foo": "bar"})
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert (err["code"], err["param"]) == ("parameter_unknown", "foo")
    assert err["message"] == "Received unknown parameter: foo"


@pytest.mark.parametrize("data,param", [({"currency": "usd"}, "amount"), ({"amount": "1000"}, "currency")])
def test_missing_parameter(emu, data, param):
    resp = post(emu, "/v1/payment_intents", data)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "parameter_missing" and resp.json()["error"]["param"] == param


def test_invalid_values(emu):
    resp = post(emu, "/v1/payment_intents", {"amount": "ten", "currency": "usd"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "parameter_invalid_integer"
    resp = post(emu, "/v1/payment_intents", {"amount": "10", "currency": "usd"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "amount_too_small"
    resp = post(emu, "/v1/payment_intents", {"amount": "1000", "currency": "usd", "confirm": "maybe"})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "parameter_invalid_boolean"


def test_malformed_bodies(emu):
    resp = post(emu, "/v1/payment_intents", "amount=1000&currency", headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
    resp = requests.post(emu.api + "/v1/payment_intents", json={"amount": 1000}, auth=(SECRET_KEY, ""), timeout=5)
    assert resp.status_code == 400
    resp = post(emu, "/v1/payment_intents", "amount]=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 400


def test_unknown_ids(client):
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.confirm("pi_x", params={"payment_method": "pm_card_visa"})
    assert info.value.http_status == 404 and str(info.value.user_message) == "No such payment_intent: 'pi_x'"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                                 "confirmation_token": "ctoken_nope"})
    assert info.value.http_status == 404 and info.value.param == "confirmation_token"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                                 "payment_method": "pm_card_nonsense"})
    assert info.value.http_status == 404


def test_every_parameter_the_shop_may_send_is_accepted(client):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    pi = client.v1.payment_intents.create(params={
        "amount": 1999, "currency": "usd", "confirm": True, "confirmation_token": token.id,
        "metadata": {"order_id": "9"}, "description": "Order 9", "receipt_email": "s@example.com",
        "automatic_payment_methods": {"enabled": True}, "return_url": "http://127.0.0.1:5000/orders/9",
        "expand": ["latest_charge"], "statement_descriptor_suffix": "ORDER 9",
        "shipping": {"name": "Sam", "address": {"line1": "1 Main St", "postal_code": "12345", "country": "US"}},
        "capture_method": "automatic", "setup_future_usage": "off_session", "use_stripe_sdk": True,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
    })
    assert pi.status == "succeeded" and pi.latest_charge.object == "charge"
    assert pi.shipping.name == "Sam" and pi.statement_descriptor_suffix == "ORDER 9"
    other = client.v1.payment_intents.create(params={"amount": 1999, "currency": "usd",
                                                     "payment_method_types": ["card"]})
    assert other.payment_method_types == ["card"]


ROUTES = [("POST", "/v1/payment_intents"), ("POST", "/v1/payment_intents/{pi}"),
          ("POST", "/v1/payment_intents/{pi}/confirm"), ("POST", "/v1/payment_intents/{pi}/cancel"),
          ("POST", "/v1/payment_intents/{pi}/capture"), ("GET", "/v1/payment_intents"),
          ("GET", "/v1/payment_intents/{pi}"), ("POST", "/v1/refunds"), ("GET", "/v1/refunds"),
          ("GET", "/v1/events"), ("POST", "/v1/webhook_endpoints"), ("GET", "/v1/charges"),
          ("POST", "/v1/confirmation_tokens"), ("POST", "/v1/test_helpers/confirmation_tokens"),
          ("POST", "/v1/payment_methods")]
JUNK_KEYS = ["amount", "currency", "confirm", "payment_method", "confirmation_token", "metadata", "metadata[a]",
             "shipping", "shipping[address]", "limit", "starting_after", "created[gt]", "created", "type", "types[0]",
             "url", "enabled_events[0]", "enabled_events[x]", "charge", "payment_intent", "reason", "expand[0]",
             "payment_method_data", "payment_method_data[card]", "payment_method_data[card][number]",
             "payment_method_data[billing_details][address]", "capture_method", "amount_to_capture", "type[x]",
             "url[x]", "amount[x]", "payment_method_data[type]", "cancellation_reason"]
JUNK_VALUES = ["", "0", "-1", "abc", "true", "4242424242424242", "pm_card_visa", "99999999999999999999", "[]"]


def test_junk_never_causes_a_500(emu, client):
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    rng = random.Random(1)
    for _ in range(300):
        method, path = rng.choice(ROUTES)
        data = {rng.choice(JUNK_KEYS): rng.choice(JUNK_VALUES) for _ in range(rng.randint(1, 4))}
        key = PUBLISHABLE_KEY if "confirmation_tokens" in path and "test_helpers" not in path else SECRET_KEY
        resp = requests.request(method, emu.api + path.format(pi=pi.id), timeout=5,
                                headers={"Authorization": f"Bearer {key}"},
                                **({"params": data} if method == "GET" else {"data": data}))
        assert resp.status_code < 500, (method, path, data, resp.text)
        assert "error" in resp.json() or resp.status_code == 200
