"""The fleet's Stripe request budget (app/payments/rate_limit.py) against the real emulator and a real Redis:
gateways of different processes share one budget, a burst past it waits briefly and is then refused with the
shop's own words without reaching Stripe, Stripe's own 429s are retried within the budget, and a Redis that
cannot be reached leaves each process a budget of its own."""
from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.payments import UNAVAILABLE_MESSAGE, PaymentError
from app.payments.gateway import Gateway
from tests.support.net import free_port

PI_ROUTE = "POST /v1/payment_intents"


def _creates(emulator) -> list[dict]:
    return [r for r in emulator.requests_log("/v1/payment_intents")
            if r["method"] == "POST" and r["path"] == "/v1/payment_intents"]


def _create(gateway: Gateway, key: str):
    """A create's outcome: the intent, or the PaymentError it raised."""
    try:
        return gateway.create_payment_intent(amount=1200, currency="usd", metadata={}, idempotency_key=key)
    except PaymentError as error:
        return error


@pytest.fixture
def budget_settings(stripe_settings):
    return stripe_settings.with_overrides(stripe_rate_limit=4, stripe_read_rate_limit=4, stripe_rate_limit_wait=0.3)


def test_two_processes_share_one_budget_and_a_burst_past_it_is_refused_before_stripe(budget_settings, emulator,
                                                                                      redis):
    first, second = Gateway(budget_settings), Gateway(budget_settings)  # as two processes would have
    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        outcomes = list(pool.map(lambda n: _create((first, second)[n % 2], f"burst-{n}"), range(10)))
    elapsed = time.monotonic() - started
    refused = [o for o in outcomes if isinstance(o, PaymentError)]
    assert len(outcomes) - len(refused) == 4
    assert all(o.kind == "unavailable" and o.code == "rate_limited" and o.status == 503 for o in refused)
    assert all(o.user_message == UNAVAILABLE_MESSAGE for o in refused)
    assert len(_creates(emulator)) == 4  # the six refused never reached Stripe
    assert elapsed < 1.0, elapsed  # refused once no turn could come within the wait (0.3 s), not after 1 s
    assert first.breaker_state == second.breaker_state == "closed"  # a refusal says nothing about Stripe


def test_a_call_past_the_budget_waits_for_its_turn_within_the_wait(budget_settings, emulator, redis):
    gateway = Gateway(budget_settings.with_overrides(stripe_rate_limit_wait=2.0))
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda n: _create(gateway, f"queued-{n}"), range(6)))
    assert not [o for o in outcomes if isinstance(o, PaymentError)]
    sent = sorted(r["time"] for r in _creates(emulator))
    assert len(sent) == 6
    assert sent[4] - sent[0] >= 0.9  # the fifth waited for the first's turn to leave the one-second window


def test_reads_have_a_budget_of_their_own(budget_settings, emulator, redis):
    gateway = Gateway(budget_settings.with_overrides(stripe_rate_limit_wait=0.0))
    for n in range(4):
        assert not isinstance(_create(gateway, f"write-{n}"), PaymentError)
    intent = gateway.retrieve_payment_intent(_first_intent(emulator))  # the write budget is spent, not this one
    assert intent["object"] == "payment_intent"
    assert isinstance(_create(gateway, "write-over"), PaymentError)


def _first_intent(emulator) -> str:
    import stripe

    from tests.support.emulator import EMULATOR_SECRET_KEY

    client = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": emulator.api})
    return client.v1.payment_intents.list(params={"limit": 1}).data[0].id


def test_stripe_429s_are_retried_and_each_retry_takes_a_turn(budget_settings, emulator, redis):
    gateway = Gateway(budget_settings.with_overrides(stripe_rate_limit=2, stripe_rate_limit_wait=2.0))
    emulator.ctl("POST", "/_emulator/faults", {"route": PI_ROUTE, "rate_limit": True, "count": 1})
    assert not isinstance(_create(gateway, "throttled"), PaymentError)  # a 429, then the retry: two turns
    assert not isinstance(_create(gateway, "after"), PaymentError)  # the third turn of a 2/s budget
    sent = sorted(r["time"] for r in _creates(emulator))
    assert [r["status"] for r in sorted(_creates(emulator), key=lambda r: r["time"])] == [429, 200, 200]
    assert sent[2] - sent[0] >= 0.9


def test_a_retry_with_no_turn_left_reports_the_failure_it_retried(budget_settings, emulator, redis):
    gateway = Gateway(budget_settings.with_overrides(stripe_rate_limit=1, stripe_rate_limit_wait=0.0))
    emulator.ctl("POST", "/_emulator/faults", {"route": PI_ROUTE, "status": 500, "count": 1})
    failure = _create(gateway, "maybe-done")
    assert isinstance(failure, PaymentError) and failure.kind == "transient" and failure.maybe_executed
    assert len(_creates(emulator)) == 1  # the retry had no turn, so the shop says "may have run", not "refused"


@pytest.fixture
def silent_redis():
    """An address that accepts connections and never answers (a Redis that hangs)."""
    listener = socket.create_server(("127.0.0.1", free_port()))
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


@pytest.mark.parametrize("down", ["refused", "silent"])
def test_without_redis_each_process_keeps_a_budget_of_its_own(budget_settings, emulator, down, request):
    redis_url = f"redis://127.0.0.1:{free_port()}/0" if down == "refused" else request.getfixturevalue("silent_redis")
    gateway = Gateway(budget_settings.with_overrides(redis_url=redis_url))
    started = time.monotonic()
    outcomes = [_create(gateway, f"no-redis-{n}") for n in range(5)]
    assert [isinstance(o, PaymentError) for o in outcomes] == [False] * 4 + [True]
    assert outcomes[-1].code == "rate_limited"
    assert len(_creates(emulator)) == 4
    assert time.monotonic() - started < 2.0  # Redis was given up on once, not waited on for every call
