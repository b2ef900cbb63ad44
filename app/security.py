"""Roles and permissions, defined in code and written to the database by
``flask hamaynk sync-permissions`` (never edited by hand, so every install agrees); and
the glue between sign-ins and their server-side sessions (app.domain.sessions).

Permission names come from each view's explicit ``class_permission_name`` (see
app.admin.views), so renaming a Python class never churns permissions.

Sessions: whichever page signs someone in (staff /login/, the portal, an identity provider)
calls Flask-Login's ``login_user``; its signal opens a session row and the cookie keeps only
the row's random id (``_sid``). Every request's user is loaded through
:meth:`HamaynkSecurityManager.load_user`, which honours the cookie only while the row is open
and not idle; every API token is checked the same way (its ``sid`` claim). Signing out
(POST only) ends the row.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable
from typing import Any, cast

from flask import Flask, Response, current_app, g, has_request_context, redirect, request, session
from flask_appbuilder import expose
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    Permission,
    PermissionView,
    ViewMenu,
    assoc_group_role,
    assoc_permissionview_role,
    assoc_user_group,
    assoc_user_role,
)
from flask_appbuilder.security.views import AuthView
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import JWTManager
from flask_login import current_user as signed_in_user
from flask_login import user_logged_in, user_logged_out
from sqlalchemy import Integer, Select, bindparam, func, or_, select
from sqlalchemy.orm import aliased, contains_eager, object_session
from werkzeug.local import LocalProxy

from app import web
from app.admin import login, security_views
from app.api.auth import HamaynkSecurityApi, answer_token_errors
from app.domain import sessions
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
from app.extensions import current_appbuilder, db

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
# Verified residents at the office (app.office.residents): clerks and municipal admins.
OFFICE_RESIDENTS = [(r"can_(list|verify)", r"OfficeResidents"), (r"menu_access", r"(Office|Residents)")]
# Votes of residents who come to the office (app.office.voting): clerks and municipal admins.
OFFICE_VOTING = [(r"can_vote", r"OfficeVoting"), (r"menu_access", r"(Office|OfficeVoting)")]
# Settlements of the municipality (app.admin.settlements), under the "Participation" menu.
SETTLEMENTS_ADMIN = [(r"can_(list|add|edit)", r"SettlementsAdmin"), (r"menu_access", r"(Participation|Settlements)")]
# Residents' proposals (app.admin.proposals): municipal admins all (threshold, budget votes),
# heads decide feasibility, auditors read.
PROPOSALS_ADMIN = [(r"can_(list|review|edit)", r"ProposalsAdmin"), (r"menu_access", r"(Participation|Proposals)")]
PROPOSALS_REVIEW = [(r"can_(list|review)", r"ProposalsAdmin"), (r"menu_access", r"(Participation|Proposals)")]
PROPOSALS_READ = [(r"can_list", r"ProposalsAdmin"), (r"menu_access", r"(Participation|Proposals)")]
# Consultations on draft decisions (app.admin.consultations): municipal admins run them, auditors read.
CONSULTATIONS_ADMIN = [
    (r"can_(list|add|edit)", r"ConsultationsAdmin"),
    (r"menu_access", r"(Participation|Consultations)"),
]
CONSULTATIONS_READ = [(r"can_list", r"ConsultationsAdmin"), (r"menu_access", r"(Participation|Consultations)")]
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
        # Polls and budget votes (app.admin.polls).
        (r"(can_list|can_show|can_add|can_edit)", r"PollsAdmin"),
        (r"menu_access", r"(Participation|Polls)"),
        *OFFICE_INTAKE,
        *OFFICE_RESIDENTS,
        *OFFICE_VOTING,
        *SETTLEMENTS_ADMIN,
        *PROPOSALS_ADMIN,
        *CONSULTATIONS_ADMIN,
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
        *PROPOSALS_REVIEW,
    ],
    SPECIALIST: SELF_SERVICE + WORKSPACE + API,
    CLERK: SELF_SERVICE + OFFICE_INTAKE + OFFICE_RESIDENTS + OFFICE_VOTING + WORKSPACE + API,
    AUDITOR: SELF_SERVICE
    + WORKSPACE_READ
    + API_READ
    + STAFF_REPORTS
    + PROPOSALS_READ
    + CONSULTATIONS_READ
    + [
        (
            READ,
            r"(MunicipalityAdmin|DepartmentAdmin|StaffAdmin|ServicesAdmin|PluginsAdmin|NotificationTextsAdmin|MunicipalIdentityAdmin)",
        ),
        (
            r"menu_access",
            r"(Municipality|System|Municipalities|Departments|Staff|Services|Plugins|NotificationTexts|CoatOfArms)",
        ),
        # Polls and budget votes (app.admin.polls): read only.
        (READ, r"PollsAdmin"),
        (r"menu_access", r"(Participation|Polls)"),
    ],
    CITIZEN: SELF_SERVICE,
}


def _matches(pairs: Iterable[tuple[str, str]], permission: str, view: str) -> bool:
    return any(re.fullmatch(p, permission) and re.fullmatch(v, view) for p, v in pairs)


# -- sessions ------------------------------------------------------------------------------------

# The Flask session key holding the random id of the browser's AuthSession row.
SESSION_ID = "_sid"
# What Flask-Login keeps in the cookie for a signed-in user; dropped with a refused session.
_LOGIN_KEYS = ("_user_id", "_fresh", "_id", SESSION_ID)


def idle_limit(user: Any) -> dt.timedelta | None:
    """How long a browser session of ``user`` may sit unused: staff (any role but Citizen)
    HAMAYNK_STAFF_IDLE_MINUTES, citizens HAMAYNK_CITIZEN_IDLE_MINUTES; 0 means no limit."""
    staff = any(role.name != CITIZEN for role in getattr(user, "roles", []))
    setting = "HAMAYNK_STAFF_IDLE_MINUTES" if staff else "HAMAYNK_CITIZEN_IDLE_MINUTES"
    minutes = int(current_app.config.get(setting) or 0)
    return dt.timedelta(minutes=minutes) if minutes > 0 else None


def _writes_pending() -> bool:
    return bool(db.session.new or db.session.dirty or db.session.deleted)


def _still_open(row: Any, idle: dt.timedelta | None) -> bool:
    """Record this use of ``row`` (end it when idle, touch it once a minute) and say whether
    it is still open. Writes and commits only when the request has nothing else pending, so
    no half-done work of a view is ever committed with it; otherwise it only checks."""
    if _writes_pending():
        return not sessions.is_idle(row, idle)
    if sessions.settle(db.session, row, idle=idle):
        still_open = row.ended_at is None
        _commit_keeping_loaded(row)
        return still_open
    return True


def _commit_keeping_loaded(row: Any) -> None:
    """Commit the write to ``row`` (nothing else is pending) without expiring what the request
    has loaded: a touch must not make the request reload its user, roles and rows (one
    UPDATE, whatever else the request does)."""
    current = object_session(row)
    if current is None:
        return
    expire = current.expire_on_commit
    current.expire_on_commit = False
    try:
        current.commit()
    finally:
        current.expire_on_commit = expire


def _forget_sign_in() -> None:
    for key in _LOGIN_KEYS:
        session.pop(key, None)


def _browser_user(user_model: Any, pk: Any) -> Any | None:
    """The user ``pk`` of a browser request while the cookie's session is open: the session
    row and its user are read in one SELECT (app.domain.sessions.find_with_user)."""
    try:
        user_id = int(pk)
    except (TypeError, ValueError):
        return None
    found = sessions.find_with_user(
        db.session,
        session.get(SESSION_ID),
        user_id=user_id,
        kind=sessions.WEB,
        user_model=user_model,
        joins=_with_roles_and_grants(user_model),
    )
    if found is None:
        _forget_sign_in()
        return None
    row, user, profile, department_code = found[:4]
    # For the request's actor (app.web.current_actor): read here, not queried again.
    setattr(g, web.OWN_PROFILE, (user.id, profile, department_code))
    if not user.is_active:
        return None
    if not sessions.is_open(row) or not _still_open(row, idle_limit(user)):
        _forget_sign_in()
        return None
    db.session.info[sessions.CURRENT] = sessions.Current(session_id=row.id, user_id=user.id, kind=sessions.WEB)
    _hold_grants(user, found.extra)
    return user


@functools.cache
def _with_roles(user_model: Any) -> Callable[[Select[Any]], Select[Any]]:
    """Joins of a user's roles and groups (with the groups' roles) into the SELECT that loads
    the user: every request reads them (the idle limit, the actor, each permission check),
    and loaded lazily they cost two more queries per request. Written as plain LEFT JOINs
    with ``contains_eager``: ``joinedload`` nests each link table and its target in
    parentheses, which SQLite answers by materializing every user's roles first (38 ms a
    request with 200,000 citizens). One callable per user class (cached): the SELECT is built
    once for it (app.domain.sessions.find_with_user)."""
    role_model = user_model.roles.property.mapper.class_
    groups = getattr(user_model, "groups", None)

    def join(stmt: Select[Any]) -> Select[Any]:
        user_role, role = assoc_user_role.alias(), aliased(role_model)
        stmt = (
            stmt.outerjoin(user_role, user_role.c.user_id == user_model.id)
            .outerjoin(role, role.id == user_role.c.role_id)
            .options(contains_eager(user_model.roles.of_type(role)))
        )
        if groups is None:
            return stmt
        group_model = groups.property.mapper.class_
        user_group, group = assoc_user_group.alias(), aliased(group_model)
        group_role, role_of_group = assoc_group_role.alias(), aliased(role_model)
        return (
            stmt.outerjoin(user_group, user_group.c.user_id == user_model.id)
            .outerjoin(group, group.id == user_group.c.group_id)
            .outerjoin(group_role, group_role.c.group_id == group.id)
            .outerjoin(role_of_group, role_of_group.id == group_role.c.role_id)
            .options(contains_eager(groups.of_type(group)).contains_eager(group.roles.of_type(role_of_group)))
        )

    return join


# Separators of the (permission, view) pairs the sign-in SELECT reads as strings: control
# characters, which no permission or view name holds.
_PAIR, _PAIRS = "\x1f", "\x1e"


def _grants_columns(user_model: Any) -> tuple[Any, Any]:
    """The (permission, view) pairs of the roles of the user the statement loads, as two
    strings: of its own roles, and of its groups' roles. The request's permission checks then
    read nothing more; read with the user, in the same statement, so as fresh as the query
    they replace. Each is correlated with the user at its top level only."""
    pv, link = PermissionView, assoc_permissionview_role
    pair = func.aggregate_strings(Permission.name + _PAIR + ViewMenu.name, _PAIRS)

    def pairs_through(source: Any, role_id: Any, user_id: Any) -> Any:
        return (
            select(pair)
            .select_from(source)
            .join(link, link.c.role_id == role_id)
            .join(pv, pv.id == link.c.permission_view_id)
            .join(Permission, Permission.id == pv.permission_id)
            .join(ViewMenu, ViewMenu.id == pv.view_menu_id)
            .where(user_id == user_model.id)
            .correlate(user_model)
            .scalar_subquery()
        )

    own = pairs_through(assoc_user_role, assoc_user_role.c.role_id, assoc_user_role.c.user_id)
    groups = assoc_user_group.join(assoc_group_role, assoc_group_role.c.group_id == assoc_user_group.c.group_id)
    through_groups = pairs_through(groups, assoc_group_role.c.role_id, assoc_user_group.c.user_id)
    return own, through_groups


@functools.cache
def _with_roles_and_grants(user_model: Any) -> Callable[[Select[Any]], Select[Any]]:
    """:func:`_with_roles` plus the pairs of the user's roles (:func:`_grants_columns`), for a
    browser request's user: one statement where there were two."""
    with_roles = _with_roles(user_model)

    def join(stmt: Select[Any]) -> Select[Any]:
        return with_roles(stmt).add_columns(*_grants_columns(user_model))

    return join


