"""The orphan sweep: remove stored objects that no row refers to any more.

Writes are all-or-nothing per object, and every write tied to a transaction is undone when the
transaction fails (:class:`app.domain.storage.StagedWrites`). A process killed between the
two (after the file, before the commit; or after the commit, before a delete) still leaves a
file no row names, and a local write killed half-way leaves its ``.tmp-*`` part. Such objects
cost only space; this sweep finds and removes them.

What refers to a stored object is discovered from the schema, so a new table cannot be
forgotten: every column named ``storage_key`` or ``…_storage_key``, plus the few in
:data:`OTHER_STORAGE_COLUMNS`. Every other column named like a key is listed in
:data:`NOT_STORAGE_COLUMNS` (a test fails on one that is in neither list).

An object is removed only when it is older than the grace period (``HAMAYNK_ORPHAN_GRACE_HOURS``,
default 24): a file is written before the row that names it is committed, so a young file
without a row may be an upload in flight. Each candidate is looked up once more right before
it goes, which narrows the race with a commit to the moment of the delete itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, exists, literal, or_, select
from sqlalchemy.orm import Session, scoped_session

from app.domain import access
from app.domain.storage import Storage, StorageError, StoredObject
from app.models import metadata
from app.models.base import utcnow

log = logging.getLogger(__name__)

DEFAULT_GRACE_HOURS = 24.0
# Columns holding a storage key whose name does not say so.
OTHER_STORAGE_COLUMNS = frozenset({("municipality", "coat_of_arms_key")})
# Columns named like keys that hold something else (a plug-in's key, a checklist line, a
# de-duplication or idempotency key, …): never storage. A new one must be added here or above.
NOT_STORAGE_COLUMNS = frozenset(
    {
        ("application", "submission_key"),
        ("notification", "dedup_key"),
        ("service_definition", "key"),
        ("idempotency_record", "key"),
    }
)
# Names of the service declaration's own identifiers, wherever they are copied.
NOT_STORAGE_NAMES = frozenset({"service_key", "step_key", "requirement_key"})


def _looks_like_key(name: str) -> bool:
    return name == "key" or name.endswith("_key")


def storage_columns(tables: Iterable[Table] | None = None) -> list[Column[Any]]:
    """Every column (of ``tables``, default all core tables) that holds a storage key."""
    found = []
    for table in tables if tables is not None else metadata.sorted_tables:
        for column in table.columns:
            name = column.name
            if name == "storage_key" or name.endswith("_storage_key") or (table.name, name) in OTHER_STORAGE_COLUMNS:
                found.append(column)
    return found


def unclassified_key_columns(tables: Iterable[Table] | None = None) -> list[str]:
    """``table.column`` of every column named like a key that is neither a storage column nor
    listed in :data:`NOT_STORAGE_COLUMNS`: the ones someone must decide about."""
    storage = {(c.table.name, c.name) for c in storage_columns(tables)}
    return [
        f"{table.name}.{column.name}"
        for table in (tables if tables is not None else metadata.sorted_tables)
        for column in table.columns
        if _looks_like_key(column.name)
        and (table.name, column.name) not in storage
        and (table.name, column.name) not in NOT_STORAGE_COLUMNS
        and column.name not in NOT_STORAGE_NAMES
    ]


def grace_period(config: Mapping[str, Any]) -> dt.timedelta:
    hours = config.get("HAMAYNK_ORPHAN_GRACE_HOURS")
    return dt.timedelta(hours=float(DEFAULT_GRACE_HOURS if hours in (None, "") else hours))


def referenced_keys(session: Session | scoped_session) -> set[str]:
    """Every key some row names (all municipalities: the storage is shared)."""
    keys: set[str] = set()
    for column in storage_columns():
        stmt = access.unscoped(
            select(column).where(column.is_not(None)), reason="the orphan sweep reads every stored key"
        )
        keys.update(session.execute(stmt).scalars())
    return keys


def is_referenced(session: Session | scoped_session, key: str) -> bool:
    """Whether any row names ``key`` now (one query over every storage column)."""
    clauses = [exists().where(column == key) for column in storage_columns()]
    stmt = access.unscoped(select(literal(1)).where(or_(*clauses)), reason="the orphan sweep re-checks a key")
    return session.execute(stmt).first() is not None


@dataclass
class SweepReport:
    """What one sweep found: the objects it removed (or, on a dry run, would remove), and how
    many it looked at, kept because a row names them, or kept because they are too young."""

    removed: list[StoredObject] = field(default_factory=list)
    scanned: int = 0
    referenced: int = 0
    too_young: int = 0
    failed: int = 0
    dry_run: bool = False

    @property
    def removed_bytes(self) -> int:
        return sum(found.size for found in self.removed)

    @property
    def temporary_parts(self) -> int:
        return sum(1 for found in self.removed if found.temporary)


def sweep(
    session: Session | scoped_session,
    storage: Storage,
    *,
    grace: dt.timedelta,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> SweepReport:
    """Remove every object of ``storage`` no row names (and every left-over temporary part)
    that is older than ``grace``; with ``dry_run`` remove nothing, only report. Logs what it
    removed (count, bytes and each key). Reads only; the caller's transaction is left open.

    Objects are listed before the rows are read: an object whose row commits in between is
    then seen as referenced, never the other way round."""
    now = now or utcnow()
    cutoff = now - grace
    report = SweepReport(dry_run=dry_run)
    listed = list(storage.iter_objects())
    report.scanned = len(listed)
    keys = referenced_keys(session)
    for found in listed:
        if not found.temporary and found.key in keys:
            report.referenced += 1
            continue
        if found.modified > cutoff:
            report.too_young += 1
            continue
        if not found.temporary and is_referenced(session, found.key):
            report.referenced += 1  # committed since the rows were read
            continue
        if not dry_run:
            try:
                if found.temporary:
                    storage.delete_temporary(found)
                else:
                    storage.delete(found.key)
            except StorageError:
                # The storage logged the cause; the next sweep tries again.
                report.failed += 1
                continue
        report.removed.append(found)
    _log(report)
    return report


def _log(report: SweepReport) -> None:
    verb = "would remove" if report.dry_run else "removed"
    for found in report.removed:
        log.info(
            "orphan sweep %s %s (%d bytes%s)",
            verb,
            found.key,
            found.size,
            ", temporary part" if found.temporary else "",
        )
    log.info(
        "orphan sweep %s %d object(s), %d bytes (%d temporary part(s)); scanned %d, referenced %d, "
        "younger than the grace period %d, failed %d",
        verb,
        len(report.removed),
        report.removed_bytes,
        report.temporary_parts,
        report.scanned,
        report.referenced,
        report.too_young,
        report.failed,
    )


__all__ = [
    "DEFAULT_GRACE_HOURS",
    "NOT_STORAGE_COLUMNS",
    "NOT_STORAGE_NAMES",
    "OTHER_STORAGE_COLUMNS",
    "SweepReport",
    "grace_period",
    "is_referenced",
    "referenced_keys",
    "storage_columns",
    "sweep",
    "unclassified_key_columns",
]
