"""A worker killed in the middle of a batch of receipts (app/mail/outbox.py `deliver_waiting`): the receipts whose
jobs it had taken off the queue, the one it was sending included, are sent again by the relay, each exactly once.
Real processes: RQ workers, a Valkey the stack owns, a real SMTP server that leaves one message unanswered."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import create_app
from app.mail.outbox import CLAIM_LEASE
from app.models import OutboxEmail, db, utcnow
from app.queues import MAIL, enqueue_receipts
from app.settings import Settings
from tests.support.smtp_server import RecordingServer, waiting_emails
from tests.support.stack import Stack


@pytest.fixture
def mail_server():
    server = RecordingServer()
    yield server
    server.hold.clear()
    server.stop()


@pytest.fixture
def stack(tmp_path, mail_server):
    running = Stack(tmp_path, database_url=os.environ.get("TEST_DATABASE_URL"), workers=0,
                    extra_env={"MAIL_URL": mail_server.url}).start()
    yield running
    running.stop()


def test_receipts_a_killed_worker_had_taken_off_the_queue_are_sent_once_by_the_relay(stack, mail_server):
    app = create_app(Settings.from_env(stack.env, dotenv=False))
    ids = waiting_emails(app, 4)
    with app.app_context():
        assert enqueue_receipts(ids)
    mail_server.hold.add("Email 1")
    worker = stack.start_worker()  # no cron: nothing relays while it works
    stack.wait_until(lambda: mail_server.held == ["Email 1"], timeout=60)
    # it sent its own job's email, took the jobs of the three behind it off the queue, and is sending the first
    assert [subject for _, subject in mail_server.messages] == ["Email 0"]
    assert stack.redis().llen(f"rq:queue:{MAIL}") == 0
    stack.kill_worker(worker)
    mail_server.hold.clear()  # the dead worker's message is never accepted

    with app.app_context():  # CLAIM_LEASE later: the dead sender's claim on "Email 1" has run out
        db.session.execute(update(OutboxEmail).where(OutboxEmail.claimed_at.is_not(None))
                           .values(claimed_at=utcnow() - CLAIM_LEASE - timedelta(seconds=1)))
        db.session.commit()
    stack.start_worker(cron=True)  # its relay finds the three unsent receipts whose jobs are lost

    def all_sent() -> bool:
        with app.app_context():
            return not db.session.scalars(select(OutboxEmail.id).where(OutboxEmail.sent_at.is_(None))).all()

    stack.wait_until(all_sent, timeout=90)
    assert sorted(subject for _, subject in mail_server.messages) == ["Email 0", "Email 1", "Email 2", "Email 3"]
    with app.app_context():
        db.engine.dispose()
