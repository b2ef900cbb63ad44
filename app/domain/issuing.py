"""Issued documents: the decision an application ends with, as a PDF anyone can verify.

1. When the last step approves an application (status ``approved``) and its service declares
   an ``Output``, the output's template is rendered to a PDF in the applicant's language:
   the municipality's name and coat of arms, the document number and date, the holder, the
   decision's substance from the form data, the signer's name and role, and a verification
   block (a short code and a QR code of the public verification URL).
2. When an application is refused (status ``rejected``), a refusal decision with the reasons
   is issued the same way, whether or not the service declares an output.
3. With a signing certificate for the municipality (app.domain.signing), the PDF carries a
   PAdES signature; without one it is still issued, the verification page being its proof.
4. The file is stored once and never changed; its sha256 is kept. Issuing again (a corrected
   document) stores a new document and marks the old one superseded, pointing to the new one.
5. Plug-ins add data to the template through ``output_context`` and learn of each issued
   document through ``after_issue``.

All of it happens inside the decision's transaction (:func:`on_decision`, called by
app.domain.workflow): the document exists exactly when the decision does. The stored file is
tied to that transaction (app.domain.documents.bind_to_transaction), so a decision that does
not commit leaves no file behind. A template that fails raises
:class:`~app.domain.output_templates.OutputTemplateError` (a :class:`WorkflowError` naming the
plug-in, service and template): the decision is refused with that message and nothing is
written; storage that cannot be reached refuses it the same way
(:class:`IssuingUnavailable`).

The document number is the application's tracking number and the issue's sequence
(``ABV-2026-000042-7/1``, ``/2`` for its re-issue). The language is the applicant's (their
citizen profile's) when known, Armenian otherwise. The verification URL is
``HAMAYNK_PUBLIC_URL`` + ``/verify/<code>``; with no public URL configured it is
``http://localhost/verify/<code>`` (:data:`FALLBACK_PUBLIC_URL`), which works on the machine
itself only, so set ``HAMAYNK_PUBLIC_URL`` before issuing real documents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.domain import (
    access,
    audit,
    casefile,
    channels,
    documents,
    municipal_identity,
    notifications,
    output_templates,
    related,
    roles,
    signing,
    statuses,
    workflow,
)
from app.domain import storage as storage_module
from app.domain.access import Actor
from app.domain.declarations import Service, pick
from app.domain.errors import ChangedMeanwhile, HookFailed, InvalidAction, NotAllowed
from app.domain.formatting import format_date
from app.domain.output_templates import OutputTemplateError
from app.domain.protocols import ApplicationView
from app.domain.tracking import OFFICE_TZ
from app.models import Application, Department, IssuedDocument, Municipality, StaffProfile, TransitionRecord
from app.models.base import utcnow
from app.models.issuing import REVOKED, SUPERSEDED, VALID
from app.models.portal import CitizenProfile

if TYPE_CHECKING:
    from app.domain.storage import Storage
    from app.plugins.host import PluginHost

log = logging.getLogger(__name__)

APPROVAL = "approval"
REJECTION = "rejection"
KINDS = (APPROVAL, REJECTION)
LANGUAGES = ("hy", "en", "ru")
DEFAULT_LANGUAGE = "hy"
FALLBACK_PUBLIC_URL = "http://localhost"
AUDIT_DOWNLOAD = "issued_document.download"
AUDIT_REISSUED = "issued_document.reissued"
CONTENT_TYPE = "application/pdf"


class IssuingUnavailable(documents.DocumentUnavailable):
    """The document could not be stored just now; the decision was not recorded. A storage
    outage like any other (every channel answers it with 503), not a refusal of the input."""

    default_message = _l(
        "The decision was not recorded: the document storage cannot be reached now. Try again in a moment."
    )


# -- the decision becomes a document ---------------------------------------------------------


def kind_of(record: TransitionRecord) -> str | None:
    """What a decision record issues: ``approval``, ``rejection``, or ``None`` (no decision)."""
    if record.to_status == statuses.APPROVED:
        return APPROVAL
    if record.to_status == statuses.REJECTED:
        return REJECTION
    return None


def on_decision(
    session: Session, host: PluginHost, application: Application, service: Service, record: TransitionRecord
) -> IssuedDocument | None:
    """Issue the decision ``record`` just made (final approval or refusal); called by
    app.domain.workflow in the decision's transaction. An approval of a service without an
    ``Output`` issues nothing (``None``)."""
    kind = kind_of(record)
    if kind is None or (kind == APPROVAL and service.output is None):
        return None
    return issue(session, host, application, service, record, issued_by_id=record.actor_id)


def applicant_language(session: Session, application: Application) -> str:
    """The language the applicant reads: their citizen profile's, else Armenian."""
    if application.applicant_user_id is not None:
        language = session.execute(
            select(CitizenProfile.language).where(CitizenProfile.user_id == application.applicant_user_id)
        ).scalar_one_or_none()
        if language in LANGUAGES:
            return str(language)
    return DEFAULT_LANGUAGE


