"""Checkout use cases: turn the cart into a pending order, then pay it through the gateway, idempotently.

An order is keyed by the browser's checkout attempt id, so reloads, double clicks and two tabs share one
order. The order gets one PaymentIntent (created with a key derived from the order), and each confirmation
token sent for it is a `PaymentAttempt` whose row gives the confirm's idempotency key: a retried or repeated
submit replays at Stripe, and a PaymentIntent can succeed only once, so nobody is charged twice.

A confirm that got no answer (a timeout, a 5xx) may still have been carried out by Stripe. Its attempt is
marked `unknown`, the shopper is told so, and `find_outcome` (a worker job) asks Stripe until it knows.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.checkout import discounts, pricing, quotes
from app.db import commit_keeping_loaded, release_connection
from app.telemetry import metrics
from app.models import AttemptStatus, Order, OrderLine, OrderState, PaymentAttempt, Product, db, utcnow
from app.money import format_money
from app.orders import holds
from app.orders.state import OutOfStock, reserve_stock, transition
from app.payments import Gateway, PaymentError, decline_message
from app.mail.outbox import notify, processing_notice_for
from app.queues import enqueue_outcome_check, enqueue_receipts
from app.settings import Settings

log = logging.getLogger(__name__)
TOO_MANY_HOLDS = ("You have other unpaid orders holding our stock. Please finish paying for them, or wait "
                  "{minutes} minutes, then try again. Nothing was charged, and your cart is saved.")
UNKNOWN_MESSAGE = ("We're confirming your payment with your bank. Please don't pay again: your order page "
                   "updates by itself, and your receipt is emailed as soon as the payment is confirmed.")


class CheckoutError(Exception):
    """A refusal the shopper can act on. `next_step` names where to go: "cart" or "checkout"."""

    def __init__(self, message: str, status: int = 400, next_step: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.next_step = next_step
        self.summary: dict | None = None  # the breakdown as it is now, when the refusal is about the total


ADDRESS_DIFFERS = ("The delivery address sent with your payment isn't the one your total was worked out for. Nothing "
                   "was charged: please check your address, then pay again.")
DETAILS_CHANGED = ("Your delivery details changed since this order was started. Nothing was charged: please review "
                   "your order, then pay again.")
ANOTHER_PAYMENT = ("Another payment for this order is under way. Please wait for it on your order page before "
                   "paying again.")
TOKEN_UNUSABLE = "Your payment details could not be read. Nothing was charged: please enter them again."


class OutcomeNotKnownYet(Exception):
    """Stripe has not finished a confirm whose outcome the shop does not know yet: ask again later."""


@dataclass
class Answer:
    body: dict
    status: int = 200
TAKEN = ("succeeded", "processing", "requires_capture")  # Stripe has the payment: the order page follows it


def place_order(attempt_id: str, cart_lines, quote: quotes.Quote, email: str, settings: Settings,
                holder: holds.Holder) -> Order:
    """The pending order for this attempt: the existing one, or a new one priced by `quote`, with its stock and its
    discount code's use held (within the holder's caps: CheckoutError 429 past them)."""
    order = find_order(attempt_id)
    if order is not None:
        return order
    if not cart_lines:
        raise CheckoutError("Your cart is empty.", 400)
    if any(line.product.currency != quote.currency for line in cart_lines):
        raise CheckoutError("Your cart mixes currencies; please check out one currency at a time.", 400)
    try:
        holds.check_caps(settings, holder, sum(line.quantity for line in cart_lines))
    except holds.TooManyHolds:
        raise too_many_holds(settings) from None
    priced, shipping = quote.priced, quote.shipping
    order = Order(attempt_id=attempt_id, currency=quote.currency, email=email, cart_id=holder.cart_id,
                  client_address=holder.address, amount=quote.total, subtotal=priced.subtotal,
                  discount_code=priced.code, discount_amount=priced.discount, shipping_method=priced.shipping.method,
                  shipping_amount=priced.shipping.amount, tax_amount=quote.tax, tax_inclusive=quote.tax_inclusive,
                  tax_calculation_id=quote.calculation_id, shipping_name=shipping.name,
                  shipping_address=json.dumps(shipping.address, sort_keys=True), shipping_phone=shipping.phone or None,
                  lines=[OrderLine(product_id=line.item.product_id, name=line.item.name,
                                   unit_price=line.item.unit_price, quantity=line.item.quantity,
                                   discount_amount=line.discount, tax_amount=tax)
                         for line, tax in zip(priced.items, quote.line_tax)])
    db.session.add(order)
    try:
        db.session.flush()
        reserve_stock(order)
        if priced.code:
            discounts.hold(order, priced.code)
        commit_keeping_loaded()  # just written: nothing else knows this order yet
    except OutOfStock as error:
        db.session.rollback()
        raise _sold_out(error, cart_lines) from None
    except discounts.CodeRefused as error:
        db.session.rollback()
        raise CheckoutError(f"{error.message} Nothing was charged: please review your order, then pay again.", 409,
                            next_step="checkout") from None
    except IntegrityError:  # the same attempt placed concurrently: use the winner's order
        db.session.rollback()
        order = find_order(attempt_id)
        if order is None:
            raise
    return order


def items_of(lines) -> list[pricing.Item]:
    """What is bought, for pricing: from the cart's lines or an order's."""
    return [pricing.Item(product_id=_product_id(line), name=line.product.name if hasattr(line, "product")
                         else line.name, unit_price=_unit_price(line), quantity=line.quantity) for line in lines]


def hold_again(order: Order, settings: Settings, holder: holds.Holder) -> None:
    """Before paying an order again whose stock was given back: take it again, within the caps."""
    try:
        holds.hold_again(order, settings, holder)
    except holds.TooManyHolds:
        raise too_many_holds(settings) from None
    except OutOfStock as error:
        raise _sold_out(error, order.lines) from None
    except discounts.CodeRefused as error:
        raise CheckoutError(f"{error.message} Nothing was charged: please review your order, then pay again.", 409,
                            next_step="checkout") from None


def too_many_holds(settings: Settings) -> CheckoutError:
    minutes = max(1, round(settings.stock_hold_seconds / 60))
    return CheckoutError(TOO_MANY_HOLDS.format(minutes=minutes), 429, next_step="cart")


def _sold_out(error: OutOfStock, lines) -> CheckoutError:
    product = db.session.get(Product, error.product_id)
    wanted = sum(line.quantity for line in lines if _product_id(line) == error.product_id)
    name = product.name if product else "An item in your cart"
    if product is None or product.stock <= 0:
        text = f"Sorry, {name} just sold out."
    else:
        text = f"Sorry, only {product.stock} {name} left, and your cart asks for {wanted}."
    return CheckoutError(f"{text} Nothing was charged. Your cart is saved: please change it, then pay again.",
                         409, next_step="cart")


def check_quote(shown: dict | None, current: quotes.Quote) -> None:
    """Refuse when what would be charged differs from what the page showed, saying what changed."""
    if shown is None:
        return
    now = {line.item.product_id: line.item for line in current.priced.items}
    was = {product_id: (quantity, price) for product_id, quantity, price in shown.get("items", [])}
    if shown.get("total") == current.total and was == {k: (i.quantity, i.unit_price) for k, i in now.items()}:
        return
    currency = current.currency
    changes = []
    for product_id, (quantity, price) in was.items():
        item = now.get(product_id)
        product = db.session.get(Product, product_id)
        name = product.name if product else "An item you chose"
        if item is None:
            changes.append(f"{name} is no longer available.")
        elif item.unit_price != price:
            changes.append(f"The price of {name} changed from {format_money(price, currency)} to "
                           f"{format_money(item.unit_price, currency)}.")
        elif item.quantity != quantity:
            changes.append(f"You now have {item.quantity} {name} in your cart, not {quantity}.")
    if any(product_id not in was for product_id in now):
        changes.append("Your cart has items this page didn't show.")
    if not changes and isinstance(shown.get("total"), int):
        changes.append(f"Your total changed from {format_money(shown['total'], currency)}.")
    summary = " ".join(changes) or "Your order changed since this page was loaded."
    raise CheckoutError(f"{summary} The total is now {format_money(current.total, currency)}. Nothing was charged: "
                        "please review your order, then pay again.", 409, next_step="checkout")


def _product_id(line) -> str:
    return line.product.id if hasattr(line, "product") else line.product_id


def _unit_price(line) -> int:
    return line.product.price if hasattr(line, "product") else line.unit_price


def token_shipping(confirmation_token: str, gateway: Gateway, settings: Settings) -> quotes.Shipping:
    """The delivery address the shopper entered in the Address Element, as the ConfirmationToken carries it: the
    shop charges for delivery there and nowhere else. A PaymentError other than a refusal passes up (503). Called
    before the confirm writes anything: its connection goes back to the pool while Stripe answers."""
    release_connection()
    try:
        token = gateway.retrieve_confirmation_token(confirmation_token)
    except PaymentError as error:
        if error.kind != "programming":  # Stripe unreachable, or the shop's own keys wrong: not the shopper's doing
            raise
        raise CheckoutError(TOKEN_UNUSABLE, 400, next_step="checkout") from None  # no such token (made up, expired)
    try:
        return quotes.shipping_from(token.get("shipping"), settings)
    except quotes.AddressRefused as error:
        raise CheckoutError(f"{error} Nothing was charged.", 400, next_step="checkout") from None


def current_quote(lines, shipping: quotes.Shipping, shown: dict | None, settings: Settings,
                  gateway: Gateway) -> quotes.Quote:
    """What the confirm charges: priced again from the cart, the token's address and the shipping method and code
    the page's quote names; its tax calculation is reused only while current and made for exactly these inputs.
    Called before the confirm writes anything: a new calculation is asked with no database connection held."""
    if shown is not None and shown.get("address") != shipping.fingerprint:
        raise CheckoutError(ADDRESS_DIFFERS, 409, next_step="checkout")
    method = shown.get("method") if shown else "standard"
    code = shown.get("code") if shown else ""
    items = items_of(lines)
    offer = None
    if code:
        try:
            offer = discounts.offer_for(code, sum(item.unit_price * item.quantity for item in items),
                                        settings.currency)
        except discounts.CodeRefused as error:
            raise CheckoutError(f"{error.message} Nothing was charged: please review your order, then pay again.",
                                409, next_step="checkout") from None
    try:
        return quotes.make(items, shipping=shipping, method=method, offer=offer, settings=settings,
                           gateway=gateway, reuse=shown, before_calculation=release_connection)
    except quotes.AddressRefused as error:
        raise CheckoutError(f"{error} Nothing was charged.", 400, next_step="checkout") from None
    except quotes.TaxUnavailable:
        raise CheckoutError(quotes.TAX_UNAVAILABLE, 503) from None


def same_details(order: Order, shipping: quotes.Shipping, shown: dict | None) -> bool:
    """Whether a new confirm for an existing order is for the order as it was placed: its delivery address and,
    when the page sent its quote, its total."""
    if order.shipping_address is None:  # placed before addresses were asked for
        return True
    placed = quotes.Shipping(order.shipping_name or "", json.loads(order.shipping_address))
    return placed.fingerprint == shipping.fingerprint and (shown is None or shown.get("total") == order.amount)


def find_order(attempt_id: str) -> Order | None:
    return db.session.scalars(select(Order).where(Order.attempt_id == attempt_id)).first()


def known_answer(order: Order, confirmation_token: str, order_url: str) -> Answer | None:
    """The answer this submit already has, from the shop's database alone: a paid order, or the stored outcome
    of this confirmation token. Such a submit never needs Stripe, even while payments are unavailable."""
    if (settled := _settled(order, order_url)) is not None:
        return settled
    attempt = _find_attempt(order, _fingerprint(confirmation_token))
    return _replay(attempt) if attempt is not None and attempt.outcome else None


def pay(order: Order, confirmation_token: str, gateway: Gateway, order_url: str) -> Answer:
    """Confirm the order's payment with this confirmation token; the same token always gets the same answer."""
    if (settled := _settled(order, order_url)) is not None:
        return settled
    if order.state not in (OrderState.PENDING, OrderState.PAYMENT_FAILED):
        raise CheckoutError("This order is closed. Please start a new checkout.", 409)
    attempt = _attempt_for(order, confirmation_token)
    if attempt.outcome:
        return _replay(attempt)

    try:
        if order.payment_intent_id:  # an earlier attempt made it (declined, or left at 3-D Secure): pay it now
            intent_id, key = order.payment_intent_id, attempt.idempotency_key
            db.session.commit()  # no connection is held while Stripe answers
            intent = gateway.confirm(intent_id, confirmation_token=confirmation_token, idempotency_key=key,
                                     return_url=order_url)
        else:
            intent = _create_and_confirm(order, attempt, confirmation_token, gateway, order_url)
            if intent is None:  # settled meanwhile
                return _settled(order, order_url)
    except PaymentError as error:
        already = error.payment_intent or {}
        if error.code == "payment_intent_unexpected_state" and already.get("status") in TAKEN:
            return _confirmed(order, attempt, already, order_url)  # another tab or click paid it first
        if error.kind == "transient" and error.maybe_executed:
            return _unknown(order, attempt, order_url)
        return _failed(order, attempt, error, order_url, gateway)
    return _confirmed(order, attempt, intent, order_url)


