""" "My applications" in a real browser, in Armenian, at 390 px and 1366 px: the list, a
returned application, its correction form (as it opens and with errors), the public status
look-up (form and result) and claiming a walk-in application have no axe-core violation and
fit the screen; then a citizen claims a walk-in receipt with the keyboard and finds it in
their list.

Screenshots go to ``test-artifacts/portal/<page>-<width>.png`` (``HAMAYNK_TEST_ARTIFACTS``
moves the root).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.roles import SPECIALIST
from app.testing import add_staff, apply, attach, make_citizen

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)
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


def test_my_applications_pages_pass_axe_at_phone_and_desktop_width_and_a_receipt_is_claimed(
    live_server, portal_context, sign_in, check_page, targets
):
    base = live_server.live_url
    outside: list[str] = []
    walk_in = targets["walk_in"]
    for width in WIDTHS:
        # Anyone: the look-up, its form and its answer.
        context = portal_context(width, outside)
        page = context.new_page()
        assert page.goto(f"{base}/track").status == 200
        check_page(page, "mine-lookup", width)
        page.fill("#tracking_number", walk_in.tracking_number)
        page.fill("#access_code", walk_in.access_code)
        with page.expect_navigation():
            page.press("#access_code", "Enter")
        assert page.locator("#lookup-result").count() == 1, page.content()[:2000]
        assert "Հովհաննես" not in page.content()  # nothing personal
        check_page(page, "mine-lookup-result", width)
        # A wrong code: the error summary.
        page.goto(f"{base}/track")
        page.fill("#tracking_number", walk_in.tracking_number)
        page.fill("#access_code", "սխալ")
        with page.expect_navigation():
            page.press("#access_code", "Enter")
        assert page.locator(".error-summary").count() == 1
        check_page(page, "mine-lookup-not-found", width)
        context.close()

        # The citizen.
        context = portal_context(width, outside)
        page = context.new_page()
        sign_in(page, CITIZEN)
        assert page.goto(f"{base}/my/applications/").status == 200
        assert page.locator("[data-application]").count() == 2
        check_page(page, "mine-index", width)
        assert page.goto(f"{base}/my/applications/{targets['returned']}").status == 200
        assert page.locator("#case-correction").count() == 1
        check_page(page, "mine-show-returned", width)
        assert page.goto(f"{base}/my/applications/{targets['in_review']}").status == 200
        check_page(page, "mine-show", width)
        assert page.goto(f"{base}/my/applications/{targets['returned']}/correct").status == 200
        assert page.locator("[name=data-address]").count() == 1
        assert page.locator("input[name=data-purpose], select[name=data-purpose]").count() == 0
        check_page(page, "mine-correct", width)
        # Sent with the address emptied and no file: the answer with every error marked.
        page.fill("[name=data-address]", "")
        with page.expect_navigation():
            page.click("form.correct-form button[type=submit]")
        assert page.locator(".error-summary").count() == 1 and page.locator("[aria-invalid=true]").count() >= 2
        check_page(page, "mine-correct-errors", width)
        assert page.goto(f"{base}/my/applications/{targets['in_review']}/withdraw").status == 200
        check_page(page, "mine-withdraw", width)
        assert page.goto(f"{base}/my/claim").status == 200
        check_page(page, "mine-claim", width)
        context.close()

    # The receipt claimed with the keyboard alone; the application joins the list.
    context = portal_context(390, outside)
    page = context.new_page()
    sign_in(page, CITIZEN)
    page.goto(f"{base}/my/claim")
    page.focus("#tracking_number")
    page.keyboard.type(walk_in.tracking_number)
    page.keyboard.press("Tab")
    page.keyboard.type(walk_in.access_code)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/my/applications/{walk_in.id}"), page.url
    check_page(page, "mine-show-claimed", 390)
    page.goto(f"{base}/my/applications/")
    assert page.locator(f"[data-application='{walk_in.id}']").count() == 1
    context.close()
    assert outside == [], f"pages fetched outside resources: {outside}"
