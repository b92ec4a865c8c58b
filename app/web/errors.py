"""Error pages: the shop's branded HTML page for browsers, a JSON body for the JSON endpoints and clients that
ask for JSON, a 503 "try again" while the database is busy or unreachable, and a logged, rolled-back 500 for
anything unexpected."""
from __future__ import annotations

import logging

from flask import Flask, g, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, SecurityError

from app.models import db

log = logging.getLogger(__name__)
JSON_PATHS = ("/checkout/confirm", "/webhooks/", "/csp-report", "/readyz", "/healthz")
JSON_ENDPOINTS = ("orders.status",)  # an order page is HTML; only its status is JSON


def init_app(app: Flask) -> None:
    """The shop's own error pages (HTML), or JSON for the JSON endpoints and clients that ask for it."""
    def wants_json() -> bool:
        return (request.path.startswith(JSON_PATHS) or request.endpoint in JSON_ENDPOINTS
                or request.accept_mimetypes.best == "application/json")

    def render_error(status: int, message: str, **fields):
        if wants_json():
            response = jsonify(status="error", error=message, **fields)
        else:
            response = make_response(render_template("errors.html", status=status, message=message))
        response.status_code = status
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, "Your session expired or the form was tampered with. Please reload the page.")

    @app.errorhandler(SecurityError)
    def foreign_host(error):  # a Host outside ALLOWED_HOSTS: no page to render, its links would name that host
        return "This shop does not answer to that host name.", 400, {"Content-Type": "text/plain; charset=utf-8"}

    @app.errorhandler(HTTPException)
    def http_error(error):
        messages = {404: "We couldn't find that page.", 405: "That action isn't allowed here.",
                    413: "That request is too large.", 429: "Too many requests. Please wait a moment."}
        response = render_error(error.code or 500, messages.get(error.code, error.description or "Error"))
        if error.code == 429:
            response.headers["Retry-After"] = str(getattr(error, "retry_after", None) or 60)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(PoolTimeout)
    def database_busy(error):  # locked, unreachable, or every pooled connection busy past DB_POOL_TIMEOUT
        log.warning("database unavailable request_id=%s error=%s", g.get("request_id"), type(error).__name__)
        db.session.rollback()
        response = render_error(503, "The shop is very busy right now. Please try again in a moment.",
                                retryable=True)
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error):
        log.exception("unhandled error request_id=%s", g.get("request_id"))
        db.session.rollback()
        return render_error(500, "Something went wrong on our side. Nothing was charged twice; please try again.")
