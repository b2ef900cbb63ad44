"""Statistics: the counters kept as applications change, the transparency dashboard, its open
data (CSV, JSON) and GET /api/v1/data/statistics, checked against a small dataset computed
by hand; a rebuild from the history gives the same counters; a request costs the same number
of queries however many applications there are.

Dates are set by replacing ``deadlines.today`` (the office's day, used for due dates and
suspensions) and ``workflow.utcnow`` (the moment written on each transition) together; every
action goes through the real workflow functions.

The dataset (municipality alpha, residence certificate: statutory deadline 3 working days,
steps "registry check" by a specialist and "signature" by the head; alpha has its own day off
on Wed 6 May 2026; 24 April, 1 May and 28 May are national holidays). Working days count
the days after submission up to and including the decision; suspended working days (returned
for correction, waiting on the applicant) are left out.

=====  =================================================================  ========  =======
case   what happens                                                       working   on time
                                                                          days
=====  =================================================================  ========  =======
G      filed Tue 31 Mar (due Fri 3 Apr); approved Wed 1 Apr, Mon 6 Apr      4        no
A      filed Thu 23 Apr (due Wed 29 Apr: 24 Apr is a holiday); approved     2        yes
       Mon 27, Tue 28 Apr; handed over Wed 29 Apr
B      filed Mon 27 Apr (due Thu 30 Apr); returned Tue 28 Apr; resubmitted  9 - 5    no
       Thu 7 May after 5 suspended working days (29, 30 Apr, 4, 5, 7 May:   = 4
       1 May and alpha's 6 May are off), so due Mon 11 May; approved Fri
       8 May, Tue 12 May
C      filed Mon 4 May (due Fri 8 May, 6 May off); approved Tue 5 May,      2        yes
       rejected Thu 7 May (5 and 7 May: without alpha's day off it would
       be 3)
D      filed Mon 11 May, withdrawn Tue 12 May
E      filed Mon 18 May (due Thu 21 May); approved Tue 19 May; still at     (open, overdue
       the head's step on Fri 29 May                                         on 29 May)
F      filed Fri 29 May (due 3 June)                                        (open)
H      beta: filed Mon 4 May, approved twice Tue 5 May (beta's deadline     1        yes
       override: 4 working days)
=====  =================================================================  ========  =======

So for alpha up to Fri 29 May 2026 (window June 2025 – May 2026): received March 1, April 2,
May 4 (7); completed April 2 (G, A), May 2 (B, C); on time 2 of 4 = 50 %; issued April 1;
returned April 1; withdrawn May 1; durations 2, 2, 4, 4: median 3, 90th percentile 4;
overdue now 1 (E). With beta (all municipalities): received 8, completed 5, on time 3 of 5 =
60 %, durations 1, 2, 2, 4, 4: median 2, 90th percentile 4 (nearest rank: the 5th of 5).

Staff decisions (the API) in alpha: approvals 1 Apr, 6 Apr (head), 27 Apr, 28 Apr (head),
8 May, 12 May (head), 5 May, 19 May; return 28 Apr; rejection 7 May (head): processed 10.
Beta adds two approvals on 5 May.

Questions in alpha: asked 4 May 09:00 and answered 14:00 (5 hours); asked 5 May 08:00 and
answered 6 May 08:30 (24 hours, rounded down); asked 20 May, not answered; one asked in May
2025, before the window: asked 3, answered 2, median 14.5 hours.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from flask_babel import force_locale, refresh
from flask_babel import gettext as _
from sqlalchemy import insert, select, update

from app.demo import ensure_user
from app.domain import deadlines, questions, statistics, workflow
from app.domain.activations import set_activation
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, MunicipalHoliday, StatAction, StatDuration, StatMonth
from app.models.portal import Question
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, actor_for, ask_question, count_statements, make_citizen, password_hash

D = dt.date.fromisoformat
SERVICE_KEY = "residence-certificate"
DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}
TODAY = "2026-05-29"


# -- driving the workflow on chosen days ----------------------------------------------------------


def _on(monkeypatch, day: str, hour: int = 8) -> None:
    """The office's day is ``day``; transitions happen at ``hour``:00 UTC that day (noon in Yerevan)."""
    monkeypatch.setattr(deadlines, "today", lambda: D(day))
    monkeypatch.setattr(workflow, "utcnow", lambda: dt.datetime.combine(D(day), dt.time(hour)))


