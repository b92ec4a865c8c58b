"""A checkout waiting on Stripe holds no database connection, whichever Stripe call it waits on (the
create-and-confirm, reading a ConfirmationToken sent without a quote, a new Stripe Tax calculation): so one
process holds more slow checkouts than it has database connections, and its bulkhead is not cut to its pool."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from app.models import Order, OrderState, db
from app.payments.gateway import bulkhead_size
from tests.support.shopper import Checkout

CHECKOUTS = 6
POOL = {"db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout": 1.0}  # a call past it waits 1 s, then fails
SLOW_MS = 1500  # each Stripe call waits longer than a connection may be waited for


def _slow(emulator, route: str) -> None:
    emulator.ctl("POST", "/_emulator/faults", {"route": route, "latency_ms": SLOW_MS, "count": CHECKOUTS})


def _all_at_once(app, emulator, quoted: bool) -> list[int]:
    shoppers = [Checkout(app, emulator) for _ in range(CHECKOUTS)]
    prepared = [(shopper, shopper.token(), shopper.quote().json["quote"] if quoted else None) for shopper in shoppers]
    with ThreadPoolExecutor(CHECKOUTS) as pool:
        responses = list(pool.map(lambda args: args[0].confirm(args[1], quote=args[2]), prepared))
    with app.app_context():
        paid = db.session.query(Order).filter(Order.attempt_id.in_([s.attempt_id for s in shoppers]),
                                               Order.state == OrderState.PAID).count()
    assert paid == sum(response.status_code == 200 for response in responses)
    return [response.status_code for response in responses]


def test_the_bulkhead_is_not_cut_to_the_database_pool(stripe_settings):
    assert bulkhead_size(stripe_settings.with_overrides(stripe_max_concurrency=64, **POOL)) == 64


def test_more_slow_create_and_confirms_than_connections_all_pay(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(checkout_deadline=8.0, stripe_read_timeout=5.0, **POOL))
    _slow(emulator, "POST /v1/payment_intents")
    assert _all_at_once(app, emulator, quoted=True) == [200] * CHECKOUTS


def test_slow_token_reads_hold_no_connection(make_app, stripe_settings, emulator):
    """A confirm sent without the page's quote reads its token's address from Stripe first."""
    app = make_app(stripe_settings.with_overrides(checkout_deadline=8.0, stripe_read_timeout=5.0, **POOL))
    _slow(emulator, "GET /v1/confirmation_tokens*")
    assert _all_at_once(app, emulator, quoted=False) == [200] * CHECKOUTS


def test_slow_tax_calculations_hold_no_connection(make_app, stripe_settings, emulator):
    """Without the page's quote the confirm asks Stripe Tax itself (as it does when the quote's calculation is
    about to expire)."""
    app = make_app(stripe_settings.with_overrides(tax="stripe", checkout_deadline=8.0, stripe_read_timeout=5.0,
                                                  **POOL))
    _slow(emulator, "POST /v1/tax/calculations")
    assert _all_at_once(app, emulator, quoted=False) == [200] * CHECKOUTS


def test_every_pooled_connection_busy_answers_try_again_not_an_error(make_app, settings):
    app = make_app(settings.with_overrides(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3))
    client = app.test_client()
    with app.app_context():
        held = db.engine.connect()  # the pool's one connection, taken
        try:
            page = client.get("/")
            confirm = client.post("/checkout/confirm", json={"confirmation_token": "ctoken_" + "a" * 24,
                                                             "attempt_id": "a" * 32, "email": "a@example.com"})
        finally:
            held.close()
    assert page.status_code == 503 and page.headers["Retry-After"] == "5"
    assert "very busy" in page.get_data(as_text=True)
    assert confirm.status_code == 503 and confirm.json["retryable"] is True
    assert client.get("/").status_code == 200  # the connection back: the shop answers again
