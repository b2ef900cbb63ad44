"""What a case shows, worked out without a request: :func:`summary` gives every channel (the
workspace case page, the REST API, next the portal) the same :class:`CaseSummary` — the form
data as the service's own version declared it, masked where the reader does not need personal
data, the documents, the timeline, deadlines, the actions the reader may take and who they
may hand the case to. Channels only render or serialise it.

Who sees personal data (fields declared ``personal=True``, the applicant's public service
number, phone, e-mail and address, and the documents themselves) is
:func:`app.domain.access.may_see_personal_data`'s answer; everyone else gets them masked —
in the history too, where a resubmission shows each changed field's old and new value.

Corrections (:mod:`app.domain.corrections`): a returned case shows what the return named to
fix; the history shows what each resubmission changed and which files it replaced; replaced
files stay listed (and openable by staff) as superseded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import access, corrections, deadlines, roles, statuses, workflow
from app.domain.access import Actor
from app.domain.declarations import Field, Service, Step, pick
from app.domain.errors import ServiceUnavailable, WorkflowError
from app.domain.formatting import format_date
from app.models import Application, ApplicationDocument, DeadlineAdjustment, Role, StaffProfile, TransitionRecord, User

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry

MASK = "\u2022"

ACTION_LABELS = {
    workflow.SUBMIT: _l("Submitted"),
    workflow.APPROVE: _l("Approved the step"),
    workflow.REJECT: _l("Rejected"),
    workflow.RETURN: _l("Returned for correction"),
    workflow.RESUBMIT: _l("Resubmitted after correction"),
    workflow.COMMENT: _l("Internal comment"),
    workflow.REASSIGN: _l("Reassigned"),
    workflow.EXTEND: _l("Extended the deadline"),
    workflow.WITHDRAW: _l("Withdrawn"),
    workflow.HAND_OVER: _l("Handed over to the applicant"),
    workflow.TAKE: _l("Took the application"),
}

HANDOVER_LABELS = {
    "in_person": _l("In person"),
    "post": _l("By post"),
    "online": _l("Online"),
}


def mask(value: Any) -> str:
    """All but the last two characters hidden: enough to tell two applicants apart on the
    phone, not enough to reuse the number."""
    text = str(value or "")
    if not text:
        return ""
    if len(text) <= 4:
        return MASK * len(text)
    return MASK * (len(text) - 2) + text[-2:]


# -- form data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    name: str
    label: str
    value: str
    personal: bool
    masked: bool


def _choice_label(spec: Field, value: Any, locale: str) -> str:
    for choice in spec.choices:
        if choice.value == value:
            return pick(choice.label, locale)
    return str(value)


def display_value(spec: Field, value: Any, locale: str) -> str:
    """A stored value as the reader should see it: choice labels, yes/no, local dates."""
    if spec.type == "choice":
        return _choice_label(spec, value, locale)
    if spec.type == "multichoice" and isinstance(value, (list, tuple)):
        return ", ".join(_choice_label(spec, item, locale) for item in value)
    if spec.type == "boolean" or isinstance(value, bool):
        return _("Yes") if value else _("No")
    if spec.type == "date" and isinstance(value, str):
        try:
            return format_date(dt.date.fromisoformat(value), "long", locale)
        except ValueError:
            return value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def form_rows(service: Service, data: Mapping[str, Any], locale: str, show_personal: bool) -> list[FieldRow]:
    """One row per declared field that holds a value, in declared order."""
    rows = []
    for spec in service.fields:
        value = (data or {}).get(spec.name)
        if value is None or value == "" or value == []:
            continue
        shown = display_value(spec, value, locale)
        masked = spec.personal and not show_personal
        rows.append(
            FieldRow(spec.name, pick(spec.label, locale), mask(shown) if masked else shown, spec.personal, masked)
        )
    return rows


def masked_data(service: Service | None, data: Mapping[str, Any], show_personal: bool) -> dict[str, Any]:
    """The stored form data as stored, with the values of personal fields masked unless shown.

    Without the service (its version is not installed) nobody can tell which fields are
    personal, so for a reader who may not see personal data every value is masked."""
    data = data or {}
    if show_personal:
        return dict(data)
    if service is None:
        return {key: mask(value) for key, value in data.items()}
    personal = {spec.name for spec in service.fields if spec.personal}
    return {key: mask(value) if key in personal else value for key, value in data.items()}


@dataclass(frozen=True)
class ApplicantRow:
    key: str  # name, psn, phone, email, address
    label: str
    value: str | None
    masked: bool


def applicant_rows(application: Application, show_personal: bool) -> list[ApplicantRow]:
    """The applicant's own details, empty ones included; all but the name masked unless shown."""
    rows = [ApplicantRow("name", _("Name"), application.applicant_name, False)]
    for key, label, value in (
        ("psn", _("Public service number"), application.applicant_psn),
        ("phone", _("Phone"), application.applicant_phone),
        ("email", _("E-mail"), application.applicant_email),
        ("address", _("Address"), application.applicant_address),
    ):
        hidden = bool(value) and not show_personal
        rows.append(ApplicantRow(key, label, mask(value) if hidden else value, hidden))
    return rows


