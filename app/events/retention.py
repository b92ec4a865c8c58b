"""Stored Stripe event payloads are pruned after EVENT_PAYLOAD_RETENTION_DAYS (a periodic job, app/tasks.py).

Only events that are done (processed or ignored) lose their payload: a failed or parked event keeps it until a
person has replayed it. The row stays (id, type, object id, status, attempts, errors and every timestamp), so
the event stays known: a webhook redelivery or reconcile never stores it again, and `shop replay` says the
payload was pruned instead of applying an empty event.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from app.db.write_turns import write_turn
from app.models import EventStatus, StripeEvent, db, utcnow
from app.telemetry import metrics

__all__ = ["PRUNED_PAYLOAD", "prune_event_payloads"]

log = logging.getLogger(__name__)
PRUNED_PAYLOAD = "{}"
BATCH = 500  # rows per transaction: short write locks while a backlog of old events is pruned
DONE = (EventStatus.PROCESSED.value, EventStatus.IGNORED.value)


def prune_event_payloads(retention_days: int, now=None) -> int:
    """Empty the payloads of done events received more than `retention_days` ago (0: keep them forever).
    Returns how many were pruned."""
    if retention_days <= 0:
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    pruned = 0
    while True:
        with write_turn(db.engine):
            ids = db.session.scalars(select(StripeEvent.id).where(
                StripeEvent.received_at < cutoff, StripeEvent.payload_pruned_at.is_(None),
                StripeEvent.status.in_(DONE)).order_by(StripeEvent.id).limit(BATCH)).all()
            if ids:
                db.session.execute(update(StripeEvent).where(
                    StripeEvent.id.in_(ids), StripeEvent.status.in_(DONE)).values(
                    payload=PRUNED_PAYLOAD, payload_pruned_at=now))
            db.session.commit()
        pruned += len(ids)
        if len(ids) < BATCH:
            break
    if pruned:
        metrics.EVENT_PAYLOADS_PRUNED.inc(pruned)
        log.info("event payloads pruned count=%d retention_days=%d", pruned, retention_days)
    return pruned
