"""Secret ballots: casting, changing, counting and publishing them.

What is stored (:mod:`app.models.participation`):

* :class:`~app.models.participation.PollVoter` ``(poll_id, user_id)``: that a person voted.
  Its composite key is the one-ballot rule: :func:`cast` inserts it *first*, in the same
  transaction as the ballot, so a second vote by the same person (however concurrent) fails
  on the key and nothing of it is written (:class:`AlreadyVoted`).
* :class:`~app.models.participation.Ballot` ``(receipt, poll_id, choices, change_hash)``: what
  was chosen, keyed by a random receipt code. No id, time, counter or channel is shared with
  the voter's row, or stored at all.

Order and transaction ids: both tables are ``WITHOUT ROWID`` on SQLite, so rows sit in key
order (person; random receipt), not arrival order. PostgreSQL keeps heap rows in arrival order
and stamps each with the id of the transaction that wrote it (``xmin``), which is also the
``xmin`` of the voter's row. So every vote's transaction also *re-writes* (DELETE + INSERT of
the same content) up to :data:`MIX` other ballots of the poll chosen at random, inserting all
of them in a random order: a vote's transaction id and heap position are shared by
``min(MIX + 1, n)`` ballots, and a ballot re-written later moves on again. We mix on SQLite
too: its page cells are still allocated in arrival order inside a page (a file copy shows
that to a forensic reader), re-writing blurs it, it costs little at a community's scale, and
it keeps one code path, tested on both databases. The threat model (what this protects and
what it does not) is in ``docs/participation.md``.

Nothing here logs, audit-logs or notifies a receipt or a choice; errors that could carry
them (a database error's parameters) are replaced by :class:`BallotNotStored` without the
original. The receipt and change code are returned once, for the voter's eyes only.

Counting: :func:`tally` counts the ballots (after :func:`close`, the stored count);
:func:`close` stores the tally, the time and the sha256 of the canonical ballot list
(:func:`ballot_list_json`) once. Anyone recounts the downloaded list with :func:`recount` or
``flask hamaynk polls recount FILE``.

Budget winners: projects ordered by votes (most first; ties: the cheaper first, then the
earlier listed), funded one by one while the money left covers them; a project that does not
fit is skipped and the next ones are still tried. A project nobody voted for is not funded.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import random
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, audit, formatting, inputs
from app.domain.access import Actor
from app.domain.declarations import pick
from app.domain.errors import InvalidAction
from app.domain.participation import polls, processes
from app.domain.participation.processes import (
    PUBLISHED,
    NotEligible,
    NotOpen,
    ParticipationRefused,
    phase,
)
from app.models.base import utcnow
from app.models.participation import Ballot, Poll, PollVoter

AnySession = Session | scoped_session[Session]

# How many other ballots each vote's transaction re-writes (PostgreSQL: they share its
# transaction id and heap neighbourhood). 50 keeps a vote's transaction small (~100 rows).
MIX = 50
# Receipts and change codes: 20 characters of Crockford's base32 (100 random bits), in groups
# of four. No I, L, O or U, so nothing is misread; input is forgiving (see normalize_code).
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20
CODE_GROUP = 4
FORMAT = "hamaynk.ballots/1"
AUDIT_OFFICE_VOTE = "poll.office_vote"
AUDIT_CLOSE = "poll.close"

_random = random.SystemRandom()


# -- refusals (all ParticipationRefused; NotOpen and NotEligible come from processes) --------


class AlreadyVoted(ParticipationRefused):
    default_message = _l("You have already voted in this poll; each voter has one ballot.")


class InvalidBallot(ParticipationRefused):
    default_message = _l("This ballot cannot be accepted; check your marks.")


class OverBudget(InvalidBallot):
    default_message = _l("The projects you chose cost more than the budget.")


class ChangeRefused(ParticipationRefused):
    default_message = _l("The receipt code and change code do not match a ballot of this poll.")


class OfficeNotAllowed(ParticipationRefused):
    default_message = _l("Only the community's clerks register votes at the office.")


class BallotNotStored(ParticipationRefused):
    """The database refused the write for another reason; nothing was stored."""

    default_message = _l("Your vote could not be stored just now; nothing was recorded. Try again in a moment.")


NO_MARK = _l("Mark at least one option.")
UNKNOWN_QUESTION = _l("This ballot answers a question the poll does not have; reload the page.")
UNKNOWN_OPTION = _l("Question %(number)s has no such option; reload the page.")
TOO_MANY = _l("Question %(number)s: mark at most %(count)s options.")
OVER_BUDGET = _l(
    "The projects you chose cost %(chosen)s together, more than the budget of %(budget)s. "
    "Remove some projects and vote again."
)
CHANGE_NOT_ALLOWED = _l("This poll does not allow changing a vote.")


# -- values --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """Shown to the voter once; never stored against them. ``change_code`` only where the poll
    allows changing a vote."""

    code: str
    change_code: str | None = None


@dataclass(frozen=True)
class BallotRow:
    receipt: str
    # {"<question id>": [option ids, ascending]}, every question of the poll.
    choices: dict[str, list[int]]


@dataclass(frozen=True)
class Tally:
    ballots: int
    # question id -> option id -> votes (every option, zeros included).
    counts: dict[int, dict[int, int]] = field(default_factory=dict)
    # Budget votes: the funded projects (option ids) in funding order, and their total cost.
    winners: list[int] = field(default_factory=list)
    spent: int = 0
    budget: int | None = None

    def votes(self, option_id: int) -> int:
        for options in self.counts.values():
            if option_id in options:
                return options[option_id]
        return 0

    def to_json(self) -> dict[str, Any]:
        return {
            "ballots": self.ballots,
            "questions": {str(q): {str(o): n for o, n in options.items()} for q, options in self.counts.items()},
            "winners": list(self.winners),
            "spent": self.spent,
            "budget": self.budget,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        return cls(
            ballots=int(data["ballots"]),
            counts={int(q): {int(o): int(n) for o, n in options.items()} for q, options in data["questions"].items()},
            winners=[int(o) for o in data.get("winners", [])],
            spent=int(data.get("spent", 0)),
            budget=data.get("budget"),
        )


# -- codes ----------------------------------------------------------------------------------------------


def new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def normalize_code(text: Any) -> str | None:
    """A code as typed (any case, spaces or dashes, O for 0, I or L for 1) in its stored form,
    or ``None`` when it cannot be one."""
    if not isinstance(text, str) or len(text) > 64:
        return None
    raw = "".join(ch for ch in text.upper() if ch not in " -\t")
    raw = raw.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        return None
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def _change_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


# -- the structure a ballot is checked and counted against ---------------------------------------


@dataclass(frozen=True)
class _Option:
    id: int
    cost: int
    position: int


@dataclass(frozen=True)
class _Question:
    id: int
    number: int  # 1-based, as voters see it
    max_choices: int
    options: tuple[_Option, ...]


@dataclass(frozen=True)
class _Structure:
    kind: str
    budget: int | None
    questions: tuple[_Question, ...]


def _from_view(view: polls.PollView) -> _Structure:
    return _Structure(
        kind=view.poll.kind,
        budget=view.poll.budget,
        questions=tuple(
            _Question(
                id=q.id,
                number=index + 1,
                max_choices=q.max_choices,
                options=tuple(_Option(o.id, o.cost or 0, o.position) for o in q.options),
            )
            for index, q in enumerate(view.questions)
        ),
    )


def _from_json(poll: Mapping[str, Any]) -> _Structure:
    questions = sorted(poll["questions"], key=lambda q: int(q["position"]))
    return _Structure(
        kind=str(poll["kind"]),
        budget=poll.get("budget"),
        questions=tuple(
            _Question(
                id=int(q["id"]),
                number=index + 1,
                max_choices=int(q["max_choices"]),
                options=tuple(_Option(int(o["id"]), int(o.get("cost") or 0), int(o["position"])) for o in q["options"]),
            )
            for index, q in enumerate(questions)
        ),
    )


def _structure(value: polls.PollView | Mapping[str, Any] | _Structure) -> _Structure:
    if isinstance(value, _Structure):
        return value
    if isinstance(value, polls.PollView):
        return _from_view(value)
    return _from_json(value.get("poll", value))


def _marks(raw: Any) -> set[int] | None:
    if isinstance(raw, (str, int)):
        raw = [raw]
    if not isinstance(raw, (list, tuple, set, frozenset)):
        return None
    marks = set()
    for item in raw:
        number = inputs.whole_number(item, inputs.MAX_ID)
        if number is None:
            return None
        marks.add(number)
    return marks


def check_choices(structure: polls.PollView | _Structure, choices: Mapping[Any, Any]) -> dict[str, list[int]]:
    """``choices`` (question id -> option ids; ids as ints or digit strings) in the stored form,
    every question present, or :class:`InvalidBallot`/:class:`OverBudget` saying what is wrong."""
    shape = _structure(structure)
    if not isinstance(choices, Mapping):
        raise InvalidBallot(NO_MARK)
    by_id = {q.id: q for q in shape.questions}
    given: dict[int, set[int]] = {}
    for key, raw in choices.items():
        question_id = inputs.whole_number(key, inputs.MAX_ID)
        if question_id not in by_id:
            raise InvalidBallot(UNKNOWN_QUESTION)
        assert question_id is not None
        marks = _marks(raw)
        question = by_id[question_id]
        if marks is None or not marks <= {o.id for o in question.options}:
            raise InvalidBallot(UNKNOWN_OPTION % {"number": question.number})
        if len(marks) > question.max_choices:
            raise InvalidBallot(TOO_MANY % {"number": question.number, "count": question.max_choices})
        given[question_id] = marks
    if not any(given.values()):
        raise InvalidBallot(NO_MARK)
    if shape.kind == polls.BUDGET and shape.budget is not None:
        costs = {o.id: o.cost for q in shape.questions for o in q.options}
        chosen = sum(costs[o] for marks in given.values() for o in marks)
        if chosen > shape.budget:
            raise OverBudget(OVER_BUDGET % {"chosen": _amount(chosen), "budget": _amount(shape.budget)})
    return {str(q.id): sorted(given.get(q.id, ())) for q in sorted(shape.questions, key=lambda q: q.id)}


def _amount(value: int) -> str:
    # As the ballot page writes amounts ("1 500 000 ֏"), in the refusal's language.
    return formatting.format_amd(value, formatting.current_locale())


# -- casting ------------------------------------------------------------------------------------------


def _postgres(session: AnySession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _lock_open(session: AnySession, poll: Poll, now: dt.datetime) -> None:
    """Read the poll's status, window and tally afresh (on PostgreSQL under a share lock that
    :func:`close` waits for), and refuse unless it is open: no ballot may land after counting."""
    stmt = select(Poll.status, Poll.opens_at, Poll.closes_at, Poll.tallied_at).where(Poll.id == poll.id)
    stmt = access.unscoped(stmt, reason="the poll was already loaded through a loader")
    if _postgres(session):
        stmt = stmt.with_for_update(read=True)
    row = session.execute(stmt).one()
    if row.status != PUBLISHED or row.tallied_at is not None or not row.opens_at <= now < row.closes_at:
        raise NotOpen()


def _mix_and_store(session: AnySession, poll_id: int, new: Mapping[str, Any], drop: str | None = None) -> None:
    """Insert ``new`` (and delete ballot ``drop``) together with re-writes of up to
    :data:`MIX` other ballots of the poll, all inserted in a random order (module docstring)."""
    receipts = [
        r for r in session.execute(select(Ballot.receipt).where(Ballot.poll_id == poll_id)).scalars() if r != drop
    ]
    picked = _random.sample(receipts, min(MIX, len(receipts)))
    rows: list[dict[str, Any]] = []
    if picked:
        stmt = select(Ballot.receipt, Ballot.choices, Ballot.change_hash).where(
            Ballot.poll_id == poll_id, Ballot.receipt.in_(picked)
        )
        if _postgres(session):
            # Another vote re-writing the same ballot right now keeps it; we take others.
            stmt = stmt.with_for_update(skip_locked=True)
        rows = [
            {"receipt": r.receipt, "poll_id": poll_id, "choices": r.choices, "change_hash": r.change_hash}
            for r in session.execute(stmt)
        ]
    gone = [row["receipt"] for row in rows] + ([drop] if drop else [])
    if gone:
        session.execute(delete(Ballot).where(Ballot.poll_id == poll_id, Ballot.receipt.in_(gone)))
    rows.append(dict(new))
    _random.shuffle(rows)
    session.execute(insert(Ballot), rows)


def _rollback_quietly(session: AnySession) -> None:
    with contextlib.suppress(DBAPIError):
        session.rollback()


def cast(
    session: AnySession,
    poll: Poll,
    *,
    voter_user_id: int,
    choices: Mapping[Any, Sequence[Any]],
    now: dt.datetime | None = None,
    office_actor: Actor | None = None,
) -> Receipt:
    """Cast ``voter_user_id``'s ballot and commit; returns the receipt (and change code). At
    the office ``office_actor`` is the clerk who registers it (audit-logged: who, for whom,
    in which poll; never what). Refusals (nothing written; the session is rolled back, so call
    this with nothing else pending): :class:`NotOpen`, :class:`NotEligible`,
    :class:`AlreadyVoted`, :class:`InvalidBallot`, :class:`OverBudget`,
    :class:`OfficeNotAllowed`, :class:`BallotNotStored`."""
    now = now or utcnow()
    if office_actor is not None and not access.caseworker_of(office_actor, poll.municipality_id):
        raise OfficeNotAllowed()
    processes.eligible(session, voter_user_id, poll, now)
    voted = select(exists().where(PollVoter.poll_id == poll.id, PollVoter.user_id == voter_user_id))
    if session.execute(voted).scalar():
        raise AlreadyVoted()
    stored = check_choices(polls.structure(session, poll), choices)
    receipt = Receipt(new_code(), new_code() if poll.allow_change else None)
    try:
        _lock_open(session, poll, now)
        # The one-ballot rule: the voter's row first, so a duplicate stops before any ballot.
        session.execute(insert(PollVoter).values(poll_id=poll.id, user_id=voter_user_id))
        _lock_open(session, poll, now)  # SQLite: now inside the write lock
        new = {
            "receipt": receipt.code,
            "poll_id": poll.id,
            "choices": stored,
            "change_hash": _change_hash(receipt.change_code) if receipt.change_code else None,
        }
        _mix_and_store(session, poll.id, new)
        if office_actor is not None:
            audit.record(
                session, AUDIT_OFFICE_VOTE, actor=office_actor, target=("poll", poll.id),
                municipality_id=poll.municipality_id, details={"voter_user_id": voter_user_id},
            )  # fmt: skip
        session.commit()
    except IntegrityError:
        _rollback_quietly(session)
        raise AlreadyVoted() from None
    except ParticipationRefused:
        _rollback_quietly(session)
        raise
    except DBAPIError:
        # Its text would carry the ballot's parameters next to the voter's request: drop it.
        _rollback_quietly(session)
        raise BallotNotStored() from None
    return receipt


def _locked_change_hash(session: AnySession, poll_id: int, code: str) -> str | None:
    """The ballot's change hash, the ballot locked (PostgreSQL). A vote re-writing this very
    ballot meanwhile (module docstring) deletes the row we waited for and inserts it anew,
    which our statement's snapshot does not see: a second statement (a new snapshot under
    READ COMMITTED) finds it."""
    stmt = select(Ballot.change_hash).where(Ballot.poll_id == poll_id, Ballot.receipt == code)
    if not _postgres(session):
        return session.execute(stmt).scalar_one_or_none()
    for _attempt in range(3):
        found = session.execute(stmt.with_for_update()).scalar_one_or_none()
        if found is not None:
            return found
    return None


def change(
    session: AnySession,
    poll: Poll,
    *,
    receipt: str,
    change_code: str,
    choices: Mapping[Any, Sequence[Any]],
    now: dt.datetime | None = None,
) -> Receipt:
    """Replace the ballot ``receipt`` (proved by its ``change_code``) while the poll is open,
    under a new receipt and change code; commits. The voter's row stays (they voted once).
    Knows no person: the codes are the proof."""
    now = now or utcnow()
    if not poll.allow_change:
        raise ParticipationRefused(CHANGE_NOT_ALLOWED)
    if phase(poll, now) != "open":
        raise NotOpen()
    stored = check_choices(polls.structure(session, poll), choices)
    code, secret = normalize_code(receipt), normalize_code(change_code)
    if code is None or secret is None:
        raise ChangeRefused()
    fresh = Receipt(new_code(), new_code())
    try:
        _lock_open(session, poll, now)
        found = _locked_change_hash(session, poll.id, code)
        if found is None or not hmac.compare_digest(found, _change_hash(secret)):
            raise ChangeRefused()
        assert fresh.change_code is not None
        new = {
            "receipt": fresh.code,
            "poll_id": poll.id,
            "choices": stored,
            "change_hash": _change_hash(fresh.change_code),
        }
        _mix_and_store(session, poll.id, new, drop=code)
        session.commit()
    except ParticipationRefused:
        _rollback_quietly(session)
        raise
    except DBAPIError:
        _rollback_quietly(session)
        raise BallotNotStored() from None
    return fresh


# -- reading and counting ----------------------------------------------------------------------------


def find_receipt(session: AnySession, poll: Poll, code: Any) -> bool:
    """Whether a ballot with receipt ``code`` (as typed) is in the poll's ballot list."""
    normal = normalize_code(code)
    if normal is None:
        return False
    stmt = select(exists().where(Ballot.poll_id == poll.id, Ballot.receipt == normal))
    return bool(session.execute(stmt).scalar())


