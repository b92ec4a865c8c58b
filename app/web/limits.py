"""Input limits: request-body caps per endpoint and rate limits (Flask-Limiter, on Redis) per client address.

Rate-limited: POST /checkout/confirm and /checkout/quote (each call may reach Stripe) and POST /csp-report
(anyone can send one) count every request; POST /webhooks/stripe counts only the requests it refuses
(`RefusalLimit`). The limits are settings; a breach answers 429 with Retry-After (the seconds until the window
resets) and the shop's error page or JSON.
If the limit store (Redis) is down the limits fall back to per-process memory: they never take checkout or
the webhook down with them.

A refused request's unread body is drained (up to DRAIN_MAX, the proxy's own cap) before the answer goes out,
so the connection stays usable: a proxy that keeps upstream connections alive (deploy/nginx/) never reuses one
the server would otherwise close under it. Past DRAIN_MAX gunicorn.conf.py answers with `Connection: close`.
"""
from __future__ import annotations

import math
import time

from flask import Flask, abort, request
from flask.json.provider import DefaultJSONProvider
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from app.settings import Settings

__all__ = ["init_app", "BODY_CAPS", "DRAIN_MAX", "storage_uri", "RefusalLimit"]

DRAIN_MAX = 1024 * 1024  # deploy/nginx/'s client_max_body_size; gunicorn.conf.py closes past it

BODY_CAPS = {  # endpoint -> bytes; every other endpoint gets MAX_CONTENT_LENGTH
    "checkout.confirm": 12 * 1024,  # the signed quote is most of it
    "checkout.quote": 16 * 1024,  # a pasted 10 KB "code" still gets its answer in words
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


# A hung store must cost a request a second at most, then the in-memory fallback counts (memory ignores these).
STORE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}


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


def drain_refused_body(response):
    """Read what is left of a refused request's body, so the next request on the connection starts where the
    server expects it. Only where the server marks the body's end (`wsgi.input_terminated`, as gunicorn
    does): elsewhere a read past the body could wait forever."""
    declared = request.content_length
    if (response.status_code >= 400 and request.environ.get("wsgi.input_terminated")
            and (declared is None or declared <= DRAIN_MAX)):
        stream, drained = request.environ["wsgi.input"], 0
        while drained <= DRAIN_MAX:
            chunk = stream.read(64 * 1024)
            if not chunk:
                break
            drained += len(chunk)
    return response


def rate_limits(settings: Settings) -> dict[str, str]:
    return {"checkout.confirm": settings.rate_limit_confirm, "checkout.quote": settings.rate_limit_quote,
            "csp_reports.receive": settings.rate_limit_csp_report}


class RefusalLimit:
    """A per-address limit on the requests an endpoint refuses, on the same store and strategy as the other
    limits. The webhook's signed deliveries never spend it: a burst of Stripe's redeliveries is never
    throttled (a 429 would only delay fulfilment) and costs no round trip to the store, while a flood of
    forged, stale or malformed requests is answered 429 once over the limit. If the store is down the count
    falls back to this process's memory, like the other limits."""

    def __init__(self, uri: str, limit: str | None, scope: str):
        self.items = parse_many(limit) if limit and limit != "off" else []
        self.scope = scope
        self.strategy = FixedWindowRateLimiter(storage_from_string(uri, **STORE_OPTIONS))
        self.fallback = FixedWindowRateLimiter(MemoryStorage())

    def spend(self) -> int | None:
        """Count one refusal by this request's client; the seconds to wait if it is now over the limit."""
        identifiers = ("shop-limits", self.scope, get_remote_address())
        for item in self.items:
            try:
                strategy, allowed = self.strategy, self.strategy.hit(item, *identifiers)
            except Exception:  # the store is down: a limit must never take the endpoint down with it
                strategy, allowed = self.fallback, self.fallback.hit(item, *identifiers)
            if not allowed:
                return max(1, math.ceil(strategy.get_window_stats(item, *identifiers).reset_time - time.time()))
        return None


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
    app.after_request(drain_refused_body)

    limiter = Limiter(get_remote_address, app=app, storage_uri=storage_uri(settings), strategy="fixed-window",
                      key_prefix="shop-limits", headers_enabled=False, swallow_errors=True,
                      in_memory_fallback_enabled=True, storage_options=STORE_OPTIONS)
    limited = set()
    for endpoint, limit in rate_limits(settings).items():
        if limit and limit != "off" and endpoint in app.view_functions:
            app.view_functions[endpoint] = limiter.limit(limit)(app.view_functions[endpoint])
            limited.add(endpoint)

    @limiter.request_filter
    def unlimited() -> bool:
        """No Flask-Limiter work (it looks up limits on every request) where none applies: the shop's pages and
        the webhook, whose limit is the RefusalLimit below."""
        return request.endpoint not in limited

    app.extensions["webhook_refusals"] = RefusalLimit(storage_uri(settings), settings.rate_limit_webhook,
                                                      "webhooks.receive")

    @app.after_request
    def retry_after(response):
        current = limiter.current_limit if response.status_code == 429 else None
        if current:
            response.headers["Retry-After"] = str(max(math.ceil(current.reset_at - time.time()), 1))
        return response

    return limiter
