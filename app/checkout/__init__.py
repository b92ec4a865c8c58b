"""The checkout page and POST /checkout/confirm (the only shopper-facing path that calls Stripe)."""
from __future__ import annotations

import logging
import re

from flask import Blueprint, current_app, jsonify, make_response, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout

from app.checkout import discounts, pricing, quotes, service
from app.mail.addresses import InvalidAddress, mailbox
from app.models import AttemptStatus, OrderState, db
from app.money import format_money, request_locale
from app.orders.holds import Holder, release
from app.payments import UNAVAILABLE_MESSAGE, PaymentError, get_gateway
from app.queues import enqueue_outcome_check
from app.shop import cart, cart_store

bp = Blueprint("checkout", __name__)
log = logging.getLogger(__name__)
TOKEN = re.compile(r"^ctoken_[A-Za-z0-9_]{1,250}$")
ATTEMPT = re.compile(r"^[0-9a-f]{32}$")
FIELDS = {"confirmation_token", "attempt_id", "email", "quote"}
QUOTE_FIELDS = {"attempt_id", "shipping", "shipping_method", "discount_code"}
QUOTE_MAX = 8 * 1024  # characters of a signed quote
SHIPPING_METHODS = ("standard", "express")
# an attempt in one of these has left the checkout: its outcome is shown (or found out) on the order page
LEFT_FOR_ORDER_PAGE = {AttemptStatus.SUCCEEDED, AttemptStatus.PROCESSING, AttemptStatus.UNKNOWN}
DATABASE_BUSY = ("The shop is very busy and couldn't finish this just now. Please try again in a moment: trying "
                 "again can't charge you twice.")
NEXT_STEPS = {"cart": ("shop.view_cart", "Update your cart"), "checkout": ("checkout.checkout", "Review your order")}


@bp.get("/checkout")
def checkout():
    """The checkout for the cart, or, when the cart's attempt already has an order that is paid or being paid,
    that order's page: a reload, Back or Forward must never ask for a card again."""
    order = service.find_order(cart.current_attempt() or "")
    notice = resume_secret = None
    if order is not None:
        try:
            intent = service.waiting_for_bank(order, get_gateway(current_app))
        except PaymentError:
            intent = None
            notice = ("You started paying for this order and your bank asked to confirm it's you. We can't check "
                      "with Stripe right now whether that was finished: please look at your order before paying "
                      "again.")
        attempt = service.latest_attempt(order)
        if order.state in OrderState.SECURED or (attempt and attempt.status in LEFT_FOR_ORDER_PAGE):
            return redirect(_order_url(order), code=303)
        if attempt and service.still_sending(attempt, current_app.config["SETTINGS"].checkout_deadline):
            enqueue_outcome_check(attempt.id)  # reloaded mid-payment: the order page follows it to its end
            return redirect(_order_url(order), code=303)
        if intent and intent.get("status") == "requires_action":
            resume_secret = intent.get("client_secret")
        elif intent and intent.get("status") == "requires_payment_method":
            notice = "Your bank's check wasn't completed, so that payment didn't go through. You can pay again."
    lines = cart.lines()
    if not lines and session.get("bought"):
        return redirect(url_for("orders.show", public_id=session["bought"]), code=303)
    if not lines:
        return redirect(url_for("shop.view_cart"))
    settings = current_app.config["SETTINGS"]
    total = cart.total(lines)
    home = settings.shipping_home_countries[0] if settings.shipping_home_countries else settings.shipping_countries[0]
    response = make_response(render_template(
        "checkout/checkout.html", lines=lines, total=total, currency=settings.currency,
        payment_method_types=settings.payment_method_types, attempt_id=cart.checkout_attempt(),
        rates=pricing.shipping_rates(settings, home, total), countries=settings.shipping_countries,
        tax_inclusive=settings.tax_behavior == "inclusive", tax_on=settings.tax == "stripe",
        order=order, notice=notice,
        resume_secret=resume_secret, publishable_key=settings.stripe_publishable_key,
        stripe_js_url=settings.stripe_js_url, unavailable_message=UNAVAILABLE_MESSAGE))
    response.headers["Cache-Control"] = "no-store"  # Back/Forward asks the server again, never a stale form
    return response


