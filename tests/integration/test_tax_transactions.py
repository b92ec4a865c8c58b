"""Stripe Tax after the payment, against the real emulator over HTTP with a real RQ worker: a paid order's tax
transaction is recorded once whatever the events and the jobs do, a Stripe fault delays it without holding up the
fulfilment or the receipt, the relay re-enqueues a lost job, an expired calculation is shown and left alone, and
each succeeded refund is reversed once (in full, or in part by its amount), after its order's transaction."""
from __future__ import annotations

import json
import threading
import time

import pytest
import stripe
from rq import Queue, SimpleWorker
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from app.events.apply import apply_event
from app.events.store import store_events
from app.models import Order, OrderLine, OutboxEmail, Refund, db
from app.queues import PAYMENTS, tax_transaction_job_id
from app.queues.relay import relay_tax
from app.telemetry import metrics
from tests.support.emulator import EMULATOR_SECRET_KEY
from tests.support.events import event_payload, shuffled_twice

PASSWORD = "correct horse battery staple"
SF = {"line1": "354 Oyster Point Blvd", "city": "South San Francisco", "state": "CA", "postal_code": "94080",
      "country": "US"}
LINES = (("enamel-mug", "Enamel Camp Mug", 1200, 2, 240), ("ceramic-pour-over", "Ceramic Pour-Over", 2800, 1, 280))
SHIPPING = 599


@pytest.fixture
def shop(make_app, settings, emulator):
    app = make_app(settings.with_overrides(admin_password_hash=generate_password_hash(PASSWORD),
                                           stripe_api_base=emulator.api, relay_stale_after=0,
                                           stripe_connect_timeout=0.5, stripe_read_timeout=1.0,
                                           breaker_fail_max=50, checkout_deadline=4.0))
    admin = app.test_client()
    assert admin.post("/admin/login", data={"name": "admin", "password": PASSWORD}).status_code == 302
    return app, admin


def _client(emulator) -> stripe.StripeClient:
    return stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": emulator.api}, max_network_retries=0)


def _order_with_tax(app, emulator, attempt: str) -> tuple[str, dict]:
    """An order priced with a Stripe Tax calculation (exclusive tax) and paid through the emulator; its success
    event not applied yet."""
    client = _client(emulator)
    calculation = client.v1.tax.calculations.create(params={
        "currency": "usd", "customer_details": {"address": SF, "address_source": "shipping"},
        "line_items": [{"amount": price * quantity - discount, "quantity": quantity, "reference": product}
                       for product, _, price, quantity, discount in LINES],
        "shipping_cost": {"amount": SHIPPING}, "expand": ["line_items"]})
    taxes = [item.amount_tax for item in calculation.line_items.data]
    with app.app_context():
        order = Order(attempt_id=attempt * 32, amount=calculation.amount_total, currency="usd", state="pending",
                      email="shopper@example.com", subtotal=sum(p * q for _, _, p, q, _ in LINES),
                      discount_code="SPRING10", discount_amount=sum(d for *_, d in LINES), shipping_method="standard",
                      shipping_amount=SHIPPING, tax_amount=calculation.tax_amount_exclusive,
                      tax_calculation_id=calculation.id, shipping_name="Ann Shopper",
                      shipping_address=json.dumps(SF),
                      lines=[OrderLine(product_id=product, name=name, unit_price=price, quantity=quantity,
                                       discount_amount=discount, tax_amount=tax)
                             for (product, name, price, quantity, discount), tax in zip(LINES, taxes)])
        db.session.add(order)
        db.session.commit()
        public_id, amount = order.public_id, order.amount
    intent = client.v1.payment_intents.create(params={
        "amount": amount, "currency": "usd", "confirm": True, "payment_method": "pm_card_visa",
        "metadata": {"order_id": public_id}, "payment_method_types": ["card"]}).to_dict(recursive=True)
    assert intent["status"] == "succeeded"
    with app.app_context():
        db.session.execute(update(Order).where(Order.public_id == public_id).values(payment_intent_id=intent["id"]))
        db.session.commit()
    return public_id, intent


def _apply(app, event_type: str, obj: dict, event_id: str | None = None) -> str:
    """Store the event (delivered twice) and apply it as a worker does."""
    event_id = event_id or f"evt_{time.monotonic_ns()}"
    with app.app_context():
        raw = event_payload(event_type, obj, event_id=event_id)
        store_events([(json.loads(raw), raw), (json.loads(raw), raw)], source="webhook")
        return apply_event(event_id)


