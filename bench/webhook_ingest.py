"""Webhook ingest under gunicorn: signed events/s (verify + store + enqueue) beside a bare 200 endpoint
(/healthz) on the same server in the same run, with p50/p99 acknowledgement latency.

    .venv/bin/python -m bench.webhook_ingest [--seconds 10] [--concurrency 16] [--rate 200] [--postgres URL]
        [--keep-alive]
Bare and webhook rounds alternate (ROUNDS each) within the run: throughput with clients back to back, where
latency is mostly waiting in line. Then the acknowledgement latency at a steady --rate of deliveries (an open
loop, as Stripe's deliveries arrive: each latency from its scheduled send time).
Goal: at least half the bare endpoint's throughput; p99 under 25 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
from pathlib import Path

from bench._loadgen import Result, closed_loop, open_loop

from tests.support.events import event_payload, sign
from tests.support.stack import Stack

ROUNDS = 5


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200, help="deliveries per second of the latency phase")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--keep-alive", action="store_true",
                        help="reuse connections (default: one per request, as Stripe's deliveries arrive; a kept-alive "
                             "connection stays with the gunicorn worker that accepted it, so a few clients can load "
                             "one worker while another idles)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    stack = Stack(tmp, database_url=args.postgres, web_workers=args.web_workers, web_threads=args.threads,
                  workers=0).start()
    try:
        # a type the shop acts on, so each delivery is stored and enqueued (no workers run: jobs wait in Redis)
        bodies = [event_payload("payment_intent.succeeded", {
            "id": f"pi_bench_{n}", "object": "payment_intent", "amount": 1200, "currency": "usd",
            "status": "succeeded", "metadata": {"order_id": f"bench-{n}"}}) for n in range(200000)]

        async def bare(session, n):
            async with session.get(f"{stack.url}/healthz") as response:
                await response.read()
                return response.status

        # signed and encoded ahead of time: the load generator's own work stays out of the figures
        signatures = [sign(body) for body in bodies]
        bodies = [body.encode() for body in bodies]

        async def webhook(session, n):
            body = bodies[n]
            headers = {"Stripe-Signature": signatures[n], "Content-Type": "application/json"}
            async with session.post(f"{stack.url}/webhooks/stripe", data=body, headers=headers) as response:
                await response.read()
                return response.status

        asyncio.run(closed_loop(bare, args.concurrency, 2))  # warm up
        # alternating rounds, so a slow spell of a shared machine weighs on both endpoints alike
        bare_result, ingest = Result(), Result()
        for _ in range(ROUNDS):
            fresh = not args.keep_alive
            bare_result.add(asyncio.run(closed_loop(bare, args.concurrency, args.seconds / ROUNDS,
                                                    new_connections=fresh)))
            ingest.add(asyncio.run(closed_loop(webhook, args.concurrency, args.seconds / ROUNDS,
                                               first=len(ingest.latencies) + ingest.errors, new_connections=fresh)))
        offset = len(ingest.latencies) + ingest.errors
        steady = asyncio.run(open_loop(lambda session, n: webhook(session, offset + n), args.rate, args.seconds))
        steady_bare = asyncio.run(open_loop(bare, args.rate, args.seconds))
        stored = stack.query("SELECT count(*) FROM stripe_event")[0][0]
        queued = stack.redis().llen("rq:queue:events")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn {args.web_workers} workers x "
              f"{args.threads} threads; {'PostgreSQL' if args.postgres else 'SQLite'}; Redis (Valkey); "
              f"{args.concurrency} concurrent clients, {args.seconds:.0f} s each, "
              f"{'kept-alive connections' if args.keep_alive else 'a new connection per request'}")
        print(bare_result.line("bare 200 (/healthz)"))
        print(ingest.line("signed webhook (verify+store+enqueue)"))
        ratio = ingest.rate / bare_result.rate  # to three places: two would print 0.498 as 0.50
        print(f"ratio webhook/bare: {ratio:.3f} ({'at least' if ratio >= 0.5 else 'under'} half)")
        print(steady.line(f"signed webhook at a steady {args.rate:.0f}/s"))
        print(steady_bare.line(f"bare 200 at a steady {args.rate:.0f}/s"))
        print(f"events stored: {stored}, jobs queued: {queued}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
