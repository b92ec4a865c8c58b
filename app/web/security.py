"""Security headers and script integrity for every page, configured from Settings.

- A nonce-based Content-Security-Policy (flask-talisman) that lets the page load scripts only from the shop and
  the configured Stripe.js origin, frames only from Stripe, and reports every violation to /csp-report:
  `report-uri` always; over HTTPS (`force_https`) also `report-to` with a Reporting-Endpoints header. Not over
  plain HTTP: Chromium then ignores `report-uri` but delivers nothing through the Reporting API.
- Permissions-Policy (payment for the shop and Stripe only), Referrer-Policy, X-Content-Type-Options,
  X-Frame-Options, Cross-Origin-Opener-Policy; HSTS and the HTTPS redirect when `force_https` (production).
- `sri(filename)`: the Subresource Integrity value of one of the shop's static files, for `integrity=`.
  Computed at startup; in development it follows edits (a file is rehashed when its mtime changes).

What can fail: a static file named in a template that does not exist raises at render time (a 500 in tests,
never a page served without integrity).
"""
from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from flask import Flask, url_for
from flask.globals import request_ctx
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from app.settings import Settings

csrf = CSRFProtect()  # every form and JSON POST carries the token; the webhook and CSP reports are exempt

__all__ = ["init_app", "content_security_policy", "security_headers", "Integrity", "REAL_STRIPE_JS",
           "REPORT_GROUP"]

REAL_STRIPE_JS = "https://js.stripe.com"
REPORT_GROUP = "csp-endpoint"
PLAIN_HTTP_ENDPOINTS = ("ops.healthz", "ops.readyz", "ops.metrics")  # probes inside the network


def stripe_sources(settings: Settings) -> dict[str, list[str]]:
    """The Stripe origins each CSP directive needs: Stripe's documented set, or the emulator's one origin."""
    js, api = settings.stripe_js_origin, settings.stripe_api_origin
    if js == REAL_STRIPE_JS:
        return {"script": [js, "https://*.js.stripe.com"],
                "frame": [js, "https://*.js.stripe.com", "https://hooks.stripe.com"],
                "connect": [api], "img": ["https://*.stripe.com"]}
    return {"script": [js], "frame": [js], "connect": list(dict.fromkeys([js, api])), "img": []}


def content_security_policy(settings: Settings) -> dict:
    stripe = stripe_sources(settings)
    policy = {
        "default-src": "'self'",
        "script-src": ["'self'", *stripe["script"]],  # + the per-request nonce (talisman)
        "style-src": "'self'",
        "img-src": ["'self'", "data:", *stripe["img"]],
        "frame-src": stripe["frame"],
        "connect-src": ["'self'", *stripe["connect"]],
        "font-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "report-uri": "/csp-report",
    }
    if settings.force_https:
        policy["report-to"] = REPORT_GROUP
    return policy


def security_headers(settings: Settings) -> dict:
    """flask-talisman's options."""
    return {
        "force_https": settings.force_https,
        "strict_transport_security": settings.force_https,
        "strict_transport_security_max_age": 63072000,
        "strict_transport_security_include_subdomains": True,
        "session_cookie_secure": settings.is_production,
        "session_cookie_http_only": True,
        "session_cookie_samesite": "Lax",
        "content_security_policy": content_security_policy(settings),
        "content_security_policy_nonce_in": ["script-src"],
        "referrer_policy": "strict-origin-when-cross-origin",
        "frame_options": "DENY",
        "permissions_policy": {"payment": f'(self "{settings.stripe_js_origin}")', "camera": "()",
                               "microphone": "()", "geolocation": "()", "usb": "()", "browsing-topics": "()"},
        "x_content_type_options": True,
    }


class Integrity:
    """sha384 SRI values of the shop's static files, computed once (or again when a file changes, if `follow`)."""

    def __init__(self, static_folder: str, follow: bool):
        self.root = Path(static_folder).resolve()
        self.follow = follow
        self._cache: dict[str, tuple[float, str]] = {}
        for path in sorted(self.root.glob("js/**/*.js")):
            self(path.relative_to(self.root).as_posix())

    def __call__(self, filename: str) -> str:
        path = (self.root / filename).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise FileNotFoundError(f"no static file {filename!r} to compute integrity for")
        cached = self._cache.get(filename)
        if cached and (not self.follow or cached[0] == os.stat(path).st_mtime):
            return cached[1]
        digest = base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()
        value = f"sha384-{digest}"
        self._cache[filename] = (os.stat(path).st_mtime, value)
        return value


def init_app(app: Flask) -> None:
    """Call after the blueprints are registered (the probes' HTTPS exemption wraps their views)."""
    settings: Settings = app.config["SETTINGS"]
    csrf.init_app(app)
    if settings.trusted_proxies:  # the client address (rate limits) and scheme (HTTPS redirect) from the proxy
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    Talisman(app, **security_headers(settings))
    app.jinja_env.globals["sri"] = Integrity(app.static_folder, follow=not settings.is_production)

    @app.after_request
    def more_headers(response):
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if settings.force_https and request_ctx.url_adapter is not None:  # None: a Host outside ALLOWED_HOSTS
            endpoint = url_for("csp_reports.receive", _external=True, _scheme="https")
            response.headers["Reporting-Endpoints"] = f'{REPORT_GROUP}="{endpoint}"'
        return response

    _serve_probes_over_http(app)


def _serve_probes_over_http(app: Flask) -> None:
    """Health and metrics probes come from inside the network over plain HTTP: no HTTPS redirect for them."""
    for endpoint in PLAIN_HTTP_ENDPOINTS:
        view = app.view_functions.get(endpoint)
        if view is None:
            continue

        def plain(*args, _view=view, **kwargs):
            return _view(*args, **kwargs)

        plain.talisman_view_options = {"force_https": False}
        app.view_functions[endpoint] = plain
