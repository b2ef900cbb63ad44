"""Citizens' proposals and participatory budgeting (issue 11, point 6).

A verified resident of a municipality submits a proposal (title, description, a cost estimate
in AMD, where, which settlement, photos); other verified residents support it, one support
each (the primary key of :class:`~app.models.participation.ProposalSupport`), never the
author. The support that reaches the municipality's ``proposal_support_threshold`` moves the
proposal from "open" to "review" in its own transaction; the count is an UPDATE of the row
(``support_count + 1``), so it equals the number of support rows however many arrive at once.

Staff then find it feasible (with the reviewed cost) or unfeasible (with a reason): the
municipal administrator and the heads of the municipality, who answer for what their
departments can build; specialists prepare, they do not decide. Every decision is
audit-logged and the author is told. Feasible proposals are put to a budget vote
(:func:`create_budget_vote`, a draft poll of kind "budget" the polls screen publishes).

Functions take the session and the actor, add to the session and flush; the caller commits.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from app.domain import access, audit, citizen_notices, inputs, roles
from app.domain.access import Actor
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.domain.participation import files, polls, residency
from app.domain.participation.proposal_states import (
    FEASIBLE,
    FUNDED,
    IN_VOTE,
    OPEN,
    REVIEW,
    STATUSES,
    UNFEASIBLE,
    WITHDRAWN,
)
from app.domain.storage import Storage
from app.models import Municipality
from app.models.base import utcnow
from app.models.participation import Proposal, ProposalSupport, Settlement

# db.session (a scoped_session) is passed too: it proxies a Session.
AnySession = Session

# Supports keep coming while staff review: a popular proposal shows it.
SUPPORTABLE = (OPEN, REVIEW)
# What the public list shows unless asked for one status.
LISTED = (OPEN, REVIEW, FEASIBLE, IN_VOTE, FUNDED, UNFEASIBLE)
STATUS_LABELS: dict[str, Any] = {
    OPEN: _l("Collecting support"),
    REVIEW: _l("Under review"),
    FEASIBLE: _l("Feasible"),
    UNFEASIBLE: _l("Not feasible"),
    IN_VOTE: _l("In a budget vote"),
    FUNDED: _l("Funded by a budget vote"),
    WITHDRAWN: _l("Withdrawn"),
}

MAX_TITLE = 200
MAX_DESCRIPTION = 5000
MAX_LOCATION = 300
MAX_REASON = 1000
# AMD; an INTEGER column holds 32 bits on PostgreSQL, and no community project costs more.
MAX_COST = 2_000_000_000
MAX_COST_TEXT = "2 000 000 000"
MIN_THRESHOLD = 1
MAX_THRESHOLD = 100_000
PER_PAGE = 20
# Staff's queue shows this many at most (a municipality reviews tens a year, not thousands).
MAX_QUEUE = 500
# Who decides feasibility (see the module's docstring).
REVIEWER_ROLES = (roles.MUNICIPAL_ADMIN, roles.HEAD)

AUDIT_REVIEW = "proposal.review"
AUDIT_THRESHOLD = "municipality.proposal_support_threshold"
AUDIT_BUDGET_VOTE = "proposal.budget_vote"


class InvalidProposal(WorkflowError):
    """Bad input: ``errors`` maps each field to its message; nothing was written."""

    default_message = _l("Check the form: some fields need attention.")

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__()
        self.errors = dict(errors)


class ProposalRefused(WorkflowError):
    """The act does not fit who is acting or the proposal's state; ``str()`` says why."""

    default_message = _l("This is not possible for this proposal now.")


class NotResident(ProposalRefused):
    default_message = _l(
        "Only verified residents of this municipality may do this. A citizen service office verifies "
        "your residency when you show your passport or ID card."
    )


class AlreadySupported(ProposalRefused):
    default_message = _l("You already support this proposal.")


class OwnProposal(ProposalRefused):
    default_message = _l("You cannot support your own proposal.")


class NotOpen(ProposalRefused):
    default_message = _l("This proposal does not collect support any more.")


# -- input ----------------------------------------------------------------------------------------


