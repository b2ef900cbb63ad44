"""Uploads survive a refused submission, in a real browser (issue 8): the construction permit
(three required documents) is sent without one of them; the other two lines' files stay
attached, the browser refuses a wrong-type and a too-large file before sending, and the
resubmission files all three. Then the receipt: Print by keyboard, confirm the hand-over."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import Application
from app.models.office import StagedUpload
from app.testing import make_pdf

PERMIT_FIELDS = {
    "cadastral_code": "07-001-0123-0045",
    "plot_address": "Abovyan, Garegin Nzhdeh 5",
    "plot_area": "600",
    "footprint_area": "120",
    "building_area": "200",
    "floors": "2",
    "designer": "Archstudio LLC",
    "designer_licence": "L-1234",
}
PERMIT_CHOICES = {"zone": "residential", "work_type": "new", "building_purpose": "house"}


def test_a_refused_submission_keeps_the_files_and_the_resubmission_files_all_three(
    page, live_server, sign_in, tmp_path
):
    base = live_server.live_url
    sign_in(page, "alpha.clerk")
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/office/new/construction-permit")

    page.get_by_label("Full name", exact=True).fill("Anna Hakobyan")
    for name, value in PERMIT_FIELDS.items():
        page.fill(f"[name={name}]", value)
    for name, value in PERMIT_CHOICES.items():
        page.select_option(f"[name={name}]", value)
    paths = {}
    for name, text in (("ownership.pdf", "ownership"), ("design-1.pdf", "design 1"), ("assignment.pdf", "assignment")):
        paths[name] = tmp_path / name
        paths[name].write_bytes(make_pdf(text))
    page.set_input_files("#doc-ownership_certificate", str(paths["ownership.pdf"]))
    page.set_input_files("#doc-design_documentation", str(paths["design-1.pdf"]))
    # The planning assignment is forgotten.
    page.get_by_role("button", name="File the application").click()
    page.wait_for_load_state("networkidle")

    content = page.content()
    assert "These documents are required and were not attached" in content
    assert "The files already accepted are kept" in content
    for name, line in (("ownership.pdf", "ownership_certificate"), ("design-1.pdf", "design_documentation")):
        kept = page.locator(f'[data-document="{line}"] .office-kept li')
        assert kept.count() == 1 and name in kept.inner_text()
        # Each kept file has its own, named "Remove" checkbox.
        assert page.get_by_role("checkbox", name=f"Remove {name}").count() == 1
    with live_server.app_context():
        assert db.session.execute(select(Application)).first() is None
        assert sorted(r.original_name for r in db.session.execute(select(StagedUpload)).scalars()) == [
            "design-1.pdf",
            "ownership.pdf",
        ]
    page.screenshot(path=str(tmp_path / "staging-refused.png"), full_page=True)

    # The browser checks type and size before anything is sent; the server stays the judge.
    check = page.locator("#doc-planning_assignment-check")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a scan")
    page.set_input_files("#doc-planning_assignment", str(notes))
    assert "notes.txt is not a file type" in check.inner_text()
    assert page.get_attribute("#doc-planning_assignment", "aria-invalid") == "true"
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024 + 1))
    page.set_input_files("#doc-planning_assignment", str(big))
    assert "big.pdf is too large: this document may be at most 10 MB." in check.inner_text()
    requests = []
    page.on("request", lambda request: requests.append(request) if request.method == "POST" else None)
    page.get_by_role("button", name="File the application").click()
    page.wait_for_timeout(300)
    assert requests == [], "a form with a refused file was sent"
    assert page.evaluate("document.activeElement.id") == "doc-planning_assignment"

    page.set_input_files("#doc-planning_assignment", str(paths["assignment.pdf"]))
    # The browser's own message goes; the server's "attach this document" stays until it answers.
    assert check.inner_text() == ""
    page.get_by_role("button", name="File the application").click()
    page.wait_for_url(re.compile(r"/office/receipt/\d+$"))

    with live_server.app_context():
        application = db.session.execute(select(Application).order_by(Application.id.desc())).scalars().first()
        assert application is not None and application.status == "submitted"
        assert sorted((d.requirement_key, d.original_name) for d in application.documents) == [
            ("design_documentation", "design-1.pdf"),
            ("ownership_certificate", "ownership.pdf"),
            ("planning_assignment", "assignment.pdf"),
        ]
        assert db.session.execute(select(StagedUpload)).first() is None
        tracking = application.tracking_number

    # The receipt: the code survives a reload; Print works from the keyboard.
    code = page.locator("#access-code").inner_text()
    page.reload()
    assert page.locator("#access-code").inner_text() == code and tracking in page.content()
    # Ends in a value: Playwright calls an expression that evaluates to a function.
    page.evaluate("window.__printed = 0; window.print = function () { window.__printed += 1; }; 0")
    page.locator("#print-receipt").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("window.__printed") == 1
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Print").is_visible()
    assert page.locator("#access-code").is_visible()
    page.emulate_media(media="screen")
    page.get_by_role("button", name="The receipt was printed or handed over").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("#access-code").count() == 0 and code not in page.content()
    assert page.get_by_role("button", name="Issue a new access code").is_visible()
