"""A clerk takes a walk-in application with uploads and prints the receipt; a specialist
and the head then approve it — in a real browser against a real server."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Application
from app.testing import SAMPLE_FILES


def test_clerk_takes_a_walk_in_application_and_the_registry_approves_it(page, live_server, sign_in, tmp_path):
    base = live_server.live_url
    sign_in(page, "alpha.clerk")
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/office/")
    page.get_by_role("link", name=re.compile("Certificate of residence and family composition")).click()

    page.get_by_label("Full name", exact=True).fill("Արմեն Սարգսյան")
    page.get_by_label("Public service number", exact=True).fill("1234567890")
    page.get_by_label("Phone", exact=True).fill("091 123456")
    page.locator("fieldset").nth(1).get_by_label("Address", exact=True).fill("Աբովյան, Հանրապետության 10")
    page.get_by_label("Purpose", exact=True).select_option("bank")
    page.get_by_label("Number of copies", exact=True).fill("2")
    passport = tmp_path / "passport.pdf"
    passport.write_bytes(SAMPLE_FILES["pdf"][0])
    page.get_by_label(re.compile("Passport or ID card")).set_input_files(str(passport))
    page.get_by_role("button", name="File the application").click()
    page.wait_for_load_state("networkidle")

    with live_server.app_context():
        application = db.session.execute(select(Application).order_by(Application.id.desc())).scalars().first()
        assert application is not None and application.status == "submitted"
        assert [d.original_name for d in application.documents] == ["passport.pdf"]
        tracking = application.tracking_number
    assert tracking in page.content()

    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("receipt", re.IGNORECASE)).first.click()
    receipt = tmp_path / "receipt.pdf"
    download_info.value.save_as(receipt)
    assert receipt.read_bytes().startswith(b"%PDF")
    page.goto(f"{base}/logout/")
    page.click("#hamaynk-logout-form button")  # signing out is a POST
    _specialist_and_head_approve_it_from_their_inbox(page, live_server, sign_in, application.id)


def _specialist_and_head_approve_it_from_their_inbox(page, live_server, sign_in, application_id: int) -> None:
    """Residence certificates are checked by the population registry department, then signed
    by its head (plugins/residence_certificate)."""
    from app.demo import ensure_user
    from app.domain.roles import HEAD, SPECIALIST
    from app.testing import PASSWORD, password_hash

    base = live_server.live_url
    alpha = live_server.seeded["alpha"]
    with live_server.app_context():
        for username, role in (("alpha.registrar", SPECIALIST), ("alpha.registry_head", HEAD)):
            ensure_user(
                live_server.appbuilder.sm,
                username=username,
                email=f"{username}@test.example",
                first_name=username,
                last_name="Alpha",
                password=PASSWORD,
                password_hash=password_hash(),
                roles=[role],
                municipality_id=alpha["id"],
                department_id=alpha["departments"]["civil_registry"],
            )

    for username, expected_status in (("alpha.registrar", "in_review"), ("alpha.registry_head", "approved")):
        sign_in(page, username)
        page.goto(f"{base}/lang/en")
        page.goto(f"{base}/workspace/")
        page.locator(f"a[href$='/workspace/applications/{application_id}']").first.click()
        page.wait_for_load_state("networkidle")
        assert "passport.pdf" in page.content()
        page.get_by_role("button", name="Approve").click()
        page.wait_for_load_state("networkidle")
        # The last step asks to confirm the approval of the whole application.
        confirm = page.get_by_role("dialog").get_by_role("button", name=re.compile("^Yes"))
        if confirm.count():
            confirm.click()
            page.wait_for_load_state("networkidle")
        with live_server.app_context():
            assert db.session.get(Application, application_id).status == expected_status
            db.session.remove()
        page.goto(f"{base}/logout/")
        page.click("#hamaynk-logout-form button")  # signing out is a POST
