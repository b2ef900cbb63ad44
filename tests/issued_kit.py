"""Issued documents for tests that are about something else than issuing: a stored file and its
IssuedDocument row, made directly (app.domain.issuing renders and signs real ones; see
tests/test_issuing.py), and a supersession between two of them."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from sqlalchemy import func, select

from app.domain import issuing
from app.domain.storage import get_storage, new_key
from app.extensions import db
from app.models import Application, IssuedDocument
from app.models.issuing import SUPERSEDED
from app.testing import make_pdf


@dataclass(frozen=True)
class Issued:
    id: int
    code: str  # as stored (no dashes)
    number: str
    sha256: str
    content: bytes

    @property
    def printed(self) -> str:
        """The code as printed and in the verification URL."""
        return issuing.format_code(self.code)


def issue_directly(
    app,
    application_id: int,
    *,
    content: bytes | None = None,
    kind: str = "approval",
    title: str = "Տեղեկանք բնակության վայրի մասին",
    signed: bool = False,
) -> Issued:
    """Store ``content`` (a small PDF by default) and record it as the next issued document of
    the application, valid, with a fresh verification code."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application is not None
        last = db.session.execute(
            select(func.max(IssuedDocument.sequence)).where(IssuedDocument.application_id == application_id)
        ).scalar_one()
        sequence = (last or 0) + 1
        body = content if content is not None else make_pdf(f"Issued {application.tracking_number}/{sequence}")
        key = new_key()
        get_storage(app).put(key, io.BytesIO(body))
        document = IssuedDocument(
            municipality_id=application.municipality_id,
            application_id=application.id,
            sequence=sequence,
            kind=kind,
            number=f"{application.tracking_number}/{sequence}",
            code=issuing.new_code(),
            service_key=application.service_key,
            language="hy",
            title=title,
            holder_initials=issuing.holder_initials(application.applicant_name or ""),
            signer_name="Head Alpha",
            signer_role="Head of office",
            storage_key=key,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            signed=signed,
        )
        db.session.add(document)
        db.session.commit()
        return Issued(document.id, document.code, document.number, document.sha256, body)


def supersede(app, old: Issued, new: Issued) -> None:
    """Mark ``old`` superseded by ``new``, as a re-issue does."""
    with app.app_context():
        row = db.session.get(IssuedDocument, old.id)
        row.status = SUPERSEDED
        row.superseded_by_id = new.id
        db.session.commit()
