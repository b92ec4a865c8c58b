"""Canceling an order from the admin before it is dispatched: its stock comes back, its payment is voided (an
authorisation) or refunded in full (a payment taken), and the shopper is emailed, each once.

Each part is keyed by a stored row: the void is the order's one `Settlement` (app/admin/capture.py), the refund is
the `Refund` whose form token is `cancel-<order>` (app/admin/refunds.py), the move to canceled is a compare-and-set
(app/orders/state.py), and the email is written only by the caller that made that move (app/events/handlers.py
`cancel`). A second click, a concurrent one, or a Stripe event saying the same thing finds the work done.
"""
from __future__ import annotations

from sqlalchemy import select

from app.admin.capture import CaptureError, settle
from app.admin.refunds import RefundError, refundable, request_refund
from app.events.handlers import cancel
from app.models import Order, OrderState, OutboxEmail, Refund, RefundStatus, db
from app.payments import Gateway, PaymentError
from app.queues import enqueue_receipts

__all__ = ["CancelError", "cancel_order"]


class CancelError(Exception):
    pass


def cancel_order(order: Order, gateway: Gateway, reason: str = "") -> str:
    """Cancel `order`; returns what was done. Raises CancelError when it cannot be (dispatched, or Stripe refused)."""
    state = OrderState(order.state)
    why = f"canceled from the admin{': ' + reason if reason else ''}"
    if state == OrderState.CANCELED:
        return "already canceled"
    if state == OrderState.DISPATCHED:
        raise CancelError("This order has been dispatched: refund it instead.")
    if state == OrderState.REFUNDED:
        raise CancelError("This order is refunded already.")
    if state == OrderState.AUTHORISED:
        try:
            settle(order, "void", gateway)  # the void's own answer cancels the order
        except CaptureError as error:
            raise CancelError(str(error)) from None
        return "authorisation voided"
    done = "canceled"
    if state in OrderState.PAID_STATES:
        token = Refund.cancel_token(order.public_id)
        try:
            refund = _by_token(token) or request_refund(order, refundable(order), token, gateway, why)
        except RefundError as error:
            refund = _by_token(token)
            if refund is None or refund.status == RefundStatus.FAILED:
                raise CancelError(str(error)) from None
        done = f"canceled, refund {refund.number} {refund.status}"
    elif order.payment_intent_id:  # unpaid: Stripe must agree no payment can still go through
        try:
            gateway.cancel_payment_intent(order.payment_intent_id, idempotency_key=f"expire-{order.public_id}")
        except PaymentError as error:
            if (error.payment_intent or {}).get("status") != "canceled":
                raise CancelError(f"Stripe did not cancel the payment: {error.user_message}") from None
    db.session.refresh(order)
    receipts: list[OutboxEmail] = []
    cancel(order, why, receipts)
    db.session.commit()
    enqueue_receipts([outbox.id for outbox in receipts])
    return done


def _by_token(token: str) -> Refund | None:
    return db.session.scalars(select(Refund).where(Refund.form_token == token)).first()
