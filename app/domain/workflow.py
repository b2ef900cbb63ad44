"""The workflow engine: what may happen to an application, by whom, and what it leaves behind.

Plain functions on a SQLAlchemy session; no request needed. Each action takes the
:class:`~app.domain.access.Actor` its caller built once for the request, job or API call, and

1. refuses stale versions, then statuses the action does not apply to (``expected_version``
   is the version the actor saw; a mismatch, or a concurrent UPDATE found by
   ``version_id_col``, raises :class:`ChangedMeanwhile`, also when the application has
   closed meanwhile),
2. checks the actor: who may act on an application at all is :mod:`app.domain.access`'s
   answer (its municipality's staff, the applicant); what a step asks for is decided here
   (the step's role, the responsible department, self-approval),
3. asks plug-ins (``before_transition``; a :class:`TransitionVetoed` refuses),
4. changes the application and inserts one immutable :class:`TransitionRecord`, flushed
   together so either both are written or neither,
5. tells plug-ins (``after_transition``; ``after_submit`` too for a submission).

The caller commits (or rolls back). A refused action raises a :class:`WorkflowError`
subclass whose ``str()`` is a translated sentence for the actor and writes nothing; on
:class:`ChangedMeanwhile` the session has been rolled back.

Statuses (app.domain.statuses): ``draft`` → ``submitted`` (waiting at the first step) → ``in_review``
(past the first step) ⇄ ``returned_for_correction`` → ``approved`` → ``issued`` (the result
handed over to the applicant, :func:`hand_over`); ``issued``, ``rejected`` and ``withdrawn``
are final. What a return names and a resubmission changes is :mod:`app.domain.corrections`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.exc import StaleDataError

from app.domain import access, audit, channels, deadlines, memo, payments, roles, statuses, substitutes
from app.domain.access import Actor, load_actor
from app.domain.declarations import Service, Step, pick
from app.domain.errors import (
    ChangedMeanwhile,
    InvalidAction,
    NotAllowed,
    ServiceUnavailable,
    TransitionVetoed,
    WorkflowError,
)
from app.domain.tracking import allocate_tracking_number, new_access_secret
from app.domain.uploads import UploadRefused
from app.models import (
    Application,
    DeadlineAdjustment,
    Department,
    ServiceActivation,
    TransitionRecord,
    User,
)
from app.models.base import utcnow

if TYPE_CHECKING:  # the host is handed in by the caller; the domain never looks it up
    from app.domain.storage import Storage
    from app.plugins.host import PluginHost
    from app.plugins.registry import ServiceRegistry

log = logging.getLogger(__name__)

# What TransitionRecord.action holds. "approve", "reject" and "return" are also the names a
# Step lists in ``actions``.
SUBMIT = "submit"
APPROVE = "approve"
REJECT = "reject"
RETURN = "return"
RESUBMIT = "resubmit"
COMMENT = "comment"
REASSIGN = "reassign"
EXTEND = "extend"
WITHDRAW = "withdraw"
HAND_OVER = "hand_over"
# "Assign to me": whoever may act on the current step takes it (:func:`take`).
TAKE = "take"
ACTIONS = (SUBMIT, APPROVE, REJECT, RETURN, RESUBMIT, COMMENT, REASSIGN, EXTEND, WITHDRAW, HAND_OVER, TAKE)
# What :func:`act` takes on a filed application, in every channel: all but filing itself.
CASE_ACTIONS = (APPROVE, REJECT, RETURN, RESUBMIT, WITHDRAW, COMMENT, REASSIGN, EXTEND, HAND_OVER, TAKE)
# How the result of an approved application reached the applicant (TransitionRecord.details
# of a hand-over: {"method": ...}).
HANDOVER_METHODS = ("in_person", "post", "online")

# What a channel accepts before handing it here: the version counter is a 32-bit integer
# column, and a comment, reason or correction request is a few paragraphs at most.
MAX_VERSION = 2**31 - 1
MAX_TEXT = 5000

# The words for what an action lacks, the same whether the action itself or act() finds out.
VERSION_MISSING = _l("The form is missing the version of the application; reload it and try again.")
REJECTION_REASON_MISSING = _l("Give the reason for the rejection.")
WHAT_TO_FIX_MISSING = _l("Say what the applicant has to correct.")
COMMENT_MISSING = _l("Write the comment.")
CLOSED_READ_ONLY = _l("This application is closed; its file takes no more comments.")
ASSIGNEE_MISSING = _l("Choose the staff member to hand the application to.")
EXTENSION_DAYS_WRONG = _l("Extend by 1 to %(max)s working days.", max=deadlines.MAX_WORKING_DAYS)
EXTENSION_REASON_MISSING = _l("Give the reason for the extension.")
HANDOVER_METHOD_MISSING = _l("Choose how the result reached the applicant: in person, by post or online.")

# Statuses in which the application sits at a step that staff work on.
AT_STEP = (statuses.SUBMITTED, statuses.IN_REVIEW)
OPEN = (statuses.SUBMITTED, statuses.IN_REVIEW, statuses.RETURNED)
SUPERVISOR_ROLES = (roles.HEAD, roles.MUNICIPAL_ADMIN)


# -- who is acting ------------------------------------------------------------------------


def _role_label(role_name: str) -> Any:
    # Lazy, like the message it goes into: rendered in the reader's language.
    labels = roles.ROLE_LABELS
    return labels.get(role_name, role_name)


def _department_label(names: Mapping[str, str] | None, fallback: Any) -> Any:
    if names is None:
        return fallback
    texts = dict(names)

    def render() -> str:
        try:
            locale = str(get_locale() or "hy")
        except Exception:
            locale = "hy"
        return pick(texts, locale)

    return LazyString(render)


# -- looking things up ----------------------------------------------------------------------


def service_of(application: Application, registry: ServiceRegistry) -> Service:
    """The declaration the application was filed under (its own version, not the newest)."""
    registered = registry.get(application.service_key, application.service_version)
    if registered is None:
        raise ServiceUnavailable()
    return registered.service


def current_step(application: Application, service: Service) -> Step | None:
    return service.step(application.current_step) if application.current_step else None


def next_step(service: Service, data: Mapping[str, Any], after: str | None) -> Step | None:
    """The first step after ``after`` (in declared order) whose condition holds for ``data``.

    Walking the declared order rather than the route keeps working when corrected data
    changed which steps apply.
    """
    steps = service.steps
    start = 0
    if after is not None:
        keys = [s.key for s in steps]
        start = keys.index(after) + 1 if after in keys else len(steps)
    return next((s for s in steps[start:] if s.applies(data)), None)


def _activation(session: Session, application: Application) -> ServiceActivation | None:
    return access.activation_of(session, application.municipality_id, application.service_key)


def activation_department_id(session: Session, application: Application) -> int | None:
    """The department the municipality made responsible for the application's service
    (``None``: none, or the service is not activated). Remembered for the transaction
    (access.activation_of): every check of a page asks again."""
    activation = access.activation_of(session, application.municipality_id, application.service_key)
    return activation.department_id if activation is not None else None


@dataclass(frozen=True)
class _Department:
    id: int
    code: str
    names: Mapping[str, str]  # by language: hy, en, ru


def _departments(session: Session, municipality_id: int) -> dict[str, _Department]:
    """The municipality's departments by code, read once per transaction (app.domain.memo):
    a page checks a step's department once per action it may offer, and words a refusal
    with the department's name. A municipality has tens of departments, not thousands."""

    def read() -> dict[str, _Department]:
        stmt = access.within(
            select(Department.id, Department.code, Department.name_hy, Department.name_en, Department.name_ru),
            Department,
            municipality_id,
        )
        return {
            code: _Department(department_id, code, {"hy": hy or "", "en": en or "", "ru": ru or ""})
            for department_id, code, hy, en, ru in session.execute(stmt).all()
        }

    return memo.remember(session, ("departments", municipality_id), read)


