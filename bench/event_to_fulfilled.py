"""Event to fulfilled: p50/p99 from a webhook's receipt to its order's fulfilment, at a steady rate of
signed `payment_intent.succeeded` events (default 100/s) with two RQ workers.

    .venv/bin/python -m bench.event_to_fulfilled [--rate 100] [--seconds 10] [--workers 2] [--postgres URL]
        [--json PATH]
    .venv/bin/python -m bench.event_to_fulfilled --sweep [--rates 100,200,400,800,1600,3200]
        [--worker-counts 1,2,4] [--seconds 4] [--postgres URL] [--json PATH]
Goal: p50 under 100 ms, p99 under 500 ms at 100/s with 2 workers.
`--sweep` finds the knee: for each worker count, rates from the lowest upwards until p99 passes 500 ms (or the
events reach the shop at under 0.8x the rate asked), one stack for the whole sweep, each run drained before the next;
it prints the curve (rate asked and achieved, p50, p99 per worker count).

JSON series: "curve" [{"workers", "rate", "achieved", "p50", "p99", "max", "n"}] (one entry in a single run).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, text

from bench._figures import figure, percentile, write_json

from tests.support.events import event_payload, sign
from tests.support.stack import Stack

P50_GOAL_MS, P99_GOAL_MS = 100.0, 500.0
ARRIVAL_SHORTFALL = 0.8  # a run whose events reached the shop slower than this share of the rate ends the sweep


def create_pending_orders(database_url: str, count: int) -> list[str]:
    engine = create_engine(database_url)
    ids = [uuid.uuid4().hex for _ in range(count)]
    with engine.begin() as connection:
        connection.execute(text(
            'INSERT INTO "order" (public_id, attempt_id, state, amount, currency, amount_refunded, email, '
            "stock_reserved, created_at, updated_at) VALUES (:p, :p, 'pending', 1200, 'usd', 0, "
            "'bench@example.com', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
            [{"p": public_id} for public_id in ids])
        order_ids = dict(connection.execute(text('SELECT public_id, id FROM "order" WHERE state = \'pending\'')).all())
        connection.execute(text("INSERT INTO order_line (order_id, product_id, name, unit_price, quantity) "
                                "VALUES (:o, 'enamel-mug', 'Enamel Camp Mug', 1200, 1)"),
                           [{"o": order_ids[public_id]} for public_id in ids])
    engine.dispose()
    return ids


async def send_at_rate(url: str, bodies: list[str], rate: float) -> None:
    async with aiohttp.ClientSession() as session:
        async def post(body):
            async with session.post(url, data=body, headers={"Stripe-Signature": sign(body)}) as response:
                await response.read()

        started = time.monotonic()
        tasks = []
        for n, body in enumerate(bodies):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(body)))
        await asyncio.gather(*tasks)


def measure(stack: Stack, rate: float, seconds: float, run: int) -> dict:
    """One run: rate x seconds events for orders of their own, sent at `rate`; waits until every order of the
    shop is fulfilled. Returns the run's point of the curve (latencies in ms)."""
    count = int(rate * seconds)
    ids = create_pending_orders(stack.database_url, count)
    prefix = f"pi_r{run}x"
    bodies = [event_payload("payment_intent.succeeded", {
        "id": f"{prefix}{n}", "object": "payment_intent", "amount": 1200, "currency": "usd",
        "status": "succeeded", "metadata": {"order_id": public_id}}) for n, public_id in enumerate(ids)]
    asyncio.run(send_at_rate(f"{stack.url}/webhooks/stripe", bodies, rate))
    stack.wait_until(lambda: stack.order_states().get("pending", 0) == 0, timeout=max(120.0, count / 20))
    rows = stack.query('SELECT e.received_at, o.fulfilled_at FROM stripe_event e JOIN "order" o '
                       "ON o.payment_intent_id = e.object_id WHERE e.object_id LIKE :prefix", prefix=f"{prefix}%")
    received = sorted(_ts(r) for r, _ in rows)
    latencies = sorted((_ts(f) - _ts(r)) * 1000 for r, f in rows)
    span = received[-1] - received[0] if len(received) > 1 else 0.0
    return {"rate": rate, "achieved": (len(received) - 1) / span if span else float("nan"),
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "max": latencies[-1] if latencies else float("nan"), "n": len(latencies)}


