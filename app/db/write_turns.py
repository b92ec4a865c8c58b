"""Turns for the busiest SQLite writers (webhook deliveries, workers' batches), so none of them starves.

SQLite lets one connection write at a time. A writer that finds the database locked sleeps and tries again
(SQLite's busy handler: sleeps growing to 100 ms), so while two workers hand the lock back and forth a webhook
delivery can wait a second for a gap. These writers queue on an OS file lock beside the database instead, which
wakes a waiter the moment the holder lets go. Other writers (checkout, the scheduled jobs) keep SQLite's own
waiting: they are rare and short. PostgreSQL locks rows, not the database: no turns there.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from sqlalchemy.engine import Engine

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's own waiting only
    fcntl = None

__all__ = ["write_turn"]

_files: dict[tuple[int, str], object] = {}  # per process: a forked child must open its own
_guard = threading.Lock()  # one thread of a process at a time: an OS file lock is held by the process


def _new_guard() -> None:
    global _guard
    _guard = threading.Lock()  # a child forked while a thread held the turn would wait for it forever


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_guard)


@contextmanager
def write_turn(engine: Engine):
    """Hold the database's writer turn for the block (SQLite files only; elsewhere it does nothing)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if fcntl is None or not path or path == ":memory:":
        yield
        return
    with _guard:
        key = (os.getpid(), path)
        turn = _files.get(key)
        if turn is None:
            turn = _files[key] = open(f"{path}-writers.lock", "a")  # noqa: SIM115 - kept for the process's life
        fcntl.flock(turn, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(turn, fcntl.LOCK_UN)
