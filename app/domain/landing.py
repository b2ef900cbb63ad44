"""What the signed-in home page shows each role: counts and short lists, in a few queries.

Every number here is one the person can open and check: "My tasks" is the inbox's own tab
clause (:func:`app.domain.inbox.tab_clause`), "overdue" the deadlines module's, and every
query of applications goes through :func:`app.domain.access.visible_applications`, so a home
page can never count what its reader may not see. The counts are aggregates (one row per
query), so a home page costs the same with 6 applications as with 60 000.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from app.domain import access, deadlines, inbox, roles, statuses
from app.domain.access import Actor
from app.domain.activations import catalogue
from app.domain.workflow import OPEN
from app.models import Application, Municipality, StaffProfile, User

if TYPE_CHECKING:
    from app.domain.activations import ServiceGaps
    from app.plugins.registry import ServiceRegistry

# How many returned cases the clerk's home page lists (the inbox has them all).
RETURNED_SHOWN = 10


@dataclass(frozen=True)
class Counts:
    """How many applications, and how many of them are late (overall or on their step)."""

    total: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class TaskSummary:
    """A caseworker's desk: their "My tasks" and, when they belong to a department, its queue."""

    mine: Counts
    department: Counts | None = None


@dataclass(frozen=True)
class ReturnedCases:
    """Applications sent back for correction that the clerk filed or is assigned to."""

    count: int
    shown: list[Application] = field(default_factory=list)


@dataclass(frozen=True)
class MunicipalityOverview:
    """A municipal administrator's view of their municipality."""

    services_offered: int
    services_enabled: int
    staff_active: int
    open_applications: Counts
    gaps: list[ServiceGaps] | None = None  # None: the staffing check is not available


def _counts(session: Session, actor: Actor, *where, on: dt.date | None = None) -> Counts:
    late = deadlines.late_clause(on)
    stmt = access.visible_applications(
        actor, func.count(Application.id), func.coalesce(func.sum(case((late, 1), else_=0)), 0)
    ).where(*where)
    total, overdue = session.execute(stmt).one()
    return Counts(int(total or 0), int(overdue or 0))


def task_summary(session: Session, registry: ServiceRegistry, actor: Actor, on: dt.date | None = None) -> TaskSummary:
    """The counts of the inbox tabs "My tasks" and "My department" the actor may open."""
    tabs = inbox.tabs_for(actor)
    mine = Counts()
    if inbox.MINE in tabs:
        mine = _counts(session, actor, inbox.tab_clause(session, registry, actor, inbox.MINE), on=on)
    department = None
    if inbox.DEPARTMENT in tabs:
        department = _counts(session, actor, inbox.tab_clause(session, registry, actor, inbox.DEPARTMENT), on=on)
    return TaskSummary(mine, department)


def returned_clause(actor: Actor):
    """Returned for correction, and filed by the actor or assigned to them: the front office
    takes the corrections in, so these wait on the clerk (and on the applicant)."""
    return and_(
        Application.status == statuses.RETURNED,
        or_(Application.created_by_id == actor.user_id, Application.assignee_id == actor.user_id),
    )


def returned_cases(session: Session, actor: Actor, limit: int = RETURNED_SHOWN) -> ReturnedCases:
    """The clerk's returned cases: their number and the oldest ``limit`` of them (two queries)."""
    if actor.municipality_id is None:
        return ReturnedCases(0)
    where = returned_clause(actor)
    count = session.execute(access.visible_applications(actor, func.count(Application.id)).where(where)).scalar_one()
    shown = list(
        session.execute(
            access.visible_applications(actor)
            .where(where)
            .order_by(Application.due_at.asc().nulls_last(), Application.id.asc())
            .limit(max(0, limit))
        ).scalars()
    )
    return ReturnedCases(int(count or 0), shown)


def municipality_overview(
    session: Session,
    registry: ServiceRegistry,
    actor: Actor,
    municipality_id: int,
    *,
    gaps: list[ServiceGaps] | None = None,
    on: dt.date | None = None,
) -> MunicipalityOverview:
    """Services offered and enabled, active staff, open and late applications of the
    municipality the actor administers (``municipality_id``: the actor's own, or one a system
    administrator picked). ``gaps`` is :func:`app.domain.activations.staffing_gaps`' answer,
    passed through so the page shows it with the rest."""
    if not access.staff_of(actor, municipality_id) and not actor.is_system_admin:
        raise access.NotFound(municipality_id)
    offered = catalogue(session, registry, municipality_id)
    staff = session.execute(
        access.within(
            select(func.count(StaffProfile.id)).join(User, User.id == StaffProfile.user_id),
            StaffProfile,
            municipality_id,
        ).where(User.active.is_(True))
    ).scalar_one()
    open_ = open_applications(session, actor, municipality_id, on=on)
    return MunicipalityOverview(
        services_offered=len(offered),
        services_enabled=sum(1 for item in offered if item.enabled),
        staff_active=int(staff or 0),
        open_applications=open_,
        gaps=gaps,
    )


def open_applications(session: Session, actor: Actor, municipality_id: int, on: dt.date | None = None) -> Counts:
    """Open applications (filed, not yet decided) of ``municipality_id`` the actor may see."""
    return _counts(session, actor, Application.municipality_id == municipality_id, Application.status.in_(OPEN), on=on)


def municipality_count(session: Session, actor: Actor) -> int:
    """How many municipalities the actor may see (all of them, for a system administrator)."""
    stmt = access.scoped(select(func.count(Municipality.id)), Municipality, actor)
    return int(session.execute(stmt).scalar_one() or 0)


def role_of_home(actor: Actor | None) -> list[str]:
    """Which panels the home page shows ``actor``, in order: one per role they hold
    (someone with two roles sees both), "citizen" for a member of the public."""
    if actor is None or not actor.active:
        return []
    panels = []
    if actor.is_system_admin:
        panels.append("system_admin")
    if actor.municipality_id is not None:
        if actor.has(roles.MUNICIPAL_ADMIN):
            panels.append("municipal_admin")
        if actor.has(roles.CLERK):
            panels.append("clerk")
        if actor.has(roles.SPECIALIST, roles.HEAD):
            panels.append("caseworker")
        if actor.has(roles.AUDITOR):
            panels.append("auditor")
    if actor.is_citizen:
        panels.append("citizen")
    return panels


__all__ = [
    "RETURNED_SHOWN",
    "Counts",
    "MunicipalityOverview",
    "ReturnedCases",
    "TaskSummary",
    "municipality_count",
    "municipality_overview",
    "open_applications",
    "returned_cases",
    "returned_clause",
    "role_of_home",
    "task_summary",
]
