"""Benchmark stripe-emulator: create+confirm throughput and memory after many PaymentIntents.

    python -m bench.emulator_throughput [--seconds 10] [--concurrency 32] [--count 100000] [--max-objects N]
        [--json PATH]

Starts the emulator as a subprocess (one process = one core), drives
POST /v1/payment_intents (confirm=true, payment_method=pm_card_visa) from
concurrent aiohttp clients, then creates --count PaymentIntents and reports the
emulator's RSS (VmRSS from /proc/PID/status).
Goal: at least 500 create+confirm/s on one core; memory bounded.
"""

import argparse
import asyncio
import os
import time
from pathlib import Path

import aiohttp

from bench._figures import figure, write_json

from tests.support.emulator import EMULATOR_SECRET_KEY as KEY, EmulatorProcess
from tests.support.net import ROOT

BODY = {"amount": "2000", "currency": "usd", "confirm": "true", "payment_method": "pm_card_visa"}


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def worker(session, url, stop_at, remaining, counts):
    while time.monotonic() < stop_at:
        if remaining is not None:
            if remaining[0] <= 0:
                return
            remaining[0] -= 1
        async with session.post(url, data=BODY) as resp:
            await resp.read()
            counts[resp.status] = counts.get(resp.status, 0) + 1


async def drive(base, concurrency, seconds=None, count=None):
    counts = {}
    remaining = [count] if count is not None else None
    stop_at = time.monotonic() + (seconds if seconds is not None else 10 ** 9)
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.monotonic()
        await asyncio.gather(*(worker(session, base + "/v1/payment_intents", stop_at, remaining, counts)
                               for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return counts, elapsed


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--max-objects", type=int, default=None)
    p.add_argument("--json", default=None, metavar="PATH", help="also write the figures to PATH")
    args = p.parse_args()
    extra = ["--max-objects", str(args.max_objects)] if args.max_objects else []
    emulator = EmulatorProcess(*extra)
    proc, base = emulator.process, emulator.api
    try:
        print(f"emulator pid {proc.pid}, RSS at start {rss_mb(proc.pid):.1f} MB")
        counts, elapsed = asyncio.run(drive(base, args.concurrency, seconds=args.seconds))
        ok = counts.get(200, 0)
        print(f"create+confirm: {ok} succeeded in {elapsed:.1f}s = {ok / elapsed:.0f} confirms/s "
              f"(concurrency {args.concurrency}, statuses {counts})")
        rss_after_run = rss_mb(proc.pid)
        print(f"RSS after throughput run: {rss_after_run:.1f} MB")
        figures = [figure("create+confirm/s on one core", ok / elapsed, "/s", 500, ">="),
                   figure("RSS after the throughput run", rss_after_run, "MB")]
        if args.count:
            counts, elapsed = asyncio.run(drive(base, args.concurrency, count=args.count))
            print(f"created {counts.get(200, 0)} more PaymentIntents in {elapsed:.1f}s "
                  f"({counts.get(200, 0) / elapsed:.0f}/s)")
            rss_after_count = rss_mb(proc.pid)
            print(f"RSS after {args.count} more PaymentIntents: {rss_after_count:.1f} MB")
            figures.append(figure(f"RSS after {args.count} more PaymentIntents", rss_after_count, "MB"))
        write_json(args.json, "emulator_throughput", None, figures)
    finally:
        emulator.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