def find_outcome(attempt_id: int, gateway: Gateway, window: float) -> str:
    """Find out what became of a confirm whose answer the shop never got, or of a 3-D Secure check the shopper
    may have finished: ask Stripe for the PaymentIntent (or, when its id never came back, send the attempt's
    stored create-and-confirm again under its key) and apply what it says. Raises OutcomeNotKnownYet while the
    confirm may still be running at Stripe (for up to `window` seconds after it was sent)."""
    attempt = db.session.get(PaymentAttempt, attempt_id)
    if attempt is None or attempt.status not in AttemptStatus.UNSETTLED:
        return "settled"
    order = attempt.order
    if order.state != OrderState.PENDING:
        return f"order_{order.state}"
    if order.payment_intent_id:
        intent = gateway.retrieve_payment_intent(order.payment_intent_id, expand=("payment_method",))  # may
        # raise: a PaymentError makes RQ retry the job
    elif attempt.request:
        try:
            # the stored create-and-confirm, sent again under its key: Stripe answers with what it did, or
            # carries out now one it never received
            intent = gateway.send_payment_intent(json.loads(attempt.request),
                                                 idempotency_key=attempt.idempotency_key)
        except PaymentError as error:
            if error.kind in ("transient", "unavailable"):
                raise  # RQ retries the job
            _failed(order, attempt, error, "", gateway)
            log.info("payment outcome found attempt=%s order=%s refused=%s", attempt_id, order.public_id, error.code)
            return attempt.status
        order.payment_intent_id, attempt.request = intent["id"], None  # known now: later attempts confirm it
        db.session.commit()
    else:
        return "no_intent"
    status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    earlier_failure = any(other.status == "failed" for other in order.attempts if other.number < attempt.number)
    if status in ("succeeded", "processing", "requires_capture"):  # processing: a bank debit waits for the bank
        _confirmed(order, attempt, intent, "")
    elif status == "requires_action":
        attempt.status = AttemptStatus.NEEDS_BANK_CHECK
        db.session.commit()
    elif status == "requires_payment_method" and error and not earlier_failure:
        body = {"status": "failed", "error": decline_message(error.get("decline_code") or error.get("code"))}
        transition(order, OrderState.PAYMENT_FAILED, f"declined, found after the fact: {error.get('code')}")
        _finish(attempt, body, 402)
    elif status == "canceled":
        transition(order, OrderState.CANCELED, "payment_intent canceled")
        attempt.status = AttemptStatus.CANCELED
        db.session.commit()
    elif utcnow() - attempt.created_at > timedelta(seconds=window):
        attempt.status = AttemptStatus.NOT_EXECUTED  # Stripe would have finished it by now: it never ran
        db.session.commit()
        holds.release(order, "not_executed", gateway.settings.checkout_deadline)
    else:
        raise OutcomeNotKnownYet(f"attempt {attempt_id}: payment_intent is {status}")
    log.info("payment outcome found attempt=%s order=%s intent_status=%s", attempt_id, order.public_id, status)
    return attempt.status


