"""Disputes: Stripe's dispute test cards open a chargeback or an inquiry after a successful payment; evidence moves
it under review; Stripe's test evidence wins or loses it; closing accepts it."""

import time

import pytest
import stripe


def _disputed(client, webhook_receiver, pm="pm_card_createDispute", amount=5000):
    pi = client.v1.payment_intents.create(params={"amount": amount, "currency": "usd", "confirm": True,
                                                  "payment_method": pm, "metadata": {"order_id": "o-1"}})
    assert pi.status == "succeeded"
    created = webhook_receiver.wait_for(lambda e: e["type"] == "charge.dispute.created"
                                        and e["data"]["object"]["payment_intent"] == pi.id)
    return pi, created[-1]["data"]["object"]


def _events(webhook_receiver, dispute_id, event_type):
    return webhook_receiver.wait_for(lambda e: e["type"] == event_type and e["data"]["object"]["id"] == dispute_id)


def test_the_dispute_card_pays_then_opens_a_chargeback_and_withdraws_the_funds(client, webhook_receiver):
    pi, dispute = _disputed(client, webhook_receiver)
    assert dispute["id"].startswith("dp_") and dispute["status"] == "needs_response"
    assert (dispute["amount"], dispute["currency"], dispute["reason"]) == (5000, "usd", "fraudulent")
    assert dispute["charge"] == pi.latest_charge
    assert dispute["evidence_details"]["due_by"] > time.time() + 6 * 86400
    withdrawn = _events(webhook_receiver, dispute["id"], "charge.dispute.funds_withdrawn")[-1]["data"]["object"]
    assert [txn["amount"] for txn in withdrawn["balance_transactions"]] == [-5000]
    assert client.v1.charges.retrieve(pi.latest_charge).disputed is True
    assert [d.id for d in client.v1.disputes.list(params={"payment_intent": pi.id}).data] == [dispute["id"]]


def test_winning_evidence_wins_the_dispute_and_reinstates_the_funds(client, webhook_receiver):
    _, dispute = _disputed(client, webhook_receiver)
    updated = client.v1.disputes.update(dispute["id"], params={"evidence": {"uncategorized_text": "winning_evidence"}})
    assert updated.status == "under_review" and updated.evidence.uncategorized_text == "winning_evidence"
    closed = _events(webhook_receiver, dispute["id"], "charge.dispute.closed")[-1]["data"]["object"]
    assert closed["status"] == "won"
    reinstated = _events(webhook_receiver, dispute["id"], "charge.dispute.funds_reinstated")[-1]["data"]["object"]
    assert sum(txn["amount"] for txn in reinstated["balance_transactions"]) == 0
    assert client.v1.disputes.retrieve(dispute["id"]).status == "won"


def test_losing_evidence_loses_it_and_a_closed_dispute_takes_no_more_evidence(client, webhook_receiver):
    _, dispute = _disputed(client, webhook_receiver, pm="pm_card_createDisputeProductNotReceived")
    assert dispute["reason"] == "product_not_received"
    client.v1.disputes.update(dispute["id"], params={"evidence": {"uncategorized_text": "losing_evidence"}})
    assert _events(webhook_receiver, dispute["id"], "charge.dispute.closed")[-1]["data"]["object"]["status"] == "lost"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.disputes.update(dispute["id"], params={"evidence": {"uncategorized_text": "more"}})
    assert info.value.code == "dispute_already_closed"


def test_closing_a_dispute_accepts_it_as_lost(client, webhook_receiver):
    _, dispute = _disputed(client, webhook_receiver)
    closed = client.v1.disputes.close(dispute["id"])
    assert closed.status == "lost"
    _events(webhook_receiver, dispute["id"], "charge.dispute.closed")


def test_the_inquiry_card_opens_an_inquiry_that_withdraws_nothing(client, webhook_receiver):
    _, dispute = _disputed(client, webhook_receiver, pm="pm_card_createDisputeInquiry")
    assert dispute["status"] == "warning_needs_response"
    updated = client.v1.disputes.update(dispute["id"], params={"evidence": {"customer_name": "A. Shopper"},
                                                                "submit": False})
    assert updated.status == "warning_needs_response" and updated.evidence_details.has_evidence
    assert client.v1.disputes.update(dispute["id"], params={"submit": True}).status == "warning_under_review"


def test_unknown_evidence_fields_are_refused(client, webhook_receiver):
    _, dispute = _disputed(client, webhook_receiver)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.disputes.update(dispute["id"], params={"evidence": {"favourite_colour": "blue"}})
    assert info.value.param == "evidence[favourite_colour]"