def departments_read(session: Session, municipality_id: int, rows: Iterable[tuple[int, str, Any, Any, Any]]) -> None:
    """Hand over the municipality's departments that another statement of this transaction
    read anyway (id, code and the names in hy, en, ru: every department of the municipality),
    so that :func:`_departments` asks no more (the case page's staffing banner reads them)."""
    known = {
        code: _Department(department_id, code, {"hy": hy or "", "en": en or "", "ru": ru or ""})
        for department_id, code, hy, en, ru in rows
    }
    memo.remember(session, ("departments", municipality_id), lambda: known)


def department_names(session: Session, municipality_id: int, department_id: int) -> Mapping[str, str] | None:
    """The names (by language) of department ``department_id`` of the municipality
    (``None``: not one of its own); no query when the transaction read them already."""
    for department in _departments(session, municipality_id).values():
        if department.id == department_id:
            return department.names
    return None


def responsible_department_id(session: Session, application: Application, step: Step) -> int | None:
    """The department that works this step: the one the step names (by code, within the
    application's municipality), else the one the municipality made responsible for the
    service. ``None`` means any department may."""
    if step.department:
        named = _departments(session, application.municipality_id).get(step.department)
        department_id = named.id if named is not None else None
        if department_id is None:
            raise NotAllowed(
                _l(
                    "This municipality has no department %(code)s, which the step %(step)s needs; ask the municipal administrator.",
                    code=step.department,
                    step=step.key,
                )
            )
        return department_id
    activated = activation_department_id(session, application)
    if activated is not None:
        return activated
    return application.department_id


# -- checks ---------------------------------------------------------------------------------


def _require_active(actor: Actor) -> None:
    # The actor was built when the request began; a deactivated account acts no more.
    if not actor.active:
        raise NotAllowed()


def _require_same_municipality(actor: Actor, application: Application) -> None:
    if not access.same_municipality(actor, application):
        raise NotAllowed(_l("This application belongs to another municipality."))


def _require_version(application: Application, expected_version: int | None) -> None:
    if expected_version is None:
        raise InvalidAction(VERSION_MISSING)
    if application.version != int(expected_version):
        raise ChangedMeanwhile()


def _require_not_final(application: Application) -> None:
    if application.status in statuses.FINAL:
        raise InvalidAction(_l("This application is closed and can no longer change."))


def _require_status(application: Application, allowed: tuple[str, ...]) -> None:
    _require_not_final(application)
    if application.status not in allowed:
        raise InvalidAction(
            _l(
                "This is not possible while the application is %(status)s.",
                status=statuses.LABELS.get(application.status, application.status),
            )
        )


def _valid_days(days: Any) -> bool:
    return isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= deadlines.MAX_WORKING_DAYS


def _require_text(value: str | None, message: Any) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidAction(message)
    return text


def check_can_act_on_step(session: Session, application: Application, step: Step, actor: Actor) -> int | None:
    """Raise :class:`NotAllowed` unless ``actor`` may act on ``step`` of this application: in
    their own right (:func:`check_step_right`), or as the substitute of an absent colleague
    whose task it is (:mod:`app.domain.substitutes`). Returns that colleague's user id when
    the actor acts on their behalf (the history records it), else ``None``."""
    _require_same_municipality(actor, application)
    try:
        check_step_right(session, application, step, actor)
    except NotAllowed:
        behalf = _standing_in_for(session, application, step, actor)
        if behalf is None:
            raise
        return behalf
    if application.assignee_id is None or application.assignee_id == actor.user_id:
        return None
    # Someone else's task: on their behalf when they are away and the actor stands in.
    return _standing_in_for(session, application, step, actor)


def _standing_in_for(session: Session, application: Application, step: Step, actor: Actor) -> int | None:
    """The absent colleague ``actor`` stands in for today whose task this step is: the
    assignee, or (unassigned) the first of them who may act on it in their own right."""
    absent = substitutes.standing_in_for(session, actor)
    if application.assignee_id is not None and application.assignee_id != actor.user_id:
        absent = [s for s in absent if s.absent.user_id == application.assignee_id]
    for stand_in in absent:
        try:
            check_step_right(session, application, step, stand_in.absent)
        except NotAllowed:
            continue
        return stand_in.absent.user_id
    return None


def check_step_right(session: Session, application: Application, step: Step, actor: Actor) -> None:
    """Raise :class:`NotAllowed` unless ``actor`` may act on ``step`` in their own right: staff
    of the application's municipality with the step's role, in the responsible department."""
    _require_same_municipality(actor, application)
    role_name = roles.ROLE_BY_KEY.get(step.role, step.role)
    if role_name not in actor.roles:
        raise NotAllowed(_l("Only staff with the role %(role)s may act on this step.", role=_role_label(role_name)))
    department_id = responsible_department_id(session, application, step)
    if department_id is not None and actor.department_id != department_id:
        names = department_names(session, application.municipality_id, department_id)
        raise NotAllowed(
            _l(
                "Only staff of %(department)s may act on this step.",
                department=_department_label(names, department_id),
            )
        )


# Who acted, and for whom: their names come with the history, in the same statement.
_ACTOR = aliased(User, name="actor")
_ON_BEHALF_OF = aliased(User, name="on_behalf_of")


def _display_name(first: str | None, last: str | None) -> str:
    return " ".join(p for p in (first, last) if p)


def _history_with_names(
    session: Session, application: Application
) -> tuple[tuple[TransitionRecord, ...], tuple[tuple[int, str], ...]]:
    # Remembered for the transaction (app.domain.memo): the page's history and the checks of
    # self-approval read the same rows; a new record is flushed, which forgets it.
    municipality_id, application_id = application.municipality_id, application.id

    def read() -> tuple[tuple[TransitionRecord, ...], tuple[tuple[int, str], ...]]:
        actor, behalf = _ACTOR, _ON_BEHALF_OF
        stmt = access.within(
            select(TransitionRecord, actor.first_name, actor.last_name, behalf.first_name, behalf.last_name),
            TransitionRecord,
            municipality_id,
        )
        rows = session.execute(
            stmt.outerjoin(actor, actor.id == TransitionRecord.actor_id)
            .outerjoin(behalf, behalf.id == TransitionRecord.on_behalf_of_id)
            .where(TransitionRecord.application_id == application_id)
            .order_by(TransitionRecord.id)
        ).all()
        names: dict[int, str] = {}
        for record, actor_first, actor_last, behalf_first, behalf_last in rows:
            if record.actor_id is not None:
                names[record.actor_id] = _display_name(actor_first, actor_last)
            if record.on_behalf_of_id is not None:
                names[record.on_behalf_of_id] = _display_name(behalf_first, behalf_last)
        return tuple(row[0] for row in rows), tuple(names.items())

    if application_id is None:
        return read()
    return memo.remember(session, ("history", municipality_id, application_id), read)


