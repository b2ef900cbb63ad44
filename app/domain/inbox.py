"""The staff inbox: which applications a clerk, specialist, head or auditor sees in each tab,
filtered, searched and paged — as SQL, so a list page costs the same at 60 applications as
at 60 000.

Tabs
    ``mine``        assigned to me, or unassigned and waiting at a step I may act on (the
                    same rule as :func:`app.domain.workflow.check_can_act_on_step`, written
                    as a WHERE clause; ``tests/test_inbox.py`` proves the two agree); and
                    the same for each absent colleague I stand in for today
                    (:mod:`app.domain.substitutes`); and returned cases I may resubmit
                    for the applicant (:func:`resubmit_clause`);
    ``department``  open applications whose current step my department is responsible for
                    (:func:`app.domain.workflow.responsible_department_id`, as SQL);
    ``all``         everything filed in my municipality (drafts are the applicant's own
                    business until they are submitted).

Every tab is a clause on top of :func:`app.domain.access.visible_applications`: no tab
can show more than the actor may see.

Paging is by keyset, never by OFFSET or COUNT(*): rows are ordered by ``(due_at, id)``, undated
rows last, and a page starts after (or before) the ``(due_at, id)`` of the row it continues
from. The cursor carrying that pair is signed, so a tampered one is refused (:class:`BadCursor`)
rather than trusted. In SQL the order is the row value ``(queue key, id)``, the queue key being
``coalesce(due_at, '9999-12-31')`` (:func:`app.models.applications.queue_key`), so that a page
is an index seek on both databases, as cheap at page 10 000 as at page 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import (
    Boolean,
    ColumnElement,
    String,
    and_,
    bindparam,
    column,
    false,
    func,
    literal,
    or_,
    select,
    table,
    true,
    tuple_,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased, load_only
from sqlalchemy.sql import operators

from app.domain import access, deadlines, roles, substitutes
from app.domain.access import Actor
from app.domain.fieldtypes import normalize_phone, normalize_psn
from app.domain.tracking import complete_tracking_number, normalize_tracking_number, parse_tracking_number
from app.domain.workflow import AT_STEP
from app.models import Application, Department, ServiceActivation, User
from app.models.applications import (
    NAME_FTS_TABLE,
    OPEN_STATUSES,
    QUEUE_END,
    filed_clause,
    open_status_clause,
    queue_key,
    returned_clause,
    status_in,
)

MINE = "mine"
DEPARTMENT = "department"
ALL = "all"
TABS = (MINE, DEPARTMENT, ALL)

# Who may open which tab. Auditors only read, so they have no tasks of their own.
ACTING_ROLES = (roles.CLERK, roles.SPECIALIST, roles.HEAD, roles.MUNICIPAL_ADMIN)
ALL_TAB_ROLES = (roles.CLERK, roles.HEAD, roles.MUNICIPAL_ADMIN, roles.AUDITOR, roles.SYSTEM_ADMIN)

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
MAX_QUERY = 200
_CURSOR_SALT = "hamaynk.inbox.cursor"


class BadCursor(ValueError):
    """The paging cursor was not one this site made (edited, truncated, from another key)."""


# -- who is looking ---------------------------------------------------------------------------


def tabs_for(actor: Actor | None) -> list[str]:
    """The tabs ``actor`` may open, in display order."""
    if actor is None or not actor.active:
        return []
    result = []
    if actor.municipality_id is not None and actor.has(*ACTING_ROLES):
        result.append(MINE)
    if actor.municipality_id is not None and actor.department_id is not None and not _only_auditor(actor):
        result.append(DEPARTMENT)
    if actor.has(*ALL_TAB_ROLES):
        result.append(ALL)
    return result


def _only_auditor(actor: Actor) -> bool:
    return actor.has(roles.AUDITOR) and not actor.has(*ACTING_ROLES)


# -- the SQL versions of the workflow's rules ----------------------------------------------------


def _activation_department():
    """The department the municipality made responsible for the application's service."""
    return (
        access.correlated(select(ServiceActivation.department_id), ServiceActivation, Application)
        .where(ServiceActivation.service_key == Application.service_key)
        .correlate(Application)
        .scalar_subquery()
    )


