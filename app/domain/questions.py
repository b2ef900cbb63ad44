"""Questions to the specialist: a citizen asks, staff answer, both sides are told.

A question is about one of the citizen's applications (it goes to the application's
assignee, or to the department holding its current step when nobody is assigned) or general,
to a department the citizen chose from a municipality's public list. It is ``open`` while it
waits for staff, ``answered`` once staff wrote back (a follow-up from the citizen opens it
again), and ``closed`` when staff close it; a closed question takes no more messages.

Deadlines: ``due_on`` is the day the question was asked (or followed up after an answer)
plus the municipality's :attr:`~app.models.Municipality.question_answer_days` office days
(:mod:`app.domain.deadlines`: weekends, Armenian public holidays and the municipality's own
days off do not count). An open question past it is overdue. Changing the setting moves
no deadline already set. ``first_answered_at`` records the response time
(:func:`response_times` for the dashboard).

Who may do what:

* the asker (a citizen) reads their questions, follows up and opens every attachment of the
  thread; nobody else's question exists for them (:func:`app.domain.access.get_question`);
* staff of the question's municipality see it; caseworkers (clerk, specialist, head,
  municipal administrator) answer and close it and open its attachments (audit-logged, like
  documents); heads and municipal administrators hand it to another department or person of
  the municipality; auditors read the thread only (no attachments: personal data, as with
  documents).

Staff lists (:func:`staff_list`) have three views: ``mine`` (assigned to me, or unassigned in
my department), ``department`` (everything addressed to my department) and ``all`` (the
municipality's: heads, municipal administrators, auditors and system administrators).

Every message's text is checked like every other text (no control characters, valid Unicode,
length limits) and shown escaped; attachments follow the upload rules
(:func:`app.domain.uploads.check_uploads`: PDF, JPEG or PNG by content, at most
:data:`MAX_ATTACHMENT_MB` MB each and :data:`MAX_ATTACHMENTS` per message) and are stored and
bound to the transaction as documents are (:func:`app.domain.documents.bind_to_transaction`).
Functions here add rows to the caller's session; the caller commits (notifications are in
the same transaction, :mod:`app.domain.citizen_notices`).
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeGuard

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, true, update
from sqlalchemy.orm import Session, aliased

from app.domain import access, audit, channels, citizen_notices, deadlines, inputs, roles, statuses
from app.domain.access import Actor
from app.domain.declarations import Document
from app.domain.documents import OpenedDocument, open_recorded, write_bound
from app.domain.errors import InvalidAction, NotAllowed, WorkflowError
from app.domain.storage import Storage, StorageError, StorageFull
from app.domain.substitutes import colleagues
from app.domain.tracking import OFFICE_TZ
from app.domain.uploads import CheckedUpload, UploadRefused, check_uploads, close_all
from app.models import Application, Department, Municipality, User
from app.models.base import utcnow
from app.models.portal import Question, QuestionAttachment, QuestionMessage

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry


# -- the rules ---------------------------------------------------------------------------------

OPEN = "open"
ANSWERED = "answered"
CLOSED = "closed"
STATUSES = (OPEN, ANSWERED, CLOSED)
STATUS_LABELS = {
    OPEN: _l("Waiting for an answer"),
    ANSWERED: _l("Answered"),
    CLOSED: _l("Closed"),
}

MAX_SUBJECT = 200  # question.subject holds 200
MAX_BODY = 5000
MIN_ANSWER_DAYS = 1
MAX_ANSWER_DAYS = 60
MAX_ATTACHMENTS = 3
MAX_ATTACHMENT_MB = 10
# The upload rules of one message's attachments, as a checklist line (app.domain.uploads).
ATTACHMENT = Document(
    key="attachment",
    title={"hy": "Կցված ֆայլ", "en": "Attachment", "ru": "Вложение"},
    required=False,
    types=("pdf", "jpeg", "png"),
    max_size_mb=MAX_ATTACHMENT_MB,
    max_count=MAX_ATTACHMENTS,
)

MINE = "mine"
DEPARTMENT = "department"
ALL = "all"
VIEWS = (MINE, DEPARTMENT, ALL)
VIEW_LABELS = {MINE: _l("Mine"), DEPARTMENT: _l("My department"), ALL: _l("All in municipality")}
# Who sees the whole municipality's list; the others see theirs and their department's.
ALL_VIEW_ROLES = (roles.HEAD, roles.MUNICIPAL_ADMIN, roles.AUDITOR, roles.SYSTEM_ADMIN)
# Who hands a question to another department or colleague.
REASSIGN_ROLES = (roles.HEAD, roles.MUNICIPAL_ADMIN)
# A staff list shows at most this many rows (the most urgent first); filters narrow it.
LIST_LIMIT = 200

AUDIT_DOWNLOAD = "question_attachment.download"


class InvalidQuestion(WorkflowError):
    """What was sent cannot be accepted; nothing was written. ``errors`` maps each field
    (``subject``, ``body``, ``attachments``, ``application_id``, ``municipality_id``,
    ``department_id``, ``assignee_id``, ``days``) to its message."""

    default_message = _l("Correct the marked entries.")

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__()
        self.errors = dict(errors)


class AttachmentUnavailable(WorkflowError):
    default_message = _l("The file storage cannot be reached now; try again in a moment.")


class AttachmentMissing(AttachmentUnavailable):
    default_message = _l("The file of this attachment is missing from the storage; tell the administrator.")


# -- who may -------------------------------------------------------------------------------------


class ApplicationClosed(InvalidAction):
    """The application a question is about is closed (issued, rejected or withdrawn): its
    file is read-only for citizens, so no new question about it and no follow-up on one; a
    general question to the department is always possible. Staff may still answer or close
    what was asked before it closed (docs/security.md)."""

    def __init__(self) -> None:
        super().__init__(APPLICATION_CLOSED)


APPLICATION_CLOSED = _l(
    "This application is closed, so questions about it are no longer taken. "
    "You can ask the department a general question instead."
)


def attachments_problem(exc: StorageError) -> str:
    """What to tell the person whose attachments could not be stored: a full store is not a
    passing hiccup, so "try again in a moment" would be untrue there."""
    if isinstance(exc, StorageFull):
        return str(exc)
    return _("The files could not be stored just now; nothing was sent. Try again in a moment.")


def application_closed(application: Application | None) -> bool:
    """Whether ``application`` is closed to citizens' questions (see :class:`ApplicationClosed`)."""
    return application is not None and application.status in statuses.FINAL


