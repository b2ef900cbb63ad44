from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    literal,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model, MunicipalityOwned, MunicipalityScoped, utcnow

# The stored status values, defined with the column that holds them; never rename one. What
# they mean (final, waiting on the citizen) and their labels are in app.domain.statuses.
DRAFT = "draft"
SUBMITTED = "submitted"
IN_REVIEW = "in_review"
RETURNED = "returned_for_correction"
APPROVED = "approved"
ISSUED = "issued"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
# Waiting on the office or on the citizen (app.domain.workflow.OPEN is the same tuple): the
# statuses the inbox's working tabs show, and the WHERE of the partial indexes that serve them.
OPEN_STATUSES = (SUBMITTED, IN_REVIEW, RETURNED)
# Inbox pages are ordered by due date, undated rows last. Sorting ``coalesce(due_at, QUEUE_END)``
# instead of ``due_at NULLS LAST`` makes the keyset one row value that both SQLite and
# PostgreSQL seek on through one expression index (app.domain.inbox); no due date is ever
# that late (due dates are working days from a filing date).
QUEUE_END = dt.date(9999, 12, 31)


class Application(MunicipalityOwned, Model):
    """One citizen's request for one service, from draft to issued/rejected/withdrawn."""

    __tablename__ = "application"
    __table_args__ = (
        # The workspace lists by municipality, status and due date; this keeps that cheap at 60k+.
        Index("ix_application_inbox", "municipality_id", "status", "due_at"),
        Index("ix_application_applicant_psn", "municipality_id", "applicant_psn"),
        Index("ix_application_applicant_phone", "municipality_id", "applicant_phone"),
        # A citizen's "My applications" (a handful of rows each, whatever the table's size).
        Index("ix_application_applicant_user", "applicant_user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Human-readable, per municipality and year, with a check character.
    tracking_number: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    # Random secret (hashed) for public look-ups, so tracking numbers cannot be enumerated.
    access_secret_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    service_key: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    service_version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default=DRAFT)
    current_step: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="office")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    applicant_name: Mapped[str] = mapped_column(String(200), nullable=False)
    applicant_psn: Mapped[str | None] = mapped_column(String(10))
    applicant_phone: Mapped[str | None] = mapped_column(String(32))
    applicant_email: Mapped[str | None] = mapped_column(String(254))
    applicant_address: Mapped[str | None] = mapped_column(String(500))
    applicant_user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    fee: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # None when nothing is to be paid; otherwise due, paid or waived (app.domain.payments).
    payment_status: Mapped[str | None] = mapped_column(String(16))

    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    due_at: Mapped[dt.date | None] = mapped_column(Date)
    step_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # A client-chosen key for the submit request: a double submit finds the first row.
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Optimistic locking: an UPDATE that finds another version changes nothing.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}

    documents: Mapped[list[ApplicationDocument]] = relationship(
        back_populates="application", order_by="ApplicationDocument.id"
    )
    history: Mapped[list[TransitionRecord]] = relationship(back_populates="application", order_by="TransitionRecord.id")


def _inline(value: Any, type_: Any) -> Any:
    # A value written into the SQL itself when the statement runs (not a bound parameter), yet
    # still a parameter to SQLAlchemy: statements stay cached, and app.domain.access's scope
    # check sees no raw SQL in it.
    return literal(value, type_, literal_execute=True)


def queue_key(column: Any = Application.due_at) -> Any:
    """The inbox's sort key, ``coalesce(due_at, '9999-12-31')``, as queries write it: with the
    date inlined, as an expression index serves only a query whose expression matches its own
    (a bound parameter would not)."""
    return func.coalesce(column, _inline(QUEUE_END, Date()))


def open_status_clause() -> Any:
    """``status IN ('submitted', 'in_review', 'returned_for_correction')`` with the values
    inlined: SQLite uses a partial index only when the query's WHERE repeats the index's WHERE
    term literally (bound parameters do not count), PostgreSQL when it can prove it implied."""
    return Application.status.in_([_inline(status, String()) for status in OPEN_STATUSES])


