"""RQ queues on the app's Redis, and the relay that puts stored-but-unqueued events on them."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job, JobStatus
from sqlalchemy import func, or_, select, update

from .models import EventStatus, StripeEvent, db, utcnow

__all__ = ["EVENTS", "MAIL", "MAINTENANCE", "PAYMENTS", "QUEUES", "redis_connection", "get_queue", "enqueue_event",
           "enqueue_events", "enqueue_receipts",
           "enqueue_outcome_check", "take_queued_events", "forget_jobs", "relay_events",
           "relay_outbox", "jobs_alive"]

log = logging.getLogger(__name__)
EVENTS, MAIL, MAINTENANCE, PAYMENTS = "events", "mail", "maintenance", "payments"
QUEUES = (PAYMENTS, EVENTS, MAIL, MAINTENANCE)
# Asking Stripe what became of a payment: soon at first (a slow confirm ends in seconds), then less often.
OUTCOME_CHECKS = Retry(max=14, interval=[1, 1, 2, 2, 3, 3, 5, 5, 10, 10, 15, 15, 30, 30])


def _stale_after() -> timedelta:
    return timedelta(seconds=current_app.config["SETTINGS"].relay_stale_after)


def redis_connection(app=None) -> Redis:
    app = app or current_app
    connection = app.extensions.get("redis")
    if connection is None:
        url = app.config["SETTINGS"].redis_url or "redis://127.0.0.1:6379/0"
        connection = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2, health_check_interval=30)
        app.extensions["redis"] = connection
    return connection


def get_queue(name: str, app=None) -> Queue:
    return Queue(name, connection=redis_connection(app))


def retry_policy(app=None) -> Retry:
    retries = (app or current_app).config["SETTINGS"].job_retries
    return Retry(max=retries, interval=[1, 2, 4, 8, 16, 32][:retries])


def enqueue_event(event_id: str, request_id: str | None = None) -> bool:
    """Put `process_event(event_id)` on the events queue. False (logged) if Redis is unreachable."""
    return enqueue_events([(event_id, request_id)])


def enqueue_events(events: list[tuple[str, str | None]]) -> bool:
    """Put `process_event(event_id)` on the events queue for each (event id, request id), in one round trip.
    False (logged) if Redis is unreachable."""
    if not events:
        return True
    try:
        queue = get_queue(EVENTS)
        retry = retry_policy()
        queue.enqueue_many([Queue.prepare_data(
            "app.fulfilment.process_event", (event_id,), job_id=f"event-{event_id}", retry=retry,
            meta={"request_id": request_id}, result_ttl=300, failure_ttl=7 * 24 * 3600)
            for event_id, request_id in events])
        return True
    except RedisError as error:
        log.warning("enqueue failed events=%d first=%s error=%s; the relay will retry", len(events), events[0][0],
                    error)
        return False


def enqueue_receipts(outbox_ids: list[int]) -> bool:
    """Put `send_receipt(outbox_id)` on the mail queue for each outbox row, in one round trip. False (logged) if
    Redis is unreachable: the rows stay unsent and the relay enqueues them later."""
    if not outbox_ids:
        return True
    try:
        retry = retry_policy()
        get_queue(MAIL).enqueue_many([Queue.prepare_data(
            "app.fulfilment.send_receipt", (outbox_id,), job_id=f"receipt-{outbox_id}", retry=retry)
            for outbox_id in outbox_ids])
        return True
    except RedisError as error:
        log.warning("receipt enqueue failed receipts=%d first=%s error=%s; the relay will retry", len(outbox_ids),
                    outbox_ids[0], error)
        return False


def enqueue_outcome_check(attempt_id: int) -> bool:
    """Put `find_outcome(attempt_id)` on the payments queue at once. False (logged) if Redis is unreachable: the
    webhook and reconcile still bring Stripe's answer, only later."""
    try:
        get_queue(PAYMENTS).enqueue("app.jobs.find_outcome", attempt_id, job_id=f"outcome-{attempt_id}",
                                    retry=OUTCOME_CHECKS, result_ttl=300, failure_ttl=7 * 24 * 3600)
        return True
    except RedisError as error:
        log.warning("outcome check enqueue failed attempt=%s error=%s", attempt_id, error)
        return False


def take_queued_events(event_ids: list[str]) -> list[str]:
    """Take these events' jobs off the events queue, in one round trip, for a worker that applies the events
    itself. Returns the ids whose job it took; a job a worker has popped already is left to that worker (and
    an event with no job at all to the relay). The jobs' records stay until `forget_jobs`. If the taker dies
    before it commits, the relay finds the events unprocessed with no job queued and enqueues them again."""
    try:
        key = get_queue(EVENTS).key
        with redis_connection().pipeline(transaction=False) as pipeline:
            for event_id in event_ids:
                pipeline.lrem(key, 1, f"event-{event_id}")
            return [event_id for event_id, removed in zip(event_ids, pipeline.execute()) if removed]
    except RedisError as error:
        log.info("could not take %d events' jobs: %s", len(event_ids), error)
        return []


def forget_jobs(event_ids: list[str]) -> None:
    """Delete the records of jobs taken off the queue (`take_queued_events`) once their events are applied."""
    try:
        redis_connection().delete(*[Job.key_for(f"event-{event_id}") for event_id in event_ids])
    except RedisError as error:  # left behind, harmless: nothing runs or relays a job its queue no longer holds
        log.info("could not delete %d taken jobs: %s", len(event_ids), error)


