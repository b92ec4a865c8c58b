"""PostgreSQL isolation, done one way: every test session, xdist worker and stack gets a database of its own on
the server TEST_DATABASE_URL names (created here, dropped when done), so runs sharing one server never touch
each other's tables."""
from __future__ import annotations

import os

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def own_database(server_url: str, label: str) -> str:
    """A fresh, empty database beside the one `server_url` names; returns its URL."""
    name = f"test_{label}_{os.getpid()}_{os.urandom(3).hex()}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def query(database_url: str, sql: str, **params) -> list:
    """Run `sql` on a connection of its own (outside any app's pool) and return the rows."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql), params).all()
    finally:
        engine.dispose()

