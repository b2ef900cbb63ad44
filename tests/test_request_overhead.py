"""The fixed cost of every page (issue 13): what a request reads before the page's own rows.

A signed-in page pays one statement: the sign-in check (the session row with its user, the
user's roles and groups and own staff profile; app.security, app.domain.sessions), which also
reads the (permission, view) pairs of the user's roles (every permission check, menu item and
navbar link of the request is then a set look-up). An API request pays two: its token's
session with the user, then the Public role's pairs with the user's roles'. No builder-freshness query per
request (app.plugins.builder_services), no lazy role or group loads, no second read of the
staff profile. The broad per-page counts are tests/test_query_counts.py; these are the
overhead, which must not grow with roles, groups, menu items or rows.
"""

from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import create_engine, delete, insert, select

from app.domain import roles
from app.extensions import current_appbuilder, db
from app.plugins import builder_services
from app.plugins import runtime as plugin_runtime
from app.testing import (
    PASSWORD,
    enable_service,
    file_application,
    login,
    make_citizen,
    recorded_statements,
)

SERVICE = "residence-certificate"
INBOX = "/workspace/?tab=all"
ADMIN_LIST = "/admin/departments/list/"
PORTAL = "/my/applications/"

# Statements that are overhead, by what they read. Each page's own statements are the rest.
SIGN_IN = re.compile(r"\bFROM auth_session\b", re.IGNORECASE)
PERMISSIONS = re.compile(r"\bab_permission_view_role\b", re.IGNORECASE)
# What must never run per request any more: the builder's max/count, lazy loads of roles or
# groups, the actor's own profile read again, FAB's per-check EXISTS.
NEVER = {
    "builder freshness": re.compile(r"\bFROM service_definition\b", re.IGNORECASE),
    "lazy roles": re.compile(r"FROM ab_role, ab_user_role\b", re.IGNORECASE),
    "lazy groups": re.compile(r"\bFROM ab_group, ab_user_group\b", re.IGNORECASE),
    "own profile again": re.compile(r"FROM staff_profile\s+WHERE staff_profile.user_id =", re.IGNORECASE),
    "per-check permission": re.compile(r"SELECT EXISTS \(SELECT 1 FROM ab_permission_view", re.IGNORECASE),
}


def statements(app, client, path: str) -> list[str]:
    """The statements of one GET of ``path`` from an empty database session (as every browser
    request starts), after one warm-up GET (first-request work is not per-request cost)."""
    assert client.get(path).status_code == 200

    def request() -> None:
        with app.app_context():
            db.session.remove()
        response = client.get(path)
        assert response.status_code == 200, path

    return recorded_statements(app, request)


def overhead(seen: list[str]) -> dict[str, int]:
    found = {
        "sign-in": sum(1 for s in seen if SIGN_IN.search(s)),
        "permissions": sum(1 for s in seen if PERMISSIONS.search(s)),
    }
    found["statements"] = sum(1 for s in seen if SIGN_IN.search(s) or PERMISSIONS.search(s))
    for name, pattern in NEVER.items():
        found[name] = sum(1 for s in seen if pattern.search(s))
    return found


# A page: the pairs are read by the sign-in SELECT itself.
SIGNED_IN = {"sign-in": 1, "permissions": 1, "statements": 1, **dict.fromkeys(NEVER, 0)}
# An API request: the pairs are read before the token is checked (is_item_public).
API = {**SIGNED_IN, "statements": 2}


def _add_roles_and_group(app, user_id: int) -> None:
    """More roles, and a group carrying roles, for ``user_id``: what is read must not grow."""
    with app.app_context():
        sm = current_appbuilder().sm
        user = sm.get_user_by_id(user_id)
        for name in (roles.HEAD, roles.AUDITOR):
            role = sm.find_role(name)
            if role not in user.roles:
                user.roles.append(role)
        group = sm.add_group("overhead-group", "Overhead", "", roles=[sm.find_role(roles.SPECIALIST)], commit=False)
        group.users.append(user)
        db.session.commit()


@pytest.fixture
def cases(app):
    enable_service(app, "alpha", SERVICE)
    return [file_application(app, SERVICE) for _ in range(2)]


