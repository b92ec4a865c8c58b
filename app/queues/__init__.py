"""RQ queues on the app's Redis: the connection, the queue names, and putting work on them (app/queues/relay.py
puts back what never reached them)."""
from __future__ import annotations

import logging

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job


__all__ = ["EVENTS", "MAIL", "MAINTENANCE", "PAYMENTS", "QUEUES", "event_job_id", "redis_connection", "get_queue",
           "enqueue_event", "enqueue_events", "enqueue_receipts", "enqueue_outcome_check", "enqueue_refund",
           "refund_job_id", "enqueue_settlement", "settlement_job_id", "enqueue_tax_transaction",
           "tax_transaction_job_id", "enqueue_tax_reversal", "tax_reversal_job_id", "take_queued_events", "forget_jobs",
           "receipt_job_id", "take_queued_receipts", "forget_receipt_jobs"]

log = logging.getLogger(__name__)
EVENTS, MAIL, MAINTENANCE, PAYMENTS = "events", "mail", "maintenance", "payments"
QUEUES = (PAYMENTS, EVENTS, MAIL, MAINTENANCE)
# Asking Stripe what became of a payment: soon at first (a slow confirm ends in seconds), then less often.
OUTCOME_CHECKS = Retry(max=14, interval=[1, 1, 2, 2, 3, 3, 5, 5, 10, 10, 15, 15, 30, 30])
# Sending a refund Stripe did not answer: soon at first, then every five minutes for about an hour and a half;
# after that the relay enqueues it again (app/queues/relay.py), so it is retried until Stripe answers.
REFUND_RETRIES = Retry(max=24, interval=[2, 5, 10, 30, 60, 120] + [300] * 18)
# Recording a paid order's tax or a refund's tax reversal with Stripe Tax: soon at first, then every five minutes
# for about half an hour; after that the relay enqueues it again (app/queues/relay.py `relay_tax`).
TAX_RETRIES = Retry(max=12, interval=[1, 2, 5, 10, 30, 60, 120] + [300] * 5)


def event_job_id(event_id: str) -> str:
    """The RQ job id of a stored event's job: one per event, so an event is never queued twice at once."""
    return f"event-{event_id}"


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
            "app.tasks.process_event", (event_id,), job_id=event_job_id(event_id), retry=retry,
            meta={"request_id": request_id}, result_ttl=300, failure_ttl=7 * 24 * 3600)
            for event_id, request_id in events])
        return True
    except RedisError as error:
        log.warning("enqueue failed events=%d first=%s error=%s; the relay will retry", len(events), events[0][0],
                    error)
        return False


def receipt_job_id(outbox_id: int) -> str:
    return f"receipt-{outbox_id}"


