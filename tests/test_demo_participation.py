"""The demo's e-participation content (app/demo.py): after `flask hamaynk demo` a newcomer finds
Abovyan's participation pages filled, made through the domain functions, and can take part
at once as the demo citizen; seeding again adds nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import func, select

from app import testing

ABOVYAN = "abovyan"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One seeded demo for the module (the tests only read it, but for the one vote each
    test casts in a process of its own)."""
    import app.demo as demo_module

    app = testing.make_app(tmp_path_factory.mktemp("demo_participation"))
    original_hash = demo_module.generate_password_hash
    # The same hash every time: hashing each demo password is most of the seeding's time.
    known = testing.password_hash(demo_module.DEMO_PASSWORD)
    demo_module.generate_password_hash = lambda _password: known
    try:
        result = app.test_cli_runner().invoke(args=["hamaynk", "demo"])
    finally:
        demo_module.generate_password_hash = original_hash
    assert result.exit_code == 0, result.output
    app.demo_output = result.output
    yield app
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _user_id(app, username: str) -> int:
    with app.app_context():
        return app.appbuilder.sm.find_user(username=username).id


def _abovyan_id() -> int:
    from app.extensions import db
    from app.models import Municipality

    return db.session.execute(select(Municipality.id).where(Municipality.code == ABOVYAN)).scalar_one()


def _polls(kind: str):
    from app.domain import access
    from app.extensions import db
    from app.models.participation import Poll

    stmt = access.within(select(Poll), Poll, _abovyan_id()).where(Poll.kind == kind).order_by(Poll.id)
    return list(db.session.execute(stmt).scalars())


def _signed_in(app, username: str):
    import app.demo as demo_module

    client = app.test_client()
    testing.login(client, username, demo_module.DEMO_PASSWORD)
    return client


def test_seeding_reports_its_progress_and_the_citizen_logins(demo):
    output = demo.demo_output
    assert "e-participation in Abovyan: settlements and verified residents" in output
    assert "e-participation in Abovyan: polls and a budget vote" in output
    assert "citizen@hamaynk.example is a verified resident" in output
    assert "newcomer@hamaynk.example" in output and "gohar@hamaynk.example" in output


def test_the_public_home_lists_the_open_poll_budget_vote_and_consultation(demo):
    import app.demo as demo_module

    page = demo.test_client().get(f"/m/{ABOVYAN}/").get_data(as_text=True)
    for title in (
        demo_module.OPEN_POLL["title"]["hy"],
        demo_module.CLOSED_POLL["title"]["hy"],
        demo_module.BUDGET_VOTE["title"]["hy"],
        demo_module.OPEN_CONSULTATION["title"]["hy"],
        demo_module.CLOSED_CONSULTATION["title"]["hy"],
    ):
        assert title in page
    # A consultation is open for comments, a poll for voting: each card says which.
    english = demo.test_client().get(f"/m/{ABOVYAN}/?_l_=en").get_data(as_text=True)
    consultations = english[english.index('id="consultations-heading"') :]
    assert "Open for comments" in consultations and "Open for voting" not in consultations
    assert "Open for voting" in english[: english.index('id="consultations-heading"')]
    proposals_page = demo.test_client().get(f"/m/{ABOVYAN}/proposals/").get_data(as_text=True)
    for _author, _place, title, *_rest in demo_module.PROPOSALS:
        assert title in proposals_page


def test_abovyan_has_settlements_and_the_open_processes_run_for_weeks(demo):
    from app.domain.participation import processes, residency
    from app.extensions import db
    from app.models.base import utcnow

    with demo.app_context():
        names = {s.name_hy for s in residency.settlements(db.session, _abovyan_id())}
        assert names == {"Աբովյան", "Առինջ", "Գեղաշեն"}
        now = utcnow()
        for poll in (*_polls("poll"), *_polls("budget")):
            if poll.tallied_at is None:
                assert processes.phase(poll, now) == "open"
                # Relative to the seeding, not to a date written in the code.
                assert poll.closes_at - now > dt.timedelta(days=14)


def test_the_demo_citizen_may_take_part_at_once_and_the_newcomer_is_refused(demo):
    import app.demo as demo_module
    from app.domain.participation import ballots, polls, processes, residency
    from app.extensions import db

    citizen = _user_id(demo, demo_module.DEMO_CITIZEN)
    newcomer = _user_id(demo, demo_module.DEMO_NEWCOMER)
    with demo.app_context():
        abovyan = _abovyan_id()
        assert residency.is_resident(db.session, citizen, abovyan)
        assert not residency.is_resident(db.session, newcomer, abovyan)
        [open_poll] = [p for p in _polls("poll") if p.tallied_at is None]
        processes.eligible(db.session, citizen, open_poll)  # no refusal
        with pytest.raises(processes.NotEligible):
            processes.eligible(db.session, newcomer, open_poll)
        view = polls.structure(db.session, open_poll)
        assert [q.max_choices for q in view.questions] == [1, 2]  # single and multiple choice
        poll_id = open_poll.id
        ballots_before = len(ballots.ballot_list(db.session, open_poll))
        assert ballots_before == 3  # the live results show something before anyone tries
        form = {f"q-{view.questions[0].id}": str(view.questions[0].options[0].id)}
    # The newcomer is refused on the page, with nothing written...
    refused = _signed_in(demo, demo_module.DEMO_NEWCOMER).post(f"/m/{ABOVYAN}/polls/{poll_id}/vote", data=form)
    assert refused.status_code == 403
    # ...the demo citizen votes and gets a receipt.
    voted = _signed_in(demo, demo_module.DEMO_CITIZEN).post(f"/m/{ABOVYAN}/polls/{poll_id}/vote", data=form)
    assert voted.status_code == 200
    with demo.app_context():
        open_poll = polls.get(db.session, None, poll_id)
        assert len(ballots.ballot_list(db.session, open_poll)) == ballots_before + 1


