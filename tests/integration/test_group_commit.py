"""Concurrent webhook deliveries in one process share one commit (app/events/store.py), with a real database and
a real Redis: each is answered only once its own event is committed, a repeat in the same batch is a duplicate,
a batch the database refuses fails every delivery in it (5xx, so Stripe delivers again) and nothing hangs."""
import json
import threading
import time

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text

from app.events import store as event_store
from app.models import StripeEvent, db
from tests.support.events import event_payload, sign


def _body(n, event_id=None):
    return event_payload("payment_intent.succeeded", {
        "id": f"pi_group_{n}", "object": "payment_intent", "amount": 1200, "currency": "usd",
        "status": "succeeded", "metadata": {"order_id": f"group-{n}"}}, event_id=event_id or f"evt_group_{n}")


class HeldWriter:
    """Holds the process's writer lock so deliveries queue up behind it, as behind a commit in progress; counts
    the commits made once it lets go."""

    def __init__(self, app):
        self.app = app
        self.writer = app.extensions["event_writer"]
        self.commits = 0
        self.answers = {}

    def deliver(self, bodies):
        def post(n, body):
            response = self.app.test_client().post("/webhooks/stripe", data=body, content_type="application/json",
                                                    headers={"Stripe-Signature": sign(body)})
            self.answers[n] = (response.status_code, response.get_json())

        self.writer._writer.acquire()
        threads = [threading.Thread(target=post, args=(n, body)) for n, body in enumerate(bodies)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(self.writer._waiting) < len(bodies) and time.monotonic() < deadline:
            time.sleep(0.01)
        waiting = len(self.writer._waiting)
        answered_before_commit = len(self.answers)
        with self.app.app_context():
            sa_event.listen(db.engine, "commit", self._count)
            self.writer._writer.release()
            for thread in threads:
                thread.join(20)
            sa_event.remove(db.engine, "commit", self._count)
        assert not any(thread.is_alive() for thread in threads), "a delivery never got its answer"
        return waiting, answered_before_commit

    def _count(self, connection):
        self.commits += 1


def _stored(app):
    with app.app_context():
        return {e.id: e.duplicates for e in db.session.scalars(select(StripeEvent))}


def test_concurrent_deliveries_share_one_commit_and_are_answered_after_it(app, redis):
    held = HeldWriter(app)
    waiting, answered_early = held.deliver([_body(n) for n in range(8)])
    assert (waiting, answered_early) == (8, 0)
    assert held.commits == 1
    assert sorted(held.answers.values(), key=str) == [(200, {"received": True, "duplicate": False})] * 8
    assert _stored(app) == {f"evt_group_{n}": 0 for n in range(8)}
    assert sorted(redis.lrange("rq:queue:events", 0, -1)) == sorted(f"event-evt_group_{n}".encode()
                                                                    for n in range(8))


def test_one_event_delivered_many_times_at_once_is_stored_once_and_enqueued_once(app, redis):
    held = HeldWriter(app)
    held.deliver([_body(1, event_id="evt_group_same")] * 6)
    assert held.commits == 1
    assert sorted(answer["duplicate"] for _, answer in held.answers.values()) == [False] + [True] * 5
    assert _stored(app) == {"evt_group_same": 5}
    assert redis.lrange("rq:queue:events", 0, -1) == [b"event-evt_group_same"]


def test_a_repeat_of_an_event_stored_earlier_is_a_duplicate_in_a_batch_of_new_ones(app, redis):
    HeldWriter(app).deliver([_body(1)])
    held = HeldWriter(app)
    held.deliver([_body(n) for n in range(3)])
    assert sorted(answer["duplicate"] for _, answer in held.answers.values()) == [False, False, True]
    assert _stored(app) == {"evt_group_0": 0, "evt_group_1": 1, "evt_group_2": 0}
    assert redis.llen("rq:queue:events") == 3


def test_more_deliveries_than_a_batch_holds_are_all_written(app, redis, monkeypatch):
    monkeypatch.setattr(event_store, "MAX_BATCH", 3)
    held = HeldWriter(app)
    held.deliver([_body(n) for n in range(10)])
    assert held.commits == 4  # 3 + 3 + 3 + 1
    assert {status for status, _ in held.answers.values()} == {200}
    assert len(_stored(app)) == 10
    assert redis.llen("rq:queue:events") == 10


def test_a_batch_the_database_refuses_fails_every_delivery_in_it_and_the_next_one_is_stored(app, redis):
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE stripe_event RENAME TO stripe_event_away"))
    held = HeldWriter(app)
    held.deliver([_body(n) for n in range(4)])
    assert [status for status, _ in held.answers.values()] == [503] * 4  # not stored: Stripe sends each again
    assert redis.llen("rq:queue:events") == 0
    with app.app_context():
        with db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE stripe_event_away RENAME TO stripe_event"))
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0
    again = HeldWriter(app)
    again.deliver([_body(n) for n in range(4)])  # Stripe delivers again
    assert [status for status, _ in again.answers.values()] == [200] * 4
    assert len(_stored(app)) == 4


@pytest.mark.parametrize("count_events", [1, 2])
def test_reconcile_stores_a_page_in_one_batch(app, redis, count_events):
    events = [json.loads(_body(n)) for n in range(count_events)] * 2  # each twice: the second is a duplicate
    commits = []

    def count(connection):
        commits.append(connection)

    with app.app_context():
        sa_event.listen(db.engine, "commit", count)
        results = event_store.store_events([(e, json.dumps(e)) for e in events], source="reconcile")
        sa_event.remove(db.engine, "commit", count)
    assert len(commits) == 1
    assert results == ["stored"] * count_events + ["duplicate"] * count_events
    assert redis.llen("rq:queue:events") == count_events
    assert _stored(app) == {f"evt_group_{n}": 1 for n in range(count_events)}


def _deliver_in_background(app, body: str, answers: list) -> threading.Thread:
    """Deliver `body` from a thread of its own, appending (status, JSON answer) to `answers` once answered."""
    def post():
        response = app.test_client().post("/webhooks/stripe", data=body, content_type="application/json",
                                          headers={"Stripe-Signature": sign(body)})
        answers.append((response.status_code, response.get_json()))

    delivery = threading.Thread(target=post)
    delivery.start()
    return delivery


def test_a_delivery_is_answered_only_after_its_event_is_committed_and_enqueued_only_after_that(app, redis):
    """Another transaction holds the events table (SQLite's write lock; a PostgreSQL table lock that INSERT waits
    on): the delivery stays unanswered, nothing is enqueued, until the database lets its commit through."""
    answers = []
    with app.app_context():
        blocker = db.engine.raw_connection()
        try:
            cursor = blocker.cursor()
            if db.engine.dialect.name == "sqlite":
                cursor.execute("BEGIN IMMEDIATE")
            else:
                cursor.execute("LOCK TABLE stripe_event IN EXCLUSIVE MODE")
            delivery = _deliver_in_background(app, _body(1), answers)
            delivery.join(1.0)
            answered_while_held, queued_while_held = list(answers), redis.llen("rq:queue:events")
            stored_while_held = _stored(app)
        finally:
            blocker.rollback()
            blocker.close()
        delivery.join(20)
    assert not delivery.is_alive(), "the delivery never got its answer"
    assert (answered_while_held, queued_while_held, stored_while_held) == ([], 0, {})
    assert answers == [(200, {"received": True, "duplicate": False})]
    assert _stored(app) == {"evt_group_1": 0}
    assert redis.lrange("rq:queue:events", 0, -1) == [b"event-evt_group_1"]


def test_on_sqlite_a_delivery_writes_only_in_its_turn_behind_the_workers(app, redis):
    """SQLite: deliveries take turns with the workers' batches on the file lock beside the database
    (app/db/write_turns.py) instead of SQLite's sleep-and-retry; held by another writer, the delivery waits for it."""
    import fcntl

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL locks rows: no writer turns there")
        lock_path = f"{db.engine.url.database}-writers.lock"
    answers = []
    with open(lock_path, "a") as turn:  # a worker's batch holding the turn
        fcntl.flock(turn, fcntl.LOCK_EX)
        delivery = _deliver_in_background(app, _body(2), answers)
        delivery.join(1.0)
        answered_while_held, stored_while_held = list(answers), _stored(app)
        fcntl.flock(turn, fcntl.LOCK_UN)
    delivery.join(20)
    assert not delivery.is_alive(), "the delivery never got its answer"
    assert (answered_while_held, stored_while_held) == ([], {})
    assert answers == [(200, {"received": True, "duplicate": False})]
    assert _stored(app) == {"evt_group_2": 0}
