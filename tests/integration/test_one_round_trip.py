"""A checkout's happy path is one Stripe round trip: the first attempt creates and confirms the PaymentIntent in
one call under its own key. An answer lost on the way is found by sending the same request again (Stripe replays
what it did, or does it now); while one attempt's create may be running, no other attempt creates a second
intent, so an order is charged at most once."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import stripe
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from app.checkout import service
from app.models import AttemptStatus, Order, OrderState, PaymentAttempt, db, utcnow
from app.payments import PaymentError, get_gateway
from tests.support.emulator import EMULATOR_SECRET_KEY
from tests.support.shopper import SHIPPING, Checkout

PI_ROUTE = "POST /v1/payment_intents"


def _fault(emulator, **fault):
    return emulator.ctl("POST", "/_emulator/faults", fault)


def _calls_since(emulator, seen: int) -> list[tuple[str, str]]:
    """The shop's Stripe calls after the first `seen` logged requests."""
    return [(r["method"], r["path"]) for r in emulator.requests_log()[seen:]]


def _created(emulator) -> int:
    return emulator.ctl("GET", "/_emulator/stats")["payment_intents"]["created"]


def _wait_for_created(emulator, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while _created(emulator) < count:
        assert time.monotonic() < deadline, "the slow create never finished at Stripe"
        time.sleep(0.05)


def _attempts(app, attempt_id: str) -> list[PaymentAttempt]:
    with app.app_context():
        order = db.session.query(Order).filter_by(attempt_id=attempt_id).one()
        attempts = list(order.attempts)
        db.session.expunge_all()
        return attempts


def _order(app, attempt_id: str) -> Order:
    with app.app_context():
        order = db.session.query(Order).filter_by(attempt_id=attempt_id).one()
        db.session.expunge(order)
        return order


def _find_outcome(app, attempt: PaymentAttempt, timeout: float = 30) -> str:
    """The worker's job, run as RQ's retries would run it until it knows."""
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            try:
                return service.find_outcome(attempt.id, get_gateway(app), window=60)
            except (service.OutcomeNotKnownYet, PaymentError):  # e.g. the first request still running at Stripe
                assert time.monotonic() < deadline, "the outcome was never found"
                db.session.rollback()
                time.sleep(0.2)


def _answer_lost(shopper: Checkout, emulator, payment_method: str = "pm_card_visa", after: bool = True):
    """Pay while Stripe answers the create-and-confirm with a 500: after carrying it out (`after`), or before.
    The shop says "unknown"; the order's one attempt is returned."""
    _fault(emulator, route=PI_ROUTE, status=500, after=after, should_retry=False, count=1)
    response = shopper.confirm(shopper.token(payment_method))
    assert response.status_code == 202 and response.json["status"] == "unknown", response.json
    [attempt] = _attempts(shopper.app, shopper.attempt_id)
    return attempt


def test_a_quoted_checkout_makes_one_stripe_call(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    seen = len(emulator.requests_log())
    response = shopper.confirm(token, quote=quote)
    assert response.status_code == 200 and response.json["status"] == "succeeded", response.json
    assert _calls_since(emulator, seen) == [("POST", "/v1/payment_intents")]  # no token read, no separate confirm
    assert _order(stripe_app, shopper.attempt_id).state == OrderState.PAID
    assert _attempts(stripe_app, shopper.attempt_id)[0].request is None  # settled: nothing kept to send again


def test_a_checkout_without_a_quote_reads_the_token_for_its_address_first(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator)
    token = shopper.token()
    seen = len(emulator.requests_log())
    assert shopper.confirm(token).json["status"] == "succeeded"
    calls = _calls_since(emulator, seen)
    assert calls[0][0] == "GET" and calls[0][1].startswith("/v1/confirmation_tokens/")
    assert calls[1:] == [("POST", "/v1/payment_intents")]


def test_the_payment_intent_ships_to_the_quoted_address_whatever_the_token_says(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    elsewhere = {**SHIPPING, "address": {**SHIPPING["address"], "line1": "1 Elsewhere Road", "city": "Nowhere"}}
    response = shopper.confirm(shopper.token(shipping=elsewhere), quote=quote)
    assert response.status_code == 200, response.json
    order = _order(stripe_app, shopper.attempt_id)
    client = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": emulator.api})
    intent = client.v1.payment_intents.retrieve(order.payment_intent_id)
    assert intent["shipping"]["address"]["line1"] == SHIPPING["address"]["line1"]
    assert json.loads(order.shipping_address)["line1"] == SHIPPING["address"]["line1"]


def test_a_lost_answer_is_found_by_sending_the_same_request_again(stripe_app, emulator, redis):
    shopper = Checkout(stripe_app, emulator)
    _fault(emulator, route=PI_ROUTE, status=500, after=True, should_retry=False, count=1)  # paid, answer lost
    response = shopper.confirm(shopper.token())
    assert response.status_code == 202 and response.json["status"] == "unknown"
    assert "nothing was charged" not in response.get_data(as_text=True).lower()
    [attempt] = _attempts(stripe_app, shopper.attempt_id)
    assert attempt.status == AttemptStatus.UNKNOWN and attempt.request
    assert _order(stripe_app, shopper.attempt_id).payment_intent_id is None  # only Stripe knows it yet
    assert redis.llen("rq:queue:payments") == 1
    assert _find_outcome(stripe_app, attempt) == AttemptStatus.SUCCEEDED
    order = _order(stripe_app, shopper.attempt_id)
    assert order.state == OrderState.PAID and order.payment_intent_id
    creates = [r for r in emulator.requests_log("/v1/payment_intents") if r["method"] == "POST"]
    assert [r["replayed"] for r in creates] == [False, True]  # Stripe answered the second from what it did
    assert len({r["idempotency_key"] for r in creates}) == 1
    assert _created(emulator) == 1


def test_a_request_stripe_never_carried_out_is_carried_out_when_sent_again(stripe_app, emulator, redis):
    shopper = Checkout(stripe_app, emulator)
    attempt = _answer_lost(shopper, emulator, after=False)  # refused before it ran
    assert _created(emulator) == 0
    assert _find_outcome(stripe_app, attempt) == AttemptStatus.SUCCEEDED
    assert _order(stripe_app, shopper.attempt_id).state == OrderState.PAID
    assert _created(emulator) == 1


def test_a_decline_found_by_sending_again_fails_the_order_and_the_next_card_pays_the_same_intent(
        stripe_app, emulator, redis):
    shopper = Checkout(stripe_app, emulator)
    attempt = _answer_lost(shopper, emulator, "pm_card_visa_chargeDeclined")
    assert _find_outcome(stripe_app, attempt) == AttemptStatus.FAILED
    order = _order(stripe_app, shopper.attempt_id)
    assert order.state == OrderState.PAYMENT_FAILED and order.payment_intent_id
    seen = len(emulator.requests_log())
    assert shopper.confirm(shopper.token()).json["status"] == "succeeded"
    assert _calls_since(emulator, seen)[-1] == ("POST", f"/v1/payment_intents/{order.payment_intent_id}/confirm")
    assert _created(emulator) == 1


def test_a_bank_check_found_by_sending_again_gives_the_order_its_intent(stripe_app, emulator, redis):
    shopper = Checkout(stripe_app, emulator)
    attempt = _answer_lost(shopper, emulator, "pm_card_threeDSecure2Required")
    assert _find_outcome(stripe_app, attempt) == AttemptStatus.NEEDS_BANK_CHECK
    order = _order(stripe_app, shopper.attempt_id)
    assert order.state == OrderState.PENDING and order.payment_intent_id  # the checkout can reopen the check
    assert _attempts(stripe_app, shopper.attempt_id)[0].request is None  # never sent a third time
    assert _created(emulator) == 1


def test_no_second_intent_while_another_attempts_create_is_unknown(stripe_app, emulator, redis):
    shopper = Checkout(stripe_app, emulator)
    _fault(emulator, route=PI_ROUTE, latency_ms=6000, count=1)  # longer than the 4 s deadline
    assert shopper.confirm(shopper.token()).json["status"] == "unknown"
    response = shopper.confirm(shopper.token())  # the shopper pays again, with another card
    assert response.status_code == 409 and response.json["error"] == service.ANOTHER_PAYMENT
    first, second = _attempts(stripe_app, shopper.attempt_id)
    assert second.status == AttemptStatus.ERROR and second.request is None
    _wait_for_created(emulator, 1)  # the slow create finished at Stripe
    assert _find_outcome(stripe_app, first) == AttemptStatus.SUCCEEDED
    assert _order(stripe_app, shopper.attempt_id).state == OrderState.PAID
    assert _created(emulator) == 1


def test_a_create_left_sending_by_a_stopped_process_is_followed_up_before_another_is_made(
        stripe_app, emulator, redis):
    shopper = Checkout(stripe_app, emulator)
    _fault(emulator, route=PI_ROUTE, latency_ms=6000, count=1)
    assert shopper.confirm(shopper.token()).json["status"] == "unknown"
    with stripe_app.app_context():  # as a web process stopped mid-request leaves it
        order = db.session.query(Order).filter_by(attempt_id=shopper.attempt_id).one()
        order.attempts[0].status = AttemptStatus.SENDING
        order.attempts[0].created_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    redis.delete("rq:queue:payments")
    assert shopper.confirm(shopper.token()).status_code == 409
    first = _attempts(stripe_app, shopper.attempt_id)[0]
    assert first.status == AttemptStatus.UNKNOWN
    assert redis.llen("rq:queue:payments") == 1  # the job that sends it again
    _wait_for_created(emulator, 1)
    assert _find_outcome(stripe_app, first) == AttemptStatus.SUCCEEDED
    assert _created(emulator) == 1


def test_no_database_connection_is_held_while_stripe_answers(stripe_app, emulator):
    """The request gives its connection back to the pool before the create-and-confirm: a slow Stripe must not
    take the shop's database connections with it (on PostgreSQL they would sit idle in a transaction)."""
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    _fault(emulator, route=PI_ROUTE, latency_ms=1500, count=1)
    with stripe_app.app_context():
        pool = db.engine.pool
    observer = create_engine(stripe_app.config["SQLALCHEMY_DATABASE_URI"])  # its own connections, not the app's
    sent = text("SELECT count(*) FROM payment_attempt WHERE request IS NOT NULL")
    seen_free = False
    with ThreadPoolExecutor(1) as background:
        answer = background.submit(shopper.confirm, token, quote=quote)
        while not answer.done() and not seen_free:
            with observer.connect() as connection:
                request_stored = connection.execute(sent).scalar() == 1  # the create is being sent...
            held = pool.checkedout()
            not_yet_done = _created(emulator) == 0  # ...and Stripe has not carried it out yet
            seen_free = request_stored and not_yet_done and held == 0
            time.sleep(0.02)
        assert answer.result().json["status"] == "succeeded"
    observer.dispose()
    assert seen_free, "a database connection stayed checked out while Stripe was answering"


class _FirstStatement:
    """`act(statement, parameters)` runs, on the app's own connection just before it is sent, the first statement
    that `matches`; `fired` counts it (0 or 1)."""

    def __init__(self, engine):
        self.engine, self.fired = engine, 0

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._before)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        if not self.fired and self.matches(statement):
            self.fired += 1
            self.act(statement, parameters)


class _LockedOnce(_FirstStatement):
    """The database refuses the first statement starting with `prefix`, as a locked SQLite or a PostgreSQL gone
    away would: a real OperationalError from the engine, raised before the statement runs."""

    def __init__(self, engine, prefix: str):
        super().__init__(engine)
        self.prefix = prefix

    def matches(self, statement: str) -> bool:
        return statement.lstrip().upper().startswith(self.prefix)

    def act(self, statement, parameters):
        raise OperationalError(statement, parameters, Exception("database is locked"))


def test_a_database_failure_before_stripe_is_asked_answers_retry_and_the_retry_pays(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    with stripe_app.app_context():
        engine = db.engine
    with _LockedOnce(engine, 'INSERT INTO "ORDER"') as locked:
        response = shopper.confirm(token, quote=quote)
    assert locked.fired == 1
    assert response.status_code == 503 and response.json["retryable"] is True
    assert "can't charge you twice" in response.json["error"]
    assert _created(emulator) == 0
    assert shopper.confirm(token, quote=quote).json["status"] == "succeeded"  # the page sends the same token
    assert _created(emulator) == 1


def test_a_database_failure_after_stripe_took_the_payment_is_retried_without_a_second_charge(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    with stripe_app.app_context():
        engine = db.engine
    with _LockedOnce(engine, 'UPDATE "ORDER" SET') as locked:  # the first write after Stripe's answer
        response = shopper.confirm(token, quote=quote)
    assert locked.fired == 1
    assert response.status_code == 503 and response.json["retryable"] is True
    assert "nothing was charged" not in response.get_data(as_text=True).lower()
    assert _created(emulator) == 1  # Stripe has the payment; the shop has not recorded it
    again = shopper.confirm(token, quote=quote)
    assert again.json["status"] == "succeeded", again.json
    assert _order(stripe_app, shopper.attempt_id).state == OrderState.PAID
    creates = [r for r in emulator.requests_log("/v1/payment_intents") if r["method"] == "POST"]
    assert [r["replayed"] for r in creates] == [False, True] and _created(emulator) == 1


class _PaidBetweenTheReads(_FirstStatement):
    """The order's `payment_intent.succeeded` applied by a worker while a retried confirm is between its reads:
    just before the confirm looks for other attempts' creates, the order gets its intent and is fulfilled, as
    app/events/handlers.py's on_payment_succeeded commits it (from a connection of its own)."""

    def __init__(self, app, attempt_id: str, intent_id: str):
        with app.app_context():
            super().__init__(db.engine)
        self.worker = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        self.attempt_id, self.intent_id = attempt_id, intent_id

    def __exit__(self, *exc):
        super().__exit__(*exc)
        self.worker.dispose()

    def matches(self, statement: str) -> bool:
        return "FROM payment_attempt" in statement and "request IS NOT NULL" in statement

    def act(self, statement, parameters):
        with self.worker.begin() as connection:
            connection.execute(text('UPDATE "order" SET payment_intent_id = :intent, state = :state '
                                    "WHERE attempt_id = :attempt"),
                               {"intent": self.intent_id, "state": OrderState.FULFILLED.value,
                                "attempt": self.attempt_id})


def test_a_retry_whose_own_payment_was_applied_meanwhile_is_told_it_paid(stripe_app, emulator):
    """Stripe took the payment, the shop could not record it (503), and the shopper's "try again" arrives while
    the payment's webhook is being applied: the retry must say the order is paid, not that another payment is
    under way, and nothing is sent to Stripe again."""
    shopper = Checkout(stripe_app, emulator)
    quote = shopper.quote().json["quote"]
    token = shopper.token()
    with stripe_app.app_context():
        engine = db.engine
    with _LockedOnce(engine, 'UPDATE "ORDER" SET'):
        assert shopper.confirm(token, quote=quote).status_code == 503
    [intent] = stripe.StripeClient(EMULATOR_SECRET_KEY, base_addresses={"api": emulator.api}).v1.payment_intents.list()
    with _PaidBetweenTheReads(stripe_app, shopper.attempt_id, intent.id) as webhook:
        again = shopper.confirm(token, quote=quote)
    assert webhook.fired == 1
    assert again.status_code == 200 and again.json["status"] == "succeeded", again.json
    assert _created(emulator) == 1
    [attempt] = _attempts(stripe_app, shopper.attempt_id)
    assert attempt.status == AttemptStatus.SUCCEEDED and attempt.request is None
    assert shopper.confirm(token, quote=quote).json["status"] == "succeeded"  # and so does every later retry
