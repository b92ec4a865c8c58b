"""Nobody can hoard the stock without paying: an unpaid order holds its stock only while a payment for it may
still go through, a failed or refused attempt gives it back at once, a quiet order gives it back after
STOCK_HOLD_SECONDS through the expiry job, and new holds are capped per cart and per client address (429, the
cart kept). Each test performs the attack against the real emulator and checks what changed and what did not."""
from __future__ import annotations

import json
import re

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from app.checkout import service
from app.events.apply import apply_events
from app.events.store import store_events
from app.models import CartItem, Order, OrderTransition, PaymentAttempt, Product, db
from app.orders.expiry import expire_pending_orders
from app.orders.holds import Holder
from app.payments import get_gateway
from app.shop.cart import CartLine
from tests.support.shopper import ATTEMPT, Checkout, place_order
from tests.support.events import event_payload

FAKE_TOKEN = "ctoken_" + "A" * 24
WHOLE_STOCK = {"burr-grinder": 15, "ceramic-pour-over": 25}


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _stock(app) -> dict[str, int]:
    with app.app_context():
        stock = dict(db.session.execute(select(Product.id, Product.stock)).all())
        db.session.remove()
        return stock


def _orders(app) -> list[tuple[str, bool]]:
    with app.app_context():
        rows = db.session.execute(select(Order.state, Order.stock_reserved).order_by(Order.id)).all()
        db.session.remove()
        return [tuple(row) for row in rows]


def _cart(app, client) -> dict[str, int]:
    import hashlib

    with app.app_context():
        cart_id = hashlib.sha256(client.get_cookie("cart").value.encode()).hexdigest()
        rows = db.session.execute(select(CartItem.product_id, CartItem.quantity).where(CartItem.cart_id == cart_id))
        cart = dict(rows.all())
        db.session.remove()
        return cart


def _shopper(app, emulator, address="10.0.0.1", **lines) -> Checkout:
    """A shopper from `address` with these lines (product id -> quantity) in a fresh cart."""
    (first, quantity), *more = (lines or {"enamel-mug": 1}).items()
    shopper = Checkout(app, emulator, product=first, quantity=quantity)
    shopper.client.environ_base["REMOTE_ADDR"] = address
    for product_id, quantity in more:
        added = shopper.client.post("/cart/add", data={"product_id": product_id, "quantity": quantity})
        assert added.status_code == 303
    _new_attempt(shopper)
    return shopper


def _new_attempt(shopper: Checkout) -> None:
    shopper.attempt_id = ATTEMPT.search(shopper.client.get("/checkout").get_data(as_text=True)).group(1)


@pytest.fixture
def app(make_app, stripe_settings):
    return make_app(stripe_settings.with_overrides(rate_limit_confirm="", breaker_fail_max=100))


def _placed_and_abandoned(app, shopper: Checkout, product_id: str, quantity: int, address: str) -> None:
    """The shopper's order placed as the confirm endpoint places it, then the request died before paying."""
    with app.app_context():
        lines = [CartLine(db.session.get(Product, product_id), quantity)]
        place_order(shopper.attempt_id, lines, "a@example.com", Holder(None, address))
        db.session.remove()


# ---- the attack from the report, and each way an attempt fails -------------------------------------------------

def test_a_whole_stock_cart_with_a_made_up_token_holds_nothing_and_the_next_shopper_buys(app, emulator):
    before = _stock(app)
    hoarder = _shopper(app, emulator, **WHOLE_STOCK)
    response = hoarder.confirm(FAKE_TOKEN)
    assert response.status_code == 400 and response.json["status"] == "error"
    assert response.json["error"] == service.TOKEN_UNUSABLE
    assert _orders(app) == []  # the token is read back from Stripe before anything is placed
    assert _stock(app) == before

    buyer = _shopper(app, emulator, address="10.0.0.2", **WHOLE_STOCK)
    assert buyer.confirm(buyer.token()).json["status"] == "succeeded"
    assert _stock(app) == {**before, "burr-grinder": 0, "ceramic-pour-over": 0}
    # the hoarder, paying with a real card, finds the stock gone and is charged nothing
    again = hoarder.confirm(hoarder.token())
    assert again.status_code == 409 and "sold out" in again.json["error"]
    assert _orders(app) == [("paid", True)]
    assert _stock(app) == {**before, "burr-grinder": 0, "ceramic-pour-over": 0}


def test_a_decline_gives_the_stock_back(app, emulator):
    before = _stock(app)
    shopper = _shopper(app, emulator, **{"burr-grinder": 15})
    assert shopper.confirm(shopper.token("pm_card_visa_chargeDeclined")).status_code == 402
    assert _orders(app) == [("payment_failed", False)] and _stock(app) == before


