"""Refunding an order from the admin, through the gateway, with an idempotency key derived from a stored row.

The `Refund` row is written first; its key is `refund-<order>-<n>`. Submitting the same form twice finds the
same row (its form token is unique) and so sends the same key: Stripe answers the first refund again. A refund
whose answer never came stays `requested` and a worker sends it again with its key until Stripe answers (the
relay re-enqueues one whose job was lost). The order itself moves only when Stripe's refund events arrive
(app/events/refunds.py).
"""
from __future__ import annotations

import logging
import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.telemetry import metrics
from app.models import Order, OrderState, Refund, RefundStatus, db
from app.money import minor_unit_exponent
from app.payments import Gateway, PaymentError
from app.queues import enqueue_refund

log = logging.getLogger(__name__)
STRIPE_STATUS = {"succeeded": RefundStatus.SUCCEEDED, "pending": RefundStatus.PENDING,
                 "requires_action": RefundStatus.PENDING, "failed": RefundStatus.FAILED,
                 "canceled": RefundStatus.FAILED}


MAX_MINOR = 2**31 - 1  # the amount columns' limit: no order is larger
AMOUNT = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,20}))?")  # ASCII digits only: int() reads other scripts' too


class RefundError(Exception):
    pass


class BadAmount(RefundError):
    """The amount typed is not one that can be refunded: the form is answered 400 and nothing is asked of Stripe."""


def refundable(order: Order) -> int:
    """What may still be refunded: the amount less what Stripe refunded or what is asked and not failed."""
    asked = db.session.scalar(select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.order_id == order.id, Refund.status != RefundStatus.FAILED))
    taken = order.amount if order.amount_captured is None else order.amount_captured
    return max(0, taken - max(order.amount_refunded, asked))


def parse_amount(text: str, currency: str) -> int:
    """'12.50' usd -> 1250, in integers only. Refuses anything but plain digits with an optional decimal point
    (so NaN, sNaN, Infinity, exponents, signs and other scripts' digits), zero, and more decimals than the
    currency has."""
    text = text.strip()
    match = AMOUNT.fullmatch(text)
    if match is None:
        raise BadAmount("A refund is a positive amount above zero." if text.startswith("-")
                        else "Enter the amount as a number, e.g. 12.50.")
    exponent = minor_unit_exponent(currency)
    whole, fraction = match[1], (match[2] or "").rstrip("0")
    if len(fraction) > exponent:
        raise BadAmount(f"{currency.upper()} amounts have at most {exponent} decimals.")
    minor = int(whole) * 10**exponent + int(fraction.ljust(exponent, "0") or 0)
    if minor <= 0:
        raise BadAmount("A refund is a positive amount above zero.")
    if minor > MAX_MINOR:
        raise BadAmount("That is more than is left to refund on this order.")
    return minor


def request_refund(order: Order, amount: int, form_token: str, gateway: Gateway, reason: str = "") -> Refund:
    refund = _by_token(form_token)
    if refund is None:
        if order.state not in OrderState.PAID_STATES or not order.payment_intent_id:
            raise RefundError(f"An order that is {order.state} cannot be refunded.")
        if not 0 < amount <= refundable(order):
            raise BadAmount("That is more than is left to refund on this order.")
        number = (db.session.scalar(select(func.max(Refund.number)).where(Refund.order_id == order.id)) or 0) + 1
        refund = Refund(order_id=order.id, number=number, amount=amount, currency=order.currency,
                        form_token=form_token, idempotency_key=f"refund-{order.public_id}-{number}",
                        reason=reason[:200])
        db.session.add(refund)
        try:
            db.session.commit()
        except IntegrityError:  # the same form twice at once, or a concurrent refund took this number
            db.session.rollback()
            refund = _by_token(form_token)
            if refund is None:
                raise RefundError("Another refund of this order was just made; check it and try again.") from None
    if refund.status == RefundStatus.REQUESTED:
        send(refund, order, gateway)
    return refund


def send(refund: Refund, order: Order, gateway: Gateway, retry_in_worker: bool = True) -> None:
    """Ask Stripe for the refund with the row's key. A transient failure leaves it `requested`, and a worker
    sends it again with the same key until Stripe answers (`retry_in_worker`; the worker's own job passes False,
    RQ retries it). The metadata lets Stripe's refund events find this row before its answer is stored."""
    try:
        result = gateway.refund(order.payment_intent_id, amount=refund.amount,
                                idempotency_key=refund.idempotency_key,
                                metadata={"order_id": order.public_id, "refund_number": str(refund.number)})
    except PaymentError as error:
        refund.last_error = f"{error.kind}: {error.code or error.user_message}"[:2000]
        transient = error.kind in ("transient", "unavailable")
        if not transient:
            refund.status = RefundStatus.FAILED.value
        db.session.commit()
        metrics.REFUNDS.labels(error.kind).inc()
        log.warning("refund failed order=%s refund=%s kind=%s", order.public_id, refund.number, error.kind)
        if transient and retry_in_worker:
            enqueue_refund(refund.id)
            raise RefundError(f"Stripe did not answer ({error.user_message}); the refund is sent again "
                              "automatically with the same key until Stripe answers.") from None
        raise RefundError(f"Stripe did not refund: {error.user_message}") from None
    db.session.refresh(refund)  # Stripe's refund events may have got here first (app/events/refunds.py)
    refund.stripe_refund_id = result.get("id")
    answered = STRIPE_STATUS.get(result.get("status"), RefundStatus.PENDING)
    if RefundStatus.RANK[answered] > RefundStatus.RANK[RefundStatus(refund.status)]:
        refund.status = answered.value
    refund.last_error = None
    db.session.commit()
    metrics.REFUNDS.labels(refund.status).inc()
    log.info("refund sent order=%s refund=%s amount=%d status=%s", order.public_id, refund.number, refund.amount,
             refund.status)


def resend(refund_id: int, gateway: Gateway) -> str:
    """The worker's retry of a refund Stripe did not answer (app/tasks.py `send_refund`). Raises while Stripe
    still does not answer, so RQ tries again later."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != RefundStatus.REQUESTED:
        return "done"
    try:
        send(refund, db.session.get(Order, refund.order_id), gateway, retry_in_worker=False)
    except RefundError:
        if refund.status == RefundStatus.REQUESTED:
            raise
    return refund.status


def _by_token(form_token: str) -> Refund | None:
    return db.session.scalars(select(Refund).where(Refund.form_token == form_token)).first()
