"""(c) Mass assignment: every form (found by crawling, forms.py) and every API body, sent with
fields nobody offered (another municipality's id, a status, an applicant, an id, a version,
role ids), applies none of them."""

from __future__ import annotations

from sqlalchemy import func, select

from .crawl import table_counts
from .forms import FUZZERS, discover, fuzzer_rows

# Its own municipality and resident (conftest.Live.playground), whose forms the fuzzers left
# as they were.
PLAYGROUND = "epsilon"


def _extra(live) -> dict[str, str]:
    beta = live.victims["beta"]
    return {
        "municipality_id": str(beta["municipality_id"]),
        "owner_municipality_id": str(beta["municipality_id"]),
        "department_id": str(beta["department_id"]),
        "status": "approved",
        "applicant_user_id": str(live.victims["citizen_a"]["user_id"]),
        "created_by_id": str(beta["user_id"]),
        "assignee_id": str(beta["user_id"]),
        "user_id": str(live.victims["citizen_a"]["user_id"]),
        "id": "1",
        "version": "99",
        "roles": "1",
        "role_ids": "1",
        "roles-0": "1",
        "active": "y",
        "is_admin": "y",
        "email_verified_at": "2020-01-01",
        "tracking_number": beta["tracking_number"],
    }


def _beta_rows(live) -> dict:
    from app.extensions import db
    from app.models import metadata

    beta_id = live.victims["beta"]["municipality_id"]
    with live.app.app_context():
        counts = {
            table.name: db.session.execute(
                select(func.count()).select_from(table).where(table.c.municipality_id == beta_id)
            ).scalar_one()
            for table in metadata.sorted_tables
            if "municipality_id" in table.c and table.name not in ("audit_event",)
        }
        db.session.remove()
    return counts


def _admin_role_holders(live) -> list:
    from app.extensions import db
    from app.models import metadata

    users, roles = metadata.tables["ab_user_role"], metadata.tables["ab_role"]
    with live.app.app_context():
        found = db.session.execute(
            select(users.c.user_id).join(roles, roles.c.id == users.c.role_id).where(roles.c.id == 1)
        ).all()
        db.session.remove()
        return sorted(found)


def test_extra_fields_in_forms_are_never_applied(live):
    extra = _extra(live)
    live.playground(PLAYGROUND)
    before = (table_counts(live.app), _beta_rows(live), _admin_role_holders(live))
    sent = 0
    for role in FUZZERS:
        session = live.login(role, PLAYGROUND) if role != "anonymous" else live.login("anonymous")
        for form in discover(live, session, fuzzer_rows(live, role, PLAYGROUND)):
            if form.method != "POST":
                continue
            data = {**extra, **{k: v for k, v in form.fields.items() if k not in extra}}
            session.post(form.action, data=data, timeout=120, allow_redirects=False)
            sent += 1
    after_counts, after_beta, after_admins = table_counts(live.app), _beta_rows(live), _admin_role_holders(live)
    print(f"\nmass assignment: {sent} forms sent with foreign fields")
    assert after_beta == before[1], "a row was created or moved into beta"
    assert after_admins == before[2], "someone gained the first role"
    # Gamma's own application may change through the forms its staff legitimately use.
    own_apps = _own_applications(live)
    for key in ("applications", "issued", "questions", "payments", "substitutions"):
        victims = {row[0] for row in before[0][key]} - (own_apps if key == "applications" else set())
        assert [r for r in after_counts[key] if r[0] in victims] == [r for r in before[0][key] if r[0] in victims], key


def _own_applications(live) -> set:
    from app.extensions import db
    from app.models import Application

    with live.app.app_context():
        ids = set(
            db.session.execute(
                select(Application.id).where(Application.municipality_id == live.playground(PLAYGROUND)["id"])
            ).scalars()
        )
        db.session.remove()
        return ids


def test_extra_fields_in_api_bodies_are_never_applied(live):
    import requests

    from app.extensions import db
    from app.models import Application

    token = live.token("clerk", PLAYGROUND)
    extra = {
        "municipality_id": live.victims["beta"]["municipality_id"],
        "status": "approved",
        "applicant_user_id": live.victims["citizen_a"]["user_id"],
        "id": live.victims["beta"]["application_id"],
        "version": 99,
        "tracking_number": live.victims["beta"]["tracking_number"],
        "created_by_id": live.victims["beta"]["user_id"],
    }
    before = (table_counts(live.app)["applications"], _beta_rows(live))
    response = requests.post(
        live.url("/api/v1/applications"),
        json={
            "service": "residence-certificate",
            "data": {"address": "Gamma 1", "purpose": "bank", "copies": "1"},
            "applicant": {"name": "Mass Assign"},
            **extra,
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code < 500
    if response.status_code in (200, 201):
        created = response.json().get("id") or response.json().get("result", {}).get("id")
        with live.app.app_context():
            row = db.session.get(Application, created)
            assert row is not None
            assert row.municipality_id == live.playground(PLAYGROUND)["id"]
            assert row.status == "draft" and row.applicant_user_id is None and row.version != 99
            db.session.remove()
    assert _beta_rows(live) == before[1]
    victims = {row[0] for row in before[0]}
    assert [r for r in table_counts(live.app)["applications"] if r[0] in victims] == before[0]
