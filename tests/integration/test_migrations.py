"""The schema comes from migrations/ only: they build what app/models.py describes, and nothing else."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app.models import db

HOW_TO_FIX = ("app/models.py and migrations/ disagree. After changing a model, generate a revision with\n"
              "    shop db migrate -m 'what changed'\n"
              "read it, and commit it under migrations/versions/. Differences (migrations -> models):\n")


def schema_differences(app) -> list:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_object": _not_alembic_version})
        return compare_metadata(context, db.metadata)


def _not_alembic_version(obj, name, kind, reflected, compare_to):
    return not (kind == "table" and name == "alembic_version")


def test_the_migrations_build_exactly_the_tables_the_models_describe(app):
    differences = schema_differences(app)  # the `app` fixture's schema was made by `upgrade()`
    assert not differences, HOW_TO_FIX + "\n".join(f"  {d}" for d in differences)


def test_there_is_one_head_so_every_deploy_reaches_the_same_schema(app):
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}; merge them (shop db merge)"


def test_downgrade_to_nothing_and_upgrade_again_leave_the_same_schema(app):
    with app.app_context():
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
    assert not schema_differences(app)


def test_init_db_applies_the_migrations_and_can_run_again(app):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["init-db"])
        assert result.exit_code == 0, result.output
        assert "database ready" in result.output
    with app.app_context():
        current = db.session.execute(db.text("SELECT version_num FROM alembic_version")).scalar_one()
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
        assert current == script.get_current_head()
