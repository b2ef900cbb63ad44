"""Polls and budget votes as the administrator makes them (app.domain.participation.polls)
and what polls and consultations share (app.domain.participation.processes)."""

from __future__ import annotations

import datetime as dt

import pytest
from flask_babel import force_locale
from poll_kit import budget_spec, make_settlement, poll_spec, published, texts
from sqlalchemy import func, select

from app.domain import access
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed
from app.domain.participation import polls, processes
from app.domain.participation.polls import OptionSpec, QuestionSpec
from app.domain.participation.processes import InvalidProcess
from app.extensions import db
from app.models import AuditEvent
from app.models.base import utcnow
from app.models.participation import Poll, PollOption, PollQuestion
from app.testing import actor_for, make_citizen


@pytest.fixture
def alpha(app):
    return app.seeded["alpha"]


def _admin(municipality):
    return actor_for(municipality["users"]["municipal_admin"])


def _rows() -> tuple[int, int, int, int]:
    return tuple(  # type: ignore[return-value]
        db.session.execute(select(func.count()).select_from(m)).scalar_one()
        for m in (Poll, PollQuestion, PollOption, AuditEvent)
    )


def _errors(spec, municipality, kind="poll") -> dict[str, str]:
    before = _rows()
    with force_locale("en"), pytest.raises(InvalidProcess) as caught:
        polls.create(db.session, _admin(municipality), municipality["id"], spec, kind=kind)
    db.session.rollback()
    assert _rows() == before
    return caught.value.errors


def test_an_admin_creates_a_draft_poll_with_questions_in_order(app, alpha):
    with app.app_context():
        spec = poll_spec(opens_at="2030-05-01T09:00", closes_at="2030-05-08 18:30", allow_change=True)
        poll = polls.create(db.session, _admin(alpha), alpha["id"], spec)
        db.session.commit()
        assert (poll.status, poll.kind, poll.allow_change, poll.audience) == ("draft", "poll", True, "residents")
        # Yerevan is UTC+4.
        assert poll.opens_at == dt.datetime(2030, 5, 1, 5, 0) and poll.closes_at == dt.datetime(2030, 5, 8, 14, 30)
        assert processes.local(poll.opens_at).strftime("%Y-%m-%d %H:%M") == "2030-05-01 09:00"
        view = polls.structure(db.session, poll)
        assert [q.text["en"] for q in view.questions] == ["Which park?", "Which days?"]
        assert [q.max_choices for q in view.questions] == [1, 2]
        assert [o.text["en"] for o in view.questions[1].options] == ["Mon", "Wed", "Fri"]
        assert view.option(view.questions[0].options[1].id).text["en"] == "South"
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == polls.AUDIT_CREATE)).scalar_one()
        assert (event.actor_id, event.object_id, event.municipality_id) == (
            alpha["users"]["municipal_admin"],
            str(poll.id),
            alpha["id"],
        )


def test_every_problem_is_named_by_its_field_and_nothing_is_written(app, alpha):
    beta_settlement = make_settlement(app, app.seeded["beta"]["id"], "far")
    with app.app_context():
        spec = poll_spec(
            opens_at="2030-05-02 09:00",
            closes_at="2030-05-01 09:00",
            audience="everyone",
            results_visibility="never",
            settlement_ids=[beta_settlement],
            budget=100,
            questions=[
                QuestionSpec(texts(""), 3, (OptionSpec(texts("only one"), cost=5),)),
                QuestionSpec(texts("ok"), 1, (OptionSpec({"hy": "a\x00b"}), OptionSpec({"en": "no Armenian"}))),
            ],
        )
        spec = polls.PollSpec(**{**spec.__dict__, "title": {"en": "x"}})
        errors = _errors(spec, alpha)
        assert set(errors) == {
            "title",
            "closes_at",
            "audience",
            "results_visibility",
            "settlement_ids",
            "budget",
            "questions.0.text",
            "questions.0.options",
            "questions.0.options.0.cost",
            "questions.0.max_choices",
            "questions.1.options.0.text.hy",
            "questions.1.options.1.text",
        }
        assert errors["title"] == "Enter the text in Armenian."
        assert "control characters" in errors["questions.1.options.0.text.hy"]
        assert errors["closes_at"] == "The poll must close after it opens."
        assert errors["budget"] == "Only a budget vote has a budget."

        assert set(_errors(poll_spec(opens_at="tomorrow", closes_at="2030-13-01 09:00"), alpha)) == {
            "opens_at",
            "closes_at",
        }
        assert (
            "too long"
            in _errors(polls.PollSpec(**{**poll_spec().__dict__, "title": {"hy": "x" * 201}}), alpha)["title.hy"]
        )
        assert set(_errors(poll_spec(questions=[]), alpha)) == {"questions"}
        assert set(_errors(poll_spec(audience="registered", settlement_ids=[1]), alpha)) == {"settlement_ids"}


