"""create_app(settings): the shop's application factory. It configures Flask, then calls each part's
`init_app(app)`; nothing connects at import time."""
from __future__ import annotations

import logging

from flask import Flask

from app import admin, checkout, db, events, mail, money, ops, orders, shop
from app.settings import PROJECT_ROOT, Settings
from app.telemetry.logs import configure_logging, install_request_id
from app.web import assets, csp_reports, errors, limits, security


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    settings.check()
    configure_logging(settings)
    for warning in settings.warnings():
        logging.getLogger("app.settings").warning("%s", warning)
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
        TRUSTED_HOSTS=list(settings.served_hosts),  # a foreign Host header is a 400 (after ProxyFix, if any)
    )
    db.init_app(app)
    install_request_id(app)
    for part in (shop, checkout, orders, events, ops, admin, mail, csp_reports, money):
        part.init_app(app)  # each registers its blueprint, its CLI commands, its template helpers
    security.init_app(app)  # after the blueprints: the probes' HTTPS exemption and the CSRF exemptions wrap them
    assets.init_app(app)
    limits.init_app(app)
    errors.init_app(app)
    # imported here: `python -m app.cli` (shop's own commands) must not find app.cli already loaded by its package
    from app.cli import register_commands

    register_commands(app)
    return app
