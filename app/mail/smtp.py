"""The app's SMTP connection (MAIL_URL), kept open between emails: `current_app.extensions["smtp"].send(message)`.

A worker sending receipts one after another would otherwise connect, greet and say goodbye for each one:
three more round trips and a new session on the mail server every time. The connection is reused while it
has been idle for less than IDLE_LIMIT. A reused connection found closed (servers drop idle clients after a
few minutes) is taken for one the server dropped while idle: the email is sent once more on a new connection.
Should the server have accepted it just before closing, the shopper gets it twice, recognisable by its
Message-ID, as with any resend from the outbox. Any other failure closes the connection and is raised.

MAIL_URL: `smtp://host:port` sends in the clear (a relay on the same host or network); with a user and password
(`smtp://user:password@host:587`) the connection is upgraded with STARTTLS, the server's certificate checked,
before logging in, and a server that offers no STARTTLS is refused rather than sent the password in the clear;
`smtps://user:password@host:465` is TLS from the first byte.
"""
from __future__ import annotations

import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

__all__ = ["IDLE_LIMIT", "TIMEOUT", "Sender"]

IDLE_LIMIT = 30.0  # seconds unused after which the connection is closed rather than trusted
TIMEOUT = 10.0  # seconds for connecting and for each SMTP reply


class Sender:
    def __init__(self, mail_url: str):
        url = urlsplit(mail_url)
        self.implicit_tls = url.scheme == "smtps"
        self.address = (url.hostname or "127.0.0.1", url.port or (465 if self.implicit_tls else 25))
        self.credentials = (unquote(url.username), unquote(url.password or "")) if url.username else None
        self.connections = 0  # opened so far
        self._lock = threading.Lock()
        self._smtp: smtplib.SMTP | None = None
        self._used_at = 0.0

    def send(self, message: EmailMessage) -> None:
        """Raises OSError or smtplib.SMTPException when the server did not accept `message`."""
        with self._lock:
            reused = self._smtp is not None and time.monotonic() - self._used_at < IDLE_LIMIT
            try:
                try:
                    self._connected(fresh=not reused).send_message(message)
                except smtplib.SMTPServerDisconnected:
                    if not reused:
                        raise
                    self._connected(fresh=True).send_message(message)  # dropped while idle: once more
            except BaseException:
                self.close()
                raise
            self._used_at = time.monotonic()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()

    def _connected(self, fresh: bool) -> smtplib.SMTP:
        if fresh or self._smtp is None:
            self.close()
            self._smtp = self._open()
            self.connections += 1
        return self._smtp

    def _open(self) -> smtplib.SMTP:
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(*self.address, timeout=TIMEOUT, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(*self.address, timeout=TIMEOUT)
        try:
            if self.credentials:
                if not self.implicit_tls:
                    smtp.starttls(context=ssl.create_default_context())  # SMTPNotSupportedError if not offered
                smtp.login(*self.credentials)
        except BaseException:
            smtp.close()
            raise
        return smtp