def test_a_budget_vote_has_one_question_costs_and_a_budget(app, alpha):
    with app.app_context():
        errors = _errors(budget_spec([100, 0], 0), alpha, kind="budget")
        assert set(errors) == {"budget", "questions.0.options.1.cost"}
        two = poll_spec(budget=100)
        assert "exactly one question" in _errors(two, alpha, kind="budget")["questions"]
        errors = _errors(budget_spec([100], 1000), alpha, kind="nonsense")
        assert set(errors) == {"kind"}
        foreign_proposal = budget_spec([100], 1000)
        question = foreign_proposal.questions[0]
        bad = QuestionSpec(question.text, 1, (OptionSpec(texts("p"), cost=10, proposal_id=999_999),))
        errors = _errors(polls.PollSpec(**{**foreign_proposal.__dict__, "questions": (bad,)}), alpha, kind="budget")
        assert set(errors) == {"questions.0.options.0.proposal_id"}
        poll = polls.create(db.session, _admin(alpha), alpha["id"], budget_spec([100, 250], 300), kind="budget")
        view = polls.structure(db.session, poll)
        # Any number of projects may be marked; the budget is the limit.
        assert view.questions[0].max_choices == 2 and [o.cost for o in view.questions[0].options] == [100, 250]


def test_only_the_municipalitys_administrators_make_polls(app, alpha):
    citizen = make_citizen(app, "someone@test.example")
    with app.app_context():
        for actor in (
            actor_for(alpha["users"]["clerk"]),
            actor_for(alpha["users"]["head"]),
            actor_for(app.seeded["beta"]["users"]["municipal_admin"]),
            actor_for(app.seeded["sysadmin"]),
            actor_for(citizen),
            None,
        ):
            with pytest.raises(NotAllowed):
                polls.create(db.session, actor, alpha["id"], poll_spec())
        assert _rows()[0] == 0


def test_a_draft_is_updated_under_its_version_and_a_published_poll_is_not(app, alpha):
    with app.app_context():
        admin = _admin(alpha)
        poll = polls.create(db.session, admin, alpha["id"], poll_spec())
        db.session.commit()
        version = poll.version
        one_question = poll_spec(
            questions=[QuestionSpec(texts("Նոր"), 1, (OptionSpec(texts("x")), OptionSpec(texts("y"))))]
        )
        with pytest.raises(ChangedMeanwhile):
            polls.update(db.session, admin, poll, one_question, expected_version=version - 1)
        polls.update(db.session, admin, poll, one_question, expected_version=version)
        db.session.commit()
        assert poll.version == version + 1
        view = polls.structure(db.session, poll)
        assert [q.text["hy"] for q in view.questions] == ["Նոր"] and len(view.questions[0].options) == 2
        assert db.session.execute(select(func.count()).select_from(PollOption)).scalar_one() == 2
        with pytest.raises(NotAllowed):
            polls.update(
                db.session, actor_for(alpha["users"]["clerk"]), poll, one_question, expected_version=poll.version
            )
        polls.publish(db.session, admin, poll, expected_version=poll.version)
        db.session.commit()
        with pytest.raises(InvalidAction):
            polls.update(db.session, admin, poll, one_question, expected_version=poll.version)
        with pytest.raises(InvalidAction):
            polls.publish(db.session, admin, poll)
        actions = db.session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()
        assert [a for a in actions if a.startswith("poll.")] == ["poll.create", "poll.update", "poll.publish"]


def test_publishing_needs_a_closing_time_ahead_and_cancelling_is_audited(app, alpha):
    now = utcnow()
    with app.app_context():
        admin = _admin(alpha)
        late = polls.create(
            db.session,
            admin,
            alpha["id"],
            poll_spec(opens_at=now - dt.timedelta(days=2), closes_at=now - dt.timedelta(days=1)),
        )
        with force_locale("en"), pytest.raises(InvalidProcess) as caught:
            polls.publish(db.session, admin, late)
        assert "closing time has passed" in caught.value.errors["closes_at"]
        polls.cancel(db.session, admin, late, reason="Wrong dates")
        db.session.commit()
        assert late.status == "cancelled" and processes.phase(late) == "cancelled"
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == polls.AUDIT_CANCEL)).scalar_one()
        assert event.details == {"reason": "Wrong dates"}
        with pytest.raises(InvalidProcess):
            polls.cancel(db.session, admin, polls.create(db.session, admin, alpha["id"], poll_spec()), reason="\x07")


