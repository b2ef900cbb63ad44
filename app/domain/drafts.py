"""Drafts of online applications: a citizen prepares an application on the portal, stage by
stage (guide → form → documents → fee → confirm), saves it, comes back on any device, and
submits it through the same intake as the front office (:func:`app.domain.intake.file`).

A :class:`~app.models.PortalDraft` is its citizen's alone (loaded through
:func:`app.domain.access.get_draft`). It holds the raw values as typed — incomplete or
invalid values are fine in a draft; they are judged when the citizen moves forward and, for
real, at submission — under ``data = {"form": {...}, "applicant": {...}}``. Its ``token``
names the files uploaded for it, kept by :mod:`app.domain.staging` until the submission
files them, and makes the submission idempotent: the submission key is
:func:`app.domain.intake.submission_key` of the citizen and that token, so a second click, a
reload or the back button finds the application already filed instead of filing another.

Saving is optimistic: each save names the version it was made from, and a save from a stale
tab or another device (:class:`StaleDraft`) changes nothing.

Submitting deletes the draft and moves its payments (:func:`app.domain.payments.attach_to_application`)
inside the filing's own transaction. Drafts nobody touched for ``HAMAYNK_DRAFT_DAYS`` (default
90) are removed with their files by :func:`purge`, run by the job worker (:mod:`app.jobs`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError

from app.domain import access, intake, payments, staging
from app.domain.access import Actor
from app.domain.channels import ONLINE
from app.domain.declarations import Document, Service
from app.domain.documents import check_checklist
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.domain.storage import Storage, delete_quietly
from app.models import CitizenProfile, Municipality, PortalDraft, ServiceActivation, User
from app.models.base import utcnow
from app.models.office import StagedUpload

if TYPE_CHECKING:
    from app.plugins.host import PluginHost
    from app.plugins.registry import ServiceRegistry

log = logging.getLogger(__name__)

GUIDE, FORM, DOCUMENTS, FEE, CONFIRM = "guide", "form", "documents", "fee", "confirm"
STAGES = (GUIDE, FORM, DOCUMENTS, FEE, CONFIRM)
APPLICANT_FIELDS = ("name", "psn", "phone", "email", "address")
# How long an untouched draft is kept (HAMAYNK_DRAFT_DAYS overrides it).
MAX_AGE = dt.timedelta(days=90)
# A draft keeps what was typed, within reason: longer values are cut, not refused.
MAX_RAW_CHARS = 5000
MAX_RAW_ITEMS = 100


class StaleDraft(ChangedMeanwhile):
    """The draft was saved elsewhere (another tab or device) after this page was loaded."""

    default_message = _l(
        "This draft was changed in another window or on another device after you opened this page. "
        "Nothing was saved: the page now shows the latest version; enter your changes again."
    )


class NotOffered(WorkflowError):
    """The municipality does not (or no longer) offer the draft's service."""

    default_message = _l("This municipality does not offer this service online any more.")


class PaymentRequired(WorkflowError):
    """The service is processed only once paid, and the draft's fee is not paid yet."""

    default_message = _l(
        "This service must be paid for before the application is submitted. Pay the fee on the Fee step, then submit."
    )


def draft_age(config: Mapping[str, Any]) -> dt.timedelta:
    """How long an untouched draft is kept: ``HAMAYNK_DRAFT_DAYS`` (default 90)."""
    raw = config.get("HAMAYNK_DRAFT_DAYS")
    try:
        days = float(raw) if raw not in (None, "") else MAX_AGE.days
    except (TypeError, ValueError):
        days = MAX_AGE.days
    return dt.timedelta(days=max(days, 1))


# -- the raw values ------------------------------------------------------------------------------


def _raw(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (list, tuple)):
        return [str(v)[:MAX_RAW_CHARS] for v in value[:MAX_RAW_ITEMS] if v is not None]
    return str(value)[:MAX_RAW_CHARS]


def form_values(draft: PortalDraft) -> dict[str, Any]:
    """The declared fields' raw values as last saved."""
    values = (draft.data or {}).get("form")
    return dict(values) if isinstance(values, dict) else {}


