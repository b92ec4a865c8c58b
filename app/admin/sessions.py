"""Server-side admin sessions. Flask's signed cookie carries only a random token; the `admin_session` row (keyed
by the token's SHA-256) says whose it is and whether it still counts, and is read on every admin request. A
session ends at logout, on its account's password change or disabling, after ADMIN_IDLE_SECONDS without a
request, and ADMIN_SESSION_SECONDS after the login whatever happens.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, request, session
from sqlalchemy import update

from app.models import AdminAccount, AdminSession, db, utcnow

__all__ = ["start", "current", "end", "revoke_all"]

COOKIE_KEY = "admin_session"
TOUCH_EVERY = timedelta(seconds=30)  # last_seen is written at most this often: not one write per page


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(account: AdminAccount) -> None:
    end()  # a login over an older one ends it
    token = secrets.token_urlsafe(32)
    session.clear()  # no session fixation: nothing from before the login survives it
    session[COOKIE_KEY] = token
    db.session.add(AdminSession(id=_key(token), account_id=account.id, address=(request.remote_addr or "")[:64]))
    db.session.commit()


def current() -> AdminAccount | None:
    """The account of this request's session, if the session is still good."""
    token = session.get(COOKIE_KEY)
    if not isinstance(token, str):
        return None
    row = db.session.get(AdminSession, _key(token))
    if row is None or row.revoked_at is not None:
        return None
    settings, now = current_app.config["SETTINGS"], utcnow()
    if (now - row.last_seen > timedelta(seconds=settings.admin_idle_seconds)
            or now - row.created_at > timedelta(seconds=settings.admin_session_seconds)):
        return None
    account = db.session.get(AdminAccount, row.account_id)
    if account is None or account.disabled:
        return None
    if now - row.last_seen > TOUCH_EVERY:
        row.last_seen = now
        db.session.commit()
    return account


def end() -> None:
    token = session.pop(COOKIE_KEY, None)
    if isinstance(token, str):
        db.session.execute(update(AdminSession).where(AdminSession.id == _key(token), AdminSession.revoked_at.is_(None))
                           .values(revoked_at=utcnow()))
        db.session.commit()


def revoke_all(account_id: int) -> None:
    """End every session of the account (and commit what the caller changed with it)."""
    db.session.execute(update(AdminSession).where(AdminSession.account_id == account_id,
                                                  AdminSession.revoked_at.is_(None)).values(revoked_at=utcnow()))
    db.session.commit()
