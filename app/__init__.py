"""create_app(settings): the shop's application factory. Nothing connects at import time."""
from __future__ import annotations

import logging

from flask import Flask, g, has_request_context, jsonify, make_response, render_template, request
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from .connection_check import check_before_use
from .logs import configure_logging, install_request_id
from .models import db
from .money import format_money, request_locale
from .settings import PROJECT_ROOT, Settings

csrf = CSRFProtect()
migrate = Migrate(directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)
log = logging.getLogger(__name__)
JSON_PATHS = ("/checkout/confirm", "/webhooks/", "/csp-report", "/readyz", "/healthz")
JSON_ENDPOINTS = ("orders.status",)  # an order page is HTML; only its status is JSON


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check()
    configure_logging(settings)
    app = Flask(__name__, template_folder=str(PROJECT_ROOT / "templates"),
                static_folder=str(PROJECT_ROOT / "static"), instance_path=str(PROJECT_ROOT / "instance"))
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=settings.engine_options(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        MAX_CONTENT_LENGTH=max(settings.webhook_max_body, 64 * 1024),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        TESTING=settings.env == "test",
    )
    db.init_app(app)
    with app.app_context():
        check_before_use(db.engine)
    migrate.init_app(app, db)
    csrf.init_app(app)
    install_request_id(app)

    from . import admin, checkout, csp_reports, limits, orders, ops, security, shop, webhooks
    from .cli import register_commands
    from . import assets
    from .shop import pages as shop_pages
    from .event_store import GroupWriter

    app.register_blueprint(shop.bp)
    app.register_blueprint(shop_pages.bp)
    app.register_blueprint(checkout.bp)
    app.register_blueprint(orders.bp)
    app.register_blueprint(webhooks.bp)
    app.extensions["event_writer"] = GroupWriter()  # per process: concurrent deliveries share a commit
    app.register_blueprint(ops.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(csp_reports.bp)
    if settings.env == "development":
        from . import devmail

        app.register_blueprint(devmail.bp)
    csrf.exempt(webhooks.bp)  # authenticated by its Stripe signature alone
    csrf.exempt(csp_reports.bp)  # browsers send reports without a token; size- and rate-limited
    security.init_app(app)
    assets.init_app(app)
    limits.init_app(app)
    csp_reports.init_app(app)
    register_commands(app)
    _register_template_helpers(app)
    _register_error_pages(app)
    return app


def _register_template_helpers(app: Flask) -> None:
    from .shop import cart

    app.jinja_env.filters["money"] = lambda amount, currency: format_money(amount, currency, request_locale())

    @app.context_processor
    def shop_context():
        return {"cart_count": cart.count() if has_request_context() else 0}  # a worker renders mail too


def _register_error_pages(app: Flask) -> None:
    def wants_json() -> bool:
        return (request.path.startswith(JSON_PATHS) or request.endpoint in JSON_ENDPOINTS
                or request.accept_mimetypes.best == "application/json")

    def render_error(status: int, message: str):
        if wants_json():
            response = jsonify(status="error", error=message)
        else:
            response = make_response(render_template("errors.html", status=status, message=message))
        response.status_code = status
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, "Your session expired or the form was tampered with. Please reload the page.")

    @app.errorhandler(HTTPException)
    def http_error(error):
        messages = {404: "We couldn't find that page.", 405: "That action isn't allowed here.",
                    413: "That request is too large.", 429: "Too many requests. Please wait a moment."}
        response = render_error(error.code or 500, messages.get(error.code, error.description or "Error"))
        if error.code == 429:
            response.headers["Retry-After"] = str(getattr(error, "retry_after", None) or 60)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(error):
        log.exception("unhandled error request_id=%s", g.get("request_id"))
        db.session.rollback()
        return render_error(500, "Something went wrong on our side. Nothing was charged twice; please try again.")
