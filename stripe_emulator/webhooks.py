"""Webhook delivery: signed POSTs, sent concurrently, retried with Stripe-like backoff.

Stripe documents two retry policies: in test mode (sandboxes) a failed delivery
is retried three times over a few hours; in live mode for up to three days with
exponential backoff. ``--webhook-retries test|live`` picks one (test by default,
as the emulator stands in for test mode). The waits (seconds after the previous
attempt) are divided by ``--retry-compression`` so tests see a schedule in seconds.
"""

import asyncio
import json
import time

import aiohttp

from stripe_emulator.signing import signature_header

RETRY_SCHEDULES = {
    # Stripe publishes no exact test-mode times, only "three times over a few hours": 30 min, 1 h, 2 h.
    "test": [30 * 60, 60 * 60, 2 * 3600],
    # 60 s .. 24 h, ten attempts over about 2.3 days: the last lands inside Stripe's 3-day window.
    "live": [60, 5 * 60, 30 * 60, 60 * 60, 2 * 3600, 4 * 3600, 8 * 3600, 16 * 3600, 24 * 3600],
}


class Dispatcher:
    def __init__(self, emu):
        self.emu = emu
        emu.webhooks = self
        self.session: aiohttp.ClientSession | None = None
        self.semaphore = asyncio.Semaphore(emu.config.webhook_concurrency)
        self.tasks: set = set()
        self.held: list = []  # events held back by a "reorder" fault
        self.faults: list = []

    async def start(self):
        self.session = aiohttp.ClientSession()

    async def close(self):
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session:
            await self.session.close()

    def reset(self):
        for task in list(self.tasks):
            task.cancel()
        self.held.clear()
        self.faults.clear()

    def endpoints_for(self, event_type):
        return [we for we in self.emu.store["webhook_endpoint"].items.values()
                if we["status"] == "enabled"
                and ("*" in we["enabled_events"] or event_type in we["enabled_events"])]

    def enqueue(self, event, endpoints):
        """Plan deliveries of one event; a webhook fault applies to the event at every endpoint."""
        payload = json.dumps(event, indent=2)
        table = self.emu.store["webhook_endpoint"]
        deliveries = [(event, payload, we, table.meta.get(we["id"])) for we in endpoints]
        fault = self._take_fault()
        mode = fault["mode"] if fault else None
        if mode == "drop":
            for _, _, we, _ in deliveries:
                self._record(event, we, 0, None, "dropped by fault", 0.0)
        elif mode == "reorder":
            self.held.append(deliveries)
            if len(self.held) >= fault["n"]:
                self.flush_held()
            elif len(self.held) == 1:
                # never lose an event: whatever is still held goes out after delay_ms
                self.track(self._flush_later(fault["delay_ms"] / 1000))
        elif mode == "duplicate":
            for item in deliveries:
                for _ in range(fault["n"]):
                    self._spawn(*item, delay=0)
        else:
            delay = fault["delay_ms"] / 1000 if mode == "delay" else 0
            for item in deliveries:
                self._spawn(*item, delay=delay)

    def flush_held(self):
        """Deliver events held by a "reorder" fault, newest first."""
        held, self.held = self.held, []
        if held:
            items = [item for deliveries in reversed(held) for item in deliveries]
            self.track(self._deliver_in_order(items))

    async def _flush_later(self, delay):
        await asyncio.sleep(delay)
        self.flush_held()

    async def _deliver_in_order(self, items):
        for item in items:
            await self._deliver(*item, delay=0)

    # -- faults -------------------------------------------------------------

    def _take_fault(self):
        for fault in self.faults:
            if fault["count"] is not None and fault["applied"] >= fault["count"]:
                continue
            if self.emu.rng.random() >= fault["rate"]:
                continue
            fault["applied"] += 1
            return fault
        return None

    # -- delivery -----------------------------------------------------------

    def _spawn(self, event, payload, we, secret, delay):
        self.track(self._deliver(event, payload, we, secret, delay))

    def track(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _deliver(self, event, payload, we, secret, delay):
        if delay:
            await asyncio.sleep(delay)
        compression = max(self.emu.config.retry_compression, 1e-9)
        schedule = RETRY_SCHEDULES[self.emu.config.webhook_retries]
        for attempt in range(1, len(schedule) + 2):
            ok = await self._attempt(event, payload, we, secret, attempt)
            if ok or attempt > len(schedule):
                break
            await asyncio.sleep(schedule[attempt - 1] / compression)
        stored = self.emu.store["event"].get(event["id"])
        if stored is not None and stored["pending_webhooks"] > 0:
            stored["pending_webhooks"] -= 1

    async def _attempt(self, event, payload, we, secret, attempt):
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                   "Stripe-Signature": signature_header(payload, secret or "")}
        started = time.monotonic()
        status, error = None, None
        async with self.semaphore:
            try:
                timeout = aiohttp.ClientTimeout(total=self.emu.config.webhook_timeout)
                async with self.session.post(we["url"], data=payload.encode(), headers=headers,
                                             timeout=timeout) as resp:
                    status = resp.status
                    await resp.read()
            except asyncio.TimeoutError:
                error = "timeout"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}: {exc}"
        self._record(event, we, attempt, status, error, time.monotonic() - started)
        return status is not None and 200 <= status < 300

    def _record(self, event, we, attempt, status, error, duration):
        self.emu.store.webhook_attempts.append({
            "event": event["id"], "type": event["type"], "endpoint": we["id"], "url": we["url"],
            "attempt": attempt, "status": status, "error": error, "duration_ms": round(duration * 1000, 1),
            "time": time.time(),
        })
