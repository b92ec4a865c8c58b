"""Stability under payment load, in one run, against gunicorn:
  1. catalog (GET /) p50/p99 and errors at idle;
  2. the same while 50 shoppers keep checking out against a Stripe that answers in 2 s (a shopper turned away
     with the saved-cart 503 presses "try again" a second later; one whose payment went through is replaced
     by the next);
  3. while Stripe is down: checkout latency with the breaker closed (the first failures), then open.
The catalog is browsed at a steady rate (an open loop: --catalog-rate requests/s whatever the answers take,
latency counted from each request's scheduled time), as shoppers arrive at a shop; `--closed-loop N` instead
runs N clients back to back, which keeps the two cores saturated and so measures CPU share, not stability.
Goal: catalog p99 under load at most 1.25x its idle p99, zero errors; checkout with the breaker open p99 < 50 ms.

    .venv/bin/python bench/checkout_stability.py [--seconds 10] [--catalog-rate 50] [--web-workers 2]
        [--threads 16] [--postgres URL]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import re
import tempfile
import threading
import time
from pathlib import Path

from _loadgen import closed_loop, open_loop

from stack import Shopper, Stack

CHECKOUTS = 50
POOL = 200  # prepared shoppers: enough that the 50 never run out within a phase
RAMP_UP = 3.0


def prepared_shoppers(stack: Stack, count: int) -> list[Shopper]:
    """Shoppers with a cart and a checkout page open, each holding a ConfirmationToken."""
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.database_url)
    with engine.begin() as connection:  # every pending order holds stock: keep the shelf full
        connection.execute(text("UPDATE product SET stock = 100000"))
    engine.dispose()
    shoppers = []
    for _ in range(count):
        shopper = Shopper(stack)
        page = shopper.http.get(f"{stack.url}/").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        shopper.http.post(f"{stack.url}/cart/add", data={"csrf_token": token, "product_id": "enamel-mug",
                                                         "quantity": 1})
        checkout = shopper.http.get(f"{stack.url}/checkout").text
        shopper.attempt_id = re.search(r'data-attempt-id="([0-9a-f]{32})"', checkout).group(1)
        shopper.csrf = re.search(r'data-csrf-token="([^"]+)"', checkout).group(1)
        shopper.token = shopper.confirmation_token()
        shoppers.append(shopper)
    return shoppers


def run_checkouts(pool: list[Shopper], stop, results) -> None:
    """CHECKOUTS shoppers at once until `stop`: a 503 is retried by the same shopper a second later (the page's
    "try again"); any other answer ends that checkout and the thread takes the next shopper."""
    answers: list[int] = []
    lock = threading.Lock()

    def checkout_loop():
        while not stop.is_set():
            with lock:
                if not pool:
                    return
                shopper = pool.pop()
            while not stop.is_set():
                status, _ = shopper.confirm(shopper.token, timeout=60)
                answers.append(status)
                if status != 503:
                    break
                stop.wait(1)

    threads = [threading.Thread(target=checkout_loop) for _ in range(CHECKOUTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((answers, len(pool)))


def catalog(stack, seconds, rate, closed_loop_clients=0):
    async def get(session, n):
        async with session.get(f"{stack.url}/") as response:
            await response.read()
            return response.status

    if closed_loop_clients:
        return asyncio.run(closed_loop(get, closed_loop_clients, seconds))
    return asyncio.run(open_loop(get, rate, seconds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument("--catalog-rate", type=float, default=50, help="catalog requests per second")
    parser.add_argument("--closed-loop", type=int, default=0, metavar="N",
                        help="browse the catalog with N back-to-back clients instead of a steady rate")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stability-"))
    stack = Stack(tmp, database_url=args.postgres, web_workers=args.web_workers, web_threads=args.threads, workers=1, extra_env={
        "BREAKER_RESET_TIMEOUT": "30",
        "STRIPE_READ_TIMEOUT": "8", "CHECKOUT_DEADLINE": "10"}).start()
    try:
        browse = lambda seconds: catalog(stack, seconds, args.catalog_rate, args.closed_loop)  # noqa: E731
        browse(5)  # warm up: every process and thread has served the page
        idle = browse(args.seconds)

        pool = prepared_shoppers(stack, POOL)
        stack.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents*", "latency_ms": 2000})
        stop = multiprocessing.get_context("fork").Event()
        results_queue = multiprocessing.get_context("fork").Queue()
        # the checkouts run in their own process, so the catalog's client never waits on their threads (GIL)
        shoppers_process = multiprocessing.get_context("fork").Process(
            target=run_checkouts, args=(pool, stop, results_queue))
        shoppers_process.start()
        time.sleep(RAMP_UP)  # every shopper has submitted once: the bulkhead is full, the rest are retrying
        loaded = browse(args.seconds)
        stop.set()
        answers, left = results_queue.get(timeout=120)
        shoppers_process.join(30)
        stack.emulator.ctl("DELETE", "/_emulator/faults")

        down_shoppers = prepared_shoppers(stack, 40)
        stack.emulator.ctl("POST", "/_emulator/outage", {"down": True})
        results = {}
        # each gunicorn process has its own breaker: the first phase opens all of them
        for label, group in (("breaker closed (first failures)", down_shoppers[:20]),
                             ("breaker open", down_shoppers[20:] * 5)):
            async def confirm(session, n, group=group):
                shopper = group[n % len(group)]
                cookie = "; ".join(f"{c.name}={c.value}" for c in shopper.http.cookies)
                async with session.post(f"{stack.url}/checkout/confirm",
                                        headers={"X-CSRFToken": shopper.csrf, "Cookie": cookie},
                                        json={"confirmation_token": shopper.token, "attempt_id": shopper.attempt_id,
                                              "email": "bench@example.com"}) as response:
                    await response.read()
                    return response.status

            results[label] = asyncio.run(closed_loop(confirm, 2, 60, ok=lambda s: s == 503,
                                                     max_requests=len(group)))
        down_catalog = browse(args.seconds / 2)
        stack.emulator.ctl("POST", "/_emulator/outage", {"down": False})

        load = (f"{args.closed_loop} back-to-back clients" if args.closed_loop
                else f"{args.catalog_rate:.0f} requests/s (open loop)")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn {args.web_workers} workers x "
              f"{args.threads} threads (gthread); {'PostgreSQL' if args.postgres else 'SQLite'}; catalog: {load}, "
              f"{args.seconds:.0f} s per phase")
        print(idle.line("catalog, idle"))
        print(loaded.line(f"catalog, {CHECKOUTS} checkouts at 2 s Stripe latency"))
        print(f"  checkout answers meanwhile: {dict(sorted({s: answers.count(s) for s in set(answers)}.items()))}"
              f"{'' if left else ' (the pool of prepared shoppers ran out: raise POOL)'}")
        print(f"  catalog p99 loaded/idle: {loaded.pct(99) / idle.pct(99):.2f}x")
        for label, result in results.items():
            print(result.line(f"checkout, Stripe down, {label}"))
        print(down_catalog.line("catalog, Stripe down"))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
