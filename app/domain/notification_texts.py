"""A municipality's own words for the notices Hamaynk sends: the admin screen's domain.

:mod:`app.domain.citizen_notices` writes every notice with the most specific
:class:`~app.models.portal.NotificationText` of its event and language (municipality +
service, municipality, service, install-wide) or else the built-in text. This module lets
an administrator see, check, preview, save and reset those texts without SQL:

* a municipal administrator edits the texts of their own municipality, for every service or
  for one service it offers;
* a system administrator edits any municipality's, and the install-wide texts
  (``municipality_id`` NULL), which every municipality falls back to;
* an auditor of the municipality reads them.

Texts are checked here (:func:`check`): a subject and a body are required, at most
:data:`MAX_SUBJECT` and :data:`MAX_BODY` characters; a placeholder the event does not fill in
is a warning, not an error (the safe formatter leaves it in the text), and so are unbalanced
braces. The preview renders the text through the same
:func:`~app.domain.citizen_notices.render_template` as a real notice, with sample values.
Every save and reset is written to the audit log. The caller commits.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.domain import access, audit, citizen_notices, notifications, roles
from app.domain.access import Actor
from app.domain.activations import catalogue
from app.domain.citizen_notices import (
    ACCOUNT_VERIFY,
    BUDGET_OPENED,
    COMMENT_HIDDEN,
    CONSULTATION_OPENED,
    DECIDED,
    HANDED_OVER,
    PASSWORD_RESET,
    POLL_OPENED,
    PROPOSAL_STATUS,
    QUESTION_ANSWERED,
    RESULTS_PUBLISHED,
    RETURNED,
    STEP_CHANGED,
    SUBMITTED,
    SUMMARY_PUBLISHED,
    WITHDRAWN,
    render_template,
)
from app.domain.declarations import pick
from app.models.portal import NotificationText

if TYPE_CHECKING:
    from app.plugins.registry import ServiceRegistry

MAX_SUBJECT = 300
# A notice is read on a phone: a few screens of text at most (SMS sends the first part).
MAX_BODY = 5000
LANGUAGES: tuple[str, ...] = tuple(notifications.LANGUAGES)

# The events about an application: a text may be one service's own.
APPLICATION_EVENTS = (SUBMITTED, STEP_CHANGED, RETURNED, DECIDED, HANDED_OVER, WITHDRAWN)
# What citizens receive from a municipality (a question to staff, QUESTION_ASKED, is not).
# E-participation's announcements (app.domain.participation.announcements).
PARTICIPATION_EVENTS = (POLL_OPENED, BUDGET_OPENED, CONSULTATION_OPENED, RESULTS_PUBLISHED, SUMMARY_PUBLISHED)
MUNICIPAL_EVENTS = (*APPLICATION_EVENTS, QUESTION_ANSWERED, *PARTICIPATION_EVENTS, PROPOSAL_STATUS, COMMENT_HIDDEN)
# Account e-mails are sent on behalf of the whole install (no municipality): only the
# install-wide texts apply to them.
INSTALL_EVENTS = (*MUNICIPAL_EVENTS, ACCOUNT_VERIFY, PASSWORD_RESET)

EVENT_LABELS: dict[str, Any] = {
    SUBMITTED: _l("Application received"),
    STEP_CHANGED: _l("Application moved to the next step"),
    RETURNED: _l("Application returned for correction"),
    DECIDED: _l("Decision made"),
    HANDED_OVER: _l("Result handed over"),
    WITHDRAWN: _l("Application withdrawn"),
    QUESTION_ANSWERED: _l("Question answered"),
    POLL_OPENED: _l("Poll opened"),
    BUDGET_OPENED: _l("Budget vote opened"),
    CONSULTATION_OPENED: _l("Consultation opened"),
    RESULTS_PUBLISHED: _l("Results of a poll or budget vote published"),
    SUMMARY_PUBLISHED: _l("Consultation summary published"),
    PROPOSAL_STATUS: _l("Proposal reviewed"),
    COMMENT_HIDDEN: _l("Comment hidden by the moderator"),
    ACCOUNT_VERIFY: _l("Confirm the e-mail address"),
    PASSWORD_RESET: _l("Reset the password"),
}
EVENT_HINTS: dict[str, Any] = {
    SUBMITTED: _l("Sent when an application is filed, online or at the office."),
    STEP_CHANGED: _l("Sent when an application passes a step of its workflow (citizens may turn these off)."),
    RETURNED: _l("Sent when staff return an application to the applicant to correct it."),
    DECIDED: _l("Sent when an application is approved or rejected."),
    HANDED_OVER: _l("Sent when the result is handed over to the applicant."),
    WITHDRAWN: _l("Sent when an application is withdrawn."),
    QUESTION_ANSWERED: _l("Sent when staff answer a citizen's question."),
    POLL_OPENED: _l("Sent when a poll opens (citizens may turn these off)."),
    BUDGET_OPENED: _l(
        "Sent to the residents who may vote when a participatory-budget vote opens (citizens may turn these off)."
    ),
    CONSULTATION_OPENED: _l(
        "Sent to the residents who may comment when a consultation on a draft decision opens "
        "(citizens may turn these off)."
    ),
    RESULTS_PUBLISHED: _l(
        "Sent to the residents who could vote when a poll or budget vote closes and its results are out "
        "(citizens may turn these off)."
    ),
    SUMMARY_PUBLISHED: _l(
        "Sent to the residents who could comment when the summary of a consultation is published "
        "(citizens may turn these off)."
    ),
    PROPOSAL_STATUS: _l(
        "Sent to a proposal's author when it gathers enough support to be reviewed, and when staff find it "
        "feasible or not."
    ),
    COMMENT_HIDDEN: _l("Sent to a comment's author when the moderator hides it from a consultation, with the reason."),
    ACCOUNT_VERIFY: _l("Sent when someone creates an account: the link confirms their e-mail address."),
    PASSWORD_RESET: _l("Sent when someone asks to choose a new password."),
}

PLACEHOLDER_HINTS: dict[str, Any] = {
    "tracking_number": _l("the application's tracking number"),
    "service": _l("the service's title"),
    "status": _l("the status now, with the step the application waits at"),
    "step_text": _l("what happens at that step"),
    "decision": _l("the status alone, such as \u201cApproved\u201d"),
    "reason": _l("the reason of a rejection"),
    "what_to_fix": _l("what the applicant has to correct, one item per line"),
    "method": _l("how the result was handed over"),
    "applicant": _l("the applicant's name"),
    "subject": _l("the question's subject"),
    "excerpt": _l("the beginning of the answer"),
    "title": _l("the poll's title"),
    "municipality": _l("the municipality's name"),
    "link": _l("the whole address of the page to open"),
}

_APPLICATION = ("tracking_number", "service", "status", "step_text", "decision", "applicant", "link")
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    SUBMITTED: _APPLICATION,
    STEP_CHANGED: _APPLICATION,
    RETURNED: (*_APPLICATION, "what_to_fix"),
    DECIDED: (*_APPLICATION, "reason"),
    HANDED_OVER: (*_APPLICATION, "method"),
    WITHDRAWN: _APPLICATION,
    QUESTION_ANSWERED: ("subject", "excerpt", "link"),
    POLL_OPENED: ("title", "municipality", "link"),
    BUDGET_OPENED: ("title", "municipality", "link"),
    CONSULTATION_OPENED: ("title", "municipality", "link"),
    RESULTS_PUBLISHED: ("title", "municipality", "link"),
    SUMMARY_PUBLISHED: ("title", "municipality", "link"),
    PROPOSAL_STATUS: ("title", "municipality", "decision", "reason", "link"),
    COMMENT_HIDDEN: ("title", "reason", "excerpt", "link"),
    ACCOUNT_VERIFY: ("link",),
    PASSWORD_RESET: ("link",),
}
assert set(PLACEHOLDERS) == set(INSTALL_EVENTS) == set(EVENT_LABELS) == set(EVENT_HINTS)
assert {name for names in PLACEHOLDERS.values() for name in names} <= set(PLACEHOLDER_HINTS)

# Where each text stands in the order citizen_notices.override picks them.
OWN = "own"  # this level's own text (the row the screen edits)
MUNICIPALITY = "municipality"  # the municipality's text for every service
INSTALL_SERVICE = "install_service"  # the install-wide text of the service
INSTALL = "install"  # the install-wide text for every service
BUILT_IN = "builtin"  # Hamaynk's own words
SOURCE_LABELS: dict[str, Any] = {
    OWN: _l("Own text"),
    MUNICIPALITY: _l("The municipality's text for every service"),
    INSTALL_SERVICE: _l("The install-wide text for this service"),
    INSTALL: _l("The install-wide text"),
    BUILT_IN: _l("Built-in text"),
}


class NotAllowed(PermissionError):
    """The actor may not read or change the texts of this level (403)."""


class InvalidText(ValueError):
    """What was asked cannot be saved; ``errors`` maps a field (``event``, ``language``,
    ``service``, ``subject``, ``body``) to a message for the person, in their language."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Level:
    """Whose texts: one municipality's (``municipality_id``) or the install's (``None``), for
    every service (``service_key`` None) or one."""

    municipality_id: int | None
    service_key: str | None = None


