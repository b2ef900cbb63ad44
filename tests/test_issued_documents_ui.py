"""Issued documents in the portal and on the staff case page: the citizen downloads their own
document in force (another citizen gets 404, staff are not citizens); the case page lists a
case's issued documents for its municipality's staff with download, and the head alone
re-issues or revokes (with a reason); another municipality's staff reach none of it; and,
end to end, a real final approval issues a document that the public verifies, the head
re-issues and revokes, and the verification pages follow."""

from __future__ import annotations

import io
import re

import pytest
from issued_kit import issue_directly
from sqlalchemy import func, select

from app.domain import intake, statuses, workflow
from app.domain.channels import ONLINE
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, AuditEvent, IssuedDocument
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, apply, attach, enable_service, login, make_citizen, walk

A_NAME = "Աննա Փաստաթղթային"
A_EMAIL = "anna.docs@example.com"


@pytest.fixture
def citizen_app(app):
    """An online application of citizen A's (alpha), filed and submitted."""
    user_id = make_citizen(app, A_EMAIL, name=A_NAME)
    alpha = app.seeded["alpha"]
    enable_service(app, alpha, "residence-certificate")
    with app.test_request_context("/?_l_=en"):
        filed = intake.file(
            db.session,
            plugin_runtime.host(app),
            get_storage(app),
            actor_for(user_id),
            municipality_id=alpha["id"],
            service_key="residence-certificate",
            data={"address": "Փաստաթղթի փողոց 3", "purpose": "bank", "copies": "1"},
            applicant={"name": A_NAME, "email": A_EMAIL},
            channel=ONLINE,
            uploads={"identity": [attach("pdf", "a-passport.pdf")]},
            locale="en",
        )
        return filed.application.id


def text(response) -> str:
    return response.get_data(as_text=True)


def _status(app, issued_id: int) -> tuple[str, int | None, str | None]:
    with app.app_context():
        row = db.session.get(IssuedDocument, issued_id)
        return row.status, row.superseded_by_id, row.revoke_reason


def _count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(IssuedDocument)).scalar_one()


# -- the citizen's download ----------------------------------------------------------------------


def test_the_citizen_downloads_their_own_document_in_force(app, client, citizen_app):
    first = issue_directly(app, citizen_app)
    login(client, A_EMAIL)
    response = client.get(f"/my/applications/{citizen_app}/document?_l_=en")
    assert response.status_code == 200 and response.data == first.content
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    assert first.number.replace("/", "-") in response.headers["Content-Disposition"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "issued_document.download")
        ).scalar_one()
        assert event.object_id == str(first.id) and event.details["channel"] == ONLINE
    # A newer issue replaces it: the download follows.
    second = issue_directly(app, citizen_app)
    with app.app_context():
        old = db.session.get(IssuedDocument, first.id)
        old.status, old.superseded_by_id = "superseded", second.id
        db.session.commit()
    assert client.get(f"/my/applications/{citizen_app}/document").data == second.content
    # Revoked with nothing in its place: nothing to download, said plainly.
    with app.app_context():
        newest = db.session.get(IssuedDocument, second.id)
        newest.status = "revoked"
        db.session.commit()
    gone = client.get(f"/my/applications/{citizen_app}/document?_l_=en")
    assert gone.status_code == 404 and "no issued document in force" in text(gone)


def test_another_citizen_staff_and_strangers_do_not_get_it(app, client, citizen_app):
    document = issue_directly(app, citizen_app)
    url = f"/my/applications/{citizen_app}/document?_l_=en"
    make_citizen(app, "boris.docs@example.com", name="Բորիս Բ")
    login(client, "boris.docs@example.com")
    refused = client.get(url)
    assert refused.status_code == 404 and document.content not in refused.data and A_NAME not in text(refused)
    login(client, "alpha.clerk")
    assert client.get(url).status_code == 403  # staff download on the case page, not the portal
    client.post("/logout/")
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/account/login" in anonymous.headers["Location"]
    # An application without any document, and one that does not exist.
    login(client, A_EMAIL)
    assert client.get(f"/my/applications/{citizen_app + 999}/document").status_code == 404
    with app.app_context():
        assert (
            db.session.execute(select(func.count()).where(AuditEvent.action == "issued_document.download")).scalar_one()
            == 0
        )


# -- the staff case page -------------------------------------------------------------------------


@pytest.fixture
def office_case(app):
    filed = apply(app, "residence-certificate", applicant_name="Արմեն Գործ")
    return filed.id


def case_url(application_id: int) -> str:
    return f"/workspace/applications/{application_id}?_l_=en"


