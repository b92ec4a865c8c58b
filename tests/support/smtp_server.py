"""A real SMTP server (aiosmtpd) for the mail tests, recording what reaches it and on which connection, and the
emails for it to receive."""
from __future__ import annotations

import asyncio
import threading

from app.models import Order, OutboxEmail, db
from tests.support.net import free_port


class RecordingServer:
    """aiosmtpd, recording each message's connection (the client's port) and Subject; `drop_idle()` closes
    every open connection as a server does with idle clients; a Subject in `refuse` is refused for now (451); one
    in `hold` gets no answer until it leaves `hold` (then 451), and is listed in `held` meanwhile.
    `options` go to aiosmtpd's Controller (TLS, STARTTLS, AUTH)."""

    def __init__(self, **options):
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[int, str]] = []
        self.refuse: set[str] = set()  # subjects answered "451 try again later"
        self.hold: set[str] = set()  # subjects left unanswered while they are in it
        self.held: list[str] = []
        self.logins: list[tuple[str, str, bool]] = []  # user, password, over TLS
        self.sessions: list = []
        self.lock = threading.Lock()
        server = self

        class Handler:
            async def handle_DATA(self, smtp_server, session, envelope):
                subject = next((line.split(":", 1)[1].strip() for line in envelope.content.decode().splitlines()
                                if line.lower().startswith("subject:")), "")
                if subject in server.hold:
                    server.held.append(subject)
                    while subject in server.hold:
                        await asyncio.sleep(0.02)
                    return "451 Try again later"
                if subject in server.refuse:
                    return "451 Try again later"
                with server.lock:
                    server.messages.append((session.peer[1], subject))
                    if smtp_server not in server.sessions:
                        server.sessions.append(smtp_server)
                return "250 OK"

        def authenticator(smtp_server, session, envelope, mechanism, auth_data):
            from aiosmtpd.smtp import AuthResult

            login = (auth_data.login.decode(), auth_data.password.decode(), session.ssl is not None)
            with server.lock:
                server.logins.append(login)
            return AuthResult(success=login[:2] == ("shop@example.com", "p@ss:word"))

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, authenticator=authenticator,
                                     **options)
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


def waiting_emails(app, count: int) -> list[int]:
    """`count` emails waiting in the outbox, subjects "Email 0", "Email 1"... (their order's row is made too)."""
    with app.app_context():
        order = Order(attempt_id="a" * 32, currency="usd", email="shopper@example.com", amount=1000)
        db.session.add(order)
        db.session.flush()
        rows = [OutboxEmail(order_id=order.id, kind=f"notice-{n}", to="shopper@example.com", subject=f"Email {n}",
                            body="Hello") for n in range(count)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]
