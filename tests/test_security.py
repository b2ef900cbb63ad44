"""Roles and permissions: who reaches which administration page, and the code-defined
permission catalogue that ``flask hamaynk sync-permissions`` writes."""

from __future__ import annotations

import pytest

from app.domain.staff import grantable_roles
from app.extensions import db
from app.security import (
    ALL_ROLES,
    AUDITOR,
    CITIZEN,
    CLERK,
    GRANTABLE_BY_MUNICIPAL_ADMIN,
    HEAD,
    MUNICIPAL_ADMIN,
    ROLE_PERMISSIONS,
    SPECIALIST,
    SYSTEM_ADMIN,
)

SERVICE = "residence-certificate"

READ_PAGES = [
    "/admin/departments/list/",
    "/admin/staff/",
    "/admin/services/",
    "/admin/plugins/",
    "/admin/municipalities/list/",
]
WRITE_PAGES = ["/admin/departments/add", "/admin/staff/add", f"/admin/services/{SERVICE}", "/admin/municipalities/add"]
FAB_SECURITY_PAGES = ["/users/list/", "/roles/list/"]


def permissions_of(app, role_name: str) -> set[tuple[str, str]]:
    with app.app_context():
        role = app.appbuilder.sm.find_role(role_name)
        return {(pv.permission.name, pv.view_menu.name) for pv in role.permissions}


@pytest.mark.parametrize("role", ["clerk", "specialist", "citizen"])
def test_front_and_back_office_and_citizens_cannot_open_admin_pages(client, login_as, role):
    login_as(role)
    for url in READ_PAGES + WRITE_PAGES + FAB_SECURITY_PAGES:
        response = client.get(url)
        assert response.status_code == 403 or (
            response.status_code == 302 and "/login" in response.headers["Location"]
        ), url


@pytest.mark.parametrize("role", ["clerk", "specialist", "citizen"])
def test_their_forged_posts_change_nothing(app, client, login_as, role):
    from app.models import Department, ServiceActivation

    login_as(role)
    response = client.post(
        "/admin/departments/add", data={"municipality": str(app.seeded["alpha"]["id"]), "code": "rogue", "name_hy": "Ռ"}
    )
    assert response.status_code == 403
    response = client.post(f"/admin/services/{SERVICE}", data={"enabled": "y"})
    assert response.status_code == 403
    with app.app_context():
        assert db.session.query(Department).filter_by(code="rogue").count() == 0
        assert db.session.query(ServiceActivation).count() == 0


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in READ_PAGES + WRITE_PAGES:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"], url


def test_auditor_can_list_but_not_change(app, client, login_as):
    login_as("auditor")
    for url in READ_PAGES:
        assert client.get(url).status_code == 200, url
    for url in WRITE_PAGES:
        assert client.get(url).status_code == 403, url
    department = app.seeded["alpha"]["departments"]["trade"]
    assert client.get(f"/admin/departments/show/{department}").status_code == 200
    assert client.get(f"/admin/departments/edit/{department}").status_code == 403
    assert (
        client.post(f"/admin/departments/edit/{department}", data={"code": "changed", "name_hy": "Փոխված"}).status_code
        == 403
    )
    assert client.post(f"/admin/departments/delete/{department}").status_code == 403
    clerk = app.seeded["alpha"]["users"]["clerk"]
    assert client.get(f"/admin/staff/{clerk}/edit").status_code == 403
    from app.models import Department

    with app.app_context():
        assert db.session.get(Department, department).code == "trade"


def test_head_reads_departments_and_staff_only(client, login_as):
    login_as("head")
    assert client.get("/admin/departments/list/").status_code == 200
    assert client.get("/admin/staff/").status_code == 200
    for url in ["/admin/services/", "/admin/plugins/", "/admin/municipalities/list/", *WRITE_PAGES]:
        assert client.get(url).status_code == 403, url


