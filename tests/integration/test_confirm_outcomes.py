"""What the confirm endpoint says is what the shop knows: an outcome Stripe may have carried out is "unknown"
and found out by the worker's job; "nothing was charged" only when nothing could have been; a changed cart or
stock refuses with what changed; a double click that loses the race is not an error."""
from __future__ import annotations

import logging
import time

import pytest

from app.checkout import service
from app.models import AttemptStatus, Order, OrderState, PaymentAttempt, db
from app.payments import UNAVAILABLE_MESSAGE, PaymentError, get_gateway
from tests.support.shopper import Checkout
from tests.support.net import free_port

CONFIRM_ROUTE = "POST /v1/payment_intents/*/confirm"  # a later attempt's: the order's intent exists
CREATE_ROUTE = "POST /v1/payment_intents"  # the first attempt's create-and-confirm


def _fault(emulator, **fault):
    return emulator.ctl("POST", "/_emulator/faults", fault)


def _attempt(app, attempt_id: str) -> tuple[str, str]:
    with app.app_context():
        order = db.session.query(Order).filter_by(attempt_id=attempt_id).one()
        return order.state, order.attempts[-1].status


def _find_outcome_until_known(app, attempt_id: str, timeout: float = 30) -> str:
    """Run the worker's job the way RQ's retries would, until it stops saying "not known yet"."""
    deadline = time.monotonic() + timeout
    with app.app_context():
        attempt = db.session.query(PaymentAttempt).join(Order).filter(Order.attempt_id == attempt_id).one()
        while True:
            try:
                return service.find_outcome(attempt.id, get_gateway(app), window=60)
            except (service.OutcomeNotKnownYet, PaymentError):  # RQ retries the job on either
                assert time.monotonic() < deadline, "Stripe never finished the confirm"
                db.session.rollback()
                time.sleep(0.2)


def test_a_confirm_stripe_is_still_running_is_unknown_and_then_found_paid(checkout, stripe_app, emulator, redis):
    shopper = checkout()
    _fault(emulator, route=CREATE_ROUTE, latency_ms=6000, count=1)  # longer than the 4 s deadline
    response = shopper.confirm(shopper.token())
    assert response.status_code == 202, response.json
    assert response.json["status"] == "unknown"
    assert "don't pay again" in response.json["message"].lower()
    assert "nothing was charged" not in response.get_data(as_text=True).lower()
    assert _attempt(stripe_app, shopper.attempt_id) == (OrderState.PENDING, AttemptStatus.UNKNOWN)
    assert redis.llen("rq:queue:payments") == 1  # the job that finds out is queued at once
    assert _find_outcome_until_known(stripe_app, shopper.attempt_id) == AttemptStatus.SUCCEEDED
    assert _attempt(stripe_app, shopper.attempt_id)[0] == OrderState.PAID


def test_a_confirm_the_breaker_refused_says_nothing_was_charged(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(breaker_reset_timeout=600))
    shopper = Checkout(app, emulator)
    token = shopper.token()
    assert shopper.confirm(shopper.token("pm_card_visa_chargeDeclined")).status_code == 402  # the intent exists
    get_gateway(app).breaker.state_machine.open()
    response = shopper.confirm(token)
    assert response.status_code == 503 and response.json["retryable"] is True
    assert response.json["status"] == "error" and response.json["error"] == UNAVAILABLE_MESSAGE


