"""Front-office intake ("one window"): a clerk files an application for a walk-in citizen.

Plain functions on a SQLAlchemy session; the views in :mod:`app.office` only parse the
request and render. One intake is one transaction: the application, its documents (rows and
stored objects, see :mod:`app.domain.documents`) and the ``submit`` history record commit
together, or nothing is left behind.

Double submits. The form carries a one-time token; the application is created with
``submission_key`` derived from it (and from the clerk's user id, so one clerk can never
reach another's application by sending their token). Before writing, an existing application
with that key is returned instead; two requests racing past that check are settled by the
unique constraint on ``application.submission_key``: the loser rolls back (its objects are
deleted with its transaction) and returns the winner's application.

The access code. :func:`app.domain.workflow.new_application` returns the applicant's access
secret once; only its hash is stored. The office keeps it in the clerk's session
(:func:`remember_access_code`) for one application and at most
:data:`ACCESS_CODE_TTL`, long enough to show it on the receipt page and to print it on the
receipt PDF; downloading the PDF, filing the next intake or the time running out drops it. The
session cookie is signed, not encrypted: the code sits in the browser of the clerk who is
handing it to the citizen anyway, for minutes, and a stolen session cookie would already give
away more than the code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import time
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from app.domain import workflow
from app.domain.activations import OfferedService, catalogue
from app.domain.declarations import Document, Service
from app.domain.documents import check_checklist, store_documents
from app.domain.fieldtypes import normalize_phone, normalize_psn
from app.domain.storage import Storage
from app.models import Application, ServiceActivation
from app.plugins import runtime as plugin_runtime

# How long the access code of a just-filed application stays available to the clerk.
ACCESS_CODE_TTL = dt.timedelta(minutes=15)
SESSION_KEY = "hamaynk_office_receipt"
SUBMISSION_PREFIX = "office"
# secrets.token_urlsafe(24): 32 characters of [A-Za-z0-9_-].
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
MAX_NAME = 200
MAX_ADDRESS = 500
SEARCH_MIN_CHARS = 3
SEARCH_LIMIT = 10
# Rows read to find SEARCH_LIMIT different people: a returning citizen has several.
SEARCH_SCAN = 60


class IntakeRefused(ValueError):
    """The intake cannot be filed as sent; ``str()`` is a translated sentence, nothing was written."""


class ChecklistIncomplete(IntakeRefused):
    def __init__(self, missing: Sequence[Document], message: str) -> None:
        super().__init__(message)
        self.missing = list(missing)


# -- what a clerk may offer ---------------------------------------------------------------------


def offered_services(session: Session, registry, municipality_id: int) -> list[OfferedService]:
    """The services the municipality has enabled (newest versions), by key."""
    return [o for o in catalogue(session, registry, municipality_id) if o.enabled]


def enabled_service(session: Session, registry, municipality_id: int, service_key: str) -> Service | None:
    """The newest declaration of ``service_key`` if the municipality offers it, else ``None``."""
    registered = registry.get(service_key)
    if registered is None:
        return None
    enabled = session.execute(
        select(ServiceActivation.enabled).where(
            ServiceActivation.municipality_id == municipality_id, ServiceActivation.service_key == service_key
        )
    ).scalar_one_or_none()
    return registered.service if enabled else None


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
        return value.strip() if isinstance(value, str) else ""

    name = text("name")
    if not name:
        errors["name"] = _("Enter the applicant's name.")
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
    session: Session, municipality_id: int, query: str, app: Flask | None = None
) -> list[KnownApplicant]:
    """People who applied to this municipality before, matched by public service number,
    phone number or part of the name; most recent first, one entry per person, at most
    :data:`SEARCH_LIMIT`. With a well-formed public service number the population-registry
    hook is asked too and its answer comes first. One database query."""
    query = (query or "").strip()[:MAX_NAME]
    if len(query) < SEARCH_MIN_CHARS:
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
        answer = plugin_runtime.applicant_from_registry(psn, app)
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
    rows = session.execute(
        select(
            Application.applicant_name,
            Application.applicant_psn,
            Application.applicant_phone,
            Application.applicant_email,
            Application.applicant_address,
        )
        .where(Application.municipality_id == municipality_id, or_(*clauses))
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


def existing_submission(session: Session, key: str) -> Application | None:
    return session.execute(select(Application).where(Application.submission_key == key)).scalar_one_or_none()


# -- filing --------------------------------------------------------------------------------


def uploaded_files(files: Iterable[Any]) -> list[Any]:
    """The files a browser really sent: an empty file input still sends a part without a name."""
    return [f for f in files if f is not None and (getattr(f, "filename", None) or "") != ""]


def missing_documents_message(missing: Sequence[Document], locale: str) -> str:
    from babel.lists import format_list

    from app.domain.declarations import pick

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
    documents: list = field(default_factory=list)


def file_intake(
    session: Session,
    storage: Storage,
    *,
    service: Service,
    municipality_id: int,
    data: Mapping[str, Any],
    applicant: Applicant,
    files: Mapping[str, Sequence[Any]],
    clerk_id: int,
    key: str,
    locale: str = "hy",
    app: Flask | None = None,
) -> IntakeResult:
    """Create, attach documents to, submit and commit one application.

    ``data`` is already validated form data; ``files`` maps a requirement key to uploads.
    Raises :class:`ChecklistIncomplete`, an :class:`app.domain.uploads.UploadRefused`, a
    :class:`app.domain.storage.StorageError` or a :class:`app.domain.errors.WorkflowError`;
    in every case the session has been rolled back and nothing is stored.
    """
    chosen = {req.key: uploaded_files(files.get(req.key, ())) for req in service.documents}
    missing = check_checklist(service, data, chosen)
    if missing:
        raise ChecklistIncomplete(missing, missing_documents_message(missing, locale))
    for _attempt, pause in enumerate((*RETRY_PAUSES, None)):
        existing = existing_submission(session, key)
        if existing is not None:
            return IntakeResult(existing, None, False)
        try:
            return _file_once(session, storage, service, municipality_id, data, applicant, chosen, clerk_id, key, app)
        except IntegrityError:
            # Lost a race with the same submission: the unique key refused the second row.
            session.rollback()
            winner = existing_submission(session, key)
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
            _rewind(chosen)
        except BaseException:
            session.rollback()
            raise
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises


# Pauses between attempts when the database is busy (about 6 s in all).
RETRY_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)


def _rewind(files: Mapping[str, Sequence[Any]]) -> None:
    for uploads in files.values():
        for upload in uploads:
            stream = getattr(upload, "stream", upload)
            if hasattr(stream, "seek"):
                stream.seek(0)


def _file_once(session, storage, service, municipality_id, data, applicant, chosen, clerk_id, key, app) -> IntakeResult:
    application, secret = workflow.new_application(
        session,
        service=service,
        municipality_id=municipality_id,
        data=data,
        applicant_name=applicant.name,
        created_by_id=clerk_id,
        applicant_psn=applicant.psn,
        applicant_phone=applicant.phone,
        applicant_email=applicant.email,
        applicant_address=applicant.address,
        channel="office",
        submission_key=key,
    )
    stored = []
    for requirement in service.documents:
        if chosen[requirement.key]:
            stored += store_documents(session, storage, application, requirement, chosen[requirement.key], clerk_id)
    workflow.submit(session, application, actor_id=clerk_id, expected_version=application.version, app=app)
    workflow.commit(session)
    return IntakeResult(application, secret, True, stored)


# -- the access code between submit and receipt -----------------------------------------------


def remember_access_code(
    store: MutableMapping[str, Any], application_id: int, code: str, now: float | None = None
) -> None:
    """Keep the code for this one application only (a newer intake replaces it)."""
    store[SESSION_KEY] = {
        "id": int(application_id),
        "code": code,
        "until": (now or time.time()) + ACCESS_CODE_TTL.total_seconds(),
    }


def recall_access_code(store: MutableMapping[str, Any], application_id: int, now: float | None = None) -> str | None:
    """The remembered code of this application while it is fresh; a stale one is dropped."""
    entry = store.get(SESSION_KEY)
    if not isinstance(entry, dict):
        return None
    if entry.get("until", 0) < (now or time.time()):
        store.pop(SESSION_KEY, None)
        return None
    if entry.get("id") != application_id:
        return None
    code = entry.get("code")
    return code if isinstance(code, str) else None


def forget_access_code(store: MutableMapping[str, Any], application_id: int | None = None) -> None:
    entry = store.get(SESSION_KEY)
    if isinstance(entry, dict) and (application_id is None or entry.get("id") == application_id):
        store.pop(SESSION_KEY, None)


__all__ = [
    "ACCESS_CODE_TTL",
    "Applicant",
    "ChecklistIncomplete",
    "IntakeRefused",
    "IntakeResult",
    "KnownApplicant",
    "clean_applicant",
    "enabled_service",
    "existing_submission",
    "file_intake",
    "find_applicants",
    "forget_access_code",
    "new_submission_token",
    "offered_services",
    "recall_access_code",
    "remember_access_code",
    "submission_key",
    "uploaded_files",
]
