"""A citizen's applications as the citizen reads them: status and step in plain words, the
expected completion date, which department holds the case, a timeline without the office's
internal notes, the documents they gave, the correction asked of them; the public status
look-up with a receipt's tracking number and access code; claiming a walk-in application
into an account.

Words. A status reads, in the reader's language, as the municipality's own text for it
(:attr:`ServiceActivation.status_texts`), else the service declaration's
(:attr:`Service.status_texts`), else the generic label (:data:`app.domain.statuses.LABELS`).
A text in another language never wins over the generic label in the reader's own. While the
application waits at a step, the step reads as its title and, when declared, its
``citizen_text`` (what is happening now, in the citizen's words).

What the citizen sees of the people behind the case: departments, never a staff member's
name (staff change, and a question goes to the department anyway). Of the history: what was
asked of them (a return's text and named fields and documents), why it was rejected, how the
result was handed over, their own words (a withdrawal's reason, their resubmission note);
never a staff comment, a reassignment, an extension's reason or who took the case.

Plain functions on a session handed in; the application comes from
:mod:`app.domain.access` (``get_application``, ``visible_applications``) or, for the public
look-up and a claim, from :func:`app.domain.tracking.find_by_access_code`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.domain import access, audit, corrections, statuses, tracking, workflow
from app.domain.access import Actor
from app.domain.casefile import FieldRow, form_rows
from app.domain.declarations import Service, Step, pick
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.models import Application, ApplicationDocument, Municipality, ServiceActivation, TransitionRecord

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry

# The statuses a citizen meets once the application is filed (a draft is the drafts page's).
CITIZEN_STATUSES = (
    statuses.SUBMITTED,
    statuses.IN_REVIEW,
    statuses.RETURNED,
    statuses.APPROVED,
    statuses.ISSUED,
    statuses.REJECTED,
    statuses.WITHDRAWN,
)
# How a status badge looks: "" neutral, "ok", "warn" (waits on the citizen), "bad".
TONES = {
    statuses.RETURNED: "warn",
    statuses.APPROVED: "ok",
    statuses.ISSUED: "ok",
    statuses.REJECTED: "bad",
}
# At most this many characters in a municipality's own status text.
MAX_STATUS_TEXT = 300
PAGE_SIZE = 20
MAX_PAGE = 10_000

PAYMENT_LABELS = {
    "due": _l("To be paid"),
    "paid": _l("Paid"),
    "waived": _l("Waived"),
}

EVENT_TEXTS = {
    workflow.SUBMIT: _l("The application was submitted"),
    workflow.APPROVE: _l("A step was completed"),
    workflow.RETURN: _l("Returned to you for correction"),
    workflow.RESUBMIT: _l("The corrections were sent"),
    workflow.REJECT: _l("The application was rejected"),
    workflow.WITHDRAW: _l("The application was withdrawn"),
    workflow.HAND_OVER: _l("The result was handed over"),
    workflow.EXTEND: _l("The deadline was extended"),
}
APPROVED_TEXT = _l("The application was approved")
# Work inside the office the applicant has no part in.
INTERNAL_ACTIONS = (workflow.COMMENT, workflow.REASSIGN, workflow.TAKE)
HANDOVER_LABELS = {
    "in_person": _l("In person"),
    "post": _l("By post"),
    "online": _l("Online"),
}

NOT_FOUND = _l("We found no application with this tracking number and access code. Check both against your receipt.")
CLAIMED_BY_SOMEONE_ELSE = _l(
    "This application is already linked to another account. If it is yours, ask the Citizen Service Office."
)
CITIZENS_ONLY = _l("Only a citizen's account can hold applications.")


# -- words -----------------------------------------------------------------------------------


def _exact(texts: Mapping[str, Any] | None, locale: str) -> str | None:
    value = (texts or {}).get(locale)
    return value.strip() if isinstance(value, str) and value.strip() else None


def status_text(
    service: Service | None, overrides: Mapping[str, Mapping[str, str]] | None, status: str, locale: str
) -> str:
    """The words for ``status`` in ``locale``: the municipality's, else the declaration's,
    else the generic label (translated into ``locale``, so it beats another language's text)."""
    for layer in ((overrides or {}).get(status), service.status_texts.get(status) if service else None):
        found = _exact(layer, locale)
        if found:
            return found
    return str(statuses.LABELS.get(status, status))


@dataclass(frozen=True)
class StatusWords:
    status: str
    text: str  # the status in the reader's words
    tone: str  # "", "ok", "warn", "bad"
    step_title: str | None = None  # the current step, while the application waits at one
    step_text: str | None = None  # what happens there (the step's citizen_text), when declared


def words(
    application: Application,
    service: Service | None,
    overrides: Mapping[str, Mapping[str, str]] | None,
    locale: str,
) -> StatusWords:
    step = workflow.current_step(application, service) if service else None
    at_step = step is not None and application.status in workflow.AT_STEP
    return StatusWords(
        status=application.status,
        text=status_text(service, overrides, application.status, locale),
        tone=TONES.get(application.status, ""),
        step_title=pick(step.title, locale) if at_step and step else None,
        step_text=(pick(step.citizen_text, locale) or None) if at_step and step else None,
    )


def _service(registry: ServiceRegistry, application: Application) -> Service | None:
    registered = registry.get(application.service_key, application.service_version)
    return registered.service if registered else None


def _overrides(session: Session, application: Application) -> dict[str, Any]:
    found = access.status_texts_of(session, [(application.municipality_id, application.service_key)])
    return found.get((application.municipality_id, application.service_key), {})


def _localized(row: Any, locale: str) -> str:
    return pick({lang: getattr(row, f"name_{lang}", None) or "" for lang in ("hy", "en", "ru")}, locale)


def municipality_name(session: Session, municipality_id: int, locale: str) -> str:
    municipality = session.get(Municipality, municipality_id)
    return _localized(municipality, locale) if municipality is not None else ""


# -- the list ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    service: str | None = None
    submitted_from: dt.date | None = None
    submitted_to: dt.date | None = None

    @property
    def any(self) -> bool:
        return any((self.status, self.service, self.submitted_from, self.submitted_to))


@dataclass(frozen=True)
class Row:
    id: int
    tracking_number: str
    service_key: str
    service_title: str
    words: StatusWords
    submitted_at: dt.datetime | None
    due_at: dt.date | None
    closed_at: dt.datetime | None
    waiting_on_you: bool


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    page: int
    pages: int
    total: int


def _own(actor: Actor, *columns: Any) -> Any:
    # Only the applications filed under the citizen's own account, drafts aside (they are
    # the drafts page's): visible_applications already says so for a citizen; the owner
    # condition keeps it so for anyone else who gets here.
    return access.visible_applications(actor, *columns).where(
        Application.applicant_user_id == actor.user_id, Application.status != statuses.DRAFT
    )


def _filtered(stmt: Any, filters: Filters) -> Any:
    if filters.status:
        stmt = stmt.where(Application.status == filters.status)
    if filters.service:
        stmt = stmt.where(Application.service_key == filters.service)
    if filters.submitted_from:
        stmt = stmt.where(Application.submitted_at >= dt.datetime.combine(filters.submitted_from, dt.time.min))
    if filters.submitted_to:
        end = dt.datetime.combine(filters.submitted_to + dt.timedelta(days=1), dt.time.min)
        stmt = stmt.where(Application.submitted_at < end)
    return stmt


def list_page(
    session: Session,
    registry: ServiceRegistry,
    actor: Actor,
    locale: str,
    *,
    filters: Filters = Filters(),
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Page:
    """One page of ``actor``'s own applications, newest first: three queries whatever the
    page holds (the count, the rows, the municipalities' status words)."""
    total = session.execute(_filtered(_own(actor, func.count(Application.id)), filters)).scalar_one()
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    stmt = _filtered(_own(actor), filters).order_by(
        Application.submitted_at.desc(), Application.created_at.desc(), Application.id.desc()
    )
    applications = list(session.execute(stmt.limit(size).offset((page - 1) * size)).scalars())
    texts = access.status_texts_of(session, [(a.municipality_id, a.service_key) for a in applications])
    rows = []
    for application in applications:
        service = _service(registry, application)
        rows.append(
            Row(
                id=application.id,
                tracking_number=application.tracking_number,
                service_key=application.service_key,
                service_title=pick(service.title, locale) if service else application.service_key,
                words=words(
                    application, service, texts.get((application.municipality_id, application.service_key)), locale
                ),
                submitted_at=application.submitted_at,
                # While it waits on the citizen the date is not kept: it moves on when they answer.
                due_at=application.due_at if application.status in (*workflow.AT_STEP, statuses.APPROVED) else None,
                closed_at=application.closed_at,
                waiting_on_you=application.status == statuses.RETURNED,
            )
        )
    return Page(rows=rows, page=page, pages=pages, total=total)


def own_services(session: Session, registry: ServiceRegistry, actor: Actor, locale: str) -> list[tuple[str, str]]:
    """The services ``actor`` has applications for, as ``(key, title)`` by title: the
    choices of the list's service filter."""
    keys = session.execute(_own(actor, Application.service_key).distinct()).scalars().all()
    found = []
    for key in keys:
        registered = registry.get(key)
        found.append((key, pick(registered.service.title, locale) if registered else key))
    return sorted(found, key=lambda item: item[1])


# -- one application -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentRow:
    id: int
    requirement_key: str
    title: str
    name: str
    content_type: str
    size: int
    uploaded_at: dt.datetime
    superseded: bool


@dataclass(frozen=True)
class CitizenEvent:
    at: dt.datetime
    action: str
    text: str
    by: str | None
    # What the applicant was told or said: a return's request, a rejection's reason, their
    # own withdrawal reason or resubmission note. Never a staff member's internal note.
    note: str | None = None
    fix_fields: list[str] = field(default_factory=list)
    fix_documents: list[str] = field(default_factory=list)
    changed_fields: list[str] = field(default_factory=list)
    new_files: list[str] = field(default_factory=list)
    method: str | None = None


@dataclass(frozen=True)
class CorrectionRequest:
    """What the open return asks of the applicant."""

    fields: list[tuple[str, str]]  # (key, label) in declared order
    documents: list[tuple[str, str]]  # (key, title)
    text: str | None
    since: dt.date | None


@dataclass(frozen=True)
class CitizenCase:
    application: Application
    service: Service | None
    service_title: str
    municipality: str
    words: StatusWords
    # The department that holds the case now (its name), or a sentence when it waits on the
    # applicant; None once it is closed.
    holder: str | None
    due_at: dt.date | None
    paused_since: dt.date | None  # the clock stopped: waiting on the applicant's correction
    fields: list[FieldRow]
    documents: list[DocumentRow]
    events: list[CitizenEvent]
    correction: CorrectionRequest | None
    may_correct: bool
    may_withdraw: bool
    payment: str | None  # the payment state in words, None when nothing is to be paid


def _department_names(
    session: Session, application: Application, ids: Iterable[int | None], locale: str
) -> dict[int, str]:
    # The municipality's departments, as the steps' departments were found (one query).
    found = {}
    for department_id in sorted({i for i in ids if i is not None}):
        names = workflow.department_names(session, application.municipality_id, department_id)
        if names is not None:
            found[department_id] = pick(dict(names), locale)
    return found


def _step_departments(session: Session, application: Application, steps: Iterable[Step]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for step in steps:
        if step.key in found:
            continue
        try:
            found[step.key] = workflow.responsible_department_id(session, application, step)
        except WorkflowError:
            found[step.key] = None
    return found


def _holder(
    application: Application,
    service: Service | None,
    step_departments: Mapping[str, int | None],
    names: Mapping[int, str],
    municipality: str,
) -> str | None:
    if application.status in statuses.FINAL:
        return None
    if application.status == statuses.RETURNED:
        return _("You: the application waits for your correction")
    step = workflow.current_step(application, service) if service else None
    if step is not None and application.status in workflow.AT_STEP:
        department_id = step_departments.get(step.key)
        return names.get(department_id, municipality) if department_id is not None else municipality
    if application.department_id is not None:
        return names.get(application.department_id, municipality)
    return municipality


def _events(
    records: Sequence[TransitionRecord],
    application: Application,
    service: Service | None,
    actor: Actor,
    step_departments: Mapping[str, int | None],
    names: Mapping[int, str],
    municipality: str,
    documents: Sequence[ApplicationDocument],
    locale: str,
) -> list[CitizenEvent]:
    specs = {spec.name: spec for spec in service.fields} if service else {}
    titles = {req.key: pick(req.title, locale) for req in service.documents} if service else {}
    file_names = {doc.id: doc.original_name for doc in documents}
    events = []
    for record in records:
        if record.action in INTERNAL_ACTIONS or record.action not in EVENT_TEXTS:
            continue
        details = record.details or {}
        own = record.actor_id is not None and record.actor_id == actor.user_id
        step = service.step(record.step_key) if service and record.step_key else None
        text = str(EVENT_TEXTS[record.action])
        if record.action == workflow.APPROVE:
            if record.to_status == statuses.APPROVED:
                text = str(APPROVED_TEXT)
            elif step is not None:
                text = _("Step completed: %(step)s", step=pick(step.title, locale))
        if own:
            by: str | None = _("You")
        elif record.action in (workflow.APPROVE, workflow.REJECT, workflow.RETURN) and step is not None:
            department_id = step_departments.get(step.key)
            by = names.get(department_id, municipality) if department_id is not None else municipality
        else:
            by = municipality
        note = None
        if record.action in (workflow.RETURN, workflow.REJECT):
            note = record.comment  # written for the applicant: what to fix, why it was refused
        elif record.action == workflow.WITHDRAW or (record.action == workflow.RESUBMIT and own):
            # The applicant's own words (a withdrawal the office recorded keeps their reason).
            note = record.comment
        fix_fields: list[str] = []
        fix_documents: list[str] = []
        changed: list[str] = []
        new_files: list[str] = []
        method = None
        if record.action == workflow.RETURN:
            fix_fields = [pick(specs[k].label, locale) if k in specs else k for k in details.get("fields") or ()]
            fix_documents = [titles.get(k, k) for k in details.get("documents") or ()]
        elif record.action == workflow.RESUBMIT:
            changed = [pick(specs[k].label, locale) if k in specs else k for k in details.get("changes") or {}]
            files = details.get("documents") or {}
            for entry in [*(files.get("replaced") or ()), *(files.get("added") or ())]:
                new_files += [file_names.get(int(i), "") for i in entry.get("new") or ()]
        elif record.action == workflow.HAND_OVER and details.get("method"):
            method = str(HANDOVER_LABELS.get(details["method"], details["method"]))
        event = CitizenEvent(
            at=record.at,
            action=record.action,
            text=text,
            by=by,
            note=note,
            fix_fields=fix_fields,
            fix_documents=fix_documents,
            changed_fields=changed,
            new_files=new_files,
            method=method,
        )
        events.append(event)
    return events


def correction_request(
    service: Service | None, records: Sequence[TransitionRecord], locale: str, since: dt.date | None
) -> CorrectionRequest:
    asked = corrections.requested(records)
    specs = {spec.name: spec for spec in service.fields} if service else {}
    titles = {req.key: pick(req.title, locale) for req in service.documents} if service else {}
    return CorrectionRequest(
        fields=[(k, pick(specs[k].label, locale) if k in specs else k) for k in asked.fields],
        documents=[(k, titles.get(k, k)) for k in asked.documents],
        text=asked.text,
        since=since,
    )


def case(
    session: Session, registry: ServiceRegistry, actor: Actor, application: Application, locale: str
) -> CitizenCase:
    """What the applicant ``actor`` sees of ``application`` (loaded through
    :func:`app.domain.access.get_application`)."""
    service = _service(registry, application)
    municipality = municipality_name(session, application.municipality_id, locale)
    records = workflow.history(session, application)
    stored = access.documents_of(session, application)
    steps = [service.step(r.step_key) for r in records if r.step_key] if service else []
    current = workflow.current_step(application, service) if service else None
    step_departments = _step_departments(session, application, [s for s in [*steps, current] if s is not None])
    names = _department_names(session, application, [*step_departments.values(), application.department_id], locale)
    paused_since = None
    if application.status == statuses.RETURNED:
        suspension = workflow.open_suspension(session, application)
        paused_since = suspension.start_date if suspension else None
    gone = corrections.superseded_ids(records)
    titles = {req.key: pick(req.title, locale) for req in service.documents} if service else {}
    actions = workflow.allowed_actions(session, application, actor=actor, registry=registry) if service else []
    return CitizenCase(
        application=application,
        service=service,
        service_title=pick(service.title, locale) if service else application.service_key,
        municipality=municipality,
        words=words(application, service, _overrides(session, application), locale),
        holder=_holder(application, service, step_departments, names, municipality),
        due_at=application.due_at if application.status not in statuses.FINAL else None,
        paused_since=paused_since,
        fields=form_rows(service, application.data or {}, locale, access.may_see_personal_data(actor, application))
        if service
        else [],
        documents=[
            DocumentRow(
                id=doc.id,
                requirement_key=doc.requirement_key,
                title=titles.get(doc.requirement_key, doc.requirement_key),
                name=doc.original_name,
                content_type=doc.content_type,
                size=doc.size,
                uploaded_at=doc.uploaded_at,
                superseded=doc.id in gone,
            )
            for doc in stored
        ],
        events=_events(records, application, service, actor, step_departments, names, municipality, stored, locale),
        correction=correction_request(service, records, locale, paused_since)
        if application.status == statuses.RETURNED
        else None,
        may_correct=workflow.RESUBMIT in actions,
        may_withdraw=workflow.WITHDRAW in actions,
        payment=str(PAYMENT_LABELS.get(application.payment_status, application.payment_status))
        if application.payment_status
        else None,
    )


def current_documents(session: Session, application: Application) -> dict[str, list[ApplicationDocument]]:
    """The application's current (not replaced) documents per checklist line."""
    return corrections.current_by_requirement(
        access.documents_of(session, application), workflow.history(session, application)
    )


# -- the public look-up --------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicStatus:
    """All the look-up shows: no name, no form data, no document, no person of the office."""

    tracking_number: str
    service_title: str
    municipality: str
    words: StatusWords
    due_at: dt.date | None
    paused: bool
    closed_on: dt.date | None


def look_up(
    session: Session, registry: ServiceRegistry, tracking_number: str, code: str, locale: str
) -> PublicStatus | None:
    """The status of the application with this tracking number and access code, or ``None``
    (no such number, a wrong or replaced code: the same answer, in the same time)."""
    application = tracking.find_by_access_code(session, tracking_number, code)
    if application is None:
        return None
    service = _service(registry, application)
    return PublicStatus(
        tracking_number=application.tracking_number,
        service_title=pick(service.title, locale) if service else application.service_key,
        municipality=municipality_name(session, application.municipality_id, locale),
        words=words(application, service, _overrides(session, application), locale),
        due_at=application.due_at if application.status not in statuses.FINAL else None,
        paused=application.status == statuses.RETURNED,
        closed_on=application.closed_at.date() if application.closed_at else None,
    )


# -- claiming a walk-in application -------------------------------------------------------------


class NotYours(NotAllowed):
    """The application is already linked to another account."""

    def __init__(self) -> None:
        super().__init__(CLAIMED_BY_SOMEONE_ELSE)


@dataclass(frozen=True)
class Claimed:
    application: Application
    already: bool  # it was theirs before


def claim(session: Session, actor: Actor, tracking_number: str, code: str, *, ip: str | None = None) -> Claimed:
    """Link the application with this tracking number and access code (a walk-in receipt's)
    to the citizen ``actor``'s account, audit-logged; the caller commits.

    Raises :class:`app.domain.access.NotFound` for no such number or a wrong code (one
    answer), :class:`NotYours` when another account holds it, :class:`NotAllowed` for an
    actor who is not an active citizen, :class:`ChangedMeanwhile` when someone changed the
    application at the same moment (the session is rolled back)."""
    if not actor.active or not actor.is_citizen:
        raise NotAllowed(CITIZENS_ONLY)
    application = tracking.find_by_access_code(session, tracking_number, code)
    if application is None:
        raise access.NotFound(tracking_number)
    if application.applicant_user_id == actor.user_id:
        return Claimed(application, already=True)
    if application.applicant_user_id is not None:
        raise NotYours()
    application.applicant_user_id = actor.user_id
    audit.record(
        session,
        "application.claim",
        actor=actor,
        target=("application", application.id),
        municipality_id=application.municipality_id,
        details={"tracking_number": application.tracking_number, "channel": application.channel},
        ip=ip,
    )
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise ChangedMeanwhile() from None
    return Claimed(application, already=False)


# -- the municipality's own words ---------------------------------------------------------------


def clean_status_texts(
    raw: Mapping[str, Any], languages: Sequence[str]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """``(texts, errors)`` from form values named ``status_text-<status>-<language>``: the
    non-empty texts as ``{status: {language: text}}``; errors keyed by the input's name."""
    texts: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    for status in CITIZEN_STATUSES:
        for language in languages:
            name = f"status_text-{status}-{language}"
            value = raw.get(name)
            text = " ".join(value.split()) if isinstance(value, str) else ""
            if len(text) > MAX_STATUS_TEXT:
                errors[name] = _("At most %(max)d characters.", max=MAX_STATUS_TEXT)
            elif text:
                texts.setdefault(status, {})[language] = text
    return texts, errors


@dataclass(frozen=True)
class StatusTextInput:
    """One status on the service settings form: what citizens read without an override
    (the declaration's text or the generic label), and one input per language."""

    status: str
    label: str
    default: str
    inputs: list[tuple[str, str, str, str | None]]  # (language, input name, value, error)


def status_text_inputs(
    service: Service | None,
    texts: Mapping[str, Mapping[str, str]],
    errors: Mapping[str, str],
    languages: Sequence[str],
    locale: str,
    posted: Mapping[str, Any] | None = None,
) -> list[StatusTextInput]:
    """The inputs of the municipality's own status words, filled with ``texts`` (stored) or,
    after a refused save, with what was ``posted``."""
    rows = []
    for status in CITIZEN_STATUSES:
        inputs = []
        for language in languages:
            name = f"status_text-{status}-{language}"
            value = posted.get(name) if posted is not None else (texts.get(status) or {}).get(language)
            inputs.append((language, name, value if isinstance(value, str) else "", errors.get(name)))
        rows.append(
            StatusTextInput(
                status=status,
                label=str(statuses.LABELS[status]),
                default=status_text(service, None, status, locale),
                inputs=inputs,
            )
        )
    return rows


def set_status_texts(
    session: Session, activation: ServiceActivation, texts: Mapping[str, Mapping[str, str]], actor_id: int | None
) -> bool:
    """Store a municipality's own status words on its activation (loaded through
    :mod:`app.domain.access`), audit-logged when they change; the caller commits. Returns
    whether they changed."""
    new = {status: dict(by_language) for status, by_language in texts.items() if by_language}
    before = dict(activation.status_texts or {})
    if new == before:
        return False
    activation.status_texts = new
    activation.updated_by_id = actor_id
    audit.record(
        session,
        "service.status_texts",
        actor=actor_id,
        target=("service", activation.service_key),
        municipality_id=activation.municipality_id,
        details={"before": before, "after": new},
    )
    return True


__all__ = [
    "CITIZEN_STATUSES",
    "HANDOVER_LABELS",
    "MAX_STATUS_TEXT",
    "NOT_FOUND",
    "PAGE_SIZE",
    "PAYMENT_LABELS",
    "CitizenCase",
    "CitizenEvent",
    "Claimed",
    "CorrectionRequest",
    "DocumentRow",
    "Filters",
    "NotYours",
    "Page",
    "PublicStatus",
    "Row",
    "StatusTextInput",
    "StatusWords",
    "case",
    "claim",
    "clean_status_texts",
    "correction_request",
    "current_documents",
    "list_page",
    "look_up",
    "municipality_name",
    "own_services",
    "set_status_texts",
    "status_text",
    "status_text_inputs",
    "words",
]
