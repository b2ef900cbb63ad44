"""Staff reports of one municipality: workload, the overdue list, processing time per step,
returned-for-correction rates; written as CSV or XLSX.

Who may read them: the heads, municipal administrators and auditors of the municipality,
and system administrators, who choose the municipality (:func:`scope_for`); the command
line reads them as the operator (:func:`operator_scope`). Every query goes through
:mod:`app.domain.access`.

Each report is a :class:`Report`: a header and its rows as a generator of plain tuples
(``str``, ``int``, ``float``, ``datetime.date`` or ``None``), so a long export streams
from the database to the file or the response without being held in memory. The queries
do not run until the rows are read, and their number does not grow with the data (one
per table read, plus one holiday query per calendar year a working-day count touches).

The period is office days, both ends included (:func:`parse_period`; the last 30 days by
default); a moment belongs to the office day it fell on in Yerevan. What it measures:

* **workload** — per department and per staff member: applications at a step now (held by
  the department responsible for the step, or assigned to the person), how many of them
  are late (:func:`app.domain.deadlines.late_clause`), how many wait on the citizen, and
  the decisions (approve, return, reject) taken on steps in the period — a department's
  by the department responsible for the step, a person's by who took them.
* **overdue** — the applications late today, on their step or overall, earliest due first:
  working days late count from the earlier missed due date
  (:meth:`~app.domain.deadlines.WorkingCalendar.working_days_between`).
* **steps** — processing time per service and step, from the transition history: working
  days from arriving at the step to leaving it, added up over the visits (the time a
  returned application waits on the citizen does not count), for the steps completed
  (approved or rejected) in the period; median, 90th percentile (nearest rank) and maximum.
* **returns** — per service, the applications decided (approved or rejected) in the
  period and how many of them had been returned for correction at least once.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, Select, and_, case, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from app.domain import access, deadlines, roles, statuses
from app.domain.access import Actor
from app.domain.declarations import Service, pick
from app.domain.errors import NotAllowed
from app.domain.tracking import OFFICE_TZ
from app.models import (
    Application,
    Department,
    Municipality,
    Role,
    ServiceActivation,
    StaffProfile,
    TransitionRecord,
    User,
    assoc_user_role,
)

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry

WORKLOAD = "workload"
OVERDUE = "overdue"
STEPS = "steps"
RETURNS = "returns"
NAMES = (WORKLOAD, OVERDUE, STEPS, RETURNS)
TITLES = {
    WORKLOAD: _l("Workload"),
    OVERDUE: _l("Overdue applications"),
    STEPS: _l("Processing time per step"),
    RETURNS: _l("Returned for correction"),
}
FORMATS = ("csv", "xlsx")
# Who reads a municipality's reports (system administrators read every municipality's).
READERS = (roles.HEAD, roles.MUNICIPAL_ADMIN, roles.AUDITOR)
DEFAULT_DAYS = 30
# A longer period is a typo, not a report (and would scan the whole history for nothing).
MAX_DAYS = 5 * 366
# Rows fetched from the database at a time, and how often progress is reported.
CHUNK = 1000
# The decisions a step ends with, and the history a step's visits are read from.
DECISIONS = ("approve", "return", "reject")
_STEP_HISTORY = ("submit", "approve", "return", "resubmit", "reject", "withdraw")
_AT_STEP = (statuses.SUBMITTED, statuses.IN_REVIEW)
# The two kinds of rows of the workload's one statement: applications held now, decisions taken.
_HELD, _DECIDED = 1, 2
OPERATOR = "the operator's report of one municipality, from the command line"
UTF8_BOM = "\ufeff"

Value = str | int | float | dt.date | None
Row = tuple[Value, ...]
Progress = Callable[[int], None]
_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])


class ReportError(ValueError):
    """Input a report cannot be made from; ``str()`` is a sentence for the reader and
    ``field`` names the input at fault (``from``, ``to``, ``report``, ``format``,
    ``municipality``)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# -- the period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Office days from ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """The stored (naive UTC) moments of the period: from its first office midnight, up
        to (not including) the midnight after its last day."""
        return _utc_midnight(self.start), _utc_midnight(self.end + dt.timedelta(days=1))

    def holds(self, moment: dt.datetime) -> bool:
        first, after = self.bounds()
        return first <= moment < after


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, OFFICE_TZ).astimezone(dt.UTC).replace(tzinfo=None)


def office_date(moment: dt.datetime) -> dt.date:
    """The office's calendar day of a stored (naive UTC) moment."""
    return moment.replace(tzinfo=dt.UTC).astimezone(OFFICE_TZ).date()


