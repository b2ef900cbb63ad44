"""Start-up and a staff sign-in log no warnings: an operator reading the log should see only
what needs them (an invalid redirect that was really tried, say), not noise on every start."""

from __future__ import annotations

import logging

from app.testing import PASSWORD, login, make_app


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_start_up_logs_no_permission_churn(tmp_path, caplog):
    # The workspace's views share one permission name; each declaring fewer permissions made
    # Flask-AppBuilder delete the others' as it registered it ("Refused to delete permission
    # view"). A view named like its menu item lost the item's menu_access the same way, each
    # time the permissions were synchronised again (`flask hamaynk init` on every deploy).
    with caplog.at_level(logging.WARNING):
        app = make_app(tmp_path)
    assert _warnings(caplog) == []
    caplog.clear()
    with caplog.at_level(logging.WARNING), app.app_context():
        app.appbuilder.sm.sync_roles()
    assert _warnings(caplog) == []


def test_views_sharing_a_permission_name_declare_the_same_permissions(app):
    declared: dict[str, set[frozenset[str]]] = {}
    for view in app.appbuilder.baseviews:
        declared.setdefault(view.class_permission_name, set()).add(frozenset(view.base_permissions or ()))
    assert {name: sets for name, sets in declared.items() if len(sets) > 1} == {}


def test_the_workspace_permission_set_holds_every_method_of_its_views(app):
    # The workspace's views declare their shared set (app.workspace.permissions) and get no
    # other: a method whose permission is missing there would exist in no role, refused to
    # everyone. (Other views leave a permission out on purpose: no municipality is deleted.)
    from flask_appbuilder.const import PERMISSION_PREFIX

    from app.workspace import permissions

    views = [v for v in app.appbuilder.baseviews if v.class_permission_name == permissions.NAME]
    assert {type(v).__name__ for v in views} == {
        "WorkspaceView",
        "QuestionsView",
        "PaymentsView",
        "SubstitutesView",
    }
    missing = {}
    for view in views:
        mapped = view.method_permission_name or {}
        for attr in dir(type(view)):
            name = getattr(getattr(type(view), attr, None), "_permission_name", None)
            if name is not None and PERMISSION_PREFIX + mapped.get(attr, name) not in permissions.PERMISSIONS:
                missing.setdefault(type(view).__name__, set()).add(PERMISSION_PREFIX + mapped.get(attr, name))
    assert missing == {}


def test_a_staff_sign_in_without_next_logs_nothing(app, client, caplog):
    with caplog.at_level(logging.WARNING):
        response = login(client, "alpha.clerk", PASSWORD)
    assert response.status_code == 302 and _warnings(caplog) == []


def test_a_foreign_next_is_still_refused_and_logged(app, client, caplog):
    with caplog.at_level(logging.WARNING):
        response = client.post(
            "/login/?next=https://evil.example/", data={"username": "alpha.clerk", "password": PASSWORD}
        )
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]
    assert any("Invalid redirect" in message for message in _warnings(caplog))
