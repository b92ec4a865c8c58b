"""The admin pages: login (hash from the environment, lockout, CSRF), orders and timelines, refunds through the
emulator, the event inbox with replay, failed jobs with retry, CSP reports and the health panel."""
from __future__ import annotations

import json
import re
import urllib.request

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from app.models import (CspReport, EventStatus, Order, OrderLine, OrderTransition, OutboxEmail, Product, Refund,
                        StripeEvent, db)
from app.queues import QUEUES, get_queue
from tests.support.emulator import EMULATOR_SECRET_KEY, EmulatorProcess
from tests.support.events import event_payload, sign

PASSWORD = "correct horse battery staple"
PAGES = ["/admin/", "/admin/orders", "/admin/orders/abc", "/admin/events", "/admin/jobs", "/admin/csp-reports"]
POSTS = ["/admin/orders/abc/refund", "/admin/events/evt_1/replay", "/admin/jobs/events/x/retry", "/admin/logout"]


@pytest.fixture(scope="module")
def password_hash():
    return generate_password_hash(PASSWORD)


@pytest.fixture
def admin_app(make_app, settings, password_hash):
    return make_app(settings.with_overrides(admin_password_hash=password_hash, job_retries=1))


@pytest.fixture
def admin(admin_app):
    client = admin_app.test_client()
    assert client.post("/admin/login", data={"password": PASSWORD}).status_code == 302
    return client


def make_order(app, state="pending", payment_intent_id=None, public_id=None) -> str:
    with app.app_context():
        product = db.session.get(Product, "burr-grinder")
        order = Order(attempt_id=(public_id or "a" * 32)[:32], amount=product.price, currency="usd", state=state,
                      email="shopper@example.com", payment_intent_id=payment_intent_id,
                      lines=[OrderLine(product_id=product.id, name=product.name, unit_price=product.price,
                                       quantity=1)])
        if public_id:
            order.public_id = public_id
        db.session.add(order)
        db.session.commit()
        return order.public_id


def drain(redis):
    SimpleWorker(list(QUEUES), connection=redis).work(burst=True)


# ---- who gets in ------------------------------------------------------------------------------------
def test_without_a_password_hash_the_admin_does_not_exist(client):
    for path in PAGES + ["/admin/login"]:
        assert client.get(path).status_code == 404, path
    assert client.post("/admin/login", data={"password": ""}).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login_and_refused_on_every_action(admin_app):
    client = admin_app.test_client()
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path
    for path in POSTS:
        assert client.post(path).status_code == 403, path


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_pages_until_logout(admin_app):
    client = admin_app.test_client()
    response = client.post("/admin/login", data={"password": "guess"})
    assert response.status_code == 401 and b"not right" in response.data
    assert client.get("/admin/orders").status_code == 302
    response = client.post("/admin/login?next=/admin/events", data={"password": PASSWORD})
    assert response.headers["Location"].endswith("/admin/events")
    page = client.get("/admin/orders")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    client.post("/admin/logout")
    assert client.get("/admin/orders").status_code == 302


def test_the_login_does_not_redirect_off_the_admin(admin_app):
    response = admin_app.test_client().post("/admin/login?next=https://evil.example/", data={"password": PASSWORD})
    assert response.headers["Location"].endswith("/admin/")


def test_repeated_failures_lock_the_address_out_even_for_the_right_password(admin_app):
    client = admin_app.test_client()
    for _ in range(admin_app.config["SETTINGS"].admin_max_failures):
        assert client.post("/admin/login", data={"password": "wrong"}).status_code == 401
    locked = client.post("/admin/login", data={"password": PASSWORD})
    assert locked.status_code == 429 and locked.headers["Retry-After"]
    assert client.get("/admin/orders").status_code == 302
    other = admin_app.test_client()  # another address is not locked
    assert other.post("/admin/login", data={"password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 302


def test_admin_forms_need_a_csrf_token(admin_app):
    admin_app.config["WTF_CSRF_ENABLED"] = True
    client = admin_app.test_client()
    assert client.post("/admin/login", data={"password": PASSWORD}).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True))
    assert client.post("/admin/login", data={"password": PASSWORD, "csrf_token": token.group(1)}).status_code == 302
    assert client.post("/admin/events/evt_x/replay").status_code == 400
    assert client.post("/admin/logout").status_code == 400


