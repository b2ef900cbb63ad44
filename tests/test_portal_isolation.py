"""Citizen against citizen, over every URL rule of the portal: citizen B, signed in, pointed at
citizen A's application, document, draft, question, attachment, notice and payment through
every portal endpoint (GET and POST, the ids in the path, the query and the form), is refused
(403/404/405/409, or a redirect), sees none of A's data, and changes nothing of A's.

Public pages (the catalogue, the look-up, sign-in pages) answer everyone; for them only "none
of A's data" and "nothing changed" hold. The rules are read from the app's URL map, so a
portal endpoint added later is crawled without anyone remembering to add it here; an
argument the crawl cannot fill fails the test rather than being skipped.
"""

from __future__ import annotations

import itertools
import re
from urllib.parse import quote

import pytest
from citizen_kit import SERVICE, CitizenTexts, seed_citizen_rows
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Application,
    ApplicationDocument,
    CitizenProfile,
    Notification,
    Payment,
    PortalDraft,
    Question,
    QuestionAttachment,
    QuestionMessage,
    StagedUpload,
    TransitionRecord,
)
from app.testing import attach, enable_service, login, make_citizen

PORTAL = ("site", "account", "apply", "mine", "questions", "pay", "notices", "verify", "documents")
PUBLIC = {"site.home", "site.municipality", "site.service", "mine.lookup", "verify.form", "verify.show"}
REFUSED = {302, 400, 403, 404, 405, 409}
# A's own rows by id: refused outright, never a redirect that might hide a page.
OWNED_REFUSED = REFUSED - {302}
A_NAME = "Աննա Գաղտնի-Ա"
A_ADDRESS = "Գաղտնի փողոց 77"
A_QUESTION = "Ա-ի գաղտնի հարցը"
A_ATTACHMENT = "a-secret-note.pdf"
A_DOCUMENT = "a-secret-passport.pdf"
A_DRAFT_VALUE = "Ա-ի սևագրի հասցե"
MARKERS = (A_NAME, A_ADDRESS, A_QUESTION, A_ATTACHMENT, A_DOCUMENT, A_DRAFT_VALUE)


@pytest.fixture
def citizen_a(app):
    """Citizen A's rows: an online application with a document, a draft with a payment, a
    question with an attachment, the notices the filing wrote, and the document issued for the
    application (A downloads it; its verification page, by the code printed on it, is public
    but shows A's initials only)."""
    enable_service(app, app.seeded["alpha"], SERVICE)
    rows = seed_citizen_rows(
        app,
        CitizenTexts(
            email="anna.a@example.com",
            name=A_NAME,
            address=A_ADDRESS,
            draft_address=A_DRAFT_VALUE,
            reference="A-SECRET-REFERENCE-0001",
            question=A_QUESTION,
            question_body="Only A may read this.",
            document=attach("pdf", A_DOCUMENT),
            attachment=attach("pdf", A_ATTACHMENT),
        ),
    )
    assert rows["notice_id"] is not None  # the crawl points B at one of A's notices
    return rows


def _value(rule, argument: str, a: dict) -> str | None:
    if rule.endpoint.startswith("verify.") and argument == "code":
        return a["issued_code"]
    known = {
        "application_id": a["application_id"],
        "document_id": a["document_id"],
        "draft_id": a["draft_id"],
        "question_id": a["question_id"],
        "attachment_id": a["attachment_id"],
        "reference": a["reference"],
        "code": "alpha",
        "key": "residence-certificate",
        "stage": "form",
        "provider": "test",
        # Tokens and the "sent" page's kind are B's to forge, never A's to leak.
        "token": "forged.token.value",
        "what": "registered",
    }
    if argument not in known:
        raise AssertionError(f"the portal crawl cannot build {rule.rule} (argument {argument!r})")
    return str(known[argument])


def _url(rule, a: dict) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: quote(_value(rule, m.group(1), a), safe=""), rule.rule)


def _form(a: dict) -> dict:
    """Every id a portal form takes, pointing at A's rows, plus plausible values."""
    return {
        "application_id": a["application_id"],
        "draft_id": a["draft_id"],
        "question_id": a["question_id"],
        "notice": a["notice_id"],
        "reference": a["reference"],
        "tracking_number": a["tracking_number"],
        "access_code": "WRONG-CODE",
        "version": "1",
        "token": a["draft_token"],
        "body": "B writes here",
        "subject": "B's question",
        "reason": "B withdraws",
        "note": "B corrects",
        "data-address": "B's address",
        "action": "save",
        "choice": "pay",
        "all": "1",
    }


