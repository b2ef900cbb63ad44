"""The online application in a real browser (Chromium), in Armenian.

A citizen on a 390 px phone starts an application from the service page, fills the form,
attaches two files (the upload progress bar shows while they go up, over a throttled
connection), saves, reloads, resumes on another device from the drafts list and submits;
the back button afterwards leads to the same confirmation and no second application.

Every page of the online application (start, guide, form, form with errors, documents,
fee, confirm, drafts, delete, confirmation) has no axe-core violation at 390 px and 1366 px
and fits the screen. Screenshots go to ``test-artifacts/portal/apply-<page>-<width>.png``
(``HAMAYNK_TEST_ARTIFACTS`` moves the root).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.testing import make_citizen, make_pdf, make_png

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HAMAYNK_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "portal"
WIDTHS = (390, 1366)
SERVICE = "residence-certificate"
PAID_SERVICE = "trade-permit"
STORY_CITIZEN = "lilit@example.com"
AXE_CITIZEN = "aram@example.com"


def _draft_id(page) -> int:
    parts = page.url.split("/my/drafts/", 1)[1].split("/")
    return int(parts[0])


def _applications(app) -> list[Any]:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Application

    with app.app_context():
        return list(db.session.execute(select(Application.id, Application.tracking_number, Application.channel)).all())


def test_a_citizen_applies_on_a_phone_saves_resumes_and_submits(live_server, portal_context, sign_in, tmp_path):
    base = live_server.live_url
    make_citizen(live_server, STORY_CITIZEN, name="Լիլիթ Հակոբյան")
    before = len(_applications(live_server))
    outside: list[str] = []
    phone = portal_context(390, outside)
    try:
        page = phone.new_page()
        sign_in(page, STORY_CITIZEN)
        # From the public service page, as a citizen finds it.
        response = page.goto(f"{base}/m/alpha/services/{SERVICE}/")
        if (
            response is not None
            and response.status == 200
            and page.locator(f"form[action$='/{SERVICE}/apply'] button").count()
        ):
            page.locator(f"form[action$='/{SERVICE}/apply'] button").first.click()
        else:
            page.goto(f"{base}/m/alpha/services/{SERVICE}/apply")
            page.locator("main form button[type=submit]").first.click()
        page.wait_for_url("**/guide")
        draft_id = _draft_id(page)
        assert page.locator(".steps li[aria-current=step]").count() == 1
        page.locator("button[value=continue]").click()
        page.wait_for_url("**/form")

        # The form: applicant filled in from the account; a conditional field follows its condition.
        assert page.input_value("#applicant-name") == "Լիլիթ Հակոբյան"
        assert page.input_value("#applicant-email") == STORY_CITIZEN
        page.select_option("#purpose", "other")
        assert page.locator("[data-field=purpose_other]").is_visible()
        page.select_option("#purpose", "bank")
        assert not page.locator("[data-field=purpose_other]").is_visible()
        page.fill("#address", "Աբովյան 12, բն. 5")
        # Continue with a missing value: the error summary takes the focus and links to the field.
        page.fill("#copies", "")
        page.locator("button[value=continue]").click()
        page.wait_for_load_state("networkidle")
        assert page.evaluate("document.activeElement.id") == "error-summary"
        page.locator("#error-summary a[href='#copies']").click()
        assert page.evaluate("document.activeElement.id") == "copies"
        page.fill("#copies", "2")
        page.locator("button[value=save]").click()
        page.wait_for_load_state("networkidle")
        assert page.input_value("#address") == "Աբովյան 12, բն. 5"
        page.locator("button[value=continue]").click()
        page.wait_for_url("**/documents")

        # A file of the wrong type is refused in the page, before anything is sent.
        wrong = tmp_path / "notes.txt"
        wrong.write_text("not a scan")
        page.set_input_files("#doc-identity", str(wrong))
        assert "notes.txt" in page.inner_text("#doc-identity-check")
        assert page.locator(".attached li").count() == 0

        # Two files over a slow connection: the progress bar shows while they go up.
        front = tmp_path / "անձնագիր-1.pdf"
        front.write_bytes(make_pdf("front") + b"%" + b"0" * 400_000)
        back = tmp_path / "passport-2.png"
        back.write_bytes(make_png(40, 40))
        cdp = phone.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 100 * 1024},
        )
        page.set_input_files("#doc-identity", [str(front), str(back)])
        page.wait_for_selector("#doc-identity-progress:not([hidden])", timeout=5000)
        page.wait_for_function(
            "() => { const p = document.querySelector('#doc-identity-progress progress'); return p && p.value > 0; }",
            timeout=15000,
        )
        page.screenshot(path=str(ARTIFACTS / "apply-uploading-390.png"), full_page=True)
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.wait_for_selector("#doc-identity-title ~ .attached li:nth-child(2)", timeout=30000)
        assert "անձնագիր-1.pdf" in page.inner_text("[data-document=identity] .attached")
        assert "passport-2.png" in page.inner_text("[data-document=identity] .attached")
        page.locator("button[value=save]").click()
        page.wait_for_load_state("networkidle")
        page.reload()
        assert page.locator("[data-document=identity] .attached li").count() == 2
        # Remove one (in place, by the script) and attach it again.
        page.locator("[data-document=identity] .attached li", has_text="passport-2.png").locator("button").click()
        page.wait_for_function("() => document.querySelectorAll('[data-document=identity] .attached li').length === 1")
        page.set_input_files("#doc-identity", str(back))
        page.wait_for_selector("#doc-identity-title ~ .attached li:nth-child(2)", timeout=30000)
    finally:
        phone.close()

    # Another device: the draft is on the server.
    laptop = portal_context(390, outside)
    try:
        page = laptop.new_page()
        sign_in(page, STORY_CITIZEN)
        page.goto(f"{base}/my/drafts/")
        page.locator(f"a[href='/my/drafts/{draft_id}/documents']").click()
        page.wait_for_url("**/documents")
        assert page.locator("[data-document=identity] .attached li").count() == 2
        page.locator("button[value=continue]").click()
        page.wait_for_url("**/fee")
        page.locator("main form:not([action*='/pay/']) button[value=continue]").click()
        page.wait_for_url("**/confirm")
        assert "Աբովյան 12, բն. 5" in page.inner_text("main")
        assert "անձնագիր-1.pdf" in page.inner_text("main")
        page.locator("form[data-submit-once] button[type=submit]").click()
        page.wait_for_url("**/submitted")
        filed = _applications(live_server)
        assert len(filed) == before + 1
        number = filed[-1].tracking_number
        assert number in page.inner_text("main") and filed[-1].channel == "online"
        # Back, and reload: the same confirmation, still one application.
        page.go_back()
        page.wait_for_load_state("networkidle")
        page.reload()
        page.wait_for_load_state("networkidle")
        assert "/submitted" in page.url
        assert len(_applications(live_server)) == before + 1
    finally:
        laptop.close()
    assert outside == [], f"pages fetched outside resources: {outside}"


@pytest.fixture(scope="module")
def drafts_to_show(live_server) -> dict[str, Any]:
    """A citizen's drafts at every stage, made through the domain: one of a free service with
    a file attached, one of a service with a fee; and a filed application for the
    confirmation page."""
    from app.domain import drafts, staging
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime
    from app.testing import actor_for, attach

    app = live_server
    user_id = make_citizen(app, AXE_CITIZEN, name="Արամ Խաչատրյան")
    alpha = app.seeded["alpha"]["id"]
    with app.test_request_context("/"):
        registry = plugin_runtime.registry(app)
        citizen = actor_for(user_id)
        free = drafts.start(db.session, registry, citizen, municipality_id=alpha, service_key=SERVICE)
        service = drafts.service_of(db.session, registry, free)
        assert service is not None
        form = {"address": "Աբովյան 1", "purpose": "bank", "copies": "1"}
        drafts.save(db.session, free, expected_version=free.version, service=service, form=form, stage="confirm")
        staging.stage(
            db.session,
            get_storage(app),
            citizen,
            alpha,
            free.token,
            service,
            {"identity": [attach("pdf", "անձնագիր.pdf")]},
        )
        paid = drafts.start(db.session, registry, citizen, municipality_id=alpha, service_key=PAID_SERVICE)
        drafts.save(db.session, paid, expected_version=paid.version, stage="fee")
        filed = drafts.start(db.session, registry, citizen, municipality_id=alpha, service_key=SERVICE)
        drafts.save(db.session, filed, expected_version=filed.version, service=service, form=form, stage="confirm")
        staging.stage(db.session, get_storage(app), citizen, alpha, filed.token, service, {"identity": [attach("pdf")]})
        result = drafts.submit(
            db.session, plugin_runtime.host(app), get_storage(app), citizen, filed, expected_version=filed.version
        )
        return {"free": free.id, "paid": paid.id, "application": result.application.id}


PAGES = [
    ("start", lambda d: f"/m/alpha/services/{SERVICE}/apply"),
    ("guide", lambda d: f"/my/drafts/{d['free']}/guide"),
    ("form", lambda d: f"/my/drafts/{d['free']}/form"),
    ("form-errors", lambda d: f"/my/drafts/{d['paid']}/form?check=1"),
    ("documents", lambda d: f"/my/drafts/{d['free']}/documents"),
    ("documents-errors", lambda d: f"/my/drafts/{d['paid']}/documents?check=1"),
    ("fee", lambda d: f"/my/drafts/{d['paid']}/fee"),
    ("confirm", lambda d: f"/my/drafts/{d['free']}/confirm"),
    ("confirm-problems", lambda d: f"/my/drafts/{d['paid']}/confirm"),
    ("drafts", lambda d: "/my/drafts/"),
    ("delete", lambda d: f"/my/drafts/{d['free']}/delete"),
    ("done", lambda d: f"/my/applications/{d['application']}/submitted"),
]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_apply_page_passes_axe_and_fits(live_server, portal_context, sign_in, check_page, drafts_to_show, width):
    base = live_server.live_url
    outside: list[str] = []
    context = portal_context(width, outside)
    try:
        page = context.new_page()
        sign_in(page, AXE_CITIZEN)
        for name, path in PAGES:
            response = page.goto(base + path(drafts_to_show))
            assert response is not None and response.status == 200, f"{name}: {response and response.status}"
            check_page(page, name, width, prefix="apply-")
    finally:
        context.close()
    assert outside == [], f"pages fetched outside resources: {outside}"
