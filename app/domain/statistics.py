"""Counts the public and the staff read: the transparency dashboard, GET /data/statistics.

TODO(issue 10): being written; :func:`record` does nothing yet.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.domain.declarations import Service, Step
from app.models import Application, TransitionRecord


def record(
    session: Session, application: Application, service: Service, step: Step | None, change: TransitionRecord
) -> None:
    """Move the counters for ``change`` in its transaction (called by app.domain.workflow)."""
