"""Working days with Armenia's public holidays and municipal days off; due dates per step and
overall; suspension while waiting on the citizen; extensions; overdue queries."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.demo import ensure_user
from app.domain import deadlines, workflow
from app.domain.activations import set_activation
from app.domain.deadlines import WorkingCalendar, add_working_days, is_working_day, working_days_between
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, DeadlineAdjustment, MunicipalHoliday
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, actor_for, password_hash

D = dt.date.fromisoformat
SERVICE_KEY = "residence-certificate"
DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}


# -- the national calendar ---------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        "2026-01-01",
        "2026-01-02",
        "2026-01-06",
        "2026-01-28",
        "2026-04-24",
        "2026-05-01",
        "2026-05-28",
        "2026-09-21",
        "2026-12-31",
    ],
)
def test_armenian_public_holidays_on_weekdays_are_days_off(day):
    assert D(day).weekday() < 5
    assert not is_working_day(D(day))


def test_holidays_falling_on_a_weekend_are_still_holidays_by_name():
    # 2026: Women's Day is a Sunday, Victory Day a Saturday, Constitution Day a Sunday.
    cal = WorkingCalendar(None, None)
    for day in ("2026-03-08", "2026-05-09", "2026-07-05"):
        assert D(day).weekday() >= 5
        assert cal.holiday_name(D(day))
        assert not cal.is_working_day(D(day))


def test_ordinary_weekdays_work_and_weekends_do_not():
    assert is_working_day(D("2026-03-10"))  # a Tuesday
    assert not is_working_day(D("2026-03-14"))  # a Saturday
    assert not is_working_day(D("2026-03-15"))  # a Sunday


def test_adding_working_days_across_the_new_year_holidays():
    # Tue 30 Dec 2025 + 1: 31 Dec, 1-2 Jan are holidays, 3-4 Jan the weekend.
    assert add_working_days(D("2025-12-30"), 1) == D("2026-01-05")
    # 6 January is Christmas.
    assert add_working_days(D("2025-12-30"), 2) == D("2026-01-07")
    assert add_working_days(D("2025-12-30"), 0) == D("2025-12-30")


def test_adding_working_days_around_april_24_and_may():
    # Thu 23 Apr + 3: 24 Apr is Genocide Remembrance Day, then the weekend.
    assert add_working_days(D("2026-04-23"), 3) == D("2026-04-29")
    # Thu 30 Apr + 1: 1 May Labour Day, then the weekend.
    assert add_working_days(D("2026-04-30"), 1) == D("2026-05-04")
    # Wed 27 May + 1: 28 May is Republic Day.
    assert add_working_days(D("2026-05-27"), 1) == D("2026-05-29")
    # Fri 18 Sep + 1: the weekend, then Independence Day on Monday 21 Sep.
    assert add_working_days(D("2026-09-18"), 1) == D("2026-09-22")


def test_working_days_between_agrees_with_adding():
    start = D("2025-12-20")
    for n in range(40):
        end = add_working_days(start, n)
        assert working_days_between(start, end) == n
    assert working_days_between(D("2026-01-10"), D("2026-01-01")) == 0


def test_nonsense_budgets_are_refused():
    with pytest.raises(ValueError):
        add_working_days(D("2026-01-01"), -1)
    with pytest.raises(ValueError):
        add_working_days(D("2026-01-01"), deadlines.MAX_WORKING_DAYS + 1)


def test_a_municipal_day_off_counts_only_in_that_municipality(app):
    alpha, beta = app.seeded["alpha"]["id"], app.seeded["beta"]["id"]
    with app.app_context():
        db.session.add(
            MunicipalHoliday(
                municipality_id=alpha, date=D("2026-01-07"), name_hy="Համայնքի օր", name_en="Community Day"
            )
        )
        db.session.commit()
        assert add_working_days(D("2025-12-30"), 2, session=db.session, municipality_id=alpha) == D("2026-01-08")
        assert add_working_days(D("2025-12-30"), 2, session=db.session, municipality_id=beta) == D("2026-01-07")
        assert working_days_between(D("2026-01-05"), D("2026-01-09"), session=db.session, municipality_id=alpha) == 2
        cal = WorkingCalendar(db.session, alpha)
        assert cal.holiday_name(D("2026-01-07")) == "Համայնքի օր"


# -- due dates in the workflow --------------------------------------------------------------


def _set_up(app, deadline_override=None) -> dict:
    alpha = app.seeded["alpha"]
    people = dict(alpha["users"])
    with app.app_context():
        for key, roles in (("registrar", [SPECIALIST]), ("registry_head", [HEAD])):
            user, _ = ensure_user(
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
        set_activation(
            db.session,
            plugin_runtime.registry(app),
            alpha["id"],
            SERVICE_KEY,
            enabled=True,
            fee_override=None,
            deadline_override=deadline_override,
            department_id=None,
            actor_id=None,
        )
        db.session.commit()
    return people


def _on(monkeypatch, day: str) -> None:
    monkeypatch.setattr(deadlines, "today", lambda: D(day))


def _file(app, people) -> int:
    with app.app_context():
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        application, _ = workflow.new_application(
            db.session,
            service=service,
            municipality_id=app.seeded["alpha"]["id"],
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


def _do(app, application_id, action, actor_id, **kwargs):
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


def _dues(app, application_id):
    with app.app_context():
        a = db.session.get(Application, application_id)
        return a.due_at, (a.step_due_at.date() if a.step_due_at else None)


def test_submission_sets_overall_and_step_due_dates_in_working_days(app, monkeypatch):
    people = _set_up(app)
    _on(monkeypatch, "2026-04-23")  # a Thursday before 24 April
    application_id = _file(app, people)
    # Service deadline 3 working days; first step 1 working day.
    assert _dues(app, application_id) == (D("2026-04-29"), D("2026-04-27"))
    _on(monkeypatch, "2026-04-27")
    _do(app, application_id, "approve", people["registrar"])
    # The signature step has its own budget from the day it starts.
    assert _dues(app, application_id) == (D("2026-04-29"), D("2026-04-28"))


def test_the_municipalitys_deadline_override_wins(app, monkeypatch):
    people = _set_up(app, deadline_override=10)
    _on(monkeypatch, "2026-04-23")
    application_id = _file(app, people)
    # 10 working days after 23 April: 27-30 April, 4-8 May, 11 May (24 April and 1 May are
    # holidays; 9 May, Victory Day, is a Saturday this year).
    assert _dues(app, application_id)[0] == D("2026-05-11")


def test_municipal_days_off_move_due_dates(app, monkeypatch):
    people = _set_up(app)
    with app.app_context():
        db.session.add(MunicipalHoliday(municipality_id=app.seeded["alpha"]["id"], date=D("2026-04-28"), name_hy="Տոն"))
        db.session.commit()
    _on(monkeypatch, "2026-04-23")
    application_id = _file(app, people)
    assert _dues(app, application_id)[0] == D("2026-04-30")


def test_suspension_while_returned_moves_the_due_dates(app, monkeypatch):
    people = _set_up(app)
    _on(monkeypatch, "2026-04-23")
    application_id = _file(app, people)
    assert _dues(app, application_id) == (D("2026-04-29"), D("2026-04-27"))
    _on(monkeypatch, "2026-04-27")  # Monday
    _do(app, application_id, "return_for_correction", people["registrar"], what_to_fix="Attach the passport.")
    with app.app_context():
        application = db.session.get(Application, application_id)
        running = workflow.open_suspension(db.session, application)
        assert (running.start_date, running.end_date) == (D("2026-04-27"), None)
        # Waiting on the citizen is never overdue, however late it gets.
        assert not deadlines.is_overdue(application, on=D("2026-06-01"))
    _on(monkeypatch, "2026-04-30")  # Thursday: Tue, Wed, Thu spent waiting
    _do(app, application_id, "resubmit", people["clerk"])
    # 29 Apr + 3 working days (30 Apr, 4 May, 5 May: 1 May is a holiday);
    # step: 27 Apr + 3 = 30 Apr.
    assert _dues(app, application_id) == (D("2026-05-05"), D("2026-04-30"))
    with app.app_context():
        suspension = db.session.execute(
            select(DeadlineAdjustment).where(DeadlineAdjustment.application_id == application_id)
        ).scalar_one()
        assert (suspension.kind, suspension.days, suspension.start_date, suspension.end_date, suspension.step_key) == (
            "suspension",
            3,
            D("2026-04-27"),
            D("2026-04-30"),
            "registry_check",
        )


def test_a_same_day_correction_costs_no_time(app, monkeypatch):
    people = _set_up(app)
    _on(monkeypatch, "2026-04-23")
    application_id = _file(app, people)
    before = _dues(app, application_id)
    _do(app, application_id, "return_for_correction", people["registrar"], what_to_fix="Typo in the address.")
    _do(app, application_id, "resubmit", people["clerk"])
    assert _dues(app, application_id) == before


def test_extension_moves_due_dates_by_working_days_and_is_recorded(app, monkeypatch):
    people = _set_up(app)
    _on(monkeypatch, "2026-04-23")
    application_id = _file(app, people)
    _do(
        app,
        application_id,
        "extend_deadline",
        people["registry_head"],
        days=2,
        reason="The registry archive is closed this week.",
    )
    # 29 Apr + 2 working days = 30 Apr, 4 May.
    assert _dues(app, application_id) == (D("2026-05-04"), D("2026-04-29"))
    with app.app_context():
        application = db.session.get(Application, application_id)
        last = workflow.history(db.session, application)[-1]
        assert (last.action, last.comment) == ("extend", "The registry archive is closed this week.")


def test_overdue_queries(app, monkeypatch):
    people = _set_up(app)
    _on(monkeypatch, "2026-04-23")
    late = _file(app, people)
    returned = _file(app, people)
    done = _file(app, people)
    _do(app, returned, "return_for_correction", people["registrar"], what_to_fix="x")
    _do(app, done, "approve", people["registrar"])
    _do(app, done, "approve", people["registry_head"])
    alpha, beta = app.seeded["alpha"]["id"], app.seeded["beta"]["id"]
    with app.app_context():

        def ids(query):
            return [a.id for a in db.session.execute(query).scalars()]

        # Due 29 April: not late on the day itself, late the day after.
        assert ids(deadlines.overdue_applications(db.session, on=D("2026-04-29"))) == []
        assert ids(deadlines.overdue_applications(db.session, on=D("2026-04-30"))) == [late]
        assert ids(deadlines.overdue_applications(db.session, [alpha], on=D("2026-04-30"))) == [late]
        assert ids(deadlines.overdue_applications(db.session, [beta], on=D("2026-04-30"))) == []
        # The first step was due 27 April.
        step_late = (
            db.session.execute(select(Application.id).where(deadlines.step_overdue_clause(D("2026-04-28"))))
            .scalars()
            .all()
        )
        assert step_late == [late]
        application = db.session.get(Application, late)
        assert deadlines.is_step_overdue(application, on=D("2026-04-28"))
        assert not deadlines.is_step_overdue(application, on=D("2026-04-27"))
        assert deadlines.is_overdue(application, on=D("2026-04-30"))
        assert not deadlines.is_overdue(db.session.get(Application, done), on=D("2027-01-01"))
        late_any = (
            db.session.execute(select(Application.id).where(deadlines.late_clause(D("2026-04-28")))).scalars().all()
        )
        assert late_any == [late]


def test_today_is_the_date_in_yerevan():
    from zoneinfo import ZoneInfo

    assert deadlines.today() == dt.datetime.now(ZoneInfo("Asia/Yerevan")).date()
