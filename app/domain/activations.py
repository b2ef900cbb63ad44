"""Which services a municipality offers, and on what terms — and whether anyone can work them.

A municipality may enable a service before it has staffed the departments its steps name;
applications then wait at a step nobody can act on. That is allowed (staff are often hired
after the decision to offer a service) but never silent: :func:`staffing_gaps` lists such
steps for the services page, the inbox, the admin's landing page and ``flask hamaynk
check``, and :func:`application_gap` tells the case page of an application waiting at one.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import CompoundSelect, cast, event, inspect, null, select, union_all
from sqlalchemy.orm import ORMExecuteState, Session

from app.domain import access, audit, roles, statuses, workflow
from app.domain.declarations import Step, pick
from app.models import Application, Department, Role, ServiceActivation, StaffProfile, User

if TYPE_CHECKING:
    from app.plugins.registry import RegisteredService, ServiceRegistry


class ActivationError(ValueError):
    """A municipal admin asked for something impossible; the message is for them.

    ``field`` names the form field the message belongs next to (``enabled``, …), if any."""

    def __init__(self, message: object, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _locale() -> str:
    from flask_babel import get_locale

    try:
        return str(get_locale() or "hy")
    except Exception:  # outside a request (CLI, jobs): the office's own language
        return "hy"


def missing_departments(session: Session, registered: RegisteredService, municipality_id: int) -> list[Step]:
    """The steps of ``registered`` naming a department (by code) the municipality lacks: the
    workflow resolves such a step's department by its code alone
    (:func:`app.domain.workflow.responsible_department_id`; the service's department chosen
    on the activation is only for steps naming none), so nobody could ever act on it. One
    query, none when no step names a department."""
    named = [step for step in registered.service.steps if step.department]
    if not named:
        return []
    codes = set(
        session.execute(
            access.within(select(Department.code), Department, municipality_id).where(
                Department.code.in_(sorted({step.department or "" for step in named}))
            )
        ).scalars()
    )
    return [step for step in named if step.department not in codes]


def _refuse_missing_departments(registered: RegisteredService, missing: list[Step]) -> None:
    from flask_babel import gettext as _

    locale = _locale()
    codes = ", ".join(dict.fromkeys(step.department or "" for step in missing))
    steps = ", ".join(f"{pick(step.title, locale)} ({step.department})" for step in missing)
    raise ActivationError(
        _(
            "%(service)s cannot be offered yet: this municipality has no department %(codes)s, which its steps "
            "need (%(steps)s). Add the department under Departments, then enable the service.",
            service=pick(registered.service.title, locale),
            codes=codes,
            steps=steps,
        ),
        field="enabled",
    )


@dataclass(frozen=True)
class OfferedService:
    registered: RegisteredService
    activation: ServiceActivation | None

    @property
    def enabled(self) -> bool:
        return bool(self.activation and self.activation.enabled)

    @property
    def fee(self) -> int:
        if self.activation and self.activation.fee_override is not None:
            return self.activation.fee_override
        return self.registered.service.fee

    @property
    def deadline_days(self) -> int:
        if self.activation and self.activation.deadline_override is not None:
            return self.activation.deadline_override
        return self.registered.service.deadline_days


def offered_to(registered: RegisteredService | None, municipality_id: int) -> bool:
    """Whether the municipality may offer the service at all: a service a municipal admin
    built in the admin UI belongs to that municipality alone."""
    return registered is not None and registered.municipality_id in (None, municipality_id)


def catalogue(session: Session, registry: ServiceRegistry, municipality_id: int) -> list[OfferedService]:
    """Every service this municipality may offer (newest version) with its terms: 2 queries."""
    rows = session.execute(access.within(select(ServiceActivation), ServiceActivation, municipality_id)).scalars()
    by_key = {row.service_key: row for row in rows}
    return [OfferedService(reg, by_key.get(reg.key)) for reg in registry.latest() if offered_to(reg, municipality_id)]


def set_activation(
    session: Session,
    registry: ServiceRegistry,
    municipality_id: int,
    service_key: str,
    *,
    enabled: bool,
    fee_override: int | None,
    deadline_override: int | None,
    department_id: int | None,
    actor_id: int | None,
) -> ServiceActivation:
    """Create or update the activation; the caller commits (one transaction with the audit row).

    Enabling a service one of whose steps names a department the municipality lacks is
    refused (:func:`missing_departments`): its applications would wait where nobody can act.
    Only enabling: an enabled service whose department was deleted since may still be edited
    or disabled, and shows as a staffing gap (:func:`staffing_gaps`)."""
    from flask_babel import gettext as _

    registered = registry.get(service_key)
    if registered is None or not offered_to(registered, municipality_id):
        raise ActivationError(_("There is no service %(key)s.", key=service_key))
    if fee_override is not None and fee_override < 0:
        raise ActivationError(_("The fee cannot be negative."))
    if deadline_override is not None and deadline_override < 1:
        raise ActivationError(_("The deadline must be at least one working day."))
    if department_id is not None:
        ours = access.within(select(Department.id), Department, municipality_id)
        if session.execute(ours.where(Department.id == department_id)).first() is None:
            raise ActivationError(_("Choose a department of this municipality."))
    stmt = access.within(select(ServiceActivation), ServiceActivation, municipality_id)
    row = session.execute(stmt.where(ServiceActivation.service_key == service_key)).scalar_one_or_none()
    if enabled and not (row is not None and row.enabled):
        missing = missing_departments(session, registered, municipality_id)
        if missing:
            _refuse_missing_departments(registered, missing)
    if row is None:
        row = ServiceActivation(municipality_id=municipality_id, service_key=service_key)
        session.add(row)
    before = {
        "enabled": row.enabled,
        "fee_override": row.fee_override,
        "deadline_override": row.deadline_override,
        "department_id": row.department_id,
    }
    row.enabled = enabled
    row.fee_override = fee_override
    row.deadline_override = deadline_override
    row.department_id = department_id
    row.updated_by_id = actor_id
    after = {
        "enabled": enabled,
        "fee_override": fee_override,
        "deadline_override": deadline_override,
        "department_id": department_id,
    }
    audit.record(
        session,
        "service.activation",
        actor=actor_id,
        target=("service", service_key),
        municipality_id=municipality_id,
        details={"before": before, "after": after},
    )
    return row


# -- staffing: steps nobody can act on ------------------------------------------------------------


@dataclass(frozen=True)
class StepGap:
    """A step of an offered service that nobody in the municipality can act on: no active
    staff member has its role in its responsible department (or, when the step names a
    department the municipality does not have, there is no such department at all)."""

    service_key: str
    service_version: int
    step_key: str
    step_title: Mapping[str, str]
    role: str  # the stored role name the step needs
    department_id: int | None  # None: any department may act (or the named one is missing)
    department_code: str | None
    department_name: Mapping[str, str] | None
    missing_department: bool = False

    def describe(self, locale: str) -> str:
        """One sentence for the reader, in ``locale``'s words (the caller's Babel locale)."""
        from flask_babel import gettext as _

        step = pick(self.step_title, locale)
        role = str(roles.ROLE_LABELS.get(self.role, self.role))
        if self.missing_department:
            return _(
                "%(step)s: this municipality has no department %(code)s.", step=step, code=self.department_code or ""
            )
        if self.department_name is not None:
            return _(
                "%(step)s: nobody with the role %(role)s in %(department)s.",
                step=step,
                role=role,
                department=pick(self.department_name, locale),
            )
        return _("%(step)s: nobody with the role %(role)s.", step=step, role=role)


@dataclass(frozen=True)
class ServiceGaps:
    """An offered service and its steps that nobody can act on."""

    registered: RegisteredService
    steps: tuple[StepGap, ...]

    @property
    def key(self) -> str:
        return self.registered.key


@dataclass(frozen=True)
class _Department:
    """What a gap says about a department (plain values: kept across sessions, see
    :func:`staffing_gaps`)."""

    id: int
    code: str
    name_hy: str | None
    name_en: str | None
    name_ru: str | None


@dataclass(frozen=True)
class _Staffing:
    """Who works in a municipality, as far as acting on steps goes: one pass over its staff."""

    departments: Mapping[int, _Department]
    by_code: Mapping[str, _Department]
    # (department id, role name) of every active staff member; (None, role) too, for "anywhere".
    held: frozenset[tuple[int | None, str]]

    def covers(self, department_id: int | None, role: str) -> bool:
        return (department_id, role) in self.held


def _staffing_statement(municipality_id: int, *, enabled_services: bool = False) -> CompoundSelect:
    """One statement for the staffing of a municipality: a row per department (its id, code
    and names), per role of each active staff member (department id and role) and, with
    ``enabled_services``, per enabled service (its key and the department id of its
    activation). Which columns are set tells the kinds apart (:func:`_read`)."""

    def nothing(column: Any) -> Any:
        return cast(null(), column.type)

    role, key = nothing(Role.name), nothing(ServiceActivation.service_key)
    name = nothing(Department.name_hy)
    departments = access.within(
        select(Department.id, Department.code, Department.name_hy, Department.name_en, Department.name_ru, role, key),
        Department,
        municipality_id,
    )
    people = access.within(
        select(StaffProfile.department_id, nothing(Department.code), name, name, name, Role.name, key)
        .join(User, User.id == StaffProfile.user_id)
        .join(User.roles),
        StaffProfile,
        municipality_id,
    ).where(User.active.is_(True))
    parts = [departments, people]
    if enabled_services:
        services = access.within(
            select(
                ServiceActivation.department_id,
                nothing(Department.code),
                name,
                name,
                name,
                role,
                ServiceActivation.service_key,
            ),
            ServiceActivation,
            municipality_id,
        ).where(ServiceActivation.enabled.is_(True))
        parts.append(services)
    return union_all(*parts)


def _read(session: Session, statement: CompoundSelect) -> tuple[_Staffing, dict[str, int | None]]:
    """The staffing and the enabled services (key: the activation's department id) that
    :func:`_staffing_statement` read."""
    departments: dict[int, _Department] = {}
    held: set[tuple[int | None, str]] = set()
    enabled: dict[str, int | None] = {}
    for department_id, code, name_hy, name_en, name_ru, role, service_key in session.execute(statement):
        if service_key is not None:
            enabled[service_key] = department_id
        elif role is not None:
            held.add((None, role))
            if department_id is not None:
                held.add((department_id, role))
        else:
            departments[department_id] = _Department(department_id, code, name_hy, name_en, name_ru)
    staffing = _Staffing(departments, {d.code: d for d in departments.values()}, frozenset(held))
    return staffing, enabled


def _staffing(session: Session, municipality_id: int) -> _Staffing:
    staffing = _read(session, _staffing_statement(municipality_id))[0]
    # The case page asks both: the workflow's checks need not read the departments again.
    workflow.departments_read(
        session,
        municipality_id,
        ((d.id, d.code, d.name_hy, d.name_en, d.name_ru) for d in staffing.departments.values()),
    )
    return staffing


def _department_texts(department: _Department) -> dict[str, str]:
    return {lang: getattr(department, f"name_{lang}") or department.code for lang in ("hy", "en", "ru")}


def _step_gap(
    registered: RegisteredService, step: Step, staffing: _Staffing, fallback_department_id: int | None
) -> StepGap | None:
    """The gap at ``step``, resolving its department as the workflow does
    (:func:`app.domain.workflow.responsible_department_id`): the department the step names,
    else ``fallback_department_id`` (the service's department here, or the application's)."""
    role = roles.ROLE_BY_KEY.get(step.role, step.role)

    def gap(department: _Department | None, missing: bool = False) -> StepGap:
        return StepGap(
            service_key=registered.key,
            service_version=registered.version,
            step_key=step.key,
            step_title=step.title,
            role=role,
            department_id=department.id if department is not None else None,
            department_code=department.code if department is not None else step.department,
            department_name=_department_texts(department) if department is not None else None,
            missing_department=missing,
        )

    if step.department:
        department = staffing.by_code.get(step.department)
        if department is None:
            return gap(None, missing=True)
    else:
        department = staffing.departments.get(fallback_department_id) if fallback_department_id is not None else None
    if staffing.covers(department.id if department is not None else None, role):
        return None
    return gap(department)


def staffing_gaps(
    session: Session, municipality_id: int, registry: ServiceRegistry, *, max_age: float | None = None
) -> list[ServiceGaps]:
    """Every service the municipality offers (enabled, newest version) that has steps nobody
    can act on, with those steps in route order; services without gaps are left out. An
    application reaching such a step waits there until someone is given the role in that
    department. One query, whatever the number of services and staff.

    With ``max_age`` (seconds) the facts it decides from (enabled services, departments,
    who holds which role where) may come from this process's cache, read at most that long
    ago (no query then): for pages that show the gaps on every view (the inbox). A write of
    those facts through any session of this process drops the cache at once
    (:func:`_drop_on_staffing_writes`), so only another process's writes show late, within
    ``max_age``. The gaps are advice: every act checks who may act, live
    (app.domain.workflow). ``None`` or 0: read now.

    A step with a condition is listed too: it may apply to the next application."""
    facts = _facts(session, municipality_id, max_age)
    if not facts.enabled:
        return []
    staffing = facts.staffing
    result = []
    for registered in registry.latest():
        if registered.key not in facts.enabled or not offered_to(registered, municipality_id):
            continue
        fallback = facts.enabled[registered.key]
        steps = tuple(
            gap
            for step in registered.service.steps
            if (gap := _step_gap(registered, step, staffing, fallback)) is not None
        )
        if steps:
            result.append(ServiceGaps(registered, steps))
    return result


@dataclass(frozen=True)
class _Facts:
    """What :func:`staffing_gaps` decides from: the department id of each enabled service's
    activation (by service key) and the staffing."""

    enabled: Mapping[str, int | None]
    staffing: _Staffing


def _read_facts(session: Session, municipality_id: int) -> _Facts:
    staffing, enabled = _read(session, _staffing_statement(municipality_id, enabled_services=True))
    return _Facts(enabled, staffing)


# -- the process's cache of those facts -----------------------------------------------------------

# The setting of how old the cached facts may be, in seconds (config.py; the caller reads it
# and passes it as ``max_age``), and its default.
RECHECK_SECONDS = "HAMAYNK_STAFFING_RECHECK_SECONDS"
DEFAULT_RECHECK_SECONDS = 30.0

# Writes of these models change the facts (a role given or taken is a write of its user).
_STAFFING_MODELS = (StaffProfile, Department, ServiceActivation, User, Role)
# Set in Session.info by a flush that wrote any of them: the cache is dropped again when that
# transaction ends (a read in another session between the flush and the commit may have
# cached the old facts).
_WROTE_STAFFING = "hamaynk.wrote_staffing"
# The clock of the cache (a seam for tests).
_clock = time.monotonic


class _Cache:
    """Facts per database (engine) and municipality, with the time they were read. The
    generation moves on every drop, so a read that started before a drop is not kept."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self.entries: weakref.WeakKeyDictionary[Any, dict[int, tuple[float, _Facts]]] = weakref.WeakKeyDictionary()

    def get(self, engine: Any, municipality_id: int, max_age: float) -> _Facts | None:
        with self.lock:
            found = self.entries.get(engine, {}).get(municipality_id)
        if found is None or _clock() - found[0] > max_age:
            return None
        return found[1]

    def put(self, engine: Any, municipality_id: int, facts: _Facts, read_at: float, generation: int) -> None:
        with self.lock:
            if generation == self.generation:
                self.entries.setdefault(engine, {})[municipality_id] = (read_at, facts)

    def drop(self) -> None:
        with self.lock:
            self.generation += 1
            self.entries.clear()


_cache = _Cache()


def _facts(session: Session, municipality_id: int, max_age: float | None) -> _Facts:
    if not max_age or max_age <= 0:
        return _read_facts(session, municipality_id)
    install()
    try:
        engine = session.get_bind(mapper=inspect(ServiceActivation))
    except Exception:  # no bind to key the cache by: read now
        return _read_facts(session, municipality_id)
    cached = _cache.get(engine, municipality_id, max_age)
    if cached is not None:
        return cached
    generation, read_at = _cache.generation, _clock()
    facts = _read_facts(session, municipality_id)
    # Facts this session wrote but has not committed are nobody else's yet: not kept.
    if not session.info.get(_WROTE_STAFFING) and not _writes_staffing(session):
        _cache.put(engine, municipality_id, facts, read_at, generation)
    return facts


def drop_staffing_cache() -> None:
    """Forget every cached fact of this process (the next :func:`staffing_gaps` with a
    ``max_age`` reads them again)."""
    _cache.drop()


def _writes_staffing(session: Session) -> bool:
    return any(isinstance(obj, _STAFFING_MODELS) for obj in (*session.new, *session.dirty, *session.deleted))


def _drop_on_staffing_writes(session: Session, _context: Any) -> None:
    if _writes_staffing(session):
        session.info[_WROTE_STAFFING] = True
        _cache.drop()


@functools.cache
def _staffing_tables() -> frozenset[str]:
    tables = {str(getattr(inspect(model).local_table, "name", "")) for model in _STAFFING_MODELS}
    # Who holds which role: the user-role link table (a role given or taken without a flush).
    roles_link = inspect(User).relationships["roles"].secondary
    if roles_link is not None:
        tables.add(str(getattr(roles_link, "name", "")))
    return frozenset(tables)


def _drop_on_statement_writes(state: ORMExecuteState) -> None:
    # INSERT, UPDATE or DELETE statements run through a session (``session.execute(update(
    # User)...)``): no object is flushed, so the flush listener does not see them.
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _staffing_tables():
        state.session.info[_WROTE_STAFFING] = True
        _cache.drop()


def _transaction_ended(session: Session, transaction: Any) -> None:
    # The outermost transaction (a flush runs in one of its own inside): committed, rolled
    # back or closed.
    if transaction.parent is None and session.info.pop(_WROTE_STAFFING, False):
        _cache.drop()


_installed = False


def install() -> None:
    """Listen on every ORM session for writes of the facts (once per process)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_flush", _drop_on_staffing_writes)
    event.listen(Session, "do_orm_execute", _drop_on_statement_writes)
    event.listen(Session, "after_transaction_end", _transaction_ended)
    _installed = True


def application_gap(session: Session, application: Application, registry: ServiceRegistry) -> StepGap | None:
    """The gap at the step ``application`` (loaded through :mod:`app.domain.access`) waits at,
    if nobody can act on it there; ``None`` when someone can or it waits at no step. The
    department is resolved as for the application itself (its service's department in the
    municipality, else its own)."""
    if application.status not in (statuses.SUBMITTED, statuses.IN_REVIEW, statuses.RETURNED):
        return None
    if not application.current_step:
        return None
    registered = registry.get(application.service_key, application.service_version)
    step = registered.service.step(application.current_step) if registered else None
    if registered is None or step is None:
        return None
    activation = workflow.activation_department_id(session, application)
    fallback = activation if activation is not None else application.department_id
    return _step_gap(registered, step, _staffing(session, application.municipality_id), fallback)
