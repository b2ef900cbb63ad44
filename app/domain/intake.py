"""Filing an application, the same way on every channel: a clerk at the front office for a
walk-in citizen, staff through the REST API, and (next) a citizen on the portal.

:func:`file` is the one entry point. Views parse the request, hand over the raw values and
render what comes back: an :class:`IntakeResult` or a :class:`FilingRefused` carrying every
problem found, keyed by where it belongs, so all channels give the same messages for the
same input. One intake is one transaction: the application, its documents (rows and stored
objects, see :mod:`app.domain.documents`) and the ``submit`` history record commit together,
or nothing is left behind.

Double submits. A channel may send a submission key (the office derives one from a one-time
form token and the clerk's user id, so one clerk can never reach another's application by
sending their token). Before writing, an existing application with that key is returned
instead; two requests racing past that check are settled by the unique constraint on
``application.submission_key``: the loser rolls back (its objects are deleted with its
transaction) and returns the winner's application.

The access code. :func:`app.domain.workflow.new_application` returns the applicant's access
secret once; only its hash is stored. The office asks for it to be sealed into a pending
receipt in the same transaction (``receipt_key``; see :mod:`app.domain.receipts`), where it
waits until the clerk confirms the receipt was handed over.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from babel.lists import format_list
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.domain import access, channels, fieldtypes, inputs, receipts, staging, statuses, workflow
from app.domain.access import Actor
from app.domain.activations import OfferedService, catalogue
from app.domain.channels import ONLINE
from app.domain.declarations import Document, Service, pick
from app.domain.documents import check_checklist, store_documents
from app.domain.errors import HookFailed, NotAllowed
from app.domain.fieldtypes import normalize_phone, normalize_psn
from app.domain.storage import Storage
from app.domain.uploads import UploadRefused
from app.models import Application, ApplicationDocument, ServiceActivation

if TYPE_CHECKING:
    from app.plugins.host import PluginHost
    from app.plugins.registry import ServiceRegistry

SUBMISSION_PREFIX = "office"
# secrets.token_urlsafe(24): 32 characters of [A-Za-z0-9_-].
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
MAX_NAME = 200
MAX_ADDRESS = 500
SEARCH_MIN_CHARS = 3
SEARCH_LIMIT = 10
# Rows read to find SEARCH_LIMIT different people: a returning citizen has several.
SEARCH_SCAN = 60
# Pauses between attempts when the database is busy (about 6 s in all).
RETRY_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


class FilingRefused(ValueError):
    """Nothing was filed. Every problem found, each a translated sentence, keyed by where it
    belongs: ``service`` (the service asked for), ``data`` (form field name), ``applicant``
    (name, psn, phone, email, address), ``documents`` (checklist key); ``problems`` are
    sentences about the submission as a whole."""

    def __init__(
        self,
        *,
        service: str | None = None,
        data: Mapping[str, str] | None = None,
        applicant: Mapping[str, str] | None = None,
        documents: Mapping[str, str] | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(_l("Some fields are not valid."))
        self.service = service
        self.data = dict(data or {})
        self.applicant = dict(applicant or {})
        self.documents = dict(documents or {})
        self.problems = list(problems)

    def __str__(self) -> str:
        return str(self.args[0])

    def errors(self) -> dict[str, str]:
        """All of it as one flat mapping: ``service_key``, ``data.<field>``,
        ``applicant.<detail>``, ``documents.<key>`` (the names the REST API reports)."""
        flat = {"service_key": self.service} if self.service else {}
        for prefix, errors in (("data", self.data), ("applicant", self.applicant), ("documents", self.documents)):
            flat.update({f"{prefix}.{name}": str(message) for name, message in errors.items()})
        return flat


# -- what a municipality offers -----------------------------------------------------------------


def offered_services(session: Session, registry: ServiceRegistry, municipality_id: int) -> list[OfferedService]:
    """The services the municipality has enabled (newest versions), by key."""
    return [o for o in catalogue(session, registry, municipality_id) if o.enabled]


def enabled_service(
    session: Session, registry: ServiceRegistry, municipality_id: int, service_key: str, version: int | None = None
) -> Service | None:
    """The declaration of ``service_key`` (its newest version, or ``version``) if the
    municipality offers the service, else ``None``."""
    offered = offered_service(session, registry, municipality_id, service_key, version)
    return offered[0] if offered is not None else None


def offered_service(
    session: Session,
    registry: ServiceRegistry,
    municipality_id: int,
    service_key: str,
    version: int | None = None,
    *,
    activation: ServiceActivation | None = None,
) -> tuple[Service, ServiceActivation] | None:
    """:func:`enabled_service` with the municipality's row for the service, which a filing
    then needs (fee, deadline, department): read once and handed down, not read again.
    ``activation`` is that row when the caller read it in this transaction already (the
    office's form view does, to find the service)."""
    registered = registry.get(service_key, version) if version is not None else registry.get(service_key)
    if registered is None:
        return None
    row = activation
    if row is None or row.municipality_id != municipality_id or row.service_key != service_key:
        stmt = access.within(select(ServiceActivation), ServiceActivation, municipality_id)
        row = session.execute(stmt.where(ServiceActivation.service_key == service_key)).scalar_one_or_none()
    return (registered.service, row) if row is not None and row.enabled else None


# Where a failed plug-in check is reported among the form errors: no field has this name
# (field names are snake_case), so every channel shows it with the form's general errors.
HOOK_FAILED_KEY = "__service__"


def validate_form_data(
    host: PluginHost, service: Service, raw: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """``(data, errors)`` for raw form values: the declared rules first, then every plug-in's
    ``validate_application`` (merged; the first message for a field wins)."""

    def extra(svc: Service, data: dict[str, Any]) -> dict[str, str]:
        try:
            return host.validate_application(svc, data)
        except HookFailed as exc:
            # The plug-in's author and the administrator need its name and what went wrong;
            # the clerk or citizen only that nothing was filed and what to do (no 500).
            logging.getLogger(__name__).exception("%s", exc)
            return {
                HOOK_FAILED_KEY: _(
                    "This service's check failed, so nothing was filed. Try again, or contact the "
                    "administrator if it keeps happening."
                )
            }

    return fieldtypes.validate_data(service, raw, host.registry.field_types, extra)


# -- the applicant ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applicant:
    name: str
    psn: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None


def clean_applicant(raw: Mapping[str, Any]) -> tuple[Applicant | None, dict[str, str]]:
    """``(applicant, {})`` or ``(None, {field: message})`` from raw input (name, psn, phone,
    email, address); the same rules as the form fields of those types."""
    errors: dict[str, str] = {}

    def text(name: str) -> str:
        value = raw.get(name)
        if not isinstance(value, str):
            return ""
        problem = inputs.text_problem(value)
        if problem:
            errors.setdefault(name, problem)
            return ""
        return value.strip()

    name = text("name")
    if not name:
        errors.setdefault("name", _("Enter the applicant's name."))
    elif len(name) > MAX_NAME:
        errors["name"] = _("Enter at most %(count)d characters.", count=MAX_NAME)
    cleaned: dict[str, str | None] = {}
    for key, normalize in (("psn", normalize_psn), ("phone", normalize_phone)):
        value = text(key)
        cleaned[key] = None
        if value:
            try:
                cleaned[key] = normalize(value)
            except ValueError as exc:
                errors[key] = str(exc)
    email = text("email")
    cleaned["email"] = None
    if email:
        try:
            cleaned["email"] = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = _("Enter a valid e-mail address.")
    address = text("address")
    if len(address) > MAX_ADDRESS:
        errors["address"] = _("Enter at most %(count)d characters.", count=MAX_ADDRESS)
    if errors:
        return None, errors
    return Applicant(
        name=name, psn=cleaned["psn"], phone=cleaned["phone"], email=cleaned["email"], address=address or None
    ), {}


@dataclass(frozen=True)
class KnownApplicant:
    name: str
    psn: str | None
    phone: str | None
    email: str | None
    address: str | None
    source: str  # "registry" (a plug-in's population registry) or "applications"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "psn": self.psn,
            "phone": self.phone,
            "email": self.email,
            "address": self.address,
            "source": self.source,
        }


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_applicants(
    session: Session, host: PluginHost, actor: Actor | None, municipality_id: int, query: str
) -> list[KnownApplicant]:
    """People who applied to this municipality before, in the applications ``actor`` may
    see, matched by public service number, phone number or part of the name; most recent
    first, one entry per person, at most :data:`SEARCH_LIMIT`. With a well-formed public
    service number the population-registry hook is asked too and its answer comes first.
    Nothing for anyone who may not read applicants' personal data. One database query."""
    query = (query or "").strip()[:MAX_NAME]
    if len(query) < SEARCH_MIN_CHARS or not access.caseworker_of(actor, municipality_id):
        return []
    found: list[KnownApplicant] = []
    clauses = []
    psn = phone = None
    with contextlib.suppress(ValueError):
        psn = normalize_psn(query)
    if psn is None:
        with contextlib.suppress(ValueError):
            phone = normalize_phone(query)
    if psn is not None:
        clauses.append(Application.applicant_psn == psn)
        answer = host.hook.applicant_from_registry(psn=psn)
        if answer and str(answer.get("name") or "").strip():
            found.append(
                KnownApplicant(
                    name=str(answer.get("name")).strip(),
                    psn=psn,
                    phone=answer.get("phone"),
                    email=answer.get("email"),
                    address=answer.get("address"),
                    source="registry",
                )
            )
    if phone is not None:
        clauses.append(Application.applicant_phone == phone)
    if psn is None and phone is None:
        clauses.append(Application.applicant_name.ilike(_like_pattern(query), escape="\\"))
    columns = access.visible_applications(
        actor,
        Application.applicant_name,
        Application.applicant_psn,
        Application.applicant_phone,
        Application.applicant_email,
        Application.applicant_address,
    )
    rows = session.execute(
        # Drafts (even the caller's own) are not yet anyone's application: known applicants
        # come from filed ones.
        columns.where(
            or_(*clauses), Application.municipality_id == municipality_id, Application.status != statuses.DRAFT
        )
        .order_by(Application.id.desc())
        .limit(SEARCH_SCAN)
    ).all()
    seen = {(k.psn or "", k.name.casefold()) for k in found}
    for name, row_psn, row_phone, row_email, row_address in rows:
        ident = (row_psn or "", name.casefold())
        if ident in seen:
            continue
        seen.add(ident)
        found.append(
            KnownApplicant(
                name=name, psn=row_psn, phone=row_phone, email=row_email, address=row_address, source="applications"
            )
        )
        if len(found) >= SEARCH_LIMIT:
            break
    return found[:SEARCH_LIMIT]


# -- double submits ---------------------------------------------------------------------------


def new_submission_token() -> str:
    return secrets.token_urlsafe(24)


def submission_key(user_id: int, token: str) -> str | None:
    """The stored key for a form token, or ``None`` when the token is not one we hand out."""
    if not isinstance(token, str) or not TOKEN_RE.match(token):
        return None
    return f"{SUBMISSION_PREFIX}-{int(user_id)}-{token}"


def existing_submission(session: Session, municipality_id: int, key: str) -> Application | None:
    # The key names the submitting user's own earlier request (whoever's draft it was is
    # theirs), so the draft rule does not apply; the municipality bounds it all the same.
    stmt = access.unscoped(select(Application), reason="a user's own double submit, by its key").where(
        Application.municipality_id == municipality_id, Application.submission_key == key
    )
    return session.execute(stmt).scalar_one_or_none()


# -- filing --------------------------------------------------------------------------------


def uploaded_files(files: Iterable[Any]) -> list[Any]:
    """The files a browser really sent: an empty file input still sends a part without a name."""
    return [f for f in files if f is not None and (getattr(f, "filename", None) or "") != ""]


def missing_documents_message(missing: Sequence[Document], locale: str) -> str:
    titles = [f"“{pick(d.title, locale)}”" for d in missing]
    return _(
        "These documents are required and were not attached: %(documents)s.",
        documents=format_list(titles, locale=locale),
    )


@dataclass
class IntakeResult:
    application: Application
    # The applicant's access code, or None when the submission had already been filed.
    access_code: str | None
    created: bool
    documents: list[ApplicationDocument] = field(default_factory=list)

    @property
    def tracking_number(self) -> str:
        return self.application.tracking_number


@dataclass(frozen=True)
class _Checked:
    service: Service
    activation: ServiceActivation
    data: dict[str, Any]
    applicant: Applicant
    uploads: dict[str, list[Any]]


def _filer(actor: Actor | None, municipality_id: int, channel: str) -> Actor:
    """``actor`` if they may file for ``municipality_id`` through ``channel``."""
    channels.require(channel)
    if actor is None or not actor.active:
        raise NotAllowed()
    if not access.may_file_for(actor, municipality_id, channel):
        raise NotAllowed(_l("Only the municipality's staff may file applications."))
    return actor


def _check(
    session: Session,
    host: PluginHost,
    municipality_id: int,
    service_key: str,
    service_version: int | None,
    data: Mapping[str, Any],
    applicant: Mapping[str, Any],
    uploads: Mapping[str, Sequence[Any]],
    submit: bool,
    locale: str,
    activation: ServiceActivation | None = None,
) -> _Checked:
    offered = offered_service(
        session, host.registry, municipality_id, service_key, service_version, activation=activation
    )
    person, applicant_errors = clean_applicant(applicant)
    if offered is None:
        # The form data is the service's to judge, so without one only the applicant can be.
        problem = _("This municipality does not offer this service.") if service_key else _("Choose a service.")
        raise FilingRefused(service=problem, applicant=applicant_errors)
    service, activation = offered
    cleaned, data_errors = validate_form_data(host, service, data)
    chosen = {req.key: uploaded_files(uploads.get(req.key, ())) for req in service.documents}
    # A draft may wait for its documents; a submission must carry the whole checklist.
    missing = check_checklist(service, cleaned, chosen) if submit else []
    if person is None or data_errors or missing:
        raise FilingRefused(
            data=data_errors,
            applicant=applicant_errors,
            documents={req.key: _("Attach this document.") for req in missing},
            problems=[missing_documents_message(missing, locale)] if missing else [],
        )
    return _Checked(service, activation, cleaned, person, chosen)


def file(
    session: Session,
    host: PluginHost,
    storage: Storage,
    actor: Actor | None,
    *,
    municipality_id: int,
    service_key: str,
    data: Mapping[str, Any],
    applicant: Mapping[str, Any],
    channel: str,
    uploads: Mapping[str, Sequence[Any]] | None = None,
    submission_key: str | None = None,
    submit: bool = True,
    service_version: int | None = None,
    locale: str = "hy",
    receipt_key: str | bytes | None = None,
    staged_ids: Sequence[int] = (),
    before_commit: Callable[[Session, Application], None] | None = None,
    activation: ServiceActivation | None = None,
) -> IntakeResult:
    """File one application for ``municipality_id`` as ``actor`` through ``channel``
    (:mod:`app.domain.channels`), and commit it.

    ``data`` holds the raw form values and ``applicant`` the raw applicant details (name,
    psn, phone, email, address), both as a form posts them; ``uploads`` maps a checklist key
    to uploaded files. With ``submit`` the application is submitted, so its checklist must be
    complete; without, it stays a draft. ``service_version`` files under that version of the
    service instead of the newest. ``locale`` is the language of document titles in messages.
    With ``receipt_key`` (the app's secret key; the office passes it) the access code is sealed
    into a pending receipt in the same transaction (:func:`app.domain.receipts.keep_code`).
    ``staged_ids`` are kept uploads (:mod:`app.domain.staging`) handed in among ``uploads``:
    their rows are deleted in the same transaction; the caller deletes their objects after.
    ``before_commit(session, application)`` runs last inside the filing's transaction (the
    portal deletes the draft filed and moves its payments there), so it commits with the
    application or not at all; what it raises rolls the filing back. ``activation`` is the
    municipality's row for the service if the caller read it in this transaction
    (:func:`offered_service`): it is then not read again.

    Checks come first and write nothing: who files (:class:`NotAllowed`; an unknown
    ``channel`` is a :class:`ValueError`), then the service, the applicant, the data and the
    checklist, all reported together (:class:`FilingRefused`). Such a refusal leaves the
    session as it was; it is not rolled back. Only then does writing begin, and any failure
    from there on (an upload whose content is refused, again :class:`FilingRefused`; a
    :class:`app.domain.storage.StorageError`; another :class:`app.domain.errors.WorkflowError`)
    rolls the session back, which also deletes the objects already stored. Either way nothing
    is stored.
    """
    filer = _filer(actor, municipality_id, channel)
    if submission_key is not None:
        # A double submit shows the first one, whatever the second carried.
        existing = existing_submission(session, municipality_id, submission_key)
        if existing is not None:
            return IntakeResult(existing, None, False)
    checked = _check(
        session,
        host,
        municipality_id,
        service_key,
        service_version,
        data,
        applicant,
        uploads or {},
        submit,
        locale,
        activation,
    )
    for attempt, pause in enumerate((*RETRY_PAUSES, None)):
        # The first attempt follows the look-up above at once (the checks read nothing it
        # could change); a retry looks again, the winner of a race may have committed since.
        if submission_key is not None and attempt:
            existing = existing_submission(session, municipality_id, submission_key)
            if existing is not None:
                return IntakeResult(existing, None, False)
        try:
            return _file_once(
                session,
                host,
                storage,
                filer,
                municipality_id,
                checked,
                channel,
                submission_key,
                submit,
                receipt_key=receipt_key,
                staged_ids=staged_ids,
                before_commit=before_commit,
            )
        except UploadRefused as exc:
            session.rollback()
            raise FilingRefused(documents={exc.requirement_key: str(exc)}, problems=[str(exc)]) from None
        except IntegrityError:
            # Lost a race with the same submission: the unique key refused the second row.
            session.rollback()
            winner = existing_submission(session, municipality_id, submission_key) if submission_key else None
            if winner is None:
                raise
            return IntakeResult(winner, None, False)
        except OperationalError:
            # SQLite refuses at once a write from a transaction that began reading before
            # another writer (here: the same submission, sent twice) took the lock; PostgreSQL
            # reports serialization failures the same way. Either way the winner's row is
            # what to show; it may not be committed yet, so look again after a pause.
            session.rollback()
            if pause is None:
                raise
            time.sleep(pause)
            _rewind(checked.uploads)
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


def _rewind(files: Mapping[str, Sequence[Any]]) -> None:
    for uploads in files.values():
        for upload in uploads:
            stream = getattr(upload, "stream", upload)
            if hasattr(stream, "seek"):
                stream.seek(0)


def _file_once(
    session: Session,
    host: PluginHost,
    storage: Storage,
    actor: Actor,
    municipality_id: int,
    checked: _Checked,
    channel: str,
    submission_key: str | None,
    submit: bool,
    *,
    receipt_key: str | bytes | None = None,
    staged_ids: Sequence[int] = (),
    before_commit: Callable[[Session, Application], None] | None = None,
) -> IntakeResult:
    person = checked.applicant
    # Nothing is flushed until the submit: the application is one INSERT with its submitted
    # state (not a draft INSERT and an UPDATE), its documents follow in the same flush, and the
    # municipality's row for the service read by the checks serves every step.
    application, secret = workflow.new_application(
        session,
        service=checked.service,
        municipality_id=municipality_id,
        data=checked.data,
        applicant_name=person.name,
        created_by_id=actor.user_id,
        applicant_user_id=actor.user_id if channel == ONLINE else None,
        applicant_psn=person.psn,
        applicant_phone=person.phone,
        applicant_email=person.email,
        applicant_address=person.address,
        channel=channel,
        submission_key=submission_key,
        activation=checked.activation,
        flush=False,
    )
    stored: list[ApplicationDocument] = []
    with session.no_autoflush:
        for requirement in checked.service.documents:
            if checked.uploads[requirement.key]:
                files = checked.uploads[requirement.key]
                stored += store_documents(
                    session, storage, application, requirement, files, actor.user_id, already_stored=0, flush=False
                )
    if submit:
        workflow.submit(
            session,
            application,
            actor=actor,
            expected_version=application.version,
            host=host,
            activation=checked.activation,
        )
    else:
        session.flush()  # a draft: inserted as it is
    if receipt_key is not None:
        # Sealed with the application, so a filed application always has its code to print.
        receipts.keep_code(session, application, secret, secret_key=receipt_key, created_by_id=actor.user_id)
    staging.consume(session, municipality_id, staged_ids)
    if before_commit is not None:
        before_commit(session, application)
    workflow.commit(session)
    return IntakeResult(application, secret, True, stored)


__all__ = [
    "Applicant",
    "FilingRefused",
    "IntakeResult",
    "KnownApplicant",
    "clean_applicant",
    "enabled_service",
    "existing_submission",
    "file",
    "find_applicants",
    "new_submission_token",
    "offered_service",
    "offered_services",
    "submission_key",
    "uploaded_files",
    "validate_form_data",
]