def test_municipal_admin_reaches_their_pages_but_not_system_ones(client, login_as):
    login_as("municipal_admin")
    for url in [
        "/admin/departments/list/",
        "/admin/departments/add",
        "/admin/staff/",
        "/admin/staff/add",
        "/admin/services/",
        f"/admin/services/{SERVICE}",
    ]:
        assert client.get(url).status_code == 200, url
    for url in ["/admin/plugins/", "/admin/municipalities/list/", "/admin/municipalities/add", *FAB_SECURITY_PAGES]:
        assert client.get(url).status_code == 403, url


def test_system_admin_reaches_everything(client, login_as):
    login_as("system_admin")
    for url in READ_PAGES + WRITE_PAGES + FAB_SECURITY_PAGES:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", ["clerk", "specialist", "head", "auditor", "municipal_admin", "citizen"])
def test_everyone_can_see_their_own_profile(client, login_as, role):
    login_as(role)
    assert client.get("/users/userinfo/").status_code == 200


def test_only_system_admins_may_grant_system_admin():
    assert SYSTEM_ADMIN in grantable_roles(True)
    assert SYSTEM_ADMIN not in grantable_roles(False)
    assert CITIZEN not in grantable_roles(False)
    assert (
        set(grantable_roles(False))
        == set(GRANTABLE_BY_MUNICIPAL_ADMIN)
        == {MUNICIPAL_ADMIN, CLERK, SPECIALIST, HEAD, AUDITOR}
    )


def test_every_role_exists_with_exactly_its_code_defined_permissions(app):
    with app.app_context():
        sm = app.appbuilder.sm
        for name in ALL_ROLES:
            assert sm.find_role(name) is not None, name
        assert sm.find_role(app.config["AUTH_ROLE_PUBLIC"]).permissions == []
    assert set(ROLE_PERMISSIONS) == set(ALL_ROLES)
    # Nobody but the system administrator may manage municipalities, plug-ins, users or roles.
    for role in ALL_ROLES:
        if role == SYSTEM_ADMIN:
            continue
        perms = permissions_of(app, role)
        for permission, view in perms:
            assert not (
                view in {"MunicipalityAdmin", "PluginsAdmin", "ServicesAdmin"}
                and permission in {"can_add", "can_edit", "can_delete"}
                and role != MUNICIPAL_ADMIN
            ), (role, permission, view)
            assert view not in {"UserDBModelView", "RoleModelView"} or permission in {
                "can_userinfo",
                "resetmypassword",
                "userinfoedit",
            }, (role, permission, view)
        assert ("can_add", "MunicipalityAdmin") not in perms
        assert ("can_list", "PluginsAdmin") not in perms or role == AUDITOR
    admin = permissions_of(app, MUNICIPAL_ADMIN)
    assert {("can_edit", "ServicesAdmin"), ("can_add", "StaffAdmin"), ("can_add", "DepartmentAdmin")} <= admin
    assert ("can_edit", "ServicesAdmin") not in permissions_of(app, AUDITOR)
    assert ("can_list", "ServicesAdmin") in permissions_of(app, AUDITOR)


def run_sync(app) -> str:
    result = app.test_cli_runner().invoke(args=["hamaynk", "sync-permissions"])
    assert result.exit_code == 0, result.output
    return result.output


def test_sync_permissions_is_idempotent(app):
    with app.app_context():
        pv_count = db.session.query(app.appbuilder.sm.permissionview_model).count()
    before = {role: permissions_of(app, role) for role in ALL_ROLES}
    first = run_sync(app)
    second = run_sync(app)
    assert first == second
    assert f"{CLERK}: {len(before[CLERK])} permission(s)" in first
    assert {role: permissions_of(app, role) for role in ALL_ROLES} == before
    with app.app_context():
        assert db.session.query(app.appbuilder.sm.permissionview_model).count() == pv_count


