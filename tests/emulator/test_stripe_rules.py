"""Stripe's documented rules, through stripe-python: metadata limits, currencies, updates after success,
test tokens, the in-flight idempotency code, and the smaller checks (events, emails, descriptors, params)."""

import threading
import time

import pytest
import stripe

PI = {"amount": 1000, "currency": "usd"}


def _error(call):
    with pytest.raises(stripe.StripeError) as info:
        call()
    return info.value


def test_metadata_limits(client):
    create = client.v1.payment_intents.create
    err = _error(lambda: create(params=dict(PI, metadata={f"k{i}": "v" for i in range(51)})))
    assert err.http_status == 400 and err.param == "metadata" and "50" in err.user_message
    err = _error(lambda: create(params=dict(PI, metadata={"k" * 41: "v"})))
    assert err.http_status == 400 and "40 characters" in err.user_message
    err = _error(lambda: create(params=dict(PI, metadata={"note": "x" * 501})))
    assert err.http_status == 400 and err.param == "metadata[note]" and "500 characters" in err.user_message
    pi = create(params=dict(PI, metadata={**{f"k{i}": "v" for i in range(49)}, "k" * 40: "x" * 500}))
    assert len(pi.metadata.to_dict()) == 50
    err = _error(lambda: client.v1.payment_intents.update(pi.id, params={"metadata": {"one_more": "v"}}))
    assert err.http_status == 400 and err.param == "metadata"
    assert len(client.v1.payment_intents.retrieve(pi.id).metadata.to_dict()) == 50  # nothing was applied


@pytest.mark.parametrize("amount,currency,minimum", [(49, "eur", "€0.50 eur"), (29, "gbp", "£0.30 gbp"),
                                                     (49, "jpy", "¥50 jpy"), (17499, "huf", "175.00 huf")])
def test_amount_below_the_currencys_minimum(client, amount, currency, minimum):
    err = _error(lambda: client.v1.payment_intents.create(params={"amount": amount, "currency": currency}))
    assert err.http_status == 400 and err.code == "amount_too_small" and err.param == "amount"
    assert minimum in err.user_message


def test_currencies_and_their_decimals(client):
    err = _error(lambda: client.v1.payment_intents.create(params={"amount": 1000, "currency": "xyz"}))
    assert err.http_status == 400 and err.param == "currency" and "Invalid currency: xyz" in err.user_message
    assert client.v1.payment_intents.list().data == []
    assert client.v1.payment_intents.create(params={"amount": 30, "currency": "gbp"}).currency == "gbp"
    yen = client.v1.payment_intents.create(params={"amount": 50, "currency": "JPY", "confirm": True,
                                                   "payment_method": "pm_card_visa"})
    assert (yen.currency, yen.amount_received) == ("jpy", 50)  # zero-decimal: 50 means 50 yen
    err = _error(lambda: client.v1.payment_intents.create(params={"amount": 1005, "currency": "kwd"}))
    assert err.http_status == 400 and err.code == "invalid_amount"  # three decimals, the last must be 0
    assert client.v1.payment_intents.create(params={"amount": 1010, "currency": "kwd"}).amount == 1010
    pi = client.v1.payment_intents.create(params={"amount": 100, "currency": "eur"})
    err = _error(lambda: client.v1.payment_intents.update(pi.id, params={"amount": 49}))
    assert err.code == "amount_too_small"
    assert client.v1.payment_intents.retrieve(pi.id).amount == 100


def test_succeeded_intent_accepts_documented_updates(client):
    pi = client.v1.payment_intents.create(params=dict(PI, confirm=True, payment_method="pm_card_visa"))
    updated = client.v1.payment_intents.update(pi.id, params={
        "metadata": {"order": "A-1"}, "description": "Order A-1", "receipt_email": "a@example.com",
        "shipping": {"name": "A", "address": {"line1": "1 Main St"}}})
    assert updated.status == "succeeded" and updated.metadata.to_dict() == {"order": "A-1"}
    assert updated.description == "Order A-1" and updated.receipt_email == "a@example.com"
    err = _error(lambda: client.v1.payment_intents.update(pi.id, params={"amount": 2000}))
    assert err.http_status == 400 and err.code == "payment_intent_unexpected_state" and err.param == "amount"
    assert client.v1.payment_intents.retrieve(pi.id).amount == 1000


