"""axe-core finds no accessibility violation on the pages staff and visitors use, in Armenian,
at a phone's width (390 px) and a desktop's (1366 px).

axe-core is vendored under tests/browser/vendor/axe-core (MPL-2.0, see its README), so CI needs
no npm; ``HAMAYNK_AXE_JS`` points at another copy. Every page is also saved as a full-page
screenshot under ``test-artifacts/axe/<width>/`` (``HAMAYNK_TEST_ARTIFACTS`` moves the root),
so a person can look at what axe looked at.

Pages are found through the seeded data the other browser tests use (tests/browser/conftest.py:
Alpha with every built-in service enabled and one user per role), never by hard-coded ids.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from app.testing import PASSWORD

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HAMAYNK_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "axe"
WIDTHS = {"phone": (390, 844), "desktop": (1366, 900)}

# A verified resident of Alpha (made by ``targets``) who comments and proposes; office voters
# are others, one per width for the receipt (a person votes once).
RESIDENT = "axe.resident@test.example"
OFFICE_VOTERS = {
    "booth": "axe.booth@test.example",
    "phone": "axe.phone@test.example",
    "desktop": "axe.desktop@test.example",
}

# (name, who is signed in, where) — ``where`` is a path, or the key of a path found in the
# seeded data by the ``targets`` fixture. "intake-errors" is the intake form sent empty.
PAGES: list[tuple[str, str | None, str]] = [
    ("home-signed-out", None, "/"),
    ("login", None, "/login/"),
    ("landing-clerk", "alpha.clerk", "/"),
    ("landing-specialist", "alpha.specialist", "/"),
    ("landing-head", "alpha.head", "/"),
    ("landing-municipal-admin", "alpha.municipal_admin", "/"),
    ("landing-auditor", "alpha.auditor", "/"),
    ("landing-system-admin", "sysadmin", "/"),
    ("landing-citizen", "citizen", "/"),
    ("office-index", "alpha.clerk", "/office/"),
    ("intake", "alpha.clerk", "intake"),
    ("intake-errors", "alpha.clerk", "intake"),
    ("receipt", "alpha.clerk", "receipt"),
    ("inbox", "alpha.specialist", "/workspace/"),
    ("inbox-clerk", "alpha.clerk", "/workspace/?tab=all"),
    ("case-clerk", "alpha.clerk", "case"),
    ("case-specialist", "alpha.specialist", "case"),
    ("services", "alpha.municipal_admin", "/admin/services/"),
    ("service-edit", "alpha.municipal_admin", "service-edit"),
    ("staff-list", "alpha.municipal_admin", "/admin/staff/"),
    ("staff-form", "alpha.municipal_admin", "/admin/staff/add"),
    ("builder-list", "alpha.municipal_admin", "/admin/builder/"),
    ("builder", "alpha.municipal_admin", "/admin/builder/new"),
    ("notification-texts", "alpha.municipal_admin", "/admin/notification-texts/"),
    ("notification-text-edit", "alpha.municipal_admin", "/admin/notification-texts/edit?event=returned&language=hy"),
    ("substitutes", "alpha.specialist", "/workspace/substitutes/"),
    ("polls-admin", "alpha.municipal_admin", "/admin/polls/"),
    ("poll-new", "alpha.municipal_admin", "/admin/polls/new?kind=poll"),
    ("budget-vote-new", "alpha.municipal_admin", "/admin/polls/new?kind=budget"),
    ("poll-new-errors", "alpha.municipal_admin", "/admin/polls/new?kind=poll"),
    # Voting at the office: the open votes, a poll with the person found, the booth turned to
    # the voter (after "check and open"), the voter's receipt (after casting).
    ("office-voting", "alpha.clerk", "/office/voting/"),
    ("office-voting-poll", "alpha.clerk", "office-voting-booth"),
    ("office-voting-booth", "alpha.clerk", "office-voting-booth"),
    ("office-voting-receipt", "alpha.clerk", "office-voting-receipt"),
    ("consultations-admin", "alpha.municipal_admin", "/admin/consultations/"),
    ("consultation-admin", "alpha.municipal_admin", "consultation-admin"),
    ("proposals-admin", "alpha.municipal_admin", "/admin/proposals/"),
    ("proposal-admin", "alpha.municipal_admin", "proposal-admin"),
    # The public pages of a consultation and of proposals, for a visitor and a resident.
    ("consultation-public", None, "consultation"),
    ("consultation-resident", RESIDENT, "consultation"),
    ("proposals-public", None, "/m/alpha/proposals/"),
    ("proposal-public", None, "proposal"),
    ("proposal-resident", RESIDENT, "proposal"),
    ("proposal-new", RESIDENT, "/m/alpha/proposals/new"),
]


WIDEST = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
               && !Array.from(e.children).some(c => c.getBoundingClientRect().right > document.documentElement.clientWidth + 1))
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : ''))"""


