"""The admin login: a named account's password (and TOTP code, if it has one), behind an atomic lockout.

Every attempt is counted before the password is checked, in two Redis counters (INCR, expiring
ADMIN_LOCKOUT_SECONDS after the first attempt): one per account name and one per client address. An attempt
that takes either past ADMIN_MAX_FAILURES is refused without a check, so any number of concurrent guesses gets
at most that many checks. A successful login clears both. While Redis refuses connections (down) the counters
live in this process's memory; if Redis is up but does not count this attempt (a timeout, a dropped connection),
it may have been counted and is refused unchecked (503): a slow Redis never hands out extra checks. The client
address is `request.remote_addr`, which believes X-Forwarded-For only as far as TRUSTED_PROXIES allows
(app/web/security.py).
"""
from __future__ import annotations

import logging
import threading
import time

from flask import current_app, g, request
from redis.exceptions import ConnectionError as RedisConnectionError, RedisError

from app.admin import accounts, sessions
from app.models import AdminAccount
from app.queues import redis_connection
from app.telemetry import metrics

__all__ = ["enabled", "current_account", "attempt_login", "logout", "LockedOut", "NotCounted"]

log = logging.getLogger(__name__)

_memory: dict[str, tuple[int, float]] = {}
_memory_lock = threading.Lock()


class LockedOut(Exception):
    def __init__(self, seconds: int):
        super().__init__(f"locked out for {seconds} s")
        self.seconds = seconds


class NotCounted(Exception):
    """Redis did not answer in time: the attempt is not checked."""


def enabled() -> bool:
    return bool(current_app.config["SETTINGS"].admin_password_hash) or accounts.any_account()


def current_account() -> AdminAccount | None:
    if "admin_account" not in g:
        g.admin_account = sessions.current()
    return g.admin_account


def attempt_login(name: str, password: str, code: str = "") -> AdminAccount | None:
    """The account (and a new server-side session) for a right name, password and code; None for a wrong one.
    Raises LockedOut, without checking anything, while the name or the address has used up its attempts."""
    settings = current_app.config["SETTINGS"]
    keys = [f"shop:admin:login-attempts:name:{name[:accounts.NAME_MAX].lower()}",
            f"shop:admin:login-attempts:address:{request.remote_addr or 'unknown'}"]
    count, ttl = _count_attempt(keys, settings.admin_lockout_seconds)
    if count > settings.admin_max_failures:
        metrics.ADMIN_LOGINS.labels("locked").inc()
        raise LockedOut(max(ttl, 1))
    account = accounts.verify(name, password, code)
    if account is None:
        metrics.ADMIN_LOGINS.labels("failed").inc()
        return None
    _clear(keys)
    sessions.start(account)
    g.admin_account = account
    metrics.ADMIN_LOGINS.labels("ok").inc()
    return account


def logout() -> None:
    sessions.end()


def _count_attempt(keys: list[str], window: int) -> tuple[int, int]:
    """Count one attempt on every key at once; the highest count and the seconds until that key expires."""
    try:
        pipe = redis_connection().pipeline(transaction=True)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
            pipe.ttl(key)
        replies = pipe.execute()
        counts = list(zip(replies[0::3], replies[2::3]))
    except RedisConnectionError as error:
        if _redis_answers():  # up, but this connection failed: the INCR may have been applied
            raise _not_counted(error) from None
        log.warning("admin login attempts counted in this process's memory: Redis is unreachable (%s)", error)
        now, counts = time.time(), []
        with _memory_lock:
            for key in keys:
                count, until = _memory.get(key, (0, 0.0))
                count, until = (count + 1, until) if until > now else (1, now + window)
                _memory[key] = (count, until)
                counts.append((count, int(until - now)))
    except RedisError as error:  # a timeout or an error reply: the INCR may have been applied
        raise _not_counted(error) from None
    count, ttl = max(counts)
    return int(count), int(ttl)


def _redis_answers() -> bool:
    try:
        return bool(redis_connection().ping())
    except RedisError:
        return False


def _not_counted(error: Exception) -> NotCounted:
    log.warning("admin login refused unchecked: Redis did not count it (%s)", error)
    metrics.ADMIN_LOGINS.labels("not_counted").inc()
    return NotCounted()


def _clear(keys: list[str]) -> None:
    try:
        redis_connection().delete(*keys)
    except RedisError:
        pass
    with _memory_lock:
        for key in keys:
            _memory.pop(key, None)