def status_in(values: Any) -> Any:
    """``status IN (…)`` with the values inlined (the domain's ``workflow.AT_STEP``, say): a
    prepared statement's generic plan can use a partial index only when it can prove the
    query implies the index's WHERE, which bound parameters do not let it."""
    return Application.status.in_([_inline(status, String()) for status in values])


def returned_clause() -> Any:
    """``status = 'returned_for_correction'`` with the value inlined, the WHERE of
    ``ix_application_returned_creator``."""
    return Application.status == _inline(RETURNED, String())


def filed_clause() -> Any:
    """``status != 'draft'`` with the value inlined, the WHERE of ``ix_application_queue``."""
    return Application.status != _inline(DRAFT, String())


# The same key as the indexes declare it (DDL has no parameters).
_QUEUE_KEY_DDL = func.coalesce(Application.due_at, literal_column(f"'{QUEUE_END.isoformat()}'", Date))


# Inbox pages walk a municipality's applications by the (queue key, id) keyset (app.domain.inbox):
# the "All" tab through every filed row, the working tabs ("My tasks", "My department",
# overdue) through the open ones only. At a million applications most rows are closed; an
# index that holds them too made those tabs step over ~300k closed rows per page. Both indexes
# are partial, on WHEREs that the other's queries do not repeat, so that a working tab cannot
# take the "All" index: SQLite's sampled statistics (analysis_limit) rate the two alike.
# A migration that rebuilds ``application`` on SQLite (Alembic's batch mode) loses the
# expression indexes and the name-search triggers below (SQLite's reflection cannot read them):
# it must create them again; tests/test_inbox_performance.py compares migrated and created
# schemas index by index and trigger by trigger.
Index(
    "ix_application_queue",
    Application.municipality_id,
    _QUEUE_KEY_DDL,
    Application.id,
    sqlite_where=Application.status != DRAFT,
    postgresql_where=Application.status != DRAFT,
)
Index(
    "ix_application_open_queue",
    Application.municipality_id,
    _QUEUE_KEY_DDL,
    Application.id,
    sqlite_where=Application.status.in_(OPEN_STATUSES),
    postgresql_where=Application.status.in_(OPEN_STATUSES),
)
# "Assigned to me" (and to whoever I stand in for), open only.
Index(
    "ix_application_open_assignee",
    Application.assignee_id,
    _QUEUE_KEY_DDL,
    Application.id,
    sqlite_where=Application.status.in_(OPEN_STATUSES),
    postgresql_where=Application.status.in_(OPEN_STATUSES),
)
# "Waiting at a step I may act on" / "my department's": the steps are (service, version, step)
# triples chosen from the declarations by role and department (app.domain.inbox._steps). With
# the queue key, one step's applications are walked in queue order ("My tasks" on PostgreSQL
# cuts each step at a page, app.domain.inbox._mine_per_branch).
Index(
    "ix_application_open_step",
    Application.municipality_id,
    Application.service_key,
    Application.service_version,
    Application.current_step,
    _QUEUE_KEY_DDL,
    Application.id,
    sqlite_where=Application.status.in_(OPEN_STATUSES),
    postgresql_where=Application.status.in_(OPEN_STATUSES),
)
# "Returned cases I filed" (a clerk may resubmit them for the applicant): few rows, sought by
# who filed them rather than read all to find none.
Index(
    "ix_application_returned_creator",
    Application.municipality_id,
    Application.created_by_id,
    _QUEUE_KEY_DDL,
    Application.id,
    sqlite_where=Application.status == RETURNED,
    postgresql_where=Application.status == RETURNED,
)

