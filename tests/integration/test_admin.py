"""The admin pages: named accounts (the `admin` bootstrapped from ADMIN_PASSWORD_HASH, `shop admin ...`, TOTP),
server-side sessions (logout, timeouts, password change), the lockout, CSRF, orders and timelines, refunds through
the emulator, the event inbox with replay, failed jobs with retry, CSP reports, the audit trail and the health
panel. The lockout under concurrency, on a real gunicorn and through nginx: test_admin_lockout.py."""
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
LOGIN = {"name": "admin", "password": PASSWORD}  # ADMIN_PASSWORD_HASH bootstraps the account `admin`
PAGES = ["/admin/", "/admin/orders", "/admin/orders/abc", "/admin/events", "/admin/jobs", "/admin/csp-reports",
         "/admin/audit"]
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
    assert client.post("/admin/login", data=LOGIN).status_code == 302
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
    response = client.post("/admin/login", data={"name": "admin", "password": "guess"})
    assert response.status_code == 401 and b"not right" in response.data
    assert client.get("/admin/orders").status_code == 302
    response = client.post("/admin/login?next=/admin/events", data=LOGIN)
    assert response.headers["Location"].endswith("/admin/events")
    page = client.get("/admin/orders")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    client.post("/admin/logout")
    assert client.get("/admin/orders").status_code == 302


def test_the_login_does_not_redirect_off_the_admin(admin_app):
    response = admin_app.test_client().post("/admin/login?next=https://evil.example/", data=LOGIN)
    assert response.headers["Location"].endswith("/admin/")


def add_account(app, name: str, password: str) -> None:
    from app.admin import accounts

    with app.app_context():
        accounts.create(name, password)