@dataclass(frozen=True)
class ServiceChoice:
    key: str
    title: Mapping[str, str]


@dataclass(frozen=True)
class Checked:
    """What :func:`check` found: errors stop a save, warnings do not."""

    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cell:
    language: str
    source: str  # OWN, MUNICIPALITY, INSTALL_SERVICE, INSTALL or BUILT_IN
    subject: str  # the subject template in effect, as written


@dataclass(frozen=True)
class EventRow:
    event: str
    cells: list[Cell]

    @property
    def label(self) -> str:
        return str(EVENT_LABELS[self.event])

    @property
    def hint(self) -> str:
        return str(EVENT_HINTS[self.event])


# -- who may ----------------------------------------------------------------------------------


def may_edit(actor: Actor | None, municipality_id: int | None) -> bool:
    """A system administrator edits every level; a municipal administrator their own
    municipality's texts."""
    if actor is None or not actor.active:
        return False
    if actor.is_system_admin:
        return True
    return municipality_id is not None and access.staff_of(actor, municipality_id) and actor.has(roles.MUNICIPAL_ADMIN)


def may_read(actor: Actor | None, municipality_id: int | None) -> bool:
    """Who edits, and the municipality's auditors."""
    if may_edit(actor, municipality_id):
        return True
    return municipality_id is not None and access.staff_of(actor, municipality_id) and actor.has(roles.AUDITOR)


