"""The checkout's quote: what the cart costs delivered to an address, with a discount code and a shipping choice.

The shop prices the lines, the code and the shipping itself (app/checkout/pricing.py) and asks Stripe Tax for the
tax (a `tax.calculation`). The page shows the quote and sends it back, signed, with its confirm; the confirm
prices everything again from the cart, the code and the address the ConfirmationToken carries, reuses the
quote's calculation only while it is current and was made for exactly these inputs, and refuses to charge a total
the page did not show.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.checkout import pricing
from app.payments import Gateway, PaymentError
from app.settings import Settings

QUOTE_MAX_AGE = 24 * 3600  # seconds a page's quote is accepted back (its tax calculation may expire sooner)
# A calculation is reused at confirm only if it outlives the payment by this much: the worker records the tax
# transaction from it after the payment (under CAPTURE=manual, at capture: up to Stripe's 7 days later).
CALCULATION_MARGIN = 3600
CAPTURE_WINDOW = 7 * 24 * 3600
TAX_UNAVAILABLE = ("We can't work out the tax on your order right now, so we can't take your payment yet. Nothing "
                   "was charged and your cart is saved: please try again in a few minutes.")
# Stripe Tax asks for these to locate a customer; the Address Element asks for the same (postal code and state
# where the country has them)
NEEDS_STATE = {"US", "CA"}
NEEDS_POSTAL_CODE = {"US", "CA", "GB", "DE", "FR", "NL"}
FIELD_LIMITS = {"line1": 200, "line2": 200, "city": 100, "state": 100, "postal_code": 20, "country": 2}


class AddressRefused(ValueError):
    """A delivery address the shop can't ship to or Stripe Tax can't locate; the message is shopper words."""


class TaxUnavailable(Exception):
    """Stripe Tax did not answer (an outage, a timeout, the breaker open): nothing can be charged."""


@dataclass(frozen=True)
class Shipping:
    """Where the parcel goes, in Stripe's shape (a PaymentIntent's and a ConfirmationToken's `shipping`)."""
    name: str
    address: dict
    phone: str = ""

    @property
    def fingerprint(self) -> str:
        """What decides the tax and the shipping price: the address itself, not the name or phone."""
        return hashlib.sha256(json.dumps(self.address, sort_keys=True).encode()).hexdigest()[:32]

    def for_stripe(self) -> dict:
        shipping = {"name": self.name, "address": {k: v for k, v in self.address.items() if v}}
        if self.phone:
            shipping["phone"] = self.phone
        return shipping


@dataclass(frozen=True)
class Quote:
    priced: pricing.Priced
    shipping: Shipping
    tax: int
    tax_inclusive: bool
    line_tax: tuple[int, ...]  # per priced item, in its order
    calculation_id: str | None
    calculation_expires_at: int | None
    inputs: str | None = None  # digest of what the calculation was made for
    rates: list[pricing.Rate] = field(default_factory=list)

    @property
    def total(self) -> int:
        return pricing.total(self.priced, self.tax, self.tax_inclusive)

    @property
    def currency(self) -> str:
        return self.priced.currency


def shipping_from(value, settings: Settings) -> Shipping:
    """A delivery address sent by the page (the Address Element's value) or read from a ConfirmationToken, checked:
    AddressRefused says what is missing or wrong."""
    if not isinstance(value, dict):
        raise AddressRefused("Please enter a delivery address.")
    name = _text(value.get("name"), 200)
    address = value.get("address")
    if not isinstance(address, dict):
        raise AddressRefused("Please enter a delivery address.")
    clean = {key: _text(address.get(key), limit) for key, limit in FIELD_LIMITS.items()}
    clean["country"] = clean["country"].upper()
    if clean["country"] not in settings.shipping_countries:
        raise AddressRefused("Sorry, we don't ship to that country yet. We ship to: "
                             f"{', '.join(settings.shipping_countries)}.")
    missing = [label for key, label in (("line1", "address"), ("city", "city")) if not clean[key]]
    if not name:
        missing.insert(0, "full name")
    if clean["country"] in NEEDS_STATE and not clean["state"]:
        missing.append("state")
    if clean["country"] in NEEDS_POSTAL_CODE and not clean["postal_code"]:
        missing.append("ZIP" if clean["country"] == "US" else "postal code")
    if missing:
        raise AddressRefused(f"Please enter your {_join(missing)}.")
    if clean["country"] == "US":
        clean["state"] = clean["state"].upper()
    return Shipping(name=name, address=clean, phone=_text(value.get("phone"), 40))


