"""A bank debit that settles later, applied as a worker applies its events: payment_intent.processing, then
succeeded or payment_failed, in every order Stripe can deliver them (processing after succeeded), each delivered
twice and as a second Event object, end in the same state with the same emails, once each; the stock stays held
while the bank may still answer (DELAYED_PAYMENT_HOLD_DAYS) and no longer."""
from __future__ import annotations

import itertools
import json
import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.events.apply import apply_event
from app.events.store import store_events
from app.models import Order, OrderLine, OutboxEmail, PaymentAttempt, Product, db, utcnow
from app.orders.expiry import expire_pending_orders
from app.orders.holds import release_stale, units_held
from app.orders.state import reserve_stock
from app.orders.status import shopper_status
from tests.support.events import event_payload

MUG = "enamel-mug"


def _order(app, pi: str, email: str = "a@b.example") -> str:
    """A pending order holding one mug, as checkout leaves it."""
    with app.app_context():
        product = db.session.get(Product, MUG)
        order = Order(attempt_id=f"{pi:0>32}"[-32:], amount=1200, currency="usd", email=email,
                      payment_intent_id=pi, lines=[OrderLine(product_id=product.id, name=product.name,
                                                             unit_price=1200, quantity=1)])
        db.session.add(order)
        db.session.flush()
        reserve_stock(order)
        db.session.commit()
        return order.public_id


def _intent(pi: str, public_id: str, status: str) -> dict:
    intent = {"id": pi, "object": "payment_intent", "amount": 1200, "currency": "usd", "status": status,
              "metadata": {"order_id": public_id}, "payment_method_types": ["card", "us_bank_account"]}
    if status == "requires_payment_method":
        intent["last_payment_error"] = {"type": "card_error", "code": "payment_method_provider_decline",
                                        "decline_code": "insufficient_funds",
                                        "payment_method": {"type": "us_bank_account"}}
    return intent


def _send(app, event_type: str, obj: dict, event_id: str) -> str:
    """Store the event (delivered twice: the second delivery is a duplicate) and apply it."""
    with app.app_context():
        raw = event_payload(event_type, obj, event_id=event_id)
        store_events([(json.loads(raw), raw), (json.loads(raw), raw)], source="webhook")
        return apply_event(event_id)


def _facts(app, public_id: str) -> dict:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        mails = db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.order_id == order.id)
                                   .order_by(OutboxEmail.kind)).all()
        return {"state": order.state, "held": order.stock_reserved, "mails": mails,
                "stock": db.session.get(Product, MUG).stock}


def _stock(app) -> int:
    with app.app_context():
        return db.session.get(Product, MUG).stock


def _events(pi: str, public_id: str, outcome: str) -> list[tuple[str, dict]]:
    final = ("payment_intent.succeeded", _intent(pi, public_id, "succeeded")) if outcome == "succeeded" else \
        ("payment_intent.payment_failed", _intent(pi, public_id, "requires_payment_method"))
    return [("payment_intent.processing", _intent(pi, public_id, "processing")), final]


def _shuffled_twice(events: list, order: tuple, seed: int) -> list:
    """The events in the given order, each sent again as a second Event object somewhere after it."""
    sequence = [(i, events[i]) for i in order]
    rng = random.Random(seed)
    for item in list(sequence):
        at = sequence.index(item) + 1
        sequence.insert(rng.randint(at, len(sequence)), item)
    return sequence


ENDINGS = {  # what each order of a debit's two events ends in, and the shopper's emails
    ("succeeded", (0, 1)): ("fulfilled", True, ["processing", "receipt"]),
    ("succeeded", (1, 0)): ("fulfilled", True, ["receipt"]),  # processing after succeeded: a late event
    ("payment_failed", (0, 1)): ("payment_failed", False, ["payment-failed", "processing"]),
    ("payment_failed", (1, 0)): ("payment_failed", False, []),  # failed at once: the checkout said so
}


@pytest.mark.parametrize("outcome,order", list(ENDINGS))
def test_a_bank_debit_ends_the_same_in_every_order_of_its_events_duplicated(app, outcome, order):
    start = _stock(app)
    for seed in range(3):
        pi = f"pi_debit_{outcome}_{''.join(map(str, order))}_{seed}"
        public_id = _order(app, pi)
        events = _events(pi, public_id, outcome)
        for n, (index, (event_type, obj)) in enumerate(_shuffled_twice(events, order, seed)):
            _send(app, event_type, obj, f"evt_{pi}_{index}_{n}")
        state, held, mails = ENDINGS[(outcome, order)]
        facts = _facts(app, public_id)
        assert (facts["state"], facts["held"], facts["mails"]) == (state, held, mails), (seed, facts)
    assert _stock(app) == start - (3 if outcome == "succeeded" else 0)


def test_processing_holds_the_stock_and_says_so_in_shopper_words(app):
    start = _stock(app)
    public_id = _order(app, "pi_debit_words")
    assert _send(app, "payment_intent.processing", _intent("pi_debit_words", public_id, "processing"),
                 "evt_words_1") == "processing"
    assert _send(app, "payment_intent.processing", _intent("pi_debit_words", public_id, "processing"),
                 "evt_words_2") == "no_change"
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        status = shopper_status(order, "a@b.example")
        assert order.state == "processing" and order.stock_reserved and units_held() == 1
        assert status.headline == "Payment processing — we'll email you when your bank confirms."
        assert status.key == "processing" and not status.settled
        mail = db.session.scalars(select(OutboxEmail).where(OutboxEmail.order_id == order.id)).one()
        assert mail.subject == f"Payment processing for order {order.number}" and mail.to == "a@b.example"
        assert "we'll email you when your bank confirms" in mail.body
    assert _stock(app) == start - 1


