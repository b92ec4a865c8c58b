"""Stock holds: an unpaid order keeps its stock only while a payment for it may still go through.

A pending order holds its lines' stock (app/orders/state.py). The hold is given back at once when an attempt
definitely failed or was refused (nothing was charged) and no other attempt on the order is still live, and by
the expiry job once the order has gone STOCK_HOLD_SECONDS with no payment under way. An attempt Stripe took
for processing, one waiting for 3-D Secure and one whose outcome is unknown keep the hold: the first two until
the order is paid or expired (PENDING_ORDER_TTL, after Stripe cancels its PaymentIntent), the last until its
outcome is found. The order stays pending: paying it again takes its stock again, or says it sold out.

An order whose payment settles later (a bank debit: state processing) holds its stock while the bank may still
take days, up to DELAYED_PAYMENT_HOLD_DAYS after its latest attempt; past that its stock is given back and the
order stays processing (a late success still marks it paid and takes the stock again, or reports the shortfall).

New holds are capped per cart and per client address (orders and units), so one shopper cannot take the stock.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update

from app.models import AttemptStatus, Order, OrderLine, OrderState, PaymentAttempt, db, utcnow
from app.orders.state import ORDERS, release_stock, reserve_stock, transition
from app.settings import Settings
from app.telemetry import metrics

log = logging.getLogger(__name__)
# an attempt in one of these may still take the money (or has): its order keeps its stock
LIVE = {AttemptStatus.SUCCEEDED, AttemptStatus.PROCESSING, AttemptStatus.REQUIRES_ACTION,
        AttemptStatus.NEEDS_BANK_CHECK, AttemptStatus.UNKNOWN}
UNPAID = (OrderState.PENDING.value, OrderState.PROCESSING.value)  # states whose stock is a hold


class TooManyHolds(Exception):
    """A new hold would pass a cap; `reason` names it (cart_orders, cart_units, address_orders, address_units)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Holder:
    """Who asks for a hold: the cart and the client address of the request."""
    cart_id: str | None
    address: str | None


