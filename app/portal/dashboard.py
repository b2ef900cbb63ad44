"""The public transparency dashboard, for every municipality and for each one, and its open
data (CSV and JSON; the schema is docs/statistics.md).

Every figure comes from :func:`app.domain.statistics.dashboard`: aggregates kept up to date
as applications change, so a page costs the same few queries at ten applications and at a
million (tests count them). Charts are SVG drawn here on the server with pygal and inlined in
the page: no script, nothing fetched from elsewhere; each one is a ``<figure>`` whose caption
names it, followed by a table of the same numbers for screen readers and small screens.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from babel.dates import format_date as babel_date
from babel.numbers import format_decimal, format_percent
from flask import Blueprint, Response, current_app, has_request_context, render_template
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from app.domain import statistics
from app.domain.statistics import Dashboard, ServiceFigures
from app.extensions import db
from app.headers import csp_nonce
from app.i18n import current_locale, tr
from app.models import Municipality
from app.plugins import runtime as plugin_runtime
from app.portal.site import _municipality_or_404, error_page

bp = Blueprint("dashboard", __name__)

# Open data: the format's name and version, in every JSON document (docs/statistics.md).
SCHEMA = "hamaynk-dashboard/1"
CSV_COLUMNS = ("municipality", "section", "period", "service_key", "service_title", "measure", "value")
# Open data may be cached for a few minutes by browsers and proxies.
CACHE_SECONDS = 300


# The portal's palette (app/static/portal.css): each colour at least 3:1 against white, and
# the text as dark as the page's.
@functools.cache
def chart_style() -> Any:
    # pygal is imported by the first chart drawn, not when the app starts (it is tens of
    # milliseconds of every process's start for a page few requests ask for).
    from pygal.style import Style

    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1b1f24",
        foreground_strong="#1b1f24",
        foreground_subtle="#4a5560",
        opacity="1",
        opacity_hover="1",
        colors=("#0b4f8a", "#b35900", "#1d6b38"),
        font_family='"Hamaynk Armenian", system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif',
        label_font_size=15,
        major_label_font_size=15,
        legend_font_size=16,
        value_font_size=15,
        title_font_size=16,
    )


# -- numbers as people read them --------------------------------------------------------------


def _number(value: float | int | None, locale: str) -> str:
    if value is None:
        return "—"
    return format_decimal(value, format="#,##0.#", locale=locale)


def _percent(value: float | None, locale: str) -> str:
    return "—" if value is None else format_percent(value, format="#,##0%", locale=locale)


def _month_label(month: dt.date, locale: str, short: bool = False) -> str:
    return babel_date(month, format="LLL yy" if short else "LLLL y", locale=locale)


# -- charts --------------------------------------------------------------------------------------


def _without_scripts(element: Any, nonce: str | None) -> None:
    # pygal writes its settings into an inline <script> (for its tooltips) even without any
    # script file, and comments naming its web site: neither belongs in the page. Its <style>
    # does; the page's Content-Security-Policy (app.headers) lets it in by the request's nonce.
    for child in list(element):
        if not isinstance(child.tag, str) or child.tag.endswith("script"):
            element.remove(child)
        else:
            if nonce and child.tag.rsplit("}", 1)[-1] == "style":
                child.set("nonce", nonce)
            _without_scripts(child, nonce)


def render_chart(chart: Any, caption_id: str) -> Markup:
    """The chart as inline SVG: no script, named by the figure caption ``caption_id``, and
    scaled to the width of its box."""
    from pygal.etree import etree

    tree = chart.render_tree()
    _without_scripts(tree, csp_nonce() if has_request_context() else None)
    # pygal names an untitled chart "Pygal"; the figure's caption names it instead.
    for child in list(tree):
        if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "title":
            tree.remove(child)
    tree.set("role", "img")
    tree.set("aria-labelledby", caption_id)
    tree.set("focusable", "false")
    # pygal escaped every text in the SVG, so marking it safe adds nothing unescaped.
    return Markup(etree.tostring(tree, encoding="unicode"))  # noqa: S704  # nosec B704


def _chart(kind: Any, **options: Any) -> Any:
    settings: dict[str, Any] = {
        "style": chart_style(),
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": False,
        "width": 480,
        "height": 340,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 2,
        "print_values": False,
        "margin": 8,
    }
    settings.update(options)
    return kind(**settings)


def whole_ticks(values: Sequence[float | int | None]) -> list[int]:
    """Axis ticks in whole numbers (counts and days have no fractions), about five of them."""
    top = max([math.ceil(v) for v in values if v is not None] or [0])
    step = max(1, math.ceil(top / 5))
    return list(range(0, max(top, 1) + step, step))


def short_label(text: str, limit: int = 16) -> str:
    """A service title cut to fit beside a bar (the table beside the chart has it whole)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def months_chart(figures: Dashboard, locale: str) -> Markup:
    import pygal  # like chart_style: imported by the first chart, not at start-up

    received = [m[statistics.RECEIVED] for m in figures.months]
    completed = [m[statistics.COMPLETED] for m in figures.months]
    chart = _chart(pygal.Bar, x_label_rotation=-45, y_labels=whole_ticks(received + completed))
    chart.x_labels = [_month_label(m.month, locale, short=True) for m in figures.months]
    chart.add(_("Received"), received)
    chart.add(_("Completed"), completed)
    return render_chart(chart, "chart-months-caption")


