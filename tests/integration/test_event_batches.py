"""A worker that finds a backlog applies several waiting events in one transaction and takes their jobs off
the queue; an event of the batch that fails is undone and put back, and a job another worker holds is left
to it. Real database, real Redis, RQ's own queue."""
import json

import pytest
from sqlalchemy import select

from app.events.store import store_events
from app import tasks
from app.events.apply import apply_events
from app.events.handlers import OrderNotKnownYet
from app.tasks import process_event
from app.models import Order, OrderLine, StripeEvent, db
from app.queues import EVENTS, event_job_id, get_queue
from tests.support.events import event_payload


def _orders(app, count):
    with app.app_context():
        orders = [Order(attempt_id=f"batch-{n}", amount=1200, currency="usd", email="a@b.example",
                        lines=[OrderLine(product_id="enamel-mug", name="Mug", unit_price=1200, quantity=1)])
                  for n in range(count)]
        db.session.add_all(orders)
        db.session.commit()
        return [order.public_id for order in orders]


def _store_paid(app, public_ids, first=0):
    """Store one payment_intent.succeeded per order (enqueued, as the webhook does); returns the event ids."""
    events = []
    for n, public_id in enumerate(public_ids, start=first):
        raw = event_payload("payment_intent.succeeded", {
            "id": f"pi_batch_{n}", "object": "payment_intent", "amount": 1200, "currency": "usd",
            "status": "succeeded", "metadata": {"order_id": public_id}}, event_id=f"evt_batch_{n:03}")
        events.append((json.loads(raw), raw))
    with app.app_context():
        store_events(events, source="webhook")
    return [event["id"] for event, _ in events]


def _queued(app):
    with app.app_context():
        return get_queue(EVENTS).get_job_ids()


def _states(app):
    with app.app_context():
        rows = db.session.execute(select(StripeEvent.id, StripeEvent.status, StripeEvent.attempts)).all()
        return {event_id: (status, attempts) for event_id, status, attempts in rows}


def _fulfilled(app):
    with app.app_context():
        return db.session.scalar(select(db.func.count()).where(Order.state == "fulfilled"))


@pytest.fixture
def batch_app(make_app, settings, monkeypatch):
    app = make_app(settings.with_overrides(event_batch=5))
    monkeypatch.setattr(tasks, "_app", app)  # the app a job runs in (worker.py binds its own)
    return app


def test_a_job_applies_up_to_a_batch_of_waiting_events_and_takes_their_jobs(batch_app):
    app = batch_app
    event_ids = _store_paid(app, _orders(app, 8))
    assert len(_queued(app)) == 8
    assert process_event(event_ids[0]) == "fulfilled"
    assert _fulfilled(app) == 5
    states = _states(app)
    assert [states[e] for e in event_ids[:5]] == [("processed", 1)] * 5
    assert [states[e][0] for e in event_ids[5:]] == ["received"] * 3
    # the first job was popped by "its worker" in real life; here it is still queued, the four others are gone
    assert _queued(app) == [event_job_id(e) for e in (event_ids[0], *event_ids[5:])]
    with app.app_context():
        assert all(get_queue(EVENTS).fetch_job(event_job_id(e)) is None for e in event_ids[1:5])
    assert process_event(event_ids[0]) == "skipped"
    assert process_event(event_ids[5]) == "fulfilled"
    assert _fulfilled(app) == 8 and _queued(app) == [event_job_id(event_ids[0]), event_job_id(event_ids[5])]


def test_an_event_of_the_batch_that_fails_is_undone_and_put_back_on_the_queue(batch_app):
    app = batch_app
    known = _orders(app, 3)
    event_ids = _store_paid(app, [known[0], "0" * 32, known[1], known[2]])  # the second names no order
    assert len(_queued(app)) == 4
    assert process_event(event_ids[0]) == "fulfilled"
    states = _states(app)
    assert states[event_ids[1]] == ("received", 0)  # undone, and its attempt not counted
    assert [states[e] for e in (event_ids[0], event_ids[2], event_ids[3])] == [("processed", 1)] * 3
    assert _queued(app) == [event_job_id(event_ids[0]), event_job_id(event_ids[1])]  # back on the queue
    with pytest.raises(OrderNotKnownYet):
        process_event(event_ids[1])
    assert _states(app)[event_ids[1]] == ("failed", 1)


