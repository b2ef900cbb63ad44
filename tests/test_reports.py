"""Staff reports (app.domain.reports, app.workspace.reports, ``flask hamaynk report``) on a
small dataset driven through the real workflow at chosen moments, every figure computed by
hand below; CSV and XLSX read back; who may read them; bad input; the command line.

The dataset (municipality alpha, period 1–30 April 2025, "today" Tuesday 6 May 2025).
Holidays: 24 April and 1 May (national), 15 April (alpha's own day off); weekends.
RC is the residence certificate (registry_check by a civil-registry specialist, then
signature by its head), AA the address assignment (address_review by an urban-planning
specialist, then decision by its head).

=====  ====  ==========================================================================
app    svc   history (office dates; each at 10:00 in Yerevan unless said)
=====  ====  ==========================================================================
A1     RC    filed Mon 21 Apr; check approved Wed 23 Apr (2 wd); signed Mon 28 Apr
             (24 Apr holiday: 25, 28 = 2 wd) → approved
A2     RC    filed Tue 1 Apr; returned Thu 3 Apr (2 wd); resubmitted Mon 7 Apr; check
             approved Tue 8 Apr (1 wd: 3 in all); rejected at signature Wed 9 Apr (1 wd)
A3     AA    filed Mon 14 Apr; review approved Fri 18 Apr (15 Apr alpha's day off: 3 wd);
             the head takes the decision step; step due 22 Apr, overall due 30 Apr:
             late today by 8 wd (23, 25, 28, 29, 30 Apr, 2, 5, 6 May)
A4     RC    filed Mon 5 May, taken by the registrar; step due 6 May: not late today
A5     RC    filed Tue 29 Apr, taken by the registrar, returned Wed 30 Apr: waits on the citizen
A6     AA    filed Mon 3 Mar; review approved Wed 5 Mar (outside the period); decision
             approved 31 Mar 21:30 UTC = 1 Apr 01:30 in Yerevan, so in April:
             5 Mar → 1 Apr = 19 wd (8 Mar is a Saturday)
A7     RC    filed Mon 28 Apr, taken by the registrar; step due 29 Apr, overall 2 May:
             late today by 4 wd (30 Apr, 2, 5, 6 May)
B1     RC    beta: filed Wed 2 Apr, check approved Thu 3 Apr — never in alpha's figures
=====  ====  ==========================================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app import testing
from app.domain import access, deadlines, reports, workflow
from app.domain.errors import NotAllowed
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, AuditEvent, MunicipalHoliday
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, add_staff, count_statements, enable_service
from plugins import samples

RC = "residence-certificate"
AA = "address-assignment"
RC_DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}
TODAY = dt.date(2025, 5, 6)
APRIL = ("2025-04-01", "2025-04-30")
PG_DATABASE = "hamaynk_test_reports"


class Clock:
    """Moves the workflow's clock: transitions are stamped, and due dates counted, as at the
    moment given (Yerevan time, stored as UTC like every moment)."""

    def __init__(self, monkeypatch) -> None:
        self.monkeypatch = monkeypatch

    def at(self, moment: str, zone: str = "yerevan") -> None:
        local = dt.datetime.fromisoformat(moment)
        if zone == "yerevan":
            utc = local.replace(tzinfo=deadlines.OFFICE_TZ).astimezone(dt.UTC).replace(tzinfo=None)
        else:
            utc = local
        self.monkeypatch.setattr(workflow, "utcnow", lambda: utc)
        self.monkeypatch.setattr(deadlines, "today", lambda: reports.office_date(utc))


def staff(app, key: str) -> dict[str, int]:
    municipality = app.seeded[key]
    code = municipality["code"]
    people = dict(municipality["users"])
    people["registrar"] = add_staff(app, municipality, f"{code}.registrar", [SPECIALIST], "civil_registry")
    people["registry_head"] = add_staff(app, municipality, f"{code}.registry_head", [HEAD], "civil_registry")
    with app.app_context():
        enable_service(app, municipality["id"], RC)
        enable_service(app, municipality["id"], AA)
        db.session.commit()
    return people


def file(app, clock: Clock, when: str, service: str, key: str = "alpha") -> int:
    clock.at(when)
    if service == RC:
        data = RC_DATA
    else:
        registered = plugin_runtime.registry(app).get(service).service
        data = testing.fill_form(app, service, testing.sample_data(registered, samples.overrides(service)))
    return testing.file_application(app, service, key, data=data)


def act(app, clock: Clock, when: str, application_id: int, action: str, user_id: int, **kwargs) -> None:
    clock.at(when[:-4] if when.endswith(" UTC") else when, "utc" if when.endswith(" UTC") else "yerevan")
    with app.app_context():
        application = db.session.get(Application, application_id)
        getattr(workflow, action)(
            db.session,
            application,
            actor=actor_for(user_id),
            host=plugin_runtime.host(app),
            expected_version=application.version,
            **kwargs,
        )
        db.session.commit()


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


@pytest.fixture
def dataset(app, clock):
    alpha = staff(app, "alpha")
    beta = staff(app, "beta")
    with app.app_context():
        db.session.add(
            MunicipalHoliday(municipality_id=app.seeded["alpha"]["id"], date=dt.date(2025, 4, 15), name_hy="Տոն")
        )
        db.session.commit()
    ids = {}
    ids["A6"] = file(app, clock, "2025-03-03T10:00", AA)
    act(app, clock, "2025-03-05T10:00", ids["A6"], "approve", alpha["specialist"])
    act(app, clock, "2025-03-31T21:30 UTC", ids["A6"], "approve", alpha["head"])

    ids["A2"] = file(app, clock, "2025-04-01T10:00", RC)
    act(app, clock, "2025-04-03T10:00", ids["A2"], "return_for_correction", alpha["registrar"], what_to_fix="Scan")
    act(app, clock, "2025-04-07T10:00", ids["A2"], "resubmit", alpha["clerk"])
    act(app, clock, "2025-04-08T10:00", ids["A2"], "approve", alpha["registrar"])
    act(app, clock, "2025-04-09T10:00", ids["A2"], "reject", alpha["registry_head"], reason="Not registered")

    ids["B1"] = file(app, clock, "2025-04-02T10:00", RC, "beta")
    act(app, clock, "2025-04-03T11:00", ids["B1"], "approve", beta["registrar"])

    ids["A3"] = file(app, clock, "2025-04-14T10:00", AA)
    act(app, clock, "2025-04-18T10:00", ids["A3"], "approve", alpha["specialist"])
    act(app, clock, "2025-04-18T11:00", ids["A3"], "take", alpha["head"])

    ids["A1"] = file(app, clock, "2025-04-21T10:00", RC)
    act(app, clock, "2025-04-23T10:00", ids["A1"], "approve", alpha["registrar"])
    act(app, clock, "2025-04-28T10:00", ids["A1"], "approve", alpha["registry_head"])

    ids["A7"] = file(app, clock, "2025-04-28T10:00", RC)
    act(app, clock, "2025-04-28T11:00", ids["A7"], "take", alpha["registrar"])

    ids["A5"] = file(app, clock, "2025-04-29T10:00", RC)
    act(app, clock, "2025-04-29T11:00", ids["A5"], "take", alpha["registrar"])
    act(app, clock, "2025-04-30T10:00", ids["A5"], "return_for_correction", alpha["registrar"], what_to_fix="Scan")

    ids["A4"] = file(app, clock, "2025-05-05T10:00", RC)
    act(app, clock, "2025-05-05T11:00", ids["A4"], "take", alpha["registrar"])
    clock.at("2025-05-06T12:00")
    with app.app_context():
        numbers = {name: db.session.get(Application, i).tracking_number for name, i in ids.items()}
    return {"people": alpha, "beta": beta, "ids": ids, "numbers": numbers}


def titles(app) -> dict[str, str]:
    registry = plugin_runtime.registry(app)
    rc, aa = registry.get(RC).service, registry.get(AA).service
    return {
        "RC": rc.title["en"],
        "AA": aa.title["en"],
        "registry_check": rc.step("registry_check").title["en"],
        "signature": rc.step("signature").title["en"],
        "address_review": aa.step("address_review").title["en"],
        "decision": aa.step("decision").title["en"],
    }


def run(app, name: str, *, municipality: str = "alpha", period=APRIL, actor: str | None = "head", language="en"):
    """The report's header and rows, as the given alpha user (or the operator) reads it."""
    with app.app_context(), force_locale(language):
        if actor is None:
            scope = reports.operator_scope(db.session, municipality)
        else:
            scope = reports.scope_for(db.session, actor_for(app.seeded["alpha"]["users"][actor]), None)
        report = reports.build(
            name,
            db.session,
            scope,
            reports.parse_period(*period),
            registry=plugin_runtime.registry(app),
            language=language,
            today=TODAY,
        )
        return report.header, list(report.rows)


