"""Citizens' proposals and participatory budgeting (issue 11 point 6): submitting with photos,
support up to the threshold, review by staff, the threshold setting, and budget votes made of
feasible proposals."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from app.domain.participation import proposals as props
from app.domain.storage import get_storage
from app.models import AuditEvent, Municipality, Notification
from app.models.base import utcnow
from app.models.participation import ParticipationFile, Poll, PollOption, Proposal, ProposalSupport, Residency
from app.testing import actor_for, attach, count_statements, login, make_citizen

# The database of the PostgreSQL test (conftest.pg_app).
PG_DATABASE = "hamaynk_test_proposals"


def _db():
    from app.extensions import db

    return db


def resident(app, email: str, code: str = "alpha") -> int:
    """A citizen with a verified residency in ``code``."""
    user_id = make_citizen(app, email, language="en")
    with app.app_context():
        db = _db()
        db.session.add(
            Residency(
                user_id=user_id,
                municipality_id=app.seeded[code]["id"],
                method="office",
                document_kind="passport",
                expires_at=utcnow() + dt.timedelta(days=365),
            )
        )
        db.session.commit()
    return user_id


def threshold(app, value: int, code: str = "alpha") -> None:
    with app.app_context():
        db = _db()
        db.session.get(Municipality, app.seeded[code]["id"]).proposal_support_threshold = value
        db.session.commit()


def proposal(app, author: int, code: str = "alpha", title: str = "A playground", **values) -> int:
    """A proposal filed through the domain (as the portal files it)."""
    with app.test_request_context("/?_l_=en"):
        db = _db()
        row = props.submit(
            db.session,
            get_storage(app),
            actor_for(author),
            app.seeded[code]["id"],
            title=title,
            description=values.get("description", "Swings and a slide for the yard."),
            cost_estimate=values.get("cost", "1 500 000"),
            location=values.get("location", "Abovyan 2"),
        )
        db.session.commit()
        return row.id


def support(app, user_id: int, proposal_id: int) -> bool:
    with app.test_request_context("/?_l_=en"):
        db = _db()
        row = db.session.get(Proposal, proposal_id)
        moved = props.support(db.session, actor_for(user_id), row, config=app.config)
        db.session.commit()
        return moved


def status_of(app, proposal_id: int) -> tuple[str, int]:
    with app.app_context():
        row = _db().session.get(Proposal, proposal_id)
        return row.status, row.support_count


def to_review(app, author: int) -> int:
    threshold(app, 1)
    pid = proposal(app, author)
    supporter = resident(app, f"s{pid}@example.am")
    assert support(app, supporter, pid) is True
    return pid


# -- submitting ------------------------------------------------------------------------------------


def test_a_resident_submits_a_proposal_with_photos_shown_on_its_page(app, client):
    resident(app, "anna@example.am")
    login(client, "anna@example.am")
    page = client.get("/m/alpha/proposals/new?_l_=en")
    assert page.status_code == 200 and b'name="photos"' in page.data
    response = client.post(
        "/m/alpha/proposals/new?_l_=en",
        data={
            "title": "  A   playground ",
            "description": "Swings\r\nand a slide",
            "cost_estimate": "1 500 000",
            "location": "Abovyan 2",
            "photos": [attach("png", "yard.png"), attach("jpeg", "slide.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.data
    with app.app_context():
        row = _db().session.execute(select(Proposal)).scalar_one()
        assert (row.title, row.description, row.cost_estimate, row.status) == (
            "A playground",
            "Swings\nand a slide",
            1_500_000,
            "open",
        )
        photos = (
            _db().session.execute(select(ParticipationFile).where(ParticipationFile.proposal_id == row.id)).scalars()
        )
        photo_ids = [p.id for p in photos]
    assert len(photo_ids) == 2
    assert response.headers["Location"].endswith(f"/m/alpha/proposals/{row.id}")
    shown = client.get(f"/m/alpha/proposals/{row.id}?_l_=en")
    assert b"A playground" in shown.data and b"Withdraw my proposal" in shown.data
    client.post("/logout/")
    # Photos of an open proposal are public.
    image = client.get(f"/m/alpha/proposals/{row.id}/photos/{photo_ids[0]}")
    assert image.status_code == 200 and image.mimetype == "image/png"
    image.close()
    assert client.get(f"/m/alpha/proposals/{row.id}/photos/{photo_ids[0] + 100}").status_code == 404
    # The municipality's page links to its proposals.
    assert b"/m/alpha/proposals/" in client.get("/m/alpha/?_l_=en").data


def test_a_citizen_who_is_not_a_verified_resident_is_refused_with_a_message(app, client):
    make_citizen(app, "visitor@example.am", language="en")
    resident(app, "beta.person@example.am", code="beta")
    for email in ("visitor@example.am", "beta.person@example.am"):
        login(client, email)
        page = client.get("/m/alpha/proposals/new?_l_=en")
        assert b"Only verified residents of Alpha may submit proposals" in page.data
        response = client.post(
            "/m/alpha/proposals/new?_l_=en",
            data={"title": "X", "description": "Y", "cost_estimate": "100"},
        )
        assert response.status_code == 403
        assert b"Only verified residents of this municipality may do this" in response.data
    with app.app_context():
        assert _db().session.execute(select(func.count(Proposal.id))).scalar_one() == 0


def test_staff_and_visitors_do_not_submit(app, client, login_as):
    assert client.get("/m/alpha/proposals/new").status_code == 302  # to sign in
    login_as("municipal_admin")
    assert client.post("/m/alpha/proposals/new", data={"title": "X"}).status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", ""),
        ("title", "x" * 201),
        ("description", "   "),
        ("cost_estimate", "0"),
        ("cost_estimate", "-5"),
        ("cost_estimate", "1e9"),
        ("cost_estimate", "12.5"),
        ("cost_estimate", "9" * 30),
        ("cost_estimate", str(props.MAX_COST + 1)),
        ("location", "x" * 301),
        ("settlement_id", "999999"),
        ("settlement_id", "abc"),
    ],
)
def test_bad_input_is_refused_field_by_field_and_nothing_is_stored(app, client, field, value):
    resident(app, "anna@example.am")
    login(client, "anna@example.am")
    data = {"title": "A playground", "description": "Swings", "cost_estimate": "1000", field: value}
    response = client.post("/m/alpha/proposals/new?_l_=en", data=data)
    assert response.status_code == 400
    assert b"There is a problem" in response.data
    with app.app_context():
        assert _db().session.execute(select(func.count(Proposal.id))).scalar_one() == 0


def test_hostile_requests_change_nothing(app, client):
    resident(app, "anna@example.am")
    login(client, "anna@example.am")
    # Control characters, a file where none is expected, a disguised photo, too many photos.
    assert (
        client.post(
            "/m/alpha/proposals/new", data={"title": "A\x00B", "description": "x", "cost_estimate": "1"}
        ).status_code
        == 400
    )
    disguised = attach("pdf", "photo.png")
    response = client.post(
        "/m/alpha/proposals/new?_l_=en",
        data={"title": "A", "description": "B", "cost_estimate": "1", "photos": [disguised]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and b"photo.png" in response.data
    many = [attach("png", f"p{i}.png") for i in range(6)]
    response = client.post(
        "/m/alpha/proposals/new?_l_=en",
        data={"title": "A", "description": "B", "cost_estimate": "1", "photos": many},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    response = client.post(
        "/m/alpha/proposals/new",
        data={"title": "A", "description": "B", "cost_estimate": "1", "document": [attach("png")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    with app.app_context():
        assert _db().session.execute(select(func.count(Proposal.id))).scalar_one() == 0
        assert _db().session.execute(select(func.count(ParticipationFile.id))).scalar_one() == 0
    # Addresses that name nothing.
    for url in (
        "/m/alpha/proposals/99999",
        "/m/alpha/proposals/99999999999999999999",
        "/m/nowhere/proposals/",
        "/m/alpha/proposals/1/photos/1",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get("/m/alpha/proposals/?status=<script>&before=-1").status_code == 200
    assert client.get("/m/alpha/proposals/?before=99999999999999999999").status_code == 200  # ignored


# -- support -----------------------------------------------------------------------------------------


def test_supports_up_to_the_threshold_move_the_proposal_to_review_and_tell_the_author(app, client):
    threshold(app, 3)
    author = resident(app, "author@example.am")
    pid = proposal(app, author)
    supporters = [resident(app, f"s{i}@example.am") for i in range(4)]
    for index in range(2):
        login(client, f"s{index}@example.am")
        response = client.post(f"/m/alpha/proposals/{pid}/support?_l_=en")
        assert response.status_code == 303
    assert status_of(app, pid) == ("open", 2)
    login(client, "s2@example.am")
    response = client.post(f"/m/alpha/proposals/{pid}/support?_l_=en", follow_redirects=True)
    assert b"goes to the municipality for review" in response.data
    assert status_of(app, pid) == ("review", 3)
    # Support keeps coming while staff review it.
    assert support(app, supporters[3], pid) is False
    assert status_of(app, pid) == ("review", 4)
    with app.app_context():
        notices = (
            _db()
            .session.execute(
                select(Notification).where(
                    Notification.recipient_user_id == author, Notification.kind == "proposal_status"
                )
            )
            .scalars()
        )
        bodies = [n.body for n in notices]
        assert bodies and all("A playground" in b and "Under review" in b for b in bodies)
        assert props.count_supports(_db().session, pid) == 4


def test_one_support_per_person_never_the_authors_own(app, client):
    threshold(app, 10)
    author = resident(app, "author@example.am")
    pid = proposal(app, author)
    resident(app, "fan@example.am")
    login(client, "fan@example.am")
    assert client.post(f"/m/alpha/proposals/{pid}/support").status_code == 303
    again = client.post(f"/m/alpha/proposals/{pid}/support?_l_=en")
    assert again.status_code == 409 and b"You already support this proposal." in again.data
    login(client, "author@example.am")
    own = client.post(f"/m/alpha/proposals/{pid}/support?_l_=en")
    assert own.status_code == 409 and b"You cannot support your own proposal." in own.data
    make_citizen(app, "stranger@example.am", language="en")
    login(client, "stranger@example.am")
    page = client.get(f"/m/alpha/proposals/{pid}?_l_=en")
    assert b"Support this proposal" not in page.data
    refused = client.post(f"/m/alpha/proposals/{pid}/support?_l_=en")
    assert refused.status_code == 409 and b"Only verified residents" in refused.data
    assert status_of(app, pid) == ("open", 1)
    with app.app_context():
        assert props.count_supports(_db().session, pid) == 1


def test_concurrent_supports_count_each_person_once(app):
    _concurrent_supports(app)


def test_concurrent_supports_count_each_person_once_on_postgresql(pg_app):
    _concurrent_supports(pg_app)


def _concurrent_supports(app):
    threshold(app, 5)
    author = resident(app, "author@example.am")
    pid = proposal(app, author)
    people = [resident(app, f"p{i}@example.am") for i in range(8)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(people) * 2)

    def attempt(user_id: int) -> None:
        barrier.wait()
        try:
            support(app, user_id, pid)
            outcomes.append("ok")
        except props.ProposalRefused as exc:
            outcomes.append(type(exc).__name__)
        finally:
            with app.app_context():
                _db().session.remove()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in people * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("ok") == 8 and outcomes.count("AlreadySupported") == 8
    assert status_of(app, pid) == ("review", 8)
    with app.app_context():
        assert props.count_supports(_db().session, pid) == 8
        notices = (
            _db()
            .session.execute(
                select(func.count(Notification.id)).where(
                    Notification.kind == "proposal_status", Notification.channel == "inapp"
                )
            )
            .scalar_one()
        )
        assert notices == 1  # moved to review once


def test_the_author_withdraws_while_open_and_it_leaves_the_public_pages(app, client):
    author = resident(app, "author@example.am")
    pid = proposal(app, author)
    resident(app, "other@example.am")
    login(client, "other@example.am")
    assert client.post(f"/m/alpha/proposals/{pid}/withdraw").status_code == 404
    login(client, "author@example.am")
    assert client.post(f"/m/alpha/proposals/{pid}/withdraw", data={"version": "1"}).status_code == 303
    assert status_of(app, pid)[0] == "withdrawn"
    assert client.get(f"/m/alpha/proposals/{pid}").status_code == 200  # the author still sees it
    client.post("/logout/")
    assert client.get(f"/m/alpha/proposals/{pid}").status_code == 404
    assert b"A playground" not in client.get("/m/alpha/proposals/").data
    assert b"A playground" not in client.get("/m/alpha/proposals/?status=withdrawn").data
    with pytest.raises(props.NotOpen):
        support(app, resident(app, "late@example.am"), pid)


# -- review ------------------------------------------------------------------------------------------


def test_unfeasible_needs_a_reason_then_is_audited_and_the_author_told(app, client, login_as):
    author = resident(app, "author@example.am")
    pid = to_review(app, author)
    login_as("municipal_admin")
    queue = client.get("/admin/proposals/?_l_=en")
    assert queue.status_code == 200 and b"A playground" in queue.data
    refused = client.post(f"/admin/proposals/{pid}/review?_l_=en", data={"decision": "unfeasible", "reason": " "})
    assert refused.status_code == 400
    assert status_of(app, pid)[0] == "review"
    assert client.post(f"/admin/proposals/{pid}/review", data={"decision": "maybe"}).status_code == 400
    done = client.post(
        f"/admin/proposals/{pid}/review?_l_=en",
        data={"decision": "unfeasible", "reason": "The yard is private land.", "version": "2"},
    )
    assert done.status_code == 302
    with app.app_context():
        db = _db()
        row = db.session.get(Proposal, pid)
        assert (row.status, row.status_reason, row.reviewed_by_id) == (
            "unfeasible",
            "The yard is private land.",
            app.seeded["alpha"]["users"]["municipal_admin"],
        )
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == props.AUDIT_REVIEW)).scalar_one()
        assert event.details["reason"] == "The yard is private land." and event.object_id == str(pid)
        bodies = [
            n.body
            for n in db.session.execute(
                select(Notification).where(
                    Notification.recipient_user_id == author, Notification.kind == "proposal_status"
                )
            ).scalars()
        ]
        assert any("Not feasible" in b and "The yard is private land." in b for b in bodies)
    # Decided once: a second decision is refused.
    again = client.post(f"/admin/proposals/{pid}/review", data={"decision": "feasible", "reviewed_cost": "5"})
    assert again.status_code == 409


def test_feasible_with_the_reviewed_cost_heads_review_specialists_do_not(app, client, login_as):
    author = resident(app, "author@example.am")
    pid = to_review(app, author)
    login_as("specialist")
    assert client.get("/admin/proposals/").status_code in (302, 403)
    assert client.post(f"/admin/proposals/{pid}/review", data={"decision": "feasible"}).status_code in (302, 403)
    login_as("auditor")
    assert client.get(f"/admin/proposals/{pid}/").status_code == 200
    assert client.post(f"/admin/proposals/{pid}/review", data={"decision": "feasible"}).status_code in (302, 403)
    login_as("head")
    bad = client.post(f"/admin/proposals/{pid}/review", data={"decision": "feasible", "reviewed_cost": "0"})
    assert bad.status_code == 400
    ok = client.post(f"/admin/proposals/{pid}/review", data={"decision": "feasible", "reviewed_cost": "1 800 000"})
    assert ok.status_code == 302
    with app.app_context():
        row = _db().session.get(Proposal, pid)
        assert (row.status, row.reviewed_cost) == ("feasible", 1_800_000)


def test_another_municipalitys_staff_find_nothing(app, client, login_as):
    author = resident(app, "author@example.am")
    pid = to_review(app, author)
    login_as("municipal_admin", "beta")
    assert client.get(f"/admin/proposals/{pid}/").status_code == 404
    assert (
        client.post(f"/admin/proposals/{pid}/review", data={"decision": "unfeasible", "reason": "x"}).status_code == 404
    )
    assert b"A playground" not in client.get("/admin/proposals/?status=all").data
    # Under another municipality's public address it does not exist either.
    assert client.get(f"/m/beta/proposals/{pid}").status_code == 404
    assert status_of(app, pid)[0] == "review"


# -- the threshold -----------------------------------------------------------------------------------


def test_the_municipal_admin_sets_the_threshold_audited(app, client, login_as):
    login_as("municipal_admin")
    assert client.get("/admin/proposals/settings").status_code == 200
    for bad in ("0", "-1", "abc", "1.5", "9" * 30, str(props.MAX_THRESHOLD + 1)):
        assert client.post("/admin/proposals/settings", data={"threshold": bad}).status_code == 400, bad
    assert client.post("/admin/proposals/settings", data={"threshold": "25"}).status_code == 302
    with app.app_context():
        db = _db()
        assert db.session.get(Municipality, app.seeded["alpha"]["id"]).proposal_support_threshold == 25
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == props.AUDIT_THRESHOLD)).scalar_one()
        assert event.details == {"from": 50, "to": 25}
    login_as("head")
    assert client.post("/admin/proposals/settings", data={"threshold": "2"}).status_code in (302, 403)
    with app.app_context():
        assert _db().session.get(Municipality, app.seeded["alpha"]["id"]).proposal_support_threshold == 25


# -- budget votes ------------------------------------------------------------------------------------


def _feasible(app, author: int, title: str, cost: int, code: str = "alpha") -> int:
    threshold(app, 1, code)
    pid = proposal(app, author, code=code, title=title)
    supporter = resident(app, f"fan{pid}@example.am", code)
    support(app, supporter, pid)
    with app.test_request_context("/?_l_=en"):
        db = _db()
        props.review(
            db.session,
            actor_for(app.seeded[code]["users"]["municipal_admin"]),
            db.session.get(Proposal, pid),
            feasible=True,
            reviewed_cost=cost,
            config=app.config,
        )
        db.session.commit()
    return pid


def test_feasible_proposals_become_a_draft_budget_vote_with_their_reviewed_costs(app, client, login_as):
    author = resident(app, "author@example.am")
    first = _feasible(app, author, "Playground", 1_000_000)
    second = _feasible(app, author, "Street lights", 2_500_000)
    third = _feasible(app, author, "Benches", 300_000)
    login_as("municipal_admin")
    form = client.get("/admin/proposals/budget-vote?_l_=en")
    assert form.status_code == 200 and b"Street lights" in form.data
    data = {
        "proposal_ids": [str(first), str(second)],
        "budget": "3 000 000",
        "title_hy": "Համայնքային բյուջե 2027",
        "title_en": "Community budget 2027",
        "opens_at": "2027-03-01T09:00",
        "closes_at": "2027-03-15T18:00",
    }
    response = client.post("/admin/proposals/budget-vote?_l_=en", data=data)
    assert response.status_code == 302, response.data
    with app.app_context():
        db = _db()
        poll = db.session.execute(select(Poll)).scalar_one()
        assert (poll.kind, poll.status, poll.budget) == ("budget", "draft", 3_000_000)
        assert poll.opens_at == dt.datetime(2027, 3, 1, 5, 0)  # 09:00 in Yerevan is 05:00 UTC
        options = db.session.execute(select(PollOption).order_by(PollOption.position)).scalars().all()
        assert {(o.proposal_id, o.cost, o.text["hy"]) for o in options} == {
            (first, 1_000_000, "Playground"),
            (second, 2_500_000, "Street lights"),
        }
        assert third not in {o.proposal_id for o in options}
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == props.AUDIT_BUDGET_VOTE)).scalar_one()
        assert sorted(event.details["proposal_ids"]) == sorted([first, second])


def test_a_budget_vote_takes_only_this_municipalitys_feasible_proposals(app, client, login_as):
    author = resident(app, "author@example.am")
    first = _feasible(app, author, "Playground", 1_000_000)
    second = _feasible(app, author, "Lights", 1_000_000)
    still_open = proposal(app, author, title="Not reviewed")
    beta_author = resident(app, "beta.author@example.am", "beta")
    theirs = _feasible(app, beta_author, "Beta square", 1_000_000, code="beta")
    base = {
        "budget": "5000000",
        "title_hy": "Բյուջե",
        "opens_at": "2027-03-01T09:00",
        "closes_at": "2027-03-15T18:00",
    }
    login_as("municipal_admin")
    for ids in ([first], [first, still_open], [first, theirs], [first, "abc"], [first, "99999999999999999999"]):
        response = client.post("/admin/proposals/budget-vote", data={**base, "proposal_ids": [str(i) for i in ids]})
        assert response.status_code == 400, ids
    for extra in (
        {"budget": "0"},
        {"budget": "-1"},
        {"title_hy": ""},
        {"closes_at": "2027-02-01T09:00"},
        {"opens_at": "soon"},
    ):
        response = client.post(
            "/admin/proposals/budget-vote", data={**base, **extra, "proposal_ids": [str(first), str(second)]}
        )
        assert response.status_code == 400, extra
    login_as("head")
    assert client.post(
        "/admin/proposals/budget-vote", data={**base, "proposal_ids": [str(first), str(second)]}
    ).status_code in (302, 403)
    with app.app_context():
        assert _db().session.execute(select(func.count(Poll.id))).scalar_one() == 0


def _budget_vote(app, proposal_ids, budget: int) -> int:
    from app.domain.participation import polls

    now = utcnow()
    with app.test_request_context("/?_l_=en"):
        db = _db()
        admin = actor_for(app.seeded["alpha"]["users"]["municipal_admin"])
        poll = props.create_budget_vote(
            db.session,
            admin,
            app.seeded["alpha"]["id"],
            proposal_ids=[str(p) for p in proposal_ids],
            budget=budget,
            opens_at=now - dt.timedelta(hours=1),
            closes_at=now + dt.timedelta(days=1),
            title={"hy": "Բյուջե"},
        )
        polls.publish(db.session, admin, poll)
        db.session.commit()
        return poll.id


def _statuses(app, *ids: int) -> list[str]:
    with app.app_context():
        db = _db()
        return [db.session.get(Proposal, i).status for i in ids]


def test_a_published_budget_vote_holds_its_projects_and_counting_marks_the_funded(app):
    from app.domain.participation import ballots
    from app.models.participation import PollOption, PollQuestion

    author = resident(app, "author@example.am")
    cheap, dear, other = (
        _feasible(app, author, t, c) for t, c in (("Benches", 1_000_000), ("Road", 4_000_000), ("Trees", 500_000))
    )
    poll_id = _budget_vote(app, [cheap, dear], 2_000_000)
    assert _statuses(app, cheap, dear, other) == [props.IN_VOTE, props.IN_VOTE, props.FEASIBLE]
    with app.test_request_context("/?_l_=en"):
        db = _db()
        admin = actor_for(app.seeded["alpha"]["users"]["municipal_admin"])
        # Neither a second vote nor a draft made before can offer a project on a ballot already.
        assert {p.id for p in props.feasible(db.session, app.seeded["alpha"]["id"])} == {other}
        with pytest.raises(props.InvalidProposal):
            props.create_budget_vote(
                db.session, admin, app.seeded["alpha"]["id"], proposal_ids=[str(cheap), str(other)], budget=9_000_000,
                opens_at=utcnow(), closes_at=utcnow() + dt.timedelta(days=1), title={"hy": "Երկրորդ"},
            )  # fmt: skip
        db.session.rollback()
        rows = db.session.execute(select(PollOption).where(PollOption.poll_id == poll_id)).scalars()
        options = {o.proposal_id: o.id for o in rows}
        question = db.session.execute(select(PollQuestion.id).where(PollQuestion.poll_id == poll_id)).scalar_one()
    for n in range(3):
        voter = resident(app, f"voter{n}@example.am")
        with app.test_request_context("/?_l_=en"):
            db = _db()
            ballots.cast(
                db.session, db.session.get(Poll, poll_id), voter_user_id=voter, choices={question: [options[cheap]]}
            )
    with app.test_request_context("/?_l_=en"):
        db = _db()
        poll = db.session.get(Poll, poll_id)
        assert ballots.close(db.session, poll, poll.closes_at + dt.timedelta(minutes=1))
        db.session.commit()
        assert ballots.tally(db.session, poll).winners == [options[cheap]]
    # The funded project is done; the other may go to next year's vote.
    assert _statuses(app, cheap, dear, other) == [props.FUNDED, props.FEASIBLE, props.FEASIBLE]


def test_cancelling_a_published_budget_vote_returns_its_projects(app):
    from app.domain.participation import polls

    author = resident(app, "author@example.am")
    first, second = (_feasible(app, author, t, 1_000_000) for t in ("Benches", "Lights"))
    poll_id = _budget_vote(app, [first, second], 2_000_000)
    assert _statuses(app, first, second) == [props.IN_VOTE, props.IN_VOTE]
    with app.test_request_context("/?_l_=en"):
        db = _db()
        polls.cancel(
            db.session, actor_for(app.seeded["alpha"]["users"]["municipal_admin"]), db.session.get(Poll, poll_id)
        )
        db.session.commit()
    assert _statuses(app, first, second) == [props.FEASIBLE, props.FEASIBLE]


def test_a_draft_whose_project_went_to_another_vote_cannot_be_published(app):
    from app.domain.participation import polls

    author = resident(app, "author@example.am")
    first, second, third = (_feasible(app, author, t, 1_000_000) for t in ("Benches", "Lights", "Trees"))
    now = utcnow()
    with app.test_request_context("/?_l_=en"):
        db = _db()
        admin = actor_for(app.seeded["alpha"]["users"]["municipal_admin"])
        draft = props.create_budget_vote(
            db.session, admin, app.seeded["alpha"]["id"], proposal_ids=[str(first), str(third)], budget=2_000_000,
            opens_at=now, closes_at=now + dt.timedelta(days=1), title={"hy": "Սևագիր"},
        )  # fmt: skip
        db.session.commit()
        draft_id = draft.id
    _budget_vote(app, [first, second], 2_000_000)
    with app.test_request_context("/?_l_=en"):
        db = _db()
        admin = actor_for(app.seeded["alpha"]["users"]["municipal_admin"])
        with pytest.raises(props.polls.InvalidProcess) as refused:
            polls.publish(db.session, admin, db.session.get(Poll, draft_id))
        assert "already in another budget vote" in str(refused.value.errors["questions"])
        db.session.rollback()
        assert db.session.get(Poll, draft_id).status == "draft"
    assert _statuses(app, first, second, third) == [props.IN_VOTE, props.IN_VOTE, props.FEASIBLE]


# -- the list ------------------------------------------------------------------------------------------


def test_the_list_costs_the_same_queries_however_many_proposals_and_pages_by_keyset(app, client):
    authors = [resident(app, f"a{i}@example.am") for i in range(3)]
    for index in range(3):
        proposal(app, authors[index % 3], title=f"Proposal {index}")
    resident(app, "reader@example.am")
    login(client, "reader@example.am")

    def fetch(url="/m/alpha/proposals/?_l_=en"):
        response = client.get(url)
        assert response.status_code == 200
        return response

    fetch()
    few = count_statements(app, fetch)
    for index in range(3, 25):
        proposal(app, authors[index % 3], title=f"Proposal {index}")
    fetch()
    many = count_statements(app, fetch)
    assert many == few
    first = fetch().data
    assert b"Proposal 24" in first and b"Proposal 4" not in first and b"Older proposals" in first
    with app.app_context():
        last_shown = (
            _db().session.execute(select(func.min(Proposal.id)).where(Proposal.title == "Proposal 5")).scalar_one()
        )
    second = fetch(f"/m/alpha/proposals/?before={last_shown}&_l_=en").data
    assert b"Proposal 4" in second and b"Proposal 5" not in second
    assert b"Proposal 1" not in fetch("/m/alpha/proposals/?status=review&_l_=en").data


def test_supports_of_a_withdrawn_or_reviewed_proposal_counted_by_the_database(app):
    """The support table's key refuses a second row for the same person."""
    author = resident(app, "author@example.am")
    pid = proposal(app, author)
    fan = resident(app, "fan@example.am")
    support(app, fan, pid)
    with app.app_context():
        db = _db()
        db.session.add(ProposalSupport(proposal_id=pid, user_id=fan))
        with pytest.raises(Exception):  # noqa: B017 - the database's own integrity error
            db.session.commit()
        db.session.rollback()
