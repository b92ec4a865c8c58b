"""What the shopper is told about an order: one status, in shopper words, from the shop's own records.

The order page and its JSON status (which the page polls) both come from `shopper_status`, so the headline,
the payment line and the timeline can never disagree. Only what the shop knows is said as fact: a payment whose
outcome is still being found out is "being confirmed", never "failed" or "not charged".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from app.models import AttemptStatus, Order, OrderState

STEPS = ("Order placed", "Payment received", "Preparing your parcel", "Shipped")
SHIPS = "Orders ship within 2 business days."
# What the order page says once a payment has been "being confirmed" for a while (static/js/order.js)
SLOW_CONFIRMATION = {"after_ms": 20_000, "headline": "We're still confirming your payment with your bank.",
                     "detail": "This can take a few minutes. You can close this page: we'll email your receipt as "
                               "soon as it's confirmed, and you won't be charged twice."}


@dataclass(frozen=True)
class ShopperStatus:
    key: str  # confirming | processing | unknown | authenticating | not_charged | preparing | shipped | failed
    # | refunded | canceled
    headline: str
    detail: str
    payment: str
    steps: list[tuple[str, str]]  # (label, done | current | bad | warn | "")
    settled: bool  # nothing will change without a person (the page stops polling)

    def as_dict(self) -> dict:
        return asdict(self)


def shopper_status(order: Order, email: str, card: str = "") -> ShopperStatus:
    """`email` as this viewer may see it; `card` like "Visa ending 4242" when known."""
    state = OrderState(order.state)
    attempt = order.attempts[-1].status if order.attempts else None
    paid_by = f"Paid with {card}" if card else "Paid by card"
    if state == OrderState.DISPATCHED:
        return ShopperStatus("shipped", "Your parcel is on its way.", f"We've emailed your receipt to {email}.",
                             paid_by, [(label, "done") for label in STEPS], settled=True)
    if state == OrderState.AUTHORISED:
        held = f"Authorised on {card}" if card else "Authorised on your card"
        return ShopperStatus("preparing", "Order confirmed. We're preparing your parcel.",
                             f"Your card is charged when your parcel ships; we'll email your receipt to {email} "
                             f"then. {SHIPS}", held, _timeline(2), settled=True)  # nothing changes until dispatch
    if state in OrderState.PAID_STATES:
        return ShopperStatus("preparing", "Payment received. We're preparing your parcel.",
                             f"A receipt is on its way to {email}. {SHIPS}", paid_by,
                             _timeline(2), settled=state == OrderState.FULFILLED)
    if state == OrderState.PAYMENT_FAILED:
        return ShopperStatus("failed", "Your payment didn't go through. Nothing was charged.",
                             "Your cart is saved: you can try again with another card.", "Not charged",
                             [(STEPS[0], "done"), ("Payment failed", "bad"), (STEPS[2], ""), (STEPS[3], "")], True)
    if state == OrderState.REFUNDED:
        return ShopperStatus("refunded", "This order was refunded.",
                             "The money goes back to your card within 5–10 business days.", "Refunded to your card",
                             [(STEPS[0], "done"), (STEPS[1], "done"), ("Refunded", "warn"), (STEPS[3], "")], True)
    if state == OrderState.CANCELED and order.paid_at:
        return ShopperStatus("canceled", "This order was canceled.",
                             "Your payment is being refunded to your card; your bank may take a few days to show it.",
                             "Being refunded to your card",
                             [(STEPS[0], "done"), (STEPS[1], "done"), ("Canceled", "bad"), (STEPS[3], "")], True)
    if state == OrderState.CANCELED and order.authorised_at:
        return ShopperStatus("canceled", "This order was canceled.",
                             "The hold on your card was released: nothing was charged.", "Not charged",
                             [(STEPS[0], "done"), ("Canceled", "bad"), (STEPS[2], ""), (STEPS[3], "")], True)
    if state == OrderState.CANCELED:
        return ShopperStatus("canceled", "This order was canceled.",
                             "It was canceled before any payment was taken, so nothing was charged.", "Not charged",
                             [(STEPS[0], "done"), ("Canceled", "bad"), (STEPS[2], ""), (STEPS[3], "")], True)
    if state == OrderState.PROCESSING:
        return ShopperStatus("processing", "Payment processing — we'll email you when your bank confirms.",
                             "Bank payments take a few business days. We're holding your items, and we'll email "
                             f"{email} as soon as your bank confirms the payment.", "Processing with your bank",
                             _timeline(1), False)
    if attempt == AttemptStatus.UNKNOWN:
        return ShopperStatus("unknown", "We're confirming your payment with your bank.",
                             "Please don't pay again: this page updates by itself, and we'll email your receipt "
                             f"to {email} as soon as the payment is confirmed.", "Being confirmed with your bank",
                             _timeline(1), False)
    if attempt == AttemptStatus.NEEDS_BANK_CHECK:
        return ShopperStatus("authenticating", "Your bank wants to confirm it's you.",
                             "This payment goes through once you finish your bank's check. Return to the checkout "
                             "to continue it; this order can only be charged once.", "Waiting for your bank",
                             _timeline(1), False)
    if attempt == AttemptStatus.NOT_EXECUTED:
        return ShopperStatus("not_charged", "Your payment didn't go through. Nothing was charged.",
                             "Stripe never carried it out. Your cart is saved: you can pay again.", "Not charged",
                             [(STEPS[0], "done"), ("Payment not taken", "bad"), (STEPS[2], ""), (STEPS[3], "")],
                             True)
    return ShopperStatus("confirming", "Confirming your payment…",
                         "We'll update this page as soon as your bank confirms. You don't need to do anything.",
                         "Being confirmed with your bank", _timeline(1), False)


def _timeline(reached: int) -> list[tuple[str, str]]:
    """Steps before `reached` done, `reached` current, the rest not yet."""
    return [(label, "done" if index < reached else "current" if index == reached else "")
            for index, label in enumerate(STEPS)]


def visible_email(order: Order, placed_here: bool) -> str:
    """The full address to the browser that placed the order; masked to anyone else holding its link."""
    email = order.email or ""
    if "@" not in email:
        return "your email address"
    return email if placed_here else email[:1] + "•••@" + email.split("@")[-1]
