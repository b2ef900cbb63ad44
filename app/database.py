from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import event

from app.extensions import db, migrate
from app.models import install_guards

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# The sqlite3 driver opens a transaction lazily, just before the first write. That keeps
# concurrent read-then-write requests from deadlocking on WAL's read-to-write upgrade (an
# explicit BEGIN at the start of every transaction made 8 concurrent clerks fail with
# "database is locked"), at a known price: a SAVEPOINT taken before any write is not inside
# a transaction. app/domain/documents.py copes with that; new code using begin_nested()
# must too (tests/test_documents.py shows how).
def _sqlite_pragmas(wal: bool):
    def on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        if wal:
            # WAL lets readers work while a clerk submits; FULL makes an acknowledged
            # submission survive a power cut: nothing acknowledged may be lost.
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return on_connect


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////:memory:"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)
    if uri.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas(app.config.get("HAMAYNK_SQLITE_WAL", True)))
    install_guards()


__all__ = ["db", "init_app"]