def _about_closed_application(session: Session, actor: Actor, question: Question) -> bool:
    if question.application_id is None:
        return False
    try:
        return application_closed(access.get_application(session, actor, question.application_id))
    except access.NotFound:
        return False


def is_asker(actor: Actor | None, question: Question) -> TypeGuard[Actor]:
    return actor is not None and actor.active and actor.user_id == question.citizen_user_id


def may_answer(actor: Actor | None, question: Question) -> TypeGuard[Actor]:
    """Caseworkers of the question's municipality answer it (auditors only read)."""
    return access.caseworker_of(actor, question.municipality_id)


def may_close(actor: Actor | None, question: Question) -> TypeGuard[Actor]:
    return access.caseworker_of(actor, question.municipality_id)


def may_reassign(actor: Actor | None, question: Question) -> TypeGuard[Actor]:
    return access.staff_of(actor, question.municipality_id) and actor.has(*REASSIGN_ROLES)


def may_open_attachments(actor: Actor | None, question: Question) -> TypeGuard[Actor]:
    """The asker, and the caseworkers of the municipality (auditors see that files exist)."""
    return is_asker(actor, question) or access.caseworker_of(actor, question.municipality_id)


def may_reply(actor: Actor | None, question: Question) -> TypeGuard[Actor]:
    return is_asker(actor, question) and question.status != CLOSED


def may_follow_up(session: Session, actor: Actor | None, question: Question) -> bool:
    """:func:`may_reply`, and the application it is about (if any) is not closed."""
    return may_reply(actor, question) and not _about_closed_application(session, actor, question)


def views_for(actor: Actor | None) -> list[str]:
    """The staff list views ``actor`` may open, in display order (none for citizens)."""
    if actor is None or not actor.active or actor.is_citizen:
        return []
    result = []
    if actor.municipality_id is not None and actor.has(*access.CASEWORKER_ROLES):
        result.append(MINE)
        if actor.department_id is not None:
            result.append(DEPARTMENT)
    if actor.has(*ALL_VIEW_ROLES):
        result.append(ALL)
    return result


def is_overdue(question: Question, on: dt.date | None = None) -> bool:
    on = on or deadlines.today()
    return question.status == OPEN and question.due_on is not None and question.due_on < on


def office_date(moment: dt.datetime) -> dt.date:
    """The office's calendar day of a stored (UTC) moment."""
    return moment.replace(tzinfo=dt.UTC).astimezone(OFFICE_TZ).date()


# -- text ----------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def clean_subject(raw: Any) -> tuple[str, str | None]:
    """The subject as stored (one line, spaces collapsed, NFC) and the problem, if any."""
    text = raw if isinstance(raw, str) else ""
    problem = inputs.text_problem(text)
    if problem:
        return "", problem
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if not text:
        return "", _("Enter a subject.")
    if len(text) > MAX_SUBJECT:
        return text, _("The subject may be at most %(max)d characters long.", max=MAX_SUBJECT)
    return text, None


def clean_body(raw: Any, *, what: str = "message") -> tuple[str, str | None]:
    """The message text as stored (NFC, line ends as ``\\n``, trimmed) and the problem, if any."""
    text = raw if isinstance(raw, str) else ""
    problem = inputs.text_problem(text)
    if problem:
        return "", problem
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return "", _("Write your question.") if what == "question" else _("Write a message.")
    if len(text) > MAX_BODY:
        return text, _("The text may be at most %(max)d characters long.", max=MAX_BODY)
    return text, None


def chosen_files(files: Iterable[Any] | None) -> list[Any]:
    """The files of a form's file input that were really chosen: a browser sends an empty
    part without a name when none was."""
    return [f for f in files or () if f is not None and (getattr(f, "filename", None) or "") != ""]


def _check_files(files: Iterable[Any] | None, errors: dict[str, str]) -> list[CheckedUpload]:
    try:
        return check_uploads(chosen_files(files), ATTACHMENT)
    except UploadRefused as exc:
        errors["attachments"] = str(exc)
        return []


# -- writing -------------------------------------------------------------------------------------


