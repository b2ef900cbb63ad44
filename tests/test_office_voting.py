"""Front-office voting (app.office.voting, app.domain.participation.office_votes): a clerk
registers the vote of a verified resident at the office, once, through a signed short-lived
ballot booth; refusals say why and write nothing; no screen, audit event or log line puts a
choice or a receipt next to a person; another municipality's clerk finds nothing."""

from __future__ import annotations

import html as html_lib
import logging
import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from test_participation_notices import make_poll, resident

from app.domain.participation import office_votes
from app.extensions import db
from app.models import AuditEvent, Notification
from app.models.participation import Ballot, PollOption, PollVoter
from app.testing import PASSWORD, login, make_citizen


@pytest.fixture
def alpha(app):
    return app.seeded["alpha"]


@pytest.fixture
def poll_id(app, alpha):
    return make_poll(app, alpha["id"])


@pytest.fixture
def voter(app, alpha):
    return resident(app, "anna@example.am", alpha["id"])


@pytest.fixture
def clerk(client, app):
    login(client, "alpha.clerk", PASSWORD)
    return app.seeded["alpha"]["users"]["clerk"]


def options(app, poll_id: int) -> tuple[int, list[int]]:
    with app.app_context():
        rows = db.session.execute(
            select(PollOption.question_id, PollOption.id).where(PollOption.poll_id == poll_id).order_by(PollOption.id)
        ).all()
    return rows[0][0], [r[1] for r in rows]


def open_booth(client, poll_id: int, voter_id: int, token: str | None = None):
    data = {"voter_id": str(voter_id)} | ({"t": token} if token is not None else {})
    return client.post(f"/office/voting/{poll_id}/booth?_l_=en", data=data)


def found_token(client, poll_id: int, query: str, voter_id: int) -> str:
    """The person token the search result for ``voter_id`` posts with "open the ballot booth"."""
    page = client.get(f"/office/voting/{poll_id}/", query_string={"q": query}).get_data(as_text=True)
    match = re.search(rf'name="voter_id" value="{voter_id}">\s*<input type="hidden" name="t" value="([^"]+)"', page)
    assert match, "the search result carries no person token"
    return html_lib.unescape(match.group(1))


def token_of(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "the booth carries no token"
    return match.group(1)


def counts(app, poll_id: int) -> tuple[int, int]:
    with app.app_context():
        voters = db.session.execute(select(func.count()).where(PollVoter.poll_id == poll_id)).scalar_one()
        ballots = db.session.execute(select(func.count()).where(Ballot.poll_id == poll_id)).scalar_one()
    return voters, ballots


def audit_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(AuditEvent.id))).scalar_one()


def vote(client, app, poll_id: int, voter_id: int, option_index: int = 0):
    booth = open_booth(client, poll_id, voter_id)
    assert booth.status_code == 200, booth.get_data(as_text=True)
    question, option_ids = options(app, poll_id)
    return client.post(
        f"/office/voting/{poll_id}/cast?_l_=en",
        data={"token": token_of(booth.get_data(as_text=True)), f"q-{question}": str(option_ids[option_index])},
    )


def receipt_code(html: str) -> str:
    match = re.search(r'id="receipt-code">([^<]+)<', html)
    assert match, html
    return match.group(1).strip()


# -- the happy path --------------------------------------------------------------------------------


def test_a_clerk_registers_the_vote_of_a_verified_resident(app, client, clerk, poll_id, voter):
    start = client.get("/office/voting/?_l_=en")
    assert start.status_code == 200 and "A new playground" in start.get_data(as_text=True)
    found = client.get(f"/office/voting/{poll_id}/?q=anna@example.am&_l_=en")
    assert f'name="voter_id" value="{voter}"' in found.get_data(as_text=True)

    booth = open_booth(client, poll_id, voter)
    html = booth.get_data(as_text=True)
    assert booth.status_code == 200 and booth.headers["Cache-Control"] == "no-store"
    assert "Turn the screen to the voter" in html
    # The booth names no one.
    assert "anna@example.am" not in html and "Anna" not in html

    question, option_ids = options(app, poll_id)
    cast = client.post(
        f"/office/voting/{poll_id}/cast?_l_=en", data={"token": token_of(html), f"q-{question}": str(option_ids[1])}
    )
    page = cast.get_data(as_text=True)
    assert cast.status_code == 200 and cast.headers["Cache-Control"] == "no-store"
    code = receipt_code(page)
    assert "anna@example.am" not in page and "Anna" not in page
    assert counts(app, poll_id) == (1, 1)
    with app.app_context():
        ballot = db.session.execute(select(Ballot).where(Ballot.poll_id == poll_id)).scalar_one()
        assert ballot.receipt == code and ballot.choices == {str(question): [option_ids[1]]}
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == office_votes.AUDIT_ACTION)
        ).scalar_one()
        # Who, which poll, which voter; nothing of what.
        assert event.actor_id == app.seeded["alpha"]["users"]["clerk"]
        assert (event.object_type, event.object_id) == ("poll", str(poll_id))
        assert event.details == {"voter_user_id": voter}


