"""The webhook endpoint with a real database and a real Redis: store once, enqueue, process once."""

from rq import SimpleWorker
from sqlalchemy import func, select

from app.models import Order, OrderLine, OrderState, OutboxEmail, Product, StripeEvent, db
from app.queues import QUEUES
from tests.support.events import event_payload, sign


def _pending_order(app, email="shopper@example.com", attempt_id="c" * 32):
    with app.app_context():
        product = db.session.get(Product, "burr-grinder")
        order = Order(attempt_id=attempt_id, amount=product.price, currency="usd", email=email,
                      lines=[OrderLine(product_id=product.id, name=product.name, unit_price=product.price,
                                       quantity=1)])
        db.session.add(order)
        db.session.commit()
        return order.public_id


def _succeeded(public_id, amount=8900, pi="pi_test_1", event_id=None):
    return event_payload("payment_intent.succeeded",
                         {"id": pi, "object": "payment_intent", "amount": amount, "currency": "usd",
                          "status": "succeeded", "metadata": {"order_id": public_id}}, event_id=event_id)


def _post(client, body, header=None):
    return client.post("/webhooks/stripe", data=body, content_type="application/json",
                       headers={"Stripe-Signature": header if header is not None else sign(body)})


def _drain(app, redis):
    SimpleWorker(list(QUEUES), connection=redis).work(burst=True)


def test_a_signed_event_delivered_twice_is_stored_once_and_fulfils_the_order_once(app, client, redis):
    public_id = _pending_order(app)
    body = _succeeded(public_id, event_id="evt_dup_1")
    first, second = _post(client, body), _post(client, body)
    assert first.status_code == second.status_code == 200
    assert second.json["duplicate"] is True
    _drain(app, redis)
    _post(client, body)
    _drain(app, redis)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 1
        event = db.session.get(StripeEvent, "evt_dup_1")
        assert (event.status, event.duplicates) == ("processed", 2)
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        assert order.state == OrderState.FULFILLED.value
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1


def test_a_second_event_object_for_the_same_change_is_a_no_op(app, client, redis):
    public_id = _pending_order(app)
    _post(client, _succeeded(public_id, event_id="evt_a"))
    _post(client, _succeeded(public_id, event_id="evt_b"))
    _drain(app, redis)
    with app.app_context():
        statuses = {e.id: e.status for e in db.session.scalars(select(StripeEvent))}
        assert sorted(statuses.values()) == ["ignored", "processed"]
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 1


def test_forged_and_stale_signatures_get_400_and_store_nothing(app, client, redis):
    import time

    public_id = _pending_order(app)
    body = _succeeded(public_id)
    for header in (sign(body, "whsec_forged"), sign(body, timestamp=int(time.time()) - 3600), "", "t=1,v1=00"):
        response = _post(client, body, header)
        assert response.status_code == 400, header
        assert "invalid webhook" in response.json["error"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StripeEvent)) == 0
    assert redis.llen("rq:queue:events") == 0


def test_a_late_payment_failed_never_reverts_a_paid_order(app, client, redis):
    public_id = _pending_order(app)
    _post(client, _succeeded(public_id))
    _drain(app, redis)
    failed = event_payload("payment_intent.payment_failed",
                           {"id": "pi_test_1", "object": "payment_intent", "amount": 8900, "currency": "usd",
                            "metadata": {"order_id": public_id},
                            "last_payment_error": {"code": "card_declined", "decline_code": "generic_decline"}})
    assert _post(client, failed).status_code == 200
    _drain(app, redis)
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        assert order.state == "fulfilled"
        assert [(t.to_state, t.accepted) for t in order.history][-1] == ("payment_failed", False)


def test_unknown_event_types_are_stored_and_acknowledged(app, client, redis):
    from rq import Queue

    body = event_payload("customer.created", {"id": "cus_1", "object": "customer"}, event_id="evt_unknown")
    assert _post(client, body).status_code == 200
    assert Queue("events", connection=redis).count == 0  # nothing for a worker to do: no job
    with app.app_context():
        event = db.session.get(StripeEvent, "evt_unknown")
        assert event.status == "ignored" and event.processed_at is not None and event.payload == body
    assert _post(client, body).json["duplicate"] is True


