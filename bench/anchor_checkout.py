"""The checkout anchor: a shop shaped like Stripe's samples (bench/anchors/samples_shop.py, the PaymentIntent
created inside the request on gunicorn's sync workers) under the load bench/checkout_stability.py puts on this
shop: a catalog browsed at a steady rate, idle and then while N shoppers keep checking out against a Stripe (the
emulator) that answers in 2 s. A shopper asks the shop for a PaymentIntent and then, as the samples' browser
does, confirms it with Stripe directly; a checkout is paid once that confirmation succeeds. A shopper turned
away (an error, or no answer within --timeout seconds) tries again 0.5-2.5 s later; a paid one is replaced by
the next. The emulator and the shoppers' load run at nice 19, as in the stability bench.

    .venv/bin/python -m bench.anchor_checkout [--seconds 10] [--shoppers 50,200] [--catalog-rate 50]
        [--stripe-latency-ms 2000] [--workers N] [--timeout 30] [--json PATH]
No goal of its own: its figures stand beside this shop's (bench/report.py puts them side by side).

JSON series: "catalog_ms" {"idle": [ms...], "loaded": [ms...] (the first shopper count)}, "goodput" [{"shoppers",
"paid_per_second", "turned_away", "catalog_p99_ms", "catalog_errors"}], "stripe_latency_ms", "workers".
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import aiohttp

from bench._figures import figure, write_json
from bench._loadgen import open_loop
from bench.anchors import Anchor

from tests.support.emulator import EMULATOR_SECRET_KEY, EmulatorProcess

RAMP_UP = 3.0
BACKGROUND_NICE = 19


async def checkouts(shop_url: str, stripe_url: str, shoppers: int, ramp_up: float, seconds: float,
                    timeout: float) -> tuple[int, int]:
    """`shoppers` checking out back to back for ramp_up + seconds; returns (paid, turned away) counted over the
    last `seconds`."""
    paid = turned_away = 0
    started = time.monotonic()
    window_start, window_end = started + ramp_up, started + ramp_up + seconds
    stripe_auth = {"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=client_timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        async def buy() -> bool:
            async with session.post(f"{shop_url}/create-payment-intent",
                                    json={"items": [{"id": "product-2", "quantity": 1}]}) as response:
                if response.status != 200:
                    return False
                client_secret = (await response.json())["clientSecret"]
            intent_id = client_secret.split("_secret_")[0]
            async with session.post(f"{stripe_url}/v1/payment_intents/{intent_id}/confirm", headers=stripe_auth,
                                    data={"payment_method": "pm_card_visa", "client_secret": client_secret,
                                          "return_url": f"{shop_url}/complete"}) as response:
                return response.status == 200 and (await response.json())["status"] == "succeeded"

        async def shopper():
            nonlocal paid, turned_away
            while time.monotonic() < window_end:
                try:
                    done = await buy()
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    done = False
                if window_start <= time.monotonic() < window_end:
                    paid += done
                    turned_away += not done
                if not done:
                    await asyncio.sleep(random.uniform(0.5, 2.5))

        tasks = [asyncio.create_task(shopper()) for _ in range(shoppers)]
        await asyncio.sleep(max(0.0, window_end - time.monotonic()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return paid, turned_away


def run_checkouts(results, *args) -> None:
    os.nice(BACKGROUND_NICE)  # the shoppers' browsers are not on the shop's machine
    results.put(asyncio.run(checkouts(*args)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--shoppers", default="50,200", help="comma-separated shopper counts, one phase each")
    parser.add_argument("--catalog-rate", type=float, default=50, help="catalog requests per second")
    parser.add_argument("--stripe-latency-ms", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1,
                        help="gunicorn sync workers (default: gunicorn's suggestion, 2 x cores + 1)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a shopper waits for an answer")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the figures to PATH")
    args = parser.parse_args()
    counts = [int(n) for n in args.shoppers.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="bench-anchor-checkout-"))
    emulator = EmulatorProcess(nice=BACKGROUND_NICE)
    shop = None
    try:
        shop = Anchor("bench.anchors.samples_shop:app", tmp / "shop.log", workers=args.workers,
                      env={"STRIPE_SECRET_KEY": EMULATOR_SECRET_KEY, "STRIPE_API_BASE": emulator.api})

        async def get(session, n):
            async with session.get(f"{shop.url}/") as response:
                await response.read()
                return response.status

        browse = lambda: asyncio.run(open_loop(get, args.catalog_rate, args.seconds))  # noqa: E731
        asyncio.run(open_loop(get, args.catalog_rate, 2))  # warm up
        idle = browse()
        emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents*",
                                                   "latency_ms": args.stripe_latency_ms})
        fork = multiprocessing.get_context("fork")
        phases = []
        for shoppers in counts:
            results = fork.Queue()
            load = fork.Process(target=run_checkouts, args=(results, shop.url, emulator.api, shoppers, RAMP_UP,
                                                            args.seconds, args.timeout))
            load.start()
            time.sleep(RAMP_UP)
            loaded = browse()
            paid, turned_away = results.get(timeout=args.seconds + args.timeout + 60)
            load.join(30)
            phases.append((shoppers, loaded, paid, turned_away))
            time.sleep(args.stripe_latency_ms / 1000 * 2)  # the last checkouts' Stripe calls end
        emulator.ctl("DELETE", "/_emulator/faults")

        print(f"machine: {platform.machine()}, {os.cpu_count()} cores; the samples-shaped shop on gunicorn "
              f"{args.workers} sync workers; Stripe (emulator) at {args.stripe_latency_ms} ms; catalog "
              f"{args.catalog_rate:.0f} requests/s (open loop), {args.seconds:.0f} s per phase; a shopper waits "
              f"{args.timeout:.0f} s")
        print(idle.line("anchor catalog, idle"))
        ideal = lambda shoppers: shoppers / (args.stripe_latency_ms / 1000)  # noqa: E731
        figures = [figure("samples shop: catalog p99, idle", idle.pct(99), "ms")]
        goodput = []
        for shoppers, loaded, paid, turned_away in phases:
            rate = paid / args.seconds
            print(loaded.line(f"anchor catalog, {shoppers} shoppers"))
            print(f"  paid checkouts: {paid} ({rate:.1f}/s; one Stripe round trip per shopper at a time allows "
                  f"{ideal(shoppers):.0f}/s), turned away: {turned_away}")
            figures += [
                figure(f"samples shop: paid checkouts/s, {shoppers} shoppers",
                       rate, "/s"),
                figure(f"samples shop: shoppers turned away, {shoppers} shoppers",
                       turned_away, ""),
                figure(f"samples shop: catalog p99, {shoppers} shoppers", loaded.pct(99), "ms"),
                figure(f"samples shop: catalog errors, {shoppers} shoppers", loaded.errors, ""),
            ]
            goodput.append({"shoppers": shoppers, "paid_per_second": rate, "turned_away": turned_away,
                            "catalog_p99_ms": loaded.pct(99), "catalog_errors": loaded.errors})
        write_json(args.json, "anchor_checkout", None, figures, {
            "catalog_ms": {"idle": [s * 1000 for s in idle.latencies],
                           "loaded": [s * 1000 for s in phases[0][1].latencies]},
            "goodput": goodput, "stripe_latency_ms": args.stripe_latency_ms, "workers": args.workers})
    finally:
        if shop is not None:
            shop.stop()
        emulator.stop()


if __name__ == "__main__":
    main()