def durations_chart(services: Sequence[ServiceRow]) -> Markup:
    import pygal

    medians = [row.figures.median_days for row in services]
    p90s = [row.figures.p90_days for row in services]
    limits = [row.figures.deadline_days for row in services]
    chart = _chart(
        pygal.HorizontalBar,
        height=max(240, 130 + 75 * len(services)),
        legend_at_bottom_columns=1,
        y_labels=whole_ticks([*medians, *p90s, *limits]),
    )
    chart.x_labels = [short_label(row.title) for row in services]
    chart.add(_("Median"), medians)
    chart.add(_("90th percentile"), p90s)
    chart.add(_("Statutory deadline"), limits)
    return render_chart(chart, "chart-durations-caption")


# -- the page ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRow:
    title: str
    figures: ServiceFigures


def _service_rows(figures: Dashboard, locale: str) -> list[ServiceRow]:
    rows = [ServiceRow(tr(s.title, locale) or s.service_key, s) for s in figures.services]
    return sorted(rows, key=lambda row: row.title.casefold())


def _figures(municipality: Municipality | None) -> Dashboard:
    return statistics.dashboard(
        db.session, plugin_runtime.registry(), municipality.id if municipality is not None else None
    )


def _page(municipality: Municipality | None) -> str:
    locale = current_locale()
    figures = _figures(municipality)
    services = _service_rows(figures, locale)
    municipalities: list[Municipality] = []
    if municipality is None:
        active = db.session.execute(select(Municipality).where(Municipality.active.is_(True))).scalars()
        municipalities = sorted(active, key=lambda m: m.name.casefold())
    title = (
        _("Transparency dashboard: %(name)s", name=municipality.name)
        if municipality is not None
        else _("Transparency dashboard")
    )
    return render_template(
        "portal/dashboard/index.html",
        title=title,
        municipality=municipality,
        municipalities=municipalities,
        figures=figures,
        services=services,
        months_svg=months_chart(figures, locale),
        durations_svg=durations_chart(services) if services else None,
        number=lambda value: _number(value, locale),
        percent=lambda value: _percent(value, locale),
        month_label=lambda month: _month_label(month, locale),
        day_label=lambda day: babel_date(day, format="long", locale=locale),
        received=statistics.RECEIVED,
        completed=statistics.COMPLETED,
    )


@bp.route("/dashboard/", endpoint="index")
def index() -> str:
    """Every active municipality together."""
    return _page(None)


@bp.route("/m/<code>/dashboard/", endpoint="municipality")
def municipality(code: str) -> str:
    return _page(_municipality_or_404(code))


# -- open data -----------------------------------------------------------------------------------


