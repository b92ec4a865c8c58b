"""RQ jobs: the scheduled ones (worker.py's cron: relay, reconcile, expire stale orders and carts) and finding a
payment's outcome."""
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


def expire_carts() -> int:
    with _job_app().app_context():
        from .shop.cart_store import purge_expired

        return purge_expired()


def find_outcome(attempt_id: int) -> str:
    """What became of a payment the shop got no answer for (app/checkout/service.py `find_outcome`)."""
    app = _job_app()
    with app.app_context():
        from .checkout.service import find_outcome as run
        from .payments import get_gateway

        return run(attempt_id, get_gateway(app), app.config["SETTINGS"].payment_outcome_window)