def _hold_grants(user: Any, joined: tuple[str | None, ...]) -> None:
    """Keep the pairs the sign-in SELECT read as the request's (HamaynkSecurityManager.granted),
    under the role ids ``granted`` will ask for. Built-in roles (FAB_ROLES) are checked
    otherwise: with any configured, the pairs are read as before."""
    manager = current_appbuilder().sm
    if manager.builtin_roles:
        return
    key = tuple(sorted({role.id for role in manager.get_user_roles(user)}))
    items = (item for text in joined if text for item in text.split(_PAIRS))
    pairs = frozenset(cast(tuple[str, str], tuple(item.split(_PAIR, 1))) for item in items)
    setattr(g, _GRANTED, (key, pairs))


def _token_ended(_header: dict[str, Any], payload: dict[str, Any]) -> bool:
    """Flask-JWT-Extended's revocation check: a token is good only while its session is. The
    session row and its user are read in one SELECT, so loading the user next costs none."""
    try:
        user_id = int(payload.get("sub", ""))
    except (TypeError, ValueError):
        return True
    user_model = current_appbuilder().sm.user_model
    found = sessions.find_with_user(
        db.session,
        payload.get("sid"),
        user_id=user_id,
        kind=sessions.API,
        user_model=user_model,
        joins=_with_roles(user_model),
    )
    if found is None:
        return True
    setattr(g, web.OWN_PROFILE, (found.user.id, found.profile, found.department_code))
    # Held for HamaynkSecurityManager.load_user_jwt, which runs next: the session keeps loaded
    # rows only while something refers to them, so dropped here the user (with its roles and
    # groups) would be read again, in three statements.
    setattr(g, _JWT_USER, found.user)
    return not sessions.is_open(found.row) or not _still_open(found.row, None)


