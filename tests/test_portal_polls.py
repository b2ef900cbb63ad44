"""The public and voter's pages of polls and budget votes (app/portal/polls.py): the
municipality's home lists them, each has a page, an eligible resident votes and gets a receipt
shown once, bad ballots are refused with a message and change nothing, results (charts with
tables) appear live or after closing, the open data parses and recounts, a receipt is found.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import re

import pytest
from poll_kit import (
    budget_spec,
    load,
    make_resident,
    options_of,
    poll_spec,
    published,
    question_ids,
)
from sqlalchemy import func, select

from app.domain.participation import ballots
from app.extensions import db
from app.models.base import utcnow
from app.models.participation import Ballot, PollVoter
from app.testing import count_statements, login, make_citizen

RECEIPT = re.compile(r'id="receipt-code"[^>]*>([0-9A-Z-]{24})<')
CHANGE = re.compile(r'id="change-code"[^>]*>([0-9A-Z-]{24})<')


@pytest.fixture
def alpha(app):
    return app.seeded["alpha"]


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def _url(poll_id: int, tail: str = "", code: str = "alpha") -> str:
    return f"/m/{code}/polls/{poll_id}/{tail}"


def _structure(app, poll_id):
    with app.app_context():
        poll = load(poll_id)
        return question_ids(poll), options_of(poll)


def _resident(app, alpha, client) -> int:
    email = f"r{utcnow().timestamp()}-{id(client)}@test.example"
    user_id = make_citizen(app, email)
    make_resident(app, alpha["id"], user_id)
    login(client, email)
    return user_id


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (
            db.session.execute(select(func.count()).select_from(Ballot)).scalar_one(),
            db.session.execute(select(func.count()).select_from(PollVoter)).scalar_one(),
        )


def _vote(client, poll_id, data):
    return client.post(_url(poll_id, "vote?_l_=en"), data=data)


def _close(app, poll_id) -> None:
    """End the poll's window (it really is closed now) and count it, as the job does."""
    with app.app_context():
        poll = load(poll_id)
        poll.closes_at = utcnow() - dt.timedelta(seconds=1)
        poll.opens_at = min(poll.opens_at, poll.closes_at - dt.timedelta(hours=1))
        db.session.commit()
        ballots.close(db.session, poll)
        db.session.commit()


# -- the municipality's home and the public page --------------------------------------------------