StepAt = tuple[str, int, str]  # (service key, version, step key)


def _steps(
    registry, predicate, municipality_id: int
) -> tuple[list[tuple[StepAt, str | None]], list[tuple[StepAt, str | None]]]:
    """``((service key, version, step key), department code)`` of every step ``predicate``
    accepts of the services ``municipality_id`` may offer, split into steps that name their
    department and steps that do not. Another municipality's builder services (however many
    versions it saves) never reach this municipality's inbox query."""
    named: list[tuple[StepAt, str | None]] = []
    unnamed: list[tuple[StepAt, str | None]] = []
    for registered in registry.all():
        if registered.municipality_id not in (None, municipality_id):
            continue
        for step in registered.service.steps:
            if predicate(step):
                triple = (registered.key, registered.version, step.key)
                (named if step.department else unnamed).append((triple, step.department))
    return named, unnamed


def _at_step(triples: Sequence[StepAt]):
    if not triples:
        return false()
    return tuple_(Application.service_key, Application.service_version, Application.current_step).in_(list(triples))


def responsible_department_clause(
    registry, municipality_id: int | None, department_id: int | None, department_code: str | None
):
    """Applications whose current step ``department_id`` is responsible for, mirroring
    :func:`app.domain.workflow.responsible_department_id`: the department the step names by
    code, else the service's department in the municipality, else the application's own.
    Steps that name no department and find none (any department may) belong to no one."""
    if department_id is None or municipality_id is None:
        return false()
    named, unnamed = _steps(registry, lambda step: True, municipality_id)
    activation = _activation_department()
    # Codes are per municipality: another municipality's department of the same code is not ours.
    return and_(
        Application.municipality_id == municipality_id,
        or_(
            _at_step([t for t, code in named if code == department_code]),
            and_(
                _at_step([t for t, _code in unnamed]),
                or_(
                    activation == department_id, and_(activation.is_(None), Application.department_id == department_id)
                ),
            ),
        ),
    )


def can_act_clause(registry, actor: Actor, department_code: str | None):
    """Applications waiting at a step ``actor`` may act on — the WHERE-clause twin of
    :func:`app.domain.workflow.check_can_act_on_step` (same municipality, the step's role,
    the responsible department or, when there is none, anyone)."""
    if actor.municipality_id is None:
        return false()
    named, unnamed = _acting_steps(registry, actor, actor.municipality_id, department_code)
    department = or_(
        # A step naming a department: only that department's staff (and it must exist here,
        # which it does when it is the actor's own).
        _at_step(named),
        and_(_at_step(unnamed), _unnamed_step_department(actor)),
    )
    return and_(Application.municipality_id == actor.municipality_id, status_in(AT_STEP), department)


def can_act_per_step(registry, actor: Actor, department_code: str | None) -> list[Any]:
    """:func:`can_act_clause` as one clause per step, whose OR is the same rows: each walks
    ``ix_application_open_step`` for one (service, version, step) in queue order."""
    if actor.municipality_id is None:
        return []
    named, unnamed = _acting_steps(registry, actor, actor.municipality_id, department_code)
    own = and_(Application.municipality_id == actor.municipality_id, status_in(AT_STEP))
    return [
        *(and_(own, _at_step([triple])) for triple in named),
        *(and_(own, _at_step([triple]), _unnamed_step_department(actor)) for triple in unnamed),
    ]


def _acting_steps(
    registry, actor: Actor, municipality_id: int, department_code: str | None
) -> tuple[list[StepAt], list[StepAt]]:
    """The steps ``actor``'s roles act on: those naming the actor's department, and those
    naming none (whose department the activation or the application says)."""

    def has_role(step) -> bool:
        return roles.ROLE_BY_KEY.get(step.role, step.role) in actor.roles

    named, unnamed = _steps(registry, has_role, municipality_id)
    return (
        [t for t, code in named if department_code is not None and code == department_code],
        [t for t, _code in unnamed],
    )


