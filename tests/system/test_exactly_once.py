"""Exactly-once fulfilment across real processes: gunicorn, RQ workers, the emulator, a Valkey the test owns.

Every test pays orders through the real confirm endpoint, lets Stripe's (emulated) webhooks arrive with
faults on, and then checks the invariants: every order fulfilled once, one receipt each, stock exact.
"""
from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import stripe

from tests.support.emulator import EMULATOR_SECRET_KEY
from tests.support.events import sign
from tests.support.net import ROOT
from tests.support.shopper import Shopper
from tests.support.stack import Stack

pytestmark = pytest.mark.slow
ORDERS = int(os.environ.get("STORM_ORDERS", "200"))


@pytest.fixture
def stack(tmp_path):
    running = Stack(tmp_path, database_url=os.environ.get("TEST_DATABASE_URL"), workers=2).start()
    yield running
    running.stop()


def _initial_stock(stack, product="enamel-mug") -> int:
    return stack.query("SELECT stock FROM product WHERE id = :p", p=product)[0][0]


def _pay_orders(stack, count: int, threads: int = 12) -> list[dict]:
    def one(_):
        status, body = Shopper(stack).buy("enamel-mug", 1)
        assert status == 200 and body["status"] == "succeeded", body
        return body

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def _redeliver_everything(stack, copies=(1, 4), threads: int = 16) -> int:
    """Post every event Stripe has, 1-4 times each, shuffled, concurrently, correctly signed."""
    client = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": stack.emulator.api})
    events = [e.to_dict() for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    import json

    bodies = [json.dumps(e) for e in events for _ in range(random.randint(*copies))]
    random.shuffle(bodies)

    def post(body):
        response = requests.post(f"{stack.url}/webhooks/stripe", data=body, timeout=30,
                                 headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"})
        assert response.status_code == 200, response.text

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, bodies))
    return len(bodies)


def _assert_exactly_once(stack, count: int, stock_before: int, resends_allowed: int = 0) -> None:
    states = stack.order_states()
    assert states == {"fulfilled": count}, states
    fulfilments = stack.query("SELECT order_id, count(*) FROM order_transition "
                              "WHERE to_state = 'fulfilled' AND accepted GROUP BY order_id")
    assert len(fulfilments) == count and all(n == 1 for _, n in fulfilments)
    receipts = stack.query("SELECT count(*), count(sent_at) FROM outbox_email")[0]
    assert receipts == (count, count)
    assert len(set(stack.mail.message_ids)) == count
    # SMTP is the one at-least-once edge: a sender killed between the server's 250 and its own commit sends
    # again after the lease, with the same Message-ID (so a mail system can drop the copy)
    assert len(stack.mail.message_ids) - count <= resends_allowed
    assert _initial_stock(stack) == stock_before - count
    stats = stack.emulator.ctl("GET", "/_emulator/stats")
    assert stats["payment_intents"]["created"] == count and stats["charges"]["created"] == count, stats


def _metric(stack, name: str) -> float:
    """A counter summed over the stack's processes, from its /metrics."""
    text = requests.get(f"{stack.url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def _all_fulfilled_and_mailed(stack, count):
    # sent_at too: a sender killed between the SMTP server's 250 and its commit leaves the mail delivered but its
    # row unsent until the lease runs out and it is sent again
    return lambda: (stack.order_states() == {"fulfilled": count} and len(set(stack.mail.message_ids)) >= count
                    and stack.query("SELECT count(sent_at) FROM outbox_email")[0][0] >= count)


def test_a_storm_of_duplicated_and_reordered_events_fulfils_each_order_exactly_once(stack):
    stock = _initial_stock(stack)
    stack.emulator.ctl("POST", "/_emulator/webhook_faults", {"mode": "duplicate", "n": 3, "rate": 0.5})
    stack.emulator.ctl("POST", "/_emulator/webhook_faults", {"mode": "reorder", "rate": 0.5})
    _pay_orders(stack, ORDERS)
    delivered = _redeliver_everything(stack)
    waited = stack.wait_until(_all_fulfilled_and_mailed(stack, ORDERS), timeout=180)
    batches = _metric(stack, "shop_event_batch_size_count")
    print(f"{ORDERS} orders, {delivered} extra deliveries: all fulfilled {waited:.1f} s after the last, "
          f"in {batches:.0f} worker transactions (fewer than events: batches)")
    _assert_exactly_once(stack, ORDERS, stock)


def test_redis_stopped_mid_storm_loses_nothing(stack):
    stock = _initial_stock(stack)
    count = max(ORDERS // 2, 20)
    _pay_orders(stack, count // 2)
    stack.stop_redis()
    time.sleep(1)
    _pay_orders(stack, count - count // 2)  # webhooks keep arriving and are stored while Redis is down
    time.sleep(2)
    stack.start_redis()  # an empty Redis: everything that was queued is gone
    waited = stack.wait_until(_all_fulfilled_and_mailed(stack, count), timeout=120)
    print(f"Redis back: all {count} orders fulfilled within {waited:.1f} s")
    _assert_exactly_once(stack, count, stock)


def test_workers_killed_mid_fulfilment_lose_nothing_and_do_nothing_twice(stack):
    stock = _initial_stock(stack)
    count = max(ORDERS // 2, 20)
    with ThreadPoolExecutor(1) as pool:
        paying = pool.submit(_pay_orders, stack, count, 6)
        kills = 0
        while not paying.done() or kills < 4:
            time.sleep(random.uniform(0.3, 0.8))
            victim = random.choice(stack.workers)
            stack.kill_worker(victim)
            stack.start_worker(cron=victim.runs_cron)  # as a supervisor restarts it, with its role
            kills += 1
            if kills >= 8:
                break
        paying.result()
    waited = stack.wait_until(_all_fulfilled_and_mailed(stack, count), timeout=180)
    print(f"{kills} SIGKILLs: all {count} orders fulfilled {waited:.1f} s after the last payment")
    _assert_exactly_once(stack, count, stock, resends_allowed=kills)


def test_reconcile_recovers_every_event_the_webhook_never_delivered(stack):
    stock = _initial_stock(stack)
    count = 30
    stack.emulator.ctl("POST", "/_emulator/webhook_faults", {"mode": "drop", "rate": 1.0})
    _pay_orders(stack, count)
    time.sleep(1)
    assert stack.query("SELECT count(*) FROM stripe_event")[0][0] == 0
    assert stack.order_states() == {"paid": count}
    result = subprocess.run([sys.executable, "-m", "app.cli", "reconcile"], env=stack.env, cwd=ROOT,
                            capture_output=True, text=True, check=True)
    print(result.stdout.strip())
    stack.wait_until(_all_fulfilled_and_mailed(stack, count), timeout=60)
    _assert_exactly_once(stack, count, stock)
    sources = dict(stack.query("SELECT source, count(*) FROM stripe_event GROUP BY source"))
    assert sources.get("reconcile", 0) > 0 and "webhook" not in sources
