"""Who is acting, and what they may see: the one place that answers it.

Every channel (office, workspace, API, portal, jobs) builds one :class:`Actor` per request,
job or API call, and every query of municipality- or citizen-owned rows goes through the
loaders here. Views never filter by municipality or owner themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import roles
from app.models import StaffProfile, User


@dataclass(frozen=True)
class Actor:
    """A signed-in person as the domain sees them; no request or ORM object inside."""

    user_id: int
    roles: frozenset[str]
    active: bool
    municipality_id: int | None
    department_id: int | None

    def has(self, *role_names: str) -> bool:
        return any(name in self.roles for name in role_names)

    @property
    def is_system_admin(self) -> bool:
        return roles.SYSTEM_ADMIN in self.roles


def load_actor(session: Session, actor_id: int | None) -> Actor | None:
    if actor_id is None:
        return None
    user = session.get(User, actor_id)
    if user is None:
        return None
    profile = session.execute(select(StaffProfile).where(StaffProfile.user_id == actor_id)).scalar_one_or_none()
    return Actor(
        user_id=user.id,
        roles=frozenset(role.name for role in user.roles),
        active=bool(user.active),
        municipality_id=profile.municipality_id if profile else None,
        department_id=profile.department_id if profile else None,
    )
