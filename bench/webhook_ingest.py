"""Webhook ingest under gunicorn: signed events/s (verify + store + enqueue) beside a bare 200 endpoint
(/healthz) on the same server, and beside two anchors on gunicorn with the same workers and threads (a bare
Flask endpoint, and a webhook shaped like Stripe's samples: verify, nothing stored, nothing queued), all in the
same run, with p50/p99 acknowledgement latency.

    .venv/bin/python -m bench.webhook_ingest [--seconds 10] [--concurrency 16] [--rate 200] [--postgres URL]
        [--keep-alive] [--json PATH]
The four endpoints take turns, ROUNDS rounds each, within the run: throughput with clients back to back, where
latency is mostly waiting in line. Then the acknowledgement latency at a steady --rate of deliveries (an open
loop, as Stripe's deliveries arrive: each latency from its scheduled send time), the samples' webhook beside it.
Goal: at least 0.62x the bare endpoint's throughput; p99 under 25 ms at 200/s.

JSON series: "throughput" {endpoint label: requests/s}, "steady" {endpoint label: {"p50": ms, "p99": ms}}.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
from pathlib import Path

from bench._figures import figure, write_json
from bench._loadgen import Result, closed_loop, open_loop
from bench.anchors import Anchor

from tests.support.emulator import WEBHOOK_SECRET
from tests.support.events import event_payload, sign
from tests.support.stack import Stack

ROUNDS = 5
# signed bodies made ahead per second of the two signed endpoints' closed loops (more than either answers here)
BODIES_PER_SECOND = 6000
RATIO_GOAL = 0.62
# the endpoints, as the output and the JSON series name them
BARE, WEBHOOK = "bare 200 (/healthz)", "signed webhook (verify+store+enqueue)"
FLASK_BARE, SAMPLES = "anchor: bare Flask endpoint", "anchor: samples webhook (verify only)"
P99_GOAL_MS = 25.0


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
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures to PATH")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    stack = Stack(tmp, database_url=args.postgres, web_workers=args.web_workers, web_threads=args.threads,
                  workers=0).start()
    anchors = []
    try:
        shape = {"workers": args.web_workers, "threads": args.threads}
        anchors.append(bare_anchor := Anchor("bench.anchors.bare:app", tmp / "bare.log", **shape))
        anchors.append(samples_anchor := Anchor("bench.anchors.samples_webhook:app", tmp / "samples.log",
                                                env={"STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}, **shape))
        # a type the shop acts on, so each delivery is stored and enqueued (no workers run: jobs wait in Redis)
        bodies = [event_payload("payment_intent.succeeded", {
            "id": f"pi_bench_{n}", "object": "payment_intent", "amount": 1200, "currency": "usd",
            "status": "succeeded", "metadata": {"order_id": f"bench-{n}"}})
            for n in range(int(BODIES_PER_SECOND * (2 * args.seconds + 2) + 3 * args.rate * args.seconds))]
        # signed and encoded ahead of time: the load generator's own work stays out of the figures
        signatures = [sign(body) for body in bodies]
        bodies = [body.encode() for body in bodies]

        def get(url):
            async def request(session, n):
                async with session.get(url) as response:
                    await response.read()
                    return response.status
            return request

        def signed(url):
            async def request(session, n):
                headers = {"Stripe-Signature": signatures[n], "Content-Type": "application/json"}
                async with session.post(url, data=bodies[n], headers=headers) as response:
                    await response.read()
                    return response.status
            return request

        endpoints = {
            BARE: get(f"{stack.url}/healthz"),
            WEBHOOK: signed(f"{stack.url}/webhooks/stripe"),
            FLASK_BARE: get(f"{bare_anchor.url}/healthz"),
            SAMPLES: signed(f"{samples_anchor.url}/webhook"),
        }
        sent = 0  # each signed delivery is a new event: a body is never sent twice
        signed_endpoints = (WEBHOOK, SAMPLES)
        for label, request in endpoints.items():  # warm up
            warm_up = asyncio.run(closed_loop(request, args.concurrency, 1, first=sent))
            sent += (len(warm_up.latencies) + warm_up.errors) * (label in signed_endpoints)
        # rounds taking turns, so a slow spell of a shared machine weighs on every endpoint alike
        results = {label: Result() for label in endpoints}
        for _ in range(ROUNDS):
            for label, request in endpoints.items():
                result = asyncio.run(closed_loop(request, args.concurrency, args.seconds / ROUNDS, first=sent,
                                                 new_connections=not args.keep_alive))
                sent += (len(result.latencies) + result.errors) * (label in signed_endpoints)
                results[label].add(result)
        steady = {}
        for label in (WEBHOOK, BARE, SAMPLES):
            offset = sent
            steady[label] = asyncio.run(open_loop(lambda session, n: endpoints[label](session, offset + n),
                                                  args.rate, args.seconds))
            sent += int(args.rate * args.seconds)
        stored = stack.query("SELECT count(*) FROM stripe_event")[0][0]
        queued = stack.redis().llen("rq:queue:events")
        database = "PostgreSQL" if args.postgres else "SQLite"
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn {args.web_workers} workers x "
              f"{args.threads} threads (the anchors alike); {database}; Redis (Valkey); "
              f"{args.concurrency} concurrent clients, {args.seconds:.0f} s each, "
              f"{'kept-alive connections' if args.keep_alive else 'a new connection per request'}")
        for label, result in results.items():
            print(result.line(label))
        rate = {label: result.rate for label, result in results.items()}
        ingest, bare = rate[WEBHOOK], rate[BARE]
        samples, flask_bare = rate[SAMPLES], rate[FLASK_BARE]
        ratio = ingest / bare if bare else float("nan")  # to three places: two would print 0.498 as 0.50
        print(f"ratio webhook/bare: {ratio:.3f} (goal at least {RATIO_GOAL}: "
              f"{'met' if ratio >= RATIO_GOAL else 'not met'})")
        print(f"anchor ratio samples webhook/bare Flask: {samples / flask_bare:.3f}")
        print(f"this shop's webhook/the samples' webhook: {ingest / samples:.3f} (the shop also stores and enqueues)")
        for label, result in steady.items():
            print(result.line(f"{label} at a steady {args.rate:.0f}/s"))
        webhook_steady = steady[WEBHOOK]
        p99 = webhook_steady.pct(99)
        print(f"webhook p99 at {args.rate:.0f}/s: {p99:.1f} ms (goal under {P99_GOAL_MS:.0f} ms: "
              f"{'met' if p99 < P99_GOAL_MS else 'not met'})")
        print(f"events stored: {stored}, jobs queued: {queued}")
        figures = [
            figure(WEBHOOK, ingest, "req/s"),
            figure("this shop's bare /healthz", bare, "req/s"),
            figure("webhook / this shop's bare /healthz", ratio, "x", RATIO_GOAL, ">="),
            figure(FLASK_BARE, flask_bare, "req/s"),
            figure(SAMPLES, samples, "req/s"),
            figure("anchor: samples webhook / bare Flask", samples / flask_bare, "x"),
            figure("this shop's webhook / samples webhook", ingest / samples, "x"),
            figure("webhook errors (all phases)", results[WEBHOOK].errors + webhook_steady.errors, "", 0, "<="),
            figure(f"webhook p50 at a steady {args.rate:.0f}/s", webhook_steady.pct(50), "ms"),
            figure(f"webhook p99 at a steady {args.rate:.0f}/s", p99, "ms", P99_GOAL_MS, "<="),
            figure(f"samples webhook p99 at a steady {args.rate:.0f}/s", steady[SAMPLES].pct(99), "ms"),
        ]
        write_json(args.json, "webhook_ingest", database, figures, {
            "throughput": rate,
            "steady": {label: {"p50": result.pct(50), "p99": result.pct(99)} for label, result in steady.items()}})
    finally:
        for anchor in anchors:
            anchor.stop()
        stack.stop()


if __name__ == "__main__":
    main()
