"""Inbox at a million applications: open-only partial indexes, a (queue key, id) keyset index,
name search by trigrams (pg_trgm GIN on PostgreSQL, an FTS5 trigram table on SQLite)

Revision ID: 3b8f2c6d9e41
Revises: 07d6df99894b
Create Date: 2026-11-30 16:40:00

"""
import sqlite3

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '3b8f2c6d9e41'
down_revision = '07d6df99894b'
branch_labels = None
depends_on = None

# Written out here, not imported: a migration must keep meaning what it meant when written.
OPEN = "status IN ('submitted', 'in_review', 'returned_for_correction')"
FILED = "status != 'draft'"
QUEUE_KEY = "coalesce(due_at, '9999-12-31')"
FTS_TRIGGERS = ("application_name_fts_insert", "application_name_fts_delete", "application_name_fts_update")
SQLITE_NAME_SEARCH = (
    "CREATE VIRTUAL TABLE application_name_fts USING fts5(applicant_name, "
    "content='application', content_rowid='id', tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER application_name_fts_insert AFTER INSERT ON application BEGIN "
    "INSERT INTO application_name_fts(rowid, applicant_name) VALUES (new.id, new.applicant_name); END",
    "CREATE TRIGGER application_name_fts_delete AFTER DELETE ON application BEGIN "
    "INSERT INTO application_name_fts(application_name_fts, rowid, applicant_name) "
    "VALUES ('delete', old.id, old.applicant_name); END",
    "CREATE TRIGGER application_name_fts_update AFTER UPDATE OF applicant_name ON application BEGIN "
    "INSERT INTO application_name_fts(application_name_fts, rowid, applicant_name) "
    "VALUES ('delete', old.id, old.applicant_name); "
    "INSERT INTO application_name_fts(rowid, applicant_name) VALUES (new.id, new.applicant_name); END",
    # Index the names already there.
    "INSERT INTO application_name_fts(application_name_fts) VALUES ('rebuild')",
)


def _open_index(name, *columns):
    op.create_index(
        name,
        'application',
        list(columns),
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def _postgresql_trigram_extension():
    bind = op.get_bind()
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first()
    if available is None:
        raise RuntimeError(
            "Name search needs PostgreSQL's pg_trgm extension, which this server does not have: install the "
            "PostgreSQL contrib package (postgresql-contrib) on the database server, then run the migration again."
        )
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        raise RuntimeError(
            "Name search needs PostgreSQL's pg_trgm extension and this database user may not create it. "
            "Have the database owner or a superuser run `CREATE EXTENSION pg_trgm;` in this database, "
            f"then run the migration again. ({exc.orig})"
        ) from exc


def _sqlite_name_search():
    version = tuple(int(part) for part in sqlite3.sqlite_version.split("."))
    if version < (3, 34, 0):
        raise RuntimeError(
            f"Name search needs SQLite 3.34 or newer (its FTS5 trigram tokenizer); this Python has "
            f"SQLite {sqlite3.sqlite_version}. Use a newer Python or system SQLite, or PostgreSQL."
        )
    for statement in SQLITE_NAME_SEARCH:
        op.execute(statement)


def upgrade():
    dialect = op.get_bind().dialect.name
    # The keyset is now (coalesce(due_at, '9999-12-31'), id): undated rows last, one row value;
    # the "All" tab's index holds filed applications only (the working tabs have their own).
    op.drop_index('ix_application_queue', table_name='application')
    op.create_index(
        'ix_application_queue',
        'application',
        ['municipality_id', sa.text(QUEUE_KEY), 'id'],
        unique=False,
        sqlite_where=sa.text(FILED),
        postgresql_where=sa.text(FILED),
    )
    _open_index('ix_application_open_queue', 'municipality_id', sa.text(QUEUE_KEY), 'id')
    _open_index('ix_application_open_assignee', 'assignee_id', sa.text(QUEUE_KEY), 'id')
    _open_index('ix_application_open_step', 'municipality_id', 'service_key', 'service_version', 'current_step')
    op.create_index('ix_application_applicant_user', 'application', ['applicant_user_id'], unique=False)
    if dialect == "postgresql":
        _postgresql_trigram_extension()
        op.create_index(
            'ix_application_name_trgm',
            'application',
            ['applicant_name'],
            unique=False,
            postgresql_using='gin',
            postgresql_ops={'applicant_name': 'gin_trgm_ops'},
        )
    elif dialect == "sqlite":
        _sqlite_name_search()


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        # The pg_trgm extension stays: other objects of the database may use it by now.
        op.drop_index('ix_application_name_trgm', table_name='application')
    elif dialect == "sqlite":
        for trigger in FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS application_name_fts")
    op.drop_index('ix_application_applicant_user', table_name='application')
    op.drop_index('ix_application_open_step', table_name='application')
    op.drop_index('ix_application_open_assignee', table_name='application')
    op.drop_index('ix_application_open_queue', table_name='application')
    op.drop_index('ix_application_queue', table_name='application')
    op.create_index('ix_application_queue', 'application', ['municipality_id', 'due_at', 'id'], unique=False)
