"""What a person does to stuck work: replay a stored event, list and retry failed RQ jobs.

Used by `shop replay` and the admin pages alike, so both do exactly the same thing. Replaying is safe by
construction: a processed event stays a no-op (app/events/ claims the row and skips done events). An event whose
payload the retention period pruned (app/events/retention.py) was done long ago: replaying it is refused with
that reason, since there is nothing left to apply.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from flask import g, has_request_context
from redis.exceptions import RedisError
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job

from app.telemetry import metrics
from app.models import EventStatus, StripeEvent, db
from app.queues import EVENTS, QUEUES, enqueue_event, event_job_id, get_queue

__all__ = ["ReplayError", "replay_event", "FailedJob", "failed_jobs", "retry_job"]

log = logging.getLogger(__name__)
REPLAYABLE = (EventStatus.PARKED.value, EventStatus.FAILED.value)


class ReplayError(Exception):
    pass


def replay_event(event_id: str, inline: bool = False) -> str:
    """Reset a parked or failed event and process it again (enqueued, or now in this process if `inline`)."""
    from app.events.apply import apply_event

    event = db.session.get(StripeEvent, event_id)
    if event is None:
        raise ReplayError(f"no stored event {event_id}")
    if event.payload_pruned_at is not None:
        raise ReplayError(f"event {event_id} ({event.type}) was {event.status}; its payload was pruned on "
                          f"{event.payload_pruned_at:%Y-%m-%d} after the retention period: nothing to replay")
    if event.status in REPLAYABLE:
        event.status = EventStatus.RECEIVED.value
        event.attempts = 0
        db.session.commit()
    metrics.EVENT_REPLAYS.inc()
    log.info("event replay requested event_id=%s inline=%s", event_id, inline)
    if inline:
        return apply_event(event_id)
    get_queue(EVENTS).remove(event_job_id(event_id))  # a finished job with this id would block a new one
    _delete_job(event_job_id(event_id))
    if not enqueue_event(event_id, request_id=g.get("request_id") if has_request_context() else None):
        raise ReplayError("Redis is unreachable; replay it in this process instead (shop replay --now)")
    return f"enqueued {event_id}"


@dataclass
class FailedJob:
    id: str
    queue: str
    function: str
    args: str
    error: str
    ended_at: datetime | None


def failed_jobs(limit: int = 100) -> list[FailedJob]:
    """Jobs whose retries are exhausted, newest last, from every queue's failed-job registry."""
    found = []
    for name in QUEUES:
        queue = get_queue(name)
        for job_id in queue.failed_job_registry.get_job_ids(0, limit - 1):
            try:
                job = Job.fetch(job_id, connection=queue.connection)
            except NoSuchJobError:
                continue
            result = job.latest_result()
            error = ((result.exc_string if result else "") or "").strip().splitlines()
            found.append(FailedJob(job.id, name, job.func_name, ", ".join(map(repr, job.args))[:200],
                                   error[-1][:500] if error else "", job.ended_at))
    return found


def retry_job(queue_name: str, job_id: str) -> None:
    """Put a failed job back on its queue (RQ's own requeue). Raises ReplayError if it is not there."""
    if queue_name not in QUEUES:
        raise ReplayError(f"unknown queue {queue_name}")
    registry = get_queue(queue_name).failed_job_registry
    try:
        registry.requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation) as error:
        raise ReplayError(f"job {job_id} is not in the failed registry of {queue_name}") from error
    metrics.JOB_RETRIES.labels(queue_name).inc()
    log.info("failed job requeued job_id=%s queue=%s", job_id, queue_name)


def _delete_job(job_id: str) -> None:
    try:
        Job.fetch(job_id, connection=get_queue(EVENTS).connection).delete()
    except (NoSuchJobError, RedisError):
        pass

