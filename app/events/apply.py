"""Applying stored Stripe events to their orders, exactly once (app/tasks.py runs it for RQ).

`process_event` claims the event row (a row lock on PostgreSQL; on SQLite a conditional UPDATE, which takes
the database's write lock), applies it through the order state machine, and marks it processed in the same
transaction; with a backlog it applies other waiting events in that transaction too (`apply_events`). A crash
anywhere before the commit leaves every event as it was, for a retry or the relay.
"""
from __future__ import annotations

import json
import logging

from flask import current_app
from sqlalchemy import select, update

from app.telemetry import metrics
from app.models import EventStatus, OutboxEmail, StripeEvent, db, utcnow
from app.db.write_turns import write_turn
from app.events.handlers import HANDLERS
from app.events.matching import Mismatch

__all__ = ["apply_event", "apply_events"]

log = logging.getLogger(__name__)
DONE = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value)
EVENT_ROWS = StripeEvent.__table__  # UPDATEs to the table, not through the ORM (see app/orders/state.py)
CLAIMED = (EVENT_ROWS.c.id, EVENT_ROWS.c.type, EVENT_ROWS.c.object_id, EVENT_ROWS.c.payload,
           EVENT_ROWS.c.received_at)


# ---- applying events -----------------------------------------------------------------------------
def apply_event(event_id: str) -> str:
    """Apply one stored event alone. Returns what happened; raises (for a retry) only on transient failures."""
    return apply_events(event_id, 1)


def apply_events(event_id: str, batch: int) -> str:
    """Apply the job's own event and, in the same transaction, up to `batch - 1` other events whose jobs are
    still waiting on the queue (a backlog): one commit and one job's overhead for all of them. The worker takes
    those jobs off the queue first, so no other worker waits on events it holds. Events are applied in the
    order they were received, each in a savepoint: one that fails is undone and put back on the queue (its
    job records the failure and retries), the rest commit. Returns what happened to the job's own event;
    raises (for a retry) only if that one failed."""
    from app.queues import enqueue_events, enqueue_receipts, forget_jobs

    own_error, others = None, []
    with write_turn(db.engine):  # SQLite: this worker's turn to write (app/db/write_turns.py)
        try:
            own = _claim(event_id)
            if own is None:
                db.session.rollback()
                return "skipped"
            others = _take_waiting(event_id, batch - 1) if batch > 1 else []
            applied, receipts, own_error = _apply_each(own, others)
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            enqueue_events([(event.id, None) for event in others])  # their jobs were taken: put them back
            _record_failure(event_id, error)
            raise
    metrics.EVENT_BATCH.observe(len(applied))
    now = utcnow()
    for event, result in applied:
        metrics.EVENTS_PROCESSED.labels(event.type, result).inc()
        metrics.EVENT_AGE.observe((now - event.received_at).total_seconds())
        log.info("event applied event_id=%s type=%s result=%s", event.id, event.type, result)
    done = {event.id for event, _ in applied}
    if others:
        forget_jobs([event.id for event in others if event.id in done])
        enqueue_events([(event.id, None) for event in others if event.id not in done])
    if receipts and current_app.config["SETTINGS"].mail_url:  # with no mail server they wait in the outbox
        enqueue_receipts(receipts)
    if own_error is not None:
        _record_failure(event_id, own_error, count_attempt=False)  # `_claim` counted it, and that committed
        raise own_error
    return next(result for event, result in applied if event.id == event_id)


def _apply_each(own, others: list) -> tuple[list[tuple], list[int], Exception | None]:
    """Apply the claimed events in the order they were received, each in a savepoint. Returns the applied
    (event, result) pairs, their receipts' outbox ids, and the error of the job's own event if it failed; an
    other event that fails is only undone (the caller puts its job back)."""
    applied, receipts, own_error = [], [], None
    for event in sorted([own, *others], key=lambda row: (row.received_at, row.id)):
        try:
            with db.session.begin_nested():  # flushed as it ends: its receipts have their ids
                result, its_receipts = _apply(event, count_attempt=event is not own)
        except Exception as error:  # noqa: BLE001 - undone; its own job retries it
            if event is own:
                own_error = error
            continue
        applied.append((event, result))
        receipts += [outbox.id for outbox in its_receipts]
    return applied, receipts, own_error


