"""Database helpers: the session and migrations set up on the app, SQLite write turns, the PostgreSQL connection
check."""
from __future__ import annotations

from flask import Flask
from flask_migrate import Migrate

from app.db.connection_check import check_before_use
from app.models import db
from app.settings import PROJECT_ROOT

migrate = Migrate(directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True, compare_type=True)


def init_app(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        check_before_use(db.engine)
    migrate.init_app(app, db)
