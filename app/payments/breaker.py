"""The process's circuit breaker around Stripe: pybreaker's state machine, told each outcome after the call.

pybreaker's own `CircuitBreaker.call` holds the breaker's lock for the whole protected call (pybreaker issue
#55), so wrapping Stripe calls in it lets one Stripe call run at a time per process: with a 2 s Stripe, eight
checkouts take 2, 4, ... 16 s instead of 2 s each. Here the call runs outside pybreaker; pybreaker only counts
(`call` with a function that returns or raises the outcome at once), opens, half-opens and notifies listeners.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

import pybreaker

from app.telemetry import metrics

log = logging.getLogger(__name__)

__all__ = ["Breaker", "BreakerOpen"]
BreakerOpen = pybreaker.CircuitBreakerError


class Breaker:
    def __init__(self, *, fail_max: int, reset_timeout: float, counts):
        """`counts(error)` says whether a failure is one the breaker should count."""
        self.opened_at = 0.0  # monotonic time the breaker last opened
        self._probe = threading.Lock()  # half-open: one trial call at a time
        self.state_machine = pybreaker.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout, exclude=[lambda error: not counts(error)],
            listeners=[_Listener(self)], name="stripe")

    @property
    def state(self) -> str:
        return self.state_machine.current_state

    def refusing(self) -> bool:
        """Open and not yet due for a trial call: callers are turned away without trying."""
        return (self.state == pybreaker.STATE_OPEN
                and time.monotonic() < self.opened_at + self.state_machine.reset_timeout)

    @contextmanager
    def guard(self):
        """Run the block if the breaker allows a call, then record its outcome. Raises `BreakerOpen` when open
        (or when another trial call is already under way); the block's own exception propagates unchanged."""
        if self.refusing():
            raise BreakerOpen("circuit open")
        trial = self.state != pybreaker.STATE_CLOSED
        if trial and not self._probe.acquire(blocking=False):
            raise BreakerOpen("a trial call is in progress")
        try:
            try:
                yield
            except Exception as error:
                self._record(_raise, error)
                raise
            self._record(_return)
        finally:
            if trial:
                self._probe.release()

    def _record(self, outcome, *args) -> None:
        try:
            self.state_machine.call(outcome, *args)
        except BreakerOpen:
            pass  # this failure opened it (or it was already open): the next caller hears so
        except Exception as error:
            if not args or error is not args[0]:
                raise  # not the outcome pybreaker hands back: a real fault (a listener's, say)


def _raise(error: Exception):
    raise error


def _return():
    return None


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, breaker: Breaker):
        self.breaker = breaker

    def state_change(self, cb, old_state, new_state):
        if new_state.name == pybreaker.STATE_OPEN:
            self.breaker.opened_at = time.monotonic()
        metrics.BREAKER_STATE.set({"closed": 0, "half-open": 1, "open": 2}.get(new_state.name, -1))
        log.warning("stripe circuit breaker %s -> %s", old_state.name if old_state else None, new_state.name)
