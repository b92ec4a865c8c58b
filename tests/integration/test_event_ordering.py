"""Events out of order, for orders the shop doesn't know yet, and illegal moves: each ends right, and nothing
is raised into an endless retry loop."""
import pytest
from sqlalchemy import select

from app.events.apply import apply_event
from app.events.handlers import OrderNotKnownYet, OrderNotReadyYet
from app.models import Order, OrderLine, OrderTransition, Product, StripeEvent, db
from app.events.store import store_events
from tests.support.events import event_payload


def _order(app, state="pending", pi="pi_order_1"):
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        order = Order(attempt_id=f"{pi:0<32}"[:32], amount=1200, currency="usd", state=state, email="a@b.example",
                      payment_intent_id=pi, lines=[OrderLine(product_id=product.id, name=product.name,
                                                             unit_price=1200, quantity=1)])
        db.session.add(order)
        db.session.commit()
        return order.public_id


def _store(app, event_type, obj, event_id):
    with app.app_context():
        raw = event_payload(event_type, obj, event_id=event_id)
        store_events([(__import__("json").loads(raw), raw)], source="webhook")


def _apply(app, event_id):
    with app.app_context():
        return apply_event(event_id)


def _state(app, public_id):
    with app.app_context():
        return db.session.scalars(select(Order.state).where(Order.public_id == public_id)).one()


def _succeeded(public_id, pi="pi_order_1"):
    return {"id": pi, "object": "payment_intent", "amount": 1200, "currency": "usd", "status": "succeeded",
            "metadata": {"order_id": public_id}}


def test_a_refund_before_its_payment_waits_for_the_payment(app):
    public_id = _order(app)
    _store(app, "charge.refunded", {"id": "ch_1", "object": "charge", "payment_intent": "pi_order_1",
                                    "amount_refunded": 1200, "metadata": {}}, "evt_refund")
    with pytest.raises(OrderNotReadyYet):
        _apply(app, "evt_refund")
    _store(app, "payment_intent.succeeded", _succeeded(public_id), "evt_paid")
    assert _apply(app, "evt_paid") == "fulfilled"
    assert _apply(app, "evt_refund") == "refunded"
    assert _state(app, public_id) == "refunded"


def test_an_event_for_an_unknown_order_is_retried_then_parked_visibly(app):
    _store(app, "payment_intent.succeeded", _succeeded("0" * 32, pi="pi_nobody"), "evt_orphan")
    for _ in range(6):  # job_retries=5: the sixth failure parks it
        with pytest.raises(OrderNotKnownYet):
            _apply(app, "evt_orphan")
    with app.app_context():
        event = db.session.get(StripeEvent, "evt_orphan")
        assert event.status == "parked" and event.attempts == 6
        assert "no order for payment_intent pi_nobody" in event.last_error


def test_a_parked_event_applies_once_its_order_exists_and_is_replayed(app):
    _store(app, "payment_intent.succeeded", _succeeded("f" * 32, pi="pi_late"), "evt_late")
    with pytest.raises(OrderNotKnownYet):
        _apply(app, "evt_late")
    public_id = _order(app, pi="pi_late")
    with app.app_context():
        event = db.session.get(StripeEvent, "evt_late")
        event.payload = event.payload.replace("f" * 32, public_id)
        db.session.commit()
    assert _apply(app, "evt_late") == "fulfilled"
    assert _apply(app, "evt_late") == "skipped"
    assert _state(app, public_id) == "fulfilled"


def test_a_failure_after_success_is_refused_and_recorded_not_retried(app):
    public_id = _order(app)
    _store(app, "payment_intent.succeeded", _succeeded(public_id), "evt_ok")
    _store(app, "payment_intent.payment_failed", {**_succeeded(public_id), "status": "requires_payment_method",
                                                  "last_payment_error": {"code": "card_declined"}}, "evt_late_fail")
    assert _apply(app, "evt_ok") == "fulfilled"
    assert _apply(app, "evt_late_fail") == "no_change"
    with app.app_context():
        refused = db.session.scalars(select(OrderTransition).where(OrderTransition.accepted.is_(False))).all()
        assert [(t.from_state, t.to_state) for t in refused] == [("fulfilled", "payment_failed")]
        assert db.session.get(StripeEvent, "evt_late_fail").status == "processed"
    assert _state(app, public_id) == "fulfilled"


def test_a_cancel_after_success_changes_nothing(app):
    public_id = _order(app)
    _store(app, "payment_intent.succeeded", _succeeded(public_id), "evt_s")
    _store(app, "payment_intent.canceled", {**_succeeded(public_id), "status": "canceled"}, "evt_c")
    _apply(app, "evt_c")  # canceled first: a pending order is canceled and its stock released...
    assert _state(app, public_id) == "canceled"
    assert _apply(app, "evt_s") == "no_change"  # ...and a success Stripe can't have sent after it is refused
    assert _state(app, public_id) == "canceled"


def test_a_paid_amount_that_differs_from_the_order_is_never_fulfilled(app):
    public_id = _order(app)
    _store(app, "payment_intent.succeeded", {**_succeeded(public_id), "amount": 1}, "evt_tampered")
    assert _apply(app, "evt_tampered") == "amount_mismatch"
    with app.app_context():
        assert db.session.get(StripeEvent, "evt_tampered").status == "parked"
    assert _state(app, public_id) == "pending"