def _date(raw: object, name: str) -> dt.date | None:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return None
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    if name == "from":
        message = _("The start date %(value)s is not a date: enter it as YYYY-MM-DD.", value=text[:20])
    else:
        message = _("The end date %(value)s is not a date: enter it as YYYY-MM-DD.", value=text[:20])
    raise ReportError(message, name)


def parse_period(raw_from: object, raw_to: object, today: dt.date | None = None) -> Period:
    """The period from two ``YYYY-MM-DD`` texts (either may be empty): the end defaults to
    today, the start to :data:`DEFAULT_DAYS` days before it (so 30 days, both ends
    included). Raises :class:`ReportError` for a text that is not a date, a start after
    the end, or a period longer than :data:`MAX_DAYS` days."""
    start, end = _date(raw_from, "from"), _date(raw_to, "to")
    if end is None:
        end = max(today or deadlines.today(), start) if start is not None else (today or deadlines.today())
    if start is None:
        start = end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ReportError(_("The start date must not be after the end date."), "from")
    period = Period(start, end)
    if period.days > MAX_DAYS:
        raise ReportError(_("Choose a period of at most %(days)d days.", days=MAX_DAYS), "from")
    return period


def default_period(today: dt.date | None = None) -> Period:
    return parse_period(None, None, today)


# -- whose reports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The municipality a report is about, and who reads it (``None``: the operator)."""

    municipality_id: int
    code: str
    names: Mapping[str, str]
    actor: Actor | None

    def name(self, language: str) -> str:
        return pick(dict(self.names), language) or self.code


def _scope(municipality: Municipality, actor: Actor | None) -> Scope:
    names = {lang: getattr(municipality, f"name_{lang}") or "" for lang in ("hy", "en", "ru")}
    return Scope(municipality.id, municipality.code, names, actor)


def may_read(actor: Actor | None) -> bool:
    """Whether ``actor`` reads staff reports at all: an active head, municipal administrator or
    auditor of a municipality, or a system administrator."""
    if actor is None or not actor.active:
        return False
    return actor.is_system_admin or (actor.municipality_id is not None and actor.has(*READERS))


def scope_for(session: Session, actor: Actor | None, code: str | None = None) -> Scope:
    """The municipality whose reports ``actor`` reads: their own (``code`` may name it), or
    for a system administrator the one ``code`` names. Raises :class:`NotAllowed` for anyone
    else and for another municipality's code; :class:`ReportError` when a system
    administrator names none or one that does not exist."""
    if not may_read(actor):
        raise NotAllowed(_("Only the heads, municipal administrators and auditors of a municipality read its reports."))
    assert actor is not None  # may_read said so
    wanted = (code or "").strip()[:64]
    if not actor.is_system_admin:
        assert actor.municipality_id is not None  # may_read said so
        own = access.get_municipality(session, actor, actor.municipality_id)
        if wanted and wanted != own.code:
            raise NotAllowed(_("You may read the reports of your own municipality only."))
        return _scope(own, actor)
    if not wanted:
        raise ReportError(_("Choose a municipality."), "municipality")
    stmt = access.scoped(select(Municipality), Municipality, actor).where(Municipality.code == wanted)
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise ReportError(_("There is no municipality %(code)s.", code=wanted), "municipality")
    return _scope(found, actor)


def operator_scope(session: Session, code: str) -> Scope:
    """The municipality ``code`` for the operator at the command line; :class:`ReportError`
    when there is none."""
    stmt = access.unscoped(select(Municipality), reason=OPERATOR).where(Municipality.code == code.strip())
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise ReportError(_("There is no municipality %(code)s.", code=code.strip()[:64]), "municipality")
    return _scope(found, None)


def municipalities_for(session: Session, actor: Actor | None) -> list[tuple[str, str]]:
    """(code, name) of the municipalities ``actor`` may choose, by code: a system
    administrator's choice; nobody else chooses (empty)."""
    if actor is None or not actor.active or not actor.is_system_admin:
        return []
    stmt = access.scoped(select(Municipality), Municipality, actor).order_by(Municipality.code)
    return [(m.code, m.name_hy or m.code) for m in session.execute(stmt).scalars()]


