"""200 votes at once, with duplicates from the same residents and a few non-residents, each
in a thread with its own session and database connection: every eligible voter is counted
exactly once (one voter row, one ballot), every duplicate is refused as "already voted", the
non-residents as not eligible, and nothing fails otherwise. On SQLite and on PostgreSQL (the
PostgreSQL case is skipped only where no server answers, and fails in CI)."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from poll_kit import citizen, load, make_resident, options_of, published, question_ids
from sqlalchemy import create_engine, event, func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app.database import _sqlite_pragmas
from app.domain.participation import ballots
from app.domain.participation.ballots import AlreadyVoted, NotEligible, Receipt
from app.extensions import db
from app.models.participation import Ballot, Poll, PollVoter

PG_DATABASE = "hamaynk_test_vote_concurrency"
ATTEMPTS = 200
RESIDENTS = 130
STRANGERS = 10
WORKERS = 32


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_app")
    app = request.getfixturevalue("app")
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the suite runs on PostgreSQL; the SQLite case runs in the SQLite suite")
    return app


def test_200_parallel_votes_count_every_eligible_voter_once(any_app):
    app = any_app
    alpha = app.seeded["alpha"]
    poll_id = published(app, alpha)
    residents = [make_resident(app, alpha["id"]) for _ in range(RESIDENTS)]
    strangers = [citizen(app) for _ in range(STRANGERS)]
    attempts = residents + strangers
    attempts += random.choices(residents, k=ATTEMPTS - len(attempts))
    random.shuffle(attempts)
    with app.app_context():
        poll = load(poll_id)
        (q1, q2), (o1, o2) = question_ids(poll), options_of(poll)
        engine = create_engine(db.engine.url, poolclass=NullPool)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas(True))
    start = threading.Barrier(WORKERS)

    def vote(index: int, voter: int):
        if index < WORKERS:
            start.wait()  # the first wave starts together
        with app.app_context(), Session(engine) as session:
            own_poll = session.get_one(Poll, poll_id)
            choices = {q1: [random.choice(o1)], q2: random.sample(o2, 2)}
            try:
                return ballots.cast(session, own_poll, voter_user_id=voter, choices=choices)
            except (AlreadyVoted, NotEligible) as refused:
                return refused

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        outcomes = list(pool.map(vote, range(len(attempts)), attempts))
    engine.dispose()

    receipts = [o.code for o in outcomes if isinstance(o, Receipt)]
    assert len(receipts) == RESIDENTS == len(set(receipts))
    assert sum(isinstance(o, AlreadyVoted) for o in outcomes) == ATTEMPTS - RESIDENTS - STRANGERS
    assert sum(isinstance(o, NotEligible) for o in outcomes) == STRANGERS
    with app.app_context():
        voters = db.session.execute(select(PollVoter.user_id).where(PollVoter.poll_id == poll_id)).scalars().all()
        assert sorted(voters) == sorted(residents)
        count = db.session.execute(select(func.count()).select_from(Ballot).where(Ballot.poll_id == poll_id))
        assert count.scalar_one() == RESIDENTS
        poll = load(poll_id)
        listed = {row.receipt for row in ballots.ballot_list(db.session, poll)}
        assert listed == set(receipts)
        counted = ballots.tally(db.session, poll)
        assert counted.ballots == RESIDENTS
        assert sum(counted.counts[q1].values()) == RESIDENTS and sum(counted.counts[q2].values()) == 2 * RESIDENTS