def test_the_case_page_lists_issued_documents_and_only_the_head_gets_the_buttons(app, client, office_case):
    document = issue_directly(app, office_case)
    login(client, "alpha.specialist")
    page = text(client.get(case_url(office_case)))
    assert 'id="case-issued"' in page and document.number in page and document.printed in page
    assert f'href="/verify/{document.printed}"' in page
    assert f"/workspace/applications/{office_case}/issued/{document.id}" in page  # download
    assert "/revoke" not in page and "/reissue" not in page
    assert "Only the head of the office may re-issue or revoke" in page
    login(client, "alpha.head")
    page = text(client.get(case_url(office_case)))
    assert f"/workspace/applications/{office_case}/issued/{document.id}/revoke" in page
    assert f"/workspace/applications/{office_case}/issued/{document.id}/reissue" in page
    assert 'name="reason"' in page and 'name="csrf_token"' in page
    # The auditor sees the list, not the files.
    login(client, "alpha.auditor")
    page = text(client.get(case_url(office_case)))
    assert document.number in page and f'/issued/{document.id}"' not in page


def test_staff_download_is_audited_and_refused_to_those_who_may_not(app, client, office_case):
    document = issue_directly(app, office_case)
    url = f"/workspace/applications/{office_case}/issued/{document.id}"
    login(client, "alpha.clerk")
    response = client.get(url)
    assert response.status_code == 200 and response.data == document.content
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "issued_document.download")
        ).scalar_one()
        assert event.actor_id == app.seeded["alpha"]["users"]["clerk"] and event.details["channel"] == "office"
    for username in ("beta.head", "beta.clerk", "alpha.auditor"):
        login(client, username)
        refused = client.get(url)
        assert refused.status_code in (302, 403, 404), username
        assert document.content not in refused.data
    login(client, "alpha.clerk")
    assert client.get(f"/workspace/applications/{office_case}/issued/{document.id + 50}").status_code == 404


def test_the_head_revokes_with_a_reason(app, client, office_case):
    document = issue_directly(app, office_case)
    url = f"/workspace/applications/{office_case}/issued/{document.id}/revoke?_l_=en"
    login(client, "alpha.head")
    missing = client.post(url, data={"reason": "  "})
    assert missing.status_code == 400 and "Give the reason for revoking" in text(missing)
    assert _status(app, document.id)[0] == "valid"
    done = client.post(url, data={"reason": "Սխալ հասցե"})
    assert done.status_code == 303 and done.headers["Location"].endswith("#case-issued")
    assert _status(app, document.id) == ("revoked", None, "Սխալ հասցե")
    page = text(client.get(case_url(office_case)))
    assert "is revoked" in page and "Սխալ հասցե" in page and "/revoke" not in page
    again = client.post(url, data={"reason": "again"})
    assert again.status_code == 400 and "already revoked" in text(again)
    public = text(client.get(f"/verify/{document.printed}?_l_=en"))
    assert 'data-status="revoked"' in public and "Սխալ հասցե" in public


@pytest.mark.parametrize("username", ["alpha.specialist", "alpha.clerk", "alpha.municipal_admin", "beta.head"])
def test_no_one_but_the_head_of_the_municipality_revokes_or_reissues(app, client, office_case, username):
    document = issue_directly(app, office_case)
    login(client, username)
    before = _count(app)
    for action in ("revoke", "reissue"):
        response = client.post(
            f"/workspace/applications/{office_case}/issued/{document.id}/{action}?_l_=en", data={"reason": "x"}
        )
        assert response.status_code in (302, 403, 404), (username, action, response.status_code)
        if username.startswith("alpha.") and response.status_code == 403:
            assert "Only the head" in text(response) or "permission" in text(response)
    assert _status(app, document.id) == ("valid", None, None)
    assert _count(app) == before


# -- end to end: a real final approval -----------------------------------------------------------