def _history(session: Session, application: Application) -> list[TransitionRecord]:
    return list(_history_with_names(session, application)[0])


def history_names(session: Session, application: Application) -> dict[int, str]:
    """The names of everyone who acted in the application's history, or for whom (user id to
    "First Last"): read with the history, so no query when the history was read."""
    return dict(_history_with_names(session, application)[1])


def _own_work(session: Session, application: Application, step: Step) -> set[int]:
    """Who may not approve ``step`` when it forbids self-approval: whoever created or
    submitted the application, and whoever approved the step before it."""
    people = {uid for uid in (application.created_by_id, application.applicant_user_id) if uid is not None}
    previous_approval: TransitionRecord | None = None
    for record in _history(session, application):
        if record.action == SUBMIT and record.actor_id is not None:
            people.add(record.actor_id)
        if record.action == APPROVE and record.step_key != step.key:
            previous_approval = record
    if previous_approval is not None and previous_approval.actor_id is not None:
        people.add(previous_approval.actor_id)
    return people


def _check_not_own_work(session: Session, application: Application, step: Step, actor: Actor) -> None:
    """Raise :class:`NotAllowed` when ``step`` forbids self-approval and ``actor`` filed the
    application or approved its previous step (:func:`_own_work`)."""
    if step.forbid_self_approval and actor.user_id in _own_work(session, application, step):
        raise NotAllowed(
            _l(
                "You cannot approve this step: you filed this application or approved its previous step. Another colleague must approve it."
            )
        )


def _require_step_action(step: Step | None, action: str) -> Step:
    if step is None:
        raise InvalidAction(_l("This application is not at an approval step."))
    if action not in step.actions:
        raise InvalidAction(_l("This step does not allow this action."))
    return step


# -- hooks ----------------------------------------------------------------------------------


def _call_hook(host: PluginHost, name: str, **kwargs: Any) -> None:
    try:
        # Plug-in by plug-in, so a failure names its plug-in (HookFailed) in the log.
        host.call_hook(name, **kwargs)
    except TransitionVetoed:
        raise
    except Exception as exc:
        # A broken plug-in must not stop every office from working (docs/plugins.md §2); in
        # development and tests it fails loudly instead.
        if host.strict:
            raise
        log.exception("%s; ignoring it because plug-ins are not strict", exc)


# -- the one place that writes a transition ---------------------------------------------------


@dataclass
class _Change:
    action: str
    to_status: str
    comment: str | None = None
    step_key: str | None = None
    apply: Callable[[], None] = field(default=lambda: None)
    # TransitionRecord.details; apply() may still fill it in (it is read after apply runs).
    details: dict[str, Any] = field(default_factory=dict)
    # The absent colleague a substitute acted for (TransitionRecord.on_behalf_of_id).
    on_behalf_of: int | None = None


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise ChangedMeanwhile() from None


def commit(session: Session) -> None:
    """Commit, turning a lost race found only at commit time into :class:`ChangedMeanwhile`."""
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        raise ChangedMeanwhile() from None


def _write(
    session: Session,
    host: PluginHost,
    application: Application,
    service: Service,
    step: Step | None,
    actor_id: int | None,
    change: _Change,
) -> TransitionRecord:
    _call_hook(
        host,
        "before_transition",
        application=application,
        service=service,
        step=step,
        action=change.action,
        actor_id=actor_id,
    )
    from_status = application.status
    # No autoflush while changing: the look-ups inside apply() (holidays, departments) would
    # otherwise write half a change, bump the version more than once per action, and hit a
    # concurrent winner outside the flush that turns that into ChangedMeanwhile.
    with session.no_autoflush:
        change.apply()
        if application.status != change.to_status:
            application.status = change.to_status
        record = TransitionRecord(
            municipality_id=application.municipality_id,
            application_id=application.id,
            actor_id=actor_id,
            step_key=change.step_key if change.step_key is not None else (step.key if step else None),
            action=change.action,
            from_status=from_status,
            to_status=change.to_status,
            comment=change.comment,
            details=change.details,
            on_behalf_of_id=change.on_behalf_of,
            at=utcnow(),
        )
        if application.id is None:
            # Filed and submitted at once: the flush below inserts both, the id flows in.
            record.application = application
        session.add(record)
    _flush(session)
    if "history" in application.__dict__:
        session.expire(application, ["history"])
    _call_hook(host, "after_transition", application=application, service=service, record=record)
    _notify_applicant(session, application, service, record)
    _count_and_issue(session, host, application, service, step, record)
    return record


def _count_and_issue(
    session: Session,
    host: PluginHost,
    application: Application,
    service: Service,
    step: Step | None,
    record: TransitionRecord,
) -> None:
    # In the same transaction as the change: the dashboard's counters and the issued decision
    # exist exactly when the decision does (a refused commit leaves neither).
    from app.domain import issuing, statistics  # both read the case file, which imports this module

    statistics.record(session, application, service, step, record)
    if record.to_status in (statuses.APPROVED, statuses.REJECTED):
        issuing.on_decision(session, host, application, service, record)


def _notify_applicant(session: Session, application: Application, service: Service, record: TransitionRecord) -> None:
    # In the same transaction: the applicant's notices exist exactly when the change does.
    from app.domain import citizen_notices  # it reads citizen_cases, which imports this module

    citizen_notices.workflow_event(session, application, service, record)


# -- creating and submitting ----------------------------------------------------------------


def _require_offered(session: Session, municipality_id: int, service_key: str) -> None:
    stmt = access.within(select(ServiceActivation.enabled), ServiceActivation, municipality_id)
    enabled = session.execute(stmt.where(ServiceActivation.service_key == service_key)).scalar_one_or_none()
    if not enabled:
        raise NotAllowed(_l("This municipality does not offer this service."))


