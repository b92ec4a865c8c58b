"""Stability under payment load, in one run, against gunicorn:
  1. catalog (GET /) p50/p99 and errors at idle;
  2. the same while 50 shoppers keep checking out against a Stripe that answers in 2 s (a shopper turned away
     with the saved-cart 503 presses "try again" 0.5-2.5 s later; one whose payment went through is replaced
     by the next). Idle and loaded phases alternate (ROUNDS of each, --seconds each), the checkouts paused and
     settled in between, so a slow spell of a shared machine weighs on both alike: with no load at all, two
     phases of the same catalog differ by up to a quarter in p99 here. A control phase in each round browses
     beside two busy loops at idle scheduling priority (SCHED_IDLE: the kernel runs the shop first, always):
     what merely sharing the machine costs the catalog, with no request of the shop's involved;
  3. while Stripe is down: checkout latency with the breaker closed (the first failures), then open.
The catalog is browsed at a steady rate (an open loop: --catalog-rate requests/s whatever the answers take,
latency counted from each request's scheduled time), as shoppers arrive at a shop; `--closed-loop N` instead
runs N clients back to back, which keeps the two cores saturated and so measures CPU share, not stability.
The shop runs in its recommended shape: the payment paths (POST /checkout/confirm and the Stripe webhook) in a
gunicorn of their own, so a checkout spike never queues the pages behind it, and that pool, the RQ worker
(and, standing in for what runs elsewhere, the emulator, the SMTP sink and the 50 shoppers' load) at nice 19,
as a deployment gives background work a smaller CPU weight (nice weighs each thread, so with dozens of
threads waking at once only the lowest priority keeps their sum below one page's); and the pages' gunicorn
pinned to the first core, everything else the stack runs to the others (deploy/compose.cpusets.yml), since even
idle-priority work on the pages' core costs their p99 (the control phase). On PostgreSQL the server processes
serving the payments pool and the worker (told apart by DB_APPLICATION_NAME) join the background too: in a
deployment the database has a machine of its own, so their work never competes with the pages' CPU there
(`--shared-backends` leaves them on every core at normal priority). `--shared-cpus` leaves every process
free to run on every core; `--single-pool` measures one gunicorn with nothing niced or pinned instead.
The SMTP sink runs in its own process, never in the process that times the catalog.
Goal: catalog p99 under load at most 1.25x its idle p99, zero errors; checkout with the breaker open p99 < 50 ms.

    .venv/bin/python -m bench.checkout_stability [--seconds 10] [--catalog-rate 50] [--web-workers 2]
        [--threads 16] [--postgres URL] [--shared-backends] [--shared-cpus] [--single-pool] [--closed-loop N]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._loadgen import Result, closed_loop, open_loop

from tests.support.shopper import Shopper

from tests.support.stack import BACKGROUND_ROLES, Stack

CHECKOUTS = 50
POOL = 400  # prepared shoppers: enough that the 50 never run out within a phase
RAMP_UP = 3.0
ROUNDS = 3
SETTLE = 6.0  # after pausing the shoppers: checkouts in flight (2 Stripe calls at 2 s), their webhooks and jobs end
BACKGROUND_NICE = 19


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
        shopper.open_checkout("enamel-mug", 1)
        shopper.token = shopper.confirmation_token()
        shoppers.append(shopper)
    return shoppers


def follow_background_backends(database_url: str, cpus: set[int], nice: int, stop, placed, problems) -> None:
    """Run in a process of its own on `cpus` at `nice` (never in the one timing the catalog) until `stop`: the
    PostgreSQL server processes serving the payments pool and the worker (found by their application_name) join
    the background on `cpus` at `nice`, as their work would run on the database's own machine in a deployment,
    not beside the pages. `placed` (a shared int) counts them; `problems` (a queue) gets why one could not be
    moved (another user's processes need root)."""
    from sqlalchemy import bindparam, create_engine, text

    os.nice(nice)
    os.sched_setaffinity(0, cpus)
    engine = create_engine(database_url, pool_size=1)
    query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                 "AND application_name IN :roles").bindparams(bindparam("roles", expanding=True))
    seen: set[int] = set()
    while not stop.wait(0.5):
        with engine.connect() as connection:
            pids = set(connection.scalars(query, {"roles": list(BACKGROUND_ROLES)}))
        for pid in pids - seen:
            seen.add(pid)
            try:
                os.sched_setaffinity(pid, cpus)
                os.setpriority(os.PRIO_PROCESS, pid, nice)
            except ProcessLookupError:
                continue
            except PermissionError as error:
                problems.put(f"backend {pid}: {error}")
                continue
            placed.value += 1
    engine.dispose()


