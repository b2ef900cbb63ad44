"""GET /api/v1/data/statistics: public counts of staff decisions, shaped after the GovStack
Registration Building Block's ``GET /data/statistics`` (its parameter and field names:
``startDate``, ``endDate``, ``registrationName``, ``operator``, ``role``, ``timeframe`` →
``processed``, ``approved``, ``sentBack``, ``rejected``, ``references``).

Public like the transparency dashboard: no token, and only counts, read from the
``stat_action`` aggregate (app.domain.statistics), so a request costs the same at any size.
Hamaynk's additions: ``municipality`` (a municipality's code; all active ones by default).
docs/statistics.md describes it; the OpenAPI spec at /api/v1/_openapi includes it.

Bad parameters answer 400 with a message in the language asked for (``?_l_=hy|en|ru``,
Armenian by default) and ``errors`` naming each parameter; an unknown service or
municipality answers 404, as GovStack's tests expect for an unknown ``registrationName``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app, request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_babel import gettext as _
from sqlalchemy import select

from app.domain import deadlines, inputs, roles, statistics
from app.domain.access import MAX_PK
from app.extensions import db
from app.models import Municipality
from app.plugins import runtime as plugin_runtime

PARAMETERS = ("startDate", "endDate", "registrationName", "operator", "role", "timeframe", "municipality")
# Flask-AppBuilder's language switch for API messages.
IGNORED = ("_l_",)
MAX_TEXT = 100
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class NotFoundParameter(LookupError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadParameters(ValueError):
    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("bad parameters")
        self.errors = dict(errors)


@dataclass(frozen=True)
class Query:
    start: dt.date
    end: dt.date
    service_key: str | None
    operator: int | None
    role: str | None
    timeframe: str | None
    municipality: Municipality | None


def _date(name: str, errors: dict[str, str]) -> dt.date | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if DATE.fullmatch(raw):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    errors[name] = _("Use a date as YYYY-MM-DD, e.g. 2026-04-30.")
    return None


def _text(name: str, errors: dict[str, str]) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return None
    if len(raw) > MAX_TEXT or inputs.text_problem(raw):
        errors[name] = _("This value is not valid.")
        return None
    return raw.strip()


def read_query() -> Query:
    """The request's parameters, checked; :class:`BadParameters` or :class:`NotFoundParameter`."""
    errors: dict[str, str] = {}
    unknown = sorted(name for name in request.args if name not in PARAMETERS and name not in IGNORED)
    for name in unknown:
        errors[name[:MAX_TEXT]] = _("Unknown parameter; the parameters are: %(names)s.", names=", ".join(PARAMETERS))
    start, end = _date("startDate", errors), _date("endDate", errors)
    service_key = _text("registrationName", errors)
    municipality_code = _text("municipality", errors)
    operator_raw = _text("operator", errors)
    operator = None
    if operator_raw is not None:
        operator = inputs.whole_number(operator_raw, MAX_PK) if operator_raw.isdigit() else None
        if operator is None:
            errors["operator"] = _("Use the operator's user id, a whole number.")
    role = _text("role", errors)
    if role is not None and role not in roles.ROLE_BY_KEY:
        errors["role"] = _("Choose one of: %(values)s.", values=", ".join(sorted(roles.ROLE_BY_KEY)))
    timeframe = _text("timeframe", errors)
    if timeframe is not None and timeframe not in statistics.TIMEFRAMES:
        errors["timeframe"] = _("Choose one of: %(values)s.", values=", ".join(statistics.TIMEFRAMES))
    if errors:
        raise BadParameters(errors)
    end = end or deadlines.today()
    # By default the twelve months up to endDate, the current one included (as the dashboard).
    start = start or statistics.add_months(statistics.month_of(end), -(statistics.DASHBOARD_MONTHS - 1))
    if start > end:
        raise BadParameters({"startDate": _("The start date must not be after the end date.")})
    try:
        statistics.periods(start, end, timeframe)
    except ValueError:
        raise BadParameters(
            {
                "timeframe": _(
                    "That is more than %(max)d periods: choose a shorter range or a longer timeframe.",
                    max=statistics.MAX_PERIODS,
                )
            }
        ) from None
    if service_key is not None and plugin_runtime.registry().get(service_key) is None:
        raise NotFoundParameter(_("There is no such service."))
    municipality = None
    if municipality_code is not None:
        municipality = db.session.execute(
            select(Municipality).where(Municipality.code == municipality_code, Municipality.active.is_(True))
        ).scalar_one_or_none()
        if municipality is None:
            raise NotFoundParameter(_("There is no such municipality."))
    return Query(start, end, service_key, operator, role, timeframe, municipality)


