"""Helpers for the security tests: a dump of every table, a shopper's cart and a pending order."""
from __future__ import annotations

import re

from app.models import Order, OrderLine, Product, db

# addresses that are not one mailbox: a list (two recipients), SMTP-hostile characters, a display name, a header
# injection, a quoted or IP-literal mailbox, no domain dot, empty
HOSTILE_EMAILS = ["a,b@example.com", "x:y;z@example.com", "Bob <bob@example.com>", "bob@example.com, eve@example.com",
                  "bob@example.com\r\nBcc: eve@example.com", '"a b"@example.com', "bob@[127.0.0.1]", "bob@localhost",
                  "bob@@example.com", "bob@example.com;eve@example.com", " ", ""]
NONCE = re.compile(r"'nonce-([A-Za-z0-9_\-+/=]{16,})'")


def dump(app) -> dict[str, list[str]]:
    """Every row of every table, as text: equal dumps mean nothing was written."""
    with app.app_context():
        db.session.remove()
        return {table.name: sorted(repr(tuple(row)) for row in db.session.execute(table.select()).all())
                for table in db.metadata.sorted_tables}


def fill_cart(client, product_id: str = "enamel-mug", quantity: int = 1) -> None:
    response = client.post("/cart/add", data={"product_id": product_id, "quantity": str(quantity)})
    assert response.status_code == 303, response.get_data(as_text=True)


def pending_order(app, attempt_id: str = "d" * 32) -> str:
    with app.app_context():
        product = db.session.get(Product, "enamel-mug")
        order = Order(attempt_id=attempt_id, amount=product.price, currency="usd", email="shopper@example.com",
                      lines=[OrderLine(product_id=product.id, name=product.name, unit_price=product.price,
                                       quantity=1)])
        db.session.add(order)
        db.session.commit()
        return order.public_id


def csp_without_nonce(header: str) -> str:
    return NONCE.sub("'nonce-N'", header)