def _unnamed_step_department(actor: Actor):
    # A step naming no department: the service's department in the municipality, else the
    # application's own, else anyone's.
    activation = _activation_department()
    return or_(
        activation == actor.department_id if actor.department_id is not None else false(),
        and_(
            activation.is_(None),
            or_(
                Application.department_id.is_(None),
                Application.department_id == actor.department_id if actor.department_id is not None else false(),
            ),
        ),
    )


def department_code_of(session: Session, actor: Actor) -> str | None:
    """The code of ``actor``'s own department (``None``: none). Read with the actor where it
    was loaded (app.domain.access.load_actor, a request's sign-in check): no query then; an
    actor built without it (by hand, in jobs or tests) costs one."""
    if actor.department_id is None or actor.municipality_id is None:
        return None
    if actor.department_code is not None:
        return actor.department_code
    stmt = access.within(select(Department.code), Department, actor.municipality_id)
    return session.execute(stmt.where(Department.id == actor.department_id)).scalar_one_or_none()


# -- filters and search ------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    service: str | None = None
    status: str | None = None
    overdue: bool = False
    submitted_from: dt.date | None = None
    submitted_to: dt.date | None = None
    q: str = ""


_PHONE_CHARS = re.compile(r"^[+\d\s().-]+$")


def search_clause(q: str):
    """A tracking number matches exactly (typed without its check character it is completed);
    ten digits are a public service number or a phone; something phone-like is a phone; anything
    else is part of the applicant's name."""
    q = (q or "").strip()[:MAX_QUERY]
    if not q:
        return None
    if parse_tracking_number(q) is not None:
        return Application.tracking_number == normalize_tracking_number(q)
    number = complete_tracking_number(q)
    if _PHONE_CHARS.match(q) and sum(c.isdigit() for c in q) >= 6:
        # A municipality's prefix may be digits: "001-2026-123" is a number or a phone.
        options = [] if number is None else [Application.tracking_number == str(number)]
        with contextlib.suppress(ValueError):
            options.append(Application.applicant_psn == normalize_psn(q))
        with contextlib.suppress(ValueError):
            options.append(Application.applicant_phone == normalize_phone(q))
        if options:
            return or_(*options)
        # A tracking number with a typo in it lands here too: exact matching finds nothing.
        return Application.tracking_number == normalize_tracking_number(q)
    if number is not None:
        return Application.tracking_number == str(number)
    return NameContains(q)


# The shortest query a trigram index serves: a shorter one has no trigram to look up.
TRIGRAM = 3
# FTS5's hidden column named after its table takes MATCH against the whole row.
_fts = table(NAME_FTS_TABLE, column("rowid"), column(NAME_FTS_TABLE))


def _scanned_name_clause(q: str):
    # Both spellings: SQLite's lower() folds only ASCII, so there a short Armenian query is
    # matched as typed. (The trigram index folds Armenian case like PostgreSQL does.)
    return or_(
        Application.applicant_name.contains(q, autoescape=True),
        func.lower(Application.applicant_name).contains(q.lower(), autoescape=True),
    )