def test_sync_permissions_removes_a_hand_added_permission(app, client, login_as):
    with app.app_context():
        sm = app.appbuilder.sm
        pv = sm.find_permission_view_menu("can_list", "PluginsAdmin")
        assert pv is not None
        clerk = sm.find_role(CLERK)
        sm.add_permission_role(clerk, pv)
        extra = sm.find_permission_view_menu("can_edit", "ServicesAdmin")
        auditor = sm.find_role(AUDITOR)
        sm.add_permission_role(auditor, extra)
    assert ("can_list", "PluginsAdmin") in permissions_of(app, CLERK)
    login_as("clerk")
    assert client.get("/admin/plugins/").status_code == 200  # the hand-added grant works…

    run_sync(app)
    assert ("can_list", "PluginsAdmin") not in permissions_of(app, CLERK)
    assert ("can_edit", "ServicesAdmin") not in permissions_of(app, AUDITOR)
    login_as("clerk")
    assert client.get("/admin/plugins/").status_code == 403  # …until the code-defined set is restored


def test_sync_permissions_restores_a_removed_permission(app, client, login_as):
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role(MUNICIPAL_ADMIN)
        sm.del_permission_role(role, sm.find_permission_view_menu("can_list", "StaffAdmin"))
    login_as("municipal_admin")
    assert client.get("/admin/staff/").status_code == 403
    run_sync(app)
    assert ("can_list", "StaffAdmin") in permissions_of(app, MUNICIPAL_ADMIN)
    login_as("municipal_admin")
    assert client.get("/admin/staff/").status_code == 200


# -- the secret key ----------------------------------------------------------------------------


def _signed_with(app, key: str, sign):
    """What ``sign()`` makes with ``key`` in place of the app's own: how an attacker who
    knows a key forges cookies and tokens."""
    own = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = key
    try:
        with app.test_request_context():
            return sign()
    finally:
        app.config["SECRET_KEY"] = own


def test_cookies_and_tokens_signed_with_the_public_development_key_are_not_accepted(tmp_path, monkeypatch):
    """Without SECRET_KEY, earlier versions signed with a key published in config.py: a
    forged session cookie made anyone system admin. Now the instance's own key signs."""
    import flask_jwt_extended

    import config
    from app.testing import make_app, seed_municipality, seed_system_admin

    monkeypatch.setattr(config, "INSTANCE_DIR", tmp_path / "instance")
    app = make_app(tmp_path, SECRET_KEY=None)
    own_key = app.config["SECRET_KEY"]
    assert own_key == (tmp_path / "instance" / config.SECRET_KEY_FILE).read_text().strip()
    admin_id = seed_system_admin(app)
    clerk_id = seed_municipality(app, "alpha")["users"]["clerk"]
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    # Sign-ins are server-side sessions (app.domain.sessions): a cookie or token names an open
    # one, so the forger here is also given open sessions' ids (the key alone gets nobody in).
    from app.domain import sessions

    with app.app_context():
        web_sid, _row = sessions.open_session(db.session, admin_id, sessions.WEB)
        api_sid, _row = sessions.open_session(db.session, clerk_id, sessions.API)
        db.session.commit()

    def session_cookie() -> str:
        serializer = app.session_interface.get_signing_serializer(app)
        return serializer.dumps({"_user_id": str(admin_id), "_fresh": True, "_sid": web_sid})

    def access_token() -> str:
        return flask_jwt_extended.create_access_token(
            identity=str(clerk_id), fresh=True, additional_claims={"sid": api_sid}
        )

    def admin_page(cookie: str):
        client = app.test_client()
        client.set_cookie(cookie_name, cookie)
        return client.get("/users/list/")

    def api_list(token: str):
        return app.test_client().get("/api/v1/applications", headers={"Authorization": f"Bearer {token}"})

    # Signed with the instance's key, the same cookie and token get in: the forgery is right.
    assert admin_page(_signed_with(app, own_key, session_cookie)).status_code == 200
    assert api_list(_signed_with(app, own_key, access_token)).status_code == 200
    # Signed with the public key, they are an anonymous visitor's.
    forged = admin_page(_signed_with(app, config.OLD_DEVELOPMENT_KEY, session_cookie))
    assert forged.status_code == 302 and "/login" in forged.headers["Location"]
    assert api_list(_signed_with(app, config.OLD_DEVELOPMENT_KEY, access_token)).status_code in (401, 422)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