def _require(allowed: bool) -> None:
    if not allowed:
        raise NotAllowed


# -- what there is to edit ----------------------------------------------------------------------


def events_for(level: Level) -> tuple[str, ...]:
    """The events whose texts this level may set."""
    if level.service_key is not None:
        return APPLICATION_EVENTS
    return INSTALL_EVENTS if level.municipality_id is None else MUNICIPAL_EVENTS


def services_for(
    session: Session, registry: ServiceRegistry, actor: Actor | None, municipality_id: int | None
) -> list[ServiceChoice]:
    """The services a text of ``municipality_id`` may be for, sorted by key: those the
    municipality offers now, and those it has texts for (so they can be reset); for the
    install, every service not built by one municipality."""
    _require(may_read(actor, municipality_id))
    if municipality_id is None:
        found = [r for r in registry.latest() if r.municipality_id is None]
        return sorted((ServiceChoice(r.key, r.service.title) for r in found), key=lambda s: s.key)
    with_texts = {row.service_key for row in _rows(session, actor, municipality_id) if row.service_key}
    choices = [
        ServiceChoice(o.registered.key, o.registered.service.title)
        for o in catalogue(session, registry, municipality_id)
        if o.enabled or o.registered.key in with_texts
    ]
    return sorted(choices, key=lambda s: s.key)


def builtin(event: str, language: str) -> tuple[str, str]:
    """The built-in subject and body of ``event`` in ``language`` (placeholders as written)."""
    subject, body = citizen_notices.BUILTIN[event]
    with force_locale(language):
        return str(subject), str(body)


def placeholders(event: str) -> list[tuple[str, str]]:
    """``(name, what it is)`` of each placeholder ``event`` fills in, in the current language."""
    return [(name, str(PLACEHOLDER_HINTS[name])) for name in PLACEHOLDERS.get(event, ())]


