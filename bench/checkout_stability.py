"""Stability under payment load, in one run, against gunicorn:
  1. catalog (GET /) p50/p99 and errors at idle;
  2. the same while N shoppers (--shoppers 50,200: each count in turn) keep checking out against a Stripe whose
     PaymentIntent calls answer in 2 s (a shopper turned away
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
The SMTP sink runs in its own process, never in the process that times the catalog. The emulator's webhook
endpoint is subscribed to the event types the shop acts on (`shop webhook-events`), as a deployment's is.
Goals: catalog p99 under load at most 1.25x its idle p99, zero errors; checkout with the breaker open p99 < 50 ms;
goodput: paid checkouts per second at least 0.9 x (shoppers / Stripe latency), and no shopper turned away (503)
while Stripe answers within the deadline. Paid checkouts per second are the 200 answers over the time the
shoppers were let go; a paid checkout's answer time (submit to 200, p50 and p99) shows what the shop adds to
Stripe's 2 s. The shoppers all submit in the same instant when let go, and a Stripe that always takes 2 s keeps
them in step: each wave of confirms arrives at once. `--json PATH` writes the figures for the benchmark report.

    .venv/bin/python -m bench.checkout_stability [--shoppers 50,200] [--seconds 10] [--catalog-rate 50]
        [--web-workers 2] [--threads 16] [--postgres URL] [--shared-backends] [--shared-cpus] [--single-pool]
        [--closed-loop N] [--json PATH]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench._cpu import CpuMeter, processes_named
from bench._loadgen import Result, closed_loop, open_loop

from tests.support.shopper import Shopper, confirm_body

from tests.support.stack import BACKGROUND_ROLES, Stack

STRIPE_LATENCY = 2.0  # seconds each PaymentIntent call takes (the emulator's latency fault)
GOODPUT_SHARE = 0.9  # of shoppers / STRIPE_LATENCY, the goal for paid checkouts per second
RAMP_UP = 3.0
ROUNDS = 3
SETTLE = 6.0  # after pausing the shoppers: checkouts in flight (one Stripe call at 2 s), their webhooks and jobs end
BACKGROUND_NICE = 19
# what a checkout's CPU figure leaves out: the pages' gunicorn serves the catalog load, the catalog's client is the
# bench's own process, and the database server does the catalog's queries too
POSTGRES_PART = "PostgreSQL (the whole server, the catalog's queries included)"
NOT_THE_CHECKOUTS = ("pages", "catalog client", POSTGRES_PART)


def prepared_shoppers(stack: Stack, count: int) -> list[Shopper]:
    """Shoppers with a cart and a checkout page open, each holding a ConfirmationToken."""
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.database_url)
    with engine.begin() as connection:  # every pending order holds stock: keep the shelf full
        connection.execute(text("UPDATE product SET stock = 100000"))
    engine.dispose()

    def prepare(_):
        shopper = Shopper(stack)
        shopper.open_checkout("enamel-mug", 1)
        shopper.quote()  # as the page does once the address is in: the confirm is then one Stripe round trip
        shopper.token = shopper.confirmation_token()
        return shopper

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(prepare, range(count)))


def pool_size(shoppers: int, go_seconds: float) -> int:
    """Prepared shoppers enough that `shoppers` never run out at the goal's rate (plus a fifth)."""
    return max(2 * shoppers, int(1.2 * GOODPUT_SHARE * shoppers / STRIPE_LATENCY * go_seconds))


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


def stack_parts(stack: Stack, shoppers_pid: int) -> dict[str, list]:
    """The processes whose CPU time a loaded phase costs, by part (bench/_cpu.py)."""
    parts = {"pages": [stack.processes[0].pid], "payments pool": [p.pid for p in stack.processes[1:]],
             "RQ worker": [worker.pid for worker in stack.workers], "emulator": [stack.emulator.process.pid],
             "shoppers' client": [shoppers_pid], "catalog client": [(os.getpid(), False)]}
    if stack.valkey is not None:
        parts["Valkey"] = [stack.valkey._process.pid]
    if hasattr(stack.mail, "process"):
        parts["SMTP sink"] = [stack.mail.process.pid]
    if stack.database_url.startswith("postgresql"):
        parts[POSTGRES_PART] = lambda: processes_named("postgres")
    return parts


