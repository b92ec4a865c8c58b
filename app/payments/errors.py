"""Failed Stripe calls, classified (card | transient | unavailable | conflict | configuration | programming), and
the words a shopper reads for each."""
from __future__ import annotations

import stripe

__all__ = ["PaymentError", "classify", "decline_message", "UNAVAILABLE_MESSAGE", "GENERIC_MESSAGE"]


UNAVAILABLE_MESSAGE = "Payments are temporarily unavailable. Your cart is saved — try again in a minute."
GENERIC_MESSAGE = "We couldn't process your payment. Please try again, or contact us if it keeps happening."

DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds. Please use another card.",
    "expired_card": "Your card has expired. Check the expiry date or use another card.",
    "incorrect_cvc": "Your card's security code is incorrect. Check it and try again.",
    "processing_error": "An error occurred while processing your card. Please try again in a moment.",
    "incorrect_number": "Your card number is incorrect. Check it and try again.",
    "payment_intent_authentication_failure":
        "We couldn't verify your card with your bank. Please try again or use another card.",
}
DECLINED = "Your card was declined. Please try another card."  # also for lost/stolen/fraudulent: say no more


def decline_message(*codes: str | None) -> str:
    """The shopper's words for a decline, from its decline code or error code (the first one known)."""
    return next((DECLINE_MESSAGES[code] for code in codes if code in DECLINE_MESSAGES), DECLINED)


class PaymentError(Exception):
    """A failed Stripe call, classified. `kind` is card | transient | unavailable | conflict | configuration |
    programming. `maybe_executed` says whether Stripe may have carried the request out although the shop got no
    answer (a read timeout, a 5xx, a key still in flight): false only when no attempt could have reached Stripe
    (refused before sending, a refused connection, a 429)."""

    def __init__(self, kind: str, message: str, *, status: int, code: str | None = None,
                 decline_code: str | None = None, payment_intent: dict | None = None,
                 request_id: str | None = None, maybe_executed: bool = False):
        super().__init__(message)
        self.kind = kind
        self.maybe_executed = maybe_executed
        self.user_message = message
        self.status = status
        self.code = code
        self.decline_code = decline_code
        self.payment_intent = payment_intent
        self.request_id = request_id


def classify(error: stripe.StripeError) -> PaymentError:
    request_id = getattr(error, "request_id", None)
    body = error.json_body.get("error", {}) if isinstance(error.json_body, dict) else {}
    if isinstance(error, stripe.CardError) or body.get("code") == "payment_intent_authentication_failure":
        decline = body.get("decline_code") or error.code
        message = decline_message(decline, error.code)
        return PaymentError("card", message, status=402, code=error.code, decline_code=decline,
                            payment_intent=body.get("payment_intent"), request_id=request_id)
    if isinstance(error, (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)) or (
            error.http_status in (409, 429) or (error.http_status or 0) >= 500):
        return PaymentError("transient", UNAVAILABLE_MESSAGE, status=503, code=error.code, request_id=request_id)
    if body.get("code") == "payment_intent_unexpected_state":  # e.g. a second click after the first one paid
        return PaymentError("conflict", GENERIC_MESSAGE, status=409, code=error.code,
                            payment_intent=body.get("payment_intent"), request_id=request_id)
    if isinstance(error, (stripe.AuthenticationError, stripe.PermissionError)):
        return PaymentError("configuration", GENERIC_MESSAGE, status=500, code=error.code, request_id=request_id)
    return PaymentError("programming", GENERIC_MESSAGE, status=500, code=error.code,
                        payment_intent=body.get("payment_intent"), request_id=request_id)
