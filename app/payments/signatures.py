"""Stripe webhook signatures: verified on the raw body against every configured secret (rotation), with a
tolerance for the timestamp, before anything is stored."""
from __future__ import annotations

import json
import time

import stripe

__all__ = ["WebhookSignatureError", "verify_webhook"]


class WebhookSignatureError(Exception):
    pass


def verify_webhook(payload: bytes, header: str | None, secrets: tuple[str, ...], tolerance: int) -> dict:
    """Check Stripe's signature on the raw body against any of `secrets` (rotation); reject stale or future times."""
    if not header:
        raise WebhookSignatureError("missing Stripe-Signature header")
    if not secrets:
        raise WebhookSignatureError("no webhook secret configured")
    timestamp = _timestamp(header)
    if timestamp > time.time() + tolerance:
        raise WebhookSignatureError("timestamp is in the future")
    text = payload.decode("utf-8", errors="strict")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, header, secret, tolerance)
            break
        except stripe.SignatureVerificationError as error:
            last = str(error)
    else:
        raise WebhookSignatureError(last.split(".")[0])
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):
        raise WebhookSignatureError("body is not JSON") from None
    if not _is_event(event):
        raise WebhookSignatureError("body is not a Stripe event")
    return event


def _timestamp(header: str) -> int:
    """The `t=` of a `Stripe-Signature: t=...,v1=...` header (stripe-python checks the rest; its own parser is
    private)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    value = fields.get("t", "")
    if not (value.isascii() and value.isdigit()) or len(value) > 12 or not fields.get("v1"):
        raise WebhookSignatureError("malformed Stripe-Signature header")
    return int(value)


def _is_event(event) -> bool:
    """The shape app/events/store.py relies on: even a signed body that lacks it gets a 400, never a 500."""
    data = event.get("data") if isinstance(event, dict) else None
    return (isinstance(event, dict) and isinstance(event.get("id"), str) and event["id"].startswith("evt_")
            and len(event["id"]) <= 255 and isinstance(event.get("type"), str)
            and isinstance(event.get("created", 0), int) and isinstance(data or {}, dict)
            and isinstance((data or {}).get("object") or {}, dict))
