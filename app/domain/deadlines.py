"""Working days and due dates.

A working day is a weekday that is neither an Armenian public holiday (from the ``holidays``
package, so new laws arrive with a package upgrade) nor one of the municipality's own days
off (:class:`~app.models.MunicipalHoliday`).

Counting rule, used everywhere: the day something starts does not count.
``add_working_days(Monday, 1)`` is Tuesday (when Tuesday is a working day), and
``working_days_between(a, b)`` counts the working days ``d`` with ``a < d <= b``, so
``add_working_days(a, working_days_between(a, b)) <= b``.

Due dates move in two recorded ways (:class:`~app.models.DeadlineAdjustment`): the clock is
suspended while the application waits on the citizen (returned for correction), and a head
or municipal admin may extend it, with a reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import holidays as holiday_calendars
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from app.domain import access, statuses
from app.domain.declarations import Service, Step
from app.domain.tracking import OFFICE_TZ
from app.models import Application, MunicipalHoliday, ServiceActivation

COUNTRY = "AM"
# More than a year of working days would mean a typo in a declaration, not a real deadline;
# stop rather than loop for ever.
MAX_WORKING_DAYS = 400
# Statuses whose clock runs: submitted and being reviewed. Waiting on the citizen does not
# count, and approved / final applications have nothing left to be late for.
RUNNING = (statuses.SUBMITTED, statuses.IN_REVIEW)


def today() -> dt.date:
    """Today in the office's time zone (a late-evening UTC date would be tomorrow in Yerevan)."""
    return dt.datetime.now(OFFICE_TZ).date()


class WorkingCalendar:
    """The working days of one municipality. Cheap to build; loads holidays per year on demand."""

    def __init__(self, session: Session | None, municipality_id: int | None) -> None:
        self.session = session
        self.municipality_id = municipality_id
        self._national = holiday_calendars.country_holidays(COUNTRY)
        self.weekend = frozenset(getattr(self._national, "weekend", {5, 6}))
        self._local: dict[int, dict[dt.date, str]] = {}

    def _local_days(self, year: int) -> dict[dt.date, str]:
        if year not in self._local:
            days: dict[dt.date, str] = {}
            if self.session is not None and self.municipality_id is not None:
                rows = self.session.execute(
                    access.within(select(MunicipalHoliday), MunicipalHoliday, self.municipality_id).where(
                        MunicipalHoliday.date >= dt.date(year, 1, 1),
                        MunicipalHoliday.date <= dt.date(year, 12, 31),
                    )
                ).scalars()
                days = {row.date: row.name for row in rows}
            self._local[year] = days
        return self._local[year]

    def holiday_name(self, day: dt.date) -> str | None:
        """The name of the holiday on ``day`` (municipal first), or None on an ordinary day."""
        local = self._local_days(day.year).get(day)
        if local:
            return local
        return self._national.get(day)

    def is_working_day(self, day: dt.date) -> bool:
        if day.weekday() in self.weekend:
            return False
        return self.holiday_name(day) is None

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The ``days``-th working day after ``start`` (``start`` itself when ``days`` is 0)."""
        start = _as_date(start)
        if days < 0:
            raise ValueError("days must not be negative")
        if days > MAX_WORKING_DAYS:
            raise ValueError(f"{days} working days is more than the {MAX_WORKING_DAYS} a deadline may have")
        day = start
        left = days
        while left:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days ``d`` with ``start < d <= end``; 0 when ``end`` is not after ``start``."""
        start, end = _as_date(start), _as_date(end)
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def calendar(session: Session | None, municipality_id: int | None) -> WorkingCalendar:
    return WorkingCalendar(session, municipality_id)


def add_working_days(
    start: dt.date, days: int, *, session: Session | None = None, municipality_id: int | None = None
) -> dt.date:
    """See :meth:`WorkingCalendar.add_working_days`; without a municipality only national holidays count."""
    return WorkingCalendar(session, municipality_id).add_working_days(start, days)


def working_days_between(
    start: dt.date, end: dt.date, *, session: Session | None = None, municipality_id: int | None = None
) -> int:
    return WorkingCalendar(session, municipality_id).working_days_between(start, end)


