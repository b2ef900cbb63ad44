"""Front-office voting: a clerk registers the vote of a verified resident who came to the office
(issue 11, point 4). The screens are app.office.voting; the rules are here.

The clerk finds the person (:func:`app.domain.participation.residency.find_citizens`), the
system checks they may vote (:func:`app.domain.participation.processes.eligible`, and that
they have not voted yet), and the clerk "opens the ballot booth": a page turned to the
voter, carrying a **booth token**. The token is signed with the app's secret under its own
salt, lives :data:`BOOTH_MINUTES` minutes, and names the poll, the voter and the clerk; it
is not stored anywhere, so it adds no row a ballot could be linked through. The voter marks
the ballot and it is cast by :func:`app.domain.participation.ballots.cast` exactly as online
(one ballot per person, the same secrecy), then the voter gets the receipt code on a
printable page.

What is kept: that the clerk registered an office vote of that voter in that poll (the audit
event ``poll.office_vote``, written by the ballot writer in the vote's transaction). Never the choice, never the receipt or change code: not in the
audit trail, the log, the session or a flash message. The booth and receipt pages do not
name the voter, so no screen shows a choice next to a person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, scoped_session

from app.domain import access
from app.domain.access import MAX_PK, Actor
from app.domain.errors import NotAllowed
from app.domain.participation import processes, residency
from app.models.participation import Poll, PollVoter

AnySession = Session | scoped_session[Session]

SALT = "hamaynk.office-ballot-booth"
# Long enough for a voter to read a budget ballot, short enough that a forgotten booth dies.
BOOTH_MINUTES = 20
# Written by ballots.cast for an office vote: who, for whom, which poll (never what).
AUDIT_ACTION = "poll.office_vote"

ALREADY_VOTED = _l("This person has already voted in this poll; each person votes once.")
BAD_TOKEN = _l(
    "This ballot booth is no longer valid (it expired, or was opened for another poll or by another clerk). "
    "Nothing was recorded. Find the person and open the booth again."
)
NOT_A_CITIZEN = _l("There is no active citizen account like that.")


class BoothRefused(processes.ParticipationRefused):
    """The booth cannot be opened, or its token is no good; ``message`` says why (for the clerk)."""


@dataclass(frozen=True)
class Booth:
    """What a valid booth token says."""

    poll_id: int
    voter_user_id: int
    clerk_user_id: int


def _serializer(secret_key: str | bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def booth_token(secret_key: str | bytes, *, poll_id: int, voter_user_id: int, clerk_user_id: int) -> str:
    return str(_serializer(secret_key).dumps({"p": poll_id, "v": voter_user_id, "c": clerk_user_id}))


def _id(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_PK
    return value if ok else None


def read_booth(
    secret_key: str | bytes,
    token: object,
    *,
    poll_id: int,
    clerk_user_id: int,
    max_age: int = BOOTH_MINUTES * 60,
) -> Booth:
    """The booth ``token`` opened for ``poll_id`` by ``clerk_user_id``; :class:`BoothRefused`
    when it is forged, expired, or for another poll or clerk."""
    if not isinstance(token, str) or not token or len(token) > 500:
        raise BoothRefused(BAD_TOKEN)
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age)
    except (SignatureExpired, BadSignature):
        raise BoothRefused(BAD_TOKEN) from None
    if not isinstance(data, dict):
        raise BoothRefused(BAD_TOKEN)
    poll, voter, clerk = _id(data.get("p")), _id(data.get("v")), _id(data.get("c"))
    if poll != poll_id or clerk != clerk_user_id or voter is None:
        raise BoothRefused(BAD_TOKEN)
    return Booth(poll, voter, clerk)


def may_register(actor: Actor | None, poll: Poll) -> bool:
    """Clerks (and municipal administrators) of the poll's own municipality."""
    return residency.may_verify(actor, poll.municipality_id)


def has_voted(session: AnySession, poll: Poll, user_id: int) -> bool:
    """Whether ``user_id`` voted in ``poll`` (the one-ballot record; it holds nothing else)."""
    stmt = select(PollVoter.user_id).where(PollVoter.poll_id == poll.id, PollVoter.user_id == user_id)
    return session.execute(stmt).first() is not None


def check_voter(
    session: AnySession,
    actor: Actor | None,
    poll: Poll,
    voter_user_id: object,
    now: dt.datetime | None = None,
    *,
    secret_key: str | bytes | None = None,
    token: object = None,
) -> residency.CitizenMatch:
    """The citizen ``voter_user_id`` if they may vote in ``poll`` now; else
    :class:`~app.domain.participation.processes.ParticipationRefused` saying why
    (:class:`~app.domain.access.NotFound` for a forged id, or a person the clerk may not look
    at: see :func:`~app.domain.participation.residency.citizen` and its search ``token``;
    NotAllowed for a clerk of another municipality). Reads only."""
    if not may_register(actor, poll):
        raise NotAllowed()
    person = residency.citizen(session, actor, poll.municipality_id, voter_user_id, secret_key=secret_key, token=token)
    processes.eligible(session, person.user_id, poll, now)
    if has_voted(session, poll, person.user_id):
        raise BoothRefused(ALREADY_VOTED)
    return person


def cast(
    session: AnySession,
    actor: Actor,
    poll: Poll,
    booth: Booth,
    choices: Mapping[int, Sequence[int]],
    *,
    now: dt.datetime | None = None,
) -> Any:
    """Cast the voter's ballot through :func:`app.domain.participation.ballots.cast` with the
    clerk as ``office_actor`` (it commits, and audit-logs who registered whose vote in which
    poll in the same transaction, never what); returns the receipt, for the voter's page
    only. Refusals raise ParticipationRefused subclasses and write nothing."""
    from app.domain.participation import ballots

    if not may_register(actor, poll) or booth.poll_id != poll.id or booth.clerk_user_id != actor.user_id:
        raise BoothRefused(BAD_TOKEN)
    return ballots.cast(session, poll, voter_user_id=booth.voter_user_id, choices=choices, now=now, office_actor=actor)


def open_polls(session: AnySession, actor: Actor | None, municipality_id: int, now: dt.datetime) -> list[Poll]:
    """The municipality's polls and budget votes open now (what a clerk may register votes in)."""
    if not residency.may_verify(actor, municipality_id):
        return []
    listed = processes.public_processes(session, municipality_id, now)
    return [p for p in (*listed.polls, *listed.budgets) if processes.phase(p, now) == "open"]


def poll_for(session: AnySession, actor: Actor | None, poll_id: object) -> Poll:
    """A poll of ``actor``'s own municipality (staff); :class:`~app.domain.access.NotFound`
    for anything else, another municipality's included."""
    if actor is None or actor.municipality_id is None or _id(poll_id) is None:
        raise access.NotFound(poll_id)
    stmt = access.within(select(Poll), Poll, actor.municipality_id).where(Poll.id == poll_id)
    poll = session.execute(stmt).scalar_one_or_none()
    if poll is None or not may_register(actor, poll):
        raise access.NotFound(poll_id)
    return poll


__all__ = [
    "AUDIT_ACTION",
    "BOOTH_MINUTES",
    "Booth",
    "BoothRefused",
    "booth_token",
    "cast",
    "check_voter",
    "has_voted",
    "may_register",
    "open_polls",
    "poll_for",
    "read_booth",
]
