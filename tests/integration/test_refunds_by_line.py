"""Refunds by line from the admin, against the real emulator over HTTP: the amount is computed on the server from
the order's stored breakdown (each line less its discount share, plus its tax when exclusive; the shipping and its
own tax), whatever amount the form carries; more than is left of a line is refused; refunding every unit gives back
the order's amount to the minor unit."""
from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.models import Order, OrderLine, Refund, RefundLine, db
from tests.support.emulator import EMULATOR_SECRET_KEY

PASSWORD = "correct horse battery staple"
# (product, name, unit price, quantity, discount share, exclusive tax); shipping 599 with 43 of tax
LINES = (("enamel-mug", "Enamel Camp Mug", 1200, 2, 240, 158), ("ceramic-pour-over", "Ceramic Pour-Over", 2800, 1, 280,
                                                                 183))
SHIPPING, SHIPPING_TAX = 599, 43


@pytest.fixture
def shop(make_app, settings, emulator):
    app = make_app(settings.with_overrides(admin_password_hash=generate_password_hash(PASSWORD),
                                           stripe_api_base=emulator.api))
    admin = app.test_client()
    assert admin.post("/admin/login", data={"name": "admin", "password": PASSWORD}).status_code == 302
    return app, admin


def _stripe(emulator, method: str, path: str, params: dict | None = None) -> dict:
    data = urlencode(params).encode() if params is not None else None
    request = urllib.request.Request(f"{emulator.api}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {EMULATOR_SECRET_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _paid_order(app, emulator, inclusive: bool = False) -> tuple[str, dict[str, int]]:
    """A fulfilled order with its breakdown, paid through the emulator. Returns its public id and line ids."""
    tax = sum(line[5] for line in LINES) + SHIPPING_TAX
    subtotal, discount = sum(p * q for _, _, p, q, _, _ in LINES), sum(line[4] for line in LINES)
    amount = subtotal - discount + SHIPPING + (0 if inclusive else tax)
    with app.app_context():
        order = Order(attempt_id="r" * 32, amount=amount, currency="usd", state="fulfilled", email="a@b.example",
                      subtotal=subtotal, discount_code="SPRING10", discount_amount=discount,
                      shipping_method="standard", shipping_amount=SHIPPING, tax_amount=tax, tax_inclusive=inclusive,
                      lines=[OrderLine(product_id=product, name=name, unit_price=price, quantity=quantity,
                                       discount_amount=share, tax_amount=line_tax)
                             for product, name, price, quantity, share, line_tax in LINES])
        db.session.add(order)
        db.session.commit()
        public_id, lines = order.public_id, {line.product_id: line.id for line in order.lines}
    intent = _stripe(emulator, "POST", "/v1/payment_intents", {
        "amount": amount, "currency": "usd", "confirm": "true", "payment_method": "pm_card_visa",
        "metadata[order_id]": public_id, "payment_method_types[]": "card"})
    with app.app_context():
        db.session.scalars(select(Order).where(Order.public_id == public_id)).one().payment_intent_id = intent["id"]
        db.session.commit()
    return public_id, lines


def _refund_by_line(admin, public_id: str, form_token: str, **fields):
    return admin.post(f"/admin/orders/{public_id}/refund", data={"by": "lines", "form_token": form_token, **fields})


def _refunds(app, public_id: str) -> list[tuple[int, str, list[tuple]]]:
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        rows = db.session.scalars(select(Refund).where(Refund.order_id == order.id).order_by(Refund.number)).all()
        return [(row.amount, row.stripe_refund_id, [(line.order_line_id, line.quantity, line.amount)
                                                    for line in row.lines]) for row in rows]


def _stripe_refunds(emulator, public_id: str) -> list[int]:
    found = _stripe(emulator, "GET", "/v1/refunds?limit=100")["data"]
    return sorted(refund["amount"] for refund in found if refund["metadata"].get("order_id") == public_id)


def test_a_line_refund_is_priced_on_the_server_and_never_more_than_is_left(shop, emulator):
    app, admin = shop
    public_id, lines = _paid_order(app, emulator)
    mug, pour_over = lines["enamel-mug"], lines["ceramic-pour-over"]
    page = admin.get(f"/admin/orders/{public_id}").get_data(as_text=True)
    assert "Enamel Camp Mug (2 of 2 left" in page and 'name="qty-%d"' % mug in page

    # one mug of two: (2400 - 240 + 158) / 2; the amount the form carries is not read
    response = _refund_by_line(admin, public_id, "a" * 32, **{f"qty-{mug}": "1", "amount": "0.01"})
    assert response.status_code == 302
    assert _refund_by_line(admin, public_id, "a" * 32, **{f"qty-{mug}": "1"}).status_code == 302  # sent twice
    ((amount, stripe_id, refund_lines),) = _refunds(app, public_id)
    assert (amount, refund_lines) == (1159, [(mug, 1, 1159)]) and stripe_id
    assert _stripe_refunds(emulator, public_id) == [1159]

    # two more mugs than are left, a quantity that is not a whole number, nothing chosen: refused, nothing sent
    for fields, words in (({f"qty-{mug}": "2"}, "than is left to refund (1)"), ({f"qty-{mug}": "1.5"}, "whole number"),
                          ({f"qty-{mug}": "-1"}, "whole number"), ({}, "Choose at least one")):
        refused = _refund_by_line(admin, public_id, "b" * 32, **fields)
        assert refused.status_code == 400 and words in refused.get_data(as_text=True), fields
    assert len(_refunds(app, public_id)) == 1 and _stripe_refunds(emulator, public_id) == [1159]

    # the rest: the other mug, the pour-over and the shipping with its own tax, to the minor unit
    response = _refund_by_line(admin, public_id, "c" * 32, **{f"qty-{mug}": "1", f"qty-{pour_over}": "1",
                                                               "shipping": "1", "amount": "99999.00"})
    assert response.status_code == 302
    second = _refunds(app, public_id)[1]
    assert second[0] == 1159 + (2800 - 280 + 183) + (SHIPPING + SHIPPING_TAX)
    assert sorted(second[2], key=lambda line: line[0] or 0) == [(None, 1, 642), (mug, 1, 1159),
                                                                 (pour_over, 1, 2703)]
    with app.app_context():
        assert 1159 + second[0] == db.session.scalars(select(Order.amount)).one()
    assert _stripe_refunds(emulator, public_id) == sorted([1159, second[0]])

    # nothing is left: by line or typed, refused
    assert _refund_by_line(admin, public_id, "d" * 32, shipping="1").status_code == 400
    typed = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": "0.01", "form_token": "e" * 32})
    assert typed.status_code == 400 and "more than is left" in typed.get_data(as_text=True)
    assert len(_refunds(app, public_id)) == 2


def test_a_line_refund_of_an_order_whose_prices_include_tax_adds_no_tax(shop, emulator):
    app, admin = shop
    public_id, lines = _paid_order(app, emulator, inclusive=True)
    response = _refund_by_line(admin, public_id, "f" * 32, **{f"qty-{lines['ceramic-pour-over']}": "1"},
                               shipping="1")
    assert response.status_code == 302
    ((amount, _, _),) = _refunds(app, public_id)
    assert amount == (2800 - 280) + SHIPPING
    assert _stripe_refunds(emulator, public_id) == [amount]


def test_a_typed_refund_leaves_the_lines_to_refund_but_never_more_than_the_order(shop, emulator):
    app, admin = shop
    public_id, lines = _paid_order(app, emulator)
    typed = admin.post(f"/admin/orders/{public_id}/refund", data={"amount": "50.00", "form_token": "g" * 32})
    assert typed.status_code == 302
    # 663 left: a line worth more is refused though none of it was refunded by line
    refused = _refund_by_line(admin, public_id, "h" * 32, **{f"qty-{lines['ceramic-pour-over']}": "1"})
    assert refused.status_code == 400 and "more than is left to refund on this order" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(RefundLine)).all() == []