def test_payment_method_from_a_test_token(client):
    pm = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_visa"}})
    assert pm.card.last4 == "4242" and pm.card.brand == "visa"
    amex = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_amex"}})
    assert amex.card.brand == "amex"
    declined = client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_chargeDeclined"}})
    err = _error(lambda: client.v1.payment_intents.create(params=dict(PI, confirm=True,
                                                                         payment_method=declined.id)))
    assert err.http_status == 402 and err.code == "card_declined"
    err = _error(lambda: client.v1.payment_methods.create(params={"type": "card", "card": {"token": "tok_nope"}}))
    assert err.http_status == 400 and err.code == "resource_missing" and err.param == "card[token]"


def test_in_flight_key_answers_idempotency_key_in_use(client, emu):
    emu.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "latency_ms": 2000, "count": 1})
    opts = {"idempotency_key": "k-in-use"}
    first = threading.Thread(target=lambda: client.v1.payment_intents.create(params=PI, options=opts))
    first.start()
    deadline = time.time() + 10
    while emu.ctl("GET", "/_emulator/stats")["idempotency_keys"] == 0 and time.time() < deadline:
        time.sleep(0.02)
    err = _error(lambda: client.v1.payment_intents.create(params=PI, options=opts))
    first.join()
    assert err.http_status == 409  # stripe-python raises its generic APIError for a 409
    assert (err.error.type, err.error.code) == ("idempotency_error", "idempotency_key_in_use")


def test_webhook_endpoint_refuses_unknown_event_types(client):
    err = _error(lambda: client.v1.webhook_endpoints.create(params={
        "url": "http://127.0.0.1:9/x", "enabled_events": ["payment_intent.succeeded", "payment_intent.sucedded"]}))
    assert err.http_status == 400 and err.param == "enabled_events" and "payment_intent.sucedded" in err.user_message
    endpoint = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/x",
                                                          "enabled_events": ["charge.refunded", "customer.created"]})
    err = _error(lambda: client.v1.webhook_endpoints.update(endpoint.id, params={"enabled_events": ["nope"]}))
    assert err.http_status == 400


def test_charge_refunded_has_previous_attributes(client):
    pi = client.v1.payment_intents.create(params=dict(PI, confirm=True, payment_method="pm_card_visa"))
    client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 400})
    client.v1.refunds.create(params={"payment_intent": pi.id})
    events = client.v1.events.list(params={"type": "charge.refunded"}).data
    assert [e.data.previous_attributes.to_dict() for e in events] == [
        {"amount_refunded": 400, "refunded": False}, {"amount_refunded": 0}]


@pytest.mark.parametrize("params,param", [
    ({"receipt_email": "not-an-email"}, "receipt_email"),
    ({"statement_descriptor_suffix": "X" * 23}, "statement_descriptor_suffix"),
    ({"statement_descriptor_suffix": "12345"}, "statement_descriptor_suffix"),
])
def test_receipt_email_and_descriptor_suffix_are_checked(client, params, param):
    err = _error(lambda: client.v1.payment_intents.create(params=dict(PI, **params)))
    assert err.http_status == 400 and err.param == param
    pi = client.v1.payment_intents.create(params=PI)
    err = _error(lambda: client.v1.payment_intents.update(pi.id, params=params))
    assert err.http_status == 400 and err.param == param


def test_good_email_and_suffix_are_kept(client):
    pi = client.v1.payment_intents.create(params=dict(PI, receipt_email="a.b@example.co.uk",
                                                      statement_descriptor_suffix="ORDER 1234567890123456"))
    assert pi.receipt_email == "a.b@example.co.uk" and len(pi.statement_descriptor_suffix) == 22


def test_unknown_intent_names_param_intent(client):
    err = _error(lambda: client.v1.payment_intents.retrieve("pi_missing"))
    assert err.http_status == 404 and err.code == "resource_missing" and err.param == "intent"


def test_confirmation_token_has_metadata(client):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    assert token.metadata.to_dict() == {}
    assert client.v1.confirmation_tokens.retrieve(token.id).metadata.to_dict() == {}