def _apply(event, count_attempt: bool) -> tuple[str, list[OutboxEmail]]:
    """Apply one claimed event and mark it done (`count_attempt`: add this attempt, `_claim` did not). Returns
    the result and the receipts it wrote. The new rows are written together when its savepoint ends: the
    queries here read nothing the session holds unwritten (state changes are UPDATEs to the tables)."""
    receipts: list[OutboxEmail] = []
    handler = HANDLERS.get(event.type)
    duplicate = _already_applied(event.id, event.type, event.object_id)
    note = f"duplicate of {duplicate}" if duplicate else None
    if handler is None or duplicate:
        status, result = EventStatus.IGNORED.value, "ignored"
    else:
        try:
            with db.session.no_autoflush:
                result = handler(json.loads(event.payload)["data"]["object"], receipts)
            status = EventStatus.PROCESSED.value
        except Mismatch as mismatch:  # parked for a person, never retried: nothing of it was applied
            status, result, note = EventStatus.PARKED.value, mismatch.result, f"Mismatch: {mismatch}"[:2000]
            log.error("event parked event_id=%s type=%s reason=%s", event.id, event.type, mismatch)
    db.session.execute(update(EVENT_ROWS).where(EVENT_ROWS.c.id == event.id).values(
        status=status, processed_at=utcnow(), last_error=note, attempts=EVENT_ROWS.c.attempts + int(count_attempt)))
    return result, receipts


def _claim(event_id: str):
    """Claim the event for this transaction, in one statement: the UPDATE takes the row lock on PostgreSQL (a
    concurrent claim waits, then sees the row done and gets nothing) and the write lock on SQLite. Returns the
    event's id, type, object id, payload and received time, or None if it is missing or already done."""
    return db.session.execute(
        update(EVENT_ROWS).where(EVENT_ROWS.c.id == event_id, EVENT_ROWS.c.status.not_in(DONE))
        .values(attempts=EVENT_ROWS.c.attempts + 1).returning(*CLAIMED)
    ).first()


def _take_waiting(event_id: str, limit: int) -> list:
    """Claim up to `limit` other events whose jobs are waiting on the queue, oldest first, and take their jobs.
    PostgreSQL: row locks, skipping rows another worker holds. SQLite: this transaction already holds the
    database's write lock (`_claim`), so no other worker can claim or finish any of them until it ends. Failed
    events wait for their retry; an event whose job a worker has just popped is left to that worker."""
    from app.queues import take_queued_events

    waiting = (EventStatus.RECEIVED.value, EventStatus.QUEUED.value)
    rows = db.session.execute(
        select(*CLAIMED).where(EVENT_ROWS.c.status.in_(waiting), EVENT_ROWS.c.id != event_id)
        .order_by(EVENT_ROWS.c.received_at, EVENT_ROWS.c.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    taken = set(take_queued_events([row.id for row in rows])) if rows else set()
    return [row for row in rows if row.id in taken]


# Types that happen once per object, so a second Event object of the type is the same change. Not
# `charge.refunded`: each partial refund of a charge is its own event (and its handler is idempotent).
ONCE_PER_OBJECT = {"payment_intent.succeeded", "payment_intent.canceled"}


def _already_applied(event_id: str, event_type: str, object_id: str) -> str | None:
    """Stripe may send two Event objects for one change: the second is a no-op."""
    if event_type not in ONCE_PER_OBJECT:
        return None
    return db.session.scalar(select(StripeEvent.id).where(
        StripeEvent.object_id == object_id, StripeEvent.type == event_type,
        StripeEvent.id != event_id, StripeEvent.status == EventStatus.PROCESSED).limit(1))


def _record_failure(event_id: str, error: Exception, count_attempt: bool = True) -> None:
    from app.queues import retry_policy

    max_attempts = retry_policy().max + 1
    event = db.session.get(StripeEvent, event_id)
    if event is None:
        return
    event.attempts += int(count_attempt)
    event.last_error = f"{type(error).__name__}: {error}"[:2000]
    event.failed_at = utcnow()
    event.status = EventStatus.PARKED.value if event.attempts >= max_attempts else EventStatus.FAILED.value
    db.session.commit()
    metrics.EVENTS_PROCESSED.labels(event.type, event.status).inc()
    log.warning("event failed event_id=%s attempts=%d status=%s error=%s", event_id, event.attempts,
                event.status, event.last_error)