def test_the_admin_pages_follow_the_shop_csp_without_inline_code(admin):
    for path in PAGES[:2] + PAGES[3:]:
        response = admin.get(path)
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        html = response.get_data(as_text=True)
        assert "<script" not in html and "style=" not in html and "<style" not in html, path


def test_hash_password_prints_a_hash_that_logs_in(admin_app):
    from werkzeug.security import check_password_hash

    from app.cli import main

    result = admin_app.test_cli_runner().invoke(main, ["hash-password", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert check_password_hash(result.output.strip(), PASSWORD)
    short = admin_app.test_cli_runner().invoke(main, ["hash-password", "--password", "short"])
    assert short.exit_code != 0


# ---- orders ------------------------------------------------------------------------------------------
def test_orders_filter_by_state_and_an_order_shows_its_timeline(admin_app, admin, client, redis):
    paid = make_order(admin_app, public_id="1" * 32)
    make_order(admin_app, state="canceled", public_id="2" * 32)
    body = event_payload("payment_intent.succeeded", {"id": "pi_timeline", "object": "payment_intent",
                                                      "amount": 8900, "currency": "usd", "status": "succeeded",
                                                      "metadata": {"order_id": paid}}, event_id="evt_timeline")
    client.post("/webhooks/stripe", data=body, content_type="application/json",
                headers={"Stripe-Signature": sign(body)})
    drain(redis)
    listing = admin.get("/admin/orders?state=fulfilled").get_data(as_text=True)
    assert listing.count('data-testid="order-row"') == 1 and paid[:12] in listing
    assert "2222222222" not in listing
    page = admin.get(f"/admin/orders/{paid}").get_data(as_text=True)
    assert "pending → paid" in page and "paid → fulfilled" in page
    assert "payment_intent.succeeded" in page and "evt_timeline" in page
    assert admin.get("/admin/orders/" + "9" * 32).status_code == 404


# ---- refunds -----------------------------------------------------------------------------------------
def emulator_payment(emulator: EmulatorProcess, amount: int, order_id: str) -> str:
    from urllib.parse import urlencode

    data = urlencode({"amount": amount, "currency": "usd", "confirm": "true", "payment_method": "pm_card_visa",
                      "metadata[order_id]": order_id, "payment_method_types[]": "card"}).encode()
    request = urllib.request.Request(f"{emulator.api}/v1/payment_intents", data=data,
                                     headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        intent = json.loads(response.read())
    assert intent["status"] == "succeeded", intent
    return intent["id"]


def emulator_refunds(emulator: EmulatorProcess, payment_intent: str) -> list[dict]:
    request = urllib.request.Request(f"{emulator.api}/v1/refunds?payment_intent={payment_intent}",
                                     headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


@pytest.fixture
def emulator():
    process = EmulatorProcess()
    yield process
    process.stop()


def test_a_partial_refund_submitted_twice_refunds_once_with_a_key_from_its_row(make_app, settings, password_hash,
                                                                              emulator):
    app = make_app(settings.with_overrides(admin_password_hash=password_hash, stripe_api_base=emulator.api))
    admin = app.test_client()
    admin.post("/admin/login", data={"password": PASSWORD})
    public_id = "3" * 32
    make_order(app, state="fulfilled", public_id=public_id,
               payment_intent_id=emulator_payment(emulator, 8900, public_id))
    page = admin.get(f"/admin/orders/{public_id}").get_data(as_text=True)
    form_token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    assert 'value="89.00"' in page  # the whole amount is offered
    for _ in range(2):  # a double click
        response = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": "12.50", "form_token": form_token})
        assert response.status_code == 302
    with app.app_context():
        refunds = db.session.scalars(select(Refund)).all()
        assert [(r.amount, r.status, r.idempotency_key) for r in refunds] == [
            (1250, "succeeded", f"refund-{public_id}-1")]
        pi = db.session.scalars(select(Order)).one().payment_intent_id
    assert [r["amount"] for r in emulator_refunds(emulator, pi)] == [1250]
    page = admin.get(f"/admin/orders/{public_id}").get_data(as_text=True)
    assert 'value="76.50"' in page  # what is left
    too_much = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": "80", "form_token": "f" * 32},
                          follow_redirects=True)
    assert b"more than is left" in too_much.data
    assert len(emulator_refunds(emulator, pi)) == 1


def test_an_order_that_was_never_paid_cannot_be_refunded(admin_app, admin):
    public_id = make_order(admin_app, public_id="4" * 32)
    response = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": "1", "form_token": "e" * 32},
                          follow_redirects=True)
    assert b"cannot be refunded" in response.data
    with admin_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


# ---- the event inbox and failed jobs ----------------------------------------------------------------------
def park_an_event(app, client, redis, public_id: str) -> str:
    """A payment for an order the shop does not know yet: it fails until its retries are used up."""
    from app.events.apply import apply_event
    from app.events.handlers import OrderNotKnownYet

    body = event_payload("payment_intent.succeeded", {"id": "pi_parked", "object": "payment_intent",
                                                      "amount": 8900, "currency": "usd", "status": "succeeded",
                                                      "metadata": {"order_id": public_id}}, event_id="evt_parked")
    client.post("/webhooks/stripe", data=body, content_type="application/json",
                headers={"Stripe-Signature": sign(body)})
    redis.flushdb()  # the queued job is not what this test is about
    with app.app_context():
        for _ in range(2):  # job_retries=1: two failures park it
            with pytest.raises(OrderNotKnownYet):
                apply_event("evt_parked")
        assert db.session.get(StripeEvent, "evt_parked").status == EventStatus.PARKED.value
    return "evt_parked"


def test_replaying_a_parked_event_from_the_admin_fulfils_its_order_once(admin_app, admin, redis):
    public_id = "5" * 32
    event_id = park_an_event(admin_app, admin, redis, public_id)
    inbox = admin.get("/admin/events?status=parked").get_data(as_text=True)
    assert event_id in inbox and "OrderNotKnownYet" in inbox and "Replay" in inbox
    make_order(admin_app, public_id=public_id)  # the order turns up (e.g. restored from a backup)
    for _ in range(2):  # replayed twice, by two people
        assert admin.post(f"/admin/events/{event_id}/replay").status_code == 302
        drain(redis)
    with admin_app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        assert order.state == "fulfilled"
        assert db.session.get(StripeEvent, event_id).status == "processed"
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1
        fulfilled = db.session.scalar(select(func.count()).select_from(OrderTransition).where(
            OrderTransition.to_state == "fulfilled", OrderTransition.accepted.is_(True)))
        assert fulfilled == 1


def test_shop_replay_does_what_the_admin_button_does(admin_app, admin, redis):
    public_id = "6" * 32
    event_id = park_an_event(admin_app, admin, redis, public_id)
    make_order(admin_app, public_id=public_id)
    result = admin_app.test_cli_runner().invoke(args=["replay", event_id, "--now"])
    assert result.exit_code == 0 and "fulfilled" in result.output
    again = admin_app.test_cli_runner().invoke(args=["replay", event_id, "--now"])
    assert "skipped" in again.output


def test_a_failed_job_is_listed_and_retried_from_the_admin(admin_app, admin, redis):
    with admin_app.app_context():
        job = get_queue("maintenance").enqueue("builtins.len", None)
    drain(redis)
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert job.id in page and "TypeError" in page
    assert admin.post(f"/admin/jobs/maintenance/{job.id}/retry").status_code == 302
    with admin_app.app_context():
        assert job.id in get_queue("maintenance").get_job_ids()
    retried = admin.post("/admin/jobs/maintenance/no-such-job/retry", follow_redirects=True)
    assert b"not in the failed registry" in retried.data


def test_csp_reports_and_the_health_panel_are_shown(admin_app, admin, redis):
    with admin_app.app_context():
        db.session.add(CspReport(fingerprint="f" * 64, document_uri="https://shop.example/checkout",
                                 directive="script-src-elem", blocked_uri="https://evil.example/x.js", body="{}",
                                 count=3))
        db.session.commit()
        get_queue("events").enqueue("builtins.len", "abc")
    reports = admin.get("/admin/csp-reports").get_data(as_text=True)
    assert "https://evil.example/x.js" in reports and "script-src-elem" in reports
    panel = admin.get("/admin/").get_data(as_text=True)
    assert 'data-testid="breaker"' in panel and "closed" in panel
    assert re.search(r'data-testid="queue-events"><th scope="row">events</th><td class="num">1</td>', panel)


def test_the_health_panel_says_when_redis_cannot_be_read(make_app, settings, password_hash):
    app = make_app(settings.with_overrides(admin_password_hash=password_hash, redis_url="redis://127.0.0.1:9/0"))
    client = app.test_client()
    client.post("/admin/login", data={"password": PASSWORD})  # the lockout counter falls back to memory
    panel = client.get("/admin/")
    assert panel.status_code == 200 and b"Redis could not be read" in panel.data