@bp.post("/checkout/quote")
def quote():
    """Body: {attempt_id, shipping: {name, address, phone?}, shipping_method, discount_code?}: the Address Element's
    value and the shopper's choices. Answers the breakdown (app/checkout/quotes.py `as_json`) with a signed quote
    the confirm sends back; {error, field?} for what the shopper must change; 503 when Stripe Tax can't answer."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error("Send a JSON object.", 400)
    unknown = set(data) - QUOTE_FIELDS
    if unknown:
        return _error(f"Unknown field: {sorted(unknown)[0]}.", 400)
    attempt_id, code = data.get("attempt_id"), data.get("discount_code")
    method = data.get("shipping_method", "standard")
    if not isinstance(attempt_id, str) or not ATTEMPT.match(attempt_id):
        return _error("attempt_id is missing or malformed.", 400)
    if method not in SHIPPING_METHODS:
        return _error("Please choose a shipping method.", 400, field="shipping_method")
    if code is not None and not isinstance(code, str):
        return _error("discount_code must be text.", 400, field="discount_code")
    settings = current_app.config["SETTINGS"]
    lines = cart.lines()
    if not lines:
        return _error("Your cart is empty.", 400, "cart")
    attempt_id = _current_attempt(attempt_id)
    if attempt_id is None:
        return _error("Your cart changed since this page was loaded. Please review your order.", 409, "checkout")
    try:
        shipping = quotes.shipping_from(data.get("shipping"), settings)
    except quotes.AddressRefused as error:
        return _error(str(error), 400, field="shipping")
    items = service.items_of(lines)
    offer = None
    if code and code.strip():
        try:
            offer = discounts.offer_for(code, sum(item.unit_price * item.quantity for item in items),
                                        settings.currency)
        except discounts.CodeRefused as error:
            return _error(error.message, 400, field="discount_code")
    try:
        current = quotes.make(items, shipping=shipping, method=method, offer=offer, settings=settings,
                              gateway=get_gateway(current_app))
    except quotes.AddressRefused as error:
        return _error(str(error), 400, field="shipping")
    except quotes.TaxUnavailable:
        return _error(quotes.TAX_UNAVAILABLE, 503)
    attempt_id = _attempt_for_details(attempt_id, current)
    if attempt_id is None:
        return _error("A payment for this order is under way. Please wait for it on your order page.", 409)
    locale = request_locale()
    signed = quotes.sign(current, attempt_id, settings.secret_key)
    response = jsonify(quotes.as_json(current, signed, attempt_id,
                                      lambda amount: format_money(amount, current.currency, locale)))
    response.headers["Cache-Control"] = "no-store"
    return response


def _current_attempt(attempt_id: str) -> str | None:
    """The page's attempt if it is still the cart's (a changed cart has a new one: the page is stale)."""
    return attempt_id if attempt_id == cart.current_attempt() else None


def _attempt_for_details(attempt_id: str, current: quotes.Quote) -> str | None:
    """The attempt this quote will be paid under. An order already placed for the attempt keeps its address and
    total: new details get a new attempt (and so a new order), and the old order's holds go back at once, unless
    a payment for it may still be under way (None)."""
    order = service.find_order(attempt_id)
    if order is None or service.same_details(order, current.shipping, {"total": current.total}):
        return attempt_id
    settings = current_app.config["SETTINGS"]
    attempt = service.latest_attempt(order)
    if order.state not in (OrderState.PENDING, OrderState.PAYMENT_FAILED) or (
            attempt is not None and attempt.status in LEFT_FOR_ORDER_PAGE) or (
            attempt is not None and service.still_sending(attempt, settings.checkout_deadline)):
        return None
    release(order, "details_changed", settings.checkout_deadline)
    return cart.renew_attempt(attempt_id)


@bp.post("/checkout/confirm")
def confirm():
    """Body: {confirmation_token, attempt_id, email, quote?}. Answers {status, client_secret?, order_url, error?,
    message?, next_url?, next_label?}; status "unknown" (202) when Stripe may have taken the payment."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error("Send a JSON object.", 400)
    token, attempt_id, email = data.get("confirmation_token"), data.get("attempt_id"), data.get("email")
    if not isinstance(token, str) or not TOKEN.match(token):
        return _error("confirmation_token is missing or malformed.", 400)
    if not isinstance(attempt_id, str) or not ATTEMPT.match(attempt_id):
        return _error("attempt_id is missing or malformed.", 400)
    try:
        email = mailbox(email)  # one mailbox, normalised: the receipt goes to this address and no other
    except InvalidAddress as error:
        return _error(str(error), 400)
    unknown = set(data) - FIELDS
    if unknown:
        return _error(f"Unknown field: {sorted(unknown)[0]}.", 400)
    quote = data.get("quote")
    shown = None
    if quote is not None:
        shown = quotes.load(quote, current_app.config["SETTINGS"].secret_key) if (
            isinstance(quote, str) and len(quote) <= QUOTE_MAX) else None
        if shown is None or shown.get("attempt") != attempt_id:
            return _error("quote is malformed or not this checkout's: please reload the page.", 400)

    settings = current_app.config["SETTINGS"]
    gateway = get_gateway(current_app)
    holder = Holder(cart_store.current_id(), get_remote_address())
    order = None
    try:
        order = service.find_order(attempt_id)
        answer = order and service.known_answer(order, token, _order_url(order))
        if not answer:
            # Admitted before any write: when Stripe is saturated or the breaker is open, the shopper hears so
            # at once and the shop stores nothing (no order, no stock held) for a payment it cannot attempt.
            with gateway.admission():
                if order is None and attempt_id != cart.checkout_attempt():
                    return _error("Your cart changed since this page was loaded. Nothing was charged: please "
                                  "review your order.", 409, "checkout")
                # The address the page's signed quote was priced for goes on the PaymentIntent, where it takes
                # precedence over the token's; only a confirm without one reads the token's (a round trip more).
                shipping = (shown and quotes.shipping_of(shown)) or service.token_shipping(token, gateway, settings)
                if order is None:
                    lines = cart.lines()
                    current = service.current_quote(lines, shipping, shown, settings, gateway)
                    try:
                        service.check_quote(shown, current)
                    except service.CheckoutError as error:
                        error.summary = _summary(current, attempt_id)
                        raise
                    order = service.place_order(attempt_id, lines, current, email, settings, holder)
                else:
                    if not service.same_details(order, shipping, shown):
                        return _error(service.DETAILS_CHANGED, 409, "checkout")
                    service.hold_again(order, settings, holder)
                _remember_order(order)
                answer = service.pay(order, token, gateway, _order_url(order))
    except service.CheckoutError as error:
        return _error(error.message, error.status, error.next_step, summary=error.summary)
    except (OperationalError, PoolTimeout):  # the database was locked, unreachable or all its pooled connections
        # busy past DB_POOL_TIMEOUT, before or after Stripe was asked: the same token sent again replays under
        # the same key, so the shopper may retry it and never pay twice
        db.session.rollback()
        log.warning("checkout database error attempt=%s", attempt_id, exc_info=True)
        return _error(DATABASE_BUSY, 503, retryable=True)
    except PaymentError as error:  # not admitted, or the token could not be read: nothing was sent to be paid, and
        # an earlier attempt's stock is not kept for a payment not made
        if order is not None:
            release(order, "refused", settings.checkout_deadline)
        retryable = error.kind in ("transient", "unavailable")
        answer = service.Answer({"status": "error", "error": error.user_message, "retryable": retryable},
                                503 if retryable else 502)
    # A paid cart is emptied by the next page the shopper opens (app/shop `forget_a_bought_cart`), not here: if
    # this answer is lost on the way, a reload must still find the cart's order and go to its page.
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.status == 503:
        response.headers["Retry-After"] = "30"
    return response


