"""The checkout with a bank debit against the emulator: the confirm answers "processing", the order waits in
processing with its stock and its one email, a second submit cannot pay it twice, and an outcome found after the
fact ends the same."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import requests

from app.checkout import service
from app.models import Order, OutboxEmail, PaymentAttempt, Product, db
from app.payments import PaymentError, get_gateway
from tests.support.emulator import EMULATOR_SECRET_KEY
from tests.support.shopper import SHIPPING, shipping_form


def _bank_token(emulator, account: str = "000123456789") -> str:
    response = requests.post(f"{emulator.api}/v1/test_helpers/confirmation_tokens", data={
        "payment_method_data[type]": "us_bank_account",
        "payment_method_data[us_bank_account][routing_number]": "110000000",
        "payment_method_data[us_bank_account][account_number]": account,
        "payment_method_data[billing_details][name]": "Jenny Rosen", **shipping_form(SHIPPING)},
        auth=(EMULATOR_SECRET_KEY, ""), timeout=10)
    response.raise_for_status()
    return response.json()["id"]


def _order(app, attempt_id: str) -> tuple[str, bool, list[str], int]:
    with app.app_context():
        order = db.session.query(Order).filter_by(attempt_id=attempt_id).one()
        mails = sorted(db.session.scalars(db.select(OutboxEmail.kind).where(OutboxEmail.order_id == order.id)))
        return order.state, order.stock_reserved, mails, len(order.attempts)


def _stock(app) -> int:
    with app.app_context():
        return db.session.get(Product, "enamel-mug").stock


def test_a_bank_debit_confirm_answers_processing_and_the_order_waits_for_the_bank(checkout, stripe_app, emulator,
                                                                                  redis):
    emulator.ctl("POST", "/_emulator/debits", {"settle_after": 600})
    start = _stock(stripe_app)
    shopper = checkout()
    token = _bank_token(emulator)
    response = shopper.confirm(token)
    assert response.status_code == 200 and response.json["status"] == "processing", response.json
    assert _order(stripe_app, shopper.attempt_id) == ("processing", True, ["processing"], 1)
    assert redis.llen("rq:queue:mail") == 1  # the email is on its way now, not at the next relay
    assert _stock(stripe_app) == start - 1
    # the same submit again, and another card on the same order: neither pays it twice
    assert shopper.confirm(token).json["status"] == "processing"
    again = shopper.confirm(shopper.token())
    assert again.status_code == 200 and again.json["status"] == "processing"
    assert _order(stripe_app, shopper.attempt_id) == ("processing", True, ["processing"], 1)
    page = shopper.client.get(urlsplit(again.json["order_url"]).path)
    assert "Payment processing — we&#39;ll email you when your bank confirms." in page.get_data(as_text=True)


def test_a_bank_debit_found_after_the_fact_is_processing_once(checkout, stripe_app, emulator):
    emulator.ctl("POST", "/_emulator/debits", {"settle_after": 600})
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "latency_ms": 6000,
                                               "count": 1})
    shopper = checkout()
    response = shopper.confirm(_bank_token(emulator))
    assert response.status_code == 202 and response.json["status"] == "unknown"
    deadline = time.monotonic() + 30
    with stripe_app.app_context():
        attempt = db.session.query(PaymentAttempt).join(Order).filter(Order.attempt_id == shopper.attempt_id).one()
        while True:
            try:
                assert service.find_outcome(attempt.id, get_gateway(stripe_app), window=60) == "processing"
                break
            except (service.OutcomeNotKnownYet, PaymentError):  # RQ retries the job on either
                assert time.monotonic() < deadline
                db.session.rollback()
                time.sleep(0.2)
    assert _order(stripe_app, shopper.attempt_id) == ("processing", True, ["processing"], 1)