class NameContains(ColumnElement[bool]):
    """``q`` is part of the applicant's name, in any letter case (Armenian's too), served by an
    index where the database has one (app.models.applications, "name search"):

    - PostgreSQL: ``applicant_name ILIKE '%q%'`` (its pg_trgm GIN index serves any length: a
      query too short for trigrams is a scan of that index);
    - SQLite: the FTS5 trigram table, matched as one phrase (a substring of the case-folded
      name). A query under three characters has no trigram, so it falls back to the scan of
      every row it always was (:func:`_scanned_name_clause`).
    """

    type = Boolean()
    # Compiled differently per database, so no cached statement is shared between them.
    inherit_cache = False

    def __init__(self, q: str) -> None:
        self.q = q

    def self_group(self, against: Any = None) -> NameContains:
        # Already a predicate: a Boolean-typed element would otherwise be compared with 1 on
        # SQLite (``… IN (…) = 1``), which no index serves. What it compiles to groups itself.
        return self


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@compiles(NameContains)
def _name_contains(element: NameContains, compiler: Any, **kw: Any) -> str:
    if compiler.dialect.name == "postgresql":
        # The pattern written into the statement, not bound: a prepared statement's generic
        # plan cannot know the pattern, and without it scans every row instead of the trigram
        # index (190 ms instead of 1 at a million applications).
        pattern = literal(_like_pattern(element.q), String(), literal_execute=True)
        clause = Application.applicant_name.ilike(pattern, escape="\\")
    elif compiler.dialect.name == "sqlite" and len(element.q) >= TRIGRAM:
        # One FTS5 phrase: the name's trigrams in a row, i.e. the whole query as a substring.
        phrase = '"' + element.q.replace('"', '""') + '"'
        found = select(_fts.c.rowid).where(_fts.c[NAME_FTS_TABLE].op("MATCH")(phrase))
        clause = Application.id.in_(found)
    else:
        clause = _scanned_name_clause(element.q)
    return compiler.process(clause.self_group(against=operators.and_), **kw)


def filter_clauses(filters: Filters, on: dt.date | None = None) -> list[Any]:
    clauses = []
    if filters.service:
        clauses.append(Application.service_key == filters.service)
    if filters.status:
        clauses.append(Application.status == filters.status)
    if filters.overdue:
        clauses.append(late_clause(on))
    if filters.submitted_from is not None:
        clauses.append(Application.submitted_at >= dt.datetime.combine(filters.submitted_from, dt.time.min))
    if filters.submitted_to is not None:
        clauses.append(
            Application.submitted_at < dt.datetime.combine(filters.submitted_to + dt.timedelta(days=1), dt.time.min)
        )
    found = search_clause(filters.q)
    if found is not None:
        clauses.append(found)
    return clauses


def late_clause(on: dt.date | None = None):
    """:func:`app.domain.deadlines.late_clause` (running, and past the overall or the step's due
    date) said so that the open-only index serves it and PostgreSQL estimates it: ``status IN
    OPEN`` (the partial indexes' WHERE) and not the open statuses that are not running, then the
    dates. Written as deadlines writes it, the status terms counted as independent made
    PostgreSQL expect 1% of the real rows and sort them all instead of walking the index."""
    on = on or deadlines.today()
    waiting = [status for status in OPEN_STATUSES if status not in deadlines.RUNNING]
    return and_(
        open_status_clause(),
        Application.status.not_in(waiting) if waiting else true(),
        or_(Application.due_at < on, Application.step_due_at < dt.datetime.combine(on, dt.time.min)),
    )


# -- cursors -----------------------------------------------------------------------------------


NEXT = "n"
PREV = "p"


@dataclass(frozen=True)
class Cursor:
    due_at: dt.date | None
    id: int
    direction: str = NEXT


def _serializer(secret_key: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=_CURSOR_SALT)


def encode_cursor(secret_key: str, cursor: Cursor) -> str:
    due = cursor.due_at.isoformat() if cursor.due_at else None
    return _serializer(secret_key).dumps([due, cursor.id, cursor.direction])


def decode_cursor(secret_key: str, token: str) -> Cursor:
    """The cursor in ``token``; :class:`BadCursor` for anything this site did not sign."""
    if not isinstance(token, str) or not token or len(token) > 200:
        raise BadCursor(token)
    try:
        due, row_id, direction = _serializer(secret_key).loads(token)
        if direction not in (NEXT, PREV) or isinstance(row_id, bool) or not isinstance(row_id, int):
            raise ValueError(direction)
        return Cursor(dt.date.fromisoformat(due) if due is not None else None, row_id, direction)
    except (BadSignature, ValueError, TypeError):
        raise BadCursor(token) from None


# The cursor's place is bound when the statement runs (:func:`_cursor_parameters`), so a
# page's statement is the same for every page of a tab (see _STATEMENTS).
_CURSOR_DUE, _CURSOR_ID = "inbox_cursor_due", "inbox_cursor_id"


def _key():
    return bindparam(_CURSOR_DUE, type_=Application.due_at.type), bindparam(_CURSOR_ID, type_=Application.id.type)


