"""Refund and dispute events, applied as a worker applies them: every event type, each ordering Stripe can
produce (a dispute before the order's own success event, refund.failed before charge.refunded), duplicated and
shuffled, end in the same exact state; an event that does not fit its order is parked with the reason."""
from __future__ import annotations

import itertools
import json
import random
import time

import pytest
from sqlalchemy import select

from app.events.apply import apply_event
from app.events.handlers import OrderNotReadyYet
from app.events.store import store_events
from app.models import Dispute, Order, OrderLine, OutboxEmail, Product, Refund, StripeEvent, db
from tests.support.events import event_payload, shuffled_twice

DUE = int(time.time()) + 7 * 86400


def _order(app, pi: str, state: str = "pending") -> str:
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        order = Order(attempt_id=f"{pi:0>32}"[-32:], amount=1200, currency="usd", state=state, email="a@b.example",
                      payment_intent_id=pi, lines=[OrderLine(product_id=product.id, name=product.name,
                                                             unit_price=1200, quantity=1)])
        db.session.add(order)
        db.session.commit()
        return order.public_id


def _send(app, event_type: str, obj: dict, event_id: str | None = None) -> str:
    """Store the event (delivered twice: the second delivery is a duplicate) and apply it."""
    event_id = event_id or f"evt_{random.getrandbits(64):x}"
    with app.app_context():
        raw = event_payload(event_type, obj, event_id=event_id)
        store_events([(json.loads(raw), raw), (json.loads(raw), raw)], source="webhook")
        return apply_event(event_id)


def _paid(app, pi: str) -> str:
    public_id = _order(app, pi)
    _send(app, "payment_intent.succeeded", {"id": pi, "object": "payment_intent", "amount": 1200, "currency": "usd",
                                            "status": "succeeded", "metadata": {"order_id": public_id}})
    return public_id


def _refund(pi: str, status: str, refund_id: str = "re_1", amount: int = 1200, **extra) -> dict:
    return {"id": f"{refund_id}_{pi}", "object": "refund", "amount": amount, "currency": "usd", "payment_intent": pi,
            "charge": f"ch_{pi}", "status": status, "metadata": {}, **extra}


def _charge(pi: str, amount_refunded: int, refunds: list[dict]) -> dict:
    return {"id": f"ch_{pi}", "object": "charge", "payment_intent": pi, "amount": 1200, "currency": "usd",
            "amount_refunded": amount_refunded, "metadata": {},
            "refunds": {"object": "list", "data": refunds, "has_more": False}}


def _dispute(pi: str, status: str, dispute_id: str = "dp_1", txns: tuple[int, ...] = (), **extra) -> dict:
    return {"id": f"{dispute_id}_{pi}", "object": "dispute", "amount": 1200, "currency": "usd", "charge": f"ch_{pi}",
            "payment_intent": pi, "reason": "fraudulent", "status": status,
            "evidence_details": {"due_by": DUE, "has_evidence": False, "past_due": False, "submission_count": 0},
            "balance_transactions": [{"id": f"txn_{i}", "amount": amount} for i, amount in enumerate(txns)], **extra}


def _facts(app, public_id: str) -> dict:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        refunds = db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.number)).all()
        mails = db.session.scalars(select(OutboxEmail).where(OutboxEmail.order_id == order.id,
                                                             OutboxEmail.kind != "receipt")
                                    .order_by(OutboxEmail.id)).all()
        disputes = db.session.scalars(select(Dispute).where(Dispute.order_id == order.id)).all()
        return {"state": order.state, "refunded": order.amount_refunded,
                "refunds": [(r.stripe_refund_id, r.amount, r.status, r.failure_reason) for r in refunds],
                "mails": [(m.kind, m.subject) for m in mails],
                "disputes": [(d.id, d.status, d.amount, d.funds_withdrawn, d.reason, d.evidence_due_by.timestamp())
                             for d in disputes]}