def _order_url(order) -> str:
    return url_for("orders.show", public_id=order.public_id, _external=True)


def _remember_order(order) -> None:
    """The orders this browser placed: their pages show the shopper's email unmasked to it alone."""
    placed = [public_id for public_id in session.get("orders", []) if public_id != order.public_id][-9:]
    session["orders"] = [*placed, order.public_id]


def _summary(current: quotes.Quote, attempt_id: str) -> dict:
    """A refused confirm's updated breakdown, so the page shows what would be charged now."""
    settings = current_app.config["SETTINGS"]
    locale = request_locale()
    return quotes.as_json(current, quotes.sign(current, attempt_id, settings.secret_key), attempt_id,
                          lambda amount: format_money(amount, current.currency, locale))


def _error(message: str, status: int, next_step: str | None = None, field: str | None = None,
           summary: dict | None = None, retryable: bool = False):
    body: dict = {"status": "error", "error": message}
    if retryable:
        body["retryable"] = True
    if field:
        body["field"] = field
    if summary:
        body["summary"] = summary
    if next_step:
        endpoint, label = NEXT_STEPS[next_step]
        body.update(next_url=url_for(endpoint), next_label=label)
    response = jsonify(body)
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = "30"
    if status == 429:  # too many unpaid orders holding stock: the oldest hold ends within STOCK_HOLD_SECONDS
        response.headers["Retry-After"] = str(current_app.config["SETTINGS"].stock_hold_seconds)
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)
