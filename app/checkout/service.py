"""Checkout use cases: turn the cart into a pending order, then pay it through the gateway, idempotently.

An order is keyed by the browser's checkout attempt id, so reloads, double clicks and two tabs share one
order. The order gets one PaymentIntent (created with a key derived from the order), and each confirmation
token sent for it is a `PaymentAttempt` whose row gives the confirm's idempotency key: a retried or repeated
submit replays at Stripe, and a PaymentIntent can succeed only once, so nobody is charged twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import metrics
from ..models import Order, OrderLine, OrderState, PaymentAttempt, db
from ..order_state import OutOfStock, reserve_stock, transition
from ..payments import Gateway, PaymentError

log = logging.getLogger(__name__)
FINAL_STATES = {OrderState.PAID.value, OrderState.FULFILLED.value}


class CheckoutError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Answer:
    body: dict
    status: int = 200


def place_order(attempt_id: str, cart_lines, currency: str, email: str) -> Order:
    """The pending order for this attempt: the existing one, or a new one with its stock reserved."""
    order = find_order(attempt_id)
    if order is not None:
        return order
    if not cart_lines:
        raise CheckoutError("Your cart is empty.", 400)
    if any(line.product.currency != currency for line in cart_lines):
        raise CheckoutError("Your cart mixes currencies; please check out one currency at a time.", 400)
    order = Order(attempt_id=attempt_id, currency=currency, email=email,
                  amount=sum(line.total for line in cart_lines),
                  lines=[OrderLine(product_id=line.product.id, name=line.product.name,
                                   unit_price=line.product.price, quantity=line.quantity) for line in cart_lines])
    db.session.add(order)
    try:
        db.session.flush()
        reserve_stock(order)
        db.session.commit()
    except OutOfStock as error:
        db.session.rollback()
        raise CheckoutError(f"Sorry, {error.product_id} just sold out. Your cart is saved; please update it.",
                            409) from None
    except IntegrityError:  # the same attempt placed concurrently: use the winner's order
        db.session.rollback()
        order = find_order(attempt_id)
        if order is None:
            raise
    return order


def find_order(attempt_id: str) -> Order | None:
    return db.session.scalars(select(Order).where(Order.attempt_id == attempt_id)).first()


def known_answer(order: Order, confirmation_token: str, order_url: str) -> Answer | None:
    """The answer this submit already has, from the shop's database alone: a paid order, or the stored outcome
    of this confirmation token. Such a submit never needs Stripe, even while payments are unavailable."""
    if order.state in FINAL_STATES:
        return _paid(order_url)
    attempt = _find_attempt(order, _fingerprint(confirmation_token))
    return _replay(attempt) if attempt is not None and attempt.outcome else None


def pay(order: Order, confirmation_token: str, gateway: Gateway, order_url: str) -> Answer:
    """Confirm the order's payment with this confirmation token; the same token always gets the same answer."""
    if order.state in FINAL_STATES:
        return _paid(order_url)
    if order.state not in (OrderState.PENDING.value, OrderState.PAYMENT_FAILED.value):
        raise CheckoutError("This order is closed. Please start a new checkout.", 409)
    attempt = _attempt_for(order, confirmation_token)
    if attempt.outcome:
        return _replay(attempt)

    try:
        if not order.payment_intent_id:
            _create_intent(order, gateway)
        intent = gateway.confirm(order.payment_intent_id, confirmation_token=confirmation_token,
                                 idempotency_key=attempt.idempotency_key, return_url=order_url)
    except PaymentError as error:
        already = error.payment_intent or {}
        if error.code == "payment_intent_unexpected_state" and already.get("status") in ("succeeded", "processing"):
            return _confirmed(order, attempt, already, order_url)  # another tab or click paid it first
        return _failed(order, attempt, error, order_url)
    return _confirmed(order, attempt, intent, order_url)