def test_a_create_stripe_refused_gives_the_stock_back(app, emulator):
    before = _stock(app)
    shopper = _shopper(app, emulator, **{"burr-grinder": 15})
    token = shopper.token()
    released = _sample("shop_stock_holds_released_total", reason="attempt_transient")
    # 429s: Stripe carried none of them out (a 500 might have been, and would keep the stock until found out)
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "rate_limit": True,
                                               "count": 20})  # more than the gateway tries
    response = shopper.confirm(token)
    assert response.status_code == 503 and response.json["retryable"] is True
    assert _sample("shop_stock_holds_released_total", reason="attempt_transient") == released + 1
    assert _orders(app) == [("pending", False)] and _stock(app) == before
    emulator.ctl("DELETE", "/_emulator/faults")
    # the shopper's retry of the same payment takes the stock again, then pays
    assert shopper.confirm(token).json["status"] == "succeeded"
    assert _orders(app) == [("paid", True)] and _stock(app) == {**before, "burr-grinder": 0}


def test_a_payment_refused_by_the_open_breaker_gives_an_earlier_hold_back(app, emulator):
    """An order placed whose confirm never ran (the request died after placing it), paid again while the
    breaker is open: the refusal answers 503 and the order holds nothing."""
    before = _stock(app)
    shopper = _shopper(app, emulator, **{"burr-grinder": 2})
    _placed_and_abandoned(app, shopper, "burr-grinder", 2, "10.0.0.1")
    assert _stock(app)["burr-grinder"] == before["burr-grinder"] - 2
    get_gateway(app).breaker.state_machine.open()
    response = shopper.confirm(shopper.token())
    assert response.status_code == 503
    assert _orders(app) == [("pending", False)] and _stock(app) == before
    assert _sample("shop_stock_holds_released_total", reason="refused") >= 1


def test_a_made_up_token_beside_a_live_3ds_attempt_keeps_the_hold(app, emulator):
    before = _stock(app)
    shopper = _shopper(app, emulator, **{"burr-grinder": 3})
    first = shopper.confirm(shopper.token("pm_card_threeDSecure2Required"))
    assert first.json["status"] == "requires_action"
    assert shopper.confirm(FAKE_TOKEN).status_code == 400  # another tab, or the hoarder, on the same order
    assert _orders(app) == [("pending", True)]
    assert _stock(app)["burr-grinder"] == before["burr-grinder"] - 3


# ---- the short hold, through the expiry job ---------------------------------------------------------------------

def test_3ds_keeps_its_hold_past_the_short_hold_and_a_quiet_order_loses_it(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(stock_hold_seconds=0, rate_limit_confirm=""))
    before = _stock(app)
    bank = _shopper(app, emulator, **{"burr-grinder": 3})
    assert bank.confirm(bank.token("pm_card_threeDSecure2Required")).json["status"] == "requires_action"
    quiet = _shopper(app, emulator, address="10.0.0.2", **{"ceramic-pour-over": 5})
    _placed_and_abandoned(app, quiet, "ceramic-pour-over", 5, "10.0.0.2")
    assert _stock(app) == {**before, "burr-grinder": 12, "ceramic-pour-over": 20}
    expired = _sample("shop_stock_holds_released_total", reason="hold_expired")
    with app.app_context():
        assert expire_pending_orders() == 0  # nothing canceled: PENDING_ORDER_TTL is an hour
    assert _orders(app) == [("pending", True), ("pending", False)]
    assert _stock(app) == {**before, "burr-grinder": 12}
    assert _sample("shop_stock_holds_released_total", reason="hold_expired") == expired + 1
    # the quiet order can still be paid: it takes its stock again
    assert quiet.confirm(quiet.token()).json["status"] == "succeeded"
    assert _stock(app) == {**before, "burr-grinder": 12, "ceramic-pour-over": 20}


def test_within_the_short_hold_a_quiet_order_keeps_its_stock(app, emulator):
    before = _stock(app)
    quiet = _shopper(app, emulator, **{"ceramic-pour-over": 5})
    _placed_and_abandoned(app, quiet, "ceramic-pour-over", 5, "10.0.0.1")
    with app.app_context():
        assert expire_pending_orders() == 0
    assert _orders(app) == [("pending", True)]
    assert _stock(app)["ceramic-pour-over"] == before["ceramic-pour-over"] - 5


# ---- caps per cart and per client address --------------------------------------------------------------------

def _held_3ds(shopper: Checkout) -> None:
    assert shopper.confirm(shopper.token("pm_card_threeDSecure2Required")).json["status"] == "requires_action"


def _refused(app, shopper: Checkout, reason: str):
    before_rows, before_stock, cart = _orders(app), _stock(app), _cart(app, shopper.client)
    refused = _sample("shop_stock_holds_refused_total", reason=reason)
    response = shopper.confirm(shopper.token())
    assert response.status_code == 429, response.json
    assert "Nothing was charged, and your cart is saved" in response.json["error"]
    assert int(response.headers["Retry-After"]) == app.config["SETTINGS"].stock_hold_seconds
    assert response.json["next_url"].endswith("/cart")
    assert _orders(app) == before_rows and _stock(app) == before_stock and _cart(app, shopper.client) == cart
    assert _sample("shop_stock_holds_refused_total", reason=reason) == refused + 1
    return response


