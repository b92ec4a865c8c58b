"""The payments pool as production starts it (gunicorn.conf.py, GUNICORN_POOL=payments): one process holds many
slow Stripe calls at once, so shoppers are not turned away while Stripe is merely slow; past its bulkhead a
checkout is still answered at once."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from tests.support.shopper import Shopper
from tests.support.stack import Stack

SHOPPERS = 48  # three times the 16 threads the payments pool had before it was sized by the bulkhead


def _stack(tmp_path, **env) -> Stack:
    return Stack(tmp_path, database_url=os.environ.get("TEST_DATABASE_URL"), web_workers=1, workers=0,
                 payments_pool=True, extra_env={"CHECKOUT_DEADLINE": "20", "STRIPE_READ_TIMEOUT": "15", **env}).start()


def _prepared(stack: Stack, count: int) -> list[Shopper]:
    shoppers = []
    for _ in range(count):
        shopper = Shopper(stack)
        shopper.open_checkout("enamel-mug", 1)
        shopper.token = shopper.confirmation_token()
        shoppers.append(shopper)
    return shoppers


def test_one_process_holds_many_slow_checkouts_and_turns_none_away(tmp_path):
    stack = _stack(tmp_path)
    try:
        shoppers = _prepared(stack, SHOPPERS)
        stack.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents*", "latency_ms": 1500})
        with ThreadPoolExecutor(SHOPPERS) as pool:
            answers = list(pool.map(lambda shopper: shopper.confirm(shopper.token, timeout=60), shoppers))
        statuses = [status for status, _ in answers]
        assert statuses == [200] * SHOPPERS, {s: statuses.count(s) for s in set(statuses)}
        assert stack.order_states().get("paid", 0) + stack.order_states().get("fulfilled", 0) == SHOPPERS
    finally:
        stack.stop()


def test_past_its_bulkhead_a_checkout_is_answered_at_once(tmp_path):
    stack = _stack(tmp_path, STRIPE_MAX_CONCURRENCY="2")  # the pool runs 2 + 16 threads
    try:
        slow, late = _prepared(stack, 2), _prepared(stack, 1)[0]
        stack.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents*", "latency_ms": 3000})
        with ThreadPoolExecutor(2) as pool:
            held = [pool.submit(shopper.confirm, shopper.token, 60) for shopper in slow]
            # each holds its slot from its token read (answered at once) to the end of its 3 s create
            stack.wait_until(lambda: len(stack.emulator.requests_log("/v1/confirmation_tokens")) >= 2, timeout=10,
                             interval=0.05)
            started = time.monotonic()
            status, body = late.confirm(late.token)
            refused_in = time.monotonic() - started
            assert [future.result()[0] for future in held] == [200, 200]
        assert status == 503 and body["error"].startswith("Payments are temporarily unavailable"), (status, body)
        assert refused_in < 2.0, refused_in  # answered, not queued behind the 3 s calls
    finally:
        stack.stop()
