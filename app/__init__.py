"""create_app(settings): the shop's application factory. Nothing connects at import time."""
from __future__ import annotations

from flask import Flask, has_request_context
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from app.db.connection_check import check_before_use
from app.telemetry.logs import configure_logging, install_request_id
from app.models import db
from app.money import format_money, request_locale
from app.settings import PROJECT_ROOT, Settings
from app.web import errors

csrf = CSRFProtect()
migrate = Migrate(directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)


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

    from app import admin, checkout, orders, ops, shop
    from app.web import csp_reports
    from app.web import limits
    from app.web import security
    from app.events import webhook as webhooks
    from app.cli import register_commands
    from app.web import assets
    from app.shop import pages as shop_pages
    from app.events.store import GroupWriter

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
        from app.mail import devpage as devmail

        app.register_blueprint(devmail.bp)
    csrf.exempt(webhooks.bp)  # authenticated by its Stripe signature alone
    csrf.exempt(csp_reports.bp)  # browsers send reports without a token; size- and rate-limited
    security.init_app(app)
    assets.init_app(app)
    limits.init_app(app)
    csp_reports.init_app(app)
    register_commands(app)
    _register_template_helpers(app)
    errors.init_app(app)
    return app


def _register_template_helpers(app: Flask) -> None:
    from app.shop import cart

    app.jinja_env.filters["money"] = lambda amount, currency: format_money(amount, currency, request_locale())

    @app.context_processor
    def shop_context():
        return {"cart_count": cart.count() if has_request_context() else 0}  # a worker renders mail too