def test_the_json_status_says_processing_and_paid_after_the_bank_confirms(app, client):
    public_id = _order(app, "pi_debit_json")
    _send(app, "payment_intent.processing", _intent("pi_debit_json", public_id, "processing"), "evt_json_1")
    answer = client.get(f"/orders/{public_id}/status").get_json()
    assert answer["state"] == "processing"
    assert answer["status"]["headline"] == "Payment processing — we'll email you when your bank confirms."
    assert answer["status"]["payment"] == "Processing with your bank"
    _send(app, "payment_intent.succeeded", _intent("pi_debit_json", public_id, "succeeded"), "evt_json_2")
    answer = client.get(f"/orders/{public_id}/status").get_json()
    assert answer["state"] == "fulfilled" and answer["status"]["key"] == "preparing"


def test_a_processing_order_holds_its_stock_for_the_setting_then_gives_it_back(make_app, settings):
    app = make_app(settings.with_overrides(delayed_payment_hold_days=3, stock_hold_seconds=60,
                                           pending_order_ttl=120))
    start = _stock(app)
    public_id = _order(app, "pi_debit_hold")
    _send(app, "payment_intent.processing", _intent("pi_debit_hold", public_id, "processing"), "evt_hold_1")
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        order.created_at = utcnow() - timedelta(days=2)  # past the card hold and the pending TTL, within 3 days
        db.session.add(PaymentAttempt(order_id=order.id, number=1, fingerprint="f" * 64, status="processing",
                                      idempotency_key="k-1", created_at=utcnow() - timedelta(days=2)))
        db.session.commit()
        assert release_stale(app.config["SETTINGS"]) == 0
        assert expire_pending_orders() == 0  # never canceled under a bank debit
        assert release_stale(app.config["SETTINGS"], now=utcnow() + timedelta(days=1, hours=1)) == 1
        assert release_stale(app.config["SETTINGS"], now=utcnow() + timedelta(days=2)) == 0  # once
    assert _facts(app, public_id)["state"] == "processing" and _stock(app) == start
    # the bank answers after all: the order is paid and takes its stock again
    _send(app, "payment_intent.succeeded", _intent("pi_debit_hold", public_id, "succeeded"), "evt_hold_2")
    facts = _facts(app, public_id)
    assert (facts["state"], facts["held"], facts["stock"]) == ("fulfilled", True, start - 1)


def test_a_failure_after_processing_gives_the_stock_back_and_is_emailed_once(app):
    start = _stock(app)
    public_id = _order(app, "pi_debit_fail")
    _send(app, "payment_intent.processing", _intent("pi_debit_fail", public_id, "processing"), "evt_fail_1")
    for n in range(2):  # Stripe's second Event object for the same failure
        _send(app, "payment_intent.payment_failed", _intent("pi_debit_fail", public_id, "requires_payment_method"),
              f"evt_fail_2_{n}")
    facts = _facts(app, public_id)
    assert facts == {"state": "payment_failed", "held": False, "mails": ["payment-failed", "processing"],
                     "stock": start}
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        mail = db.session.scalars(select(OutboxEmail).where(OutboxEmail.order_id == order.id,
                                                            OutboxEmail.kind == "payment-failed")).one()
        assert "did not confirm the payment" in mail.body and "will not ship" in mail.body


def test_every_permutation_of_three_deliveries_ends_the_same(app):
    """processing, succeeded and a late second processing (a retried delivery), in all six orders."""
    for n, order in enumerate(itertools.permutations(range(3))):
        pi = f"pi_debit_perm_{n}"
        public_id = _order(app, pi)
        events = [("payment_intent.processing", _intent(pi, public_id, "processing")),
                  ("payment_intent.succeeded", _intent(pi, public_id, "succeeded")),
                  ("payment_intent.processing", _intent(pi, public_id, "processing"))]
        for i in order:
            _send(app, *events[i], f"evt_{pi}_{i}")
        facts = _facts(app, public_id)
        assert facts["state"] == "fulfilled" and facts["mails"].count("receipt") == 1
        assert facts["mails"].count("processing") <= 1


def test_a_refund_of_a_debit_still_processing_waits_for_its_success(app):
    from app.events.handlers import OrderNotReadyYet

    public_id = _order(app, "pi_debit_refund")
    _send(app, "payment_intent.processing", _intent("pi_debit_refund", public_id, "processing"), "evt_refund_1")
    refund = {"id": "re_debit", "object": "charge", "payment_intent": "pi_debit_refund", "amount": 1200,
              "currency": "usd", "amount_refunded": 1200, "metadata": {}}
    with pytest.raises(OrderNotReadyYet):
        _send(app, "charge.refunded", refund, "evt_refund_2")
    assert _facts(app, public_id)["state"] == "processing"
    _send(app, "payment_intent.succeeded", _intent("pi_debit_refund", public_id, "succeeded"), "evt_refund_3")
    with app.app_context():
        assert apply_event("evt_refund_2") == "refunded"
    assert _facts(app, public_id)["state"] == "refunded"
