"""An order's breakdown as the checkout stored it, in shopper words: its lines, the discount and its code, the
shipping method and its delivery window, the delivery address, the tax and the total. The order page, the receipt
and the admin order page all show this one reading. Orders placed before the breakdown existed (`subtotal` None)
have none.

`tax_shares` splits the order's tax between its lines and its shipping, for refunds by line (app/admin/refunds.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from babel import Locale

from app.models import Order, OrderLine

__all__ = ["Breakdown", "breakdown", "tax_shares"]

METHODS = {"standard": "Standard shipping", "express": "Express shipping"}


@dataclass(frozen=True)
class Breakdown:
    lines: list[OrderLine]
    subtotal: int
    discount: int
    discount_code: str
    shipping: int
    shipping_method: str  # "Standard shipping"
    shipping_window: str  # "3–5 business days", or "" when the rates no longer say
    tax: int
    tax_inclusive: bool  # the prices include the tax: it is not added to the total
    total: int
    address: list[str]  # the delivery address, one line per item: name, street, town, country
    phone: str


def breakdown(order: Order, settings) -> Breakdown | None:
    if order.subtotal is None:
        return None
    address = _address(order.shipping_address)
    return Breakdown(
        lines=list(order.lines), subtotal=order.subtotal, discount=order.discount_amount or 0,
        discount_code=order.discount_code or "", shipping=order.shipping_amount or 0,
        shipping_method=METHODS.get(order.shipping_method or "", "Shipping"),
        shipping_window=_window(settings, order.shipping_method, address.get("country", "")),
        tax=order.tax_amount or 0, tax_inclusive=bool(order.tax_inclusive), total=order.amount,
        address=_address_lines(order.shipping_name, address), phone=order.shipping_phone or "")


def tax_shares(order: Order) -> tuple[dict[int, int], int]:
    """(each line's tax by line id, the shipping's tax). The checkout stores each line's tax from Stripe's
    calculation and the order's whole tax, so the shipping's is what the lines leave. An order whose lines carry
    no tax of their own though the order has some is shared out by each part's amount (largest remainder)."""
    lines = list(order.lines)
    tax = order.tax_amount or 0
    stored = sum(line.tax_amount or 0 for line in lines)
    if stored or not tax:
        return {line.id: line.tax_amount or 0 for line in lines}, max(0, tax - stored)
    weights = [line.total - (line.discount_amount or 0) for line in lines] + [order.shipping_amount or 0]
    shares = _spread(tax, weights)
    return {line.id: share for line, share in zip(lines, shares)}, shares[-1]


def _spread(total: int, weights: list[int]) -> list[int]:
    whole = sum(weights)
    if whole <= 0:
        return [0] * (len(weights) - 1) + [total]
    shares = [total * weight // whole for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:total - sum(shares)]:
        shares[i] += 1
    return shares


def _address(stored: str | None) -> dict:
    try:
        address = json.loads(stored or "{}")
    except ValueError:
        return {}
    return {key: str(value) for key, value in address.items() if value} if isinstance(address, dict) else {}


def _address_lines(name: str | None, address: dict) -> list[str]:
    if not address:
        return [name] if name else []
    town = " ".join(part for part in (", ".join(part for part in (address.get("city"), address.get("state"))
                                                 if part), address.get("postal_code")) if part)
    country = address.get("country", "")
    country_name = Locale.parse("en").territories.get(country.upper(), country) if country else ""
    return [part for part in (name, address.get("line1"), address.get("line2"), town, country_name) if part]


def _window(settings, method: str | None, country: str) -> str:
    """The delivery window the shop's rates give the method in the address's zone ("3–5 business days")."""
    zone = "domestic" if country.upper() in settings.shipping_home_countries else "international"
    for part in settings.shipping_rates.split(";"):
        name, _, methods = part.strip().partition(":")
        if name.strip() != zone:
            continue
        for offer in methods.split(","):
            offered, _, terms = offer.strip().partition("=")
            low, _, high = terms.partition("@")[2].partition("-")
            if offered.strip() == method and low.isdigit() and (high or low).isdigit():
                low_days, high_days = int(low), int(high or low)
                if low_days == high_days:
                    return f"{low_days} business day{'' if low_days == 1 else 's'}"
                return f"{low_days}\u2013{high_days} business days"
    return ""