def applicant_values(draft: PortalDraft) -> dict[str, str]:
    """The applicant's details (name, psn, phone, email, address) as last saved."""
    values = (draft.data or {}).get("applicant")
    values = values if isinstance(values, dict) else {}
    return {name: str(values.get(name) or "") for name in APPLICANT_FIELDS}


def prefilled_applicant(session: Session, user_id: int) -> dict[str, str]:
    """The applicant's details from the citizen's account and profile."""
    user = session.get(User, user_id)
    profile = session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user_id)).scalar_one_or_none()
    name = ""
    if user is not None:
        parts = [p for p in ((user.first_name or "").strip(), (user.last_name or "").strip()) if p and p != "-"]
        name = " ".join(parts)
    return {
        "name": name,
        "psn": (profile.psn if profile else None) or "",
        "phone": (profile.phone if profile else None) or "",
        "email": (user.email if user else None) or "",
        "address": (profile.address if profile else None) or "",
    }


# -- starting, finding, saving, deleting -------------------------------------------------------------


def _citizen(actor: Actor | None) -> Actor:
    if actor is None or not actor.active or not actor.is_citizen:
        raise NotAllowed(_l("Only a signed-in citizen can apply online."))
    return actor


def service_of(session: Session, registry: ServiceRegistry, draft: PortalDraft) -> Service | None:
    """The declaration the draft is filled under (its version), if the municipality still
    offers the service; ``None`` otherwise."""
    return intake.enabled_service(session, registry, draft.municipality_id, draft.service_key, draft.service_version)


def start(
    session: Session, registry: ServiceRegistry, actor: Actor | None, *, municipality_id: int, service_key: str
) -> PortalDraft:
    """A new draft of ``service_key`` with ``municipality_id`` for the citizen ``actor``, the
    applicant's details filled in from their account; committed. :class:`NotOffered` when the
    municipality does not offer the service, :class:`NotAllowed` for anyone but a citizen."""
    citizen = _citizen(actor)
    service = intake.enabled_service(session, registry, municipality_id, service_key)
    if service is None:
        raise NotOffered()
    draft = PortalDraft(
        user_id=citizen.user_id,
        municipality_id=municipality_id,
        service_key=service.key,
        service_version=service.version,
        token=intake.new_submission_token(),
        data={"form": {}, "applicant": prefilled_applicant(session, citizen.user_id)},
        stage=GUIDE,
    )
    session.add(draft)
    session.commit()
    return draft


def _check_version(draft: PortalDraft, expected_version: Any) -> None:
    try:
        expected = int(expected_version)
    except (TypeError, ValueError):
        raise StaleDraft() from None
    if expected != draft.version:
        raise StaleDraft()


def save(
    session: Session,
    draft: PortalDraft,
    *,
    expected_version: Any,
    service: Service | None = None,
    form: Mapping[str, Any] | None = None,
    applicant: Mapping[str, Any] | None = None,
    stage: str | None = None,
) -> PortalDraft:
    """Keep what was typed (raw, valid or not) and the furthest stage reached; commit. ``form`` holds
    the declared fields' raw values (others are dropped), ``applicant`` the applicant's
    details. A save from a version other than the draft's current one (another tab saved
    first) raises :class:`StaleDraft` and changes nothing."""
    _check_version(draft, expected_version)
    data = dict(draft.data or {})
    if form is not None:
        declared = {spec.name for spec in service.fields} if service is not None else set(form)
        data["form"] = {name: _raw(value) for name, value in form.items() if name in declared}
    if applicant is not None:
        data["applicant"] = {name: _raw(applicant.get(name) or "") for name in APPLICANT_FIELDS}
    draft.data = data
    if stage in STAGES and STAGES.index(stage) > STAGES.index(draft.stage if draft.stage in STAGES else GUIDE):
        # The furthest stage reached: where "resume" opens the draft.
        draft.stage = stage
    draft.updated_at = utcnow()
    try:
        session.commit()
    except StaleDataError:
        # Another request saved between our load and this write (the row's version moved).
        session.rollback()
        raise StaleDraft() from None
    return draft