def _rows(session: Session, actor: Actor | None, municipality_id: int | None) -> list[NotificationText]:
    stmt = access.notification_texts_of(actor, municipality_id).order_by(NotificationText.id)
    return list(session.execute(stmt).scalars())


def _source(row: NotificationText, level: Level) -> str:
    if row.municipality_id == level.municipality_id and row.service_key == level.service_key:
        return OWN
    if row.municipality_id is not None:
        return MUNICIPALITY
    return INSTALL_SERVICE if row.service_key else INSTALL


def _in_effect(rows: Sequence[NotificationText], level: Level, event: str, language: str) -> NotificationText | None:
    # The order citizen_notices.override picks in, limited to this level and the ones above it.
    def fits(row: NotificationText) -> bool:
        return (
            row.event == event
            and row.language == language
            and row.municipality_id in (None, level.municipality_id)
            and row.service_key in (None, level.service_key)
        )

    def rank(row: NotificationText) -> tuple[int, int]:
        return (0 if row.municipality_id is not None else 2) + (0 if row.service_key else 1), row.id

    return min(filter(fits, rows), key=rank, default=None)


def overview(session: Session, actor: Actor | None, level: Level) -> list[EventRow]:
    """For each event of ``level`` and each language: which text a notice gets now (this
    level's own, one it falls back to, or the built-in one) and its subject."""
    _require(may_read(actor, level.municipality_id))
    rows = _rows(session, actor, level.municipality_id)
    out = []
    for event in events_for(level):
        cells = []
        for language in LANGUAGES:
            row = _in_effect(rows, level, event, language)
            if row is None:
                cells.append(Cell(language, BUILT_IN, builtin(event, language)[0]))
            else:
                cells.append(Cell(language, _source(row, level), row.subject))
        out.append(EventRow(event, cells))
    return out


@dataclass(frozen=True)
class Current:
    """One event's text in one language at one level: this level's own row (or ``None``),
    and the subject and body a notice gets now, with where they come from."""

    own: NotificationText | None
    source: str
    subject: str
    body: str
    # What notices get once this level's own text is removed (reset).
    fallback: str


def current(session: Session, actor: Actor | None, level: Level, event: str, language: str) -> Current:
    _require(may_read(actor, level.municipality_id))
    rows = _rows(session, actor, level.municipality_id)
    row = _in_effect(rows, level, event, language)
    others = [r for r in rows if _source(r, level) != OWN]
    below = _in_effect(others, level, event, language)
    fallback = _source(below, level) if below is not None else BUILT_IN
    if row is None:
        subject, body = builtin(event, language)
        return Current(None, BUILT_IN, subject, body, fallback)
    source = _source(row, level)
    return Current(row if source == OWN else None, source, row.subject, row.body, fallback)


# -- checking and previewing --------------------------------------------------------------------


def check_level(
    session: Session, registry: ServiceRegistry, actor: Actor | None, level: Level, event: object, language: object
) -> dict[str, str]:
    """Errors of the event, language and service asked for (each may be forged): empty when
    all three exist here."""
    errors: dict[str, str] = {}
    if level.service_key is not None and level.service_key not in {
        s.key for s in services_for(session, registry, actor, level.municipality_id)
    }:
        errors["service"] = str(_l("There is no such service here. Choose one from the list."))
    elif not isinstance(event, str) or event not in events_for(level):
        errors["event"] = str(_l("There is no such notice here. Choose one from the list."))
    if not isinstance(language, str) or language not in LANGUAGES:
        errors["language"] = str(_l("There is no such language. Choose Armenian, English or Russian."))
    return errors


