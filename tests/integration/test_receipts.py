"""The receipt and the confirmation page show what Stripe said about the card (brand and last four), the same order
number everywhere, and a link back to the order (in every email to the shopper, once the shop knows its address);
the mail is multipart with Date and Message-ID; the full email address is shown only to the browser that placed
the order."""
from __future__ import annotations

from email import policy
from email.parser import BytesParser

from app.mail import sink as mailsink
from app.mail.outbox import deliver_outbox, receipt_for
from app.models import Order, db
from tests.support.shopper import Checkout
from tests.support.net import free_port


def _paid_order(app, emulator) -> tuple[Checkout, Order]:
    shopper = Checkout(app, emulator)
    answer = shopper.confirm(shopper.token("pm_card_mastercard"))
    assert answer.json["status"] == "succeeded", answer.json
    with app.app_context():
        order = db.session.query(Order).filter_by(attempt_id=shopper.attempt_id).one()
        db.session.expunge(order)
    return shopper, order


def test_the_card_comes_from_stripe_and_shows_on_the_order_page(stripe_app, emulator):
    shopper, order = _paid_order(stripe_app, emulator)
    assert (order.card_brand, order.card_last4) == ("mastercard", "4444")
    page = shopper.client.get(f"/orders/{order.public_id}").get_data(as_text=True)
    assert "Paid with Mastercard ending 4444" in page
    assert f"Order number <strong class=\"order-number\" data-testid=\"order-number\">{order.number}</strong>" in page


def test_the_full_email_is_shown_only_to_the_browser_that_placed_the_order(stripe_app, emulator):
    shopper, order = _paid_order(stripe_app, emulator)
    own = shopper.client.get(f"/orders/{order.public_id}").get_data(as_text=True)
    other = stripe_app.test_client().get(f"/orders/{order.public_id}").get_data(as_text=True)
    assert "shopper@example.com" in own
    assert "shopper@example.com" not in other and "s•••@example.com" in other


def test_the_receipt_is_multipart_with_date_message_id_number_card_and_link(make_app, stripe_settings, emulator,
                                                                               tmp_path):
    port = free_port()
    sink = mailsink.start(port, tmp_path / "mail")
    try:
        app = make_app(stripe_settings.with_overrides(mail_url=f"smtp://127.0.0.1:{port}",
                                                      public_url="https://shop.example",
                                                      allowed_hosts=("localhost", "shop.example")))
        _, order = _paid_order(app, emulator)
        with app.app_context():
            outbox = receipt_for(db.session.get(Order, order.id))
            db.session.add(outbox)
            db.session.commit()
            assert deliver_outbox(outbox.id) == "sent"
        (eml,) = (tmp_path / "mail").glob("*.eml")
        message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    finally:
        sink.stop()
    assert message["Subject"] == f"Your receipt for order {order.number}"
    assert message["Date"] and message["Message-ID"]
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    link = f"https://shop.example/orders/{order.public_id}"
    for part in (plain, html):
        assert order.number in part and "Mastercard ending 4444" in part and link in part


def test_every_email_to_the_shopper_links_to_the_order_page_when_the_shop_knows_its_address(make_app,
                                                                                              stripe_settings,
                                                                                              emulator):
    from app.mail.outbox import (canceled_notice_for, failed_after_processing_for, processing_notice_for,
                                 refund_failed_notice_for, refund_notice_for)
    from app.models import Refund

    builders = (receipt_for, canceled_notice_for, processing_notice_for, failed_after_processing_for,
                lambda order: refund_notice_for(order, Refund(number=1, amount=500, currency=order.currency)),
                lambda order: refund_failed_notice_for(order, Refund(number=1, amount=500, currency=order.currency)))
    for public_url in ("https://shop.example/", ""):
        app = make_app(stripe_settings.with_overrides(
            public_url=public_url, allowed_hosts=("localhost", "shop.example") if public_url else ("localhost",)))
        _, order = _paid_order(app, emulator)
        with app.app_context():
            order = db.session.get(Order, order.id)
            for build in builders:
                body = build(order).body
                if public_url:  # one link, to this order's page, without a doubled slash
                    assert body.endswith(f"\nYour order: https://shop.example/orders/{order.public_id}\n"), body
                    assert body.count("Your order:") == 1
                else:
                    assert "Your order:" not in body and "/orders/" not in body, body
