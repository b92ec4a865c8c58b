"""Receipts go out over one SMTP connection kept open between them (app/mail/smtp.py), against a real SMTP
server (aiosmtpd) that records which connection each message came on: a connection the server dropped while
idle is replaced and the email still goes out exactly once; an idle one is not trusted past IDLE_LIMIT."""
from __future__ import annotations

import smtplib
import threading

import pytest

from app.mail import smtp
from app.mail.outbox import deliver_outbox
from app.models import Order, OutboxEmail, db
from tests.support.net import free_port


class RecordingServer:
    """aiosmtpd, recording each message's connection (the client's port) and Subject; `drop_idle()` closes
    every open connection as a server does with idle clients."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[int, str]] = []
        self.sessions: list = []
        self.lock = threading.Lock()
        server = self

        class Handler:
            async def handle_DATA(self, smtp_server, session, envelope):
                subject = next((line.split(":", 1)[1].strip() for line in envelope.content.decode().splitlines()
                                if line.lower().startswith("subject:")), "")
                with server.lock:
                    server.messages.append((session.peer[1], subject))
                    if smtp_server not in server.sessions:
                        server.sessions.append(smtp_server)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def drop_idle(self):
        loop = self.controller.loop
        for session in list(self.sessions):
            loop.call_soon_threadsafe(session.transport.close)
        self.sessions.clear()

    def stop(self):
        if self.controller.loop.is_running():
            self.controller.stop()


@pytest.fixture
def mail_server():
    server = RecordingServer()
    yield server
    server.stop()


def _outbox(app, count: int) -> list[int]:
    """`count` emails waiting in the outbox (an order's notices need an order row)."""
    with app.app_context():
        order = Order(attempt_id="a" * 32, currency="usd", email="shopper@example.com", amount=1000)
        db.session.add(order)
        db.session.flush()
        rows = [OutboxEmail(order_id=order.id, kind=f"notice-{n}", to="shopper@example.com", subject=f"Email {n}",
                            body="Hello") for n in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def _send(app, outbox_id: int) -> str:
    with app.app_context():
        return deliver_outbox(outbox_id)


def test_emails_sent_one_after_another_share_one_connection(make_app, settings, mail_server):
    app = make_app(settings.with_overrides(mail_url=mail_server.url))
    for outbox_id in _outbox(app, 3):
        assert _send(app, outbox_id) == "sent"
    assert [subject for _, subject in mail_server.messages] == ["Email 0", "Email 1", "Email 2"]
    assert len({port for port, _ in mail_server.messages}) == 1
    assert app.extensions["smtp"].connections == 1


def test_a_connection_the_server_dropped_is_replaced_and_the_email_sent_once(make_app, settings, mail_server):
    app = make_app(settings.with_overrides(mail_url=mail_server.url))
    first, second = _outbox(app, 2)
    assert _send(app, first) == "sent"
    mail_server.drop_idle()
    assert _send(app, second) == "sent"
    assert [subject for _, subject in mail_server.messages] == ["Email 0", "Email 1"]
    assert mail_server.messages[0][0] != mail_server.messages[1][0]  # a new connection
    assert app.extensions["smtp"].connections == 2
    with app.app_context():
        assert db.session.get(OutboxEmail, second).sent_at is not None


def test_a_connection_idle_past_the_limit_is_not_reused(make_app, settings, mail_server, monkeypatch):
    app = make_app(settings.with_overrides(mail_url=mail_server.url))
    first, second = _outbox(app, 2)
    assert _send(app, first) == "sent"
    monkeypatch.setattr(smtp, "IDLE_LIMIT", 0.0)
    assert _send(app, second) == "sent"
    assert app.extensions["smtp"].connections == 2
    assert len({port for port, _ in mail_server.messages}) == 2


def test_a_server_that_is_gone_fails_the_send_and_the_email_waits(make_app, settings, mail_server):
    app = make_app(settings.with_overrides(mail_url=mail_server.url))
    first, second = _outbox(app, 2)
    assert _send(app, first) == "sent"
    mail_server.drop_idle()
    mail_server.stop()
    with pytest.raises((OSError, smtplib.SMTPException)):
        _send(app, second)
    with app.app_context():
        row = db.session.get(OutboxEmail, second)
        assert row.sent_at is None and row.claimed_at is None  # claimed back: the next try sends it
