"""Webhook retry policies: test mode (default) retries three times over hours, live mode nine times over days."""

import time

import pytest
import stripe

from emu_helpers import SECRET_KEY, Emulator, WebhookReceiver
from stripe_emulator.cli import parse_args


@pytest.fixture
def failing_receiver():
    r = WebhookReceiver()
    r.status = 500
    yield r
    r.close()


def _attempts_after_giving_up(emu, client, receiver, timeout=20):
    """Create one event for a failing endpoint; wait until delivery gives up (pending_webhooks back to 0)."""
    client.v1.webhook_endpoints.create(params={"url": receiver.url, "enabled_events": ["payment_intent.created"]})
    pi = client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd"})
    event = client.v1.events.list(params={"type": "payment_intent.created"}).data[0]
    assert event.data.object.id == pi.id and event.pending_webhooks >= 1
    deadline = time.time() + timeout
    while client.v1.events.retrieve(event.id).pending_webhooks > 0:
        assert time.time() < deadline, "delivery never gave up"
        time.sleep(0.05)
    return [a for a in emu.ctl("GET", "/_emulator/webhook_attempts")["data"] if a["url"] == receiver.url]


def test_test_mode_retries_three_times_by_default(client, emu, failing_receiver):
    # the session emulator runs with the default policy and --retry-compression 10000 (3.5 h -> 1.3 s)
    attempts = _attempts_after_giving_up(emu, client, failing_receiver)
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3, 4]
    assert len(failing_receiver.received) == 4


def test_live_mode_retries_nine_times(failing_receiver):
    emu = Emulator("--webhook-retries", "live", "--retry-compression", "100000", "--webhook-timeout", "2")
    try:
        client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": emu.api}, max_network_retries=0)
        attempts = _attempts_after_giving_up(emu, client, failing_receiver)
    finally:
        emu.stop()
    assert sorted(a["attempt"] for a in attempts) == list(range(1, 11))
    times = sorted(r["time"] for r in failing_receiver.received)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps[-1] > gaps[0]  # exponential backoff


def test_the_policy_is_checked(monkeypatch):
    assert parse_args([]).webhook_retries == "test"
    assert parse_args(["--webhook-retries", "live"]).webhook_retries == "live"
    monkeypatch.setenv("EMULATOR_WEBHOOK_RETRIES", "live")
    assert parse_args([]).webhook_retries == "live"
    monkeypatch.setenv("EMULATOR_WEBHOOK_RETRIES", "sometimes")
    with pytest.raises(SystemExit):
        parse_args([])
