"""Webhook endpoints, signatures, enabled_events filtering, retries with backoff and webhook faults."""

import time

import pytest
import stripe

from emu_helpers import WebhookReceiver


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


def _pay(client, pm="pm_card_visa"):
    try:
        return client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                                        "payment_method": pm})
    except stripe.CardError as err:
        return err.error.payment_intent


def test_endpoint_crud_and_filtering(client, receiver):
    endpoint = client.v1.webhook_endpoints.create(params={
        "url": receiver.url, "enabled_events": ["payment_intent.succeeded"], "description": "only successes"})
    assert endpoint.id.startswith("we_") and endpoint.secret.startswith("whsec_")
    assert endpoint.id in [we.id for we in client.v1.webhook_endpoints.list().data]
    _pay(client)
    _pay(client, "pm_card_visa_chargeDeclined")
    delivered = receiver.wait_for(lambda e: e["type"] == "payment_intent.succeeded")
    time.sleep(0.3)
    assert {e["type"] for e in receiver.events()} == {"payment_intent.succeeded"}
    for delivery in receiver.received:
        stripe.Webhook.construct_event(delivery["body"], delivery["signature"], endpoint.secret)
    assert delivered[0]["pending_webhooks"] >= 1

    updated = client.v1.webhook_endpoints.update(endpoint.id, params={"enabled_events": ["*"]})
    assert updated.enabled_events == ["*"]
    deleted = client.v1.webhook_endpoints.delete(endpoint.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.retrieve(endpoint.id)


def test_every_event_type_is_delivered_and_verifies(client, emu, webhook_receiver):
    from emu_helpers import WEBHOOK_SECRET
    pi = _pay(client)
    _pay(client, "pm_card_visa_chargeDeclined")
    manual = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "confirm": True,
                                                      "capture_method": "manual", "payment_method": "pm_card_visa"})
    client.v1.payment_intents.capture(manual.id)
    client.v1.payment_intents.cancel(client.v1.payment_intents.create(params={"amount": 900, "currency": "usd"}).id)
    _pay(client, "pm_card_authenticationRequired")
    client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 100})
    client.v1.refunds.create(params={"payment_intent": _pay(client, "pm_card_pendingRefund").id})
    client.v1.refunds.create(params={"payment_intent": _pay(client, "pm_card_refundFail").id})
    expected = {"payment_intent.created", "payment_intent.succeeded", "payment_intent.payment_failed",
                "payment_intent.requires_action", "payment_intent.canceled",
                "payment_intent.amount_capturable_updated", "charge.succeeded", "charge.failed", "charge.captured",
                "charge.refunded", "refund.created", "refund.updated", "refund.failed"}
    deadline = time.time() + 10
    while time.time() < deadline and not expected <= {e["type"] for e in webhook_receiver.events()}:
        time.sleep(0.05)
    assert expected <= {e["type"] for e in webhook_receiver.events()}
    for delivery in webhook_receiver.received:
        event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], WEBHOOK_SECRET)
        assert event.data.object.id
        assert event.api_version


def test_failed_deliveries_are_retried_with_backoff(client, emu, receiver):
    receiver.status = 500
    client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["payment_intent.created"]})
    client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    # retry-compression 10000: the 60 s, 5 min, 30 min steps take 6 ms, 30 ms, 180 ms
    deadline = time.time() + 10
    while time.time() < deadline and len(receiver.received) < 4:
        time.sleep(0.02)
    assert len(receiver.received) >= 4
    receiver.status = 200
    gaps = [b["time"] - a["time"] for a, b in zip(receiver.received, receiver.received[1:])]
    assert gaps[2] > gaps[0]
    # the emulator records an attempt once the receiver's answer is back, just after the receiver saw it
    deadline = time.time() + 10
    while True:
        attempts = [a for a in emu.ctl("GET", "/_emulator/webhook_attempts")["data"] if a["url"] == receiver.url]
        if len(attempts) >= 4 or time.time() > deadline:
            break
        time.sleep(0.02)
    assert [a["attempt"] for a in attempts[:4]] == [1, 2, 3, 4]
    assert attempts[0]["status"] == 500


def test_timeouts_count_as_failures(client, emu, receiver):
    # the session emulator uses --webhook-timeout 2; an unreachable port fails fast and is retried
    client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/unreachable",
                                              "enabled_events": ["payment_intent.created"]})
    client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    deadline = time.time() + 10
    while time.time() < deadline:
        attempts = [a for a in emu.ctl("GET", "/_emulator/webhook_attempts")["data"] if "unreachable" in a["url"]]
        if len(attempts) >= 2:
            break
        time.sleep(0.05)
    assert len(attempts) >= 2 and attempts[0]["error"] and attempts[0]["status"] is None


def _endpoint(client, receiver):
    client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["payment_intent.created"]})


def test_webhook_fault_drop(client, emu, receiver):
    _endpoint(client, receiver)
    emu.ctl("POST", "/_emulator/webhook_faults", {"mode": "drop", "count": 1})
    first = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    second = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    receiver.wait_for(lambda e: e["data"]["object"]["id"] == second.id)
    time.sleep(0.2)
    assert first.id not in [e["data"]["object"]["id"] for e in receiver.events()]


def test_webhook_fault_duplicate(client, emu, receiver):
    _endpoint(client, receiver)
    emu.ctl("POST", "/_emulator/webhook_faults", {"mode": "duplicate", "n": 3, "count": 1})
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    deadline = time.time() + 10
    while time.time() < deadline and len(receiver.received) < 3:
        time.sleep(0.02)
    events = receiver.events()
    assert len(events) == 3 and len({e["id"] for e in events}) == 1 and events[0]["data"]["object"]["id"] == pi.id


def test_webhook_fault_delay(client, emu, receiver):
    _endpoint(client, receiver)
    emu.ctl("POST", "/_emulator/webhook_faults", {"mode": "delay", "delay_ms": 400})
    started = time.time()
    client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    receiver.wait_for(lambda e: True)
    assert receiver.received[0]["time"] - started >= 0.4


def test_webhook_fault_reorder(client, emu, receiver):
    _endpoint(client, receiver)
    emu.ctl("POST", "/_emulator/webhook_faults", {"mode": "reorder", "n": 3, "count": 3, "delay_ms": 5000})
    ids = [client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"}).id for _ in range(3)]
    deadline = time.time() + 10
    while time.time() < deadline and len(receiver.received) < 3:
        time.sleep(0.02)
    assert [e["data"]["object"]["id"] for e in receiver.events()] == ids[::-1]
    emu.ctl("DELETE", "/_emulator/webhook_faults")
    assert emu.ctl("GET", "/_emulator/webhook_faults")["data"] == []


def test_reorder_never_loses_a_lone_held_event(client, emu, receiver):
    _endpoint(client, receiver)
    emu.ctl("POST", "/_emulator/webhook_faults", {"mode": "reorder", "n": 5, "delay_ms": 200})
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    started = time.time()
    receiver.wait_for(lambda e: e["data"]["object"]["id"] == pi.id)
    assert time.time() - started >= 0.15
