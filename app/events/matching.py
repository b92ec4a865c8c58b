"""Finding the order an event names, and checking the event is about that order's own payment.

An event whose PaymentIntent is not the order's own, or whose amount or currency cannot belong to the order, is
a `Mismatch`: app/events/apply.py parks it with the reason, and nothing of it is applied.
"""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.models import Order, db

__all__ = ["Mismatch", "OrderNotKnownYet", "OrderNotReadyYet", "check_intent", "check_money", "order_for"]

log = logging.getLogger(__name__)
WITH_LINES = joinedload(Order.lines)  # the receipt and the stock need them: one query, not two


class OrderNotKnownYet(Exception):
    """The event names an order this shop has not stored (yet): retried, then parked."""


class OrderNotReadyYet(Exception):
    """The event arrived before the one it follows (a refund before the payment): retried, then parked."""


class Mismatch(Exception):
    """The event does not fit the order it names: parked at once with the reason, never applied."""

    def __init__(self, result: str, reason: str):
        super().__init__(reason)
        self.result = result


def order_for(intent_id: str | None, metadata: dict | None = None) -> Order:
    """The order named by the object's `metadata.order_id`, else the one owning the PaymentIntent."""
    order_id = (metadata or {}).get("order_id")
    order = None
    if order_id:
        order = db.session.scalars(select(Order).options(WITH_LINES).where(Order.public_id == order_id)
                                   ).unique().one_or_none()
    if order is None and intent_id:
        order = db.session.scalars(select(Order).options(WITH_LINES).where(Order.payment_intent_id == intent_id)
                                   ).unique().one_or_none()
    if order is None:
        raise OrderNotKnownYet(f"no order for payment_intent {intent_id} (order_id={order_id})")
    return order


def check_intent(order: Order, intent_id: str | None, what: str) -> None:
    """Raises Mismatch if the event names a PaymentIntent other than the order's own."""
    if order.payment_intent_id is None or intent_id == order.payment_intent_id:
        return
    log.error("event names another payment_intent order=%s intent=%s own=%s", order.public_id, intent_id,
              order.payment_intent_id)
    raise Mismatch("intent_mismatch", f"{what} for payment_intent {intent_id}, not the order's own "
                                      f"{order.payment_intent_id}")


def check_money(order: Order, amount, currency, what: str, exact: bool = True) -> None:
    """Raises Mismatch unless the currency is the order's and the amount is the order's (`exact`) or within it."""
    fits = isinstance(amount, int) and (amount == order.amount if exact else 0 <= amount <= order.amount)
    if currency == order.currency and fits:
        return
    log.error("event amount mismatch order=%s amount=%s currency=%s", order.public_id, amount, currency)
    raise Mismatch("amount_mismatch", f"{what} of {amount} {currency} does not fit the order's "
                                      f"{order.amount} {order.currency}")