def run_checkouts(pool: list[Shopper], go, stop, results, nice: int = 0, cpus: set[int] | None = None) -> None:
    """CHECKOUTS shoppers at once while `go` is set, until `stop`: a 503 is retried by the same shopper 0.5 to
    2.5 s later (a person reading the message, then pressing "try again"); any other answer ends that checkout
    and the thread takes the next shopper."""
    os.nice(nice)  # before any thread starts: the shoppers' browsers are not on the shop's machine
    if cpus:
        os.sched_setaffinity(0, cpus)
    answers: list[int] = []
    lock = threading.Lock()

    def checkout_loop():
        while not stop.is_set():
            with lock:
                if not pool:
                    return
                shopper = pool.pop()
            while not stop.is_set():
                if not go.wait(0.2):
                    continue
                status, _ = shopper.confirm(shopper.token, timeout=60)
                answers.append(status)
                if status != 503:
                    break
                stop.wait(random.uniform(0.5, 2.5))

    threads = [threading.Thread(target=checkout_loop) for _ in range(CHECKOUTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((answers, len(pool)))


BUSY_LOOP = "import os\nos.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\nwhile True:\n    pass"


def beside_busy_loops(measure):
    """`measure()` while each core also has a busy loop that the scheduler runs only when nothing else wants it."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)
        return measure()
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


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
    parser.add_argument("--shared-cpus", action="store_true",
                        help="let every process run on every core (default: the pages pinned to the first core)")
    parser.add_argument("--shared-backends", action="store_true",
                        help="PostgreSQL: leave the server processes of the payments and the worker on every core")
    parser.add_argument("--single-pool", action="store_true",
                        help="one gunicorn for everything, nothing at a lower CPU priority (the naive shape)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stability-"))
    nice = 0 if args.single_pool else BACKGROUND_NICE
    stack = Stack(tmp, database_url=args.postgres, web_workers=args.web_workers, web_threads=args.threads,
                  workers=1, payments_pool=not args.single_pool, background_nice=nice, mail_process=True,
                  extra_env={"BREAKER_RESET_TIMEOUT": "30", "STRIPE_READ_TIMEOUT": "8",
                             "CHECKOUT_DEADLINE": "10"}).start()
    cores = sorted(os.sched_getaffinity(0))
    background_cpus = set(cores[1:]) if len(cores) > 1 and not (args.shared_cpus or args.single_pool) else None
    fork = multiprocessing.get_context("fork")
    backends_stop, backends_placed, backend_problems = fork.Event(), fork.Value("i", 0), fork.Queue()
    try:
        pages_cpus = stack.split_cpus(background_cpus) if background_cpus else None
        if background_cpus and args.postgres and not args.shared_backends:
            fork.Process(target=follow_background_backends, daemon=True,
                         args=(stack.database_url, background_cpus, nice, backends_stop, backends_placed,
                               backend_problems)).start()
        browse = lambda seconds: catalog(stack, seconds, args.catalog_rate, args.closed_loop)  # noqa: E731
        browse(5)  # warm up: every process and thread has served the page

        pool = prepared_shoppers(stack, POOL)
        stack.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents*", "latency_ms": 2000})
        go, stop, results_queue = fork.Event(), fork.Event(), fork.Queue()
        # the checkouts run in their own process, so the catalog's client never waits on their threads (GIL)
        shoppers_process = fork.Process(target=run_checkouts,
                                        args=(pool, go, stop, results_queue, nice, background_cpus))
        shoppers_process.start()
        idle, loaded, control = Result(), Result(), Result()
        for _ in range(ROUNDS):
            idle.add(browse(args.seconds))
            go.set()
            time.sleep(RAMP_UP)  # every shopper has submitted once: the bulkhead is full, the rest are retrying
            loaded.add(browse(args.seconds))
            go.clear()
            time.sleep(SETTLE)
            control.add(beside_busy_loops(lambda: browse(args.seconds)))
        stop.set()
        answers, left = results_queue.get(timeout=120)
        shoppers_process.join(30)
        stack.emulator.ctl("DELETE", "/_emulator/faults")

        down_shoppers = prepared_shoppers(stack, 40)
        stack.emulator.ctl("POST", "/_emulator/outage", {"down": True})

        async def confirm(session, n, group):
            shopper = group[n % len(group)]
            cookie = "; ".join(f"{c.name}={c.value}" for c in shopper.http.cookies)
            async with session.post(f"{stack.payments_url}/checkout/confirm",
                                    headers={"X-CSRFToken": shopper.csrf, "Cookie": cookie},
                                    json={"confirmation_token": shopper.token, "attempt_id": shopper.attempt_id,
                                          "email": "bench@example.com"}) as response:
                await response.read()
                return response.status

        # Each gunicorn process has its own breaker, and a request lands on whichever process accepts it: the
        # first phase lasts until ten answers in a row came at once (< 50 ms), i.e. every breaker is open.
        closed = Result()
        while len(closed.latencies) < 200 and not (len(closed.latencies) >= 10 and max(closed.latencies[-10:]) < 0.05):
            closed.add(asyncio.run(closed_loop(lambda session, n: confirm(session, n, down_shoppers[:20]), 1, 60,
                                               ok=lambda s: s == 503, max_requests=1,
                                               first=len(closed.latencies))))
        results = {"breaker closed (first failures)": closed,
                   "breaker open": asyncio.run(closed_loop(lambda session, n: confirm(session, n, down_shoppers[20:]),
                                                           2, 60, ok=lambda s: s == 503, max_requests=100))}
        down_catalog = browse(args.seconds / 2)
        stack.emulator.ctl("POST", "/_emulator/outage", {"down": False})

        load = (f"{args.closed_loop} back-to-back clients" if args.closed_loop
                else f"{args.catalog_rate:.0f} requests/s (open loop)")
        shape = ("one gunicorn for everything" if args.single_pool else
                 f"shop pages and payments (confirm, webhooks) in two gunicorns; payments, RQ worker, emulator, "
                 f"SMTP sink and the checkout load at nice {nice}")
        if pages_cpus:
            shape += f"; the pages on core(s) {sorted(pages_cpus)}, the rest on {sorted(background_cpus)}"
            if args.postgres and not args.shared_backends:
                problem = None if backend_problems.empty() else backend_problems.get()
                shape += (f", with the {backends_placed.value} PostgreSQL server processes of the payments and the "
                          f"worker" + (f" (could not: {problem})" if problem else ""))
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn {args.web_workers} workers x "
              f"{args.threads} threads (gthread) per pool; {'PostgreSQL' if args.postgres else 'SQLite'}; "
              f"catalog: {load}, {ROUNDS} x {args.seconds:.0f} s per phase\n{shape}")
        print(idle.line("catalog, idle"))
        print(loaded.line(f"catalog, {CHECKOUTS} checkouts at 2 s Stripe latency"))
        print(f"  checkout answers meanwhile: {dict(sorted({s: answers.count(s) for s in set(answers)}.items()))}"
              f"{'' if left else ' (the pool of prepared shoppers ran out: raise POOL)'}")
        print(f"  catalog p99 loaded/idle: {loaded.pct(99) / idle.pct(99):.2f}x")
        print(control.line("control: catalog beside 2 idle-priority busy loops"))
        print(f"  catalog p99 control/idle: {control.pct(99) / idle.pct(99):.2f}x")
        for label, result in results.items():
            print(result.line(f"checkout, Stripe down, {label}"))
        print(down_catalog.line("catalog, Stripe down"))
    finally:
        backends_stop.set()
        stack.stop()


if __name__ == "__main__":
    main()
