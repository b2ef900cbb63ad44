"""Staff reports (Office → Reports): workload, the overdue list, processing time per step and
returned-for-correction rates of one municipality for a period, on the page and as CSV or
XLSX downloads.

Thin: who reads which municipality's reports, the period and the figures are
:mod:`app.domain.reports`. Its own permissions (``can_list`` and ``can_export`` on
``StaffReports``, menu item ``Reports``) go to heads, municipal administrators and auditors
(app.security); the domain checks the municipality on every request as well. A CSV streams
as it is read from the database; an XLSX is written row by row to a temporary file and
sent from there. Every download is audit-logged.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from typing import Any

from flask import Response, request, send_file, stream_with_context, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.domain import audit
from app.domain import reports as rp
from app.domain.access import Actor
from app.domain.errors import NotAllowed
from app.extensions import db
from app.i18n import current_locale
from app.plugins import runtime as plugin_runtime

# Rows shown on the page; the downloads hold them all.
PAGE_ROWS = 200
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]")

DESCRIPTIONS = {
    rp.WORKLOAD: lambda: _(
        "Applications at a step now, per department responsible for the step and per person they are assigned to, with how many are late and how many wait on the citizen; and the decisions taken on steps in the period."
    ),
    rp.OVERDUE: lambda: _(
        "Applications late today, on their current step or overall, earliest due first. The period does not apply: this is the state of today."
    ),
    rp.STEPS: lambda: _(
        "Working days from arriving at a step to leaving it, for the steps approved or rejected in the period; the time an application waited on the citizen does not count."
    ),
    rp.RETURNS: lambda: _(
        "Applications approved or rejected in the period, and how many of them had been returned for correction at least once."
    ),
}


class _Request:
    """What a report request asked for, and what was wrong with it."""

    def __init__(self, actor: Actor) -> None:
        args = request.args
        self.errors: dict[str, str] = {}
        self.name = rp.WORKLOAD
        self.period: rp.Period | None = None
        self.scope: rp.Scope | None = None
        self.raw = {key: (args.get(key) or "").strip()[:64] for key in ("from", "to", "municipality")}
        try:
            self.name = rp.check_name(args.get("report") or rp.WORKLOAD)
        except rp.ReportError as exc:
            self.errors[exc.field] = str(exc)
        try:
            self.period = rp.parse_period(args.get("from"), args.get("to"))
        except rp.ReportError as exc:
            self.errors[exc.field] = str(exc)
        try:
            self.scope = rp.scope_for(db.session, actor, self.raw["municipality"] or None)
        except rp.ReportError as exc:
            self.errors[exc.field] = str(exc)

    @property
    def only_unchosen(self) -> bool:
        """Nothing wrong but that a system administrator has not chosen a municipality yet."""
        return list(self.errors) == ["municipality"] and not self.raw["municipality"]

    def args(self, **changes: str) -> dict[str, str]:
        """The query string of this request, for links to another report or a download."""
        values = {"report": self.name}
        if self.period is not None:
            values.update({"from": self.period.start.isoformat(), "to": self.period.end.isoformat()})
        if self.scope is not None and self.scope.actor is not None and self.scope.actor.is_system_admin:
            values["municipality"] = self.scope.code
        values.update(changes)
        return values


def _tables(report: rp.Report, rows: list[rp.Row]) -> list[dict[str, Any]]:
    """The page's tables: a workload report is two (departments, staff); the others one."""
    if report.name != rp.WORKLOAD:
        return [{"caption": report.title, "header": report.header, "rows": rows, "id": report.name}]
    # Department rows come first (their first column says so), then the staff's.
    department = _("Department")
    split = next((i for i, row in enumerate(rows) if row[0] != department), len(rows))
    departments = [(row[1], *row[3:]) for row in rows[:split]]
    staff = [row[1:] for row in rows[split:]]
    header = report.header
    return [
        {
            "caption": _("Workload per department"),
            "header": (_("Department"), *header[3:]),
            "rows": departments,
            "id": "workload-departments",
        },
        {"caption": _("Workload per staff member"), "header": header[1:], "rows": staff, "id": "workload-staff"},
    ]


