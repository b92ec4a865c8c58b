"""Small load generators (aiohttp; closed and open loop) for the benchmarks."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0

    async def timed(self, request, started: float, ok) -> None:
        """Await one request and record its answer, timed from `started` (perf_counter)."""
        try:
            status = await request
        except Exception:
            self.errors += 1
            return
        self.latencies.append(time.perf_counter() - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if not ok(status):
            self.errors += 1

    def add(self, other: "Result") -> None:
        """Fold another run's figures into this one (rounds of one measurement)."""
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def line(self, label: str) -> str:
        return (f"{label:<44} {self.rate:8.1f} req/s  p50 {self.pct(50):7.1f} ms  p99 {self.pct(99):7.1f} ms  "
                f"errors {self.errors}  statuses {dict(sorted(self.statuses.items()))}")


async def closed_loop(make_request, concurrency: int, duration: float, ok=lambda status: status < 400,
                      max_requests: int | None = None, first: int = 0, new_connections: bool = False) -> Result:
    """`concurrency` clients, each sending `make_request(session, n)` back to back for `duration` seconds;
    n counts from `first`. `new_connections`: each request on a connection of its own (no keep-alive)."""
    result = Result()
    counter = iter(range(first, 10**9))
    deadline = time.monotonic() + duration
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=new_connections)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        async def client():
            while time.monotonic() < deadline:
                n = next(counter)
                if max_requests is not None and n - first >= max_requests:
                    return
                await result.timed(make_request(session, n), time.perf_counter(), ok)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        result.elapsed = time.monotonic() - started
    return result


async def open_loop(make_request, rate: float, duration: float, ok=lambda status: status < 400) -> Result:
    """Requests sent at a steady `rate` per second for `duration` seconds, whatever the answers take (an open
    loop: a slow answer does not slow the arrivals). Each latency counts from the request's scheduled time, so
    a request that waited for a free client is not under-reported."""
    result = Result()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
        started = time.perf_counter()
        tasks = []
        for n in range(int(rate * duration)):
            scheduled = started + n / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(result.timed(make_request(session, n), scheduled, ok)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - started
    return result