def verification_url(config: Mapping[str, Any], code: str) -> str:
    """The public page of a document: ``HAMAYNK_PUBLIC_URL`` + ``/verify/<formatted code>``."""
    base = str(config.get("HAMAYNK_PUBLIC_URL") or "").strip().rstrip("/") or FALLBACK_PUBLIC_URL
    return f"{base}/verify/{format_code(code)}"


def _next_sequence(session: Session, application: Application) -> int:
    stmt = access.within(select(func.max(IssuedDocument.sequence)), IssuedDocument, application.municipality_id)
    last = session.execute(stmt.where(IssuedDocument.application_id == application.id)).scalar_one_or_none()
    return int(last or 0) + 1


def _snapshot(application: Application) -> SimpleNamespace:
    """What a template sees of the application: the ApplicationView members, copied (a
    template never reaches the database row or the session)."""
    names = [name for name, value in vars(ApplicationView).items() if isinstance(value, property)]
    values = {name: getattr(application, name) for name in names}
    values["data"] = dict(application.data or {})
    return SimpleNamespace(**values)


@dataclass(frozen=True)
class _Signer:
    name: str
    role: str


def _signer(
    session: Session,
    application: Application,
    service: Service,
    record: TransitionRecord,
    language: str,
) -> _Signer:
    """Who decided (the record's actor) and in what capacity, in ``language`` (the locale in
    force, too): the staff member's position when set, else the step's role and their
    department."""
    if record.actor_id is None:
        return _Signer("", "")
    names = casefile.user_names(session, [record.actor_id, record.on_behalf_of_id])
    name = names.get(record.actor_id, "")
    profile = session.execute(
        access.within(select(StaffProfile), StaffProfile, application.municipality_id).where(
            StaffProfile.user_id == record.actor_id
        )
    ).scalar_one_or_none()
    parts: list[str] = []
    if profile is not None and profile.position:
        parts.append(profile.position)
    else:
        step = service.step(record.step_key) if record.step_key else None
        if step is not None:
            role_name = roles.ROLE_BY_KEY.get(step.role, step.role)
            parts.append(str(roles.ROLE_LABELS.get(role_name, role_name)))
        if profile is not None and profile.department_id is not None:
            department = session.execute(
                access.within(select(Department), Department, application.municipality_id).where(
                    Department.id == profile.department_id
                )
            ).scalar_one_or_none()
            if department is not None:
                parts.append(getattr(department, f"name_{language}", None) or department.name_hy)
    role = ", ".join(part for part in parts if part)
    if record.on_behalf_of_id is not None and names.get(record.on_behalf_of_id):
        role = _("%(role)s, acting for %(name)s", role=role, name=names[record.on_behalf_of_id]).lstrip(", ")
    return _Signer(name, role)


