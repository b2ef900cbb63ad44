"""Roles and permissions, defined in code and written to the database by
``flask hamaynk sync-permissions`` (never edited by hand, so every install agrees).

Permission names come from each view's explicit ``class_permission_name`` (see
app.admin.views), so renaming a Python class never churns permissions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import g
from flask_appbuilder.security.sqla.manager import SecurityManager

from app.admin import security_views
from app.domain.roles import (  # noqa: F401 - re-exported for the permission tables below
    ALL_ROLES,
    AUDITOR,
    CITIZEN,
    CLERK,
    GRANTABLE_BY_MUNICIPAL_ADMIN,
    HEAD,
    MUNICIPAL_ADMIN,
    ROLE_BY_KEY,
    ROLE_LABELS,
    SPECIALIST,
    STAFF_ROLES,
    SYSTEM_ADMIN,
    user_role_names,
)

# Every signed-in person may see and edit their own profile and change their password.
SELF_SERVICE = [
    (r"can_this_form_(get|post)", r"(UserInfoEditView|ResetMyPasswordView)"),
    (r"(can_userinfo|resetmypassword|userinfoedit)", r"UserDBModelView"),
]
READ = r"(can_list|can_show|menu_access)"
# Front-office intake (app.office): clerks and municipal admins file applications for walk-ins.
OFFICE_INTAKE = [(r"can_intake", r"OfficeIntake"), (r"menu_access", r"(Office|Intake)")]
# Back-office workspace (app.workspace): the inbox and case pages; auditors only read.
# Its "Questions" menu item (app.workspace.questions) uses the same permissions.
WORKSPACE = [(r"can_(list|show|act|document)", r"Workspace"), (r"menu_access", r"(Office|Inbox|Questions)")]
WORKSPACE_READ = [(r"can_(list|show)", r"Workspace"), (r"menu_access", r"(Office|Inbox|Questions)")]
# Staff REST API (app.api), plus reading its OpenAPI spec and Swagger page; auditors only read.
API = [(r"can_(read|act)", r"ApplicationsApi"), (r"can_get", r"OpenApi"), (r"can_show", r"SwaggerView")]
API_READ = [(r"can_read", r"ApplicationsApi"), (r"can_get", r"OpenApi"), (r"can_show", r"SwaggerView")]
# Staff reports (app.workspace.reports): heads, municipal admins and auditors read and export them.
STAFF_REPORTS = [(r"can_(list|export)", r"StaffReports"), (r"menu_access", r"Reports")]

# (permission regex, view-menu regex) pairs per role. Both are matched in full.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    SYSTEM_ADMIN: [(r".*", r".*")],
    MUNICIPAL_ADMIN: [
        *SELF_SERVICE,
        (r"(can_list|can_show|can_add|can_edit|can_delete)", r"(DepartmentAdmin|StaffAdmin)"),
        (r"(can_list|can_edit)", r"(ServicesAdmin|NotificationTextsAdmin|MunicipalIdentityAdmin)"),
        (r"menu_access", r"(Municipality|Departments|Staff|Services|NotificationTexts|CoatOfArms)"),
        (r"(can_list|can_show|can_add|can_edit)", r"ServiceBuilder"),
        (r"menu_access", r"ServiceBuilder"),
        *OFFICE_INTAKE,
        *WORKSPACE,
        *API,
        *STAFF_REPORTS,
    ],
    HEAD: [
        *SELF_SERVICE,
        (READ, r"(DepartmentAdmin|StaffAdmin)"),
        (r"menu_access", r"(Municipality|Departments|Staff)"),
        *WORKSPACE,
        *API,
        *STAFF_REPORTS,
    ],
    SPECIALIST: SELF_SERVICE + WORKSPACE + API,
    CLERK: SELF_SERVICE + OFFICE_INTAKE + WORKSPACE + API,
    AUDITOR: SELF_SERVICE
    + WORKSPACE_READ
    + API_READ
    + STAFF_REPORTS
    + [
        (
            READ,
            r"(MunicipalityAdmin|DepartmentAdmin|StaffAdmin|ServicesAdmin|PluginsAdmin|NotificationTextsAdmin|MunicipalIdentityAdmin)",
        ),
        (
            r"menu_access",
            r"(Municipality|System|Municipalities|Departments|Staff|Services|Plugins|NotificationTexts|CoatOfArms)",
        ),
    ],
    CITIZEN: SELF_SERVICE,
}


def _matches(pairs: Iterable[tuple[str, str]], permission: str, view: str) -> bool:
    return any(re.fullmatch(p, permission) and re.fullmatch(v, view) for p, v in pairs)


class HamaynkSecurityManager(SecurityManager):
    """FAB's SQLAlchemy security manager plus Hamaynk's role catalogue."""

    # FAB's user statistics chart loads Google Charts from the internet (pages load no outside
    # resources, docs/operations.md), so it is not offered at all.
    userstatschartview = None
    # Its users, roles and groups screens, naming roles and permissions in the page's language.
    userdbmodelview = security_views.UserDBModelView
    rolemodelview = security_views.RoleModelView
    groupmodelview = security_views.UserGroupModelView
    permissionviewmodelview = security_views.PermissionViewModelView

    def sync_roles(self) -> dict[str, int]:
        """Create every role and give it exactly the permissions ROLE_PERMISSIONS says.

        Returns the number of permissions per role. Extra permissions added by hand are
        removed: the code is the single source of truth.
        """
        # Roles first: FAB hands every new permission to the admin role as it creates it.
        for role_name in ROLE_PERMISSIONS:
            if self.find_role(role_name) is None:
                self.add_role(role_name)
        self.appbuilder.add_permissions(update_perms=True)
        all_pvs = self.session.query(self.permissionview_model).all()
        counts = {}
        for role_name, pairs in ROLE_PERMISSIONS.items():
            role = self.find_role(role_name) or self.add_role(role_name)
            wanted = [
                pv
                for pv in all_pvs
                if pv.permission and pv.view_menu and _matches(pairs, pv.permission.name, pv.view_menu.name)
            ]
            role.permissions = sorted(wanted, key=lambda pv: pv.id)
            counts[role_name] = len(wanted)
        public = self.find_role(self.auth_role_public) or self.add_role(self.auth_role_public)
        public.permissions = []
        self.session.commit()
        return counts


def current_user():
    return getattr(g, "user", None)


def _refuse_unknown_fab_actions() -> None:
    """FAB's generic ``<view>.action`` endpoints look the action up before checking access,
    so an unknown name crashes with a 500 for anyone signed in (even on its own security
    views). Answer 404 before FAB gets there."""
    from flask import abort, request

    from app.extensions import current_appbuilder

    endpoint = request.endpoint or ""
    if not endpoint.endswith(".action"):
        return
    view_name = endpoint.rsplit(".", 1)[0]
    name = (request.view_args or {}).get("name")
    for view in current_appbuilder().baseviews:
        if type(view).__name__ == view_name:
            if name not in getattr(view, "actions", {}):
                abort(404)
            return


def init_app(app) -> None:
    app.before_request(_refuse_unknown_fab_actions)
