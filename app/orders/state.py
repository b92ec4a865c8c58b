"""The order state machine: the one function that changes an order's state, and the stock that follows it.

    pending -> paid -> fulfilled -> dispatched;  paid | fulfilled | dispatched -> refunded
    pending -> processing (a bank debit Stripe took; it settles days later) -> paid | payment_failed
    pending -> payment_failed -> pending (another card) | paid (a late success) | canceled
    pending -> canceled (expired);  paid | fulfilled -> canceled (from the admin, before dispatch: refunded)
    pending | payment_failed -> authorised -> paid (captured) | canceled (voided)    [CAPTURE=manual]
    refunded -> fulfilled (the refund failed: Stripe gave the money back to the shop)

A refused transition is recorded on the order's timeline and returned as False; it never raises,
so a late or reordered Stripe event can't push a job into a retry loop.
"""
from __future__ import annotations

import logging

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from app.telemetry import metrics
from app.models import Order, OrderState, OrderTransition, Product, db, utcnow

log = logging.getLogger(__name__)
S = OrderState
ALLOWED: dict[OrderState, set[OrderState]] = {
    S.PENDING: {S.PROCESSING, S.PAID, S.AUTHORISED, S.PAYMENT_FAILED, S.CANCELED},
    S.PROCESSING: {S.PAID, S.PAYMENT_FAILED},
    S.PAYMENT_FAILED: {S.PENDING, S.PAID, S.AUTHORISED, S.CANCELED},
    S.AUTHORISED: {S.PAID, S.CANCELED},
    S.PAID: {S.FULFILLED, S.REFUNDED, S.CANCELED},
    S.FULFILLED: {S.DISPATCHED, S.REFUNDED, S.CANCELED},
    S.DISPATCHED: {S.REFUNDED},
    S.REFUNDED: {S.FULFILLED},
    S.CANCELED: set(),
}
HOLDS_STOCK = {S.PENDING, S.PROCESSING, S.AUTHORISED, S.PAID, S.FULFILLED, S.DISPATCHED}  # dispatched: it has left
# UPDATEs go to the tables, not through the ORM: an ORM-enabled UPDATE also flushes the session and looks for
# the rows among loaded objects, which this path does not need (the order's new values are set on it below,
# the products are not loaded). The order's own unsaved changes are flushed with the next flush or commit.
ORDERS, PRODUCTS = Order.__table__, Product.__table__


class OutOfStock(Exception):
    def __init__(self, product_id: str):
        super().__init__(f"{product_id} is out of stock")
        self.product_id = product_id


def can_transition(current: str, target: OrderState) -> bool:
    return target in ALLOWED[OrderState(current)]


def transition(order: Order, target: OrderState, reason: str = "") -> bool:
    """Move `order` to `target` if the machine allows it; record either outcome. Same state: a no-op.

    The change is a compare-and-set on the stored state, so the confirm endpoint and a worker racing on
    one order can't overwrite each other: the loser re-reads the state and decides again.
    """
    for _ in range(5):
        current = OrderState(order.state)
        if current == target:
            return False
        if not can_transition(current, target):
            refuse(order, target, reason)
            return False
        now = utcnow()
        values = {"state": target.value, "updated_at": now}
        if target == S.PAID:
            values["paid_at"] = now
        elif target == S.FULFILLED:
            values["fulfilled_at"] = now
        elif target == S.AUTHORISED:
            values["authorised_at"] = now
        moved = db.session.execute(update(ORDERS).where(ORDERS.c.id == order.id, ORDERS.c.state == current.value)
                                   .values(**values)).rowcount
        if moved:
            break
        db.session.flush()  # keep the order's unsaved changes: refresh would drop them
        db.session.refresh(order)
    else:
        raise RuntimeError(f"order {order.id} kept changing under transition to {target.value}")
    for name, value in values.items():
        set_committed_value(order, name, value)
    if target in HOLDS_STOCK and not order.stock_reserved:
        reserve_stock(order, strict=target == S.PENDING)
    elif target not in HOLDS_STOCK and order.stock_reserved:
        release_stock(order)
        if current in (S.PENDING, S.PROCESSING):  # an unpaid order's hold (a paid order's stock coming back is no hold)
            metrics.HOLDS_RELEASED.labels(target.value).inc()
    db.session.add(OrderTransition(order_id=order.id, from_state=current.value, to_state=target.value,
                                   reason=reason[:200]))
    metrics.ORDERS.labels(target.value).inc()
    return True


def refuse(order: Order, target: OrderState, reason: str) -> None:
    """Record on the order's timeline a move that was asked for and not made."""
    db.session.add(OrderTransition(order_id=order.id, from_state=order.state, to_state=target.value,
                                   accepted=False, reason=reason[:200]))


def reserve_stock(order: Order, strict: bool = True) -> None:
    """Take the order's quantities out of stock atomically, never below zero.

    strict=False (money already taken) reserves what it can rather than refusing a paid order, and reports
    what it could not take (a paid order whose stock hold had been given back, then sold): never silently.
    """
    for line in order.lines:
        taken = db.session.execute(
            update(PRODUCTS).where(PRODUCTS.c.id == line.product_id, PRODUCTS.c.stock >= line.quantity)
            .values(stock=PRODUCTS.c.stock - line.quantity)
        ).rowcount
        if not taken and strict:
            raise OutOfStock(line.product_id)
        if not taken:
            metrics.STOCK_SHORTFALL.inc(line.quantity)
            log.error("paid order short of stock order=%s product=%s quantity=%s", order.public_id,
                      line.product_id, line.quantity)
            db.session.add(OrderTransition(order_id=order.id, from_state=order.state, to_state=order.state,
                                           accepted=False, reason=f"out of stock: {line.product_id} x{line.quantity}"))
    order.stock_reserved = True


def release_stock(order: Order) -> None:
    """Give the order's stock back, and with it the use of its discount code it holds (if any)."""
    # imported here: app.checkout's package imports the checkout service, which imports this module
    from app.checkout import discounts

    for line in order.lines:
        db.session.execute(
            update(PRODUCTS).where(PRODUCTS.c.id == line.product_id).values(stock=PRODUCTS.c.stock + line.quantity)
        )
    order.stock_reserved = False
    discounts.give_back(order)
