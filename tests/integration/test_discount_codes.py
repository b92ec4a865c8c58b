"""Discount codes on a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL): a code is looked up for a
cart and refused in the shopper's words; an order holds one use, gives it back with its stock (a decline, the
expiry job), takes it again when paid again, and redeems it once paid, each exactly once; racing orders never
pass a code's cap. The admin creates, lists, refuses bad input for, and disables codes."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from app.checkout import discounts
from app.checkout.discounts import CodeRefused
from app.events.apply import apply_events
from app.events.store import store_events
from app.models import AdminAction, DiscountCode, DiscountRedemption, Order, OrderLine, Product, db
from app.orders import holds
from app.orders.expiry import expire_pending_orders
from app.shop.cart import CartLine
from tests.support.events import event_payload
from tests.support.shopper import Checkout, place_order

PASSWORD = "correct horse battery staple"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _add_code(app, code="SAVE10", **terms) -> int:
    with app.app_context():
        row = DiscountCode(code=code, **{"kind": "percent", "value": 10, "currency": "usd", **terms})
        db.session.add(row)
        db.session.commit()
        return row.id


def _code(app, code="SAVE10") -> tuple[int, int | None]:
    """(uses, max_uses), read afresh."""
    with app.app_context():
        row = db.session.execute(select(DiscountCode.uses, DiscountCode.max_uses)
                                 .where(DiscountCode.code == code)).one()
        db.session.remove()
        return tuple(row)


def _redemptions(app) -> list[str]:
    with app.app_context():
        statuses = db.session.scalars(select(DiscountRedemption.status).order_by(DiscountRedemption.id)).all()
        db.session.remove()
        return statuses


def _order(app, attempt: str = "a" * 32) -> int:
    """A pending order holding one enamel mug, as the checkout places it."""
    with app.app_context():
        lines = [CartLine(db.session.get(Product, "enamel-mug"), 1)]
        order = place_order(attempt, lines, "shopper@example.com", holds.Holder(None, "10.0.0.1")).id
        db.session.remove()
        return order


def _held(app, order_id: int, code="SAVE10") -> None:
    with app.app_context():
        discounts.hold(db.session.get(Order, order_id), code)
        db.session.commit()
        db.session.remove()


def _step(app, order_id: int, step) -> object:
    """One of give_back, hold_again, redeem on the order, committed as its caller commits it."""
    with app.app_context():
        result = step(db.session.get(Order, order_id))
        db.session.commit()
        db.session.remove()
        return result


# ---- looking a code up ----------------------------------------------------------------------------------------
def test_a_valid_code_gives_its_terms_whatever_the_case_and_spaces(app):
    _add_code(app, "SAVE10", min_subtotal=5000, max_uses=3, uses=2,
              starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=1))
    with app.app_context():
        offer = discounts.offer_for("  save10 ", 5000, "usd", now=NOW)
    assert (offer.code, offer.kind, offer.value, offer.min_subtotal) == ("SAVE10", "percent", 10, 5000)


@pytest.mark.parametrize("typed,terms,subtotal,message", [
    ("NOPE", {}, 5000, "We don't know the code NOPE. Please check it and try again."),
    ("SAVE10", {"disabled": True}, 5000, "The code SAVE10 is no longer valid."),
    ("SAVE10", {"starts_at": datetime(2026, 12, 1, tzinfo=timezone.utc)}, 5000,
     "The code SAVE10 starts on 1 December 2026."),
    ("SAVE10", {"ends_at": NOW}, 5000, "The code SAVE10 has expired."),
    ("SAVE10", {"max_uses": 5, "uses": 5}, 5000, "The code SAVE10 has been used up."),
    ("SAVE10", {"currency": "eur"}, 5000, "The code SAVE10 is not for prices in USD."),
    ("SAVE10", {"min_subtotal": 5000}, 3000, "The code SAVE10 needs a subtotal of $50.00; your cart comes to $30.00."),
    ("SAVE 10", {}, 5000, "Discount codes use letters, digits and dashes, up to 32 characters."),
    ("ÅSAVE", {}, 5000, "Discount codes use letters, digits and dashes, up to 32 characters."),
    ("ﬀ", {}, 5000, "Discount codes use letters, digits and dashes, up to 32 characters."),  # upper-cases to FF
    ("A" * 33, {}, 5000, "Discount codes use letters, digits and dashes, up to 32 characters."),
    ("<b>" * 4000, {}, 5000, "Discount codes use letters, digits and dashes, up to 32 characters."),
    ("", {}, 5000, "Discount codes use letters, digits and dashes, up to 32 characters."),
])
def test_a_code_that_cannot_be_used_is_refused_in_the_shoppers_words(app, typed, terms, subtotal, message):
    _add_code(app, "SAVE10", **terms)
    with app.app_context():
        with pytest.raises(CodeRefused) as refused:
            discounts.offer_for(typed, subtotal, "usd", now=NOW)
    assert refused.value.message == message


# ---- one order's use, exactly once ----------------------------------------------------------------------------
def test_an_order_holds_gives_back_holds_again_and_redeems_its_use_each_once(app, caplog):
    _add_code(app, max_uses=2)
    order_id = _order(app)
    _held(app, order_id, "save10")
    assert _code(app) == (1, 2) and _redemptions(app) == ["held"]
    with app.app_context():
        assert db.session.get(Order, order_id).discount_code == "SAVE10"

    assert _step(app, order_id, discounts.give_back) is True
    assert _step(app, order_id, discounts.give_back) is False  # a second give_back gives nothing more
    assert _code(app) == (0, 2) and _redemptions(app) == ["released"]

    _step(app, order_id, discounts.hold_again)
    _step(app, order_id, discounts.hold_again)
    assert _code(app) == (1, 2) and _redemptions(app) == ["held"]

    assert _step(app, order_id, discounts.redeem) is True
    assert _step(app, order_id, discounts.redeem) is False
    assert _step(app, order_id, discounts.give_back) is False  # a redeemed use never goes back
    assert _code(app) == (1, 2) and _redemptions(app) == ["redeemed"]
    assert not [r for r in caplog.records if "past its cap" in r.getMessage()]


def test_hold_again_is_refused_when_the_code_was_used_up_meanwhile(app):
    _add_code(app, max_uses=1)
    first, second = _order(app, "a" * 32), _order(app, "b" * 32)
    _held(app, first)
    _step(app, first, discounts.give_back)
    _held(app, second)  # the use went to another order
    with pytest.raises(CodeRefused, match="has been used up"):
        _step(app, first, discounts.hold_again)
    assert _code(app) == (1, 1) and _redemptions(app) == ["released", "held"]


def test_a_released_use_paid_anyway_is_taken_back_past_the_cap_and_reported(app, caplog):
    _add_code(app, max_uses=1)
    first, second = _order(app, "a" * 32), _order(app, "b" * 32)
    _held(app, first)
    _step(app, first, discounts.give_back)
    _held(app, second)
    assert _step(app, first, discounts.redeem) is True  # the money came at the discounted price after all
    assert _step(app, first, discounts.redeem) is False
    assert _code(app) == (2, 1) and _redemptions(app) == ["redeemed", "held"]
    assert [r for r in caplog.records if "past its cap" in r.getMessage() and "SAVE10" in r.getMessage()]


def test_a_used_up_code_is_not_held_and_an_order_without_a_code_changes_nothing(app):
    _add_code(app, max_uses=1, uses=1)
    order_id = _order(app)
    with pytest.raises(CodeRefused, match="has been used up"):
        _held(app, order_id)
    assert _code(app) == (1, 1) and _redemptions(app) == []
    for step in (discounts.give_back, discounts.redeem):
        assert _step(app, order_id, step) is False
    _step(app, order_id, discounts.hold_again)
    assert _code(app) == (1, 1) and _redemptions(app) == []


# ---- the cap under racing orders ------------------------------------------------------------------------------
def test_racing_orders_take_exactly_the_uses_left_and_never_pass_the_cap(app):
    racers, left, cap = 8, 3, 10
    _add_code(app, max_uses=cap, uses=cap - left)
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        orders = [Order(attempt_id=f"{n:032x}", amount=product.price, currency="usd", stock_reserved=False,
                        lines=[OrderLine(product_id=product.id, name=product.name, unit_price=product.price,
                                         quantity=1)]) for n in range(racers)]
        db.session.add_all(orders)
        db.session.commit()
        order_ids = [order.id for order in orders]
        db.session.remove()
    start = threading.Barrier(racers)
    outcomes: list[str] = []

    def race(order_id: int) -> None:
        with app.app_context():  # an app context per thread: a session and a connection of its own
            order = db.session.get(Order, order_id)
            start.wait(timeout=30)
            try:
                discounts.hold(order, "SAVE10")
                db.session.commit()
                outcomes.append("held")
            except CodeRefused:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=race, args=(order_id,)) for order_id in order_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert sorted(outcomes) == ["held"] * left + ["refused"] * (racers - left)
    assert _code(app) == (cap, cap)
    assert _redemptions(app) == ["held"] * left


# ---- through the real holds, expiry and checkout --------------------------------------------------------------
def test_an_order_whose_hold_expires_gives_its_use_back_and_takes_it_again_when_paid_again(make_app, settings):
    app = make_app(settings.with_overrides(stock_hold_seconds=0))
    _add_code(app, max_uses=1)
    order_id = _order(app)
    _held(app, order_id)
    with app.app_context():
        assert expire_pending_orders() == 0  # the stock hold expired; the order is not canceled
        order = db.session.get(Order, order_id)
        assert order.state == "pending" and not order.stock_reserved
        db.session.remove()
    assert _code(app) == (0, 1) and _redemptions(app) == ["released"]

    with app.app_context():
        holds.hold_again(db.session.get(Order, order_id), app.config["SETTINGS"], holds.Holder(None, "10.0.0.1"))
        db.session.remove()
    assert _code(app) == (1, 1) and _redemptions(app) == ["held"]

    app.config["SETTINGS"] = app.config["SETTINGS"].with_overrides(pending_order_ttl=0)
    with app.app_context():
        assert expire_pending_orders() == 1  # canceled unpaid: its stock and its use go back
        assert db.session.get(Order, order_id).state == "canceled"
        db.session.remove()
    assert _code(app) == (0, 1) and _redemptions(app) == ["released"]


def test_a_held_code_that_is_used_up_meanwhile_refuses_hold_again_and_keeps_no_stock(make_app, settings):
    app = make_app(settings.with_overrides(stock_hold_seconds=0))
    _add_code(app, max_uses=1)
    first = _order(app, "a" * 32)
    _held(app, first)
    with app.app_context():
        expire_pending_orders()
        db.session.remove()
    second = _order(app, "b" * 32)
    _held(app, second)
    with app.app_context():
        before = db.session.get(Product, "enamel-mug").stock
        with pytest.raises(CodeRefused):
            holds.hold_again(db.session.get(Order, first), app.config["SETTINGS"], holds.Holder(None, "10.0.0.1"))
        assert db.session.get(Order, first).stock_reserved is False  # rolled back: no stock taken either
        assert db.session.get(Product, "enamel-mug").stock == before
        db.session.remove()
    assert _code(app) == (1, 1) and _redemptions(app) == ["released", "held"]


def _paid_event(app, order_id: int, event_id: str) -> None:
    """Stripe's payment_intent.succeeded for the order's own PaymentIntent, stored and applied as a worker does."""
    with app.app_context():
        order = db.session.get(Order, order_id)
        raw = event_payload("payment_intent.succeeded", {
            "id": order.payment_intent_id, "object": "payment_intent", "amount": order.amount,
            "currency": order.currency, "status": "succeeded", "metadata": {"order_id": order.public_id}},
            event_id=event_id)
        store_events([(json.loads(raw), raw)], source="webhook")
        apply_events(event_id, 1)
        db.session.remove()


def test_a_declined_payment_gives_the_use_back_and_the_paid_order_redeems_it_once(make_app, stripe_settings,
                                                                                  emulator, redis):
    app = make_app(stripe_settings.with_overrides(rate_limit_confirm="", breaker_fail_max=100))
    _add_code(app, max_uses=1)
    shopper = Checkout(app, emulator)
    order_id = _order(app, shopper.attempt_id)
    _held(app, order_id)
    assert shopper.confirm(shopper.token("pm_card_visa_chargeDeclined")).status_code == 402
    assert _code(app) == (0, 1) and _redemptions(app) == ["released"]

    assert shopper.confirm(shopper.token()).json["status"] == "succeeded"  # paid again: the use is taken again
    assert _code(app) == (1, 1) and _redemptions(app) == ["held"]
    for event_id in ("evt_paid_1", "evt_paid_1", "evt_paid_2"):  # redelivered, and a second event id
        _paid_event(app, order_id, event_id)
    with app.app_context():
        assert db.session.get(Order, order_id).state == "fulfilled"
    assert _code(app) == (1, 1) and _redemptions(app) == ["redeemed"]


# ---- the admin ------------------------------------------------------------------------------------------------
@pytest.fixture
def admin_app(make_app, settings):
    return make_app(settings.with_overrides(admin_password_hash=generate_password_hash(PASSWORD)))


@pytest.fixture
def admin(admin_app):
    client = admin_app.test_client()
    assert client.post("/admin/login", data={"name": "admin", "password": PASSWORD}).status_code == 302
    return client


FORM = {"code": "summer-25", "kind": "fixed", "value": "12.50", "min_subtotal": "50", "starts_at": "2026-06-01",
        "ends_at": "2026-08-31", "max_uses": "100"}


def _codes(app) -> list[DiscountCode]:
    with app.app_context():
        rows = db.session.scalars(select(DiscountCode).order_by(DiscountCode.id)).all()
        db.session.expunge_all()
        db.session.remove()
        return rows


def test_the_admin_creates_a_code_read_exactly_and_lists_it(admin_app, admin):
    created = admin.post("/admin/discounts", data=FORM)
    assert created.status_code == 302
    assert admin.post("/admin/discounts", data={"code": "TENOFF", "kind": "percent", "value": "10"}).status_code == 302
    summer, ten = _codes(admin_app)
    assert (summer.code, summer.kind, summer.value, summer.currency, summer.min_subtotal, summer.max_uses,
            summer.uses, summer.disabled, summer.created_by) == ("SUMMER-25", "fixed", 1250, "usd", 5000, 100, 0,
                                                                 False, "admin")
    assert summer.starts_at == datetime(2026, 6, 1, tzinfo=timezone.utc)
    assert summer.ends_at == datetime(2026, 9, 1, tzinfo=timezone.utc)  # to the end of the day typed
    assert (ten.kind, ten.value, ten.min_subtotal, ten.starts_at, ten.ends_at, ten.max_uses) == (
        "percent", 10, 0, None, None, None)
    page = admin.get("/admin/discounts").get_data(as_text=True)
    for text in ("SUMMER-25", "$12.50 off", "$50.00", "2026-06-01 00:00 UTC", "0 / 100", "TENOFF", "10% off",
                 "0 / no cap", "active"):
        assert text in page, text
    with admin_app.app_context():
        actions = db.session.execute(select(AdminAction.action, AdminAction.target, AdminAction.amount)
                                     .order_by(AdminAction.id)).all()
    assert [tuple(a) for a in actions] == [("discount-create", "SUMMER-25", 1250), ("discount-create", "TENOFF", None)]


@pytest.mark.parametrize("change,message", [
    ({"code": "SAVE 10"}, "Discount codes use letters, digits and dashes"),
    ({"code": "<script>alert(1)</script>"}, "Discount codes use letters, digits and dashes"),
    ({"code": ""}, "Discount codes use letters, digits and dashes"),
    ({"kind": "percent", "value": "0"}, "A percent discount is a whole number from 1 to 100."),
    ({"kind": "percent", "value": "101"}, "A percent discount is a whole number from 1 to 100."),
    ({"kind": "percent", "value": "12.5"}, "A percent discount is a whole number from 1 to 100."),
    ({"kind": "bogo"}, "Choose a percent or a fixed amount off."),
    ({"value": "-5"}, "The fixed discount is an amount above zero"),
    ({"value": "12.505"}, "The fixed discount is an amount above zero"),
    ({"value": "NaN"}, "The fixed discount is an amount above zero"),
    ({"value": "1e3"}, "The fixed discount is an amount above zero"),
    ({"value": "2000000"}, "The fixed discount of $2,000,000.00 is more than any order."),
    ({"value": "99999999999"}, "The fixed discount is an amount above zero"),
    ({"min_subtotal": "-1"}, "The minimum subtotal is an amount above zero"),
    ({"starts_at": "2026-13-01"}, "The start date is a date like 2026-12-01"),
    ({"ends_at": "tomorrow"}, "The end date is a date like 2026-12-01"),
    ({"starts_at": "2026-09-01", "ends_at": "2026-08-31"}, "The end date is before the start date."),
    ({"max_uses": "0"}, "The usage cap is a whole number"),
    ({"max_uses": "-3"}, "The usage cap is a whole number"),
])
def test_the_admin_refuses_bad_input_saying_why_and_stores_nothing(admin_app, admin, change, message):
    response = admin.post("/admin/discounts", data={**FORM, **change})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert "<script>alert(1)</script>" not in page  # what was typed comes back escaped
    assert _codes(admin_app) == []
    with admin_app.app_context():
        assert db.session.scalar(select(func.count(AdminAction.id))) == 0


def test_a_duplicate_code_is_refused_whatever_its_case(admin_app, admin):
    assert admin.post("/admin/discounts", data=FORM).status_code == 302
    again = admin.post("/admin/discounts", data={**FORM, "code": "Summer-25", "value": "5"})
    assert again.status_code == 400 and "There is already a code SUMMER-25." in again.get_data(as_text=True)
    assert [row.value for row in _codes(admin_app)] == [1250]


def test_a_disabled_code_is_refused_to_shoppers_until_enabled_again(admin_app, admin):
    assert admin.post("/admin/discounts", data={"code": "TENOFF", "kind": "percent", "value": "10"}).status_code == 302
    (row,) = _codes(admin_app)
    assert admin.post(f"/admin/discounts/{row.id}/disable").status_code == 302
    assert "disabled" in admin.get("/admin/discounts").get_data(as_text=True)
    with admin_app.app_context():
        with pytest.raises(CodeRefused, match="no longer valid"):
            discounts.offer_for("TENOFF", 1000, "usd")
    assert admin.post(f"/admin/discounts/{row.id}/enable").status_code == 302
    with admin_app.app_context():
        assert discounts.offer_for("tenoff", 1000, "usd").value == 10
        actions = db.session.scalars(select(AdminAction.action).order_by(AdminAction.id)).all()
    assert actions == ["discount-create", "discount-disable", "discount-enable"]
    assert admin.post("/admin/discounts/999/disable").status_code == 404


def test_the_discount_pages_need_an_admin_login(admin_app):
    client = admin_app.test_client()
    response = client.get("/admin/discounts")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.post("/admin/discounts", data=FORM).status_code == 403
    assert client.post("/admin/discounts/1/disable").status_code == 403
    assert _codes(admin_app) == []


def test_the_discount_form_needs_a_csrf_token(admin_app, admin):
    admin_app.config["WTF_CSRF_ENABLED"] = True
    assert admin.post("/admin/discounts", data=FORM).status_code == 400
    assert _codes(admin_app) == []