def still_sending(attempt: PaymentAttempt, deadline: float) -> bool:
    """A confirm a request is still sending (within its deadline, with room to spare for a busy machine)."""
    return (attempt.status == AttemptStatus.SENDING
            and utcnow() - attempt.created_at < timedelta(seconds=2 * deadline))


def latest_attempt(order: Order) -> PaymentAttempt | None:
    return order.attempts[-1] if order.attempts else None


def waiting_for_bank(order: Order, gateway: Gateway) -> dict | None:
    """A checkout reloaded while its order's last attempt waited for 3-D Secure: the PaymentIntent as Stripe has
    it now, applied to the order (a success marks it paid; a failed check is a decline). None when no attempt
    waits for the bank. Raises PaymentError when Stripe can't be asked."""
    attempt = latest_attempt(order)
    if attempt is None or attempt.status not in AttemptStatus.AWAITING_BANK or not order.payment_intent_id:
        return None
    intent = gateway.retrieve_payment_intent(order.payment_intent_id, expand=("payment_method",))
    if intent.get("status") in TAKEN:
        _confirmed(order, attempt, intent, "")
    elif intent.get("status") == "requires_payment_method":
        attempt.status = AttemptStatus.FAILED
        db.session.commit()
        holds.release(order, "bank_check_failed", gateway.settings.checkout_deadline)
    return intent


