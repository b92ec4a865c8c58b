"""Event to fulfilled: p50/p99 from a webhook's receipt to its order's fulfilment, at a steady rate of
signed `payment_intent.succeeded` events (default 100/s) with two RQ workers.

    .venv/bin/python -m bench.event_to_fulfilled [--rate 100] [--seconds 10] [--workers 2] [--postgres URL]
Goal: p50 under 100 ms, p99 under 500 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, text

from tests.support.events import event_payload, sign
from tests.support.stack import Stack


def create_pending_orders(database_url: str, count: int) -> list[str]:
    engine = create_engine(database_url)
    ids = [uuid.uuid4().hex for _ in range(count)]
    with engine.begin() as connection:
        for public_id in ids:
            order_id = connection.execute(text(
                'INSERT INTO "order" (public_id, attempt_id, state, amount, currency, amount_refunded, email, '
                "stock_reserved, created_at, updated_at) VALUES (:p, :p, 'pending', 1200, 'usd', 0, "
                "'bench@example.com', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                {"p": public_id}).scalar_one()
            connection.execute(text("INSERT INTO order_line (order_id, product_id, name, unit_price, quantity) "
                                    "VALUES (:o, 'enamel-mug', 'Enamel Camp Mug', 1200, 1)"), {"o": order_id})
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    tmp = Path(tempfile.mkdtemp(prefix="bench-fulfil-"))
    stack = Stack(tmp, database_url=args.postgres, workers=args.workers,
                  extra_env={"MAIL_URL": ""}).start()  # receipts stay in the outbox: measure fulfilment only
    try:
        ids = create_pending_orders(stack.database_url, count)
        bodies = [event_payload("payment_intent.succeeded", {
            "id": f"pi_bench_{n}", "object": "payment_intent", "amount": 1200, "currency": "usd",
            "status": "succeeded", "metadata": {"order_id": public_id}}) for n, public_id in enumerate(ids)]
        asyncio.run(send_at_rate(f"{stack.url}/webhooks/stripe", bodies, args.rate))
        stack.wait_until(lambda: stack.order_states().get("fulfilled", 0) == count, timeout=120)
        rows = stack.query('SELECT e.received_at, o.fulfilled_at FROM stripe_event e JOIN "order" o '
                           "ON o.payment_intent_id = e.object_id")
        latencies = sorted((_ts(f) - _ts(r)) * 1000 for r, f in rows)
        p = lambda q: latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))]  # noqa: E731
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.workers} RQ workers; "
              f"{'PostgreSQL' if args.postgres else 'SQLite'}; {count} events at {args.rate:.0f}/s")
        print(f"event received -> order fulfilled: p50 {p(50):.1f} ms  p99 {p(99):.1f} ms  max {latencies[-1]:.1f} ms "
              f"(n={len(latencies)})")
    finally:
        stack.stop()


def _ts(value):
    from datetime import datetime, timezone

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


if __name__ == "__main__":
    main()
