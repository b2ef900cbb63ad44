"""What anyone may learn of an issued document by its verification code, and revoking one.

1. :func:`find` answers the public verification page (``/verify/<code>``): the issuer, the
   service, the document's number and issue date, the holder's initials, its status (valid;
   superseded, with the code of the document issued in its place; revoked, with the date and
   the reason) and the sha256 of the stored file. Nothing else about the holder or the
   application. A code that is malformed and one that names no document are the same answer
   (``None``); the code is 80 random bits (app.domain.issuing), so guessing finds nothing, and
   the portal rate-limits the look-ups besides.
2. :func:`check_copy` tells whether a file someone holds is byte-for-byte the one issued
   (its sha256 equals the stored one); a file over :data:`MAX_COPY_BYTES` is refused unread.
3. :func:`revoke` is the head's decision (:func:`app.domain.issuing.check_may_manage`), with
   a reason, audit-logged. Only a valid document is revoked: a superseded one already points
   to the document in force, and a revoked one stays revoked (:class:`AlreadyRevoked`).
   Re-issuing a revoked document is allowed (app.domain.issuing.reissue): the new document is
   valid, the revoked one keeps its status, date and reason and points to its successor, and
   its verification page says both.

The public look-up reads across municipalities on purpose (the code is the only key the public
has), through :func:`app.domain.access.unscoped` with its reason; everything about one
document after that stays within its municipality (:func:`app.domain.access.within`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, audit, inputs, issuing
from app.domain.access import Actor
from app.domain.declarations import pick
from app.domain.errors import ChangedMeanwhile, InvalidAction
from app.domain.tracking import OFFICE_TZ
from app.models import Application, IssuedDocument, Municipality
from app.models.base import utcnow
from app.models.issuing import REVOKED, SUPERSEDED, VALID

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry

STATUSES = (VALID, SUPERSEDED, REVOKED)
# A copy to check is read at most this far: an issued decision is a few hundred kilobytes.
MAX_COPY_BYTES = 20 * 1024 * 1024
# The longest revocation reason kept (it is shown to anyone holding the code).
MAX_REASON = 2000
_CHUNK = 64 * 1024

STATUS_LABELS = {
    VALID: _l("Valid"),
    SUPERSEDED: _l("Superseded"),
    REVOKED: _l("Revoked"),
}
KIND_LABELS = {
    "approval": _l("Decision to grant"),
    "rejection": _l("Decision to refuse"),
}


class CopyTooLarge(InvalidAction):
    default_message = _l(
        "The file is larger than %(mb)d MB, so it cannot be the document issued; nothing was checked.",
        mb=MAX_COPY_BYTES // (1024 * 1024),
    )


class ReasonMissing(InvalidAction):
    default_message = _l("Give the reason for revoking the document: anyone who checks it will read it.")


class AlreadyRevoked(InvalidAction):
    default_message = _l("This document is already revoked.")


class NotInForce(InvalidAction):
    default_message = _l(
        "Only a document in force can be revoked; this one was superseded by a newer document, "
        "revoke that one if needed."
    )


@dataclass(frozen=True)
class PublicDocument:
    """What the public verification page shows of one issued document."""

    code: str  # as printed: XXXX-XXXX-XXXX-XXXX
    municipality: str
    service_title: str
    title: str  # the document's heading as printed, in the language it was issued in
    kind: str  # "approval" or "rejection"
    number: str
    issued_on: dt.date  # in the office's time zone
    holder_initials: str
    status: str  # valid, superseded or revoked
    # The document issued in its place (superseded, or revoked and then re-issued).
    successor_code: str | None
    revoked_on: dt.date | None
    revoke_reason: str | None
    sha256: str
    signed: bool
    language: str

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.status, self.status))

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS.get(self.kind, self.kind))


def _office_date(value: dt.datetime) -> dt.date:
    # Stored naive in UTC; the date printed is the office's.
    return value.replace(tzinfo=dt.UTC).astimezone(OFFICE_TZ).date()


def _by_code(session: Session | scoped_session[Session], code: str) -> IssuedDocument | None:
    stmt = access.unscoped(
        select(IssuedDocument), reason="public verification: a document is found by its code, whoever asks"
    )
    return session.execute(stmt.where(IssuedDocument.code == code)).scalar_one_or_none()


def lookup(session: Session | scoped_session[Session], typed_code: str | None) -> IssuedDocument | None:
    """The issued document with this code as someone typed or scanned it (any case, dashes or
    spaces, O for 0), or ``None`` for a malformed code and for one nobody was issued alike."""
    code = issuing.normalize_code(typed_code[:100] if isinstance(typed_code, str) else None)
    return _by_code(session, code) if code is not None else None


def _successor_code(session: Session | scoped_session[Session], document: IssuedDocument) -> str | None:
    if document.superseded_by_id is None:
        return None
    stmt = access.within(select(IssuedDocument.code), IssuedDocument, document.municipality_id)
    code = session.execute(stmt.where(IssuedDocument.id == document.superseded_by_id)).scalar_one_or_none()
    return issuing.format_code(code) if code else None


def _municipality_name(session: Session | scoped_session[Session], municipality_id: int, locale: str) -> str:
    municipality = session.get(Municipality, municipality_id)  # municipalities are public
    if municipality is None:
        return ""
    return pick({lang: getattr(municipality, f"name_{lang}", None) or "" for lang in ("hy", "en", "ru")}, locale)


def public_view(
    session: Session | scoped_session[Session],
    document: IssuedDocument,
    *,
    registry: ServiceRegistry | None = None,
    locale: str = "hy",
) -> PublicDocument:
    """:class:`PublicDocument` of ``document`` (found by :func:`lookup`), in ``locale``."""
    registered = registry.get(document.service_key) if registry is not None else None
    return PublicDocument(
        code=issuing.format_code(document.code),
        municipality=_municipality_name(session, document.municipality_id, locale),
        service_title=pick(registered.service.title, locale) if registered is not None else document.title,
        title=document.title,
        kind=document.kind,
        number=document.number,
        issued_on=_office_date(document.issued_at),
        holder_initials=document.holder_initials,
        status=document.status,
        successor_code=_successor_code(session, document),
        revoked_on=_office_date(document.revoked_at) if document.revoked_at else None,
        revoke_reason=document.revoke_reason if document.status == REVOKED else None,
        sha256=document.sha256,
        signed=bool(document.signed),
        language=document.language,
    )


def find(
    session: Session | scoped_session[Session],
    typed_code: str | None,
    *,
    registry: ServiceRegistry | None = None,
    locale: str = "hy",
) -> PublicDocument | None:
    """The public view of the document with this code, or ``None`` (malformed or unknown: the
    same answer). ``registry`` gives the service's title in ``locale``; without it, or for a
    service no longer installed, the document's own printed title stands in."""
    document = lookup(session, typed_code)
    return public_view(session, document, registry=registry, locale=locale) if document is not None else None