def _snapshot(app, a: dict):
    with app.app_context():
        application = db.session.get(Application, a["application_id"])
        draft = db.session.get(PortalDraft, a["draft_id"])
        question = db.session.get(Question, a["question_id"])
        payment = db.session.execute(select(Payment).where(Payment.reference == a["reference"])).scalar_one()

        def count(model, *where):
            return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()

        return (
            (application.status, application.version, application.applicant_user_id, dict(application.data)),
            count(TransitionRecord, TransitionRecord.application_id == a["application_id"]),
            count(ApplicationDocument, ApplicationDocument.application_id == a["application_id"]),
            (draft.version, draft.stage, draft.data) if draft else None,
            count(StagedUpload),
            (question.status, question.subject, question.last_message_at),
            count(QuestionMessage, QuestionMessage.question_id == a["question_id"]),
            count(QuestionAttachment),
            (payment.status, payment.draft_id, payment.application_id),
            count(Notification, Notification.recipient_user_id == a["user_id"], Notification.read_at.is_(None)),
            db.session.execute(
                select(CitizenProfile.optional_notices, CitizenProfile.phone).where(
                    CitizenProfile.user_id == a["user_id"]
                )
            ).one(),
        )


def test_citizen_b_reaches_none_of_citizen_as_rows_through_any_portal_url(app, client, citizen_a):
    b_id = make_citizen(app, "boris.b@example.com", name="Բորիս Բ")
    login(client, "boris.b@example.com")
    before = _snapshot(app, citizen_a)
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".", 1)[0] not in PORTAL or rule.endpoint == "account.logout":
            continue  # signing out ends B's own session, nothing of A's
        url = _url(rule, citizen_a)
        for method, where in itertools.product(sorted(rule.methods - {"HEAD", "OPTIONS"}), ("path", "query")):
            target = (
                url
                if where == "path"
                else f"{url}{'&' if '?' in url else '?'}application_id={citizen_a['application_id']}&draft_id={citizen_a['draft_id']}&question_id={citizen_a['question_id']}"
            )
            if method == "GET":
                response = client.get(target)
            else:
                response = client.open(target, method=method, data=_form(citizen_a))
            label = f"{method} {target} ({rule.endpoint})"
            checked += 1
            body = response.get_data(as_text=True).replace(quote(target, safe=""), "")
            assert response.status_code < 500, f"{label} -> {response.status_code}"
            # Still B: a refusal by signing B out would hide what B could reach.
            with client.session_transaction() as session:
                assert session.get("_user_id") == str(b_id), f"{label} signed B out"
            for marker in MARKERS:
                assert marker not in body, f"{label} shows A's {marker!r}"
            # The look-up and claim forms show back the number B typed; a verification page shows
            # the document's number, which is the tracking number and the sequence
            # (public to whoever holds the document's code); nothing else may name it.
            assert citizen_a["tracking_number"] not in body or rule.endpoint in {
                "mine.lookup",
                "mine.claim",
                "verify.show",
            }, label
            assert citizen_a["issued_content"] not in response.data, label
            if rule.arguments & {"application_id", "draft_id", "question_id", "attachment_id", "document_id"}:
                assert response.status_code in OWNED_REFUSED, f"{label} -> {response.status_code}"
            if rule.endpoint in {"pay.test_gateway", "pay.returned"}:
                # A's payment, by its reference: the gateway page is its starter's alone.
                assert response.status_code in REFUSED, f"{label} -> {response.status_code}"
    assert checked > 60
    assert _snapshot(app, citizen_a) == before


def test_a_still_reaches_their_own_rows(app, client, citizen_a):
    """The crawl's refusals are about B, not broken pages: A opens the same URLs."""
    login(client, "anna.a@example.com")
    a = citizen_a
    for path in (
        f"/my/applications/{a['application_id']}",
        f"/my/applications/{a['application_id']}/documents/{a['document_id']}",
        f"/my/drafts/{a['draft_id']}/form",
        f"/my/questions/{a['question_id']}",
        f"/my/questions/{a['question_id']}/attachments/{a['attachment_id']}",
        f"/my/applications/{a['application_id']}/document",
    ):
        response = client.get(path + "?_l_=en")
        assert response.status_code == 200, path
    assert A_QUESTION in client.get(f"/my/questions/{a['question_id']}?_l_=en").get_data(as_text=True)
