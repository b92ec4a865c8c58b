"""What an order costs: its lines, a discount code's share of each, the shipping rate and the total.

Pure arithmetic on integer minor units: no database, no Flask, no Stripe. Every rounding rule lives here: a
percent discount rounds half up to the minor unit, and a discount is shared over the lines by the largest
remainder, so the shares sum to it exactly and none passes its line.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Item", "Offer", "Priced", "PricedItem", "Rate", "UnknownRate", "allocate", "discount_for",
           "parse_rates", "price", "rate_for", "shipping_rates", "total", "zone"]

ZONES = ("domestic", "international")
METHODS = {"standard": "Standard", "express": "Express"}  # in the order they are offered
KINDS = ("percent", "fixed")


class UnknownRate(KeyError, ValueError):
    """A shipping method the shop does not offer."""


def _money(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} is an integer number of minor units, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} is negative ({value})")
    return value


@dataclass(frozen=True)
class Item:
    """What is bought, built by the caller from a cart line or an order line."""
    product_id: str
    name: str
    unit_price: int
    quantity: int

    def __post_init__(self):
        _money(self.unit_price, "unit_price")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity < 1:
            raise ValueError(f"quantity must be a whole number of at least 1, not {self.quantity!r}")


@dataclass(frozen=True)
class Rate:
    """One shipping choice as offered for a country and a goods amount."""
    method: str
    label: str
    amount: int  # minor units, after the free-shipping threshold (0: free)
    min_days: int
    max_days: int

    def __post_init__(self):
        _money(self.amount, "shipping amount")

    @property
    def window(self) -> str:
        if self.min_days == self.max_days:
            return f"{self.min_days} business day{'' if self.min_days == 1 else 's'}"
        return f"{self.min_days}\u2013{self.max_days} business days"


@dataclass(frozen=True)
class Offer:
    """A valid discount code's terms: a whole percent (1-100) or a fixed amount in minor units."""
    code: str
    kind: str
    value: int
    min_subtotal: int

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"a discount is percent or fixed, not {self.kind!r}")
        _money(self.value, "discount value")
        _money(self.min_subtotal, "min_subtotal")
        if self.kind == "percent" and not 1 <= self.value <= 100:
            raise ValueError(f"a percent discount is 1 to 100, not {self.value}")


@dataclass(frozen=True)
class PricedItem:
    item: Item
    subtotal: int  # unit price x quantity
    discount: int  # this line's share of the code's discount

    @property
    def amount(self) -> int:
        return self.subtotal - self.discount


@dataclass(frozen=True)
class Priced:
    currency: str
    items: tuple[PricedItem, ...]
    subtotal: int
    discount: int
    code: str | None  # the code whose discount applies, None when none does
    shipping: Rate

    @property
    def goods(self) -> int:
        """What the free-shipping threshold and tax see: the subtotal less the discount."""
        return self.subtotal - self.discount


