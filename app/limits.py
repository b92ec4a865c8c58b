"""Input limits: request-body caps per endpoint and rate limits (Flask-Limiter, on Redis) per client address.

Rate-limited: POST /checkout/confirm (each call may reach Stripe), POST /webhooks/stripe (generous: Stripe
retries a 429) and POST /csp-report (anyone can send one). The limits are settings; a breach answers 429
with Retry-After (the seconds until the window resets) and the shop's error page or JSON.
If the limit store (Redis) is down the limits fall back to per-process memory: they never take checkout or
the webhook down with them.
"""
from __future__ import annotations

import math
import time

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from .settings import Settings

__all__ = ["init_app", "BODY_CAPS", "storage_uri"]

BODY_CAPS = {  # endpoint -> bytes; every other endpoint gets MAX_CONTENT_LENGTH
    "checkout.confirm": 4 * 1024,
    "shop.add_to_cart": 4 * 1024,
    "shop.update_cart": 4 * 1024,
    "shop.remove_from_cart": 4 * 1024,
    "csp_reports.receive": 8 * 1024,
}


class BoundedJSONProvider(DefaultJSONProvider):
    """`request.get_json()` refuses JSON nested past Python's recursion limit as malformed (a 400, not a 500)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def storage_uri(settings: Settings) -> str:
    return settings.rate_limit_storage or settings.redis_url or "memory://"


FORMS = {"application/x-www-form-urlencoded", "multipart/form-data"}


def refuse_nul():
    """No shopper input contains a NUL character, and PostgreSQL cannot store one: a 400, never a 500.
    The webhook is exempt: its raw body is checked by signature and stored as sent (JSON escapes NULs)."""
    if request.endpoint == "webhooks.receive":
        return
    found = "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string
    if not found and request.method in ("POST", "PUT", "PATCH"):
        if request.mimetype in FORMS:
            found = any("\x00" in key + value for key, value in request.form.items(multi=True))
        else:
            data = request.get_data(cache=True)
            found = b"\x00" in data or b"\\u0000" in data
    if found:
        abort(400, description="Requests may not contain NUL characters.")


def rate_limits(settings: Settings) -> dict[str, str]:
    return {"checkout.confirm": settings.rate_limit_confirm, "webhooks.receive": settings.rate_limit_webhook,
            "csp_reports.receive": settings.rate_limit_csp_report}


def init_app(app: Flask) -> Limiter:
    """Call after the blueprints are registered: the limits wrap their views."""
    settings: Settings = app.config["SETTINGS"]
    app.json = BoundedJSONProvider(app)
    caps = dict(BODY_CAPS, **{"webhooks.receive": settings.webhook_max_body})

    def cap_body():
        if request.endpoint in caps:
            request.max_content_length = caps[request.endpoint]

    # first of all before-request hooks, so CSRF's form parsing already honours the cap
    app.before_request_funcs.setdefault(None, []).insert(0, cap_body)
    app.before_request_funcs[None].insert(1, refuse_nul)

    limiter = Limiter(get_remote_address, app=app, storage_uri=storage_uri(settings), strategy="fixed-window",
                      key_prefix="shop-limits", headers_enabled=False, swallow_errors=True,
                      in_memory_fallback_enabled=True)
    for endpoint, limit in rate_limits(settings).items():
        if limit and endpoint in app.view_functions:
            app.view_functions[endpoint] = limiter.limit(limit)(app.view_functions[endpoint])

    @app.after_request
    def retry_after(response):
        if response.status_code == 429:
            current = limiter.current_limit
            wait = math.ceil(current.reset_at - time.time()) if current else 60
            response.headers["Retry-After"] = str(max(wait, 1))
        return response

    return limiter
