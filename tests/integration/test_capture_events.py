"""Manual-capture events, applied as a worker applies them: an authorisation captured (in full or in part) or
voided, in every order the events can be applied in, each delivered twice and again as a second Event object,
ends in the same state with its email written once and its stock where it belongs."""
from __future__ import annotations

import itertools
import json
import random
import re
from datetime import timedelta

from sqlalchemy import select

from app.events.apply import apply_event
from app.events.store import store_events
from app.models import Order, OrderLine, OutboxEmail, Product, StripeEvent, db, utcnow
from tests.support.events import event_payload
from tests.support.events import shuffled_twice

PRICE = 1200


def _order(app, pi: str) -> str:
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        product.stock -= 1  # the order's hold, as checkout takes it
        order = Order(attempt_id=f"{pi:0>32}"[-32:], amount=PRICE, currency="usd", state="pending",
                      email="a@b.example", payment_intent_id=pi,
                      lines=[OrderLine(product_id=product.id, name=product.name, unit_price=PRICE, quantity=1)])
        db.session.add(order)
        db.session.commit()
        return order.public_id


def _send(app, event_type: str, obj: dict) -> str:
    """Store the event (delivered twice: the second delivery is a duplicate) and apply it."""
    event_id = f"evt_{random.getrandbits(64):x}"
    with app.app_context():
        raw = event_payload(event_type, obj, event_id=event_id)
        store_events([(json.loads(raw), raw), (json.loads(raw), raw)], source="webhook")
        return apply_event(event_id)


def _intent(pi: str, public_id: str, status: str, **extra) -> dict:
    return {"id": pi, "object": "payment_intent", "amount": PRICE, "currency": "usd", "status": status,
            "capture_method": "manual", "latest_charge": f"ch_{pi}", "metadata": {"order_id": public_id}, **extra}


def _charge(pi: str, captured: bool, amount_captured: int, amount_refunded: int) -> dict:
    return {"id": f"ch_{pi}", "object": "charge", "payment_intent": pi, "amount": PRICE, "currency": "usd",
            "captured": captured, "amount_captured": amount_captured, "amount_refunded": amount_refunded,
            "metadata": {}, "refunds": {"object": "list", "data": [], "has_more": False}}


def _facts(app, public_id: str) -> dict:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        mails = db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.order_id == order.id)
                                   .order_by(OutboxEmail.kind)).all()
        return {"state": order.state, "captured": order.amount_captured, "refunded": order.amount_refunded,
                "mails": mails, "stock_reserved": order.stock_reserved}


def _stock(app) -> int:
    with app.app_context():
        return db.session.get(Product, "enamel-mug").stock


def _capture_events(pi: str, public_id: str, captured: int) -> list:
    return [("payment_intent.amount_capturable_updated",
             _intent(pi, public_id, "requires_capture", amount_capturable=PRICE, amount_received=0)),
            ("charge.captured", _charge(pi, True, captured, PRICE - captured)),
            ("payment_intent.succeeded",
             _intent(pi, public_id, "succeeded", amount_capturable=0, amount_received=captured))]


def test_a_capture_in_full_or_in_part_ends_fulfilled_with_one_receipt_in_every_order_of_its_events(app):
    stock = _stock(app)
    for captured in (PRICE, 800):
        for n, order in enumerate(itertools.permutations(range(3))):
            pi = f"pi_cap_{captured}_{n}"
            public_id = _order(app, pi)
            for event_type, obj in shuffled_twice(_capture_events(pi, public_id, captured), order, seed=n):
                _send(app, event_type, obj)
            facts = _facts(app, public_id)
            assert facts == {"state": "fulfilled", "captured": captured, "refunded": 0, "mails": ["receipt"],
                             "stock_reserved": True}, (captured, order)
    assert _stock(app) == stock - 12  # every captured order keeps its unit


def test_a_void_ends_canceled_with_one_email_and_the_stock_back_in_every_order_of_its_events(app):
    stock = _stock(app)
    for n, order in enumerate(itertools.permutations(range(3))):
        pi = f"pi_void_{n}"
        public_id = _order(app, pi)
        events = [("payment_intent.amount_capturable_updated",
                   _intent(pi, public_id, "requires_capture", amount_capturable=PRICE)),
                  ("charge.refunded", _charge(pi, False, 0, PRICE)),  # Stripe's word for a released authorisation
                  ("payment_intent.canceled", _intent(pi, public_id, "canceled", amount_capturable=0,
                                                      cancellation_reason="requested_by_customer"))]
        for event_type, obj in shuffled_twice(events, order, seed=n):
            _send(app, event_type, obj)
        facts = _facts(app, public_id)
        assert facts == {"state": "canceled", "captured": None, "refunded": 0, "mails": ["canceled"],
                         "stock_reserved": False}, order
    assert _stock(app) == stock


def test_an_authorisation_event_marks_the_order_authorised_and_keeps_its_stock(app):
    stock = _stock(app)
    public_id = _order(app, "pi_auth")
    assert _send(app, "payment_intent.amount_capturable_updated",
                 _intent("pi_auth", public_id, "requires_capture", amount_capturable=PRICE)) == "authorised"
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        assert (order.state, order.stock_reserved) == ("authorised", True) and order.authorised_at is not None
    assert _stock(app) == stock - 1
    assert _facts(app, public_id)["mails"] == []  # the receipt is sent when the money is taken
    status = app.test_client().get(f"/orders/{public_id}/status").json["status"]
    assert status["headline"] == "Order confirmed. We're preparing your parcel."
    assert status["payment"] == "Authorised on your card" and "charged when your parcel ships" in status["detail"]


def test_an_authorisation_for_another_amount_is_parked_and_not_applied(app):
    public_id = _order(app, "pi_auth_wrong")
    wrong = _intent("pi_auth_wrong", public_id, "requires_capture", amount_capturable=1) | {"amount": 1}
    _send(app, "payment_intent.amount_capturable_updated", wrong)
    assert _facts(app, public_id)["state"] == "pending"
    with app.app_context():
        assert db.session.scalars(select(StripeEvent.status).where(
            StripeEvent.type == "payment_intent.amount_capturable_updated")).all() == ["parked"]


def test_an_authorisation_near_stripes_seven_day_limit_shows_on_metrics_and_in_shop_authorisations(app):
    public_id = _order(app, "pi_old")
    _send(app, "payment_intent.amount_capturable_updated",
          _intent("pi_old", public_id, "requires_capture", amount_capturable=PRICE))
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        order.authorised_at = utcnow() - timedelta(days=6, hours=12)
        db.session.commit()
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'shop_authorisations{age="6-7d"} 1.0' in text
    oldest = float(re.search(r"^shop_authorisation_oldest_age_seconds (\S+)$", text, re.M).group(1))
    assert 6 * 86400 < oldest < 7 * 86400  # past the AuthorisationNearExpiry threshold (deploy/prometheus-alerts.yml)
    listed = app.test_cli_runner().invoke(args=["authorisations"])
    assert listed.exit_code == 0 and f"{public_id} 1200 usd 6.5 days" in listed.output
