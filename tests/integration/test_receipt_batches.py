"""A mail job that finds other receipts' jobs waiting behind it on the queue takes them off it and sends them
too, over its one connection (app/mail/outbox.py `deliver_waiting`); one that fails goes back on the queue with
the rest. Real Redis (the queue), a real SMTP server, the job function as the worker runs it."""
from __future__ import annotations

import pytest
from rq import Queue
from rq.job import Job

from app.models import OutboxEmail, db
from app.queues import MAIL, enqueue_receipts, receipt_job_id, redis_connection
from app.tasks import send_receipt
from tests.support.smtp_server import waiting_emails


@pytest.fixture
def mail_app(make_app, settings, mail_server):
    return make_app(settings.with_overrides(mail_url=mail_server.url))


def _queued(app, count: int) -> list[int]:
    """`count` emails in the outbox, each with its job on the mail queue, as the event jobs leave them."""
    ids = waiting_emails(app, count)
    with app.app_context():
        assert enqueue_receipts(ids)
    return ids


def _queue_state(app) -> tuple[list[str], list[str]]:
    """The mail queue's job ids, and the receipt jobs whose records exist."""
    with app.app_context():
        connection = redis_connection()
        queue = Queue(MAIL, connection=connection)
        records = [key.decode().rsplit(":", 1)[1] for key in connection.keys(Job.key_for("receipt-*"))]
        return queue.job_ids, sorted(records)


def _sent(app, ids: list[int]) -> list[bool]:
    with app.app_context():
        return [db.session.get(OutboxEmail, outbox_id).sent_at is not None for outbox_id in ids]


def test_one_job_sends_the_receipts_waiting_behind_it_over_one_connection(mail_app, mail_server, redis):
    ids = _queued(mail_app, 4)
    assert send_receipt(ids[0]) == "sent"  # as the worker runs the first job it popped
    assert [subject for _, subject in mail_server.messages] == ["Email 0", "Email 1", "Email 2", "Email 3"]
    assert len({port for port, _ in mail_server.messages}) == 1
    assert _sent(mail_app, ids) == [True] * 4
    queued, records = _queue_state(mail_app)
    assert queued == [receipt_job_id(ids[0])]  # the first job's own entry: the test popped nothing
    assert records == [receipt_job_id(ids[0])]  # the taken jobs' records are gone: nothing sends them again


def test_a_receipt_that_fails_goes_back_on_the_queue_with_the_rest(mail_app, mail_server, redis):
    ids = _queued(mail_app, 4)
    mail_server.refuse.add("Email 2")
    assert send_receipt(ids[0]) == "sent"
    assert [subject for _, subject in mail_server.messages] == ["Email 0", "Email 1"]
    assert _sent(mail_app, ids) == [True, True, False, False]
    queued, records = _queue_state(mail_app)
    assert sorted(queued) == sorted(receipt_job_id(i) for i in (ids[0], ids[2], ids[3]))
    assert receipt_job_id(ids[1]) not in records
    with mail_app.app_context():
        assert db.session.get(OutboxEmail, ids[2]).claimed_at is None  # free for its job to send again
    mail_server.refuse.clear()
    assert send_receipt(ids[2]) == "sent"
    assert sorted(subject for _, subject in mail_server.messages) == ["Email 0", "Email 1", "Email 2", "Email 3"]


def test_a_receipt_another_worker_popped_is_left_to_it(mail_app, mail_server, redis):
    ids = _queued(mail_app, 3)
    with mail_app.app_context():
        Queue(MAIL, connection=redis_connection()).remove(receipt_job_id(ids[1]))  # popped by another worker
    assert send_receipt(ids[0]) == "sent"
    assert [subject for _, subject in mail_server.messages] == ["Email 0", "Email 2"]
    assert _sent(mail_app, ids) == [True, False, True]
