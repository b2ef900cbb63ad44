"""The case page's repeated questions are asked once per request (app.domain.memo): who the
reader stands in for, the history; and a remembered answer never outlives a change — a
commit, a rollback, a flush or a bulk statement of the same session drops it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import literal, select, update

from app.domain import memo
from app.domain import substitutes as subs
from app.domain.roles import SPECIALIST
from app.extensions import db
from app.models import Application, Substitution
from app.testing import (
    actor_for,
    add_staff,
    enable_service,
    file_application,
    login,
    office_today,
    recorded_statements,
)

RESIDENCE = "residence-certificate"
TODAY = office_today()


def _substitution_reads(statements: list[str]) -> int:
    # The SELECT of app.domain.substitutes.standing_in_for (substitutions in force, with the
    # absent people's profiles).
    return sum(1 for s in statements if "FROM substitution JOIN staff_profile" in " ".join(s.split()))


def _history_reads(statements: list[str]) -> int:
    return sum(1 for s in statements if " ".join(s.split()).startswith("SELECT transition_record.id"))


@pytest.fixture
def people(app):
    alpha = app.seeded["alpha"]
    enable_service(app, alpha, RESIDENCE)
    return {
        "registrar": add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry"),
        "planner": alpha["users"]["specialist"],
    }


def _name(app, absent: int, substitute: int) -> None:
    with app.test_request_context("/?_l_=en"):
        subs.name_substitute(
            db.session,
            actor_for(absent),
            absent_id=absent,
            substitute_id=substitute,
            starts_on=TODAY,
            ends_on=TODAY + dt.timedelta(days=2),
        )
        db.session.commit()


@pytest.mark.parametrize("standing_in", [False, True], ids=["nobody", "for-the-assignee"])
def test_the_case_page_asks_once_who_the_reader_stands_in_for(app, people, client, standing_in):
    # The planner works in another department than the step's: each action's check (approve,
    # take, reassign, the reasons why not) falls back to the substitutions.
    application_id = file_application(app, RESIDENCE)
    with app.app_context():
        db.session.get(Application, application_id).assignee_id = people["registrar"]
        db.session.commit()
    if standing_in:
        _name(app, people["registrar"], people["planner"])
    login(client, "alpha.specialist")
    path = f"/workspace/applications/{application_id}"

    def fetch():
        # A fresh session, as every browser request has (the test's app context spans requests).
        db.session.remove()
        response = client.get(path)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    fetch()
    statements = recorded_statements(app, fetch)
    assert _substitution_reads(statements) == 1
    assert _history_reads(statements) == 1
    # What the page offers still follows the substitution.
    assert ("/approve" in fetch()) is standing_in


def test_a_commit_between_two_requests_of_one_app_context_is_seen(app, people, client):
    # The test's app context spans the requests: one session, whose transaction a read-only
    # page leaves open. Naming the substitute commits in a session of its own.
    application_id = file_application(app, RESIDENCE)
    with app.app_context():
        db.session.get(Application, application_id).assignee_id = people["registrar"]
        db.session.commit()
    login(client, "alpha.specialist")
    path = f"/workspace/applications/{application_id}"
    assert "/approve" not in client.get(path).get_data(as_text=True)
    with app.app_context():  # a session of its own
        db.session.add(
            Substitution(
                municipality_id=app.seeded["alpha"]["id"],
                absent_id=people["registrar"],
                substitute_id=people["planner"],
                starts_on=TODAY,
                ends_on=TODAY,
            )
        )
        db.session.commit()
    assert "/approve" in client.get(path).get_data(as_text=True)


def test_a_remembered_answer_is_dropped_on_commit(app, people):
    planner, registrar = people["planner"], people["registrar"]
    with app.app_context():
        actor = actor_for(planner)
        assert subs.standing_in_for(db.session, actor) == []
        # Asked again in the same transaction: no query.
        assert recorded_statements(app, lambda: subs.standing_in_for(db.session, actor)) == []
        # A change committed in the same session is seen at once.
        db.session.add(
            Substitution(
                municipality_id=app.seeded["alpha"]["id"],
                absent_id=registrar,
                substitute_id=planner,
                starts_on=TODAY,
                ends_on=TODAY,
            )
        )
        db.session.commit()
        assert [s.absent.user_id for s in subs.standing_in_for(db.session, actor)] == [registrar]
        # A bulk UPDATE (no flush) drops it too, before the commit.
        db.session.execute(update(Substitution).values(cancelled_at=dt.datetime(2026, 1, 1)))
        assert subs.standing_in_for(db.session, actor) == []
        db.session.rollback()
        assert [s.absent.user_id for s in subs.standing_in_for(db.session, actor)] == [registrar]


def test_the_memo_lives_for_one_transaction_and_only_while_nothing_is_written(app):
    with app.app_context():
        session = db.session

        def asked(answer):
            # As the domain asks: a query (which opens the transaction the answer lives in).
            return lambda: session.execute(select(literal(answer))).scalar_one()

        assert memo.remember(session, ("test", 1), asked("first")) == "first"
        assert memo.remember(session, ("test", 1), asked("second")) == "first"
        session.commit()
        assert memo.remember(session, ("test", 1), asked("after commit")) == "after commit"
        session.rollback()
        assert memo.remember(session, ("test", 1), asked("after rollback")) == "after rollback"
        # Another session's commit (a test's own writes) drops it too.
        with app.app_context():
            db.session.execute(select(literal(1)))
            db.session.commit()
        assert memo.remember(session, ("test", 1), asked("after a commit elsewhere")) == "after a commit elsewhere"
        # Changes not flushed yet: not used (the query it saves would flush them first) …
        session.add(
            Substitution(
                municipality_id=app.seeded["alpha"]["id"],
                absent_id=app.seeded["alpha"]["users"]["clerk"],
                substitute_id=app.seeded["alpha"]["users"]["specialist"],
                starts_on=TODAY,
                ends_on=TODAY,
            )
        )
        assert memo.remember(session, ("test", 1), asked("pending")) == "pending"
        # … and a flush drops what was remembered before it.
        assert memo.remember(session, ("test", 1), asked("after flush")) == "after flush"
        assert memo.remember(session, ("test", 1), asked("again")) == "after flush"
        session.rollback()
        # A commit on a bare connection too.
        assert memo.remember(session, ("test", 2), asked("before")) == "before"
        with db.engine.begin() as connection:
            connection.execute(select(literal(1)))
        assert memo.remember(session, ("test", 2), asked("after")) == "after"
        # A request never reads what was remembered before it began (same session: the
        # request runs in this app context).
        assert memo.remember(session, ("test", 2), asked("again")) == "after"
        app.test_client().get("/")
        assert memo.remember(session, ("test", 2), asked("next request")) == "next request"
        session.rollback()