DEPARTMENTS_EN = {
    "civil_registry": "Population Registry Department",
    "education": "Education, Culture and Sport Department",
    "front_office": "Citizen Service Office",
    "social": "Social Support Department",
    "trade": "Trade and Services Department",
    "urban_planning": "Urban Planning Department",
}


# -- the figures --------------------------------------------------------------------------------


def test_workload_per_department_and_per_person(app, dataset):
    header, rows = run(app, "workload")
    assert header == (
        "Group",
        "Name",
        "Department",
        "At a step now",
        "Of them late",
        "Waiting on the citizen",
        "Approved in the period",
        "Returned in the period",
        "Rejected in the period",
    )
    registry_dept, urban = DEPARTMENTS_EN["civil_registry"], DEPARTMENTS_EN["urban_planning"]
    d = "Department"
    assert rows[:6] == [
        # A4, A7 (late) at the check; A5 waits; A1 ×2, A2 ×2 approved, A2 and A5 returned, A2 rejected
        (d, registry_dept, registry_dept, 2, 1, 1, 3, 2, 1),
        (d, DEPARTMENTS_EN["education"], DEPARTMENTS_EN["education"], 0, 0, 0, 0, 0, 0),
        (d, DEPARTMENTS_EN["front_office"], DEPARTMENTS_EN["front_office"], 0, 0, 0, 0, 0, 0),
        (d, DEPARTMENTS_EN["social"], DEPARTMENTS_EN["social"], 0, 0, 0, 0, 0, 0),
        (d, DEPARTMENTS_EN["trade"], DEPARTMENTS_EN["trade"], 0, 0, 0, 0, 0, 0),
        # A3 (late) at the decision; A3's review and A6's decision (1 April in Yerevan) approved
        (d, urban, urban, 1, 1, 0, 2, 0, 0),
    ]
    s = "Staff member"
    assert rows[6:] == [
        (s, "Clerk Alpha", DEPARTMENTS_EN["front_office"], 0, 0, 0, 0, 0, 0),
        (s, "Alpha.Registrar Alpha", registry_dept, 2, 1, 1, 2, 2, 0),
        (s, "Alpha.Registry_Head Alpha", registry_dept, 0, 0, 0, 1, 0, 1),
        (s, "Head Alpha", urban, 1, 1, 0, 1, 0, 0),
        # A6's review was approved in March: not in April's figures.
        (s, "Specialist Alpha", urban, 0, 0, 0, 1, 0, 0),
        (s, "Municipal_Admin Alpha", "", 0, 0, 0, 0, 0, 0),
    ]