# -- timeline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One field a resubmission changed, as the reader may see it."""

    name: str
    label: str
    old: str
    new: str
    masked: bool


@dataclass(frozen=True)
class FileRef:
    id: int
    name: str


@dataclass(frozen=True)
class DocumentChange:
    """The files a resubmission attached to one checklist line, and those they replaced."""

    requirement_key: str
    title: str
    replaced: list[FileRef]
    added: list[FileRef]


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    action: str
    label: str
    actor: str
    step: str
    status: str
    comment: str | None
    # As stored, for machine readers.
    actor_id: int | None
    step_key: str | None
    from_status: str | None
    to_status: str
    # What the act named or changed (TransitionRecord.details), personal values masked for a
    # reader who may not see them.
    details: dict[str, Any] = field(default_factory=dict)
    # The same, for reading: a return's fields and documents to fix (labels), a
    # resubmission's changes and files, a hand-over's method.
    fix_fields: list[str] = field(default_factory=list)
    fix_documents: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    document_changes: list[DocumentChange] = field(default_factory=list)
    method: str | None = None
    # A substitute acted for an absent colleague: the colleague (TransitionRecord.on_behalf_of_id).
    on_behalf_of_id: int | None = None
    on_behalf_of: str | None = None


def user_names(session: Session, user_ids, known: Mapping[int, str] | None = None) -> dict[int, str]:
    """Each user of ``user_ids`` as "First Last"; those in ``known`` (read already, with the
    history: workflow.history_names) are not asked for again."""
    known = known or {}
    wanted = {uid for uid in user_ids if uid is not None}
    names = {uid: known[uid] for uid in wanted if uid in known}
    ids = sorted(wanted - names.keys())
    if ids:
        rows = session.execute(select(User.id, User.first_name, User.last_name).where(User.id.in_(ids))).all()
        names.update({uid: " ".join(p for p in (first, last) if p) for uid, first, last in rows})
    return names


def _labels(service: Service | None, locale: str) -> tuple[dict[str, Field], dict[str, str]]:
    if service is None:
        return {}, {}
    return {spec.name: spec for spec in service.fields}, {d.key: pick(d.title, locale) for d in service.documents}


def _hidden(spec: Field | None, show_personal: bool) -> bool:
    # Without the declaration nobody can tell which fields are personal: mask them all.
    return not show_personal and (spec is None or spec.personal)


def _shown_value(spec: Field | None, value: Any, locale: str, hidden: bool) -> str:
    if value is None or value == "" or value == []:
        return "—"
    text = display_value(spec, value, locale) if spec is not None else str(value)
    return mask(text) if hidden else text


