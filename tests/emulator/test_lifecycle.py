"""PaymentIntent lifecycle: create without confirm, confirm, update, cancel, manual capture, list."""

import pytest
import stripe


def _create(client, **params):
    return client.v1.payment_intents.create(params={"amount": 2000, "currency": "usd", **params})


def test_create_without_confirm_then_confirm_with_token(client):
    pi = _create(client, automatic_payment_methods={"enabled": True}, description="order 7",
                 receipt_email="a@example.com", return_url=None)
    assert pi.status == "requires_payment_method" and pi.latest_charge is None
    assert pi.automatic_payment_methods.enabled is True and pi.description == "order 7"
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    assert "amount" not in token.to_dict()
    confirmed = client.v1.payment_intents.confirm(pi.id, params={"confirmation_token": token.id,
                                                                 "return_url": "http://shop/return"})
    assert confirmed.status == "succeeded" and confirmed.amount_received == 2000
    assert client.v1.confirmation_tokens.retrieve(token.id).payment_intent == pi.id
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    assert info.value.code == "payment_intent_unexpected_state"


def test_a_confirmation_token_confirms_one_payment_intent_only(client):
    token = client.v1.test_helpers.confirmation_tokens.create(params={"payment_method": "pm_card_visa"})
    first = _create(client)
    assert client.v1.payment_intents.confirm(first.id, params={"confirmation_token": token.id}).status == "succeeded"
    second = _create(client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.confirm(second.id, params={"confirmation_token": token.id})
    assert info.value.param == "confirmation_token" and info.value.http_status == 400
    assert client.v1.payment_intents.retrieve(second.id).status == "requires_payment_method"


def test_payment_method_without_confirm_requires_confirmation(client):
    pi = _create(client, payment_method="pm_card_visa")
    assert pi.status == "requires_confirmation"
    assert client.v1.payment_intents.confirm(pi.id).status == "succeeded"


def test_update(client):
    pi = _create(client, metadata={"a": "1", "b": "2"})
    updated = client.v1.payment_intents.update(pi.id, params={
        "amount": 3000, "metadata": {"b": "", "c": "3"}, "description": "new", "receipt_email": "x@example.com"})
    assert updated.amount == 3000 and updated.description == "new"
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}
    client.v1.payment_intents.confirm(pi.id, params={"payment_method": "pm_card_visa"})
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.update(pi.id, params={"amount": 100})
    assert info.value.code == "payment_intent_unexpected_state"


def test_cancel(client, webhook_receiver):
    pi = _create(client)
    canceled = client.v1.payment_intents.cancel(pi.id, params={"cancellation_reason": "abandoned"})
    assert canceled.status == "canceled" and canceled.cancellation_reason == "abandoned" and canceled.canceled_at
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.canceled" and e["data"]["object"]["id"] == pi.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.payment_intents.cancel(pi.id)
    assert info.value.code == "payment_intent_unexpected_state"


def test_manual_capture_full_and_partial(client, webhook_receiver):
    pi = _create(client, capture_method="manual", confirm=True, payment_method="pm_card_visa")
    assert pi.status == "requires_capture" and pi.amount_capturable == 2000 and pi.amount_received == 0
    assert client.v1.charges.retrieve(pi.latest_charge).captured is False
    webhook_receiver.wait_for(lambda e: e["type"] == "payment_intent.amount_capturable_updated"
                              and e["data"]["object"]["id"] == pi.id)
    captured = client.v1.payment_intents.capture(pi.id, params={"amount_to_capture": 1500})
    assert captured.status == "succeeded" and captured.amount_received == 1500 and captured.amount_capturable == 0
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.captured is True and charge.amount_captured == 1500 and charge.amount_refunded == 500
    webhook_receiver.wait_for(lambda e: e["type"] == "charge.captured" and e["data"]["object"]["id"] == charge.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.capture(pi.id)


def test_cancel_uncaptured_releases_authorization(client):
    pi = _create(client, capture_method="manual", confirm=True, payment_method="pm_card_visa")
    canceled = client.v1.payment_intents.cancel(pi.id)
    assert canceled.status == "canceled" and canceled.amount_capturable == 0
    assert client.v1.charges.retrieve(pi.latest_charge).refunded is True


def test_list_filters(client):
    first = _create(client)
    second = _create(client)
    listed = client.v1.payment_intents.list(params={"limit": 10})
    assert [p.id for p in listed.data][:2] == [second.id, first.id]
    none = client.v1.payment_intents.list(params={"created": {"gt": second.created + 10}})
    assert none.data == [] and none.has_more is False
    charges = client.v1.charges.list(params={"payment_intent": first.id})
    assert charges.data == []
