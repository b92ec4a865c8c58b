"""Catalog, product pages and the cart. Never calls Stripe."""
from __future__ import annotations

from flask import Blueprint, abort, flash, has_request_context, redirect, render_template, request, session, url_for
from sqlalchemy import select

from app.models import AttemptStatus, Order, OrderState, PaymentAttempt, Product, db
from app.shop import cart

bp = Blueprint("shop", __name__)
# the cart's order is paid, or Stripe has it and will tell: the cart must not be bought a second time
CART_BOUGHT = {AttemptStatus.SUCCEEDED, AttemptStatus.PROCESSING}
# no page a shopper opens: the confirm answers from the order itself and Stripe's deliveries carry no cart, so
# neither pays for the cart's lookups
NOT_A_PAGE = {"static", "checkout.confirm", "webhooks.receive"}


@bp.before_app_request
def forget_a_bought_cart():
    """Empty the cart, on whichever page the shopper opens next, once its order is paid or processing, however
    the shop learned it (the confirm's answer, the worker applying Stripe's webhook, a status poll)."""
    if request.endpoint in NOT_A_PAGE:
        return
    attempt_id = cart.current_attempt()
    if not attempt_id:
        return
    order = db.session.scalars(select(Order).where(Order.attempt_id == attempt_id)).first()
    if order is None:
        return
    bought = order.state in OrderState.SECURED or db.session.scalar(
        select(PaymentAttempt.id).where(PaymentAttempt.order_id == order.id,
                                        PaymentAttempt.status.in_(CART_BOUGHT)).limit(1)) is not None
    if bought:
        cart.clear()
        session["bought"] = order.public_id  # a reload of its checkout goes to this order's page


@bp.get("/")
def catalog():
    products = db.session.query(Product).order_by(Product.name).all()
    return render_template("shop/catalog.html", products=products)


@bp.get("/products/<product_id>")
def product(product_id: str):
    item = db.session.get(Product, product_id[:64])
    if item is None:
        abort(404)
    return render_template("shop/product.html", product=item, max_quantity=cart.MAX_QUANTITY)


@bp.get("/cart")
def view_cart():
    lines = cart.lines()
    return render_template("shop/cart.html", lines=lines, total=cart.total(lines), max_quantity=cart.MAX_QUANTITY)


@bp.post("/cart/add")
def add_to_cart():
    try:
        product = cart.add(request.form.get("product_id"), request.form.get("quantity", "1"))
    except cart.CartError as error:
        return _cart_error(str(error))
    flash(f"Added {product.name} to your cart.", "success")
    return redirect(url_for("shop.view_cart"), code=303)


@bp.post("/cart/update")
def update_cart():
    try:
        cart.update(request.form.get("product_id"), request.form.get("quantity"))
    except cart.CartError as error:
        return _cart_error(str(error))
    return redirect(url_for("shop.view_cart"), code=303)


@bp.post("/cart/remove")
def remove_from_cart():
    cart.remove(request.form.get("product_id", ""))
    return redirect(url_for("shop.view_cart"), code=303)


def _cart_error(message: str):
    lines = cart.lines()
    return render_template("shop/cart.html", lines=lines, total=cart.total(lines), error=message,
                           max_quantity=cart.MAX_QUANTITY), 400


def init_app(app) -> None:
    from app.shop import pages

    app.register_blueprint(bp)
    app.register_blueprint(pages.bp)

    @app.context_processor
    def cart_badge():
        return {"cart_count": cart.count() if has_request_context() else 0}  # a worker renders mail too