def _create_and_confirm(order: Order, attempt: PaymentAttempt, confirmation_token: str, gateway: Gateway,
                        order_url: str) -> dict | None:
    """The happy path's one Stripe round trip: create the order's PaymentIntent and confirm it in the same call
    (`confirm=true` with the ConfirmationToken), under the attempt's key. Its parameters are stored first, so an
    answer lost on the way is found by sending them again (`find_outcome`). Only one attempt may be creating: a
    second intent for the order could be a second charge, so while another attempt's create may still be running
    or its answer is unknown, this one is refused (CheckoutError 409) and that one is followed to its end.
    None when the order turns out paid (or its bank debit under way) meanwhile: nothing is sent."""
    sent_before = attempt.request is not None  # this attempt's answer was lost (the shop could not record it)
    metadata = {"order_id": order.public_id}
    if order.tax_calculation_id:  # Stripe Tax's calculation this amount was worked out with
        metadata["tax_calculation"] = order.tax_calculation_id
    shipping = None
    if order.shipping_address:  # the address the order was priced for; it takes precedence over the token's
        shipping = quotes.Shipping(order.shipping_name or "", json.loads(order.shipping_address),
                                   order.shipping_phone or "").for_stripe()
    params = gateway.payment_intent_params(amount=order.amount, currency=order.currency, metadata=metadata,
                                           capture_method=gateway.settings.capture, shipping=shipping)
    # the payment method comes back whole: its brand and last four are what the receipt shows
    params.update(confirm=True, confirmation_token=confirmation_token, return_url=order_url,
                  expand=["payment_method"])
    attempt.request = json.dumps(params)
    key = attempt.idempotency_key
    commit_keeping_loaded()  # written before looking for other creates: of two racing attempts, the later sees
    # the earlier (both may refuse; never both send). The order is refreshed just below.
    creating = db.session.scalars(select(PaymentAttempt).where(
        PaymentAttempt.order_id == order.id, PaymentAttempt.id != attempt.id,
        PaymentAttempt.request.is_not(None))).all()
    db.session.refresh(order)
    if creating or order.payment_intent_id:
        for other in creating:
            if other.status == AttemptStatus.SENDING and not still_sending(other, gateway.settings.checkout_deadline):
                other.status = AttemptStatus.UNKNOWN  # its request never came back (a process stopped)
        settled = _settled(order, order_url)
        # nothing sent this time. An attempt whose own earlier send paid the order (its webhook was applied while
        # this retry was reading) ends as the order's payment did; any other asks again with the same token.
        attempt.status = settled.body["status"] if settled and sent_before else AttemptStatus.ERROR
        attempt.request = None
        db.session.commit()
        for other in creating:
            if other.status == AttemptStatus.UNKNOWN:
                enqueue_outcome_check(other.id)
        if settled:
            return None
        raise CheckoutError(ANOTHER_PAYMENT, 409)
    commit_keeping_loaded()  # ends the reads above: no connection is held while Stripe answers; the order is
    # refreshed when the answer is applied (`_confirmed`, `_failed`)
    return gateway.send_payment_intent(params, idempotency_key=key)