def test_a_second_vote_is_refused_and_changes_nothing(app, client, clerk, poll_id, voter):
    assert vote(client, app, poll_id, voter).status_code == 200
    before = audit_count(app)
    again = open_booth(client, poll_id, voter)
    assert again.status_code == 409
    assert "already voted" in again.get_data(as_text=True)
    assert counts(app, poll_id) == (1, 1) and audit_count(app) == before


def test_a_second_cast_with_an_old_booth_is_refused(app, client, clerk, poll_id, voter):
    booth = open_booth(client, poll_id, voter)
    token = token_of(booth.get_data(as_text=True))
    question, option_ids = options(app, poll_id)
    data = {"token": token, f"q-{question}": str(option_ids[0])}
    assert client.post(f"/office/voting/{poll_id}/cast?_l_=en", data=data).status_code == 200
    before = audit_count(app)
    second = client.post(f"/office/voting/{poll_id}/cast?_l_=en", data={**data, f"q-{question}": str(option_ids[1])})
    assert second.status_code == 409 and "already voted" in second.get_data(as_text=True)
    assert counts(app, poll_id) == (1, 1) and audit_count(app) == before


# -- who may not vote ------------------------------------------------------------------------------


def test_an_unverified_citizen_is_refused_with_a_clear_message(app, client, clerk, poll_id):
    nobody = make_citizen(app, "nobody@example.am")
    before = audit_count(app)
    refused = open_booth(client, poll_id, nobody, found_token(client, poll_id, "nobody@example.am", nobody))
    assert refused.status_code == 409
    assert "Only verified residents of this community can take part" in refused.get_data(as_text=True)
    assert 'name="token"' not in refused.get_data(as_text=True)
    # The way to verify them carries the search's token, so their page opens.
    link = re.search(rf'href="(/office/residents/person/{nobody}\?t=[^"]+)"', refused.get_data(as_text=True))
    assert link and client.get(html_lib.unescape(link.group(1))).status_code == 200
    assert counts(app, poll_id) == (0, 0) and audit_count(app) == before


def same_page(response) -> str:
    """The page without what differs on every response (the script nonce)."""
    return re.sub(r'nonce="[^"]*"', "", response.get_data(as_text=True))


def test_a_non_resident_is_not_revealed_by_id(app, client, clerk, poll_id):
    """Posting a counted-up voter id (no search) answers exactly as for no account at all."""
    nobody = make_citizen(app, "nobody@example.am", name="Secret Name")
    beta_resident = resident(app, "beta@example.am", app.seeded["beta"]["id"])
    missing = open_booth(client, poll_id, 999999)
    assert missing.status_code == 404
    for person in (nobody, beta_resident):
        for token in (None, "", "forged"):
            answer = open_booth(client, poll_id, person, token)
            assert (answer.status_code, same_page(answer)) == (404, same_page(missing))
    # Another person's token does not open this one.
    other = found_token(client, poll_id, "beta@example.am", beta_resident)
    answer = open_booth(client, poll_id, nobody, other)
    assert (answer.status_code, same_page(answer)) == (404, same_page(missing))
    assert "Secret Name" not in missing.get_data(as_text=True)
    assert counts(app, poll_id) == (0, 0)


def test_another_municipalitys_resident_is_refused(app, client, clerk, poll_id):
    beta_resident = resident(app, "beta@example.am", app.seeded["beta"]["id"])
    refused = open_booth(client, poll_id, beta_resident, found_token(client, poll_id, "beta@example.am", beta_resident))
    assert refused.status_code == 409
    assert "Only verified residents of this community can take part" in refused.get_data(as_text=True)
    assert counts(app, poll_id) == (0, 0)


def test_a_staff_account_or_a_forged_person_is_refused(app, client, clerk, poll_id):
    assert open_booth(client, poll_id, app.seeded["alpha"]["users"]["specialist"]).status_code == 404
    assert open_booth(client, poll_id, 999999).status_code == 404
    assert client.post(f"/office/voting/{poll_id}/booth", data={"voter_id": "1 OR 1=1"}).status_code == 404
    assert counts(app, poll_id) == (0, 0)


