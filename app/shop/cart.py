"""The cart: product ids and quantities in the database, named by a long-lived cookie (cart_store.py); prices
always come from the catalog.

Two tabs share one cart. A cart from before carts moved out of the signed session is carried over on the
shopper's first request and removed from the session; a product it holds that the database cart also holds keeps
the larger quantity, so carrying it over twice (two tabs at once) changes nothing.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import session
from sqlalchemy import delete as sql_delete, func, select, update as sql_update

from app.models import Cart, CartItem, Product, db
from app.shop import cart_store

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


def _cart_id() -> str | None:
    """This browser's cart (None: it has none yet), after carrying over a cart left in the session."""
    if "cart" in session:
        _carry_over(session["cart"])
        _drop_from_session()
    return cart_store.current_id()


def _drop_from_session() -> None:
    for key in ("cart", "checkout_attempt"):  # where the cart and its attempt lived before
        if key in session:
            session.pop(key)


def _carry_over(old) -> None:
    wanted = {pid: q for pid, q in old.items() if isinstance(pid, str) and type(q) is int
              and 1 <= q <= MAX_QUANTITY} if isinstance(old, dict) else {}
    known = set(db.session.scalars(select(Product.id).where(Product.id.in_(list(wanted))))) if wanted else set()
    if not known:
        return

    def merge(cart_id: str) -> None:
        held = dict(db.session.execute(select(CartItem.product_id, CartItem.quantity)
                                       .where(CartItem.cart_id == cart_id)).all())
        for pid, quantity in wanted.items():
            if pid not in known or held.get(pid, 0) >= quantity:
                continue
            if pid in held:
                _set_quantity(cart_id, pid, quantity)
            elif len(held) < MAX_LINES:
                db.session.add(CartItem(cart_id=cart_id, product_id=pid, quantity=quantity))
                held[pid] = quantity
        db.session.flush()

    _change(merge)


def _change(apply) -> None:
    try:
        cart_store.change(apply)
    except cart_store.Busy:
        raise CartError("Your cart was being changed in another tab at the same moment. Please try again.") from None


def _quantity(cart_id: str | None, product_id: str) -> int | None:
    if cart_id is None:
        return None
    return db.session.scalar(select(CartItem.quantity).where(CartItem.cart_id == cart_id,
                                                             CartItem.product_id == product_id))


def _set_quantity(cart_id: str, product_id: str, quantity: int) -> bool:
    return db.session.execute(sql_update(CartItem).where(CartItem.cart_id == cart_id,
                                                         CartItem.product_id == product_id)
                              .values(quantity=quantity)).rowcount == 1


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

    def add_to(cart_id: str) -> None:
        held = _quantity(cart_id, product.id)
        if held is None and db.session.scalar(select(func.count()).where(CartItem.cart_id == cart_id)) >= MAX_LINES:
            raise CartError("Your cart is full.")
        new_quantity = (held or 0) + quantity
        if new_quantity > MAX_QUANTITY:
            raise CartError(f"You can buy at most {MAX_QUANTITY} of one product.")
        if new_quantity > product.stock:
            raise CartError(f"Sorry, only {product.stock} of {product.name} left in stock.")
        if held is None:
            db.session.add(CartItem(cart_id=cart_id, product_id=product.id, quantity=new_quantity))
            db.session.flush()  # two first adds of one product at once: the second meets the unique key, retries
        else:
            _set_quantity(cart_id, product.id, new_quantity)

    _change(add_to)
    return product


def update(product_id, quantity) -> Product:
    product = _product(product_id)
    if _quantity(_cart_id(), product.id) is None:
        raise CartError("That product is not in your cart.")
    quantity = parse_quantity(quantity)
    if quantity > product.stock:
        raise CartError(f"Sorry, only {product.stock} of {product.name} left in stock.")

    def set_quantity(cart_id: str) -> None:
        if not _set_quantity(cart_id, product.id, quantity):  # removed in another tab meanwhile
            raise CartError("That product is not in your cart.")

    _change(set_quantity)
    return product


def remove(product_id) -> None:
    product_id = str(product_id)
    if _quantity(_cart_id(), product_id) is None:
        return
    _change(lambda cart_id: db.session.execute(
        sql_delete(CartItem).where(CartItem.cart_id == cart_id, CartItem.product_id == product_id)))


def clear() -> None:
    cart_store.forget()
    _drop_from_session()


def lines() -> list[CartLine]:
    """The cart's lines, in the order they were added, priced from the catalog."""
    cart_id = _cart_id()
    if cart_id is None:
        return []
    rows = db.session.execute(select(Product, CartItem.quantity).join(CartItem, CartItem.product_id == Product.id)
                              .where(CartItem.cart_id == cart_id).order_by(CartItem.id)).all()
    return [CartLine(product, quantity) for product, quantity in rows]


def count() -> int:
    cart_id = _cart_id()
    if cart_id is None:
        return 0
    return db.session.scalar(select(func.coalesce(func.sum(CartItem.quantity), 0))
                             .where(CartItem.cart_id == cart_id))


def total(cart_lines: list[CartLine]) -> int:
    return sum(line.total for line in cart_lines)


def checkout_attempt() -> str:
    """One id per cart content, shared by reloads and tabs: the confirm endpoint is idempotent on it."""
    cart_id = _cart_id()
    if cart_id is None:
        return uuid.uuid4().hex  # no cart: an id no order has, so a confirm for it is refused as a changed cart
    attempt = _attempt(cart_id)
    if attempt is None:
        db.session.execute(sql_update(Cart).where(Cart.id == cart_id, Cart.checkout_attempt.is_(None))
                           .values(checkout_attempt=uuid.uuid4().hex))
        db.session.commit()
        attempt = _attempt(cart_id) or uuid.uuid4().hex  # another tab's, if it asked at the same moment
    return attempt


def renew_attempt(old: str) -> str:
    """A new checkout attempt id in place of `old` (its order's details changed): the cart's current one."""
    cart_id = _cart_id()
    if cart_id is None:
        return uuid.uuid4().hex
    db.session.execute(sql_update(Cart).where(Cart.id == cart_id, Cart.checkout_attempt == old)
                       .values(checkout_attempt=uuid.uuid4().hex))
    db.session.commit()
    return _attempt(cart_id) or uuid.uuid4().hex


def current_attempt() -> str | None:
    """The cart's checkout attempt id if one was issued, without issuing one."""
    cart_id = _cart_id()
    return _attempt(cart_id) if cart_id is not None else None


def _attempt(cart_id: str) -> str | None:
    return db.session.scalar(select(Cart.checkout_attempt).where(Cart.id == cart_id))