def _settled(order: Order, order_url: str) -> Answer | None:
    """The answer any submit for a paid order (or one whose bank debit is under way: it can't be paid twice)
    gets, whatever its token; None while the order still waits for a payment."""
    if order.state in OrderState.SECURED:
        return Answer({"status": "succeeded", "order_url": order_url})
    if order.state == OrderState.PROCESSING:
        return Answer({"status": "processing", "order_url": order_url})
    return None


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
            if order.state == OrderState.PAYMENT_FAILED:
                transition(order, OrderState.PENDING, "another payment attempt")
            number = (db.session.scalar(select(func.max(PaymentAttempt.number))
                                        .where(PaymentAttempt.order_id == order.id)) or 0) + 1
            attempt = PaymentAttempt(order_id=order.id, number=number, fingerprint=fingerprint,
                                     idempotency_key=f"checkout-{order.public_id}-{number}")
            db.session.add(attempt)
            commit_keeping_loaded()  # the order is refreshed before anything is sent (`_create_and_confirm`)
            return attempt
        except OutOfStock as error:
            db.session.rollback()
            raise _sold_out(error, order.lines) from None
        except IntegrityError:  # a concurrent submit took this number: look again
            db.session.rollback()
            db.session.refresh(order)
    raise CheckoutError("Another payment for this order is in progress.", 409)


