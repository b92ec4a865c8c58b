"""The order page and its JSON status, both read from the shop's own database (never from Stripe)."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, session
from sqlalchemy import select

from ..models import Order, OrderState, db
from ..shop import cart

bp = Blueprint("orders", __name__)
DONE = {OrderState.PAID.value, OrderState.FULFILLED.value}


def _order(public_id: str) -> Order:
    order = db.session.scalars(select(Order).where(Order.public_id == public_id[:36])).first()
    if order is None:
        abort(404)
    return order


@bp.get("/orders/<public_id>")
def show(public_id: str):
    order = _order(public_id)
    if order.state in DONE and session.get("checkout_attempt") == order.attempt_id:
        cart.clear()
    return render_template("orders/order.html", order=order)


@bp.get("/orders/<public_id>/status")
def status(public_id: str):
    order = _order(public_id)
    return jsonify(id=order.public_id, state=order.state, amount=order.amount, currency=order.currency,
                   paid_at=order.paid_at.isoformat() if order.paid_at else None,
                   fulfilled_at=order.fulfilled_at.isoformat() if order.fulfilled_at else None)
