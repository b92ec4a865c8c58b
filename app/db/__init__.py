"""Database helpers: the session and migrations set up on the app, SQLite write turns, the PostgreSQL connection
check, and giving a connection back before a slow call."""
from __future__ import annotations

from flask import Flask
from flask_migrate import Migrate

from app.db.connection_check import check_before_use
from app.models import db
from app.settings import PROJECT_ROOT

migrate = Migrate(directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)


def release_connection() -> None:
    """End the request's transaction, which has only read so far, so its pooled connection goes back before a
    slow call (Stripe): a waiting checkout then holds no database connection, and a process's pool is sized by
    its database work, not by the Stripe calls it has in flight. Never after a write that is not to be kept."""
    db.session.commit()


def commit_keeping_loaded() -> None:
    """Commit without expiring what the session has loaded, so it is not read again on next use: for a caller
    that refreshes whatever another process may change meanwhile (its own rows stay as it wrote them)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def init_app(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        check_before_use(db.engine)
    migrate.init_app(app, db)