def _share(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def open_data(figures: Dashboard, municipality: Municipality | None, locale: str) -> dict[str, Any]:
    """Every figure of the dashboard as the JSON document docs/statistics.md describes."""
    services = _service_rows(figures, locale)
    totals = figures.totals
    return {
        "schema": SCHEMA,
        "municipality": {"code": municipality.code, "name": municipality.name} if municipality else None,
        "language": locale,
        "generated_on": figures.on.isoformat(),
        "period": {"first_month": figures.first_month.isoformat()[:7], "last_day": figures.on.isoformat()},
        "months": [
            {"month": m.month.isoformat()[:7], **{measure: m[measure] for measure in statistics.MEASURES}}
            for m in figures.months
        ],
        "services": [
            {
                "service_key": row.figures.service_key,
                "service_title": row.title,
                "deadline_working_days": row.figures.deadline_days,
                "received": row.figures.received,
                "completed": row.figures.completed,
                "on_time": row.figures.on_time,
                "on_time_share": _share(row.figures.on_time_share),
                "median_working_days": row.figures.median_days,
                "p90_working_days": row.figures.p90_days,
            }
            for row in services
        ],
        "totals": {
            "received": totals.get(statistics.RECEIVED, 0),
            "completed": totals.get(statistics.COMPLETED, 0),
            "on_time": totals.get(statistics.ON_TIME, 0),
            "on_time_share": _share(figures.on_time_share),
            "currently_overdue": figures.overdue,
        },
        "questions": {
            "asked": figures.questions.asked,
            "answered": figures.questions.answered,
            "median_answer_hours": figures.questions.median_hours,
        },
        "polls": {"available": False, "participation": None},
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # A text a spreadsheet would run as a formula is kept as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_rows(document: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    """The JSON document as tidy CSV rows: one figure per line (docs/statistics.md)."""
    where = document["municipality"]["code"] if document["municipality"] else ""
    window = f"{document['period']['first_month']}/{document['period']['last_day'][:7]}"
    for month in document["months"]:
        for measure in statistics.MEASURES:
            yield (where, "month", month["month"], "", "", measure, month[measure])
    for service in document["services"]:
        for measure in (
            "deadline_working_days",
            "received",
            "completed",
            "on_time",
            "on_time_share",
            "median_working_days",
            "p90_working_days",
        ):
            yield (
                where,
                "service",
                window,
                service["service_key"],
                service["service_title"],
                measure,
                service[measure],
            )
    for measure, value in document["totals"].items():
        period = document["generated_on"] if measure == "currently_overdue" else window
        yield (where, "total", period, "", "", measure, value)
    for measure, value in document["questions"].items():
        yield (where, "questions", window, "", "", measure, value)
    yield (where, "polls", window, "", "", "participation", document["polls"]["participation"])


def _filename(municipality: Municipality | None, on: dt.date, extension: str) -> str:
    scope = municipality.code if municipality is not None else "all"
    return f"hamaynk-dashboard-{scope}-{on.isoformat()}.{extension}"


def _json(municipality: Municipality | None) -> Response:
    figures = _figures(municipality)
    document = open_data(figures, municipality, current_locale())
    response: Response = current_app.json.response(document)  # type: ignore[assignment]
    response.headers["Content-Disposition"] = f'inline; filename="{_filename(municipality, figures.on, "json")}"'
    response.cache_control.public = True
    response.cache_control.max_age = CACHE_SECONDS
    return response


def _csv(municipality: Municipality | None) -> Response:
    figures = _figures(municipality)
    document = open_data(figures, municipality, current_locale())
    out = io.StringIO()
    # With a byte order mark, so that spreadsheets read the Armenian titles as UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(document):
        writer.writerow([_cell(value) for value in row])
    response = Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(municipality, figures.on, "csv")}"'
    response.cache_control.public = True
    response.cache_control.max_age = CACHE_SECONDS
    return response


@bp.route("/dashboard.json", endpoint="json")
def all_json() -> Response:
    return _json(None)


@bp.route("/dashboard.csv", endpoint="csv")
def all_csv() -> Response:
    return _csv(None)


@bp.route("/m/<code>/dashboard.json", endpoint="municipality_json")
def municipality_json(code: str) -> Response:
    return _json(_municipality_or_404(code))


@bp.route("/m/<code>/dashboard.csv", endpoint="municipality_csv")
def municipality_csv(code: str) -> Response:
    return _csv(_municipality_or_404(code))


for _code in (400, 404, 405):
    bp.register_error_handler(_code, error_page)