def _clean_line(raw: Any, *, field: str, max_len: int, required: bool, errors: dict[str, str]) -> str:
    """One line of text (spaces collapsed, NFC), with its problem added to ``errors``."""
    text = raw if isinstance(raw, str) else ""
    problem = inputs.text_problem(text)
    if problem:
        errors[field] = problem
        return ""
    text = " ".join(unicodedata.normalize("NFC", text).split())
    if required and not text:
        errors[field] = _("This field is required.")
    elif len(text) > max_len:
        errors[field] = _("At most %(max)d characters.", max=max_len)
    return text


def _clean_text(raw: Any, *, field: str, max_len: int, required: bool, errors: dict[str, str]) -> str:
    """A text area's text (NFC, line ends as ``\\n``, trimmed), with its problem."""
    text = raw if isinstance(raw, str) else ""
    problem = inputs.text_problem(text)
    if problem:
        errors[field] = problem
        return ""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not text:
        errors[field] = _("This field is required.")
    elif len(text) > max_len:
        errors[field] = _("At most %(max)d characters.", max=max_len)
    return text


def _amount(raw: Any, *, field: str, errors: dict[str, str]) -> int | None:
    """A whole number of AMD from 1 to :data:`MAX_COST`; spaces and thousands separators
    people type ("1 500 000", "1,500,000") are allowed."""
    text = raw.replace(" ", "").replace("\u00a0", "").replace(",", "") if isinstance(raw, str) else raw
    number = inputs.whole_number(text, MAX_COST)
    if number is None:
        errors[field] = _("Enter a whole number of drams from 1 to %(max)s.", max=MAX_COST_TEXT)
    return number


def settlements_of(session: AnySession, municipality_id: int) -> list[Settlement]:
    """The active settlements of a municipality, by code (the form's choices)."""
    stmt = access.within(select(Settlement), Settlement, municipality_id)
    return list(session.execute(stmt.where(Settlement.active.is_(True)).order_by(Settlement.code)).scalars())


settlement_name = residency.settlement_name


def _settlement(session: AnySession, municipality_id: int, raw: Any, errors: dict[str, str]) -> int | None:
    if raw in (None, ""):
        return None
    wanted = inputs.whole_number(raw, inputs.MAX_ID)
    if wanted is None or wanted not in {s.id for s in settlements_of(session, municipality_id)}:
        errors["settlement_id"] = _("Choose a settlement of this municipality.")
        return None
    return wanted


# -- who --------------------------------------------------------------------------------------------


def _resident(session: AnySession, actor: Actor | None, municipality_id: int) -> Actor:
    """``actor`` if a signed-in citizen who is a verified resident; :class:`NotResident` else."""
    if actor is None or not actor.active or not actor.is_citizen:
        raise NotResident()
    if not residency.is_resident(session, actor.user_id, municipality_id):
        raise NotResident()
    return actor


def may_review(actor: Actor | None, municipality_id: int) -> bool:
    return access.staff_of(actor, municipality_id) and actor.has(*REVIEWER_ROLES)


def may_administer(actor: Actor | None, municipality_id: int) -> bool:
    """The municipal administrator: the threshold and budget votes."""
    return access.staff_of(actor, municipality_id) and actor.has(roles.MUNICIPAL_ADMIN)


# -- loading ----------------------------------------------------------------------------------------


def get(session: AnySession, municipality_id: int, proposal_id: Any) -> Proposal:
    """Proposal ``proposal_id`` of ``municipality_id`` (ids may come from a URL);
    :class:`access.NotFound` when there is none there."""
    number = inputs.whole_number(proposal_id, inputs.MAX_ID)
    if number is None:
        raise access.NotFound(proposal_id)
    stmt = access.within(select(Proposal), Proposal, municipality_id).where(Proposal.id == number)
    proposal = session.execute(stmt).scalar_one_or_none()
    if proposal is None:
        raise access.NotFound(number)
    return proposal


@dataclass(frozen=True)
class Page:
    proposals: list[Proposal]
    # The id to pass as ``before`` for the next page, or None on the last one.
    next_before: int | None


