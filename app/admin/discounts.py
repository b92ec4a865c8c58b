"""The admin's discount codes: the list with each code's terms and uses, a form to create one, and disable/enable.

Amounts are typed in major units ("12.50") and read exactly into minor units of the shop's currency; dates are
UTC. Bad input is answered 400 with the form as typed and nothing stored. Each change is in the audit trail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from flask import current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.admin import audit, bp
from app.admin.refunds import BadAmount, parse_amount
from app.checkout.discounts import CodeRefused, normalise
from app.models import DiscountCode, DiscountKind, db, utcnow
from app.money import format_money

__all__ = ["BadCode", "create_code", "describe", "status_of"]

PAGE = 200
MAX_AMOUNT = 100_000_000  # minor units: a fixed discount or minimum past this is a typing slip
MAX_USES = 10_000_000
WHOLE = re.compile(r"[0-9]{1,9}")
WHEN = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ]([0-9]{2}:[0-9]{2}))?")


class BadCode(ValueError):
    """Input the form refuses: the page says why and nothing is stored."""


@dataclass(frozen=True)
class Terms:
    code: str
    kind: str
    value: int
    min_subtotal: int
    starts_at: datetime | None
    ends_at: datetime | None
    max_uses: int | None


def read_form(form, currency: str) -> Terms:
    """The create form -> checked terms in minor units and UTC; BadCode names what is wrong."""
    try:
        code = normalise(form.get("code", ""))
    except CodeRefused as refused:
        raise BadCode(refused.message) from None
    kind = form.get("kind", "")
    value_text = form.get("value", "").strip()
    if kind == DiscountKind.PERCENT:
        if not WHOLE.fullmatch(value_text) or not 1 <= int(value_text) <= 100:
            raise BadCode("A percent discount is a whole number from 1 to 100.")
        value = int(value_text)
    elif kind == DiscountKind.FIXED:
        value = _amount(value_text, currency, "The fixed discount")
    else:
        raise BadCode("Choose a percent or a fixed amount off.")
    min_text = form.get("min_subtotal", "").strip()
    min_subtotal = 0 if min_text in ("", "0") else _amount(min_text, currency, "The minimum subtotal")
    starts_at = _when(form.get("starts_at", ""), "start", end=False)
    ends_at = _when(form.get("ends_at", ""), "end", end=True)
    if starts_at and ends_at and ends_at <= starts_at:
        raise BadCode("The end date is before the start date.")
    uses_text = form.get("max_uses", "").strip()
    if uses_text and (not WHOLE.fullmatch(uses_text) or not 1 <= int(uses_text) <= MAX_USES):
        raise BadCode(f"The usage cap is a whole number from 1 to {MAX_USES:,}, or empty for no cap.")
    return Terms(code, kind, value, min_subtotal, starts_at, ends_at, int(uses_text) if uses_text else None)


def _amount(text: str, currency: str, name: str) -> int:
    try:
        amount = parse_amount(text, currency)
    except BadAmount:
        raise BadCode(f"{name} is an amount above zero like 12.50, in {currency.upper()} with no more decimals "
                      f"than it has, up to {format_money(MAX_AMOUNT, currency)}.") from None
    if amount > MAX_AMOUNT:
        raise BadCode(f"{name} of {format_money(amount, currency)} is more than any order.")
    return amount


def _when(text: str, name: str, end: bool) -> datetime | None:
    """"2026-12-01" or "2026-12-01T09:30" (UTC) -> a datetime; a date alone ends at the end of its day."""
    text = text.strip()
    if not text:
        return None
    match = WHEN.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        moment = datetime.fromisoformat(f"{match[1]}T{match[2] or '00:00'}").replace(tzinfo=timezone.utc)
    except ValueError:
        raise BadCode(f"The {name} date is a date like 2026-12-01, optionally with a time like 09:30 (UTC).") from None
    return moment + timedelta(days=1) if end and not match[2] else moment


def create_code(terms: Terms, currency: str, account: str) -> DiscountCode:
    if db.session.scalars(select(DiscountCode.id).where(DiscountCode.code == terms.code)).first() is not None:
        raise BadCode(f"There is already a code {terms.code}.")
    row = DiscountCode(code=terms.code, kind=terms.kind, value=terms.value, currency=currency,
                       min_subtotal=terms.min_subtotal, starts_at=terms.starts_at, ends_at=terms.ends_at,
                       max_uses=terms.max_uses, uses=0, disabled=False, created_by=account)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:  # the same code created at the same moment
        db.session.rollback()
        raise BadCode(f"There is already a code {terms.code}.") from None
    return row


def describe(row: DiscountCode) -> str:
    """The code's terms as a shopper would read them: "10% off" or "$5.00 off"."""
    if row.kind == DiscountKind.PERCENT:
        return f"{row.value}% off"
    return f"{format_money(row.value, row.currency)} off"


def status_of(row: DiscountCode, now: datetime) -> str:
    if row.disabled:
        return "disabled"
    if row.ends_at is not None and now >= row.ends_at:
        return "expired"
    if row.starts_at is not None and now < row.starts_at:
        return "scheduled"
    if row.max_uses is not None and row.uses >= row.max_uses:
        return "used up"
    return "active"


def _page(form=None, status: int = 200):
    rows = db.session.scalars(select(DiscountCode).order_by(DiscountCode.id.desc()).limit(PAGE)).all()
    return render_template("admin/discounts.html", codes=rows, form=form or {}, describe=describe,
                           status_of=status_of, now=utcnow(),
                           currency=current_app.config["SETTINGS"].currency), status


@bp.get("/discounts")
def discounts():
    return _page()


@bp.post("/discounts")
def create_discount():
    currency = current_app.config["SETTINGS"].currency
    try:
        row = create_code(read_form(request.form, currency), currency, g.admin_account.name)
    except BadCode as error:  # said at once, nothing stored
        flash(str(error), "error")
        return _page(request.form, 400)
    outcome = f"created: {describe(row)}"
    audit.record(g.admin_account.name, "discount-create", row.code, outcome,
                 row.value if row.kind == DiscountKind.FIXED else None, currency)
    flash(f"Code {row.code} is created: {describe(row)}.", "success")
    return redirect(url_for("admin.discounts"))


@bp.post("/discounts/<int:code_id>/<any(disable, enable):action>")
def switch_discount(code_id: int, action: str):
    row = db.session.get(DiscountCode, code_id)
    if row is None:
        return "No such code", 404
    row.disabled = action == "disable"
    db.session.commit()
    audit.record(g.admin_account.name, f"discount-{action}", row.code, f"{action}d")
    flash(f"Code {row.code} is {action}d.", "success")
    return redirect(url_for("admin.discounts"))
