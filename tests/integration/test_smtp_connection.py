"""Receipts go out over one SMTP connection kept open between them (app/mail/smtp.py), against a real SMTP
server (aiosmtpd) that records which connection each message came on: a connection the server dropped while
idle is replaced and the email still goes out exactly once; an idle one is not trusted past IDLE_LIMIT. With a
user and password in MAIL_URL the shop logs in only over TLS whose certificate it checked (a throwaway CA)."""
from __future__ import annotations

import smtplib

import pytest

from app.mail import smtp
from app.mail.outbox import deliver_outbox
from app.models import OutboxEmail, db
from tests.support.smtp_server import waiting_emails


@pytest.fixture
def certificate_authority(tmp_path, monkeypatch):
    """A CA the shop's TLS trusts for this test only (OpenSSL reads SSL_CERT_FILE for each new context), and the
    server's certificate for 127.0.0.1 from it."""
    import ssl

    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    return server_context


CREDENTIALS = "shop%40example.com:p%40ss%3Aword"  # shop@example.com / p@ss:word, as a URL carries them


def _send(app, outbox_id: int) -> str:
    with app.app_context():
        return deliver_outbox(outbox_id)


def test_emails_sent_one_after_another_share_one_connection(make_app, settings, mail_server):
    app = make_app(settings.with_overrides(mail_url=mail_server.url))
    for outbox_id in waiting_emails(app, 3):
        assert _send(app, outbox_id) == "sent"
    assert [subject for _, subject in mail_server.messages] == ["Email 0", "Email 1", "Email 2"]
    assert len({port for port, _ in mail_server.messages}) == 1
    assert app.extensions["smtp"].connections == 1


def test_a_connection_the_server_dropped_is_replaced_and_the_email_sent_once(make_app, settings, mail_server):
    app = make_app(settings.with_overrides(mail_url=mail_server.url))
    first, second = waiting_emails(app, 2)
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
    first, second = waiting_emails(app, 2)
    assert _send(app, first) == "sent"
    monkeypatch.setattr(smtp, "IDLE_LIMIT", 0.0)
    assert _send(app, second) == "sent"
    assert app.extensions["smtp"].connections == 2
    assert len({port for port, _ in mail_server.messages}) == 2


def test_a_server_that_is_gone_fails_the_send_and_the_email_waits(make_app, settings, mail_server):
    app = make_app(settings.with_overrides(mail_url=mail_server.url))
    first, second = waiting_emails(app, 2)
    assert _send(app, first) == "sent"
    mail_server.drop_idle()
    mail_server.stop()
    with pytest.raises((OSError, smtplib.SMTPException)):
        _send(app, second)
    with app.app_context():
        row = db.session.get(OutboxEmail, second)
        assert row.sent_at is None and row.claimed_at is None  # claimed back: the next try sends it


def _one_email(make_app, settings, mail_url: str) -> tuple:
    """An app sending to `mail_url` (with CREDENTIALS), and one email waiting in its outbox."""
    app = make_app(settings.with_overrides(mail_url=mail_url))
    [outbox_id] = waiting_emails(app, 1)
    return app, outbox_id


def test_with_a_user_the_connection_is_upgraded_to_checked_tls_before_logging_in(make_app, settings, smtp_servers,
                                                                                  certificate_authority):
    server = smtp_servers(tls_context=certificate_authority, require_starttls=True, auth_require_tls=True)
    app, outbox_id = _one_email(make_app, settings, f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}")
    assert _send(app, outbox_id) == "sent"
    assert server.logins == [("shop@example.com", "p@ss:word", True)]
    assert [subject for _, subject in server.messages] == ["Email 0"]


def test_a_server_that_offers_no_tls_is_never_sent_the_password(make_app, settings, smtp_servers):
    server = smtp_servers(auth_require_tls=False)  # it would take a password in the clear
    app, outbox_id = _one_email(make_app, settings, f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}")
    with pytest.raises(smtplib.SMTPNotSupportedError):
        _send(app, outbox_id)
    assert server.logins == [] and server.messages == []
    with app.app_context():
        assert db.session.get(OutboxEmail, outbox_id).sent_at is None


def test_a_certificate_the_shop_does_not_trust_is_refused(make_app, settings, smtp_servers, certificate_authority,
                                                           monkeypatch):
    import ssl

    monkeypatch.delenv("SSL_CERT_FILE")  # the system's CAs only: they never signed the throwaway one
    server = smtp_servers(tls_context=certificate_authority, require_starttls=True, auth_require_tls=True)
    app, outbox_id = _one_email(make_app, settings, f"smtp://{CREDENTIALS}@127.0.0.1:{server.port}")
    with pytest.raises(ssl.SSLCertVerificationError):
        _send(app, outbox_id)
    assert server.logins == [] and server.messages == []


def test_smtps_is_tls_from_the_first_byte(make_app, settings, smtp_servers, certificate_authority):
    # aiosmtpd's AUTH-needs-TLS check knows STARTTLS only: here every byte is TLS already
    server = smtp_servers(ssl_context=certificate_authority, auth_require_tls=False)
    app, outbox_id = _one_email(make_app, settings, f"smtps://{CREDENTIALS}@127.0.0.1:{server.port}")
    assert _send(app, outbox_id) == "sent"
    assert [login[:2] for login in server.logins] == [("shop@example.com", "p@ss:word")]
    assert [subject for _, subject in server.messages] == ["Email 0"]
