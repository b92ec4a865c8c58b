"""Stripe's webhook signature: ``t=<unix>,v1=<hex hmac_sha256(secret, "t.body")>``."""

import hashlib
import hmac
import secrets
import time


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(16)


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
