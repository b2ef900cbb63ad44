"""What polls, budget votes and consultations have in common: their phase (draft, upcoming,
open, closed, cancelled), who may take part, their multilingual texts and Yerevan times, and
the list a municipality's public home shows.

A process's ``status`` is what the administrator decided (``draft``, ``published``,
``cancelled``); whether a published one is upcoming, open or closed follows from its window
``[opens_at, closes_at)`` (UTC, naive). People enter and read the times in Yerevan time
(:func:`parse_local`, :func:`local`).

Who takes part (:func:`eligible`): an active citizen account (staff accounts never take part
as citizens: a clerk's or administrator's vote would be cast by someone who can also run the
poll) and, for the audience ``residents``, a verified resident of the municipality, of one of
the chosen settlements where the process names some
(:func:`app.domain.participation.residency.is_resident`). The audience ``registered`` (a
non-binding survey) takes any registered citizen.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import select
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, formatting, inputs
from app.domain.errors import WorkflowError
from app.domain.participation import residency
from app.domain.tracking import OFFICE_TZ
from app.models.base import utcnow
from app.models.participation import Consultation, Poll

DRAFT = "draft"
PUBLISHED = "published"
CANCELLED = "cancelled"
STATUSES = (DRAFT, PUBLISHED, CANCELLED)
# The statuses in which a process can be open (then its window decides).
OPEN_STATUSES = (PUBLISHED,)

Phase = Literal["draft", "upcoming", "open", "closed", "cancelled"]
PHASE_LABELS = {
    "draft": _l("Draft"),
    "upcoming": _l("Not open yet"),
    # The stage, an adjective (Armenian "Բաց"), not the verb of an "Open" link ("Բացել").
    "open": lazy_pgettext("process stage", "Open"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}

RESIDENTS = "residents"
REGISTERED = "registered"
AUDIENCES = (RESIDENTS, REGISTERED)
AUDIENCE_LABELS = {
    RESIDENTS: _l("Verified residents"),
    REGISTERED: _l("Any registered citizen (non-binding survey)"),
}
LANGUAGES = ("hy", "en", "ru")

Process = Poll | Consultation
AnySession = Session | scoped_session[Session]


# -- refusals -------------------------------------------------------------------------------------


class ParticipationRefused(WorkflowError):
    """A citizen's act in a process (vote, comment, support) was refused and nothing was
    written; ``message`` says why, in the citizen's language."""

    default_message = _l("Taking part is not possible now.")


class NotOpen(ParticipationRefused):
    default_message = _l("This process is not open: it has not started yet, has ended or was cancelled.")


class NotEligible(ParticipationRefused):
    default_message = _l("You cannot take part in this process.")


class InvalidProcess(WorkflowError):
    """What an administrator entered cannot be accepted; nothing was written. ``errors`` maps
    each field (``title``, ``opens_at``, ``questions.0.options.1.cost``, …) to its message."""

    default_message = _l("Correct the marked entries.")

    def __init__(self, errors: Mapping[str, Any]) -> None:
        super().__init__()
        self.errors = {key: str(value) for key, value in errors.items()}


NOT_STARTED = _l("This process opens on %(opens)s (Yerevan time); it is not open yet.")
ENDED = _l("This process closed on %(closes)s (Yerevan time).")
CANCELLED_MESSAGE = _l("This process was cancelled.")
STAFF_ACCOUNT = _l(
    "Staff accounts cannot take part as citizens. Sign in with your personal citizen account to take part."
)
INACTIVE = _l("Your account is not active.")
NOT_A_RESIDENT = _l(
    "Only verified residents of this community can take part. "
    "Verify your residency at the municipality's office (bring an identity document)."
)
NOT_A_SETTLEMENT_RESIDENT = _l(
    "Only verified residents of the settlements this process is for can take part; "
    "your verified residency is for another settlement."
)


# -- phase and times ------------------------------------------------------------------------------


def phase(process: Process, now: dt.datetime | None = None) -> Phase:
    """Where ``process`` stands at ``now`` (UTC naive; default: now)."""
    if process.status == CANCELLED:
        return "cancelled"
    if process.status not in OPEN_STATUSES:
        return "draft"
    now = now or utcnow()
    if now < process.opens_at:
        return "upcoming"
    if now < process.closes_at:
        return "open"
    return "closed"


def local(moment: dt.datetime) -> dt.datetime:
    """A stored UTC time (naive) as Yerevan time (aware), for display."""
    return moment.replace(tzinfo=dt.UTC).astimezone(OFFICE_TZ)


def local_text(moment: dt.datetime) -> str:
    """A stored UTC time in Yerevan time for a message, in the current language and in the
    pages' format (formatting.MOMENT: "25 նոյեմբերի 2026, 09:00")."""
    return formatting.format_moment(moment, formatting.current_locale())


def parse_local(text: str | dt.datetime) -> dt.datetime:
    """A Yerevan time as entered (``YYYY-MM-DDTHH:MM`` from a datetime-local input, or with a
    space) -> UTC naive. Raises ``ValueError`` for anything else. An aware datetime is
    converted; a naive one is taken as Yerevan time."""
    if isinstance(text, dt.datetime):
        moment = text
    else:
        cleaned = str(text).strip().replace(" ", "T")
        if not cleaned or len(cleaned) > 32:
            raise ValueError("not a time")
        moment = dt.datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=OFFICE_TZ)
    return moment.astimezone(dt.UTC).replace(tzinfo=None, second=0, microsecond=0)


