"""Statistics read from Redis and the database at the moment they are asked for: queue depths and ages, stored
events by status, orders by state, units held by unpaid orders, disputes by status and the time left to answer
one, authorisations waiting for capture by age. /metrics serves them as gauges; the admin dashboard shows them too."""
from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from app.models import CspReport, Dispute, DisputeStatus, EventStatus, Order, OrderState, StripeEvent, db, utcnow
from app.orders.holds import units_held
from app.queues import QUEUES, get_queue

__all__ = ["Snapshot", "collect_snapshot", "queue_stats", "event_stats"]
PENDING_EVENTS = (EventStatus.RECEIVED.value, EventStatus.QUEUED.value, EventStatus.FAILED.value)


class Snapshot:
    """A collector that hands prometheus_client the gauges read at this scrape."""

    def __init__(self, families):
        self.families = families

    def collect(self):
        return self.families


def collect_snapshot() -> list[GaugeMetricFamily]:
    """Gauges read from Redis and the database now; a source that fails is reported in shop_scrape_errors."""
    errors = GaugeMetricFamily("shop_scrape_errors", "1 if a source could not be read at scrape time",
                               labels=["source"])
    families = []
    for source, read in (("redis", _queue_gauges), ("database", _database_gauges)):
        try:
            families += read()
            errors.add_metric([source], 0)
        except Exception:  # the scrape still answers with what it could read
            db.session.rollback()
            errors.add_metric([source], 1)
    return families + [errors]


def queue_stats() -> dict[str, dict]:
    """Per queue: depth, age of the oldest waiting job (s), failed jobs. Raises if Redis is unreachable."""
    from rq.job import Job

    stats = {}
    for name in QUEUES:
        queue = get_queue(name)
        oldest = 0.0
        first = queue.get_job_ids(0, 0)
        if first:
            job = Job.fetch(first[0], connection=queue.connection)
            if job.enqueued_at:
                oldest = max(0.0, (utcnow() - _aware(job.enqueued_at)).total_seconds())
        stats[name] = {"depth": queue.count, "oldest_age": oldest, "failed": queue.failed_job_registry.count}
    return stats


def event_stats() -> dict:
    """Stored events by status, and the age (s) of the oldest one still waiting to be processed."""
    by_status = dict(db.session.execute(select(StripeEvent.status, func.count()).group_by(StripeEvent.status)).all())
    oldest = db.session.scalar(select(func.min(StripeEvent.received_at))
                               .where(StripeEvent.status.in_(PENDING_EVENTS)))
    age = (utcnow() - _aware(oldest)).total_seconds() if oldest else 0.0
    return {"by_status": by_status, "oldest_pending_age": age}


def _queue_gauges():
    depth = GaugeMetricFamily("shop_queue_depth", "Jobs waiting on each RQ queue", labels=["queue"])
    oldest = GaugeMetricFamily("shop_queue_oldest_job_age_seconds", "Age of the oldest waiting job",
                               labels=["queue"])
    failed = GaugeMetricFamily("shop_failed_jobs", "Jobs in each queue's failed-job registry", labels=["queue"])
    for name, stats in queue_stats().items():
        depth.add_metric([name], stats["depth"])
        oldest.add_metric([name], stats["oldest_age"])
        failed.add_metric([name], stats["failed"])
    return [depth, oldest, failed]


def _database_gauges():
    orders = GaugeMetricFamily("shop_orders", "Orders by state", labels=["state"])
    for state, count in db.session.execute(select(Order.state, func.count()).group_by(Order.state)).all():
        orders.add_metric([state], count)
    events = event_stats()
    by_status = GaugeMetricFamily("shop_events", "Stored Stripe events by status", labels=["status"])
    for status in EventStatus:
        by_status.add_metric([status.value], events["by_status"].get(status.value, 0))
    pending_age = GaugeMetricFamily("shop_event_oldest_pending_age_seconds",
                                    "Age of the oldest stored event not yet processed",
                                    value=events["oldest_pending_age"])
    csp = GaugeMetricFamily("shop_csp_reports_stored", "CSP violation reports stored (deduplicated, with repeats)",
                            value=db.session.scalar(select(func.coalesce(func.sum(CspReport.count), 0))))
    held = GaugeMetricFamily("shop_stock_units_held", "Units of stock held by unpaid orders", value=units_held())
    payment_kinds = GaugeMetricFamily("shop_csp_payment_page_kinds", "Kinds of CSP violation stored for payment pages",
                                      value=db.session.scalar(select(func.count()).select_from(CspReport)
                                                              .where(CspReport.payment_page.is_(True))))
    disputes, due = _dispute_gauges()
    authorisations = _authorisation_gauges()
    db.session.rollback()
    return [orders, by_status, pending_age, csp, held, payment_kinds, disputes] + due + authorisations


def _dispute_gauges():
    """Disputes by status, and the time left to respond to the one needing a response soonest."""
    disputes = GaugeMetricFamily("shop_disputes", "Disputes by status", labels=["status"])
    counts = dict(db.session.execute(select(Dispute.status, func.count()).group_by(Dispute.status)).all())
    for status in DisputeStatus:
        disputes.add_metric([status.value], counts.get(status.value, 0))
    soonest = db.session.scalar(select(func.min(Dispute.evidence_due_by)).where(
        Dispute.status == DisputeStatus.NEEDS_RESPONSE.value))
    due = GaugeMetricFamily("shop_dispute_response_due_seconds",
                            "Seconds left to respond to the dispute due soonest (negative: past due; no sample: none)")
    if soonest is not None:
        due.add_metric([], (_aware(soonest) - utcnow()).total_seconds())
    return disputes, [due]


AGE_DAYS = (("0-1d", 0, 1), ("1-3d", 1, 3), ("3-5d", 3, 5), ("5-6d", 5, 6), ("6-7d", 6, 7), ("7d+", 7, None))


def _authorisation_gauges():
    """Authorisations waiting for capture by age, and the oldest one's age: Stripe releases one after 7 days."""
    by_age = GaugeMetricFamily("shop_authorisations", "Authorised orders not yet captured or voided, by age",
                               labels=["age"])
    now = utcnow()
    times = [_aware(at) for at in db.session.scalars(select(Order.authorised_at).where(
        Order.state == OrderState.AUTHORISED.value, Order.authorised_at.is_not(None)))]
    ages = [(now - at).total_seconds() / 86400 for at in times]
    for label, low, high in AGE_DAYS:
        by_age.add_metric([label], sum(1 for age in ages if age >= low and (high is None or age < high)))
    oldest = GaugeMetricFamily("shop_authorisation_oldest_age_seconds",
                               "Age of the oldest authorisation waiting for capture (0: none)",
                               value=max(ages, default=0) * 86400)
    return [by_age, oldest]


def _aware(moment):
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