def _first_href(page, selector: str, base: str) -> str:
    link = page.locator(selector).first
    href = link.get_attribute("href")
    assert href, f"no link {selector} on {page.url}"
    return urljoin(base + "/", href).removeprefix(base)


@pytest.fixture(scope="module")
def sessions(browser, live_server) -> dict[str, Any]:
    """Signed-in browser state per user, made once: each page then opens in a fresh context."""
    made: dict[str, Any] = {}

    def state(username: str | None):
        if username is None:
            return None
        if username not in made:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{live_server.live_url}/login/")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.press("input[name=password]", "Enter")
            page.wait_for_load_state("networkidle")
            assert "/login" not in page.url, f"{username} could not sign in"
            made[username] = context.storage_state()
            context.close()
        return made[username]

    return {"state": state}


@pytest.fixture(scope="module")
def targets(browser, live_server, sessions) -> dict[str, str]:
    """Paths of the pages that need data: a service's intake form (the first the office
    offers), a filed application's receipt and case page, a service's settings page."""
    from app.testing import file_application

    base = live_server.live_url
    found: dict[str, str] = {}
    context = browser.new_context(storage_state=sessions["state"]("alpha.clerk"))
    page = context.new_page()
    page.goto(f"{base}/office/")
    intakes = [
        urljoin(base + "/", href).removeprefix(base)
        for href in page.locator("a[href*='/office/new/']").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
    ]
    context.close()
    assert intakes, "the office offers no service"
    # The first service the test helpers can fill in with sample data gives the application.
    application_id = None
    for path in intakes:
        try:
            application_id = file_application(live_server, path.rstrip("/").rsplit("/", 1)[-1])
        except AssertionError:
            continue
        found["intake"] = path
        break
    assert application_id is not None, f"no service could be filed with sample data: {intakes}"
    found["receipt"] = f"/office/receipt/{application_id}"
    found["case"] = f"/workspace/applications/{application_id}"
    context = browser.new_context(storage_state=sessions["state"]("alpha.municipal_admin"))
    page = context.new_page()
    page.goto(f"{base}/admin/services/")
    found["service-edit"] = _first_href(page, "a[href*='/admin/services/']:not([href$='/admin/services/'])", base)
    context.close()
    found.update(_participation(live_server))
    return found


