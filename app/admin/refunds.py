"""Refunding an order from the admin, through the gateway, with an idempotency key derived from a stored row.

The `Refund` row is written first; its key is `refund-<order>-<n>`. Submitting the same form twice finds the
same row (its form token is unique) and so sends the same key: Stripe answers the first refund again. A refund
whose answer never came stays `requested` and a worker sends it again with its key until Stripe answers (the
relay re-enqueues one whose job was lost). The order itself moves only when Stripe's refund events arrive
(app/events/refunds.py). The shopper is told the refund was sent by whichever of Stripe's answer and its refund
event first says it succeeded, once.

A refund is a typed amount, or chosen by line: a quantity of each order line (up to what was bought and not yet
refunded) and the shipping. The amount of a refund by line is computed here from the order's stored breakdown,
never taken from the form, and its `RefundLine` rows are stored with it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.telemetry import metrics
from app.models import Order, OrderLine, OrderState, Refund, RefundLine, RefundStatus, db
from app.money import minor_unit_exponent
from app.orders.breakdown import tax_shares
from app.payments import Gateway, PaymentError
from app.queues import enqueue_receipts, enqueue_refund, enqueue_tax_reversal

log = logging.getLogger(__name__)
STRIPE_STATUS = {"succeeded": RefundStatus.SUCCEEDED, "pending": RefundStatus.PENDING,
                 "requires_action": RefundStatus.PENDING, "failed": RefundStatus.FAILED,
                 "canceled": RefundStatus.FAILED}


MAX_MINOR = 2**31 - 1  # the amount columns' limit: no order is larger
AMOUNT = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,20}))?")  # ASCII digits only: int() reads other scripts' too
QUANTITY = re.compile(r"[0-9]{1,6}")
SHIPPING = None  # a RefundLine's order line when it gives back the shipping


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


@dataclass(frozen=True)
class RefundablePart:
    """One order line, or the shipping (`line` None), as the refund form offers it."""
    line: OrderLine | None
    name: str
    bought: int
    left: int  # bought and not yet refunded (by refunds that did not fail)
    value: int  # what all of it gives back: its amount less its discount share, plus its tax when exclusive


def refundable_parts(order: Order) -> list[RefundablePart]:
    """The order's lines and its shipping, each with what is left to refund of it."""
    line_tax, shipping_tax = tax_shares(order)
    exclusive = not order.tax_inclusive
    refunded = _refunded_quantities(order)
    parts = [RefundablePart(line, line.name, line.quantity, max(0, line.quantity - refunded.get(line.id, 0)),
                            line.total - (line.discount_amount or 0) + (line_tax[line.id] if exclusive else 0))
             for line in order.lines]
    shipping = (order.shipping_amount or 0) + (shipping_tax if exclusive else 0)
    if shipping:
        parts.append(RefundablePart(None, "Shipping", 1, 0 if refunded.get(SHIPPING) else 1, shipping))
    return parts


def parse_lines(order: Order, form) -> dict[int | None, int]:
    """The refund form's choice: {order line id (None: the shipping): quantity}, from `qty-<line id>` fields and
    a `shipping` box. BadAmount for a quantity that is not a whole number, or for nothing chosen."""
    chosen: dict[int | None, int] = {}
    for line in order.lines:
        text = (form.get(f"qty-{line.id}") or "0").strip()
        if QUANTITY.fullmatch(text) is None:
            raise BadAmount(f"Enter how many of {line.name} to refund as a whole number, e.g. 1.")
        if int(text):
            chosen[line.id] = int(text)
    if form.get("shipping") == "1":
        chosen[SHIPPING] = 1
    if not chosen:
        raise BadAmount("Choose at least one item or the shipping to refund.")
    return chosen


