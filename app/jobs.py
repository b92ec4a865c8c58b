"""Scheduled RQ jobs (registered by worker.py's cron scheduler): relay, reconcile, expire stale orders."""
from __future__ import annotations

from .fulfilment import _job_app


def relay() -> int:
    with _job_app().app_context():
        from .queue import relay_events, relay_outbox

        return relay_events() + relay_outbox()


def reconcile() -> dict:
    with _job_app().app_context():
        from .reconcile import reconcile as run

        return run()


def expire_orders() -> int:
    with _job_app().app_context():
        from .expiry import expire_pending_orders

        return expire_pending_orders()