def _participation(app) -> dict[str, str]:
    """An open poll with office voters, a consultation open for comments with a resident's
    comment, and a resident's proposal: the paths of their pages."""
    import datetime as dt

    from poll_kit import make_resident, poll_spec, published

    from app.domain.participation import consultations, proposals
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models.base import utcnow
    from app.models.participation import Consultation
    from app.testing import actor_for, make_citizen

    alpha = app.seeded["alpha"]
    poll_id = published(app, alpha, poll_spec(allow_change=True))
    for email in (RESIDENT, *OFFICE_VOTERS.values()):
        make_resident(app, alpha["id"], make_citizen(app, email, name="Արամ Սարգսյան"))
    resident = make_citizen(app, RESIDENT)
    with app.test_request_context("/"):
        now = utcnow()
        consultation = Consultation(
            municipality_id=alpha["id"],
            title={"hy": "Կայանատեղիների մասին որոշման նախագիծ", "en": "Draft on parking"},
            body={"hy": "Հոդված 1. Կայանումը վճարովի է։", "en": "Article 1. Parking is paid."},
            status="published",
            opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=10),
        )
        db.session.add(consultation)
        db.session.commit()
        consultations.add_comment(
            db.session, actor_for(resident), consultation, body="Համաձայն եմ, բայց ոչ կիրակի օրերին։"
        )
        proposal = proposals.submit(
            db.session,
            get_storage(app),
            actor_for(resident),
            alpha["id"],
            title="Խաղահրապարակ բակում",
            description="Ճոճանակներ և սահարան Աբովյան 2-ի բակում։",
            cost_estimate="1500000",
            location="Աբովյան 2",
        )
        db.session.commit()
        consultation_id, proposal_id = consultation.id, proposal.id
    office = f"/office/voting/{poll_id}/?q="
    return {
        "office-voting-booth": office + OFFICE_VOTERS["booth"],
        "office-voting-receipt-phone": office + OFFICE_VOTERS["phone"],
        "office-voting-receipt-desktop": office + OFFICE_VOTERS["desktop"],
        "consultation": f"/m/alpha/consultations/{consultation_id}/",
        "consultation-admin": f"/admin/consultations/{consultation_id}/",
        "proposal": f"/m/alpha/proposals/{proposal_id}",
        "proposal-admin": f"/admin/proposals/{proposal_id}/",
    }


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize(("name", "user", "where"), PAGES, ids=[p[0] for p in PAGES])
def test_no_axe_violations(browser, live_server, sessions, targets, name, user, where, width, axe):
    base = live_server.live_url
    w, h = WIDTHS[width]
    context = browser.new_context(
        viewport={"width": w, "height": h},
        is_mobile=width == "phone",
        has_touch=width == "phone",
        storage_state=sessions["state"](user),
        locale="hy-AM",
    )
    try:
        page = context.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:")) else None)
        response = page.goto(base + targets.get(f"{where}-{width}", targets.get(where, where)))
        assert response is not None
        if name == "intake-errors":
            # Sent empty, past the browser's own checks (as an old browser would): the server's
            # answer with every error marked is the page under test.
            with page.expect_navigation():
                page.evaluate(
                    "() => { const f = document.querySelector('form.office-intake'); f.noValidate = true; f.submit(); }"
                )
            assert page.locator(".has-error").count() > 0, "the empty intake form came back without errors"
        elif name == "poll-new-errors":
            # Saved empty: every problem marked next to its input, listed at the top.
            with page.expect_navigation():
                page.click("button.btn-primary[name=op][value=save]")
            assert page.locator("#poll-errors").count() == 1, "the empty poll form came back without errors"
        elif name in ("office-voting-booth", "office-voting-receipt"):
            # The clerk checks the person and opens the booth; the voter marks and casts.
            with page.expect_navigation():
                page.locator("form[action*='/booth'] button[type=submit]").click()
            assert page.locator("input[name^=q]").count() > 0, "the booth shows no ballot"
            if name == "office-voting-receipt":
                for question in page.locator("form[action*='/cast'] fieldset").all():
                    question.locator("input").first.check()
                with page.expect_navigation():
                    page.locator("form[action*='/cast'] button[type=submit]").click()
                assert page.locator("#receipt-code").count() == 1, "no receipt after casting"
        else:
            assert response.status == 200, f"{name}: {response.status} at {page.url}"
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("html", "lang") == "hy"
        if user is not None:
            assert "/login" not in page.url, f"{name}: signed out"
        shot = ARTIFACTS / width / f"{name}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        violations = axe(page)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        # What sticks out, to name in the failure: the innermost elements past the right edge.
        wide = page.evaluate(WIDEST) if overflow > 0 else []
        title = page.title()
    finally:
        context.close()
    (ARTIFACTS / width / f"{name}.json").write_text(json.dumps(violations, ensure_ascii=False, indent=1))
    assert outside == [], f"{name} fetched outside resources: {outside}"
    assert not violations, f"{name} at {w}px:\n{_describe(violations)}"
    assert overflow <= 0, f"{name} is {overflow}px wider than a {w}px screen: {wide}"
    assert re.search(r" · ", title), f"{name}: the title {title!r} does not name the page"