def test_a_final_approval_issues_a_document_that_verifies_and_the_head_reissues_and_revokes(app, client, citizen_app):
    assert walk(app, citizen_app) == statuses.APPROVED
    with app.app_context():
        rows = db.session.execute(select(IssuedDocument).where(IssuedDocument.application_id == citizen_app)).scalars()
        (first,) = list(rows)
        first_id, first_code, first_number = first.id, first.code, first.number
        first_bytes = get_storage(app).open(first.storage_key).read()
        application = db.session.get(Application, citizen_app)
        # Handed over online: the application is "issued" and My applications links the download.
        workflow.hand_over(
            db.session,
            application,
            actor=actor_for(app.seeded["alpha"]["users"]["clerk"]),
            expected_version=application.version,
            method="online",
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
    printed = "-".join(first_code[i : i + 4] for i in range(0, 16, 4))

    # The public verifies the original; a tampered copy fails; the holder shows as initials.
    page = text(client.get(f"/verify/{printed}?_l_=en"))
    assert 'data-status="valid"' in page and first_number in page and A_NAME not in page and "Ա. Փ." in page
    match = client.post(
        f"/verify/{printed}?_l_=en",
        data={"copy": (io.BytesIO(first_bytes), "d.pdf")},
        content_type="multipart/form-data",
    )
    assert 'data-result="match"' in text(match)
    tampered = bytearray(first_bytes)
    tampered[-100] ^= 0x20
    mismatch = client.post(
        f"/verify/{printed}?_l_=en",
        data={"copy": (io.BytesIO(bytes(tampered)), "d.pdf")},
        content_type="multipart/form-data",
    )
    assert 'data-result="mismatch"' in text(mismatch)

    # The citizen downloads it from My applications.
    login(client, A_EMAIL)
    mine = text(client.get(f"/my/applications/{citizen_app}?_l_=en"))
    assert f"/my/applications/{citizen_app}/document" in mine
    assert client.get(f"/my/applications/{citizen_app}/document").data == first_bytes

    # The head re-issues: a new document, the old one superseded and pointing to it.
    login(client, "alpha.head")
    reissued = client.post(f"/workspace/applications/{citizen_app}/issued/{first_id}/reissue?_l_=en")
    assert reissued.status_code == 303, text(reissued)
    status, successor_id, _reason = _status(app, first_id)
    assert status == "superseded" and successor_id is not None
    with app.app_context():
        second = db.session.get(IssuedDocument, successor_id)
        second_code, second_number = second.code, second.number
    second_printed = "-".join(second_code[i : i + 4] for i in range(0, 16, 4))
    old_page = text(client.get(f"/verify/{printed}?_l_=en"))
    assert 'data-status="superseded"' in old_page and second_printed in old_page
    assert second_number.endswith("/2")
    # The old one cannot be re-issued again, nor revoked; the new one is the one to manage.
    case = text(client.get(case_url(citizen_app)))
    assert f"/issued/{first_id}/reissue" not in case and f"/issued/{successor_id}/reissue" in case
    twice = client.post(f"/workspace/applications/{citizen_app}/issued/{first_id}/reissue?_l_=en")
    assert twice.status_code == 400 and "already been replaced" in text(twice)

    # The head revokes the new one; then re-issuing the revoked one is allowed: it stays
    # revoked and names the document issued in its place.
    revoked = client.post(
        f"/workspace/applications/{citizen_app}/issued/{successor_id}/revoke?_l_=en", data={"reason": "Սխալմամբ"}
    )
    assert revoked.status_code == 303
    new_page = text(client.get(f"/verify/{second_printed}?_l_=en"))
    assert 'data-status="revoked"' in new_page and "Սխալմամբ" in new_page
    again = client.post(f"/workspace/applications/{citizen_app}/issued/{successor_id}/reissue?_l_=en")
    assert again.status_code == 303
    status, third_id, reason = _status(app, successor_id)
    assert status == "revoked" and third_id is not None and reason == "Սխալմամբ"
    with app.app_context():
        third_code = db.session.get(IssuedDocument, third_id).code
    third_printed = "-".join(third_code[i : i + 4] for i in range(0, 16, 4))
    final_page = text(client.get(f"/verify/{second_printed}?_l_=en"))
    assert 'data-status="revoked"' in final_page and third_printed in final_page
    assert 'data-status="valid"' in text(client.get(f"/verify/{third_printed}?_l_=en"))
    with app.app_context():
        actions = [
            a
            for (a,) in db.session.execute(
                select(AuditEvent.action).where(AuditEvent.action.like("issued_document.%")).order_by(AuditEvent.id)
            )
        ]
    assert actions.count("issued_document.revoke") == 1 and actions.count("issued_document.reissued") == 2
    assert re.search(r"issued_document\.download", " ".join(actions))


def test_a_reissue_while_the_storage_is_down_says_so_and_changes_nothing(app, client, citizen_app, monkeypatch):
    from app.domain.storage import LocalStorage, StorageError

    assert walk(app, citizen_app) == statuses.APPROVED
    with app.app_context():
        (first_id,) = db.session.execute(
            select(IssuedDocument.id).where(IssuedDocument.application_id == citizen_app)
        ).scalars()

    def broken(self, key, stream):
        raise StorageError()

    monkeypatch.setattr(LocalStorage, "put", broken)
    login(client, "alpha.head")
    response = client.post(f"/workspace/applications/{citizen_app}/issued/{first_id}/reissue?_l_=en")
    assert response.status_code == 503
    assert "nothing was re-issued" in text(response)
    assert _status(app, first_id) == ("valid", None, None)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(IssuedDocument)).scalar_one() == 1