# -- name search ---------------------------------------------------------------------------------
#
# The inbox finds applicants by any part of their name, case-insensitively (Armenian too).
# PostgreSQL: a pg_trgm GIN index serves ``applicant_name ILIKE '%…%'``. SQLite: an
# external-content FTS5 table with the trigram tokenizer (SQLite >= 3.34), kept in step with
# ``application`` by triggers; app.domain.inbox queries it. Neither is a model: the DDL below
# runs with the table in ``create_all`` (tests); migration 3b8f2c6d9e41 makes the same objects,
# and app.database.schema_filters keeps them out of the models-versus-migrations comparison.
NAME_TRGM_INDEX = "ix_application_name_trgm"
NAME_FTS_TABLE = "application_name_fts"
Index(
    NAME_TRGM_INDEX,
    Application.applicant_name,
    postgresql_using="gin",
    postgresql_ops={"applicant_name": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")

SQLITE_NAME_SEARCH = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS application_name_fts USING fts5(applicant_name, "
    "content='application', content_rowid='id', tokenize='trigram case_sensitive 0')",
    "CREATE TRIGGER IF NOT EXISTS application_name_fts_insert AFTER INSERT ON application BEGIN "
    "INSERT INTO application_name_fts(rowid, applicant_name) VALUES (new.id, new.applicant_name); END",
    "CREATE TRIGGER IF NOT EXISTS application_name_fts_delete AFTER DELETE ON application BEGIN "
    "INSERT INTO application_name_fts(application_name_fts, rowid, applicant_name) "
    "VALUES ('delete', old.id, old.applicant_name); END",
    "CREATE TRIGGER IF NOT EXISTS application_name_fts_update AFTER UPDATE OF applicant_name ON application BEGIN "
    "INSERT INTO application_name_fts(application_name_fts, rowid, applicant_name) "
    "VALUES ('delete', old.id, old.applicant_name); "
    "INSERT INTO application_name_fts(rowid, applicant_name) VALUES (new.id, new.applicant_name); END",
)
# Before ``application``, which takes its triggers with it (a migration drops them by name).
SQLITE_NAME_SEARCH_DROP = ("DROP TABLE IF EXISTS application_name_fts",)
POSTGRESQL_NAME_SEARCH = ("CREATE EXTENSION IF NOT EXISTS pg_trgm",)

for _statement in POSTGRESQL_NAME_SEARCH:
    event.listen(Application.__table__, "before_create", DDL(_statement).execute_if(dialect="postgresql"))
for _statement in SQLITE_NAME_SEARCH:
    event.listen(Application.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in SQLITE_NAME_SEARCH_DROP:
    event.listen(Application.__table__, "before_drop", DDL(_statement).execute_if(dialect="sqlite"))


class ApplicationDocument(MunicipalityOwned, Model):
    __tablename__ = "application_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), nullable=False, index=True
    )
    requirement_key: Mapped[str] = mapped_column(String(64), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)  # sniffed from content
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    application: Mapped[Application] = relationship(back_populates="documents")


class TransitionRecord(MunicipalityOwned, Model):
    """Immutable history: rows are only ever inserted (see app.models.guards)."""

    __tablename__ = "transition_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    step_key: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    # What the act changed or named, for the history: for a return the fields and documents
    # to fix, for a resubmission {field: [old, new]} and replaced files, for a hand-over how
    # the result reached the applicant. Never personal data beyond what the form holds.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # Set when a substitute acted for an absent colleague: the colleague's user id.
    on_behalf_of_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    application: Mapped[Application] = relationship(back_populates="history")


class AuditEvent(MunicipalityScoped, Model):
    """Append-only log of security-relevant acts (document views, permission changes, …)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    # Nullable: system-level events (a plug-in disabled, a municipality created) have none.
    municipality_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    # The tamper-evident chain (app.domain.audit): ``hash`` covers this event's fields and
    # ``prev_hash``, the previous event's ``hash``. Events written before the chain began
    # have neither (app.models.security.AuditChain says where it begins).
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


__all__ = ["Application", "ApplicationDocument", "AuditEvent", "TransitionRecord", "UniqueConstraint"]