def test_overdue_list(app, dataset):
    header, rows = run(app, "overdue")
    assert header == (
        "Tracking number",
        "Service",
        "Step",
        "Department",
        "Assigned to",
        "Step due",
        "Overall due",
        "Working days late",
    )
    t, n = titles(app), dataset["numbers"]
    assert rows == [
        (
            n["A3"],
            t["AA"],
            t["decision"],
            DEPARTMENTS_EN["urban_planning"],
            "Head Alpha",
            dt.date(2025, 4, 22),
            dt.date(2025, 4, 30),
            8,
        ),
        (
            n["A7"],
            t["RC"],
            t["registry_check"],
            DEPARTMENTS_EN["civil_registry"],
            "Alpha.Registrar Alpha",
            dt.date(2025, 4, 29),
            dt.date(2025, 5, 2),
            4,
        ),
    ]
    # The same clauses the inbox and escalation use: exactly these two are late today.
    with app.app_context():
        late = db.session.execute(
            select(Application.tracking_number).where(
                deadlines.late_clause(TODAY), Application.municipality_id == app.seeded["alpha"]["id"]
            )
        ).scalars()
        assert set(late) == {n["A3"], n["A7"]}


def test_processing_time_per_step(app, dataset):
    header, rows = run(app, "steps")
    assert header == (
        "Service",
        "Step",
        "Completed in the period",
        "Median working days",
        "90th percentile",
        "Longest",
        "Step budget (working days)",
    )
    t = titles(app)
    expected = {
        # A3: 3 (alpha's day off on 15 April); A6's review ended in March.
        (t["AA"], t["address_review"]): (1, 3, 3, 3, 5),
        # A6: 5 March → 1 April (Yerevan) = 19 working days.
        (t["AA"], t["decision"]): (1, 19, 19, 19, 2),
        # A1: 2; A2: 2 before its return + 1 after the resubmission = 3 (the wait does not count).
        (t["RC"], t["registry_check"]): (2, 2.5, 3, 3, 1),
        # A1: 2 (24 April is a holiday); A2: 1.
        (t["RC"], t["signature"]): (2, 1.5, 2, 2, 1),
    }
    assert {(row[0], row[1]): row[2:] for row in rows} == expected
    # Services by title, steps in their declared order.
    order = sorted({t["AA"], t["RC"]})
    assert [row[0] for row in rows] == [order[0], order[0], order[1], order[1]]
    assert rows[0][1] == (t["address_review"] if order[0] == t["AA"] else t["registry_check"])


