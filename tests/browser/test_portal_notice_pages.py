"""The citizen's notices in a real browser, in Armenian, at 390 px and 1366 px: the notices
page (unread and read notices, the bell in the navigation), the unsubscribe confirmation
and the answer to a broken unsubscribe link have no axe-core violation and fit the screen;
then the citizen marks a notice read with the keyboard and the bell's count drops.

Screenshots go to ``test-artifacts/portal/<page>-<width>.png`` (``HAMAYNK_TEST_ARTIFACTS``
moves the root).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.roles import SPECIALIST
from app.testing import actor_for, add_staff, enable_service, file_application, make_citizen

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)
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


def _bell_name(page) -> str:
    return page.locator("#notices-bell").evaluate("a => a.textContent.replace(/\\s+/g, ' ').trim()")


def test_notice_pages_pass_axe_at_phone_and_desktop_width_and_a_notice_is_marked_read(
    live_server, portal_context, sign_in, check_page, targets
):
    base = live_server.live_url
    outside: list[str] = []
    for width in WIDTHS:
        context = portal_context(width, outside)
        page = context.new_page()
        sign_in(page, CITIZEN)
        assert page.goto(f"{base}/my/notices/").status == 200
        assert page.locator("[data-notice]").count() == 3
        assert page.locator("[data-read=no]").count() == 3
        check_page(page, "notices-index", width)
        # The unsubscribe link from an e-mail, and a broken one.
        assert page.goto(f"{base}/notices/unsubscribe/{targets['token']}").status == 200
        assert page.locator("#unsubscribe-result").count() == 1
        check_page(page, "notices-unsubscribed", width)
        assert page.goto(f"{base}/notices/unsubscribe/{targets['token']}x").status == 400
        check_page(page, "notices-unsubscribe-invalid", width)
        context.close()

    # With the keyboard alone: the bell, then "mark as read" on the newest notice.
    context = portal_context(390, outside)
    page = context.new_page()
    sign_in(page, CITIZEN)
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
    check_page(page, "notices-index-one-read", 390)
    context.close()
    assert outside == [], f"pages fetched outside resources: {outside}"
