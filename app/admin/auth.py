"""The admin login: one password whose werkzeug hash is ADMIN_PASSWORD_HASH. There is no default password:
without the hash every admin page answers 404.

Failed logins are counted per client address (Redis, or this process's memory while Redis is down); after
`admin_max_failures` of them the address is locked out for `admin_lockout_seconds`, right password or not.
"""
from __future__ import annotations

import threading
import time

from flask import current_app, request, session
from redis.exceptions import RedisError
from werkzeug.security import check_password_hash, generate_password_hash

from app.telemetry import metrics
from app.queues import redis_connection

__all__ = ["enabled", "logged_in", "attempt_login", "logout", "hash_password", "LockedOut"]

_memory: dict[str, tuple[int, float]] = {}
_memory_lock = threading.Lock()


class LockedOut(Exception):
    def __init__(self, seconds: int):
        super().__init__(f"locked out for {seconds} s")
        self.seconds = seconds


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def enabled() -> bool:
    return bool(current_app.config["SETTINGS"].admin_password_hash)


def logged_in() -> bool:
    return enabled() and session.get("admin_until", 0) > time.time()


def attempt_login(password: str) -> bool:
    """True (and a fresh admin session) for the right password; raises LockedOut while the address is locked."""
    settings = current_app.config["SETTINGS"]
    key = f"shop:admin:login-failures:{request.remote_addr or 'unknown'}"
    failures, ttl = _failures(key)
    if failures >= settings.admin_max_failures:
        metrics.ADMIN_LOGINS.labels("locked").inc()
        raise LockedOut(max(ttl, 1))
    if check_password_hash(settings.admin_password_hash, password):
        _clear(key)
        session.clear()  # no session fixation: nothing from before the login survives it
        session["admin_until"] = time.time() + settings.admin_session_seconds
        metrics.ADMIN_LOGINS.labels("ok").inc()
        return True
    _count_failure(key, settings.admin_lockout_seconds)
    metrics.ADMIN_LOGINS.labels("failed").inc()
    return False


def logout() -> None:
    session.pop("admin_until", None)


def _failures(key: str) -> tuple[int, int]:
    try:
        connection = redis_connection()
        count, ttl = connection.get(key), connection.ttl(key)
        return int(count or 0), int(ttl or 0)
    except RedisError:
        with _memory_lock:
            count, until = _memory.get(key, (0, 0.0))
        return (count, int(until - time.time())) if until > time.time() else (0, 0)


def _count_failure(key: str, window: int) -> None:
    try:
        pipe = redis_connection().pipeline()
        pipe.incr(key)
        pipe.expire(key, window)
        pipe.execute()
    except RedisError:
        with _memory_lock:
            count, until = _memory.get(key, (0, 0.0))
            _memory[key] = (count + 1 if until > time.time() else 1, time.time() + window)


def _clear(key: str) -> None:
    try:
        redis_connection().delete(key)
    except RedisError:
        pass
    with _memory_lock:
        _memory.pop(key, None)