def _read_details(
    record: TransitionRecord,
    service: Service | None,
    locale: str,
    show_personal: bool,
    names: Mapping[int, str],
) -> dict[str, Any]:
    """The reading of one record's details, and the details themselves masked as needed."""
    details = dict(record.details or {})
    specs, titles = _labels(service, locale)
    found: dict[str, Any] = {"details": details}
    if record.action == workflow.RETURN:
        found["fix_fields"] = [pick(specs[k].label, locale) if k in specs else k for k in details.get("fields") or ()]
        found["fix_documents"] = [titles.get(k, k) for k in details.get("documents") or ()]
    elif record.action == workflow.RESUBMIT:
        changes, masked_changes = [], {}
        for key, pair in (details.get("changes") or {}).items():
            old, new = [*list(pair), None, None][:2]
            spec = specs.get(key)
            hidden = _hidden(spec, show_personal)
            label = pick(spec.label, locale) if spec else key
            changes.append(
                Change(
                    key, label, _shown_value(spec, old, locale, hidden), _shown_value(spec, new, locale, hidden), hidden
                )
            )
            masked_changes[key] = [mask(old), mask(new)] if hidden else [old, new]
        document_changes = []
        files = details.get("documents") or {}
        for entry in files.get("replaced") or ():
            key = entry.get("requirement", "")
            document_changes.append(
                DocumentChange(
                    key,
                    titles.get(key, key),
                    [FileRef(int(i), names.get(int(i), "")) for i in entry.get("old") or ()],
                    [FileRef(int(i), names.get(int(i), "")) for i in entry.get("new") or ()],
                )
            )
        for entry in files.get("added") or ():
            key = entry.get("requirement", "")
            document_changes.append(
                DocumentChange(
                    key,
                    titles.get(key, key),
                    [],
                    [FileRef(int(i), names.get(int(i), "")) for i in entry.get("new") or ()],
                )
            )
        found["changes"] = changes
        found["document_changes"] = document_changes
        found["details"] = {**details, "changes": masked_changes}
    elif record.action == workflow.HAND_OVER:
        method = details.get("method")
        found["method"] = str(HANDOVER_LABELS.get(method, method)) if method else None
    return found


def _people(records: list[TransitionRecord]) -> list[int | None]:
    return [uid for r in records for uid in (r.actor_id, r.on_behalf_of_id)]


def timeline(
    session: Session,
    application: Application,
    service: Service | None,
    locale: str,
    *,
    internal: bool,
    show_personal: bool = False,
    documents: list[ApplicationDocument] | None = None,
    records: list[TransitionRecord] | None = None,
    names: Mapping[int, str] | None = None,
) -> list[Event]:
    """The application's history; internal staff comments only when ``internal``; the values
    a resubmission changed in personal fields masked unless ``show_personal``. ``records``
    (its history) and ``names`` (of every actor in it) when the caller has read them."""
    if records is None:
        records = workflow.history(session, application)
    if not internal:
        records = [r for r in records if r.action != workflow.COMMENT]
    if names is None:
        names = user_names(session, _people(records), workflow.history_names(session, application))
    if documents is None and any(r.action == workflow.RESUBMIT for r in records):
        documents = access.documents_of(session, application)
    file_names = {d.id: d.original_name for d in documents or ()}
    events = []
    for record in records:
        step = service.step(record.step_key) if service and record.step_key else None
        events.append(
            Event(
                at=record.at,
                action=record.action,
                label=str(ACTION_LABELS.get(record.action, record.action)),
                actor=names.get(record.actor_id, _("System")) if record.actor_id else _("System"),
                step=pick(step.title, locale) if step else (record.step_key or ""),
                status=str(statuses.LABELS.get(record.to_status, record.to_status)),
                comment=record.comment,
                actor_id=record.actor_id,
                step_key=record.step_key,
                from_status=record.from_status,
                to_status=record.to_status,
                **_read_details(record, service, locale, show_personal, file_names),
                on_behalf_of_id=record.on_behalf_of_id,
                on_behalf_of=names.get(record.on_behalf_of_id) if record.on_behalf_of_id else None,
            )
        )
    return events


# -- deadlines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineInfo:
    due_at: dt.date | None
    step_due_at: dt.datetime | None
    overdue: bool
    step_overdue: bool
    suspended_since: dt.date | None


def deadline_info(session: Session, application: Application, on: dt.date | None = None) -> DeadlineInfo:
    suspended_since = None
    if application.status == statuses.RETURNED:
        suspension = workflow.open_suspension(session, application)
        suspended_since = suspension.start_date if suspension else None
    return DeadlineInfo(
        due_at=application.due_at,
        step_due_at=application.step_due_at,
        overdue=deadlines.is_overdue(application, on),
        step_overdue=deadlines.is_step_overdue(application, on),
        suspended_since=suspended_since,
    )


