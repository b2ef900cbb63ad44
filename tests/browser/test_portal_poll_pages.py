"""The poll and budget-vote pages in Chromium, in Armenian, at a phone's width (390 px) and a
desktop's (1366 px): the municipality's home listing them, a poll's page for a visitor, the
ballot for a verified resident (the budget's running total follows the marks, and a ballot
over the budget is refused by the server all the same), the receipt, live results and the
results of a closed poll with its receipt check. axe-core finds no violation, nothing is
fetched from another site, nothing is wider than the screen. Screenshots:
``test-artifacts/portal/polls-*-<width>.png``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from poll_kit import budget_spec, load, make_resident, poll_spec, published

from app.domain.participation import ballots
from app.extensions import db
from app.models.base import utcnow
from app.testing import make_citizen

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)


@pytest.fixture(scope="module")
def poll_data(live_server):
    app = live_server
    alpha = app.seeded["alpha"]
    data = {
        "poll": published(app, alpha, poll_spec(results_visibility="live", allow_change=True)),
        "budget": published(app, alpha, budget_spec([1_500_000, 2_000_000, 700_000], 3_000_000), kind="budget"),
        "closed": published(app, alpha),
        "voters": {},
    }
    for width in WIDTHS:
        email = f"voter{width}@test.example"
        make_resident(app, alpha["id"], make_citizen(app, email))
        data["voters"][width] = email
    # The closed poll: two ballots, then its window ends and it is counted.
    receipts = []
    with app.app_context():
        poll = load(data["closed"])
        from app.domain.participation import polls

        view = polls.structure(db.session, poll)
        q1, q2 = view.questions
        for marks in ({q1.id: [q1.options[0].id], q2.id: [q2.options[1].id]}, {q1.id: [q1.options[1].id]}):
            voter = make_resident(app, alpha["id"])
            receipts.append(ballots.cast(db.session, load(data["closed"]), voter_user_id=voter, choices=marks).code)
        poll = load(data["closed"])
        poll.closes_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
        ballots.close(db.session, poll)
        db.session.commit()
    data["receipt"] = receipts[0]
    return data


def _go(page, url: str, status: int = 200) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, f"{url}: {response and response.status}"


def test_poll_pages_in_armenian_at_phone_and_desktop_width(live_server, poll_data, portal_context, check_page, sign_in):
    base = live_server.live_url
    for width in WIDTHS:
        outside: list[str] = []
        context = portal_context(width, outside)
        try:
            page = context.new_page()
            _go(page, f"{base}/m/alpha/")
            assert page.locator(".participation .process-list li").count() == 3
            check_page(page, "home", width, prefix="polls-")
            _go(page, f"{base}/m/alpha/polls/{poll_data['poll']}/")
            assert page.locator("#why-not").count() == 1 and page.locator("form.ballot-form").count() == 0
            check_page(page, "visitor", width, prefix="polls-")
            _go(page, f"{base}/m/alpha/polls/{poll_data['closed']}/results")
            assert page.locator("figure.chart svg[role=img]").count() == 2
            page.fill("#code", poll_data["receipt"].lower())
            page.press("#code", "Enter")
            page.wait_for_load_state("networkidle")
            assert page.locator(".check-found").count() == 1
            # The results table wraps between words only (the page's body breaks words anywhere).
            wraps = page.eval_on_selector_all(
                ".poll-result th, .poll-result td", "cells => cells.map(c => getComputedStyle(c).overflowWrap)"
            )
            assert wraps and set(wraps) == {"normal"}, wraps
            check_page(page, "closed-results", width, prefix="polls-")

            sign_in(page, poll_data["voters"][width])
            # The poll: the ballot, then the receipt, then the live results.
            _go(page, f"{base}/m/alpha/polls/{poll_data['poll']}/")
            assert page.locator("fieldset.ballot-question").count() == 2
            check_page(page, "ballot", width, prefix="polls-")
            page.locator("fieldset.ballot-question").nth(0).locator("input").nth(1).check()
            page.locator("fieldset.ballot-question").nth(1).locator("input").nth(0).check()
            page.click("form.ballot-form button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator("#receipt-code").count() == 1 and page.locator("#change-code").count() == 1
            check_page(page, "receipt", width, prefix="polls-")
            _go(page, f"{base}/m/alpha/polls/{poll_data['poll']}/results")
            check_page(page, "live-results", width, prefix="polls-")

            # The budget vote: the running total follows the marks; over the budget the
            # script warns, and the server refuses the ballot anyway.
            _go(page, f"{base}/m/alpha/polls/{poll_data['budget']}/")
            boxes = page.locator("fieldset.ballot-question input[type=checkbox]")
            assert boxes.count() == 3 and page.locator("#budget-over").is_hidden()
            boxes.nth(0).check()
            boxes.nth(1).check()
            assert "3" in page.inner_text("#budget-sum") and page.locator("#budget-over").is_visible()
            check_page(page, "budget-over", width, prefix="polls-")
            page.click("form.ballot-form button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator("#error-summary").count() == 1 and page.locator("#receipt-code").count() == 0
            check_page(page, "budget-refused", width, prefix="polls-")
            page.locator("fieldset.ballot-question input[type=checkbox]").nth(0).uncheck()
            page.locator("fieldset.ballot-question input[type=checkbox]").nth(2).check()
            assert page.locator("#budget-over").is_hidden()
            page.click("form.ballot-form button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator("#receipt-code").count() == 1
            assert outside == [], f"poll pages fetched outside resources: {outside}"
        finally:
            context.close()


def test_the_admin_list_wraps_a_long_title_in_its_phone_card(live_server, poll_data, browser, sign_in):
    """At 390 px the list's rows are stacked cards: Bootstrap's one-line cells of a
    .table-responsive must not apply there, or a long title is clipped."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        sign_in(page, "alpha.municipal_admin")
        _go(page, f"{live_server.live_url}/admin/polls/")
        cells = page.locator("table.hamaynk-stacked > tbody > tr > td")
        assert cells.count() >= 3
        spaces = cells.evaluate_all("cells => cells.map(c => getComputedStyle(c).whiteSpace)")
        assert set(spaces) == {"normal"}, spaces
        clipped = cells.evaluate_all("cells => cells.filter(c => c.scrollWidth > c.clientWidth + 1).length")
        assert clipped == 0
    finally:
        context.close()