# ---- refunds -----------------------------------------------------------------------------------------------
def test_a_refund_that_fails_gives_the_amount_back_in_every_order_of_its_events(app):
    for n, order in enumerate(itertools.permutations(range(4))):
        pi = f"pi_fail_{n}"
        public_id = _paid(app, pi)
        failed = _refund(pi, "failed", failure_reason="expired_or_canceled_card")
        events = [("refund.created", _refund(pi, "succeeded")),
                  ("charge.refunded", _charge(pi, 1200, [_refund(pi, "succeeded")])),
                  ("refund.failed", failed), ("refund.updated", failed)]
        sequence = shuffled_twice(events, order, seed=n)
        for event_type, obj in sequence:
            _send(app, event_type, obj)
        facts = _facts(app, public_id)
        assert facts["state"] == "fulfilled" and facts["refunded"] == 0, (order, facts)
        assert facts["refunds"] == [(f"re_1_{pi}", 1200, "failed", "expired_or_canceled_card")], order
        # "refund sent" only if Stripe said so before it failed, and then the correction, once
        told_sent = sequence[0][1] is not failed
        assert [kind for kind, _ in facts["mails"]] == (["refund-1", "refund-1-failed"] if told_sent else []), order


def test_a_full_refund_ends_refunded_with_one_email_in_every_order_of_its_events(app):
    for n, order in enumerate(itertools.permutations(range(3))):
        pi = f"pi_full_{n}"
        public_id = _paid(app, pi)
        events = [("refund.created", _refund(pi, "pending")), ("refund.updated", _refund(pi, "succeeded")),
                  ("charge.refunded", _charge(pi, 1200, [_refund(pi, "succeeded")]))]
        for event_type, obj in shuffled_twice(events, order, seed=n):
            _send(app, event_type, obj)
        facts = _facts(app, public_id)
        assert (facts["state"], facts["refunded"]) == ("refunded", 1200), order
        assert facts["refunds"] == [(f"re_1_{pi}", 1200, "succeeded", None)]
        assert [subject for _, subject in facts["mails"]] == [
            f"Refund of $12.00 for order {public_id[:8].upper()}"], order


def test_partial_refunds_add_up_and_one_that_fails_is_taken_off(app):
    public_id = _paid(app, "pi_parts")
    first, second = _refund("pi_parts", "succeeded", "re_a", 500), _refund("pi_parts", "succeeded", "re_b", 700)
    _send(app, "charge.refunded", _charge("pi_parts", 500, [first]))
    assert _facts(app, public_id)["refunded"] == 500
    _send(app, "refund.created", second)
    facts = _facts(app, public_id)
    assert (facts["state"], facts["refunded"]) == ("refunded", 1200)
    _send(app, "refund.failed", {**first, "status": "failed", "failure_reason": "lost_or_stolen_card"})
    _send(app, "charge.refunded", _charge("pi_parts", 1200, [second, first]))  # older news: changes nothing
    facts = _facts(app, public_id)
    assert (facts["state"], facts["refunded"]) == ("fulfilled", 700)
    assert facts["refunds"] == [("re_a_pi_parts", 500, "failed", "lost_or_stolen_card"),
                                ("re_b_pi_parts", 700, "succeeded", None)]
    number = public_id[:8].upper()
    assert facts["mails"] == [("refund-1", f"Refund of $5.00 for order {number}"),
                              ("refund-2", f"Refund of $7.00 for order {number}"),
                              ("refund-1-failed", f"Your refund of $5.00 for order {number} did not go through")]


def test_a_cancels_refund_is_told_of_by_the_cancels_email_alone_unless_it_fails(app):
    """An admin cancel refunds the payment and its own email says so: Stripe's refund event, even one that comes
    before the admin's answer, adds no "refund sent" email; a failure after it still gets its correction."""
    public_id = _paid(app, "pi_cancel")
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        db.session.add(Refund(order_id=order.id, number=1, amount=1200, currency="usd",
                              form_token=Refund.cancel_token(public_id), idempotency_key=f"refund-{public_id}-1"))
        db.session.commit()
    sent = _refund("pi_cancel", "succeeded", metadata={"refund_number": "1"})
    _send(app, "refund.created", sent)
    assert _facts(app, public_id)["mails"] == []
    _send(app, "refund.failed", {**sent, "status": "failed", "failure_reason": "expired_or_canceled_card"})
    assert [kind for kind, _ in _facts(app, public_id)["mails"]] == ["refund-1-failed"]


