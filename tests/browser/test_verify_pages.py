"""The public verification of issued documents in a real browser, in Armenian, at 390 px and
1366 px: the form (as it opens and with a malformed code), a valid document's page, a
superseded one's, a revoked one's, the "not found" page, and the answer to an uploaded file
(the original: it matches; a changed copy: it does not) have no axe-core violation, fit the
screen and fetch nothing from another site. The documents are real: issued by a final
approval (app.domain.issuing), re-issued and revoked by the head. The head's case page with
its "Issued documents" panel (download, re-issue, revoke) passes axe-core too.

Screenshots go to ``test-artifacts/portal/verify-<page>-<width>.png`` (``HAMAYNK_TEST_ARTIFACTS``
moves the root).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.testing import apply, walk

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)
SERVICE_KEY = "residence-certificate"


@pytest.fixture(scope="module")
def documents(live_server, tmp_path_factory) -> dict[str, Any]:
    """A document re-issued once (its first issue superseded, the second valid) and another
    application's document revoked by the head, with the valid one's file on disk."""
    from sqlalchemy import select

    from app.domain import issuing, verification
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models import IssuedDocument
    from app.plugins import runtime as plugin_runtime
    from app.testing import actor_for

    app = live_server
    # Every page of both widths from one address (127.0.0.1): more than a person checks.
    app.config["HAMAYNK_LIMIT_VERIFY"] = "200 per minute"
    head = app.seeded["alpha"]["users"]["head"]
    kept = apply(app, SERVICE_KEY, applicant_name="Հովհաննես Թումանյան")
    withdrawn = apply(app, SERVICE_KEY, applicant_name="Անահիտ Սարգսյան")
    for filed in (kept, withdrawn):
        assert walk(app, filed.id) == "approved"
    with app.test_request_context("/"):

        def first_of(application_id: int) -> IssuedDocument:
            stmt = select(IssuedDocument).where(IssuedDocument.application_id == application_id)
            return db.session.execute(stmt.order_by(IssuedDocument.sequence)).scalars().first()

        superseded = first_of(kept.id)
        valid = issuing.reissue(db.session, plugin_runtime.host(app), superseded, actor=actor_for(head))
        revoked = first_of(withdrawn.id)
        verification.revoke(db.session, revoked, actor_for(head), "Տրվել է սխալմամբ՝ դիմողի հասցեն սխալ էր նշված։")
        db.session.commit()
        folder = tmp_path_factory.mktemp("verify-files")
        original = folder / "document.pdf"
        original.write_bytes(get_storage(app).open(valid.storage_key).read())
        changed = bytearray(original.read_bytes())
        changed[len(changed) // 2] ^= 0x01
        tampered = folder / "document-changed.pdf"
        tampered.write_bytes(bytes(changed))
        return {
            "case": kept.id,
            "valid": issuing.format_code(valid.code),
            "superseded": issuing.format_code(superseded.code),
            "revoked": issuing.format_code(revoked.code),
            "original": str(original),
            "tampered": str(tampered),
        }


def _check(check_page, page, name: str, width: int, outside: list[str]) -> None:
    check_page(page, name, width, prefix="verify-")
    assert outside == [], f"{name} fetched outside resources: {outside}"


def test_verification_pages_pass_axe_at_phone_and_desktop_width(live_server, portal_context, check_page, documents):
    base = live_server.live_url
    for width in WIDTHS:
        outside: list[str] = []
        context = portal_context(width, outside)
        try:
            page = context.new_page()
            for name, path, status in (
                ("form", "/verify/", 200),
                ("form-error", "/verify/?code=K7QM-3XZP", 400),
                ("valid", f"/verify/{documents['valid']}", 200),
                ("superseded", f"/verify/{documents['superseded']}", 200),
                ("revoked", f"/verify/{documents['revoked']}", 200),
                ("not-found", "/verify/AAAA-BBBB-CCCC-DDDD", 404),
            ):
                response = page.goto(base + path)
                assert response is not None and response.status == status, f"{name}: {response and response.status}"
                _check(check_page, page, name, width, outside)
                body = page.inner_text("main")
                if name == "valid":
                    assert "Թումանյան" not in body and "Հովհաննես" not in body  # initials only
                if name == "superseded":
                    assert documents["valid"] in body
                if name == "revoked":
                    assert "Տրվել է սխալմամբ" in body

            # A code typed with the keyboard, in lower case without dashes, lands on its page.
            page.goto(base + "/verify/")
            page.fill("#code", documents["valid"].replace("-", "").lower())
            page.press("#code", "Enter")
            page.wait_for_load_state("networkidle")
            assert page.url.endswith(f"/verify/{documents['valid']}")

            # The original file matches; a copy changed by one bit does not.
            for name, path, result in (
                ("match", documents["original"], "match"),
                ("mismatch", documents["tampered"], "mismatch"),
            ):
                page.goto(f"{base}/verify/{documents['valid']}")
                page.set_input_files("#copy", path)
                page.click("#verify-check button[type=submit]")
                page.wait_for_load_state("networkidle")
                assert page.get_attribute("#verify-result", "data-result") == result
                _check(check_page, page, name, width, outside)
        finally:
            context.close()


def test_the_heads_case_page_with_its_issued_documents_passes_axe(
    live_server, portal_context, sign_in, look, documents
):
    outside: list[str] = []
    context = portal_context(1366, outside)
    try:
        page = context.new_page()
        sign_in(page, "alpha.head")
        page.goto(f"{live_server.live_url}/workspace/applications/{documents['case']}")
        assert page.locator("#case-issued tr[data-status=valid]").count() == 1
        assert page.locator("#case-issued tr[data-status=superseded]").count() == 1
        page.click("#case-issued summary")  # the revocation form, opened
        assert page.is_visible("#case-issued textarea[name=reason]")
        look(page, "case-issued", 1366, prefix="verify-").assert_clean(fits=False, titled=False)
        assert outside == []
    finally:
        context.close()
