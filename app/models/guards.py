"""Append-only tables stay append-only, whatever code path tries otherwise."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.models.applications import AuditEvent, TransitionRecord

APPEND_ONLY = (TransitionRecord, AuditEvent)


class AppendOnlyError(RuntimeError):
    pass


def _refuse_changes(session: Session, flush_context, instances) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, APPEND_ONLY) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(f"{type(obj).__name__} rows are append-only; refusing to change row {obj.id}")


_installed = False


def install_guards() -> None:
    global _installed
    if not _installed:
        event.listen(Session, "before_flush", _refuse_changes)
        _installed = True
