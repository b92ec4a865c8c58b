"""The checkout page and POST /checkout/confirm (the only shopper-facing path that calls Stripe)."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, url_for

from ..payments import UNAVAILABLE_MESSAGE, PaymentError, get_gateway
from ..shop import cart
from . import service

bp = Blueprint("checkout", __name__)
TOKEN = re.compile(r"^ctoken_[A-Za-z0-9_]{1,250}$")
ATTEMPT = re.compile(r"^[0-9a-f]{32}$")
EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[A-Za-z0-9.-]{1,188}\.[A-Za-z]{2,24}$")


@bp.get("/checkout")
def checkout():
    lines = cart.lines()
    if not lines:
        return redirect(url_for("shop.view_cart"))
    settings = current_app.config["SETTINGS"]
    return render_template("checkout/checkout.html", lines=lines, total=cart.total(lines),
                           currency=settings.currency, attempt_id=cart.checkout_attempt(),
                           publishable_key=settings.stripe_publishable_key, stripe_js_url=settings.stripe_js_url,
                           unavailable_message=UNAVAILABLE_MESSAGE)


@bp.post("/checkout/confirm")
def confirm():
    """Body: {confirmation_token, attempt_id, email}. Answers {status, client_secret?, order_url, error?}."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _error("Send a JSON object.", 400)
    token, attempt_id, email = data.get("confirmation_token"), data.get("attempt_id"), data.get("email")
    if not isinstance(token, str) or not TOKEN.match(token):
        return _error("confirmation_token is missing or malformed.", 400)
    if not isinstance(attempt_id, str) or not ATTEMPT.match(attempt_id):
        return _error("attempt_id is missing or malformed.", 400)
    if not isinstance(email, str) or not EMAIL.match(email.strip()):
        return _error("Please enter a valid email address.", 400)
    unknown = set(data) - {"confirmation_token", "attempt_id", "email"}
    if unknown:
        return _error(f"Unknown field: {sorted(unknown)[0]}.", 400)

    settings = current_app.config["SETTINGS"]
    gateway = get_gateway(current_app)
    try:
        order = service.find_order(attempt_id)
        answer = order and service.known_answer(order, token, _order_url(order))
        if not answer:
            # Admitted before any write: when Stripe is saturated or the breaker is open, the shopper hears so
            # at once and the shop stores nothing (no order, no stock held) for a payment it cannot attempt.
            with gateway.admission():
                if order is None:
                    if attempt_id != cart.checkout_attempt():
                        return _error("Your cart changed since this page was loaded. Please review your order.",
                                      409)
                    order = service.place_order(attempt_id, cart.lines(), settings.currency, email.strip())
                answer = service.pay(order, token, gateway, _order_url(order))
    except service.CheckoutError as error:
        return _error(error.message, error.status)
    except PaymentError as error:  # not admitted
        answer = service.Answer({"status": "error", "error": error.user_message, "retryable": True}, 503)
    if answer.body.get("status") in ("succeeded", "processing"):
        cart.clear()
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.status == 503:
        response.headers["Retry-After"] = "30"
    return response


def _order_url(order) -> str:
    return url_for("orders.show", public_id=order.public_id, _external=True)


def _error(message: str, status: int):
    return jsonify(status="error", error=message), status