def price_lines(order: Order, chosen: dict[int | None, int]) -> tuple[int, list[RefundLine]]:
    """The amount to refund for these quantities, from the stored breakdown, and the rows recording them. Each
    unit's share is rounded so that refunding every unit of a line, at once or over several refunds, gives back
    its value exactly. BadAmount for more than is left of a line."""
    parts = {part.line.id if part.line else SHIPPING: part for part in refundable_parts(order)}
    total, rows = 0, []
    for key, quantity in chosen.items():
        part = parts.get(key)
        if part is None or not 0 < quantity <= part.left:
            name = part.name if part else "that item"
            raise BadAmount(f"That is more of {name} than is left to refund ({part.left if part else 0}).")
        done = part.bought - part.left
        amount = part.value * (done + quantity) // part.bought - part.value * done // part.bought
        total += amount
        rows.append(RefundLine(order_line_id=key, quantity=quantity, amount=amount))
    if total <= 0:
        raise BadAmount("Those items leave nothing to refund.")
    return total, rows


def request_refund(order: Order, amount: int | None, form_token: str, gateway: Gateway, reason: str = "",
                   lines: dict[int | None, int] | None = None) -> Refund:
    """Store (or find, by its form token) the refund and send it. `amount` in minor units, or `lines` (see
    `parse_lines`), whose amount is computed here."""
    refund = _by_token(form_token)
    if refund is None:
        if order.state not in OrderState.PAID_STATES or not order.payment_intent_id:
            raise RefundError(f"An order that is {order.state} cannot be refunded.")
        rows: list[RefundLine] = []
        if lines is not None:
            amount, rows = price_lines(order, lines)
        if amount is None or not 0 < amount <= refundable(order):
            raise BadAmount("That is more than is left to refund on this order.")
        number = (db.session.scalar(select(func.max(Refund.number)).where(Refund.order_id == order.id)) or 0) + 1
        refund = Refund(order_id=order.id, number=number, amount=amount, currency=order.currency,
                        form_token=form_token, idempotency_key=f"refund-{order.public_id}-{number}",
                        reason=reason[:200], lines=rows)
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
    succeeded_now = False
    if RefundStatus.RANK[answered] > RefundStatus.RANK[RefundStatus(refund.status)]:
        refund.status = answered.value
        succeeded_now = answered == RefundStatus.SUCCEEDED
    refund.last_error = None
    db.session.commit()
    if succeeded_now and not refund.part_of_cancel:  # else Stripe's refund event said so first, and told the
        _tell_the_shopper(order, refund)  # shopper (a cancel's refund is told of by the cancel's own email)
    if refund.status == RefundStatus.SUCCEEDED and order.tax_calculation_id and not refund.tax_reversal_id:
        enqueue_tax_reversal(refund.id)  # its tax is reversed by a job of its own (app/events/tax.py)
    metrics.REFUNDS.labels(refund.status).inc()
    log.info("refund sent order=%s refund=%s amount=%d status=%s", order.public_id, refund.number, refund.amount,
             refund.status)


def _tell_the_shopper(order: Order, refund: Refund) -> None:
    """The shopper's "refund sent" email, written once: the outbox's unique (order, kind) refuses a second, should
    Stripe's refund event have written it meanwhile (app/events/refunds.py)."""
    from app.mail.outbox import refund_notice_for

    if not order.email:
        return
    notice = refund_notice_for(order, refund)
    db.session.add(notice)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return
    if current_app.config["SETTINGS"].mail_url:  # with no mail server it waits in the outbox
        enqueue_receipts([notice.id])


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


def _refunded_quantities(order: Order) -> dict[int | None, int]:
    """How many of each line (None: the shipping) refunds that did not fail gave back."""
    rows = db.session.execute(select(RefundLine.order_line_id, func.sum(RefundLine.quantity))
                              .join(Refund, Refund.id == RefundLine.refund_id)
                              .where(Refund.order_id == order.id, Refund.status != RefundStatus.FAILED)
                              .group_by(RefundLine.order_line_id)).all()
    return {line_id: int(quantity) for line_id, quantity in rows}


def _by_token(form_token: str) -> Refund | None:
    return db.session.scalars(select(Refund).where(Refund.form_token == form_token)).first()
