"""E-participation announcements (app.domain.participation.announcements, the job
``hamaynk.announce``): "voting is open" once per eligible resident even when the job runs
twice or in batches or loses a race, "results are out" after closing with the tally stored,
"have your say" and "summary published" for consultations; nobody else is told."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app.domain import citizen_notices
from app.domain.participation import announcements
from app.extensions import db
from app.models import AuditEvent, Notification
from app.models.base import utcnow
from app.models.participation import Consultation, Poll, PollOption, PollQuestion, Residency, Settlement
from app.testing import make_citizen

HOUR = dt.timedelta(hours=1)


# -- helpers ---------------------------------------------------------------------------------------


def resident(app, email: str, municipality_id: int, *, settlement_id: int | None = None, valid: bool = True) -> int:
    user_id = make_citizen(app, email)
    with app.app_context():
        now = utcnow()
        db.session.add(
            Residency(
                user_id=user_id,
                municipality_id=municipality_id,
                settlement_id=settlement_id,
                method="office",
                document_kind="passport",
                verified_at=now - HOUR,
                expires_at=now + dt.timedelta(days=365) if valid else now - dt.timedelta(minutes=1),
            )
        )
        db.session.commit()
    return user_id


def make_poll(app, municipality_id: int, *, kind: str = "poll", status: str = "published", **fields) -> int:
    now = utcnow()
    with app.app_context():
        poll = Poll(
            municipality_id=municipality_id,
            kind=kind,
            title={"hy": "Խաղահրապարակ", "en": "A new playground"},
            description={"hy": "Նկարագրություն"},
            opens_at=fields.pop("opens_at", now - HOUR),
            closes_at=fields.pop("closes_at", now + HOUR),
            status=status,
            budget=1000 if kind == "budget" else None,
            **fields,
        )
        db.session.add(poll)
        db.session.flush()
        question = PollQuestion(poll_id=poll.id, position=0, text={"hy": "Որտե՞ղ", "en": "Where?"}, max_choices=1)
        db.session.add(question)
        db.session.flush()
        for position, text in enumerate(("Park", "School")):
            db.session.add(
                PollOption(
                    poll_id=poll.id,
                    question_id=question.id,
                    position=position,
                    text={"hy": text, "en": text},
                    cost=400 if kind == "budget" else None,
                )
            )
        db.session.commit()
        return poll.id


def make_consultation(app, municipality_id: int, **fields) -> int:
    now = utcnow()
    with app.app_context():
        consultation = Consultation(
            municipality_id=municipality_id,
            title={"hy": "Որոշման նախագիծ", "en": "Draft decision on parking"},
            body={"hy": "Տեքստ"},
            opens_at=fields.pop("opens_at", now - HOUR),
            closes_at=fields.pop("closes_at", now + HOUR),
            status=fields.pop("status", "published"),
            **fields,
        )
        db.session.add(consultation)
        db.session.commit()
        return consultation.id


def notices(app, kind: str | None = None) -> list[tuple[str, int, str]]:
    with app.app_context():
        stmt = select(Notification.kind, Notification.recipient_user_id, Notification.channel)
        if kind is not None:
            stmt = stmt.where(Notification.kind == kind)
        return sorted((k, u, c) for k, u, c in db.session.execute(stmt).all())


def told(app, kind: str) -> list[int]:
    return sorted({user for _kind, user, _channel in notices(app, kind)})


def run(app, **kwargs) -> announcements.Announced:
    with app.app_context():
        return announcements.announce(db.session, app.config, **kwargs)


def poll_row(app, poll_id: int) -> Poll:
    with app.app_context():
        poll = db.session.get(Poll, poll_id)
        assert poll is not None
        db.session.expunge(poll)
        return poll


@pytest.fixture
def alpha(app):
    return app.seeded["alpha"]


@pytest.fixture
def people(app, alpha):
    """Three verified residents of alpha, one with an expired residency, one of beta, one
    citizen with no residency at all."""
    return {
        "r1": resident(app, "r1@example.am", alpha["id"]),
        "r2": resident(app, "r2@example.am", alpha["id"]),
        "r3": resident(app, "r3@example.am", alpha["id"]),
        "expired": resident(app, "old@example.am", alpha["id"], valid=False),
        "beta": resident(app, "b1@example.am", app.seeded["beta"]["id"]),
        "nobody": make_citizen(app, "nobody@example.am"),
    }


def residents_of_alpha(people) -> list[int]:
    return sorted([people["r1"], people["r2"], people["r3"]])


# -- opening ---------------------------------------------------------------------------------------


def test_opening_notices_go_once_to_each_eligible_resident_even_when_run_twice(app, alpha, people):
    poll_id = make_poll(app, alpha["id"])
    first = run(app)
    second = run(app)
    assert told(app, citizen_notices.POLL_OPENED) == residents_of_alpha(people)
    # In-app and e-mail each, once per person.
    rows = notices(app, citizen_notices.POLL_OPENED)
    assert len(rows) == len(set(rows)) == 2 * 3
    assert first.finished == [("poll", poll_id, announcements.OPENED)]
    assert second.notices == 0 and second.finished == []
    assert poll_row(app, poll_id).opened_notice_at is not None


def test_the_notice_names_the_poll_and_links_to_its_page(app, alpha, people):
    poll_id = make_poll(app, alpha["id"])
    run(app)
    with app.app_context():
        row = db.session.execute(
            select(Notification).where(Notification.recipient_user_id == people["r1"], Notification.channel == "email")
        ).scalar_one()
        # make_citizen writes in Armenian: the Armenian title.
        assert "Խաղահրապարակ" in row.subject
        assert f"/m/alpha/polls/{poll_id}/" in row.body
        assert row.municipality_id == alpha["id"]
        # Optional notices carry the unsubscribe link.
        assert "/notices/unsubscribe/" in row.body


def test_large_audiences_are_told_in_batches_across_runs(app, alpha, people):
    poll_id = make_poll(app, alpha["id"])
    partial = run(app, batch=2, run_limit=2)
    assert partial.people == 2 and partial.finished == []
    assert len(told(app, citizen_notices.POLL_OPENED)) == 2
    assert poll_row(app, poll_id).opened_notice_at is None
    rest = run(app, batch=2, run_limit=2)
    assert rest.finished == [("poll", poll_id, announcements.OPENED)]
    assert told(app, citizen_notices.POLL_OPENED) == residents_of_alpha(people)
    # Each batch left a trace in the audit trail: the event, the last person, how many.
    with app.app_context():
        traces = db.session.execute(
            select(AuditEvent.details).where(AuditEvent.action == announcements.ACTION).order_by(AuditEvent.id)
        ).scalars()
        assert [(d["people"], d["event"]) for d in traces] == [(2, "poll_opened"), (1, "poll_opened")]


def test_a_batch_lost_to_a_concurrent_run_is_rolled_back_and_nobody_is_told_twice(app, alpha, people, monkeypatch):
    poll_id = make_poll(app, alpha["id"])
    run(app, batch=2, run_limit=2)
    # A run that read the progress before the winner's batch committed starts again at 0.
    monkeypatch.setattr(announcements, "_cursor", lambda session, item: 0)
    lost = run(app, batch=2, run_limit=2)
    assert lost.skipped == 1 and lost.notices == 0
    monkeypatch.undo()
    run(app)
    rows = notices(app, citizen_notices.POLL_OPENED)
    assert len(rows) == len(set(rows)) == 2 * 3
    assert poll_row(app, poll_id).opened_notice_at is not None


def test_settlements_limit_who_is_told(app, alpha, people):
    with app.app_context():
        settlement = Settlement(municipality_id=alpha["id"], code="north", name_hy="Հյուսիս")
        db.session.add(settlement)
        db.session.commit()
        settlement_id = settlement.id
    north = resident(app, "north@example.am", alpha["id"], settlement_id=settlement_id)
    make_poll(app, alpha["id"], kind="budget", settlement_ids=[settlement_id])
    run(app)
    assert told(app, citizen_notices.BUDGET_OPENED) == [north]


def test_a_survey_for_any_registered_citizen_tells_the_verified_residents_only(app, alpha, people):
    make_poll(app, alpha["id"], audience="registered")
    run(app)
    assert told(app, citizen_notices.POLL_OPENED) == residents_of_alpha(people)


def test_drafts_cancelled_upcoming_and_closed_polls_announce_no_opening(app, alpha, people):
    now = utcnow()
    make_poll(app, alpha["id"], status="draft")
    make_poll(app, alpha["id"], status="cancelled")
    make_poll(app, alpha["id"], opens_at=now + HOUR, closes_at=now + 2 * HOUR)
    run(app)
    assert notices(app) == []


def test_an_unsubscribed_resident_gets_no_email(app, alpha, people):
    from app.models.portal import CitizenProfile

    with app.app_context():
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == people["r1"])).scalar_one()
        profile.optional_notices = False
        db.session.commit()
    make_poll(app, alpha["id"])
    run(app)
    assert [c for _k, u, c in notices(app, citizen_notices.POLL_OPENED) if u == people["r1"]] in ([], ["inapp"])


# -- closing and results ---------------------------------------------------------------------------


def test_a_closed_poll_is_tallied_then_results_are_announced_once(app, alpha, people):
    poll_id = make_poll(app, alpha["id"])
    run(app)
    with app.app_context():
        poll = db.session.get(Poll, poll_id)
        poll.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    done = run(app)
    again = run(app)
    assert done.closed == [poll_id] and again.closed == []
    stored = poll_row(app, poll_id)
    assert stored.tally is not None and stored.tallied_at is not None and stored.ballots_sha256
    assert stored.results_notice_at is not None
    assert told(app, citizen_notices.RESULTS_PUBLISHED) == residents_of_alpha(people)
    rows = notices(app, citizen_notices.RESULTS_PUBLISHED)
    assert len(rows) == len(set(rows)) == 2 * 3
    with app.app_context():
        body = (
            db.session.execute(
                select(Notification.body).where(
                    Notification.kind == citizen_notices.RESULTS_PUBLISHED, Notification.channel == "email"
                )
            )
            .scalars()
            .first()
        )
        assert f"/m/alpha/polls/{poll_id}/results" in body


def test_a_poll_that_closed_unannounced_gets_its_results_notice_but_no_opening_one(app, alpha, people):
    now = utcnow()
    poll_id = make_poll(app, alpha["id"], opens_at=now - 3 * HOUR, closes_at=now - HOUR)
    run(app)
    assert notices(app, citizen_notices.POLL_OPENED) == []
    assert told(app, citizen_notices.RESULTS_PUBLISHED) == residents_of_alpha(people)
    assert poll_row(app, poll_id).tally is not None


# -- consultations ---------------------------------------------------------------------------------


def test_a_consultation_is_announced_when_it_opens_and_when_its_summary_is_published(app, alpha, people):
    consultation_id = make_consultation(app, alpha["id"])
    run(app)
    run(app)
    assert told(app, citizen_notices.CONSULTATION_OPENED) == residents_of_alpha(people)
    assert notices(app, citizen_notices.SUMMARY_PUBLISHED) == []
    with app.app_context():
        consultation = db.session.get(Consultation, consultation_id)
        consultation.closes_at = utcnow() - dt.timedelta(minutes=1)
        consultation.summary = {"hy": "Ամփոփում", "en": "Summary"}
        consultation.summary_published_at = utcnow()
        db.session.commit()
    run(app)
    run(app)
    assert told(app, citizen_notices.SUMMARY_PUBLISHED) == residents_of_alpha(people)
    rows = notices(app, citizen_notices.SUMMARY_PUBLISHED)
    assert len(rows) == len(set(rows)) == 2 * 3
    with app.app_context():
        row = (
            db.session.execute(
                select(Notification).where(
                    Notification.kind == citizen_notices.SUMMARY_PUBLISHED, Notification.channel == "email"
                )
            )
            .scalars()
            .first()
        )
        assert f"/m/alpha/consultations/{consultation_id}/" in row.body
        assert db.session.get(Consultation, consultation_id).results_notice_at is not None


# -- the job and the command -----------------------------------------------------------------------


def test_the_job_and_the_command_run_it(app, alpha, people):
    from app import jobs

    make_poll(app, alpha["id"])
    assert jobs.get_jobs(app).announce.call_local() == 2 * 3
    make_consultation(app, alpha["id"])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hamaynk", "participation", "announce"])
    assert result.exit_code == 0, result.output
    assert "0 poll(s) closed, 6 notice(s) to 3 person(s), 1 announcement(s) finished" in result.output
    assert told(app, citizen_notices.CONSULTATION_OPENED) == residents_of_alpha(people)
    with app.app_context():
        assert db.session.execute(select(func.count(Notification.id))).scalar_one() == 4 * 3