def results_visible(poll: Poll, now: dt.datetime | None = None) -> bool:
    """Whether the tally (and the ballot list) may be shown: after closing, or while open where
    the poll's results are live. Never for a draft or a cancelled poll."""
    current = phase(poll, now)
    if current == "closed":
        return True
    return current == "open" and poll.results_visibility == polls.LIVE


def ballot_list(session: AnySession, poll: Poll) -> list[BallotRow]:
    """The poll's ballots, sorted by receipt (nothing else is stored to sort by)."""
    stmt = select(Ballot.receipt, Ballot.choices).where(Ballot.poll_id == poll.id).order_by(Ballot.receipt)
    return [BallotRow(r.receipt, {str(k): sorted(v) for k, v in r.choices.items()}) for r in session.execute(stmt)]


def _iso(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def structure_json(view: polls.PollView) -> dict[str, Any]:
    """The poll's structure as the ballot list file carries it: enough to recount."""
    poll = view.poll
    return {
        "id": poll.id,
        "municipality_id": poll.municipality_id,
        "kind": poll.kind,
        "title": dict(poll.title),
        "budget": poll.budget,
        "opens_at": _iso(poll.opens_at),
        "closes_at": _iso(poll.closes_at),
        "questions": [
            {
                "id": q.id,
                "position": q.position,
                "text": q.text,
                "max_choices": q.max_choices,
                "options": [{"id": o.id, "position": o.position, "text": o.text, "cost": o.cost} for o in q.options],
            }
            for q in view.questions
        ],
    }


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ballot_list_json(session: AnySession, poll: Poll) -> str:
    """The downloadable ballot list: canonical JSON (sorted keys, no spaces, UTF-8) of the
    poll's structure and its ballots sorted by receipt. Its sha256 (of the UTF-8 bytes, i.e.
    of the downloaded file) is what :func:`close` stores."""
    rows = ballot_list(session, poll)
    return canonical_json(
        {
            "format": FORMAT,
            "poll": structure_json(polls.structure(session, poll)),
            "ballots": [{"receipt": r.receipt, "choices": r.choices} for r in rows],
        }
    )


def ballot_list_csv(session: AnySession, poll: Poll) -> str:
    """The ballot list as CSV: receipt, then one column per question (``question_<id>``) with
    the marked option ids separated by spaces. CRLF line ends, as every CSV of the site
    (docs/statistics.md); the download adds the byte order mark. Not hashed: the published
    sha256 is of :func:`ballot_list_json`."""
    view = polls.structure(session, poll)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["receipt", *(f"question_{q.id}" for q in view.questions)])
    for row in ballot_list(session, poll):
        writer.writerow(
            [row.receipt, *(" ".join(str(o) for o in row.choices.get(str(q.id), [])) for q in view.questions)]
        )
    return out.getvalue()