def is_working_day(day: dt.date, *, session: Session | None = None, municipality_id: int | None = None) -> bool:
    return WorkingCalendar(session, municipality_id).is_working_day(day)


# -- due dates ---------------------------------------------------------------------------


def service_deadline_days(session: Session, service: Service, municipality_id: int) -> int:
    """The municipality's deadline override for the service, else the declared one."""
    stmt = access.within(select(ServiceActivation.deadline_override), ServiceActivation, municipality_id)
    override = session.execute(stmt.where(ServiceActivation.service_key == service.key)).scalar_one_or_none()
    return override if override is not None else service.deadline_days


def end_of_day(day: dt.date) -> dt.datetime:
    """A due *date* as the moment it passes (``step_due_at`` is a timestamp)."""
    return dt.datetime.combine(day, dt.time(23, 59, 59))


def overall_due_date(session: Session, service: Service, municipality_id: int, start: dt.date) -> dt.date:
    return add_working_days(
        start,
        service_deadline_days(session, service, municipality_id),
        session=session,
        municipality_id=municipality_id,
    )


def step_due_date(session: Session, step: Step, municipality_id: int, start: dt.date) -> dt.date:
    return add_working_days(start, step.days, session=session, municipality_id=municipality_id)


def shift(session: Session, application: Application, days: int) -> None:
    """Move the application's due dates ``days`` working days later (suspension, extension)."""
    if days <= 0:
        return
    cal = WorkingCalendar(session, application.municipality_id)
    if application.due_at is not None:
        application.due_at = cal.add_working_days(application.due_at, days)
    if application.step_due_at is not None:
        application.step_due_at = end_of_day(cal.add_working_days(application.step_due_at.date(), days))


def suspended_working_days(
    session: Session, application: Application, since: dt.date, until: dt.date | None = None
) -> int:
    """Working days the application waited on the citizen between ``since`` and ``until``."""
    return working_days_between(since, until or today(), session=session, municipality_id=application.municipality_id)


# -- overdue -----------------------------------------------------------------------------


def overdue_clause(on: dt.date | None = None):
    """A WHERE clause for applications past their overall due date on ``on`` (default today)."""
    on = on or today()
    return and_(Application.status.in_(RUNNING), Application.due_at.is_not(None), Application.due_at < on)


def step_overdue_clause(on: dt.date | None = None):
    """Applications whose current step is past its budget (escalation looks for these)."""
    on = on or today()
    return and_(
        Application.status.in_(RUNNING),
        Application.step_due_at.is_not(None),
        Application.step_due_at < dt.datetime.combine(on, dt.time.min),
    )


def late_clause(on: dt.date | None = None):
    """Late either overall or on the current step."""
    return or_(overdue_clause(on), step_overdue_clause(on))


def overdue_applications(session: Session, municipality_ids: Iterable[int] | None = None, on: dt.date | None = None):
    """A SELECT of overdue applications, optionally limited to some municipalities.

    Pass ``app.domain.access.visible_municipality_ids(actor)`` so views see only what they may.
    """
    query = select(Application).where(overdue_clause(on)).order_by(Application.due_at, Application.id)
    if municipality_ids is not None:
        query = query.where(Application.municipality_id.in_(list(municipality_ids)))
    return query


def is_overdue(application: Application, on: dt.date | None = None) -> bool:
    on = on or today()
    return application.status in RUNNING and application.due_at is not None and application.due_at < on


def is_step_overdue(application: Application, on: dt.date | None = None) -> bool:
    on = on or today()
    return (
        application.status in RUNNING
        and application.step_due_at is not None
        and application.step_due_at < dt.datetime.combine(on, dt.time.min)
    )


__all__ = [
    "RUNNING",
    "WorkingCalendar",
    "add_working_days",
    "calendar",
    "end_of_day",
    "is_overdue",
    "is_step_overdue",
    "is_working_day",
    "late_clause",
    "overall_due_date",
    "overdue_applications",
    "overdue_clause",
    "service_deadline_days",
    "shift",
    "step_due_date",
    "step_overdue_clause",
    "suspended_working_days",
    "today",
    "working_days_between",
]