def test_the_event_is_stored_and_acknowledged_while_redis_is_down(make_app, settings, redis):
    app = make_app(settings.with_overrides(redis_url="redis://127.0.0.1:9/0"))
    public_id = _pending_order(app)
    response = _post(app.test_client(), _succeeded(public_id, event_id="evt_no_redis"))
    assert response.status_code == 200
    with app.app_context():
        assert db.session.get(StripeEvent, "evt_no_redis").status == "received"


def test_an_event_the_database_cannot_take_gets_a_5xx_and_is_stored_when_sent_again(make_app, settings, redis):
    """Answered 2xx only once stored: with every pooled connection busy the delivery gets 503 (Stripe sends it
    again), nothing is half-written, and the same delivery sent again is stored and applied once."""
    app = make_app(settings.with_overrides(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.3))
    public_id = _pending_order(app)
    body = _succeeded(public_id, event_id="evt_database_busy")
    with app.app_context():
        held = db.engine.connect()  # the pool's one connection, taken
        try:
            refused = _post(app.test_client(), body)
        finally:
            held.close()
        assert db.session.get(StripeEvent, "evt_database_busy") is None
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert _post(app.test_client(), body).status_code == 200  # Stripe's next attempt
    _drain(app, redis)
    with app.app_context():
        assert db.session.get(StripeEvent, "evt_database_busy").status == "processed"
        assert db.session.scalar(select(Order.state).where(Order.public_id == public_id)) == OrderState.FULFILLED


def _age_events(app, seconds):
    from datetime import timedelta

    from rq.utils import now

    with app.app_context():
        db.session.execute(db.update(StripeEvent).values(received_at=now() - timedelta(seconds=seconds)))
        db.session.commit()


def _relay(app):
    from app.queues.relay import relay_events

    with app.app_context():
        return relay_events()


def test_the_relay_enqueues_what_redis_never_got_and_skips_what_is_still_queued(make_app, settings, redis):
    from rq import Queue

    app = make_app(settings.with_overrides(relay_stale_after=0))
    events = Queue("events", connection=redis)
    public_id = _pending_order(app)
    client = app.test_client()
    assert _post(client, _succeeded(public_id, event_id="evt_queued")).status_code == 200
    assert events.count == 1
    assert _relay(app) == 0  # its job is still waiting in the queue: not enqueued a second time
    assert events.count == 1
    redis.flushdb()  # Redis lost everything: the job is gone, the stored event is not
    assert _relay(app) == 1
    assert events.count == 1
    _drain(app, redis)
    with app.app_context():
        assert db.session.get(StripeEvent, "evt_queued").status == "processed"
        assert db.session.scalar(select(Order.state).where(Order.public_id == public_id)) == "fulfilled"
    assert _relay(app) == 0  # processed: nothing left to relay


def test_the_relay_enqueues_again_an_event_whose_worker_died_mid_job(make_app, settings, redis):
    from datetime import timedelta

    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.utils import now

    app = make_app(settings.with_overrides(relay_stale_after=5))
    public_id = _pending_order(app)
    assert _post(app.test_client(), _succeeded(public_id, event_id="evt_orphan")).status_code == 200
    events = Queue("events", connection=redis)
    job = Job.fetch(events.pop_job_id(), connection=redis)  # a worker took it...
    job.set_status(JobStatus.STARTED)
    job.started_at = now() - timedelta(seconds=2)
    job.save()
    _age_events(app, 60)  # ...and the event is older than the relay's window
    assert _relay(app) == 0  # started 2 s ago: still running as far as anyone can tell
    job.started_at = now() - timedelta(seconds=60)  # ...then SIGKILLed: "started" forever
    job.save()
    assert _relay(app) == 1
    _drain(app, redis)
    with app.app_context():
        assert db.session.get(StripeEvent, "evt_orphan").status == "processed"


