"""The admin audit trail: each refund, refund retry, event replay and job retry is written down with who did
it, to what, for how much, from which address and how it went."""
from __future__ import annotations

from flask import request
from sqlalchemy import select

from app.models import AdminAction, db

__all__ = ["record", "latest", "about"]

PAGE = 100


def record(account_name: str, action: str, target: str, outcome: str, amount: int | None = None,
           currency: str | None = None) -> None:
    db.session.add(AdminAction(account_name=account_name, action=action, target=target[:255], amount=amount,
                               currency=currency, outcome=outcome[:200],
                               address=(request.remote_addr or "")[:64]))
    db.session.commit()


def latest(limit: int = PAGE) -> list[AdminAction]:
    return db.session.scalars(select(AdminAction).order_by(AdminAction.id.desc()).limit(limit)).all()


def about(target: str) -> list[AdminAction]:
    return db.session.scalars(select(AdminAction).where(AdminAction.target == target)
                              .order_by(AdminAction.id)).all()
