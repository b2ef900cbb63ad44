"""What Hamaynk tells people about their applications, questions and accounts, and in which words.

:func:`emit` is the one way to write a notice: it picks the recipient's channels (what the
citizen chose in their profile, e-mail always for essential events, nothing optional for
someone who unsubscribed), renders the event's text in the recipient's language (the most
specific :class:`~app.models.NotificationText` override, else the built-in text) and adds
one outbox row (:class:`~app.models.Notification`) per channel to the caller's session. The
caller commits them together with the change that caused them; rows of channels that send
(e-mail, SMS, plug-ins) are then enqueued for delivery by the session's after-commit
listener (app.jobs), so no caller enqueues by hand.

Texts are ``str.format`` templates with named placeholders (``{tracking_number}``,
``{service}``, ``{status}``, ``{link}``, ``{what_to_fix}``, ``{excerpt}``, …). A placeholder
a text names but the event does not know is left as it is, and a broken template is shown
as written: an administrator's typo never stops a workflow action.
"""

from __future__ import annotations

import datetime as dt
import logging
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.domain import access, notifications
from app.domain.access import Actor
from app.domain.declarations import pick
from app.domain.notifications import EMAIL, INAPP, SMS, NotificationChannel
from app.models import Application, Notification, TransitionRecord, User
from app.models.base import utcnow
from app.models.portal import CitizenProfile, NotificationText

if TYPE_CHECKING:
    from app.domain.declarations import Service

log = logging.getLogger(__name__)

# -- events -------------------------------------------------------------------------------------

SUBMITTED = "submitted"
STEP_CHANGED = "step_changed"
RETURNED = "returned"
DECIDED = "decided"
HANDED_OVER = "handed_over"
WITHDRAWN = "withdrawn"
QUESTION_ASKED = "question_asked"
QUESTION_ANSWERED = "question_answered"
POLL_OPENED = "poll_opened"
# E-participation (app.domain.participation.announcements): a budget vote or a consultation
# opened, a poll's or budget vote's results are out, a consultation's summary was published.
BUDGET_OPENED = "budget_opened"
CONSULTATION_OPENED = "consultation_opened"
RESULTS_PUBLISHED = "results_published"
SUMMARY_PUBLISHED = "summary_published"
# A citizen's proposal moved to review or was found (un)feasible (app.domain.participation.proposals).
PROPOSAL_STATUS = "proposal_status"
# The moderator hid a citizen's comment on a consultation; the author is told why.
COMMENT_HIDDEN = "comment_hidden"
ACCOUNT_VERIFY = "account_verify"
PASSWORD_RESET = "password_reset"  # noqa: S105 - an event name

EVENTS = (
    SUBMITTED,
    STEP_CHANGED,
    RETURNED,
    DECIDED,
    HANDED_OVER,
    WITHDRAWN,
    QUESTION_ASKED,
    QUESTION_ANSWERED,
    POLL_OPENED,
    BUDGET_OPENED,
    CONSULTATION_OPENED,
    RESULTS_PUBLISHED,
    SUMMARY_PUBLISHED,
    PROPOSAL_STATUS,
    COMMENT_HIDDEN,
    ACCOUNT_VERIFY,
    PASSWORD_RESET,
)
# Always sent by e-mail when the person has an address, whatever channels they chose.
ESSENTIAL = frozenset({ACCOUNT_VERIFY, PASSWORD_RESET, RETURNED, DECIDED})
# Not sent on any sending channel once the citizen unsubscribed (optional_notices False);
# their e-mails carry an unsubscribe link.
NON_ESSENTIAL = notifications.OPTIONAL_KINDS
assert {
    POLL_OPENED,
    BUDGET_OPENED,
    CONSULTATION_OPENED,
    RESULTS_PUBLISHED,
    SUMMARY_PUBLISHED,
    STEP_CHANGED,
} == NON_ESSENTIAL
# Carry a secret link: e-mail only, never on the bell or a plug-in channel.
ACCOUNT_EVENTS = frozenset({ACCOUNT_VERIFY, PASSWORD_RESET})

# Channels of someone without a citizen profile (staff, a walk-in's address).
DEFAULT_CHANNELS = (EMAIL, INAPP)

