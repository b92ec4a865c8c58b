"""Named admin accounts: each person has a name, a password (a werkzeug scrypt hash) and optionally a TOTP second
factor. Accounts are made and changed with `shop admin ...` (app/admin/commands.py); a password change or
disabling an account ends every session it has.

ADMIN_PASSWORD_HASH bootstraps: while no account exists at all, it is the password of an account named `admin`,
which is created at its first login; from then on the setting is not read.
"""
from __future__ import annotations

import hmac
import time
from functools import lru_cache

import pyotp
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from app.admin import sessions
from app.models import AdminAccount, db

__all__ = ["BOOTSTRAP_NAME", "AccountError", "any_account", "find", "verify", "create", "set_password", "disable",
           "enable_totp", "hash_password"]

BOOTSTRAP_NAME = "admin"
MIN_PASSWORD = 12
NAME_MAX = 64


class AccountError(Exception):
    pass


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return hash_password("no account has this password")


def any_account() -> bool:
    return db.session.scalar(select(AdminAccount.id).limit(1)) is not None


def find(name: str) -> AdminAccount | None:
    account = db.session.scalars(select(AdminAccount).where(AdminAccount.name == name)).first()
    bootstrap_hash = current_app.config["SETTINGS"].admin_password_hash
    if account is None and name == BOOTSTRAP_NAME and bootstrap_hash and not any_account():
        db.session.add(AdminAccount(name=BOOTSTRAP_NAME, password_hash=bootstrap_hash))
        try:
            db.session.commit()
        except IntegrityError:  # a concurrent first login made it
            db.session.rollback()
        account = db.session.scalars(select(AdminAccount).where(AdminAccount.name == name)).first()
    return account


def verify(name: str, password: str, code: str) -> AdminAccount | None:
    """The account if the name, password and (when the account has one) TOTP code are right, else None. An
    unknown or disabled name costs the same hash check as a known one."""
    account = find(name) if 0 < len(name) <= NAME_MAX else None
    usable = account is not None and not account.disabled
    if not check_password_hash(account.password_hash if usable else _decoy_hash(), password) or not usable:
        return None
    if account.totp_secret and not _code_ok(account, code.strip()):
        return None
    return account


def _code_ok(account: AdminAccount, code: str) -> bool:
    """A current code (one 30 s step of clock drift either way), each accepted once."""
    totp = pyotp.TOTP(account.totp_secret)
    now = int(time.time()) // totp.interval
    for step in (now - 1, now, now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and step > (account.totp_last_step or -1):
            account.totp_last_step = step
            db.session.commit()
            return True
    return False


def create(name: str, password: str) -> AdminAccount:
    _check(name, password)
    account = AdminAccount(name=name, password_hash=hash_password(password))
    db.session.add(account)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AccountError(f"an account named {name} already exists") from None
    return account


def set_password(name: str, password: str) -> None:
    account = _existing(name)
    _check(name, password)
    account.password_hash = hash_password(password)
    sessions.revoke_all(account.id)  # commits


def disable(name: str) -> None:
    account = _existing(name)
    account.disabled = True
    sessions.revoke_all(account.id)


def enable_totp(name: str) -> str:
    """A new TOTP secret for the account; the otpauth:// URI to put in an authenticator app."""
    account = _existing(name)
    account.totp_secret, account.totp_last_step = pyotp.random_base32(), None
    db.session.commit()
    return pyotp.TOTP(account.totp_secret).provisioning_uri(name=name, issuer_name="Shop admin")


def _existing(name: str) -> AdminAccount:
    account = db.session.scalars(select(AdminAccount).where(AdminAccount.name == name)).first()
    if account is None:
        raise AccountError(f"no account named {name}")
    return account


def _check(name: str, password: str) -> None:
    if not (0 < len(name) <= NAME_MAX and name.isprintable() and name.strip() == name):
        raise AccountError(f"a name is 1 to {NAME_MAX} printable characters without surrounding spaces")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"use at least {MIN_PASSWORD} characters")
