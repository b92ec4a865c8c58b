"""The cart prices every line from the catalog and refuses absurd quantities and unknown products."""
import pytest
from sqlalchemy import func, select

from app.models import Cart, db
from app.shop import cart


def test_totals_come_from_the_catalog_not_the_client(app):
    with app.test_request_context():
        from flask import session

        session["cart"] = {"enamel-mug": 3, "burr-grinder": 1}
        lines = cart.lines()
        prices = {line.product.id: line.product.price for line in lines}
        assert cart.total(lines) == 3 * prices["enamel-mug"] + prices["burr-grinder"]
        assert cart.total(lines) == 3 * 1200 + 8900


@pytest.mark.parametrize("quantity", ["0", "-1", "100", "1.5", "abc", "", None, "1e3", "99999999999999999999"])
def test_absurd_quantities_are_refused(app, quantity):
    with app.test_request_context():
        with pytest.raises(cart.CartError):
            cart.add("enamel-mug", quantity)
        assert cart.lines() == []


def test_unknown_products_are_refused(app):
    with app.test_request_context():
        with pytest.raises(cart.CartError, match="does not exist"):
            cart.add("no-such-thing", "1")


def test_a_cart_change_starts_a_new_checkout_attempt(app):
    with app.test_request_context():
        cart.add("enamel-mug", "1")
        first = cart.checkout_attempt()
        assert cart.checkout_attempt() == first
        cart.add("enamel-mug", "1")
        assert cart.checkout_attempt() != first


def test_current_attempt_reports_the_attempt_without_issuing_one(app):
    with app.test_request_context():
        assert cart.current_attempt() is None
        cart.add("enamel-mug", "1")
        assert cart.current_attempt() is None
        attempt = cart.checkout_attempt()
        assert cart.current_attempt() == attempt
        cart.update("enamel-mug", "2")
        assert cart.current_attempt() is None


def test_removing_and_clearing_empty_the_cart(app):
    with app.test_request_context():
        cart.add("enamel-mug", "2")
        cart.add("burr-grinder", "1")
        cart.remove("enamel-mug")
        assert [(line.product.id, line.quantity) for line in cart.lines()] == [("burr-grinder", 1)]
        assert cart.count() == 1
        cart.clear()
        assert cart.lines() == [] and cart.count() == 0 and cart.current_attempt() is None
        assert db.session.scalar(select(func.count()).select_from(Cart)) == 0
