"""What the API's application list returns, as SQL and without a request.

Paging is by keyset on the id, newest first: a page is ``limit + 1`` rows with ``id < after``,
the extra row only saying whether another page exists. There is no COUNT(*) and no OFFSET,
so page 500 costs what page 1 costs and 60 000 applications cost what 60 do. That is why the
API is built on Flask-AppBuilder's ``BaseApi`` and not ``ModelRestApi``: the latter counts the
whole filtered table for every page and pages by OFFSET.

Only explicit columns are selected (never the form data or the access secret hash).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.domain import access, deadlines
from app.domain.access import Actor
from app.models import Application

LIST_COLUMNS = (
    "id",
    "tracking_number",
    "service_key",
    "service_version",
    "status",
    "current_step",
    "applicant_name",
    "submitted_at",
    "due_at",
    "step_due_at",
    "assignee_id",
)
DEFAULT_LIMIT = 25


@dataclass(frozen=True)
class ListFilters:
    status: str | None = None
    service: str | None = None
    overdue: bool = False


@dataclass
class ListPage:
    rows: list[dict[str, Any]]
    next_after: int | None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def list_applications(
    session: Session,
    actor: Actor | None,
    filters: ListFilters,
    *,
    limit: int,
    after: int | None = None,
    on: dt.date | None = None,
) -> ListPage:
    """One page of the applications ``actor`` may see (app.domain.access: a draft only to its
    creator), newest first."""
    columns = [getattr(Application, name) for name in LIST_COLUMNS]
    query = access.visible_applications(actor, *columns)
    if filters.status:
        query = query.where(Application.status == filters.status)
    if filters.service:
        query = query.where(Application.service_key == filters.service)
    if filters.overdue:
        query = query.where(deadlines.late_clause(on))
    if after is not None:
        query = query.where(Application.id < after)
    fetched = session.execute(query.order_by(Application.id.desc()).limit(limit + 1)).all()
    more = len(fetched) > limit
    rows = [{name: _jsonable(value) for name, value in zip(LIST_COLUMNS, row, strict=False)} for row in fetched[:limit]]
    return ListPage(rows=rows, next_after=rows[-1]["id"] if more and rows else None)


__all__ = ["DEFAULT_LIMIT", "LIST_COLUMNS", "ListFilters", "ListPage", "list_applications"]
