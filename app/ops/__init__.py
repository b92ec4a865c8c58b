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
from sqlalchemy import text

from app.models import db
from app.ops.stats import Snapshot, collect_snapshot
from app.payments import get_gateway
from app.queues import redis_connection
from app.telemetry import metrics as m

bp = Blueprint("ops", __name__)


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
    scraped.register(Snapshot(collect_snapshot()))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the prometheus client's own switch
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes)
    else:
        processes = REGISTRY
    return Response(generate_latest(processes) + generate_latest(scraped), mimetype=CONTENT_TYPE_LATEST)


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


def init_app(app) -> None:
    app.register_blueprint(bp)