def _cursor_parameters(cursor: Cursor | None) -> dict[str, Any]:
    return {} if cursor is None else {_CURSOR_DUE: cursor.due_at or QUEUE_END, _CURSOR_ID: cursor.id}


def _after():
    """Rows after the cursor in the order (due_at NULLS LAST, id): ``(queue key, id) > (d, i)``.
    The first term repeats the row value's leading column on its own, because SQLite seeks on a
    row value of plain columns but not on one holding an expression (PostgreSQL seeks on both)."""
    due, row_id = _key()
    return and_(queue_key() >= due, tuple_(queue_key(), Application.id) > tuple_(due, row_id))


def _before():
    """Rows before the cursor, the mirror of :func:`_after`."""
    due, row_id = _key()
    return and_(queue_key() <= due, tuple_(queue_key(), Application.id) < tuple_(due, row_id))


# -- the page ----------------------------------------------------------------------------------


@dataclass
class Row:
    application: Application
    assignee_name: str | None


@dataclass
class Page:
    rows: list[Row] = field(default_factory=list)
    next_cursor: Cursor | None = None
    prev_cursor: Cursor | None = None


def stand_in_clauses(session: Session, registry, actor: Actor) -> list[Any]:
    """For each absent colleague ``actor`` stands in for today (:mod:`app.domain.substitutes`),
    their "My tasks": assigned to them, or unassigned at a step they may act on."""
    return [
        or_(
            and_(Application.assignee_id == stand_in.absent.user_id, open_status_clause()),
            and_(
                Application.assignee_id.is_(None),
                can_act_clause(registry, stand_in.absent, stand_in.department_code),
            ),
        )
        for stand_in in substitutes.standing_in_for(session, actor)
    ]


def resubmit_clause(actor: Actor):
    """Returned applications ``actor`` may resubmit for the applicant, the WHERE-clause twin
    of :func:`app.domain.access.speaks_for_applicant` for staff: every returned case of a
    clerk's municipality (the front office serves whoever comes back), and those they filed."""
    if actor.municipality_id is None:
        return false()
    who = [Application.created_by_id == actor.user_id]
    if actor.has(roles.CLERK):
        who.append(true())
    return and_(returned_clause(), Application.municipality_id == actor.municipality_id, or_(*who))


def _own_municipality(actor: Actor) -> list[Any]:
    """``municipality_id = mine`` for staff of one municipality. :func:`access.applications_clause`
    says it inside an OR (or the applicant's own), which no index can seek on; said on its own
    the tabs walk one municipality's index range. It takes nothing a tab showed: the tabs are
    about the municipality's applications (an applicant's own elsewhere are the portal's)."""
    if actor.municipality_id is None or actor.is_system_admin:
        return []
    return [Application.municipality_id == actor.municipality_id]


# "My tasks" on PostgreSQL unions a branch per step up to this many steps; past it the steps
# are one branch (each branch is an index walk: a role acting on hundreds of steps would pay
# hundreds of them per page).
MAX_STEP_BRANCHES = 40


def mine_branches(session: Session, registry, actor: Actor, *, per_step: bool = False) -> list[Any]:
    """What "My tasks" joins with OR: assigned to ``actor``; unassigned at a step they may act
    on (with ``per_step``, one branch per step); each absent colleague's tasks they stand in
    for; returned cases they may resubmit."""
    code = department_code_of(session, actor)
    steps = can_act_per_step(registry, actor, code) if per_step else []
    if not steps or len(steps) > MAX_STEP_BRANCHES:
        steps = [can_act_clause(registry, actor, code)]
    return [
        and_(Application.assignee_id == actor.user_id, open_status_clause()),
        *(and_(Application.assignee_id.is_(None), step) for step in steps),
        *stand_in_clauses(session, registry, actor),
        resubmit_clause(actor),
    ]


