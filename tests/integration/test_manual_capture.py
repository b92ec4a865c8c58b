"""CAPTURE=manual against the real emulator over HTTP: the checkout authorises, the admin's dispatch captures
exactly once under concurrent clicks (in full or in part), a cancel voids exactly once, a dispatch and a cancel
racing end in one of the two and never both, a capture that hits a Stripe fault is sent again by a real RQ worker
with the same key, and `shop capture` captures once. Every event the emulator then sends, applied duplicated and
shuffled, changes nothing more."""
from __future__ import annotations

import json
import random
import threading

import pytest
import requests
from rq import SimpleWorker
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.events.apply import apply_event
from app.events.store import store_events
from app.models import AdminAction, Order, OutboxEmail, Product, Settlement, db
from app.queues import PAYMENTS, get_queue, settlement_job_id
from tests.support.shopper import Checkout
from tests.support.emulator import EMULATOR_SECRET_KEY

PASSWORD = "correct horse battery staple"
CLICKS = 6


@pytest.fixture
def shop(make_app, stripe_settings):
    return make_app(stripe_settings.with_overrides(capture="manual", relay_stale_after=0,
                                                   admin_password_hash=generate_password_hash(PASSWORD)))


def _admin(app):
    client = app.test_client()
    assert client.post("/admin/login", data={"name": "admin", "password": PASSWORD}).status_code == 302
    return client


def _authorised(app, emulator) -> tuple[str, str]:
    """An order paid through the real checkout with CAPTURE=manual: authorised, not captured."""
    shopper = Checkout(app, emulator)
    answer = shopper.confirm(shopper.token())
    assert answer.status_code == 200 and answer.json["status"] == "succeeded", answer.json
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.attempt_id == shopper.attempt_id)).one()
        assert order.state == "authorised"
        return order.public_id, order.payment_intent_id


def _stripe(emulator, path: str) -> dict:
    response = requests.get(f"{emulator.api}{path}", auth=(EMULATOR_SECRET_KEY, ""), timeout=10)
    response.raise_for_status()
    return response.json()


def _events(emulator, intent_id: str, event_type: str) -> list[dict]:
    found = _stripe(emulator, f"/v1/events?type={event_type}&limit=100")["data"]
    return [e for e in found if intent_id in (e["data"]["object"]["id"], e["data"]["object"].get("payment_intent"))]


def _all_at_once(calls) -> list:
    """Run the calls in threads released together; their results in order."""
    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _facts(app, public_id: str) -> dict:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        return {"state": order.state, "captured": order.amount_captured,
                "mails": sorted(db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.order_id == order.id))),
                "settlements": [(s.action, s.amount, s.status) for s in db.session.scalars(
                    select(Settlement).where(Settlement.order_id == order.id))]}


def _replay_stripe_events(app, emulator, intent_id: str) -> None:
    """Every event the emulator sent about the intent, delivered twice each and applied in a shuffled order."""
    found = [e for e in _stripe(emulator, "/v1/events?limit=100")["data"]
             if intent_id in (e["data"]["object"]["id"], e["data"]["object"].get("payment_intent"))]
    assert found
    events = found * 2
    random.Random(7).shuffle(events)
    with app.app_context():
        for event in events:
            raw = json.dumps(event)
            store_events([(json.loads(raw), raw)], source="webhook")
            apply_event(event["id"])


def test_concurrent_dispatch_clicks_capture_once_and_the_events_change_nothing_more(shop, emulator):
    public_id, intent_id = _authorised(shop, emulator)
    with shop.app_context():
        stock = db.session.get(Product, "enamel-mug").stock
    admins = [_admin(shop) for _ in range(CLICKS)]
    answers = _all_at_once([lambda a=a: a.post(f"/admin/orders/{public_id}/dispatch", data={"amount": "8.00"})
                            for a in admins])
    assert all(answer.status_code == 302 for answer in answers)
    assert _stripe(emulator, f"/v1/payment_intents/{intent_id}")["amount_received"] == 800
    assert len(_events(emulator, intent_id, "charge.captured")) == 1
    sent = emulator.ctl("GET", "/_emulator/requests?method=POST")["data"]
    assert {e["idempotency_key"] for e in sent if e["path"].endswith("/capture")} == {f"capture-{public_id}"}
    expected = {"state": "dispatched", "captured": 800, "mails": ["receipt"],
                "settlements": [("dispatch", 800, "done")]}
    assert _facts(shop, public_id) == expected
    _replay_stripe_events(shop, emulator, intent_id)
    assert _facts(shop, public_id) == expected
    with shop.app_context():
        assert "Total paid with Visa ending 4242: $8.00" in db.session.scalars(select(OutboxEmail.body)).one()
        assert db.session.get(Product, "enamel-mug").stock == stock  # dispatched: its unit stays taken
        assert db.session.scalar(select(db.func.count()).select_from(AdminAction)
                                 .where(AdminAction.action == "dispatch")) == CLICKS  # every click is audited