def _signed_in(_app: Flask, user: Any = None, **_extra: Any) -> None:
    """Flask-Login's ``user_logged_in``: open the browser's session row (and end the one this
    browser had, if any). The row is committed at once: the sign-in is done."""
    previous = sessions.find(db.session, session.get(SESSION_ID))
    if previous is not None:
        sessions.end(db.session, previous, sessions.LOGOUT)
    raw, row = sessions.open_session(db.session, user.id, sessions.WEB, ip=request.remote_addr)
    db.session.flush()
    current = sessions.Current(session_id=row.id, user_id=user.id, kind=sessions.WEB)
    db.session.commit()
    session[SESSION_ID] = raw
    db.session.info[sessions.CURRENT] = current


def _signed_out(_app: Flask, user: Any = None, **_extra: Any) -> None:
    """Flask-Login's ``user_logged_out``: end the browser's session row."""
    row = sessions.find(db.session, session.pop(SESSION_ID, None))
    if row is not None:
        sessions.end(db.session, row, sessions.LOGOUT)
        db.session.commit()
    db.session.info.pop(sessions.CURRENT, None)


def _hand_over_new_id(response: Response) -> Response:
    """After a browser changed its own password, its old session ended with the others:
    give it the new one (app.domain.sessions reissues it once the change is committed)."""
    raw = db.session.info.pop(sessions.REISSUED, None)
    if raw is not None:
        session[SESSION_ID] = raw
    return response


