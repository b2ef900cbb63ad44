"""E-participation from end to end (issue 11's "must show"), in Chromium on a 390 px phone, in
Armenian, through the real screens:

the municipal administrator writes and publishes a poll and a budget vote (admin/polls) and a
consultation on a draft decision (admin/consultations); a clerk finds a citizen's account at
the office and verifies their residency (office/residents); the resident signs in on the
portal, votes in the poll, tries a budget ballot over the budget (the page warns, the server
refuses and nothing is stored), votes within it, comments on the consultation and keeps the
receipt codes. Then the voting time ends (the closing times are moved into the past, as the
clock would) and the announcements job runs as the job runner runs it: it counts both votes.
The results show a chart and a table, and each receipt is found in the published ballot list,
by the page's check and in the downloadable list.

Every page visited has no axe-core violation, is in Armenian, is no wider than the phone and
has a title naming it; nothing is requested from anywhere but the test server. Inputs are
found by their labels and buttons by their names (as a screen reader names them), so the test
also proves the forms are labelled. Screenshots: ``test-artifacts/portal/participation-*.png``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from babel.support import Translations
from sqlalchemy import select

from app.domain.participation import processes
from app.extensions import db
from app.models.base import utcnow
from app.models.participation import Consultation, Poll
from app.testing import make_citizen

pytestmark = pytest.mark.browser

WIDTH = 390
EMAIL = "lilit.voter@example.com"
NAME = "Լիլիթ Հակոբյան"
POLL_TITLE = "Նոր այգու տեղը"
BUDGET_TITLE = "Մասնակցային բյուջե 2027"
CONSULTATION_TITLE = "Աղբահանության վճարի նախագիծ"
# A budget of 3 000 000 AMD; projects 1 and 2 together cost more, 2 and 3 fit.
BUDGET = 3_000_000
PROJECTS = (("Խաղահրապարակ", 1_500_000), ("Փողոցային լուսավորություն", 2_000_000), ("Նստարաններ", 700_000))
OPTIONS = ("Հյուսիսային թաղամաս", "Հարավային թաղամաս")

_HY = Translations.load(str(Path(__file__).resolve().parents[2] / "app" / "translations"), ["hy"])


def hy(text: str, **values) -> str:
    """``text`` as the Armenian pages show it (the same catalogue the app uses)."""
    translated = _HY.gettext(text)
    return translated % values if values else translated


@pytest.fixture(scope="module")
def citizen(live_server) -> int:
    """A registered citizen of the portal, not yet a verified resident anywhere."""
    return make_citizen(live_server, EMAIL, name=NAME)


def _local(when: dt.datetime) -> str:
    """A UTC time as the admin types it into a datetime-local input (Yerevan time)."""
    return processes.local(when).strftime("%Y-%m-%dT%H:%M")


def _submit(page, button) -> None:
    with page.expect_navigation():
        button.click()
    page.wait_for_load_state("networkidle")


def _go(page, url: str, status: int = 200) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, f"{url}: {response and response.status}"


def _window(page) -> None:
    page.get_by_label(hy("Opens"), exact=True).fill(_local(utcnow() - dt.timedelta(hours=1)))
    page.get_by_label(hy("Closes"), exact=True).fill(_local(utcnow() + dt.timedelta(days=2)))


def _armenian(page, label: str, value: str) -> None:
    """Fill in the Armenian one of a text's three languages: the input labelled "Armenian" in
    the group whose legend is ``label``."""
    page.get_by_role("group", name=label, exact=True).get_by_label(hy("Armenian")).fill(value)


def _admin_makes_and_publishes(page, base: str, check, kind: str) -> int:
    """The administrator's poll or budget vote, from the list to published; returns its id."""
    _go(page, f"{base}/admin/polls/")
    check(page, f"admin-polls-{kind}", WIDTH, prefix="participation-")
    _submit(page, page.get_by_role("link", name=hy("New budget vote") if kind == "budget" else hy("New poll")))
    check(page, f"admin-new-{kind}", WIDTH, prefix="participation-")
    budget = kind == "budget"
    _armenian(page, hy("Title"), BUDGET_TITLE if budget else POLL_TITLE)
    _armenian(page, hy("Description"), "Ընտրեք, թե ինչ կառուցել։")
    _window(page)
    if budget:
        page.get_by_label(hy("Budget (AMD)"), exact=True).fill(str(BUDGET))
        # The form starts with two projects; the third is added with the form's own button.
        _submit(page, page.get_by_role("button", name=hy("Add a project")))
        for n, (text, cost) in enumerate(PROJECTS, 1):
            _armenian(page, hy("Project %(n)d", n=n), text)
            page.get_by_label(hy("Cost of project %(n)d (AMD)", n=n), exact=True).fill(str(cost))
    else:
        _armenian(page, hy("Question text"), "Որտե՞ղ կառուցել նոր այգին")
        for n, text in enumerate(OPTIONS, 1):
            _armenian(page, hy("Option %(n)d", n=n), text)
    _submit(page, page.get_by_role("button", name=hy("Save the draft"), exact=True).last)
    assert "/admin/polls/new" not in page.url, page.locator("#poll-errors").all_inner_texts()
    poll_id = int(page.url.rstrip("/").rsplit("/", 1)[-1])
    check(page, f"admin-draft-{kind}", WIDTH, prefix="participation-")
    _submit(page, page.get_by_role("link", name=hy("Publish…")))
    check(page, f"admin-publish-{kind}", WIDTH, prefix="participation-")
    _submit(page, page.get_by_role("button", name=hy("Yes, publish it")))
    assert page.locator("[data-phase=open]").count() == 1, f"{kind} is not open after publishing"
    check(page, f"admin-published-{kind}", WIDTH, prefix="participation-")
    return poll_id


