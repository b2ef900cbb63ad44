"""A clerk takes a walk-in application with uploads and prints the receipt; a specialist
and the head then approve it — in a real browser against a real server."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Application
from app.testing import make_pdf


def test_clerk_takes_a_walk_in_application_and_prints_the_receipt(page, live_server, sign_in, tmp_path):
    base = live_server.live_url
    sign_in(page, "alpha.clerk")
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/office/")
    page.get_by_role("link", name=re.compile("Certificate of residence and family composition")).click()

    page.get_by_label("Full name").fill("Արմեն Սարգսյան")
    page.get_by_label("Public service number").fill("1234567890")
    page.get_by_label("Phone").fill("091 123456")
    page.locator("fieldset").nth(1).get_by_label("Address").fill("Աբովյան, Հանրապետության 10")
    page.get_by_label("Purpose").select_option("bank")
    page.get_by_label("Number of copies").fill("2")
    passport = tmp_path / "passport.pdf"
    passport.write_bytes(make_pdf("passport scan"))
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
    live_server.walk_in_application_id = application.id