def _download_name(report: rp.Report, extension: str) -> str:
    return _UNSAFE_IN_NAME.sub("_", report.filename(extension))


class StaffReportsView(BaseView):
    route_base = "/workspace/reports"
    class_permission_name = "StaffReports"
    method_permission_name = {"index": "list", "export": "export"}
    default_view = "index"

    def _error(self, message: str, status: int):
        return self.render_template(
            "hamaynk/error.html", title=_("Reports"), message=message, back_url=url_for("WorkspaceView.inbox")
        ), status

    def _page(self, actor: Actor, asked: _Request, *, status: int = 200, report=None, rows=None):
        more = rows is not None and len(rows) > PAGE_ROWS
        shown = rows[:PAGE_ROWS] if rows is not None else None
        return self.render_template(
            "workspace/reports/index.html",
            title=_("Reports"),
            asked=asked,
            municipality_name=asked.scope.name(current_locale()) if asked.scope is not None else "",
            report=report,
            tables=_tables(report, shown) if report is not None and shown is not None else [],
            more=more,
            page_rows=PAGE_ROWS,
            names=[(name, str(rp.TITLES[name])) for name in rp.NAMES],
            description=DESCRIPTIONS[asked.name](),
            municipalities=rp.municipalities_for(db.session, actor),
            percent_columns=report.percent_columns if report is not None else frozenset(),
            max_days=rp.MAX_DAYS,
        ), status

    def _build(self, asked: _Request) -> rp.Report:
        assert asked.scope is not None and asked.period is not None  # no errors
        return rp.build(
            asked.name,
            db.session,
            asked.scope,
            asked.period,
            registry=plugin_runtime.registry(),
            language=current_locale(),
        )

    @expose("/")
    @has_access
    def index(self):
        actor = web.require_actor()
        try:
            asked = _Request(actor)
        except NotAllowed as exc:
            return self._error(str(exc), 403)
        if asked.errors:
            return self._page(actor, asked, status=200 if asked.only_unchosen else 400)
        report = self._build(asked)
        rows = list(itertools.islice(report.rows, PAGE_ROWS + 1))
        return self._page(actor, asked, report=report, rows=rows)

    @expose("/export")
    @has_access
    def export(self):
        actor = web.require_actor()
        try:
            asked = _Request(actor)
        except NotAllowed as exc:
            return self._error(str(exc), 403)
        fmt = "csv"
        try:
            fmt = rp.check_format(request.args.get("format"))
        except rp.ReportError as exc:
            asked.errors[exc.field] = str(exc)
        if asked.errors:
            return self._page(actor, asked, status=400)
        report = self._build(asked)
        audit.record(
            db.session,
            "report.export",
            actor=actor,
            target=("report", report.name),
            municipality_id=report.scope.municipality_id,
            details={"from": report.period.start.isoformat(), "to": report.period.end.isoformat(), "format": fmt},
            ip=request.remote_addr,
        )
        db.session.commit()
        if fmt == "csv":
            response = Response(stream_with_context(rp.csv_chunks(report)), mimetype="text/csv")
            response.headers["Content-Disposition"] = f'attachment; filename="{_download_name(report, "csv")}"'
            response.headers["Cache-Control"] = "no-store"
            return response
        handle, path = tempfile.mkstemp(prefix="hamaynk-report-", suffix=".xlsx")
        os.close(handle)
        try:
            rp.write_xlsx(report, path)
            stream = open(path, "rb")  # noqa: SIM115 - send_file closes it when the response is done
        finally:
            # Gone from the folder at once; the open handle still reads it (POSIX).
            os.unlink(path)
        response = send_file(
            stream, mimetype=XLSX_TYPE, as_attachment=True, download_name=_download_name(report, "xlsx")
        )
        response.headers["Cache-Control"] = "no-store"
        return response