def test_when_the_jobs_own_event_fails_the_rest_of_the_batch_still_commits(batch_app):
    app = batch_app
    known = _orders(app, 2)
    event_ids = _store_paid(app, ["0" * 32, *known])
    with pytest.raises(OrderNotKnownYet):
        process_event(event_ids[0])
    states = _states(app)
    assert states[event_ids[0]][0] == "failed" and states[event_ids[0]][1] == 1
    assert [states[e] for e in event_ids[1:]] == [("processed", 1)] * 2
    assert _fulfilled(app) == 2


def test_an_event_whose_job_another_worker_holds_is_left_to_that_worker(batch_app):
    app = batch_app
    event_ids = _store_paid(app, _orders(app, 3))
    with app.app_context():
        queue = get_queue(EVENTS)
        queue.connection.lrem(queue.key, 1, event_job_id(event_ids[1]))  # popped by another worker, not yet run
    assert process_event(event_ids[0]) == "fulfilled"
    states = _states(app)
    assert states[event_ids[1]] == ("received", 0)
    assert states[event_ids[2]] == ("processed", 1)
    assert process_event(event_ids[1]) == "fulfilled"


def test_a_batch_that_cannot_commit_puts_every_taken_job_back(batch_app, monkeypatch):
    app = batch_app
    event_ids = _store_paid(app, _orders(app, 4))
    with app.app_context():
        commit = db.session.commit
        failures = iter([RuntimeError("the database went away")])

        def commit_once_failing():
            error = next(failures, None)
            if error:
                raise error
            commit()

        monkeypatch.setattr(db.session, "commit", commit_once_failing)
        with pytest.raises(RuntimeError):
            apply_events(event_ids[0], 5)
    assert _fulfilled(app) == 0
    assert _queued(app) == [event_job_id(e) for e in event_ids]  # its own (never popped here), then the taken three
    states = _states(app)
    assert states[event_ids[0]] == ("failed", 1)
    assert [states[e] for e in event_ids[1:]] == [("received", 0)] * 3


def test_a_batch_of_one_applies_only_its_own_event(make_app, settings, monkeypatch):
    app = make_app(settings.with_overrides(event_batch=1))
    monkeypatch.setattr(tasks, "_app", app)
    event_ids = _store_paid(app, _orders(app, 3))
    assert process_event(event_ids[0]) == "fulfilled"
    assert _fulfilled(app) == 1 and len(_queued(app)) == 3


def test_jobs_taken_by_a_worker_that_died_before_committing_are_relayed(make_app, settings, monkeypatch):
    """The window between taking jobs off the queue and committing: the events are unprocessed and their jobs
    gone, and the relay puts them back once the queue has moved past them."""
    from app.queues import take_queued_events
    from app.queues.relay import relay_events

    app = make_app(settings.with_overrides(event_batch=5, relay_stale_after=0))
    monkeypatch.setattr(tasks, "_app", app)
    event_ids = _store_paid(app, _orders(app, 3))
    with app.app_context():
        assert take_queued_events(event_ids[1:]) == event_ids[1:]  # ... and the taker is killed here
        queue = get_queue(EVENTS)
        assert relay_events() == 0  # the head (the first job) entered before them: they may still be behind it
        queue.connection.lpop(queue.key)  # a worker pops the first job and applies it
    assert process_event(event_ids[0]) == "fulfilled"  # alone: the others' jobs are not on the queue
    assert _fulfilled(app) == 1
    with app.app_context():
        assert relay_events() == 2
    assert _queued(app) == [event_job_id(e) for e in event_ids[1:]]
    assert [process_event(e) for e in event_ids[1:]] == ["fulfilled", "skipped"]  # the first took the second
    assert _fulfilled(app) == 3
