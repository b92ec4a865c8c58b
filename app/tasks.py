"""Every RQ entry point: applying events and sending receipts, the scheduled jobs (worker.py's cron: relay,
reconcile, expire stale orders and carts, prune old event payloads and CSP reports), finding a payment's outcome,
sending again a refund, capture or void Stripe did not answer, and recording a paid order's tax and a refund's
tax reversal with Stripe Tax."""
from __future__ import annotations

import os

from flask import current_app

from app.events.apply import apply_events
from app.models import db
from app.queues.housekeeping import clean_started, forget_done_failures


def relay() -> int:
    with _job_app().app_context():
        from app.queues.relay import relay_events, relay_outbox, relay_refunds, relay_settlements, relay_tax

        clean_started()
        done = relay_events() + relay_outbox() + relay_refunds() + relay_settlements() + relay_tax()
        forget_done_failures()
        return done


def reconcile() -> dict:
    with _job_app().app_context():
        from app.events.reconcile import reconcile as run

        done = run()
        forget_done_failures()  # an earlier run that met a Stripe fault: this one caught up
        return done


def expire_orders() -> int:
    with _job_app().app_context():
        from app.orders.expiry import expire_pending_orders

        done = expire_pending_orders()
        forget_done_failures()
        return done


def expire_carts() -> int:
    with _job_app().app_context():
        from app.shop.cart_store import purge_expired

        done = purge_expired()
        forget_done_failures()
        return done


def prune_event_payloads() -> int:
    with _job_app().app_context():
        from app.events.retention import prune_event_payloads as run

        return run(current_app.config["SETTINGS"].event_payload_retention_days)


def prune_csp_reports() -> int:
    with _job_app().app_context():
        from app.web.csp_store import prune

        return prune(current_app.config["SETTINGS"].csp_report_retention_days)


def find_outcome(attempt_id: int) -> str:
    """What became of a payment the shop got no answer for (app/checkout/service.py `find_outcome`)."""
    app = _job_app()
    with app.app_context():
        from app.checkout.service import find_outcome as run
        from app.payments import get_gateway

        return run(attempt_id, get_gateway(app), app.config["SETTINGS"].payment_outcome_window)


def send_refund(refund_id: int) -> str:
    """Send again a refund Stripe did not answer, with its stored key (app/admin/refunds.py `resend`)."""
    app = _job_app()
    with app.app_context():
        from app.admin.refunds import resend
        from app.payments import get_gateway

        done = resend(refund_id, get_gateway(app))
        forget_done_failures()  # sent again by the relay under the same id after its retries ran out
        return done


def send_settlement(settlement_id: int) -> str:
    """Send again a capture or void Stripe did not answer, with its stored key (app/admin/capture.py `resend`)."""
    app = _job_app()
    with app.app_context():
        from app.admin.capture import resend
        from app.payments import get_gateway

        done = resend(settlement_id, get_gateway(app))
        forget_done_failures()
        return done


def record_tax_transaction(order_id: int) -> str:
    """Record a paid order's Stripe Tax transaction (app/events/tax.py `record_transaction`); raises while Stripe
    does not answer or refuses, so RQ retries it."""
    app = _job_app()
    with app.app_context():
        from app.events.tax import record_transaction
        from app.payments import get_gateway

        done = record_transaction(order_id, get_gateway(app))
        forget_done_failures()
        return done


def reverse_tax(refund_id: int) -> str:
    """Reverse a succeeded refund's tax (app/events/tax.py `reverse_refund`); raises while it must wait."""
    app = _job_app()
    with app.app_context():
        from app.events.tax import reverse_refund
        from app.payments import get_gateway

        done = reverse_refund(refund_id, get_gateway(app))
        forget_done_failures()
        return done


def process_event(event_id: str) -> str:
    with _job_app().app_context():
        return apply_events(event_id, current_app.config["SETTINGS"].event_batch)


def send_receipt(outbox_id: int) -> str:
    with _job_app().app_context():
        from app.mail.outbox import deliver_waiting

        return deliver_waiting(outbox_id)


# ---- the app a job runs in ---------------------------------------------------------------------------
_app = None
_app_pid = None


def bind_app(app) -> None:
    """worker.py binds its app before forking; each job process then drops inherited DB connections."""
    global _app
    _app = app


def _job_app():
    global _app, _app_pid
    if _app is None:
        from app import create_app

        _app = create_app()
    if _app_pid != os.getpid():
        with _app.app_context():
            db.engine.dispose(close=False)
        _app_pid = os.getpid()
    return _app