def test_a_refund_event_finds_the_admin_refund_it_belongs_to_before_its_answer_is_stored(app):
    public_id = _paid(app, "pi_admin")
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        db.session.add(Refund(order_id=order.id, number=1, amount=400, currency="usd", form_token="f" * 32,
                              idempotency_key=f"refund-{public_id}-1"))
        db.session.commit()
    _send(app, "refund.created", _refund("pi_admin", "succeeded", "re_admin", 400,
                                         metadata={"order_id": public_id, "refund_number": "1"}))
    facts = _facts(app, public_id)
    assert facts["refunds"] == [("re_admin_pi_admin", 400, "succeeded", None)] and facts["refunded"] == 400


def test_a_refund_failure_before_the_payment_waits_for_the_payment(app):
    _order(app, "pi_early")
    with pytest.raises(OrderNotReadyYet):
        _send(app, "refund.failed", _refund("pi_early", "failed", failure_reason="unknown"), "evt_early_fail")


# ---- disputes ----------------------------------------------------------------------------------------------
LOST = [("charge.dispute.created", _dispute("pi_x", "needs_response")),
        ("charge.dispute.funds_withdrawn", _dispute("pi_x", "needs_response", txns=(-1200,))),
        ("charge.dispute.updated", _dispute("pi_x", "under_review", txns=(-1200,))),
        ("charge.dispute.closed", _dispute("pi_x", "lost", txns=(-1200,)))]
WON = LOST[:3] + [("charge.dispute.closed", _dispute("pi_x", "won", txns=(-1200,))),
                  ("charge.dispute.funds_reinstated", _dispute("pi_x", "won", txns=(-1200, 1200)))]


@pytest.mark.parametrize("events, ending", [(LOST, ("lost", 1200)), (WON, ("won", 0))], ids=["lost", "won"])
def test_a_dispute_ends_the_same_in_every_order_of_its_events_and_leaves_the_order_state_alone(app, events, ending):
    orders = list(itertools.permutations(range(len(events))))
    for n, order in enumerate(random.Random(7).sample(orders, min(len(orders), 24))):
        pi = f"pi_dispute_{n}"
        public_id = _paid(app, pi)
        for event_type, obj in shuffled_twice(events, order, seed=n):
            assert _send(app, event_type, dict(obj, payment_intent=pi, id=f"dp_{pi}")).startswith("dispute_")
        facts = _facts(app, public_id)
        assert facts["state"] == "fulfilled", order
        assert facts["disputes"] == [(f"dp_{pi}", *ending[:1], 1200, ending[1], "fraudulent", DUE)], order


def test_a_dispute_before_the_orders_own_success_event_is_kept_and_the_payment_still_fulfils(app):
    public_id = _order(app, "pi_first")
    assert _send(app, "charge.dispute.created", _dispute("pi_first", "needs_response")) == "dispute_needs_response"
    _send(app, "payment_intent.succeeded", {"id": "pi_first", "object": "payment_intent", "amount": 1200,
                                            "currency": "usd", "status": "succeeded",
                                            "metadata": {"order_id": public_id}})
    facts = _facts(app, public_id)
    assert facts["state"] == "fulfilled" and facts["disputes"][0][:2] == ("dp_1_pi_first", "needs_response")


def test_an_inquiry_is_a_dispute_that_needs_a_response(app):
    public_id = _paid(app, "pi_inquiry")
    _send(app, "charge.dispute.created", _dispute("pi_inquiry", "warning_needs_response", "dp_inq"))
    _send(app, "charge.dispute.closed", _dispute("pi_inquiry", "warning_closed", "dp_inq"))
    assert _facts(app, public_id)["disputes"][0][:2] == ("dp_inq_pi_inquiry", "won")