def make(items: list[pricing.Item], *, shipping: Shipping, method: str, offer: pricing.Offer | None,
         settings: Settings, gateway: Gateway, reuse: dict | None = None,
         before_calculation: Callable[[], None] | None = None) -> Quote:
    """Price the items for this address, method and code, with the tax Stripe Tax says (or none under TAX=none).
    `reuse` is a loaded quote: its calculation is used again when it is current and was made for these inputs.
    `before_calculation` runs just before Stripe Tax is asked (only when it is)."""
    country = shipping.address["country"]
    goods = sum(item.unit_price * item.quantity for item in items)
    goods -= pricing.discount_for(offer, goods)
    rates = pricing.shipping_rates(settings, country, goods)
    try:
        rate = pricing.rate_for(settings, country, goods, method)
    except (KeyError, ValueError):
        raise AddressRefused("Please choose a shipping method.") from None
    priced = pricing.price(items, currency=settings.currency, offer=offer, rate=rate)
    inclusive = settings.tax_behavior == "inclusive"
    if settings.tax != "stripe":
        return Quote(priced, shipping, 0, inclusive, tuple(0 for _ in priced.items), None, None, None, rates)
    inputs = _tax_inputs(priced, shipping, settings)
    digest = _digest(inputs)
    margin = CALCULATION_MARGIN + (CAPTURE_WINDOW if settings.capture == "manual" else 0)
    if reuse and reuse.get("inputs") == digest and (reuse.get("expires_at") or 0) > time.time() + margin:
        return Quote(priced, shipping, reuse["tax"], inclusive, tuple(reuse["line_tax"]), reuse["calculation"],
                     reuse["expires_at"], digest, rates)
    if before_calculation is not None:
        before_calculation()
    calculation = _calculate(inputs, gateway)
    by_reference = {line["reference"]: line["amount_tax"] for line in calculation["line_items"]["data"]}
    tax = calculation["tax_amount_inclusive"] if inclusive else calculation["tax_amount_exclusive"]
    return Quote(priced, shipping, tax, inclusive, tuple(by_reference.get(i.item.product_id, 0) for i in priced.items),
                 calculation["id"], calculation.get("expires_at"), digest, rates)


def _calculate(inputs: dict, gateway: Gateway) -> dict:
    try:
        return gateway.create_tax_calculation(inputs)
    except PaymentError as error:
        if error.code == "customer_tax_location_invalid":
            raise AddressRefused("We couldn't find that address. Please check the street, city, state and ZIP "
                                 "or postal code.") from None
        raise TaxUnavailable(str(error)) from None


def _tax_inputs(priced: pricing.Priced, shipping: Shipping, settings: Settings) -> dict:
    behavior = settings.tax_behavior
    return {
        "currency": priced.currency,
        "line_items": [{"amount": line.amount, "quantity": line.item.quantity, "reference": line.item.product_id,
                        "tax_code": settings.product_tax_code, "tax_behavior": behavior} for line in priced.items],
        "shipping_cost": {"amount": priced.shipping.amount, "tax_code": settings.shipping_tax_code,
                          "tax_behavior": behavior},
        "customer_details": {"address": {k: v for k, v in shipping.address.items() if v},
                             "address_source": "shipping"},
    }


def _digest(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:32]


# ---- the signed quote the page holds and sends back ---------------------------------------------------------------
def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="checkout-quote")


def sign(quote: Quote, attempt_id: str, secret_key: str) -> str:
    payload = {
        "attempt": attempt_id, "total": quote.total, "method": quote.priced.shipping.method,
        "code": quote.priced.code or "", "address": quote.shipping.fingerprint,
        "shipping": {"name": quote.shipping.name, "address": quote.shipping.address, "phone": quote.shipping.phone},
        "items": [[line.item.product_id, line.item.quantity, line.item.unit_price] for line in quote.priced.items],
        "calculation": quote.calculation_id, "expires_at": quote.calculation_expires_at, "tax": quote.tax,
        "line_tax": list(quote.line_tax), "inputs": quote.inputs,
    }
    return _serializer(secret_key).dumps(payload)


def load(text: str, secret_key: str) -> dict | None:
    """The quote a page was given, or None when it is not one of the shop's, or too old."""
    try:
        payload = _serializer(secret_key).loads(text, max_age=QUOTE_MAX_AGE)
    except BadSignature:
        return None
    return payload if isinstance(payload, dict) else None


def shipping_of(shown: dict) -> Shipping | None:
    """The delivery details a signed quote was priced for (None in a quote signed before it carried them)."""
    value = shown.get("shipping")
    if not isinstance(value, dict) or not isinstance(value.get("address"), dict):
        return None
    shipping = Shipping(str(value.get("name") or ""), value["address"], str(value.get("phone") or ""))
    return shipping if shipping.fingerprint == shown.get("address") else None


def as_json(quote: Quote, signed: str, attempt_id: str, money) -> dict:
    """The quote for the page: amounts in minor units and as the shopper reads them (`money(amount)`)."""
    priced = quote.priced
    return {
        "quote": signed, "attempt_id": attempt_id, "currency": priced.currency,
        "subtotal": priced.subtotal, "discount": priced.discount, "code": priced.code,
        "shipping": {"method": priced.shipping.method, "amount": priced.shipping.amount},
        "tax": quote.tax, "tax_inclusive": quote.tax_inclusive, "total": quote.total,
        "rates": [{**asdict(rate), "window": rate.window, "price": money(rate.amount) if rate.amount else "Free"}
                  for rate in quote.rates],
        "shown": {"subtotal": money(priced.subtotal), "discount": money(priced.discount) if priced.discount else "",
                  "shipping": money(priced.shipping.amount) if priced.shipping.amount else "Free",
                  "tax": money(quote.tax), "total": money(quote.total)},
    }


def _text(value, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AddressRefused("The delivery address is malformed.")
    value = " ".join(value.split())
    if len(value) > limit:
        raise AddressRefused(f"An address field is too long (at most {limit} characters).")
    return value


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
