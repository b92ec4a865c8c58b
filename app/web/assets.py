"""How pages and static files travel: compressed, and cached for as long as their content stays the same.

- Pages, CSS, JS, JSON and SVG are compressed (flask-compress: brotli or gzip, whichever the client prefers)
  unless `COMPRESS_RESPONSES` is off, as where deploy/nginx/ compresses in front of the shop.
- `url_for('static', filename=...)` adds `?v=<fingerprint>`, a digest of the file's content (the same digest as its
  `sri()` integrity value, so it follows edits in development). A request carrying the file's current fingerprint
  may be cached for a year; any other static request gets a short cache, since its content may change.
"""
from __future__ import annotations

import base64

from flask import Flask, request
from flask_compress import Compress

LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300"
COMPRESSED_TYPES = ["text/html", "text/css", "text/javascript", "application/javascript", "application/json",
                    "image/svg+xml"]


def init_app(app: Flask) -> None:
    """Call after security.init_app, whose `sri()` digests the fingerprints reuse."""
    settings = app.config["SETTINGS"]
    if settings.compress_responses:
        # static files are streamed, for which flask-compress leaves gzip out by default: its gzip stream is sound
        app.config.update(COMPRESS_MIMETYPES=COMPRESSED_TYPES, COMPRESS_ALGORITHM=["br", "gzip"],
                          COMPRESS_ALGORITHM_STREAMING=["br", "gzip"])
        Compress(app)
    integrity = app.jinja_env.globals["sri"]

    def fingerprint(filename: str) -> str | None:
        try:
            value = integrity(filename)
        except FileNotFoundError:
            return None
        return base64.b64decode(value.removeprefix("sha384-"))[:8].hex()

    @app.url_defaults
    def fingerprint_static_urls(endpoint, values):
        if endpoint == "static" and "v" not in values:
            version = fingerprint(values.get("filename", ""))
            if version:
                values["v"] = version

    @app.after_request
    def cache_static_files(response):
        if request.endpoint == "static" and response.status_code in (200, 206, 304):
            current = fingerprint((request.view_args or {}).get("filename", ""))
            fresh = current is not None and request.args.get("v") == current
            response.headers["Cache-Control"] = LONG_CACHE if fresh else SHORT_CACHE
        return response
