"""POST /webhooks/stripe: verify the signature on the raw body, store the event once, enqueue, answer 2xx.

Nothing is written before the signature checks out. A duplicate delivery is acknowledged and does nothing
more. If Redis is down the event is still stored and acknowledged: the relay enqueues it later. Storing and
enqueueing are app/events/store.py's (concurrent deliveries share a commit).
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import TooManyRequests

from app.events.store import EventNotStored
from app.telemetry import metrics
from app.payments import WebhookSignatureError, verify_webhook

bp = Blueprint("webhooks", __name__)
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

    try:
        result = current_app.extensions["event_writer"].store(event, payload.decode("utf-8"), source="webhook",
                                                              request_id=g.get("request_id"))
    except EventNotStored as error:  # the database refused or was out of reach: a 5xx, and Stripe sends it again
        log.warning("webhook event not stored event_id=%s type=%s error=%s; Stripe will send it again",
                    event["id"], event["type"], type(error.__cause__).__name__)
        metrics.WEBHOOK_EVENTS.labels(event["type"], "not_stored").inc()
        response = jsonify(error="not stored: send it again")
        response.status_code, response.headers["Retry-After"] = 503, "5"
        return response
    metrics.WEBHOOK_EVENTS.labels(event["type"], result).inc()
    metrics.WEBHOOK_ACK.observe(time.perf_counter() - started)
    return jsonify(received=True, duplicate=result == "duplicate")


def _refuse(reason: str, status: int):
    metrics.WEBHOOK_EVENTS.labels("unknown", "refused").inc()
    wait = current_app.extensions["webhook_refusals"].spend()
    if wait is not None:  # a flood of bad requests from one address
        raise TooManyRequests(retry_after=wait)
    log.warning("webhook refused status=%d reason=%s", status, reason)
    return jsonify(error=reason), status


__all__ = ["bp"]