# The words of each event, in English source text translated into the recipient's language.
# ``{link}`` is the whole address of the page to open; see the module docstring for the rest.
BUILTIN: dict[str, tuple[Any, Any]] = {
    SUBMITTED: (
        _l("Application {tracking_number} received"),
        _l(
            "Your application for \u201c{service}\u201d was received with the tracking number "
            "{tracking_number}.\n\nFollow it here: {link}"
        ),
    ),
    STEP_CHANGED: (
        _l("Application {tracking_number}: {status}"),
        _l("Your application {tracking_number} for \u201c{service}\u201d moved on: {status}.\n\nSee it here: {link}"),
    ),
    RETURNED: (
        _l("Application {tracking_number}: please correct it"),
        _l(
            "Your application {tracking_number} for \u201c{service}\u201d was returned for correction.\n\n"
            "What to fix:\n{what_to_fix}\n\nCorrect and resubmit it here: {link}"
        ),
    ),
    DECIDED: (
        _l("Application {tracking_number}: {decision}"),
        _l(
            "A decision was made on your application {tracking_number} for \u201c{service}\u201d: "
            "{decision}.\n{reason}\n\nSee it here: {link}"
        ),
    ),
    HANDED_OVER: (
        _l("Application {tracking_number}: result handed over"),
        _l(
            "The result of your application {tracking_number} for \u201c{service}\u201d was handed over "
            "({method}).\n\nSee it here: {link}"
        ),
    ),
    WITHDRAWN: (
        _l("Application {tracking_number} withdrawn"),
        _l("Your application {tracking_number} for \u201c{service}\u201d was withdrawn.\n\nSee it here: {link}"),
    ),
    QUESTION_ASKED: (
        _l("New question: {subject}"),
        _l("A citizen asked a question: \u201c{subject}\u201d.\n\n{excerpt}\n\nAnswer it here: {link}"),
    ),
    QUESTION_ANSWERED: (
        _l("Your question was answered: {subject}"),
        _l("Your question \u201c{subject}\u201d was answered:\n\n{excerpt}\n\nRead the answer here: {link}"),
    ),
    POLL_OPENED: (
        _l("New poll: {title}"),
        _l("{municipality} asks for your opinion: \u201c{title}\u201d.\n\nTake part here: {link}"),
    ),
    BUDGET_OPENED: (
        _l("Choose the projects to fund: {title}"),
        _l(
            "{municipality} asks its residents to choose which projects to fund: \u201c{title}\u201d.\n\n"
            "Vote here: {link}"
        ),
    ),
    CONSULTATION_OPENED: (
        _l("Have your say on a draft decision: {title}"),
        _l(
            "{municipality} asks for comments on a draft decision: \u201c{title}\u201d.\n\n"
            "Read the draft and comment here: {link}"
        ),
    ),
    RESULTS_PUBLISHED: (
        _l("Results are out: {title}"),
        _l(
            "Voting on \u201c{title}\u201d ({municipality}) has closed and the results are published.\n\n"
            "See them here: {link}"
        ),
    ),
    SUMMARY_PUBLISHED: (
        _l("What changed after the consultation: {title}"),
        _l(
            "{municipality} published what changed in the draft \u201c{title}\u201d after the consultation, "
            "and why.\n\nRead the summary here: {link}"
        ),
    ),
    COMMENT_HIDDEN: (
        _l("Your comment was hidden: {title}"),
        _l(
            "The moderator hid your comment on the draft \u201c{title}\u201d.\n\nReason: {reason}\n\n"
            "Your comment: \u201c{excerpt}\u201d\n\nSee the consultation here: {link}"
        ),
    ),
    PROPOSAL_STATUS: (
        _l("Your proposal: {decision}"),
        _l("Your proposal \u201c{title}\u201d to {municipality}: {decision}.\n{reason}\n\nSee it here: {link}"),
    ),
    ACCOUNT_VERIFY: (
        _l("Confirm your e-mail address"),
        _l(
            "Open this link to confirm your e-mail address for your Hamaynk account:\n{link}\n\n"
            "If you did not create an account, ignore this message."
        ),
    ),
    PASSWORD_RESET: (
        _l("Reset your password"),
        _l(
            "Open this link to choose a new password for your Hamaynk account:\n{link}\n\n"
            "If you did not ask for this, ignore this message: your password stays as it is."
        ),
    ),
}

