"""Tenant isolation over every URL rule of the app: each staff role of one municipality,
pointed at another municipality's rows through every endpoint that takes an id (pages,
actions, downloads, FAB's generic action/download endpoints, the API), gets 403/404 or the
login page, sees none of the other municipality's data, and changes nothing.

The rules are read from the app's URL map, so an endpoint added later is covered without
anyone remembering to add it here.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Application, AuditEvent, Department, ServiceActivation, StaffProfile, TransitionRecord
from app.testing import PASSWORD, apply, attach

BETA_APPLICANT = "Զզբետա Բնակիչ Leakcheck"
ROLES = ("municipal_admin", "clerk", "specialist", "head", "auditor")
# FAB's own security screens (users, roles, permissions) are for system administrators only;
# a municipal role must be refused there outright, whatever the id.
FAB_SECURITY = ("/users/", "/roles/", "/permissions/", "/permissionviews/", "/viewmenus/", "/groups/")
REFUSED = {302, 400, 403, 404, 405, 409}


@pytest.fixture
def beta_rows(app):
    filed = apply(
        app,
        "residence-certificate",
        municipality="beta",
        applicant_name=BETA_APPLICANT,
        documents={"identity": [attach("pdf", "beta-passport.pdf")]},
    )
    with app.app_context():
        application = db.session.get(Application, filed.id)
        beta_id = app.seeded["beta"]["id"]
        return {
            "application_id": application.id,
            "document_id": application.documents[0].id,
            "tracking_number": application.tracking_number,
            "department_id": db.session.execute(select(Department.id).where(Department.municipality_id == beta_id))
            .scalars()
            .first(),
            "user_id": app.seeded["beta"]["users"]["clerk"],
            "municipality_id": beta_id,
        }


def _url_for_rule(rule, beta) -> str | None:
    values = {}
    for argument in rule.arguments:
        if argument in ("application_id",):
            values[argument] = beta["application_id"]
        elif argument == "document_id":
            values[argument] = beta["document_id"]
        elif argument == "user_id":
            values[argument] = beta["user_id"]
        elif argument == "pk":
            if rule.rule.startswith("/api/"):
                values[argument] = beta["application_id"]
            elif rule.rule.startswith("/admin/municipalities/"):
                values[argument] = beta["municipality_id"]
            elif rule.rule.startswith("/admin/departments/"):
                values[argument] = beta["department_id"]
            else:
                values[argument] = beta["user_id"]
        elif argument == "name":
            values[argument] = "muldelete"
        elif argument == "action":
            values[argument] = "approve"
        elif argument in ("service_key", "key"):
            values[argument] = "residence-certificate"
        elif argument == "version":
            values[argument] = "v1"
        elif argument == "filename":
            values[argument] = "csv"
        else:
            return None  # locale, chart grouping: not tenant data
    return rule.rule.replace("<int:", "<").replace("<string:", "<") and _build(rule.rule, values)


def _build(pattern: str, values) -> str:
    def sub(match):
        return str(values[match.group(1).split(":")[-1]])

    return re.sub(r"<([^>]+)>", sub, pattern)


def _snapshot(app, beta):
    with app.app_context():
        application = db.session.get(Application, beta["application_id"])
        return (
            application.status,
            application.version,
            application.assignee_id,
            db.session.execute(select(func.count()).select_from(TransitionRecord)).scalar_one(),
            db.session.execute(select(func.count()).select_from(Department)).scalar_one(),
            db.session.execute(select(func.count()).select_from(StaffProfile)).scalar_one(),
            db.session.execute(
                select(func.count()).where(ServiceActivation.municipality_id == beta["municipality_id"])
            ).scalar_one(),
            db.session.execute(
                select(func.count()).where(
                    AuditEvent.action.like("document.%"), AuditEvent.municipality_id == beta["municipality_id"]
                )
            ).scalar_one(),
        )


@pytest.mark.parametrize("role", ROLES)
def test_no_endpoint_reaches_another_municipalitys_rows(app, client, login_as, beta_rows, role):
    username = login_as(role, "alpha")
    token = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    ).get_json()["access_token"]
    api_headers = {"Authorization": f"Bearer {token}"}
    before = _snapshot(app, beta_rows)
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/static", "/appbuilder", "/lang/", "/swagger", "/api/<version>/_openapi")):
            continue
        url = _url_for_rule(rule, beta_rows)
        if url is None or not rule.arguments:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.rule.startswith("/api/"):
                # The API as its clients use it: with a JWT, not the browser session.
                response = client.open(
                    url,
                    method=method,
                    headers=api_headers,
                    json={"action": "approve", "expected_version": 1, "comment": "x"} if method == "POST" else None,
                )
            elif method == "GET":
                response = client.get(url)
            else:
                response = client.open(
                    url, method=method, data={"version": "1", "comment": "x", "reason": "x", "what_to_fix": "x"}
                )
            body = response.get_data(as_text=True)
            label = f"{role} {method} {url}"
            checked += 1
            if rule.rule.startswith(("/admin/services/", "/office/new/", "/api/v1/services/", "/admin/builder/")):
                # Keyed by the service, which every municipality shares; only the per-municipality
                # state behind it is tenant data (checked by the snapshot below).
                assert response.status_code < 500, label
            elif rule.rule.startswith(FAB_SECURITY):
                assert response.status_code in REFUSED, label
            else:
                assert response.status_code in REFUSED, f"{label} -> {response.status_code}"
            assert BETA_APPLICANT not in body, label
            assert beta_rows["tracking_number"] not in body, label
            assert "beta-passport" not in body, label
    assert checked > 40
    assert _snapshot(app, beta_rows) == before


@pytest.mark.parametrize("role", ROLES)
def test_lists_and_searches_never_show_another_municipality(app, client, login_as, beta_rows, role):
    username = login_as(role, "alpha")
    token = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    ).get_json()["access_token"]
    pages = [
        "/workspace/",
        "/workspace/?tab=department",
        "/workspace/?tab=all",
        f"/workspace/?q={beta_rows['tracking_number']}",
        "/workspace/?tab=all&q=Leakcheck",
        "/api/v1/applications",
        "/office/applicants?q=Leakcheck",
        "/admin/departments/list/",
        "/admin/staff/",
        "/admin/services/",
        "/admin/builder/",
        "/admin/municipalities/list/",
    ]
    for page in pages:
        response = client.get(page, headers={"Authorization": f"Bearer {token}"} if page.startswith("/api/") else None)
        assert response.status_code < 500, page
        if page == "/api/v1/applications":
            assert response.status_code == 200 and response.is_json, page  # really listed, and beta not in it
        body = response.get_data(as_text=True)
        # The search word comes back in the page (the search box); the beta name must not.
        assert "Զզբետա" not in body, page
        assert beta_rows["tracking_number"] not in body.replace(f"q={beta_rows['tracking_number']}", "").replace(
            f'value="{beta_rows["tracking_number"]}"', ""
        ), page
