"""Counts the public and the staff read: the transparency dashboard and GET /data/statistics.

Nothing here scans applications when a page is read. :func:`record` moves a few counters
(app.models.issuing: ``stat_month``, ``stat_duration``, ``stat_action``) in the same
transaction as every workflow change (app.domain.workflow calls it), so a dashboard or API
request reads a bounded number of aggregate rows, whatever the number of applications.
:func:`rebuild` recomputes all of them from the transition history (an existing database,
imported data, benchmarks): ``flask hamaynk stats rebuild``. Both go through one function
(:func:`_effects`), so live counting and a rebuild agree by construction; a test checks it.

What is counted (months and days are the office's, Asia/Yerevan):

* ``stat_month`` per municipality, service and month: ``received`` (submitted),
  ``completed`` (decided: finally approved or rejected), ``approved``, ``rejected``,
  ``withdrawn`` (a filed application taken back; a draft thrown away is not counted),
  ``issued`` (the result handed over), ``returned`` (sent back for correction) and
  ``on_time`` (decided on or before its due date, which already includes suspensions and
  extensions);
* ``stat_duration``: the decision's processing time in working days, from the day of
  submission to the day of decision, less the working days the clock was suspended while the
  application waited on the citizen (``DeadlineAdjustment`` suspensions); month = the
  decision's month. A histogram, so medians and percentiles need no rows;
* ``stat_action`` per day, operator, role of the step and action (approve, return, reject):
  what the GovStack-shaped statistics API reports.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, Table, cast, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.domain import access, deadlines, statuses
from app.domain.declarations import Service, Step
from app.domain.tracking import OFFICE_TZ
from app.models import Application, DeadlineAdjustment, Municipality, ServiceActivation, TransitionRecord
from app.models.issuing import StatAction, StatDuration, StatMonth
from app.models.portal import Question

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry

# -- what is counted ------------------------------------------------------------------------------

RECEIVED = "received"
COMPLETED = "completed"
APPROVED = "approved"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
ISSUED = "issued"
ON_TIME = "on_time"
RETURNED = "returned"
MEASURES = (RECEIVED, COMPLETED, APPROVED, REJECTED, WITHDRAWN, ISSUED, ON_TIME, RETURNED)

# TransitionRecord.action values (app.domain.workflow names them; repeated here so that this
# module, which workflow imports lazily, needs nothing of it).
_SUBMIT, _APPROVE, _REJECT, _RETURN, _WITHDRAW, _HAND_OVER = (
    "submit",
    "approve",
    "reject",
    "return",
    "withdraw",
    "hand_over",
)
# The staff decisions stat_action counts, and the only actions anything here counts.
DECISIONS = (_APPROVE, _RETURN, _REJECT)
COUNTED_ACTIONS = (_SUBMIT, _APPROVE, _REJECT, _RETURN, _WITHDRAW, _HAND_OVER)
# stat_action.actor_id when no person acted (the system).
NO_ACTOR = 0
# stat_action.role when the step is no longer declared (a rebuild after a plug-in was removed).
UNKNOWN_ROLE = "unknown"

# The API's periods (GovStack Registration BB ``timeframe``).
TIMEFRAMES = ("day", "week", "month", "year")
# One answer holds at most this many periods (10 years of months; 2.7 years of days).
MAX_PERIODS = 1000

# The dashboard's window: this many months, the current one included.
DASHBOARD_MONTHS = 12
REASON_PUBLIC = "public aggregate statistics (counts only, no row leaves)"
REASON_REBUILD = "rebuilding the statistics of every municipality from the history"


def office_date(moment: dt.datetime) -> dt.date:
    """The office's calendar day of a stored (naive UTC) moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(OFFICE_TZ).date()


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


# -- one transition's effect -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Effects:
    month: dt.date
    measures: tuple[str, ...] = ()
    # Working days from submission to decision, suspensions left out (decisions only).
    duration: int | None = None
    # (day, actor id, role, action) of a staff decision.
    action: tuple[dt.date, int, str, str] | None = None


