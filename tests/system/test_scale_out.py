"""Scale-out: two gunicorn servers (as behind a load balancer) and three RQ workers on one PostgreSQL and one
Redis; a storm of checkouts and duplicated webhooks spread over both servers fulfils every order exactly once,
and /metrics on either server adds up what every process did."""
from __future__ import annotations

import json
import os
import random
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests
import stripe

from tests.support.emulator import EMULATOR_SECRET_KEY

from tests.support.events import event_payload, sign

from tests.support.shopper import Shopper
from tests.support.stack import Stack

ORDERS = int(os.environ.get("SCALE_OUT_ORDERS", "60"))


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def total(values: dict[str, float], name: str, *must_contain: str) -> float:
    return sum(v for k, v in values.items()
               if (k == name or k.startswith(name + "{")) and all(part in k for part in must_contain))


def test_metrics_add_up_across_gunicorn_workers(tmp_path):
    stack = Stack(tmp_path, web_workers=3, workers=1).start()
    try:
        key = 'shop_http_requests_total{method="GET",route="/healthz",status="200"}'
        before = scrape(stack.url).get(key, 0)  # the start-up probes
        for _ in range(60):
            assert requests.get(f"{stack.url}/healthz", timeout=10).status_code == 200
        counts = [scrape(stack.url)[key] for _ in range(6)]  # answered by different gunicorn workers
        assert counts == [before + 60] * 6, counts
        assert len({p.name.rsplit("-", 1)[1] for p in (tmp_path / "prometheus").glob("counter_*.db")}) >= 2
    finally:
        stack.stop()