def _store(
    session: Session,
    storage: Storage,
    message: QuestionMessage,
    checked: Sequence[CheckedUpload],
) -> list[QuestionAttachment]:
    """Write the checked files and add their rows: objects are kept only if the caller's
    transaction commits (documents' discipline); a failed write leaves nothing behind."""
    if not checked:
        return []
    written = write_bound(session, storage, checked)
    rows = [
        QuestionAttachment(
            municipality_id=message.municipality_id,
            message_id=message.id,
            original_name=item.display_name,
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
            storage_key=key,
        )
        for key, item in written
    ]
    session.add_all(rows)
    return rows


def _add_message(
    session: Session,
    storage: Storage,
    question: Question,
    author: Actor,
    body: str,
    checked: Sequence[CheckedUpload],
    *,
    from_staff: bool,
) -> QuestionMessage:
    now = utcnow()
    message = QuestionMessage(
        municipality_id=question.municipality_id,
        question_id=question.id,
        author_id=author.user_id,
        from_staff=from_staff,
        body=body,
        created_at=now,
    )
    session.add(message)
    session.flush()
    _store(session, storage, message, checked)
    question.last_message_at = now
    session.flush()
    return message


def due_date(session: Session, municipality: Municipality, start: dt.date) -> dt.date:
    """``start`` plus the municipality's answer days, in its working days."""
    days = min(max(int(municipality.question_answer_days or 0), MIN_ANSWER_DAYS), MAX_ANSWER_DAYS)
    return deadlines.add_working_days(start, days, session=session, municipality_id=municipality.id)


def _active_municipality(session: Session, municipality_id: Any) -> Municipality | None:
    number = inputs.whole_number(municipality_id, access.MAX_PK) if municipality_id is not None else None
    if number is None:
        return None
    municipality = session.get(Municipality, number)
    return municipality if municipality is not None and municipality.active else None


def public_departments(session: Session, municipality_id: int) -> list[Department]:
    """The departments of a municipality a citizen may address a question to, in code order."""
    return list(session.execute(access.public_departments(municipality_id)).scalars())


def active_municipalities(session: Session) -> list[Municipality]:
    """The municipalities a general question may go to (municipalities are public)."""
    return list(
        session.execute(select(Municipality).where(Municipality.active.is_(True)).order_by(Municipality.code)).scalars()
    )


def _application_route(
    session: Session, application: Application, registry: ServiceRegistry | None
) -> tuple[int | None, int | None]:
    """(department id, assignee id) a question about ``application`` goes to."""
    from app.domain import workflow  # the workflow is large; only asking about a case needs it

    department_id = application.department_id
    if registry is not None and application.current_step:
        try:
            service = workflow.service_of(application, registry)
            step = workflow.current_step(application, service)
            if step is not None:
                department_id = workflow.responsible_department_id(session, application, step) or department_id
        except WorkflowError:
            pass  # the service is gone, or its department: the application's own department
    return department_id, application.assignee_id


def ask(
    session: Session,
    storage: Storage,
    actor: Actor | None,
    *,
    subject: Any,
    body: Any,
    files: Iterable[Any] | None = None,
    application_id: Any = None,
    municipality_id: Any = None,
    department_id: Any = None,
    registry: ServiceRegistry | None = None,
    config: Mapping[str, Any] | None = None,
    on: dt.date | None = None,
) -> Question:
    """A citizen asks: about their application ``application_id`` (any other is "not found"),
    or, without one, a general question to ``department_id`` of ``municipality_id``.
    Raises :class:`InvalidQuestion` (nothing written), :class:`NotAllowed` (not a citizen),
    :class:`access.NotFound` (an application that is not theirs) or a
    :class:`~app.domain.storage.StorageError` (nothing left written). The caller commits."""
    if actor is None or not actor.active or not actor.is_citizen:
        raise NotAllowed(_l("Only a signed-in citizen may ask a question here."))
    errors: dict[str, str] = {}
    clean_s, problem = clean_subject(subject)
    if problem:
        errors["subject"] = problem
    clean_b, problem = clean_body(body, what="question")
    if problem:
        errors["body"] = problem

    application: Application | None = None
    municipality: Municipality | None = None
    target_department: int | None = None
    assignee: int | None = None
    if application_id not in (None, ""):
        number = inputs.whole_number(application_id, access.MAX_PK)
        if number is None:
            raise access.NotFound(application_id)
        application = access.get_application(session, actor, number)
        if application.applicant_user_id != actor.user_id or application.status == statuses.DRAFT:
            raise access.NotFound(number)
        if application_closed(application):
            raise ApplicationClosed()
        municipality = session.get(Municipality, application.municipality_id)
        target_department, assignee = _application_route(session, application, registry)
    else:
        municipality = _active_municipality(session, municipality_id)
        if municipality is None:
            errors["municipality_id"] = _("Choose the municipality.")
        else:
            wanted = inputs.whole_number(department_id, access.MAX_PK) if department_id is not None else None
            departments = {d.id for d in public_departments(session, municipality.id)}
            if wanted is None or wanted not in departments:
                errors["department_id"] = _(
                    "Choose the department of %(municipality)s.", municipality=municipality.name
                )
            else:
                target_department = wanted

    checked = _check_files(files, errors)
    try:
        if errors:
            raise InvalidQuestion(errors)
        assert municipality is not None
        today = on or deadlines.today()
        question = Question(
            municipality_id=municipality.id,
            citizen_user_id=actor.user_id,
            application_id=application.id if application is not None else None,
            department_id=target_department,
            assignee_id=assignee,
            subject=clean_s,
            status=OPEN,
            due_on=due_date(session, municipality, today),
        )
        session.add(question)
        session.flush()
        message = _add_message(session, storage, question, actor, clean_b, checked, from_staff=False)
    finally:
        close_all(checked)
    _tell_staff(session, question, message, config or {}, application=application)
    return question