def _staff(app, code: str) -> dict[str, int]:
    seeded = app.seeded[code]
    people = dict(seeded["users"])
    with app.app_context():
        for key, roles in (("registrar", [SPECIALIST]), ("registry_head", [HEAD])):
            user, _created = ensure_user(
                app.appbuilder.sm,
                username=f"{code}.{key}",
                email=f"{code}.{key}@test.example",
                first_name=key,
                last_name=code,
                password=PASSWORD,
                password_hash=password_hash(),
                roles=roles,
                municipality_id=seeded["id"],
                department_id=seeded["departments"]["civil_registry"],
            )
            people[key] = user.id
    return people


def _enable(app, code: str, deadline_override: int | None = None) -> None:
    with app.app_context():
        set_activation(
            db.session,
            plugin_runtime.registry(app),
            app.seeded[code]["id"],
            SERVICE_KEY,
            enabled=True,
            fee_override=None,
            deadline_override=deadline_override,
            department_id=None,
            actor_id=None,
        )
        db.session.commit()


def _file(app, people, code: str = "alpha") -> int:
    with app.app_context():
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        application, _secret = workflow.new_application(
            db.session,
            service=service,
            municipality_id=app.seeded[code]["id"],
            data=DATA,
            applicant_name="Armen",
            created_by_id=people["clerk"],
            channel="office",
        )
        workflow.submit(
            db.session,
            application,
            actor=actor_for(people["clerk"]),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        db.session.commit()
        return application.id


def _do(app, application_id: int, action: str, actor_id: int, **kwargs) -> None:
    with app.app_context():
        application = db.session.get(Application, application_id)
        getattr(workflow, action)(
            db.session,
            application,
            actor=actor_for(actor_id),
            expected_version=application.version,
            host=plugin_runtime.host(app),
            **kwargs,
        )
        db.session.commit()


def _at(day: str, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(D(day), dt.time(hour, minute))


def _ask(app, citizen_id: int, asked: dt.datetime, answered: dt.datetime | None, answerer: int) -> None:
    with app.app_context():  # its own: the helper's English request must not stay cached for later requests
        question_id = ask_question(app, citizen_id, department="civil_registry", subject="Opening hours?")
    with app.app_context():
        if answered is not None:
            question = db.session.get(Question, question_id)
            with app.test_request_context("/?_l_=en"):
                from app.domain.storage import get_storage

                questions.answer(
                    db.session, get_storage(app), actor_for(answerer), question, body="From 9 to 18.", config=app.config
                )
            db.session.commit()
        # The real functions wrote the answer; the clock is the test's.
        db.session.execute(
            update(Question)
            .where(Question.id == question_id)
            .values(created_at=asked, first_answered_at=answered if answered is not None else None)
        )
        db.session.commit()


@pytest.fixture
def dataset(app, monkeypatch):
    """The hand-computed dataset of the module docstring; the office's day is left at 29 May."""
    alpha, beta = _staff(app, "alpha"), _staff(app, "beta")
    _enable(app, "alpha")
    _enable(app, "beta", deadline_override=4)
    with app.app_context():
        db.session.add(
            MunicipalHoliday(municipality_id=app.seeded["alpha"]["id"], date=D("2026-05-06"), name_hy="Համայնքի օր")
        )
        db.session.commit()
    reg, head, clerk = alpha["registrar"], alpha["registry_head"], alpha["clerk"]
    ids: dict[str, int] = {}

    def step(day: str, action: str, case: str, actor: int, **kwargs) -> None:
        _on(monkeypatch, day)
        _do(app, ids[case], action, actor, **kwargs)

    def file(day: str, case: str, people=alpha, code: str = "alpha") -> None:
        _on(monkeypatch, day)
        ids[case] = _file(app, people, code)

    file("2026-03-31", "G")
    step("2026-04-01", "approve", "G", reg)
    step("2026-04-06", "approve", "G", head)
    file("2026-04-23", "A")
    file("2026-04-27", "B")
    step("2026-04-27", "approve", "A", reg)
    step("2026-04-28", "approve", "A", head)
    step("2026-04-28", "return_for_correction", "B", reg, what_to_fix="Attach the passport.")
    step("2026-04-29", "hand_over", "A", clerk, method="in_person")
    file("2026-05-04", "C")
    file("2026-05-04", "H", beta, "beta")
    step("2026-05-05", "approve", "C", reg)
    step("2026-05-05", "approve", "H", beta["registrar"])
    step("2026-05-05", "approve", "H", beta["registry_head"])
    step("2026-05-07", "reject", "C", head, reason="Not registered at this address.")
    step("2026-05-07", "resubmit", "B", clerk)
    step("2026-05-08", "approve", "B", reg)
    file("2026-05-11", "D")
    step("2026-05-12", "approve", "B", head)
    step("2026-05-12", "withdraw", "D", clerk)
    file("2026-05-18", "E")
    step("2026-05-19", "approve", "E", reg)
    file(TODAY, "F")
    citizen = make_citizen(app, "asker@example.am")
    _ask(app, citizen, _at("2026-05-04", 9), _at("2026-05-04", 14), clerk)
    _ask(app, citizen, _at("2026-05-05", 8), _at("2026-05-06", 8, 30), clerk)
    _ask(app, citizen, _at("2026-05-20", 10), None, clerk)
    _ask(app, citizen, _at("2025-05-20", 10), _at("2025-05-20", 11), clerk)
    _on(monkeypatch, TODAY)
    return {"ids": ids, "alpha": alpha, "beta": beta}


# -- the counters ---------------------------------------------------------------------------------


def _months(app, code: str | None) -> dict[str, dict[str, int]]:
    with app.app_context():
        stmt = select(StatMonth.month, StatMonth.measure, StatMonth.count)
        if code is not None:
            stmt = stmt.where(StatMonth.municipality_id == app.seeded[code]["id"])
        found: dict[str, dict[str, int]] = {}
        for month, measure, n in db.session.execute(stmt).all():
            found.setdefault(month.isoformat()[:7], {})
            found[month.isoformat()[:7]][measure] = found[month.isoformat()[:7]].get(measure, 0) + n
        return found


ALPHA_MONTHS = {
    "2026-03": {"received": 1},
    "2026-04": {"received": 2, "completed": 2, "approved": 2, "on_time": 1, "issued": 1, "returned": 1},
    "2026-05": {"received": 4, "completed": 2, "approved": 1, "rejected": 1, "withdrawn": 1, "on_time": 1},
}


def test_live_counters_match_the_hand_computation(app, dataset):
    assert _months(app, "alpha") == ALPHA_MONTHS
    assert _months(app, "beta") == {"2026-05": {"received": 1, "completed": 1, "approved": 1, "on_time": 1}}
    alpha = app.seeded["alpha"]["id"]
    with app.app_context():
        durations = db.session.execute(
            select(StatDuration.month, StatDuration.working_days, StatDuration.count).where(
                StatDuration.municipality_id == alpha
            )
        ).all()
        assert sorted((m.isoformat()[:7], d, n) for m, d, n in durations) == [
            ("2026-04", 2, 1),  # A
            ("2026-04", 4, 1),  # G
            ("2026-05", 2, 1),  # C: alpha's own day off is not a working day
            ("2026-05", 4, 1),  # B: 9 working days less 5 suspended
        ]
        actions = db.session.execute(
            select(StatAction.day, StatAction.actor_id, StatAction.role, StatAction.action, StatAction.count).where(
                StatAction.municipality_id == alpha
            )
        ).all()
    reg, head = dataset["alpha"]["registrar"], dataset["alpha"]["registry_head"]
    assert sorted((d.isoformat(), a, r, act, n) for d, a, r, act, n in actions) == sorted(
        [
            ("2026-04-01", reg, "specialist", "approve", 1),
            ("2026-04-06", head, "head", "approve", 1),
            ("2026-04-27", reg, "specialist", "approve", 1),
            ("2026-04-28", head, "head", "approve", 1),
            ("2026-04-28", reg, "specialist", "return", 1),
            ("2026-05-05", reg, "specialist", "approve", 1),
            ("2026-05-07", head, "head", "reject", 1),
            ("2026-05-08", reg, "specialist", "approve", 1),
            ("2026-05-12", head, "head", "approve", 1),
            ("2026-05-19", reg, "specialist", "approve", 1),
        ]
    )


def test_the_same_key_twice_adds_up_in_one_row(app, dataset, monkeypatch):
    # Two more submissions on the same day: the upsert adds to the existing row.
    _on(monkeypatch, TODAY)
    _file(app, dataset["alpha"])
    _file(app, dataset["alpha"])
    assert _months(app, "alpha")["2026-05"]["received"] == 6
    with app.app_context():
        rows = db.session.execute(
            select(StatMonth.count).where(
                StatMonth.municipality_id == app.seeded["alpha"]["id"],
                StatMonth.month == D("2026-05-01"),
                StatMonth.measure == "received",
            )
        ).all()
    assert rows == [(6,)]


def test_a_refused_action_counts_nothing(app, dataset, monkeypatch):
    before = _months(app, "alpha")
    with app.app_context():
        application = db.session.get(Application, dataset["ids"]["E"])
        with pytest.raises(workflow.WorkflowError):
            # The specialist may not act on the head's step.
            workflow.approve(
                db.session,
                application,
                actor=actor_for(dataset["alpha"]["registrar"]),
                expected_version=application.version,
                host=plugin_runtime.host(app),
            )
        db.session.rollback()
    assert _months(app, "alpha") == before


def test_rebuild_gives_the_counters_live_recording_kept(app, dataset):
    with app.app_context():
        live = statistics.counters(db.session)
        assert live["month"] and live["duration"] and live["action"]
        db.session.execute(update(StatMonth).values(count=StatMonth.count + 7))
        db.session.add(
            StatMonth(
                municipality_id=app.seeded["alpha"]["id"],
                service_key="x",
                month=D("2020-01-01"),
                measure="received",
                count=3,
            )
        )
        db.session.commit()
        seen: list[tuple[int, int]] = []
        rebuilt = statistics.rebuild(
            db.session, plugin_runtime.registry(app), progress=lambda d, t: seen.append((d, t))
        )
        db.session.commit()
        assert statistics.counters(db.session) == live
    # 8 submissions, 10 approvals, 1 return, 1 rejection, 1 withdrawal, 1 hand-over: 22
    # counted transitions (the resubmission moves no counter).
    assert rebuilt.transitions == 22
    assert seen[0] == (0, 22) and seen[-1] == (22, 22)


def test_rebuild_from_the_command_line_shows_progress(app, dataset):
    with app.app_context():
        live = statistics.counters(db.session)
        db.session.execute(StatAction.__table__.delete())
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["hamaynk", "stats", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Counted 22 transition(s)" in result.output
    assert "Transitions" in result.output
    with app.app_context():
        assert statistics.counters(db.session) == live


def test_percentiles_from_a_histogram():
    assert statistics.median({}) is None and statistics.percentile({}, 90) is None
    assert statistics.median({2: 2, 4: 2}) == 3
    assert statistics.median({1: 1, 2: 2, 4: 2}) == 2
    assert statistics.percentile({1: 1, 2: 2, 4: 2}, 90) == 4
    assert statistics.percentile({1: 9, 30: 1}, 90) == 1  # 9 of 10 take a day
    assert statistics.percentile({1: 8, 30: 2}, 90) == 30


# -- the dashboard --------------------------------------------------------------------------------


def test_dashboard_figures_of_a_municipality_and_of_all(app, dataset):
    with app.app_context():
        registry = plugin_runtime.registry(app)
        alpha = statistics.dashboard(db.session, registry, app.seeded["alpha"]["id"])
        everyone = statistics.dashboard(db.session, registry)
        beta = statistics.dashboard(db.session, registry, app.seeded["beta"]["id"])
    assert (alpha.first_month, alpha.on) == (D("2025-06-01"), D(TODAY))
    assert alpha.months[0].month == D("2025-06-01") and len(alpha.months) == 12
    by_month = {m.month.isoformat()[:7]: dict(m.counts) for m in alpha.months if m.counts}
    assert by_month == ALPHA_MONTHS
    assert alpha.totals["received"] == 7 and alpha.totals["completed"] == 4
    assert alpha.on_time_share == 0.5
    assert alpha.overdue == 1
    (service,) = alpha.services
    assert (service.service_key, service.received, service.completed, service.on_time) == (SERVICE_KEY, 7, 4, 2)
    assert (service.median_days, service.p90_days, service.deadline_days) == (3, 4, 3)
    assert service.title["en"] == "Certificate of residence and family composition"
    assert alpha.questions == statistics.QuestionFigures(asked=3, answered=2, median_hours=14.5)
    assert alpha.poll_participation is None

    assert everyone.totals["received"] == 8 and everyone.totals["completed"] == 5
    assert everyone.on_time_share == 0.6
    (service,) = everyone.services
    assert (service.median_days, service.p90_days, service.deadline_days) == (2, 4, 3)
    assert everyone.overdue == 1
    # Beta's own deadline (4 working days) is its statutory deadline on its dashboard.
    assert beta.services[0].deadline_days == 4
    assert beta.questions.asked == 0 and beta.questions.median_hours is None


def test_dashboard_pages_show_the_figures(app, client, dataset):
    page = client.get("/m/alpha/dashboard/?_l_=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in (
        "Transparency dashboard: Alpha",
        "Certificate of residence and family composition",
        "50%",
        "Not available yet",
        "2 of 3",
        "14.5 hours",
        "<figure",
        "<figcaption",
        'role="img"',
        'aria-labelledby="chart-months-caption"',
        "<table",
        'scope="row"',
    ):
        assert text in html, text
    # The charts are inline SVG with nothing to run and nothing to fetch.
    assert "<script" not in html and "kozea" not in html.lower()
    assert "pygal.js" not in html
    # The month table, newest first: May 2026 received 4, completed 2.
    assert "May 2026</th>" in html
    overview = client.get("/dashboard/?_l_=en").get_data(as_text=True)
    assert "60%" in overview and 'href="/m/alpha/dashboard/"' in overview and 'href="/m/beta/dashboard/"' in overview
    assert client.get("/m/nowhere/dashboard/").status_code == 404
    assert client.get("/m/nowhere/dashboard.csv").status_code == 404
    # Linked from the public pages.
    assert 'href="/dashboard/"' in client.get("/").get_data(as_text=True)
    assert 'href="/m/alpha/dashboard/"' in client.get("/m/alpha/").get_data(as_text=True)


def test_dashboard_in_armenian_by_default(app, client, dataset):
    html = client.get("/m/alpha/dashboard/").get_data(as_text=True)
    assert '<html lang="hy">' in html
    assert "Տեղեկանք բնակության վայրի և ընտանիքի կազմի մասին" in html


def test_open_data_json_matches_the_hand_computation(app, client, dataset):
    response = client.get("/m/alpha/dashboard.json?_l_=en")
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["schema"] == "hamaynk-dashboard/1"
    assert document["municipality"] == {"code": "alpha", "name": "Alpha"}
    assert document["period"] == {"first_month": "2025-06", "last_day": TODAY}
    months = {m["month"]: {k: v for k, v in m.items() if v and k != "month"} for m in document["months"]}
    assert {k: v for k, v in months.items() if v} == ALPHA_MONTHS
    assert len(document["months"]) == 12
    assert document["services"] == [
        {
            "service_key": SERVICE_KEY,
            "service_title": "Certificate of residence and family composition",
            "deadline_working_days": 3,
            "received": 7,
            "completed": 4,
            "on_time": 2,
            "on_time_share": 0.5,
            "median_working_days": 3.0,
            "p90_working_days": 4,
        }
    ]
    assert document["totals"] == {
        "received": 7,
        "completed": 4,
        "on_time": 2,
        "on_time_share": 0.5,
        "currently_overdue": 1,
    }
    assert document["questions"] == {"asked": 3, "answered": 2, "median_answer_hours": 14.5}
    assert document["polls"] == {"available": False, "participation": None}
    everyone = client.get("/dashboard.json?_l_=en").get_json()
    assert everyone["municipality"] is None
    assert everyone["totals"]["received"] == 8 and everyone["totals"]["on_time_share"] == 0.6


def test_open_data_csv_matches_the_json(app, client, dataset):
    response = client.get("/m/alpha/dashboard.csv?_l_=en")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["municipality", "section", "period", "service_key", "service_title", "measure", "value"]
    value = {(r["section"], r["period"], r["service_key"], r["measure"]): r["value"] for r in rows}
    assert {r["municipality"] for r in rows} == {"alpha"}
    assert value[("month", "2026-04", "", "returned")] == "1"
    assert value[("month", "2026-05", "", "received")] == "4"
    assert value[("month", "2025-06", "", "received")] == "0"
    window = "2025-06/2026-05"
    assert value[("service", window, SERVICE_KEY, "median_working_days")] == "3.0"
    assert value[("service", window, SERVICE_KEY, "p90_working_days")] == "4"
    assert value[("service", window, SERVICE_KEY, "on_time_share")] == "0.5"
    assert value[("total", TODAY, "", "currently_overdue")] == "1"
    assert value[("questions", window, "", "median_answer_hours")] == "14.5"
    assert value[("polls", window, "", "participation")] == ""
    # Every figure of the JSON document is a line of the CSV.
    document = client.get("/m/alpha/dashboard.json?_l_=en").get_json()
    assert len(rows) == 12 * 8 + 7 * len(document["services"]) + 5 + 3 + 1
    assert json.dumps(document, ensure_ascii=False)


def test_csv_keeps_a_formula_looking_title_as_text():
    from app.portal.dashboard import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("@cmd") == "'@cmd"
    assert _cell(-1) == "-1" and _cell(0.5) == "0.5" and _cell(None) == ""


# -- the statistics API ---------------------------------------------------------------------------


def _api(client, **params):
    response = client.get("/api/v1/data/statistics", query_string=params)
    return response.status_code, response.get_json()


def _counts(item):
    return (item["processed"], item["approved"], item["sentBack"], item["rejected"])


def test_statistics_api_numbers(app, client, dataset):
    status, body = _api(client, municipality="alpha", startDate="2026-03-01", endDate="2026-05-31", timeframe="month")
    assert status == 200
    assert [(i["references"]["startDate"], i["references"]["endDate"]) for i in body] == [
        ("2026-03-01", "2026-03-31"),
        ("2026-04-01", "2026-04-30"),
        ("2026-05-01", "2026-05-31"),
    ]
    assert [_counts(i) for i in body] == [(0, 0, 0, 0), (5, 4, 1, 0), (5, 4, 0, 1)]
    assert body[1]["references"] == {
        "startDate": "2026-04-01",
        "endDate": "2026-04-30",
        "registrationName": None,
        "operator": None,
        "role": None,
        "timeframeDay": False,
        "timeframeWeek": False,
        "timeframeMonth": True,
        "timeframeYear": False,
        "municipality": "alpha",
    }
    # Every active municipality: beta's two approvals too.
    status, body = _api(client, startDate="2026-03-01", endDate="2026-05-31")
    assert status == 200 and [_counts(i) for i in body] == [(12, 10, 1, 1)]
    status, body = _api(client, municipality="alpha", role="head", startDate="2026-01-01", endDate="2026-12-31")
    assert [_counts(i) for i in body] == [(4, 3, 0, 1)]
    registrar = dataset["alpha"]["registrar"]
    status, body = _api(client, operator=str(registrar), startDate="2026-01-01", endDate="2026-12-31")
    assert [_counts(i) for i in body] == [(6, 5, 1, 0)]
    assert body[0]["references"]["operator"] == str(registrar)
    # ISO weeks, the first cut to the start: Wed 29 Apr – Sun 3 May, then 4–10 May.
    status, body = _api(client, municipality="alpha", startDate="2026-04-29", endDate="2026-05-10", timeframe="week")
    assert [(i["references"]["startDate"], i["references"]["endDate"], _counts(i)) for i in body] == [
        ("2026-04-29", "2026-05-03", (0, 0, 0, 0)),
        ("2026-05-04", "2026-05-10", (3, 2, 0, 1)),
    ]
    status, body = _api(client, municipality="alpha", startDate="2026-04-28", endDate="2026-04-28", timeframe="day")
    assert [_counts(i) for i in body] == [(2, 1, 1, 0)]
    status, body = _api(client, startDate="2026-01-01", endDate="2026-12-31", timeframe="year")
    assert [_counts(i) for i in body] == [(12, 10, 1, 1)]
    status, body = _api(
        client, registrationName=SERVICE_KEY, municipality="beta", startDate="2026-05-05", endDate="2026-05-05"
    )
    assert [_counts(i) for i in body] == [(2, 2, 0, 0)]
    # By default the twelve months up to today.
    status, body = _api(client, municipality="alpha")
    assert body[0]["references"]["startDate"] == "2025-06-01" and body[0]["references"]["endDate"] == TODAY
    assert _counts(body[0]) == (10, 8, 1, 1)


def test_statistics_api_needs_no_sign_in_and_is_in_the_openapi_spec(app, client, dataset):
    status, _body = _api(client)
    assert status == 200
    token = client.post(
        "/api/v1/security/login", json={"username": "alpha.clerk", "password": PASSWORD, "provider": "db"}
    ).get_json()["access_token"]
    spec = client.get("/api/v1/_openapi", headers={"Authorization": f"Bearer {token}"}).get_json()
    operation = spec["paths"]["/api/v1/data/statistics"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"startDate", "endDate", "registrationName", "operator", "role", "timeframe", "municipality"} <= names
    item = operation["responses"]["200"]["content"]["application/json"]["schema"]["items"]["properties"]
    assert {"processed", "approved", "sentBack", "rejected", "references"} <= set(item)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"startDate": "2026-02-30"}, "startDate"),
        ({"endDate": "30.04.2026"}, "endDate"),
        ({"startDate": "20260101"}, "startDate"),
        ({"timeframe": "hour"}, "timeframe"),
        ({"role": "boss"}, "role"),
        ({"operator": "Ingmar Vali"}, "operator"),
        ({"operator": "-3"}, "operator"),
        ({"startDate": "2026-05-02", "endDate": "2026-05-01"}, "startDate"),
        ({"startDate": "2020-01-01", "endDate": "2026-01-01", "timeframe": "day"}, "timeframe"),
        ({"color": "blue"}, "color"),
        ({"registrationName": "x\x00y"}, "registrationName"),
    ],
)
def test_statistics_api_refuses_bad_parameters_clearly(app, client, params, field):
    # A control character never reaches the API: the input layer (app.cleaning) refuses it,
    # in its own words, naming the parameter.
    by_layer = any("\x00" in value for value in params.values())
    response = client.get("/api/v1/data/statistics", query_string={**params, "_l_": "en"})
    assert response.status_code == 400
    body = response.get_json()
    if by_layer:
        problem = "This text contains control characters; remove them."
        assert body["message"] == f"{problem} Nothing was changed."
        assert body["errors"] == {field: problem}
    else:
        assert body["message"] == "Some query parameters are not valid."
        assert field in body["errors"] and body["errors"][field]
    # In Armenian too (the default; this client asked for English above).
    refresh()  # the test's app context, which the client's requests share, cached English
    armenian = client.get("/api/v1/data/statistics", query_string={**params, "_l_": "hy"}).get_json()
    with app.test_request_context(), force_locale("hy"):
        if by_layer:
            problem = _("This text contains control characters; remove them.")
            assert armenian["message"] == _("%(problem)s Nothing was changed.", problem=problem)
            assert armenian["errors"] == {field: problem}
        else:
            assert armenian["message"] == _("Some query parameters are not valid.")
    assert armenian["message"] != body["message"]