def page(
    session: AnySession,
    municipality_id: int,
    *,
    status: str | None = None,
    before: Any = None,
    per_page: int = PER_PAGE,
) -> Page:
    """The newest proposals first, ``per_page`` at a time (keyset: ids below ``before``),
    of one status or of every listed one (not withdrawn): one query whatever the page."""
    stmt = access.within(select(Proposal), Proposal, municipality_id)
    stmt = stmt.where(Proposal.status == status) if status in STATUSES else stmt.where(Proposal.status.in_(LISTED))
    below = inputs.whole_number(before, inputs.MAX_ID) if before not in (None, "") else None
    if below is not None:
        stmt = stmt.where(Proposal.id < below)
    rows = list(session.execute(stmt.order_by(Proposal.id.desc()).limit(per_page + 1)).scalars())
    more = len(rows) > per_page
    rows = rows[:per_page]
    return Page(rows, rows[-1].id if more and rows else None)


def supported_by(session: AnySession, user_id: int | None, proposal_ids: Sequence[int]) -> set[int]:
    """Which of ``proposal_ids`` ``user_id`` supports (one query)."""
    if user_id is None or not proposal_ids:
        return set()
    stmt = select(ProposalSupport.proposal_id).where(
        ProposalSupport.user_id == user_id, ProposalSupport.proposal_id.in_(list(proposal_ids))
    )
    return set(session.execute(stmt).scalars())


def review_queue(session: AnySession, municipality_id: int, status: str | None = REVIEW) -> list[Proposal]:
    """Staff's list: proposals of ``status`` (all when None), oldest first (first come, first
    reviewed)."""
    stmt = access.within(select(Proposal), Proposal, municipality_id)
    if status in STATUSES:
        stmt = stmt.where(Proposal.status == status)
    return list(session.execute(stmt.order_by(Proposal.id).limit(MAX_QUEUE)).scalars())


# -- the citizen's acts --------------------------------------------------------------------------


def submit(
    session: AnySession,
    storage: Storage,
    actor: Actor | None,
    municipality_id: int,
    *,
    title: Any,
    description: Any,
    cost_estimate: Any,
    location: Any = None,
    settlement_id: Any = None,
    photos: Sequence[Any] = (),
) -> Proposal:
    """A verified resident submits a proposal, with up to :data:`files.MAX_PHOTOS` photos.
    Raises :class:`NotResident`, :class:`InvalidProposal`, an
    :class:`~app.domain.uploads.UploadRefused` or a StorageError (nothing written)."""
    _resident(session, actor, municipality_id)
    assert actor is not None
    errors: dict[str, str] = {}
    clean_title = _clean_line(title, field="title", max_len=MAX_TITLE, required=True, errors=errors)
    clean_description = _clean_text(
        description, field="description", max_len=MAX_DESCRIPTION, required=True, errors=errors
    )
    cost = _amount(cost_estimate, field="cost_estimate", errors=errors)
    clean_location = _clean_line(location, field="location", max_len=MAX_LOCATION, required=False, errors=errors)
    settlement = _settlement(session, municipality_id, settlement_id, errors)
    if errors:
        raise InvalidProposal(errors)
    assert cost is not None
    proposal = Proposal(
        municipality_id=municipality_id,
        user_id=actor.user_id,
        title=clean_title,
        description=clean_description,
        cost_estimate=cost,
        location=clean_location or None,
        settlement_id=settlement,
        status=OPEN,
    )
    session.add(proposal)
    session.flush()
    files.store(
        session, storage, municipality_id=municipality_id, owner=("proposal", proposal.id), uploads=photos, kind="photo"
    )
    return proposal


def _threshold(session: AnySession, municipality_id: int) -> int:
    municipality = session.get(Municipality, municipality_id)
    return int(municipality.proposal_support_threshold) if municipality is not None else MAX_THRESHOLD


