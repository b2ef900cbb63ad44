"""The citizen's notices in a real browser, in Armenian, at 390 px and 1366 px: the notices
page (unread and read notices, the bell in the navigation), the unsubscribe confirmation
and the answer to a broken unsubscribe link have no axe-core violation and fit the screen;
then the citizen marks a notice read with the keyboard and the bell's count drops.

Screenshots go to ``test-artifacts/portal/<page>-<width>.png`` (``HAMAYNK_TEST_ARTIFACTS``
moves the root).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from app.domain.roles import SPECIALIST
from app.testing import PASSWORD, actor_for, add_staff, enable_service, file_application, make_citizen

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HAMAYNK_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "portal"
WIDTHS = {390: 844, 1366: 900}
CITIZEN = "notices.citizen@example.test"
SERVICE_KEY = "residence-certificate"


@pytest.fixture(scope="module")
def targets(live_server) -> dict[str, Any]:
    """A citizen with three notices about two applications (a submission each, a step change)."""
    from app.domain import citizen_notices, workflow
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models import Application
    from app.plugins import runtime as plugin_runtime

    app = live_server
    alpha = app.seeded["alpha"]
    citizen = make_citizen(app, CITIZEN, name="Անահիտ Սարգսյան")
    registrar = add_staff(app, alpha, "alpha.notices_registrar", [SPECIALIST], "civil_registry")
    enable_service(app, alpha["id"], SERVICE_KEY)
    first = file_application(app, SERVICE_KEY, applicant_user_id=citizen, applicant_name="Անահիտ Սարգսյան")
    file_application(app, SERVICE_KEY, applicant_user_id=citizen, applicant_name="Անահիտ Սարգսյան")
    with app.test_request_context("/"):
        application = db.session.get(Application, first)
        workflow.act(
            db.session,
            application,
            action="approve",
            actor=actor_for(registrar),
            host=plugin_runtime.host(app),
            storage=get_storage(app),
            expected_version=application.version,
        )
        workflow.commit(db.session)
    return {"citizen": citizen, "token": citizen_notices.unsubscribe_token(app.config, citizen)}


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}")
    return "\n".join(lines)


def _check(page, axe, name: str, width: int) -> None:
    """The page as it is now: Armenian, titled, no axe violation, no sideways scrolling;
    saved as a screenshot."""
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "lang") == "hy", name
    assert " · " in page.title(), f"{name}: the title {page.title()!r} does not name the page"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    violations = axe(page)
    (ARTIFACTS / f"{name}-{width}.json").write_text(json.dumps(violations, ensure_ascii=False, indent=1))
    assert not violations, f"{name} at {width}px:\n{_describe(violations)}"
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px screen"


def _context(browser, width: int, base: str, outside: list[str]):
    context = browser.new_context(
        viewport={"width": width, "height": WIDTHS[width]},
        is_mobile=width == 390,
        has_touch=width == 390,
        locale="hy-AM",
    )
    context.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:")) else None)
    return context


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", CITIZEN)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, "the citizen could not sign in"


def _bell_name(page) -> str:
    return page.locator("#notices-bell").evaluate("a => a.textContent.replace(/\\s+/g, ' ').trim()")


def test_notice_pages_pass_axe_at_phone_and_desktop_width_and_a_notice_is_marked_read(
    browser, live_server, targets, axe
):
    base = live_server.live_url
    outside: list[str] = []
    for width in WIDTHS:
        context = _context(browser, width, base, outside)
        page = context.new_page()
        _sign_in(page, base)
        assert page.goto(f"{base}/my/notices/").status == 200
        assert page.locator("[data-notice]").count() == 3
        assert page.locator("[data-read=no]").count() == 3
        _check(page, axe, "notices-index", width)
        # The unsubscribe link from an e-mail, and a broken one.
        assert page.goto(f"{base}/notices/unsubscribe/{targets['token']}").status == 200
        assert page.locator("#unsubscribe-result").count() == 1
        _check(page, axe, "notices-unsubscribed", width)
        assert page.goto(f"{base}/notices/unsubscribe/{targets['token']}x").status == 400
        _check(page, axe, "notices-unsubscribe-invalid", width)
        context.close()

    # With the keyboard alone: the bell, then "mark as read" on the newest notice.
    context = _context(browser, 390, base, outside)
    page = context.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/my/applications/")
    # Its accessible name reads "<Notices>, 3 unread": the visible "(3)" is hidden from it.
    assert page.locator("#notices-bell .sr-only").inner_text().strip().startswith(", 3 ")
    assert page.locator("#notices-bell [aria-hidden=true]").inner_text().strip() == "(3)"
    assert page.get_by_role("link", name=_bell_name(page).split(" (")[0], exact=False).count() == 1
    page.focus("#notices-bell")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/my/notices/")
    newest = page.locator("[data-notice]").first
    newest.locator("button[type=submit]").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("[data-read=no]").count() == 2
    assert page.locator("[data-notice]").first.get_attribute("data-read") == "yes"
    assert "(2)" in page.locator("#notices-bell").inner_text()
    _check(page, axe, "notices-index-one-read", 390)
    context.close()
    assert outside == [], f"pages fetched outside resources: {outside}"