def _work(redis, scheduled: bool = False) -> None:
    SimpleWorker([PAYMENTS], connection=redis).work(burst=True, with_scheduler=scheduled)


def _order(app, public_id: str) -> Order:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        db.session.expunge(order)
        return order


def _scheduled(redis) -> list[str]:
    """The payments jobs waiting for a retry."""
    return Queue(PAYMENTS, connection=redis).scheduled_job_registry.get_job_ids()


def _recorded(emulator, reference: str) -> list[dict]:
    return emulator.ctl("GET", "/_emulator/tax/transactions", params={"reference": reference})["data"]


def _wait_until(check, redis, timeout: float = 20):
    """Run the payments queue (retries included, once due) until `check()` is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _work(redis, scheduled=True)
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("the payments queue never got there")


def _refunds(app, public_id: str) -> list[Refund]:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        rows = db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.number)).all()
        db.session.expunge_all()
        return rows


# ---- the transaction ---------------------------------------------------------------------------------------
def test_one_transaction_under_duplicated_and_shuffled_events_two_workers_and_a_job_retried_after_a_crash(
        shop, emulator, redis):
    app, _ = shop
    public_id, intent = _order_with_tax(app, emulator, "a")
    events = [("payment_intent.succeeded", intent), ("payment_intent.succeeded", intent),
              ("charge.succeeded", {"id": "ch_x", "object": "charge", "payment_intent": intent["id"]})]
    for event_type, obj in shuffled_twice(events, (1, 2, 0), seed=7):
        _apply(app, event_type, obj)
    _work(redis)
    (recorded,) = _recorded(emulator, public_id)
    order = _order(app, public_id)
    assert order.state == "fulfilled" and order.tax_transaction_id == recorded["id"]
    assert recorded["type"] == "transaction" and recorded["metadata"] == {"order_id": public_id}

    # a worker that crashed after Stripe answered and before its commit: its retry, and a second worker beside it
    with app.app_context():
        db.session.execute(update(Order).where(Order.public_id == public_id).values(tax_transaction_id=None))
        db.session.commit()
    from app.tasks import record_tax_transaction

    results = []
    workers = [threading.Thread(target=lambda: results.append(record_tax_transaction(order.id))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert results == ["recorded", "recorded"]
    assert [row["id"] for row in _recorded(emulator, public_id)] == [recorded["id"]]
    assert _order(app, public_id).tax_transaction_id == recorded["id"]
    keys = {row["idempotency_key"] for row in emulator.requests_log("/v1/tax/transactions")}
    assert keys == {f"order-{public_id}-tax-transaction"}


def test_a_stripe_fault_delays_the_transaction_but_not_the_fulfilment_or_the_receipt(shop, emulator, redis):
    app, _ = shop
    public_id, intent = _order_with_tax(app, emulator, "b")
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/tax/*", "status": 503})
    _apply(app, "payment_intent.succeeded", intent)
    _work(redis)  # the job meets the fault, and waits for its retry
    order = _order(app, public_id)
    assert order.state == "fulfilled" and order.tax_transaction_id is None and order.tax_error is None
    with app.app_context():
        assert db.session.scalars(select(OutboxEmail.kind).where(OutboxEmail.order_id == order.id)).all() == [
            "receipt"]
    assert _recorded(emulator, public_id) == []
    assert _scheduled(redis) == [tax_transaction_job_id(order.id)]

    emulator.ctl("DELETE", "/_emulator/faults")
    _wait_until(lambda: _order(app, public_id).tax_transaction_id is not None, redis)
    (recorded,) = _recorded(emulator, public_id)
    assert _order(app, public_id).tax_transaction_id == recorded["id"]


def test_the_relay_re_enqueues_a_transaction_whose_job_was_lost(shop, emulator, redis):
    app, _ = shop
    public_id, intent = _order_with_tax(app, emulator, "c")
    _apply(app, "payment_intent.succeeded", intent)
    redis.flushdb()  # Redis lost the job
    with app.app_context():
        assert relay_tax() == 1
        assert relay_tax() == 0  # its job is queued now: not enqueued twice
    _work(redis)
    (recorded,) = _recorded(emulator, public_id)
    assert _order(app, public_id).tax_transaction_id == recorded["id"]
    with app.app_context():
        assert relay_tax() == 0


def test_an_expired_calculation_is_not_recorded_and_the_admin_page_says_so(shop, emulator, redis):
    app, admin = shop
    public_id, intent = _order_with_tax(app, emulator, "d")
    order = _order(app, public_id)
    emulator.ctl("POST", f"/_emulator/tax/calculations/{order.tax_calculation_id}/expire")
    refused = metrics.TAX_RECORDS.labels("transaction", "refused")
    before = refused._value.get()
    _apply(app, "payment_intent.succeeded", intent)
    _work(redis)
    order = _order(app, public_id)
    assert order.state == "fulfilled" and order.tax_transaction_id is None
    assert order.tax_error == "the tax calculation expired before the payment was recorded"
    assert refused._value.get() == before + 1
    assert _scheduled(redis) == [tax_transaction_job_id(order.id)]
    page = admin.get(f"/admin/orders/{public_id}").get_data(as_text=True)
    assert "tax not recorded: the tax calculation expired before the payment was recorded" in page
    with app.app_context():
        assert relay_tax() == 0  # a person looks; the relay does not loop on it
    from app.tasks import record_tax_transaction

    with pytest.raises(Exception, match="expired"):
        record_tax_transaction(order.id)  # a retry: refused again, counted once
    assert refused._value.get() == before + 1
    assert _recorded(emulator, public_id) == []


# ---- reversals ---------------------------------------------------------------------------------------------
def _refund(admin, public_id: str, amount: int, form_token: str) -> None:
    typed = f"{amount // 100}.{amount % 100:02d}"
    response = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": typed, "form_token": form_token})
    assert response.status_code == 302, response.get_data(as_text=True)


def _refund_event(emulator, refund: Refund) -> dict:
    return _client(emulator).v1.refunds.retrieve(refund.stripe_refund_id).to_dict(recursive=True)


def test_a_refund_of_the_whole_order_reverses_its_tax_in_full_once(shop, emulator, redis):
    app, admin = shop
    public_id, intent = _order_with_tax(app, emulator, "e")
    _apply(app, "payment_intent.succeeded", intent)
    _work(redis)
    order = _order(app, public_id)
    _refund(admin, public_id, order.amount, "t" * 32)
    _refund(admin, public_id, order.amount, "t" * 32)  # the same form again
    (refund,) = _refunds(app, public_id)
    assert refund.status == "succeeded"
    for _ in range(2):  # Stripe's own news of it, duplicated: enqueues the reversal again
        _apply(app, "refund.updated", _refund_event(emulator, refund))
    _work(redis)
    (reversal,) = _recorded(emulator, f"{public_id}-refund-1")
    (transaction,) = _recorded(emulator, public_id)
    assert reversal["type"] == "reversal" and reversal["original_transaction"] == transaction["id"]
    assert (reversal["amount"], reversal["amount_tax"]) == (-transaction["amount"], -transaction["amount_tax"])
    assert _refunds(app, public_id)[0].tax_reversal_id == reversal["id"]
    keys = [row["idempotency_key"] for row in emulator.requests_log("/v1/tax/transactions/create_reversal")]
    assert set(keys) == {f"refund-{refund.id}-tax-reversal"}
    assert f"{reversal['id']}" in admin.get(f"/admin/orders/{public_id}").get_data(as_text=True)


def test_partial_refunds_each_reverse_their_amount_once_after_the_transaction_they_wait_for(shop, emulator, redis):
    app, admin = shop
    public_id, intent = _order_with_tax(app, emulator, "f")
    _apply(app, "payment_intent.succeeded", intent)
    redis.flushdb()  # the transaction's job is lost: the reversals must wait for it
    order = _order(app, public_id)
    _refund(admin, public_id, 1000, "u" * 32)
    _work(redis)  # the reversal finds no transaction yet and waits for a retry
    first = _refunds(app, public_id)[0]
    assert first.status == "succeeded" and first.tax_reversal_id is None
    assert _recorded(emulator, f"{public_id}-refund-1") == []
    with app.app_context():
        relay_tax()  # the lost transaction's job
    _wait_until(lambda: _refunds(app, public_id)[0].tax_reversal_id is not None, redis)
    _refund(admin, public_id, order.amount - 1000, "v" * 32)  # the rest: still a partial reversal
    _wait_until(lambda: _refunds(app, public_id)[1].tax_reversal_id is not None, redis)

    (transaction,) = _recorded(emulator, public_id)
    (one,), (two,) = _recorded(emulator, f"{public_id}-refund-1"), _recorded(emulator, f"{public_id}-refund-2")
    assert one["amount"] + one["amount_tax"] == -1000
    assert two["amount"] + two["amount_tax"] == -(order.amount - 1000)
    assert one["original_transaction"] == two["original_transaction"] == transaction["id"]
    assert [row.tax_reversal_id for row in _refunds(app, public_id)] == [one["id"], two["id"]]
    with app.app_context():
        assert relay_tax() == 0