def _confirmed(order: Order, attempt: PaymentAttempt, intent: dict, order_url: str) -> Answer:
    db.session.refresh(order)
    order.payment_intent_id = order.payment_intent_id or intent["id"]
    record_card(order, intent)
    status = intent.get("status")
    body: dict = {"status": status, "order_url": order_url}
    emails: list = []
    if status == "succeeded":
        transition(order, OrderState.PAID, f"confirmed at checkout {intent['id']}")
    elif status == "processing" and transition(order, OrderState.PROCESSING, f"processing at checkout {intent['id']}"):
        notify(order, processing_notice_for, emails)
    elif status == "requires_capture":  # CAPTURE=manual: the bank holds the money; it is taken at dispatch
        transition(order, OrderState.AUTHORISED, f"authorised at checkout {intent['id']}")
        body["status"] = "succeeded"  # for the browser the payment is done; the order page says "authorised"
    elif status == "requires_action":
        body["client_secret"] = intent["client_secret"]
    elif status != "processing":
        body = {"status": "failed", "error": "Your payment could not be completed. Please try another card."}
    answer = _finish(attempt, body, 200 if body["status"] != "failed" else 402)
    enqueue_receipts([email.id for email in emails])  # committed with the answer; the relay covers a Redis outage
    return answer


def record_card(order: Order, intent: dict) -> None:
    """The card's brand and last four, as Stripe reports them on the intent's (expanded) payment method."""
    method = intent.get("payment_method")
    card = method.get("card") if isinstance(method, dict) else None
    if card and card.get("last4"):
        order.card_brand, order.card_last4 = str(card.get("brand") or "")[:20], str(card["last4"])[:4]


def _unknown(order: Order, attempt: PaymentAttempt, order_url: str) -> Answer:
    """Stripe may have carried the confirm out: say so, never "nothing was charged", and find out at once."""
    attempt.status = AttemptStatus.UNKNOWN
    db.session.commit()
    enqueue_outcome_check(attempt.id)
    log.warning("payment outcome unknown attempt=%s order=%s", attempt.id, order.public_id)
    return Answer({"status": "unknown", "message": UNKNOWN_MESSAGE, "order_url": order_url}, 202)


def _failed(order: Order, attempt: PaymentAttempt, error: PaymentError, order_url: str, gateway: Gateway) -> Answer:
    """A create or confirm that definitely took no money: a decline fails the order, anything else leaves it
    pending; either way its stock is given back unless another attempt on it is live."""
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
    attempt.request = None  # Stripe took nothing: a retry builds and sends the request afresh
    db.session.commit()
    holds.release(order, f"attempt_{error.kind}", gateway.settings.checkout_deadline, finished=attempt)
    if error.kind in ("transient", "unavailable"):
        return Answer(body, 503)  # not stored: a retry of this attempt reuses its idempotency key
    return _finish(attempt, body, 502)


def _finish(attempt: PaymentAttempt, body: dict, status: int) -> Answer:
    attempt.status = body["status"]
    attempt.request = None  # settled: the intent's id is known, or nothing was created
    attempt.http_status = status
    if body["status"] != "requires_action":  # that answer carries a client secret: Stripe replays it instead
        attempt.outcome = json.dumps(body)
    db.session.commit()
    return Answer(body, status)