def test_one_cart_may_hold_only_so_many_unpaid_orders(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(hold_max_orders_per_cart=2, rate_limit_confirm=""))
    shopper = _shopper(app, emulator)
    for _ in range(2):
        _held_3ds(shopper)
        assert shopper.client.post("/cart/add", data={"product_id": "enamel-mug", "quantity": 1}).status_code == 303
        _new_attempt(shopper)
    _refused(app, shopper, "cart_orders")


def test_one_cart_may_hold_only_so_many_units(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(hold_max_units_per_cart=10, rate_limit_confirm=""))
    shopper = _shopper(app, emulator, **{"enamel-mug": 11})
    _refused(app, shopper, "cart_units")
    assert shopper.client.post("/cart/update", data={"product_id": "enamel-mug", "quantity": 10}).status_code == 303
    _new_attempt(shopper)
    assert shopper.confirm(shopper.token()).json["status"] == "succeeded"  # within the cap


def test_one_client_address_may_hold_only_so_many_orders_and_units(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(hold_max_orders_per_address=2, hold_max_units_per_address=5,
                                                  rate_limit_confirm=""))
    _held_3ds(_shopper(app, emulator, **{"enamel-mug": 2}))
    _refused(app, _shopper(app, emulator, **{"enamel-mug": 4}), "address_units")
    _held_3ds(_shopper(app, emulator, **{"enamel-mug": 1}))
    _refused(app, _shopper(app, emulator, **{"enamel-mug": 1}), "address_orders")
    other = _shopper(app, emulator, address="10.0.0.9", **{"enamel-mug": 4})
    assert other.confirm(other.token()).json["status"] == "succeeded"  # another address is not held back
    with app.app_context():
        assert db.session.scalar(select(PaymentAttempt.id).where(PaymentAttempt.status == "failed")) is None


def test_units_held_are_a_gauge_on_metrics(app, emulator):
    _held_3ds(_shopper(app, emulator, **{"enamel-mug": 4}))
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert re.search(r"^shop_stock_units_held 4\.0$", text, re.M), text[-2000:]


# ---- exactly once: a payment that still succeeds for an order whose stock was given back ------------------------

def _paid_late(app, public_id: str, event_id: str) -> str:
    """Stripe's payment_intent.succeeded for the order's own PaymentIntent, stored and applied as a worker does."""
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        raw = event_payload("payment_intent.succeeded", {
            "id": order.payment_intent_id, "object": "payment_intent", "amount": order.amount,
            "currency": order.currency, "status": "succeeded", "metadata": {"order_id": public_id}},
            event_id=event_id)
        store_events([(json.loads(raw), raw)], source="webhook")
        result = apply_events(event_id, 1)
        db.session.remove()
        return result


def _order(app, attempt_id: str) -> Order:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.attempt_id == attempt_id)).one()
        db.session.expunge(order)
        return order


def test_a_late_success_on_a_released_order_takes_its_stock_once(app, emulator, redis):
    before = _stock(app)
    shopper = _shopper(app, emulator, **{"burr-grinder": 4})
    # declined: the order's PaymentIntent exists and the order holds nothing
    assert shopper.confirm(shopper.token("pm_card_visa_chargeDeclined")).status_code == 402
    order = _order(app, shopper.attempt_id)
    assert order.payment_intent_id and not order.stock_reserved
    for delivery in ("evt_late_1", "evt_late_1", "evt_late_2"):  # redelivered, and a second event id
        _paid_late(app, order.public_id, delivery)
    assert _orders(app) == [("fulfilled", True)]
    assert _stock(app) == {**before, "burr-grinder": before["burr-grinder"] - 4}


def test_a_late_success_after_the_stock_sold_is_paid_and_reported_never_oversold(app, emulator, redis, caplog):
    before = _stock(app)
    shortfall = _sample("shop_stock_shortfall_units_total")
    hoarder = _shopper(app, emulator, **{"burr-grinder": 15})
    assert hoarder.confirm(hoarder.token("pm_card_visa_chargeDeclined")).status_code == 402
    buyer = _shopper(app, emulator, address="10.0.0.2", **{"burr-grinder": 15})
    assert buyer.confirm(buyer.token()).json["status"] == "succeeded"
    order = _order(app, hoarder.attempt_id)
    _paid_late(app, order.public_id, "evt_late_sold")
    assert [state for state, _ in _orders(app)] == ["fulfilled", "paid"]
    assert _stock(app) == {**before, "burr-grinder": 0}  # never below zero
    assert _sample("shop_stock_shortfall_units_total") == shortfall + 15
    assert any("paid order short of stock" in r.getMessage() and order.public_id in r.getMessage()
               for r in caplog.records)
    with app.app_context():
        reasons = db.session.scalars(select(OrderTransition.reason).where(OrderTransition.order_id == order.id))
        assert "out of stock: burr-grinder x15" in list(reasons)
