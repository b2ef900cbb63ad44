"""Editing a staff member without a password field keeps their password (issue 8, item 10).

The edit form is built from the user row, whose ``password`` column holds the hash: a post
that left the field out used to save that hash as if it were a new password, and the real
password stopped working."""

from __future__ import annotations

import pytest

from app.domain.roles import CLERK
from app.extensions import db
from app.models import AuditEvent
from app.testing import PASSWORD, login


def _edit_form(app, **changes):
    alpha = app.seeded["alpha"]
    data = {
        "username": "alpha.clerk",
        "first_name": "Lilit",
        "last_name": "Sargsyan",
        "email": "alpha.clerk@test.example",
        "municipality_id": str(alpha["id"]),
        "department_id": str(alpha["departments"]["front_office"]),
        "roles": [CLERK],
        "active": "y",
    }
    data.update(changes)
    return data


def _stored_hash(app, user_id):
    with app.app_context():
        return app.appbuilder.sm.get_user_by_id(user_id).password


@pytest.mark.parametrize("password_field", ["absent", "empty"])
def test_an_edit_without_a_password_keeps_the_password(app, client, login_as, password_field):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    before = _stored_hash(app, clerk)
    login_as("municipal_admin")
    data = _edit_form(app) if password_field == "absent" else _edit_form(app, password="")
    response = client.post(f"/admin/staff/{clerk}/edit", data=data)
    assert response.status_code == 302
    with app.app_context():
        user = app.appbuilder.sm.get_user_by_id(clerk)
        assert user.first_name == "Lilit"  # the edit itself went through
        event = db.session.query(AuditEvent).filter_by(action="staff.update").one()
        assert event.details["password_changed"] is False
    assert _stored_hash(app, clerk) == before
    # and the clerk still signs in with the real password
    login(client, "alpha.clerk", PASSWORD)


def test_an_edit_with_a_new_password_changes_it(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    before = _stored_hash(app, clerk)
    login_as("municipal_admin")
    response = client.post(f"/admin/staff/{clerk}/edit", data=_edit_form(app, password="a-new-password-42"))
    assert response.status_code == 302
    assert _stored_hash(app, clerk) != before
    login(client, "alpha.clerk", "a-new-password-42")


@pytest.mark.parametrize("password_field", ["absent", "empty", "the stored hash"])
def test_flask_appbuilders_user_edit_keeps_the_password(app, client, login_as, password_field):
    """Issue 12: the same rule on the system admin's Users screen (Flask-AppBuilder's own edit
    form): whatever a post says in a password field, an edit is not a password change."""
    clerk = app.seeded["alpha"]["users"]["clerk"]
    before = _stored_hash(app, clerk)
    login_as("system_admin")
    with app.app_context():
        role_id = app.appbuilder.sm.find_role(CLERK).id
    data = {
        "first_name": "Lilit",
        "last_name": "Sargsyan",
        "username": "alpha.clerk",
        "email": "alpha.clerk@test.example",
        "active": "y",
        "roles": [str(role_id)],
    }
    if password_field == "empty":
        data["password"] = ""
    elif password_field == "the stored hash":
        data["password"] = before
    response = client.post(f"/users/edit/{clerk}", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        assert app.appbuilder.sm.get_user_by_id(clerk).first_name == "Lilit"
    assert _stored_hash(app, clerk) == before
    login(app.test_client(), "alpha.clerk", PASSWORD)