def relay_events(limit: int = 500) -> int:
    """Enqueue events still unprocessed a while after they were stored (or last relayed): their job never
    reached Redis, or was lost with it or with a worker. The webhook itself writes nothing after enqueueing (one
    commit per delivery), so "received" means "stored, maybe queued"."""
    stale = utcnow() - _stale_after()
    pending = [EventStatus.RECEIVED.value, EventStatus.QUEUED.value, EventStatus.FAILED.value]
    rows = db.session.execute(
        select(StripeEvent.id, StripeEvent.status).where(
            StripeEvent.status.in_(pending),
            func.coalesce(StripeEvent.enqueued_at, StripeEvent.received_at) < stale,
        ).order_by(StripeEvent.received_at).limit(limit)).all()
    db.session.rollback()  # end the read before talking to Redis
    try:
        alive = jobs_alive(EVENTS, [f"event-{event_id}" for event_id, _ in rows])
    except RedisError as error:
        log.warning("relay cannot reach Redis: %s", error)
        return 0
    # a job still alive is only slow (a backlog, a retry waiting its turn): enqueueing it again would add work
    enqueued = [(event_id, status) for (event_id, status), job_alive in zip(rows, alive) if not job_alive]
    if not enqueue_events([(event_id, None) for event_id, _ in enqueued]):
        enqueued = []
    # One short write at the end (never a write lock held across Redis calls), and only for rows still as
    # read: a worker may have processed one meanwhile (no lost update).
    for event_id, status in enqueued:
        db.session.execute(update(StripeEvent).where(StripeEvent.id == event_id, StripeEvent.status == status)
                           .values(status=EventStatus.QUEUED.value if status == EventStatus.RECEIVED.value
                                   else status, enqueued_at=utcnow()))
    db.session.commit()
    if enqueued:
        log.info("relay enqueued %d events", len(enqueued))
    return len(enqueued)


def jobs_alive(queue_name: str, job_ids: list[str]) -> list[bool]:
    """Whether each job is still on its way rather than lost, in at most four round trips whatever the count.

    RQ alone can lose a job for good or for a long time when a worker dies (SIGKILL, OOM, a lost machine):
    - "queued" but no longer in its queue: a worker listening on several queues pops the id (BLPOP) and marks
      it started a moment later; killed in between, the job is gone and nothing in RQ brings it back. Jobs
      leave a queue in the order they entered it (nothing here enqueues at the front), so a queued job that
      entered before the job now at the head was popped and never started. (A worker applying a batch takes
      waiting jobs out of the middle of the queue; if it dies before committing, its taken jobs look queued
      until the head has moved past them, and the relay enqueues them then.)
    - "started" long ago: its worker died mid-job (a job takes milliseconds); RQ notices after minutes.
    - "scheduled" (a retry) well past its time: the worker holding RQ's scheduler lock died, and no other
      takes the lock over before its own maintenance, minutes later.
    A job re-enqueued by mistake only costs a no-op run: the database, not RQ, makes work happen once."""
    if not job_ids:
        return []
    connection = redis_connection()
    queue = Queue(queue_name, connection=connection)
    window = _stale_after()
    head_ids = connection.lrange(queue.key, 0, 0)  # read before the jobs (see above)
    head = Job.fetch_many([head_ids[0].decode()], connection=connection)[0] if head_ids else None
    jobs = Job.fetch_many(job_ids, connection=connection)
    scheduled = [job.id for job in jobs if job is not None and job.get_status(refresh=False) == JobStatus.SCHEDULED]
    with connection.pipeline(transaction=False) as pipeline:
        for job_id in scheduled:
            pipeline.zscore(queue.scheduled_job_registry.key, job_id)
        due_at = dict(zip(scheduled, pipeline.execute()))
    now = utcnow()

    def alive(job) -> bool:
        if job is None:
            return False
        status = job.get_status(refresh=False)
        if status == JobStatus.QUEUED:
            return head is not None and head.enqueued_at is not None and job.enqueued_at is not None and (
                job.enqueued_at >= head.enqueued_at)
        if status == JobStatus.STARTED:
            return job.started_at is not None and job.started_at > now - window
        if status == JobStatus.SCHEDULED:
            due = due_at.get(job.id)
            return due is not None and due > (now - window).timestamp()
        return status == JobStatus.DEFERRED

    return [alive(job) for job in jobs]


def relay_outbox(limit: int = 200) -> int:
    """Enqueue receipts still unsent a while after they were written whose job is lost (see `jobs_alive`) and
    whose last claim has run out (a claim still held is a sender at work)."""
    from .mail import CLAIM_LEASE
    from .models import OutboxEmail

    if not current_app.config["SETTINGS"].mail_url:
        return 0
    now = utcnow()
    ids = db.session.scalars(select(OutboxEmail.id).where(
        OutboxEmail.sent_at.is_(None), OutboxEmail.created_at < now - _stale_after(),
        or_(OutboxEmail.claimed_at.is_(None), OutboxEmail.claimed_at < now - CLAIM_LEASE),
    ).order_by(OutboxEmail.id).limit(limit)).all()
    db.session.rollback()
    try:
        alive = jobs_alive(MAIL, [f"receipt-{outbox_id}" for outbox_id in ids])
    except RedisError as error:
        log.warning("relay cannot reach Redis: %s", error)
        return 0
    lost = [outbox_id for outbox_id, job_alive in zip(ids, alive) if not job_alive]
    if not enqueue_receipts(lost):
        return 0
    if lost:
        log.info("relay enqueued %d receipts", len(lost))
    return len(lost)
