"""The order page and its JSON status, both read from the shop's own database (never from Stripe)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, session
from sqlalchemy import select

from app.models import AttemptStatus, Order, OrderState, db
from app.queues import enqueue_outcome_check
from app.shop import cart, forget_a_bought_cart
from app.orders.breakdown import breakdown
from app.orders.status import SLOW_CONFIRMATION, shopper_status, visible_email

bp = Blueprint("orders", __name__)


def _order(public_id: str) -> Order:
    order = db.session.scalars(select(Order).where(Order.public_id == public_id[:36])).first()
    if order is None:
        abort(404)
    return order


def _email(order: Order) -> str:
    return visible_email(order, order.public_id in session.get("orders", []))


def _status(order: Order):
    return shopper_status(order, _email(order), order.card)


@bp.get("/orders/<public_id>")
def show(public_id: str):
    order = _order(public_id)
    latest = order.attempts[-1] if order.attempts else None
    if order.state == OrderState.PENDING and latest and latest.status == AttemptStatus.REQUIRES_ACTION:
        # back from the bank's check: ask Stripe now rather than wait for its webhook
        enqueue_outcome_check(latest.id)
    words = _status(order)
    forget_a_bought_cart()  # as in status(): a page that says "paid" never shows the old badge
    return render_template("orders/order.html", order=order, status=words, email=_email(order),
                           breakdown=breakdown(order, current_app.config["SETTINGS"]), slow=SLOW_CONFIRMATION)


@bp.get("/orders/<public_id>/status")
def status(public_id: str):
    """The page's poll: the shopper's words for the order now, and the cart badge (emptied once it is bought)."""
    order = _order(public_id)
    words = _status(order).as_dict()
    # The worker may have paid the order since this request began: look again, so an answer that says "paid"
    # (after which the page stops asking) never carries the old badge.
    forget_a_bought_cart()
    return jsonify(id=order.public_id, state=order.state, amount=order.amount, currency=order.currency,
                   paid_at=order.paid_at.isoformat() if order.paid_at else None,
                   fulfilled_at=order.fulfilled_at.isoformat() if order.fulfilled_at else None,
                   status=words, cart_count=cart.count())


@bp.after_request
def _never_stored(response):
    """An order page names the shopper (their email, to the browser that placed it) and changes as the payment
    moves: no browser cache or proxy may keep it, nor show it again from history."""
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)