def test_returned_for_correction_rate(app, dataset):
    header, rows = run(app, "returns")
    assert header == (
        "Service",
        "Decided in the period",
        "Approved",
        "Rejected",
        "Returned at least once",
        "Share returned, per cent",
        "Returns in the period",
    )
    t = titles(app)
    assert {row[0]: row[1:] for row in rows} == {
        # A6 approved on 1 April (Yerevan), never returned.
        t["AA"]: (1, 1, 0, 0, 0.0, 0),
        # A1 approved, A2 rejected after one return; A5's return is in the period but it is undecided.
        t["RC"]: (2, 1, 1, 1, 50.0, 2),
    }


def test_the_period_counts_office_days_in_yerevan(app, dataset):
    t = titles(app)
    # 31 March 21:30 UTC is 1 April in Yerevan: not in March, and not in 2–30 April either.
    _header, march = run(app, "returns", period=("2025-03-01", "2025-03-31"))
    assert march == []
    _header, steps = run(app, "steps", period=("2025-03-01", "2025-03-31"))
    # A6's review was approved 5 March: 2 wd (3 → 5 March).
    assert [(row[0], row[1], row[2], row[3]) for row in steps] == [(t["AA"], t["address_review"], 1, 2)]
    _header, later = run(app, "returns", period=("2025-04-02", "2025-04-30"))
    assert {row[0]: row[1] for row in later} == {t["RC"]: 2}


def test_the_operator_and_a_system_administrator_read_the_same_figures(app, dataset):
    mine = run(app, "workload")
    assert run(app, "workload", actor=None) == mine
    assert run(app, "workload", actor="auditor") == mine
    with app.app_context():
        admin = actor_for(app.seeded["sysadmin"])
        scope = reports.scope_for(db.session, admin, "alpha")
        assert scope.municipality_id == app.seeded["alpha"]["id"]
        assert reports.municipalities_for(db.session, admin) == [("alpha", "Alpha"), ("beta", "Beta")]


def test_armenian_is_the_default_language_of_the_report(app, dataset):
    _header, rows = run(app, "overdue", language="hy")
    registry = plugin_runtime.registry(app)
    assert rows[0][1] == registry.get(AA).service.title["hy"]
    assert rows[0][3] == "Քաղաքաշինության բաժին"


