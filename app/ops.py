"""/healthz (the process is alive), /readyz (database, Redis, the Stripe breaker) and /metrics.

/readyz runs each check in its own thread with `Settings.health_timeout`: a hung database or Redis makes the
answer slow by that much at most, never hangs the load balancer's probe. The Stripe breaker is reported but
does not make the process unready: with Stripe down the catalog still sells and checkout says so at once.

/metrics serves the counters and histograms of every process (PROMETHEUS_MULTIPROC_DIR under gunicorn, see
gunicorn.conf.py) plus gauges computed at scrape time from Redis and the database (queue depth, oldest job,
failed jobs, orders by state, pending events), which are right whatever the number of processes.
"""
from __future__ import annotations

import hmac
import os
import threading
import time
from typing import Callable

from flask import Blueprint, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select, text

from . import metrics as m
from .models import CspReport, EventStatus, Order, StripeEvent, db, utcnow
from .payments import get_gateway
from .queue import QUEUES, get_queue, redis_connection

bp = Blueprint("ops", __name__)
PENDING_EVENTS = (EventStatus.RECEIVED.value, EventStatus.QUEUED.value, EventStatus.FAILED.value)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """200 when the database and Redis answer within the timeout; 503 naming what is down otherwise."""
    timeout = current_app.config["SETTINGS"].health_timeout
    engine, app = db.engine, current_app._get_current_object()
    checks = run_checks({"database": lambda: _ping_database(engine),
                         "redis": lambda: redis_connection(app).ping()}, timeout)
    breaker = get_gateway(current_app).breaker_state
    checks["stripe_breaker"] = breaker
    down = [name for name in ("database", "redis") if checks[name] != "ok"]
    body = {"status": "ok" if not down else "unavailable", "checks": checks, "down": down,
            "degraded": ["stripe_breaker"] if breaker != "closed" else []}
    return jsonify(body), (200 if not down else 503)


def run_checks(checks: dict[str, Callable[[], object]], timeout: float) -> dict[str, str]:
    """Run each check in a daemon thread; 'ok', 'error: <class>' or 'timeout' after `timeout` seconds."""
    results: dict[str, str] = {}

    def run(name, check):
        try:
            check()
            results[name] = "ok"
        except Exception as error:  # any driver error means "not ready"
            results[name] = f"error: {type(error).__name__}"

    threads = {name: threading.Thread(target=run, args=(name, check), daemon=True)
               for name, check in checks.items()}
    for thread in threads.values():
        thread.start()
    deadline = time.monotonic() + timeout
    for name, thread in threads.items():
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: results.get(name, "timeout") for name in checks}


def _ping_database(engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@bp.get("/metrics")
def metrics():
    token = current_app.config["SETTINGS"].metrics_token
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return jsonify(error="metrics need the bearer token"), 401, {"WWW-Authenticate": "Bearer"}
    scraped = CollectorRegistry(auto_describe=True)
    scraped.register(_Snapshot(collect_snapshot()))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # noqa: the prometheus client's own switch
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    return Response(generate_latest(processes) + generate_latest(scraped), mimetype=CONTENT_TYPE_LATEST)


class _Snapshot:
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
    db.session.rollback()
    return [orders, by_status, pending_age, csp]


def _aware(moment):
    from datetime import timezone

    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@bp.before_app_request
def _start_timer():
    g.request_started = time.perf_counter()


@bp.after_app_request
def _count_response(response):
    started = g.pop("request_started", None)
    route = request.url_rule.rule if request.url_rule else "unmatched"
    m.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    if started is not None:
        m.HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
    return response