@dataclass(frozen=True)
class DraftSummary:
    draft: PortalDraft
    service: Service | None
    municipality: Municipality | None
    files: int


def list_drafts(session: Session, registry: ServiceRegistry, actor: Actor | None) -> list[DraftSummary]:
    """``actor``'s drafts, last saved first, with their service (``None`` when it is no longer
    installed) and municipality."""
    drafts = list(
        session.execute(access.visible_drafts(actor).order_by(PortalDraft.updated_at.desc(), PortalDraft.id.desc()))
        .scalars()
        .all()
    )
    if not drafts:
        return []
    ids = sorted({d.municipality_id for d in drafts})
    municipalities = {m.id: m for m in session.execute(select(Municipality).where(Municipality.id.in_(ids))).scalars()}
    counts: dict[str, int] = {}
    assert actor is not None
    for municipality_id in ids:
        tokens = [d.token for d in drafts if d.municipality_id == municipality_id]
        stmt = access.within(select(StagedUpload.submission_token), StagedUpload, municipality_id)
        for token in session.execute(
            stmt.where(StagedUpload.user_id == actor.user_id, StagedUpload.submission_token.in_(tokens))
        ).scalars():
            counts[token] = counts.get(token, 0) + 1
    summaries = []
    for draft in drafts:
        registered = registry.get(draft.service_key, draft.service_version)
        summaries.append(
            DraftSummary(
                draft=draft,
                service=registered.service if registered is not None else None,
                municipality=municipalities.get(draft.municipality_id),
                files=counts.get(draft.token, 0),
            )
        )
    return summaries