def reply(
    session: Session,
    storage: Storage,
    actor: Actor | None,
    question: Question,
    *,
    body: Any,
    files: Iterable[Any] | None = None,
    config: Mapping[str, Any] | None = None,
    on: dt.date | None = None,
) -> QuestionMessage:
    """The asker follows up on ``question`` (loaded through :func:`access.get_question`): it
    waits for staff again; after an answer its deadline starts again from today."""
    if not is_asker(actor, question):
        raise NotAllowed()
    if question.status == CLOSED:
        raise InvalidAction(_l("This question is closed; ask a new question instead."))
    if _about_closed_application(session, actor, question):
        raise ApplicationClosed()
    errors: dict[str, str] = {}
    clean_b, problem = clean_body(body)
    if problem:
        errors["body"] = problem
    checked = _check_files(files, errors)
    try:
        if errors:
            raise InvalidQuestion(errors)
        if question.status == ANSWERED:
            municipality = session.get(Municipality, question.municipality_id)
            assert municipality is not None
            question.due_on = due_date(session, municipality, on or deadlines.today())
        question.status = OPEN
        message = _add_message(session, storage, question, actor, clean_b, checked, from_staff=False)
    finally:
        close_all(checked)
    _tell_staff(session, question, message, config or {})
    return message


def answer(
    session: Session,
    storage: Storage,
    actor: Actor | None,
    question: Question,
    *,
    body: Any,
    files: Iterable[Any] | None = None,
    close: bool = False,
    config: Mapping[str, Any] | None = None,
) -> QuestionMessage:
    """A caseworker answers ``question``: it waits for the citizen (or is closed when
    ``close``); the first answer records the response time; an unassigned question becomes
    the answerer's. The citizen is notified."""
    if not may_answer(actor, question):
        raise NotAllowed(_l("Your role may read questions, not answer them."))
    if question.status == CLOSED:
        raise InvalidAction(_l("This question is closed; it takes no more answers."))
    errors: dict[str, str] = {}
    clean_b, problem = clean_body(body)
    if problem:
        errors["body"] = problem
    checked = _check_files(files, errors)
    try:
        if errors:
            raise InvalidQuestion(errors)
        message = _add_message(session, storage, question, actor, clean_b, checked, from_staff=True)
    finally:
        close_all(checked)
    if question.first_answered_at is None:
        question.first_answered_at = message.created_at
    if question.assignee_id is None:
        question.assignee_id = actor.user_id
    if close:
        question.status = CLOSED
        question.closed_at = message.created_at
    else:
        question.status = ANSWERED
    session.flush()
    _emit(
        session,
        config or {},
        citizen_notices.QUESTION_ANSWERED,
        user_id=question.citizen_user_id,
        question=question,
        excerpt=message.body,
        dedup=f"question-answered:{message.id}",
    )
    return message


def close(session: Session, actor: Actor | None, question: Question, *, ip: str | None = None) -> None:
    """A caseworker closes ``question``: it takes no more messages."""
    if not may_close(actor, question):
        raise NotAllowed(_l("Your role may read questions, not close them."))
    if question.status == CLOSED:
        raise InvalidAction(_l("This question is already closed."))
    question.status = CLOSED
    question.closed_at = utcnow()
    audit.record(
        session,
        "question.close",
        actor=actor,
        target=("question", question.id),
        municipality_id=question.municipality_id,
        ip=ip,
    )
    session.flush()