def tab_clause(session: Session, registry, actor: Actor, tab: str, *, open_only: bool = False):
    """The WHERE clause of a tab; :func:`list_page` keeps it inside what the actor may see.

    The working tabs also say ``status IN OPEN`` on their own, though every branch implies it:
    that term, written as the partial indexes' WHERE (:func:`open_status_clause`), is what
    lets the database walk only open applications (most of a million are closed). The "All"
    tab says ``status != 'draft'``, its own index's WHERE, unless the filters keep only open
    applications anyway (``open_only``: overdue, whose clause says ``status IN OPEN``)."""
    if tab == MINE:
        return and_(*_own_municipality(actor), open_status_clause(), or_(*mine_branches(session, registry, actor)))
    if tab == DEPARTMENT:
        code = department_code_of(session, actor)
        return and_(
            *_own_municipality(actor),
            open_status_clause(),
            responsible_department_clause(registry, actor.municipality_id, actor.department_id, code),
        )
    if open_only:
        return and_(true(), *_own_municipality(actor))
    return and_(*_own_municipality(actor), filed_clause())


# The columns an inbox row shows or decides with (its link, service, applicant, status, step,
# assignee and "Assign to me", deadlines, cursor): a list never reads the form data, the
# access secret's hash or the applicant's contact details, the widest columns of the row.
LIST_COLUMNS = (
    Application.id,
    Application.municipality_id,
    Application.tracking_number,
    Application.service_key,
    Application.service_version,
    Application.status,
    Application.current_step,
    Application.applicant_name,
    Application.assignee_id,
    Application.department_id,
    Application.due_at,
    Application.step_due_at,
    Application.version,
)


# Built once: an alias made per call rebuilt its column collection each page (~0.5 ms).
_ASSIGNEE = aliased(User, name="assignee")


def _mine_per_branch(session: Session, registry, actor: Actor, where: list[Any], order: tuple[Any, ...], n: int):
    """The ids of the first ``n`` rows of each branch of "My tasks", in one UNION: PostgreSQL
    answers the branches joined with OR by gathering every open task of the clerk (a
    BitmapOr of the partial indexes, ~10,800 rows at a million applications) and sorting
    them for a page (22 ms of SQL for a clerk); each branch on its own walks its index in
    queue order where one fits and stops after ``n`` rows (6 ms). The page is the first
    ``n`` of their union, in the same order.
    SQLite already walks the queue index in order through the OR, and does not accept
    ORDER BY/LIMIT inside a UNION's members: it keeps the single WHERE."""
    # No term is repeated (see access.municipal_applications): each branch says its statuses,
    # all of them open ones, and the loader says the municipality.
    return union(
        *(
            access.municipal_applications(actor, Application.id).where(branch, *where).order_by(*order).limit(n)
            for branch in mine_branches(session, registry, actor, per_step=True)
        )
    )


def _statement(
    session: Session,
    registry,
    actor: Actor,
    tab: str,
    filters: list[Any],
    direction: str | None,
    limit: int,
    *,
    open_only: bool,
) -> Any:
    """The SELECT of one page of ``tab`` (``limit + 1`` rows) after ``filters``, from the
    cursor's place in ``direction`` (bound when it runs: :func:`_cursor_parameters`)."""
    where = list(filters)
    if direction is not None:
        where.append(_before() if direction == PREV else _after())
    if direction == PREV:
        order = (queue_key().desc(), Application.id.desc())
    else:
        order = (queue_key().asc(), Application.id.asc())
    if tab == MINE and _own_municipality(actor) and session.get_bind().dialect.name == "postgresql":
        where = [Application.id.in_(_mine_per_branch(session, registry, actor, where, order, limit + 1))]
    else:
        where.insert(0, tab_clause(session, registry, actor, tab, open_only=open_only))
    return (
        access.visible_applications(actor, Application, _ASSIGNEE.first_name, _ASSIGNEE.last_name)
        .options(load_only(*LIST_COLUMNS))
        .outerjoin(_ASSIGNEE, _ASSIGNEE.id == Application.assignee_id)
        .where(*where)
        .order_by(*order)
        .limit(limit + 1)
    )


