"""The roles of Hamaynk: their keys (as plug-ins write them in ``Step.role``), the names
stored in Flask-AppBuilder's role table, and their display labels.

Plain data: the domain decides with these; app.security turns them into permissions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l

from app.domain.declarations import RoleKey

# Role keys used in declarations (Step.role) and code, mapped to the stored role names.
SYSTEM_ADMIN = "System admin"
MUNICIPAL_ADMIN = "Municipal admin"
CLERK = "Clerk"
SPECIALIST = "Specialist"
HEAD = "Head"
AUDITOR = "Auditor"
CITIZEN = "Citizen"

ROLE_BY_KEY: Mapping[RoleKey, str] = {
    "system_admin": SYSTEM_ADMIN,
    "municipal_admin": MUNICIPAL_ADMIN,
    "clerk": CLERK,
    "specialist": SPECIALIST,
    "head": HEAD,
    "auditor": AUDITOR,
    "citizen": CITIZEN,
}
ALL_ROLES = tuple(ROLE_BY_KEY.values())
# Display labels for the stored role names. Templates show a role as ``_(role.name)``; these
# literal markers are what puts the names into the translation catalogs.
ROLE_LABELS = {
    SYSTEM_ADMIN: _l("System admin"),
    MUNICIPAL_ADMIN: _l("Municipal admin"),
    CLERK: _l("Clerk"),
    SPECIALIST: _l("Specialist"),
    HEAD: _l("Head"),
    AUDITOR: _l("Auditor"),
    CITIZEN: _l("Citizen"),
}
# Roles a municipal admin may give to the staff of their own municipality.
GRANTABLE_BY_MUNICIPAL_ADMIN = (MUNICIPAL_ADMIN, CLERK, SPECIALIST, HEAD, AUDITOR)
STAFF_ROLES = (SYSTEM_ADMIN, MUNICIPAL_ADMIN, CLERK, SPECIALIST, HEAD, AUDITOR)


def user_role_names(user: Any) -> set[str]:
    """The stored role names of a signed-in user; empty for anyone else."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    return {role.name for role in getattr(user, "roles", [])}