def _names(template: str) -> tuple[list[str], bool]:
    """The placeholder names a template uses as written (``{0}``, ``{x.y}`` included), and
    whether its braces are balanced."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return [], False
    names: list[str] = []
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        names.append(name)
        if spec:  # a nested "{x:{y}}" names y too
            nested, ok = _names(spec)
            if not ok:
                return names, False
            names.extend(nested)
    return names, True


def check(event: str, subject: object, body: object) -> Checked:
    """Check a subject and body for ``event`` (an event that exists: see :func:`check_level`)."""
    errors: dict[str, str] = {}
    warnings: list[str] = []
    subject_text = subject if isinstance(subject, str) else ""
    body_text = body if isinstance(body, str) else ""
    if not subject_text.strip():
        errors["subject"] = str(_l("Enter a subject."))
    elif len(subject_text) > MAX_SUBJECT:
        errors["subject"] = str(
            _l("Make the subject %(max)d characters or fewer (it has %(n)d).", max=MAX_SUBJECT, n=len(subject_text))
        )
    elif "\n" in subject_text or "\r" in subject_text:
        errors["subject"] = str(_l("Write the subject on one line."))
    if not body_text.strip():
        errors["body"] = str(_l("Enter the text of the notice."))
    elif len(body_text) > MAX_BODY:
        errors["body"] = str(
            _l("Make the text %(max)d characters or fewer (it has %(n)d).", max=MAX_BODY, n=len(body_text))
        )
    known = set(PLACEHOLDERS.get(event, ()))
    unknown: list[str] = []
    for name, text in (("subject", subject_text), ("body", body_text)):
        if name in errors:
            continue
        used, balanced = _names(text)
        if not balanced:
            warnings.append(
                str(
                    _l(
                        "The braces { } in the %(part)s do not pair up, so none of its placeholders will be "
                        "filled in: it is sent exactly as written. Write {{ and }} for a brace of its own.",
                        part=_l("subject") if name == "subject" else _l("text"),
                    )
                )
            )
        unknown += [n for n in used if n not in known and n not in unknown]
    if unknown:
        warnings.insert(
            0,
            str(
                _l(
                    "This notice does not fill in %(names)s: it will not show a value there. "
                    "Check the spelling against the list of placeholders.",
                    names=", ".join("{" + n + "}" for n in unknown),
                )
            ),
        )
    return Checked(errors, warnings, tuple(unknown))


SAMPLE_TRACKING_NUMBER = "ALP-2025-000123-K"


def sample_values(
    event: str, language: str, *, config: Mapping[str, Any], service_title: str = "", municipality_name: str = ""
) -> dict[str, str]:
    """Made-up values of ``event``'s placeholders, in ``language``, for the preview."""
    with force_locale(language):
        if event in citizen_notices.ACCOUNT_EVENTS:
            path = "/account/reset/…" if event == PASSWORD_RESET else "/account/verify/…"
        elif event == QUESTION_ANSWERED:
            path = "/my/questions/42"
        elif event == PROPOSAL_STATUS:
            path = "/m/alpha/proposals/42"
        elif event == COMMENT_HIDDEN:
            path = "/m/alpha/consultations/42/"
        elif event in PARTICIPATION_EVENTS:
            path = "/my/notices/"
        else:
            path = "/my/applications/42"
        values = {
            "tracking_number": SAMPLE_TRACKING_NUMBER,
            "service": service_title or str(_l("Residence certificate")),
            "status": str(_l("Under review \u2014 Review by the specialist")),
            "step_text": str(_l("A specialist checks the documents.")),
            "decision": str(_l("Approved")),
            "reason": render_template(str(citizen_notices.REASON), {"reason": str(_l("The address is not ours."))}),
            "what_to_fix": "- " + str(_l("Copy of the passport")) + "\n" + str(_l("The scan cannot be read.")),
            "method": str(citizen_notices.HANDOVER_WORDS["in_person"]),
            "applicant": str(_l("Anna Petrosyan")),
            "subject": str(_l("Opening hours on Saturday")),
            "excerpt": str(_l("Yes, the office is open on Saturdays from 10:00 to 14:00.")),
            "title": str(_l("A new playground in the central park")),
            "municipality": municipality_name or str(_l("Your municipality")),
            "link": notifications.public_url(config, path),
        }
    return {name: values[name] for name in PLACEHOLDERS.get(event, ())}


def preview(subject: str, body: str, values: Mapping[str, Any]) -> tuple[str, str]:
    """The subject and body as a notice would carry them (the same safe formatter, the same
    one-line subject as :func:`~app.domain.citizen_notices.texts`)."""
    rendered = render_template(subject, values)
    return " ".join(rendered.split())[:MAX_SUBJECT], render_template(body, values)


# -- changing -----------------------------------------------------------------------------------


def _own_rows(session: Session, actor: Actor | None, level: Level, event: str, language: str) -> list[NotificationText]:
    rows = _rows(session, actor, level.municipality_id)
    return [
        r
        for r in rows
        if r.municipality_id == level.municipality_id
        and r.service_key == level.service_key
        and r.event == event
        and r.language == language
    ]


