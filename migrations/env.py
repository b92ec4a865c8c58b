"""Alembic environment for Flask-Migrate: the app's engine and metadata; no logging setup of its own."""
from __future__ import annotations

import logging

from alembic import context
from flask import current_app

from app.models import UTCDateTime

config = context.config
log = logging.getLogger("alembic.env")


def render_item(kind, obj, autogen_context):
    """Write the shop's UTC column type as the plain timezone-aware DateTime it stores."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_object(obj, name, kind, reflected, compare_to):
    return not (kind == "table" and name == "alembic_version")


def skip_empty_revisions(context, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        log.info("No changes in schema detected.")


def run_migrations_online() -> None:
    migrate = current_app.extensions["migrate"]
    options = {"render_item": render_item, "include_object": include_object, **migrate.configure_args}
    options.setdefault("process_revision_directives", skip_empty_revisions)
    with migrate.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=migrate.db.metadata, **options)
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    migrate = current_app.extensions["migrate"]
    context.configure(url=migrate.db.engine.url.render_as_string(hide_password=False),
                      target_metadata=migrate.db.metadata, literal_binds=True, render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