def _effects(
    *,
    action: str,
    from_status: str | None,
    to_status: str,
    at: dt.datetime,
    actor_id: int | None,
    role: str | None,
    submitted_at: dt.datetime | None,
    due_at: dt.date | None,
    suspended_days: int,
    calendar: Callable[[], deadlines.WorkingCalendar],
) -> _Effects:
    """What one transition adds to the counters: the one rule :func:`record` and
    :func:`rebuild` share."""
    day = office_date(at)
    measures: list[str] = []
    duration = None
    if action == _SUBMIT:
        measures.append(RECEIVED)
    if to_status in (statuses.APPROVED, statuses.REJECTED) and from_status != to_status:
        measures += [COMPLETED, APPROVED if to_status == statuses.APPROVED else REJECTED]
        if due_at is not None and day <= due_at:
            measures.append(ON_TIME)
        if submitted_at is not None:
            worked = calendar().working_days_between(office_date(submitted_at), day)
            duration = max(worked - suspended_days, 0)
    if action == _WITHDRAW and from_status not in (None, statuses.DRAFT):
        measures.append(WITHDRAWN)
    if action == _HAND_OVER:
        measures.append(ISSUED)
    if action == _RETURN:
        measures.append(RETURNED)
    decision = None
    if action in DECISIONS:
        decision = (day, actor_id if actor_id is not None else NO_ACTOR, role or UNKNOWN_ROLE, action)
    return _Effects(month_of(day), tuple(measures), duration, decision)


# -- upserts (SQLite and PostgreSQL) --------------------------------------------------------------


def _insert(session: Session, table: Table) -> Any:
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"statistics upserts are written for SQLite and PostgreSQL, not {name}")