def reassign(
    session: Session,
    actor: Actor | None,
    question: Question,
    *,
    department_id: Any = None,
    assignee_id: Any = None,
    config: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """A head or municipal administrator hands ``question`` to a department of the same
    municipality and/or to one of its caseworkers. Naming only a person moves the question
    to their department; naming only a department leaves it to that department's pool."""
    if not may_reassign(actor, question):
        raise NotAllowed(_l("Only a head or the municipal administrator may hand a question to someone else."))
    if question.status == CLOSED:
        raise InvalidAction(_l("This question is closed."))
    errors: dict[str, str] = {}
    departments = {d.id for d in public_departments(session, question.municipality_id)}
    people = {c.user_id: c for c in colleagues(session, question.municipality_id)}
    new_department = inputs.whole_number(department_id, access.MAX_PK) if department_id not in (None, "") else None
    new_assignee = inputs.whole_number(assignee_id, access.MAX_PK) if assignee_id not in (None, "") else None
    if department_id not in (None, "") and new_department not in departments:
        errors["department_id"] = _("Choose a department of this municipality.")
    if assignee_id not in (None, "") and new_assignee not in people:
        errors["assignee_id"] = _("Choose a colleague of this municipality who works cases.")
    if not errors and new_department is None and new_assignee is None:
        errors["department_id"] = _("Choose a department or a colleague.")
    if errors:
        raise InvalidQuestion(errors)
    before = (question.department_id, question.assignee_id)
    if new_assignee is not None:
        question.assignee_id = new_assignee
        question.department_id = new_department or people[new_assignee].actor.department_id or question.department_id
    else:
        question.department_id = new_department
        question.assignee_id = None
    audit.record(
        session,
        "question.reassign",
        actor=actor,
        target=("question", question.id),
        municipality_id=question.municipality_id,
        details={
            "from": {"department_id": before[0], "assignee_id": before[1]},
            "to": {"department_id": question.department_id, "assignee_id": question.assignee_id},
        },
        ip=ip,
    )
    session.flush()
    if (question.department_id, question.assignee_id) != before:
        stamp = utcnow().strftime("%Y%m%d%H%M%S%f")
        for user_id in _staff_recipients(session, question):
            _emit(
                session,
                config or {},
                citizen_notices.QUESTION_ASKED,
                user_id=user_id,
                question=question,
                dedup=f"question-assigned:{question.id}:{user_id}:{stamp}",
            )


def set_answer_days(
    session: Session, actor: Actor | None, municipality_id: int, days: Any, *, ip: str | None = None
) -> Municipality:
    """The municipal administrator (or a system administrator) sets how many office days
    staff have to answer a question: a whole number from 1 to 60."""
    if actor is None or not actor.active:
        raise NotAllowed()
    allowed = actor.is_system_admin or (access.staff_of(actor, municipality_id) and actor.has(roles.MUNICIPAL_ADMIN))
    if not allowed:
        raise NotAllowed(_l("Only the municipal administrator may change this."))
    municipality = access.get_municipality(session, actor, municipality_id)
    number = inputs.whole_number(days, MAX_ANSWER_DAYS, MIN_ANSWER_DAYS)
    if number is None:
        raise InvalidQuestion(
            {
                "days": _(
                    "Enter a whole number of days from %(min)d to %(max)d.", min=MIN_ANSWER_DAYS, max=MAX_ANSWER_DAYS
                )
            }
        )
    before = municipality.question_answer_days
    municipality.question_answer_days = number
    audit.record(
        session,
        "municipality.question_answer_days",
        actor=actor,
        target=("municipality", municipality.id),
        municipality_id=municipality.id,
        details={"from": before, "to": number},
        ip=ip,
    )
    session.flush()
    return municipality


def mark_read(session: Session, actor: Actor | None, question: Question) -> int:
    """The other side's messages of ``question`` count as read by ``actor`` from now on: the
    asker reads staff's, a caseworker the citizen's (an auditor's look marks nothing).
    Returns how many were marked; the caller commits."""
    if is_asker(actor, question):
        from_staff = True
    elif may_answer(actor, question):
        from_staff = False
    else:
        return 0
    stmt = access.within(update(QuestionMessage), QuestionMessage, question.municipality_id)
    stmt = stmt.where(
        QuestionMessage.question_id == question.id,
        QuestionMessage.from_staff.is_(from_staff),
        QuestionMessage.read_at.is_(None),
    ).values(read_at=utcnow())
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


# -- notifications -------------------------------------------------------------------------------


def _staff_recipients(session: Session, question: Question) -> list[int]:
    """Who is told about a new question or follow-up: the assignee; else the caseworkers of
    its department; else (no department) the municipal administrators."""
    if question.assignee_id is not None:
        return [question.assignee_id]
    people = colleagues(session, question.municipality_id)
    if question.department_id is not None:
        found = [c.user_id for c in people if c.actor.department_id == question.department_id]
        if found:
            return found
    return [c.user_id for c in people if c.actor.has(roles.MUNICIPAL_ADMIN)]


def _tell_staff(
    session: Session,
    question: Question,
    message: QuestionMessage,
    config: Mapping[str, Any],
    *,
    application: Application | None = None,
) -> None:
    for user_id in _staff_recipients(session, question):
        _emit(
            session,
            config,
            citizen_notices.QUESTION_ASKED,
            user_id=user_id,
            question=question,
            application=application,
            excerpt=message.body,
            dedup=f"question-asked:{message.id}:{user_id}",
        )


EXCERPT = 300


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "…"


def _emit(
    session: Session,
    config: Mapping[str, Any],
    event: str,
    *,
    user_id: int,
    question: Question,
    dedup: str,
    excerpt: str = "",
    application: Application | None = None,
) -> None:
    staff = event == citizen_notices.QUESTION_ASKED
    citizen_notices.emit(
        session,
        event=event,
        user_id=user_id,
        municipality_id=question.municipality_id,
        config=config,
        application=application,
        context={
            "subject": question.subject,
            "excerpt": _excerpt(excerpt),
            # The page the recipient answers or reads on (the URL map of app.portal and app.workspace).
            "path": f"/workspace/questions/{question.id}" if staff else f"/my/questions/{question.id}",
        },
        dedup=dedup,
    )


# -- reading -------------------------------------------------------------------------------------


def _name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in (first, last) if p)


@dataclass
class CitizenRow:
    """One line of the citizen's list of questions."""

    question: Question
    municipality: str
    department: str
    unread: int

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.question.status, self.question.status))


def _localized(row: Any, prefix: str, locale: str) -> str:
    values = {lang: getattr(row, f"{prefix}_{lang}", None) for lang in ("hy", "en", "ru")}
    return next((values[lang] for lang in (locale, "hy", "en", "ru") if values.get(lang)), "") or ""


