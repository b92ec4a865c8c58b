"""Refunds: full and partial, by PaymentIntent or Charge, and the pending/failing refund cards."""

import pytest
import stripe


def _paid(client, pm="pm_card_visa", amount=5000):
    return client.v1.payment_intents.create(params={"amount": amount, "currency": "usd", "confirm": True,
                                                    "payment_method": pm})


def test_partial_then_full_refund(client, webhook_receiver):
    pi = _paid(client)
    first = client.v1.refunds.create(
        params={"payment_intent": pi.id, "amount": 2000, "reason": "requested_by_customer"})
    assert first.status == "succeeded" and first.amount == 2000 and first.charge == pi.latest_charge
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.amount_refunded == 2000 and charge.refunded is False
    rest = client.v1.refunds.create(params={"charge": pi.latest_charge})
    assert rest.amount == 3000
    charge = client.v1.charges.retrieve(pi.latest_charge)
    assert charge.amount_refunded == 5000 and charge.refunded is True
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.refunds.create(params={"charge": pi.latest_charge})
    assert info.value.code == "charge_already_refunded"
    assert client.v1.refunds.retrieve(first.id).amount == 2000
    listed = client.v1.refunds.list(params={"payment_intent": pi.id})
    assert [r.id for r in listed.data] == [rest.id, first.id]
    # wait for this charge's event: a late delivery from an earlier test may also be in the receiver
    refunded = webhook_receiver.wait_for(
        lambda e: e["type"] == "charge.refunded" and e["data"]["object"]["id"] == pi.latest_charge)
    assert refunded[-1]["data"]["object"]["amount_refunded"] in (2000, 5000)
    webhook_receiver.wait_for(lambda e: e["type"] == "refund.created" and e["data"]["object"]["id"] == rest.id)


def test_refund_too_large(client):
    pi = _paid(client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 6000})
    assert info.value.code == "amount_too_large"


def test_refund_needs_a_successful_payment(client):
    pi = client.v1.payment_intents.create(params={"amount": 5000, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": pi.id})


def test_pending_refund_card(client, webhook_receiver):
    pi = _paid(client, "pm_card_pendingRefund")
    refund = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert refund.status == "pending"
    updated = webhook_receiver.wait_for(
        lambda e: e["type"] == "refund.updated" and e["data"]["object"]["id"] == refund.id)
    assert updated[0]["data"]["object"]["status"] == "succeeded"
    assert client.v1.refunds.retrieve(refund.id).status == "succeeded"


def test_failing_refund_card(client, webhook_receiver):
    pi = _paid(client, "pm_card_refundFail")
    refund = client.v1.refunds.create(params={"payment_intent": pi.id})
    assert refund.status == "succeeded"
    failed = webhook_receiver.wait_for(
        lambda e: e["type"] == "refund.failed" and e["data"]["object"]["id"] == refund.id)
    assert failed[0]["data"]["object"]["status"] == "failed"
    assert client.v1.refunds.retrieve(refund.id).failure_reason
    assert client.v1.charges.retrieve(pi.latest_charge).amount_refunded == 0
