"""Stripe-shaped webhook payloads and their signatures."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import time

from .emulator import WEBHOOK_SECRET


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def event_payload(event_type: str, obj: dict, event_id: str | None = None, created: int | None = None) -> str:
    return json.dumps({
        "id": event_id or f"evt_test_{os.urandom(8).hex()}", "object": "event", "api_version": "2025-01-27",
        "created": created or int(time.time()), "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": event_type, "data": {"object": obj},
    })


def shuffled_twice(events: list, order: tuple, seed: int) -> list:
    """The events in the given order, each sent again as a second Event object somewhere after it."""
    sequence = [events[i] for i in order]
    rng = random.Random(seed)
    for event in list(sequence):
        at = sequence.index(event) + 1
        sequence.insert(rng.randint(at, len(sequence)), event)
    return sequence
