"""`shop dev`'s mail: the SMTP sink catches a receipt sent over SMTP, and /dev/mail shows it (development only)."""
from app.mail import sink as mailsink
from app.mail.outbox import deliver_outbox, receipt_for
from app.models import Order, OrderLine, db
from tests.support.net import free_port


def test_a_receipt_sent_over_smtp_is_caught_and_shown_on_the_dev_page(make_app, settings, tmp_path):
    port = free_port()
    sink = mailsink.start(port, tmp_path / "mail")
    try:
        app = make_app(settings.with_overrides(env="development", mail_url=f"smtp://127.0.0.1:{port}"))
        app.config["MAIL_SINK_DIR"] = str(tmp_path / "mail")
        with app.app_context():
            order = Order(attempt_id="d" * 32, amount=1200, currency="usd", email="dev@example.com",
                          lines=[OrderLine(product_id="enamel-mug", name="Enamel Camp Mug", unit_price=1200,
                                           quantity=1)])
            db.session.add(order)
            db.session.flush()
            outbox = receipt_for(order)
            db.session.add(outbox)
            db.session.commit()
            assert deliver_outbox(outbox.id) == "sent"
            assert deliver_outbox(outbox.id) == "skipped"
        page = app.test_client().get("/dev/mail").get_data(as_text=True)
        assert "Your receipt for order" in page and "dev@example.com" in page and "$12.00" in page
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1
    finally:
        sink.stop()


def test_the_dev_mail_page_does_not_exist_outside_development(client):
    assert client.get("/dev/mail").status_code == 404
