"""POST /webhooks/stripe: verify the signature on the raw body, store the event once, enqueue, answer 2xx.

Nothing is written before the signature checks out. A duplicate delivery is acknowledged and does nothing
more. If Redis is down the event is still stored and acknowledged: the relay enqueues it later.
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import TooManyRequests

from . import metrics
from .models import EventStatus, StripeEvent, db, utcnow
from .payments import WebhookSignatureError, verify_webhook
from .queue import enqueue_event

bp = Blueprint("webhooks", __name__)
_INSERT_EVENT = StripeEvent.__table__.insert()
log = logging.getLogger(__name__)


@bp.post("/webhooks/stripe")
def receive():
    started = time.perf_counter()
    settings = current_app.config["SETTINGS"]
    if (request.content_length or 0) > settings.webhook_max_body:
        return _refuse("body too large", 413)
    payload = request.get_data(cache=False)
    if len(payload) > settings.webhook_max_body:
        return _refuse("body too large", 413)
    try:
        event = verify_webhook(payload, request.headers.get("Stripe-Signature"), settings.stripe_webhook_secrets,
                               settings.webhook_tolerance)
    except (WebhookSignatureError, UnicodeDecodeError) as error:
        return _refuse(f"invalid webhook: {error}", 400)

    result = store_event(event, payload.decode("utf-8"), source="webhook")
    if result == "stored":
        enqueue_event(event["id"], request_id=g.get("request_id"))  # if Redis is down, the relay enqueues it
    metrics.WEBHOOK_EVENTS.labels(event["type"], result).inc()
    metrics.WEBHOOK_ACK.observe(time.perf_counter() - started)
    return jsonify(received=True, duplicate=result == "duplicate")


def store_event(event: dict, raw: str, source: str) -> str:
    """Insert the event by its Stripe id: 'stored' (to be applied by a worker), 'ignored' (a type the shop does
    not act on: kept for the record, no job), or 'duplicate' if it was already there (a no-op)."""
    from .fulfilment import HANDLERS

    data_object = (event.get("data") or {}).get("object") or {}
    handled = event["type"] in HANDLERS
    now = utcnow()
    try:
        # a plain table insert with parameters: compiled once and cached, unlike a fresh insert().values()
        db.session.execute(_INSERT_EVENT, {
            "id": event["id"], "type": str(event["type"])[:100], "object_id": str(data_object.get("id", ""))[:255],
            "payload": raw, "source": source, "stripe_created": int(event.get("created") or 0), "received_at": now,
            "status": EventStatus.RECEIVED.value if handled else EventStatus.IGNORED.value,
            "processed_at": None if handled else now})
        db.session.commit()
        if not handled:  # done at once: counted with the events workers apply
            metrics.EVENTS_PROCESSED.labels(str(event["type"])[:100], "ignored").inc()
        return "stored" if handled else "ignored"
    except IntegrityError:
        db.session.rollback()
        db.session.execute(update(StripeEvent).where(StripeEvent.id == event["id"])
                           .values(duplicates=StripeEvent.duplicates + 1))
        db.session.commit()
        metrics.WEBHOOK_DUPLICATES.inc()
        return "duplicate"


def _refuse(reason: str, status: int):
    metrics.WEBHOOK_EVENTS.labels("unknown", "refused").inc()
    wait = current_app.extensions["webhook_refusals"].spend()
    if wait is not None:  # a flood of bad requests from one address
        raise TooManyRequests(retry_after=wait)
    log.warning("webhook refused status=%d reason=%s", status, reason)
    return jsonify(error=reason), status


__all__ = ["bp", "store_event"]
