"""Reconciliation: list Stripe's events since the last checkpoint and store (and enqueue) any the webhook missed."""
from __future__ import annotations

import json
import logging
import time

from flask import current_app
from sqlalchemy import select

from .models import Checkpoint, StripeEvent, db
from .payments import get_gateway
from .queue import enqueue_event
from .webhooks import store_event

log = logging.getLogger(__name__)
CHECKPOINT = "stripe_events_created"
OVERLAP = 300  # seconds re-read before the checkpoint: events with equal timestamps, clock skew
FIRST_LOOKBACK = 3 * 24 * 3600
MAX_PAGES = 50


def reconcile() -> dict:
    """Returns counts: seen, stored (missing before), checkpoint."""
    checkpoint = db.session.get(Checkpoint, CHECKPOINT)
    since = int(checkpoint.value) - OVERLAP if checkpoint else int(time.time()) - FIRST_LOOKBACK
    gateway = get_gateway(current_app)
    seen = stored = 0
    newest = int(checkpoint.value) if checkpoint else since
    starting_after = None
    for _ in range(MAX_PAGES):
        page = gateway.list_events(created_gte=since, starting_after=starting_after)
        events = page.get("data", [])
        ids = [e["id"] for e in events]
        known = set(db.session.scalars(select(StripeEvent.id).where(StripeEvent.id.in_(ids)))) if ids else set()
        for event in events:
            seen += 1
            newest = max(newest, int(event.get("created") or 0))
            if event["id"] in known:
                continue
            result = store_event(event, json.dumps(event), source="reconcile")
            stored += result != "duplicate"
            if result == "stored":
                enqueue_event(event["id"])
        if not page.get("has_more") or not events:
            break
        starting_after = events[-1]["id"]
    if checkpoint is None:
        checkpoint = Checkpoint(name=CHECKPOINT, value=str(newest))
        db.session.add(checkpoint)
    else:
        checkpoint.value = str(max(int(checkpoint.value), newest))
    db.session.commit()
    if stored:
        log.warning("reconcile stored %d events the webhook never delivered", stored)
    return {"seen": seen, "stored": stored, "checkpoint": int(checkpoint.value)}
