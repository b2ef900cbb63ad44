"""Polls and participatory-budget votes as the municipal administrator makes them: create and
change a draft, publish, cancel; and their structure (questions, options) as voters, the
results page and the ballot list see it.

A poll has one or more questions, each single choice (``max_choices`` 1) or multiple choice
(at most ``max_choices`` marks) among its own options. A budget vote (``kind="budget"``) has
exactly one question whose options are projects with a cost (AMD), usually the feasible
proposals (``proposal_id``); a voter marks any projects whose costs add up to at most the
poll's ``budget``.

Only a draft is changed (questions and options are replaced as a whole, under the poll's
version: a stale form is refused with :class:`~app.domain.errors.ChangedMeanwhile`): once
published, a question changed under the voters' feet would change what their ballots mean.
Times in a :class:`PollSpec` are UTC naive datetimes, or Yerevan time as text (what a form
posts; :func:`~app.domain.participation.processes.parse_local`).

Functions here add to the caller's session (and audit-log every act); the caller commits.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, select
from sqlalchemy import update as update_rows
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, audit, inputs, roles
from app.domain.access import Actor
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed
from app.domain.participation import processes, proposal_states
from app.domain.participation.processes import (
    AUDIENCES,
    CANCELLED,
    DRAFT,
    PUBLISHED,
    REGISTERED,
    InvalidProcess,
    clean_texts,
    parse_local,
)
from app.models import Municipality
from app.models.base import utcnow
from app.models.participation import Poll, PollOption, PollQuestion, PollVoter, Proposal, Settlement

AnySession = Session | scoped_session[Session]

POLL = "poll"
BUDGET = "budget"
KINDS = (POLL, BUDGET)
LIVE = "live"
AFTER_CLOSE = "after_close"
VISIBILITIES = (LIVE, AFTER_CLOSE)
VISIBILITY_LABELS = {LIVE: _l("Live, while voting is open"), AFTER_CLOSE: _l("After closing")}

MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
MAX_QUESTION = 1_000
MAX_OPTION = 500
MAX_QUESTIONS = 20
MAX_OPTIONS = 50
# Budgets and costs are whole AMD in an INTEGER column.
MAX_AMOUNT = inputs.MAX_ID
# Who makes polls: the municipality's administrators.
MANAGER_ROLES = (roles.MUNICIPAL_ADMIN,)

AUDIT_CREATE = "poll.create"
AUDIT_UPDATE = "poll.update"
AUDIT_PUBLISH = "poll.publish"
AUDIT_CANCEL = "poll.cancel"


@dataclass(frozen=True)
class OptionSpec:
    text: Mapping[str, str]
    cost: int | None = None
    proposal_id: int | None = None


@dataclass(frozen=True)
class QuestionSpec:
    text: Mapping[str, str]
    max_choices: int
    options: tuple[OptionSpec, ...]


@dataclass(frozen=True)
class PollSpec:
    title: Mapping[str, str]
    description: Mapping[str, str]
    opens_at: dt.datetime | str
    closes_at: dt.datetime | str
    audience: str = processes.RESIDENTS
    settlement_ids: Sequence[int] = ()
    results_visibility: str = AFTER_CLOSE
    allow_change: bool = False
    budget: int | None = None
    questions: tuple[QuestionSpec, ...] = ()


@dataclass(frozen=True)
class OptionView:
    id: int
    text: dict[str, str]
    cost: int | None
    position: int = 0
    proposal_id: int | None = None


@dataclass(frozen=True)
class QuestionView:
    id: int
    text: dict[str, str]
    max_choices: int
    options: list[OptionView] = field(default_factory=list)
    position: int = 0


@dataclass(frozen=True)
class PollView:
    poll: Poll
    questions: list[QuestionView] = field(default_factory=list)

    def option(self, option_id: int) -> OptionView | None:
        for question in self.questions:
            for option in question.options:
                if option.id == option_id:
                    return option
        return None


# -- who may ---------------------------------------------------------------------------------------


def may_manage(actor: Actor | None, municipality_id: int) -> bool:
    return access.staff_of(actor, municipality_id) and actor.has(*MANAGER_ROLES)


def _require_manager(actor: Actor | None, municipality_id: int) -> Actor:
    if not may_manage(actor, municipality_id):
        raise NotAllowed()
    assert actor is not None
    return actor


# -- checking what was entered ------------------------------------------------------------------


@dataclass
class _Checked:
    title: dict[str, str]
    description: dict[str, str]
    opens_at: dt.datetime
    closes_at: dt.datetime
    settlement_ids: list[int]
    budget: int | None
    questions: list[tuple[dict[str, str], int, list[tuple[dict[str, str], int | None, int | None]]]]


def _texts(errors: dict[str, Any], value: Any, name: str, max_len: int, required: bool = True) -> dict[str, str]:
    try:
        return clean_texts(value, field=name, max_len=max_len, required=required)
    except InvalidProcess as exc:
        errors.update(exc.errors)
        return {}


def _time(errors: dict[str, Any], value: Any, name: str) -> dt.datetime | None:
    try:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(second=0, microsecond=0)  # already UTC
        return parse_local(value)
    except (TypeError, ValueError):
        errors[name] = _l("Enter a date and time (Yerevan time), e.g. 2026-05-01 09:00.")
        return None


def _settlements(session: AnySession, errors: dict[str, Any], spec: PollSpec, municipality_id: int) -> list[int]:
    ids = []
    for raw in spec.settlement_ids or ():
        number = inputs.whole_number(raw, inputs.MAX_ID)
        if number is None:
            errors["settlement_ids"] = _l("Choose settlements of this community.")
            return []
        ids.append(number)
    ids = sorted(set(ids))
    if not ids:
        return []
    if spec.audience == REGISTERED:
        errors["settlement_ids"] = _l("A survey open to every registered citizen is not limited to settlements.")
        return []
    stmt = access.within(select(Settlement.id), Settlement, municipality_id).where(
        Settlement.id.in_(ids), Settlement.active.is_(True)
    )
    if set(session.execute(stmt).scalars()) != set(ids):
        errors["settlement_ids"] = _l("Choose settlements of this community.")
    return ids


def _amount(errors: dict[str, Any], value: Any, name: str, message: Any) -> int | None:
    number = inputs.whole_number(value, MAX_AMOUNT)
    if number is None:
        errors[name] = message
    return number


def _options(
    session: AnySession, errors: dict[str, Any], question: QuestionSpec, prefix: str, kind: str, municipality_id: int
) -> list[tuple[dict[str, str], int | None, int | None]]:
    options = list(question.options or ())
    if len(options) < 2 and kind == POLL:
        errors[f"{prefix}.options"] = _l("Give at least two options.")
    if not options and kind == BUDGET:
        errors[f"{prefix}.options"] = _l("Give at least one project.")
    if len(options) > MAX_OPTIONS:
        errors[f"{prefix}.options"] = _l("At most %(count)s options.", count=MAX_OPTIONS)
        return []
    checked = []
    for index, option in enumerate(options):
        name = f"{prefix}.options.{index}"
        text = _texts(errors, option.text, f"{name}.text", MAX_OPTION)
        cost: int | None = None
        if kind == BUDGET:
            cost = _amount(errors, option.cost, f"{name}.cost", _l("Enter the project's cost in AMD (a whole number)."))
        elif option.cost is not None:
            errors[f"{name}.cost"] = _l("Only the projects of a budget vote have a cost.")
        proposal_id = _proposal(session, errors, option.proposal_id, f"{name}.proposal_id", municipality_id)
        checked.append((text, cost, proposal_id))
    return checked


def _proposal(session: AnySession, errors: dict[str, Any], value: Any, name: str, municipality_id: int) -> int | None:
    if value is None:
        return None
    number = inputs.whole_number(value, inputs.MAX_ID)
    stmt = access.within(select(Proposal.status), Proposal, municipality_id).where(Proposal.id == number)
    if number is None or session.execute(stmt).scalar_one_or_none() != "feasible":
        errors[name] = _l("Only a feasible proposal of this community can be put to the vote.")
        return None
    return number


def _questions(
    session: AnySession, errors: dict[str, Any], spec: PollSpec, kind: str, municipality_id: int
) -> list[tuple[dict[str, str], int, list[tuple[dict[str, str], int | None, int | None]]]]:
    questions = list(spec.questions or ())
    if not questions:
        errors["questions"] = _l("Add at least one question.")
    elif kind == BUDGET and len(questions) != 1:
        errors["questions"] = _l("A budget vote has exactly one question: which projects to fund.")
    elif len(questions) > MAX_QUESTIONS:
        errors["questions"] = _l("At most %(count)s questions.", count=MAX_QUESTIONS)
        return []
    checked = []
    for index, question in enumerate(questions):
        prefix = f"questions.{index}"
        text = _texts(errors, question.text, f"{prefix}.text", MAX_QUESTION)
        options = _options(session, errors, question, prefix, kind, municipality_id)
        most = inputs.whole_number(question.max_choices, max(len(options), 1))
        if kind == BUDGET:
            # The budget limits a budget ballot, not a number of marks.
            most = max(len(options), 1)
        elif most is None:
            errors[f"{prefix}.max_choices"] = _l(
                "The most marks a voter may make: from 1 to the number of options (%(count)s).",
                count=max(len(options), 1),
            )
            most = 1
        checked.append((text, most, options))
    return checked


def _check(session: AnySession, spec: PollSpec, kind: str, municipality_id: int) -> _Checked:
    """Everything entered, checked at once; raises :class:`InvalidProcess` with every problem."""
    errors: dict[str, Any] = {}
    if kind not in KINDS:
        raise InvalidProcess({"kind": _l("Unknown kind of vote.")})
    title = _texts(errors, spec.title, "title", MAX_TITLE)
    description = _texts(errors, spec.description, "description", MAX_DESCRIPTION, required=False)
    opens_at = _time(errors, spec.opens_at, "opens_at")
    closes_at = _time(errors, spec.closes_at, "closes_at")
    if opens_at and closes_at and closes_at <= opens_at:
        errors["closes_at"] = _l("The poll must close after it opens.")
    if spec.audience not in AUDIENCES:
        errors["audience"] = _l("Choose who may vote.")
    if spec.results_visibility not in VISIBILITIES:
        errors["results_visibility"] = _l("Choose when the results are shown.")
    settlement_ids = _settlements(session, errors, spec, municipality_id)
    budget = None
    if kind == BUDGET:
        budget = _amount(errors, spec.budget, "budget", _l("Enter the budget in AMD (a whole number above 0)."))
    elif spec.budget is not None:
        errors["budget"] = _l("Only a budget vote has a budget.")
    questions = _questions(session, errors, spec, kind, municipality_id)
    if errors:
        raise InvalidProcess(errors)
    assert opens_at is not None and closes_at is not None
    return _Checked(title, description, opens_at, closes_at, settlement_ids, budget, questions)


def check(session: AnySession, spec: PollSpec, kind: str, municipality_id: int) -> None:
    """Check ``spec`` as :func:`create` would, writing nothing (a form's live check); raises
    :class:`InvalidProcess` with every problem."""
    _check(session, spec, kind, municipality_id)


def _write_questions(session: AnySession, poll: Poll, checked: _Checked) -> None:
    session.flush()  # the poll's id
    for q_index, (text, most, options) in enumerate(checked.questions):
        question = PollQuestion(poll_id=poll.id, position=q_index, text=text, max_choices=most)
        session.add(question)
        session.flush()
        for o_index, (o_text, cost, proposal_id) in enumerate(options):
            session.add(
                PollOption(
                    poll_id=poll.id,
                    question_id=question.id,
                    position=o_index,
                    text=o_text,
                    cost=cost,
                    proposal_id=proposal_id,
                )
            )
    session.flush()


def _apply(poll: Poll, spec: PollSpec, checked: _Checked) -> None:
    poll.title = checked.title
    poll.description = checked.description
    poll.opens_at = checked.opens_at
    poll.closes_at = checked.closes_at
    poll.audience = spec.audience
    poll.settlement_ids = checked.settlement_ids
    poll.results_visibility = spec.results_visibility
    poll.allow_change = bool(spec.allow_change)
    poll.budget = checked.budget


# -- acts ---------------------------------------------------------------------------------------------


def create(session: AnySession, actor: Actor | None, municipality_id: int, spec: PollSpec, *, kind: str = POLL) -> Poll:
    """A new draft poll (or budget vote) of ``municipality_id``; raises
    :class:`~app.domain.errors.NotAllowed` or :class:`InvalidProcess` (nothing written)."""
    manager = _require_manager(actor, municipality_id)
    checked = _check(session, spec, kind, municipality_id)
    poll = Poll(municipality_id=municipality_id, kind=kind, status=DRAFT, created_by_id=manager.user_id)
    _apply(poll, spec, checked)
    session.add(poll)
    _write_questions(session, poll, checked)
    audit.record(
        session, AUDIT_CREATE, actor=manager, target=("poll", poll.id), municipality_id=municipality_id,
        details={"kind": kind},
    )  # fmt: skip
    session.flush()
    return poll


def _current(poll: Poll, expected_version: int | None) -> None:
    if expected_version is not None and poll.version != expected_version:
        raise ChangedMeanwhile(_l("This poll was changed by someone else meanwhile; reload it and try again."))


def update(session: AnySession, actor: Actor | None, poll: Poll, spec: PollSpec, *, expected_version: int) -> Poll:
    """Replace a draft's settings, questions and options."""
    manager = _require_manager(actor, poll.municipality_id)
    _current(poll, expected_version)
    if poll.status != DRAFT:
        raise InvalidAction(_l("Only a draft can be changed; a published poll's questions stay as voters saw them."))
    checked = _check(session, spec, poll.kind, poll.municipality_id)
    _apply(poll, spec, checked)
    poll.updated_at = utcnow()
    session.execute(delete(PollOption).where(PollOption.poll_id == poll.id))
    session.execute(delete(PollQuestion).where(PollQuestion.poll_id == poll.id))
    _write_questions(session, poll, checked)
    audit.record(session, AUDIT_UPDATE, actor=manager, target=("poll", poll.id), municipality_id=poll.municipality_id)
    session.flush()
    return poll


def publish(
    session: AnySession,
    actor: Actor | None,
    poll: Poll,
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Poll:
    """Make a draft public (voting starts at ``opens_at``). It must not have closed already."""
    manager = _require_manager(actor, poll.municipality_id)
    _current(poll, expected_version)
    if poll.status != DRAFT:
        raise InvalidAction(_l("Only a draft can be published."))
    now = now or utcnow()
    if poll.closes_at <= now:
        raise InvalidProcess({"closes_at": _l("The closing time has passed; set a later one before publishing.")})
    _reserve_proposals(session, poll)
    poll.status = PUBLISHED
    audit.record(session, AUDIT_PUBLISH, actor=manager, target=("poll", poll.id), municipality_id=poll.municipality_id)
    session.flush()
    return poll


def cancel(
    session: AnySession,
    actor: Actor | None,
    poll: Poll,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> Poll:
    """Cancel a draft or a published poll that has not been counted; its ballots stay (and
    stay secret) but no result is published."""
    manager = _require_manager(actor, poll.municipality_id)
    _current(poll, expected_version)
    if poll.status == CANCELLED:
        return poll
    if poll.tallied_at is not None:
        raise InvalidAction(_l("This poll was already counted; its results stand."))
    details = {}
    if reason:
        problem = inputs.text_problem(reason)
        if problem:
            raise InvalidProcess({"reason": problem})
        details["reason"] = reason.strip()[:500]
    if poll.status == PUBLISHED:
        _move_proposals(session, poll, proposal_states.IN_VOTE, proposal_states.FEASIBLE)
    poll.status = CANCELLED
    audit.record(
        session, AUDIT_CANCEL, actor=manager, target=("poll", poll.id), municipality_id=poll.municipality_id,
        details=details,
    )  # fmt: skip
    session.flush()
    return poll


# -- the proposals a budget vote puts to the vote (module docstring of proposal_states) -------------


def _proposal_ids(session: AnySession, poll: Poll, option_ids: Sequence[int] | None = None) -> list[int]:
    stmt = select(PollOption.proposal_id).where(PollOption.poll_id == poll.id, PollOption.proposal_id.is_not(None))
    if option_ids is not None:
        stmt = stmt.where(PollOption.id.in_(list(option_ids)))
    return [n for n in session.execute(stmt).scalars() if n is not None]


def _move_proposals(
    session: AnySession, poll: Poll, from_status: str, to_status: str, option_ids: Sequence[int] | None = None
) -> int:
    ids = _proposal_ids(session, poll, option_ids)
    if not ids:
        return 0
    stmt = (
        access.within(update_rows(Proposal), Proposal, poll.municipality_id)
        .where(Proposal.id.in_(ids), Proposal.status == from_status)
        .values(status=to_status, version=Proposal.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(session.execute(stmt), "rowcount", 0) or 0)


def _reserve_proposals(session: AnySession, poll: Poll) -> None:
    """Publishing a budget vote takes its projects off the feasible list, so that a second
    vote cannot offer them too; refused (the caller rolls back) when one is no longer feasible."""
    wanted = len(_proposal_ids(session, poll))
    if wanted and _move_proposals(session, poll, proposal_states.FEASIBLE, proposal_states.IN_VOTE) != wanted:
        raise InvalidProcess(
            {
                "questions": _l(
                    "A project of this vote is no longer feasible or is already in another budget vote. "
                    "Make a new draft from the feasible proposals."
                )
            }
        )


def settle_budget(session: AnySession, poll: Poll, funded_option_ids: Sequence[int]) -> None:
    """At counting: the funded projects' proposals become funded, the others feasible again."""
    if poll.kind != BUDGET:
        return
    _move_proposals(session, poll, proposal_states.IN_VOTE, proposal_states.FUNDED, funded_option_ids)
    _move_proposals(session, poll, proposal_states.IN_VOTE, proposal_states.FEASIBLE)


# -- reading -----------------------------------------------------------------------------------------


def get(session: AnySession, actor: Actor | None, poll_id: Any) -> Poll:
    """Poll ``poll_id``: any of its own municipality's for staff (system administrators: any);
    for everybody else a published or cancelled one only. :class:`~app.domain.access.NotFound`
    otherwise."""
    number = inputs.whole_number(poll_id, inputs.MAX_ID)
    if number is None:
        raise access.NotFound(poll_id)
    visible = access.visible_municipality_ids(actor)
    if visible is None or visible:
        staff = access.scoped(select(Poll), Poll, actor).where(Poll.id == number)
        poll = session.execute(staff).scalar_one_or_none()
        if poll is not None:
            return poll
    public = access.unscoped(select(Poll), reason="published polls are public").where(
        Poll.id == number, Poll.status.in_((PUBLISHED, CANCELLED))
    )
    poll = session.execute(public).scalar_one_or_none()
    if poll is None:
        raise access.NotFound(poll_id)
    return poll


def structure(session: AnySession, poll: Poll) -> PollView:
    """The poll's questions and options in their order (one query)."""
    rows = session.execute(
        select(PollQuestion, PollOption)
        .outerjoin(PollOption, and_(PollOption.question_id == PollQuestion.id, PollOption.poll_id == poll.id))
        .where(PollQuestion.poll_id == poll.id)
        .order_by(PollQuestion.position, PollQuestion.id, PollOption.position, PollOption.id)
    ).all()
    questions: dict[int, PollQuestion] = {}
    by_question: dict[int, list[OptionView]] = {}
    for question, option in rows:
        questions.setdefault(question.id, question)
        options = by_question.setdefault(question.id, [])
        if option is not None:
            options.append(
                OptionView(
                    id=option.id,
                    text=dict(option.text),
                    cost=option.cost,
                    position=option.position,
                    proposal_id=option.proposal_id,
                )
            )
    return PollView(
        poll=poll,
        questions=[
            QuestionView(
                id=q.id, text=dict(q.text), max_choices=q.max_choices, options=by_question[q.id],
                position=q.position,
            )
            for q in questions.values()
        ],
    )  # fmt: skip


@dataclass(frozen=True)
class StaffPoll:
    """A poll as its municipality's staff see it: with its municipality and how many people
    voted (a count, never who)."""

    poll: Poll
    municipality: Municipality
    voters: int


def get_for_staff(session: AnySession, actor: Actor | None, poll_id: Any) -> StaffPoll:
    """Poll ``poll_id`` of a municipality ``actor`` acts for (staff their own, system
    administrators any), published or not, with its municipality and its number of voters:
    one query. :class:`~app.domain.access.NotFound` otherwise (another municipality's
    published poll too: that one is the public's page, not the staff's)."""
    number = inputs.whole_number(poll_id, inputs.MAX_ID)
    if number is None:
        raise access.NotFound(poll_id)
    # Who voted belongs to no municipality of its own: the count is of the poll's voters.
    voters = select(func.count()).select_from(PollVoter).where(PollVoter.poll_id == Poll.id).correlate(Poll)
    stmt = access.scoped(
        select(Poll, Municipality, voters.scalar_subquery()).join(
            Municipality, Municipality.id == Poll.municipality_id
        ),
        Poll,
        actor,
    )
    found = session.execute(stmt.where(Poll.id == number)).one_or_none()
    if found is None:
        raise access.NotFound(poll_id)
    poll, municipality, count = found
    return StaffPoll(poll, municipality, int(count or 0))


__all__ = [
    "BUDGET",
    "KINDS",
    "POLL",
    "VISIBILITIES",
    "OptionSpec",
    "OptionView",
    "PollSpec",
    "PollView",
    "QuestionSpec",
    "QuestionView",
    "StaffPoll",
    "cancel",
    "check",
    "create",
    "get",
    "get_for_staff",
    "may_manage",
    "publish",
    "settle_budget",
    "structure",
    "update",
]