def new_application(
    session: Session,
    *,
    service: Service,
    municipality_id: int,
    data: Mapping[str, Any],
    applicant_name: str,
    created_by_id: int | None = None,
    applicant_user_id: int | None = None,
    applicant_psn: str | None = None,
    applicant_phone: str | None = None,
    applicant_email: str | None = None,
    applicant_address: str | None = None,
    channel: str,
    fee: int | None = None,
    submission_key: str | None = None,
    activation: ServiceActivation | None = None,
    flush: bool = True,
) -> tuple[Application, str]:
    """A draft with its tracking number, and the access secret to hand to the applicant
    (only its hash is stored, so this is the one chance to show it).

    ``channel`` is how it reached the municipality (:mod:`app.domain.channels`); it has no
    default so that every caller says it, and an unknown one raises :class:`ValueError`.
    ``data`` must already be validated (:func:`app.plugins.runtime.validate_application_data`).
    ``activation`` is the municipality's row for the service when the caller has read it
    already (intake does), so it is not read again. ``flush=False`` leaves the row pending:
    intake submits it before the first flush, so filing is one INSERT, not an INSERT of a
    draft and an UPDATE to submitted.
    """
    channels.require(channel)
    if activation is None:
        _require_offered(session, municipality_id, service.key)
    elif not (
        activation.enabled and activation.municipality_id == municipality_id and activation.service_key == service.key
    ):
        raise NotAllowed(_l("This municipality does not offer this service."))
    _require_text(applicant_name, _l("Enter the applicant's name."))
    if fee is None:
        if activation is not None:
            override = activation.fee_override
        else:
            stmt = access.within(select(ServiceActivation.fee_override), ServiceActivation, municipality_id)
            override = session.execute(stmt.where(ServiceActivation.service_key == service.key)).scalar_one_or_none()
        fee = override if override is not None else service.fee
    secret, secret_hash = new_access_secret()
    application = Application(
        municipality_id=municipality_id,
        tracking_number=allocate_tracking_number(session, municipality_id),
        access_secret_hash=secret_hash,
        service_key=service.key,
        service_version=service.version,
        status=statuses.DRAFT,
        channel=channel,
        data=dict(data),
        applicant_name=applicant_name.strip(),
        applicant_user_id=applicant_user_id,
        applicant_psn=applicant_psn,
        applicant_phone=applicant_phone,
        applicant_email=applicant_email,
        applicant_address=applicant_address,
        created_by_id=created_by_id,
        fee=fee,
        submission_key=submission_key,
        # Set now (the column default would only apply at the INSERT), so a pending row has
        # the version its submit is checked against.
        version=1,
    )
    session.add(application)
    if flush:
        session.flush()
    return application, secret


def submit(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    host: PluginHost,
    activation: ServiceActivation | None = None,
) -> TransitionRecord:
    """File a draft: it goes to the first step of its route, and its clock starts.

    With no step applying to its data, the application is approved at once. ``activation``
    is the municipality's row for the service when the caller has read it already.
    """
    _require_version(application, expected_version)
    _require_status(application, (statuses.DRAFT,))
    _require_active(actor)
    if not access.may_submit(actor, application):
        raise NotAllowed(_l("Only the applicant or the municipality's staff may do this."))
    # One read of the municipality's row serves the offer check, the department and the
    # deadline (it was read three times).
    if activation is None or (activation.municipality_id, activation.service_key) != (
        application.municipality_id,
        application.service_key,
    ):
        activation = _activation(session, application)
    if activation is None or not activation.enabled:
        raise NotAllowed(_l("This municipality does not offer this service."))
    service = service_of(application, host.registry)
    first = next_step(service, application.data or {}, None)
    day = deadlines.today()
    if application.id is None and host.listens("before_transition"):
        # A pending row (intake files and submits in one INSERT) has no id yet; a plug-in
        # checking the submission is promised one (app.domain.protocols.ApplicationView).
        _flush(session)

    def apply() -> None:
        application.submitted_at = utcnow()
        # One calendar for both dates: the municipality's holidays are read once.
        working = deadlines.calendar(session, application.municipality_id)
        override = activation.deadline_override
        application.due_at = working.add_working_days(day, override if override is not None else service.deadline_days)
        if activation.department_id is not None:
            application.department_id = activation.department_id
        application.current_step = first.key if first else None
        # Something to pay: due until a payment (app.domain.payments) or a waiver settles it.
        application.payment_status = (application.payment_status or payments.DUE) if application.fee > 0 else None
        application.step_due_at = deadlines.end_of_day(working.add_working_days(day, first.days)) if first else None

    change = _Change(
        SUBMIT, statuses.SUBMITTED if first else statuses.APPROVED, apply=apply, step_key=first.key if first else None
    )
    record = _write(session, host, application, service, first, actor.user_id, change)
    _call_hook(host, "after_submit", application=application, service=service)
    return record


# -- acting on a step -------------------------------------------------------------------------


def _prepare(
    session: Session,
    application: Application,
    expected_version: int | None,
    actor: Actor,
    allowed: tuple[str, ...],
    host: PluginHost,
) -> Service:
    # The version first: whoever acted on what has changed since lost a race, and is told to
    # reload rather than that the action is not possible in a status they never saw.
    _require_version(application, expected_version)
    _require_status(application, allowed)
    _require_active(actor)
    return service_of(application, host.registry)


def approve(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    comment: str | None = None,
    host: PluginHost,
) -> TransitionRecord:
    """Approve the current step: on to the next applicable step, or ``approved`` after the last."""
    service = _prepare(session, application, expected_version, actor, AT_STEP, host)
    step = _require_step_action(current_step(application, service), APPROVE)
    behalf = check_can_act_on_step(session, application, step, actor)
    _check_not_own_work(session, application, step, actor)
    _check_paid(application, service)
    following = next_step(service, application.data or {}, step.key)
    day = deadlines.today()

    def apply() -> None:
        application.assignee_id = None
        if following is None:
            application.current_step = None
            application.step_due_at = None
        else:
            application.current_step = following.key
            application.step_due_at = deadlines.end_of_day(
                deadlines.step_due_date(session, following, application.municipality_id, day)
            )

    to_status = statuses.IN_REVIEW if following else statuses.APPROVED
    return _write(
        session,
        host,
        application,
        service,
        step,
        actor.user_id,
        _Change(APPROVE, to_status, (comment or "").strip() or None, apply=apply, on_behalf_of=behalf),
    )


def _check_paid(application: Application, service: Service) -> None:
    # A service processed only once paid (Service.payment_first): no step is approved while
    # the fee is due. Returning or rejecting it stays possible.
    if payments.waiting_for_payment(application, service):
        raise InvalidAction(payments.WAITING_FOR_PAYMENT)


def _close(application: Application) -> None:
    """A final status: no step is due and nobody has the case any more."""
    application.closed_at = utcnow()
    application.step_due_at = None
    application.assignee_id = None


def reject(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    reason: str,
    host: PluginHost,
) -> TransitionRecord:
    """Refuse the application for good; the reason is shown to the applicant."""
    service = _prepare(session, application, expected_version, actor, AT_STEP, host)
    step = _require_step_action(current_step(application, service), REJECT)
    reason = _require_text(reason, REJECTION_REASON_MISSING)
    behalf = check_can_act_on_step(session, application, step, actor)

    def apply() -> None:
        _close(application)

    return _write(
        session,
        host,
        application,
        service,
        step,
        actor.user_id,
        _Change(REJECT, statuses.REJECTED, reason, apply=apply, on_behalf_of=behalf),
    )


