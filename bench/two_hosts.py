"""Two web hosts on one PostgreSQL and one Redis: signed webhook deliveries per second (verify, store, enqueue)
taken by two gunicorn servers together, as behind a load balancer, beside one server with one process and one
server with two processes, all in the same run against the same database and Redis.

    .venv/bin/python -m bench.two_hosts [--postgres URL] [--seconds 10] [--concurrency 16] [--threads 8]
        [--json PATH]
The three shapes take turns, ROUNDS rounds each, each request on a new connection (as Stripe's deliveries
arrive), the two hosts' requests alternating. "Two hosts" are two gunicorn servers of one process each on this
machine's cores, sharing them with PostgreSQL, Redis and the load: what it shows is whether anything the hosts
share (the database's locks, the group commit, Redis) holds a second host back, not what a second machine adds.
The two hosts against one server with the same two processes: near 1 means a host scales as a process does.
Every acknowledged delivery must be stored once: the bench counts them.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
from pathlib import Path

from bench._figures import DEFAULT_POSTGRES, figure, write_json
from bench._loadgen import Result, closed_loop

from tests.support.events import event_payload, sign
from tests.support.stack import Stack

ROUNDS = 3
BODIES_PER_SECOND = 2000  # signed bodies made ahead per second of load (more than the shop answers here)
ONE, ONE_TWO, TWO = "one host, one process", "one host, two processes", "two hosts, one process each"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES),
                        help="the PostgreSQL server's URL")
    parser.add_argument("--seconds", type=float, default=10, help="per shape, over all rounds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures to PATH")
    args = parser.parse_args()
    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-hosts-")), database_url=args.postgres, web_workers=1,
                  web_threads=args.threads, workers=0).start()
    try:
        second_host = stack.add_server(workers=1, threads=args.threads)
        two_processes = stack.add_server(workers=2, threads=args.threads)
        count = int(BODIES_PER_SECOND * (3 * args.seconds + 3))
        bodies = [event_payload("payment_intent.succeeded", {
            "id": f"pi_hosts_{n}", "object": "payment_intent", "amount": 1200, "currency": "usd",
            "status": "succeeded", "metadata": {"order_id": f"hosts-{n}"}}) for n in range(count)]
        signatures = [sign(body) for body in bodies]  # ahead of time: the load's own work stays out of the figures
        bodies = [body.encode() for body in bodies]

        def deliver(*hosts: str):
            async def request(session, n):
                headers = {"Stripe-Signature": signatures[n], "Content-Type": "application/json"}
                async with session.post(f"{hosts[n % len(hosts)]}/webhooks/stripe", data=bodies[n],
                                        headers=headers) as response:
                    await response.read()
                    return response.status
            return request

        shapes = {ONE: deliver(stack.url), ONE_TWO: deliver(two_processes), TWO: deliver(stack.url, second_host)}
        sent = acknowledged = 0  # each delivery is a new event: a body is never sent twice
        for request in shapes.values():  # warm up
            warm_up = asyncio.run(closed_loop(request, args.concurrency, 1, first=sent, new_connections=True))
            sent += len(warm_up.latencies) + warm_up.errors
            acknowledged += len(warm_up.latencies)
        results = {label: Result() for label in shapes}
        for _ in range(ROUNDS):  # rounds taking turns: a slow spell of a shared machine weighs on each shape alike
            for label, request in shapes.items():
                result = asyncio.run(closed_loop(request, args.concurrency, args.seconds / ROUNDS, first=sent,
                                                 new_connections=True))
                sent += len(result.latencies) + result.errors
                results[label].add(result)
        if sent > count:
            raise SystemExit(f"ran out of signed bodies ({count}): raise BODIES_PER_SECOND")
        acknowledged += sum(len(result.latencies) for result in results.values())
        stored = stack.query("SELECT count(*) FROM stripe_event")[0][0]
        lost = acknowledged - stored  # an acknowledged delivery that was not stored would be lost
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; PostgreSQL and Redis (Valkey) shared; each "
              f"gunicorn process {args.threads} threads; {args.concurrency} concurrent clients, a new connection "
              f"per request, {args.seconds:.0f} s per shape")
        for label, result in results.items():
            print(result.line(label))
        rate = {label: result.rate for label, result in results.items()}
        per_host = rate[TWO] / rate[ONE] if rate[ONE] else float("nan")
        as_processes = rate[TWO] / rate[ONE_TWO] if rate[ONE_TWO] else float("nan")
        print(f"two hosts / one host of one process: {per_host:.2f}x; two hosts / one host of two processes: "
              f"{as_processes:.2f}x")
        print(f"deliveries acknowledged: {acknowledged}, events stored: {stored} (acknowledged and not stored: "
              f"{max(lost, 0)})")
        errors = sum(result.errors for result in results.values())
        write_json(args.json, "two_hosts", "PostgreSQL", [
            figure(f"webhooks, {ONE}", rate[ONE], "req/s"),
            figure(f"webhooks, {ONE_TWO}", rate[ONE_TWO], "req/s"),
            figure(f"webhooks, {TWO}", rate[TWO], "req/s"),
            figure("two hosts / one host of one process", per_host, "x"),
            figure("two hosts / one host of two processes", as_processes, "x"),
            figure("errors (all shapes)", errors, "", 0, "<="),
            figure("deliveries acknowledged and not stored", max(lost, 0), "", 0, "<="),
        ], {"throughput": rate})
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