UNSUBSCRIBE_FOOTER = _l("You get this because of your notice settings. To stop notices like this one: {url}")


# -- safe templates -----------------------------------------------------------------------------


class _SafeFormatter(string.Formatter):
    """``str.format_map`` that never raises for a template's sake: a placeholder that is not a
    known plain name (``{unknown}``, ``{0}``, ``{x.attr}``, ``{x[0]}``) stays as written, and
    a bad format spec shows the value without it."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def render(self, template: str) -> str:
        try:
            parsed = list(self.parse(template))
        except ValueError:
            return template  # unbalanced braces: show the text as written
        out: list[str] = []
        for literal, name, spec, conversion in parsed:
            out.append(literal)
            if name is None:
                continue
            if name.isidentifier() and name in self.values:
                value = self.values[name]
                try:
                    out.append(format(value, spec or "") if spec else str(value))
                except (ValueError, TypeError):
                    out.append(str(value))
            else:
                original = "{" + name + ("!" + conversion if conversion else "") + (":" + spec if spec else "") + "}"
                out.append(original)
        return "".join(out)


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with its known ``{name}`` placeholders filled in; everything else as written."""
    return _SafeFormatter(values).render(str(template))


# -- recipients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    user_id: int | None
    email: str | None
    phone: str | None
    language: str
    channels: tuple[str, ...]
    optional_notices: bool
    # A citizen account (it has a profile): may unsubscribe, reads notices on /my/notices/.
    citizen: bool


def _profile(session: Session, user_id: int) -> CitizenProfile | None:
    return session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user_id)).scalar_one_or_none()


def recipient(session: Session, user_id: int, config: Mapping[str, Any]) -> Recipient | None:
    user = session.get(User, user_id)
    if user is None:
        return None
    default = notifications.recipient_language(session, user_id, config.get("BABEL_DEFAULT_LOCALE") or "hy")
    profile = _profile(session, user_id)
    email = (user.email or "").strip() or None
    if profile is None:
        return Recipient(user.id, email, None, default, DEFAULT_CHANNELS, True, False)
    language = profile.language if profile.language in notifications.LANGUAGES else default
    chosen = tuple(str(c) for c in (profile.channels or ()) if isinstance(c, str))
    return Recipient(
        user.id,
        email,
        (profile.phone or "").strip() or None,
        language,
        chosen,
        bool(profile.optional_notices),
        True,
    )


def _address_for(person: Recipient, channel: NotificationChannel) -> str | None:
    if channel.address == "email":
        return person.email
    if channel.address == "phone":
        return person.phone
    return None


def pick_channels(
    event: str,
    person: Recipient,
    catalogue: Mapping[str, NotificationChannel],
    requested: Sequence[str] | None = None,
) -> list[tuple[NotificationChannel, str | None]]:
    """The channels (and addresses) an ``event`` goes to ``person`` on, in catalogue order."""
    if requested is not None:
        wanted = list(requested)
    elif event in ACCOUNT_EVENTS:
        wanted = [EMAIL]
    else:
        wanted = list(person.channels)
        if event in NON_ESSENTIAL and not person.optional_notices:
            # Unsubscribed: only the bell, which sends nothing.
            wanted = [c for c in wanted if c in catalogue and catalogue[c].send is None]
        if event in ESSENTIAL and EMAIL not in wanted:
            wanted.append(EMAIL)
    chosen: list[tuple[NotificationChannel, str | None]] = []
    for key in catalogue:
        if key not in wanted:
            continue
        channel = catalogue[key]
        if event in ESSENTIAL and not channel.essential and key != EMAIL:
            continue
        address = _address_for(person, channel)
        if channel.address is not None and not address:
            continue
        if channel.address is None and person.user_id is None:
            continue  # nobody to show an in-app notice to
        chosen.append((channel, address))
    return chosen


# -- texts --------------------------------------------------------------------------------------