def check_caps(settings: Settings, holder: Holder, units: int) -> None:
    """Raise TooManyHolds when holding `units` more would pass a cap for this holder (counted metric)."""
    caps = (("cart", Order.cart_id, holder.cart_id, settings.hold_max_orders_per_cart,
             settings.hold_max_units_per_cart),
            ("address", Order.client_address, holder.address, settings.hold_max_orders_per_address,
             settings.hold_max_units_per_address))
    for name, column, value, max_orders, max_units in caps:
        if value is None:
            continue
        orders, held = db.session.execute(
            select(func.count(func.distinct(Order.id)), func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(column == value, Order.state.in_(UNPAID), Order.stock_reserved.is_(True))).one()
        reason = (f"{name}_orders" if orders + 1 > max_orders else
                  f"{name}_units" if held + units > max_units else None)
        if reason:
            metrics.HOLDS_REFUSED.labels(reason).inc()
            log.warning("stock hold refused reason=%s orders=%s units=%s asked=%s", reason, orders, held, units)
            raise TooManyHolds(reason)


def hold_again(order: Order, settings: Settings, holder: Holder) -> None:
    """An order paid again after its stock was given back (declined, failed, expired hold) takes its stock
    again first, within the caps, and the use of its discount code. Raises TooManyHolds, OutOfStock or
    CodeRefused (the code was used up meanwhile): nothing held, the session rolled back."""
    # imported here: app.checkout's package imports this module
    from app.checkout import discounts

    if not (order.state == OrderState.PAYMENT_FAILED
            or (order.state == OrderState.PENDING and not order.stock_reserved)):
        return
    check_caps(settings, holder, sum(line.quantity for line in order.lines))
    order.cart_id, order.client_address = holder.cart_id, holder.address
    try:
        if order.state == OrderState.PAYMENT_FAILED:
            transition(order, OrderState.PENDING, "another payment attempt")
        elif db.session.execute(update(ORDERS).where(ORDERS.c.id == order.id, ORDERS.c.stock_reserved.is_(False))
                                .values(stock_reserved=True)).rowcount:
            reserve_stock(order)  # one request wins the flag above, so the stock is taken once
        discounts.hold_again(order)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def is_live(attempt: PaymentAttempt, deadline: float) -> bool:
    """An attempt that may still take the money: Stripe has it, or a request is still sending it."""
    return attempt.status in LIVE or (attempt.status == AttemptStatus.SENDING
                                      and utcnow() - attempt.created_at < timedelta(seconds=2 * deadline))


def release(order: Order, reason: str, deadline: float, finished: PaymentAttempt | None = None) -> bool:
    """Give back a pending order's stock unless an attempt on it (other than `finished`, the one that just
    failed) may still take the money. A compare-and-set on the order, so the stock is given back once."""
    if order.state != OrderState.PENDING or not order.stock_reserved:
        return False
    if any(is_live(attempt, deadline) for attempt in order.attempts if attempt is not finished):
        return False
    released = db.session.execute(update(ORDERS).where(
        ORDERS.c.id == order.id, ORDERS.c.state == OrderState.PENDING.value, ORDERS.c.stock_reserved.is_(True))
        .values(stock_reserved=False)).rowcount
    if not released:
        return False
    release_stock(order)
    db.session.commit()
    metrics.HOLDS_RELEASED.labels(reason).inc()
    log.info("stock hold released order=%s reason=%s", order.public_id, reason)
    return True


def release_stale(settings: Settings, now: datetime | None = None, limit: int = 100) -> int:
    """The expiry job's part: release the holds of pending orders with no payment under way for
    STOCK_HOLD_SECONDS (counted from the order or its latest attempt)."""
    cutoff = (now or utcnow()) - timedelta(seconds=settings.stock_hold_seconds)
    busy = select(PaymentAttempt.id).where(PaymentAttempt.order_id == Order.id, or_(
        PaymentAttempt.status.in_([status.value for status in LIVE]), PaymentAttempt.created_at >= cutoff))
    stale = db.session.scalars(select(Order).where(
        Order.state == OrderState.PENDING.value, Order.stock_reserved.is_(True), Order.created_at < cutoff,
        ~busy.exists()).order_by(Order.id).limit(limit)).all()
    return (sum(release(order, "hold_expired", settings.checkout_deadline) for order in stale)
            + release_overdue(settings, now, limit))


def release_overdue(settings: Settings, now: datetime | None = None, limit: int = 100) -> int:
    """Give back the stock of processing orders whose bank has had DELAYED_PAYMENT_HOLD_DAYS since their latest
    attempt (or since the order, with none) and still not answered. A compare-and-set: given back once."""
    cutoff = (now or utcnow()) - timedelta(days=settings.delayed_payment_hold_days)
    recent = select(PaymentAttempt.id).where(PaymentAttempt.order_id == Order.id, PaymentAttempt.created_at >= cutoff)
    overdue = db.session.scalars(select(Order).where(
        Order.state == OrderState.PROCESSING.value, Order.stock_reserved.is_(True), Order.created_at < cutoff,
        ~recent.exists()).order_by(Order.id).limit(limit)).all()
    released = 0
    for order in overdue:
        if db.session.execute(update(ORDERS).where(
                ORDERS.c.id == order.id, ORDERS.c.state == OrderState.PROCESSING.value,
                ORDERS.c.stock_reserved.is_(True)).values(stock_reserved=False)).rowcount:
            release_stock(order)
            db.session.commit()
            metrics.HOLDS_RELEASED.labels("processing_overdue").inc()
            log.warning("stock hold of a processing order released order=%s", order.public_id)
            released += 1
    return released


def units_held() -> int:
    """Units held by unpaid orders now (the shop_stock_units_held gauge)."""
    return db.session.scalar(select(func.coalesce(func.sum(OrderLine.quantity), 0))
                             .join(Order, OrderLine.order_id == Order.id)
                             .where(Order.state.in_(UNPAID), Order.stock_reserved.is_(True)))