def test_concurrent_cancel_clicks_void_once_give_the_stock_back_and_email_once(shop, emulator):
    public_id, intent_id = _authorised(shop, emulator)
    with shop.app_context():
        stock = db.session.get(Product, "enamel-mug").stock
    admins = [_admin(shop) for _ in range(CLICKS)]
    _all_at_once([lambda a=a: a.post(f"/admin/orders/{public_id}/cancel") for a in admins])
    assert _stripe(emulator, f"/v1/payment_intents/{intent_id}")["status"] == "canceled"
    assert len(_events(emulator, intent_id, "payment_intent.canceled")) == 1
    expected = {"state": "canceled", "captured": None, "mails": ["canceled"],
                "settlements": [("void", 1200, "done")]}
    assert _facts(shop, public_id) == expected
    _replay_stripe_events(shop, emulator, intent_id)
    assert _facts(shop, public_id) == expected
    with shop.app_context():
        assert db.session.get(Product, "enamel-mug").stock == stock + 1
    assert b"nothing was charged" in shop.test_client().get(f"/orders/{public_id}").data


def test_a_dispatch_and_a_cancel_racing_end_in_one_of_them_never_both(shop, emulator):
    for _ in range(2):
        public_id, intent_id = _authorised(shop, emulator)
        admins = [_admin(shop) for _ in range(4)]
        paths = ["dispatch", "cancel", "dispatch", "cancel"]
        _all_at_once([lambda a=a, p=p: a.post(f"/admin/orders/{public_id}/{p}") for a, p in zip(admins, paths)])
        stripe_status = _stripe(emulator, f"/v1/payment_intents/{intent_id}")["status"]
        facts = _facts(shop, public_id)
        assert (stripe_status, facts["state"]) in (("succeeded", "dispatched"), ("canceled", "canceled")), facts
        assert len(facts["settlements"]) == 1 and len(facts["mails"]) == 1
        emulator.reset()
        with shop.app_context():
            db.session.get(Product, "enamel-mug").stock += 1  # the emulator's reset: let the next checkout buy
            db.session.commit()


def test_a_capture_that_hits_a_stripe_fault_is_sent_again_by_a_worker_with_the_same_key(shop, emulator, redis):
    public_id, intent_id = _authorised(shop, emulator)
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents/*/capture", "status": 503,
                                               "count": 3})
    page = _admin(shop).post(f"/admin/orders/{public_id}/dispatch", follow_redirects=True)
    assert b"sent again automatically with the same key" in page.data
    with shop.app_context():
        row = db.session.scalars(select(Settlement)).one()
        assert row.status == "requested" and get_queue(PAYMENTS).get_job_ids() == [settlement_job_id(row.id)]
    SimpleWorker([get_queue(PAYMENTS, shop)], connection=redis).work(burst=True)
    assert _facts(shop, public_id) == {"state": "dispatched", "captured": 1200, "mails": ["receipt"],
                                       "settlements": [("dispatch", 1200, "done")]}
    assert len(_events(emulator, intent_id, "charge.captured")) == 1
    sent = [e for e in emulator.ctl("GET", "/_emulator/requests?method=POST")["data"] if e["path"].endswith("/capture")]
    assert {e["idempotency_key"] for e in sent} == {f"capture-{public_id}"} and len(sent) == 4


def test_shop_capture_captures_once_and_refuses_more_than_authorised(shop, emulator):
    public_id, intent_id = _authorised(shop, emulator)
    runner = shop.test_cli_runner()
    too_much = runner.invoke(args=["capture", public_id, "--amount", "99.00"])
    assert too_much.exit_code != 0 and "authorised amount" in too_much.output
    for _ in range(2):
        done = runner.invoke(args=["capture", public_id])
        assert done.exit_code == 0, done.output
    assert "capture of 1200 usd done; order fulfilled" in done.output
    assert len(_events(emulator, intent_id, "charge.captured")) == 1
    assert _facts(shop, public_id)["mails"] == ["receipt"]


def test_a_paid_order_canceled_before_dispatch_is_refunded_once_and_the_shopper_told_once(make_app, stripe_settings,
                                                                                          emulator):
    app = make_app(stripe_settings.with_overrides(admin_password_hash=generate_password_hash(PASSWORD)))
    shopper = Checkout(app, emulator)
    assert shopper.confirm(shopper.token()).json["status"] == "succeeded"
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        public_id, intent_id = order.public_id, order.payment_intent_id
        assert order.state == "paid"
    _all_at_once([lambda a=a: a.post(f"/admin/orders/{public_id}/cancel") for a in [_admin(app) for _ in range(4)]])
    refunds = _stripe(emulator, f"/v1/refunds?payment_intent={intent_id}")["data"]
    assert [r["amount"] for r in refunds] == [1200]
    _replay_stripe_events(app, emulator, intent_id)
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        kinds = sorted(db.session.scalars(select(OutboxEmail.kind)))
        assert (order.state, order.amount_refunded) == ("canceled", 1200)
        assert kinds == ["canceled"]  # canceled before its receipt was written: the shopper is told once


def test_a_dispatched_order_cannot_be_canceled(shop, emulator):
    public_id, _ = _authorised(shop, emulator)
    admin = _admin(shop)
    admin.post(f"/admin/orders/{public_id}/dispatch")
    page = admin.post(f"/admin/orders/{public_id}/cancel", follow_redirects=True)
    assert b"has been dispatched: refund it instead" in page.data
    assert _facts(shop, public_id)["state"] == "dispatched"