def _add(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add each row's ``count`` to the row with its key, creating it when missing: one
    statement, safe when two transactions count the same key at once."""
    if not rows:
        return
    stmt = _insert(session, table).values(list(rows))
    stmt = stmt.on_conflict_do_update(
        index_elements=[column.name for column in table.primary_key],
        set_={"count": table.c.count + stmt.excluded.count},
    )
    session.execute(stmt)


def _apply(session: Session, municipality_id: int, service_key: str, effects: _Effects, times: int = 1) -> None:
    key = {"municipality_id": municipality_id, "service_key": service_key}
    _add(
        session,
        StatMonth.__table__,  # type: ignore[arg-type]
        [{**key, "month": effects.month, "measure": m, "count": times} for m in effects.measures],
    )
    if effects.duration is not None:
        row = {**key, "month": effects.month, "working_days": effects.duration, "count": times}
        _add(session, StatDuration.__table__, [row])  # type: ignore[arg-type]
    if effects.action is not None:
        day, actor_id, role, action = effects.action
        row = {**key, "day": day, "actor_id": actor_id, "role": role, "action": action, "count": times}
        _add(session, StatAction.__table__, [row])  # type: ignore[arg-type]


def _suspended_days(session: Session, application: Application) -> int:
    stmt = access.within(
        select(func.coalesce(func.sum(DeadlineAdjustment.days), 0)), DeadlineAdjustment, application.municipality_id
    ).where(DeadlineAdjustment.application_id == application.id, DeadlineAdjustment.kind == "suspension")
    return int(session.execute(stmt).scalar_one())


def record(
    session: Session, application: Application, service: Service, step: Step | None, change: TransitionRecord
) -> None:
    """Move the counters for ``change`` in its transaction (called by app.domain.workflow)."""
    if change.action not in COUNTED_ACTIONS:
        return
    decided = change.to_status in (statuses.APPROVED, statuses.REJECTED) and change.from_status != change.to_status
    effects = _effects(
        action=change.action,
        from_status=change.from_status,
        to_status=change.to_status,
        at=change.at,
        actor_id=change.actor_id,
        role=step.role if step is not None else None,
        submitted_at=application.submitted_at,
        due_at=application.due_at,
        suspended_days=_suspended_days(session, application) if decided else 0,
        calendar=lambda: deadlines.WorkingCalendar(session, application.municipality_id),
    )
    _apply(session, application.municipality_id, application.service_key, effects)


# -- rebuilding from the history ------------------------------------------------------------------


@dataclass(frozen=True)
class Rebuilt:
    """What :func:`rebuild` wrote: transitions read and aggregate rows written per table."""

    transitions: int
    month_rows: int
    duration_rows: int
    action_rows: int


REBUILD_BATCH = 2000


def rebuild(
    session: Session,
    registry: ServiceRegistry,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> Rebuilt:
    """Recompute every counter from the transition history, replacing what is stored.

    ``registry`` names each step's role (an undeclared step counts as ``unknown``);
    ``progress(done, total)`` is called as transitions are read. Streams the history in
    batches and keeps only the aggregates in memory. The caller commits; run it when no one
    is working, or run it again, as a change committed while it reads may be missed.
    """
    report = progress or (lambda _done, _total: None)
    counted = TransitionRecord.action.in_(COUNTED_ACTIONS)
    total_stmt = access.unscoped(
        select(func.count()).select_from(TransitionRecord).where(counted), reason=REASON_REBUILD
    )
    total = int(session.execute(total_stmt).scalar_one())
    report(0, total)
    suspended = (
        select(DeadlineAdjustment.application_id, func.sum(DeadlineAdjustment.days).label("days"))
        .where(DeadlineAdjustment.kind == "suspension")
        .group_by(DeadlineAdjustment.application_id)
        .subquery()
    )
    stmt = access.unscoped(
        select(
            TransitionRecord.municipality_id,
            TransitionRecord.action,
            TransitionRecord.from_status,
            TransitionRecord.to_status,
            TransitionRecord.at,
            TransitionRecord.actor_id,
            TransitionRecord.step_key,
            Application.service_key,
            Application.service_version,
            Application.submitted_at,
            Application.due_at,
            suspended.c.days,
        )
        .join(Application, Application.id == TransitionRecord.application_id)
        .outerjoin(suspended, suspended.c.application_id == Application.id)
        .where(counted)
        .order_by(TransitionRecord.id),
        reason=REASON_REBUILD,
    )
    months: dict[tuple[Any, ...], int] = defaultdict(int)
    durations: dict[tuple[Any, ...], int] = defaultdict(int)
    actions: dict[tuple[Any, ...], int] = defaultdict(int)
    calendars: dict[int, deadlines.WorkingCalendar] = {}
    roles: dict[tuple[str, int, str | None], str | None] = {}

    def role_of(key: str, version: int, step_key: str | None) -> str | None:
        if (key, version, step_key) not in roles:
            registered = registry.get(key, version)
            step = registered.service.step(step_key) if registered is not None and step_key else None
            roles[(key, version, step_key)] = step.role if step is not None else None
        return roles[(key, version, step_key)]

    def calendar_of(municipality_id: int) -> deadlines.WorkingCalendar:
        if municipality_id not in calendars:
            calendars[municipality_id] = deadlines.WorkingCalendar(session, municipality_id)
        return calendars[municipality_id]

    done = 0
    rows = session.execute(stmt.execution_options(yield_per=REBUILD_BATCH))
    for batch in rows.partitions(REBUILD_BATCH):
        for row in batch:
            m_id = row.municipality_id
            effects = _effects(
                action=row.action,
                from_status=row.from_status,
                to_status=row.to_status,
                at=row.at,
                actor_id=row.actor_id,
                role=role_of(row.service_key, row.service_version, row.step_key) if row.action in DECISIONS else None,
                submitted_at=row.submitted_at,
                due_at=row.due_at,
                suspended_days=int(row.days or 0),
                calendar=functools.partial(calendar_of, m_id),
            )
            base = (m_id, row.service_key)
            for measure in effects.measures:
                months[(*base, effects.month, measure)] += 1
            if effects.duration is not None:
                durations[(*base, effects.month, effects.duration)] += 1
            if effects.action is not None:
                actions[(*base, *effects.action)] += 1
        done += len(batch)
        report(done, total)
    for model in (StatMonth, StatDuration, StatAction):
        session.execute(delete(model))
    _bulk(session, StatMonth, ("municipality_id", "service_key", "month", "measure"), months)
    _bulk(session, StatDuration, ("municipality_id", "service_key", "month", "working_days"), durations)
    _bulk(session, StatAction, ("municipality_id", "service_key", "day", "actor_id", "role", "action"), actions)
    return Rebuilt(total, len(months), len(durations), len(actions))


def _bulk(session: Session, model: Any, names: Sequence[str], counts: Mapping[tuple[Any, ...], int]) -> None:
    rows = [{**dict(zip(names, key, strict=True)), "count": n} for key, n in counts.items()]
    for start in range(0, len(rows), REBUILD_BATCH):
        session.execute(insert(model.__table__), rows[start : start + REBUILD_BATCH])


# -- percentiles from a histogram -----------------------------------------------------------------


def _nth(histogram: Mapping[int, int], n: int) -> int:
    """The ``n``-th smallest value (0-based) of the values the histogram counts."""
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if n < seen:
            return value
    raise IndexError(n)


def median(histogram: Mapping[int, int]) -> float | None:
    """The median of the counted values (the mean of the middle two for an even count)."""
    total = sum(histogram.values())
    if total == 0:
        return None
    return (_nth(histogram, (total - 1) // 2) + _nth(histogram, total // 2)) / 2


def percentile(histogram: Mapping[int, int], p: float) -> int | None:
    """The ``p``-th percentile by the nearest-rank method: the smallest counted value that
    at least ``p`` per cent of the values are less than or equal to."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(math.ceil(p / 100 * total), 1)
    return _nth(histogram, rank - 1)


# -- the dashboard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthFigures:
    """One month of one scope: how many applications did each measure."""

    month: dt.date
    counts: Mapping[str, int]

    def __getitem__(self, measure: str) -> int:
        return int(self.counts.get(measure, 0))


@dataclass(frozen=True)
class ServiceFigures:
    """One service over the dashboard's window."""

    service_key: str
    # The title per language (empty when the service is no longer declared).
    title: Mapping[str, str]
    # Statutory deadline in working days: the municipality's override, else the declared one.
    deadline_days: int | None
    received: int
    completed: int
    on_time: int
    # Decisions counted in the duration histogram (= completed).
    decided: int
    median_days: float | None
    p90_days: int | None

    @property
    def on_time_share(self) -> float | None:
        return self.on_time / self.completed if self.completed else None


@dataclass(frozen=True)
class QuestionFigures:
    """Questions to the specialist asked in the window and how fast staff first answered."""

    asked: int
    answered: int
    # In whole hours (each answer time rounded down), calendar time.
    median_hours: float | None


@dataclass(frozen=True)
class Dashboard:
    """Every figure of the transparency dashboard for one municipality or all of them."""

    municipality_id: int | None
    first_month: dt.date
    on: dt.date
    months: list[MonthFigures]
    services: list[ServiceFigures]
    overdue: int
    questions: QuestionFigures
    # Participation in polls: no polls exist yet, so there is nothing to show (None).
    poll_participation: float | None = None
    totals: Mapping[str, int] = field(default_factory=dict)

    @property
    def on_time_share(self) -> float | None:
        completed = self.totals.get(COMPLETED, 0)
        return self.totals.get(ON_TIME, 0) / completed if completed else None


def _owner_filter(column: Any, municipality_ids: Sequence[int]) -> Any:
    return column == municipality_ids[0] if len(municipality_ids) == 1 else column.in_(list(municipality_ids))


def active_municipality_ids(session: Session) -> list[int]:
    """Active municipalities (public, like the catalogue)."""
    return list(session.execute(select(Municipality.id).where(Municipality.active.is_(True))).scalars())


def _answer_hours(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        seconds = func.extract("epoch", Question.first_answered_at - Question.created_at)
        return cast(func.floor(seconds / 3600), Integer)
    return cast((func.julianday(Question.first_answered_at) - func.julianday(Question.created_at)) * 24, Integer)


def _office_midnight_utc(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, OFFICE_TZ).astimezone(dt.UTC).replace(tzinfo=None)


def question_figures(session: Session, municipality_ids: Sequence[int], since: dt.date) -> QuestionFigures:
    """Asked, answered and the median time to the first answer of the questions asked since
    ``since``: one grouped query whose rows are the distinct answer times in hours, not the
    questions (app.domain.questions.response_times reads every question of the period).

    The database reads the questions of the window from ``ix_question_asked`` alone
    (municipality, asked, first answered): bounded by the window, not by every question ever
    asked. Counters kept by app.domain.questions would make it constant; not needed yet."""
    if not municipality_ids:
        return QuestionFigures(0, 0, None)
    hours = _answer_hours(session).label("hours")
    stmt = access.unscoped(
        select(hours, func.count())
        .where(_owner_filter(Question.municipality_id, municipality_ids))
        .where(Question.created_at >= _office_midnight_utc(since))
        .group_by(hours),
        reason=REASON_PUBLIC,
    )
    asked = 0
    histogram: dict[int, int] = {}
    for value, n in session.execute(stmt).all():
        asked += n
        if value is not None:
            histogram[max(int(value), 0)] = histogram.get(max(int(value), 0), 0) + n
    return QuestionFigures(asked, sum(histogram.values()), median(histogram))


def overdue_count(session: Session, municipality_ids: Sequence[int], on: dt.date) -> int:
    """Open applications past their overall due date: a count on the inbox index
    (municipality, status, due date)."""
    if not municipality_ids:
        return 0
    stmt = access.unscoped(
        select(func.count())
        .select_from(Application)
        .where(_owner_filter(Application.municipality_id, municipality_ids), deadlines.overdue_clause(on)),
        reason=REASON_PUBLIC,
    )
    return int(session.execute(stmt).scalar_one())


def dashboard(
    session: Session,
    registry: ServiceRegistry,
    municipality_id: int | None = None,
    *,
    on: dt.date | None = None,
    months: int = DASHBOARD_MONTHS,
) -> Dashboard:
    """The dashboard's figures for one municipality, or every active one (``None``), over
    the ``months`` months up to ``on`` (today). A fixed number of queries of aggregate rows:
    the same at ten applications and at a million."""
    on = on or deadlines.today()
    first = add_months(month_of(on), -(months - 1))
    ids = [municipality_id] if municipality_id is not None else active_municipality_ids(session)
    month_rows: dict[dt.date, dict[str, int]] = {add_months(first, i): {} for i in range(months)}
    per_service: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    totals: dict[str, int] = defaultdict(int)
    histograms: dict[str, dict[int, int]] = defaultdict(dict)
    if ids:
        owner = _owner_filter(StatMonth.municipality_id, ids)
        month_stmt = (
            select(StatMonth.month, StatMonth.service_key, StatMonth.measure, func.sum(StatMonth.count))
            .where(owner, StatMonth.month >= first, StatMonth.month <= on)
            .group_by(StatMonth.month, StatMonth.service_key, StatMonth.measure)
        )
        for month, key, measure, n in session.execute(month_stmt).all():
            n = int(n)
            month_rows.setdefault(month, {})
            month_rows[month][measure] = month_rows[month].get(measure, 0) + n
            per_service[key][measure] += n
            totals[measure] += n
        duration_stmt = (
            select(StatDuration.service_key, StatDuration.working_days, func.sum(StatDuration.count))
            .where(_owner_filter(StatDuration.municipality_id, ids), StatDuration.month >= first)
            .where(StatDuration.month <= on)
            .group_by(StatDuration.service_key, StatDuration.working_days)
        )
        for key, days, n in session.execute(duration_stmt).all():
            histograms[key][int(days)] = int(n)
    overrides: dict[str, int | None] = {}
    if municipality_id is not None:
        override_stmt = access.within(
            select(ServiceActivation.service_key, ServiceActivation.deadline_override),
            ServiceActivation,
            municipality_id,
        )
        overrides = {row[0]: row[1] for row in session.execute(override_stmt).all()}
    services = []
    for key in sorted(set(per_service) | set(histograms)):
        registered = registry.get(key)
        declared = registered.service if registered is not None else None
        deadline = overrides.get(key)
        if deadline is None and declared is not None:
            deadline = declared.deadline_days
        counts, histogram = per_service.get(key, {}), histograms.get(key, {})
        services.append(
            ServiceFigures(
                service_key=key,
                title=dict(declared.title) if declared is not None else {},
                deadline_days=deadline,
                received=counts.get(RECEIVED, 0),
                completed=counts.get(COMPLETED, 0),
                on_time=counts.get(ON_TIME, 0),
                decided=sum(histogram.values()),
                median_days=median(histogram),
                p90_days=percentile(histogram, 90),
            )
        )
    return Dashboard(
        municipality_id=municipality_id,
        first_month=first,
        on=on,
        months=[MonthFigures(month, month_rows[month]) for month in sorted(month_rows) if first <= month <= on],
        services=services,
        overdue=overdue_count(session, ids, on),
        questions=question_figures(session, ids, first),
        totals=dict(totals),
    )


# -- the statistics API (GovStack Registration BB, GET /data/statistics) ---------------------------


@dataclass(frozen=True)
class ActionPeriod:
    """Staff decisions in one period (both days included)."""

    start: dt.date
    end: dt.date
    approved: int = 0
    sent_back: int = 0
    rejected: int = 0

    @property
    def processed(self) -> int:
        return self.approved + self.sent_back + self.rejected


def period_start(day: dt.date, timeframe: str | None, start: dt.date) -> dt.date:
    """The first day of the period of ``timeframe`` that holds ``day``, not before ``start``."""
    if timeframe == "day":
        first = day
    elif timeframe == "week":
        first = day - dt.timedelta(days=day.weekday())  # ISO weeks begin on Monday
    elif timeframe == "month":
        first = day.replace(day=1)
    elif timeframe == "year":
        first = dt.date(day.year, 1, 1)
    else:
        first = start
    return max(first, start)


def _next_period(first: dt.date, timeframe: str | None, end: dt.date) -> dt.date:
    if timeframe == "day":
        return first + dt.timedelta(days=1)
    if timeframe == "week":
        return first - dt.timedelta(days=first.weekday()) + dt.timedelta(days=7)
    if timeframe == "month":
        return add_months(first.replace(day=1), 1)
    if timeframe == "year":
        return dt.date(first.year + 1, 1, 1)
    return end + dt.timedelta(days=1)


def periods(start: dt.date, end: dt.date, timeframe: str | None) -> list[tuple[dt.date, dt.date]]:
    """The periods of ``timeframe`` from ``start`` to ``end`` (both included), the first and
    the last cut to the range; one period without a timeframe. :class:`ValueError` beyond
    :data:`MAX_PERIODS`."""
    found = []
    first = start
    while first <= end:
        following = _next_period(first, timeframe, end)
        found.append((first, min(following - dt.timedelta(days=1), end)))
        if len(found) > MAX_PERIODS:
            raise ValueError(f"more than {MAX_PERIODS} periods")
        first = following
    return found


def action_statistics(
    session: Session,
    *,
    start: dt.date,
    end: dt.date,
    municipality_ids: Sequence[int],
    service_key: str | None = None,
    actor_id: int | None = None,
    role: str | None = None,
    timeframe: str | None = None,
) -> list[ActionPeriod]:
    """Approvals, returns for correction ("sent back") and rejections by staff from ``start``
    to ``end``, per ``timeframe`` period (``None``: one period), optionally of one service,
    operator (user id) or step role. One grouped query of at most a row per day and action."""
    spans = periods(start, end, timeframe)
    counts: dict[dt.date, dict[str, int]] = {first: defaultdict(int) for first, _last in spans}
    if municipality_ids:
        stmt = select(StatAction.day, StatAction.action, func.sum(StatAction.count)).where(
            _owner_filter(StatAction.municipality_id, municipality_ids),
            StatAction.day >= start,
            StatAction.day <= end,
        )
        if service_key is not None:
            stmt = stmt.where(StatAction.service_key == service_key)
        if actor_id is not None:
            stmt = stmt.where(StatAction.actor_id == actor_id)
        if role is not None:
            stmt = stmt.where(StatAction.role == role)
        for day, action, n in session.execute(stmt.group_by(StatAction.day, StatAction.action)).all():
            counts[period_start(day, timeframe, start)][action] += int(n)
    return [
        ActionPeriod(
            start=first,
            end=last,
            approved=counts[first][_APPROVE],
            sent_back=counts[first][_RETURN],
            rejected=counts[first][_REJECT],
        )
        for first, last in spans
    ]


def counters(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored counter, sorted (for tests and for comparing a rebuild with live counts)."""
    result: dict[str, list[tuple[Any, ...]]] = {}
    for name, model in (("month", StatMonth), ("duration", StatDuration), ("action", StatAction)):
        table: Any = model.__table__
        columns = [*table.primary_key.columns, table.c.count]
        result[name] = sorted(tuple(row) for row in session.execute(select(*columns)).all())
    return result


__all__ = [
    "APPROVED",
    "COMPLETED",
    "DASHBOARD_MONTHS",
    "ISSUED",
    "MAX_PERIODS",
    "MEASURES",
    "ON_TIME",
    "RECEIVED",
    "REJECTED",
    "RETURNED",
    "TIMEFRAMES",
    "WITHDRAWN",
    "ActionPeriod",
    "Dashboard",
    "MonthFigures",
    "QuestionFigures",
    "Rebuilt",
    "ServiceFigures",
    "action_statistics",
    "active_municipality_ids",
    "counters",
    "dashboard",
    "median",
    "office_date",
    "overdue_count",
    "percentile",
    "periods",
    "question_figures",
    "rebuild",
    "record",
]
