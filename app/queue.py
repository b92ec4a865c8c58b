"""RQ queues on the app's Redis, and the relay that puts stored-but-unqueued events on them."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job, JobStatus
from sqlalchemy import func, select, update

from .models import EventStatus, StripeEvent, db, utcnow

__all__ = ["EVENTS", "MAIL", "MAINTENANCE", "QUEUES", "redis_connection", "get_queue", "enqueue_event",
           "relay_events"]

log = logging.getLogger(__name__)
EVENTS, MAIL, MAINTENANCE = "events", "mail", "maintenance"
QUEUES = (EVENTS, MAIL, MAINTENANCE)


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
    try:
        queue = get_queue(EVENTS)
        with queue.connection.pipeline() as pipeline:  # one round trip (RQ alone makes two)
            queue.enqueue("app.fulfilment.process_event", event_id, job_id=f"event-{event_id}",
                          retry=retry_policy(), meta={"request_id": request_id}, result_ttl=300,
                          failure_ttl=7 * 24 * 3600, pipeline=pipeline)
            pipeline.execute()
        return True
    except RedisError as error:
        log.warning("enqueue failed event_id=%s error=%s; the relay will retry", event_id, error)
        return False


def relay_events(limit: int = 500) -> int:
    """Enqueue events still unprocessed a while after they were stored (or last relayed): their job never
    reached Redis, or was lost with it. The webhook itself writes nothing after enqueueing (one commit per
    delivery), so "received" means "stored, maybe queued"."""
    stale = utcnow() - _stale_after()
    pending = [EventStatus.RECEIVED.value, EventStatus.QUEUED.value, EventStatus.FAILED.value]
    rows = db.session.execute(
        select(StripeEvent.id, StripeEvent.status).where(
            StripeEvent.status.in_(pending),
            func.coalesce(StripeEvent.enqueued_at, StripeEvent.received_at) < stale,
        ).order_by(StripeEvent.received_at).limit(limit)).all()
    db.session.rollback()  # end the read before talking to Redis
    try:
        alive = _jobs_alive([f"event-{event_id}" for event_id, _ in rows])
    except RedisError as error:
        log.warning("relay cannot reach Redis: %s", error)
        return 0
    enqueued = []
    for (event_id, status), job_alive in zip(rows, alive):
        if job_alive:  # only slow (a backlog, a retry waiting its turn): enqueueing again would add work
            continue
        if not enqueue_event(event_id):
            break
        enqueued.append((event_id, status))
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


WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def _jobs_alive(job_ids: list[str]) -> list[bool]:
    """Whether each job is still on its way rather than lost: waiting in a queue or for a retry, or started
    recently. A job still "started" after the relay's staleness window lost its worker (a fulfilment takes
    milliseconds; a SIGKILLed worker leaves its job "started" until RQ's own cleanup, minutes later)."""
    started_since = utcnow() - _stale_after()

    def alive(job) -> bool:
        if job is None:
            return False
        status = job.get_status(refresh=False)
        if status == JobStatus.STARTED:
            return job.started_at is not None and job.started_at > started_since
        return status in WAITING

    return [alive(job) for job in Job.fetch_many(job_ids, connection=redis_connection())]


def relay_outbox(limit: int = 200) -> int:
    """Enqueue receipts that are still unsent a while after they were written."""
    from flask import current_app

    from .models import OutboxEmail

    if not current_app.config["SETTINGS"].mail_url:
        return 0
    stale = utcnow() - _stale_after()
    ids = db.session.scalars(select(OutboxEmail.id).where(OutboxEmail.sent_at.is_(None),
                                                          OutboxEmail.created_at < stale).limit(limit)).all()
    for outbox_id in ids:
        try:
            get_queue(MAIL).enqueue("app.fulfilment.send_receipt", outbox_id, job_id=f"receipt-{outbox_id}",
                                    retry=retry_policy())
        except RedisError:
            return 0
    return len(ids)
