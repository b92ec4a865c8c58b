"""RQ jobs: apply a stored Stripe event to its order, exactly once, and send the receipt it produces.

`process_event` claims the event row (a row lock on PostgreSQL; on SQLite a conditional UPDATE, which takes
the database's write lock), applies it through the order state machine, and marks it processed in the same
transaction. A crash anywhere before the commit leaves the event as it was, for a retry or the relay.
"""
from __future__ import annotations

import json
import logging
import os

from flask import current_app
from sqlalchemy import select, update

from . import metrics
from .models import EventStatus, Order, OrderState, StripeEvent, db, utcnow
from .order_state import refuse, transition

__all__ = ["process_event", "send_receipt", "apply_event", "OrderNotKnownYet", "OrderNotReadyYet"]

log = logging.getLogger(__name__)
DONE = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value)
EVENT_ROWS = StripeEvent.__table__  # UPDATEs to the table, not through the ORM (see app/order_state.py)


class OrderNotKnownYet(Exception):
    """The event names an order this shop has not stored (yet): retried, then parked."""


class OrderNotReadyYet(Exception):
    """The event arrived before the one it follows (a refund before the payment): retried, then parked."""


# ---- job entry points (run by worker.py) --------------------------------------------------------
def process_event(event_id: str) -> str:
    with _job_app().app_context():
        return apply_event(event_id)


def send_receipt(outbox_id: int) -> str:
    with _job_app().app_context():
        from .mail import deliver_outbox

        return deliver_outbox(outbox_id)


# ---- applying an event ---------------------------------------------------------------------------
def apply_event(event_id: str) -> str:
    """Apply one stored event. Returns what happened; raises (for a retry) only on transient failures."""
    receipts: list[int] = []
    try:
        event = _claim(event_id)
        if event is None:
            db.session.rollback()
            return "skipped"
        handler = HANDLERS.get(event.type)
        duplicate = _already_applied(event_id, event.type, event.object_id)
        if handler is None or duplicate:
            status, result = EventStatus.IGNORED.value, "ignored"
        else:
            result = handler(json.loads(event.payload)["data"]["object"], receipts)
            status = EventStatus.PROCESSED.value
        processed_at = utcnow()
        db.session.execute(update(EVENT_ROWS).where(EVENT_ROWS.c.id == event_id).values(
            status=status, processed_at=processed_at, last_error=f"duplicate of {duplicate}" if duplicate else None))
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        _record_failure(event_id, error)
        raise
    metrics.EVENTS_PROCESSED.labels(event.type, result).inc()
    metrics.EVENT_AGE.observe((processed_at - event.received_at).total_seconds())
    log.info("event applied event_id=%s type=%s result=%s", event_id, event.type, result)
    if receipts and current_app.config["SETTINGS"].mail_url:  # with no mail server they wait in the outbox
        from .queue import enqueue_receipts

        enqueue_receipts(receipts)
    return result


def _claim(event_id: str):
    """Claim the event for this transaction, in one statement: the UPDATE takes the row lock on PostgreSQL (a
    concurrent claim waits, then sees the row done and gets nothing) and the write lock on SQLite. Returns the
    event's type, object id, payload and received time, or None if it is missing or already done."""
    return db.session.execute(
        update(EVENT_ROWS).where(EVENT_ROWS.c.id == event_id, EVENT_ROWS.c.status.not_in(DONE))
        .values(attempts=EVENT_ROWS.c.attempts + 1)
        .returning(EVENT_ROWS.c.type, EVENT_ROWS.c.object_id, EVENT_ROWS.c.payload, EVENT_ROWS.c.received_at)
    ).first()


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


def _record_failure(event_id: str, error: Exception) -> None:
    from .queue import retry_policy

    max_attempts = retry_policy().max + 1
    event = db.session.get(StripeEvent, event_id)
    if event is None:
        return
    event.attempts += 1
    event.last_error = f"{type(error).__name__}: {error}"[:2000]
    event.failed_at = utcnow()
    event.status = EventStatus.PARKED.value if event.attempts >= max_attempts else EventStatus.FAILED.value
    db.session.commit()
    metrics.EVENTS_PROCESSED.labels(event.type, event.status).inc()
    log.warning("event failed event_id=%s attempts=%d status=%s error=%s", event_id, event.attempts,
                event.status, event.last_error)


# ---- what each event type does ---------------------------------------------------------------------
def _order_for(intent: dict) -> Order:
    order_id = (intent.get("metadata") or {}).get("order_id")
    order = None
    if order_id:
        order = db.session.scalars(select(Order).where(Order.public_id == order_id)).first()
    if order is None and intent.get("id"):
        order = db.session.scalars(select(Order).where(Order.payment_intent_id == intent["id"])).first()
    if order is None:
        raise OrderNotKnownYet(f"no order for payment_intent {intent.get('id')} (order_id={order_id})")
    return order


def on_payment_succeeded(intent: dict, receipts: list[int]) -> str:
    order = _order_for(intent)
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
    error = intent.get("last_payment_error") or {}
    reason = f"payment_intent.payment_failed {error.get('decline_code') or error.get('code') or ''}".strip()
    return "failed" if transition(order, OrderState.PAYMENT_FAILED, reason) else "no_change"


def on_payment_canceled(intent: dict, _receipts) -> str:
    order = _order_for(intent)
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


def fulfil(order: Order, receipts: list[int]) -> None:
    """Paid -> fulfilled: stock was reserved at checkout; write the receipt to the outbox. The transition is a
    compare-and-set that succeeds once per order, so the receipt is written once (the outbox's unique
    (order, kind) would refuse a second)."""
    if transition(order, OrderState.FULFILLED, "fulfilled") and order.email:
        from .mail import receipt_for

        outbox = receipt_for(order)
        db.session.add(outbox)
        db.session.flush()
        receipts.append(outbox.id)


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