def _unread_subquery(from_staff: bool) -> Any:
    counted = access.correlated(select(func.count(QuestionMessage.id)), QuestionMessage, Question)
    return (
        counted.where(
            QuestionMessage.question_id == Question.id,
            QuestionMessage.from_staff.is_(from_staff),
            QuestionMessage.read_at.is_(None),
        )
        .correlate(Question)
        .scalar_subquery()
    )


# Built once: an alias made per call rebuilds its column collection on every page.
_CITIZEN = aliased(User, name="citizen")
_ASSIGNEE = aliased(User, name="assignee")
_DEPT = aliased(Department, name="dept")


def citizen_list(session: Session, actor: Actor, locale: str) -> list[CitizenRow]:
    """Every question ``actor`` asked, latest activity first, with the number of staff
    messages they have not read yet: one query, however many there are."""
    dept = _DEPT
    stmt = access.visible_questions(
        actor,
        Question,
        Municipality.name_hy,
        Municipality.name_en,
        Municipality.name_ru,
        dept.name_hy,
        dept.name_en,
        dept.name_ru,
        _unread_subquery(True).label("unread"),
    ).join(Municipality, Municipality.id == Question.municipality_id)
    stmt = access.with_question_department(stmt, dept)
    stmt = stmt.where(Question.citizen_user_id == actor.user_id).order_by(
        Question.last_message_at.desc(), Question.id.desc()
    )
    rows = []
    for question, m_hy, m_en, m_ru, d_hy, d_en, d_ru, unread in session.execute(stmt).all():
        municipality = {"hy": m_hy, "en": m_en, "ru": m_ru}
        department = {"hy": d_hy, "en": d_en, "ru": d_ru}
        rows.append(
            CitizenRow(
                question=question,
                municipality=next((municipality[x] for x in (locale, "hy", "en", "ru") if municipality.get(x)), ""),
                department=next((department[x] for x in (locale, "hy", "en", "ru") if department.get(x)), ""),
                unread=int(unread or 0),
            )
        )
    return rows


@dataclass
class StaffRow:
    """One line of a staff list of questions."""

    question: Question
    citizen: str
    department: str
    assignee: str
    tracking_number: str | None
    age_days: int
    overdue: bool
    unread: int

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.question.status, self.question.status))


@dataclass(frozen=True)
class StaffFilters:
    status: str | None = OPEN  # None: every status
    overdue: bool = False


@dataclass
class StaffPage:
    rows: list[StaffRow]
    more: bool  # more rows matched than the page shows


def _view_clause(actor: Actor, view: str) -> Any:
    if view == MINE:
        mine = Question.assignee_id == actor.user_id
        if actor.department_id is None:
            return mine
        return or_(mine, and_(Question.assignee_id.is_(None), Question.department_id == actor.department_id))
    if view == DEPARTMENT:
        return Question.department_id == actor.department_id
    return true()  # all: what the loader lets the actor see


def _filter_clauses(filters: StaffFilters, on: dt.date) -> list[Any]:
    clauses: list[Any] = []
    if filters.status:
        clauses.append(Question.status == filters.status)
    if filters.overdue:
        clauses += [Question.status == OPEN, Question.due_on.is_not(None), Question.due_on < on]
    return clauses


def staff_list(
    session: Session,
    actor: Actor,
    view: str,
    locale: str,
    filters: StaffFilters | None = None,
    *,
    on: dt.date | None = None,
    limit: int = LIST_LIMIT,
) -> StaffPage:
    """The questions of ``view`` (one of :func:`views_for`), most urgent first (open ones by
    due date, then the rest by latest activity), with the asker's and assignee's names, the
    department, the application's tracking number, the age in working days and whether it
    is overdue. One query for the rows plus the holiday calendar (one per municipality and
    year): the cost does not grow with the number of rows."""
    if view not in views_for(actor):
        raise NotAllowed()
    filters = filters or StaffFilters()
    on = on or deadlines.today()
    citizen, assignee, dept = _CITIZEN, _ASSIGNEE, _DEPT
    stmt = access.visible_questions(
        actor,
        Question,
        citizen.first_name,
        citizen.last_name,
        assignee.first_name,
        assignee.last_name,
        dept.name_hy,
        dept.name_en,
        dept.name_ru,
        Application.tracking_number,
        _unread_subquery(False).label("unread"),
    ).join(citizen, citizen.id == Question.citizen_user_id)
    stmt = stmt.outerjoin(assignee, assignee.id == Question.assignee_id)
    stmt = access.with_question_department(stmt, dept)
    stmt = access.with_question_application(stmt, actor)
    stmt = stmt.where(_view_clause(actor, view), *_filter_clauses(filters, on))
    waiting_first = func.coalesce(Question.due_on, dt.date.max)
    stmt = stmt.order_by(
        (Question.status != OPEN).asc(),
        waiting_first.asc(),
        Question.last_message_at.desc(),
        Question.id.desc(),
    ).limit(limit + 1)
    found = session.execute(stmt).all()
    calendars: dict[int, deadlines.WorkingCalendar] = {}
    rows = []
    for question, c_first, c_last, a_first, a_last, d_hy, d_en, d_ru, tracking, unread in found[:limit]:
        cal = calendars.get(question.municipality_id)
        if cal is None:
            cal = calendars[question.municipality_id] = deadlines.calendar(session, question.municipality_id)
        department = {"hy": d_hy, "en": d_en, "ru": d_ru}
        rows.append(
            StaffRow(
                question=question,
                citizen=_name(c_first, c_last),
                department=next((department[x] for x in (locale, "hy", "en", "ru") if department.get(x)), ""),
                assignee=_name(a_first, a_last),
                tracking_number=tracking,
                age_days=cal.working_days_between(office_date(question.created_at), on),
                overdue=is_overdue(question, on),
                unread=int(unread or 0),
            )
        )
    return StaffPage(rows=rows, more=len(found) > limit)


