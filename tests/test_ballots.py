"""Casting, changing, counting and publishing ballots (app.domain.participation.ballots):
every refusal the issue names is a clear message and changes nothing; the published ballot
list recomputes the published tally; a voter finds their receipt in it; the recount command."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re

import pytest
from flask_babel import force_locale
from poll_kit import (
    budget_spec,
    citizen,
    load,
    make_resident,
    make_settlement,
    options_of,
    poll_spec,
    published,
    question_ids,
)
from sqlalchemy import func, select

from app.domain.formatting import format_amd, format_moment
from app.domain.participation import ballots, polls
from app.domain.participation.ballots import (
    AlreadyVoted,
    ChangeRefused,
    InvalidBallot,
    NotEligible,
    NotOpen,
    OfficeNotAllowed,
    OverBudget,
    ParticipationRefused,
)
from app.extensions import db
from app.models import AuditEvent, Notification
from app.models.base import utcnow
from app.models.participation import Ballot, PollVoter
from app.testing import actor_for, in_armenian

RECEIPT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$")


@pytest.fixture
def alpha(app):
    return app.seeded["alpha"]


def _state() -> tuple[int, ...]:
    """What a refused vote must leave as it was."""
    counts = [db.session.execute(select(func.count()).select_from(m)).scalar_one() for m in (PollVoter, Ballot)]
    counts += [db.session.execute(select(func.count()).select_from(m)).scalar_one() for m in (AuditEvent, Notification)]
    return tuple(counts)


def _vote(poll_id: int, user_id: int, marks=None, **kwargs):
    poll = load(poll_id)
    if marks is None:
        first, second = options_of(poll)[:2] if len(options_of(poll)) > 1 else (options_of(poll)[0], None)
        qids = question_ids(poll)
        marks = {qids[0]: [first[0]]}
        if second is not None:
            marks[qids[1]] = [second[0], second[2]]
    return ballots.cast(db.session, poll, voter_user_id=user_id, choices=marks, **kwargs)


def _refused(poll_id: int, user_id: int, error: type[ParticipationRefused], marks=None, **kwargs) -> str:
    before = _state()
    with force_locale("en"), pytest.raises(error) as caught:
        _vote(poll_id, user_id, marks, **kwargs)
    message = str(caught.value)
    db.session.rollback()
    assert _state() == before, "a refused vote wrote something"
    return message


# -- casting ---------------------------------------------------------------------------------------


def test_a_resident_votes_and_finds_the_receipt_in_the_list(app, alpha):
    poll_id = published(app, alpha)
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        receipt = _vote(poll_id, voter)
        assert RECEIPT.match(receipt.code)
        assert receipt.change_code is None  # the poll does not allow changing
        poll = load(poll_id)
        assert ballots.find_receipt(db.session, poll, receipt.code)
        assert ballots.find_receipt(db.session, poll, receipt.code.lower().replace("-", " "))
        assert not ballots.find_receipt(db.session, poll, "0000-0000-0000-0000-0000")
        assert not ballots.find_receipt(db.session, poll, "<script>")
        assert [r.receipt for r in ballots.ballot_list(db.session, poll)] == [receipt.code]
        assert db.session.execute(select(PollVoter.user_id)).scalars().all() == [voter]


def test_voting_twice_is_refused_and_changes_nothing(app, alpha):
    poll_id = published(app, alpha)
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        _vote(poll_id, voter)
        message = _refused(poll_id, voter, AlreadyVoted)
        assert "already voted" in message


def test_outside_the_window_is_refused(app, alpha):
    now = utcnow()
    poll_id = published(
        app, alpha, poll_spec(opens_at=now + dt.timedelta(hours=1), closes_at=now + dt.timedelta(days=2))
    )
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        message = _refused(poll_id, voter, NotOpen)
        assert "not open yet" in message and "Yerevan time" in message
        # Written as the pages write a window (formatting.MOMENT), in the message's language.
        assert format_moment(load(poll_id).opens_at, "en") in message
        message = _refused(poll_id, voter, NotOpen, now=now + dt.timedelta(days=3))
        assert "closed on" in message and format_moment(load(poll_id).closes_at, "en") in message
        # At the closing minute exactly it is closed.
        _refused(poll_id, voter, NotOpen, now=load(poll_id).closes_at)
        _vote(poll_id, voter, now=now + dt.timedelta(hours=2))


def test_a_cancelled_or_draft_poll_takes_no_votes(app, alpha):
    poll_id = published(app, alpha)
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        admin = actor_for(alpha["users"]["municipal_admin"])
        draft = polls.create(db.session, admin, alpha["id"], poll_spec())
        db.session.commit()
        _refused(draft.id, voter, NotOpen)
        polls.cancel(db.session, admin, load(poll_id), reason="Duplicate")
        db.session.commit()
        assert "cancelled" in _refused(poll_id, voter, NotOpen)


def test_non_residents_and_unverified_citizens_are_refused(app, alpha):
    beta = app.seeded["beta"]
    poll_id = published(app, alpha)
    unverified = citizen(app)
    elsewhere = make_resident(app, beta["id"])
    expired = make_resident(app, alpha["id"], expires_at=utcnow() - dt.timedelta(minutes=1))
    revoked = make_resident(app, alpha["id"], revoked=True)
    with app.test_request_context("/?_l_=en"):
        for user_id in (unverified, elsewhere, expired, revoked):
            message = _refused(poll_id, user_id, NotEligible)
            assert "Only verified residents" in message and "office" in message


def test_staff_cannot_vote_as_citizens(app, alpha):
    poll_id = published(app, alpha)
    with app.test_request_context("/?_l_=en"):
        for key in ("clerk", "municipal_admin"):
            message = _refused(poll_id, alpha["users"][key], NotEligible)
            assert "Staff accounts cannot take part" in message


def test_settlement_polls_take_residents_of_those_settlements_only(app, alpha):
    north = make_settlement(app, alpha["id"], "north")
    south = make_settlement(app, alpha["id"], "south")
    poll_id = published(app, alpha, poll_spec(settlement_ids=[north]))
    southerner = make_resident(app, alpha["id"], settlement_id=south)
    northerner = make_resident(app, alpha["id"], settlement_id=north)
    with app.test_request_context("/?_l_=en"):
        assert "another settlement" in _refused(poll_id, southerner, NotEligible)
        _vote(poll_id, northerner)


def test_a_survey_for_registered_citizens_takes_any_citizen(app, alpha):
    poll_id = published(app, alpha, poll_spec(audience="registered"))
    anyone = citizen(app)
    with app.test_request_context("/?_l_=en"):
        _vote(poll_id, anyone)
        _refused(poll_id, alpha["users"]["head"], NotEligible)


@pytest.mark.parametrize(
    "marks, expected",
    [
        ("too_many", "mark at most 1"),
        ("foreign_option", "no such option"),
        ("unknown_question", "question the poll does not have"),
        ("empty", "Mark at least one"),
        ("garbage", "no such option"),
    ],
)
def test_invalid_marks_are_refused(app, alpha, marks, expected):
    poll_id = published(app, alpha)
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        (q1, q2), (o1, o2) = question_ids(poll), options_of(poll)
        choices = {
            "too_many": {q1: o1},
            "foreign_option": {q1: [o2[0]]},
            "unknown_question": {q1 + 1000: [o1[0]]},
            "empty": {q1: [], q2: []},
            "garbage": {str(q1): ["x"]},
        }[marks]
        assert expected in _refused(poll_id, voter, InvalidBallot, choices)


def test_over_budget_is_refused_with_the_amounts(app, alpha):
    poll_id = published(app, alpha, budget_spec([4_000_000, 3_000_000, 2_500_000], 6_000_000), kind="budget")
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        (question,), (options,) = question_ids(poll), options_of(poll)
        message = _refused(poll_id, voter, OverBudget, {question: [options[0], options[2]]})
        # Written as the ballot page writes amounts (its |amd filter), in the message's language.
        assert format_amd(6_500_000, "en") in message and format_amd(6_000_000, "en") in message
        with force_locale("hy"), pytest.raises(OverBudget) as caught:
            _vote(poll_id, voter, {question: [options[0], options[2]]})
        db.session.rollback()
        assert "6\u00a0500\u00a0000\u00a0֏" in str(caught.value)
        receipt = _vote(poll_id, voter, {question: [options[1], options[2]]})
        assert ballots.find_receipt(db.session, poll, receipt.code)


# -- changing a vote -----------------------------------------------------------------------------------


def test_a_vote_is_changed_only_where_allowed_and_with_both_codes(app, alpha):
    fixed = published(app, alpha)
    changeable = published(app, alpha, poll_spec(allow_change=True))
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        first = _vote(fixed, voter)
        with pytest.raises(ParticipationRefused, match="does not allow"), force_locale("en"):
            ballots.change(db.session, load(fixed), receipt=first.code, change_code="X", choices={})

        receipt = _vote(changeable, voter)
        assert receipt.change_code and RECEIPT.match(receipt.change_code)
        poll = load(changeable)
        (q1, q2), (o1, o2) = question_ids(poll), options_of(poll)
        new_marks = {q1: [o1[1]], q2: [o2[1]]}
        before = _state()
        with pytest.raises(ChangeRefused):
            ballots.change(db.session, poll, receipt=receipt.code, change_code=receipt.code, choices=new_marks)
        assert _state() == before
        changed = ballots.change(
            db.session, poll, receipt=receipt.code, change_code=receipt.change_code.lower(), choices=new_marks
        )
        assert changed.code != receipt.code and changed.change_code not in (None, receipt.change_code)
        assert not ballots.find_receipt(db.session, poll, receipt.code)
        assert ballots.find_receipt(db.session, poll, changed.code)
        # Still one voter and one ballot in that poll; the old codes are spent.
        assert (
            db.session.execute(select(func.count()).select_from(Ballot).where(Ballot.poll_id == poll.id)).scalar_one()
            == 1
        )
        assert (
            db.session.execute(
                select(func.count()).select_from(PollVoter).where(PollVoter.poll_id == poll.id)
            ).scalar_one()
            == 1
        )
        counted = ballots.tally(db.session, poll)
        assert counted.votes(o1[1]) == 1 and counted.votes(o1[0]) == 0
        with pytest.raises(ChangeRefused):
            ballots.change(db.session, poll, receipt=receipt.code, change_code=receipt.change_code, choices=new_marks)
        # Over budget / invalid marks are refused before the codes are looked at.
        with pytest.raises(InvalidBallot):
            ballots.change(db.session, poll, receipt=changed.code, change_code=changed.change_code, choices={q1: o1})
        # Not after closing.
        with pytest.raises(NotOpen):
            ballots.change(
                db.session, poll, receipt=changed.code, change_code=changed.change_code, choices=new_marks,
                now=poll.closes_at,
            )  # fmt: skip


# -- office votes ----------------------------------------------------------------------------------


def test_a_clerk_registers_an_office_vote_without_seeing_it_stored(app, alpha):
    poll_id = published(app, alpha)
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        _refused(poll_id, voter, OfficeNotAllowed, office_actor=actor_for(alpha["users"]["auditor"]))
        _refused(poll_id, voter, OfficeNotAllowed, office_actor=actor_for(app.seeded["beta"]["users"]["clerk"]))
        receipt = _vote(poll_id, voter, office_actor=actor_for(alpha["users"]["clerk"]))
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == ballots.AUDIT_OFFICE_VOTE)
        ).scalar_one()
        assert event.actor_id == alpha["users"]["clerk"]
        assert event.details == {"voter_user_id": voter}
        assert receipt.code not in json.dumps(event.details)


# -- counting, closing, publishing ----------------------------------------------------------------------


def _vote_many(app, alpha, poll_id: int, marks_list) -> list[str]:
    receipts = []
    for marks in marks_list:
        voter = make_resident(app, alpha["id"])
        with app.test_request_context("/?_l_=en"):
            receipts.append(_vote(poll_id, voter, marks).code)
    return receipts


def test_close_stores_a_tally_the_published_list_recomputes(app, alpha):
    poll_id = published(app, alpha)
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        (q1, q2), (o1, o2) = question_ids(poll), options_of(poll)
    receipts = _vote_many(
        app, alpha, poll_id, [{q1: [o1[0]], q2: [o2[0], o2[1]]}, {q1: [o1[0]]}, {q1: [o1[1]], q2: [o2[1]]}]
    )
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        with pytest.raises(Exception, match="voting time has ended"), force_locale("en"):
            ballots.close(db.session, poll, utcnow())
        db.session.rollback()
        after = poll.closes_at + dt.timedelta(minutes=1)
        assert ballots.results_visible(poll, after) and not ballots.results_visible(poll, utcnow())
        assert ballots.close(db.session, poll, after) is True
        db.session.commit()
        stored = dict(poll.tally or {})
        assert stored["ballots"] == 3
        assert stored["questions"][str(q1)] == {str(o1[0]): 2, str(o1[1]): 1}
        assert stored["questions"][str(q2)] == {str(o2[0]): 1, str(o2[1]): 2, str(o2[2]): 0}
        sha, tallied_at = poll.ballots_sha256, poll.tallied_at
        # Idempotent: a second close changes nothing.
        assert ballots.close(db.session, poll, after + dt.timedelta(hours=1)) is False
        db.session.commit()
        assert (poll.ballots_sha256, poll.tallied_at, poll.tally) == (sha, tallied_at, stored)

        published_list = ballots.ballot_list_json(db.session, poll)
        assert hashlib.sha256(published_list.encode()).hexdigest() == sha
        data = json.loads(published_list)
        assert sorted(receipts) == [b["receipt"] for b in data["ballots"]]
        assert ballots.recount(data["ballots"], data["poll"]).to_json() == stored
        assert ballots.tally(db.session, poll).to_json() == stored

        csv_lines = ballots.ballot_list_csv(db.session, poll).splitlines()
        assert csv_lines[0] == f"receipt,question_{q1},question_{q2}"
        assert len(csv_lines) == 4 and all(line.split(",")[0] in receipts for line in csv_lines[1:])


def test_a_tampered_ballot_list_does_not_recount(app, alpha):
    poll_id = published(app, alpha)
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        _vote(poll_id, voter)
        data = json.loads(ballots.ballot_list_json(db.session, load(poll_id)))
        data["ballots"].append(dict(data["ballots"][0]))
        with pytest.raises(ValueError, match="twice"):
            ballots.recount(data["ballots"], data["poll"])
        q1 = str(data["poll"]["questions"][0]["id"])
        data["ballots"][1] = {
            "receipt": "X",
            "choices": {q1: [o["id"] for o in data["poll"]["questions"][0]["options"]]},
        }
        with pytest.raises(ValueError, match="not valid"):
            ballots.recount(data["ballots"], data["poll"])


def test_budget_winners_are_funded_by_votes_while_the_money_lasts(app, alpha):
    # Costs: A 5M, B 3M, C 3M, D 1M, E 2M; budget 8M.
    poll_id = published(
        app, alpha, budget_spec([5_000_000, 3_000_000, 3_000_000, 1_000_000, 2_000_000], 8_000_000), kind="budget"
    )
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        (q,), (opts,) = question_ids(poll), options_of(poll)
    a, b, c, d, _e = opts
    # Votes: A 3, B 2, C 2, D 1, E 0 -> A (5M, 3M left), B (3M, 0 left; tie with C: same cost,
    # B listed first), C does not fit, D does not fit, E had no vote.
    _vote_many(app, alpha, poll_id, [{q: [a, b]}, {q: [a, c]}, {q: [a, b]}, {q: [c, d]}])
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        counted = ballots.tally(db.session, poll)
        assert [counted.votes(o) for o in opts] == [3, 2, 2, 1, 0]
        assert counted.winners == [a, b] and counted.spent == 8_000_000 and counted.budget == 8_000_000


def test_budget_skips_a_project_that_does_not_fit_and_funds_a_cheaper_one(app, alpha):
    poll_id = published(app, alpha, budget_spec([6_000_000, 5_000_000, 2_000_000], 8_000_000), kind="budget")
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        (q,), (opts,) = question_ids(poll), options_of(poll)
    a, b, c = opts
    _vote_many(app, alpha, poll_id, [{q: [a]}, {q: [a, c]}, {q: [b]}, {q: [b]}, {q: [a]}])
    with app.test_request_context("/?_l_=en"):
        counted = ballots.tally(db.session, load(poll_id))
        # A 3 votes (6M, 2M left), B 2 votes does not fit, C 1 vote fits.
        assert counted.winners == [a, c] and counted.spent == 8_000_000


def test_live_results_are_visible_while_open(app, alpha):
    live = published(app, alpha, poll_spec(results_visibility="live"))
    later = published(app, alpha)
    with app.test_request_context("/?_l_=en"):
        assert ballots.results_visible(load(live)) and not ballots.results_visible(load(later))


def test_the_recount_command_checks_the_file_and_its_sha256(app, alpha, tmp_path):
    poll_id = published(app, alpha, budget_spec([1000, 2000], 2500), kind="budget")
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        (q,), (opts,) = question_ids(poll), options_of(poll)
    _vote_many(app, alpha, poll_id, [{q: [opts[0]]}, {q: [opts[0]]}, {q: [opts[1]]}])
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        ballots.close(db.session, poll, poll.closes_at)
        db.session.commit()
        path = tmp_path / "ballots.json"
        path.write_text(ballots.ballot_list_json(db.session, poll), encoding="utf-8")
        sha = poll.ballots_sha256
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hamaynk", "polls", "recount", str(path), "--sha256", sha.upper()])
    assert result.exit_code == 0, result.output
    assert "Ballots: 3" in result.output and f"[{opts[0]}] Ծրագիր 1 (1000 AMD): 2" in result.output
    assert f"Funded, in order: {opts[0]}" in result.output and "Matches the published sha256." in result.output
    result = runner.invoke(args=["hamaynk", "polls", "recount", str(path), "--sha256", "0" * 64])
    assert result.exit_code == 1 and "DOES NOT MATCH" in result.output
    path.write_text("{not json", encoding="utf-8")
    result = runner.invoke(args=["hamaynk", "polls", "recount", str(path)])
    assert result.exit_code != 0 and "not a ballot list" in result.output


def test_the_close_command_counts_once(app, alpha):
    now = utcnow()
    poll_id = published(
        app, alpha, poll_spec(opens_at=now - dt.timedelta(hours=2), closes_at=now + dt.timedelta(minutes=1))
    )
    voter = make_resident(app, alpha["id"])
    with app.test_request_context("/?_l_=en"):
        _vote(poll_id, voter)
        poll = load(poll_id)
        poll_closes = poll.closes_at
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hamaynk", "polls", "close", str(poll_id)])
    ended = in_armenian("Only a published poll whose voting time has ended can be counted.")
    assert result.exit_code != 0 and ended in result.output
    with app.test_request_context("/?_l_=en"):
        poll = load(poll_id)
        poll.closes_at = poll.opens_at + dt.timedelta(minutes=1)  # let it end
        db.session.commit()
    result = runner.invoke(args=["hamaynk", "polls", "close", str(poll_id)])
    assert result.exit_code == 0 and "Counted: poll" in result.output and "1 ballot(s)" in result.output
    result = runner.invoke(args=["hamaynk", "polls", "close", str(poll_id)])
    assert result.exit_code == 0 and "Already counted" in result.output
    assert poll_closes > now
    assert runner.invoke(args=["hamaynk", "polls", "close", "999999"]).exit_code != 0