# Where the request's granted (permission, view) pairs are kept on ``g``: a tuple of the role
# ids they were read for and the pairs (HamaynkSecurityManager.granted).
_GRANTED = "_hamaynk_granted"
# An API request's pairs per role, read with the Public role's before its token is checked
# (HamaynkSecurityManager.is_item_public): a _Grants.
_GRANTED_BY_ROLE = "_hamaynk_granted_by_role"
# The user an API token's sign-in check read (_token_ended), for load_user_jwt.
_JWT_USER = "_hamaynk_jwt_user"
# Where Flask-Login and Flask-JWT-Extended keep the request's user and token on ``g``.
_REQUEST_USER_KEYS = ("_login_user", "_jwt_extended_jwt", "_jwt_extended_jwt_header", "_jwt_extended_jwt_user")


def _request_done(_error: BaseException | None) -> None:
    # A test client's requests can share one app context (and so one ``g``) with the test
    # around them; the next request must check its own cookie or token, not inherit this
    # one's user.
    db.session.info.pop(sessions.CURRENT, None)
    for key in (*_REQUEST_USER_KEYS, _GRANTED, _GRANTED_BY_ROLE, _JWT_USER):
        g.pop(key, None)


class LogoutByPost(AuthView):
    """Signing out by POST (with the CSRF token) only: a link or an image on another site
    must not sign anyone out. A GET (an old bookmark) shows a button that posts."""

    @expose("/logout/", methods=["GET", "POST"])
    def logout(self) -> Any:
        if request.method != "POST":
            if not getattr(g.get("user"), "is_authenticated", False):
                return redirect(self.appbuilder.get_url_for_index)
            return self.render_template("hamaynk/logout.html", title=_l("Sign out"))
        return super().logout()


