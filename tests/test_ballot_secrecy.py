"""Ballot secrecy as stored (docs/participation.md, "the threat model"): after residents vote
(online and at the office, one of them changing their vote), every table is read, with the
audit log, notifications, sign-in sessions and the captured logs, and nothing links a voter
to a choice: the voter's row and the ballot share no value but the poll, nothing holds a time
of voting, receipts and change codes are nowhere but in the ballot, the order in which
ballots come back is not the order of voting, and on PostgreSQL the transaction id of a
vote is shared by at least min(MIX + 1, n) ballots. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import dataclass

import pytest
from poll_kit import load, make_resident, options_of, poll_spec, published, question_ids
from sqlalchemy import DateTime, inspect, select, text

from app.domain.participation import ballots, polls
from app.extensions import db
from app.models import AuditEvent, User, metadata
from app.models.participation import Ballot, PollVoter
from app.testing import PASSWORD, actor_for, login

PG_DATABASE = "hamaynk_test_ballot_secrecy"
VOTERS = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request):
    if request.param == "sqlite":
        app = request.getfixturevalue("app")
        if db_name(app) != "sqlite":
            pytest.skip("the suite runs on PostgreSQL; the SQLite case runs in the SQLite suite")
        return app
    return request.getfixturevalue("pg_app")


def db_name(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


@dataclass
class Cast:
    voter: int
    receipt: str
    change_code: str | None
    choices: dict


def dump() -> dict[str, set[tuple[str, ...]]]:
    """Every row of every table, each value as text."""
    rows = {}
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows[table.name] = {tuple(str(v) for v in row) for row in conn.execute(select(table))}
    return rows


def vote_in_random_order(app, poll_id: int, voters: list[int]) -> list[Cast]:
    casts = []
    order = voters[:]
    random.shuffle(order)
    clerk = app.seeded["alpha"]["users"]["clerk"]
    with app.app_context():
        poll = load(poll_id)
        (q1, q2), (o1, o2) = question_ids(poll), options_of(poll)
        for n, voter in enumerate(order):
            choices = {q1: [random.choice(o1)], q2: random.sample(o2, random.randint(0, 2))}
            office = actor_for(clerk) if n % 4 == 0 else None
            receipt = ballots.cast(db.session, poll, voter_user_id=voter, choices=choices, office_actor=office)
            casts.append(Cast(voter, receipt.code, receipt.change_code, choices))
        # One voter changes their vote: new receipt, same voter row.
        first = casts[0]
        changed = ballots.change(
            db.session, poll, receipt=first.receipt, change_code=first.change_code, choices={q1: [o1[0]], q2: []}
        )
        casts.append(Cast(first.voter, changed.code, changed.change_code, {q1: [o1[0]], q2: []}))
    return casts


def test_nothing_stored_links_a_voter_to_a_choice(any_app, caplog):
    app = any_app
    alpha = app.seeded["alpha"]
    poll_id = published(app, alpha, poll_spec(allow_change=True))
    voters = [make_resident(app, alpha["id"]) for _ in range(VOTERS)]
    client = app.test_client()
    with app.app_context():
        usernames = [db.session.get_one(User, v).username for v in voters]
    for username in usernames[:3]:
        login(client, username, PASSWORD)  # sign-in sessions exist, as on a real day
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        before = dump()
    casts = vote_in_random_order(app, poll_id, voters)
    with app.app_context():
        after = dump()
        changed = {name for name in after if after[name] != before[name]}
        assert changed == {"poll_voter", "ballot", "audit_event", "audit_chain"}

        # The two tables hold what they should and nothing else: no time, no shared key.
        inspector = inspect(db.engine)
        columns = {
            name: {c["name"]: c["type"] for c in inspector.get_columns(name)} for name in ("poll_voter", "ballot")
        }
        assert set(columns["poll_voter"]) == {"poll_id", "user_id"}
        assert set(columns["ballot"]) == {"receipt", "poll_id", "choices", "change_hash"}
        for table in columns.values():
            assert not any(isinstance(kind, DateTime) for kind in table.values())
        ballot_fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("ballot")}
        assert ballot_fks == {"poll"}
        voter_rows = db.session.execute(select(PollVoter.poll_id, PollVoter.user_id)).all()
        ballot_rows = db.session.execute(select(Ballot.receipt, Ballot.choices, Ballot.change_hash)).all()
        assert sorted(user for _poll, user in voter_rows) == sorted(voters)
        ballot_values = {str(v) for row in ballot_rows for v in row} | {json.dumps(r.choices) for r in ballot_rows}
        assert not {str(user) for _poll, user in voter_rows} & ballot_values

        # Re-writing ballots (the mixing) kept each one's content exactly.
        stored = {row.receipt: row.choices for row in ballots.ballot_list(db.session, load(poll_id))}
        structure = polls.structure(db.session, load(poll_id))
        assert stored == {c.receipt: ballots.check_choices(structure, c.choices) for c in casts[1:]}

        # Receipts, change codes and their hashes are in the ballot table and nowhere else.
        secrets = {c.receipt for c in casts} | {c.change_code for c in casts if c.change_code}
        secrets |= {hashlib.sha256(c.change_code.encode()).hexdigest() for c in casts if c.change_code}
        for name, rows in after.items():
            if name == "ballot":
                continue
            found = {s for row in rows for value in row for s in secrets if s in value}
            assert not found, f"{name} holds a receipt or change code"
        for secret in secrets:
            assert secret not in caplog.text

        # The audit log names the clerk and the voter of an office vote, never what or which ballot.
        new_events = after["audit_event"] - before["audit_event"]
        office = (
            db.session.execute(select(AuditEvent).where(AuditEvent.action == ballots.AUDIT_OFFICE_VOTE)).scalars().all()
        )
        assert len(new_events) == len(office) == (VOTERS + 3) // 4
        for event in office:
            assert set(event.details) == {"voter_user_id"}

        # No notification was written; the sign-in sessions did not change.
        assert after["notification"] == before["notification"]
        assert after["auth_session"] == before["auth_session"]

        # Ballots come back in an order that is not the order of voting.
        voting_order = [c.receipt for c in casts[1:]]  # the changed vote's first receipt is gone
        scanned = list(
            db.session.execute(text("SELECT receipt FROM ballot WHERE poll_id = :p"), {"p": poll_id}).scalars()
        )
        assert sorted(scanned) == sorted(voting_order)
        assert scanned != voting_order
        if db.engine.dialect.name == "sqlite":
            assert scanned == sorted(scanned)  # key order: the random receipt
        else:
            xmins = db.session.execute(
                text("SELECT DISTINCT xmin::text FROM ballot WHERE poll_id = :p"), {"p": poll_id}
            )
            # Fewer ballots than MIX + 1: every vote re-wrote all others, one transaction id for all.
            assert len(xmins.all()) == 1


def test_on_postgresql_a_votes_transaction_id_is_shared_by_many_ballots(pg_app, monkeypatch):
    app = pg_app
    alpha = app.seeded["alpha"]
    mix, count = 3, 14
    monkeypatch.setattr(ballots, "MIX", mix)
    poll_id = published(app, alpha)
    voters = [make_resident(app, alpha["id"]) for _ in range(count)]
    with app.app_context():
        poll = load(poll_id)
        (q1, _q2), (o1, _o2) = question_ids(poll), options_of(poll)
        for voter in voters:
            ballots.cast(db.session, poll, voter_user_id=voter, choices={q1: [random.choice(o1)]})
        voter_xmin = dict(
            db.session.execute(
                text("SELECT user_id, xmin::text::bigint FROM poll_voter WHERE poll_id = :p"), {"p": poll_id}
            ).all()
        )
        ballot_xmins = [
            x
            for (x,) in db.session.execute(
                text("SELECT xmin::text::bigint FROM ballot WHERE poll_id = :p"), {"p": poll_id}
            )
        ]
    last = voter_xmin[voters[-1]]
    assert ballot_xmins.count(last) == min(mix + 1, count)
    # Each voter's ballot is stamped with their transaction or a later one: that set is never
    # smaller than the ballots their transaction wrote.
    for n, voter in enumerate(voters, start=1):
        candidates = [x for x in ballot_xmins if x >= voter_xmin[voter]]
        assert len(candidates) >= min(mix + 1, n), (n, len(candidates))
    # A ballot left alone with some voter's transaction id is no clue: which members of that
    # transaction's group were re-written later was chosen at random, whoever's they were,
    # so each of the group is equally likely to be that voter's.


def test_a_database_error_while_storing_carries_no_ballot_values(app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    alpha = app.seeded["alpha"]
    poll_id = published(app, alpha)
    voter = make_resident(app, alpha["id"])

    def broken(session, poll_id, new, drop=None):
        raise OperationalError(
            "INSERT INTO ballot", {"choices": new["choices"], "receipt": new["receipt"]}, Exception()
        )

    monkeypatch.setattr(ballots, "_mix_and_store", broken)
    with app.app_context():
        poll = load(poll_id)
        (q1, _q2), (o1, _o2) = question_ids(poll), options_of(poll)
        with pytest.raises(ballots.BallotNotStored) as caught:
            ballots.cast(db.session, poll, voter_user_id=voter, choices={q1: [o1[0]]})
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert db.session.execute(select(PollVoter)).first() is None