def test_the_metrics_count_disputes_and_the_time_left_to_answer(app, client):
    _paid(app, "pi_metric")
    _send(app, "charge.dispute.created", _dispute("pi_metric", "needs_response", "dp_m"))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'shop_disputes{status="needs_response"} 1.0' in text
    left = float(next(line.split()[-1] for line in text.splitlines()
                      if line.startswith("shop_dispute_response_due_seconds ")))
    assert 6 * 86400 < left <= 7 * 86400


# ---- events that do not fit their order ----------------------------------------------------------------------
def _parked(app, event_id: str) -> StripeEvent:
    with app.app_context():
        event = db.session.get(StripeEvent, event_id)
        db.session.expunge(event)
        return event


@pytest.mark.parametrize("event_type, obj, reason", [
    ("refund.created", {**_refund("pi_other", "succeeded"), "metadata": {"order_id": "{order}"}},
     "for payment_intent pi_other, not the order's own pi_fit"),
    ("charge.refunded", _charge("pi_fit", 5000, []), "a refunded charge of 5000 usd"),
    ("refund.created", _refund("pi_fit", "succeeded", currency="eur"), "a refund of 1200 eur"),
    ("charge.dispute.created", _dispute("pi_fit", "needs_response", currency="eur"), "a dispute of 1200 eur"),
    ("charge.dispute.created", {**_dispute("pi_other", "needs_response"), "metadata": {"order_id": "{order}"}},
     "a dispute for payment_intent pi_other"),
    ("payment_intent.succeeded", {"id": "pi_fit", "object": "payment_intent", "amount": 1, "currency": "usd",
                                  "metadata": {}}, "a payment of 1 usd"),
    ("payment_intent.payment_failed", {"id": "pi_fit", "object": "payment_intent", "amount": 1200, "currency": "eur",
                                       "metadata": {}}, "a payment of 1200 eur"),
], ids=["refund-other-intent", "refund-too-large", "refund-currency", "dispute-currency", "dispute-other-intent",
        "payment-amount", "failure-currency"])
def test_an_event_that_does_not_fit_its_order_is_parked_with_the_reason_and_applies_nothing(app, event_type, obj,
                                                                                            reason):
    public_id = _order(app, "pi_fit") if event_type.startswith("payment_intent.") else _paid(app, "pi_fit")
    before = _facts(app, public_id)
    obj = json.loads(json.dumps(obj).replace("{order}", public_id))
    result = _send(app, event_type, obj, "evt_misfit")
    assert result in ("intent_mismatch", "amount_mismatch")
    event = _parked(app, "evt_misfit")
    assert event.status == "parked" and reason in event.last_error, event.last_error
    assert _facts(app, public_id) == before


def test_a_refund_or_dispute_already_on_another_order_is_parked_not_moved(app):
    _paid(app, "pi_owner")
    _send(app, "refund.created", _refund("pi_owner", "succeeded", "re_owned", 300))
    _send(app, "charge.dispute.created", _dispute("pi_owner", "needs_response", "dp_owned"))
    public_id = _paid(app, "pi_thief")
    before = _facts(app, public_id)
    stolen_refund = {**_refund("pi_thief", "succeeded", "re_x", 300), "id": "re_owned_pi_owner"}
    stolen_dispute = {**_dispute("pi_thief", "lost"), "id": "dp_owned_pi_owner"}
    assert _send(app, "charge.refunded", _charge("pi_thief", 300, [stolen_refund]), "evt_stolen_r") == "intent_mismatch"
    assert _send(app, "charge.dispute.closed", stolen_dispute, "evt_stolen_d") == "intent_mismatch"
    assert "belongs to another order" in _parked(app, "evt_stolen_r").last_error
    assert "belongs to another order" in _parked(app, "evt_stolen_d").last_error
    assert _facts(app, public_id) == before
