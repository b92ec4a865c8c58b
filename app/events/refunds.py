"""Refunds as Stripe reports them: `refund.created`, `refund.updated`, `refund.failed` and `charge.refunded`.

Each refund Stripe reports is one `Refund` row (the admin's own row when the refund's metadata names it, else a new
row for a refund made elsewhere, e.g. in Stripe's Dashboard). A row's status only moves up (requested, pending,
succeeded, failed), so duplicated and shuffled events end the same. The order's refunded amount is the sum of its
refunds that are pending or succeeded: a failed refund gives its amount back, and an order refunded in full whose
refund then fails is fulfilled again. The shopper is told once per refund that it was sent (a cancel's refund by
the cancel's own email), and once more if it fails after that (the money came back to the shop, which refunds the
shopper another way). A refund that succeeded has its tax reversed by a job of its own once this commits
(app/events/tax.py).
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select

from app.events import tax
from app.events.matching import Mismatch, OrderNotReadyYet, check_intent, check_money, order_for
from app.models import Order, OrderState, OutboxEmail, Refund, RefundStatus, db
from app.orders.state import transition

__all__ = ["HANDLERS"]

log = logging.getLogger(__name__)
STRIPE_STATUS = {"succeeded": RefundStatus.SUCCEEDED, "pending": RefundStatus.PENDING,
                 "requires_action": RefundStatus.PENDING, "failed": RefundStatus.FAILED,
                 "canceled": RefundStatus.FAILED}


def on_refund(refund: dict, receipts: list[OutboxEmail]) -> str:
    order = _paid_order(refund.get("payment_intent"), refund.get("metadata"), "a refund")
    check_money(order, refund.get("amount"), refund.get("currency"), "a refund", exact=False)
    row = _record(order, refund, receipts)
    _settle(order, f"{row.stripe_refund_id} {row.status}")
    return f"refund_{row.status}"


def on_charge_refunded(charge: dict, receipts: list[OutboxEmail]) -> str:
    if charge.get("captured") is False:  # a voided authorisation: released, never taken, so nothing to refund
        return "authorisation_released"
    order = _paid_order(charge.get("payment_intent"), charge.get("metadata"), "charge.refunded")
    check_money(order, charge.get("amount_refunded"), charge.get("currency") or order.currency, "a refunded charge",
                exact=False)
    listed = (charge.get("refunds") or {}).get("data") or []
    for refund in listed:  # every one checked before any is recorded: a mismatch applies nothing
        check_intent(order, refund.get("payment_intent"), "a refund")
        check_money(order, refund.get("amount"), refund.get("currency"), "a refund", exact=False)
        _stored(order, str(refund.get("id") or ""))
    for refund in listed:
        _record(order, refund, receipts)
    floor = 0 if listed else int(charge.get("amount_refunded") or 0) - _total(order, {RefundStatus.FAILED})
    _settle(order, f"charge.refunded {charge.get('id')}", floor)
    return "refunded" if order.state == OrderState.REFUNDED else "partially_refunded"


def _paid_order(intent_id, metadata, what: str) -> Order:
    order = order_for(intent_id, metadata)
    check_intent(order, intent_id, what)
    if order.state in (OrderState.PENDING, OrderState.PROCESSING, OrderState.PAYMENT_FAILED, OrderState.AUTHORISED):
        raise OrderNotReadyYet(f"order {order.public_id} is {order.state}: its payment event comes first")
    return order


def _record(order: Order, refund: dict, receipts: list[OutboxEmail]) -> Refund:
    """The refund's row, created or moved up to the status Stripe reports (never down)."""
    row = _row_for(order, refund)
    new = STRIPE_STATUS.get(refund.get("status"), RefundStatus.PENDING)
    old = RefundStatus(row.status)
    if RefundStatus.RANK[new] > RefundStatus.RANK[old]:
        row.status = new.value
        if new == RefundStatus.FAILED:
            row.failure_reason = str(refund.get("failure_reason") or "unknown")[:100]
            log.warning("refund failed order=%s refund=%s reason=%s", order.public_id, row.stripe_refund_id,
                        row.failure_reason)
        # told that it was sent (a cancel's refund by the cancel's own email), and told again if it fails after
        # that (never told of one that failed first)
        from app.mail.outbox import refund_failed_notice_for, refund_notice_for

        notice_for = (refund_notice_for if new == RefundStatus.SUCCEEDED and not row.part_of_cancel else
                      refund_failed_notice_for if old == RefundStatus.SUCCEEDED else None)
        if order.email and notice_for is not None:
            receipts.append(notice_for(order, row))
            db.session.add(receipts[-1])
    if row.status == RefundStatus.SUCCEEDED:  # also when the admin's send stored Stripe's answer first
        tax.reverse_after_commit(row, order)
    return row


def _row_for(order: Order, refund: dict) -> Refund:
    stripe_id = str(refund.get("id") or "")
    row = _stored(order, stripe_id)
    number = (refund.get("metadata") or {}).get("refund_number")
    if row is None and str(number or "").isdigit():  # the admin's refund, its answer not stored yet
        row = db.session.scalars(select(Refund).where(Refund.order_id == order.id, Refund.number == int(number),
                                                      Refund.stripe_refund_id.is_(None))).first()
    if row is None:  # made outside the shop (Stripe's Dashboard)
        last = db.session.scalar(select(func.max(Refund.number)).where(Refund.order_id == order.id)) or 0
        row = Refund(order_id=order.id, number=last + 1, amount=int(refund.get("amount") or 0),
                     currency=order.currency, form_token=f"stripe-{stripe_id}"[:64],
                     idempotency_key=f"stripe-{stripe_id}", status=RefundStatus.REQUESTED.value,
                     reason=str(refund.get("reason") or "")[:200])
        db.session.add(row)
        db.session.flush()  # its number is taken before the next new refund of this event counts them
    row.stripe_refund_id = stripe_id
    return row


def _stored(order: Order, stripe_id: str) -> Refund | None:
    """The row already holding this Stripe refund, if any; Mismatch if it is another order's."""
    row = db.session.scalars(select(Refund).where(Refund.stripe_refund_id == stripe_id)).first()
    if row is not None and row.order_id != order.id:
        raise Mismatch("intent_mismatch", f"refund {stripe_id} belongs to another order")
    return row


def _total(order: Order, statuses) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.order_id == order.id, Refund.stripe_refund_id.is_not(None),
        Refund.status.in_([status.value for status in statuses])))


def _settle(order: Order, reason: str, floor: int = 0) -> None:
    """The order's refunded amount from its refunds; refunded in full, or fulfilled again when a refund failed."""
    db.session.flush()  # the refunds' new statuses (events are applied with autoflush off)
    order.amount_refunded = max(_total(order, RefundStatus.COUNTED), floor)
    if order.state == OrderState.CANCELED:  # canceled before dispatch: its refund is part of the cancel
        return
    if order.amount_refunded >= (order.amount_captured or order.amount):
        transition(order, OrderState.REFUNDED, reason)
    elif order.state == OrderState.REFUNDED:
        transition(order, OrderState.FULFILLED, f"refund given back: {reason}")


HANDLERS = {
    "refund.created": on_refund,
    "refund.updated": on_refund,
    "refund.failed": on_refund,
    "charge.refunded": on_charge_refunded,
}