def with_logout_by_post(view_class: type[AuthView]) -> type[AuthView]:
    """``view_class`` (whichever staff sign-in view is configured) with :class:`LogoutByPost`'s
    sign-out; the class name, and so every endpoint name, stays the same."""
    if issubclass(view_class, LogoutByPost):
        return view_class
    return type(view_class.__name__, (LogoutByPost, view_class), {"__module__": view_class.__module__})


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
    # Staff sign-in with brute-force limits and the second factor (app.admin.login).
    authdbview = login.AuthDBView
    # Token sign-in, refresh and sign-out backed by server-side sessions (app.api.auth).
    security_api = HamaynkSecurityApi

    def register_views(self) -> None:
        self.authdbview = with_logout_by_post(self.authdbview)
        super().register_views()

    def load_user(self, pk: int) -> Any | None:
        """The user of a browser request, only while the cookie's session is open."""
        return _browser_user(self.user_model, pk)

    def load_user_jwt(self, _jwt_header: Any, jwt_data: dict[str, Any]) -> Any | None:
        """The user of an API request; its session was checked with the token (_token_ended),
        and the cookie plays no part."""
        try:
            user_id = int(jwt_data["sub"])
        except (KeyError, TypeError, ValueError):
            return None
        checked = g.get(_JWT_USER)
        # The user the token's session check read, with its roles and groups; else read it.
        user = checked if checked is not None and checked.id == user_id else self.get_user_by_id(user_id)
        if user is None or not user.is_active:
            return None
        g.user = user
        return user

    # -- permission checks: read once per request ---------------------------------------------
    #
    # Flask-AppBuilder asks the database once per check: the view's permission, then one
    # 5-table join per menu item and one per navbar link (15 and more per page). Instead the
    # (permission, view) pairs of the user's roles are read once per request — for a browser's
    # user by the sign-in SELECT itself (_with_roles_and_grants), else in one query here — and
    # every check of that request is a set look-up. Nothing is kept across requests, so a
    # change to a role's permissions (in this process or another) holds from the next request
    # on, exactly as strictly as before. Built-in roles (FAB_ROLES; none configured) keep
    # Flask-AppBuilder's own check.

    def granted(self, role_ids: Iterable[int], *, public: bool = False) -> frozenset[tuple[str, str]]:
        """The (permission, view) pairs the roles ``role_ids`` (or, with ``public``, the
        Public role) hold, read once per request."""
        key: tuple[Any, ...] = ("public",) if public else tuple(sorted(set(role_ids)))
        in_request = has_request_context()
        cached = g.get(_GRANTED) if in_request else None
        if cached is not None and cached[0] == key:
            return cast(frozenset[tuple[str, str]], cached[1])
        by_role: _Grants | None = g.get(_GRANTED_BY_ROLE) if in_request else None
        known = by_role.pairs(key, public) if by_role is not None else None
        if known is not None:
            return known
        pairs: frozenset[tuple[str, str]] = frozenset()
        if key:
            if public:
                rows = self.session.execute(self._public_pairs_statement)
            else:
                rows = self.session.execute(self._role_pairs_statement, {"role_ids": list(key)})
            pairs = frozenset((str(p), str(v)) for p, v in rows)
        if in_request:
            setattr(g, _GRANTED, (key, pairs))
        return pairs

    # Statements built once per manager (building one cost more than running it), with the
    # roles and the user as bound parameters.

    def _pairs_select(self) -> Select[Any]:
        pv, link = self.permissionview_model, assoc_permissionview_role
        return (
            select(self.permission_model.name, self.viewmenu_model.name)
            .select_from(pv)
            .join(link, link.c.permission_view_id == pv.id)
            .join(self.permission_model, self.permission_model.id == pv.permission_id)
            .join(self.viewmenu_model, self.viewmenu_model.id == pv.view_menu_id)
            .distinct()
        )

    @functools.cached_property
    def _public_pairs_statement(self) -> Select[Any]:
        role, link = self.role_model, assoc_permissionview_role
        return self._pairs_select().join(role, role.id == link.c.role_id).where(role.name == self.auth_role_public)

    @functools.cached_property
    def _role_pairs_statement(self) -> Select[Any]:
        link = assoc_permissionview_role
        return self._pairs_select().where(link.c.role_id.in_(bindparam("role_ids", expanding=True)))

    @functools.cached_property
    def _token_roles_statement(self) -> Select[Any]:
        role, link, pv = self.role_model, assoc_permissionview_role, self.permissionview_model
        user_id = bindparam("user_id", type_=Integer)
        own = select(assoc_user_role.c.role_id).where(assoc_user_role.c.user_id == user_id)
        through_groups = (
            select(assoc_group_role.c.role_id)
            .join(assoc_user_group, assoc_user_group.c.group_id == assoc_group_role.c.group_id)
            .where(assoc_user_group.c.user_id == user_id)
        )
        return (
            select(role.id, role.name, self.permission_model.name, self.viewmenu_model.name)
            .select_from(role)
            .outerjoin(link, link.c.role_id == role.id)
            .outerjoin(pv, pv.id == link.c.permission_view_id)
            .outerjoin(self.permission_model, self.permission_model.id == pv.permission_id)
            .outerjoin(self.viewmenu_model, self.viewmenu_model.id == pv.view_menu_id)
            .where(or_(role.name == self.auth_role_public, role.id.in_(own), role.id.in_(through_groups)))
        )

    def _db_role_ids(self, roles: Iterable[Any]) -> list[int]:
        return [role.id for role in roles if role.name not in self.builtin_roles]

    def _has_view_access(self, user: object, permission_name: str, view_name: str) -> bool:
        roles = self.get_user_roles(user)
        if any(
            role.name in self.builtin_roles and self._has_access_builtin_roles(role, permission_name, view_name)
            for role in roles
        ):
            return True
        return (permission_name, view_name) in self.granted(self._db_role_ids(roles))

    def menu_access(self, names: Iterable[str]) -> frozenset[str]:
        """Which of the menu items ``names`` the request's reader may open: for each what
        ``has_access("menu_access", name)`` answers, with one look-up of a signed-in user's
        roles instead of one check per item (a staff navbar has some thirty). Anyone else —
        a visitor, an API key, built-in roles — is asked item by item, as before."""
        wanted = list(names)
        if self.builtin_roles or getattr(g, "_api_key_user", False) or not signed_in_user.is_authenticated:
            return frozenset(name for name in wanted if self.has_access("menu_access", name))
        user = self._get_safe_user(g.user)
        if not (user and user.is_active):
            return frozenset()
        pairs = self.granted(self._db_role_ids(self.get_user_roles(user)))
        return frozenset(name for name in wanted if ("menu_access", name) in pairs)

    def _get_user_permission_view_menus(
        self, user: object, permission_name: str, view_menus_name: list[str]
    ) -> set[str]:
        if user is None:
            return {view for perm, view in self.granted((), public=True) if perm == permission_name}
        roles = self.get_user_roles(user)
        result = {
            name
            for role in roles
            if role.name in self.builtin_roles
            for name in view_menus_name or []
            if self._has_access_builtin_roles(role, permission_name, name)
        }
        pairs = self.granted(self._db_role_ids(roles))
        result.update(view for perm, view in pairs if perm == permission_name)
        return result

    def is_item_public(self, permission_name: str, view_name: str) -> bool:
        """Anonymous visitors: the Public role's pairs, read once per request like a user's.

        Flask-AppBuilder's API check (``protect``) asks this before it checks the token; with
        a valid token the pairs of its user's roles are read in the same statement
        (:meth:`_read_with_token_roles`), so the check that follows reads nothing more."""
        if has_request_context() and g.get(_GRANTED) is None and g.get(_GRANTED_BY_ROLE) is None:
            subject = _token_subject()
            if subject is not None:
                setattr(g, _GRANTED_BY_ROLE, self._read_with_token_roles(subject))
        return (permission_name, view_name) in self.granted((), public=True)

    def _read_with_token_roles(self, user_id: int) -> _Grants:
        """The pairs of the Public role and of each role of ``user_id`` (own or through a
        group), per role, in one statement. Only a read: whether the token's session is open,
        and which roles its user holds, are checked as before (_token_ended, load_user_jwt);
        a role not read here is read on its own (:meth:`granted`)."""
        stmt = self._token_roles_statement
        public: set[tuple[str, str]] = set()
        per_role: dict[int, set[tuple[str, str]]] = {}
        for role_id, role_name, permission, view in self.session.execute(stmt, {"user_id": user_id}):
            held = per_role.setdefault(int(role_id), set())
            if permission is None or view is None:
                continue
            held.add((str(permission), str(view)))
            if role_name == self.auth_role_public:
                public.add((str(permission), str(view)))
        return _Grants(frozenset(public), {k: frozenset(v) for k, v in per_role.items()})

    def create_jwt_manager(self, app: Flask) -> JWTManager:
        manager = super().create_jwt_manager(app)
        manager.token_in_blocklist_loader(_token_ended)
        answer_token_errors(manager)
        return manager

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