def override(
    session: Session, *, event: str, language: str, municipality_id: int | None, service_key: str | None
) -> NotificationText | None:
    """The most specific override of ``event``'s text in ``language``: municipality + service,
    municipality, service, install-wide; ``None`` when there is none."""
    stmt = select(NotificationText).where(NotificationText.event == event, NotificationText.language == language)
    stmt = stmt.where(
        or_(NotificationText.service_key.is_(None), NotificationText.service_key == service_key)
        if service_key
        else NotificationText.service_key.is_(None)
    )
    stmt = access.notification_texts(stmt, municipality_id)
    rows = session.execute(stmt).scalars().all()

    def rank(row: NotificationText) -> int:
        return (0 if row.municipality_id is not None else 2) + (0 if row.service_key else 1)

    return min(rows, key=rank, default=None)


def texts(
    session: Session,
    *,
    event: str,
    language: str,
    municipality_id: int | None,
    service_key: str | None,
    values: Mapping[str, Any],
) -> tuple[str, str]:
    """Subject and body of ``event`` in ``language``, placeholders filled from ``values``."""
    row = override(session, event=event, language=language, municipality_id=municipality_id, service_key=service_key)
    with force_locale(language):
        if row is not None:
            subject_template, body_template = row.subject, row.body
        else:
            subject_source, body_source = BUILTIN.get(event, ("{subject}", "{body}"))
            subject_template, body_template = str(subject_source), str(body_source)
        subject = render_template(subject_template, values)
        body = render_template(body_template, values)
    return " ".join(subject.split())[:300], body


# -- links ------------------------------------------------------------------------------------

public_url = notifications.public_url
unsubscribe_token = notifications.unsubscribe_token
user_of_unsubscribe_token = notifications.user_of_unsubscribe_token
unsubscribe_url = notifications.unsubscribe_url
BadToken = notifications.BadToken


def application_path(application: Application, *, has_account: bool) -> str:
    """Where the applicant follows the application: their page, or the public look-up."""
    return f"/my/applications/{application.id}" if has_account else "/track"


def unsubscribe(session: Session, user_id: int) -> bool:
    """Stop notices that are not essential for ``user_id``; ``False`` when they have no profile.
    The caller commits."""
    profile = _profile(session, user_id)
    if profile is None:
        return False
    profile.optional_notices = False
    return True


# -- writing ------------------------------------------------------------------------------------