def open_count(session: Session, actor: Actor | None) -> int | None:
    """How many questions wait for staff in ``actor``'s first view (for the "Questions" tab);
    ``None`` when they have no view. One aggregate query."""
    if actor is None:
        return None
    views = views_for(actor)
    if not views:
        return None
    stmt = access.visible_questions(actor, func.count(Question.id)).where(
        _view_clause(actor, views[0]), Question.status == OPEN
    )
    return int(session.execute(stmt).scalar_one())


@dataclass
class ThreadMessage:
    message: QuestionMessage
    author: str
    attachments: list[QuestionAttachment] = field(default_factory=list)


@dataclass
class Thread:
    """A question with its messages, names and facts, as a page shows them."""

    question: Question
    messages: list[ThreadMessage]
    municipality: str
    department: str
    assignee: str
    citizen: str
    application: Application | None
    age_days: int
    overdue: bool

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS.get(self.question.status, self.question.status))


def thread(session: Session, actor: Actor, question: Question, locale: str, *, on: dt.date | None = None) -> Thread:
    """Everything a thread page shows of ``question`` (loaded through
    :func:`access.get_question`); :func:`load_thread` loads the question with it."""
    return load_thread(session, actor, question.id, locale, on=on)


def load_thread(
    session: Session, actor: Actor | None, question_id: int, locale: str, *, on: dt.date | None = None
) -> Thread:
    """Question ``question_id`` as its thread page shows it, if ``actor`` may see it (as
    :func:`access.get_question`: :class:`access.NotFound` otherwise). Two statements: the
    question with its municipality, department, application (when the actor may see it) and
    the names of its asker and assignee; then its messages with their authors' names and
    their attachments."""
    if isinstance(question_id, bool) or not isinstance(question_id, int) or not 0 < question_id <= access.MAX_PK:
        raise access.NotFound(question_id)
    on = on or deadlines.today()
    citizen, assignee, dept = _CITIZEN, _ASSIGNEE, _DEPT
    stmt = access.visible_questions(
        actor,
        Question,
        Municipality,
        dept,
        Application,
        citizen.first_name,
        citizen.last_name,
        assignee.first_name,
        assignee.last_name,
    ).outerjoin(Municipality, Municipality.id == Question.municipality_id)
    stmt = stmt.outerjoin(citizen, citizen.id == Question.citizen_user_id)
    stmt = stmt.outerjoin(assignee, assignee.id == Question.assignee_id)
    stmt = access.with_question_department(stmt, dept)
    stmt = access.with_question_application(stmt, actor)
    found = session.execute(stmt.where(Question.id == question_id)).one_or_none()
    if found is None:
        raise access.NotFound(question_id)
    question, municipality, department, application, c_first, c_last, a_first, a_last = found
    return Thread(
        question=question,
        messages=_thread_messages(session, question),
        municipality=_localized(municipality, "name", locale) if municipality is not None else "",
        department=department.name if department is not None else "",
        assignee=_name(a_first, a_last) if question.assignee_id else "",
        citizen=_name(c_first, c_last),
        application=application,
        age_days=deadlines.working_days_between(
            office_date(question.created_at), on, session=session, municipality_id=question.municipality_id
        ),
        overdue=is_overdue(question, on),
    )


def _thread_messages(session: Session, question: Question) -> list[ThreadMessage]:
    """The messages of a question loaded through a loader, oldest first, with their authors'
    names (users are nobody's rows: those of a thread the actor may see) and their
    attachments: one statement, however many there are."""
    files = access.within(select(QuestionAttachment), QuestionAttachment, question.municipality_id).subquery()
    attachment = aliased(QuestionAttachment, files)
    author = aliased(User)
    stmt = access.within(
        select(QuestionMessage, author.first_name, author.last_name, attachment),
        QuestionMessage,
        question.municipality_id,
    )
    stmt = stmt.outerjoin(author, author.id == QuestionMessage.author_id)
    stmt = stmt.outerjoin(attachment, attachment.message_id == QuestionMessage.id)
    stmt = stmt.where(QuestionMessage.question_id == question.id).order_by(QuestionMessage.id, attachment.id)
    messages: dict[int, ThreadMessage] = {}
    for message, first, last, found in session.execute(stmt).all():
        item = messages.get(message.id)
        if item is None:
            item = messages[message.id] = ThreadMessage(message, _name(first, last) if message.author_id else "")
        if found is not None:
            item.attachments.append(found)
    return list(messages.values())


def may_follow_up_thread(actor: Actor | None, loaded: Thread) -> bool:
    """:func:`may_follow_up` for a thread from :func:`load_thread` (its application is the
    one the actor may see), without reading the application again."""
    return may_reply(actor, loaded.question) and not application_closed(loaded.application)


@dataclass(frozen=True)
class Choice:
    value: int
    label: str


