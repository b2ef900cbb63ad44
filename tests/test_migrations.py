"""Running the Alembic migrations on an empty database yields exactly the models: no table,
column, index, constraint or type that autogenerate would still want to change."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.database import MIGRATIONS_DIR, schema_filters
from app.extensions import db
from app.models import metadata


def migrated_app(url: str):
    app = create_app("test", overrides={"SQLALCHEMY_DATABASE_URI": url, "HAMAYNK_PLUGINS": []})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR))
    return app


def pending_diff(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        # The same filters as `flask db check`: SQLite's name-search FTS5 tables are no models,
        # and an index declared for PostgreSQL only is not missing on SQLite (app.database).
        opts = {"compare_type": True, "render_as_batch": True, **schema_filters(conn.dialect.name)}
        context = MigrationContext.configure(conn, opts=opts)
        with warnings.catch_warnings():
            # SQLite's reflection cannot read expression indexes, so Alembic skips them, saying
            # so; tests/test_inbox_performance.py compares their definitions instead.
            warnings.filterwarnings("ignore", message=".*expression-based index")
            return compare_metadata(context, metadata)


def check_migrations_match_models(url: str) -> None:
    app = migrated_app(url)
    try:
        assert pending_diff(app) == []
        with app.app_context():
            tables = set(inspect(db.engine).get_table_names())
            assert set(metadata.tables) <= tables
            # And the way back works too, so a failed deploy can be rolled back.
            downgrade(directory=str(MIGRATIONS_DIR), revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
            upgrade(directory=str(MIGRATIONS_DIR))
        assert pending_diff(app) == []
    finally:
        with app.app_context():
            db.engine.dispose()


def test_migrations_match_models_on_sqlite(tmp_path):
    check_migrations_match_models(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")


@pytest.mark.postgres
def test_migrations_match_models_on_postgresql(fresh_postgres_database):
    check_migrations_match_models(fresh_postgres_database("hamaynk_test_migrations"))


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path):
    app = create_app(
        "test", overrides={"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'wal.sqlite3'}", "HAMAYNK_PLUGINS": []}
    )
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        db.engine.dispose()