def set_workers(stack: Stack, count: int) -> None:
    """Start workers until `count` run, and wait until each has registered with Redis."""
    from rq import Worker

    while len(stack.workers) < count:
        stack.start_worker()
    stack.wait_until(lambda: Worker.count(connection=stack.redis()) >= count, timeout=60)


def sweep(stack: Stack, rates: list[float], worker_counts: list[int], seconds: float) -> list[dict]:
    curve, run = [], 0
    for workers in sorted(worker_counts):
        set_workers(stack, workers)
        for rate in rates:
            run += 1
            point = {"workers": workers, **measure(stack, rate, seconds, run)}
            curve.append(point)
            print(_row(point), flush=True)
            if point["p99"] > P99_GOAL_MS or point["achieved"] < ARRIVAL_SHORTFALL * rate:
                break
    return curve


HEADER = f"{'workers':>7} {'rate':>6} {'achieved':>9} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} {'n':>6}"


def _row(point: dict) -> str:
    return (f"{point['workers']:>7} {point['rate']:>6.0f} {point['achieved']:>9.0f} {point['p50']:>9.1f} "
            f"{point['p99']:>9.1f} {point['max']:>9.1f} {point['n']:>6}")


def knee_figures(curve: list[dict]) -> list[dict]:
    """Per worker count: the highest rate whose p99 stayed under 500 ms, and whether a higher rate passed it."""
    figures = []
    for workers in sorted({point["workers"] for point in curve}):
        points = [point for point in curve if point["workers"] == workers]
        under = [point["rate"] for point in points if point["p99"] <= P99_GOAL_MS]
        passed = any(point["p99"] > P99_GOAL_MS for point in points)
        label = (f"highest rate with p99 under 500 ms, {workers} workers"
                 + ("" if passed else " (p99 never passed 500 ms: the rates ran out, or the events reached the shop "
                                     "slower than sent)"))
        figures.append(figure(label, max(under) if under else 0.0, "events/s"))
    return figures


def goal_figures(point: dict) -> list[dict]:
    where = f"at {point['rate']:.0f}/s, {point['workers']} workers"
    return [figure(f"event received -> fulfilled p50 {where}", point["p50"], "ms", P50_GOAL_MS, "<="),
            figure(f"event received -> fulfilled p99 {where}", point["p99"], "ms", P99_GOAL_MS, "<=")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=None, help="per run (default: 10, or 4 with --sweep)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--sweep", action="store_true", help="rates upwards per worker count until p99 > 500 ms")
    parser.add_argument("--rates", default="100,200,400,800,1600,3200")
    parser.add_argument("--worker-counts", default="1,2,4")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures to PATH")
    args = parser.parse_args()
    seconds = args.seconds or (4 if args.sweep else 10)
    worker_counts = [int(n) for n in args.worker_counts.split(",")] if args.sweep else [args.workers]
    database = "PostgreSQL" if args.postgres else "SQLite"
    tmp = Path(tempfile.mkdtemp(prefix="bench-fulfil-"))
    stack = Stack(tmp, database_url=args.postgres, workers=min(worker_counts),
                  extra_env={"MAIL_URL": ""}).start()  # receipts stay in the outbox: measure fulfilment only
    try:
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {database}; {seconds:.0f} s per run")
        print(HEADER, flush=True)
        if args.sweep:
            curve = sweep(stack, [float(r) for r in args.rates.split(",")], worker_counts, seconds)
        else:
            set_workers(stack, args.workers)
            curve = [{"workers": args.workers, **measure(stack, args.rate, seconds, 1)}]
            print(_row(curve[0]))
        figures = []
        at_goal = [point for point in curve if point["workers"] == 2 and point["rate"] == 100]
        if at_goal:
            figures += goal_figures(at_goal[0])
        elif not args.sweep:
            figures += [figure(f"event received -> fulfilled {q} at {args.rate:.0f}/s, "
                               f"{args.workers} workers", curve[0][q], "ms") for q in ("p50", "p99")]
        if args.sweep:
            knees = knee_figures(curve)
            for knee in knees:
                print(f"{knee['name']}: {knee['value']:.0f} events/s")
            figures += knees
        write_json(args.json, "event_to_fulfilled", database, figures, {"curve": curve})
    finally:
        stack.stop()


def _ts(value):
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


if __name__ == "__main__":
    main()
