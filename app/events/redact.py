"""What the shop keeps of a Stripe event: everything but secrets and card details it never uses.

Removed wherever they appear in the event (the object, `previous_attributes`, a nested PaymentIntent, a charge,
`last_payment_error.payment_method`): `client_secret` (it lets a browser confirm the PaymentIntent),
`billing_details` (cardholder name, address, email, phone) and a card's details other than its brand and last
four (expiry, fingerprint, checks, country, wallet data). Kept: ids, amounts, currency, status, metadata,
error codes, refunds, and the card's brand and last four, which are what the handlers and the admin read.
"""
from __future__ import annotations

__all__ = ["redact"]

DROPPED = frozenset({"client_secret", "billing_details", "fingerprint"})
CARD_KEPT = ("brand", "last4")


def redact(value):
    """A copy of `value` without what the shop must not keep (see the module docstring)."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key in DROPPED:
                continue
            if key == "card" and isinstance(item, dict):
                kept[key] = {name: item[name] for name in CARD_KEPT if name in item}
            else:
                kept[key] = redact(item)
        return kept
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value