def test_a_closed_poll_takes_no_office_vote(app, client, clerk, alpha, voter):
    import datetime as dt

    from app.models.base import utcnow

    now = utcnow()
    closed = make_poll(app, alpha["id"], opens_at=now - dt.timedelta(hours=3), closes_at=now - dt.timedelta(hours=1))
    refused = open_booth(client, closed, voter)
    assert refused.status_code == 409 and "closed on" in refused.get_data(as_text=True)
    assert "A new playground" not in client.get("/office/voting/").get_data(as_text=True)


# -- booth tokens ----------------------------------------------------------------------------------


def _cast_with(client, app, poll_id: int, token: str):
    question, option_ids = options(app, poll_id)
    return client.post(
        f"/office/voting/{poll_id}/cast?_l_=en", data={"token": token, f"q-{question}": str(option_ids[0])}
    )


def test_forged_expired_and_other_poll_tokens_are_refused(app, client, clerk, alpha, poll_id, voter):
    secret = app.config["SECRET_KEY"]
    before = audit_count(app)
    other_poll = make_poll(app, alpha["id"])

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - (office_votes.BOOTH_MINUTES + 1) * 60

    claims = {"p": poll_id, "v": voter, "c": clerk}
    tokens = {
        "forged": URLSafeTimedSerializer("not the secret", salt=office_votes.SALT).dumps(claims),
        "other salt": URLSafeTimedSerializer(secret, salt="hamaynk.something-else").dumps(claims),
        "expired": URLSafeTimedSerializer(secret, salt=office_votes.SALT, signer=Earlier).dumps(claims),
        "other poll": office_votes.booth_token(secret, poll_id=other_poll, voter_user_id=voter, clerk_user_id=clerk),
        "other clerk": office_votes.booth_token(
            secret, poll_id=poll_id, voter_user_id=voter, clerk_user_id=alpha["users"]["municipal_admin"]
        ),
        "garbage": "x" * 40,
        "empty": "",
    }
    for name, token in tokens.items():
        response = _cast_with(client, app, poll_id, token)
        assert response.status_code == 400, name
        assert "This ballot booth is no longer valid" in response.get_data(as_text=True), name
    assert counts(app, poll_id) == (0, 0) and counts(app, other_poll) == (0, 0)
    assert audit_count(app) == before


def test_a_bad_ballot_is_refused_at_the_booth_and_nothing_is_written(app, client, clerk, poll_id, voter):
    booth = open_booth(client, poll_id, voter)
    token = token_of(booth.get_data(as_text=True))
    question, option_ids = options(app, poll_id)
    for data in (
        {f"q-{question}": "99999999"},
        {f"q-{question}": "abc"},
        {f"q-{question}": [str(option_ids[0]), str(option_ids[1])]},
        {},
    ):
        refused = client.post(f"/office/voting/{poll_id}/cast?_l_=en", data={"token": token, **data})
        assert refused.status_code == 400, data
        html = refused.get_data(as_text=True)
        assert 'id="error-summary"' in html and 'name="token"' in html
        # The marks are not shown back.
        assert "checked" not in html
    assert counts(app, poll_id) == (0, 0)


# -- the booth's page: bare, and the portal's own ballot ---------------------------------------------


def test_the_booth_has_no_staff_menu_and_no_way_out(app, client, clerk, poll_id, voter):
    """The screen turned to the voter: no navbar (inbox, residents, profile, sign-out), no link
    anywhere but to its own fields; its language, one <main> and one heading kept."""
    html = open_booth(client, poll_id, voter).get_data(as_text=True)
    assert '<html lang="en">' in html and html.count("<main") == 1 and html.count("<h1") == 1
    for staff in ("/logout", "/office/residents", "/office/inbox", "/users/userinfo", "navbar", "/lang/"):
        assert staff not in html, staff
    links = re.findall(r'<a\s[^>]*href="([^"]*)"', html)
    assert all(href.startswith("#") for href in links), links
    # Its only form casts the ballot.
    assert re.findall(r'<form[^>]*action="([^"]+)"', html) == [f"/office/voting/{poll_id}/cast"]
    # The receipt the voter reads next is on the same bare screen: its one link is the
    # clerk's "Done", back to the office voting page.
    receipt = vote(client, app, poll_id, voter).get_data(as_text=True)
    assert receipt_code(receipt) and receipt.count("<main") == 1
    for staff in ("/logout", "/office/residents", "/office/inbox", "/users/userinfo", "navbar", "/lang/"):
        assert staff not in receipt, staff
    assert re.findall(r'<a\s[^>]*href="([^"]*)"', receipt) == ["/office/voting/"]


