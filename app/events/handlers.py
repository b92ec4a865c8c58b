"""What each Stripe event type does to the shop's orders: the handlers a worker applies (app/events/apply.py).

Each handler finds the event's order, checks the event is about the order's own PaymentIntent (and, for a
payment, the order's amount and currency), and moves the order through app/orders/state.py's one transition
function. Receipts are written to the outbox in the same transaction.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.models import Order, OrderState, OutboxEmail, db
from app.orders.state import refuse, transition

__all__ = ["HANDLERS", "OrderNotKnownYet", "OrderNotReadyYet", "fulfil"]

log = logging.getLogger(__name__)


class OrderNotKnownYet(Exception):
    """The event names an order this shop has not stored (yet): retried, then parked."""


class OrderNotReadyYet(Exception):
    """The event arrived before the one it follows (a refund before the payment): retried, then parked."""


# ---- ---------------------------------------------------------------------
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
    if order.state == OrderState.PAID:
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
    if order.state in (OrderState.PENDING, OrderState.PAYMENT_FAILED):
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
        from app.mail.outbox import receipt_for

        outbox = receipt_for(order)
        db.session.add(outbox)
        receipts.append(outbox)