def run_checkouts(pool: list[Shopper], shoppers: int, go, stop, results, nice: int = 0,
                  cpus: set[int] | None = None) -> None:
    """`shoppers` shoppers at once while `go` is set, until `stop`: a 503 is retried by the same shopper 0.5 to
    2.5 s later (a person reading the message, then pressing "try again"); any other answer ends that checkout
    and the thread takes the next shopper. Puts (every answer's status, each paid answer's seconds, shoppers left)."""
    os.nice(nice)  # before any thread starts: the shoppers' browsers are not on the shop's machine
    if cpus:
        os.sched_setaffinity(0, cpus)
    answers: list[int] = []
    paid_seconds: list[float] = []  # from the submit to the answer, each 200
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
                sent = time.monotonic()
                status, _ = shopper.confirm(shopper.token, timeout=60)
                answers.append(status)
                if status == 200:
                    paid_seconds.append(time.monotonic() - sent)
                if status != 503:
                    break
                stop.wait(random.uniform(0.5, 2.5))

    threads = [threading.Thread(target=checkout_loop) for _ in range(shoppers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put((answers, paid_seconds, len(pool)))


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
    parser.add_argument("--shoppers", default="50", help="comma-separated shopper counts, each measured in turn")
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
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures as JSON to PATH")
    args = parser.parse_args()
    counts = [int(n) for n in args.shoppers.split(",") if n.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-stability-"))
    nice = 0 if args.single_pool else BACKGROUND_NICE
    stack = Stack(tmp, database_url=args.postgres, web_workers=args.web_workers, web_threads=args.threads,
                  workers=1, payments_pool=not args.single_pool, background_nice=nice, mail_process=True,
                  webhook_events="handled",
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

        idle, control, loads = Result(), Result(), {}
        for shoppers in counts:
            pool = prepared_shoppers(stack, pool_size(shoppers, ROUNDS * (RAMP_UP + args.seconds)))
            stack.emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents*",
                                                             "latency_ms": int(STRIPE_LATENCY * 1000)})
            go, stop, results_queue = fork.Event(), fork.Event(), fork.Queue()
            # the checkouts run in their own process, so the catalog's client never waits on their threads (GIL)
            shoppers_process = fork.Process(target=run_checkouts,
                                            args=(pool, shoppers, go, stop, results_queue, nice, background_cpus))
            shoppers_process.start()
            loaded, go_seconds, meter = Result(), 0.0, CpuMeter(stack_parts(stack, shoppers_process.pid))
            for _ in range(ROUNDS):
                idle.add(browse(args.seconds))
                go.set()
                meter.start()
                let_go = time.monotonic()
                time.sleep(RAMP_UP)  # every shopper has submitted once
                loaded.add(browse(args.seconds))
                go.clear()
                go_seconds += time.monotonic() - let_go
                time.sleep(SETTLE)
                meter.stop()
                control.add(beside_busy_loops(lambda: browse(args.seconds)))
            stop.set()
            answers, paid_seconds, left = results_queue.get(timeout=120)
            shoppers_process.join(30)
            stack.emulator.ctl("DELETE", "/_emulator/faults")
            loads[shoppers] = (loaded, answers, paid_seconds, left, go_seconds, meter)

        down_shoppers = prepared_shoppers(stack, 40)
        stack.emulator.ctl("POST", "/_emulator/outage", {"down": True})

        async def confirm(session, n, group):
            shopper = group[n % len(group)]
            cookie = "; ".join(f"{c.name}={c.value}" for c in shopper.http.cookies)
            async with session.post(f"{stack.payments_url}/checkout/confirm",
                                    headers={"X-CSRFToken": shopper.csrf, "Cookie": cookie},
                                    json=confirm_body(shopper.token, shopper.attempt_id, "bench@example.com",
                                                      shopper.signed_quote)) as response:
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
        pools = (f"pages {args.web_workers} workers x {args.threads} threads" if args.single_pool else
                 f"pages {args.web_workers} workers x {args.threads} threads, payments {args.web_workers} workers "
                 f"sized by gunicorn.conf.py (GUNICORN_POOL=payments)")
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; gunicorn gthread, {pools}; "
              f"{'PostgreSQL' if args.postgres else 'SQLite'}; "
              f"catalog: {load}, {ROUNDS} x {args.seconds:.0f} s per phase\n{shape}")
        print(idle.line("catalog, idle"))
        figures, goodput = [], []
        for shoppers, (loaded, answers, paid_seconds, left, go_seconds, meter) in loads.items():
            paid_per_s, turned_away = answers.count(200) / go_seconds, answers.count(503)
            goal_per_s = GOODPUT_SHARE * shoppers / STRIPE_LATENCY
            ratio = loaded.pct(99) / idle.pct(99)
            print(loaded.line(f"catalog, {shoppers} checkouts at {STRIPE_LATENCY:.0f} s Stripe latency"))
            print(f"  checkout answers meanwhile: {dict(sorted({s: answers.count(s) for s in set(answers)}.items()))}"
                  f"{'' if left else ' (the pool of prepared shoppers ran out: raise pool_size)'}")
            print(f"  paid checkouts: {paid_per_s:.1f}/s over {go_seconds:.0f} s (goal >= {goal_per_s:.1f}/s: "
                  f"{_met(paid_per_s >= goal_per_s)}); turned away: {turned_away} (goal 0: {_met(turned_away == 0)})")
            print(f"  catalog p99 loaded/idle: {ratio:.2f}x (goal <= 1.25x: {_met(ratio <= 1.25)})")
            paid = Result(latencies=paid_seconds)  # the shop's own time is what passes Stripe's latency
            print(f"  a paid checkout's answer: p50 {paid.pct(50):.0f} ms, p99 {paid.pct(99):.0f} ms "
                  f"(Stripe's part: {STRIPE_LATENCY * 1000:.0f} ms)")
            cost = meter.per(answers.count(200))
            payments_side = sum(ms for label, ms in cost.items() if label not in NOT_THE_CHECKOUTS)
            print(f"  CPU per paid checkout, ms (loaded phases and their settling): {payments_side:.0f} beside the "
                  f"pages; by process: " + ", ".join(f"{label} {ms:.1f}" for label, ms in cost.items()))
            figures += [_figure(f"paid checkouts/s, {shoppers} shoppers", paid_per_s, "1/s", f">= {goal_per_s:.1f}",
                                paid_per_s >= goal_per_s),
                        _figure(f"shoppers turned away, {shoppers} shoppers", turned_away, "requests", "0",
                                turned_away == 0),
                        _figure(f"catalog p99 loaded/idle, {shoppers} shoppers", ratio, "x", "<= 1.25", ratio <= 1.25),
                        _figure(f"paid checkout's answer p50, {shoppers} shoppers", paid.pct(50), "ms", None, None),
                        _figure(f"paid checkout's answer p99, {shoppers} shoppers", paid.pct(99), "ms", None, None),
                        _figure(f"CPU per paid checkout beside the pages, {shoppers} shoppers", payments_side, "ms",
                                None, None)]
            goodput.append({"shoppers": shoppers, "paid_per_s": round(paid_per_s, 2), "turned_away": turned_away,
                            "goal_per_s": goal_per_s,
                            "cpu_ms_per_checkout": {label: round(ms, 1) for label, ms in cost.items()}})
        print(control.line("control: catalog beside 2 idle-priority busy loops"))
        print(f"  catalog p99 control/idle: {control.pct(99) / idle.pct(99):.2f}x")
        for label, result in results.items():
            print(result.line(f"checkout, Stripe down, {label}"))
        print(down_catalog.line("catalog, Stripe down"))
        open_p99 = results["breaker open"].pct(99)
        print(f"  checkout p99 with the breaker open: {open_p99:.1f} ms (goal < 50 ms: {_met(open_p99 < 50)})")
        figures += [_figure("catalog p99, idle", idle.pct(99), "ms", None, None),
                    # what the machine's own noise costs the catalog, with no work of the shop's: read the loaded
                    # ratios beside it
                    _figure("catalog p99 control/idle (beside idle-priority busy loops)",
                            control.pct(99) / idle.pct(99), "x", None, None),
                    _figure("checkout p99, breaker open", open_p99, "ms", "< 50", open_p99 < 50)]
        if args.json:
            first = loads[counts[0]][0]
            report = {"bench": "checkout_stability", "date": datetime.date.today().isoformat(),
                      "commit": _commit(), "command": " ".join(["python -m bench.checkout_stability", *sys.argv[1:]]),
                      "figures": figures,
                      "series": {"catalog_latency_ms": {"idle": _ms(idle.latencies), "loaded": _ms(first.latencies)},
                                 "goodput": goodput}}
            Path(args.json).write_text(json.dumps(report, indent=1))
    finally:
        backends_stop.set()
        stack.stop()


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


def _figure(name: str, value: float, unit: str, goal: str | None, met: bool | None) -> dict:
    return {"name": name, "value": round(value, 3), "unit": unit, "goal": goal, "met": met}


def _ms(latencies: list[float]) -> list[float]:
    return [round(latency * 1000, 2) for latency in latencies]


def _commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