def test_the_relay_enqueues_again_a_job_a_worker_popped_and_died_before_starting(make_app, settings, redis):
    from rq import Queue

    app = make_app(settings.with_overrides(relay_stale_after=5))
    client = app.test_client()
    first, second = _pending_order(app), _pending_order(app, attempt_id="e" * 32)
    assert _post(client, _succeeded(first, event_id="evt_popped", pi="pi_popped")).status_code == 200
    assert _post(client, _succeeded(second, event_id="evt_waiting", pi="pi_waiting")).status_code == 200
    _age_events(app, 60)
    assert _relay(app) == 0  # both jobs wait their turn in the queue
    events = Queue("events", connection=redis)
    assert events.pop_job_id() == "event-evt_popped"  # a worker's BLPOP took it, then SIGKILL: still "queued"
    assert _relay(app) == 1  # the popped one, not the one still waiting behind it
    assert events.job_ids == ["event-evt_waiting", "event-evt_popped"]
    assert _relay(app) == 0  # one relayed a moment ago (it gets a new window), one still waiting
    _drain(app, redis)
    with app.app_context():
        assert {e.status for e in db.session.scalars(select(StripeEvent))} == {"processed"}


def test_the_relay_enqueues_again_a_retry_whose_scheduler_died(make_app, settings, redis):
    from datetime import timedelta

    from rq import Queue
    from rq.job import Job
    from rq.utils import now

    app = make_app(settings.with_overrides(relay_stale_after=5))
    public_id = _pending_order(app)
    assert _post(app.test_client(), _succeeded(public_id, event_id="evt_retry")).status_code == 200
    events = Queue("events", connection=redis)
    job = Job.fetch(events.pop_job_id(), connection=redis)
    events.schedule_job(job, now() + timedelta(seconds=8))  # failed once; RQ's retry waits for its scheduler
    _age_events(app, 60)
    assert _relay(app) == 0  # due in 8 s: the scheduler will move it
    events.schedule_job(job, now() - timedelta(seconds=30))  # due 30 s ago: no scheduler holds the lock
    assert _relay(app) == 1
    _drain(app, redis)
    with app.app_context():
        assert db.session.get(StripeEvent, "evt_retry").status == "processed"


def test_the_receipt_relay_leaves_a_held_claim_alone_and_resends_a_lost_one(make_app, settings, redis):
    from datetime import timedelta

    from rq import Queue
    from rq.utils import now

    from app.queues.relay import relay_outbox

    app = make_app(settings.with_overrides(relay_stale_after=5, mail_url="smtp://127.0.0.1:9"))
    public_id = _pending_order(app)
    assert _post(app.test_client(), _succeeded(public_id, event_id="evt_mail")).status_code == 200
    SimpleWorker(["events"], connection=redis).work(burst=True)  # fulfilled: its receipt job waits on "mail"
    mail = Queue("mail", connection=redis)
    assert mail.count == 1
    with app.app_context():
        outbox = db.session.scalars(select(OutboxEmail)).one()
        outbox.created_at = now() - timedelta(seconds=60)
        db.session.commit()
        assert relay_outbox() == 0  # its job waits in the queue
        mail.pop_job_id()  # a sender took it, claimed the row, then died before marking it sent
        outbox.claimed_at = now() - timedelta(seconds=5)
        db.session.commit()
        assert relay_outbox() == 0  # the claim is still held
        outbox.claimed_at = now() - timedelta(seconds=25)
        db.session.commit()
        assert relay_outbox() == 1  # the claim ran out and the job is gone
        assert mail.job_ids == [f"receipt-{outbox.id}"]


def test_a_success_for_a_payment_intent_that_is_not_the_orders_own_is_refused(app, client, redis):
    public_id = _pending_order(app)
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        order.payment_intent_id = "pi_the_orders_own"
        db.session.commit()
    # signed, right amount, metadata naming the order: but another PaymentIntent paid it
    assert _post(client, _succeeded(public_id, pi="pi_someone_elses", event_id="evt_foreign")).status_code == 200
    _drain(app, redis)
    with app.app_context():
        order = db.session.scalars(select(Order).where(Order.public_id == public_id)).one()
        assert order.state == OrderState.PENDING
        assert [(t.to_state, t.accepted) for t in order.history] == [("paid", False)]
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0