def _output_context(host: PluginHost, application: Application, service: Service) -> dict[str, Any]:
    """Every plug-in's ``output_context`` for this document, merged; a key two plug-ins give
    is refused (nothing may depend on plug-in order). Strict hosts raise; otherwise a broken
    plug-in's data is left out and logged."""
    try:
        merged: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for plugin, result in host.call_each("output_context", application=application, service=service):
            if result is None:
                continue
            if not isinstance(result, Mapping) or not all(isinstance(k, str) for k in result):
                raise HookFailed(
                    plugin, "output_context", f"must return a mapping of names to values or None, got {result!r:.80}"
                )
            for key, value in result.items():
                if key in merged:
                    raise HookFailed(plugin, "output_context", f"key {key!r} is also given by plug-in {owners[key]!r}")
                merged[key] = value
                owners[key] = plugin
        return merged
    except HookFailed as exc:
        if host.strict:
            raise
        log.exception("%s; issuing the document without plug-in data", exc)
        return {}


def _after_issue(host: PluginHost, application: Application, service: Service, document: IssuedDocument) -> None:
    try:
        host.call_hook("after_issue", application=application, service=service, document=document)
    except Exception as exc:
        if host.strict:
            raise
        log.exception("%s; ignoring it because plug-ins are not strict", exc)


# Names the core puts in every output template's context; a plug-in's output_context keys
# are added beside them unless they clash (then only under ``extra``).
CORE_CONTEXT = (
    "output_title",
    "municipality_name",
    "application",
    "data",
    "fields",
    "values",
    "service_title",
    "number",
    "issued_on",
    "issued_at",
    "holder_name",
    "signer_name",
    "signer_role",
    "verification_code",
    "verification_url",
    "language",
    "extra",
)