def test_a_budget_booth_is_the_online_ballot(app, client, clerk, alpha, voter):
    """Any two projects exceed the budget: the booth shows the budget, the running total and
    what is left, with the online hints; a ballot over the budget is refused by the projects."""
    from poll_kit import budget_spec, published

    budget_poll = published(app, alpha, budget_spec([6000, 5000, 4000], 10000), kind="budget")
    booth = open_booth(client, budget_poll, voter)
    html = booth.get_data(as_text=True)
    assert booth.status_code == 200
    assert 'id="budget-sum"' in html and 'id="budget-left"' in html and 'data-budget="10000"' in html
    assert "as many as fit in the budget of" in html and "portal-polls.js" in html
    assert "Mark at most" not in html and html.count('type="checkbox"') == 3 and html.count("data-cost=") == 3
    question, option_ids = options(app, budget_poll)
    token = token_of(html)
    over = client.post(
        f"/office/voting/{budget_poll}/cast?_l_=en",
        data={"token": token, f"q-{question}": [str(option_ids[0]), str(option_ids[1])]},
    )
    page = over.get_data(as_text=True)
    assert over.status_code == 400 and f'href="#q-{question}-{option_ids[0]}"' in page
    assert f'id="q-{question}-error"' in page and "checked" not in page
    assert counts(app, budget_poll) == (0, 0)
    fits = client.post(
        f"/office/voting/{budget_poll}/cast?_l_=en",
        data={"token": token, f"q-{question}": [str(option_ids[1]), str(option_ids[2])]},
    )
    assert fits.status_code == 200 and counts(app, budget_poll) == (1, 1)


# -- secrecy ---------------------------------------------------------------------------------------


def test_no_audit_event_notification_or_log_line_holds_the_choice_or_the_receipt(
    app, client, clerk, poll_id, voter, caplog
):
    caplog.set_level(logging.DEBUG)
    response = vote(client, app, poll_id, voter, option_index=1)
    code = receipt_code(response.get_data(as_text=True))
    with app.app_context():
        events = db.session.execute(select(AuditEvent)).scalars().all()
        texts = [repr((e.action, e.object_type, e.object_id, e.details)) for e in events]
        texts += [repr((n.subject, n.body)) for n in db.session.execute(select(Notification)).scalars()]
    texts += [record.getMessage() for record in caplog.records]
    compact = code.replace("-", "").replace(" ", "")
    for text in texts:
        assert code not in text and compact not in text.replace("-", "").replace(" ", "")
    office_events = [e for e in events if e.action == office_votes.AUDIT_ACTION]
    assert [e.details for e in office_events] == [{"voter_user_id": voter}]
    # Nothing in the session cookie either.
    with client.session_transaction() as session:
        assert code not in repr(dict(session))


def test_the_start_page_costs_the_same_queries_however_many_polls_are_open(app, client, clerk, alpha):
    from app.testing import count_statements

    make_poll(app, alpha["id"])
    client.get("/office/voting/")  # warm: the session's once-a-minute touch, caches
    one = count_statements(app, lambda: client.get("/office/voting/"))
    for _ in range(4):
        make_poll(app, alpha["id"], kind="budget")
    assert count_statements(app, lambda: client.get("/office/voting/")) == one


# -- other municipalities --------------------------------------------------------------------------


def test_another_municipalitys_clerk_gets_404(app, client, poll_id, voter):
    login(client, "beta.clerk", PASSWORD)
    assert client.get(f"/office/voting/{poll_id}/").status_code == 404
    assert open_booth(client, poll_id, voter).status_code == 404
    secret = app.config["SECRET_KEY"]
    beta_clerk = app.seeded["beta"]["users"]["clerk"]
    token = office_votes.booth_token(secret, poll_id=poll_id, voter_user_id=voter, clerk_user_id=beta_clerk)
    assert _cast_with(client, app, poll_id, token).status_code == 404
    assert "A new playground" not in client.get("/office/voting/").get_data(as_text=True)
    assert counts(app, poll_id) == (0, 0)


def test_citizens_and_specialists_may_not_open_the_office_voting(app, client, poll_id):
    login(client, "alpha.specialist", PASSWORD)
    assert client.get("/office/voting/").status_code in (302, 403)
    login(client, "citizen", PASSWORD)
    assert client.get("/office/voting/").status_code in (302, 403)
