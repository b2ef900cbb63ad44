""" "My applications" in a real browser, in Armenian, at 390 px and 1366 px: the list, a
returned application, its correction form (as it opens and with errors), the public status
look-up (form and result) and claiming a walk-in application have no axe-core violation and
fit the screen; then a citizen claims a walk-in receipt with the keyboard and finds it in
their list.

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
from app.testing import PASSWORD, add_staff, apply, attach, make_citizen

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HAMAYNK_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "portal"
WIDTHS = {390: 844, 1366: 900}
CITIZEN = "anahit@example.test"
SERVICE_KEY = "residence-certificate"


@pytest.fixture(scope="module")
def targets(live_server) -> dict[str, Any]:
    """A citizen with a returned online application and one in review, and a walk-in
    application with its receipt."""
    from app.domain import channels, intake, workflow
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models import Application
    from app.plugins import runtime as plugin_runtime
    from app.testing import actor_for

    app = live_server
    alpha = app.seeded["alpha"]
    citizen = make_citizen(app, CITIZEN, name="Անահիտ Սարգսյան")
    registrar = add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")

    def online(address: str) -> int:
        with app.test_request_context("/"):
            return intake.file(
                db.session,
                plugin_runtime.host(app),
                get_storage(app),
                actor_for(citizen),
                municipality_id=alpha["id"],
                service_key=SERVICE_KEY,
                data={"address": address, "purpose": "bank", "copies": "1"},
                applicant={"name": "Անահիտ Սարգսյան"},
                uploads={"identity": [attach("pdf", "անձնագիր.pdf")]},
                channel=channels.ONLINE,
            ).application.id

    in_review = online("Աբովյան 1, Կոտայք")
    returned = online("Աբովյան 2, Կոտայք")
    with app.test_request_context("/"):
        application = db.session.get(Application, returned)
        workflow.return_for_correction(
            db.session,
            application,
            actor=actor_for(registrar),
            expected_version=application.version,
            what_to_fix="Նշեք բնակարանի համարը և կցեք ընթեռնելի պատճեն։",
            fields=["address"],
            documents=["identity"],
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
    walk_in = apply(app, SERVICE_KEY, applicant_name="Հովհաննես Թումանյան")
    return {"citizen": citizen, "returned": returned, "in_review": in_review, "walk_in": walk_in}


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}")
    return "\n".join(lines)


def _check(page, axe, name: str, width: int, base: str) -> None:
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


def test_my_applications_pages_pass_axe_at_phone_and_desktop_width_and_a_receipt_is_claimed(
    browser, live_server, targets, axe
):
    base = live_server.live_url
    outside: list[str] = []
    walk_in = targets["walk_in"]
    for width in WIDTHS:
        # Anyone: the look-up, its form and its answer.
        context = _context(browser, width, base, outside)
        page = context.new_page()
        assert page.goto(f"{base}/track").status == 200
        _check(page, axe, "mine-lookup", width, base)
        page.fill("#tracking_number", walk_in.tracking_number)
        page.fill("#access_code", walk_in.access_code)
        with page.expect_navigation():
            page.press("#access_code", "Enter")
        assert page.locator("#lookup-result").count() == 1, page.content()[:2000]
        assert "Հովհաննես" not in page.content()  # nothing personal
        _check(page, axe, "mine-lookup-result", width, base)
        # A wrong code: the error summary.
        page.goto(f"{base}/track")
        page.fill("#tracking_number", walk_in.tracking_number)
        page.fill("#access_code", "սխալ")
        with page.expect_navigation():
            page.press("#access_code", "Enter")
        assert page.locator(".error-summary").count() == 1
        _check(page, axe, "mine-lookup-not-found", width, base)
        context.close()

        # The citizen.
        context = _context(browser, width, base, outside)
        page = context.new_page()
        _sign_in(page, base)
        assert page.goto(f"{base}/my/applications/").status == 200
        assert page.locator("[data-application]").count() == 2
        _check(page, axe, "mine-index", width, base)
        assert page.goto(f"{base}/my/applications/{targets['returned']}").status == 200
        assert page.locator("#case-correction").count() == 1
        _check(page, axe, "mine-show-returned", width, base)
        assert page.goto(f"{base}/my/applications/{targets['in_review']}").status == 200
        _check(page, axe, "mine-show", width, base)
        assert page.goto(f"{base}/my/applications/{targets['returned']}/correct").status == 200
        assert page.locator("[name=data-address]").count() == 1
        assert page.locator("input[name=data-purpose], select[name=data-purpose]").count() == 0
        _check(page, axe, "mine-correct", width, base)
        # Sent with the address emptied and no file: the answer with every error marked.
        page.fill("[name=data-address]", "")
        with page.expect_navigation():
            page.click("form.correct-form button[type=submit]")
        assert page.locator(".error-summary").count() == 1 and page.locator("[aria-invalid=true]").count() >= 2
        _check(page, axe, "mine-correct-errors", width, base)
        assert page.goto(f"{base}/my/applications/{targets['in_review']}/withdraw").status == 200
        _check(page, axe, "mine-withdraw", width, base)
        assert page.goto(f"{base}/my/claim").status == 200
        _check(page, axe, "mine-claim", width, base)
        context.close()

    # The receipt claimed with the keyboard alone; the application joins the list.
    context = _context(browser, 390, base, outside)
    page = context.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/my/claim")
    page.focus("#tracking_number")
    page.keyboard.type(walk_in.tracking_number)
    page.keyboard.press("Tab")
    page.keyboard.type(walk_in.access_code)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/my/applications/{walk_in.id}"), page.url
    _check(page, axe, "mine-show-claimed", 390, base)
    page.goto(f"{base}/my/applications/")
    assert page.locator(f"[data-application='{walk_in.id}']").count() == 1
    context.close()
    assert outside == [], f"pages fetched outside resources: {outside}"