def test_the_municipality_home_lists_published_polls_and_budget_votes(app, client, alpha):
    poll_id = published(app, alpha)
    budget_id = published(app, alpha, budget_spec([1000, 2000], 2500), kind="budget")
    beta_id = published(app, app.seeded["beta"])
    # Armenian by default.
    assert "Հարցում" in _text(client.get("/m/alpha/"))
    response = client.get("/m/alpha/?_l_=en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'href="/m/alpha/polls/{poll_id}/"' in page and f'href="/m/alpha/polls/{budget_id}/"' in page
    assert f"/polls/{beta_id}/" not in page
    text = _text(response)
    assert "Polls" in text and "Participatory budget votes" in text and "Open for voting" in text
    assert "(Yerevan time)" in text


def test_the_public_page_shows_the_poll_and_asks_visitors_to_sign_in(app, client, alpha):
    poll_id = published(app, alpha)
    response = client.get(_url(poll_id, "?_l_=en"))
    assert response.status_code == 200
    text = _text(response)
    assert "A poll" in text and "Description" in text and "Verified residents of Alpha" in text
    assert "Sign in to vote." in text and 'name="q-' not in text
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("tail", ["", "results", "results.json", "ballots.csv", "change"])
def test_drafts_other_municipalities_and_unknown_ids_are_not_found(app, client, alpha, tail):
    with app.app_context():
        from app.domain.participation import polls
        from app.testing import actor_for

        draft = polls.create(db.session, actor_for(alpha["users"]["municipal_admin"]), alpha["id"], poll_spec())
        db.session.commit()
        draft_id = draft.id
    poll_id = published(app, alpha)
    assert client.get(_url(draft_id, tail)).status_code == 404
    assert client.get(_url(poll_id, tail, code="beta")).status_code == 404
    assert client.get(_url(poll_id, tail, code="nowhere")).status_code == 404
    assert client.get(f"/m/alpha/polls/{2**70}/{tail}").status_code == 404
    assert client.get(f"/m/alpha/polls/0/{tail}").status_code == 404


def test_the_ballot_form_for_an_eligible_resident(app, client, alpha):
    poll_id = published(app, alpha)
    (q1, q2), (o1, o2) = _structure(app, poll_id)
    _resident(app, alpha, client)
    response = client.get(_url(poll_id, "?_l_=en"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count("<fieldset") == 2 and page.count("<legend>") == 2
    assert f'type="radio" id="q-{q1}-{o1[0]}" name="q-{q1}" value="{o1[0]}"' in page
    assert f'type="checkbox" id="q-{q2}-{o2[0]}" name="q-{q2}"' in page
    assert "Choose one." in page and "Choose at most 2." in page
    assert f'aria-describedby="q-{q1}-hint"' in page


def test_who_cannot_vote_is_told_why(app, client, alpha):
    poll_id = published(app, alpha, poll_spec(allow_change=True))
    # A visitor may have voted (and may change the vote with its codes) once signed in.
    assert "Already voted? Change my vote" in _text(client.get(_url(poll_id, "?_l_=en")))
    email = "outsider@test.example"
    make_citizen(app, email)
    login(client, email)
    text = _text(client.get(_url(poll_id, "?_l_=en")))
    assert "To vote here you must be a verified resident" in text and "office of Alpha" in text
    assert 'name="q-' not in text
    # Said once (not the domain's sentence as well), and no vote to change is offered.
    assert text.count("verified resident") == 1 and "Change my vote" not in text
    # Not open yet.
    upcoming = published(
        app, alpha, poll_spec(opens_at=utcnow() + dt.timedelta(days=1), closes_at=utcnow() + dt.timedelta(days=2))
    )
    assert "Voting has not opened yet." in _text(client.get(_url(upcoming, "?_l_=en")))
    # Staff accounts do not vote.
    login(client, "alpha.clerk")
    assert "Staff accounts" in _text(client.get(_url(poll_id, "?_l_=en")))


def test_a_survey_takes_any_registered_citizen(app, client, alpha):
    poll_id = published(app, alpha, poll_spec(audience="registered"))
    email = "anyone@test.example"
    make_citizen(app, email)
    login(client, email)
    response = client.get(_url(poll_id, "?_l_=en"))
    assert 'name="q-' in response.get_data(as_text=True)
    assert "Any registered citizen" in _text(response)


# -- casting -----------------------------------------------------------------------------------


def test_casting_shows_the_receipt_once_and_nowhere_else(app, client, alpha):
    poll_id = published(app, alpha)
    (q1, q2), (o1, o2) = _structure(app, poll_id)
    _resident(app, alpha, client)
    response = _vote(client, poll_id, {f"q-{q1}": str(o1[1]), f"q-{q2}": [str(o2[0]), str(o2[2])]})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    code = RECEIPT.search(page).group(1)
    assert "Write these codes down now" in _text(response) and "change-code" not in page
    assert "no-store" in response.headers["Cache-Control"] and response.headers["Referrer-Policy"] == "no-referrer"
    # Not in a cookie (the session), not in an address.
    assert code not in " ".join(response.headers.getlist("Set-Cookie")) and "Location" not in response.headers
    with client.session_transaction() as session:
        assert code not in json.dumps(dict(session), default=str)
    with app.app_context():
        stored = db.session.get(Ballot, code)
        assert stored.choices == {str(q1): [o1[1]], str(q2): [o2[0], o2[2]]}
    # The page now says so; the receipt is not shown again.
    again = client.get(_url(poll_id, "?_l_=en"))
    assert "already voted" in _text(again) and code not in again.get_data(as_text=True)
    # Voting twice: refused, nothing changed.
    twice = _vote(client, poll_id, {f"q-{q1}": str(o1[0])})
    assert twice.status_code == 409 and "already voted" in _text(twice)
    assert _counts(app) == (1, 1)


def _refused(app, client, poll_id, data, status, message):
    before = _counts(app)
    response = _vote(client, poll_id, data)
    assert response.status_code == status, response.status_code
    text = _text(response)
    assert message in text, text[:3000]
    assert 'role="alert"' in response.get_data(as_text=True)
    assert _counts(app) == before
    return response


def test_bad_ballots_are_refused_with_a_message_and_change_nothing(app, client, alpha):
    poll_id = published(app, alpha)
    other_id = published(app, alpha)
    (q1, q2), (o1, o2) = _structure(app, poll_id)
    (oq1, _), (other1, _) = _structure(app, other_id)
    _resident(app, alpha, client)
    _refused(app, client, poll_id, {}, 400, "Mark at least one option.")
    response = _refused(app, client, poll_id, {f"q-{q1}": str(other1[0])}, 400, "Question 1 has no such option")
    page = response.get_data(as_text=True)
    assert f'href="#q-{q1}-{o1[0]}"' in page and f'aria-describedby="q-{q1}-hint q-{q1}-error"' in page
    _refused(app, client, poll_id, {f"q-{q2}": [str(o) for o in o2]}, 400, "Question 2: mark at most 2 options.")
    _refused(app, client, poll_id, {f"q-{q1}": [str(o1[0]), str(o1[1])]}, 400, "Question 1: mark at most 1")
    _refused(app, client, poll_id, {f"q-{q1}": "<script>alert(1)</script>"}, 400, "Choose among the options listed.")
    _refused(app, client, poll_id, {f"q-{q1}": str(2**80)}, 400, "Choose among the options listed.")
    _refused(app, client, poll_id, {f"q-{q1}": "-1"}, 400, "Choose among the options listed.")
    _refused(app, client, poll_id, {f"q-{oq1}": str(other1[0])}, 400, "not in this vote")
    _refused(app, client, poll_id, {f"q-{q1}": str(o1[0]), "q-x": "1"}, 400, "not in this vote")
    # The form comes back with what was marked.
    response = _refused(
        app, client, poll_id, {f"q-{q1}": str(o1[0]), f"q-{q2}": [str(o) for o in o2]}, 400, "mark at most 2"
    )
    assert f'id="q-{q1}-{o1[0]}" name="q-{q1}" value="{o1[0]}" checked' in response.get_data(as_text=True)


def test_a_closed_poll_takes_no_vote(app, client, alpha):
    poll_id = published(app, alpha)
    (q1, _), (o1, _) = _structure(app, poll_id)
    _resident(app, alpha, client)
    with app.app_context():
        poll = load(poll_id)
        poll.closes_at = utcnow() - dt.timedelta(minutes=1)
        db.session.commit()
    assert "Voting is closed." in _text(client.get(_url(poll_id, "?_l_=en")))
    _refused(app, client, poll_id, {f"q-{q1}": str(o1[0])}, 409, "closed")


def test_anonymous_posts_are_sent_to_sign_in(app, client, alpha):
    poll_id = published(app, alpha)
    (q1, _), (o1, _) = _structure(app, poll_id)
    response = _vote(client, poll_id, {f"q-{q1}": str(o1[0])})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _counts(app) == (0, 0)


def test_a_budget_vote_shows_costs_and_a_running_total_and_refuses_over_budget(app, client, alpha):
    poll_id = published(app, alpha, budget_spec([1000, 2000, 500], 2500), kind="budget")
    (q,), (opts,) = _structure(app, poll_id)
    _resident(app, alpha, client)
    response = client.get(_url(poll_id, "?_l_=en"))
    page = response.get_data(as_text=True)
    assert 'data-budget="2500"' in page and 'data-cost="2000"' in page and 'type="checkbox"' in page
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'portal-polls.js" nonce="{nonce}"' in page
    assert "2,500" in _text(response)
    _refused(app, client, poll_id, {f"q-{q}": [str(opts[0]), str(opts[1])]}, 400, "more than the budget")
    ok = _vote(client, poll_id, {f"q-{q}": [str(opts[1]), str(opts[2])]})
    assert ok.status_code == 200 and RECEIPT.search(ok.get_data(as_text=True))


# -- changing a vote -----------------------------------------------------------------------------


def test_a_vote_is_changed_with_both_codes_where_allowed(app, client, alpha):
    poll_id = published(app, alpha, poll_spec(allow_change=True))
    (q1, q2), (o1, o2) = _structure(app, poll_id)
    _resident(app, alpha, client)
    first = _vote(client, poll_id, {f"q-{q1}": str(o1[0])}).get_data(as_text=True)
    receipt, change_code = RECEIPT.search(first).group(1), CHANGE.search(first).group(1)
    form = client.get(_url(poll_id, "change?_l_=en"))
    assert form.status_code == 200 and 'name="change_code"' in form.get_data(as_text=True)
    # A wrong change code: refused, nothing changed; the code typed is not written back.
    wrong = client.post(
        _url(poll_id, "change?_l_=en"),
        data={"receipt": receipt, "change_code": "AAAA-BBBB-CCCC-DDDD-EEEE", f"q-{q1}": str(o1[1])},
    )
    assert wrong.status_code == 400 and "do not match" in _text(wrong)
    assert "AAAA-BBBB" not in wrong.get_data(as_text=True)
    missing = client.post(_url(poll_id, "change?_l_=en"), data={f"q-{q1}": str(o1[1])})
    assert missing.status_code == 400 and "Enter the change code" in _text(missing)
    with app.app_context():
        assert db.session.get(Ballot, receipt).choices[str(q1)] == [o1[0]]
    changed = client.post(
        _url(poll_id, "change?_l_=en"),
        data={"receipt": receipt.lower(), "change_code": change_code, f"q-{q1}": str(o1[1]), f"q-{q2}": str(o2[2])},
    )
    assert changed.status_code == 200 and "Your vote is changed" in _text(changed)
    new_receipt = RECEIPT.search(changed.get_data(as_text=True)).group(1)
    with app.app_context():
        assert db.session.get(Ballot, receipt) is None
        assert db.session.get(Ballot, new_receipt).choices == {str(q1): [o1[1]], str(q2): [o2[2]]}
    assert _counts(app) == (1, 1)


def test_a_poll_without_changes_refuses_them(app, client, alpha):
    poll_id = published(app, alpha)
    (q1, _), (o1, _) = _structure(app, poll_id)
    assert "does not allow changing" in _text(client.get(_url(poll_id, "change?_l_=en")))
    response = client.post(
        _url(poll_id, "change?_l_=en"), data={"receipt": "x", "change_code": "y", f"q-{q1}": str(o1[0])}
    )
    assert response.status_code == 409


# -- results and open data -------------------------------------------------------------------------


def test_results_after_closing_are_hidden_while_open(app, client, alpha):
    poll_id = published(app, alpha)
    response = client.get(_url(poll_id, "results?_l_=en"))
    assert response.status_code == 403 and "published when voting closes" in _text(response)
    assert client.get(_url(poll_id, "results.json")).status_code == 404
    assert client.get(_url(poll_id, "ballots.json")).status_code == 404


def test_live_results_show_a_chart_and_a_table(app, client, alpha):
    poll_id = published(app, alpha, poll_spec(results_visibility="live"))
    (q1, _q2), (o1, _o2) = _structure(app, poll_id)
    _resident(app, alpha, client)
    _vote(client, poll_id, {f"q-{q1}": str(o1[1])})
    response = client.get(_url(poll_id, "results?_l_=en"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = _text(response)
    assert "results so far" in text and "1 ballot cast" in text
    assert page.count("<svg") == 2 and f'aria-labelledby="chart-q-{q1}-caption"' in page
    assert "<script" not in page.split("</main>")[0] and "http://www.w3.org/2000/svg" in page
    assert '<th scope="col">Votes</th>' in page and '<th scope="row">South</th>' in page
    assert "<caption id=" in page
    # No open data until the poll is counted.
    assert "results.csv" not in page and client.get(_url(poll_id, "results.csv")).status_code == 404


def _closed_poll_with_votes(app, client, alpha, marks_list, spec=None, kind="poll"):
    poll_id = published(app, alpha, spec, kind=kind)
    (qs, opts) = _structure(app, poll_id)
    receipts = []
    for marks in marks_list:
        _resident(app, alpha, client)
        data = {f"q-{qs[index]}": [str(opts[index][o]) for o in chosen] for index, chosen in marks.items()}
        page = _vote(client, poll_id, data).get_data(as_text=True)
        receipts.append(RECEIPT.search(page).group(1))
    client.post("/logout/")
    _close(app, poll_id)
    return poll_id, qs, opts, receipts


def test_after_closing_the_results_and_open_data_recount(app, client, alpha):
    poll_id, (q1, q2), (o1, o2), receipts = _closed_poll_with_votes(
        app, client, alpha, [{0: [0], 1: [0, 1]}, {0: [0]}, {0: [1], 1: [1]}]
    )
    response = client.get(_url(poll_id, "results?_l_=en"))
    assert response.status_code == 200
    text = _text(response)
    assert "3 ballots cast" in text and "flask hamaynk polls recount FILE --sha256" in text
    assert "turnout 100% of 3 verified residents" in text
    with app.app_context():
        sha = load(poll_id).ballots_sha256
    assert sha in text

    ballot_list = client.get(_url(poll_id, "ballots.json"))
    assert ballot_list.status_code == 200 and hashlib.sha256(ballot_list.data).hexdigest() == sha
    data = json.loads(ballot_list.data)
    assert sorted(receipts) == [row["receipt"] for row in data["ballots"]]
    recounted = ballots.recount(data["ballots"], data["poll"])

    tally = client.get(_url(poll_id, "results.json")).get_json()
    assert tally["ballots"] == 3 and tally["ballots_sha256"] == sha
    votes = {o["id"]: o["votes"] for q in tally["questions"] for o in q["options"]}
    assert votes == {o: recounted.votes(o) for o in [*o1, *o2]}
    assert votes[o1[0]] == 2 and votes[o2[1]] == 2 and votes[o2[2]] == 0

    rows = list(csv.DictReader(io.StringIO(client.get(_url(poll_id, "results.csv")).data.decode("utf-8-sig"))))
    assert {int(r["option_id"]): int(r["votes"]) for r in rows} == votes
    ballot_csv = client.get(_url(poll_id, "ballots.csv")).data
    ballot_rows = list(csv.reader(io.StringIO(ballot_csv.decode("utf-8-sig"))))
    assert ballot_rows[0] == ["receipt", f"question_{q1}", f"question_{q2}"] and len(ballot_rows) == 4
    # Both CSV files are written alike, as the dashboard's (docs/statistics.md): BOM and CRLF.
    for download in (ballot_csv, client.get(_url(poll_id, "results.csv")).data):
        assert download.startswith("\ufeff".encode()) and download.count(b"\r\n") == download.count(b"\n")

    runner = app.test_cli_runner()
    path = app.instance_path + "/ballots-test.json"
    with open(path, "wb") as handle:
        handle.write(ballot_list.data)
    result = runner.invoke(args=["hamaynk", "polls", "recount", path, "--sha256", sha])
    assert result.exit_code == 0 and "Matches the published sha256." in result.output


def test_budget_results_list_the_winners_in_order(app, client, alpha):
    spec = budget_spec([1000, 2000, 500], 2500)
    poll_id, _qs, (opts,), _receipts = _closed_poll_with_votes(
        app, client, alpha, [{0: [1]}, {0: [1, 2]}, {0: [0]}], spec, kind="budget"
    )
    text = _text(client.get(_url(poll_id, "results?_l_=en")))
    assert "Projects funded" in text
    funded = text.split("Projects funded")[1].split("</ol>")[0]
    assert funded.index("Project 2") < funded.index("Project 3") and "Project 1" not in funded.split("Votes")[0]
    tally = client.get(_url(poll_id, "results.json")).get_json()
    assert tally["winners"] == [opts[1], opts[2]]


def test_a_voter_checks_their_receipt(app, client, alpha):
    poll_id, _qs, _opts, receipts = _closed_poll_with_votes(app, client, alpha, [{0: [1], 1: [2]}])
    found = client.post(_url(poll_id, "results/check?_l_=en"), data={"code": receipts[0].lower().replace("-", " ")})
    assert found.status_code == 200
    text = _text(found)
    assert "Found: your ballot is in the list" in text and "Which park?: South" in text and "Which days?: Fri" in text
    missing = client.post(_url(poll_id, "results/check?_l_=en"), data={"code": "0000-0000-0000-0000-0000"})
    assert missing.status_code == 404 and "Not found" in _text(missing)
    garbage = client.post(_url(poll_id, "results/check?_l_=en"), data={"code": "<b>" * 30})
    assert garbage.status_code == 400 and "This is not a receipt code" in _text(garbage)
    empty = client.post(_url(poll_id, "results/check?_l_=en"), data={"code": ""})
    assert empty.status_code == 400 and 'aria-describedby="code-error"' in empty.get_data(as_text=True)


def test_receipt_check_waits_for_the_count(app, client, alpha):
    poll_id = published(app, alpha, poll_spec(results_visibility="live"))
    response = client.post(_url(poll_id, "results/check?_l_=en"), data={"code": "0000-0000-0000-0000-0000"})
    assert response.status_code == 409


# -- cost ----------------------------------------------------------------------------------------------


def test_the_home_and_results_cost_a_fixed_number_of_queries(app, client, alpha):
    spec = poll_spec(results_visibility="live")
    first = published(app, alpha, spec)
    (q1, q2), (o1, o2) = _structure(app, first)
    # The first request of a client pays for its set-up: the least of two counts.
    home_few = min(count_statements(app, lambda: client.get("/m/alpha/")) for _ in range(2))
    for _ in range(4):
        published(app, alpha, spec)
        published(app, alpha, budget_spec([100, 200], 250), kind="budget")
    home_many = min(count_statements(app, lambda: client.get("/m/alpha/")) for _ in range(2))
    assert home_many == home_few

    results_url = _url(first, "results")
    _resident(app, alpha, client)
    _vote(client, first, {f"q-{q1}": str(o1[0])})
    client.post("/logout/")
    few = min(count_statements(app, lambda: client.get(results_url)) for _ in range(2))
    for index in range(5):
        _resident(app, alpha, client)
        _vote(client, first, {f"q-{q1}": str(o1[index % 2]), f"q-{q2}": str(o2[index % 3])})
    client.post("/logout/")
    many = min(count_statements(app, lambda: client.get(results_url)) for _ in range(2))
    assert many == few
    _close(app, first)
    assert count_statements(app, lambda: client.get(results_url)) <= few
    # More questions and options: the same count.
    from app.domain.participation.polls import OptionSpec, QuestionSpec

    bigger = poll_spec(
        results_visibility="live",
        questions=[
            QuestionSpec({"hy": f"Հ{n}"}, 3, tuple(OptionSpec({"hy": f"Տ{n}.{m}"}) for m in range(8))) for n in range(4)
        ],
    )
    big_url = _url(published(app, alpha, bigger), "results")
    assert min(count_statements(app, lambda: client.get(big_url)) for _ in range(2)) == few


def test_a_published_polls_attachments_download_without_signing_in(app, client, alpha):
    from app.domain.participation import files
    from app.domain.storage import get_storage
    from app.testing import attach

    poll_id = published(app, alpha)
    with app.test_request_context():
        rows = files.store(
            db.session,
            get_storage(app),
            municipality_id=alpha["id"],
            owner=("poll", poll_id),
            uploads=[attach("pdf", "map.pdf")],
            kind="document",
        )
        db.session.commit()
        file_id = rows[0].id
    page = client.get(_url(poll_id, "?_l_=en")).get_data(as_text=True)
    link = f"/m/alpha/polls/{poll_id}/files/{file_id}"
    assert f'href="{link}"' in page and "map.pdf" in page
    response = client.get(link)
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert client.get(_url(poll_id, f"files/{file_id + 1}")).status_code == 404
    assert client.get(f"/m/beta/polls/{poll_id}/files/{file_id}").status_code == 404
    # A row whose stored object is gone: not found, not a server error.
    with app.app_context():
        from app.models.participation import ParticipationFile

        row = db.session.get(ParticipationFile, file_id)
        get_storage(app).delete(row.storage_key)
    assert client.get(link).status_code == 404


def test_the_results_chart_leaves_room_for_armenian_labels_and_the_last_tick(app):
    from app.portal import polls as portal_polls

    texts = ["Աբովյան փողոցի վերանորոգում և լուսավորում", "Մանկապարտեզի տանիք", "Wi-Fi"]
    rows = [
        portal_polls.OptionResult(id=n, text=text, cost=None, votes=votes, share=None, winner=False)
        for n, (text, votes) in enumerate(zip(texts, (12, 7, 1), strict=True))
    ]
    with app.test_request_context("/"):
        svg = str(portal_polls._chart(1, rows))
    labels = [html.unescape(t) for t in re.findall(r'<text[^>]*class="[^"]*"[^>]*>([^<]*…?)</text>', svg)]
    assert "Մանկապարտեզի տանիք" in labels and max(len(t) for t in texts[:1]) > 20  # the long one is cut
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))
    left, _top = (
        float(n) for n in re.search(r'<g transform="translate\(([\d.]+), ([\d.]+)\)" class="plot">', svg).groups()
    )
    plot_width = max(
        float(w)
        for w in re.findall(r'<rect x="0" y="0" width="([\d.]+)" height="[\d.]+" class="background"/>', svg)
        if float(w) < width
    )
    longest = max(len(label) for label in labels if not label.isdigit())
    # Noto Sans Armenian at 15 px: about 0.75 em a letter (pygal reckons 0.6, for Latin letters).
    assert left >= 0.75 * 15 * longest
    # The last axis number is centred on the axis's end: half of "12" and a margin stay inside.
    assert width - (left + plot_width) >= 20