def _admin_consultation(page, base: str, check) -> int:
    _go(page, f"{base}/admin/consultations/")
    check(page, "admin-consultations", WIDTH, prefix="participation-")
    _submit(page, page.get_by_role("link", name=hy("New consultation")))
    check(page, "admin-new-consultation", WIDTH, prefix="participation-")
    _armenian(page, hy("Title of the draft decision"), CONSULTATION_TITLE)
    _armenian(page, hy("Text of the draft decision"), "Հոդված 1. Վճարը սահմանել 500 դրամ։")
    _window(page)
    _submit(page, page.get_by_role("button", name=hy("Save the draft")))
    assert "/new" not in page.url, page.locator("#error-summary").all_inner_texts()
    consultation_id = int(page.url.split("#")[0].rstrip("/").rsplit("/", 1)[-1])
    check(page, "admin-consultation-draft", WIDTH, prefix="participation-")
    _submit(page, page.get_by_role("button", name=hy("Publish the consultation")))
    assert page.get_by_role("button", name=hy("Publish the consultation")).count() == 0
    check(page, "admin-consultation-published", WIDTH, prefix="participation-")
    return consultation_id


def _clerk_verifies(page, base: str, check) -> None:
    _go(page, f"{base}/office/residents/")
    check(page, "office-residents", WIDTH, prefix="participation-")
    page.get_by_label(hy("Name, e-mail address or public service number")).fill(EMAIL)
    with page.expect_navigation():
        page.get_by_label(hy("Name, e-mail address or public service number")).press("Enter")
    check(page, "office-residents-found", WIDTH, prefix="participation-")
    _submit(page, page.get_by_role("link", name=NAME))
    assert hy("Not verified") in page.inner_text("main, body")
    check(page, "office-resident", WIDTH, prefix="participation-")
    if page.get_by_label(hy("Settlement"), exact=True).count():
        page.get_by_label(hy("Settlement"), exact=True).select_option(index=1)
    page.get_by_label(hy("Document checked")).select_option(label=hy("Passport"))
    _submit(page, page.get_by_role("button", name=hy("Verify"), exact=True))
    assert page.locator("[data-status=valid]").count() == 1, "the residency was not verified"
    check(page, "office-resident-verified", WIDTH, prefix="participation-")


