"""Stripe's events: the webhook endpoint, the event store, what each event type does, applying events in a worker,
reconcile, replay."""
from __future__ import annotations

from flask import Flask

from app.events import webhook
from app.events.store import GroupWriter
from app.web.security import csrf


def init_app(app: Flask) -> None:
    app.register_blueprint(webhook.bp)
    app.extensions["event_writer"] = GroupWriter()  # per process: concurrent deliveries share a commit
    csrf.exempt(webhook.bp)  # authenticated by its Stripe signature alone
