"""Substitutes for staff on leave: while a colleague is away, their tasks are someone else's.

A staff member going on leave (or their head, or the municipal administrator) names a
substitute for a period of office days (Yerevan's calendar, both ends included). During it the
absent person's tasks — assigned to them, or unassigned at a step they may act on — show in
the substitute's "My tasks" (:mod:`app.domain.inbox`), the substitute may act on them
(:func:`app.domain.workflow.check_can_act_on_step`), and the history records that they acted
on the absent person's behalf (``TransitionRecord.on_behalf_of_id``).

Who may be named and who may name them are :func:`app.domain.access.may_stand_in_for` and
:func:`app.domain.access.may_arrange_substitute`. A substitution ends on its last day or
earlier, when someone who may arrange it ends it (``cancelled_at``); rows are kept for the
record. Delegation does not chain: a substitute's own substitute does not inherit the first
absent person's tasks.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, aliased

from app.domain import access, audit, inputs, memo, roles
from app.domain.access import Actor, NotFound
from app.domain.tracking import office_today
from app.models import Department, Role, StaffProfile, Substitution, User
from app.models.base import utcnow

# A substitution longer than a year is a typo, not a leave.
MAX_DAYS = 366
MAX_REASON = 200
# How long ended substitutions stay on the page, for the record.
SHOWN_AFTER_END = dt.timedelta(days=30)
MAX_LISTED = 200


class SubstitutionError(ValueError):
    """A request the domain refuses; ``str()`` is a sentence for the user, ``field`` the form
    field at fault (``None``: the request as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def in_force(on: dt.date):
    """The WHERE clause of substitutions in force on ``on``."""
    return and_(Substitution.cancelled_at.is_(None), Substitution.starts_on <= on, Substitution.ends_on >= on)


def _overlapping(starts_on: dt.date, ends_on: dt.date):
    return and_(
        Substitution.cancelled_at.is_(None), Substitution.starts_on <= ends_on, Substitution.ends_on >= starts_on
    )


# -- people ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Colleague:
    """An active member of the municipality's staff, as the substitutes page lists them."""

    actor: Actor
    name: str

    @property
    def user_id(self) -> int:
        return self.actor.user_id


def colleagues(session: Session, municipality_id: int) -> list[Colleague]:
    """Every active caseworker (clerk, specialist, head, municipal administrator) of the
    municipality, by name, with the roles each holds: one query."""
    # Users and roles belong to no municipality; the profiles are scoped.
    stmt = access.within(
        select(User.id, User.first_name, User.last_name, StaffProfile.department_id, Role.name)
        .join(StaffProfile, StaffProfile.user_id == User.id)
        .join(User.roles),
        StaffProfile,
        municipality_id,
    )
    rows = session.execute(
        stmt.where(User.active.is_(True)).order_by(User.last_name, User.first_name, User.id, Role.name)
    ).all()
    people: dict[int, tuple[str | None, str | None, int | None]] = {}
    held: dict[int, set[str]] = defaultdict(set)
    for user_id, first, last, department_id, role in rows:
        people.setdefault(user_id, (first, last, department_id))
        held[user_id].add(role)
    result = []
    for user_id, (first, last, department_id) in people.items():
        roles_held = frozenset(held[user_id])
        if not roles_held & frozenset(access.CASEWORKER_ROLES):
            continue
        actor = Actor(
            user_id=user_id, roles=roles_held, active=True, municipality_id=municipality_id, department_id=department_id
        )
        result.append(Colleague(actor, " ".join(p for p in (first, last) if p) or str(user_id)))
    return result


def _staff_member(session: Session, municipality_id: int, user_id: int | None) -> Actor | None:
    """The actor of ``user_id`` if they are staff of ``municipality_id``, else ``None`` (a
    forged id of another municipality's person reads as nobody)."""
    if user_id is None:
        return None
    person = access.load_actor(session, user_id)
    if person is None or person.municipality_id != municipality_id:
        return None
    return person


# -- in force -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandIn:
    """``absent``, whose tasks the substitute works today, until ``ends_on``."""

    substitution_id: int
    absent: Actor
    department_code: str | None
    ends_on: dt.date


def standing_in_for(session: Session, actor: Actor | None, on: dt.date | None = None) -> list[StandIn]:
    """The absent colleagues ``actor`` stands in for on ``on`` (today in Yerevan by default),
    as actors built from their current profiles: one query when there are none, three when
    there are (the substitutions with the absent people's profiles; their accounts and roles;
    their departments' codes), once per transaction. A substitution whose people no longer
    qualify (the substitute lost a role, the absent person's account was closed) is not in force."""
    if actor is None or not actor.active or actor.municipality_id is None:
        return []
    day = on or office_today()
    # Remembered for the transaction (app.domain.memo): a case page asks once per action it
    # may offer (approve, take, reassign, …), and the inbox once more. The key holds all of
    # the actor the answer depends on (their roles decide whom they may stand in for).
    municipality_id = actor.municipality_id
    key = ("standing_in_for", actor.user_id, municipality_id, actor.department_id, actor.roles, day)
    return list(memo.remember(session, key, lambda: _read_standing_in_for(session, actor, municipality_id, day)))


def _read_standing_in_for(session: Session, actor: Actor, municipality_id: int, day: dt.date) -> tuple[StandIn, ...]:
    stmt = access.within(
        select(Substitution.id, Substitution.absent_id, Substitution.ends_on, StaffProfile.department_id).join(
            StaffProfile, StaffProfile.user_id == Substitution.absent_id
        ),
        Substitution,
        municipality_id,
    )
    stmt = access.within(stmt, StaffProfile, municipality_id)
    rows = session.execute(
        stmt.where(Substitution.substitute_id == actor.user_id, in_force(day)).order_by(
            Substitution.starts_on, Substitution.id
        )
    ).all()
    if not rows:
        return ()
    absent_ids = sorted({row[1] for row in rows})
    # Accounts and roles in one query (users and roles belong to no municipality).
    active: dict[int, bool] = {}
    found: dict[int, set[str]] = defaultdict(set)
    for user_id, is_active, role in session.execute(
        select(User.id, User.active, Role.name).outerjoin(User.roles).where(User.id.in_(absent_ids))
    ).all():
        active[user_id] = bool(is_active)
        if role is not None:
            found[user_id].add(role)
    held = {user_id: frozenset(found.get(user_id, ())) for user_id in absent_ids}
    department_ids = sorted({row[3] for row in rows if row[3] is not None})
    codes: dict[int, str] = {}
    if department_ids:
        stmt_codes = access.within(select(Department.id, Department.code), Department, municipality_id)
        codes = dict(session.execute(stmt_codes.where(Department.id.in_(department_ids))).all())
    result = []
    for substitution_id, absent_id, ends_on, department_id in rows:
        absent = Actor(
            user_id=absent_id,
            roles=held.get(absent_id, frozenset()),
            active=bool(active.get(absent_id)),
            municipality_id=municipality_id,
            department_id=department_id,
        )
        if access.may_stand_in_for(actor, absent):
            code = codes.get(department_id) if department_id is not None else None
            result.append(StandIn(substitution_id, absent, code, ends_on))
    return tuple(result)


# -- the page -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One substitution as the page shows it."""

    row: Substitution
    absent_name: str
    substitute_name: str
    in_force: bool
    upcoming: bool
    may_end: bool


# Built once: an alias made per call rebuilds its column collection on every page.
_ABSENT_USER = aliased(User, name="absent_user")
_SUBSTITUTE_USER = aliased(User, name="substitute_user")


def visible(
    session: Session, actor: Actor, on: dt.date | None = None, *, people: list[Colleague] | None = None
) -> list[Listed]:
    """The substitutions ``actor`` takes part in or arranges, current and upcoming first, then
    those ended in the last :data:`SHOWN_AFTER_END`: their own (as the absent person or the
    substitute), their department's people's for a head, every one for the municipal admin.
    One query with the people's names, and :func:`colleagues` unless ``people`` (the
    municipality's colleagues, as the caller already loaded them) is given."""
    if not actor.active or actor.municipality_id is None:
        return []
    municipality_id = actor.municipality_id
    day = on or office_today()
    mine = or_(Substitution.absent_id == actor.user_id, Substitution.substitute_id == actor.user_id)
    if actor.has(roles.MUNICIPAL_ADMIN):
        who = None
    elif actor.has(roles.HEAD) and actor.department_id is not None:
        department = access.within(select(StaffProfile.user_id), StaffProfile, municipality_id).where(
            StaffProfile.department_id == actor.department_id
        )
        who = or_(mine, Substitution.absent_id.in_(department))
    else:
        who = mine
    absent_user, substitute_user = _ABSENT_USER, _SUBSTITUTE_USER
    # Users belong to no municipality: the names of the people of the substitutions listed.
    stmt = access.within(
        select(
            Substitution,
            absent_user.first_name,
            absent_user.last_name,
            substitute_user.first_name,
            substitute_user.last_name,
        )
        .outerjoin(absent_user, absent_user.id == Substitution.absent_id)
        .outerjoin(substitute_user, substitute_user.id == Substitution.substitute_id),
        Substitution,
        municipality_id,
    ).where(Substitution.ends_on >= day - SHOWN_AFTER_END)
    if who is not None:
        stmt = stmt.where(who)
    found = session.execute(
        stmt.order_by(Substitution.starts_on.desc(), Substitution.id.desc()).limit(MAX_LISTED)
    ).all()
    rows = [r[0] for r in found]
    names: dict[int, str] = {}
    for row, a_first, a_last, s_first, s_last in found:
        names[row.absent_id] = " ".join(p for p in (a_first, a_last) if p) or str(row.absent_id)
        names[row.substitute_id] = " ".join(p for p in (s_first, s_last) if p) or str(row.substitute_id)
    if rows and people is None:
        people = colleagues(session, municipality_id)
    by_user = {c.user_id: c.actor for c in people or ()}
    listed = []
    for row in rows:
        running = row.cancelled_at is None and row.starts_on <= day <= row.ends_on
        upcoming = row.cancelled_at is None and row.starts_on > day
        # A closed account is no colleague any more; its substitutions can still be ended.
        absent = by_user.get(row.absent_id) or Actor(
            user_id=row.absent_id, roles=frozenset(), active=False, municipality_id=municipality_id, department_id=None
        )
        may_end = (running or upcoming) and (
            actor.user_id == row.absent_id or access.may_arrange_substitute(actor, absent)
        )
        listed.append(
            Listed(
                row,
                names.get(row.absent_id, str(row.absent_id)),
                names.get(row.substitute_id, str(row.substitute_id)),
                running,
                upcoming,
                may_end,
            )
        )
    # Current and upcoming first, then ended ones; each newest first (the query's order).
    listed.sort(key=lambda item: not (item.in_force or item.upcoming))
    return listed


def absent_choices(actor: Actor, people: list[Colleague]) -> list[Colleague]:
    """Whom ``actor`` may name a substitute for: themselves, their department's people (a
    head), everyone (the municipal administrator)."""
    return [c for c in people if access.may_arrange_substitute(actor, c.actor)]


def substitute_choices(absent: Actor | None, people: list[Colleague]) -> list[Colleague]:
    """Who may stand in for ``absent``; everyone who could stand in for someone when no one
    is chosen yet (the domain checks the pair on saving)."""
    if absent is not None:
        return [c for c in people if access.may_stand_in_for(c.actor, absent)]
    return [c for c in people if any(access.may_stand_in_for(c.actor, other.actor) for other in people)]


# -- naming and ending ----------------------------------------------------------------------------


def name_substitute(
    session: Session,
    actor: Actor,
    *,
    absent_id: int | None,
    substitute_id: int | None,
    starts_on: dt.date | None,
    ends_on: dt.date | None,
    reason: str | None = None,
    today: dt.date | None = None,
) -> Substitution:
    """Name ``substitute_id`` to stand in for ``absent_id`` from ``starts_on`` to ``ends_on``
    (office days, both included). Refused with a :class:`SubstitutionError` (nothing written)
    when the actor may not arrange it, the pair does not qualify, the dates are wrong, or the
    period overlaps another substitution of the absent person, or an absence of the
    substitute. The caller commits (one transaction with the audit row)."""
    if not actor.active or actor.municipality_id is None:
        raise SubstitutionError(_("Your account does not belong to a municipality."))
    municipality_id = actor.municipality_id
    day = today or office_today()
    absent = _staff_member(session, municipality_id, absent_id)
    if absent is None:
        raise SubstitutionError(_("Choose the colleague who will be away."), "absent_id")
    if not access.may_arrange_substitute(actor, absent):
        raise SubstitutionError(
            _("You may name a substitute for yourself, or as head for the staff of your department."), "absent_id"
        )
    substitute = _staff_member(session, municipality_id, substitute_id)
    if substitute is None or not substitute.active:
        raise SubstitutionError(
            _("Choose an active colleague of this municipality as the substitute."), "substitute_id"
        )
    if substitute.user_id == absent.user_id:
        raise SubstitutionError(_("Choose someone else as the substitute."), "substitute_id")
    if not access.may_stand_in_for(substitute, absent):
        needed = sorted(str(roles.ROLE_LABELS.get(r, r)) for r in absent.roles & frozenset(access.CASEWORKER_ROLES))
        raise SubstitutionError(
            _(
                "The substitute must hold each role of the colleague who is away (%(roles)s), to be able to work on their tasks.",
                roles=", ".join(needed) or "—",
            ),
            "substitute_id",
        )
    if starts_on is None:
        raise SubstitutionError(_("Enter the first day of the absence."), "starts_on")
    if ends_on is None:
        raise SubstitutionError(_("Enter the last day of the absence."), "ends_on")
    if starts_on < day:
        raise SubstitutionError(_("The absence cannot start in the past."), "starts_on")
    if ends_on < starts_on:
        raise SubstitutionError(_("The last day cannot be before the first day."), "ends_on")
    if (ends_on - starts_on).days >= MAX_DAYS:
        raise SubstitutionError(_("A substitution lasts at most %(days)d days.", days=MAX_DAYS), "ends_on")
    text = (reason or "").strip() or None
    problem = inputs.text_problem(text) if text is not None else None
    if problem is not None:
        raise SubstitutionError(problem, "reason")
    if text is not None and len(text) > MAX_REASON:
        raise SubstitutionError(_("The text is too long: at most %(max)d characters.", max=MAX_REASON), "reason")
    overlapping = access.within(select(Substitution), Substitution, municipality_id).where(
        _overlapping(starts_on, ends_on)
    )
    clash = session.execute(
        overlapping.where(Substitution.absent_id == absent.user_id).order_by(Substitution.starts_on).limit(1)
    ).scalar_one_or_none()
    if clash is not None:
        raise SubstitutionError(
            _(
                "A substitute is already named for part of this period (%(start)s – %(end)s); end that substitution first.",
                start=clash.starts_on.isoformat(),
                end=clash.ends_on.isoformat(),
            ),
            "starts_on",
        )
    away = session.execute(
        overlapping.where(Substitution.absent_id == substitute.user_id).order_by(Substitution.starts_on).limit(1)
    ).scalar_one_or_none()
    if away is not None:
        raise SubstitutionError(
            _("The substitute is away themselves during part of this period; choose someone else."), "substitute_id"
        )
    row = Substitution(
        municipality_id=municipality_id,
        absent_id=absent.user_id,
        substitute_id=substitute.user_id,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=text,
        created_by_id=actor.user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "substitution.create",
        actor=actor,
        target=("substitution", row.id),
        municipality_id=municipality_id,
        details={
            "absent": absent.user_id,
            "substitute": substitute.user_id,
            "starts_on": starts_on.isoformat(),
            "ends_on": ends_on.isoformat(),
        },
    )
    return row


def get(session: Session, actor: Actor, substitution_id: int) -> Substitution:
    """Substitution ``substitution_id`` of the actor's municipality; :class:`NotFound` otherwise."""
    if (
        actor.municipality_id is None
        or not isinstance(substitution_id, int)
        or not 0 < substitution_id <= access.MAX_PK
    ):
        raise NotFound(substitution_id)
    row = session.execute(
        access.within(select(Substitution), Substitution, actor.municipality_id).where(
            Substitution.id == substitution_id
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(substitution_id)
    return row


def end_substitution(
    session: Session, actor: Actor, substitution_id: int, *, today: dt.date | None = None
) -> Substitution:
    """End a current or upcoming substitution now (the person is back, or stays): from this
    moment the substitute no longer sees or acts on the absent person's tasks. The absent
    person, their head or the municipal administrator may; :class:`NotFound` for a
    substitution of another municipality. The caller commits."""
    row = get(session, actor, substitution_id)
    absent = _staff_member(session, row.municipality_id, row.absent_id)
    if not (actor.active and (actor.user_id == row.absent_id or access.may_arrange_substitute(actor, absent))):
        raise SubstitutionError(
            _("Only the colleague who is away, their head or the municipal administrator may end this.")
        )
    day = today or office_today()
    if row.cancelled_at is not None or row.ends_on < day:
        raise SubstitutionError(_("This substitution has already ended."))
    row.cancelled_at = utcnow()
    audit.record(
        session,
        "substitution.end",
        actor=actor,
        target=("substitution", row.id),
        municipality_id=row.municipality_id,
        details={"absent": row.absent_id, "substitute": row.substitute_id, "ended_on": day.isoformat()},
    )
    return row


__all__ = [
    "MAX_DAYS",
    "MAX_REASON",
    "Colleague",
    "Listed",
    "StandIn",
    "SubstitutionError",
    "absent_choices",
    "colleagues",
    "end_substitution",
    "get",
    "in_force",
    "name_substitute",
    "standing_in_for",
    "substitute_choices",
    "visible",
]
