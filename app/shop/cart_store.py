"""Which cart is this browser's: a row named by a long-lived, HttpOnly cookie, kept for 30 days after its last use.

- The cookie holds a random token; the table holds only its SHA-256, so a copy of the database opens no cart.
- A row is made by the first change (a visitor who only browses gets neither a row nor a cookie). A cookie that
  names no live cart (expired, purged, forged) counts as no cart and is deleted from the browser.
- Two tabs share the cookie, so they share the cart. Two first adds at once from two tabs make one cart too: the
  new cart's token is derived from the browser's session (its CSRF secret), so both requests name the same row.
- Every change locks the cart's row before it touches the lines (`change`), so changes to one cart happen one
  after another on PostgreSQL as on SQLite, and a changed cart drops its checkout attempt in the same write.
- A cart in use is stamped (and its cookie renewed) at most once a day; `purge_expired` deletes the rest.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from typing import Callable

from flask import after_this_request, current_app, g, request, session
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app.models import Cart, db, utcnow

__all__ = ["COOKIE", "LIFETIME", "current_id", "change", "forget", "purge_expired", "Busy"]

COOKIE = "cart"
LIFETIME = timedelta(days=30)
TOUCH_EVERY = timedelta(days=1)
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # 32 random bytes, URL-safe base64 without padding
ATTEMPTS = 3  # a change that loses a unique key to a concurrent one (two first adds at once) is tried again


class Busy(Exception):
    """The cart kept changing under this request (only under a storm of concurrent changes)."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    seed = session.get(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
    if not isinstance(seed, str) or not seed:
        return secrets.token_urlsafe(32)
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    mac = hmac.new(key, b"cart\0" + seed.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def current_id() -> str | None:
    """This browser's live cart, looked up once per request (stamping it, at most daily, as in use)."""
    if "cart_id" in g:
        return g.cart_id
    g.cart_id = None
    token = request.cookies.get(COOKIE)
    if token is None:
        return None
    now = utcnow()
    row = db.session.execute(select(Cart.id, Cart.updated_at).where(
        Cart.id == _digest(token), Cart.updated_at >= now - LIFETIME)).first() if TOKEN.fullmatch(token) else None
    if row is None:
        _send_cookie("")  # expired, purged or never ours: a new cart starts with the next add
        return None
    if row.updated_at < now - TOUCH_EVERY:
        db.session.execute(update(Cart).where(Cart.id == row.id).values(updated_at=now))
        db.session.commit()
        _send_cookie(token)
    g.cart_id = row.id
    return row.id


def change(apply: Callable[[str], None]) -> None:
    """Run `apply(cart_id)` on this browser's cart (a new one if it has none) with the cart's row locked, drop
    the cart's checkout attempt, and commit. An exception from `apply` rolls everything back, the new cart too."""
    for _ in range(ATTEMPTS):
        cart_id = current_id()
        token = request.cookies.get(COOKIE) if cart_id else None
        try:
            if not (cart_id and _stamp(cart_id)):
                token = _new_token()
                cart_id = _digest(token)
                if not _stamp(cart_id):
                    db.session.add(Cart(id=cart_id))
                    db.session.flush()
            apply(cart_id)
            db.session.commit()
        except IntegrityError:  # another tab made this cart, or a line of it, at the same moment: look again
            db.session.rollback()
            g.pop("cart_id", None)
            continue
        except BaseException:
            db.session.rollback()
            raise
        g.cart_id = cart_id
        _send_cookie(token)
        return
    raise Busy()


def _stamp(cart_id: str) -> bool:
    """Mark the cart changed (taking its row lock until the commit); False if there is no such cart."""
    return db.session.execute(update(Cart).where(Cart.id == cart_id)
                              .values(updated_at=utcnow(), checkout_attempt=None)).rowcount == 1


def forget() -> None:
    """Delete this browser's cart and its cookie."""
    cart_id = current_id()
    if cart_id is not None:
        db.session.execute(delete(Cart).where(Cart.id == cart_id))  # its lines go with it (ON DELETE CASCADE)
        db.session.commit()
    g.cart_id = None
    if COOKIE in request.cookies or g.get("cart_cookie"):
        _send_cookie("")


def purge_expired() -> int:
    """Delete the carts nobody has used for LIFETIME (their lines go with them); returns how many."""
    deleted = db.session.execute(delete(Cart).where(Cart.updated_at < utcnow() - LIFETIME)).rowcount
    db.session.commit()
    return deleted


def _send_cookie(token: str) -> None:
    """Set (token) or delete ("") the cart cookie on this request's response; the last call wins."""
    first = "cart_cookie" not in g
    g.cart_cookie = token
    if first:
        after_this_request(_write_cookie)


def _write_cookie(response):
    settings = current_app.config["SETTINGS"]
    secure = settings.is_production or settings.force_https  # as the session cookie: never over plain HTTP
    options = {"path": "/", "httponly": True, "samesite": "Lax", "secure": secure}
    if g.cart_cookie:
        response.set_cookie(COOKIE, g.cart_cookie, max_age=int(LIFETIME.total_seconds()), **options)
    else:
        response.delete_cookie(COOKIE, **options)
    return response
