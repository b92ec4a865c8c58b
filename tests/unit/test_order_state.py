"""The order state machine: legal moves happen, illegal ones are refused and recorded, stock follows."""
import pytest

from app.models import Order, OrderLine, OrderState, OrderTransition, Product, db
from app.orders.state import OutOfStock, can_transition, reserve_stock, transition

S = OrderState


@pytest.mark.parametrize("current,target,allowed", [
    (S.PENDING, S.PAID, True), (S.PAID, S.FULFILLED, True), (S.FULFILLED, S.REFUNDED, True),
    (S.PENDING, S.PAYMENT_FAILED, True), (S.PAYMENT_FAILED, S.PAID, True), (S.PENDING, S.CANCELED, True),
    (S.PAID, S.PAYMENT_FAILED, False), (S.FULFILLED, S.PAYMENT_FAILED, False), (S.FULFILLED, S.PENDING, False),
    (S.REFUNDED, S.PAID, False), (S.CANCELED, S.PAID, False), (S.PENDING, S.FULFILLED, False),
])
def test_the_machine_allows_only_the_documented_moves(current, target, allowed):
    assert can_transition(current.value, target) is allowed


def _order(app, quantity=2, state=S.PENDING):
    product = db.session.get(Product, "enamel-mug")
    order = Order(attempt_id="a" * 32, amount=product.price * quantity, currency="usd", state=state.value,
                  lines=[OrderLine(product_id=product.id, name=product.name, unit_price=product.price,
                                   quantity=quantity)])
    db.session.add(order)
    db.session.flush()
    return order, product


def test_a_late_failure_never_reverts_a_paid_order_and_is_recorded(app):
    with app.app_context():
        order, _ = _order(app, state=S.PAID)
        assert transition(order, S.PAYMENT_FAILED, "late event") is False
        assert order.state == "paid"
        refused = db.session.query(OrderTransition).filter_by(order_id=order.id, accepted=False).one()
        assert (refused.from_state, refused.to_state) == ("paid", "payment_failed")


def test_a_failed_payment_releases_stock_and_a_later_success_takes_it_again(app):
    with app.app_context():
        order, product = _order(app, quantity=3)
        start = product.stock
        reserve_stock(order)
        db.session.refresh(product)
        assert product.stock == start - 3
        assert transition(order, S.PAYMENT_FAILED)
        db.session.refresh(product)
        assert product.stock == start
        assert transition(order, S.PAID)
        db.session.refresh(product)
        assert product.stock == start - 3


def test_stock_never_goes_below_zero(app):
    with app.app_context():
        order, product = _order(app, quantity=5)
        product.stock = 4
        db.session.flush()
        with pytest.raises(OutOfStock):
            reserve_stock(order)
        db.session.rollback()
        assert db.session.get(Product, "enamel-mug").stock >= 0


def test_every_accepted_transition_is_counted_and_a_refused_one_is_not(app):
    from app.telemetry import metrics

    def count(state):
        return metrics.ORDERS.labels(state)._value.get()

    with app.app_context():
        order, _ = _order(app)
        paid, failed = count("paid"), count("payment_failed")
        assert transition(order, S.PAID)
        assert not transition(order, S.PAYMENT_FAILED)
        assert (count("paid") - paid, count("payment_failed") - failed) == (1, 0)
