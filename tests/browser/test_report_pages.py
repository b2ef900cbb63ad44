"""The staff reports page (Office → Reports) in Armenian at a phone's and a desktop's width:
axe-core finds nothing, the tables scroll inside their own box rather than the page, and the
filter form works by keyboard."""

from __future__ import annotations

import datetime as dt

import pytest

from app import testing
from app.domain import deadlines
from app.extensions import db
from app.models import Application

RC_DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}


@pytest.fixture(scope="module")
def late_application(live_server):
    application_id = testing.file_application(live_server, "residence-certificate", "alpha", data=RC_DATA)
    with live_server.app_context():
        application = db.session.get(Application, application_id)
        application.step_due_at = deadlines.end_of_day(deadlines.today() - dt.timedelta(days=7))
        db.session.commit()
        return application.tracking_number


@pytest.mark.parametrize("width", [390, 1366])
@pytest.mark.parametrize("report", ["workload", "overdue", "steps", "returns"])
def test_report_pages_pass_axe_and_fit(live_server, portal_context, sign_in, look, late_application, width, report):
    outside: list[str] = []
    context = portal_context(width, outside)
    page = context.new_page()
    sign_in(page, "alpha.head")
    page.goto(f"{live_server.live_url}/workspace/reports/?report={report}")
    assert page.get_attribute("html", "lang") == "hy"
    seen = look(page, f"report-{report}", width, prefix="workspace-")
    if report == "overdue":
        assert late_application in page.content()
    context.close()
    seen.assert_clean(titled=False)
    assert outside == []


def test_the_period_form_works_by_keyboard_and_says_what_is_wrong(live_server, portal_context, sign_in):
    outside: list[str] = []
    context = portal_context(390, outside)
    page = context.new_page()
    sign_in(page, "alpha.auditor")
    page.goto(f"{live_server.live_url}/workspace/reports/?report=returns&from=2025-05-01&to=2025-04-01&_l_=en")
    alert = page.locator("#from-err")
    assert alert.is_visible() and "must not be after" in alert.inner_text()
    assert page.get_attribute("#report-from", "aria-invalid") == "true"
    page.fill("#report-from", "2025-04-01")
    page.focus("#report-from")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator("#returns").is_visible()
    context.close()
