"""Mail: the receipt outbox and its sending, the development SMTP sink and its page."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    if app.config["SETTINGS"].env == "development":
        from app.mail import devpage  # development only: the page of caught mail

        app.register_blueprint(devpage.bp)
