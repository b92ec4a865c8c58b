"""The admin's disputes page and evidence sent to the real emulator over HTTP; an admin refund that hits a Stripe
fault is sent again by a real RQ worker with the same idempotency key, and the relay re-enqueues one whose job
was lost."""
from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import urlencode

import pytest
from rq import SimpleWorker
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.events.apply import apply_event
from app.events.store import store_events
from app.models import Dispute, Order, OrderLine, OutboxEmail, Product, Refund, db
from app.queues import PAYMENTS, get_queue, refund_job_id
from tests.support.emulator import EMULATOR_SECRET_KEY
from tests.support.events import event_payload

PASSWORD = "correct horse battery staple"


@pytest.fixture
def shop(make_app, settings, emulator):
    emulator.reset()
    app = make_app(settings.with_overrides(admin_password_hash=generate_password_hash(PASSWORD),
                                           stripe_api_base=emulator.api, relay_stale_after=0))
    admin = app.test_client()
    assert admin.post("/admin/login", data={"name": "admin", "password": PASSWORD}).status_code == 302
    return app, admin


def _stripe(emulator, method: str, path: str, params: dict | None = None) -> dict:
    data = urlencode(params).encode() if params is not None else None
    request = urllib.request.Request(f"{emulator.api}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _paid_order(app, emulator, card: str = "pm_card_visa") -> tuple[str, str]:
    """An order paid through the emulator (its PaymentIntent names the order), fulfilled as the shop would be."""
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        order = Order(attempt_id="b" * 32, amount=product.price, currency="usd", state="pending",
                      email="shopper@example.com", lines=[OrderLine(product_id=product.id, name=product.name,
                                                                    unit_price=product.price, quantity=1)])
        db.session.add(order)
        db.session.commit()
        public_id, amount = order.public_id, order.amount
    intent = _stripe(emulator, "POST", "/v1/payment_intents", {
        "amount": amount, "currency": "usd", "confirm": "true", "payment_method": card,
        "metadata[order_id]": public_id, "payment_method_types[]": "card"})
    with app.app_context():
        db.session.scalars(select(Order)).one().payment_intent_id = intent["id"]
        db.session.commit()
    _apply(app, "payment_intent.succeeded", intent)
    return public_id, intent["id"]


def _apply(app, event_type: str, obj: dict) -> str:
    event_id = f"evt_{time.monotonic_ns()}"
    with app.app_context():
        raw = event_payload(event_type, obj, event_id=event_id)
        store_events([(json.loads(raw), raw)], source="webhook")
        return apply_event(event_id)


def _wait_for_dispute(emulator, intent_id: str, status: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = _stripe(emulator, "GET", f"/v1/disputes?payment_intent={intent_id}")["data"]
        if found and found[0]["status"] == status:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {status} dispute for {intent_id}")


# ---- disputes ------------------------------------------------------------------------------------------------
def test_the_disputes_page_is_behind_the_admin_login(make_app, settings):
    app = make_app(settings.with_overrides(admin_password_hash=generate_password_hash(PASSWORD)))
    anonymous = app.test_client()
    assert anonymous.get("/admin/disputes").status_code == 302
    assert anonymous.post("/admin/disputes/dp_1/evidence", data={"evidence": "x"}).status_code == 403


def test_a_test_card_dispute_is_listed_and_evidence_sent_from_the_admin_wins_it(shop, emulator):
    app, admin = shop
    public_id, intent_id = _paid_order(app, emulator, card="pm_card_createDispute")
    dispute = _wait_for_dispute(emulator, intent_id, "needs_response")
    assert _apply(app, "charge.dispute.created", dispute) == "dispute_needs_response"
    page = admin.get("/admin/disputes").get_data(as_text=True)
    assert dispute["id"] in page and "needs_response" in page and "$12.00" in page
    assert f"https://dashboard.stripe.com/test/disputes/{dispute['id']}" in page
    order_response = admin.get(f"/admin/orders/{public_id}")
    assert order_response.status_code == 200
    order_page = order_response.get_data(as_text=True)
    assert f"dispute {dispute['id']}: needs_response" in order_page and "Respond in Stripe's Dashboard" in order_page

    response = admin.post(f"/admin/disputes/{dispute['id']}/evidence", data={"evidence": "winning_evidence"},
                          follow_redirects=True)
    assert b"was submitted; it is under_review" in response.data
    with app.app_context():
        row = db.session.get(Dispute, dispute["id"])
        assert (row.status, row.evidence_text) == ("under_review", "winning_evidence")
    sent = emulator.ctl("GET", f"/_emulator/requests?method=POST&path=/v1/disputes/{dispute['id']}")["data"]
    assert [entry["idempotency_key"].startswith(f"dispute-evidence-{dispute['id']}-") for entry in sent] == [True]
    again = admin.post(f"/admin/disputes/{dispute['id']}/evidence", data={"evidence": "more"}, follow_redirects=True)
    assert b"takes no more evidence" in again.data

    won = _wait_for_dispute(emulator, intent_id, "won")  # Stripe's test evidence wins it
    assert _apply(app, "charge.dispute.closed", won) == "dispute_won"
    with app.app_context():
        assert db.session.scalars(select(Order.state)).one() == "fulfilled"


def test_open_disputes_come_first_soonest_due_first(shop):
    app, admin = shop
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        order = Order(attempt_id="c" * 32, amount=1200, currency="usd", state="fulfilled", payment_intent_id="pi_x",
                      lines=[OrderLine(product_id=product.id, name=product.name, unit_price=1200, quantity=1)])
        db.session.add(order)
        db.session.flush()
        from datetime import timedelta

        from app.models import utcnow
        for dispute_id, status, days in [("dp_lost", "lost", 1), ("dp_late", "needs_response", 9),
                                         ("dp_review", "under_review", 2), ("dp_soon", "needs_response", 3)]:
            db.session.add(Dispute(id=dispute_id, order_id=order.id, status=status, stripe_status=status, amount=1200,
                                   currency="usd", reason="fraudulent", evidence_due_by=utcnow() + timedelta(days)))
        db.session.commit()
    page = admin.get("/admin/disputes").get_data(as_text=True)
    positions = [page.index(f"<code>{dispute_id}</code>") for dispute_id in ("dp_soon", "dp_late", "dp_review",
                                                                             "dp_lost")]
    assert positions == sorted(positions)
    assert page.count("Submit evidence") == 2
    assert "<script" not in page and "style=" not in page and "<style" not in page  # the shop's CSP holds
    assert "no-store" in admin.get("/admin/disputes").headers["Cache-Control"]


# ---- refunds retried by a worker --------------------------------------------------------------------------------
def _refund_form(admin, public_id: str, amount: str):
    import re

    page = admin.get(f"/admin/orders/{public_id}").get_data(as_text=True)
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    return admin.post(f"/admin/orders/{public_id}/refund", data={"amount": amount, "form_token": token},
                      follow_redirects=True)


def test_a_refund_that_hits_a_stripe_fault_is_sent_again_by_a_worker_with_the_same_key(shop, emulator, redis):
    app, admin = shop
    public_id, intent_id = _paid_order(app, emulator)
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/refunds", "status": 503, "count": 3})
    response = _refund_form(admin, public_id, "5.00")
    assert b"sent again automatically with the same key" in response.data
    with app.app_context():
        refund = db.session.scalars(select(Refund)).one()
        assert refund.status == "requested"
        assert get_queue(PAYMENTS).get_job_ids() == [refund_job_id(refund.id)]
    SimpleWorker([get_queue(PAYMENTS, app)], connection=redis).work(burst=True)
    with app.app_context():
        refund = db.session.scalars(select(Refund)).one()
        assert refund.status == "succeeded" and refund.stripe_refund_id
    sent = emulator.ctl("GET", "/_emulator/requests?method=POST&path=/v1/refunds")["data"]
    assert {entry["idempotency_key"] for entry in sent} == {f"refund-{public_id}-1"} and len(sent) == 4
    assert [r["amount"] for r in _stripe(emulator, "GET", f"/v1/refunds?payment_intent={intent_id}")["data"]] == [500]


def test_the_relay_enqueues_a_refund_stuck_requested_whose_job_was_lost(shop, emulator, redis):
    app, admin = shop
    public_id, intent_id = _paid_order(app, emulator)
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/refunds", "status": 503, "count": 3})
    _refund_form(admin, public_id, "3.00")
    redis.flushdb()  # the job is lost with Redis
    from app.tasks import relay

    assert relay() == 1
    SimpleWorker([get_queue(PAYMENTS, app)], connection=redis).work(burst=True)
    with app.app_context():
        assert db.session.scalars(select(Refund.status)).one() == "succeeded"
    assert [r["amount"] for r in _stripe(emulator, "GET", f"/v1/refunds?payment_intent={intent_id}")["data"]] == [300]


def test_evidence_that_is_empty_or_for_an_unknown_dispute_is_refused_and_sends_nothing(shop, emulator):
    app, admin = shop
    assert admin.post("/admin/disputes/dp_nobody/evidence", data={"evidence": "text"}).status_code == 404
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        order = Order(attempt_id="d" * 32, amount=1200, currency="usd", state="fulfilled", payment_intent_id="pi_y",
                      lines=[OrderLine(product_id=product.id, name=product.name, unit_price=1200, quantity=1)])
        db.session.add(order)
        db.session.flush()
        db.session.add(Dispute(id="dp_empty", order_id=order.id, status="needs_response",
                               stripe_status="needs_response", amount=1200, currency="usd", reason="fraudulent"))
        db.session.commit()
    for text in ("", "   ", "x" * 20001):
        response = admin.post("/admin/disputes/dp_empty/evidence", data={"evidence": text}, follow_redirects=True)
        assert b"Write the evidence (at most 20000 characters)." in response.data
    assert emulator.ctl("GET", "/_emulator/requests?path=/v1/disputes")["data"] == []


def _refund_mails(app, public_id: str) -> list[tuple[str, str]]:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        return [(mail.kind, mail.subject) for mail in db.session.scalars(
            select(OutboxEmail).where(OutboxEmail.order_id == order.id, OutboxEmail.kind != "receipt")
            .order_by(OutboxEmail.id))]


@pytest.mark.parametrize("events_first", [False, True], ids=["answer-first", "events-first"])
def test_an_admin_refund_is_told_to_the_shopper_once_whichever_comes_first(shop, emulator, redis, events_first):
    """Stripe's answer to the admin's refund and Stripe's refund event race: the shopper hears of it once."""
    app, admin = shop
    public_id, intent_id = _paid_order(app, emulator)
    number = public_id[:8].upper()
    if events_first:  # the refund made at Stripe under the row's metadata, its event applied before the answer
        with app.app_context():
            order = db.session.scalars(select(Order)).one()
            db.session.add(Refund(order_id=order.id, number=1, amount=500, currency="usd", form_token="f" * 32,
                                  idempotency_key=f"refund-{public_id}-1", status="requested"))
            db.session.commit()
        request = urllib.request.Request(
            f"{emulator.api}/v1/refunds", method="POST", data=urlencode({
                "payment_intent": intent_id, "amount": 500, "metadata[order_id]": public_id,
                "metadata[refund_number]": "1"}).encode(),
            headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}",
                     "Idempotency-Key": f"refund-{public_id}-1"})  # sent under the row's key, as the admin's
        with urllib.request.urlopen(request, timeout=10) as response:
            made = json.loads(response.read())
        _apply(app, "refund.created", made)
        with app.app_context():
            from app.admin.refunds import resend
            from app.payments import get_gateway

            row = db.session.scalars(select(Refund)).one()
            row.status = "requested"  # as the admin's request read it before the event committed: both
            db.session.commit()  # move it up, and the outbox keeps one email
            resend(row.id, get_gateway(app))  # the answer, under the same key
    else:
        _refund_form(admin, public_id, "5.00")
        made = _stripe(emulator, "GET", f"/v1/refunds?payment_intent={intent_id}")["data"][0]
        _apply(app, "refund.created", made)
        _apply(app, "charge.refunded", {**_stripe(emulator, "GET", f"/v1/charges/{made['charge']}")})
    with app.app_context():
        assert db.session.scalars(select(Refund.status)).one() == "succeeded"
    assert len(_stripe(emulator, "GET", f"/v1/refunds?payment_intent={intent_id}")["data"]) == 1
    assert _refund_mails(app, public_id) == [("refund-1", f"Refund of $5.00 for order {number}")]
