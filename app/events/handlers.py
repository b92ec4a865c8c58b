"""What each Stripe event type does to the shop's orders: the handlers a worker applies (app/events/apply.py).

Each handler finds the event's order, checks the event is about the order's own PaymentIntent (and, for a
payment, the order's amount and currency), and moves the order through app/orders/state.py's one transition
function. Receipts are written to the outbox in the same transaction. Refunds and disputes have their own modules
(app/events/refunds.py, app/events/disputes.py); app/events/matching.py finds the order and checks the event fits.
"""
from __future__ import annotations

import logging

from app.checkout import discounts
from app.events import disputes, refunds, tax
from app.events.matching import Mismatch, OrderNotKnownYet, OrderNotReadyYet, check_intent, check_money, order_for
from app.mail.outbox import (canceled_notice_for, failed_after_processing_for, notify, processing_notice_for,
                             receipt_for)
from app.models import Order, OrderState, OutboxEmail
from app.orders.state import refuse, transition

__all__ = ["HANDLERS", "WEBHOOK_EVENTS", "Mismatch", "OrderNotKnownYet", "OrderNotReadyYet", "cancel", "fulfil"]

log = logging.getLogger(__name__)


def _order_for(intent: dict) -> Order:
    return order_for(intent.get("id"), intent.get("metadata"))


def on_payment_succeeded(intent: dict, receipts: list[OutboxEmail]) -> str:
    order = _order_for(intent)
    try:
        check_intent(order, intent.get("id"), "payment_intent.succeeded")
        check_money(order, intent.get("amount"), intent.get("currency"), "a payment")
    except Mismatch as mismatch:
        refuse(order, OrderState.PAID, str(mismatch))
        raise
    if order.payment_intent_id is None:
        order.payment_intent_id = intent["id"]
    if isinstance(intent.get("amount_received"), int) and intent["amount_received"] > 0:
        order.amount_captured = intent["amount_received"]  # less than the amount after a partial capture
    if order.state not in OrderState.PAID_STATES:  # paid already: at checkout, or by the capture's own answer
        transition(order, OrderState.PAID, f"payment_intent.succeeded {intent['id']}")
    if order.state == OrderState.PAID:
        fulfil(order, receipts)
        return "fulfilled"
    return "no_change"


def _checked(intent: dict) -> Order:
    """The order, if the event is about its own PaymentIntent with its amount and currency (else Mismatch)."""
    order = _order_for(intent)
    check_intent(order, intent.get("id"), "a payment_intent event")
    check_money(order, intent.get("amount"), intent.get("currency"), "a payment")
    return order


def on_payment_processing(intent: dict, receipts: list[OutboxEmail]) -> str:
    """A payment that settles later (a bank debit): the order waits, holding its stock, and the shopper is told.
    After a success or failure it is a late event and changes nothing (the machine refuses the move)."""
    order = _checked(intent)
    if order.payment_intent_id is None:
        order.payment_intent_id = intent["id"]
    if not transition(order, OrderState.PROCESSING, f"payment_intent.processing {intent['id']}"):
        return "no_change"
    notify(order, processing_notice_for, receipts)
    return "processing"


def on_payment_failed(intent: dict, receipts: list[OutboxEmail]) -> str:
    order = _checked(intent)
    error = intent.get("last_payment_error") or {}
    reason = f"payment_intent.payment_failed {error.get('decline_code') or error.get('code') or ''}".strip()
    was_processing = order.state == OrderState.PROCESSING
    if not transition(order, OrderState.PAYMENT_FAILED, reason):
        return "no_change"
    if was_processing:  # the shopper left the checkout told it was processing: only an email reaches them now
        notify(order, failed_after_processing_for, receipts)
    return "failed"


def on_payment_canceled(intent: dict, receipts: list[OutboxEmail]) -> str:
    order = _checked(intent)
    # an authorisation voided before its own event was applied still held the shopper's money: they are told
    held = intent.get("capture_method") == "manual" and bool(intent.get("latest_charge")) \
        and not intent.get("last_payment_error")
    return "canceled" if cancel(order, "payment_intent.canceled", receipts, held) else "no_change"


def on_authorised(intent: dict, _receipts) -> str:
    """CAPTURE=manual: the bank holds the money (`payment_intent.amount_capturable_updated`). Only an order still
    waiting for its payment moves: a capture or a void that got here first is never undone."""
    order = _checked(intent)
    if order.payment_intent_id is None:
        order.payment_intent_id = intent["id"]
    capturable = intent.get("amount_capturable")
    if not isinstance(capturable, int) or capturable <= 0 or order.state not in WAITING:
        return "no_change"
    return "authorised" if transition(order, OrderState.AUTHORISED, f"authorised {intent['id']}") else "no_change"


WAITING = (OrderState.PENDING, OrderState.PAYMENT_FAILED)
HANDLERS = {
    "payment_intent.processing": on_payment_processing,
    "payment_intent.succeeded": on_payment_succeeded,
    "payment_intent.amount_capturable_updated": on_authorised,
    "payment_intent.payment_failed": on_payment_failed,
    "payment_intent.canceled": on_payment_canceled,
    **refunds.HANDLERS,
    **disputes.HANDLERS,
}
# the webhook endpoint's enabled_events, comma-separated (`shop webhook-events`): Stripe sends nothing else
WEBHOOK_EVENTS = ",".join(sorted(HANDLERS))


def fulfil(order: Order, receipts: list[OutboxEmail]) -> None:
    """Paid -> fulfilled: stock was reserved at checkout; write the receipt to the outbox. The transition is a
    compare-and-set that succeeds once per order, so the receipt is written once (the outbox's unique
    (order, kind) would refuse a second). Its tax is recorded by a job of its own once this commits
    (app/events/tax.py), so Stripe Tax never holds up the fulfilment or the receipt."""
    discounts.redeem(order)
    if transition(order, OrderState.FULFILLED, "fulfilled"):
        notify(order, receipt_for, receipts)
        tax.record_after_commit(order)



def cancel(order: Order, reason: str, receipts: list[OutboxEmail], held: bool = False) -> bool:
    """Move the order to canceled (its stock comes back); a shopper whose money was held or taken is told, once:
    the email is written only by the one caller whose compare-and-set made the move."""
    held = held or order.state in OrderState.SECURED
    if not transition(order, OrderState.CANCELED, reason):
        return False
    if held:
        notify(order, canceled_notice_for, receipts)
    return True
