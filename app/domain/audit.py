"""The audit trail: one function writes every :class:`~app.models.AuditEvent`.

Events are append-only (:mod:`app.models.guards`) and added to the caller's session, so an
event commits or rolls back together with the change it records. Where the act itself writes
nothing (opening a document), the caller commits the event before the act happens: a view
that left no trace must not be possible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session, scoped_session

from app.domain.access import Actor
from app.models import AuditEvent

# An IP address column holds at most this much (IPv6 with a zone fits).
MAX_IP = 45


def record(
    session: Session | scoped_session[Session],
    action: str,
    *,
    actor: Actor | int | None,
    target: tuple[str, Any] | None = None,
    municipality_id: int | None = None,
    details: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add one event: ``action`` (``"document.download"``, ``"staff.update"``, …) done by
    ``actor`` (an :class:`Actor`, a user id, or ``None`` for the system) to ``target``
    (``(object_type, object_id)``), within ``municipality_id`` (``None`` for system-level
    events). ``details`` must be JSON-serialisable."""
    actor_id = actor.user_id if isinstance(actor, Actor) else actor
    object_type, object_id = target if target is not None else (None, None)
    event = AuditEvent(
        actor_id=actor_id,
        municipality_id=municipality_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=dict(details or {}),
        ip=(ip or "")[:MAX_IP] or None,
    )
    session.add(event)
    return event


__all__ = ["record"]