def test_staff_inbox_pays_two_statements_of_overhead_whatever_the_rows_and_roles(app, client, login_as, cases):
    login_as("clerk")
    few = statements(app, client, INBOX)
    assert overhead(few) == SIGNED_IN, few
    # Form data, the access secret's hash and the applicant's contacts are never read for a list.
    listing = [s for s in few if re.search(r"\bFROM application\b", s) and "ORDER BY" in s]
    assert listing, few
    for column in ("application.data", "application.access_secret_hash", "application.applicant_phone"):
        assert all(column not in s for s in listing), column

    for _ in range(6):
        file_application(app, SERVICE)
    more_rows = statements(app, client, INBOX)
    assert len(more_rows) == len(few), (few, more_rows)

    _add_roles_and_group(app, app.seeded["alpha"]["users"]["clerk"])
    more_roles = statements(app, client, INBOX)
    assert overhead(more_roles) == SIGNED_IN, more_roles
    # Head and auditor add menu items and a department-wide view, not queries per item.
    assert len(more_roles) <= len(few) + 1, (few, more_roles)


def test_case_page_pays_the_same_overhead(app, client, login_as, cases):
    login_as("clerk")
    seen = statements(app, client, f"/workspace/applications/{cases[0]}")
    assert overhead(seen) == SIGNED_IN, seen


def test_admin_list_and_menu_cost_no_query_per_menu_item(app, client, login_as):
    """A municipal administrator's menu has many more items than a specialist's: same overhead."""
    login_as("municipal_admin")
    admin = statements(app, client, ADMIN_LIST)
    assert overhead(admin) == SIGNED_IN, admin
    assert overhead(statements(app, client, INBOX)) == SIGNED_IN
    login_as("specialist")
    assert overhead(statements(app, client, INBOX)) == SIGNED_IN


def test_portal_page_of_a_signed_in_citizen(app, client):
    make_citizen(app, "overhead@test.example")
    login(client, "overhead@test.example", PASSWORD)
    seen = statements(app, client, PORTAL)
    # The sign-in check alone (its pairs are the citizen role's few).
    assert overhead(seen) == SIGNED_IN, seen


def test_anonymous_pages_read_no_permissions_per_menu_item(app, client):
    seen = statements(app, client, "/")
    assert all(not pattern.search(s) for s in seen for pattern in NEVER.values()), seen
    assert sum(1 for s in seen if PERMISSIONS.search(s)) <= 1, seen


def _api_statements(app, client, path: str, headers: dict[str, str]) -> list[str]:
    assert client.get(path, headers=headers).status_code == 200

    def request() -> None:
        with app.app_context():
            db.session.remove()
        assert client.get(path, headers=headers).status_code == 200, path

    return recorded_statements(app, request)


def _bearer(client, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    )
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def test_an_api_request_pays_the_same_two_statements(app, client, cases):
    """The token's session with its user (roles, groups, own profile) in one SELECT, and the
    Public role's pairs (asked before the token is checked) with the user's roles' in one."""
    headers = _bearer(client, "alpha.clerk")
    seen = _api_statements(app, client, f"/api/v1/applications/{cases[0]}", headers)
    assert overhead(seen) == API, seen
    # The token's user is not read again by Flask-AppBuilder's JWT user loader.
    assert not any(re.search(r"FROM ab_user\s+WHERE ab_user.id = ", s) for s in seen), seen

    _add_roles_and_group(app, app.seeded["alpha"]["users"]["clerk"])
    more_roles = _api_statements(app, client, "/api/v1/applications", headers)
    assert overhead(more_roles) == API, more_roles


def test_an_api_token_losing_its_permission_is_refused_on_the_next_request(app, client, cases):
    from flask_appbuilder.security.sqla.models import assoc_permissionview_role as link

    headers = _bearer(client, "alpha.clerk")
    path = f"/api/v1/applications/{cases[0]}"
    assert client.get(path, headers=headers).status_code == 200
    with app.app_context():
        sm = current_appbuilder().sm
        pv_id = sm.find_permission_view_menu("can_read", "ApplicationsApi").id
        role_id = sm.find_role(roles.CLERK).id
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with other.begin() as conn:
            conn.execute(delete(link).where(link.c.permission_view_id == pv_id, link.c.role_id == role_id))
        assert client.get(path, headers=headers).status_code == 403
        with other.begin() as conn:
            conn.execute(insert(link).values(permission_view_id=pv_id, role_id=role_id))
        assert client.get(path, headers=headers).status_code == 200
    finally:
        other.dispose()


