from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from flask import Flask
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, scoped_session

from app.extensions import db, migrate
from app.models import install_guards
from app.models.applications import NAME_FTS_TABLE

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
        # SQLite plans from statistics that only ANALYZE gathers; without them it picked a
        # municipality-wide index over an application's own (0.5-3.7 s instead of 0.0 ms at a
        # million rows). As https://sqlite.org/lang_analyze.html#req advises for long-lived
        # connections: PRAGMA optimize when a connection opens (0x10002: look at every table,
        # not only those this connection used; SQLite < 3.46 ignores the 0x10000 bit) and when
        # it closes (_sqlite_optimize_on_close), with analysis_limit so that a large table
        # costs a bounded sample, not a full scan.
        cursor.execute(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")
        cursor.execute("PRAGMA optimize=0x10002")
        cursor.close()

    return on_connect


# Rows per index that ANALYZE samples on SQLite (https://sqlite.org/pragma.html#pragma_analysis_limit).
SQLITE_ANALYSIS_LIMIT = 1000


def _sqlite_optimize_on_close(dbapi_connection, _record) -> None:
    try:
        dbapi_connection.execute("PRAGMA optimize")
    except Exception:
        # Statistics are a nicety: a connection closing (after an error, or locked out by a
        # writer past busy_timeout) must still close.
        return


def analyze(target: Engine | Connection | Session | scoped_session[Any]) -> None:
    """Refresh the planner's statistics (``ANALYZE``) of the database behind ``target``.

    For after a bulk load (the benchmark generator) and after migrations (migrations/env.py):
    a fresh or much-grown table's plans are guessed until this runs. On SQLite it reads every
    row (``PRAGMA optimize`` samples, this does not); on PostgreSQL ANALYZE samples anyway. An
    engine is analyzed in a transaction of its own; a connection or a session in theirs, which
    the caller commits.
    """
    if isinstance(target, Engine):
        with target.begin() as connection:
            _analyze(connection)
    elif isinstance(target, Connection):
        _analyze(target)
    else:
        _analyze(target.connection())


def _analyze(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql("ANALYZE")
        return
    # Every row, not a sample: a sample caps the rows SQLite believes one municipality has at
    # about the limit, so that walking all of a municipality looks as cheap as a name's few
    # matches (0.2 s for 200k applications, once per bulk load or migration).
    connection.exec_driver_sql("PRAGMA analysis_limit=0")
    try:
        connection.exec_driver_sql("ANALYZE")
    finally:
        connection.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_LIMIT}")


def schema_filters(dialect_name: str) -> dict[str, Callable[..., bool]]:
    """Alembic's autogenerate filters for ``dialect_name``: what the models-versus-database
    comparison (``flask db check``, tests/test_migrations.py) must not look at.

    - SQLite's name-search FTS5 table and its shadow tables (``application_name_fts*``): a
      virtual table is no model (app.models.applications makes it with DDL, its migration too);
    - an index the models declare for another database only (``Index.ddl_if``): the pg_trgm
      index exists on PostgreSQL alone.
    """

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return not (type_ == "table" and name is not None and name.startswith(NAME_FTS_TABLE))

    def include_object(obj: Any, _name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
        if type_ != "index":
            return True
        only = getattr(obj, "_ddl_if", None)
        dialects = getattr(only, "dialect", None)
        if dialects is None:
            return True
        return dialect_name == dialects or dialect_name in (dialects if isinstance(dialects, (tuple, list)) else ())

    return {"include_name": include_name, "include_object": include_object}


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////:memory:"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    dialect_name = "sqlite" if uri.startswith("sqlite") else uri.split(":", 1)[0].split("+", 1)[0]
    migrate.init_app(
        app,
        db,
        directory=str(MIGRATIONS_DIR),
        render_as_batch=True,
        compare_type=True,
        **schema_filters(dialect_name),
    )
    if uri.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas(app.config.get("HAMAYNK_SQLITE_WAL", True)))
            event.listen(db.engine.pool, "close", _sqlite_optimize_on_close)
    if dialect_name == "postgresql":
        with app.app_context():
            event.listen(db.engine, "begin", _reading_only)
            event.listen(db.engine, "before_cursor_execute", _note_writes)
        # Before Flask-SQLAlchemy's own teardown (teardowns run last registered first).
        app.teardown_appcontext(_end_reading)
    install_guards()


# -- PostgreSQL: a request that only read ends with COMMIT, not ROLLBACK -----------------------
#
# psycopg prepares a statement once a connection has sent it five times, and PostgreSQL then
# skips planning it: the sign-in SELECT (ten tables) plans in ~2 ms and runs in 0.3. But
# psycopg forgets every prepared statement on ROLLBACK, and the end of each request rolled
# back (the session closing), so nothing was ever prepared. A transaction that sent nothing
# but SELECTs is committed instead: the same for the database, and the connection keeps its
# prepared statements. Anything else it sent (a write, a savepoint, a SET, raw SQL that is
# not a SELECT), a request that failed, or changes still in the session: rolled back as before.

_WROTE = "hamaynk_wrote"


def _reading_only(conn: Connection) -> None:
    conn.info[_WROTE] = False


def _note_writes(conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    # A SELECT's row locks (FOR UPDATE) end with either; only what is not a SELECT counts.
    if statement.lstrip()[:6].upper() != "SELECT":
        conn.info[_WROTE] = True


def _end_reading(exc: BaseException | None) -> None:
    scoped = cast("scoped_session[Session]", db.session)
    if exc is not None or not scoped.registry.has():
        return
    session = scoped()
    if session.new or session.dirty or session.deleted:
        return
    if not session.in_transaction() or session.in_nested_transaction():
        return
    if session.connection().info.get(_WROTE) is False:
        # As the ROLLBACK of close() did, the loaded rows keep their values: code that used
        # them after its app context ended (tests, commands) still reads them.
        expire, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()
        finally:
            session.expire_on_commit = expire


__all__ = ["SQLITE_ANALYSIS_LIMIT", "analyze", "db", "init_app", "schema_filters"]
