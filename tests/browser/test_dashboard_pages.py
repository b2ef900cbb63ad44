"""The transparency dashboard in Chromium, in Armenian, at a phone's width (390 px) and a
desktop's (1366 px): axe-core finds no violation, nothing is fetched from another site, nothing
is wider than the screen, each chart is a figure with a caption, an SVG image named by it and
a table of its numbers. Screenshots: ``test-artifacts/portal/dashboard-*-<width>.png``.

The data: residence certificates filed, approved, returned, rejected and handed over at
alpha's office over the last months, through the workflow (the office's day set per action).
"""

from __future__ import annotations

import datetime as dt

import pytest

from app.demo import ensure_user
from app.domain import deadlines, statistics, workflow
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Application
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, actor_for, password_hash

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)
SERVICE_KEY = "residence-certificate"
DATA = {"address": "Աբովյան, Կոտայք 1", "purpose": "bank", "on_behalf": False, "copies": 1}


def _working_day(day: dt.date) -> dt.date:
    while not deadlines.is_working_day(day):
        day -= dt.timedelta(days=1)
    return day


@pytest.fixture(scope="module")
def dashboard_data(live_server):
    app = live_server
    alpha = app.seeded["alpha"]
    people = dict(alpha["users"])
    with app.app_context():
        for key, roles in (("registrar", [SPECIALIST]), ("registry_head", [HEAD])):
            user, _created = ensure_user(
                app.appbuilder.sm,
                username=f"alpha.{key}",
                email=f"alpha.{key}@test.example",
                first_name=key,
                last_name="Alpha",
                password=PASSWORD,
                password_hash=password_hash(),
                roles=roles,
                municipality_id=alpha["id"],
                department_id=alpha["departments"]["civil_registry"],
            )
            people[key] = user.id
    host = plugin_runtime.host(app)
    today = deadlines.today()

    def act(mp, day: dt.date, application_id: int | None, action: str, actor: int, **kwargs) -> int:
        mp.setattr(deadlines, "today", lambda: day)
        mp.setattr(workflow, "utcnow", lambda: dt.datetime.combine(day, dt.time(8)))
        with app.app_context():
            if application_id is None:
                service = plugin_runtime.registry(app).get(SERVICE_KEY).service
                application, _secret = workflow.new_application(
                    db.session,
                    service=service,
                    municipality_id=alpha["id"],
                    data=DATA,
                    applicant_name="Արմեն",
                    created_by_id=people["clerk"],
                    channel="office",
                )
                action = "submit"
            else:
                application = db.session.get(Application, application_id)
            getattr(workflow, action)(
                db.session,
                application,
                actor=actor_for(actor),
                expected_version=application.version,
                host=host,
                **kwargs,
            )
            db.session.commit()
            return int(application.id)

    with pytest.MonkeyPatch.context() as mp:
        for months_ago in range(5, -1, -1):
            first = statistics.add_months(statistics.month_of(today), -months_ago)
            start = _working_day(min(first + dt.timedelta(days=6), today))
            for n in range(1 + months_ago % 3):
                case = act(mp, start, None, "submit", people["clerk"])
                later = min(start + dt.timedelta(days=1 + n), today)
                act(mp, later, case, "approve", people["registrar"])
                if n == 1:
                    act(mp, later, case, "reject", people["registry_head"], reason="Չի համապատասխանում")
                elif n == 2:
                    continue  # left at the head's step
                else:
                    decided = min(later + dt.timedelta(days=2 + months_ago % 2), today)
                    act(mp, decided, case, "approve", people["registry_head"])
                    act(mp, decided, case, "hand_over", people["clerk"], method="in_person")
        returned = act(mp, _working_day(today), None, "submit", people["clerk"])
        act(
            mp,
            _working_day(today),
            returned,
            "return_for_correction",
            people["registrar"],
            what_to_fix="Կցեք անձնագիրը",
        )
    return app


def test_dashboard_pages_in_armenian_at_phone_and_desktop_width(
    live_server, dashboard_data, portal_context, check_page
):
    base = live_server.live_url
    for width in WIDTHS:
        outside: list[str] = []
        context = portal_context(width, outside)
        try:
            page = context.new_page()
            for name, path in (("dashboard-all", "/dashboard/"), ("dashboard-alpha", "/m/alpha/dashboard/")):
                response = page.goto(base + path)
                assert response is not None and response.status == 200, f"{name}: {response and response.status}"
                figures = page.locator("figure.chart-figure")
                assert figures.count() == 2, name
                for i in range(figures.count()):
                    figure = figures.nth(i)
                    caption_id = figure.locator("figcaption").get_attribute("id")
                    assert figure.get_attribute("aria-labelledby") == caption_id
                    svg = figure.locator("svg")
                    assert svg.get_attribute("role") == "img"
                    assert svg.get_attribute("aria-labelledby") == caption_id
                    # The chart fits its box on the screen, and its numbers are in a table too.
                    box = svg.bounding_box()
                    assert box is not None and 0 < box["width"] <= width
                    assert figure.locator("table tbody tr").count() >= 1
                assert page.locator("script").count() == 0
                check_page(page, name, width)
                assert outside == [], f"{name} fetched outside resources: {outside}"
            # From the municipality's public page to its dashboard, by its link.
            page.goto(base + "/m/alpha/")
            page.click("a[href='/m/alpha/dashboard/']")
            page.wait_for_url(f"{base}/m/alpha/dashboard/")
        finally:
            context.close()