def recount(rows: Iterable[BallotRow | Mapping[str, Any]], structure: polls.PollView | Mapping[str, Any]) -> Tally:
    """Count ``rows`` (from :func:`ballot_list` or a downloaded file's ``ballots``) against the
    poll's ``structure`` (a :class:`~app.domain.participation.polls.PollView` or the file's
    ``poll``). Needs no database. A ballot that breaks the poll's rules raises ``ValueError``."""
    shape = _structure(structure)
    counts = {q.id: {o.id: 0 for o in q.options} for q in shape.questions}
    total = 0
    seen: set[str] = set()
    for row in rows:
        receipt, choices = (
            (row.receipt, row.choices) if isinstance(row, BallotRow) else (row["receipt"], row["choices"])
        )
        if receipt in seen:
            raise ValueError(f"receipt {receipt} appears twice")
        seen.add(receipt)
        try:
            stored = check_choices(shape, choices)
        except InvalidBallot as exc:
            raise ValueError(f"ballot {receipt} is not valid: {exc}") from None
        for question_id, marks in stored.items():
            for option_id in marks:
                counts[int(question_id)][option_id] += 1
        total += 1
    winners, spent = _winners(shape, counts)
    return Tally(ballots=total, counts=counts, winners=winners, spent=spent, budget=shape.budget)


