"""Unpaid orders give their stock back after PENDING_ORDER_TTL; Stripe cancels their PaymentIntent first."""
from sqlalchemy import select

from app.orders.expiry import expire_pending_orders
from app.models import Order, Product, db
from tests.support.shopper import Checkout


def _stock(app):
    with app.app_context():
        return db.session.get(Product, "enamel-mug").stock


def test_abandoned_orders_are_canceled_at_stripe_and_give_their_stock_back(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(pending_order_ttl=0, breaker_fail_max=100))
    before = _stock(app)
    declined = Checkout(app, emulator, quantity=3)
    assert declined.confirm(declined.token("pm_card_visa_chargeDeclined")).status_code == 402
    stranded = Checkout(app, emulator, quantity=2)
    token = stranded.token()  # the order is placed; Stripe refuses its create-and-confirm
    emulator.ctl("POST", "/_emulator/faults", {"route": "POST /v1/payment_intents", "rate_limit": True,
                                               "count": 20})  # more than the gateway tries
    assert stranded.confirm(token).status_code == 503
    assert _stock(app) == before  # the declined order gave its 3 back, the stranded one its 2: nothing was charged
    with app.app_context():
        assert expire_pending_orders() == 2
        assert db.session.scalars(select(Order.state)).all() == ["canceled", "canceled"]
    assert _stock(app) == before
    cancels = [r for r in emulator.ctl("GET", "/_emulator/requests?method=POST")["data"]
               if r["path"].endswith("/cancel")]
    assert [r["status"] for r in cancels] == [200]


def test_an_order_paid_at_stripe_is_never_expired(make_app, stripe_settings, emulator):
    app = make_app(stripe_settings.with_overrides(pending_order_ttl=0))
    shopper = Checkout(app, emulator)
    assert shopper.confirm(shopper.token()).json["status"] == "succeeded"
    with app.app_context():
        assert expire_pending_orders() == 0
        assert db.session.scalars(select(Order.state)).one() == "paid"
