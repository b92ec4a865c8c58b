"""Mail: the receipt outbox and its sending, the development SMTP sink and its page."""
from __future__ import annotations

from flask import Flask

from app.mail.smtp import Sender


def init_app(app: Flask) -> None:
    if app.config["SETTINGS"].mail_url:  # connected at the first email, not here
        app.extensions["smtp"] = Sender(app.config["SETTINGS"].mail_url)
    if app.config["SETTINGS"].env == "development":
        from app.mail import devpage  # development only: the page of caught mail

        app.register_blueprint(devpage.bp)