def parse_rates(text: str) -> dict[str, dict[str, tuple[int, int, int]]]:
    """SHIPPING_RATES ("domestic:standard=599@3-5,express=1499@1-2;international:...") -> zone -> method ->
    (amount, min_days, max_days). Every zone must offer every method; ValueError says what is wrong."""
    rates: dict[str, dict[str, tuple[int, int, int]]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, colon, methods = part.partition(":")
        name = name.strip()
        if not colon or name not in ZONES:
            raise ValueError(f"{part!r} does not start with a zone ({' or '.join(ZONES)}) and a colon")
        if name in rates:
            raise ValueError(f"zone {name} is given twice")
        rates[name] = {}
        for entry in (e.strip() for e in methods.split(",")):
            method, amount, low, high = _rate(name, entry)
            if method in rates[name]:
                raise ValueError(f"zone {name} gives {method} twice")
            rates[name][method] = (amount, low, high)
        missing = [method for method in METHODS if method not in rates[name]]
        if missing:
            raise ValueError(f"zone {name} has no {' or '.join(missing)} rate")
    missing = [name for name in ZONES if name not in rates]
    if missing:
        raise ValueError(f"no rates for the {' or '.join(missing)} zone")
    return rates


def _rate(zone_name: str, entry: str) -> tuple[str, int, int, int]:
    """"standard=599@3-5" -> ("standard", 599, 3, 5)."""
    method, _, rest = entry.partition("=")
    amount, _, window = rest.partition("@")
    low, _, high = window.partition("-")
    method = method.strip()
    if method not in METHODS:
        raise ValueError(f"zone {zone_name}: {entry!r} is not a method ({' or '.join(METHODS)}) with a rate")
    numbers = [text.strip() for text in (amount, low, high)]
    if not all(text.isascii() and text.isdigit() and len(text) <= 9 for text in numbers):
        raise ValueError(f"zone {zone_name}: {entry!r} is not method=amount@days-days in whole numbers")
    amount_, low_, high_ = (int(text) for text in numbers)
    if not 1 <= low_ <= high_:
        raise ValueError(f"zone {zone_name}: {entry!r} has a delivery window that is not 1 or more days, low to high")
    return method, amount_, low_, high_


def zone(settings, country: str) -> str:
    return "domestic" if country.upper() in settings.shipping_home_countries else "international"


def shipping_rates(settings, country: str, goods: int) -> list[Rate]:
    """The choices offered for `country` (standard first) on goods worth `goods`: standard is free from
    FREE_SHIPPING_THRESHOLD (0: never free). ValueError for a country the shop does not ship to."""
    _money(goods, "goods")
    if country.upper() not in settings.shipping_countries:
        raise ValueError(f"the shop does not ship to {country[:8]!r}")
    offered = parse_rates(settings.shipping_rates)[zone(settings, country)]
    threshold = settings.free_shipping_threshold
    free = threshold > 0 and goods >= threshold
    return [Rate(method, label, 0 if free and method == "standard" else offered[method][0], *offered[method][1:])
            for method, label in METHODS.items()]


def rate_for(settings, country: str, goods: int, method: str) -> Rate:
    """The offered rate of `method`; UnknownRate (a KeyError and a ValueError) for any other method."""
    for rate in shipping_rates(settings, country, goods):
        if rate.method == method:
            return rate
    raise UnknownRate(f"no shipping method {str(method)[:20]!r}")


def discount_for(offer: Offer | None, subtotal: int) -> int:
    """The discount the offer gives on `subtotal`: a percent rounds half up to the minor unit, a fixed amount
    is at most the subtotal, and below the offer's minimum subtotal there is none."""
    _money(subtotal, "subtotal")
    if offer is None or subtotal < offer.min_subtotal:
        return 0
    if offer.kind == "percent":
        return (subtotal * offer.value + 50) // 100
    return min(offer.value, subtotal)


def allocate(total: int, amounts: list[int]) -> list[int]:
    """Split `total` over `amounts` in proportion: each share rounded down, then the units left over go to the
    largest remainders (the earlier line on a tie). The shares sum to `total` and none passes its amount."""
    _money(total, "total")
    for amount in amounts:
        _money(amount, "amount")
    whole = sum(amounts)
    if total > whole:
        raise ValueError(f"cannot share {total} over amounts that come to {whole}")
    if total == 0:
        return [0] * len(amounts)
    shares = [total * amount // whole for amount in amounts]
    remainders = [total * amount % whole for amount in amounts]
    for index in sorted(range(len(amounts)), key=lambda i: -remainders[i])[:total - sum(shares)]:
        shares[index] += 1
    return shares


def price(items: list[Item], *, currency: str, offer: Offer | None, rate: Rate) -> Priced:
    """The items priced in `currency` (their amounts are its minor units), with the offer's discount shared over
    them and the chosen shipping rate."""
    if not items:
        raise ValueError("nothing to price")
    subtotals = [item.unit_price * item.quantity for item in items]
    subtotal = sum(subtotals)
    discount = discount_for(offer, subtotal)
    shares = allocate(discount, subtotals)
    return Priced(currency=currency.lower(),
                  items=tuple(PricedItem(item, line, share) for item, line, share in zip(items, subtotals, shares)),
                  subtotal=subtotal, discount=discount, code=offer.code if offer is not None and discount else None,
                  shipping=rate)


def total(priced: Priced, tax: int, tax_inclusive: bool) -> int:
    """What the shopper pays: the goods and shipping, plus the tax unless the prices already include it."""
    _money(tax, "tax")
    return priced.goods + priced.shipping.amount + (0 if tax_inclusive else tax)