def test_queries_do_not_grow_with_the_data(app, dataset, clock):
    people = dataset["people"]

    def counts() -> dict[str, int]:
        found = {}
        for name in reports.NAMES:
            found[name] = count_statements(app, lambda name=name: run(app, name))
        return found

    before = counts()
    # Four more applications: decided, returned, late and assigned, in both services.
    for when, service in (("2025-04-22T10:00", RC), ("2025-04-22T10:00", AA), ("2025-04-23T10:00", RC)):
        application_id = file(app, clock, when, service)
        user = people["registrar"] if service == RC else people["specialist"]
        act(app, clock, "2025-04-24T12:00", application_id, "take", user)
        act(app, clock, "2025-04-25T10:00", application_id, "approve", user)
    extra = file(app, clock, "2025-04-25T10:00", RC)
    act(app, clock, "2025-04-25T11:00", extra, "return_for_correction", people["registrar"], what_to_fix="Scan")
    clock.at("2025-05-06T12:00")
    after = counts()
    assert after == before
    assert max(before.values()) <= 12, before
    _h, steps = run(app, "steps")
    assert sum(row[2] for row in steps) == 6 + 3  # three more check steps completed


def test_long_exports_report_progress(app, dataset, monkeypatch):
    monkeypatch.setattr(reports, "CHUNK", 2)
    seen: list[int] = []
    with app.app_context(), force_locale("en"):
        scope = reports.operator_scope(db.session, "alpha")
        report = reports.build(
            "steps",
            db.session,
            scope,
            reports.parse_period(*APRIL),
            registry=plugin_runtime.registry(app),
            language="en",
            today=TODAY,
            progress=seen.append,
        )
        assert seen == []  # nothing is read before the rows are
        list(report.rows)
    # A1 (3 records), A2 (5), A3 (2 + take left out), A6 (3): 13 history records read.
    assert seen == [2, 4, 6, 8, 10, 12, 13]


def test_median_and_percentile_by_hand():
    assert reports.median({1: 1}) == 1
    assert reports.median({1: 1, 2: 1}) == 1.5
    assert reports.median({1: 2, 5: 1}) == 1
    assert reports.percentile({1: 9, 10: 1}, 90) == 1
    assert reports.percentile({1: 8, 10: 2}, 90) == 10
    assert reports.percentile({7: 1}, 90) == 7


# -- the period ---------------------------------------------------------------------------------


def test_the_default_period_is_the_last_30_days():
    period = reports.parse_period("", None, today=TODAY)
    assert (period.start, period.end, period.days) == (dt.date(2025, 4, 7), TODAY, 30)
    assert reports.parse_period("2025-05-01", "", today=TODAY) == reports.Period(dt.date(2025, 5, 1), TODAY)


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "field", "message"),
    [
        ("2025-02-30", "", "from", "The start date 2025-02-30 is not a date: enter it as YYYY-MM-DD."),
        ("", "tomorrow", "to", "The end date tomorrow is not a date: enter it as YYYY-MM-DD."),
        ("1.4.2025", "", "from", "The start date 1.4.2025 is not a date: enter it as YYYY-MM-DD."),
        ("2025-05-01", "2025-04-01", "from", "The start date must not be after the end date."),
        ("2010-01-01", "2025-04-01", "from", f"Choose a period of at most {reports.MAX_DAYS} days."),
    ],
)
def test_a_bad_period_is_refused_with_a_clear_message(app, raw_from, raw_to, field, message):
    with app.test_request_context("/?_l_=en"), force_locale("en"):
        with pytest.raises(reports.ReportError) as refused:
            reports.parse_period(raw_from, raw_to, today=TODAY)
        assert (refused.value.field, str(refused.value)) == (field, message)


# -- who reads them -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clerk", "specialist", "citizen"])
def test_only_heads_admins_and_auditors_read_reports(app, role):
    with app.app_context():
        if role == "citizen":
            user_id = app.appbuilder.sm.find_user(username="citizen").id
        else:
            user_id = app.seeded["alpha"]["users"][role]
        with pytest.raises(NotAllowed):
            reports.scope_for(db.session, actor_for(user_id), None)