def _statement_key(
    session: Session, registry, actor: Actor, tab: str, direction: str | None, limit: int
) -> tuple[Any, ...]:
    """Everything an unfiltered page's statement is built from: the services' steps (the
    registry's generation), the database, the tab, the reader (their roles, municipality and
    department, whose code the tabs compare with the steps'), and for "My tasks" whom they
    stand in for today. Rows that change (assignees, statuses, activations) are read by the
    statement, not written into it."""
    key: tuple[Any, ...] = (
        registry.generation,
        session.get_bind().dialect.name,
        tab,
        direction,
        limit,
        actor,
    )
    if tab in (MINE, DEPARTMENT):
        key += (department_code_of(session, actor),)
    if tab == MINE:
        key += tuple(substitutes.standing_in_for(session, actor))
    return key


class _Statements:
    """Unfiltered inbox statements, per registry (a test's app has its own), the most
    recently used ``KEPT`` of each. Building one costs more than running it (a few
    milliseconds of Python for "My tasks" with a branch per step); its values are the reader's
    own, so it is kept per reader and tab, and SQLAlchemy's compiled form is shared by all
    readers whose statements have the same shape."""

    # About 30-40 KiB a statement (measured with tracemalloc at a million applications): at
    # most ~20 MB a process, for the ~170 readers (three pages each: first, next, previous)
    # most recently served by it.
    KEPT = 512

    def __init__(self) -> None:
        self._by_registry: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def get(self, registry, key: tuple[Any, ...], build) -> Any:
        with self._lock:
            kept = self._by_registry.setdefault(registry, OrderedDict())
            found = kept.get(key)
            if found is not None:
                kept.move_to_end(key)
                return found
        stmt = build()
        with self._lock:
            kept[key] = stmt
            while len(kept) > self.KEPT:
                kept.popitem(last=False)
        return stmt


_STATEMENTS = _Statements()


def list_page(
    session: Session,
    registry,
    actor: Actor,
    tab: str,
    *,
    filters: Filters = Filters(),
    cursor: Cursor | None = None,
    limit: int = DEFAULT_LIMIT,
    on: dt.date | None = None,
) -> Page:
    """One page of a tab: at most ``limit`` rows, fetched with one SELECT of ``limit + 1``
    rows (the extra one says whether there is a further page)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    where = filter_clauses(filters, on)
    backwards = cursor is not None and cursor.direction == PREV
    direction = None if cursor is None else (PREV if backwards else NEXT)

    def build() -> Any:
        return _statement(session, registry, actor, tab, where, direction, limit, open_only=filters.overdue)

    if where:
        stmt = build()
    else:
        # Without filters (the inbox as it opens, and its pages) the statement depends only on
        # who reads which tab: kept, and built again only when that changes (_statement_key).
        stmt = _STATEMENTS.get(registry, _statement_key(session, registry, actor, tab, direction, limit), build)
    fetched = list(session.execute(stmt, _cursor_parameters(cursor)).all())
    more = len(fetched) > limit
    fetched = fetched[:limit]
    if backwards:
        fetched.reverse()
    rows = [Row(a, " ".join(p for p in (first, last) if p) or None) for a, first, last in fetched]
    page = Page(rows=rows)
    if rows:
        first_row, last_row = rows[0].application, rows[-1].application
        has_next = more if not backwards else True
        has_prev = (cursor is not None) if not backwards else more
        if has_next:
            page.next_cursor = Cursor(last_row.due_at, last_row.id, NEXT)
        if has_prev:
            page.prev_cursor = Cursor(first_row.due_at, first_row.id, PREV)
    return page


__all__ = [
    "ALL",
    "DEPARTMENT",
    "MINE",
    "TABS",
    "TRIGRAM",
    "BadCursor",
    "Cursor",
    "Filters",
    "NameContains",
    "Page",
    "Row",
    "can_act_clause",
    "decode_cursor",
    "department_code_of",
    "encode_cursor",
    "filter_clauses",
    "late_clause",
    "list_page",
    "mine_branches",
    "responsible_department_clause",
    "resubmit_clause",
    "search_clause",
    "stand_in_clauses",
    "tab_clause",
    "tabs_for",
]