class _Grants:
    """The (permission, view) pairs of the Public role and of some roles, read at once."""

    def __init__(self, public: frozenset[tuple[str, str]], per_role: dict[int, frozenset[tuple[str, str]]]) -> None:
        self.public = public
        self.per_role = per_role

    def pairs(self, key: tuple[Any, ...], public: bool) -> frozenset[tuple[str, str]] | None:
        """The pairs :meth:`HamaynkSecurityManager.granted` would read for ``key``, or ``None``
        when some of its roles were not read here."""
        if public:
            return self.public
        if not all(role_id in self.per_role for role_id in key):
            return None
        return frozenset().union(*(self.per_role[role_id] for role_id in key))


def _token_subject() -> int | None:
    """The user id of the request's access token if it carries a valid one (signature,
    expiry, type); ``None`` otherwise. Whether its session is still open is not checked here
    (Flask-JWT-Extended checks that next, _token_ended): it only chooses what is read."""
    from flask_jwt_extended import decode_token
    from flask_jwt_extended.exceptions import JWTExtendedException
    from jwt import PyJWTError

    header = request.headers.get(current_app.config.get("JWT_HEADER_NAME", "Authorization"), "")
    kind = current_app.config.get("JWT_HEADER_TYPE", "Bearer")
    parts = header.split()
    if len(parts) != 2 or parts[0] != kind:
        return None
    try:
        claims = decode_token(parts[1])
        return int(claims["sub"]) if claims.get("type") == "access" else None
    except (JWTExtendedException, PyJWTError, KeyError, TypeError, ValueError):
        # A token the real check refuses (bad signature, expired, malformed claims): no early
        # read; Flask-JWT-Extended answers it next, as before.
        return None


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


def _settle_user() -> dict[str, Any]:
    """A context processor: templates read ``g.user`` a hundred times a page (the navbar,
    menus, macros), and Flask-AppBuilder leaves Flask-Login's proxy there, which resolves
    it again on every read (about seventy times an inbox page). By the time a page renders,
    sign-in and sign-out are settled: hand templates the user itself."""
    user = g.get("user")
    if isinstance(user, LocalProxy):
        g.user = user._get_current_object()
    return {}


def init_app(app) -> None:
    app.before_request(_refuse_unknown_fab_actions)
    app.context_processor(_settle_user)
    sessions.install()
    user_logged_in.connect(_signed_in, app)
    user_logged_out.connect(_signed_out, app)
    app.after_request(_hand_over_new_id)
    app.teardown_request(_request_done)