def _receipt(page) -> str:
    code = page.locator("#receipt-code").inner_text().strip()
    assert code, "no receipt code"
    return code


def _resident_votes(page, base: str, check, poll_id: int, budget_id: int) -> tuple[str, str]:
    _go(page, f"{base}/m/alpha/")
    check(page, "home", WIDTH, prefix="participation-")
    _submit(page, page.get_by_role("link", name=POLL_TITLE))
    assert page.url.endswith(f"/polls/{poll_id}/")
    check(page, "poll-ballot", WIDTH, prefix="participation-")
    page.get_by_label(OPTIONS[1]).check()
    _submit(page, page.get_by_role("button", name=hy("Cast my vote")))
    poll_receipt = _receipt(page)
    check(page, "poll-receipt", WIDTH, prefix="participation-")
    # Voting twice is refused: the page says why and shows no ballot.
    _go(page, f"{base}/m/alpha/polls/{poll_id}/")
    assert page.locator("form.ballot-form").count() == 0 and page.locator("#why-not").count() == 1
    check(page, "poll-voted", WIDTH, prefix="participation-")

    _go(page, f"{base}/m/alpha/")
    _submit(page, page.get_by_role("link", name=BUDGET_TITLE))
    assert page.url.endswith(f"/polls/{budget_id}/")
    check(page, "budget-ballot", WIDTH, prefix="participation-")
    page.get_by_label(PROJECTS[0][0]).check()
    page.get_by_label(PROJECTS[1][0]).check()
    assert page.locator("#budget-over").is_visible(), "the page does not warn over the budget"
    check(page, "budget-over", WIDTH, prefix="participation-")
    # The warning is only a help: the ballot is sent anyway, and the server refuses it.
    _submit(page, page.get_by_role("button", name=hy("Cast my vote")))
    assert page.locator("#error-summary").count() == 1 and page.locator("#receipt-code").count() == 0
    check(page, "budget-refused", WIDTH, prefix="participation-")
    page.get_by_label(PROJECTS[0][0]).uncheck()
    page.get_by_label(PROJECTS[1][0]).check()
    page.get_by_label(PROJECTS[2][0]).check()
    assert page.locator("#budget-over").is_hidden()
    _submit(page, page.get_by_role("button", name=hy("Cast my vote")))
    budget_receipt = _receipt(page)
    check(page, "budget-receipt", WIDTH, prefix="participation-")
    return poll_receipt, budget_receipt


def _resident_comments(page, base: str, check, consultation_id: int) -> None:
    _go(page, f"{base}/m/alpha/")
    _submit(page, page.get_by_role("link", name=CONSULTATION_TITLE))
    assert page.url.endswith(f"/consultations/{consultation_id}/")
    check(page, "consultation", WIDTH, prefix="participation-")
    text = "Առաջարկում եմ թոշակառուների համար զեղչ սահմանել։"
    page.get_by_label(hy("Your comment on the draft")).fill(text)
    _submit(page, page.get_by_role("button", name=hy("Publish my comment")))
    assert page.locator(".consultation-comment .comment-body").filter(has_text=text).count() == 1
    check(page, "consultation-commented", WIDTH, prefix="participation-")


def _time_passes(app, poll_ids: list[int], consultation_id: int) -> None:
    """The voting and comment periods end (the stored closing times move into the past, as
    the clock would move past them) and the announcements job runs as the job runner runs it."""
    from app.jobs import get_jobs

    with app.app_context():
        past = utcnow() - dt.timedelta(seconds=1)
        for poll in db.session.scalars(select(Poll).where(Poll.id.in_(poll_ids))):
            assert poll.tallied_at is None
            poll.closes_at = past
        db.session.get_one(Consultation, consultation_id).closes_at = past
        db.session.commit()
    done = get_jobs(app).run_announcements()
    assert sorted(done.closed) == sorted(poll_ids), done
    with app.app_context():
        for poll in db.session.scalars(select(Poll).where(Poll.id.in_(poll_ids))):
            assert poll.tallied_at is not None and poll.ballots_sha256