def delete_draft(session: Session, storage: Storage, actor: Actor | None, draft: PortalDraft) -> None:
    """Delete ``actor``'s draft and the files uploaded for it (rows committed first, then the
    stored objects). Payments made for it stay recorded (they lose the link to the draft)."""
    citizen = _citizen(actor)
    rows = staging.staged_for(session, citizen, draft.municipality_id, draft.token)
    keys = staging.consume(session, draft.municipality_id, [row.id for row in rows])
    gone = access.within(delete(PortalDraft), PortalDraft, draft.municipality_id)
    session.execute(
        gone.where(PortalDraft.id == draft.id, PortalDraft.user_id == citizen.user_id),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    session.expunge(draft)
    delete_quietly(storage, keys)


# -- documents -----------------------------------------------------------------------------------


def staged_files(session: Session, actor: Actor | None, draft: PortalDraft, service: Service) -> list[StagedUpload]:
    """The files uploaded for the draft's checklist lines, oldest first."""
    declared = {req.key for req in service.documents}
    rows = staging.staged_for(session, actor, draft.municipality_id, draft.token)
    return [row for row in rows if row.requirement_key in declared]


def upload(
    session: Session,
    storage: Storage,
    actor: Actor | None,
    draft: PortalDraft,
    service: Service,
    files: Mapping[str, Sequence[Any]],
) -> tuple[list[StagedUpload], dict[str, list[str]]]:
    """Keep the files sent for the draft's checklist lines (``files``: checklist key → uploads),
    each checked on its own (type read from the content, size, count with those already
    attached), so one refused file does not cost the others. A line that takes one file
    gets the new file in place of the one attached (replace). Returns the new rows and, per
    checklist key, why files were refused."""
    citizen = _citizen(actor)
    added: list[StagedUpload] = []
    refused: dict[str, list[str]] = {}
    for requirement in service.documents:
        sent = intake.uploaded_files(files.get(requirement.key, ()))
        if not sent:
            continue
        current = [r for r in staged_files(session, citizen, draft, service) if r.requirement_key == requirement.key]
        replacing = requirement.max_count == 1 and len(sent) == 1 and bool(current)
        for one in sent:
            rows, not_kept = staging.stage(
                session,
                storage,
                citizen,
                draft.municipality_id,
                draft.token,
                service,
                {requirement.key: [one]},
                already=[] if replacing else current,
            )
            if not_kept:
                refused.setdefault(requirement.key, []).extend(not_kept.values())
            elif not rows:
                refused.setdefault(requirement.key, []).append(
                    str(_l("The file could not be stored just now. Try again in a moment."))
                )
            elif replacing:
                staging.discard(session, storage, citizen, draft.municipality_id, draft.token, [r.id for r in current])
                current = []
            current += rows
            added += rows
    return added, refused


def remove_files(
    session: Session, storage: Storage, actor: Actor | None, draft: PortalDraft, ids: Sequence[Any]
) -> int:
    """Remove the draft's uploaded files ``ids`` (ids not of this draft are ignored)."""
    return staging.discard(session, storage, _citizen(actor), draft.municipality_id, draft.token, ids)


# -- checking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """What moving forward from the form or the documents would find wrong."""

    cleaned: dict[str, Any]
    data: dict[str, str]
    applicant: dict[str, str]
    documents: dict[str, str]
    missing: list[Document]

    @property
    def form_ok(self) -> bool:
        return not self.data and not self.applicant

    @property
    def documents_ok(self) -> bool:
        return not self.documents


def check(session: Session, host: PluginHost, actor: Actor | None, draft: PortalDraft, service: Service) -> Check:
    """The draft judged by intake's own rules (:func:`app.domain.intake.validate_form_data`,
    :func:`app.domain.intake.clean_applicant`, the checklist on the cleaned data)."""
    cleaned, data_errors = intake.validate_form_data(host, service, form_values(draft))
    _person, applicant_errors = intake.clean_applicant(applicant_values(draft))
    attached = staging.by_requirement(staged_files(session, actor, draft, service))
    missing = check_checklist(service, cleaned, attached)
    return Check(
        cleaned=cleaned,
        data=dict(data_errors),
        applicant=dict(applicant_errors),
        documents={req.key: str(_l("Attach this document.")) for req in missing},
        missing=missing,
    )


# -- fees -------------------------------------------------------------------------------------------


def fee(
    session: Session, registry: ServiceRegistry, draft: PortalDraft, service: Service
) -> tuple[payments.FeeQuote, payments.PaymentState]:
    """The fee of the draft's service in its municipality and what was paid for the draft."""
    quote = payments.quote(session, registry, municipality_id=draft.municipality_id, service=service)
    return quote, payments.draft_payment_state(session, draft, fee=quote.total)


def deadline_days(session: Session, draft: PortalDraft, service: Service) -> int:
    """The working days the municipality takes for the service (its own override, or the
    declaration's), for the guide."""
    stmt = access.within(select(ServiceActivation.deadline_override), ServiceActivation, draft.municipality_id)
    override = session.execute(stmt.where(ServiceActivation.service_key == service.key)).scalar_one_or_none()
    return int(override) if override is not None else service.deadline_days


# -- submitting -----------------------------------------------------------------------------------


def submitted(session: Session, actor: Actor | None, token: Any) -> Any:
    """The application already filed from ``actor``'s draft with ``token`` (a double submit,
    a reload, the back button), or ``None``."""
    if actor is None or not actor.active or not isinstance(token, str):
        return None
    key = intake.submission_key(actor.user_id, token)
    if key is None:
        return None
    from app.models import Application

    stmt = access.visible_applications(actor).where(Application.submission_key == key)
    return session.execute(stmt).scalar_one_or_none()


def submit(
    session: Session,
    host: PluginHost,
    storage: Storage,
    actor: Actor | None,
    draft: PortalDraft,
    *,
    expected_version: Any,
    locale: str = "hy",
) -> intake.IntakeResult:
    """File the draft as an online application through :func:`app.domain.intake.file`, with the
    files uploaded for it; in the same transaction delete the draft and move its payments.

    Idempotent: a second call for the same draft (its token) returns the first application
    (``created`` false). Refusals change nothing and keep the files: :class:`StaleDraft` (the
    draft was saved elsewhere since), :class:`NotOffered`, :class:`PaymentRequired`,
    :class:`app.domain.intake.FilingRefused` (what intake found wrong, field by field)."""
    citizen = _citizen(actor)
    key = intake.submission_key(citizen.user_id, draft.token)
    already = submitted(session, citizen, draft.token)
    if already is not None:
        return intake.IntakeResult(already, None, False)
    _check_version(draft, expected_version)
    # The municipality's row for the service, read once: intake reads it no more.
    offered = intake.offered_service(
        session, host.registry, draft.municipality_id, draft.service_key, draft.service_version
    )
    if offered is None:
        raise NotOffered()
    service, activation = offered
    quote, paid = fee(session, host.registry, draft, service)
    if quote.must_pay_first and not paid.settled:
        raise PaymentRequired()
    kept = staged_files(session, citizen, draft, service)
    kept_keys = [row.storage_key for row in kept]
    stored = staging.as_uploads(storage, kept)
    draft_id, municipality_id, version = draft.id, draft.municipality_id, draft.version

    def finish(session: Session, application: Any) -> None:
        try:
            payments.attach_to_application(session, draft, application)
        except ObjectDeletedError:
            # Deleted in another tab while this filing was on its way: file nothing.
            raise StaleDraft() from None
        gone = access.within(delete(PortalDraft), PortalDraft, municipality_id)
        result = session.execute(
            gone.where(
                PortalDraft.id == draft_id, PortalDraft.user_id == citizen.user_id, PortalDraft.version == version
            ),
            execution_options={"synchronize_session": False},
        )
        if getattr(result, "rowcount", 1) != 1:
            # Deleted or saved elsewhere since it was loaded: file nothing.
            raise StaleDraft()

    try:
        result = intake.file(
            session,
            host,
            storage,
            citizen,
            municipality_id=municipality_id,
            service_key=service.key,
            service_version=service.version,
            data=form_values(draft),
            applicant=applicant_values(draft),
            channel=ONLINE,
            uploads=stored,
            submission_key=key,
            locale=locale,
            staged_ids=[row.id for row in kept],
            before_commit=finish,
            activation=activation,
        )
    finally:
        for uploads in stored.values():
            for item in uploads:
                item.close()
    if result.created:
        # The staged rows went with the filing; the filed copies live under their own keys.
        if draft in session:
            session.expunge(draft)
        delete_quietly(storage, kept_keys)
    return result


# -- the job -----------------------------------------------------------------------------------------


def purge(
    session: Session, storage: Storage, *, older_than: dt.timedelta = MAX_AGE, now: dt.datetime | None = None
) -> int:
    """Remove every draft not saved for ``older_than``, in every municipality, with the files
    uploaded for it (rows first, committed, then the objects). Returns how many drafts."""
    cutoff = (now or utcnow()) - older_than
    reason = "the job purging abandoned drafts"
    found = session.execute(
        access.unscoped(select(PortalDraft.id, PortalDraft.token), reason=reason).where(PortalDraft.updated_at < cutoff)
    ).all()
    if not found:
        session.rollback()
        return 0
    ids = [draft_id for draft_id, _token in found]
    tokens = [token for _id, token in found]
    keys = list(
        session.execute(
            access.unscoped(select(StagedUpload.storage_key), reason=reason).where(
                StagedUpload.submission_token.in_(tokens)
            )
        ).scalars()
    )
    session.execute(
        access.unscoped(delete(StagedUpload), reason=reason).where(StagedUpload.submission_token.in_(tokens)),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        access.unscoped(delete(PortalDraft), reason=reason).where(PortalDraft.id.in_(ids)),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    delete_quietly(storage, keys)
    return len(ids)


__all__ = [
    "APPLICANT_FIELDS",
    "CONFIRM",
    "DOCUMENTS",
    "FEE",
    "FORM",
    "GUIDE",
    "MAX_AGE",
    "STAGES",
    "Check",
    "DraftSummary",
    "NotOffered",
    "PaymentRequired",
    "StaleDraft",
    "applicant_values",
    "check",
    "deadline_days",
    "delete_draft",
    "draft_age",
    "fee",
    "form_values",
    "list_drafts",
    "prefilled_applicant",
    "purge",
    "remove_files",
    "save",
    "service_of",
    "staged_files",
    "start",
    "submit",
    "submitted",
    "upload",
]
