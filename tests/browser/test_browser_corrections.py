"""A specialist returns an application naming one field and one document; the clerk finds
it in "My tasks", changes exactly those and resubmits; the history shows old → new and the
replaced scan — in a real browser against a real server."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Application, ApplicationDocument


def _staff_the_registry(live_server) -> None:
    from app.demo import ensure_user
    from app.domain.roles import HEAD, SPECIALIST
    from app.testing import PASSWORD, password_hash

    alpha = live_server.seeded["alpha"]
    with live_server.app_context():
        for username, role in (("alpha.registrar", SPECIALIST), ("alpha.registry_head", HEAD)):
            ensure_user(
                live_server.appbuilder.sm,
                username=username,
                email=f"{username}@test.example",
                first_name=username.split(".")[1].title(),
                last_name="Alpha",
                password=PASSWORD,
                password_hash=password_hash(),
                roles=[role],
                municipality_id=alpha["id"],
                department_id=alpha["departments"]["civil_registry"],
            )


def _file(live_server) -> int:
    """A residence certificate with a passport scan, filed through the intake as the office does."""
    from app.domain import access, channels, intake
    from app.domain.storage import get_storage
    from app.plugins import runtime as plugin_runtime
    from app.testing import attach

    alpha = live_server.seeded["alpha"]
    with live_server.test_request_context("/"):
        result = intake.file(
            db.session,
            plugin_runtime.host(live_server),
            get_storage(live_server),
            access.load_actor(db.session, alpha["users"]["clerk"]),
            municipality_id=alpha["id"],
            service_key="residence-certificate",
            data={"address": "Abovyan, Kotayk 1", "purpose": "bank", "copies": "1"},
            applicant={"name": "Armen Sargsyan"},
            uploads={"identity": [attach("pdf", "passport-blurred.pdf")]},
            channel=channels.OFFICE,
        )
        application_id = result.application.id
        db.session.remove()
        return application_id


def _open(page, base: str, application_id: int) -> None:
    page.goto(f"{base}/workspace/?tab=mine")
    page.locator(f"a[href$='/workspace/applications/{application_id}']").first.click()
    page.wait_for_load_state("networkidle")


def test_a_return_names_a_field_and_a_document_and_the_clerk_corrects_exactly_those(
    page, live_server, sign_in, tmp_path, axe
):
    from app.testing import SAMPLE_FILES

    base = live_server.live_url
    _staff_the_registry(live_server)
    application_id = _file(live_server)

    # The specialist ticks the address and the passport, and says why.
    sign_in(page, "alpha.registrar")
    page.goto(f"{base}/lang/en")
    _open(page, base, application_id)
    assert [v["id"] for v in axe(page)] == []
    page.get_by_role("group", name="Fields to fix").get_by_label("Address", exact=True).check()
    page.get_by_role("group", name="Documents to fix").get_by_label("Passport or ID card").check()
    page.get_by_label("What the applicant has to correct").fill("The street number is wrong; the scan is blurred.")
    page.get_by_role("button", name="Return for correction").click()
    page.wait_for_load_state("networkidle")
    with live_server.app_context():
        assert db.session.get(Application, application_id).status == "returned_for_correction"
        db.session.remove()
    page.goto(f"{base}/logout/")
    page.click("#hamaynk-logout-form button")  # signing out is a POST

    # The clerk finds it in "My tasks" with its age, and sees what to fix.
    sign_in(page, "alpha.clerk")
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/workspace/?tab=mine")
    row = page.locator(f"tr[data-application='{application_id}']")
    assert "returned today" in row.inner_text()
    _open(page, base, application_id)
    fix = page.locator("#case-correction")
    assert "Address" in fix.inner_text() and "Passport or ID card" in fix.inner_text()
    form = page.locator("form.case-resubmit")
    # Exactly the named field and document: nothing else can be changed here.
    assert form.locator("input[name^='data-'], select[name^='data-'], textarea[name^='data-']").count() == 1
    assert form.locator("input[type=file]").count() == 1
    assert [v["id"] for v in axe(page)] == []
    form.get_by_label("Address", exact=True).fill("Abovyan, Kotayk 12")
    scan = tmp_path / "passport-clear.png"
    scan.write_bytes(SAMPLE_FILES["png"][0])
    form.get_by_label("Passport or ID card").set_input_files(str(scan))
    form.get_by_role("button", name="Resubmit after correction").click()
    page.wait_for_load_state("networkidle")

    with live_server.app_context():
        application = db.session.get(Application, application_id)
        assert application.status == "in_review"
        assert application.data["address"] == "Abovyan, Kotayk 12" and application.data["copies"] == 1
        names = db.session.execute(
            select(ApplicationDocument.original_name)
            .where(ApplicationDocument.application_id == application_id)
            .order_by(ApplicationDocument.id)
        ).scalars()
        assert list(names) == ["passport-blurred.pdf", "passport-clear.png"]
        db.session.remove()

    # The history shows old → new, and the replaced scan stays listed and openable.
    history = page.locator(".case-timeline li[data-action='resubmit']")
    text = history.inner_text()
    assert re.search(r"Address: Abovyan, Kotayk 1 → Abovyan, Kotayk 12", text), text
    assert "passport-blurred.pdf" in text and "passport-clear.png" in text
    with page.expect_download() as download:
        history.get_by_role("link", name="passport-blurred.pdf").click()
    assert download.value.suggested_filename == "passport-blurred.pdf"
    replaced_row = page.locator("table tr", has_text="passport-blurred.pdf")
    assert "replaced" in replaced_row.inner_text()
    assert [v["id"] for v in axe(page)] == []
    # Then the story ends: approved to the last step (confirmed first) and handed over.
    page.goto(f"{live_server.live_url}/logout/")
    page.click("#hamaynk-logout-form button")  # signing out is a POST
    _final_approval_confirmed_and_handed_over_by_keyboard(page, live_server, sign_in, axe, application_id)


def _status(live_server, application_id: int) -> str:
    with live_server.app_context():
        status = db.session.get(Application, application_id).status
        db.session.remove()
        return status


def _final_approval_confirmed_and_handed_over_by_keyboard(page, live_server, sign_in, axe, application_id):
    base = live_server.live_url
    for username in ("alpha.registrar", "alpha.registry_head"):
        sign_in(page, username)
        page.goto(f"{base}/lang/en")
        page.goto(f"{base}/workspace/applications/{application_id}")
        page.get_by_role("button", name="Approve", exact=True).click()
        page.wait_for_load_state("networkidle")
        if username == "alpha.registrar":
            page.goto(f"{base}/logout/")
            page.click("#hamaynk-logout-form button")  # signing out is a POST
    # The head's approval is the last: a dialog asks first, and nothing happened yet.
    dialog = page.get_by_role("dialog")
    assert "the whole application will be approved" in dialog.inner_text()
    assert _status(live_server, application_id) == "in_review"
    assert [v["id"] for v in axe(page)] == []
    dialog.get_by_role("button", name="Yes, approve the application").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert _status(live_server, application_id) == "approved"
    page.goto(f"{base}/logout/")
    page.click("#hamaynk-logout-form button")  # signing out is a POST

    sign_in(page, "alpha.clerk")
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/workspace/applications/{application_id}")
    assert [v["id"] for v in axe(page)] == []
    radio = page.get_by_role("group", name="How the result reached the applicant").get_by_label("By post")
    radio.focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Hand over the result").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert _status(live_server, application_id) == "issued"
    assert "Handed over: By post" in page.locator(".case-timeline").inner_text()