def test_the_closed_polls_published_tally_recounts_from_its_ballot_list(demo):
    import app.demo as demo_module
    from app.domain.participation import ballots, polls
    from app.extensions import db

    with demo.app_context():
        [closed] = [p for p in _polls("poll") if p.tallied_at is not None]
        rows = ballots.ballot_list(db.session, closed)
        assert len(rows) == len(demo_module.CLOSED_BALLOTS)
        recounted = ballots.recount(rows, polls.structure(db.session, closed))
        assert recounted == ballots.tally(db.session, closed)  # the stored one
        assert recounted.ballots == len(demo_module.CLOSED_BALLOTS)
        assert ballots.sha256_text(ballots.ballot_list_json(db.session, closed)) == closed.ballots_sha256
        poll_id, sha256 = closed.id, closed.ballots_sha256
    client = demo.test_client()
    base = f"/m/{ABOVYAN}/polls/{poll_id}"
    assert client.get(f"{base}/results").status_code == 200
    downloaded = client.get(f"{base}/ballots.json")
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.get_data()).hexdigest() == sha256
    data = json.loads(downloaded.get_data(as_text=True))
    assert ballots.recount(data["ballots"], data["poll"]) == recounted
    for download in ("results.json", "results.csv", "ballots.csv"):
        assert client.get(f"{base}/{download}").status_code == 200


def test_the_budget_vote_puts_the_feasible_proposals_to_the_vote(demo):
    from app.domain.participation import polls, processes, proposals
    from app.extensions import db

    with demo.app_context():
        [budget] = _polls("budget")
        assert processes.phase(budget) == "open"
        [question] = polls.structure(db.session, budget).questions
        assert len(question.options) >= 2
        for option in question.options:
            # Found feasible at its reviewed cost (what status a proposal has while it is in
            # a vote is the proposals module's to say).
            proposal = proposals.get(db.session, _abovyan_id(), option.proposal_id)
            assert proposal.reviewed_cost == option.cost
            assert proposal.status not in (proposals.OPEN, proposals.REVIEW, proposals.UNFEASIBLE)
        # The budget covers some projects, not all: the voter has to choose.
        assert min(o.cost for o in question.options) <= budget.budget < sum(o.cost for o in question.options)


def test_proposals_stand_in_every_status_with_reasons(demo):
    from app.domain import access
    from app.domain.participation import proposals
    from app.extensions import db
    from app.models.participation import Proposal

    with demo.app_context():
        stmt = access.within(select(Proposal), Proposal, _abovyan_id())
        found = list(db.session.execute(stmt).scalars())
        by_status: dict[str, list[Proposal]] = {}
        for proposal in found:
            by_status.setdefault(proposal.status, []).append(proposal)
            assert proposal.support_count == proposals.count_supports(db.session, proposal.id)
        assert {proposals.OPEN, proposals.REVIEW, proposals.FEASIBLE, proposals.UNFEASIBLE} <= set(by_status)
        assert all(p.status_reason for p in by_status[proposals.UNFEASIBLE])
        assert all(p.reviewed_cost for p in by_status[proposals.FEASIBLE])


def test_consultations_have_threads_supports_and_a_published_summary(demo):
    from app.domain import access
    from app.domain.participation import consultations, processes
    from app.extensions import db
    from app.models.participation import Consultation

    with demo.app_context():
        stmt = access.within(select(Consultation), Consultation, _abovyan_id()).order_by(Consultation.id)
        open_one, closed_one = db.session.execute(stmt).scalars()
        assert processes.phase(open_one) == "open" and open_one.summary_published_at is None
        threads = consultations.thread(db.session, open_one, viewer=None)
        assert any(view.replies for view in threads)
        assert any(view.support_count for view in threads)
        assert processes.phase(closed_one) == "closed"
        assert closed_one.summary_published_at is not None and closed_one.decision_reference
        ids = (open_one.id, closed_one.id)
    for consultation_id in ids:
        assert demo.test_client().get(f"/m/{ABOVYAN}/consultations/{consultation_id}/").status_code == 200


def test_acts_are_audit_logged_and_seeding_again_adds_nothing(demo):
    from app.extensions import db
    from app.models.applications import AuditEvent
    from app.models.participation import Ballot, ConsultationComment, Poll, Proposal, Residency, Settlement

    def counts():
        with demo.app_context():
            return tuple(
                db.session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (Settlement, Residency, Poll, Ballot, ConsultationComment, Proposal)
            )

    with demo.app_context():
        actions = set(db.session.execute(select(AuditEvent.action)).scalars())
    assert {"settlement.create", "residency.verify", "poll.publish", "poll.close", "proposal.review"} <= actions
    before = counts()
    again = demo.test_cli_runner().invoke(args=["hamaynk", "demo"])
    assert again.exit_code == 0, again.output
    assert "e-participation in Abovyan left as it is" in again.output
    assert counts() == before
