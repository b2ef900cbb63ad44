"""The municipal administrator's screens for polls and budget votes (app.admin.polls over
app.domain.participation.polls): creating through the form (add/remove buttons without
script), per-field messages with nothing written, who sees and does what, publishing and
cancelling (audit-logged), stale forms, attachments and hostile input."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select

from app.domain.participation import ballots, polls
from app.domain.tracking import OFFICE_TZ
from app.extensions import db
from app.models import AuditEvent, User
from app.models.participation import ParticipationFile, Poll, PollOption, PollQuestion, PollVoter, Settlement
from app.testing import count_statements, make_citizen, make_pdf

LIST = "/admin/polls/"
NEW = "/admin/polls/new"


def local(days: float) -> str:
    """A Yerevan time ``days`` from now, as a datetime-local input posts it."""
    return (dt.datetime.now(OFFICE_TZ) + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def poll_form(kind: str = "poll", **overrides) -> dict[str, object]:
    data: dict[str, object] = {
        "op": "save",
        "title_hy": "Հարցում այգու մասին",
        "title_en": "Park survey",
        "title_ru": "",
        "description_hy": "Նկարագրություն",
        "description_en": "About the park",
        "description_ru": "",
        "opens_at": local(1),
        "closes_at": local(8),
        "audience": "residents",
        "results_visibility": "after_close",
        "q-0-text_hy": "Ինչ ծառեր տնկել",
        "q-0-text_en": "Which trees to plant?",
        "q-0-text_ru": "",
        "q-0-o-0-text_hy": "Կաղնի",
        "q-0-o-0-text_en": "Oak",
        "q-0-o-0-text_ru": "",
        "q-0-o-1-text_hy": "Թխկի",
        "q-0-o-1-text_en": "Maple",
        "q-0-o-1-text_ru": "",
    }
    if kind == "poll":
        data.update({"q-0-multiple": "0", "q-0-max_choices": "1"})
    else:
        data.update(
            {
                "budget": "10000000",
                "q-0-o-0-cost": "6000000",
                "q-0-o-1-cost": "5000000",
            }
        )
    data.update(overrides)
    return data


def polls_of(app) -> list[Poll]:
    with app.app_context():
        return list(db.session.execute(select(Poll).order_by(Poll.id)).scalars())


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Poll, PollQuestion, PollOption)
        )


def audit_of(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars()
        return list(rows)


def create(client, kind: str = "poll", **overrides) -> int:
    response = client.post(f"{NEW}?kind={kind}&_l_=en", data=poll_form(kind, **overrides))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    return int(re.search(r"/admin/polls/(\d+)/", response.headers["Location"]).group(1))


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


@pytest.fixture
def admin(app, login_as):
    login_as("municipal_admin")
    return app.seeded["alpha"]


# -- creating --------------------------------------------------------------------------------------


def test_an_admin_creates_a_poll_through_the_form(app, client, admin):
    listing = page(client, f"{LIST}?_l_=en")
    assert "New poll" in listing and "New budget vote" in listing
    form = page(client, f"{NEW}?kind=poll&_l_=en")
    assert 'type="datetime-local"' in form and 'for="title_hy"' in form
    poll_id = create(client, multiple="1", **{"q-0-multiple": "1", "q-0-max_choices": "2"})
    [poll] = polls_of(app)
    assert (poll.id, poll.kind, poll.status, poll.municipality_id) == (poll_id, "poll", "draft", admin["id"])
    assert poll.title == {"hy": "Հարցում այգու մասին", "en": "Park survey"}
    # Entered in Yerevan time (UTC+4), stored in UTC.
    assert poll.opens_at.strftime("%Y-%m-%dT%H:%M") == (
        dt.datetime.strptime(poll_form()["opens_at"], "%Y-%m-%dT%H:%M") - dt.timedelta(hours=4)
    ).strftime("%Y-%m-%dT%H:%M")
    with app.app_context():
        question = db.session.execute(select(PollQuestion)).scalar_one()
        assert question.max_choices == 2
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert "Park survey" in shown and "Oak" in shown and "Draft" in shown
    assert 'data-voters="0"' in shown
    assert [e.object_id for e in audit_of(app, "poll.create")] == [str(poll_id)]
    listing = page(client, f"{LIST}?_l_=en")
    assert "Park survey" in listing and 'data-phase="draft"' in listing


def test_an_admin_creates_a_budget_vote(app, client, admin):
    form = page(client, f"{NEW}?kind=budget&_l_=en")
    assert "Budget (AMD)" in form and "Add a question" not in form
    poll_id = create(client, "budget")
    [poll] = polls_of(app)
    assert (poll.kind, poll.budget) == ("budget", 10_000_000)
    with app.app_context():
        costs = db.session.execute(select(PollOption.cost).order_by(PollOption.position)).scalars().all()
        assert costs == [6_000_000, 5_000_000]
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert "Budget vote" in shown
    edit = page(client, f"/admin/polls/{poll_id}/edit?_l_=en")
    assert 'value="6000000"' in edit and 'value="10000000"' in edit
    response = client.post(
        f"/admin/polls/{poll_id}/edit?_l_=en", data={**poll_form("budget", budget="12000000"), "version": "1"}
    )
    assert response.status_code == 302 and polls_of(app)[0].budget == 12_000_000


def test_add_and_remove_buttons_rerender_without_writing(app, client, admin):
    data = poll_form(op="add-question")
    response = client.post(f"{NEW}?kind=poll&_l_=en", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="q-1-text_hy"' in html and "autofocus" in html
    assert 'value="Park survey"' in html  # what was typed stays
    response = client.post(f"{NEW}?kind=poll&_l_=en", data=poll_form(op="add-option-0"))
    assert 'id="q-0-o-2-text_hy"' in response.get_data(as_text=True)
    response = client.post(f"{NEW}?kind=poll&_l_=en", data=poll_form(op="remove-option-0-1"))
    html = response.get_data(as_text=True)
    assert 'id="q-0-o-1-text_hy"' not in html and 'value="Oak"' in html
    # The only question cannot be removed; out-of-range buttons do nothing.
    for op in ("remove-question-0", "remove-option-7-3", "add-option-99"):
        assert client.post(f"{NEW}?kind=poll&_l_=en", data=poll_form(op=op)).status_code == 200
    assert counts(app) == (0, 0, 0)


# -- refusals --------------------------------------------------------------------------------------


def test_validation_errors_are_shown_next_to_inputs_and_nothing_is_written(app, client, admin):
    bad = poll_form(
        title_hy="",
        opens_at=local(5),
        closes_at=local(2),
        **{"q-0-o-1-text_hy": "", "q-0-o-1-text_en": "Maple"},
    )
    response = client.post(f"{NEW}?kind=poll&_l_=en", data=bad)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "Nothing was saved" in html
    assert "Enter the text in Armenian." in html
    assert "The poll must close after it opens." in html
    assert 'id="title-err"' in html and 'aria-describedby="title-err"' in html
    assert 'id="closes_at-err"' in html and 'aria-invalid="true"' in html
    assert 'id="q-0-o-1-text-err"' in html
    assert 'href="#title_hy"' in html
    # The summary says which input each message is about.
    assert "Title: Enter the text in Armenian." in html
    assert "Question 1, option 2: Enter the text in Armenian." in html
    assert 'value="Park survey"' in html  # kept for correction
    # A date that is not one, a budget that is not a number, a cost left out.
    response = client.post(
        f"{NEW}?kind=budget&_l_=en",
        data=poll_form("budget", opens_at="tomorrow", budget="ten", **{"q-0-o-0-cost": ""}),
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="opens_at-err"' in html and 'id="budget-err"' in html and 'id="q-0-o-0-cost-err"' in html
    assert counts(app) == (0, 0, 0)
    assert audit_of(app, "poll.create") == []


def test_hostile_input_is_refused_or_harmless(app, client, admin):
    with app.app_context():
        foreign = Settlement(municipality_id=app.seeded["beta"]["id"], code="b1", name_hy="Բետա գյուղ")
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    attempts = [
        poll_form(settlement_ids=str(foreign_id)),
        poll_form(settlement_ids="99999999999999999999999"),
        poll_form(audience="everyone", results_visibility="never"),
        poll_form(**{"q-0-multiple": "1", "q-0-max_choices": "-1"}),
        poll_form(**{"q-0-multiple": "1", "q-0-max_choices": "9" * 40}),
        poll_form(opens_at="9" * 40, closes_at="0000-00-00T00:00"),
        poll_form(title_hy="x" * 5000),
        poll_form(**{"q-0-o-0-proposal": "12345"}),
    ]
    for data in attempts:
        response = client.post(f"{NEW}?kind=poll&_l_=en", data=data)
        assert response.status_code == 400, data
    budget_attempts = [
        poll_form("budget", budget="-5"),
        poll_form("budget", budget="1e9"),
        poll_form("budget", budget="9" * 30),
        poll_form("budget", **{"q-0-o-0-cost": "0x10"}),
        # A second question in a budget vote, forged past the form.
        poll_form("budget", **{"q-1-text_hy": "Երկրորդ", "q-1-o-0-text_hy": "Ա", "q-1-o-1-text_hy": "Բ"}),
    ]
    for data in budget_attempts:
        assert client.post(f"{NEW}?kind=budget&_l_=en", data=data).status_code == 400, data
    assert client.post(f"{NEW}?kind=referendum&_l_=en", data=poll_form()).status_code == 404
    assert client.post(f"{NEW}?kind=poll&municipality=abc&_l_=en", data=poll_form()).status_code == 404
    assert client.post(f"{NEW}?kind=poll&_l_=en", data=poll_form(title_hy="a\x00b")).status_code == 400
    assert counts(app) == (0, 0, 0)
    # Markup is text, and hundreds of posted question keys are cut at the limit.
    many = poll_form(title_hy="<script>alert(1)</script>", title_en="<script>alert(1)</script>")
    for i in range(1, 40):
        many.update({f"q-{i}-text_hy": f"Հ{i}", f"q-{i}-o-0-text_hy": "Ա", f"q-{i}-o-1-text_hy": "Բ"})
    poll_id = create(client, **{k: v for k, v in many.items() if k != "op"})
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(PollQuestion)).scalar_one() == 20
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert "<script>alert(1)</script>" not in shown and "&lt;script&gt;" in shown
    for url in ("/admin/polls/99999999999999999999999/", "/admin/polls/0/", "/admin/polls/abc/"):
        assert client.get(url).status_code == 404


# -- who ---------------------------------------------------------------------------------------------


def test_another_municipalitys_admin_gets_not_found(app, client, admin, login_as):
    poll_id = create(client)
    login_as("municipal_admin", "beta")
    for url in (f"/admin/polls/{poll_id}/", f"/admin/polls/{poll_id}/edit", f"/admin/polls/{poll_id}/publish"):
        assert client.get(url).status_code == 404, url
    for url in (
        f"/admin/polls/{poll_id}/edit",
        f"/admin/polls/{poll_id}/publish",
        f"/admin/polls/{poll_id}/cancel",
        f"/admin/polls/{poll_id}/files",
    ):
        assert client.post(url, data={"version": "1", "reason": "x", **poll_form()}).status_code == 404, url
    assert client.get(f"{LIST}?municipality={app.seeded['alpha']['id']}").status_code == 404
    assert "Park survey" not in page(client, f"{LIST}?_l_=en")
    [poll] = polls_of(app)
    assert (poll.status, poll.version) == ("draft", 1)


def test_clerks_are_refused_and_auditors_only_read(app, client, admin, login_as):
    poll_id = create(client)
    login_as("clerk")
    for url in (LIST, f"/admin/polls/{poll_id}/", f"{NEW}?kind=poll"):
        response = client.get(url)
        assert response.status_code in (302, 403), url
    response = client.post(f"{NEW}?kind=poll", data=poll_form())
    assert response.status_code in (302, 403)
    response = client.post(f"/admin/polls/{poll_id}/publish", data={"version": "1"})
    assert response.status_code in (302, 403)
    assert len(polls_of(app)) == 1 and polls_of(app)[0].status == "draft"
    login_as("auditor")
    assert "Park survey" in page(client, f"{LIST}?_l_=en")
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert "Park survey" in shown and "Publish" not in shown and "Change the draft" not in shown
    assert client.post(f"/admin/polls/{poll_id}/publish", data={"version": "1"}).status_code in (302, 403)
    assert polls_of(app)[0].status == "draft"


def test_a_system_administrator_reads_but_does_not_run_polls(app, client, admin, login_as):
    poll_id = create(client)
    login_as("system_admin")
    listing = page(client, f"{LIST}?_l_=en")
    assert "Choose a municipality" in listing
    listing = page(client, f"{LIST}?municipality={app.seeded['alpha']['id']}&_l_=en")
    assert "Park survey" in listing and "New poll" not in listing
    assert "Park survey" in page(client, f"/admin/polls/{poll_id}/?_l_=en")
    response = client.post(f"{NEW}?kind=poll&municipality={app.seeded['alpha']['id']}", data=poll_form())
    assert response.status_code == 403
    assert len(polls_of(app)) == 1


# -- publish, cancel, stale forms ------------------------------------------------------------------


def test_publish_after_confirmation_and_cancel_with_a_reason_are_audited(app, client, admin):
    poll_id = create(client)
    confirm = page(client, f"/admin/polls/{poll_id}/publish?_l_=en")
    assert "Yes, publish it" in confirm and 'name="version" value="1"' in confirm
    assert polls_of(app)[0].status == "draft"  # showing the confirmation changes nothing
    response = client.post(f"/admin/polls/{poll_id}/publish?_l_=en", data={"version": "1"})
    assert response.status_code == 302
    [poll] = polls_of(app)
    assert poll.status == "published"
    assert [e.object_id for e in audit_of(app, "poll.publish")] == [str(poll_id)]
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert 'data-phase="upcoming"' in shown and "Change the draft" not in shown
    # A published poll is not edited.
    assert client.get(f"/admin/polls/{poll_id}/edit").status_code == 302
    response = client.post(f"/admin/polls/{poll_id}/cancel?_l_=en", data={"version": str(poll.version), "reason": " "})
    assert response.status_code == 400 and 'id="reason-err"' in response.get_data(as_text=True)
    assert polls_of(app)[0].status == "published"
    response = client.post(
        f"/admin/polls/{poll_id}/cancel?_l_=en", data={"version": str(poll.version), "reason": "Wrong options"}
    )
    assert response.status_code == 302
    assert polls_of(app)[0].status == "cancelled"
    [event] = audit_of(app, "poll.cancel")
    assert event.object_id == str(poll_id) and event.details["reason"] == "Wrong options"
    # Neither again: nothing more is written.
    version = str(polls_of(app)[0].version)
    assert client.post(f"/admin/polls/{poll_id}/cancel", data={"version": version, "reason": "x"}).status_code == 409
    assert client.post(f"/admin/polls/{poll_id}/publish", data={"version": version}).status_code == 409
    assert len(audit_of(app, "poll.cancel")) == 1 and polls_of(app)[0].status == "cancelled"
    assert 'data-phase="cancelled"' in page(client, f"/admin/polls/{poll_id}/?_l_=en")


def test_a_poll_whose_closing_passed_cannot_be_published(app, client, admin):
    poll_id = create(client, opens_at=local(-3), closes_at=local(-1))
    response = client.post(f"/admin/polls/{poll_id}/publish?_l_=en", data={"version": "1"})
    assert response.status_code == 400
    assert "The closing time has passed" in response.get_data(as_text=True)
    assert polls_of(app)[0].status == "draft"


def test_a_stale_form_is_refused_with_409(app, client, admin):
    poll_id = create(client)
    edit = page(client, f"/admin/polls/{poll_id}/edit?_l_=en")
    assert 'name="version" value="1"' in edit and 'value="Park survey"' in edit
    response = client.post(f"/admin/polls/{poll_id}/edit?_l_=en", data={**poll_form(title_en="First"), "version": "1"})
    assert response.status_code == 302
    assert polls_of(app)[0].title["en"] == "First"
    # The same form sent again (another tab, another admin) is out of date.
    response = client.post(f"/admin/polls/{poll_id}/edit?_l_=en", data={**poll_form(title_en="Second"), "version": "1"})
    assert response.status_code == 409
    assert "changed this vote while you were working on it" in response.get_data(as_text=True)
    assert polls_of(app)[0].title["en"] == "First"
    assert client.post(f"/admin/polls/{poll_id}/publish?_l_=en", data={"version": "1"}).status_code == 409
    assert client.post(f"/admin/polls/{poll_id}/edit", data={**poll_form(), "version": "x"}).status_code == 409
    assert polls_of(app)[0].status == "draft"


# -- turnout, results, attachments --------------------------------------------------------------


def test_the_list_shows_turnout_as_a_count_in_constant_queries(app, client, admin):
    first = create(client)
    with app.app_context():
        db.session.add(PollVoter(poll_id=first, user_id=app.seeded["alpha"]["users"]["clerk"]))
        db.session.commit()
    one = count_statements(app, lambda: client.get(LIST))
    for _ in range(3):
        create(client, "budget")
    assert count_statements(app, lambda: client.get(LIST)) == one
    listing = page(client, f"{LIST}?_l_=en")
    assert 'data-voters="1"' in listing
    shown = page(client, f"/admin/polls/{first}/?_l_=en")
    assert "1 person voted" in shown
    assert "alpha.clerk" not in shown


def test_attachments_are_uploaded_listed_downloaded_and_removed(app, client, admin):
    poll_id = create(client)
    response = client.post(
        f"/admin/polls/{poll_id}/files?_l_=en",
        data={"attachments": [(io.BytesIO(make_pdf("Map")), "map.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with app.app_context():
        row = db.session.execute(select(ParticipationFile)).scalar_one()
        file_id = row.id
        assert row.poll_id == poll_id
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert "map.pdf" in shown
    download = client.get(f"/admin/polls/{poll_id}/files/{file_id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    download.close()
    assert [e.object_id for e in audit_of(app, "poll.attach")] == [str(poll_id)]
    # Not a PDF in disguise, and no file at all: refused, nothing stored.
    response = client.post(
        f"/admin/polls/{poll_id}/files?_l_=en",
        data={"attachments": [(io.BytesIO(b"MZ\x90\x00 not a pdf"), "evil.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and 'id="upload-error"' in response.get_data(as_text=True)
    assert client.post(f"/admin/polls/{poll_id}/files?_l_=en", data={}).status_code == 400
    response = client.post(f"/admin/polls/{poll_id}/files/{file_id}/remove")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ParticipationFile)).scalar_one() == 0
    assert client.get(f"/admin/polls/{poll_id}/files/{file_id}").status_code == 404


def test_after_closing_the_page_shows_the_results_and_links_the_public_page(app, client, admin):
    poll_id = create(client, "budget", audience="registered")
    assert client.post(f"/admin/polls/{poll_id}/publish", data={"version": "1"}).status_code == 302
    voters = [make_citizen(app, f"voter{i}@example.test") for i in range(3)]
    with app.app_context():
        poll = db.session.get(Poll, poll_id)
        [question] = polls.structure(db.session, poll).questions
        first, second = (o.id for o in question.options)
        during = poll.opens_at + dt.timedelta(hours=1)
        for user_id, marks in zip(voters, ([first], [first], [second]), strict=True):
            ballots.cast(db.session, poll, voter_user_id=user_id, choices={question.id: marks}, now=during)
    # Before closing, with results after closing: turnout only.
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert 'data-voters="3"' in shown and "poll-results" not in shown
    # Move the window into the past, in the session the client's requests share.
    poll = db.session.get(Poll, poll_id)
    poll.opens_at -= dt.timedelta(days=30)
    poll.closes_at = poll.opens_at + dt.timedelta(days=2)
    db.session.commit()
    shown = page(client, f"/admin/polls/{poll_id}/?_l_=en")
    assert re.search(r"data-phase=\"(\w+)\"", shown).group(1) == "closed", re.search(
        r"data-phase=\"(\w+)\"", shown
    ).group(1)
    assert "poll-results" in shown
    assert 'data-ballots="3"' in shown and "Yes, 1. in order" in shown
    assert f"/m/alpha/polls/{poll_id}/" in shown
    for user_id in voters:  # never who
        with app.app_context():
            assert db.session.get(User, user_id).username not in shown


def test_a_vote_is_limited_to_settlements_of_the_municipality(app, client, admin):
    with app.app_context():
        village = Settlement(municipality_id=admin["id"], code="v1", name_hy="Գյուղ", name_en="Village")
        closed = Settlement(municipality_id=admin["id"], code="v2", name_hy="Հին", name_en="Old", active=False)
        db.session.add_all([village, closed])
        db.session.commit()
        village_id, closed_id = village.id, closed.id
    form = page(client, f"{NEW}?kind=poll&_l_=en")
    assert f'id="settlement-{village_id}"' in form and f'id="settlement-{closed_id}"' not in form
    # A survey for anyone registered is not limited to settlements; a settlement no longer
    # active is not offered.
    for data in (
        poll_form(audience="registered", settlement_ids=str(village_id)),
        poll_form(settlement_ids=str(closed_id)),
    ):
        response = client.post(f"{NEW}?kind=poll&_l_=en", data=data)
        assert response.status_code == 400 and 'id="settlements-err"' in response.get_data(as_text=True)
    poll_id = create(client, settlement_ids=str(village_id))
    assert polls_of(app)[0].settlement_ids == [village_id]
    assert "Village" in page(client, f"/admin/polls/{poll_id}/?_l_=en")


def test_only_the_input_in_error_is_styled_as_one(app, client, admin):
    # Armenian missing: its input is marked, the optional English and Russian ones beside it are not.
    response = client.post(f"{NEW}?kind=poll&_l_=en", data=poll_form(title_hy=""))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    columns = {
        name: style
        for style, name in re.findall(r'<div class="col-sm-4( has-error)?">\s*<label for="(title_\w\w)"', html)
    }
    assert columns == {"title_hy": " has-error", "title_en": "", "title_ru": ""}
    invalid = re.findall(r'id="(title_\w\w)"[^>]*aria-invalid="true"', html)
    assert invalid == ["title_hy"]
    assert 'id="title-group"' in html and 'class="form-group has-error poll-texts"' not in html


def test_windows_are_written_alike_on_every_admin_page(app, client, admin):
    from app.domain.formatting import format_moment

    poll_id = create(client)
    [poll] = polls_of(app)
    opens, closes = format_moment(poll.opens_at, "hy"), format_moment(poll.closes_at, "hy")
    assert re.fullmatch(r"\d{1,2} \w+ \d{4}, \d\d:\d\d", opens)  # the month in full, no seconds
    for url in (LIST, f"/admin/polls/{poll_id}/", f"/admin/polls/{poll_id}/publish"):
        html = page(client, url)
        assert opens in html and closes in html, url