def _results(page, context, base: str, check, poll_id: int, receipt: str, name: str) -> None:
    _go(page, f"{base}/m/alpha/polls/{poll_id}/")
    _submit(page, page.get_by_role("link", name=hy("See the results")))
    assert page.url.endswith(f"/polls/{poll_id}/results")
    assert page.locator("figure.chart svg[role=img]").count() >= 1, "no chart"
    assert page.locator("table").count() >= 1, "no table beside the chart"
    check(page, f"{name}-results", WIDTH, prefix="participation-")
    page.get_by_label(hy("Receipt code"), exact=True).fill(receipt)
    with page.expect_navigation():
        page.get_by_label(hy("Receipt code"), exact=True).press("Enter")
    assert page.locator(".check-found").count() == 1, f"{name}: the receipt is not in the ballot list"
    check(page, f"{name}-receipt-found", WIDTH, prefix="participation-")
    listed = context.request.get(f"{base}/m/alpha/polls/{poll_id}/ballots.json")
    assert listed.ok and receipt in json.dumps(listed.json()), f"{name}: the receipt is not in ballots.json"


def test_admin_clerk_and_resident_take_part_and_see_results(
    live_server, citizen, portal_context, sessions, check_page, sign_in
):
    app, base = live_server, live_server.live_url
    outside: list[str] = []

    admin = portal_context(WIDTH, outside, sessions["state"]("alpha.municipal_admin"))
    try:
        page = admin.new_page()
        poll_id = _admin_makes_and_publishes(page, base, check_page, "poll")
        budget_id = _admin_makes_and_publishes(page, base, check_page, "budget")
        consultation_id = _admin_consultation(page, base, check_page)
    finally:
        admin.close()

    clerk = portal_context(WIDTH, outside, sessions["state"]("alpha.clerk"))
    try:
        _clerk_verifies(clerk.new_page(), base, check_page)
    finally:
        clerk.close()

    resident = portal_context(WIDTH, outside)
    try:
        page = resident.new_page()
        sign_in(page, EMAIL)
        poll_receipt, budget_receipt = _resident_votes(page, base, check_page, poll_id, budget_id)
        _resident_comments(page, base, check_page, consultation_id)

        _time_passes(app, [poll_id, budget_id], consultation_id)

        _results(page, resident, base, check_page, poll_id, poll_receipt, "poll")
        _results(page, resident, base, check_page, budget_id, budget_receipt, "budget")
        # Within the budget, projects 2 and 3 were chosen: both are funded.
        winners = page.locator("#winners ol.winners").inner_text()
        assert PROJECTS[1][0] in winners and PROJECTS[2][0] in winners and PROJECTS[0][0] not in winners
        _go(page, f"{base}/m/alpha/consultations/{consultation_id}/")
        assert page.locator("form.consultation-comment-form").count() == 0
        check_page(page, "consultation-closed", WIDTH, prefix="participation-")
    finally:
        resident.close()

    admin = portal_context(WIDTH, outside, sessions["state"]("alpha.municipal_admin"))
    try:
        page = admin.new_page()
        for poll, kind in ((poll_id, "poll"), (budget_id, "budget")):
            _go(page, f"{base}/admin/polls/{poll}/")
            assert page.locator("[data-phase=closed]").count() == 1 and page.locator("[data-ballots='1']").count() == 1
            check_page(page, f"admin-closed-{kind}", WIDTH, prefix="participation-")
    finally:
        admin.close()
    assert outside == [], f"pages fetched outside resources: {outside}"