def test_get_shows_drafts_to_their_staff_only(app, alpha):
    citizen = make_citizen(app, "reader@test.example")
    public_id = published(app, alpha)
    with app.app_context():
        draft = polls.create(db.session, _admin(alpha), alpha["id"], poll_spec())
        db.session.commit()
        assert polls.get(db.session, actor_for(alpha["users"]["auditor"]), draft.id) is draft
        assert polls.get(db.session, actor_for(app.seeded["sysadmin"]), draft.id) is draft
        for actor in (actor_for(app.seeded["beta"]["users"]["municipal_admin"]), actor_for(citizen), None):
            with pytest.raises(access.NotFound):
                polls.get(db.session, actor, draft.id)
            assert polls.get(db.session, actor, public_id).id == public_id
        for hostile in ("1 OR 1=1", -1, 2**40, None, True):
            with pytest.raises(access.NotFound):
                polls.get(db.session, None, hostile)


def test_phase_follows_status_and_window():
    poll = Poll(status="draft", opens_at=dt.datetime(2030, 1, 1), closes_at=dt.datetime(2030, 1, 2))
    assert processes.phase(poll, dt.datetime(2030, 1, 1, 12)) == "draft"
    poll.status = "published"
    assert processes.phase(poll, dt.datetime(2029, 12, 31)) == "upcoming"
    assert processes.phase(poll, dt.datetime(2030, 1, 1)) == "open"
    assert processes.phase(poll, dt.datetime(2030, 1, 2)) == "closed"
    poll.status = "cancelled"
    assert processes.phase(poll, dt.datetime(2030, 1, 1, 12)) == "cancelled"


def test_local_times_are_read_and_shown_in_yerevan_time():
    assert processes.parse_local("2030-01-01T00:30") == dt.datetime(2029, 12, 31, 20, 30)
    assert processes.parse_local(" 2030-07-01 12:00 ") == dt.datetime(2030, 7, 1, 8, 0)
    assert processes.parse_local(dt.datetime(2030, 7, 1, 12, 0, tzinfo=dt.UTC)) == dt.datetime(2030, 7, 1, 12, 0)
    for bad in ("", "yesterday", "2030-02-30 10:00", "9" * 100):
        with pytest.raises(ValueError):
            processes.parse_local(bad)
    assert processes.local(dt.datetime(2030, 1, 1, 20, 0)).strftime("%Y-%m-%d %H:%M") == "2030-01-02 00:00"


def test_clean_texts(app):
    with app.app_context(), force_locale("en"):
        assert processes.clean_texts({"hy": " Բարև ", "en": "", "ru": None}, field="t", max_len=10) == {"hy": "Բարև"}
        assert processes.clean_texts({}, field="t", max_len=10, required=False) == {}
        for bad, key in (
            ({"en": "x"}, "t"),
            ({"hy": "x" * 11}, "t.hy"),
            ({"hy": 5}, "t.hy"),
            ({"fr": "x"}, "t"),
            ("x", "t"),
        ):
            with pytest.raises(InvalidProcess) as caught:
                processes.clean_texts(bad, field="t", max_len=10)
            assert key in caught.value.errors


def test_the_public_home_lists_published_polls_and_budgets(app, alpha):
    now = utcnow()
    open_poll = published(app, alpha)
    upcoming = published(
        app, alpha, poll_spec(opens_at=now + dt.timedelta(days=1), closes_at=now + dt.timedelta(days=2))
    )
    budget = published(app, alpha, budget_spec([10, 20], 25), kind="budget")
    published(app, app.seeded["beta"])
    with app.app_context():
        admin = _admin(alpha)
        polls.create(db.session, admin, alpha["id"], poll_spec())  # draft
        cancelled = polls.create(db.session, admin, alpha["id"], poll_spec())
        polls.publish(db.session, admin, cancelled)
        polls.cancel(db.session, admin, cancelled)
        db.session.commit()
        listed = processes.public_processes(db.session, alpha["id"])
        assert [p.id for p in listed.polls] == [open_poll, upcoming]
        assert [p.id for p in listed.budgets] == [budget]
        assert listed.consultations == []
