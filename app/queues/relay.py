"""The relay: stored work that never reached a queue (Redis was down, a worker died holding its job) is put back
on the queues once it is stale. Run by app/tasks.py `relay` and `shop relay`."""
from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import func, select, update

from app.models import EventStatus, StripeEvent, db, utcnow
from app.queues import EVENTS, MAIL, enqueue_events, enqueue_receipts, event_job_id, receipt_job_id, redis_connection

__all__ = ["relay_events", "relay_outbox", "relay_refunds", "relay_settlements", "relay_tax", "jobs_alive"]

log = logging.getLogger(__name__)


def _stale_after() -> timedelta:
    return timedelta(seconds=current_app.config["SETTINGS"].relay_stale_after)


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
        alive = jobs_alive(EVENTS, [event_job_id(event_id) for event_id, _ in rows])
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
                           .values(status=EventStatus.QUEUED.value if status == EventStatus.RECEIVED
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
    from app.mail.outbox import sendable
    from app.models import OutboxEmail

    if not current_app.config["SETTINGS"].mail_url:
        return 0
    now = utcnow()
    ids = db.session.scalars(select(OutboxEmail.id).where(
        *sendable(now), OutboxEmail.created_at < now - _stale_after()).order_by(OutboxEmail.id).limit(limit)).all()
    db.session.rollback()
    try:
        alive = jobs_alive(MAIL, [receipt_job_id(outbox_id) for outbox_id in ids])
    except RedisError as error:
        log.warning("relay cannot reach Redis: %s", error)
        return 0
    lost = [outbox_id for outbox_id, job_alive in zip(ids, alive) if not job_alive]
    if not enqueue_receipts(lost):
        return 0
    if lost:
        log.info("relay enqueued %d receipts", len(lost))
    return len(lost)


def relay_refunds(limit: int = 200) -> int:
    """Enqueue refunds still `requested` (Stripe never answered) a while after their last try whose retry job
    is lost or ran out of retries: a worker sends each again with its stored key (app/tasks.py `send_refund`)."""
    from app.models import Refund, RefundStatus
    from app.queues import PAYMENTS, enqueue_refund, refund_job_id

    ids = db.session.scalars(select(Refund.id).where(
        Refund.status == RefundStatus.REQUESTED.value, Refund.updated_at < utcnow() - _stale_after(),
    ).order_by(Refund.id).limit(limit)).all()
    db.session.rollback()
    try:
        alive = jobs_alive(PAYMENTS, [refund_job_id(refund_id) for refund_id in ids])
    except RedisError as error:
        log.warning("relay cannot reach Redis: %s", error)
        return 0
    lost = [refund_id for refund_id, job_alive in zip(ids, alive) if not job_alive]
    lost = [refund_id for refund_id in lost if enqueue_refund(refund_id)]
    if lost:
        log.info("relay enqueued %d refunds", len(lost))
    return len(lost)


def relay_settlements(limit: int = 200) -> int:
    """Enqueue captures and voids still `requested` a while after their last try whose retry job is lost or ran
    out of retries (app/tasks.py `send_settlement`)."""
    from app.models import Settlement, SettlementStatus
    from app.queues import PAYMENTS, enqueue_settlement, settlement_job_id

    ids = db.session.scalars(select(Settlement.id).where(
        Settlement.status == SettlementStatus.REQUESTED.value, Settlement.updated_at < utcnow() - _stale_after(),
    ).order_by(Settlement.id).limit(limit)).all()
    db.session.rollback()
    try:
        alive = jobs_alive(PAYMENTS, [settlement_job_id(settlement_id) for settlement_id in ids])
    except RedisError as error:
        log.warning("relay cannot reach Redis: %s", error)
        return 0
    lost = [settlement_id for settlement_id, job_alive in zip(ids, alive) if not job_alive]
    lost = [settlement_id for settlement_id in lost if enqueue_settlement(settlement_id)]
    if lost:
        log.info("relay enqueued %d settlements", len(lost))
    return len(lost)


def relay_tax(limit: int = 200) -> int:
    """Enqueue the Stripe Tax work still undone a while after it was due whose job is lost or ran out of retries:
    paid orders with a calculation and no transaction, and succeeded refunds of such orders with no reversal
    (app/events/tax.py). Work Stripe refused (`tax_error`) waits for a person."""
    from app.models import Order, Refund, RefundStatus
    from app.queues import (PAYMENTS, enqueue_tax_reversal, enqueue_tax_transaction, tax_reversal_job_id,
                            tax_transaction_job_id)

    stale = utcnow() - _stale_after()
    order_ids = db.session.scalars(select(Order.id).where(
        Order.tax_calculation_id.is_not(None), Order.tax_transaction_id.is_(None), Order.tax_error.is_(None),
        Order.paid_at < stale).order_by(Order.id).limit(limit)).all()
    refund_ids = db.session.scalars(select(Refund.id).join(Order, Order.id == Refund.order_id).where(
        Refund.status == RefundStatus.SUCCEEDED.value, Refund.tax_reversal_id.is_(None), Refund.tax_error.is_(None),
        Order.tax_calculation_id.is_not(None), Refund.updated_at < stale).order_by(Refund.id).limit(limit)).all()
    db.session.rollback()
    try:
        orders_alive = jobs_alive(PAYMENTS, [tax_transaction_job_id(order_id) for order_id in order_ids])
        refunds_alive = jobs_alive(PAYMENTS, [tax_reversal_job_id(refund_id) for refund_id in refund_ids])
    except RedisError as error:
        log.warning("relay cannot reach Redis: %s", error)
        return 0
    lost = [order_id for order_id, alive in zip(order_ids, orders_alive) if not alive]
    lost = [order_id for order_id in lost if enqueue_tax_transaction(order_id)]
    lost_refunds = [refund_id for refund_id, alive in zip(refund_ids, refunds_alive) if not alive]
    lost_refunds = [refund_id for refund_id in lost_refunds if enqueue_tax_reversal(refund_id)]
    if lost or lost_refunds:
        log.info("relay enqueued %d tax transactions and %d tax reversals", len(lost), len(lost_refunds))
    return len(lost) + len(lost_refunds)
