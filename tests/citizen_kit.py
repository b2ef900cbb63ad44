"""A citizen with one of everything a citizen owns, for the isolation tests that point another
person at those rows (tests/test_portal_isolation.py over the test client, tests/security/ over
a real server): the rows are written the way the portal writes them, and their ids are
returned by the URL parameter names the crawls fill in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from issued_kit import issue_directly
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.domain import intake
from app.domain.channels import ONLINE
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Notification, Payment, PortalDraft, QuestionAttachment, QuestionMessage
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, ask_question, make_citizen

SERVICE = "residence-certificate"


@dataclass(frozen=True)
class CitizenTexts:
    """What the citizen's rows say: each test chooses texts it then looks for where they must
    not show up (so the two suites' markers stay their own)."""

    email: str
    name: str
    address: str
    draft_address: str
    reference: str
    question: str
    question_body: str
    document: FileStorage
    attachment: FileStorage
    issued_content: bytes | None = None  # None: issue_directly's small PDF


def seed_citizen_rows(app, texts: CitizenTexts) -> dict[str, Any]:
    """A citizen of alpha with an online application (with a document), a draft with a payment,
    a question about the application with an attachment, the notice the filing wrote and a
    document issued for the application. The residence certificate must be enabled in alpha."""
    user_id = make_citizen(app, texts.email, name=texts.name)
    rows = {"user_id": user_id, **_application_and_draft(app, user_id, texts)}
    rows["question_id"] = ask_question(
        app,
        user_id,
        subject=texts.question,
        body=texts.question_body,
        files=[texts.attachment],
        application_id=rows["application_id"],
    )
    with app.app_context():
        rows["attachment_id"] = db.session.execute(
            select(QuestionAttachment.id)
            .join(QuestionMessage, QuestionMessage.id == QuestionAttachment.message_id)
            .where(QuestionMessage.question_id == rows["question_id"])
        ).scalar_one()
        rows["notice_id"] = db.session.execute(
            select(Notification.id).where(Notification.recipient_user_id == user_id).limit(1)
        ).scalar_one_or_none()
    issued = issue_directly(app, rows["application_id"], content=texts.issued_content)
    rows.update(issued_id=issued.id, issued_code=issued.printed, issued_content=issued.content)
    return rows


def _application_and_draft(app, user_id: int, texts: CitizenTexts) -> dict[str, Any]:
    """Filed through app.domain.intake like the portal's form; the draft and its payment as
    rows (paying a draft needs no filing)."""
    alpha = app.seeded["alpha"]
    with app.test_request_context("/?_l_=en"):
        filed = intake.file(
            db.session,
            plugin_runtime.host(app),
            get_storage(app),
            actor_for(user_id),
            municipality_id=alpha["id"],
            service_key=SERVICE,
            data={"address": texts.address, "purpose": "bank", "copies": "1"},
            applicant={"name": texts.name, "email": texts.email},
            channel=ONLINE,
            uploads={"identity": [texts.document]},
            locale="en",
        )
        application = filed.application
        draft = PortalDraft(
            municipality_id=alpha["id"],
            user_id=user_id,
            service_key=SERVICE,
            service_version=application.service_version,
            token=intake.new_submission_token(),
            data={"form": {"address": texts.draft_address}, "applicant": {"name": texts.name}},
            stage="documents",
        )
        db.session.add(draft)
        db.session.flush()
        payment = Payment(
            municipality_id=alpha["id"],
            draft_id=draft.id,
            user_id=user_id,
            provider="test",
            reference=texts.reference,
            amount=1500,
            items=[],
        )
        db.session.add(payment)
        db.session.commit()
        return {
            "application_id": application.id,
            "tracking_number": application.tracking_number,
            "document_id": application.documents[0].id,
            "draft_id": draft.id,
            "draft_token": draft.token,
            "reference": payment.reference,
        }
