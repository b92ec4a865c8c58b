"""GET /v1/events: filters, pagination newest first, request ids and idempotency keys."""

import time

import requests
import stripe

from emu_helpers import SECRET_KEY


def test_events_for_a_payment(client):
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                                  "payment_method": "pm_card_visa"})
    events = client.v1.events.list().data
    assert [e.type for e in events] == ["payment_intent.succeeded", "charge.succeeded", "payment_intent.created"]
    assert all(e.data.object.id in (pi.id, pi.latest_charge) for e in events)
    created = events[-1]
    assert created.data.object.status == "requires_payment_method"  # a snapshot, not the live object
    assert created.request.id.startswith("req_") and created.request.idempotency_key
    assert client.v1.events.retrieve(created.id).id == created.id


def test_event_filters(client):
    client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                             "payment_method": "pm_card_visa"})
    try:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                                 "payment_method": "pm_card_visa_chargeDeclined"})
    except stripe.CardError:
        pass
    by_type = client.v1.events.list(params={"type": "charge.failed"}).data
    assert [e.type for e in by_type] == ["charge.failed"]
    by_types = client.v1.events.list(params={"types": ["charge.failed", "charge.succeeded"]}).data
    assert [e.type for e in by_types] == ["charge.failed", "charge.succeeded"]
    wildcard = client.v1.events.list(params={"type": "charge.*"}).data
    assert {e.type for e in wildcard} == {"charge.failed", "charge.succeeded"}
    now = int(time.time())
    assert len(client.v1.events.list(params={"created": {"gte": now - 60}}).data) == 6
    assert client.v1.events.list(params={"created": {"gt": now + 60}}).data == []
    page = client.v1.events.list(params={"limit": 4})
    assert page.has_more is True
    rest = client.v1.events.list(params={"limit": 4, "starting_after": page.data[-1].id})
    assert len(rest.data) == 2 and rest.has_more is False


def test_raw_idempotency_key_is_recorded(emu):
    requests.post(emu.api + "/v1/payment_intents", data={"amount": "1000", "currency": "usd"},
                  headers={"Idempotency-Key": "order-1-attempt-1"}, auth=(SECRET_KEY, ""), timeout=5)
    evt = requests.get(emu.api + "/v1/events", auth=(SECRET_KEY, ""), timeout=5).json()["data"][0]
    assert evt["request"]["idempotency_key"] == "order-1-attempt-1"