def test_only_a_request_that_could_not_have_reached_stripe_counts_as_not_executed(stripe_settings, emulator):
    from app.payments import Gateway, PaymentError

    closed = Gateway(stripe_settings.with_overrides(stripe_api_base=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(PaymentError) as refused:
        closed.retrieve_payment_intent("pi_123")
    assert refused.value.kind == "transient" and refused.value.maybe_executed is False
    _fault(emulator, route="GET /v1/payment_intents/*", latency_ms=3000)
    with pytest.raises(PaymentError) as timed_out:
        Gateway(stripe_settings).retrieve_payment_intent("pi_123")
    assert timed_out.value.kind == "transient" and timed_out.value.maybe_executed is True


def test_a_500_on_confirm_is_unknown_not_a_failure(checkout, stripe_app, emulator, redis):
    shopper = checkout()
    token = shopper.token()
    assert shopper.confirm(shopper.token("pm_card_visa_chargeDeclined")).status_code == 402  # the intent exists
    _fault(emulator, route=CONFIRM_ROUTE, status=500, should_retry=False, count=1)
    response = shopper.confirm(token)
    assert response.status_code == 202 and response.json["status"] == "unknown"
    # the fault answered before the emulator confirmed: the intent waits for a payment method, so after the
    # window the job knows the confirm never ran, and says so
    with stripe_app.app_context():
        attempt = db.session.query(PaymentAttempt).join(Order).filter(
            Order.attempt_id == shopper.attempt_id).order_by(PaymentAttempt.number.desc()).first()
        assert service.find_outcome(attempt.id, get_gateway(stripe_app), window=0) == AttemptStatus.NOT_EXECUTED
    page = shopper.client.get(f"/orders/{response.json['order_url'].rsplit('/', 1)[1]}").get_data(as_text=True)
    assert "Nothing was charged" in page


def test_a_declined_payment_found_after_the_fact_fails_the_order(checkout, stripe_app, emulator, redis):
    shopper = checkout()
    _fault(emulator, route=CREATE_ROUTE, latency_ms=6000, count=1)
    assert shopper.confirm(shopper.token("pm_card_visa_chargeDeclined")).json["status"] == "unknown"
    assert _find_outcome_until_known(stripe_app, shopper.attempt_id) == AttemptStatus.FAILED
    assert _attempt(stripe_app, shopper.attempt_id)[0] == OrderState.PAYMENT_FAILED


def test_a_price_changed_since_the_page_loaded_is_refused_with_what_changed(checkout, stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator, product="enamel-mug", quantity=2)
    quote = shopper.quote().json["quote"]
    with stripe_app.app_context():
        db.session.execute(db.text("UPDATE product SET price = 1500 WHERE id = 'enamel-mug'"))
        db.session.commit()
    response = shopper.confirm(shopper.token(), quote=quote)
    assert response.status_code == 409
    assert response.json["summary"]["total"] == 3000  # the page shows what would be charged now
    assert "The price of Enamel Camp Mug changed from $12.00 to $15.00" in response.json["error"]
    assert "The total is now $30.00" in response.json["error"]
    assert response.json["next_url"] == "/checkout"
    with stripe_app.app_context():
        assert db.session.query(Order).count() == 0  # nothing placed, nothing held, nothing charged
    assert emulator.ctl("GET", "/_emulator/stats")["payment_intents"]["created"] == 0


@pytest.mark.parametrize("quote", ["1;enamel-mug", "x" * 50, "1200;<script>x1@1"])
def test_a_malformed_quote_is_refused(checkout, quote):
    shopper = checkout()
    response = shopper.client.post("/checkout/confirm", json={
        "confirmation_token": "ctoken_abc", "attempt_id": shopper.attempt_id, "email": "a@example.com",
        "quote": quote})
    assert response.status_code == 400 and response.json["error"].startswith("quote is malformed")


def test_too_few_left_says_the_name_and_how_many_and_leads_to_the_cart(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator, product="ceramic-pour-over", quantity=2)
    with stripe_app.app_context():
        db.session.execute(db.text("UPDATE product SET stock = 1 WHERE id = 'ceramic-pour-over'"))
        db.session.commit()
    response = shopper.confirm(shopper.token())
    assert response.status_code == 409
    assert response.json["error"].startswith("Sorry, only 1 Ceramic Pour-Over left, and your cart asks for 2.")
    assert "ceramic-pour-over" not in response.json["error"]
    assert (response.json["next_url"], response.json["next_label"]) == ("/cart", "Update your cart")


def test_a_paid_checkout_reloaded_goes_to_its_order_and_the_cart_is_emptied(checkout):
    shopper = checkout()
    answer = shopper.confirm(shopper.token())
    assert answer.json["status"] == "succeeded"
    reload = shopper.client.get("/checkout")
    assert reload.status_code == 303 and reload.headers["Location"].endswith(answer.json["order_url"][-32:])
    status = shopper.client.get(answer.json["order_url"] + "/status").json
    assert status["cart_count"] == 0 and status["status"]["key"] == "preparing"


def test_the_checkout_page_is_never_served_from_a_cache(checkout):
    shopper = checkout()
    assert shopper.client.get("/checkout").headers["Cache-Control"] == "no-store"


def test_a_click_that_loses_the_race_to_pay_is_not_an_error(checkout, stripe_app, emulator, caplog):
    from app.telemetry import metrics

    shopper = checkout()
    assert shopper.confirm(shopper.token("pm_card_visa_chargeDeclined")).status_code == 402  # the intent exists
    with stripe_app.app_context():
        order = db.session.query(Order).filter_by(attempt_id=shopper.attempt_id).one()
        intent_id, key = order.payment_intent_id, f"winner-{order.public_id}"
        get_gateway(stripe_app).confirm(intent_id, confirmation_token=shopper.token(), idempotency_key=key,
                                        return_url="https://shop.example/orders/x")  # the other click wins
    programming = metrics.STRIPE_ERRORS.labels("programming")._value.get()
    caplog.set_level(logging.INFO)
    response = shopper.confirm(shopper.token())
    assert response.status_code == 200 and response.json["status"] == "succeeded"
    assert metrics.STRIPE_ERRORS.labels("programming")._value.get() == programming
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert any("kind=conflict" in r.getMessage() for r in caplog.records)