def save(
    session: Session,
    registry: ServiceRegistry,
    actor: Actor | None,
    level: Level,
    event: object,
    language: object,
    subject: object,
    body: object,
    *,
    ip: str | None = None,
) -> tuple[NotificationText, Checked]:
    """Make ``subject`` and ``body`` the text of ``event`` in ``language`` at ``level`` (a new
    row, or the one there). :class:`InvalidText` when something is wrong (nothing changed),
    :class:`NotAllowed` when the actor may not. Returns the row and the warnings. The caller
    commits."""
    _require(may_edit(actor, level.municipality_id))
    errors = check_level(session, registry, actor, level, event, language)
    if errors:
        raise InvalidText(errors)
    assert isinstance(event, str) and isinstance(language, str)
    checked = check(event, subject, body)
    if checked.errors:
        raise InvalidText(checked.errors)
    assert isinstance(subject, str) and isinstance(body, str)
    found = _own_rows(session, actor, level, event, language)
    row = found[0] if found else None
    for duplicate in found[1:]:  # NULLs never collide in the unique key: keep one row per level
        session.delete(duplicate)
    previous = row.subject if row is not None else None
    if row is None:
        row = NotificationText(
            municipality_id=level.municipality_id,
            service_key=level.service_key,
            event=event,
            language=language,
            subject=subject,
            body=body,
        )
        session.add(row)
    else:
        row.subject = subject
        row.body = body
    session.flush()
    audit.record(
        session,
        "notification_text.save",
        actor=actor,
        target=("notification_text", row.id),
        municipality_id=level.municipality_id,
        details={
            "event": event,
            "language": language,
            "service_key": level.service_key,
            "created": previous is None,
            "subject": subject,
            "previous_subject": previous,
            "unknown_placeholders": list(checked.unknown),
        },
        ip=ip,
    )
    return row, checked


def reset(
    session: Session,
    registry: ServiceRegistry,
    actor: Actor | None,
    level: Level,
    event: object,
    language: object,
    *,
    ip: str | None = None,
) -> bool:
    """Delete this level's own text of ``event`` in ``language``: notices fall back to the
    next one (or the built-in text). ``False`` when there was none. The caller commits."""
    _require(may_edit(actor, level.municipality_id))
    errors = check_level(session, registry, actor, level, event, language)
    if errors:
        raise InvalidText(errors)
    assert isinstance(event, str) and isinstance(language, str)
    found = _own_rows(session, actor, level, event, language)
    if not found:
        return False
    for row in found:
        audit.record(
            session,
            "notification_text.reset",
            actor=actor,
            target=("notification_text", row.id),
            municipality_id=level.municipality_id,
            details={
                "event": event,
                "language": language,
                "service_key": level.service_key,
                "subject": row.subject,
            },
            ip=ip,
        )
        session.delete(row)
    return True


def service_title(choices: Sequence[ServiceChoice], key: str | None, language: str) -> str:
    """The title of service ``key`` among ``choices`` in ``language``; empty when not there."""
    found = next((c for c in choices if c.key == key), None)
    return pick(found.title, language) if found is not None else ""


__all__ = [
    "APPLICATION_EVENTS",
    "BUILT_IN",
    "EVENT_HINTS",
    "EVENT_LABELS",
    "INSTALL",
    "INSTALL_EVENTS",
    "INSTALL_SERVICE",
    "LANGUAGES",
    "MAX_BODY",
    "MAX_SUBJECT",
    "MUNICIPALITY",
    "MUNICIPAL_EVENTS",
    "OWN",
    "PARTICIPATION_EVENTS",
    "PLACEHOLDERS",
    "SOURCE_LABELS",
    "Cell",
    "Checked",
    "Current",
    "EventRow",
    "InvalidText",
    "Level",
    "NotAllowed",
    "ServiceChoice",
    "builtin",
    "check",
    "check_level",
    "current",
    "events_for",
    "may_edit",
    "may_read",
    "overview",
    "placeholders",
    "preview",
    "reset",
    "sample_values",
    "save",
    "service_title",
    "services_for",
]
