"""Storing verified Stripe events: once per event id, committed before anyone is answered, then enqueued.

What is stored is the event without secrets and card details (app/events/redact.py); the raw text is kept as
Stripe sent it only when there was nothing to remove.

Concurrent deliveries within one process share a transaction and a Redis round trip (a group commit). Each
delivery joins the waiting list and takes the writer lock; whoever holds it writes everything waiting by then,
and each delivery is answered once its own event is committed. A delivery that finds no one writing writes
itself at once: nothing waits on a timer, so a lone delivery costs what it did alone, and a burst costs one
commit and one Redis round trip per batch instead of one per event.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite

from app.telemetry import metrics
from app.events.handlers import HANDLERS  # the event types a worker acts on
from app.events.redact import redact
from app.models import EventStatus, StripeEvent, db, utcnow
from app.queues import enqueue_events
from app.db.write_turns import write_turn

__all__ = ["EventNotStored", "GroupWriter", "store_events"]

MAX_BATCH = 100
# INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id: the ids it returns are the events new to the inbox.
_INSERT_NEW = {name: dialect.insert(StripeEvent).on_conflict_do_nothing(index_elements=["id"])
               .returning(StripeEvent.id) for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_EVENTS = StripeEvent.__table__
_COUNT_DUPLICATE = (_EVENTS.update().where(_EVENTS.c.id == bindparam("event_id"))
                    .values(duplicates=_EVENTS.c.duplicates + 1))


class EventNotStored(Exception):
    """The database refused the batch this event was in: the sender must deliver it again (answer 5xx)."""


@dataclass(eq=False)
class _Pending:
    row: dict
    request_id: str | None
    result: str | None = None  # stored (a worker applies it) | ignored (kept for the record) | duplicate
    error: BaseException | None = None


def _row(event: dict, raw: str, source: str) -> dict:
    data_object = (event.get("data") or {}).get("object") or {}
    handled = event["type"] in HANDLERS
    now = utcnow()
    kept = redact(event)
    return {"id": event["id"], "type": str(event["type"])[:100], "object_id": str(data_object.get("id", ""))[:255],
            "payload": raw if kept == event else json.dumps(kept),  # raw: exactly what Stripe sent
            "source": source, "stripe_created": int(event.get("created") or 0), "received_at": now,
            "status": EventStatus.RECEIVED.value if handled else EventStatus.IGNORED.value,
            "processed_at": None if handled else now}


def _write(batch: list[_Pending]) -> None:
    """Insert the batch in one transaction, count repeats as duplicates, then enqueue the new events a worker
    acts on in one Redis round trip (if Redis is down they stay stored and the relay enqueues them later).
    Then sets each one's result (never before: a waiting delivery answers as soon as it sees its result), or
    the database's error on all of them."""
    results = []
    try:
        with write_turn(db.engine), db.engine.begin() as connection:
            # in id order, so two processes inserting the same events lock them in the same order (no deadlock)
            rows = sorted((p.row for p in batch), key=lambda row: row["id"])
            new = set(connection.scalars(_INSERT_NEW[connection.dialect.name], rows))
            for pending in batch:
                if pending.row["id"] in new:
                    new.discard(pending.row["id"])  # the same event twice in one batch: the second is a duplicate
                    results.append("stored" if pending.row["status"] == EventStatus.RECEIVED else "ignored")
                else:
                    results.append("duplicate")
            duplicates = [{"event_id": p.row["id"]} for p, result in zip(batch, results) if result == "duplicate"]
            if duplicates:
                connection.execute(_COUNT_DUPLICATE, sorted(duplicates, key=lambda row: row["event_id"]))
    except Exception as error:
        for pending in batch:
            pending.error = error
        return
    try:
        enqueue_events([(p.row["id"], p.request_id) for p, result in zip(batch, results) if result == "stored"])
    finally:  # stored whatever happens to the enqueue: the relay enqueues what it missed
        for pending, result in zip(batch, results):
            if result == "ignored":  # done at once: counted with the events workers apply
                metrics.EVENTS_PROCESSED.labels(pending.row["type"], "ignored").inc()
            elif result == "duplicate":
                metrics.WEBHOOK_DUPLICATES.inc()
            pending.result = result


def store_events(events: list[tuple[dict, str]], source: str) -> list[str]:
    """Store (and enqueue) verified events given with their raw JSON, in one batch: each one's result."""
    batch = [_Pending(_row(event, raw, source), None) for event, raw in events]
    if batch:
        _write(batch)
    for pending in batch:
        if pending.error is not None:
            raise EventNotStored(str(pending.error)) from pending.error
    return [pending.result for pending in batch]


class GroupWriter:
    """One per process: the group commit of concurrent deliveries (see the module docstring)."""

    def __init__(self) -> None:
        self._waiting: list[_Pending] = []
        self._waiting_lock = threading.Lock()
        self._writer = threading.Lock()

    def store(self, event: dict, raw: str, source: str, request_id: str | None = None) -> str:
        mine = _Pending(_row(event, raw, source), request_id)
        with self._waiting_lock:
            self._waiting.append(mine)
        while mine.result is None and mine.error is None:
            with self._writer:
                if mine.result is None and mine.error is None:  # not written by the writer before
                    with self._waiting_lock:  # oldest first: mine is in unless MAX_BATCH were waiting before it
                        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                    _write(batch)
        if mine.error is not None:
            raise EventNotStored(str(mine.error)) from mine.error
        return mine.result
