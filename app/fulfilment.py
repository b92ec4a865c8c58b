"""RQ jobs: apply a stored Stripe event to its order, exactly once, and send the receipt it produces.

`process_event` claims the event row (a row lock on PostgreSQL; on SQLite a conditional UPDATE, which takes
the database's write lock), applies it through the order state machine, and marks it processed in the same
transaction; with a backlog it applies other waiting events in that transaction too (`apply_events`). A crash
anywhere before the commit leaves every event as it was, for a retry or the relay.
"""
from __future__ import annotations

import json
import logging
import os

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from . import metrics
from .models import EventStatus, Order, OrderState, OutboxEmail, StripeEvent, db, utcnow
from .order_state import refuse, transition
from .write_turns import write_turn

__all__ = ["process_event", "send_receipt", "apply_event", "apply_events", "OrderNotKnownYet", "OrderNotReadyYet"]

log = logging.getLogger(__name__)
DONE = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value)
EVENT_ROWS = StripeEvent.__table__  # UPDATEs to the table, not through the ORM (see app/order_state.py)
CLAIMED = (EVENT_ROWS.c.id, EVENT_ROWS.c.type, EVENT_ROWS.c.object_id, EVENT_ROWS.c.payload,
           EVENT_ROWS.c.received_at)


class OrderNotKnownYet(Exception):
    """The event names an order this shop has not stored (yet): retried, then parked."""


class OrderNotReadyYet(Exception):
    """The event arrived before the one it follows (a refund before the payment): retried, then parked."""


# ---- job entry points (run by worker.py) --------------------------------------------------------
def process_event(event_id: str) -> str:
    with _job_app().app_context():
        return apply_events(event_id, current_app.config["SETTINGS"].event_batch)


def send_receipt(outbox_id: int) -> str:
    with _job_app().app_context():
        from .mail import deliver_outbox

        return deliver_outbox(outbox_id)


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
    from .queue import enqueue_events, enqueue_receipts, forget_jobs

    own_error, others = None, []
    with write_turn(db.engine):  # SQLite: this worker's turn to write (app/write_turns.py)
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
    if handler is None or duplicate:
        status, result = EventStatus.IGNORED.value, "ignored"
    else:
        with db.session.no_autoflush:
            result = handler(json.loads(event.payload)["data"]["object"], receipts)
        status = EventStatus.PROCESSED.value
    db.session.execute(update(EVENT_ROWS).where(EVENT_ROWS.c.id == event.id).values(
        status=status, processed_at=utcnow(), last_error=f"duplicate of {duplicate}" if duplicate else None,
        attempts=EVENT_ROWS.c.attempts + int(count_attempt)))
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
    from .queue import take_queued_events

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
        StripeEvent.id != event_id, StripeEvent.status == EventStatus.PROCESSED.value).limit(1))


def _record_failure(event_id: str, error: Exception, count_attempt: bool = True) -> None:
    from .queue import retry_policy

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


# ---- what each event type does ---------------------------------------------------------------------
WITH_LINES = joinedload(Order.lines)  # the receipt and the stock need them: one query, not two


def _order_for(intent: dict) -> Order:
    order_id = (intent.get("metadata") or {}).get("order_id")
    order = None
    if order_id:
        order = db.session.scalars(select(Order).options(WITH_LINES).where(Order.public_id == order_id)
                                   ).unique().one_or_none()
    if order is None and intent.get("id"):
        order = db.session.scalars(select(Order).options(WITH_LINES).where(Order.payment_intent_id == intent["id"])
                                   ).unique().one_or_none()
    if order is None:
        raise OrderNotKnownYet(f"no order for payment_intent {intent.get('id')} (order_id={order_id})")
    return order


def _foreign(order: Order, intent: dict) -> bool:
    """An event about a PaymentIntent that is not the order's own (its metadata names the order, its id does not):
    refused and logged, never applied."""
    if order.payment_intent_id is None or intent.get("id") == order.payment_intent_id:
        return False
    log.error("event names another payment_intent order=%s intent=%s own=%s", order.public_id, intent.get("id"),
              order.payment_intent_id)
    return True


def on_payment_succeeded(intent: dict, receipts: list[OutboxEmail]) -> str:
    order = _order_for(intent)
    if _foreign(order, intent):
        refuse(order, OrderState.PAID, f"payment_intent.succeeded for another intent {intent.get('id')}")
        return "intent_mismatch"
    if order.payment_intent_id is None:
        order.payment_intent_id = intent["id"]
    if intent.get("amount") != order.amount or intent.get("currency") != order.currency:
        refuse(order, OrderState.PAID, f"amount mismatch: paid {intent.get('amount')} {intent.get('currency')}")
        log.error("payment amount mismatch order=%s intent=%s", order.public_id, intent.get("id"))
        return "amount_mismatch"
    transition(order, OrderState.PAID, f"payment_intent.succeeded {intent['id']}")
    if order.state == OrderState.PAID.value:
        fulfil(order, receipts)
        return "fulfilled"
    return "no_change"


def on_payment_failed(intent: dict, _receipts) -> str:
    order = _order_for(intent)
    if _foreign(order, intent):
        return "intent_mismatch"
    error = intent.get("last_payment_error") or {}
    reason = f"payment_intent.payment_failed {error.get('decline_code') or error.get('code') or ''}".strip()
    return "failed" if transition(order, OrderState.PAYMENT_FAILED, reason) else "no_change"


def on_payment_canceled(intent: dict, _receipts) -> str:
    order = _order_for(intent)
    if _foreign(order, intent):
        return "intent_mismatch"
    return "canceled" if transition(order, OrderState.CANCELED, "payment_intent.canceled") else "no_change"


def on_charge_refunded(charge: dict, _receipts) -> str:
    order = _order_for({"id": charge.get("payment_intent"), "metadata": charge.get("metadata")})
    if order.state in (OrderState.PENDING.value, OrderState.PAYMENT_FAILED.value):
        raise OrderNotReadyYet(f"order {order.public_id} is {order.state}: its payment event comes first")
    order.amount_refunded = max(order.amount_refunded, int(charge.get("amount_refunded") or 0))
    if order.amount_refunded >= order.amount:
        transition(order, OrderState.REFUNDED, f"charge.refunded {charge.get('id')}")
        return "refunded"
    return "partially_refunded"


HANDLERS = {
    "payment_intent.succeeded": on_payment_succeeded,
    "payment_intent.payment_failed": on_payment_failed,
    "payment_intent.canceled": on_payment_canceled,
    "charge.refunded": on_charge_refunded,
}


def fulfil(order: Order, receipts: list[OutboxEmail]) -> None:
    """Paid -> fulfilled: stock was reserved at checkout; write the receipt to the outbox. The transition is a
    compare-and-set that succeeds once per order, so the receipt is written once (the outbox's unique
    (order, kind) would refuse a second)."""
    if transition(order, OrderState.FULFILLED, "fulfilled") and order.email:
        from .mail import receipt_for

        outbox = receipt_for(order)
        db.session.add(outbox)
        receipts.append(outbox)


# ---- the app a job runs in ---------------------------------------------------------------------------
_app = None
_app_pid = None


def bind_app(app) -> None:
    """worker.py binds its app before forking; each job process then drops inherited DB connections."""
    global _app
    _app = app


def _job_app():
    global _app, _app_pid
    if _app is None:
        from . import create_app

        _app = create_app()
    if _app_pid != os.getpid():
        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app