def return_for_correction(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    what_to_fix: str | None = None,
    fields: Sequence[str] = (),
    documents: Sequence[str] = (),
    host: PluginHost,
) -> TransitionRecord:
    """Send the application back to the applicant; its clock stops until they resubmit.

    ``fields`` and ``documents`` name the declared form fields and checklist documents to
    fix (the resubmission may change exactly those); ``what_to_fix`` says it in words. At
    least one of the three is needed; a key the service does not declare raises
    :class:`InvalidInput` (keyed ``fields`` / ``documents``). The record's ``details`` keep
    the named keys in declared order: ``{"fields": [...], "documents": [...]}``.
    """
    from app.domain import corrections  # corrections reads intake, which imports this module

    service = _prepare(session, application, expected_version, actor, AT_STEP, host)
    step = _require_step_action(current_step(application, service), RETURN)
    named_fields, named_documents = corrections.key_list(fields), corrections.key_list(documents)
    errors: dict[str, Any] = {}
    if named_fields is None:
        errors["fields"] = corrections.NOT_A_KEY_LIST
    if named_documents is None:
        errors["documents"] = corrections.NOT_A_KEY_LIST
    errors.update(corrections.check_named(service, named_fields or [], named_documents or []))
    if errors:
        raise InvalidInput(errors)
    text = (what_to_fix or "").strip() or None
    if text is None and not named_fields and not named_documents:
        raise InvalidAction(WHAT_TO_FIX_MISSING)
    behalf = check_can_act_on_step(session, application, step, actor)
    details = corrections.in_declared_order(service, named_fields or [], named_documents or [])
    day = deadlines.today()

    def apply() -> None:
        session.add(
            DeadlineAdjustment(
                municipality_id=application.municipality_id,
                application_id=application.id,
                kind="suspension",
                days=0,
                start_date=day,
                step_key=step.key,
                actor_id=actor.user_id,
                reason=text,
            )
        )

    return _write(
        session,
        host,
        application,
        service,
        step,
        actor.user_id,
        _Change(RETURN, statuses.RETURNED, text, apply=apply, details=details, on_behalf_of=behalf),
    )