def support(session: AnySession, actor: Actor | None, proposal: Proposal, *, config: Mapping[str, Any]) -> bool:
    """A verified resident supports ``proposal``; returns whether this support moved it to
    review. The support row and the count (and the move) are one transaction: the caller
    commits. Raises :class:`NotResident`, :class:`OwnProposal`, :class:`AlreadySupported` or
    :class:`NotOpen`; nothing is left written then."""
    _resident(session, actor, proposal.municipality_id)
    assert actor is not None
    if proposal.user_id == actor.user_id:
        raise OwnProposal()
    if proposal.status not in SUPPORTABLE:
        raise NotOpen()
    if not _add_support(session, proposal.id, actor.user_id):
        raise AlreadySupported()
    # The count is one UPDATE: concurrent supports queue on the row's lock, each adds one to
    # what the one before left; one that arrives after a withdrawal counts nothing.
    counted = access.within(update(Proposal), Proposal, proposal.municipality_id)
    counted = counted.where(Proposal.id == proposal.id, Proposal.status.in_(SUPPORTABLE))
    if _rowcount(session, counted.values(support_count=Proposal.support_count + 1)) != 1:
        session.execute(
            delete(ProposalSupport).where(
                ProposalSupport.proposal_id == proposal.id, ProposalSupport.user_id == actor.user_id
            )
        )
        raise NotOpen()
    # The move, still holding the row: only the transaction that finds it open moves it.
    threshold = _threshold(session, proposal.municipality_id)
    move = access.within(update(Proposal), Proposal, proposal.municipality_id)
    move = move.where(Proposal.id == proposal.id, Proposal.status == OPEN, Proposal.support_count >= threshold)
    moved = _rowcount(session, move.values(status=REVIEW, version=Proposal.version + 1)) == 1
    session.refresh(proposal)
    if moved:
        _tell_author(session, proposal, config=config)
    return moved


def _rowcount(session: AnySession, stmt: Any) -> int:
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return int(cast(CursorResult[Any], result).rowcount)


def _add_support(session: AnySession, proposal_id: int, user_id: int) -> bool:
    """Insert the support row unless the person already supports it; whether it was added.
    ON CONFLICT, not a savepoint: the sqlite3 driver starts its transaction at the first
    write, so a savepoint taken first would commit on release (app/database.py)."""
    values = {"proposal_id": proposal_id, "user_id": user_id, "created_at": utcnow()}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(ProposalSupport).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(ProposalSupport).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover - Hamaynk runs on SQLite and PostgreSQL
        if supported_by(session, user_id, [proposal_id]):
            return False
        stmt = insert(ProposalSupport).values(**values)
    # RETURNING, not rowcount: the ORM's insert does not report a count on every driver.
    return session.execute(stmt.returning(ProposalSupport.user_id)).first() is not None


def withdraw(session: AnySession, actor: Actor | None, proposal: Proposal, *, expected_version: Any = None) -> None:
    """The author withdraws their proposal while it collects support."""
    if actor is None or not actor.active or proposal.user_id is None or proposal.user_id != actor.user_id:
        raise NotAllowed(_l("Only the author may withdraw this proposal."))
    _check_version(proposal, expected_version)
    if proposal.status != OPEN:
        raise ProposalRefused(_l("Only a proposal that still collects support may be withdrawn."))
    proposal.status = WITHDRAWN
    session.flush()


def _check_version(proposal: Proposal, expected_version: Any) -> None:
    if expected_version in (None, ""):
        return
    if inputs.whole_number(expected_version, inputs.MAX_ID) != proposal.version:
        raise ChangedMeanwhile(_l("This proposal was changed meanwhile; reload the page and try again."))


# -- staff -----------------------------------------------------------------------------------------