def _create_intent(order: Order, gateway: Gateway) -> None:
    """One PaymentIntent per order, whatever the attempts: its key is derived from the order alone, so a
    create that timed out is replayed by Stripe rather than repeated (no second intent, no second charge)."""
    intent = gateway.create_payment_intent(amount=order.amount, currency=order.currency,
                                           metadata={"order_id": order.public_id},
                                           idempotency_key=f"order-{order.public_id}-intent")
    order.payment_intent_id = intent["id"]
    db.session.commit()


def _paid(order_url: str) -> Answer:
    return Answer({"status": "succeeded", "order_url": order_url})


def _replay(attempt: PaymentAttempt) -> Answer:
    metrics.IDEMPOTENT_REPLAYS.inc()
    return Answer(json.loads(attempt.outcome), attempt.http_status or 200)


def _fingerprint(confirmation_token: str) -> str:
    return hashlib.sha256(confirmation_token.encode()).hexdigest()


def _find_attempt(order: Order, fingerprint: str) -> PaymentAttempt | None:
    return db.session.scalars(select(PaymentAttempt).where(
        PaymentAttempt.order_id == order.id, PaymentAttempt.fingerprint == fingerprint)).first()


def _attempt_for(order: Order, confirmation_token: str) -> PaymentAttempt:
    fingerprint = _fingerprint(confirmation_token)
    for _ in range(3):
        attempt = _find_attempt(order, fingerprint)
        if attempt is not None:
            return attempt
        try:
            if order.state == OrderState.PAYMENT_FAILED.value:
                transition(order, OrderState.PENDING, "another payment attempt")
            number = (db.session.scalar(select(func.max(PaymentAttempt.number))
                                        .where(PaymentAttempt.order_id == order.id)) or 0) + 1
            attempt = PaymentAttempt(order_id=order.id, number=number, fingerprint=fingerprint,
                                     idempotency_key=f"checkout-{order.public_id}-{number}")
            db.session.add(attempt)
            db.session.commit()
            return attempt
        except OutOfStock as error:
            db.session.rollback()
            raise CheckoutError(f"Sorry, {error.product_id} just sold out.", 409) from None
        except IntegrityError:  # a concurrent submit took this number: look again
            db.session.rollback()
            db.session.refresh(order)
    raise CheckoutError("Another payment for this order is in progress.", 409)


def _confirmed(order: Order, attempt: PaymentAttempt, intent: dict, order_url: str) -> Answer:
    db.session.refresh(order)
    order.payment_intent_id = order.payment_intent_id or intent["id"]
    status = intent.get("status")
    body: dict = {"status": status, "order_url": order_url}
    if status == "succeeded":
        transition(order, OrderState.PAID, f"confirmed at checkout {intent['id']}")
    elif status == "requires_action":
        body["client_secret"] = intent["client_secret"]
    elif status != "processing":
        body = {"status": "failed", "error": "Your payment could not be completed. Please try another card."}
    return _finish(attempt, body, 200 if body["status"] != "failed" else 402)


def _failed(order: Order, attempt: PaymentAttempt, error: PaymentError, order_url: str) -> Answer:
    db.session.refresh(order)
    intent_id = (error.payment_intent or {}).get("id")
    if intent_id and not order.payment_intent_id:
        order.payment_intent_id = intent_id
    body = {"status": "failed" if error.kind == "card" else "error", "error": error.user_message,
            "retryable": error.kind in ("transient", "unavailable")}
    if error.kind == "card":
        body["decline_code"] = error.decline_code
        transition(order, OrderState.PAYMENT_FAILED, f"declined at checkout: {error.decline_code or error.code}")
        return _finish(attempt, body, 402)
    db.session.commit()
    if error.kind in ("transient", "unavailable"):
        return Answer(body, 503)  # not stored: a retry of this attempt reuses its idempotency key
    return _finish(attempt, body, 502)


def _finish(attempt: PaymentAttempt, body: dict, status: int) -> Answer:
    attempt.status = body["status"]
    attempt.http_status = status
    if body["status"] != "requires_action":  # that answer carries a client secret: Stripe replays it instead
        attempt.outcome = json.dumps(body)
    db.session.commit()
    return Answer(body, status)
