"""The order's breakdown (lines, discount and its code, shipping method and window, delivery address, tax, total)
on the order page, in the receipt (text and HTML) and on the admin order page, escaped; tax added ("Tax") or
included ("Includes $X tax"); an order placed before the breakdown existed shows as it always did."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.mail.outbox import receipt_for
from app.models import Order, OrderLine, Refund, db

PASSWORD = "correct horse battery staple"
ADDRESS = {"line1": "354 Oyster Point Blvd", "line2": "Unit <5>", "city": "South San Francisco", "state": "CA",
           "postal_code": "94080", "country": "US"}
NAME = "Ann <b>& Bo</b>"


@pytest.fixture
def shop(make_app, settings):
    app = make_app(settings.with_overrides(admin_password_hash=generate_password_hash(PASSWORD)))
    admin = app.test_client()
    assert admin.post("/admin/login", data={"name": "admin", "password": PASSWORD}).status_code == 302
    return app, admin


def _order(app, inclusive: bool = False, breakdown: bool = True, attempt: str = "a") -> str:
    lines = [OrderLine(product_id="enamel-mug", name="Enamel Camp Mug", unit_price=1200, quantity=2,
                       discount_amount=240 if breakdown else 0, tax_amount=158 if breakdown else 0),
             OrderLine(product_id="ceramic-pour-over", name="Ceramic Pour-Over", unit_price=2800, quantity=1,
                       discount_amount=280 if breakdown else 0, tax_amount=183 if breakdown else 0)]
    fields = {"amount": 5200}
    if breakdown:
        fields = {"amount": 5200 - 520 + 1499 + (0 if inclusive else 384), "subtotal": 5200,
                  "discount_code": "SPRING10", "discount_amount": 520, "shipping_method": "express",
                  "shipping_amount": 1499, "tax_amount": 384, "tax_inclusive": inclusive,
                  "tax_calculation_id": "taxcalc_test_1", "tax_transaction_id": "tax_test_1",
                  "shipping_name": NAME, "shipping_address": json.dumps(ADDRESS), "shipping_phone": "+1 555 0100"}
    with app.app_context():
        order = Order(attempt_id=attempt * 32, currency="usd", state="fulfilled", email="shopper@example.com",
                      lines=lines, **fields)
        db.session.add(order)
        db.session.commit()
        return order.public_id


def _text(page: str) -> str:
    """The page's words with its markup dropped, spaces squeezed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def test_the_order_page_shows_the_breakdown_in_shopper_words_escaped(shop):
    app, _ = shop
    public_id = _order(app)
    page = app.test_client().get(f"/orders/{public_id}").get_data(as_text=True)
    words = _text(page)
    for expected in ("Subtotal $52.00", "Discount (SPRING10) −$5.20", "Express shipping (1–2 business days) $14.99",
                     "Tax $3.84", "Total $65.63", "South San Francisco, CA 94080", "United States"):
        assert expected in words, expected
    assert "Ann &lt;b&gt;&amp; Bo&lt;/b&gt;" in page and "Unit &lt;5&gt;" in page and "<b>&" not in page
    assert "Includes" not in words
    for never in ("taxcalc_", "tax_test", "express<", "fulfilled"):
        assert never not in page, never


def test_tax_included_in_the_prices_is_said_so_and_not_added(shop):
    app, _ = shop
    public_id = _order(app, inclusive=True)
    words = _text(app.test_client().get(f"/orders/{public_id}").get_data(as_text=True))
    assert "Includes $3.84 tax" in words and "Total $61.79" in words and "Tax $3.84" not in words


def test_an_order_from_before_the_breakdown_shows_as_it_did(shop):
    app, _ = shop
    public_id = _order(app, breakdown=False)
    words = _text(app.test_client().get(f"/orders/{public_id}").get_data(as_text=True))
    assert "Shipping Free" in words and "Total $52.00" in words
    assert "Subtotal" not in words and "Delivery address" not in words and "Tax" not in words


def test_the_receipt_carries_the_breakdown_and_the_address_in_text_and_html(shop):
    app, _ = shop
    public_id = _order(app)
    with app.app_context():
        email = receipt_for(db.session.scalars(select(Order).where(Order.public_id == public_id)).one())
    for expected in ("Subtotal: $52.00\n", "Discount (SPRING10): -$5.20\n",
                     "Express shipping (1–2 business days): $14.99\n", "Tax: $3.84\n", "Total paid: $65.63\n",
                     f"Delivering to:\n  {NAME}\n  354 Oyster Point Blvd\n  Unit <5>\n  South San Francisco, CA 94080\n"
                     "  United States\n"):
        assert expected in email.body, expected
    html = _text(email.html)
    for expected in ("Subtotal $52.00", "Discount (SPRING10) −$5.20", "Express shipping (1–2 business days) $14.99",
                     "Tax $3.84", "Total paid $65.63", "United States"):
        assert expected in html, expected
    assert "Ann &lt;b&gt;&amp; Bo&lt;/b&gt;" in email.html and "<b>&" not in email.html


def test_the_inclusive_receipt_says_the_tax_it_includes(shop):
    app, _ = shop
    public_id = _order(app, inclusive=True)
    with app.app_context():
        email = receipt_for(db.session.scalars(select(Order).where(Order.public_id == public_id)).one())
    assert "Total paid: $61.79\nIncludes $3.84 tax\n" in email.body and "Tax: " not in email.body
    assert "Includes $3.84 tax" in _text(email.html)


def test_the_admin_order_page_shows_the_breakdown_the_tax_ids_and_each_refunds_reversal(shop):
    app, admin = shop
    public_id = _order(app)
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        db.session.add(Refund(order_id=order.id, number=1, amount=1000, currency="usd", form_token="k" * 32,
                              idempotency_key=f"refund-{public_id}-1", status="succeeded", stripe_refund_id="re_1",
                              tax_reversal_id="tax_reversal_1"))
        db.session.add(Refund(order_id=order.id, number=2, amount=500, currency="usd", form_token="l" * 32,
                              idempotency_key=f"refund-{public_id}-2", status="succeeded", stripe_refund_id="re_2"))
        db.session.commit()
    page = admin.get(f"/admin/orders/{public_id}").get_data(as_text=True)
    words = _text(page)
    for expected in ("Tax calculation taxcalc_test_1", "Tax transaction tax_test_1", "Subtotal $52.00",
                     "Discount (SPRING10) −$5.20", "Express shipping (1–2 business days) $14.99", "Tax $3.84",
                     "Total $65.63", "South San Francisco, CA 94080", "United States", "+1 555 0100",
                     "tax_reversal_1", "not reversed yet"):
        assert expected in words, expected
    assert "Ann &lt;b&gt;&amp; Bo&lt;/b&gt;" in page and "<b>&" not in page
