"""Discount codes against the database: looking a code up for a cart, and an order's one use of it.

An unpaid order holds one use of its code (a `DiscountRedemption`, status held) from the moment it is placed, so
a code capped at N uses is never held by more than N orders. The use goes back when the order gives its stock
back (released), is taken again with the stock, and counts for good once the order is paid (redeemed). `uses`
moves only through conditional UPDATEs, each paired with a compare-and-set on the redemption's status, so
every step happens once however many requests and workers race for it. None of these functions commits: the
caller commits them with the order.
"""
from __future__ import annotations

import logging
import re

from sqlalchemy import or_, select, update

from app.checkout.pricing import Offer
from app.models import DiscountCode, DiscountRedemption, RedemptionStatus, db, utcnow
from app.money import format_money, request_locale

__all__ = ["CodeRefused", "give_back", "hold", "hold_again", "normalise", "offer_for", "redeem"]

log = logging.getLogger(__name__)
CODES, REDEMPTIONS = DiscountCode.__table__, DiscountRedemption.__table__
MAX_LENGTH = 32
CODE = re.compile(r"[A-Za-z0-9-]{1,32}")  # ASCII only: upper-casing other scripts can turn them into ASCII
BAD_CODE = "Discount codes use letters, digits and dashes, up to 32 characters."
HELD, REDEEMED, RELEASED = (status.value for status in RedemptionStatus)


class CodeRefused(Exception):
    """A code the shopper typed cannot be used; `message` says why in the shopper's words."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def normalise(text: str) -> str:
    """" save10 " -> "SAVE10"; CodeRefused (which never repeats the input) for anything else."""
    code = (text or "")[:MAX_LENGTH + 100].strip()
    if not CODE.fullmatch(code):
        raise CodeRefused(BAD_CODE)
    return code.upper()


def offer_for(text: str, subtotal: int, currency: str, now=None) -> Offer:
    """The terms of the code typed, if a cart of `subtotal` in `currency` may use it now; else CodeRefused."""
    code = normalise(text)
    found = _code(code)
    now = now or utcnow()
    if found is None:
        raise CodeRefused(f"We don't know the code {code}. Please check it and try again.")
    if found.disabled:
        raise CodeRefused(f"The code {code} is no longer valid.")
    if found.starts_at is not None and now < found.starts_at:
        raise CodeRefused(f"The code {code} starts on {found.starts_at.day} {found.starts_at:%B %Y}.")
    if found.ends_at is not None and now >= found.ends_at:
        raise CodeRefused(f"The code {code} has expired.")
    if found.max_uses is not None and found.uses >= found.max_uses:
        raise CodeRefused(f"The code {code} has been used up.")
    if found.currency.lower() != currency.lower():
        raise CodeRefused(f"The code {code} is not for prices in {currency.upper()[:3]}.")
    if subtotal < found.min_subtotal:
        locale = request_locale()
        raise CodeRefused(f"The code {code} needs a subtotal of {format_money(found.min_subtotal, currency, locale)}; "
                          f"your cart comes to {format_money(subtotal, currency, locale)}.")
    return Offer(code=found.code, kind=found.kind, value=found.value, min_subtotal=found.min_subtotal)


def hold(order, text: str) -> None:
    """The order takes one use of the code (CodeRefused when none is left) and records it as held."""
    code = normalise(text)
    found = _code(code)
    if found is None:
        raise CodeRefused(f"We don't know the code {code}. Please check it and try again.")
    if order.id is None:
        db.session.flush()
    existing = _redemption(order)
    if existing is not None:
        if existing.code_id != found.id:
            raise ValueError(f"order {order.id} already uses another code")
        order.discount_code = code
        hold_again(order)
        return
    if not _take_use(found.id):
        raise CodeRefused(f"The code {code} has been used up.")
    db.session.add(DiscountRedemption(code_id=found.id, order_id=order.id, status=HELD))
    order.discount_code = code
    db.session.flush()  # the redemption's row exists for the UPDATEs of give_back and redeem in this transaction


def give_back(order) -> bool:
    """A held use goes back (released, `uses` - 1), once; False when there was none to give back."""
    found = _redemption(order)
    if found is None or not _move(found, HELD, RELEASED):
        return False
    db.session.execute(update(CODES).where(CODES.c.id == found.code_id, CODES.c.uses > 0)
                       .values(uses=CODES.c.uses - 1))
    return True


def hold_again(order) -> None:
    """A released use is taken again (held), once; CodeRefused when the code was used up meanwhile."""
    found = _redemption(order)
    if found is None or not _move(found, RELEASED, HELD):
        return
    if not _take_use(found.code_id):
        _move(found, HELD, RELEASED)
        raise CodeRefused(f"The code {order.discount_code} has been used up.")


def redeem(order) -> bool:
    """The paid (or authorised) order's use counts for good, once. A use given back before the money came is
    taken again regardless of the cap: the shopper paid at the discounted price (a warning says when it passes)."""
    found = _redemption(order)
    if found is None:
        return False
    if _move(found, HELD, REDEEMED):
        return True
    if not _move(found, RELEASED, REDEEMED):
        return False
    db.session.execute(update(CODES).where(CODES.c.id == found.code_id).values(uses=CODES.c.uses + 1))
    uses, max_uses, code = db.session.execute(select(CODES.c.uses, CODES.c.max_uses, CODES.c.code)
                                              .where(CODES.c.id == found.code_id)).one()
    if max_uses is not None and uses > max_uses:
        log.warning("discount code past its cap code=%s uses=%s max_uses=%s order=%s", code, uses, max_uses,
                    order.public_id)
    return True


def _code(code: str) -> DiscountCode | None:
    return db.session.scalars(select(DiscountCode).where(DiscountCode.code == code)).first()


def _redemption(order):
    """The order's redemption (its id and code), or None: no query for an order without a code."""
    if order.discount_code is None or order.id is None:
        return None
    return db.session.execute(select(REDEMPTIONS.c.id, REDEMPTIONS.c.code_id)
                              .where(REDEMPTIONS.c.order_id == order.id)).first()


def _take_use(code_id: int) -> bool:
    """One more use, unless the cap is reached: a conditional UPDATE, so racing orders never pass it."""
    return bool(db.session.execute(update(CODES).where(
        CODES.c.id == code_id, or_(CODES.c.max_uses.is_(None), CODES.c.uses < CODES.c.max_uses))
        .values(uses=CODES.c.uses + 1)).rowcount)


def _move(redemption, source: str, target: str) -> bool:
    """Compare-and-set the redemption's status: True for the one caller that made the move."""
    return bool(db.session.execute(update(REDEMPTIONS).where(
        REDEMPTIONS.c.id == redemption.id, REDEMPTIONS.c.status == source)
        .values(status=target, updated_at=utcnow())).rowcount)
