"""Reconciliation: list Stripe's events since the last checkpoint and store (and enqueue) any the webhook missed.

An event whose payload was pruned (app/events/retention.py) is still known by its id and never stored again;
pruning waits far longer than reconcile looks back (OVERLAP, FIRST_LOOKBACK) anyway.
"""
from __future__ import annotations

import json
import logging
import time

from flask import current_app
from sqlalchemy import select

from app.events.store import store_events
from app.models import Checkpoint, StripeEvent, db
from app.payments import get_gateway

log = logging.getLogger(__name__)
CHECKPOINT = "stripe_events_created"
SWEEP = "stripe_events_sweep"  # a sweep stopped at its page cap: where it goes on from, and what it has seen
OVERLAP = 300  # seconds re-read before the checkpoint: events with equal timestamps, clock skew
FIRST_LOOKBACK = 3 * 24 * 3600
MAX_PAGES = 50


def reconcile(max_pages: int = MAX_PAGES, page_size: int = 100) -> dict:
    """Returns counts: seen, stored (missing before), checkpoint, finished.

    Stripe lists events newest first. A sweep that reaches its page cap (a long outage: more than
    max_pages x page_size events) saves its cursor and the next run goes on from there, towards older events; the
    checkpoint moves only when a sweep has read everything since it. (Moving it to the newest event seen after
    the first pages would skip the older events for good.)"""
    checkpoint = db.session.get(Checkpoint, CHECKPOINT)
    resumed = db.session.get(Checkpoint, SWEEP)
    if resumed is not None:
        sweep = json.loads(resumed.value)
    else:
        since = int(checkpoint.value) - OVERLAP if checkpoint else int(time.time()) - FIRST_LOOKBACK
        sweep = {"since": since, "after": None, "newest": int(checkpoint.value) if checkpoint else since}
    gateway = get_gateway(current_app)
    seen = stored = 0
    finished = False
    for _ in range(max_pages):
        page = gateway.list_events(created_gte=sweep["since"], starting_after=sweep["after"], limit=page_size)
        events = page.get("data", [])
        ids = [e["id"] for e in events]
        known = set(db.session.scalars(select(StripeEvent.id).where(StripeEvent.id.in_(ids)))) if ids else set()
        seen += len(events)
        sweep["newest"] = max([sweep["newest"]] + [int(event.get("created") or 0) for event in events])
        results = store_events([(event, json.dumps(event)) for event in events if event["id"] not in known],
                               source="reconcile")
        stored += sum(result != "duplicate" for result in results)
        if not page.get("has_more") or not events:
            finished = True
            break
        sweep["after"] = events[-1]["id"]
    if finished:  # a sweep's newest starts at the checkpoint, so this never moves it back
        _save(CHECKPOINT, str(sweep["newest"]))
        if resumed is not None:
            db.session.delete(resumed)
    else:
        _save(SWEEP, json.dumps(sweep))
    db.session.commit()
    if stored:
        log.warning("reconcile stored %d events the webhook never delivered", stored)
    if not finished:
        log.warning("reconcile read %d pages and goes on from %s next run", max_pages, sweep["after"])
    checkpoint = db.session.get(Checkpoint, CHECKPOINT)
    return {"seen": seen, "stored": stored, "checkpoint": int(checkpoint.value) if checkpoint else None,
            "finished": finished}


def _save(name: str, value: str) -> None:
    row = db.session.get(Checkpoint, name)
    if row is None:
        db.session.add(Checkpoint(name=name, value=value))
    else:
        row.value = value