# -- permissions hold from the next request on -----------------------------------------------------


def _workspace_list_pair(app) -> tuple[int, int]:
    """(permission-view id of Workspace.can_list, Clerk role id)."""
    with app.app_context():
        sm = current_appbuilder().sm
        pv = sm.find_permission_view_menu("can_list", "Workspace")
        return pv.id, sm.find_role(roles.CLERK).id


def test_the_pairs_read_with_the_user_are_exactly_those_of_its_roles(app, client, monkeypatch):
    """Own roles and roles through a group, and never another user's: the sign-in SELECT's
    pairs equal what the permission query reads for the same roles."""
    from app import security

    held: list[tuple] = []

    def spy(user, joined):
        real(user, joined)
        held.append(g.get(security._GRANTED))

    real = security._hold_grants
    monkeypatch.setattr(security, "_hold_grants", spy)

    def held_and_fresh(username: str) -> tuple[frozenset, frozenset]:
        login(client, username, PASSWORD)
        with app.app_context():
            db.session.remove()
        held.clear()
        assert client.get(INBOX).status_code in (200, 302, 403)
        key, pairs = held[-1]
        with app.test_request_context():
            fresh = current_appbuilder().sm.granted(key)
        return pairs, fresh

    clerk, fresh = held_and_fresh("alpha.clerk")
    assert clerk == fresh and ("can_list", "Workspace") in clerk
    admin, fresh = held_and_fresh("alpha.municipal_admin")
    assert admin == fresh and admin != clerk
    _add_roles_and_group(app, app.seeded["alpha"]["users"]["clerk"])
    more, fresh = held_and_fresh("alpha.clerk")
    assert more == fresh and clerk < more
    # A role reached only through the group counts (the specialist's pairs).
    with app.test_request_context():
        specialist = current_appbuilder().sm.find_role(roles.SPECIALIST).id
        assert current_appbuilder().sm.granted((specialist,)) <= more


def test_a_role_losing_a_permission_in_this_process_loses_it_on_the_next_request(app, client, login_as):
    login_as("clerk")
    assert client.get(INBOX).status_code == 200
    with app.app_context():
        sm = current_appbuilder().sm
        role = sm.find_role(roles.CLERK)
        pv = sm.find_permission_view_menu("can_list", "Workspace")
        role.permissions.remove(pv)
        db.session.commit()
    refused = client.get(INBOX)
    assert refused.status_code in (302, 403)
    with app.app_context():
        sm = current_appbuilder().sm
        role = sm.find_role(roles.CLERK)
        role.permissions.append(sm.find_permission_view_menu("can_list", "Workspace"))
        db.session.commit()
    assert client.get(INBOX).status_code == 200


def test_a_permission_changed_by_another_process_holds_on_the_next_request(app, client, login_as):
    """Another process (its own engine and connection) revokes, then grants again."""
    from flask_appbuilder.security.sqla.models import assoc_permissionview_role as link

    pv_id, role_id = _workspace_list_pair(app)
    login_as("clerk")
    assert client.get(INBOX).status_code == 200
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with other.begin() as conn:
            conn.execute(delete(link).where(link.c.permission_view_id == pv_id, link.c.role_id == role_id))
        assert client.get(INBOX).status_code in (302, 403)
        with other.begin() as conn:
            conn.execute(insert(link).values(permission_view_id=pv_id, role_id=role_id))
        assert client.get(INBOX).status_code == 200
    finally:
        other.dispose()


def test_a_role_taken_from_the_user_holds_on_the_next_request(app, client, login_as):
    login_as("clerk")
    assert client.get(INBOX).status_code == 200
    with app.app_context():
        sm = current_appbuilder().sm
        user = sm.get_user_by_id(app.seeded["alpha"]["users"]["clerk"])
        user.roles = [sm.find_role(roles.CITIZEN)]
        db.session.commit()
    # A browser request starts with an empty session (the test's is shared by its requests).
    db.session.remove()
    assert client.get(INBOX).status_code in (302, 403)