# -- reassignment ------------------------------------------------------------------------------


def reassign_candidates(session: Session, application: Application, step: Step | None) -> list[tuple[int, str]]:
    """Active staff of the application's municipality with the step's role, in its
    responsible department (when it has one) — the people :func:`workflow.reassign` accepts."""
    if step is None:
        return []
    try:
        department_id = workflow.responsible_department_id(session, application, step)
    except WorkflowError:
        return []
    role_name = roles.ROLE_BY_KEY.get(step.role, step.role)
    staff = select(User.id, User.first_name, User.last_name).join(StaffProfile, StaffProfile.user_id == User.id)
    stmt = (
        access.within(staff, StaffProfile, application.municipality_id)
        .where(User.active.is_(True), User.roles.any(Role.name == role_name))
        .order_by(User.last_name, User.first_name, User.id)
    )
    if department_id is not None:
        stmt = stmt.where(StaffProfile.department_id == department_id)
    if application.assignee_id is not None:
        stmt = stmt.where(User.id != application.assignee_id)
    return [(uid, " ".join(p for p in (first, last) if p)) for uid, first, last in session.execute(stmt).all()]


# -- the summary every channel shows -----------------------------------------------------------


@dataclass(frozen=True)
class DocumentRow:
    id: int
    requirement_key: str
    title: str  # the checklist line's title, or its key when the service is gone
    original_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime
    # Replaced by a resubmission: kept and openable, no longer current.
    superseded: bool = False


@dataclass(frozen=True)
class Correction:
    """What the open return asks to fix, for a returned case."""

    fields: list[tuple[str, str]]  # (key, label), in declared order
    documents: list[tuple[str, str]]  # (key, title)
    text: str | None
    since: dt.date | None
    age_days: int | None  # calendar days since it was returned


def returned_since(session: Session, actor: Actor | None, application_ids: list[int]) -> dict[int, dt.date]:
    """When each of these returned applications was returned (the start of its open
    suspension), for lists that show how long a correction has been waited for. One query."""
    if not application_ids:
        return {}
    stmt = access.scoped(
        select(DeadlineAdjustment.application_id, DeadlineAdjustment.start_date), DeadlineAdjustment, actor
    ).where(
        DeadlineAdjustment.application_id.in_(application_ids),
        DeadlineAdjustment.kind == "suspension",
        DeadlineAdjustment.end_date.is_(None),
    )
    found: dict[int, dt.date] = {}
    for application_id, start in session.execute(stmt).all():
        if start is not None and (application_id not in found or start > found[application_id]):
            found[application_id] = start
    return found


def _correction(
    service: Service | None, records: list[TransitionRecord], locale: str, since: dt.date | None
) -> Correction:
    asked = corrections.requested(records)
    specs, titles = _labels(service, locale)
    return Correction(
        fields=[(k, pick(specs[k].label, locale) if k in specs else k) for k in asked.fields],
        documents=[(k, titles.get(k, k)) for k in asked.documents],
        text=asked.text,
        since=since,
        age_days=(deadlines.today() - since).days if since else None,
    )


@dataclass(frozen=True)
class CaseSummary:
    """One application as ``actor`` may see it, in ``locale``."""

    application: Application
    service: Service | None  # None when the version it was filed under is not installed
    service_title: str
    step: Step | None
    step_title: str
    status_label: str
    personal_shown: bool
    applicant: list[ApplicantRow]
    data: dict[str, Any]  # as stored, personal fields masked unless shown
    fields: list[FieldRow]  # declared fields with a value, for reading
    documents: list[DocumentRow]
    may_open_documents: bool
    events: list[Event]
    deadline: DeadlineInfo
    actions: list[str]  # workflow actions the actor may take now
    assignee: str | None
    reassign_candidates: list[tuple[int, str]]
    problem: str | None  # why the case cannot be worked on now (its service is gone)
    # For a returned case: what the return named to fix.
    correction: Correction | None = None
    # Approving now would approve the whole application (channels confirm first).
    final_approval: bool = False
    # Why the reader is not offered the current step's actions (staff of the municipality
    # only): sentences in ``locale`` (:func:`workflow.unavailable_reasons`).
    unavailable: list[str] = field(default_factory=list)


