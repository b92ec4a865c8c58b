"""The cart: product ids and quantities in the signed session; prices always come from the catalog."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import session

from ..models import Product, db

MAX_QUANTITY = 99
MAX_LINES = 50


class CartError(ValueError):
    """A cart change the shop refuses; the message is safe to show."""


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> int:
        return self.product.price * self.quantity


def _raw() -> dict[str, int]:
    cart = session.get("cart")
    return dict(cart) if isinstance(cart, dict) else {}


def _save(cart: dict[str, int]) -> None:
    session["cart"] = cart
    session.pop("checkout_attempt", None)  # a changed cart is a new checkout attempt


def parse_quantity(value) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):  # int() would also take "1_0", "+5" and "٣"
        raise CartError("Quantity must be a whole number.")
    quantity = int(text) if len(text) <= 4 else 0
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CartError(f"Quantity must be between 1 and {MAX_QUANTITY}.")
    return quantity


def _product(product_id) -> Product:
    product = db.session.get(Product, str(product_id)[:64]) if product_id else None
    if product is None:
        raise CartError("That product does not exist.")
    return product


def add(product_id, quantity) -> Product:
    product = _product(product_id)
    quantity = parse_quantity(quantity)
    cart = _raw()
    if product.id not in cart and len(cart) >= MAX_LINES:
        raise CartError("Your cart is full.")
    new_quantity = cart.get(product.id, 0) + quantity
    if new_quantity > MAX_QUANTITY:
        raise CartError(f"You can buy at most {MAX_QUANTITY} of one product.")
    if new_quantity > product.stock:
        raise CartError(f"Sorry, only {product.stock} of {product.name} left in stock.")
    cart[product.id] = new_quantity
    _save(cart)
    return product


def update(product_id, quantity) -> Product:
    product = _product(product_id)
    cart = _raw()
    if product.id not in cart:
        raise CartError("That product is not in your cart.")
    quantity = parse_quantity(quantity)
    if quantity > product.stock:
        raise CartError(f"Sorry, only {product.stock} of {product.name} left in stock.")
    cart[product.id] = quantity
    _save(cart)
    return product


def remove(product_id) -> None:
    cart = _raw()
    if cart.pop(str(product_id), None) is not None:
        _save(cart)


def clear() -> None:
    session.pop("cart", None)
    session.pop("checkout_attempt", None)


def lines() -> list[CartLine]:
    """The cart's lines priced from the catalog; products that vanished are dropped."""
    cart = _raw()
    if not cart:
        return []
    products = {p.id: p for p in db.session.query(Product).filter(Product.id.in_(list(cart))).all()}
    return [CartLine(products[pid], int(q)) for pid, q in cart.items()
            if pid in products and isinstance(q, int) and 1 <= q <= MAX_QUANTITY]


def count() -> int:
    return sum(q for q in _raw().values() if isinstance(q, int))


def total(cart_lines: list[CartLine]) -> int:
    return sum(line.total for line in cart_lines)


def checkout_attempt() -> str:
    """One id per cart content, shared by reloads and tabs: the confirm endpoint is idempotent on it."""
    attempt = session.get("checkout_attempt")
    if not attempt:
        attempt = session["checkout_attempt"] = uuid.uuid4().hex
    return attempt