def test_two_servers_and_three_workers_fulfil_a_storm_exactly_once(tmp_path):
    database_url = os.environ.get("TEST_DATABASE_URL")
    if not database_url or not database_url.startswith("postgresql"):
        pytest.skip("the scale-out check runs on PostgreSQL: set TEST_DATABASE_URL (and TEST_REDIS_URL), "
                    "e.g. `make test-postgres`")
    stack = Stack(tmp_path, database_url=database_url, redis_url=os.environ.get("TEST_REDIS_URL"),
                  web_workers=2, workers=3).start()
    other_url = stack.add_server(workers=2)
    servers = [stack.url, other_url]
    try:
        stock_before = stack.query("SELECT stock FROM product WHERE id = 'enamel-mug'")[0][0]
        started = time.monotonic()

        def buy(number):
            server = servers[number % 2]
            shopper = Shopper(SimpleNamespace(url=server, payments_url=server, emulator=stack.emulator))
            status, body = shopper.buy("enamel-mug", 1)
            assert status == 200 and body["status"] == "succeeded", body

        with ThreadPoolExecutor(12) as pool:
            list(pool.map(buy, range(ORDERS)))
        paid = time.monotonic() - started

        client = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": stack.emulator.api})
        events = [e.to_dict() for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
        bodies = [json.dumps(e) for e in events for _ in range(random.randint(1, 3))]
        random.shuffle(bodies)

        def deliver(numbered):
            number, body = numbered
            response = requests.post(f"{servers[number % 2]}/webhooks/stripe", data=body, timeout=30,
                                     headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"})
            assert response.status_code == 200, response.text

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(deliver, enumerate(bodies)))

        def settled():
            states = stack.order_states()
            sent = stack.query("SELECT count(sent_at) FROM outbox_email")[0][0]
            return states == {"fulfilled": ORDERS} and sent == ORDERS

        stack.wait_until(settled, timeout=120)
        elapsed = time.monotonic() - started
        print(f"\nscale-out: {ORDERS} orders over 2 servers x 2 gunicorn workers, 3 RQ workers, "
              f"{len(bodies)} extra deliveries: paid in {paid:.1f} s, all fulfilled and mailed in {elapsed:.1f} s")

        fulfilments = stack.query("SELECT order_id, count(*) FROM order_transition "
                                  "WHERE to_state = 'fulfilled' AND accepted GROUP BY order_id")
        assert len(fulfilments) == ORDERS and all(n == 1 for _, n in fulfilments)
        assert stack.query("SELECT count(*) FROM outbox_email")[0][0] == ORDERS
        assert len(stack.mail.message_ids) == len(set(stack.mail.message_ids)) == ORDERS
        stock_after = stack.query("SELECT stock FROM product WHERE id = 'enamel-mug'")[0][0]
        assert stock_after == stock_before - ORDERS
        stats = stack.emulator.ctl("GET", "/_emulator/stats")
        assert stats["payment_intents"]["created"] == ORDERS and stats["charges"]["created"] == ORDERS

        # Either server's /metrics sums every process: both gunicorn servers and every job the workers ran.
        def metrics_match():
            values = scrape(servers[1])
            stored = sum(total(values, "shop_webhook_events_total", f'result="{result}"')
                         for result in ("stored", "ignored"))  # ignored: a type the shop does not act on
            duplicates = values.get("shop_webhook_duplicates_total", 0)
            acked = total(values, "shop_http_requests_total", 'route="/webhooks/stripe"', 'status="200"')
            webhook_rows = stack.query("SELECT count(*) FROM stripe_event WHERE source = 'webhook'")[0][0]
            done = stack.query("SELECT count(*) FROM stripe_event WHERE status IN ('processed', 'ignored')")[0][0]
            applied = sum(v for k, v in values.items() if k.startswith("shop_events_processed_total{")
                          and 'result="failed"' not in k and 'result="parked"' not in k)
            seen.append(dict(stored=stored, webhook_rows=webhook_rows, duplicates=duplicates, acked=acked,
                             posted=len(bodies), events=len(events), applied=applied, done=done))
            return stored == webhook_rows and stored + duplicates == acked and duplicates >= len(bodies) - len(
                events) and applied == done

        seen: list[dict] = []
        try:
            stack.wait_until(metrics_match, timeout=30)
        except AssertionError:
            breakdown = {k: v for k, v in scrape(servers[1]).items() if k.startswith("shop_events_processed_total{")}
            rows = stack.query("SELECT type, status, count(*), sum(attempts) FROM stripe_event GROUP BY type, status")
            raise AssertionError(f"metrics do not add up: {seen[-1]} {breakdown} {rows}") from None
        values = scrape(servers[0])
        assert values['shop_orders{state="fulfilled"}'] == ORDERS
        # one create-and-confirm per order: each shopper quoted first, as the page does
        assert total(values, "shop_stripe_requests_total", 'outcome="ok"') >= ORDERS
    finally:
        stack.stop()


def test_busy_threads_reuse_their_database_connections(tmp_path):
    """Every thread of a busy gunicorn worker keeps its PostgreSQL connection: a pool smaller than the threads
    would open and close a connection (a new server process) on most requests."""
    database_url = os.environ.get("TEST_DATABASE_URL")
    if not database_url or not database_url.startswith("postgresql"):
        pytest.skip("counts PostgreSQL sessions: set TEST_DATABASE_URL, e.g. `make test-postgres`")
    stack = Stack(tmp_path, database_url=database_url, redis_url=os.environ.get("TEST_REDIS_URL"),
                  web_workers=1, web_threads=12, workers=0).start()
    try:
        sessions = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        bodies = [event_payload("customer.updated", {"id": f"cus_{n}", "object": "customer"}) for n in range(600)]

        def deliver(body):
            return requests.post(f"{stack.url}/webhooks/stripe", data=body, timeout=30,
                                 headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"})

        with ThreadPoolExecutor(12) as pool:
            list(pool.map(deliver, bodies[:60]))  # every thread has made its connection
            before = stack.query(sessions)[0][0]
            assert {response.status_code for response in pool.map(deliver, bodies[60:])} == {200}
        opened = stack.query(sessions)[0][0] - before
        # PostgreSQL counts a session when its backend flushes its statistics (up to seconds later), so the warm-up's
        # own connections and this test's queries may land in the difference; a churning pool opens about 100
        assert opened < 30, f"{opened} connections opened for 540 requests"
    finally:
        stack.stop()