def test_a_head_reads_only_their_own_municipality(app):
    with app.app_context():
        head = actor_for(app.seeded["alpha"]["users"]["head"])
        assert reports.scope_for(db.session, head, "alpha").code == "alpha"
        with pytest.raises(NotAllowed):
            reports.scope_for(db.session, head, "beta")
        assert reports.municipalities_for(db.session, head) == []
        admin = actor_for(app.seeded["sysadmin"])
        with pytest.raises(reports.ReportError):
            reports.scope_for(db.session, admin, None)
        with pytest.raises(reports.ReportError):
            reports.scope_for(db.session, admin, "nowhere")


# -- the pages and downloads --------------------------------------------------------------------


def test_the_page_shows_the_report_with_its_export_links(app, client, login_as, dataset):
    login_as("head")
    page = client.get("/workspace/reports/?report=overdue&from=2025-04-01&to=2025-04-30&_l_=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert dataset["numbers"]["A3"] in html and dataset["numbers"]["A7"] in html
    assert "/workspace/reports/export?report=overdue&amp;from=2025-04-01&amp;to=2025-04-30&amp;format=csv" in html
    assert 'scope="col"' in html and "<caption" in html
    # The menu leads there.
    assert "/workspace/reports/" in client.get("/workspace/?_l_=en").get_data(as_text=True)
    workload = client.get("/workspace/reports/?from=2025-04-01&to=2025-04-30&_l_=en").get_data(as_text=True)
    assert 'id="workload-departments"' in workload and 'id="workload-staff"' in workload
    assert "Alpha.Registrar Alpha" in workload


def parse_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark, for spreadsheets
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline="")))


def test_csv_export_streams_the_whole_report(app, client, login_as, dataset):
    login_as("auditor")
    response = client.get("/workspace/reports/export?report=returns&from=2025-04-01&to=2025-04-30&format=csv&_l_=hy")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="hamaynk-returns-alpha-2025-04-01-2025-04-30.csv"'
    )
    rows = parse_csv(response.get_data())
    registry = plugin_runtime.registry(app)
    by_service = {row[0]: row[1:] for row in rows[1:]}
    assert by_service == {
        registry.get(AA).service.title["hy"]: ["1", "1", "0", "0", "0.0", "0"],
        registry.get(RC).service.title["hy"]: ["2", "1", "1", "1", "50.0", "2"],
    }
    assert len(rows[0]) == 7
    with app.app_context():
        (event,) = db.session.execute(select(AuditEvent).where(AuditEvent.action == "report.export")).scalars()
        assert event.details == {"from": "2025-04-01", "to": "2025-04-30", "format": "csv"}
        assert event.municipality_id == app.seeded["alpha"]["id"]