def enqueue_receipts(outbox_ids: list[int]) -> bool:
    """Put `send_receipt(outbox_id)` on the mail queue for each outbox row, in one round trip. False (logged) if
    Redis is unreachable: the rows stay unsent and the relay enqueues them later."""
    if not outbox_ids:
        return True
    try:
        retry = retry_policy()
        get_queue(MAIL).enqueue_many([Queue.prepare_data(
            "app.tasks.send_receipt", (outbox_id,), job_id=receipt_job_id(outbox_id), retry=retry)
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
        get_queue(PAYMENTS).enqueue("app.tasks.find_outcome", attempt_id, job_id=f"outcome-{attempt_id}",
                                    retry=OUTCOME_CHECKS, result_ttl=300, failure_ttl=7 * 24 * 3600)
        return True
    except RedisError as error:
        log.warning("outcome check enqueue failed attempt=%s error=%s", attempt_id, error)
        return False


def settlement_job_id(settlement_id: int) -> str:
    return f"settlement-{settlement_id}"


def enqueue_settlement(settlement_id: int) -> bool:
    """Put `send_settlement(settlement_id)` on the payments queue: a worker sends a capture or void again with its
    stored key until Stripe answers (the refunds' schedule). False (logged) if Redis is unreachable: the relay
    enqueues it later."""
    try:
        get_queue(PAYMENTS).enqueue("app.tasks.send_settlement", settlement_id,
                                    job_id=settlement_job_id(settlement_id), retry=REFUND_RETRIES, result_ttl=300,
                                    failure_ttl=7 * 24 * 3600)
        return True
    except RedisError as error:
        log.warning("settlement enqueue failed settlement=%s error=%s; the relay will retry", settlement_id, error)
        return False


def refund_job_id(refund_id: int) -> str:
    return f"refund-{refund_id}"


def enqueue_refund(refund_id: int) -> bool:
    """Put `send_refund(refund_id)` on the payments queue: a worker sends the refund again with its stored key
    until Stripe answers. False (logged) if Redis is unreachable: the relay enqueues it later."""
    try:
        get_queue(PAYMENTS).enqueue("app.tasks.send_refund", refund_id, job_id=refund_job_id(refund_id),
                                    retry=REFUND_RETRIES, result_ttl=300, failure_ttl=7 * 24 * 3600)
        return True
    except RedisError as error:
        log.warning("refund enqueue failed refund=%s error=%s; the relay will retry", refund_id, error)
        return False


def tax_transaction_job_id(order_id: int) -> str:
    return f"tax-transaction-{order_id}"


def enqueue_tax_transaction(order_id: int) -> bool:
    """Put `record_tax_transaction(order_id)` on the payments queue. False (logged) if Redis is unreachable: the
    relay enqueues it later."""
    return _enqueue_tax("app.tasks.record_tax_transaction", order_id, tax_transaction_job_id(order_id))


def tax_reversal_job_id(refund_id: int) -> str:
    return f"tax-reversal-{refund_id}"


def enqueue_tax_reversal(refund_id: int) -> bool:
    """Put `reverse_tax(refund_id)` on the payments queue. False (logged) if Redis is unreachable: the relay
    enqueues it later."""
    return _enqueue_tax("app.tasks.reverse_tax", refund_id, tax_reversal_job_id(refund_id))


def _enqueue_tax(function: str, row_id: int, job_id: str) -> bool:
    try:
        get_queue(PAYMENTS).enqueue(function, row_id, job_id=job_id, retry=TAX_RETRIES, result_ttl=300,
                                    failure_ttl=7 * 24 * 3600)
        return True
    except RedisError as error:
        log.warning("tax job enqueue failed job=%s error=%s; the relay will retry", job_id, error)
        return False


def take_queued_events(event_ids: list[str]) -> list[str]:
    """Take these events' jobs off the events queue, in one round trip, for a worker that applies the events
    itself. Returns the ids whose job it took; a job a worker has popped already is left to that worker (and
    an event with no job at all to the relay). The jobs' records stay until `forget_jobs`. If the taker dies
    before it commits, the relay finds the events unprocessed with no job queued and enqueues them again."""
    taken = set(_take_queued(EVENTS, [event_job_id(event_id) for event_id in event_ids]))
    return [event_id for event_id in event_ids if event_job_id(event_id) in taken]


def take_queued_receipts(outbox_ids: list[int]) -> list[int]:
    """As `take_queued_events`, for receipts a worker sends itself (app/mail/outbox.py `deliver_waiting`)."""
    taken = set(_take_queued(MAIL, [receipt_job_id(outbox_id) for outbox_id in outbox_ids]))
    return [outbox_id for outbox_id in outbox_ids if receipt_job_id(outbox_id) in taken]


def _take_queued(queue_name: str, job_ids: list[str]) -> list[str]:
    try:
        key = get_queue(queue_name).key
        with redis_connection().pipeline(transaction=False) as pipeline:
            for job_id in job_ids:
                pipeline.lrem(key, 1, job_id)
            return [job_id for job_id, removed in zip(job_ids, pipeline.execute()) if removed]
    except RedisError as error:
        log.info("could not take %d jobs off %s: %s", len(job_ids), queue_name, error)
        return []


def forget_jobs(event_ids: list[str]) -> None:
    """Delete the records of jobs taken off the queue (`take_queued_events`) once their events are applied."""
    _forget([event_job_id(event_id) for event_id in event_ids])


def forget_receipt_jobs(outbox_ids: list[int]) -> None:
    _forget([receipt_job_id(outbox_id) for outbox_id in outbox_ids])


def _forget(job_ids: list[str]) -> None:
    if not job_ids:
        return
    try:
        redis_connection().delete(*[Job.key_for(job_id) for job_id in job_ids])
    except RedisError as error:  # left behind, harmless: nothing runs or relays a job its queue no longer holds
        log.info("could not delete %d taken jobs: %s", len(job_ids), error)
