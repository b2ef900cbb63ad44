"""Substitutes: a staff member on leave names a colleague for a period; during it (and only
then) the absent person's tasks are in the substitute's "My tasks", the substitute acts on
them and the history says "on behalf of"; who may be named and by whom; the page; the cost
of the inbox."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.domain import inbox, statuses, workflow
from app.domain import substitutes as subs
from app.domain.errors import NotAllowed
from app.domain.roles import CLERK, HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, AuditEvent, Substitution, TransitionRecord
from app.plugins import runtime as plugin_runtime
from app.testing import (
    actor_for,
    add_staff,
    count_statements,
    enable_service,
    file_application,
    login,
    office_today,
)

RESIDENCE = "residence-certificate"
TODAY = office_today()


@pytest.fixture
def people(app):
    """Alpha's population registry (a registrar, a head) and urban planning's seeded
    specialist, who stands in for the registrar (a specialist too, in another department)."""
    alpha = app.seeded["alpha"]
    enable_service(app, alpha, RESIDENCE)
    enable_service(app, "beta", RESIDENCE)
    return {
        "registrar": add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry"),
        "registry_head": add_staff(app, alpha, "alpha.registry.head", [HEAD], "civil_registry"),
        "planner": alpha["users"]["specialist"],
        "planning_head": alpha["users"]["head"],
        "clerk": alpha["users"]["clerk"],
        "admin": alpha["users"]["municipal_admin"],
        "beta_specialist": app.seeded["beta"]["users"]["specialist"],
    }


def name(app, by: int, absent: int, substitute: int, starts: dt.date, ends: dt.date, today: dt.date = TODAY):
    with app.test_request_context("/?_l_=en"):
        row = subs.name_substitute(
            db.session,
            actor_for(by),
            absent_id=absent,
            substitute_id=substitute,
            starts_on=starts,
            ends_on=ends,
            reason="Annual leave",
            today=today,
        )
        db.session.commit()
        return row.id


def refused(app, by: int, absent: int, substitute: int, starts=TODAY, ends=TODAY, field: str | None = None) -> str:
    with app.test_request_context("/?_l_=en"):
        with pytest.raises(subs.SubstitutionError) as caught:
            subs.name_substitute(
                db.session,
                actor_for(by),
                absent_id=absent,
                substitute_id=substitute,
                starts_on=starts,
                ends_on=ends,
            )
        db.session.rollback()
        assert db.session.execute(select(Substitution.id)).first() is None or field == "keep"
        if field not in (None, "keep"):
            assert caught.value.field == field
        return str(caught.value)


def my_tasks(app, user_id: int) -> list[int]:
    with app.app_context():
        page = inbox.list_page(db.session, plugin_runtime.registry(app), actor_for(user_id), inbox.MINE)
        return sorted(row.application.id for row in page.rows)


def assign(app, application_id: int, user_id: int) -> None:
    with app.app_context():
        db.session.get(Application, application_id).assignee_id = user_id
        db.session.commit()


def as_user(client, username: str) -> None:
    login(client, username)
    client.get("/lang/en")


# -- the period ----------------------------------------------------------------------------------


def test_during_the_period_the_absent_persons_tasks_are_the_substitutes(app, people):
    assigned = file_application(app, RESIDENCE)
    unassigned = file_application(app, RESIDENCE)
    assign(app, assigned, people["registrar"])
    planners_own = my_tasks(app, people["planner"])
    assert assigned not in planners_own and unassigned not in planners_own
    substitution = name(
        app, people["registrar"], people["registrar"], people["planner"], TODAY, TODAY + dt.timedelta(5)
    )
    assert my_tasks(app, people["planner"]) == sorted([*planners_own, assigned, unassigned])
    with app.app_context():
        stand_ins = subs.standing_in_for(db.session, actor_for(people["planner"]))
        assert [(s.absent.user_id, s.department_code) for s in stand_ins] == [(people["registrar"], "civil_registry")]
        # Before the first day and after the last nothing is delegated.
        assert subs.standing_in_for(db.session, actor_for(people["planner"]), TODAY - dt.timedelta(1)) == []
        assert subs.standing_in_for(db.session, actor_for(people["planner"]), TODAY + dt.timedelta(6)) == []
        # Delegation does not chain, and the absent person keeps their own tasks.
        assert subs.standing_in_for(db.session, actor_for(people["registrar"])) == []
    assert assigned in my_tasks(app, people["registrar"])
    with app.test_request_context("/?_l_=en"):
        subs.end_substitution(db.session, actor_for(people["registrar"]), substitution)
        db.session.commit()
    assert my_tasks(app, people["planner"]) == planners_own


def test_the_substitute_acts_on_behalf_of_the_absent_colleague_and_the_history_says_so(app, people, client):
    application_id = file_application(app, RESIDENCE)
    assign(app, application_id, people["registrar"])
    name(app, people["registry_head"], people["registrar"], people["planner"], TODAY, TODAY)
    as_user(client, "alpha.specialist")
    case = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert "/approve" in case  # the substitute is offered the step's actions
    with app.app_context():
        version = db.session.get(Application, application_id).version
    response = client.post(f"/workspace/applications/{application_id}/approve", data={"version": version})
    assert response.status_code == 303
    with app.app_context():
        record = db.session.execute(
            select(TransitionRecord).where(
                TransitionRecord.application_id == application_id, TransitionRecord.action == workflow.APPROVE
            )
        ).scalar_one()
        assert (record.actor_id, record.on_behalf_of_id) == (people["planner"], people["registrar"])
    case = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert "(on behalf of Alpha.Registrar Alpha)" in case
    # Every channel's timeline (the case page, the API) carries it.
    with app.test_request_context("/?_l_=en"):
        from app.domain import casefile

        application = db.session.get(Application, application_id)
        events = casefile.timeline(db.session, application, None, "en", internal=True)
        assert [(e.action, e.on_behalf_of_id) for e in events] == [
            (workflow.SUBMIT, None),
            (workflow.APPROVE, people["registrar"]),
        ]


def test_unassigned_work_of_the_absent_persons_department_is_acted_on_in_their_name(app, people):
    application_id = file_application(app, RESIDENCE)
    name(app, people["registrar"], people["registrar"], people["planner"], TODAY, TODAY)
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        record = workflow.act(
            db.session,
            application,
            action=workflow.RETURN,
            actor=actor_for(people["planner"]),
            expected_version=application.version,
            what_to_fix="The passport scan is unreadable.",
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
        assert (record.on_behalf_of_id, application.status) == (people["registrar"], statuses.RETURNED)


def test_outside_the_period_or_once_ended_the_substitute_may_not_act(app, people):
    application_id = file_application(app, RESIDENCE)
    assign(app, application_id, people["registrar"])
    tomorrow = TODAY + dt.timedelta(1)
    upcoming = name(app, people["registrar"], people["registrar"], people["planner"], tomorrow, tomorrow)
    # An old one, long over (named back then).
    past = TODAY - dt.timedelta(10)
    name(app, people["admin"], people["registrar"], people["planner"], past, past + dt.timedelta(2), today=past)

    def approve() -> str:
        """Why the substitute may not approve (in English); fails when they may."""
        with app.test_request_context("/?_l_=en"):
            application = db.session.get(Application, application_id)
            try:
                workflow.approve(
                    db.session,
                    application,
                    actor=actor_for(people["planner"]),
                    expected_version=application.version,
                    host=plugin_runtime.host(app),
                )
            except NotAllowed as exc:
                return str(exc)
            finally:
                db.session.rollback()
        raise AssertionError("the substitute approved outside the period")

    assert "Only staff of" in approve()
    assert application_id not in my_tasks(app, people["planner"])
    with app.test_request_context("/?_l_=en"):
        subs.end_substitution(db.session, actor_for(people["admin"]), upcoming)
        db.session.commit()
        with pytest.raises(subs.SubstitutionError, match="already ended"):
            subs.end_substitution(db.session, actor_for(people["admin"]), upcoming)
        db.session.rollback()
    running = name(app, people["registrar"], people["registrar"], people["planner"], TODAY, TODAY)
    assert application_id in my_tasks(app, people["planner"])
    with app.test_request_context("/?_l_=en"):
        subs.end_substitution(db.session, actor_for(people["registry_head"]), running)
        db.session.commit()
    assert "Only staff of" in approve()
    assert application_id not in my_tasks(app, people["planner"])
    with app.app_context():
        actions = db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
        assert actions.count("substitution.create") == 3 and actions.count("substitution.end") == 2


# -- who may be named, and by whom -------------------------------------------------------------


def test_who_may_name_whom(app, people):
    week = TODAY + dt.timedelta(6)
    # Same municipality only: another municipality's specialist reads as nobody.
    assert "active colleague of this municipality" in refused(
        app, people["registrar"], people["registrar"], people["beta_specialist"], field="substitute_id"
    )
    # The substitute needs each role of the absent person.
    assert "must hold each role" in refused(
        app, people["registrar"], people["registrar"], people["clerk"], field="substitute_id"
    )
    assert "must hold each role" in refused(
        app, people["registrar"], people["registrar"], people["registry_head"], field="substitute_id"
    )
    assert "someone else" in refused(app, people["registrar"], people["registrar"], people["registrar"])
    # Only oneself, one's head or the municipal admin names a substitute.
    assert "for yourself" in refused(app, people["planner"], people["registrar"], people["planner"], field="absent_id")
    assert "for yourself" in refused(app, people["planning_head"], people["registrar"], people["planner"])
    assert "Choose the colleague" in refused(app, people["admin"], people["beta_specialist"], people["planner"])
    # Dates: not in the past, in order, at most a year.
    assert "past" in refused(
        app, people["registrar"], people["registrar"], people["planner"], starts=TODAY - dt.timedelta(1)
    )
    assert "before the first day" in refused(
        app, people["registrar"], people["registrar"], people["planner"], starts=week, ends=TODAY
    )
    assert "at most" in refused(
        app, people["registrar"], people["registrar"], people["planner"], ends=TODAY + dt.timedelta(400)
    )
    # The head and the admin may.
    first = name(app, people["registry_head"], people["registrar"], people["planner"], TODAY, TODAY + dt.timedelta(2))
    # No two substitutes for one absence, and no substitute who is away themselves.
    assert "already named" in refused(
        app,
        people["admin"],
        people["registrar"],
        people["planner"],
        starts=TODAY + dt.timedelta(2),
        ends=week,
        field="keep",
    )
    other = add_staff(app, app.seeded["alpha"], "alpha.planner2", [SPECIALIST], "urban_planning")
    registrar2 = add_staff(app, app.seeded["alpha"], "alpha.registrar2", [SPECIALIST], "civil_registry")
    tomorrow = TODAY + dt.timedelta(1)
    name(app, people["admin"], people["planner"], other, tomorrow, tomorrow)
    assert "away themselves" in refused(
        app, people["registry_head"], registrar2, people["planner"], starts=TODAY, ends=tomorrow, field="keep"
    )
    with app.app_context():
        assert db.session.get(Substitution, first).created_by_id == people["registry_head"]


def test_a_substitute_who_loses_the_role_stands_in_no_more(app, people):
    application_id = file_application(app, RESIDENCE)
    assign(app, application_id, people["registrar"])
    name(app, people["registrar"], people["registrar"], people["planner"], TODAY, TODAY)
    assert application_id in my_tasks(app, people["planner"])
    with app.app_context():
        from app.models import User

        user = db.session.get(User, people["planner"])
        user.roles = [app.appbuilder.sm.find_role(CLERK)]
        db.session.commit()
    assert application_id not in my_tasks(app, people["planner"])


# -- the page ------------------------------------------------------------------------------------


def test_the_page_names_lists_and_ends_substitutions(app, people, client):
    as_user(client, "alpha.registrar")
    page = client.get("/workspace/substitutes/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Name a substitute" in html
    # The registrar names for themselves only; offered are those who may stand in for them.
    assert f'<option value="{people["registrar"]}" selected>' in html
    assert f'<option value="{people["planner"]}"' in html and f'<option value="{people["clerk"]}"' not in html
    bad = client.post(
        "/workspace/substitutes/add",
        data={
            "absent_id": people["registrar"],
            "substitute_id": people["planner"],
            "starts_on": "2020-01-01",
            "ends_on": "2020-01-02",
        },
    )
    assert bad.status_code == 400 and "The absence cannot start in the past." in bad.get_data(as_text=True)
    garbage = client.post("/workspace/substitutes/add", data={"absent_id": "x", "substitute_id": "²"})
    assert garbage.status_code == 400
    with app.app_context():
        assert db.session.execute(select(Substitution.id)).first() is None
    good = client.post(
        "/workspace/substitutes/add",
        data={
            "absent_id": people["registrar"],
            "substitute_id": people["planner"],
            "starts_on": TODAY.isoformat(),
            "ends_on": (TODAY + dt.timedelta(3)).isoformat(),
            "reason": "Annual leave",
        },
    )
    assert good.status_code == 303
    with app.app_context():
        row = db.session.execute(select(Substitution)).scalar_one()
        assert (row.absent_id, row.substitute_id, row.reason) == (
            people["registrar"],
            people["planner"],
            "Annual leave",
        )
    html = client.get("/workspace/substitutes/").get_data(as_text=True)
    assert f'data-substitution="{row.id}"' in html and "In force" in html
    # The substitute sees it, and that they stand in today; the link to it is in the account menu.
    as_user(client, "alpha.specialist")
    html = client.get("/workspace/substitutes/").get_data(as_text=True)
    assert 'id="standing-in"' in html and f'data-substitution="{row.id}"' in html
    assert 'href="/workspace/substitutes/"' in client.get("/workspace/").get_data(as_text=True)
    # The absent person's head sees it and may end it; urban planning's head does not see it.
    as_user(client, "alpha.registry.head")
    html = client.get("/workspace/substitutes/").get_data(as_text=True)
    assert f'data-substitution="{row.id}"' in html and f'action="/workspace/substitutes/{row.id}/end"' in html
    as_user(client, "alpha.head")
    assert f'data-substitution="{row.id}"' not in client.get("/workspace/substitutes/").get_data(as_text=True)
    # Another municipality's staff cannot see or end it; an auditor may not act.
    as_user(client, "beta.municipal_admin")
    assert f'data-substitution="{row.id}"' not in client.get("/workspace/substitutes/").get_data(as_text=True)
    assert client.post(f"/workspace/substitutes/{row.id}/end").status_code == 404
    as_user(client, "alpha.auditor")
    assert client.post(f"/workspace/substitutes/{row.id}/end").status_code in (302, 403)
    as_user(client, "alpha.registrar")
    assert client.post(f"/workspace/substitutes/{row.id}/end").status_code == 303
    with app.app_context():
        assert db.session.get(Substitution, row.id).cancelled_at is not None
    assert "Ended early" in client.get("/workspace/substitutes/").get_data(as_text=True)


# -- the cost ------------------------------------------------------------------------------------


def test_my_tasks_with_substitutions_cost_a_fixed_number_of_queries(app, people, client):
    for _ in range(3):
        assign(app, file_application(app, RESIDENCE), people["registrar"])
    as_user(client, "alpha.specialist")

    def fetch():
        assert client.get("/workspace/?tab=mine").status_code == 200

    fetch()
    without = count_statements(app, fetch)
    name(app, people["registrar"], people["registrar"], people["planner"], TODAY, TODAY)
    fetch()
    one = count_statements(app, fetch)
    other = add_staff(app, app.seeded["alpha"], "alpha.planner2", [SPECIALIST], "urban_planning")
    name(app, other, other, people["planner"], TODAY, TODAY)
    fetch()
    two = count_statements(app, fetch)
    for _ in range(20):
        assign(app, file_application(app, RESIDENCE), people["registrar"])
    many = count_statements(app, fetch)
    # Substitutions add their look-up (the substitutions, then the absent people's accounts and
    # roles, then their departments: one query each for all of them) and, now that there are
    # rows, the reader's department code once; never a query per row or per colleague.
    assert one - without <= 3
    assert two == one == many
    html = client.get("/workspace/?tab=mine").get_data(as_text=True)
    assert html.count('data-application="') == 23