def test_repeated_failures_lock_the_name_and_the_address_out_even_for_the_right_password(admin_app):
    add_account(admin_app, "bea", "bea's own long password")
    add_account(admin_app, "cal", "cal's own long password")
    client = admin_app.test_client()
    for _ in range(admin_app.config["SETTINGS"].admin_max_failures):
        assert client.post("/admin/login", data={"name": "admin", "password": "wrong"}).status_code == 401
    locked = client.post("/admin/login", data=LOGIN)
    assert locked.status_code == 429 and locked.headers["Retry-After"]
    assert client.get("/admin/orders").status_code == 302
    # the address is locked for every name, and the name from every address
    assert client.post("/admin/login", data={"name": "bea", "password": "bea's own long password"}).status_code == 429
    other = admin_app.test_client()
    assert other.post("/admin/login", data=LOGIN, environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 429
    assert other.post("/admin/login", data={"name": "cal", "password": "cal's own long password"},
                      environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 302


def logged_in(app, name: str, password: str, address: str = "127.0.0.1"):
    client = app.test_client()
    response = client.post("/admin/login", data={"name": name, "password": password},
                           environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 302, response.data
    return client


def test_a_cookie_copied_before_logout_is_refused_after_it(admin_app):
    client = logged_in(admin_app, "admin", PASSWORD)
    stolen = client.get_cookie("session").value
    client.post("/admin/logout")
    thief = admin_app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/admin/orders").status_code == 302
    assert thief.post("/admin/events/evt_x/replay").status_code == 403


def test_a_session_ends_after_its_idle_time_and_after_its_absolute_time(admin_app):
    from datetime import timedelta

    from app.models import AdminSession

    settings = admin_app.config["SETTINGS"]
    idle, busy = logged_in(admin_app, "admin", PASSWORD), logged_in(admin_app, "admin", PASSWORD)
    with admin_app.app_context():
        first, second = db.session.scalars(select(AdminSession).order_by(AdminSession.created_at)).all()
        first.last_seen -= timedelta(seconds=settings.admin_idle_seconds + 1)
        second.created_at -= timedelta(seconds=settings.admin_session_seconds + 1)  # used a second ago
        db.session.commit()
    assert idle.get("/admin/orders").status_code == 302
    assert busy.get("/admin/orders").status_code == 302
    assert logged_in(admin_app, "admin", PASSWORD).get("/admin/orders").status_code == 200


def test_a_password_change_ends_every_session_of_that_account_only(admin_app):
    add_account(admin_app, "bea", "bea's own long password")
    add_account(admin_app, "cal", "cal's own long password")
    bea_laptop, bea_phone = (logged_in(admin_app, "bea", "bea's own long password") for _ in range(2))
    cal = logged_in(admin_app, "cal", "cal's own long password")
    result = admin_app.test_cli_runner().invoke(args=["admin", "password", "bea"], input="bea's new long password\n")
    assert result.exit_code == 0, result.output
    assert bea_laptop.get("/admin/orders").status_code == 302 and bea_phone.get("/admin/orders").status_code == 302
    assert cal.get("/admin/orders").status_code == 200
    refused = admin_app.test_client().post("/admin/login", data={"name": "bea", "password": "bea's own long password"})
    assert refused.status_code == 401
    assert logged_in(admin_app, "bea", "bea's new long password").get("/admin/orders").status_code == 200


def test_a_disabled_account_is_refused_and_its_sessions_end(admin_app):
    add_account(admin_app, "bea", "bea's own long password")
    bea = logged_in(admin_app, "bea", "bea's own long password")
    assert admin_app.test_cli_runner().invoke(args=["admin", "disable", "bea"]).exit_code == 0
    assert bea.get("/admin/orders").status_code == 302
    again = admin_app.test_client().post("/admin/login", data={"name": "bea", "password": "bea's own long password"})
    assert again.status_code == 401


def test_admin_create_reads_the_password_from_stdin_and_refuses_short_ones_and_duplicates(admin_app):
    from app.models import AdminAccount

    runner = admin_app.test_cli_runner()
    assert runner.invoke(args=["admin", "create", "dee"], input="dee's own long password\n").exit_code == 0
    assert runner.invoke(args=["admin", "create", "dee"], input="another long password\n").exit_code != 0
    assert runner.invoke(args=["admin", "create", "eve"], input="short\n").exit_code != 0
    assert runner.invoke(args=["admin", "create", "dee", "--if-missing"], input="x\n").exit_code == 0
    with admin_app.app_context():
        assert db.session.scalars(select(AdminAccount.name).order_by(AdminAccount.name)).all() == ["dee"]
    assert logged_in(admin_app, "dee", "dee's own long password").get("/admin/").status_code == 200
    # with an account made, ADMIN_PASSWORD_HASH no longer bootstraps `admin`
    assert admin_app.test_client().post("/admin/login", data=LOGIN).status_code == 401


def test_two_accounts_each_with_its_own_password_each_named_in_the_audit_trail(admin_app, redis):
    add_account(admin_app, "bea", "bea's own long password")
    add_account(admin_app, "cal", "cal's own long password")
    crossed = admin_app.test_client().post("/admin/login", data={"name": "bea", "password": "cal's own long password"})
    assert crossed.status_code == 401
    bea = logged_in(admin_app, "bea", "bea's own long password", address="10.0.0.7")
    cal = logged_in(admin_app, "cal", "cal's own long password", address="10.0.0.8")
    assert bea.get("/admin/").get_data(as_text=True).count('data-testid="admin-name">bea<') == 1
    bea.post("/admin/events/evt_nowhere/replay", environ_base={"REMOTE_ADDR": "10.0.0.7"})
    cal.post("/admin/jobs/maintenance/no-such-job/retry", environ_base={"REMOTE_ADDR": "10.0.0.8"})
    with admin_app.app_context():
        from app.models import AdminAction

        rows = db.session.scalars(select(AdminAction).order_by(AdminAction.id)).all()
        assert [(r.account_name, r.action, r.target, r.address) for r in rows] == [
            ("bea", "replay", "evt_nowhere", "10.0.0.7"), ("cal", "job-retry", "no-such-job", "10.0.0.8")]
        assert "no stored event" in rows[0].outcome
    trail = cal.get("/admin/audit").get_data(as_text=True)
    assert trail.count('data-testid="admin-action"') == 2 and "evt_nowhere" in trail and "no-such-job" in trail


def test_an_account_with_totp_needs_a_current_code_each_used_once(admin_app):
    import pyotp

    add_account(admin_app, "bea", "bea's own long password")
    result = admin_app.test_cli_runner().invoke(args=["admin", "totp", "bea"])
    assert result.exit_code == 0 and result.output.startswith("otpauth://totp/"), result.output
    totp = pyotp.parse_uri(result.output.strip())
    form = {"name": "bea", "password": "bea's own long password"}
    client = admin_app.test_client()
    assert client.post("/admin/login", data=form).status_code == 401
    assert client.post("/admin/login", data={**form, "code": "000000" if totp.now() != "000000" else "111111"}
                       ).status_code == 401
    code = totp.now()
    assert client.post("/admin/login", data={**form, "code": code}).status_code == 302
    assert client.get("/admin/orders").status_code == 200
    replayed = admin_app.test_client().post("/admin/login", data={**form, "code": code})
    assert replayed.status_code == 401  # a code seen once is not accepted again


def test_admin_forms_need_a_csrf_token(admin_app):
    admin_app.config["WTF_CSRF_ENABLED"] = True
    client = admin_app.test_client()
    assert client.post("/admin/login", data=LOGIN).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/login").get_data(as_text=True))
    assert client.post("/admin/login", data={**LOGIN, "csrf_token": token.group(1)}).status_code == 302
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
def test_orders_filter_by_state_and_an_order_shows_its_timeline(admin_app, admin, redis):
    client = admin_app.test_client()  # the `client` fixture would build another app on a fresh schema
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
    admin.post("/admin/login", data=LOGIN)
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
        db.session.add(CspReport(fingerprint="e" * 64, document_uri="/products/mug", directive="img-src",
                                 blocked_uri="https://ads.example", body="{}", count=40))
        db.session.add(CspReport(fingerprint="f" * 64, document_uri="/checkout", directive="script-src-elem",
                                 blocked_uri="https://evil.example", body="{}", count=3, payment_page=True,
                                 sample="fetch('//evil.example')"))
        db.session.commit()
        get_queue("events").enqueue("builtins.len", "abc")
    reports = admin.get("/admin/csp-reports").get_data(as_text=True)
    rows = re.findall(r'<tr data-testid="csp-row".*?</tr>', reports, re.S)
    assert "https://evil.example" in rows[0] and 'data-testid="payment-page"' in rows[0]  # payment pages first
    assert ">3<" in rows[0] and "fetch(&#39;//evil.example&#39;)" in rows[0]
    assert "https://ads.example" in rows[1] and "payment-page" not in rows[1] and ">40<" in rows[1]
    panel = admin.get("/admin/").get_data(as_text=True)
    assert 'data-testid="breaker"' in panel and "closed" in panel
    assert re.search(r'data-testid="queue-events"><th scope="row">events</th><td class="num">1</td>', panel)


def test_the_health_panel_says_when_redis_cannot_be_read(make_app, settings, password_hash):
    app = make_app(settings.with_overrides(admin_password_hash=password_hash, redis_url="redis://127.0.0.1:9/0"))
    client = app.test_client()
    client.post("/admin/login", data=LOGIN)  # the lockout counter falls back to memory
    panel = client.get("/admin/")
    assert panel.status_code == 200 and b"Redis could not be read" in panel.data