def reassign_choices(session: Session, question: Question) -> tuple[list[Choice], list[Choice]]:
    """(departments, colleagues) a question may be handed to."""
    departments = [Choice(d.id, d.name) for d in public_departments(session, question.municipality_id)]
    people = [Choice(c.user_id, c.name) for c in colleagues(session, question.municipality_id)]
    return departments, people


# -- attachments ---------------------------------------------------------------------------------


def open_attachment(
    session: Session,
    storage: Storage,
    actor: Actor | None,
    question: Question,
    attachment: QuestionAttachment,
    *,
    channel: str,
    ip: str | None = None,
) -> OpenedDocument:
    """Open an attachment of ``question`` (both loaded through
    :func:`access.get_question_attachment`) for download by the asker or a caseworker of the
    municipality, and commit its audit event before returning, as documents do. Raises
    :class:`NotAllowed`, :class:`AttachmentMissing` or :class:`AttachmentUnavailable`."""
    channels.require(channel)
    if attachment.municipality_id != question.municipality_id or not may_open_attachments(actor, question):
        raise NotAllowed(_l("Attachments may hold personal data; your role may see that they exist, not open them."))
    return open_recorded(
        session,
        storage,
        actor,
        attachment,
        action=AUDIT_DOWNLOAD,
        target="question_attachment",
        municipality_id=question.municipality_id,
        details={"question_id": question.id, "sha256": attachment.sha256, "channel": channel},
        ip=ip,
        inline=False,
        missing=AttachmentMissing,
        unavailable=AttachmentUnavailable,
    )


# -- response times ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseStats:
    """Questions asked in a period and how fast staff first answered them (in hours)."""

    asked: int
    answered: int
    average_hours: float | None
    median_hours: float | None


@dataclass(frozen=True)
class MunicipalityResponseTimes:
    municipality_id: int
    overall: ResponseStats
    # By department id (``None``: questions addressed to no department).
    by_department: dict[int | None, ResponseStats]


def _stats(durations: list[float], asked: int) -> ResponseStats:
    hours = [d / 3600 for d in durations]
    return ResponseStats(
        asked=asked,
        answered=len(hours),
        average_hours=round(statistics.fmean(hours), 2) if hours else None,
        median_hours=round(statistics.median(hours), 2) if hours else None,
    )


def response_times(
    session: Session, start: dt.date, end: dt.date, *, municipality_id: int | None = None
) -> list[MunicipalityResponseTimes]:
    """Average and median time to the first answer of the questions asked from ``start``
    to ``end`` (office days, both included), per municipality and per department; all
    municipalities when ``municipality_id`` is ``None``. Aggregates only: no question,
    text or person leaves this function, so the public dashboard may show it."""
    begin = dt.datetime.combine(start, dt.time.min, OFFICE_TZ).astimezone(dt.UTC).replace(tzinfo=None)
    finish = (
        dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, OFFICE_TZ).astimezone(dt.UTC).replace(tzinfo=None)
    )
    stmt = select(Question.municipality_id, Question.department_id, Question.created_at, Question.first_answered_at)
    if municipality_id is not None:
        stmt = access.within(stmt, Question, municipality_id)
    else:
        stmt = access.unscoped(stmt, reason="response-time statistics of every municipality (aggregates only)")
    stmt = stmt.where(Question.created_at >= begin, Question.created_at < finish)
    asked: dict[int, dict[int | None, int]] = defaultdict(lambda: defaultdict(int))
    durations: dict[int, dict[int | None, list[float]]] = defaultdict(lambda: defaultdict(list))
    for m_id, d_id, created, answered in session.execute(stmt).all():
        asked[m_id][d_id] += 1
        if answered is not None:
            durations[m_id][d_id].append(max((answered - created).total_seconds(), 0.0))
    result = []
    for m_id in sorted(asked):
        every = [d for values in durations[m_id].values() for d in values]
        result.append(
            MunicipalityResponseTimes(
                municipality_id=m_id,
                overall=_stats(every, sum(asked[m_id].values())),
                by_department={d_id: _stats(durations[m_id][d_id], n) for d_id, n in asked[m_id].items()},
            )
        )
    return result


__all__ = [
    "ALL",
    "ANSWERED",
    "ATTACHMENT",
    "CLOSED",
    "DEPARTMENT",
    "MAX_ANSWER_DAYS",
    "MAX_ATTACHMENTS",
    "MAX_BODY",
    "MAX_SUBJECT",
    "MINE",
    "MIN_ANSWER_DAYS",
    "OPEN",
    "STATUSES",
    "STATUS_LABELS",
    "VIEWS",
    "VIEW_LABELS",
    "ApplicationClosed",
    "AttachmentMissing",
    "AttachmentUnavailable",
    "CitizenRow",
    "InvalidQuestion",
    "MunicipalityResponseTimes",
    "NotAllowed",
    "ResponseStats",
    "StaffFilters",
    "StaffPage",
    "StaffRow",
    "Thread",
    "active_municipalities",
    "answer",
    "application_closed",
    "ask",
    "citizen_list",
    "close",
    "due_date",
    "is_overdue",
    "load_thread",
    "mark_read",
    "may_answer",
    "may_close",
    "may_follow_up",
    "may_follow_up_thread",
    "may_open_attachments",
    "may_reassign",
    "may_reply",
    "open_attachment",
    "open_count",
    "public_departments",
    "reassign",
    "reassign_choices",
    "reply",
    "response_times",
    "set_answer_days",
    "staff_list",
    "thread",
    "views_for",
]
