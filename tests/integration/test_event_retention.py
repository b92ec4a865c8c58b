"""Stored Stripe events keep no client secret and no card detail beyond brand and last four, and their payloads
are pruned after the retention period while the rows (id, type, outcome, times) stay; nothing else changes."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import select, update

from app import tasks
from app.events.replay import ReplayError, replay_event
from app.models import EventStatus, Order, OrderState, Product, StripeEvent, db, utcnow
from app.queues import QUEUES
from tests.support.events import event_payload, sign
from security_checks import dump, pending_order

CLIENT_SECRET = "pi_3Retain_secret_Zq81xYw"
CARD = {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034, "fingerprint": "Xt5EWLLDS7FJjR1c",
        "country": "US", "funding": "credit", "checks": {"cvc_check": "pass"}, "wallet": None}
BILLING = {"name": "Jenny Rosen", "email": "jenny@example.com", "phone": "+15555550100",
           "address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}}


def _post(client, body):
    response = client.post("/webhooks/stripe", data=body, content_type="application/json",
                           headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 200, response.get_data()
    return response


def _drain(redis):
    SimpleWorker(list(QUEUES), connection=redis).work(burst=True)


def _price(app) -> int:
    with app.app_context():
        return db.session.get(Product, "enamel-mug").price


def _succeeded(public_id, amount, event_id):
    payment_method = {"id": "pm_1", "object": "payment_method", "type": "card", "card": CARD,
                      "billing_details": BILLING}
    return event_payload("payment_intent.succeeded", {
        "id": "pi_retain_1", "object": "payment_intent", "amount": amount, "currency": "usd", "status": "succeeded",
        "client_secret": CLIENT_SECRET, "metadata": {"order_id": public_id}, "payment_method": payment_method,
        "latest_charge": {"id": "ch_1", "object": "charge", "billing_details": BILLING,
                          "payment_method_details": {"type": "card", "card": CARD}}}, event_id=event_id)


def _refunded(public_id, amount, event_id):
    return event_payload("charge.refunded", {
        "id": "ch_1", "object": "charge", "payment_intent": "pi_retain_1", "amount": amount, "currency": "usd",
        "amount_refunded": amount, "metadata": {"order_id": public_id}, "billing_details": BILLING,
        "payment_method_details": {"type": "card", "card": CARD}, "receipt_url": "https://pay.stripe.com/r/1"},
        event_id=event_id)


def _stored(app, event_id) -> StripeEvent:
    with app.app_context():
        event = db.session.get(StripeEvent, event_id)
        db.session.expunge(event)
        return event


def test_a_stored_event_keeps_no_client_secret_or_card_details_and_still_pays_the_order(app, client, redis):
    public_id = pending_order(app)
    amount = _price(app)
    _post(client, _succeeded(public_id, amount, "evt_secret_1"))
    _post(client, _refunded(public_id, amount, "evt_secret_2"))
    for event_id in ("evt_secret_1", "evt_secret_2"):
        text = _stored(app, event_id).payload
        for leaked in (CLIENT_SECRET, "client_secret", "fingerprint", "Xt5EWLLDS7FJjR1c", "exp_month", "2034",
                       "Jenny Rosen", "jenny@example.com", "+15555550100", "1 Main St", "cvc_check"):
            assert leaked not in text, (event_id, leaked)
        obj = json.loads(text)["data"]["object"]
        assert obj["metadata"] == {"order_id": public_id} and obj["amount"] == amount and obj["currency"] == "usd"
    intent = json.loads(_stored(app, "evt_secret_1").payload)["data"]["object"]
    assert intent["payment_method"]["card"] == {"brand": "visa", "last4": "4242"}
    assert intent["latest_charge"]["payment_method_details"]["card"] == {"brand": "visa", "last4": "4242"}
    _drain(redis)
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        assert order.state == OrderState.REFUNDED.value and order.amount_refunded == amount


def test_an_event_with_nothing_to_remove_is_stored_as_stripe_sent_it(app, client):
    public_id = pending_order(app)
    body = event_payload("payment_intent.canceled", {"id": "pi_x", "object": "payment_intent", "amount": 1,
                                                     "currency": "usd", "metadata": {"order_id": public_id}},
                         event_id="evt_plain")
    _post(client, body)
    assert _stored(app, "evt_plain").payload == body


def _age(app, event_ids, days):
    with app.app_context():
        db.session.execute(update(StripeEvent).where(StripeEvent.id.in_(event_ids)).values(
            received_at=utcnow() - timedelta(days=days)))
        db.session.commit()


@pytest.fixture
def retained(make_app, settings, redis):
    """Three applied events and one parked one, two of the applied ones and the parked one long past retention."""
    app = make_app(settings.with_overrides(event_payload_retention_days=30))
    client = app.test_client()
    public_id = pending_order(app)
    amount = _price(app)
    _post(client, _succeeded(public_id, amount, "evt_old_paid"))
    _post(client, event_payload("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_old_other"))
    _post(client, _refunded(public_id, amount, "evt_recent_refund"))
    _drain(redis)
    other = pending_order(app, attempt_id="e" * 32)
    _post(client, _succeeded(other, amount, "evt_old_parked"))  # parked below, as if its retries ran out
    with app.app_context():
        db.session.execute(update(StripeEvent).where(StripeEvent.id == "evt_old_parked").values(
            status=EventStatus.PARKED.value, last_error="waiting for a person"))
        db.session.commit()
    _age(app, ["evt_old_paid", "evt_old_other", "evt_old_parked"], days=31)
    return app, client


def test_old_payloads_are_pruned_by_the_periodic_job_and_the_rows_stay(retained):
    app, _ = retained
    before = {event_id: _stored(app, event_id) for event_id in
              ("evt_old_paid", "evt_old_other", "evt_recent_refund", "evt_old_parked")}
    orders = {name: rows for name, rows in dump(app).items() if name != "stripe_event"}
    assert tasks.prune_event_payloads() == 2
    for event_id in ("evt_old_paid", "evt_old_other"):
        after = _stored(app, event_id)
        assert after.payload == "{}" and after.payload_pruned_at is not None
        old = before[event_id]
        assert (after.type, after.object_id, after.status, after.attempts, after.received_at, after.processed_at) == (
            old.type, old.object_id, old.status, old.attempts, old.received_at, old.processed_at)
    assert _stored(app, "evt_recent_refund").payload == before["evt_recent_refund"].payload  # within retention
    assert _stored(app, "evt_old_parked").payload == before["evt_old_parked"].payload  # waits for a person
    assert {name: rows for name, rows in dump(app).items() if name != "stripe_event"} == orders
    assert tasks.prune_event_payloads() == 0  # done once


def test_a_pruned_event_cannot_be_replayed_or_stored_again(retained, redis):
    app, client = retained
    tasks.prune_event_payloads()
    with app.app_context():
        with pytest.raises(ReplayError, match="pruned .* nothing to replay"):
            replay_event("evt_old_paid", inline=True)
    orders = {name: rows for name, rows in dump(app).items() if name != "stripe_event"}
    public_id = json.loads(_stored(app, "evt_recent_refund").payload)["data"]["object"]["metadata"]["order_id"]
    assert _post(client, _succeeded(public_id, _price(app), "evt_old_paid")).json["duplicate"] is True
    _drain(redis)
    assert _stored(app, "evt_old_paid").payload == "{}"
    assert {name: rows for name, rows in dump(app).items() if name != "stripe_event"} == orders


def test_a_retention_of_zero_keeps_payloads(make_app, settings, redis):
    app = make_app(settings.with_overrides(event_payload_retention_days=0))
    public_id = pending_order(app)
    _post(app.test_client(), _succeeded(public_id, _price(app), "evt_kept"))
    _drain(redis)
    _age(app, ["evt_kept"], days=3650)
    assert tasks.prune_event_payloads() == 0
    assert _stored(app, "evt_kept").payload != "{}"
