"""Escalation: an overdue step is reported to the head of the department responsible for it,
once per step and due date.

:func:`escalate_overdue` is a plain function on a session: it finds applications whose
current step is past its budget (:func:`app.domain.deadlines.step_overdue_clause`: running
clock only, so applications returned for correction are never escalated), leaves out those
already escalated for that step and due moment, and writes notifications to

1. the department's head (``Department.head_user_id``), else
2. the staff with the role Head in that department, else
3. the municipal administrators

— always people of the application's own municipality, and only active ones. It also
writes an ``application.escalate`` audit event. The caller hands in the service registry and
the app's config (for the public address in links and the default language) and commits; the
job in app.jobs does that and then sends the e-mails.

Idempotent: the escalation marker is the notification itself (``kind="escalation"`` with the
application, step key and step due moment), so a second run finds it and writes nothing, and
its unique ``dedup_key`` makes two concurrent runs leave one set of rows (the loser's commit
fails and is retried by the next run, which then finds the winner's). A step that becomes
overdue again after an extension has a new due moment and is escalated again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from sqlalchemy import Exists, Select, exists, select
from sqlalchemy.orm import Session

from app.domain import access, audit, deadlines, notifications, roles, workflow
from app.domain.declarations import Service, Step, pick
from app.domain.errors import WorkflowError
from app.domain.formatting import format_date
from app.models import Application, Department, Notification, Role, StaffProfile, User, assoc_user_role

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry

log = logging.getLogger(__name__)

KIND = "escalation"
# One run handles at most this many applications; the next run continues (every 15 minutes).
BATCH = 500


@dataclass(frozen=True)
class _Target:
    municipality_id: int
    department_id: int | None


def _already_escalated() -> Exists:
    return exists().where(
        Notification.kind == KIND,
        Notification.application_id == Application.id,
        Notification.step_key == Application.current_step,
        Notification.step_due_at == Application.step_due_at,
    )


def overdue_unescalated(on: dt.date | None = None) -> Select[Application]:
    """SELECT of applications to escalate on ``on``, oldest deadline first."""
    stmt = (
        select(Application)
        .where(deadlines.step_overdue_clause(on), Application.current_step.is_not(None), ~_already_escalated())
        .order_by(Application.step_due_at, Application.id)
    )
    return access.unscoped(stmt, reason="escalation sweeps the overdue steps of every municipality")


def _active_staff(session: Session, municipality_id: int, *, role: str, department_id: int | None = None) -> list[User]:
    query = (
        select(User)
        .join(StaffProfile, StaffProfile.user_id == User.id)
        .join(assoc_user_role, assoc_user_role.c.user_id == User.id)
        .join(Role, Role.id == assoc_user_role.c.role_id)
        .where(StaffProfile.municipality_id == municipality_id, Role.name == role, User.active.is_(True))
        .order_by(User.id)
    )
    if department_id is not None:
        query = query.where(StaffProfile.department_id == department_id)
    return list(session.execute(query).scalars().unique())


def recipients(session: Session, municipality_id: int, department_id: int | None) -> list[User]:
    """Who hears about an overdue step of ``department_id`` in ``municipality_id``."""
    if department_id is not None:
        department = session.get(Department, department_id)
        if (
            department is not None
            and department.municipality_id == municipality_id
            and department.head_user_id is not None
        ):
            head = session.execute(
                select(User)
                .join(StaffProfile, StaffProfile.user_id == User.id)
                .where(
                    User.id == department.head_user_id,
                    User.active.is_(True),
                    StaffProfile.municipality_id == municipality_id,
                )
            ).scalar_one_or_none()
            if head is not None:
                return [head]
        heads = _active_staff(session, municipality_id, role=roles.HEAD, department_id=department_id)
        if heads:
            return heads
    return _active_staff(session, municipality_id, role=roles.MUNICIPAL_ADMIN)


def _service_and_step(application: Application, registry: ServiceRegistry) -> tuple[Service | None, Step | None]:
    """The declaration the application was filed under and its current step; ``None`` for
    what is no longer installed."""
    registered = registry.get(application.service_key, application.service_version)
    if registered is None:
        return None, None
    return registered.service, workflow.current_step(application, registered.service)


def _department_of(session: Session, application: Application, step: Step | None) -> int | None:
    """The department responsible for the current step, as the workflow decides it; the
    application's own when the service is gone or the step's department does not exist."""
    if step is not None:
        try:
            return workflow.responsible_department_id(session, application, step)
        except WorkflowError:
            pass
    return application.department_id


def _renderer(
    application: Application, service: Service | None, step: Step | None, config: Mapping[str, Any]
) -> Callable[[str], tuple[str, str]]:
    # An e-mail needs a whole address; the jobs run outside any request, so it comes from config.
    base_url = (config.get("HAMAYNK_PUBLIC_URL") or "").rstrip("/")

    def render(language: str) -> tuple[str, str]:
        service_title = pick(service.title, language) if service else application.service_key
        step_title = pick(step.title, language) if step else (application.current_step or "")
        due = format_date(application.step_due_at, "long", language)
        subject = _("Overdue: application %(number)s", number=application.tracking_number)
        body = "\n".join(
            [
                _(
                    "The step \u201c%(step)s\u201d of application %(number)s (%(service)s) was due on %(due)s and is not done yet.",
                    step=step_title,
                    number=application.tracking_number,
                    service=service_title,
                    due=due,
                ),
                "",
                _("As head of the responsible department, please see that it is handled or reassign it."),
                _("Open it in the Hamaynk inbox: %(path)s", path=f"{base_url}/workspace/applications/{application.id}"),
            ]
        )
        return subject, body

    return render


def escalate_overdue(
    session: Session,
    on: dt.date | None = None,
    *,
    registry: ServiceRegistry,
    config: Mapping[str, Any],
    limit: int = BATCH,
) -> list[Notification]:
    """Write the escalation notifications due on ``on`` (default today); returns them, unflushed
    rows included. ``config`` is the app's (``HAMAYNK_PUBLIC_URL``, ``BABEL_DEFAULT_LOCALE``).
    The caller commits."""
    default_language = config.get("BABEL_DEFAULT_LOCALE") or "hy"
    on = on or deadlines.today()
    written: list[Notification] = []
    cache: dict[_Target, list[User]] = {}
    applications = session.execute(overdue_unescalated(on).limit(limit)).scalars().all()
    for application in applications:
        service, step = _service_and_step(application, registry)
        target = _Target(application.municipality_id, _department_of(session, application, step))
        if target not in cache:
            cache[target] = recipients(session, target.municipality_id, target.department_id)
        people = cache[target]
        if not people:
            # Nobody to tell is a set-up problem, not a reason to stop the others.
            log.warning(
                "application %s is overdue but municipality %s has no head or administrator to tell",
                application.id,
                application.municipality_id,
            )
            continue
        due_at = application.step_due_at
        assert due_at is not None  # the overdue query finds only steps with a due moment
        marker = f"{KIND}:{application.id}:{application.current_step}:{due_at:%Y%m%d%H%M%S}"
        render = _renderer(application, service, step, config)
        for person in people:
            written += notifications.notify_user(
                session,
                user=person,
                default_language=default_language,
                municipality_id=application.municipality_id,
                kind=KIND,
                render=render,
                application_id=application.id,
                step_key=application.current_step,
                step_due_at=due_at,
                dedup=marker,
            )
        audit.record(
            session,
            "application.escalate",
            actor=None,
            target=("application", application.id),
            municipality_id=application.municipality_id,
            details={
                "step": application.current_step,
                "step_due_at": due_at.isoformat(),
                "recipients": [p.id for p in people],
            },
        )
    return written


__all__ = ["BATCH", "KIND", "escalate_overdue", "overdue_unescalated", "recipients"]