# -- builder services: no freshness query per request, changes still seen -------------------------

STALL = {
    "key": "overhead-stall",
    "title": {"hy": "Տաղավար", "en": "Stall"},
    "fields": [{"name": "goods", "type": "text", "label": {"hy": "Ապրանք"}}],
    "steps": [{"key": "review", "title": {"hy": "Ստուգում"}, "role": "specialist", "days": 2}],
}


def _other_process(app):
    """A second app on the same database stands for another process."""
    from app import create_app

    keys = (
        "SQLALCHEMY_DATABASE_URI",
        "HAMAYNK_PLUGINS",
        "HAMAYNK_LOAD_ENTRYPOINTS",
        "HAMAYNK_SERVICE_DIRS",
        "HAMAYNK_STORAGE",
        "HAMAYNK_STORAGE_PATH",
    )
    return create_app("test", overrides={k: app.config[k] for k in keys})


def test_a_service_saved_by_another_process_is_seen_once_the_recheck_delay_passed(app, client, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(builder_services, "_clock", lambda: clock[0])
    builder_services.refresh(app)  # looked just now (at the fake clock's time)
    other = _other_process(app)
    try:
        with other.app_context():
            builder_services.save(
                db.session,
                STALL,
                mode=builder_services.CREATE,
                owner_municipality_id=None,
                actor_id=None,
                viewer_municipality_ids=None,
            )
            db.session.commit()
        # Within the delay: no look, so no query and not seen yet.
        seen = recorded_statements(app, lambda: client.get("/"))
        assert not any(NEVER["builder freshness"].search(s) for s in seen), seen
        assert plugin_runtime.registry(app).get(STALL["key"]) is None
        clock[0] += app.config[builder_services.RECHECK_SECONDS] + 0.1
        client.get("/")
        assert plugin_runtime.registry(app).get(STALL["key"]) is not None
    finally:
        with other.app_context():
            db.engine.dispose()


def test_a_service_committed_in_this_process_is_seen_on_the_next_request(app, client, monkeypatch):
    clock = [1_000_000.0]
    monkeypatch.setattr(builder_services, "_clock", lambda: clock[0])
    builder_services.refresh(app)
    with app.app_context():
        builder_services.save(
            db.session,
            STALL,
            mode=builder_services.CREATE,
            owner_municipality_id=None,
            actor_id=None,
            viewer_municipality_ids=None,
        )
        db.session.commit()
        assert db.session.execute(select(builder_services.ServiceDefinition.key)).scalars().all() == [STALL["key"]]
    assert plugin_runtime.registry(app).get(STALL["key"]) is None
    client.get("/")
    assert plugin_runtime.registry(app).get(STALL["key"]) is not None


def test_the_sign_in_select_joins_flat_and_seeks_by_index(app, client, login_as, cases):
    """The roles and groups are plain LEFT JOINs: the nested ``LEFT JOIN (ab_user_role JOIN
    ab_role)`` that ``joinedload`` writes made SQLite materialize every user's roles for each
    request (38 ms with 200,000 citizens: issue 13's benchmark). On SQLite the plan seeks every
    table of the sign-in SELECT that grows with users by an index or key; none is scanned."""
    login_as("clerk")
    seen = [s for s in statements(app, client, INBOX) if SIGN_IN.search(s)]
    assert len(seen) == 1, seen
    assert "JOIN (" not in seen[0], seen[0]
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            return
        with db.engine.connect() as conn:
            params = (None,) * seen[0].count("?")
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {seen[0]}", params)]
    # Only the permission catalogue may be walked (for the pairs' subqueries, without statistics):
    # its rows are the code's views and menus, a few hundred that grow with neither users nor data.
    catalogue = ("SCAN ab_permission_view", "SCAN ab_permission", "SCAN ab_view_menu")
    walked = [step for step in plan if step.startswith(("SCAN", "MATERIALIZE"))]
    assert [step for step in walked if step.split(" USING")[0] not in catalogue] == [], plan