def _winners(shape: _Structure, counts: Mapping[int, Mapping[int, int]]) -> tuple[list[int], int]:
    if shape.kind != polls.BUDGET or shape.budget is None or not shape.questions:
        return [], 0
    question = shape.questions[0]
    votes = counts[question.id]
    order = sorted(question.options, key=lambda o: (-votes[o.id], o.cost, o.position))
    left, winners = shape.budget, []
    for option in order:
        if votes[option.id] == 0:
            break
        if option.cost <= left:
            winners.append(option.id)
            left -= option.cost
    return winners, shape.budget - left


def tally_lines(counted: Tally, poll: Mapping[str, Any]) -> list[str]:
    """A plain-text report of ``counted`` for the ballot list file's ``poll`` (the command)."""
    lines = [f"Poll {poll.get('id')}: {pick(poll.get('title') or {}, 'hy')}", f"Ballots: {counted.ballots}"]
    for number, question in enumerate(sorted(poll["questions"], key=lambda q: int(q["position"])), start=1):
        lines.append(f"Question {number}: {pick(question.get('text') or {}, 'hy')}")
        for option in sorted(question["options"], key=lambda o: int(o["position"])):
            cost = f" ({option['cost']} AMD)" if option.get("cost") is not None else ""
            text = pick(option.get("text") or {}, "hy")
            lines.append(f"  [{option['id']}] {text}{cost}: {counted.votes(int(option['id']))}")
    if counted.budget is not None:
        lines.append(f"Funded, in order: {', '.join(str(o) for o in counted.winners) or 'none'}")
        lines.append(f"Spent {counted.spent} of {counted.budget} AMD")
    return lines


