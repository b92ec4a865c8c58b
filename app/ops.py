"""/healthz (the process is alive), /readyz (database, Redis, the Stripe breaker) and /metrics."""
from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from sqlalchemy import text

from .models import db
from .payments import get_gateway
from .queue import redis_connection

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {"database": _check_database(), "redis": _check_redis(),
              "stripe_breaker": get_gateway(current_app).breaker_state}
    down = [name for name in ("database", "redis") if checks[name] != "ok"]
    if checks["stripe_breaker"] == "open":
        down.append("stripe_breaker")
    body = {"status": "ok" if not down else "unavailable", "checks": checks, "down": down}
    return jsonify(body), (200 if not down else 503)


@bp.get("/metrics")
def metrics():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # noqa: the prometheus client's own switch
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def _check_database() -> str:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return "ok"
    except Exception as error:  # any driver error means "not ready"
        db.session.rollback()
        return f"error: {type(error).__name__}"


def _check_redis() -> str:
    try:
        redis_connection().ping()
        return "ok"
    except Exception as error:
        return f"error: {type(error).__name__}"