def test_statistics_api_unknown_service_or_municipality_is_not_found(app, client):
    assert client.get("/api/v1/data/statistics?registrationName=n0tex1st").status_code == 404
    refresh()  # the test's app context, which the client's requests share, cached Armenian
    response = client.get("/api/v1/data/statistics?municipality=nowhere&_l_=en")
    assert response.status_code == 404 and response.get_json()["message"] == "There is no such municipality."


# -- the cost of a request ------------------------------------------------------------------------

URLS = (
    "/dashboard/",
    "/m/alpha/dashboard/",
    "/dashboard.json",
    "/m/alpha/dashboard.csv",
    "/api/v1/data/statistics?timeframe=month",
    "/api/v1/data/statistics?municipality=alpha&role=head",
)


def _costs(app, client) -> dict[str, int]:
    # Once first: the first request of a test also checks the service builder's definitions.
    client.get(URLS[0])
    costs = {}
    for url in URLS:

        def get(url=url):
            assert client.get(url).status_code == 200

        costs[url] = count_statements(app, get)
    return costs


def _grow(app, n: int) -> None:
    """``n`` more open, overdue applications in alpha, plus counters for many services and
    days and many answered questions: what years of work leave behind."""
    alpha = app.seeded["alpha"]["id"]
    with app.app_context():
        db.session.execute(
            insert(Application.__table__),
            [
                {
                    "municipality_id": alpha,
                    "tracking_number": f"BULK-{i:06d}",
                    "access_secret_hash": "x",
                    "service_key": SERVICE_KEY,
                    "service_version": 1,
                    "status": "in_review",
                    "channel": "office",
                    "data": {},
                    "applicant_name": "Bulk",
                    "fee": 0,
                    "version": 1,
                    "created_at": _at("2026-01-05", 8),
                    "submitted_at": _at("2026-01-05", 8),
                    "due_at": D("2026-01-08"),
                }
                for i in range(n)
            ],
        )
        months = [D("2025-06-01"), *(statistics.add_months(D("2025-06-01"), i) for i in range(1, 12))]
        db.session.execute(
            insert(StatMonth.__table__),
            [
                {"municipality_id": alpha, "service_key": f"bulk-{s}", "month": m, "measure": measure, "count": 50}
                for s in range(20)
                for m in months
                for measure in statistics.MEASURES
            ],
        )
        db.session.execute(
            insert(StatDuration.__table__),
            [
                {"municipality_id": alpha, "service_key": f"bulk-{s}", "month": m, "working_days": d, "count": 5}
                for s in range(20)
                for m in months
                for d in range(1, 15)
            ],
        )
        db.session.execute(
            insert(StatAction.__table__),
            [
                {
                    "municipality_id": alpha,
                    "service_key": f"bulk-{s}",
                    "day": D("2025-06-01") + dt.timedelta(days=day),
                    "actor_id": 1000 + s,
                    "role": "specialist",
                    "action": "approve",
                    "count": 3,
                }
                for s in range(5)
                for day in range(360)
            ],
        )
        citizen = db.session.execute(select(Question.citizen_user_id)).scalars().first()
        db.session.execute(
            insert(Question.__table__),
            [
                {
                    "municipality_id": alpha,
                    "citizen_user_id": citizen,
                    "subject": "Bulk",
                    "status": "answered",
                    "created_at": _at("2026-02-02", 8),
                    "first_answered_at": _at("2026-02-02", 8) + dt.timedelta(hours=i % 40),
                    "last_message_at": _at("2026-02-02", 8),
                }
                for i in range(n // 10)
            ],
        )
        db.session.commit()


def test_a_request_costs_the_same_queries_at_ten_and_ten_thousand_applications(app, client, dataset):
    small = _costs(app, client)
    assert all(0 < n <= 8 for n in small.values()), small
    before = client.get("/m/alpha/dashboard.json").get_json()
    _grow(app, 10_000)
    assert _costs(app, client) == small
    after = client.get("/m/alpha/dashboard.json").get_json()
    # The new rows were read (as counts), not skipped.
    assert after["totals"]["currently_overdue"] == before["totals"]["currently_overdue"] + 10_000
    assert after["questions"]["asked"] == before["questions"]["asked"] + 1_000
    assert len(after["services"]) == 21


def test_pygal_is_told_not_to_load_its_script():
    import pygal

    from app.portal.dashboard import render_chart

    chart = pygal.Bar(js=[], disable_xml_declaration=True)
    chart.add("x", [1, 2])
    svg = str(render_chart(chart, "c"))
    assert svg.startswith("<svg") and "<script" not in svg and "<?xml" not in svg
    assert 'role="img"' in svg and 'aria-labelledby="c"' in svg
    # Its default would fetch its tooltips from the web: the dashboard overrides it.
    assert any(js.startswith(("//", "http")) for js in pygal.Config().js)