def tally(session: AnySession, poll: Poll) -> Tally:
    """The poll's count: the one stored at closing, else counted from its ballots now."""
    if poll.tally is not None:
        return Tally.from_json(poll.tally)
    return recount(ballot_list(session, poll), polls.structure(session, poll))


def close(session: AnySession, poll: Poll, now: dt.datetime | None = None) -> bool:
    """Count a published poll whose window has ended and store the tally, the time and the
    ballot list's sha256; once (``False`` when it was counted already, also by a concurrent
    run). Waits for votes still being written (the poll row's lock, :func:`_lock_open`).
    Adds to the caller's session; the caller commits."""
    now = now or utcnow()
    if poll.tallied_at is None and (poll.status != PUBLISHED or phase(poll, now) != "closed"):
        # Refused before any lock is taken, so the caller holds nothing it must release.
        raise InvalidAction(_l("Only a published poll whose voting time has ended can be counted."))
    if _postgres(session):
        session.refresh(poll, with_for_update=True)
    else:
        # Take SQLite's write lock before reading, so a concurrent close waits for this one.
        session.execute(
            access.unscoped(update(Poll), reason="the poll was loaded through a loader")
            .where(Poll.id == poll.id)
            .values(updated_at=Poll.updated_at)
        )
        session.refresh(poll)
    if poll.tallied_at is not None:
        return False
    if poll.status != PUBLISHED or phase(poll, now) != "closed":
        raise InvalidAction(_l("Only a published poll whose voting time has ended can be counted."))
    text = ballot_list_json(session, poll)
    data = json.loads(text)
    counted = recount(data["ballots"], data["poll"])
    poll.tally = counted.to_json()
    poll.tallied_at = now
    poll.ballots_sha256 = sha256_text(text)
    polls.settle_budget(session, poll, counted.winners)
    audit.record(
        session, AUDIT_CLOSE, actor=None, target=("poll", poll.id), municipality_id=poll.municipality_id,
        details={"ballots": counted.ballots, "ballots_sha256": poll.ballots_sha256},
    )  # fmt: skip
    session.flush()
    return True


__all__ = [
    "MIX",
    "AlreadyVoted",
    "BallotNotStored",
    "BallotRow",
    "ChangeRefused",
    "InvalidBallot",
    "NotEligible",
    "NotOpen",
    "OfficeNotAllowed",
    "OverBudget",
    "ParticipationRefused",
    "Receipt",
    "Tally",
    "ballot_list",
    "ballot_list_csv",
    "ballot_list_json",
    "cast",
    "change",
    "check_choices",
    "close",
    "find_receipt",
    "normalize_code",
    "recount",
    "results_visible",
    "tally",
]
