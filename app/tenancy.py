"""The one place that decides which municipality's rows the current user may see.

Views, the API and jobs ask here; none of them filters by municipality on its own.
"""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import select

from app.domain.roles import SYSTEM_ADMIN, user_role_names
from app.extensions import db
from app.models import StaffProfile


class NoMunicipality(PermissionError):
    """The user is staff but belongs to no municipality (a set-up mistake, not a 500)."""


def staff_profile(user) -> StaffProfile | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    cache = g.setdefault("_hamaynk_profiles", {}) if has_request_context() else {}
    if user.id not in cache:
        cache[user.id] = db.session.execute(
            select(StaffProfile).where(StaffProfile.user_id == user.id)
        ).scalar_one_or_none()
    return cache[user.id]


def is_system_admin(user) -> bool:
    return SYSTEM_ADMIN in user_role_names(user)


def municipality_id_of(user) -> int | None:
    """The municipality the user works for; ``None`` for system admins and strangers."""
    profile = staff_profile(user)
    return profile.municipality_id if profile else None


def visible_municipality_ids(user) -> set[int] | None:
    """``None`` means "all" (system admins); otherwise the set the user may see (maybe empty)."""
    if is_system_admin(user):
        return None
    mid = municipality_id_of(user)
    return {mid} if mid is not None else set()


def scope(query, model, user):
    """Limit a SELECT on a municipality-owned model to what ``user`` may see."""
    ids = visible_municipality_ids(user)
    if ids is None:
        return query
    if not ids:
        return query.where(False)
    return query.where(model.municipality_id.in_(ids))
