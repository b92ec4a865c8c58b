"""The fleet's share of Stripe's request rate. Every web process and worker takes a turn from one budget kept in
Redis before each request it sends to Stripe (retries included), so the shop as a whole stays under
STRIPE_RATE_LIMIT writes and STRIPE_READ_RATE_LIMIT reads per second however many processes it runs, rather
than collecting Stripe's 429s (Stripe counts reads and writes separately, 100 of each per second in live mode).

The budget is `limits`' moving window (an atomic Lua script in Redis): a request past it waits for the oldest
turn in the window to expire, for as long as its caller allows, and is otherwise refused. While Redis cannot be
reached each process falls back to a budget of its own of the same size, so payments never wait on Redis.
"""
from __future__ import annotations

import logging
import random
import threading
import time

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

KEY_PREFIX = "stripe-rate"
REDIS_TIMEOUT = 0.25  # seconds: a Redis that does not answer by then is treated as down
REDIS_RETRY_AFTER = 5.0  # seconds on the per-process budget after Redis failed, before asking Redis again


class StripeRateLimiter:
    """Turns to send a request to Stripe, per budget ("read" or "write"); a budget of 0 requests/s is no limit."""

    def __init__(self, redis_url: str, *, writes_per_second: int, reads_per_second: int):
        self.items = {budget: RateLimitItemPerSecond(rate) for budget, rate
                      in (("write", writes_per_second), ("read", reads_per_second)) if rate > 0}
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.shared = None
        if redis_url and self.items:
            storage = RedisStorage(redis_url, key_prefix=KEY_PREFIX, socket_connect_timeout=REDIS_TIMEOUT,
                                   socket_timeout=REDIS_TIMEOUT)
            self.shared = MovingWindowRateLimiter(storage)
        self.shared_down_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings) -> "StripeRateLimiter":
        return cls(settings.redis_url, writes_per_second=settings.stripe_rate_limit,
                   reads_per_second=settings.stripe_read_rate_limit)

    def take(self, budget: str, wait_until: float) -> bool:
        """Take one turn from `budget`, waiting for it until `wait_until` (time.monotonic()) at the latest.
        False: no turn came in time, and nothing was taken."""
        item = self.items.get(budget)
        if item is None:
            return True
        while True:
            limiter = self._limiter()
            try:
                if limiter.hit(item, budget):
                    return True
                next_turn_in = limiter.get_window_stats(item, budget).reset_time - time.time()
            except RedisError as error:
                self._shared_failed(error)
                continue
            # a little jitter, so that processes woken for the same freed turn do not all ask at once
            pause = max(0.001, next_turn_in) + random.uniform(0, 0.01)
            if time.monotonic() + pause > wait_until:
                return False
            time.sleep(pause)

    def _limiter(self) -> MovingWindowRateLimiter:
        if self.shared is not None and time.monotonic() >= self.shared_down_until:
            return self.shared
        return self.local

    def _shared_failed(self, error: Exception) -> None:
        with self._lock:
            if time.monotonic() < self.shared_down_until:
                return
            self.shared_down_until = time.monotonic() + REDIS_RETRY_AFTER
        log.warning("stripe rate limiter: Redis unreachable (%s); this process keeps its own budget for %.0f s",
                    type(error).__name__, REDIS_RETRY_AFTER)