# -- the report ------------------------------------------------------------------------------------


@dataclass
class Report:
    """One report: ``header`` and ``rows`` (a generator: read it once)."""

    name: str
    title: str
    scope: Scope
    period: Period
    today: dt.date
    header: tuple[str, ...]
    rows: Iterator[Row]
    # Columns holding a share in per cent and dates, for the writers' number formats.
    percent_columns: frozenset[int] = field(default_factory=frozenset)

    def filename(self, extension: str) -> str:
        return (
            f"hamaynk-{self.name}-{self.scope.code}-{self.period.start:%Y-%m-%d}-{self.period.end:%Y-%m-%d}.{extension}"
        )


class _Names:
    """Titles of services and steps, departments and people, in one language: the registry
    needs no query; departments, activations and staff are read once each, when first needed."""

    def __init__(self, session: Session, scope: Scope, registry: ServiceRegistry, language: str) -> None:
        self.session = session
        self.scope = scope
        self.registry = registry
        self.language = language
        self._departments: dict[int, tuple[str, str]] | None = None
        self._activations: dict[str, int | None] | None = None
        self._people: dict[int, tuple[str, int | None, bool]] | None = None
        self._caseworkers: set[int] = set()

    # services and steps
    def service(self, key: str, version: int | None = None) -> Service | None:
        registered = self.registry.get(key, version) if version is not None else None
        registered = registered or self.registry.get(key)
        return registered.service if registered is not None else None

    def service_title(self, key: str) -> str:
        service = self.service(key)
        return (pick(service.title, self.language) or key) if service else key

    def step_title(self, key: str, version: int | None, step_key: str | None) -> str:
        if not step_key:
            return ""
        service = self.service(key, version)
        step = service.step(step_key) if service else None
        return (pick(step.title, self.language) or step_key) if step else step_key

    # departments
    def departments(self) -> dict[int, tuple[str, str]]:
        """id -> (code, name), in code order."""
        if self._departments is None:
            stmt = access.within(select(Department), Department, self.scope.municipality_id).order_by(Department.code)
            self._departments = {
                d.id: (
                    d.code,
                    pick({lang: getattr(d, f"name_{lang}") or "" for lang in ("hy", "en", "ru")}, self.language)
                    or d.code,
                )
                for d in self.session.execute(stmt).scalars()
            }
        return self._departments

    def department_name(self, department_id: int | None) -> str:
        if department_id is None:
            return ""
        found = self.departments().get(department_id)
        return found[1] if found else ""

    def responsible(self, key: str, version: int | None, step_key: str | None, own: int | None) -> int | None:
        """The department responsible for a step, as :func:`app.domain.workflow.responsible_department_id`
        decides it (the step's department by code, else the service's, else the application's),
        from data read once."""
        service = self.service(key, version)
        step = service.step(step_key) if service is not None and step_key else None
        if step is not None and step.department:
            by_code = {code: department_id for department_id, (code, _name) in self.departments().items()}
            return by_code.get(step.department, own)
        if self._activations is None:
            stmt = access.within(
                select(ServiceActivation.service_key, ServiceActivation.department_id),
                ServiceActivation,
                self.scope.municipality_id,
            )
            self._activations = dict(self.session.execute(stmt).tuples().all())
        return self._activations.get(key) or own

    # people
    def people(self) -> dict[int, tuple[str, int | None, bool]]:
        """user id -> (name, department id, active) of the municipality's staff (and, read
        with them, :attr:`caseworkers`)."""
        if self._people is None:
            # Users and roles belong to no municipality; the profiles are scoped.
            works_cases = (
                select(assoc_user_role.c.user_id)
                .join(Role, Role.id == assoc_user_role.c.role_id)
                .where(assoc_user_role.c.user_id == User.id, Role.name.in_(access.CASEWORKER_ROLES))
                .exists()
            )
            stmt = access.within(
                select(
                    User.id, User.first_name, User.last_name, StaffProfile.department_id, User.active, works_cases
                ).join(StaffProfile, StaffProfile.user_id == User.id),
                StaffProfile,
                self.scope.municipality_id,
            )
            self._people = {}
            for uid, first, last, department_id, active, caseworker in self.session.execute(stmt).all():
                self._people[uid] = (_full_name(first, last, uid), department_id, bool(active))
                if caseworker:
                    self._caseworkers.add(uid)
        return self._people

    @property
    def caseworkers(self) -> frozenset[int]:
        """The municipality's staff who hold a caseworker role (:data:`access.CASEWORKER_ROLES`)."""
        self.people()
        return frozenset(self._caseworkers)

    def add_people(self, user_ids: Iterable[int]) -> None:
        """Name the people in ``user_ids`` who are no longer staff of the municipality (one query)."""
        known = self.people()
        missing = sorted({uid for uid in user_ids if uid not in known})
        if not missing:
            return
        # Users belong to no municipality; the ids come from the municipality's own rows.
        stmt = select(User.id, User.first_name, User.last_name).where(User.id.in_(missing))
        for uid, first, last in self.session.execute(stmt).all():
            known[uid] = (_full_name(first, last, uid), None, False)

    def person(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        found = self.people().get(user_id)
        return found[0] if found else str(user_id)


def _full_name(first: str | None, last: str | None, user_id: int) -> str:
    return " ".join(part for part in (first, last) if part) or str(user_id)


def _applications(stmt: _S, scope: Scope) -> _S:
    """``stmt`` limited to the municipality's filed applications (drafts are nobody's workload),
    as the reader may see them."""
    stmt = stmt.where(Application.municipality_id == scope.municipality_id, Application.status != statuses.DRAFT)
    if scope.actor is None:
        return access.unscoped(stmt, reason=OPERATOR)
    return access.scoped(stmt, Application, scope.actor)


def _history(stmt: _S, scope: Scope) -> _S:
    return access.within(stmt, TransitionRecord, scope.municipality_id)


def _in_period(period: Period) -> Any:
    first, after = period.bounds()
    return and_(TransitionRecord.at >= first, TransitionRecord.at < after)


class _Tally:
    """Counts what a report reads or writes: tells ``progress`` every :data:`CHUNK`-th, and
    the total at the end."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0

    def add(self) -> None:
        self.done += 1
        if self.progress is not None and self.done % CHUNK == 0:
            self.progress(self.done)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.done)


def _transitions(stmt: _S, scope: Scope) -> _S:
    """``stmt`` over the transition history joined to its applications, limited as
    :func:`_history` and :func:`_applications` limit them."""
    return _applications(
        _history(stmt.join(Application, Application.id == TransitionRecord.application_id), scope), scope
    )


def _report(
    name: str,
    header: tuple[str, ...],
    rows: Callable[[Session, Scope, Period, _Names, dt.date, Progress | None], Iterator[Row]],
    session: Session,
    scope: Scope,
    period: Period,
    *,
    registry: ServiceRegistry,
    language: str,
    today: dt.date | None,
    progress: Progress | None,
    percent_columns: frozenset[int] = frozenset(),
) -> Report:
    """The report ``name`` with ``header``; ``rows`` are read from the database when iterated."""
    today = today or deadlines.today()
    names = _Names(session, scope, registry, language)
    return Report(
        name,
        str(TITLES[name]),
        scope,
        period,
        today,
        header,
        rows(session, scope, period, names, today, progress),
        percent_columns=percent_columns,
    )


# -- workload --------------------------------------------------------------------------------------


def workload(
    session: Session,
    scope: Scope,
    period: Period,
    *,
    registry: ServiceRegistry,
    language: str,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Report:
    """Per department, then per staff member (see the module's docstring)."""
    header = (
        _("Group"),
        _("Name"),
        _("Department"),
        _("At a step now"),
        _("Of them late"),
        _("Waiting on the citizen"),
        _("Approved in the period"),
        _("Returned in the period"),
        _("Rejected in the period"),
    )
    return _report(
        WORKLOAD,
        header,
        _workload_rows,
        session,
        scope,
        period,
        registry=registry,
        language=language,
        today=today,
        progress=progress,
    )


def _workload_rows(
    session: Session, scope: Scope, period: Period, names: _Names, today: dt.date, progress: Progress | None
) -> Iterator[Row]:
    late = func.sum(case((deadlines.late_clause(today), 1), else_=0))
    open_statuses = (*_AT_STEP, statuses.RETURNED)
    # One statement for both: per (service, step, own department, status, assignee) the
    # applications at a step now (the department responsible is decided per group, a
    # person's are the assigned ones), and per (service, step, own department, action,
    # actor) the decisions of the period (a person's are those they took).
    held = _applications(
        select(
            literal(_HELD, Integer).label("kind"),
            Application.service_key,
            Application.service_version,
            Application.current_step,
            Application.department_id,
            Application.status,
            Application.assignee_id,
            func.count(Application.id),
            late,
        ).where(Application.status.in_(open_statuses)),
        scope,
    ).group_by(
        Application.service_key,
        Application.service_version,
        Application.current_step,
        Application.department_id,
        Application.status,
        Application.assignee_id,
    )
    decided = _transitions(
        select(
            literal(_DECIDED, Integer).label("kind"),
            Application.service_key,
            Application.service_version,
            TransitionRecord.step_key,
            Application.department_id,
            TransitionRecord.action,
            TransitionRecord.actor_id,
            func.count(TransitionRecord.id),
            null(),
        ).where(TransitionRecord.action.in_(DECISIONS), _in_period(period)),
        scope,
    ).group_by(
        Application.service_key,
        Application.service_version,
        TransitionRecord.step_key,
        Application.department_id,
        TransitionRecord.action,
        TransitionRecord.actor_id,
    )

    # [at a step, late, waiting, approved, returned, rejected]
    by_department: dict[int | None, list[int]] = defaultdict(lambda: [0] * 6)
    by_person: dict[int, list[int]] = defaultdict(lambda: [0] * 6)
    slot = {"approve": 3, "return": 4, "reject": 5}
    for kind, key, version, step_key, own, what, user_id, count, late_count in session.execute(
        union_all(held, decided)
    ).all():
        department = by_department[names.responsible(key, version, step_key, own)]
        if kind == _HELD:
            _add_open(department, what, count, late_count)
            if user_id is not None:
                _add_open(by_person[user_id], what, count, late_count)
        else:
            department[slot[what]] += count
            if user_id is not None:
                by_person[user_id][slot[what]] += count

    tally = _Tally(progress)
    department_label, person_label = _("Department"), _("Staff member")
    for department_id, (_code, name) in names.departments().items():
        tally.add()
        yield (department_label, name, name, *by_department.pop(department_id, [0] * 6))
    for other, counts in by_department.items():
        # Responsible departments that no longer exist, and steps no department is responsible for.
        if any(counts):
            tally.add()
            name = names.department_name(other) or _("No department")
            yield (department_label, name, "", *counts)
    people = names.people()
    caseworkers = names.caseworkers
    workers = [uid for uid, (_n, _d, active) in people.items() if active and uid in caseworkers]
    names.add_people(by_person)
    listed = sorted(
        set(workers) | set(by_person),
        key=lambda uid: (
            names.department_name(people.get(uid, ("", None, False))[1]) or "\uffff",
            names.person(uid),
            uid,
        ),
    )
    for user_id in listed:
        tally.add()
        yield (
            person_label,
            names.person(user_id),
            names.department_name(people.get(user_id, ("", None, False))[1]),
            *by_person.get(user_id, [0] * 6),
        )
    tally.finish()


def _add_open(counts: list[int], status: str, count: int, late_count: int | None) -> None:
    if status == statuses.RETURNED:
        counts[2] += count
    else:
        counts[0] += count
        counts[1] += int(late_count or 0)


# -- overdue --------------------------------------------------------------------------------------


def overdue(
    session: Session,
    scope: Scope,
    period: Period,
    *,
    registry: ServiceRegistry,
    language: str,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Report:
    """The applications late today (the period does not apply: lateness is now)."""
    header = (
        _("Tracking number"),
        _("Service"),
        _("Step"),
        _("Department"),
        _("Assigned to"),
        _("Step due"),
        _("Overall due"),
        _("Working days late"),
    )
    return _report(
        OVERDUE,
        header,
        _overdue_rows,
        session,
        scope,
        period,
        registry=registry,
        language=language,
        today=today,
        progress=progress,
    )


def _overdue_rows(
    session: Session, scope: Scope, _period: Period, names: _Names, today: dt.date, progress: Progress | None
) -> Iterator[Row]:
    stmt = _applications(
        select(
            Application.tracking_number,
            Application.service_key,
            Application.service_version,
            Application.current_step,
            Application.department_id,
            Application.assignee_id,
            Application.step_due_at,
            Application.due_at,
        ).where(deadlines.late_clause(today)),
        scope,
    ).order_by(Application.due_at, Application.id)
    days = _Days(deadlines.calendar(session, scope.municipality_id))
    names.people()
    tally = _Tally(progress)
    for chunk in session.execute(stmt.execution_options(yield_per=CHUNK)).partitions():
        names.add_people(row[5] for row in chunk if row[5] is not None)
        for number, key, version, step_key, own, assignee, step_due_at, due_at in chunk:
            step_due = step_due_at.date() if step_due_at is not None else None
            missed = [d for d in (step_due, due_at) if d is not None and d < today]
            first_missed = min(missed) if missed else today
            tally.add()
            yield (
                number,
                names.service_title(key),
                names.step_title(key, version, step_key),
                names.department_name(names.responsible(key, version, step_key, own)),
                names.person(assignee),
                step_due,
                due_at,
                days.between(first_missed, today),
            )
    tally.finish()


class _Days:
    """Working days between two dates of one municipality, from running totals kept per day
    (each day's calendar look-up is done once, however many samples cross it)."""

    def __init__(self, calendar: deadlines.WorkingCalendar) -> None:
        self.calendar = calendar
        self.total: dict[dt.date, int] = {}
        self.low: dt.date | None = None
        self.high: dt.date | None = None

    def _cover(self, day: dt.date) -> None:
        if self.low is None or self.high is None:
            self.low = self.high = day
            self.total[day] = 0
            return
        while day > self.high:
            after = self.high + dt.timedelta(days=1)
            self.total[after] = self.total[self.high] + (1 if self.calendar.is_working_day(after) else 0)
            self.high = after
        while day < self.low:
            before = self.low - dt.timedelta(days=1)
            self.total[before] = self.total[self.low] - (1 if self.calendar.is_working_day(self.low) else 0)
            self.low = before

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days ``d`` with ``start < d <= end`` (as the deadlines count them)."""
        if end <= start:
            return 0
        self._cover(start)
        self._cover(end)
        return self.total[end] - self.total[start]


# -- processing time per step -----------------------------------------------------------------------


def step_times(
    session: Session,
    scope: Scope,
    period: Period,
    *,
    registry: ServiceRegistry,
    language: str,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Report:
    """Working days per step completed in the period (see the module's docstring)."""
    header = (
        _("Service"),
        _("Step"),
        _("Completed in the period"),
        _("Median working days"),
        _("90th percentile"),
        _("Longest"),
        _("Step budget (working days)"),
    )
    return _report(
        STEPS,
        header,
        _step_rows,
        session,
        scope,
        period,
        registry=registry,
        language=language,
        today=today,
        progress=progress,
    )


def _step_rows(
    session: Session, scope: Scope, period: Period, names: _Names, _today: dt.date, progress: Progress | None
) -> Iterator[Row]:
    completed = _history(
        select(TransitionRecord.application_id).where(
            TransitionRecord.action.in_(("approve", "reject")), _in_period(period)
        ),
        scope,
    )
    stmt = _transitions(
        select(
            TransitionRecord.application_id,
            Application.service_key,
            Application.service_version,
            TransitionRecord.at,
            TransitionRecord.action,
            TransitionRecord.step_key,
            TransitionRecord.to_status,
        ).where(TransitionRecord.action.in_(_STEP_HISTORY), TransitionRecord.application_id.in_(completed)),
        scope,
    ).order_by(TransitionRecord.application_id, TransitionRecord.id)
    days = _Days(deadlines.calendar(session, scope.municipality_id))
    first, after = period.bounds()
    # (service, step) -> histogram of working days; the newest service version seen names the step.
    samples: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    versions: dict[tuple[str, str], int] = {}
    current: int | None = None
    arrived: dt.date | None = None
    spent: dict[str, int] = {}
    tally = _Tally(progress)
    for chunk in session.execute(stmt.execution_options(yield_per=CHUNK)).partitions():
        for application_id, key, version, at, action, step_key, to_status in chunk:
            tally.add()
            if application_id != current:
                current, arrived, spent = application_id, None, {}
            day = office_date(at)
            if action in ("approve", "return", "reject") and step_key and arrived is not None:
                spent[step_key] = spent.get(step_key, 0) + days.between(arrived, day)
                arrived = None
                if action != "return" and first <= at < after:
                    samples[(key, step_key)][spent[step_key]] += 1
                    versions[(key, step_key)] = max(version, versions.get((key, step_key), version))
            # Arriving at a step: filed to its first, approved on to the next, resubmitted to the same.
            if (action, to_status) in (
                ("submit", statuses.SUBMITTED),
                ("approve", statuses.IN_REVIEW),
                ("resubmit", statuses.IN_REVIEW),
            ):
                arrived = day
            elif action == "withdraw":
                arrived = None
    tally.finish()
    for key, step_key in sorted(samples, key=lambda ks: (names.service_title(ks[0]), _step_order(names, ks, versions))):
        histogram = samples[(key, step_key)]
        version = versions[(key, step_key)]
        service = names.service(key, version)
        step = service.step(step_key) if service else None
        yield (
            names.service_title(key),
            names.step_title(key, version, step_key),
            sum(histogram.values()),
            _number(median(histogram)),
            percentile(histogram, 90),
            max(histogram),
            step.days if step else None,
        )


def _step_order(names: _Names, key_step: tuple[str, str], versions: Mapping[tuple[str, str], int]) -> tuple[int, str]:
    key, step_key = key_step
    service = names.service(key, versions.get(key_step))
    keys = [s.key for s in service.steps] if service else []
    return (keys.index(step_key) if step_key in keys else len(keys), step_key)


def median(histogram: Mapping[int, int]) -> float:
    """The median of the values counted in ``histogram`` (value -> how many): the middle one,
    or the mean of the two middle ones."""
    n = sum(histogram.values())
    if n == 0:
        raise ValueError("no values")
    return (_nth(histogram, (n - 1) // 2) + _nth(histogram, n // 2)) / 2


def percentile(histogram: Mapping[int, int], p: int) -> int:
    """The ``p``-th percentile by nearest rank: the smallest value with at least ``p`` per cent
    of the values at or below it."""
    n = sum(histogram.values())
    if n == 0:
        raise ValueError("no values")
    return _nth(histogram, max(math.ceil(p / 100 * n), 1) - 1)


def _nth(histogram: Mapping[int, int], index: int) -> int:
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if index < seen:
            return value
    raise IndexError(index)


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else round(value, 1)


# -- returned for correction ------------------------------------------------------------------------


def returns(
    session: Session,
    scope: Scope,
    period: Period,
    *,
    registry: ServiceRegistry,
    language: str,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Report:
    """Per service: decided in the period, and how many of them were returned at least once."""
    header = (
        _("Service"),
        _("Decided in the period"),
        _("Approved"),
        _("Rejected"),
        _("Returned at least once"),
        _("Share returned, per cent"),
        _("Returns in the period"),
    )
    return _report(
        RETURNS,
        header,
        _return_rows,
        session,
        scope,
        period,
        registry=registry,
        language=language,
        today=today,
        progress=progress,
        percent_columns=frozenset({5}),
    )


def _return_rows(
    session: Session, scope: Scope, period: Period, names: _Names, _today: dt.date, progress: Progress | None
) -> Iterator[Row]:
    returned_ever = _history(select(TransitionRecord.application_id).where(TransitionRecord.action == "return"), scope)
    was_returned = Application.id.in_(returned_ever)
    decided = _transitions(
        select(
            Application.service_key,
            func.count(TransitionRecord.id),
            func.sum(case((TransitionRecord.to_status == statuses.APPROVED, 1), else_=0)),
            func.sum(case((TransitionRecord.to_status == statuses.REJECTED, 1), else_=0)),
            func.sum(case((was_returned, 1), else_=0)),
        ).where(TransitionRecord.to_status.in_((statuses.APPROVED, statuses.REJECTED)), _in_period(period)),
        scope,
    ).group_by(Application.service_key)
    returned_now = _transitions(
        select(Application.service_key, func.count(TransitionRecord.id)).where(
            TransitionRecord.action == "return", _in_period(period)
        ),
        scope,
    ).group_by(Application.service_key)
    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for key, count, approved, rejected, returned in session.execute(decided).all():
        rows[key][:4] = [count, int(approved or 0), int(rejected or 0), int(returned or 0)]
    for key, count in session.execute(returned_now).all():
        rows[key][4] = count
    tally = _Tally(progress)
    for key in sorted(rows, key=lambda k: (names.service_title(k), k)):
        count, approved, rejected, returned, returns_in_period = rows[key]
        tally.add()
        share = round(100 * returned / count, 1) if count else None
        yield (names.service_title(key), count, approved, rejected, returned, share, returns_in_period)
    tally.finish()


# -- choosing one --------------------------------------------------------------------------------


_BUILDERS: dict[str, Callable[..., Report]] = {
    WORKLOAD: workload,
    OVERDUE: overdue,
    STEPS: step_times,
    RETURNS: returns,
}


def check_name(name: object) -> str:
    """``name`` if it is one of :data:`NAMES`, else :class:`ReportError`."""
    if isinstance(name, str) and name in _BUILDERS:
        return name
    raise ReportError(_("There is no such report; choose one of: %(names)s.", names=", ".join(NAMES)), "report")


def check_format(value: object) -> str:
    """``value`` if it is one of :data:`FORMATS`, else :class:`ReportError`."""
    if isinstance(value, str) and value in FORMATS:
        return value
    raise ReportError(_("Export as CSV or XLSX."), "format")


def build(
    name: str,
    session: Session,
    scope: Scope,
    period: Period,
    *,
    registry: ServiceRegistry,
    language: str,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> Report:
    """The report ``name`` (one of :data:`NAMES`); its rows are read when iterated."""
    builder = _BUILDERS[check_name(name)]
    return builder(session, scope, period, registry=registry, language=language, today=today, progress=progress)


# -- writing ---------------------------------------------------------------------------------------


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        # A spreadsheet runs a cell starting like a formula: keep text text.
        return "'" + value if value.startswith(_FORMULA_START) else value
    return str(value)


def csv_chunks(report: Report, progress: Progress | None = None) -> Iterator[str]:
    """The report as CSV text, a few rows at a time: a UTF-8 byte-order mark first (so a
    spreadsheet reads Armenian right), then the header and the rows, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield UTF8_BOM
    writer.writerow(report.header)
    for written, row in enumerate(report.rows, start=1):
        writer.writerow([_csv_text(value) for value in row])
        if written % 100 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if progress is not None and written % CHUNK == 0:
            progress(written)
    yield buffer.getvalue()


def write_xlsx(report: Report, path: str | Path) -> int:
    """Write the report to ``path`` as an XLSX workbook of one sheet, row by row
    (xlsxwriter's constant-memory mode: each row leaves memory once written); returns the
    number of rows written, header aside."""
    import xlsxwriter  # type: ignore[import-untyped]

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "default_date_format": "yyyy-mm-dd"})
    try:
        sheet = workbook.add_worksheet(_sheet_name(report.title))
        bold = workbook.add_format({"bold": True, "text_wrap": True, "valign": "top"})
        dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
        share = workbook.add_format({"num_format": "0.0"})
        for column, title in enumerate(report.header):
            sheet.set_column(column, column, max(12, min(40, len(title) + 2)))
        sheet.freeze_panes(1, 0)
        for column, title in enumerate(report.header):
            sheet.write_string(0, column, title, bold)
        written = 0
        for written, row in enumerate(report.rows, start=1):
            for column, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, str):
                    sheet.write_string(written, column, value)
                elif isinstance(value, dt.date):
                    sheet.write_datetime(written, column, dt.datetime.combine(value, dt.time.min), dates)
                elif column in report.percent_columns:
                    sheet.write_number(written, column, value, share)
                else:
                    sheet.write_number(written, column, value)
        if written:
            sheet.autofilter(0, 0, written, len(report.header) - 1)
    finally:
        workbook.close()
    return written


_SHEET_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", " "))


def _sheet_name(title: str) -> str:
    return (title.translate(_SHEET_FORBIDDEN).strip() or "Report")[:31]


__all__ = [
    "CHUNK",
    "DEFAULT_DAYS",
    "FORMATS",
    "MAX_DAYS",
    "NAMES",
    "OVERDUE",
    "READERS",
    "RETURNS",
    "STEPS",
    "TITLES",
    "UTF8_BOM",
    "WORKLOAD",
    "Period",
    "Report",
    "ReportError",
    "Row",
    "Scope",
    "Value",
    "build",
    "check_format",
    "check_name",
    "csv_chunks",
    "default_period",
    "may_read",
    "median",
    "municipalities_for",
    "office_date",
    "operator_scope",
    "overdue",
    "parse_period",
    "percentile",
    "returns",
    "scope_for",
    "step_times",
    "workload",
    "write_xlsx",
]
