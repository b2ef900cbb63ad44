"""Creating and changing staff accounts, with the rules a municipal admin must not bend:
staff belong to one municipality, get only roles their admin may grant, and a department
of their own municipality.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain import access, audit
from app.domain.access import Actor
from app.domain.roles import GRANTABLE_BY_MUNICIPAL_ADMIN, ROLE_LABELS, STAFF_ROLES, SYSTEM_ADMIN
from app.models import Department, Municipality, StaffProfile


class StaffError(ValueError):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class StaffInput:
    username: str
    first_name: str
    last_name: str
    email: str
    roles: list[str]
    municipality_id: int | None
    department_id: int | None = None
    position: str | None = None
    active: bool = True
    password: str | None = None


def grantable_roles(actor_is_system_admin: bool) -> tuple[str, ...]:
    return STAFF_ROLES if actor_is_system_admin else GRANTABLE_BY_MUNICIPAL_ADMIN


def _department_in(session: Session, department_id: int, municipality_id: int | None) -> bool:
    """Whether the department is one of the municipality's (a system administrator's ``None`` has none)."""
    if municipality_id is None:
        return False
    stmt = access.within(select(Department.id), Department, municipality_id)
    return session.execute(stmt.where(Department.id == department_id)).first() is not None


def _check(session: Session, sm, data: StaffInput, actor: Actor, user=None) -> None:
    allowed = grantable_roles(actor.is_system_admin)
    for role in data.roles:
        if role not in allowed:
            raise StaffError(_("You may not give the role %(role)s.", role=ROLE_LABELS.get(role, role)), "roles")
    if not actor.is_system_admin and (data.municipality_id != actor.municipality_id or actor.municipality_id is None):
        raise StaffError(_("You can only manage staff of your own municipality."), "municipality_id")
    if SYSTEM_ADMIN in data.roles:
        if data.municipality_id is not None:
            raise StaffError(_("A system administrator belongs to no municipality."), "municipality_id")
    elif data.municipality_id is None or session.get(Municipality, data.municipality_id) is None:
        raise StaffError(_("Choose the municipality this person works for."), "municipality_id")
    if data.department_id is not None and not _department_in(session, data.department_id, data.municipality_id):
        raise StaffError(_("Choose a department of this municipality."), "department_id")
    user_model = sm.user_model
    taken = session.execute(
        select(user_model.id).where(func.lower(user_model.username) == data.username.lower())
    ).scalar_one_or_none()
    if taken is not None and (user is None or taken != user.id):
        raise StaffError(_("This username is already taken."), "username")
    taken = session.execute(
        select(user_model.id).where(func.lower(user_model.email) == data.email.lower())
    ).scalar_one_or_none()
    if taken is not None and (user is None or taken != user.id):
        raise StaffError(_("This e-mail address is already used by another account."), "email")


def _roles(sm, names: Iterable[str]):
    roles = []
    for name in names:
        role = sm.find_role(name)
        if role is None:
            raise StaffError(
                _("The role %(role)s does not exist yet; run flask hamaynk sync-permissions.", role=name), "roles"
            )
        roles.append(role)
    return roles


def create_staff(
    session: Session,
    sm,
    data: StaffInput,
    *,
    actor: Actor,
):
    if not data.password:
        raise StaffError(_("Set a password for the new account."), "password")
    _check(session, sm, data, actor)
    user = sm.user_model()
    user.username = data.username
    user.first_name = data.first_name
    user.last_name = data.last_name
    user.email = data.email
    user.active = data.active
    user.roles = _roles(sm, data.roles)
    from werkzeug.security import generate_password_hash

    user.password = generate_password_hash(data.password)
    session.add(user)
    session.flush()
    session.add(
        StaffProfile(
            user_id=user.id,
            municipality_id=data.municipality_id,
            department_id=data.department_id,
            position=data.position,
        )
    )
    audit.record(
        session,
        "staff.create",
        actor=actor.user_id,
        target=("user", user.id),
        municipality_id=data.municipality_id,
        details={"username": data.username, "roles": sorted(data.roles)},
    )
    return user


def update_staff(
    session: Session,
    sm,
    user,
    data: StaffInput,
    *,
    actor: Actor,
):
    _check(session, sm, data, actor, user=user)
    before_roles = sorted(r.name for r in user.roles)
    if not actor.is_system_admin and SYSTEM_ADMIN in before_roles:
        raise StaffError(_("You may not change a system administrator."), "roles")
    user.username = data.username
    user.first_name = data.first_name
    user.last_name = data.last_name
    user.email = data.email
    user.active = data.active
    user.roles = _roles(sm, data.roles)
    if data.password:
        from werkzeug.security import generate_password_hash

        user.password = generate_password_hash(data.password)
    # One profile per user, of the user the caller loaded through its scope (and checked above).
    own = access.unscoped(select(StaffProfile), reason="the edited user's one profile")
    profile = session.execute(own.where(StaffProfile.user_id == user.id)).scalar_one_or_none()
    if profile is None:
        profile = StaffProfile(user_id=user.id)
        session.add(profile)
    profile.municipality_id = data.municipality_id
    profile.department_id = data.department_id
    profile.position = data.position
    audit.record(
        session,
        "staff.update",
        actor=actor.user_id,
        target=("user", user.id),
        municipality_id=data.municipality_id,
        details={
            "roles_before": before_roles,
            "roles_after": sorted(data.roles),
            "password_changed": bool(data.password),
        },
    )
    return user