def read_xlsx(body: bytes) -> list[list[object]]:
    """The first sheet's cells, read from the workbook's XML (shared or inline strings, numbers)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(io.BytesIO(body)) as book:
        names = book.namelist()
        shared = []
        if "xl/sharedStrings.xml" in names:
            root = ET.fromstring(book.read("xl/sharedStrings.xml"))
            shared = ["".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")) for si in root.findall("m:si", ns)]
        sheet = ET.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows: list[list[object]] = []
    for row in sheet.find("m:sheetData", ns).findall("m:row", ns):
        cells: list[object] = []
        for cell in row.findall("m:c", ns):
            column = re.match(r"[A-Z]+", cell.get("r")).group(0)
            index = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(column))) - 1
            cells.extend([None] * (index - len(cells)))
            kind = cell.get("t")
            if kind == "inlineStr":
                value: object = "".join(t.text or "" for t in cell.iter(f"{{{ns['m']}}}t"))
            elif kind == "s":
                value = shared[int(cell.find("m:v", ns).text)]
            else:
                number = float(cell.find("m:v", ns).text)
                value = int(number) if number.is_integer() else number
            cells.append(value)
        rows.append(cells)
    return rows


def excel_date(day: dt.date) -> int:
    return (day - dt.date(1899, 12, 30)).days


def test_xlsx_export_reads_back(app, client, login_as, dataset):
    login_as("municipal_admin")
    response = client.get("/workspace/reports/export?report=overdue&from=2025-04-01&to=2025-04-30&format=xlsx&_l_=en")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "hamaynk-overdue-alpha-2025-04-01-2025-04-30.xlsx" in response.headers["Content-Disposition"]
    rows = read_xlsx(response.get_data())
    # The period for the page and the download is today's: the dataset's "today" is the clock's.
    t, n = titles(app), dataset["numbers"]
    assert rows[0][0] == "Tracking number" and len(rows[0]) == 8
    assert rows[1:] == [
        [
            n["A3"],
            t["AA"],
            t["decision"],
            DEPARTMENTS_EN["urban_planning"],
            "Head Alpha",
            excel_date(dt.date(2025, 4, 22)),
            excel_date(dt.date(2025, 4, 30)),
            8,
        ],
        [
            n["A7"],
            t["RC"],
            t["registry_check"],
            DEPARTMENTS_EN["civil_registry"],
            "Alpha.Registrar Alpha",
            excel_date(dt.date(2025, 4, 29)),
            excel_date(dt.date(2025, 5, 2)),
            4,
        ],
    ]


def test_xlsx_keeps_armenian_and_formula_like_text_as_text(app, tmp_path, dataset):
    with app.app_context(), force_locale("hy"):
        scope = reports.operator_scope(db.session, "alpha")
        report = reports.Report(
            "workload",
            "Աշխատանք",
            scope,
            reports.parse_period(*APRIL),
            TODAY,
            ("Անուն", "Թիվ"),
            iter([("=1+1", 3), ("Երևան", None), ("-", 2.5)]),
        )
        reports.write_xlsx(report, tmp_path / "out.xlsx")
    rows = read_xlsx((tmp_path / "out.xlsx").read_bytes())
    assert rows == [["Անուն", "Թիվ"], ["=1+1", 3], ["Երևան"], ["-", 2.5]]
    with zipfile.ZipFile(tmp_path / "out.xlsx") as book:
        assert b"<f>" not in book.read("xl/worksheets/sheet1.xml")  # no formula anywhere
    chunks = "".join(
        reports.csv_chunks(
            reports.Report(
                "workload", "x", scope, reports.parse_period(*APRIL), TODAY, ("a",), iter([("=1+1",), ("@x",)])
            )
        )
    )
    assert chunks == "\ufeffa\r\n'=1+1\r\n'@x\r\n"


@pytest.mark.parametrize("role", ["clerk", "specialist", "citizen"])
def test_others_are_refused_the_pages(app, client, login_as, role):
    login_as(role)
    for url in ("/workspace/reports/", "/workspace/reports/export?report=overdue&format=csv"):
        response = client.get(url)
        assert response.status_code in (302, 403), (role, url, response.status_code)
        assert b"Tracking number" not in response.get_data()


def test_another_municipalitys_head_is_refused(app, client, login_as, dataset):
    login_as("head", "beta")
    response = client.get("/workspace/reports/?report=overdue&municipality=alpha&_l_=en")
    assert response.status_code == 403
    assert "You may read the reports of your own municipality only." in response.get_data(as_text=True)
    assert client.get("/workspace/reports/export?report=overdue&municipality=alpha&format=csv").status_code == 403
    # Their own municipality's reports hold nothing of alpha's.
    own = client.get("/workspace/reports/?report=overdue&_l_=en").get_data(as_text=True)
    assert dataset["numbers"]["A3"] not in own


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2025-13-01", "The start date 2025-13-01 is not a date: enter it as YYYY-MM-DD."),
        ("from=2025-05-01&to=2025-04-01", "The start date must not be after the end date."),
        # Not UTF-8 once decoded: refused by the input layer (app.cleaning) before the view.
        ("to=%00%ff", "This text contains characters that are not valid Unicode. Nothing was changed."),
        ("report=secret", "There is no such report; choose one of: workload, overdue, steps, returns."),
    ],
)
def test_bad_input_gets_a_clear_message_not_a_500(app, client, login_as, query, message):
    login_as("head")
    for path in ("/workspace/reports/", "/workspace/reports/export"):
        response = client.get(f"{path}?{query}&format=csv&_l_=en")
        assert response.status_code == 400, (path, query)
        assert message in response.get_data(as_text=True)
    response = client.get("/workspace/reports/export?format=pdf&_l_=en")
    assert response.status_code == 400
    assert "Export as CSV or XLSX." in response.get_data(as_text=True)


def test_a_system_administrator_chooses_the_municipality(app, client, login_as, dataset):
    login_as("system_admin")
    first = client.get("/workspace/reports/?_l_=en")
    assert first.status_code == 200
    assert "Choose a municipality" in first.get_data(as_text=True)
    page = client.get("/workspace/reports/?report=overdue&municipality=alpha&_l_=en")
    assert page.status_code == 200 and dataset["numbers"]["A3"] in page.get_data(as_text=True)
    assert client.get("/workspace/reports/?municipality=nowhere&_l_=en").status_code == 400


# -- the command line ---------------------------------------------------------------------------


def report_command(name: str, output, *options: str, municipality: str = "alpha") -> list[str]:
    """The arguments of ``flask hamaynk report NAME`` for ``municipality``, written to ``output``."""
    return ["hamaynk", "report", name, "--municipality", municipality, "--output", str(output), *options]


def test_the_command_writes_csv_and_xlsx_with_progress(app, dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(reports, "CHUNK", 1)
    runner = app.test_cli_runner()
    out = tmp_path / "overdue.csv"
    result = runner.invoke(
        args=report_command("overdue", out, "--from", APRIL[0], "--to", APRIL[1], "--format", "csv", "--language", "en")
    )
    assert result.exit_code == 0, result.output
    rows = parse_csv(out.read_bytes())
    assert [row[0] for row in rows[1:]] == [dataset["numbers"]["A3"], dataset["numbers"]["A7"]]
    assert rows[1][-1] == "8"
    assert "overdue: 1 row(s) read" in result.stderr and "overdue: 2 row(s) read" in result.stderr
    assert f"Wrote 2 row(s) to {out}" in result.stderr
    assert result.stdout == ""

    book = tmp_path / "steps.xlsx"
    result = runner.invoke(args=report_command("steps", book, "--from", APRIL[0], "--to", APRIL[1], "--format", "xlsx"))
    assert result.exit_code == 0, result.output
    rows = read_xlsx(book.read_bytes())
    assert len(rows) == 5
    assert sorted(row[2] for row in rows[1:]) == [1, 1, 2, 2]
    assert "steps: 13 row(s) read" in result.stderr


def test_the_command_refuses_bad_input_clearly(app, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "x.csv"
    result = runner.invoke(args=report_command("overdue", out, "--language", "en", municipality="nowhere"))
    assert result.exit_code != 0 and "There is no municipality nowhere." in result.output
    result = runner.invoke(args=report_command("overdue", out, "--from", "2025-02-30", "--language", "en"))
    assert result.exit_code != 0 and "The start date 2025-02-30 is not a date" in result.output
    result = runner.invoke(args=report_command("nonsense", out))
    assert result.exit_code != 0
    assert not out.exists()


# -- scoping ------------------------------------------------------------------------------------


def test_access_loaders_scope_every_report_query(app, dataset):
    """Every statement a reader's report runs is scoped by app.domain.access (the backstop
    the web layer installs would refuse any other during a request)."""
    seen = []
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def record(state) -> None:
        if state.is_select and not state.is_column_load and not state.is_relationship_load:
            seen.append(access.unscoped_load(state))

    event.listen(Session, "do_orm_execute", record)
    try:
        for name in reports.NAMES:
            run(app, name)
    finally:
        event.remove(Session, "do_orm_execute", record)
    assert seen and set(seen) == {None}
