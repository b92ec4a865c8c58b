"""The pending-order sweep: an order with no payment under way for STOCK_HOLD_SECONDS gives its stock back
(app/orders/holds.py); one left unpaid past PENDING_ORDER_TTL is canceled.

An order with a PaymentIntent is only canceled after Stripe agrees to cancel that PaymentIntent, so an
order whose payment is in flight is never canceled under a shopper's feet.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.models import Order, OrderState, db, utcnow
from app.orders.holds import release_stale
from app.orders.state import transition
from app.payments import PaymentError, get_gateway

log = logging.getLogger(__name__)


def expire_pending_orders(limit: int = 100) -> int:
    """Release stale holds, then cancel expired orders; returns how many orders were canceled."""
    settings = current_app.config["SETTINGS"]
    released = release_stale(settings, limit=limit)
    if released:
        log.info("released the stock holds of %s unpaid orders", released)
    ttl = timedelta(seconds=settings.pending_order_ttl)
    stale = db.session.scalars(select(Order).where(
        Order.state.in_([OrderState.PENDING.value, OrderState.PAYMENT_FAILED.value]),
        Order.created_at < utcnow() - ttl).limit(limit)).all()
    expired = 0
    for order in stale:
        if order.payment_intent_id:
            try:
                intent = get_gateway(current_app).cancel_payment_intent(
                    order.payment_intent_id, idempotency_key=f"expire-{order.public_id}")
            except PaymentError as error:
                log.info("not expiring order=%s: cancel refused (%s)", order.public_id, error.code)
                continue
            if intent.get("status") != "canceled":
                continue
        if transition(order, OrderState.CANCELED, "expired unpaid"):
            expired += 1
        db.session.commit()
    return expired