# -- texts -----------------------------------------------------------------------------------------


def clean_texts(value: Mapping[str, Any] | None, *, field: str, max_len: int, required: bool = True) -> dict[str, str]:
    """``{"hy": .., "en": .., "ru": ..}`` checked like every other text (no control characters,
    at most ``max_len`` characters), blanks dropped; Armenian required when ``required``.
    Raises :class:`InvalidProcess` naming ``field`` (or ``field.<lang>``)."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise InvalidProcess({field: _l("Enter the text in Armenian.")})
    errors: dict[str, Any] = {}
    cleaned: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGUAGES:
            errors[field] = _l("Only Armenian, English and Russian texts are taken.")
            continue
        if text is None:
            continue
        if not isinstance(text, str):
            errors[f"{field}.{lang}"] = _l("This is not a text.")
            continue
        problem = inputs.text_problem(text)
        text = text.strip()
        if problem is None and len(text) > max_len:
            problem = _("This text is too long: at most %(count)s characters are accepted.", count=max_len)
        if problem:
            errors[f"{field}.{lang}"] = problem
            continue
        if text:
            cleaned[lang] = text
    if required and "hy" not in cleaned and f"{field}.hy" not in errors:
        errors[field] = _l("Enter the text in Armenian.")
    if errors:
        raise InvalidProcess(errors)
    return cleaned


# -- who takes part -------------------------------------------------------------------------------


def _window_refusal(process: Process, now: dt.datetime) -> NotOpen | None:
    current = phase(process, now)
    if current == "open":
        return None
    if current == "upcoming":
        return NotOpen(NOT_STARTED % {"opens": local_text(process.opens_at)})
    if current == "closed":
        return NotOpen(ENDED % {"closes": local_text(process.closes_at)})
    if current == "cancelled":
        return NotOpen(CANCELLED_MESSAGE)
    return NotOpen()


def eligible(session: AnySession, user_id: int, process: Process, now: dt.datetime | None = None) -> None:
    """Raise :class:`NotOpen` or :class:`NotEligible` (with the reason) unless ``user_id`` may
    take part in ``process`` at ``now``; return ``None`` if they may. Reads only."""
    now = now or utcnow()
    refusal = _window_refusal(process, now)
    if refusal is not None:
        raise refusal
    actor = access.load_actor(session, user_id)  # type: ignore[arg-type]
    if actor is None or not actor.active:
        raise NotEligible(INACTIVE)
    if not actor.is_citizen:
        raise NotEligible(STAFF_ACCOUNT)
    if process.audience == REGISTERED:
        return
    settlements = tuple(process.settlement_ids or ())
    if residency.is_resident(session, user_id, process.municipality_id, settlement_ids=settlements, at=now):
        return
    if settlements and residency.is_resident(session, user_id, process.municipality_id, at=now):
        raise NotEligible(NOT_A_SETTLEMENT_RESIDENT)
    raise NotEligible(NOT_A_RESIDENT)


# -- the public home -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessList:
    """A municipality's published processes (not cancelled), open first, then upcoming, then
    closed (most recent first)."""

    polls: list[Poll] = field(default_factory=list)
    budgets: list[Poll] = field(default_factory=list)
    consultations: list[Consultation] = field(default_factory=list)


def _home_order(process: Process, now: dt.datetime) -> tuple[int, float]:
    rank = {"open": 0, "upcoming": 1, "closed": 2}.get(phase(process, now), 3)
    # Open: closing soonest first; upcoming: opening soonest; closed: most recent first.
    if rank == 0:
        return rank, process.closes_at.timestamp()
    if rank == 1:
        return rank, process.opens_at.timestamp()
    return rank, -process.closes_at.timestamp()


def public_processes(session: AnySession, municipality_id: int, now: dt.datetime | None = None) -> ProcessList:
    """What the municipality's public home lists (published, not cancelled)."""
    now = now or utcnow()
    stmt = access.within(select(Poll), Poll, municipality_id).where(Poll.status.in_(OPEN_STATUSES))
    polls = sorted(session.execute(stmt).scalars(), key=lambda p: _home_order(p, now))
    stmt_c = access.within(select(Consultation), Consultation, municipality_id)
    stmt_c = stmt_c.where(Consultation.status.in_(OPEN_STATUSES))
    consultations = sorted(session.execute(stmt_c).scalars(), key=lambda c: _home_order(c, now))
    return ProcessList(
        polls=[p for p in polls if p.kind != "budget"],
        budgets=[p for p in polls if p.kind == "budget"],
        consultations=consultations,
    )


__all__ = [
    "AUDIENCES",
    "CANCELLED",
    "DRAFT",
    "OPEN_STATUSES",
    "PUBLISHED",
    "InvalidProcess",
    "NotEligible",
    "NotOpen",
    "ParticipationRefused",
    "ProcessList",
    "clean_texts",
    "eligible",
    "local",
    "parse_local",
    "phase",
    "public_processes",
]