def references(query: Query, first: dt.date, last: dt.date) -> dict[str, Any]:
    """What was asked, per period (GovStack's ``references``)."""
    return {
        "startDate": first.isoformat(),
        "endDate": last.isoformat(),
        "registrationName": query.service_key,
        "operator": str(query.operator) if query.operator is not None else None,
        "role": query.role,
        "timeframeDay": query.timeframe == "day",
        "timeframeWeek": query.timeframe == "week",
        "timeframeMonth": query.timeframe == "month",
        "timeframeYear": query.timeframe == "year",
        "municipality": query.municipality.code if query.municipality is not None else None,
    }


class StatisticsApi(BaseApi):
    """Public statistics (no token)."""

    route_base = "/api/v1"
    resource_name = "data"
    class_permission_name = "StatisticsApi"
    openapi_spec_tag = "Statistics"

    def _fail(self, status: int, message: str, errors: Mapping[str, str] | None = None):
        payload: dict[str, Any] = {"message": message}
        if errors:
            payload["errors"] = dict(errors)
        return self.response(status, **payload)

    @expose("/data/statistics", methods=["GET"])
    @safe
    def statistics(self):
        """Staff decisions per period (public; shaped after GovStack Registration BB).
        ---
        get:
          summary: Statistics of staff decisions
          description: >-
            Counts of staff decisions on applications, from the aggregates the transparency
            dashboard reads (docs/statistics.md). processed = approved + sentBack +
            rejected, counting every step's decision (an application with two approval steps
            adds two approvals). Days are the office's (Asia/Yerevan). Public: no token.
          security: []
          parameters:
          - in: query
            name: startDate
            schema: {type: string, format: date, example: '2026-01-01'}
            description: First day counted; default the first day of the month eleven months before endDate
          - in: query
            name: endDate
            schema: {type: string, format: date, example: '2026-12-31'}
            description: Last day counted (included); default today
          - in: query
            name: registrationName
            schema: {type: string, example: residence-certificate}
            description: Only this service (its key); 404 when there is no such service
          - in: query
            name: operator
            schema: {type: string, example: '42'}
            description: Only decisions of this staff member (their user id)
          - in: query
            name: role
            schema:
              type: string
              enum: [system_admin, municipal_admin, clerk, specialist, head, auditor, citizen]
            description: Only decisions on steps of this role
          - in: query
            name: timeframe
            schema: {type: string, enum: [day, week, month, year]}
            description: >-
              One item per day, ISO week (Monday to Sunday), month or year, the first and
              last cut to the range; without it, one item for the whole range. At most 1000 items
          - in: query
            name: municipality
            schema: {type: string, example: abovyan}
            description: Only this municipality (its code); default every active one. Not in GovStack
          responses:
            200:
              description: One item per period, oldest first
              content:
                application/json:
                  schema:
                    type: array
                    items:
                      type: object
                      properties:
                        processed: {type: integer, description: approved + sentBack + rejected}
                        approved: {type: integer, description: Steps approved}
                        sentBack: {type: integer, description: Applications returned for correction}
                        rejected: {type: integer, description: Applications rejected}
                        references:
                          type: object
                          description: What was asked, with this item's own first and last day
                          properties:
                            startDate: {type: string, format: date}
                            endDate: {type: string, format: date}
                            registrationName: {type: string, nullable: true}
                            operator: {type: string, nullable: true}
                            role: {type: string, nullable: true}
                            timeframeDay: {type: boolean}
                            timeframeWeek: {type: boolean}
                            timeframeMonth: {type: boolean}
                            timeframeYear: {type: boolean}
                            municipality: {type: string, nullable: true}
            400:
              description: A parameter is not valid; message and errors (per parameter) say why
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      message: {type: string}
                      errors: {type: object, additionalProperties: {type: string}}
            404:
              description: No such service (registrationName) or municipality
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      message: {type: string}
        """
        try:
            query = read_query()
        except BadParameters as exc:
            return self._fail(400, _("Some query parameters are not valid."), exc.errors)
        except NotFoundParameter as exc:
            return self._fail(404, exc.message)
        ids = (
            [query.municipality.id]
            if query.municipality is not None
            else statistics.active_municipality_ids(db.session)
        )
        found = statistics.action_statistics(
            db.session,
            start=query.start,
            end=query.end,
            municipality_ids=ids,
            service_key=query.service_key,
            actor_id=query.operator,
            role=query.role,
            timeframe=query.timeframe,
        )
        body = [
            {
                "processed": period.processed,
                "approved": period.approved,
                "sentBack": period.sent_back,
                "rejected": period.rejected,
                "references": references(query, period.start, period.end),
            }
            for period in found
        ]
        return current_app.json.response(body)


__all__ = ["StatisticsApi"]
