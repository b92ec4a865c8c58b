"""A receipt goes to exactly one mailbox. At checkout an address list, a display name or a header injection is
refused with a clear message and the cart kept; an address stored before that check (or edited in the database)
is parked for a person when its receipt job runs: never sent, never retried, the job itself succeeds."""
from __future__ import annotations

import pytest
from rq import SimpleWorker
from sqlalchemy import select

from app.mail import sink as mailsink
from app.mail.outbox import deliver_outbox, receipt_for
from app.models import Order, OutboxEmail, db
from app.queues import MAIL, enqueue_receipts, get_queue
from app.queues.relay import relay_outbox
from tests.support.shopper import Checkout
from tests.support.net import free_port
from security_checks import HOSTILE_EMAILS, dump

@pytest.mark.parametrize("address", HOSTILE_EMAILS)
def test_checkout_refuses_anything_but_one_mailbox_and_keeps_the_cart(stripe_app, emulator, address):
    shopper = Checkout(stripe_app, emulator)
    token = shopper.token()
    before = dump(stripe_app)
    response = shopper.confirm(token, email=address)
    assert response.status_code == 400
    assert response.json["error"].startswith("Please enter")
    assert dump(stripe_app) == before  # no order, no stock held, the cart as it was
    assert "Enamel Camp Mug" in shopper.client.get("/cart").get_data(as_text=True)


def test_the_address_is_stored_normalised(stripe_app, emulator):
    shopper = Checkout(stripe_app, emulator)
    answer = shopper.confirm(shopper.token(), email="  Shopper@Example.COM ")
    assert answer.json["status"] == "succeeded", answer.json
    with stripe_app.app_context():
        order = db.session.scalars(select(Order).where(Order.attempt_id == shopper.attempt_id)).one()
        assert order.email == "Shopper@example.com"


@pytest.fixture
def mail_app(make_app, stripe_settings, tmp_path):
    port = free_port()
    sink = mailsink.start(port, tmp_path / "mail")
    yield make_app(stripe_settings.with_overrides(mail_url=f"smtp://127.0.0.1:{port}", relay_stale_after=0))
    sink.stop()


def _receipt_to(app, emulator, address: str) -> int:
    """A paid order whose stored address is `address` (as if written before checkout checked it)."""
    shopper = Checkout(app, emulator)
    assert shopper.confirm(shopper.token()).json["status"] == "succeeded"
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.attempt_id == shopper.attempt_id)).one()
        db.session.query(OutboxEmail).filter_by(order_id=order.id).delete()
        order.email = address
        outbox = receipt_for(order)
        db.session.add(outbox)
        db.session.commit()
        return outbox.id


@pytest.mark.parametrize("address", ["a,b@example.com", "x:y;z@example.com"])
def test_a_stored_bad_address_is_parked_not_sent_and_not_retried(mail_app, emulator, tmp_path, address):
    outbox_id = _receipt_to(mail_app, emulator, address)
    with mail_app.app_context():
        orders_before = {k: v for k, v in dump(mail_app).items() if k != "outbox_email"}
        assert enqueue_receipts([outbox_id])
        queue = get_queue(MAIL)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        assert queue.failed_job_registry.count == 0  # the job ended: parked, not crashed
        outbox = db.session.get(OutboxEmail, outbox_id)
        assert outbox.failed_at is not None and outbox.sent_at is None
        assert "not one mailbox" in outbox.last_error
        assert deliver_outbox(outbox_id) == "skipped"  # a second job, a replay: still never sent
        assert relay_outbox() == 0  # and the relay does not loop on it
        assert {k: v for k, v in dump(mail_app).items() if k != "outbox_email"} == orders_before
    assert not list((tmp_path / "mail").glob("*.eml"))


def test_a_good_stored_address_is_sent_normalised(mail_app, emulator, tmp_path):
    outbox_id = _receipt_to(mail_app, emulator, "Shopper@EXAMPLE.com")
    with mail_app.app_context():
        assert deliver_outbox(outbox_id) == "sent"
    (eml,) = (tmp_path / "mail").glob("*.eml")
    assert b"To: Shopper@example.com" in eml.read_bytes()