def review(
    session: AnySession,
    actor: Actor | None,
    proposal: Proposal,
    *,
    feasible: bool,
    reviewed_cost: Any = None,
    reason: Any = None,
    expected_version: Any = None,
    config: Mapping[str, Any],
    ip: str | None = None,
) -> None:
    """Staff (:data:`REVIEWER_ROLES`) find a proposal under review feasible, at the reviewed
    cost, or unfeasible, with a reason (required then, optional for feasible). Audit-logged;
    the author is told."""
    if not may_review(actor, proposal.municipality_id):
        raise NotAllowed(_l("Only the municipal administrator or a head may review proposals."))
    _check_version(proposal, expected_version)
    if proposal.status != REVIEW:
        raise ProposalRefused(_l("Only a proposal under review can be decided."))
    errors: dict[str, str] = {}
    clean_reason = _clean_text(reason, field="reason", max_len=MAX_REASON, required=not feasible, errors=errors)
    cost = _amount(reviewed_cost, field="reviewed_cost", errors=errors) if feasible else None
    if errors:
        raise InvalidProposal(errors)
    proposal.status = FEASIBLE if feasible else UNFEASIBLE
    proposal.reviewed_cost = cost
    proposal.status_reason = clean_reason or None
    proposal.reviewed_by_id = actor.user_id if actor is not None else None
    proposal.reviewed_at = utcnow()
    audit.record(
        session,
        AUDIT_REVIEW,
        actor=actor,
        target=("proposal", proposal.id),
        municipality_id=proposal.municipality_id,
        details={"status": proposal.status, "reviewed_cost": cost, "reason": clean_reason},
        ip=ip,
    )
    session.flush()
    _tell_author(session, proposal, config=config)


def set_threshold(
    session: AnySession, actor: Actor | None, municipality_id: int, value: Any, *, ip: str | None = None
) -> Municipality:
    """The municipal administrator (or a system administrator) sets how many supports move a
    proposal to review. Proposals already past it are not moved back; open ones move with
    their next support."""
    allowed = actor is not None and actor.active and (actor.is_system_admin or may_administer(actor, municipality_id))
    if not allowed:
        raise NotAllowed(_l("Only the municipal administrator may change this."))
    municipality = access.get_municipality(session, actor, municipality_id)
    number = inputs.whole_number(value, MAX_THRESHOLD, MIN_THRESHOLD)
    if number is None:
        message = _("Enter a whole number from %(min)d to %(max)d.", min=MIN_THRESHOLD, max=MAX_THRESHOLD)
        raise InvalidProposal({"threshold": message})
    before = municipality.proposal_support_threshold
    municipality.proposal_support_threshold = number
    audit.record(
        session,
        AUDIT_THRESHOLD,
        actor=actor,
        target=("municipality", municipality.id),
        municipality_id=municipality.id,
        details={"from": before, "to": number},
        ip=ip,
    )
    session.flush()
    return municipality


# -- notices ---------------------------------------------------------------------------------------


def public_path(municipality_code: str, proposal_id: int) -> str:
    return f"/m/{municipality_code}/proposals/{proposal_id}"


def _tell_author(session: AnySession, proposal: Proposal, *, config: Mapping[str, Any]) -> None:
    """The author hears of each status staff or supports give their proposal."""
    if proposal.user_id is None:
        return
    municipality = session.get(Municipality, proposal.municipality_id)
    code = municipality.code if municipality is not None else ""
    names = (
        {"hy": municipality.name_hy, "en": municipality.name_en or "", "ru": municipality.name_ru or ""}
        if municipality is not None
        else None
    )
    reason = proposal.status_reason or ""
    citizen_notices.emit(
        session,
        event=citizen_notices.PROPOSAL_STATUS,
        user_id=proposal.user_id,
        municipality_id=proposal.municipality_id,
        config=config,
        context={
            "title": proposal.title,
            "municipality": names,
            "decision": _each_language(lambda: str(STATUS_LABELS[proposal.status])),
            "reason": _each_language(
                lambda: citizen_notices.render_template(str(citizen_notices.REASON), {"reason": reason})
            )
            if reason
            else None,
            "path": public_path(code, proposal.id),
        },
        dedup=f"proposal:{proposal.id}:{proposal.status}:{proposal.version}",
    )


def _each_language(make: Any) -> dict[str, str]:
    from flask_babel import force_locale

    from app.domain import notifications

    words = {}
    for language in notifications.LANGUAGES:
        with force_locale(language):
            words[language] = make()
    return words


# -- budget votes -----------------------------------------------------------------------------------