def open_suspension(session: Session, application: Application) -> DeadlineAdjustment | None:
    """The running suspension (returned, not yet resubmitted), if any."""
    return session.execute(
        access.within(select(DeadlineAdjustment), DeadlineAdjustment, application.municipality_id)
        .where(
            DeadlineAdjustment.application_id == application.id,
            DeadlineAdjustment.kind == "suspension",
            DeadlineAdjustment.end_date.is_(None),
        )
        .order_by(DeadlineAdjustment.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def resubmit(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    data: Mapping[str, Any] | None = None,
    uploads: Mapping[str, Sequence[Any]] | None = None,
    add_to: Sequence[str] = (),
    comment: str | None = None,
    storage: Storage | None = None,
    host: PluginHost,
) -> TransitionRecord:
    """The applicant (or a clerk for them) hands the corrected application back. It returns
    to the step that returned it, and its due dates move by the working days it waited.

    ``data`` holds raw values (as a form or the API sends them) for the fields the return
    named; ``uploads`` maps a named document's requirement key to its new files, which
    replace its current files (kept, marked superseded by the history) unless the key is in
    ``add_to``; ``storage`` is where the files go. The rules are
    :mod:`app.domain.corrections`'; any problem raises :class:`InvalidInput` naming every
    one (``data.<field>``, ``documents.<key>``) and writes nothing. The record's ``details``
    say what changed: ``{"changes": {field: [old, new]}, "documents": {"replaced": [...],
    "added": [...]}}``.

    Files are written to ``storage`` bound to the session's transaction (as intake does):
    if anything fails once writing has begun, the session is rolled back here and the files
    written are deleted with it.
    """
    from app.domain import corrections  # corrections reads intake, which imports this module
    from app.domain.documents import store_documents

    service = _prepare(session, application, expected_version, actor, (statuses.RETURNED,), host)
    step = current_step(application, service)
    if not access.speaks_for_applicant(actor, application):
        if step is None:
            raise NotAllowed(_l("Only the applicant or a clerk may do this."))
        check_can_act_on_step(session, application, step, actor)
    records = _history(session, application)
    asked = corrections.requested(records)
    current = corrections.current_by_requirement(access.documents_of(session, application), records)
    plan, errors = corrections.plan_resubmission(
        host, service, application.data or {}, asked, current, data=data, uploads=uploads, add_to=add_to
    )
    if plan is None:
        raise InvalidInput(errors)
    if plan.uploads and storage is None:
        raise ValueError("resubmit() with uploads needs the storage to write them to")
    day = deadlines.today()
    suspension = open_suspension(session, application)
    details: dict[str, Any] = {"changes": plan.changes, "documents": {"replaced": [], "added": []}}

    def store() -> None:
        # Before the application itself changes: store_documents flushes, and a flush of the
        # half-changed application would bump its version twice in one action.
        if not plan.uploads:
            return
        assert storage is not None  # checked above
        for requirement in service.documents:
            files = plan.uploads.get(requirement.key)
            if not files:
                continue
            rows = store_documents(
                session,
                storage,
                application,
                requirement,
                files,
                actor.user_id,
                already_stored=plan.already_stored(requirement.key),
            )
            new = [row.id for row in rows]
            if requirement.key in plan.replacing:
                old = [doc.id for doc in plan.current.get(requirement.key, ())]
                details["documents"]["replaced"].append({"requirement": requirement.key, "old": old, "new": new})
            else:
                details["documents"]["added"].append({"requirement": requirement.key, "new": new})

    def apply() -> None:
        store()
        if plan.changes:
            application.data = dict(plan.data)
        if suspension is not None:
            # open_suspension finds only suspensions that started (start set, end open).
            assert suspension.start_date is not None
            waited = deadlines.working_days_between(
                suspension.start_date, day, session=session, municipality_id=application.municipality_id
            )
            suspension.end_date = day
            suspension.days = waited
            deadlines.shift(session, application, waited)

    change = _Change(RESUBMIT, statuses.IN_REVIEW, (comment or "").strip() or None, apply=apply, details=details)
    try:
        return _write(session, host, application, service, step, actor.user_id, change)
    except ChangedMeanwhile:
        raise  # already rolled back
    except UploadRefused as exc:
        # Checked before writing, so only a file that changed meanwhile gets here.
        session.rollback()
        raise InvalidInput({f"documents.{exc.requirement_key}": str(exc)}) from None
    except BaseException:
        if plan.uploads:
            # Files may have been written: roll back now so they are deleted with the rows.
            session.rollback()
        raise


def withdraw(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    reason: str | None = None,
    host: PluginHost,
) -> TransitionRecord:
    """The applicant takes the application back (or a clerk records that they did). Final."""
    service = _prepare(session, application, expected_version, actor, (statuses.DRAFT, *OPEN), host)
    if not access.speaks_for_applicant(actor, application):
        raise NotAllowed(_l("Only the applicant or a clerk may do this."))
    step = current_step(application, service)
    day = deadlines.today()
    suspension = open_suspension(session, application)

    def apply() -> None:
        _close(application)
        if suspension is not None:
            suspension.end_date = day

    return _write(
        session,
        host,
        application,
        service,
        step,
        actor.user_id,
        _Change(WITHDRAW, statuses.WITHDRAWN, (reason or "").strip() or None, apply=apply),
    )


def _last_approved_step(session: Session, application: Application, service: Service) -> Step | None:
    for record in reversed(_history(session, application)):
        if record.action == APPROVE and record.step_key:
            return service.step(record.step_key)
    return None


def check_may_hand_over(session: Session, application: Application, service: Service, actor: Actor) -> None:
    """Raise :class:`NotAllowed` unless ``actor`` may hand the result over: a front-office
    clerk of the municipality (the desk where results are collected), or whoever may act on
    the step that approved it last (its role in its responsible department), who may send it
    by post or online themselves."""
    _require_same_municipality(actor, application)
    if actor.has(roles.CLERK):
        return
    last = _last_approved_step(session, application, service)
    if last is None:
        raise NotAllowed(_l("Only a front-office clerk or the staff of the last step may hand over the result."))
    try:
        check_can_act_on_step(session, application, last, actor)
    except NotAllowed:
        raise NotAllowed(
            _l("Only a front-office clerk or the staff of the last step may hand over the result.")
        ) from None


def hand_over(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    method: str,
    comment: str | None = None,
    host: PluginHost,
) -> TransitionRecord:
    """Record that the result of an approved application reached the applicant, and how
    (``method``: one of :data:`HANDOVER_METHODS`); the application is ``issued`` and closed.
    Who may: :func:`check_may_hand_over`. The record's ``details`` are ``{"method": ...}``;
    ``comment`` is an optional staff note (e.g. the registered-mail number)."""
    service = _prepare(session, application, expected_version, actor, (statuses.APPROVED,), host)
    if method not in HANDOVER_METHODS:
        raise InvalidInput({"method": HANDOVER_METHOD_MISSING})
    check_may_hand_over(session, application, service, actor)

    def apply() -> None:
        _close(application)

    return _write(
        session,
        host,
        application,
        service,
        None,
        actor.user_id,
        _Change(HAND_OVER, statuses.ISSUED, (comment or "").strip() or None, apply=apply, details={"method": method}),
    )


# -- actions that do not change the status -----------------------------------------------------


def comment(
    session: Session, application: Application, *, actor: Actor, text: str, host: PluginHost
) -> TransitionRecord:
    """An internal note in the history; staff only, never shown to the applicant.

    It does not change the application, so it needs no version and never conflicts. A closed
    application (issued, rejected, withdrawn) is a finished record: no more comments on it
    (docs/security.md).
    """
    _require_active(actor)
    _require_same_municipality(actor, application)
    if not access.caseworker_of(actor, application.municipality_id):
        raise NotAllowed(_l("Only the municipality's staff may comment."))
    if application.status in statuses.FINAL:
        raise InvalidAction(CLOSED_READ_ONLY)
    text = _require_text(text, COMMENT_MISSING)
    service = service_of(application, host.registry)
    step = current_step(application, service)
    return _write(session, host, application, service, step, actor.user_id, _Change(COMMENT, application.status, text))


def _check_may_supervise(session: Session, application: Application, step: Step, actor: Actor) -> None:
    """Acting staff of the step, the head of its department, or the municipal admin."""
    _require_same_municipality(actor, application)
    if actor.has(roles.MUNICIPAL_ADMIN):
        return
    try:
        check_can_act_on_step(session, application, step, actor)
        return
    except NotAllowed:
        if not actor.has(roles.HEAD):
            raise
    department_id = responsible_department_id(session, application, step)
    if department_id is not None and actor.department_id != department_id:
        raise NotAllowed(_l("Only the head of the responsible department or the municipal administrator may do this."))


def reassign(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    assignee_id: int,
    reason: str | None = None,
    host: PluginHost,
) -> TransitionRecord:
    """Hand the current step to another staff member who may act on it (same municipality,
    the step's role and department)."""
    service = _prepare(session, application, expected_version, actor, OPEN, host)
    step = current_step(application, service)
    if step is None:
        raise InvalidAction(_l("This application is not at an approval step."))
    _check_may_supervise(session, application, step, actor)
    if assignee_id == application.assignee_id:
        raise InvalidAction(_l("The application is already assigned to this person."))
    target = load_actor(session, assignee_id)
    if target is None or not target.active:
        raise InvalidAction(_l("Choose an active staff member."))
    try:
        # In their own right: a substitute's standing lasts only for the period of an absence.
        check_step_right(session, application, step, target)
    except NotAllowed:
        raise InvalidAction(
            _l(
                "This person cannot work on this step: choose someone with its role in the responsible department of this municipality."
            )
        ) from None
    before = application.assignee_id

    def apply() -> None:
        application.assignee_id = assignee_id
        audit.record(
            session,
            "application.reassign",
            actor=actor.user_id,
            target=("application", application.id),
            municipality_id=application.municipality_id,
            details={"step": step.key, "from": before, "to": assignee_id},
        )

    text = (reason or "").strip() or None
    return _write(
        session,
        host,
        application,
        service,
        step,
        actor.user_id,
        _Change(REASSIGN, application.status, text, apply=apply),
    )


def _check_may_take(session: Session, application: Application, step: Step, actor: Actor) -> int | None:
    """Raise unless ``actor`` may take ``step`` now (:func:`take`); returns the absent
    colleague they take it for, if any."""
    if application.assignee_id == actor.user_id:
        raise InvalidAction(_l("The application is already assigned to you."))
    check_step_right(session, application, step, actor)
    if application.assignee_id is None:
        return None
    behalf = _standing_in_for(session, application, step, actor)
    if behalf != application.assignee_id:
        raise NotAllowed(
            _l(
                "A colleague is already working on this application; the head of the department can hand it over to you."
            )
        )
    return behalf


def take(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    host: PluginHost,
) -> TransitionRecord:
    """Assign to me: whoever may act on the current step in their own right takes it while
    nobody has it, or while it is assigned to an absent colleague they stand in for (recorded
    as on that colleague's behalf). A colleague's task is handed over by the head instead
    (:func:`reassign`)."""
    service = _prepare(session, application, expected_version, actor, AT_STEP, host)
    step = current_step(application, service)
    if step is None:
        raise InvalidAction(_l("This application is not at an approval step."))
    behalf = _check_may_take(session, application, step, actor)
    before = application.assignee_id

    def apply() -> None:
        application.assignee_id = actor.user_id
        audit.record(
            session,
            "application.take",
            actor=actor.user_id,
            target=("application", application.id),
            municipality_id=application.municipality_id,
            details={"step": step.key, "from": before, "to": actor.user_id},
        )

    return _write(
        session,
        host,
        application,
        service,
        step,
        actor.user_id,
        _Change(TAKE, application.status, None, apply=apply, on_behalf_of=behalf),
    )


def extend_deadline(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    expected_version: int,
    days: int,
    reason: str,
    host: PluginHost,
) -> TransitionRecord:
    """Move the overall and the current step's due dates ``days`` working days later."""
    service = _prepare(session, application, expected_version, actor, OPEN, host)
    step = current_step(application, service)
    if not actor.has(*SUPERVISOR_ROLES):
        raise NotAllowed(_l("Only the head of the responsible department or the municipal administrator may do this."))
    if step is not None:
        _check_may_supervise(session, application, step, actor)
    else:
        _require_same_municipality(actor, application)
    if not _valid_days(days):
        raise InvalidAction(EXTENSION_DAYS_WRONG)
    reason = _require_text(reason, EXTENSION_REASON_MISSING)
    before = application.due_at

    def apply() -> None:
        deadlines.shift(session, application, days)
        session.add(
            DeadlineAdjustment(
                municipality_id=application.municipality_id,
                application_id=application.id,
                kind="extension",
                days=days,
                step_key=step.key if step else None,
                actor_id=actor.user_id,
                reason=reason,
                start_date=before,
                end_date=application.due_at,
            )
        )

    return _write(
        session,
        host,
        application,
        service,
        step,
        actor.user_id,
        _Change(EXTEND, application.status, reason, apply=apply),
    )


# -- one entry point for every channel ---------------------------------------------------------


class InvalidInput(InvalidAction):
    """What was sent for an action is incomplete or out of bounds; nothing was written.

    ``errors`` maps each field at fault (the names :func:`act` takes) to a sentence;
    ``str()`` is all of them, for a channel that shows one message."""

    def __init__(self, errors: Mapping[str, Any]) -> None:
        self.errors = dict(errors)
        super().__init__(LazyString(lambda: " ".join(str(message) for message in self.errors.values())))


@dataclass(frozen=True)
class _Given:
    comment: str | None
    reason: str | None
    what_to_fix: str | None
    assignee_id: int | None
    days: int | None
    data: Mapping[str, Any] | None
    fields: Sequence[str] = ()
    documents: Sequence[str] = ()
    uploads: Mapping[str, Sequence[Any]] | None = None
    add_to: Sequence[str] = ()
    method: str | None = None


# The fields each action cannot do without, and what to say when one is missing.
_REQUIRED: Mapping[str, Mapping[str, Any]] = {
    APPROVE: {},
    REJECT: {"reason": REJECTION_REASON_MISSING},
    # what_to_fix, or the fields or documents to fix: checked in _input_errors.
    RETURN: {},
    RESUBMIT: {},
    HAND_OVER: {"method": HANDOVER_METHOD_MISSING},
    WITHDRAW: {},
    COMMENT: {"comment": COMMENT_MISSING},
    REASSIGN: {"assignee_id": ASSIGNEE_MISSING},
    EXTEND: {"days": EXTENSION_DAYS_WRONG, "reason": EXTENSION_REASON_MISSING},
    TAKE: {},
}


def _missing(name: str, value: Any) -> bool:
    if name == "days":
        return not _valid_days(value)
    if name == "method":
        return value not in HANDOVER_METHODS
    if isinstance(value, str):
        return not value.strip()
    return value is None


def _input_errors(action: str, expected_version: int | None, given: _Given) -> dict[str, Any]:
    if action not in CASE_ACTIONS:
        return {"action": _l("Choose one of: %(values)s.", values=", ".join(CASE_ACTIONS))}
    errors: dict[str, Any] = {}
    for name in ("comment", "reason", "what_to_fix"):
        text = getattr(given, name)
        if text is not None and len(text) > MAX_TEXT:
            errors[name] = _l("The text is too long: at most %(max)d characters.", max=MAX_TEXT)
    # A comment changes nothing, so it never conflicts and needs no version.
    if action != COMMENT and expected_version is None:
        errors["expected_version"] = VERSION_MISSING
    for name, message in _REQUIRED[action].items():
        if name not in errors and _missing(name, getattr(given, name)):
            errors[name] = message
    if (
        action == RETURN
        and "what_to_fix" not in errors
        and _missing("what_to_fix", given.what_to_fix)
        and not given.fields
        and not given.documents
    ):
        errors["what_to_fix"] = WHAT_TO_FIX_MISSING
    return errors


def _run(
    session: Session,
    application: Application,
    action: str,
    given: _Given,
    *,
    actor: Actor,
    expected_version: int | None,
    host: PluginHost,
    storage: Storage | None,
) -> TransitionRecord:
    if action == COMMENT:
        return comment(session, application, actor=actor, text=given.comment or "", host=host)
    assert expected_version is not None  # _input_errors asks for it
    common: dict[str, Any] = {"actor": actor, "expected_version": expected_version, "host": host}
    if action == APPROVE:
        return approve(session, application, comment=given.comment, **common)
    if action == REJECT:
        return reject(session, application, reason=given.reason or "", **common)
    if action == RETURN:
        return return_for_correction(
            session,
            application,
            what_to_fix=given.what_to_fix,
            fields=given.fields,
            documents=given.documents,
            **common,
        )
    if action == RESUBMIT:
        return resubmit(
            session,
            application,
            data=given.data,
            uploads=given.uploads,
            add_to=given.add_to,
            comment=given.comment,
            storage=storage,
            **common,
        )
    if action == HAND_OVER:
        return hand_over(session, application, method=given.method or "", comment=given.comment, **common)
    if action == WITHDRAW:
        return withdraw(session, application, reason=given.reason, **common)
    if action == REASSIGN:
        assert given.assignee_id is not None  # required above
        return reassign(session, application, assignee_id=given.assignee_id, reason=given.reason, **common)
    if action == TAKE:
        return take(session, application, **common)
    assert action == EXTEND and given.days is not None  # the last of CASE_ACTIONS; days required above
    return extend_deadline(session, application, days=given.days, reason=given.reason or "", **common)


def act(
    session: Session,
    application: Application,
    *,
    action: str,
    actor: Actor,
    host: PluginHost,
    expected_version: int | None = None,
    comment: str | None = None,
    reason: str | None = None,
    what_to_fix: str | None = None,
    assignee_id: int | None = None,
    days: int | None = None,
    data: Mapping[str, Any] | None = None,
    fields: Sequence[str] = (),
    documents: Sequence[str] = (),
    uploads: Mapping[str, Sequence[Any]] | None = None,
    add_to: Sequence[str] = (),
    method: str | None = None,
    storage: Storage | None = None,
) -> TransitionRecord:
    """Take ``action`` (one of :data:`CASE_ACTIONS`) on ``application``: the one way every
    channel (workspace, REST API, next the portal) acts, so the same input means the same
    thing everywhere. Each field has one meaning and no field stands in for another:

    * ``expected_version`` — the version the actor saw; every action but ``comment`` needs it.
    * ``comment`` — a staff note in the history: optional for ``approve`` and ``resubmit``,
      and the text itself (required) for ``comment``. Never shown to the applicant.
    * ``reason`` — why: required for ``reject`` (shown to the applicant) and ``extend``;
      optional for ``reassign`` and ``withdraw``.
    * ``what_to_fix`` — for ``return``, shown to the applicant; ``fields`` and ``documents``
      — for ``return``, the keys of the declared form fields and checklist documents to fix.
      A return needs at least one of the three.
    * ``data`` — for ``resubmit``, raw values of the fields the return named (another
      field's value is refused unless unchanged); ``uploads`` — for ``resubmit``, the new
      files of the documents it named, by requirement key, written to ``storage``; they
      replace the current files unless the key is in ``add_to``
      (:mod:`app.domain.corrections`).
    * ``method`` — required for ``hand_over``: one of :data:`HANDOVER_METHODS`.
    * ``assignee_id`` — required for ``reassign``; ``days`` — working days, required for
      ``extend``.

    Fields an action does not read are ignored. An unknown action, a missing required field
    or a text over :data:`MAX_TEXT` characters raises :class:`InvalidInput` naming every
    field at fault, before anything is looked at; then the action runs with its own checks
    and raises what it raises (:class:`NotAllowed`, :class:`ChangedMeanwhile`, …). The
    caller commits.
    """
    given = _Given(
        comment,
        reason,
        what_to_fix,
        assignee_id,
        days,
        data,
        fields=tuple(fields or ()),
        documents=tuple(documents or ()),
        uploads=uploads,
        add_to=tuple(add_to or ()),
        method=method,
    )
    errors = _input_errors(action, expected_version, given)
    if errors:
        raise InvalidInput(errors)
    return _run(
        session,
        application,
        action,
        given,
        actor=actor,
        expected_version=expected_version,
        host=host,
        storage=storage,
    )


# -- for views ---------------------------------------------------------------------------------


def history(session: Session, application: Application) -> list[TransitionRecord]:
    """Every transition of the application, oldest first."""
    return _history(session, application)


def approves_finally(application: Application, service: Service) -> bool:
    """Whether approving the current step now would approve the whole application (no later
    step applies to its data): channels ask for a confirmation first."""
    step = current_step(application, service)
    return step is not None and next_step(service, application.data or {}, step.key) is None


def allowed_actions(
    session: Session, application: Application, *, actor: Actor, registry: ServiceRegistry
) -> list[str]:
    """The step actions (approve / reject / return / resubmit / withdraw / hand_over)
    ``actor`` may take now, for showing only the buttons that will work. The actions re-check everything."""
    result: list[str] = []
    try:
        service = service_of(application, registry)
    except ServiceUnavailable:
        return result
    if not actor.active or application.status in statuses.FINAL:
        return result
    step = current_step(application, service)
    if application.status in AT_STEP and step is not None:
        try:
            check_can_act_on_step(session, application, step, actor)
        except WorkflowError:
            pass
        else:
            for action in (APPROVE, REJECT, RETURN):
                if action not in step.actions:
                    continue
                if action == APPROVE:
                    try:
                        _check_not_own_work(session, application, step, actor)
                        _check_paid(application, service)
                    except WorkflowError:
                        continue
                result.append(action)
    speaks_for_applicant = access.speaks_for_applicant(actor, application)
    if application.status == statuses.RETURNED and speaks_for_applicant:
        result.append(RESUBMIT)
    if application.status in (statuses.DRAFT, *OPEN) and speaks_for_applicant:
        result.append(WITHDRAW)
    if application.status == statuses.APPROVED:
        try:
            check_may_hand_over(session, application, service, actor)
        except WorkflowError:
            pass
        else:
            result.append(HAND_OVER)
    return result


def _may_take(session: Session, application: Application, step: Step, actor: Actor) -> bool:
    # The checks of take(), without writing.
    try:
        _check_may_take(session, application, step, actor)
    except WorkflowError:
        return False
    return True


def staff_actions(session: Session, application: Application, *, actor: Actor, registry: ServiceRegistry) -> list[str]:
    """The actions besides the step's own (comment / take / reassign / extend) ``actor`` may
    take now, by the same checks :func:`comment`, :func:`take`, :func:`reassign` and
    :func:`extend_deadline` run."""
    if not access.same_municipality(actor, application):
        return []
    may_comment = access.caseworker_of(actor, application.municipality_id) and application.status not in statuses.FINAL
    result = [COMMENT] if may_comment else []
    if application.status not in OPEN:
        return result
    try:
        step = current_step(application, service_of(application, registry))
    except ServiceUnavailable:
        return result
    if step is not None and application.status in AT_STEP and _may_take(session, application, step, actor):
        result.append(TAKE)
    try:
        if step is not None:
            _check_may_supervise(session, application, step, actor)
    except WorkflowError:
        return result
    if step is not None:
        result.append(REASSIGN)
    if actor.has(*SUPERVISOR_ROLES):
        result.append(EXTEND)
    return result


WAITING_FOR_CORRECTION = _l(
    "The application waits for the applicant's correction; its step can be approved, rejected or returned again once it is resubmitted."
)


def unavailable_reasons(
    session: Session,
    application: Application,
    *,
    actor: Actor,
    registry: ServiceRegistry,
    offered: Sequence[str],
) -> list[str]:
    """Why ``actor`` is not offered the actions of the current step (approve / reject /
    return, taking it, handing over the result), one sentence each in the reader's
    language, for staff of the application's municipality; empty for anyone else, and when
    nothing expected is missing. ``offered`` is what :func:`allowed_actions` and
    :func:`staff_actions` gave: only what they left out is explained, by catching the very
    checks they (and the actions) run, so the reasons cannot drift from the rules."""
    if not actor.active or not access.same_municipality(actor, application):
        return []
    if application.status == statuses.RETURNED:
        return [str(WAITING_FOR_CORRECTION)]
    try:
        service = service_of(application, registry)
    except ServiceUnavailable:
        return []  # the case page says so itself
    reasons: list[str] = []
    if application.status == statuses.APPROVED and HAND_OVER not in offered:
        try:
            check_may_hand_over(session, application, service, actor)
        except WorkflowError as exc:
            reasons.append(str(exc))
        return reasons
    step = current_step(application, service)
    if application.status not in AT_STEP or step is None:
        return reasons
    own = [action for action in (APPROVE, REJECT, RETURN) if action in step.actions]
    if own and not any(action in offered for action in own):
        try:
            check_can_act_on_step(session, application, step, actor)
        except WorkflowError as exc:
            # Not theirs to act on at all (role, department): taking it fails alike.
            return [str(exc)]
    if APPROVE in own and APPROVE not in offered:
        try:
            _check_not_own_work(session, application, step, actor)
            _check_paid(application, service)
        except WorkflowError as exc:
            reasons.append(str(exc))
    if TAKE not in offered and application.assignee_id not in (None, actor.user_id):
        try:
            _check_may_take(session, application, step, actor)
        except WorkflowError as exc:
            reasons.append(str(exc))
    return reasons


__all__ = [
    "ACTIONS",
    "CASE_ACTIONS",
    "HANDOVER_METHODS",
    "MAX_TEXT",
    "MAX_VERSION",
    "Actor",
    "ChangedMeanwhile",
    "InvalidAction",
    "InvalidInput",
    "NotAllowed",
    "ServiceUnavailable",
    "TransitionVetoed",
    "WorkflowError",
    "act",
    "activation_department_id",
    "allowed_actions",
    "approve",
    "approves_finally",
    "check_can_act_on_step",
    "check_may_hand_over",
    "check_step_right",
    "comment",
    "commit",
    "current_step",
    "department_names",
    "departments_read",
    "extend_deadline",
    "hand_over",
    "history",
    "history_names",
    "new_application",
    "next_step",
    "open_suspension",
    "reassign",
    "reject",
    "responsible_department_id",
    "resubmit",
    "return_for_correction",
    "service_of",
    "staff_actions",
    "submit",
    "take",
    "unavailable_reasons",
    "withdraw",
]
