"""Manual capture (CAPTURE=manual): capturing an authorised order at dispatch, or voiding its authorisation, once.

An order's authorisation gets one `Settlement` row, unique per order: `dispatch` or `capture` (both capture, with
the key `capture-<order>`) or `void` (`void-<order>`). Concurrent clicks, the `shop capture` command and a worker's
retries all find the same row and send its stored amount with its key, so Stripe captures once; and since there
is one row per order, an authorisation is never both captured and voided. A settlement whose answer never came
stays `requested` and a worker sends it again (app/tasks.py `send_settlement`; the relay re-enqueues a lost one).
The order moves on Stripe's answer or on its events (app/events/handlers.py), whichever comes first.
"""
from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.events.handlers import cancel, fulfil
from app.models import Order, OrderState, OutboxEmail, Settlement, SettlementStatus, db
from app.orders.state import transition
from app.payments import Gateway, PaymentError
from app.queues import enqueue_receipts, enqueue_settlement
from app.telemetry import metrics

log = logging.getLogger(__name__)
ROWS = Settlement.__table__
WANTED = {"capture": "succeeded", "dispatch": "succeeded", "void": "canceled"}


class CaptureError(Exception):
    pass


def settlement_of(order: Order) -> Settlement | None:
    return db.session.scalars(select(Settlement).where(Settlement.order_id == order.id)).first()


def authorisations(limit: int = 200) -> list[Order]:
    """Authorised orders not yet captured or voided, oldest authorisation first."""
    return db.session.scalars(select(Order).where(Order.state == OrderState.AUTHORISED.value)
                              .order_by(Order.authorised_at).limit(limit)).all()


def dispatch(order: Order, gateway: Gateway, amount: int | None = None) -> str:
    """The admin's "dispatch": an authorised order is captured (all of it, or `amount`) and then dispatched; an
    order already paid (automatic capture) is dispatched. Returns the order's state."""
    if order.state == OrderState.AUTHORISED or settlement_of(order) is not None:
        settle(order, "dispatch", gateway, amount)
    elif order.state in (OrderState.PAID, OrderState.FULFILLED):
        receipts: list[OutboxEmail] = []
        fulfil(order, receipts)
        transition(order, OrderState.DISPATCHED, "dispatched")
        _commit(receipts)
    elif order.state != OrderState.DISPATCHED:
        raise CaptureError(f"An order that is {order.state} cannot be dispatched.")
    return order.state


def settle(order: Order, action: str, gateway: Gateway, amount: int | None = None) -> Settlement:
    """Store (or find) the order's one settlement and send it to Stripe with its key."""
    row = settlement_of(order)
    if row is None:
        if order.state != OrderState.AUTHORISED or not order.payment_intent_id:
            raise CaptureError(f"An order that is {order.state} has no authorisation to "
                               f"{'void' if action == 'void' else 'capture'}.")
        amount = order.amount if amount is None else amount
        if action != "void" and not 0 < amount <= order.amount:
            raise CaptureError(f"A capture is between 0.01 and the authorised amount ({order.amount} minor units).")
        key = f"{'void' if action == 'void' else 'capture'}-{order.public_id}"
        row = Settlement(order_id=order.id, action=action, amount=amount, idempotency_key=key)
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:  # another click, the command or a cancel stored the order's settlement first
            db.session.rollback()
            row = settlement_of(order)
    if (row.action == "void") != (action == "void"):
        done = "voided" if row.action == "void" else "captured"
        raise CaptureError(f"This order's authorisation is already being {done}; it cannot also be "
                           f"{'voided' if action == 'void' else 'captured'}.")
    if row.status == SettlementStatus.REQUESTED:
        send(row, order, gateway)
    elif row.status == SettlementStatus.FAILED:
        raise CaptureError(f"Stripe refused this: {row.last_error}")
    return row


def send(row: Settlement, order: Order, gateway: Gateway, retry_in_worker: bool = True) -> None:
    """Ask Stripe with the row's key. A transient failure leaves the row `requested` for a worker (the worker's own
    job passes retry_in_worker=False: RQ retries it); a refusal marks it failed, unless the PaymentIntent is
    already where this asked it to be."""
    try:
        if row.action == "void":
            intent = gateway.cancel_payment_intent(order.payment_intent_id, idempotency_key=row.idempotency_key)
        else:
            intent = gateway.capture_payment_intent(order.payment_intent_id, amount=row.amount,
                                                    idempotency_key=row.idempotency_key)
    except PaymentError as error:
        intent = error.payment_intent or {}
        if intent.get("status") != WANTED[row.action]:
            _failed(row, order, error, retry_in_worker)
    requested = SettlementStatus.REQUESTED.value
    claimed = db.session.execute(update(ROWS).where(ROWS.c.id == row.id, ROWS.c.status == requested)
                                 .values(status=SettlementStatus.DONE.value, last_error=None)).rowcount
    if not claimed:  # another sender (a second click, a worker) applied Stripe's answer first
        db.session.rollback()
        return
    receipts: list[OutboxEmail] = []
    if row.action == "void":
        cancel(order, f"authorisation voided {intent.get('id')}", receipts)
    else:
        _captured(order, intent, row.action == "dispatch", receipts)
    _commit(receipts)
    metrics.SETTLEMENTS.labels(row.action, "done").inc()
    log.info("settlement done order=%s action=%s amount=%d", order.public_id, row.action, row.amount)


def resend(settlement_id: int, gateway: Gateway) -> str:
    """The worker's retry of a settlement Stripe did not answer; raises while it still does not, so RQ retries."""
    row = db.session.get(Settlement, settlement_id)
    if row is None or row.status != SettlementStatus.REQUESTED:
        return "done"
    try:
        send(row, db.session.get(Order, row.order_id), gateway, retry_in_worker=False)
    except CaptureError:
        if row.status == SettlementStatus.REQUESTED:
            raise
    return row.status


def _captured(order: Order, intent: dict, dispatched: bool, receipts: list[OutboxEmail]) -> None:
    db.session.refresh(order)
    if isinstance(intent.get("amount_received"), int):
        order.amount_captured = intent["amount_received"]
    if order.state == OrderState.AUTHORISED:
        transition(order, OrderState.PAID, f"captured {intent.get('id')}")
    if order.state == OrderState.PAID:
        fulfil(order, receipts)
    if dispatched:
        transition(order, OrderState.DISPATCHED, "dispatched")


def _failed(row: Settlement, order: Order, error: PaymentError, retry_in_worker: bool):
    transient = error.kind in ("transient", "unavailable")
    row.last_error = f"{error.kind}: {error.code or error.user_message}"[:2000]
    if not transient:
        row.status = SettlementStatus.FAILED.value
    db.session.commit()
    metrics.SETTLEMENTS.labels(row.action, error.kind).inc()
    log.warning("settlement failed order=%s action=%s kind=%s", order.public_id, row.action, error.kind)
    if transient and retry_in_worker:
        enqueue_settlement(row.id)
        raise CaptureError(f"Stripe did not answer ({error.user_message}); it is sent again automatically with "
                           "the same key until Stripe answers.") from None
    raise CaptureError(f"Stripe did not answer: {error.user_message}" if transient
                       else f"Stripe refused this: {error.user_message}") from None


def _commit(receipts: list[OutboxEmail]) -> None:
    db.session.commit()
    enqueue_receipts([outbox.id for outbox in receipts])