def check_copy(session: Session | scoped_session[Session], typed_code: str | None, stream: IO[bytes]) -> bool:
    """Whether the bytes of ``stream`` are exactly the document issued under this code.

    Raises :class:`app.domain.access.NotFound` for a malformed or unknown code and
    :class:`CopyTooLarge` for a file over :data:`MAX_COPY_BYTES` (read no further)."""
    document = lookup(session, typed_code)
    if document is None:
        raise access.NotFound(typed_code)
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > MAX_COPY_BYTES:
            raise CopyTooLarge()
        digest.update(chunk)
    return hmac.compare_digest(digest.hexdigest(), document.sha256.lower())


# -- the documents of one application (staff case page, the citizen's download) ------------------


def current_of(documents: Iterable[IssuedDocument]) -> IssuedDocument | None:
    """The document in force among an application's (app.domain.issuing.documents_of): the
    newest valid one; ``None`` when every one was superseded or revoked."""
    valid = [d for d in documents if d.status == VALID]
    return max(valid, key=lambda d: (d.sequence, d.id)) if valid else None


def in_force(session: Session, application: Application) -> IssuedDocument | None:
    """The document in force of ``application`` (:func:`current_of` its issued documents)."""
    return current_of(issuing.documents_of(session, application))


# -- revoking ------------------------------------------------------------------------------------


def clean_reason(raw: object) -> str:
    """The reason as it will be kept; raises :class:`ReasonMissing` or :class:`InvalidAction`."""
    reason = raw.strip() if isinstance(raw, str) else ""
    if not reason:
        raise ReasonMissing()
    if len(reason) > MAX_REASON:
        raise InvalidAction(_l("The reason is too long: at most %(max)d characters.", max=MAX_REASON))
    problem = inputs.text_problem(reason)
    if problem:
        raise InvalidAction(problem)
    return reason


def revoke(
    session: Session | scoped_session[Session],
    document: IssuedDocument,
    actor: Actor | None,
    reason: object,
    *,
    ip: str | None = None,
) -> IssuedDocument:
    """Revoke ``document`` (loaded through app.domain.access) for ``reason``: its verification
    page says "revoked" with the date and the reason from now on. The head of the document's
    municipality only (:class:`app.domain.errors.NotAllowed` otherwise); a valid document only
    (:class:`AlreadyRevoked`, :class:`NotInForce`); ``reason`` required
    (:class:`ReasonMissing`). Audit-logged as ``issued_document.revoke``; the caller commits.

    Two heads revoking at once: one wins, the other gets :class:`AlreadyRevoked` (or
    :class:`ChangedMeanwhile` when the document was superseded meanwhile)."""
    issuing.check_may_manage(actor, document)
    assert actor is not None  # check_may_manage refuses no actor
    if document.status == REVOKED:
        raise AlreadyRevoked()
    if document.status != VALID:
        raise NotInForce()
    cleaned = clean_reason(reason)
    now = utcnow()
    # Only while it is still valid: the loser of two revocations at once changes nothing.
    stmt = access.within(update(IssuedDocument), IssuedDocument, document.municipality_id)
    result = session.execute(
        stmt.where(IssuedDocument.id == document.id, IssuedDocument.status == VALID)
        .values(status=REVOKED, revoked_at=now, revoked_by_id=actor.user_id, revoke_reason=cleaned)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) != 1:
        session.refresh(document)
        if document.status == REVOKED:
            raise AlreadyRevoked()
        raise ChangedMeanwhile()
    session.refresh(document)
    audit.record(
        session,
        "issued_document.revoke",
        actor=actor,
        target=("issued_document", document.id),
        municipality_id=document.municipality_id,
        details={
            "application_id": document.application_id,
            "number": document.number,
            "reason": cleaned,
            "sha256": document.sha256,
        },
        ip=ip,
    )
    session.flush()
    return document


__all__ = [
    "KIND_LABELS",
    "MAX_COPY_BYTES",
    "MAX_REASON",
    "REVOKED",
    "STATUSES",
    "STATUS_LABELS",
    "SUPERSEDED",
    "VALID",
    "AlreadyRevoked",
    "CopyTooLarge",
    "NotInForce",
    "PublicDocument",
    "ReasonMissing",
    "check_copy",
    "clean_reason",
    "current_of",
    "find",
    "in_force",
    "lookup",
    "public_view",
    "revoke",
]