def template_context(
    *,
    application: Application,
    output_title: str,
    municipality_name: str,
    service_title: str,
    rows: list[casefile.FieldRow],
    number: str,
    issued_on: str,
    issued_at: dt.datetime,
    signer: _Signer,
    code: str,
    url: str,
    language: str,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """What an ``Output`` template is rendered with (documented in docs/plugins.md)."""
    context: dict[str, Any] = {key: value for key, value in extra.items() if key not in CORE_CONTEXT}
    context.update(
        output_title=output_title,
        municipality_name=municipality_name,
        application=_snapshot(application),
        data=dict(application.data or {}),
        fields=[SimpleNamespace(name=row.name, label=row.label, value=row.value) for row in rows],
        values={row.name: row.value for row in rows},
        service_title=service_title,
        number=number,
        issued_on=issued_on,
        issued_at=issued_at,
        holder_name=application.applicant_name,
        signer_name=signer.name,
        signer_role=signer.role,
        verification_code=format_code(code),
        verification_url=url,
        language=language,
        extra=dict(extra),
    )
    return context


def issue(
    session: Session,
    host: PluginHost,
    application: Application,
    service: Service,
    record: TransitionRecord,
    *,
    issued_by_id: int | None = None,
    replaces: IssuedDocument | None = None,
) -> IssuedDocument:
    """Render, sign (when the municipality has a certificate), store and record the document
    of the decision ``record`` (an approval or a refusal) of ``application``; fire
    ``after_issue``. Not committed: it belongs to the caller's transaction. Raises
    :class:`OutputTemplateError` or :class:`IssuingUnavailable`; then nothing is stored."""
    kind = kind_of(record)
    if kind is None:
        raise ValueError(f"record {record.id} is no decision (to_status {record.to_status!r})")
    config = notifications.session_config(session)
    municipality = session.get(Municipality, application.municipality_id)
    if municipality is None:  # pragma: no cover - a foreign key guarantees it
        raise ValueError(f"application {application.id} has no municipality")
    language = applicant_language(session, application)
    sequence = _next_sequence(session, application)
    number = f"{application.tracking_number}/{sequence}"
    code = new_code()
    url = verification_url(config, code)
    issued_at = utcnow()
    registered = host.registry.get(service.key, service.version)
    with force_locale(language):
        municipality_name = getattr(municipality, f"name_{language}", None) or municipality.name_hy
        service_title = pick(service.title, language)
        if kind == APPROVAL and service.output is not None:
            title = pick(service.output.title, language)
        else:
            title = _("Decision on refusal") if kind == REJECTION else _("Decision on approval")
        rows = casefile.form_rows(service, application.data or {}, language, show_personal=True)
        signer = _signer(session, application, service, record, language)
        local_day = issued_at.replace(tzinfo=dt.UTC).astimezone(OFFICE_TZ).date()
        issued_on = format_date(local_day, "long", language)
        body_html = None
        if kind == APPROVAL and service.output is not None:
            extra = _output_context(host, application, service)
            context = template_context(
                application=application,
                output_title=title,
                municipality_name=municipality_name,
                service_title=service_title,
                rows=rows,
                number=number,
                issued_on=issued_on,
                issued_at=issued_at,
                signer=signer,
                code=code,
                url=url,
                language=language,
                extra=extra,
            )
            body_html = output_templates.render(
                service.output,
                registered.base_path if registered else None,
                context,
                plugin=registered.plugin if registered else "?",
                service_key=service.key,
            )
        # The PDF layout (fpdf2, fontTools, segno) is imported here, on the first document
        # issued, rather than when the app starts: most processes never lay one out.
        from app.domain import pdfdocs

        content = pdfdocs.IssuedContent(
            language=language,
            kind=kind,
            municipality_name=municipality_name,
            title=title,
            number=number,
            issued_on=issued_on,
            holder_name=application.applicant_name,
            service_title=service_title,
            tracking_number=application.tracking_number,
            verification_code=format_code(code),
            verification_url=url,
            body_html=body_html,
            reasons=record.comment if kind == REJECTION else None,
            rows=tuple((row.label, row.value) for row in rows),
            signer_name=signer.name,
            signer_role=signer.role,
            replaces=replaces.number if replaces is not None else None,
            emblem=_emblem(session, municipality),
        )
        try:
            pdf = pdfdocs.render_document(content)
        except pdfdocs.LayoutError as exc:
            template = output_templates.template_name(service.output) if service.output else "<refusal>"
            error = OutputTemplateError(registered.plugin if registered else "?", service.key, template, str(exc))
            log.error("cannot lay out the issued document: %s", error.detail)
            raise error from exc
    signed = signing.sign_pdf(
        config, municipality.code, pdf, reason=title, location=municipality.name_hy, signer_name=signer.name or None
    )
    data = signed if signed is not None else pdf
    storage = storage_module.get_storage(config)
    key = storage_module.new_key()
    try:
        storage.put(key, io.BytesIO(data))
    except storage_module.StorageError as exc:
        log.error("cannot store the issued document %s: %s", number, exc)
        # A full disk is said as such (the storage logged its cause); anything else may pass.
        raise IssuingUnavailable(str(exc) if isinstance(exc, storage_module.StorageFull) else None) from exc
    documents.bind_to_transaction(session, storage, [key])
    document = IssuedDocument(
        municipality_id=application.municipality_id,
        application_id=application.id,
        sequence=sequence,
        kind=kind,
        number=number,
        code=code,
        service_key=service.key,
        language=language,
        title=title[:300],
        holder_initials=holder_initials(application.applicant_name),
        signer_name=(signer.name or None) and signer.name[:200],
        signer_role=(signer.role or None) and signer.role[:200],
        issued_at=issued_at,
        issued_by_id=issued_by_id,
        storage_key=key,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        signed=signed is not None,
        status=VALID,
    )
    session.add(document)
    session.flush()
    _after_issue(host, application, service, document)
    return document


def _emblem(session: Session, municipality: Municipality) -> bytes | None:
    """The municipality's coat of arms, or ``None`` for the placeholder emblem the layout
    draws (app.domain.municipal_identity logs a stored image it cannot read and says None)."""
    return municipal_identity.coat_of_arms_bytes(session, municipality)


# -- re-issuing ----------------------------------------------------------------------------------

ALREADY_REPLACED = _l("This document has already been replaced by a newer one; re-issue the newest.")


def decision_record(session: Session, application: Application, kind: str) -> TransitionRecord | None:
    """The latest decision of ``kind`` in the application's history."""
    to_status = statuses.APPROVED if kind == APPROVAL else statuses.REJECTED
    stmt = access.within(select(TransitionRecord), TransitionRecord, application.municipality_id)
    return session.execute(
        stmt.where(TransitionRecord.application_id == application.id, TransitionRecord.to_status == to_status)
        .order_by(TransitionRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def reissue(
    session: Session,
    host: PluginHost,
    document: IssuedDocument,
    *,
    actor: Actor | None,
    ip: str | None = None,
) -> IssuedDocument:
    """Issue ``document``'s decision again as a new document (new number, code and file; the
    template, the data and the signature as they are now) and mark ``document`` superseded,
    pointing to it; a revoked document keeps its status and points to it too. The head's
    decision (:func:`check_may_manage`); audit-logged; committed. A document already replaced
    is refused (:data:`ALREADY_REPLACED`), as is the loser of two simultaneous re-issues
    (:class:`ChangedMeanwhile`)."""
    check_may_manage(actor, document)
    assert actor is not None  # check_may_manage said so
    if document.superseded_by_id is not None or document.status == SUPERSEDED:
        raise InvalidAction(ALREADY_REPLACED)
    try:
        application = access.get_application(session, actor, document.application_id)
    except access.NotFound:
        raise NotAllowed(MAY_NOT_MANAGE) from None
    service = workflow.service_of(application, host.registry)
    record = decision_record(session, application, document.kind)
    if record is None:
        raise InvalidAction(_l("The decision of this document is not in the application's history."))
    try:
        new = issue(session, host, application, service, record, issued_by_id=actor.user_id, replaces=document)
        if document.status != REVOKED:
            document.status = SUPERSEDED
        document.superseded_by_id = new.id
        audit.record(
            session,
            AUDIT_REISSUED,
            actor=actor,
            target=("issued_document", document.id),
            municipality_id=document.municipality_id,
            details={"number": document.number, "new_id": new.id, "new_number": new.number, "sha256": new.sha256},
            ip=ip,
        )
        session.commit()
    except (IntegrityError, StaleDataError):
        session.rollback()
        raise ChangedMeanwhile() from None
    except BaseException:
        session.rollback()
        raise
    return new


# -- finding and opening issued documents ----------------------------------------------------


def _documents_statement(municipality_id: Any, application_id: Any) -> Select[Any]:
    stmt = access.within(select(IssuedDocument), IssuedDocument, municipality_id)
    return stmt.where(IssuedDocument.application_id == application_id)


# An application's issued documents, oldest first (app.domain.related).
ISSUED = related.Kind("issued", IssuedDocument, _documents_statement, (("sequence", False),))


def documents_of(session: Session, application: Application) -> list[IssuedDocument]:
    """The issued documents of an application loaded through app.domain.access, oldest first."""
    return related.rows(session, application, ISSUED)


def latest_document(session: Session, application: Application) -> IssuedDocument | None:
    """The newest issued document of an application loaded through app.domain.access (the
    one in force unless it was revoked: check ``status``), or ``None``."""
    stmt = access.within(select(IssuedDocument), IssuedDocument, application.municipality_id)
    return session.execute(
        stmt.where(IssuedDocument.application_id == application.id).order_by(IssuedDocument.sequence.desc()).limit(1)
    ).scalar_one_or_none()


def get_document(session: Session, actor: Actor | None, application_id: int, document_id: int) -> IssuedDocument:
    """Issued document ``document_id`` of application ``application_id`` if ``actor`` may see
    that application (app.domain.access.get_application); :class:`access.NotFound` otherwise."""
    application = access.get_application(session, actor, application_id)
    if not isinstance(document_id, int) or isinstance(document_id, bool) or not 0 < document_id <= access.MAX_PK:
        raise access.NotFound(document_id)
    stmt = access.within(select(IssuedDocument), IssuedDocument, application.municipality_id)
    document = session.execute(
        stmt.where(IssuedDocument.id == document_id, IssuedDocument.application_id == application.id)
    ).scalar_one_or_none()
    if document is None:
        raise access.NotFound(document_id)
    return document


def may_open(actor: Actor | None, application: Application) -> bool:
    """Who may download an application's issued documents: the caseworkers of its
    municipality and the citizen whose application it is (app.domain.access)."""
    return access.may_see_personal_data(actor, application)


def download_name(document: IssuedDocument) -> str:
    return f"{document.number.replace('/', '-')}.pdf"


@dataclass(frozen=True)
class _StoredIssued:
    # What app.domain.documents.open_recorded needs of a stored file.
    id: int
    storage_key: str
    original_name: str
    content_type: str
    size: int


def open_issued(
    session: Session,
    storage: Storage,
    actor: Actor | None,
    application: Application,
    document: IssuedDocument,
    *,
    channel: str,
    ip: str | None = None,
) -> documents.OpenedDocument:
    """Open ``document`` of ``application`` (both loaded through app.domain.access, e.g. with
    :func:`get_document`) for ``actor`` to download, and commit its audit event
    (``issued_document.download``) before returning, like app.domain.documents.open_document:
    no byte leaves without its trace. The result has the open ``stream`` (the caller sends and
    closes it), ``name``, ``content_type``, ``size`` and the response ``headers``.

    Raises :class:`NotAllowed` for anyone but :func:`may_open` (the application's municipality's
    caseworkers and the citizen whose application it is), and
    app.domain.documents.DocumentMissing / DocumentUnavailable when the storage has not the
    file or cannot be reached; then nothing was recorded."""
    channels.require(channel)
    if document.application_id != application.id or not may_open(actor, application):
        raise NotAllowed(_l("Only the applicant and the municipality's staff may download this document."))
    stored = _StoredIssued(document.id, document.storage_key, download_name(document), CONTENT_TYPE, document.size)
    return documents.open_recorded(
        session,
        storage,
        actor,
        stored,
        action=AUDIT_DOWNLOAD,
        target="issued_document",
        municipality_id=application.municipality_id,
        details={
            "application_id": application.id,
            "number": document.number,
            "sha256": document.sha256,
            "channel": channel,
        },
        ip=ip,
        inline=False,
    )


# -- verification codes ----------------------------------------------------------------------

# Crockford's base 32: no I, L, O or U, so a code read aloud or typed from paper survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 80 random bits: not enumerable, however fast anyone guesses
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str | None) -> str | None:
    """The stored form of a code someone typed (any case, dashes or spaces, O for 0), or
    None when it cannot be one."""
    cleaned = "".join(ch for ch in (text or "").upper() if ch not in " -\t").translate(_CONFUSABLE)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def format_code(code: str) -> str:
    """``K7QM3XZP9D2HT4WA`` as printed and in URLs: ``K7QM-3XZP-9D2H-T4WA``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def holder_initials(full_name: str) -> str:
    """What the public sees of the holder: the first letter of each name, e.g. "Ա. Պ."."""
    return " ".join(f"{part[0]}." for part in (full_name or "").split() if part[:1].isalpha())[:16]


# -- who manages issued documents ----------------------------------------------------------

MAY_NOT_MANAGE = _l("Only the head of the municipality's office may re-issue or revoke an issued document.")


def check_may_manage(actor: Actor | None, document: IssuedDocument) -> None:
    """Re-issuing and revoking are the head's decisions, in the document's own municipality."""
    if (
        actor is None
        or not actor.active
        or not actor.has(roles.HEAD)
        or actor.municipality_id != document.municipality_id
    ):
        raise NotAllowed(MAY_NOT_MANAGE)