def feasible(session: AnySession, municipality_id: int) -> list[Proposal]:
    """The feasible proposals of a municipality, most supported first (the vote's choices)."""
    stmt = access.within(select(Proposal), Proposal, municipality_id).where(Proposal.status == FEASIBLE)
    return list(session.execute(stmt.order_by(Proposal.support_count.desc(), Proposal.id)).scalars())


def create_budget_vote(
    session: AnySession,
    actor: Actor | None,
    municipality_id: int,
    *,
    proposal_ids: Sequence[Any],
    budget: Any,
    opens_at: dt.datetime | str,
    closes_at: dt.datetime | str,
    title: Mapping[str, str],
    description: Mapping[str, str] | None = None,
    audience: str = "residents",
    settlement_ids: Sequence[int] = (),
    results_visibility: str = "after_close",
    allow_change: bool = False,
    ip: str | None = None,
) -> Any:
    """A draft participatory-budget vote (a :class:`~app.models.participation.Poll` of kind
    "budget") with one option per chosen feasible proposal at its reviewed cost; the polls
    screen publishes it. Raises :class:`InvalidProposal` for the choice of proposals and the
    budget, the polls' ``InvalidProcess`` for the rest (times, title)."""
    if not may_administer(actor, municipality_id):
        raise NotAllowed(_l("Only the municipal administrator may put proposals to a vote."))
    errors: dict[str, str] = {}
    wanted = {n for n in (inputs.whole_number(raw, inputs.MAX_ID) for raw in proposal_ids or ()) if n is not None}
    chosen = [p for p in feasible(session, municipality_id) if p.id in wanted]
    if len(chosen) < 2 or len(chosen) != len(wanted) or len(wanted) != len(list(proposal_ids)):
        errors["proposal_ids"] = _("Choose at least two feasible proposals of this municipality.")
    amount = _amount(budget, field="budget", errors=errors)
    if amount is not None and chosen and amount < min(p.reviewed_cost or 0 for p in chosen):
        errors["budget"] = _("The budget does not cover even the cheapest chosen proposal.")
    if errors:
        raise InvalidProposal(errors)
    options = tuple(
        polls.OptionSpec(text={"hy": p.title}, cost=p.reviewed_cost or p.cost_estimate, proposal_id=p.id)
        for p in chosen
    )
    question = polls.QuestionSpec(text=dict(title), max_choices=len(options), options=options)
    spec = polls.PollSpec(
        title=dict(title),
        description=dict(description or {}),
        opens_at=opens_at,
        closes_at=closes_at,
        audience=audience,
        settlement_ids=tuple(settlement_ids),
        results_visibility=results_visibility,
        allow_change=allow_change,
        budget=amount,
        questions=(question,),
    )
    poll = polls.create(session, actor, municipality_id, spec, kind="budget")
    audit.record(
        session,
        AUDIT_BUDGET_VOTE,
        actor=actor,
        target=("poll", poll.id),
        municipality_id=municipality_id,
        details={"proposal_ids": [p.id for p in chosen], "budget": amount},
        ip=ip,
    )
    session.flush()
    return poll


def count_supports(session: AnySession, proposal_id: int) -> int:
    """The support rows of a proposal (what ``support_count`` must equal)."""
    stmt = select(func.count()).select_from(ProposalSupport).where(ProposalSupport.proposal_id == proposal_id)
    return int(session.execute(stmt).scalar_one())


__all__ = [
    "FEASIBLE",
    "FUNDED",
    "IN_VOTE",
    "OPEN",
    "REVIEW",
    "STATUSES",
    "STATUS_LABELS",
    "UNFEASIBLE",
    "WITHDRAWN",
    "AlreadySupported",
    "InvalidProposal",
    "NotOpen",
    "NotResident",
    "OwnProposal",
    "Page",
    "ProposalRefused",
    "count_supports",
    "create_budget_vote",
    "feasible",
    "get",
    "may_administer",
    "may_review",
    "page",
    "public_path",
    "review",
    "review_queue",
    "set_threshold",
    "settlement_name",
    "settlements_of",
    "submit",
    "support",
    "supported_by",
    "withdraw",
]