# -- keyboard, phone menu, language switch, dates ------------------------------------------------


def _context(browser, sessions, user, width="desktop"):
    w, h = WIDTHS[width]
    return browser.new_context(
        viewport={"width": w, "height": h}, is_mobile=width == "phone", storage_state=sessions["state"](user)
    )


def test_menu_is_reachable_by_tab_and_enter_with_a_visible_focus_ring(browser, live_server, sessions):
    context = _context(browser, sessions, "alpha.municipal_admin")
    try:
        page = context.new_page()
        page.goto(f"{live_server.live_url}/")
        page.evaluate("document.body.tabIndex = -1; document.body.focus()")
        for _ in range(15):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.matches('.navbar-nav > li.dropdown > .dropdown-toggle')"):
                break
        else:
            pytest.fail("Tab never reached a menu")
        ring = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert ring != "none", "the focused menu toggle shows no focus ring"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.getAttribute('aria-expanded')") == "true"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('.dropdown-menu') !== null"), "Tab did not enter the menu"
        target = page.evaluate("document.activeElement.getAttribute('href')")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith(target)
    finally:
        context.close()


def test_phone_menu_button_is_named_and_opens_the_menu(browser, live_server, sessions):
    context = _context(browser, sessions, "alpha.clerk", "phone")
    try:
        page = context.new_page()
        page.goto(f"{live_server.live_url}/")
        button = page.locator("button.navbar-toggle")
        assert button.is_visible()
        name = page.evaluate("document.querySelector('button.navbar-toggle').innerText.trim()") or ""
        assert name or button.get_attribute("aria-label"), "the menu button has no name"
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector("#hamaynk-navbar.in")
        assert button.get_attribute("aria-expanded") == "true"
    finally:
        context.close()


def test_language_switch_stays_on_the_page_and_asks_before_losing_input(browser, live_server, sessions, targets):
    context = _context(browser, sessions, "alpha.clerk")
    try:
        page = context.new_page()
        base = live_server.live_url
        page.goto(base + targets["intake"])
        page.click("#hamaynk-language-toggle")
        page.click(".hamaynk-language a[hreflang=en]")
        page.wait_for_load_state("networkidle")
        assert page.url == base + targets["intake"]
        assert page.get_attribute("html", "lang") == "en"
        # A changed form: the switch asks first; "Cancel" keeps the page and what was typed.
        field = page.locator("form.office-intake input[type=text]").first
        field.fill("Արմեն")
        asked: list[str] = []

        def answer(dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", answer)
        page.click("#hamaynk-language-toggle")
        page.click(".hamaynk-language a[hreflang=hy]")
        page.wait_for_timeout(300)
        assert asked, "no warning before leaving the changed form"
        assert page.get_attribute("html", "lang") == "en"
        assert field.input_value() == "Արմեն"
        page.goto(f"{base}/lang/hy?next=/")
    finally:
        context.close()


def test_date_filters_are_typed_in_the_page_locales_format(browser, live_server, sessions):
    context = _context(browser, sessions, "alpha.specialist")
    try:
        page = context.new_page()
        page.goto(f"{live_server.live_url}/workspace/")
        assert page.get_attribute("html", "lang") == "hy"
        field = page.locator("#filter-from")
        assert field.get_attribute("type") == "text"
        assert "31.12.2026" in page.locator("#filter-from-format").inner_text()
        field.fill("02.03.2026")
        with page.expect_navigation():
            page.locator("form.workspace-filters button[type=submit]").click()
        assert "from=2026-03-02" in page.url
        assert page.locator("#filter-from").input_value() == "02.03.2026"
    finally:
        context.close()