def summary(
    session: Session,
    registry: ServiceRegistry,
    actor: Actor | None,
    application: Application,
    locale: str,
    *,
    may_act: bool,
    may_open_documents: bool,
) -> CaseSummary:
    """What ``actor`` sees of ``application`` (loaded through :mod:`app.domain.access`).

    ``may_act`` and ``may_open_documents`` say what the channel lets this reader do at all
    (its permissions); the summary narrows them by the case itself. They have no default:
    a channel that forgot to ask would otherwise offer actions and document links its reader
    cannot use.
    """
    registered = registry.get(application.service_key, application.service_version)
    service = registered.service if registered else None
    show_personal = access.may_see_personal_data(actor, application)
    actions: list[str] = []
    if may_act and service is not None and actor is not None:
        found = workflow.allowed_actions(session, application, actor=actor, registry=registry)
        found += workflow.staff_actions(session, application, actor=actor, registry=registry)
        actions = list(dict.fromkeys(found))
    internal = access.same_municipality(actor, application)
    unavailable: list[str] = []
    if may_act and service is not None and access.same_municipality(actor, application):
        unavailable = workflow.unavailable_reasons(
            session, application, actor=actor, registry=registry, offered=actions
        )
    step = workflow.current_step(application, service) if service else None
    titles = {d.key: pick(d.title, locale) for d in service.documents} if service else {}
    stored = access.documents_of(session, application)
    records = workflow.history(session, application)
    # One read of the names: the history's people and the assignee.
    names = user_names(
        session, [*_people(records), application.assignee_id], workflow.history_names(session, application)
    )
    events = timeline(
        session,
        application,
        service,
        locale,
        internal=internal,
        show_personal=show_personal,
        documents=stored,
        records=records,
        names=names,
    )
    gone = corrections.superseded_ids(records)
    deadline = deadline_info(session, application)
    return CaseSummary(
        application=application,
        service=service,
        service_title=pick(service.title, locale) if service else application.service_key,
        step=step,
        step_title=pick(step.title, locale) if step else "",
        status_label=str(statuses.LABELS.get(application.status, application.status)),
        personal_shown=show_personal,
        applicant=applicant_rows(application, show_personal),
        data=masked_data(service, application.data or {}, show_personal),
        fields=form_rows(service, application.data or {}, locale, show_personal) if service else [],
        documents=[
            DocumentRow(
                id=d.id,
                requirement_key=d.requirement_key,
                title=titles.get(d.requirement_key, d.requirement_key),
                original_name=d.original_name,
                content_type=d.content_type,
                size=d.size,
                sha256=d.sha256,
                uploaded_at=d.uploaded_at,
                superseded=d.id in gone,
            )
            for d in stored
        ],
        may_open_documents=may_open_documents and show_personal,
        # Internal comments are for the municipality's staff, not the applicant or others.
        events=events,
        deadline=deadline,
        actions=actions,
        assignee=names.get(application.assignee_id) if application.assignee_id else None,
        reassign_candidates=reassign_candidates(session, application, step) if "reassign" in actions else [],
        problem=None if service else str(ServiceUnavailable()),
        correction=_correction(service, records, locale, deadline.suspended_since)
        if application.status == statuses.RETURNED
        else None,
        final_approval=service is not None and "approve" in actions and workflow.approves_finally(application, service),
        unavailable=unavailable,
    )


__all__ = [
    "ACTION_LABELS",
    "HANDOVER_LABELS",
    "ApplicantRow",
    "CaseSummary",
    "Change",
    "Correction",
    "DeadlineInfo",
    "DocumentChange",
    "DocumentRow",
    "Event",
    "FieldRow",
    "FileRef",
    "applicant_rows",
    "deadline_info",
    "display_value",
    "form_rows",
    "mask",
    "masked_data",
    "reassign_candidates",
    "returned_since",
    "summary",
    "timeline",
    "user_names",
]