def _values(
    *,
    application: Application | None,
    service: Service | None,
    language: str,
    has_account: bool,
    config: Mapping[str, Any],
    context: Mapping[str, Any],
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if application is not None:
        values["tracking_number"] = application.tracking_number
        values["service"] = pick(service.title, language) if service is not None else application.service_key
        values["link"] = public_url(config, application_path(application, has_account=has_account))
        values["applicant"] = application.applicant_name
    elif service is not None:
        values["service"] = pick(service.title, language)
    for key, value in context.items():
        if key == "path":
            values["link"] = public_url(config, str(value))
        elif isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
            values[key] = pick(value, language)  # a text per language
        elif value is not None:
            values[key] = str(value)
    values.setdefault("link", public_url(config, "/my/notices/"))
    for name in ("what_to_fix", "reason", "excerpt", "status", "decision", "method", "subject", "title"):
        values.setdefault(name, "")
    return values


def emit(
    session: Session,
    *,
    event: str,
    user_id: int | None,
    municipality_id: int | None,
    config: Mapping[str, Any],
    application: Application | None = None,
    service: Service | None = None,
    context: Mapping[str, Any] | None = None,
    dedup: str | None = None,
    channels: Sequence[str] | None = None,
    address: str | None = None,
    language: str | None = None,
    catalogue: Mapping[str, NotificationChannel] | None = None,
) -> list[Notification]:
    """Write ``event``'s notices to one person in the caller's transaction; returns the rows.

    The person is ``user_id`` (their profile's language and channels), or — for a walk-in
    applicant without an account — the e-mail ``address`` (written in ``language``, default
    the install's). ``context`` fills the text's placeholders (a mapping per language is
    picked in the recipient's language; ``path`` becomes ``{link}`` on the public address);
    ``dedup`` (unique per cause) keeps a repeated run from writing twice; ``channels``
    replaces the person's choice; ``catalogue`` is the install's channels (default: the ones
    the app registered on the session, else the built-in ones).
    """
    context = dict(context or {})
    catalogue = catalogue if catalogue is not None else channel_catalogue(session)
    if user_id is not None:
        person = recipient(session, user_id, config)
        if person is None:
            return []
    elif address and address.strip():
        default = config.get("BABEL_DEFAULT_LOCALE") or "hy"
        lang = language if language in notifications.LANGUAGES else default
        person = Recipient(None, address.strip(), None, lang, (EMAIL,), True, False)
    else:
        return []
    chosen = pick_channels(event, person, catalogue, channels)
    if not chosen:
        return []
    values = _values(
        application=application,
        service=service,
        language=person.language,
        has_account=person.user_id is not None
        and application is not None
        and application.applicant_user_id == person.user_id,
        config=config,
        context=context,
    )
    subject, body = texts(
        session,
        event=event,
        language=person.language,
        municipality_id=municipality_id,
        service_key=application.service_key if application is not None else getattr(service, "key", None),
        values=values,
    )
    if event in NON_ESSENTIAL and person.citizen and person.user_id is not None:
        with force_locale(person.language):
            footer = render_template(str(UNSUBSCRIBE_FOOTER), {"url": unsubscribe_url(config, person.user_id)})
    else:
        footer = ""
    now = utcnow()
    rows: list[Notification] = []
    who = person.user_id if person.user_id is not None else (person.email or "").lower()
    for channel, to in chosen:
        sends = channel.send is not None
        text = body + ("\n\n-- \n" + footer if footer and channel.key == EMAIL else "")
        row = Notification(
            municipality_id=municipality_id,
            kind=event,
            channel=channel.key,
            recipient_user_id=person.user_id,
            recipient_address=to,
            language=person.language,
            subject=subject,
            body=text,
            application_id=application.id if application is not None else None,
            dedup_key=f"{dedup}:{channel.key}:{who}"[:255] if dedup else None,
            status=notifications.PENDING if sends else notifications.SENT,
            sent_at=None if sends else now,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


# -- the application's events ------------------------------------------------------------------

HANDOVER_WORDS = {
    "in_person": _l("in person"),
    "post": _l("by post"),
    "online": _l("online"),
}
REASON = _l("Reason: {reason}")


def _each_language(make: Callable[[str], str]) -> dict[str, str]:
    out = {}
    for language in notifications.LANGUAGES:
        with force_locale(language):
            out[language] = make(language)
    return out


def _status_words(session: Session, application: Application, service: Service | None) -> tuple[dict, dict, dict]:
    """The application's status now, in citizen words per language: the status (with the step
    it waits at), the step's own text, and the status alone."""
    from app.domain import citizen_cases  # it imports the workflow, which imports this lazily

    found = access.status_texts_of(session, [(application.municipality_id, application.service_key)])
    overrides = found.get((application.municipality_id, application.service_key), {})

    def status(language: str) -> str:
        words = citizen_cases.words(application, service, overrides, language)
        return f"{words.text} \u2014 {words.step_title}" if words.step_title else words.text

    def step_text(language: str) -> str:
        return citizen_cases.words(application, service, overrides, language).step_text or ""

    def plain(language: str) -> str:
        return citizen_cases.status_text(service, overrides, application.status, language)

    return _each_language(status), _each_language(step_text), _each_language(plain)


def _what_to_fix(service: Service | None, record: TransitionRecord) -> dict[str, str]:
    details = record.details or {}
    fields = list(details.get("fields") or ())
    documents = list(details.get("documents") or ())
    labels = {spec.name: spec.label for spec in service.fields} if service else {}
    titles = {req.key: req.title for req in service.documents} if service else {}

    def make(language: str) -> str:
        lines = [f"- {pick(labels[k], language) if k in labels else k}" for k in fields]
        lines += [f"- {pick(titles[k], language) if k in titles else k}" for k in documents]
        if record.comment:
            lines.append(record.comment)
        return "\n".join(lines)

    return _each_language(make)


def workflow_event(
    session: Session, application: Application, service: Service | None, record: TransitionRecord
) -> list[Notification]:
    """Tell the applicant about a recorded workflow action (called by the workflow right after
    it wrote ``record``, in its transaction): submission, a step passed, a return for
    correction (naming what to fix), the decision, the hand-over, the withdrawal. Written to
    the applicant's account when they have one, else to the e-mail address they gave at the
    office (a walk-in: no step changes, they could not unsubscribe). Other actions tell
    nobody."""
    from app.domain import statuses, workflow

    action = record.action
    context: dict[str, Any] = {}
    if action == workflow.SUBMIT:
        event = SUBMITTED
    elif action == workflow.APPROVE and record.to_status == statuses.APPROVED:
        event = DECIDED
    elif action in (workflow.APPROVE, workflow.RESUBMIT):
        if (
            action == workflow.RESUBMIT
            and record.actor_id is not None
            and record.actor_id == application.applicant_user_id
        ):
            return []  # they know: they just did it
        event = STEP_CHANGED
    elif action == workflow.REJECT:
        event = DECIDED
        context["reason"] = _each_language(lambda _lang: render_template(str(REASON), {"reason": record.comment or ""}))
    elif action == workflow.RETURN:
        event = RETURNED
        context["what_to_fix"] = _what_to_fix(service, record)
    elif action == workflow.HAND_OVER:
        event = HANDED_OVER
        method = str((record.details or {}).get("method") or "")
        context["method"] = _each_language(lambda _lang: str(HANDOVER_WORDS.get(method, method)))
    elif action == workflow.WITHDRAW:
        event = WITHDRAWN
    else:
        return []
    status, step_text, plain = _status_words(session, application, service)
    context.setdefault("status", status)
    context.setdefault("step_text", step_text)
    context.setdefault("decision", plain)
    config = notifications.session_config(session)
    dedup = f"{event}:{application.id}:{record.id}"
    if application.applicant_user_id is not None:
        return emit(
            session,
            event=event,
            user_id=application.applicant_user_id,
            municipality_id=application.municipality_id,
            config=config,
            application=application,
            service=service,
            context=context,
            dedup=dedup,
        )
    if application.applicant_email and event != STEP_CHANGED:
        return emit(
            session,
            event=event,
            user_id=None,
            address=application.applicant_email,
            municipality_id=application.municipality_id,
            config=config,
            application=application,
            service=service,
            context=context,
            dedup=dedup,
        )
    return []


# -- the bell: a person's in-app notices ------------------------------------------------------


@dataclass(frozen=True)
class NoticePage:
    rows: list[Notification]
    unread: int
    page: int
    pages: int
    total: int


def unread_count(session: Session, actor: Actor | None) -> int:
    """How many of ``actor``'s in-app notices are unread (the bell's number)."""
    stmt = access.own_notices(actor, func.count(Notification.id)).where(Notification.read_at.is_(None))
    return int(session.execute(stmt).scalar_one())


def notices_page(session: Session, actor: Actor | None, page: int = 1, per_page: int = 20) -> NoticePage:
    """``actor``'s in-app notices, newest first, one page of them."""
    total = int(session.execute(access.own_notices(actor, func.count(Notification.id))).scalar_one())
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    stmt = (
        access.own_notices(actor)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    rows = list(session.execute(stmt).scalars())
    return NoticePage(rows, unread_count(session, actor), page, pages, total)


def mark_read(session: Session, actor: Actor | None, notice_id: int | None = None) -> int:
    """Mark one of ``actor``'s notices read (``notice_id``), or all of them (``None``); returns
    how many changed. Another person's notice raises :class:`~app.domain.access.NotFound`.
    The caller commits."""
    now = utcnow()
    if notice_id is not None:
        notice = access.get_own_notice(session, actor, notice_id)
        if notice.read_at is not None:
            return 0
        notice.read_at = now
        return 1
    unread = session.execute(access.own_notices(actor).where(Notification.read_at.is_(None))).scalars().all()
    for notice in unread:
        notice.read_at = now
    return len(unread)


# -- what staff see on the case page ----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    id: int
    kind: str
    channel: str
    channel_label: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    last_attempt_at: dt.datetime | None


STATUS_LABELS = {
    notifications.PENDING: _l("Pending"),
    notifications.SENDING: _l("Sending"),
    notifications.SENT: _l("Sent"),
    notifications.FAILED: _l("Failed"),
}
KIND_LABELS = {
    SUBMITTED: _l("Submitted"),
    STEP_CHANGED: _l("Step changed"),
    RETURNED: _l("Returned for correction"),
    DECIDED: _l("Decision"),
    HANDED_OVER: _l("Handed over"),
    WITHDRAWN: _l("Withdrawn"),
    QUESTION_ASKED: _l("Question asked"),
    QUESTION_ANSWERED: _l("Question answered"),
    POLL_OPENED: _l("Poll opened"),
    BUDGET_OPENED: _l("Budget vote opened"),
    CONSULTATION_OPENED: _l("Consultation opened"),
    RESULTS_PUBLISHED: _l("Results published"),
    SUMMARY_PUBLISHED: _l("Consultation summary published"),
    PROPOSAL_STATUS: _l("Proposal status"),
    "escalation": _l("Escalation"),
}


def _masked_address(address: str | None, show: bool) -> str:
    if not address:
        return ""
    if show:
        return address
    if "@" in address:
        local, _at, domain = address.partition("@")
        return f"{local[:1]}\u2022\u2022\u2022@{domain}"
    return "\u2022" * max(0, len(address) - 2) + address[-2:]


LOG_ONLY = _l("log only: no SMS gateway is installed")


def _channel_label(channel: NotificationChannel, language: str) -> str:
    note = str(LOG_ONLY) if channel is notifications.LOG_ONLY_SMS else channel.note
    return pick(channel.label, language) + (f" ({note})" if note else "")


def deliveries(
    session: Session,
    application: Application,
    actor: Actor | None,
    language: str,
    catalogue: Mapping[str, NotificationChannel] | None = None,
) -> list[Delivery]:
    """The notifications about ``application`` (loaded through a loader) and how their
    delivery went, for its case page. Addresses are shown whole to the caseworkers who may
    see the applicant's personal data, masked to everyone else."""
    catalogue = catalogue if catalogue is not None else channel_catalogue(session)
    show = access.may_see_personal_data(actor, application)
    out = []
    for row in access.notifications_of(session, application):
        channel = catalogue.get(row.channel)
        if row.recipient_address:
            recipient = _masked_address(row.recipient_address, show)
        elif row.recipient_user_id is not None:
            recipient = str(_l("account #%(id)s", id=row.recipient_user_id))
        else:
            recipient = ""
        out.append(
            Delivery(
                id=row.id,
                kind=str(KIND_LABELS.get(row.kind, row.kind)),
                channel=row.channel,
                channel_label=_channel_label(channel, language) if channel is not None else row.channel,
                recipient=recipient,
                status=row.status,
                attempts=row.attempts,
                last_error=row.last_error,
                created_at=row.created_at,
                sent_at=row.sent_at,
                last_attempt_at=row.last_attempt_at,
            )
        )
    return out


def channel_catalogue(session: Session) -> Mapping[str, NotificationChannel]:
    """The channels the app registered on this session (app.jobs does), else the built-in ones."""
    return notifications.session_catalogue(session)


__all__ = [
    "ACCOUNT_EVENTS",
    "ACCOUNT_VERIFY",
    "BUDGET_OPENED",
    "BUILTIN",
    "CONSULTATION_OPENED",
    "DECIDED",
    "ESSENTIAL",
    "EVENTS",
    "HANDED_OVER",
    "NON_ESSENTIAL",
    "PASSWORD_RESET",
    "POLL_OPENED",
    "PROPOSAL_STATUS",
    "QUESTION_ANSWERED",
    "QUESTION_ASKED",
    "RESULTS_PUBLISHED",
    "RETURNED",
    "SMS",
    "STEP_CHANGED",
    "SUBMITTED",
    "SUMMARY_PUBLISHED",
    "WITHDRAWN",
    "BadToken",
    "Delivery",
    "NoticePage",
    "Recipient",
    "deliveries",
    "emit",
    "mark_read",
    "notices_page",
    "override",
    "pick_channels",
    "recipient",
    "render_template",
    "texts",
    "unread_count",
    "unsubscribe",
    "unsubscribe_token",
    "user_of_unsubscribe_token",
    "workflow_event",
]
