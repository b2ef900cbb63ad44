"""The staff REST API over real HTTP requests (Flask test client), JWTs from FAB's login
endpoint, a real database and real stored files: listing with keyset paging and filters,
showing, acting, downloading, creating drafts, schemas, the OpenAPI spec — and every way a
token of another municipality, a read-only role or hostile input is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re

import jwt
import pytest
from flask_jwt_extended import create_access_token, decode_token
from sqlalchemy import func, select
from werkzeug.http import parse_options_header

from app import testing
from app.api.listing import LIST_COLUMNS
from app.domain import statuses
from app.domain.documents import store_documents
from app.domain.errors import ChangedMeanwhile
from app.domain.roles import CLERK, HEAD, SPECIALIST
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, AuditEvent, TransitionRecord
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, add_staff, enable_service, recorded_statements

SERVICE_KEY = "residence-certificate"
DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}
PDF = testing.make_pdf()


# -- helpers -------------------------------------------------------------------------------


def set_up(app, key: str = "alpha") -> dict:
    municipality = app.seeded[key]
    code = municipality["code"]
    people = dict(municipality["users"])
    people["registrar"] = add_staff(app, municipality, f"{code}.registrar", [SPECIALIST], "civil_registry")
    people["registrar2"] = add_staff(app, municipality, f"{code}.registrar2", [SPECIALIST], "civil_registry")
    people["registry_head"] = add_staff(app, municipality, f"{code}.registry_head", [HEAD], "civil_registry")
    people["front_clerk"] = add_staff(app, municipality, f"{code}.front_clerk", [CLERK], "front_office")
    with app.app_context():
        enable_service(app, municipality["id"], SERVICE_KEY)
        db.session.commit()
    municipality["people"] = people
    return people


def file_application(app, key: str = "alpha", *, submit: bool = True, name: str = "Armen Petrosyan") -> int:
    return testing.file_application(
        app,
        SERVICE_KEY,
        key,
        data=DATA,
        by=app.seeded[key]["people"]["front_clerk"],
        submit=submit,
        applicant_name=name,
        applicant_psn="1234567890",
        applicant_phone="+37410123456",
    )


def attach_pdf(app, application_id: int, name: str = "passport.pdf") -> int:
    """Upload a PDF to the "identity" checklist line the way every channel stores one."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        requirement = next(d for d in service.documents if d.key == "identity")
        (document,) = store_documents(
            db.session, get_storage(app), application, requirement, [testing.attach("pdf", filename=name)]
        )
        db.session.commit()
        return document.id


def state(app, application_id: int) -> tuple:
    with app.app_context():
        a = db.session.get(Application, application_id)
        history = db.session.execute(
            select(func.count()).select_from(TransitionRecord).where(TransitionRecord.application_id == application_id)
        ).scalar()
        return (a.status, a.version, a.current_step, a.municipality_id, a.tracking_number, a.assignee_id, history)


@pytest.fixture
def token(client):
    cache: dict[str, str] = {}

    def get(username: str) -> dict[str, str]:
        if username not in cache:
            response = client.post(
                "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
            )
            assert response.status_code == 200, response.json
            cache[username] = response.json["access_token"]
        return {"Authorization": f"Bearer {cache[username]}"}

    return get


@pytest.fixture
def world(app):
    alpha = set_up(app, "alpha")
    beta = set_up(app, "beta")
    return {"alpha": alpha, "beta": beta}


# -- authentication and the spec ----------------------------------------------------------------


def test_without_a_token_the_api_answers_401_and_the_session_cookie_is_not_enough(app, client, world, login_as):
    assert client.get("/api/v1/applications").status_code == 401
    assert client.get("/api/v1/applications", headers={"Authorization": "Bearer not-a-jwt"}).status_code in (401, 422)
    login_as("clerk")  # a browser session: the API takes JWTs only (no CSRF exposure)
    assert client.get("/api/v1/applications").status_code == 401
    wrong = client.post(
        "/api/v1/security/login", json={"username": "alpha.clerk", "password": "nope", "provider": "db"}
    )
    assert wrong.status_code == 401


ARMENIAN = re.compile("[\u0531-\u0587]")


def _expired_and_ended_tokens(app, client):
    """An access token past its expiry, and one of a session signed out since."""
    signed_in = client.post(
        "/api/v1/security/login", json={"username": "alpha.clerk", "password": PASSWORD, "provider": "db"}
    ).json["access_token"]
    with app.test_request_context():
        claims = decode_token(signed_in)
        expired = create_access_token(
            identity=claims["sub"], additional_claims={"sid": claims["sid"]}, expires_delta=dt.timedelta(seconds=-60)
        )
    assert client.post("/api/v1/security/logout", headers={"Authorization": f"Bearer {signed_in}"}).status_code == 200
    return expired, signed_in


def test_token_refusals_are_401s_in_the_callers_language(app, client, world):
    expired, ended = _expired_and_ended_tokens(app, client)
    cases = {
        "missing": {},
        "not a bearer": {"Authorization": "Basic YTpi"},
        "malformed": {"Authorization": "Bearer not-a-jwt"},
        "forged": {
            "Authorization": "Bearer "
            + jwt.encode({"sub": "1", "sid": "x"}, "a key that is not this server's, long enough", "HS256")
        },
        "expired": {"Authorization": f"Bearer {expired}"},
        "ended": {"Authorization": f"Bearer {ended}"},
    }
    english = {}
    for name, headers in cases.items():
        answer = client.get("/api/v1/applications", headers=headers)
        assert answer.status_code == 401, name
        assert set(answer.json) == {"message"} and ARMENIAN.search(answer.json["message"]), (name, answer.json)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer"), name
        english[name] = client.get("/api/v1/applications?_l_=en", headers=headers).json["message"]
    assert english["missing"] == english["not a bearer"] and "Authorization: Bearer" in english["missing"]
    assert english["malformed"] == english["forged"] == "This access token is not valid. Sign in again."
    assert "expired" in english["expired"] and "ended" in english["ended"]
    wrong = client.post(
        "/api/v1/security/login?_l_=en", json={"username": "alpha.clerk", "password": "nope", "provider": "db"}
    )
    assert wrong.status_code == 401 and wrong.json == {"message": "The user name or the password is not right."}


def test_openapi_spec_is_served_and_lists_the_endpoints(client, world, token):
    response = client.get("/api/v1/_openapi", headers=token("alpha.clerk"))
    assert response.status_code == 200
    paths = response.json["paths"]
    for path in (
        "/api/v1/applications",
        "/api/v1/applications/{pk}",
        "/api/v1/applications/{pk}/actions",
        "/api/v1/applications/{pk}/documents/{document_id}",
        "/api/v1/services/{key}/schema",
        "/api/v1/security/login",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/applications"]) == {"get", "post"}
    assert "post" in paths["/api/v1/applications/{pk}/actions"]


def test_permissions_are_the_explicit_class_permission_name(app):
    from app.security import ROLE_PERMISSIONS, _matches

    for role in ("Clerk", "Specialist", "Head", "Municipal admin"):
        assert _matches(ROLE_PERMISSIONS[role], "can_read", "ApplicationsApi")
        assert _matches(ROLE_PERMISSIONS[role], "can_act", "ApplicationsApi")
    assert _matches(ROLE_PERMISSIONS["Auditor"], "can_read", "ApplicationsApi")
    assert not _matches(ROLE_PERMISSIONS["Auditor"], "can_act", "ApplicationsApi")
    assert not _matches(ROLE_PERMISSIONS["Citizen"], "can_read", "ApplicationsApi")
    with app.app_context():
        sm = app.appbuilder.sm
        assert sm.find_permission_view_menu("can_read", "ApplicationsApi") is not None
        assert sm.find_permission_view_menu("can_act", "ApplicationsApi") is not None


def test_a_citizen_token_is_refused(client, world, token):
    assert client.get("/api/v1/applications", headers=token("citizen")).status_code == 403


# -- list ----------------------------------------------------------------------------------------


def test_list_shows_explicit_columns_of_own_municipality_only(app, client, world, token):
    mine = [file_application(app, "alpha") for _ in range(2)]
    theirs = file_application(app, "beta")
    draft_by_someone_else = file_application(app, "alpha", submit=False)
    response = client.get("/api/v1/applications", headers=token("alpha.specialist"))
    assert response.status_code == 200
    rows = response.json["result"]
    assert [r["id"] for r in rows] == sorted(mine, reverse=True)
    assert theirs not in [r["id"] for r in rows] and draft_by_someone_else not in [r["id"] for r in rows]
    assert all(set(r) == set(LIST_COLUMNS) for r in rows)
    assert rows[0]["status"] == statuses.SUBMITTED and rows[0]["current_step"] == "registry_check"
    beta_rows = client.get("/api/v1/applications", headers=token("beta.clerk")).json["result"]
    assert [r["id"] for r in beta_rows] == [theirs]
    # The clerk who filed the draft sees it.
    clerk_rows = client.get("/api/v1/applications", headers=token("alpha.front_clerk")).json["result"]
    assert draft_by_someone_else in [r["id"] for r in clerk_rows]


def test_list_filters_and_refuses_bad_parameters(app, client, world, token):
    submitted = file_application(app)
    draft = file_application(app, submit=False)
    headers = token("alpha.front_clerk")
    rows = client.get("/api/v1/applications?status=draft", headers=headers).json["result"]
    assert [r["id"] for r in rows] == [draft]
    rows = client.get(f"/api/v1/applications?service={SERVICE_KEY}&status=submitted", headers=headers).json["result"]
    assert [r["id"] for r in rows] == [submitted]
    assert client.get("/api/v1/applications?overdue=true", headers=headers).json["result"] == []
    with app.app_context():
        a = db.session.get(Application, submitted)
        a.step_due_at = a.step_due_at.replace(year=a.step_due_at.year - 1)
        db.session.commit()
    rows = client.get("/api/v1/applications?overdue=1", headers=headers).json["result"]
    assert [r["id"] for r in rows] == [submitted]
    for query, field in (
        ("status=approvedd", "status"),
        ("service=no-such", "service"),
        ("overdue=maybe", "overdue"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("after=-1", "after"),
        ("after=99999999999999999999999", "after"),
        ("limit=1e3", "limit"),
    ):
        response = client.get(f"/api/v1/applications?{query}", headers=headers)
        assert response.status_code == 400, query
        assert field in response.json["errors"], query
        assert response.json["message"]


def test_keyset_pages_cover_everything_once(app, client, world, token):
    ids = [file_application(app) for _ in range(5)]
    headers = token("alpha.clerk")
    seen, after, pages = [], None, 0
    while True:
        url = "/api/v1/applications?limit=2" + (f"&after={after}" if after else "")
        body = client.get(url, headers=headers).json
        seen += [r["id"] for r in body["result"]]
        pages += 1
        after = body["next_after"]
        if after is None:
            break
    assert seen == sorted(ids, reverse=True) and pages == 3


def test_list_issues_a_constant_number_of_queries_and_never_counts(app, client, world, token):
    headers = token("alpha.clerk")

    def listing() -> None:
        assert client.get("/api/v1/applications?limit=100", headers=headers).status_code == 200

    def statements() -> list[str]:
        return recorded_statements(app, listing)

    file_application(app)
    statements()  # warm-up: the first request of a process loads FAB's role look-ups once
    few = statements()
    for _ in range(6):
        file_application(app)
    many = statements()
    assert len(few) == len(many)
    assert not any("count(" in s.lower() for s in many)


# -- show ----------------------------------------------------------------------------------------


def test_show_has_form_data_documents_and_history(app, client, world, token):
    application_id = file_application(app)
    document_id = attach_pdf(app, application_id)
    response = client.get(f"/api/v1/applications/{application_id}", headers=token("alpha.registrar"))
    assert response.status_code == 200
    result = response.json["result"]
    assert result["data"] == DATA
    assert result["applicant"]["psn"] == "1234567890" and result["personal_data_masked"] is False
    assert [d["id"] for d in result["documents"]] == [document_id]
    assert result["documents"][0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert [h["action"] for h in result["history"]] == ["submit"]
    assert "approve" in result["allowed_actions"] and result["version"] >= 1
    assert "access_secret_hash" not in result and "access_code" not in result


def test_auditor_reads_with_personal_data_masked(app, client, world, token):
    application_id = file_application(app)
    result = client.get(f"/api/v1/applications/{application_id}", headers=token("alpha.auditor")).json["result"]
    assert result["personal_data_masked"] is True
    assert result["applicant"]["psn"] != "1234567890" and result["applicant"]["psn"].endswith("90")
    assert result["allowed_actions"] == []


def test_without_its_service_version_every_value_is_masked_for_an_auditor(app, client, world, token):
    enable_service(app, "alpha", "kindergarten-enrolment")
    child = {"child_name": "Anna Petrosyan", "child_birth_date": "2022-01-01", "child_psn": "1234567890"}
    application_id = testing.file_application(app, "kindergarten-enrolment", data=child)
    with app.app_context():
        # Filed under a version that is no longer installed: nobody can say which fields are personal.
        db.session.get(Application, application_id).service_version = 99
        db.session.commit()
    url = f"/api/v1/applications/{application_id}"
    masked = client.get(url, headers=token("alpha.auditor")).json["result"]
    assert masked["personal_data_masked"] is True
    assert set(masked["data"]) == set(child)
    for name, value in child.items():
        assert value not in str(masked["data"][name]) and masked["data"][name].startswith("\u2022"), name
    # Those who may see personal data still see it as stored.
    assert client.get(url, headers=token("alpha.clerk")).json["result"]["data"] == child


def test_auditors_get_no_document_links_and_no_actions(app, client, world, token):
    application_id = file_application(app)
    document_id = attach_pdf(app, application_id)
    url = f"/api/v1/applications/{application_id}/documents/{document_id}"
    staff = client.get(f"/api/v1/applications/{application_id}", headers=token("alpha.registrar")).json["result"]
    assert [d["url"] for d in staff["documents"]] == [url]
    result = client.get(f"/api/v1/applications/{application_id}", headers=token("alpha.auditor")).json["result"]
    # They see that the document exists, but get no link that would only answer 403.
    assert [d["id"] for d in result["documents"]] == [document_id]
    assert [d["url"] for d in result["documents"]] == [None]
    assert client.get(url, headers=token("alpha.auditor")).status_code == 403
    assert result["allowed_actions"] == []


def test_allowed_actions_follow_the_api_permission_not_only_the_role(app, client, world, token):
    application_id = file_application(app)
    show = f"/api/v1/applications/{application_id}"
    assert "approve" in client.get(show, headers=token("alpha.registrar")).json["result"]["allowed_actions"]
    with app.app_context():
        sm = app.appbuilder.sm
        # An operator took acting through the API away from specialists: they still read.
        sm.del_permission_role(sm.find_role(SPECIALIST), sm.find_permission_view_menu("can_act", "ApplicationsApi"))
    assert client.get(show, headers=token("alpha.registrar")).json["result"]["allowed_actions"] == []
    before = state(app, application_id)
    refused = client.post(
        f"{show}/actions", headers=token("alpha.registrar"), json={"action": "approve", "expected_version": before[1]}
    )
    assert refused.status_code == 403 and state(app, application_id) == before


def test_other_municipality_gets_404_on_every_endpoint(app, client, world, token):
    application_id = file_application(app, "beta")
    document_id = attach_pdf(app, application_id)
    before = state(app, application_id)
    for username in ("alpha.clerk", "alpha.municipal_admin", "alpha.auditor", "alpha.registrar"):
        headers = token(username)
        assert client.get(f"/api/v1/applications/{application_id}", headers=headers).status_code == 404
        assert (
            client.get(f"/api/v1/applications/{application_id}/documents/{document_id}", headers=headers).status_code
            == 404
        )
        response = client.post(
            f"/api/v1/applications/{application_id}/actions",
            headers=headers,
            json={"action": "comment", "comment": "peek"},
        )
        assert response.status_code in (403, 404)  # the auditor lacks can_act before any look-up
        if username != "alpha.auditor":
            assert response.status_code == 404
    assert state(app, application_id) == before
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "document.download")
            ).scalar()
            == 0
        )
    assert client.get("/api/v1/applications/99999999999999999999999", headers=token("alpha.clerk")).status_code == 404


# -- act -----------------------------------------------------------------------------------------


def test_approve_moves_the_application_on(app, client, world, token):
    application_id = file_application(app)
    version = state(app, application_id)[1]
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=token("alpha.registrar"),
        json={"action": "approve", "comment": "Records match.", "expected_version": version},
    )
    assert response.status_code == 200, response.json
    assert response.json["result"]["status"] == statuses.IN_REVIEW
    assert response.json["result"]["current_step"] == "signature"
    assert state(app, application_id)[0] == statuses.IN_REVIEW


def test_stale_version_is_409_with_a_message_and_changes_nothing(app, client, world, token):
    application_id = file_application(app)
    version = state(app, application_id)[1]
    headers = token("alpha.registrar")
    ok = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=token("alpha.registry_head"),
        json={"action": "reassign", "assignee_id": world["alpha"]["registrar2"], "expected_version": version},
    )
    assert ok.status_code == 200
    before = state(app, application_id)
    assert before[1] != version
    stale = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=headers,
        json={"action": "approve", "expected_version": version},
    )
    assert stale.status_code == 409
    assert stale.json["message"] == str(ChangedMeanwhile())  # the workflow's sentence, in the reader's language
    assert state(app, application_id) == before


def test_the_second_head_signing_an_approved_application_gets_409_not_400(app, client, world, token):
    """Both heads saw the signature step; the first signed, which approved the application."""
    add_staff(app, app.seeded["alpha"], "alpha.registry_head2", [HEAD], "civil_registry")
    application_id = file_application(app)

    def approve(username: str, version: int):
        return client.post(
            f"/api/v1/applications/{application_id}/actions",
            headers=token(username),
            json={"action": "approve", "expected_version": version},
        )

    assert approve("alpha.registrar", state(app, application_id)[1]).status_code == 200
    seen = state(app, application_id)[1]
    first = approve("alpha.registry_head", seen)
    assert first.status_code == 200 and first.json["result"]["status"] == statuses.APPROVED
    approved = state(app, application_id)
    second = approve("alpha.registry_head2", seen)
    assert second.status_code == 409
    assert second.json["message"] == str(ChangedMeanwhile())
    assert state(app, application_id) == approved


def test_not_allowed_is_403_with_the_reason(app, client, world, token):
    application_id = file_application(app)
    before = state(app, application_id)
    # alpha.specialist works in urban planning; the step belongs to the civil registry.
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=token("alpha.specialist"),
        json={"action": "approve", "expected_version": before[1]},
    )
    assert response.status_code == 403
    assert response.json["message"] and response.json["message"] != "Forbidden"
    # The auditor reads only: no can_act at all.
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=token("alpha.auditor"),
        json={"action": "comment", "comment": "x"},
    )
    assert response.status_code == 403
    assert state(app, application_id) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"action": "approve"}, "expected_version"),
        ({"action": "approve", "expected_version": "abc"}, "expected_version"),
        ({"action": "approve", "expected_version": True}, "expected_version"),
        ({"action": "approve", "expected_version": -3}, "expected_version"),
        ({"action": "approve", "expected_version": 2**40}, "expected_version"),
        ({"action": "explode", "expected_version": 1}, "action"),
        ({"action": ["approve"], "expected_version": 1}, "action"),
        ({"action": "comment", "comment": {"$ne": 1}}, "comment"),
        ({"action": "comment", "comment": "x" * 5001}, "comment"),
        ({"action": "reassign", "expected_version": 1, "assignee_id": "me"}, "assignee_id"),
        # str.isdigit() is true for these, but they are not ASCII digits ("١" is not 1 here).
        ({"action": "approve", "expected_version": "²"}, "expected_version"),
        ({"action": "approve", "expected_version": "١"}, "expected_version"),
        ({"action": "reassign", "expected_version": 1, "assignee_id": "²"}, "assignee_id"),
        ({"action": "extend", "expected_version": 1, "days": "³", "reason": "x"}, "days"),
        ({"action": "approve", "expected_version": "9" * 5000}, "expected_version"),
        # Text that cannot be stored: a lone surrogate, NUL, other control characters.
        ({"action": "comment", "comment": "\ud800"}, "comment"),
        ({"action": "comment", "comment": "a\x00b"}, "comment"),
        ({"action": "reject", "expected_version": 1, "reason": "bell\x07"}, "reason"),
        ({"action": "comment", "comment": "hi", "status": "approved"}, "status"),
        (
            {"action": "comment", "comment": "hi", "municipality_id": 2, "version": 99, "tracking_number": "X"},
            "version",
        ),
    ],
)
def test_bad_action_input_is_400_with_field_errors_and_changes_nothing(app, client, world, token, body, field):
    application_id = file_application(app)
    before = state(app, application_id)
    response = client.post(
        f"/api/v1/applications/{application_id}/actions", headers=token("alpha.registrar"), json=body
    )
    assert response.status_code == 400, response.json
    assert field in response.json["errors"]
    assert state(app, application_id) == before


def test_return_still_takes_reason_as_a_deprecated_alias_of_what_to_fix(app, client, world, token):
    application_id = file_application(app)
    version = state(app, application_id)[1]
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=token("alpha.registrar"),
        json={"action": "return", "reason": "Blurred scan", "expected_version": version},
    )
    assert response.status_code == 200, response.json
    assert response.json["result"]["status"] == statuses.RETURNED
    assert response.json["result"]["history"][-1]["comment"] == "Blurred scan"


def test_deeply_nested_json_is_400_on_both_posts(app, client, world, token):
    application_id = file_application(app)
    before = state(app, application_id)
    body = '{"action":' + "[" * 100_000 + "]" * 100_000 + "}"
    for url in (f"/api/v1/applications/{application_id}/actions", "/api/v1/applications"):
        response = client.post(url, headers=token("alpha.registrar"), data=body, content_type="application/json")
        assert response.status_code == 400, url
        assert response.json["message"]
    assert state(app, application_id) == before


def test_non_json_bodies_are_400_never_500(app, client, world, token):
    application_id = file_application(app)
    before = state(app, application_id)
    headers = token("alpha.registrar")
    url = f"/api/v1/applications/{application_id}/actions"
    for kwargs in (
        {"data": "not json", "content_type": "application/json"},
        {"data": "action=approve"},
        {"json": [1, 2]},
        {"json": "approve"},
    ):
        response = client.post(url, headers=headers, **kwargs)
        assert response.status_code == 400, kwargs
        assert response.json["message"]
    assert state(app, application_id) == before


def test_workflow_refusals_are_400(app, client, world, token):
    application_id = file_application(app)
    before = state(app, application_id)
    # Returning needs to say what to correct.
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=token("alpha.registrar"),
        json={"action": "return", "what_to_fix": "   ", "expected_version": before[1]},
    )
    assert response.status_code == 400 and response.json["message"]
    assert set(response.json["errors"]) == {"what_to_fix"}
    assert state(app, application_id) == before


def test_each_field_has_one_meaning_the_same_as_in_the_workspace(app, client, world, token):
    application_id = file_application(app)
    before = state(app, application_id)
    url = f"/api/v1/applications/{application_id}/actions?_l_=en"
    headers = token("alpha.registrar")
    # An internal comment never stands in for what the applicant is told, nor the reverse.
    for body, field in (
        ({"action": "return", "comment": "Blurred scan"}, "what_to_fix"),
        ({"action": "return", "reason": "  "}, "what_to_fix"),
        ({"action": "reject", "comment": "Not registered here"}, "reason"),
        ({"action": "comment", "reason": "Called the applicant"}, "comment"),
        ({"action": "extend", "reason": "Waiting", "days": 0}, "days"),
    ):
        response = client.post(url, headers=headers, json={**body, "expected_version": before[1]})
        assert response.status_code == 400, body
        assert set(response.json["errors"]) == {field}, body
    assert state(app, application_id) == before
    message = client.post(url, headers=headers, json={"action": "return", "expected_version": before[1]}).json
    # The workspace's return form says the same about the same missing field.
    testing.login(client, "alpha.registrar")
    client.get("/lang/en")
    page = client.post(
        f"/workspace/applications/{application_id}/return", data={"version": before[1], "what_to_fix": " "}
    )
    assert page.status_code == 400
    assert html.escape(message["errors"]["what_to_fix"], quote=True) in page.get_data(as_text=True)
    assert state(app, application_id) == before

    response = client.post(
        url, headers=headers, json={"action": "return", "what_to_fix": "Blurred scan", "expected_version": before[1]}
    )
    assert response.status_code == 200, response.json
    assert response.json["result"]["history"][-1]["comment"] == "Blurred scan"


def test_supervisors_extend_the_deadline_through_the_api(app, client, world, token):
    application_id = file_application(app)
    before = state(app, application_id)
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=token("alpha.registry_head"),
        json={"action": "extend", "days": 3, "reason": "Waiting for the registry", "expected_version": before[1]},
    )
    assert response.status_code == 200, response.json
    assert response.json["result"]["history"][-1]["action"] == "extend"
    ascii_only = client.get("/api/v1/applications?after=²", headers=token("alpha.registry_head"))
    assert ascii_only.status_code == 400 and set(ascii_only.json["errors"]) == {"after"}
    with app.app_context():
        extended = db.session.get(Application, application_id)
        assert extended.due_at is not None and extended.version == before[1] + 1


def test_comment_and_reassign(app, client, world, token):
    application_id = file_application(app)
    people = world["alpha"]
    headers = token("alpha.registry_head")
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=headers,
        json={"action": "comment", "comment": "Look at this."},
    )
    assert response.status_code == 200
    version = state(app, application_id)[1]
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=headers,
        json={
            "action": "reassign",
            "assignee_id": people["registrar2"],
            "reason": "Holiday",
            "expected_version": version,
        },
    )
    assert response.status_code == 200, response.json
    assert response.json["result"]["assignee_id"] == people["registrar2"]
    assert [h["action"] for h in response.json["result"]["history"]] == ["submit", "comment", "reassign"]


# -- documents -----------------------------------------------------------------------------------


def test_document_download_is_an_audited_nosniff_attachment(app, client, world, token):
    application_id = file_application(app)
    # Uploads refuse control characters in names; a quote must not end the header's value early.
    document_id = attach_pdf(app, application_id, name='evil"; filename="run.exe.pdf')
    response = client.get(
        f"/api/v1/applications/{application_id}/documents/{document_id}", headers=token("alpha.registrar")
    )
    assert response.status_code == 200
    assert response.data == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    disposition = response.headers["Content-Disposition"]
    assert parse_options_header(disposition)[1] == {"filename": 'evil"; filename="run.exe.pdf'}
    assert disposition.count(" filename=") == 1
    with app.app_context():
        events = db.session.execute(select(AuditEvent).where(AuditEvent.action == "document.download")).scalars().all()
        assert len(events) == 1
        assert events[0].details["channel"] == "api" and events[0].object_id == str(document_id)
        assert events[0].actor_id == world["alpha"]["registrar"]


def test_auditor_cannot_open_documents_and_unknown_ones_are_404(app, client, world, token):
    application_id = file_application(app)
    document_id = attach_pdf(app, application_id)
    other = file_application(app)
    response = client.get(
        f"/api/v1/applications/{application_id}/documents/{document_id}", headers=token("alpha.auditor")
    )
    assert response.status_code == 403 and response.json["message"]
    # A document of another application is not reachable through this one.
    assert (
        client.get(
            f"/api/v1/applications/{other}/documents/{document_id}", headers=token("alpha.registrar")
        ).status_code
        == 404
    )
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "document.download")
            ).scalar()
            == 0
        )


# -- create and schema ---------------------------------------------------------------------------


def _count_applications(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Application)).scalar()


def test_create_files_a_draft_with_validated_data(app, client, world, token):
    body = {
        "service_key": SERVICE_KEY,
        "data": {"address": " Abovyan 2 ", "purpose": "bank", "copies": "2"},
        "applicant": {"name": "Ani Hakobyan", "phone": "010 123456"},
    }
    response = client.post("/api/v1/applications", headers=token("alpha.front_clerk"), json=body)
    assert response.status_code == 201, response.json
    result = response.json["result"]
    assert result["status"] == statuses.DRAFT and result["access_code"]
    assert result["data"]["copies"] == 2 and result["data"]["on_behalf"] is False
    assert result["channel"] == "api"
    with app.app_context():
        a = db.session.get(Application, result["id"])
        assert a.municipality_id == app.seeded["alpha"]["id"] and a.data["address"] == "Abovyan 2"
        assert a.created_by_id == world["alpha"]["front_clerk"]
        # Recorded as what it is: filed through the API, not at the office counter.
        assert a.channel == "api"


def test_create_applies_the_same_rules_as_the_form(app, client, world, token):
    headers = token("alpha.front_clerk")
    before = _count_applications(app)
    response = client.post(
        "/api/v1/applications",
        headers=headers,
        json={
            "service_key": SERVICE_KEY,
            "data": {"address": "A", "purpose": "other", "copies": 9},
            "applicant": {"name": ""},
        },
    )
    assert response.status_code == 400
    errors = response.json["errors"]
    # purpose "other" makes purpose_other required (a declared condition), copies is 1..5.
    assert {"data.copies", "data.purpose_other", "applicant.name"} <= set(errors)
    response = client.post(
        "/api/v1/applications",
        headers=headers,
        json={
            "service_key": SERVICE_KEY,
            "data": {"address": {"nested": 1}, "purpose": "bank", "copies": 1},
            "applicant": {"name": "A"},
        },
    )
    assert response.status_code == 400 and "data.address" in response.json["errors"]
    response = client.post(
        "/api/v1/applications",
        headers=headers,
        json={"service_key": "trade-permit", "data": {}, "applicant": {"name": "A"}},
    )
    assert response.status_code == 400 and "service_key" in response.json["errors"]
    assert _count_applications(app) == before


def office_errors(page: str) -> dict[str, str]:
    """The messages the office form shows next to its inputs, named as the API names them."""
    names = {"applicant-": "applicant.", "doc-": "documents."}
    found = {}
    for input_id, message in re.findall(r'<p class="help-block" id="([\w-]+)-err"[^>]*>([^<]*)</p>', page):
        prefix = next((p for p in names if input_id.startswith(p)), "")
        found[(names[prefix] if prefix else "data.") + input_id[len(prefix) :]] = html.unescape(message)
    return found


def test_the_office_and_the_api_refuse_the_same_bad_data_with_the_same_messages(app, client, world, token, login_as):
    data = {"address": "", "purpose": "other", "on_behalf": False, "copies": "9"}
    applicant = {"name": " ", "psn": "12345", "phone": "12", "email": "not-an-email"}
    response = client.post(
        "/api/v1/applications?_l_=en",
        headers=token("alpha.front_clerk"),
        json={"service_key": SERVICE_KEY, "data": data, "applicant": applicant},
    )
    assert response.status_code == 400
    api = response.json["errors"]
    assert {"data.address", "data.purpose_other", "data.copies", "applicant.name", "applicant.psn"} <= set(api)

    login_as("clerk")
    client.get("/lang/en")
    form = client.get(f"/office/new/{SERVICE_KEY}").get_data(as_text=True)
    submission = re.search(r'name="applicant-token" type="hidden" value="([\w-]{32})"', form).group(1)
    posted = {"applicant-token": submission, **{f"applicant-{k}": v for k, v in applicant.items()}}
    posted.update({k: v for k, v in data.items() if v is not False})  # an unticked box sends nothing
    response = client.post(f"/office/new/{SERVICE_KEY}", data=posted, content_type="multipart/form-data")
    assert response.status_code == 400
    office = office_errors(response.get_data(as_text=True))
    # The office also asks for the documents a submission needs; a draft may wait for them.
    assert office.pop("documents.identity") == "Attach this document."
    assert office == api
    assert _count_applications(app) == 0


def test_a_service_that_is_not_offered_is_reported_with_the_applicants_errors(app, client, world, token):
    headers = token("alpha.front_clerk")
    for service_key, message in (("trade-permit", "does not offer"), (None, "Choose a service")):
        body = {"data": {"address": "A"}, "applicant": {"name": " ", "email": "not-an-email"}}
        if service_key:
            body["service_key"] = service_key
        response = client.post("/api/v1/applications?_l_=en", headers=headers, json=body)
        assert response.status_code == 400
        errors = response.json["errors"]
        # Without a service the form data cannot be judged; the applicant still can.
        assert set(errors) == {"service_key", "applicant.name", "applicant.email"}, errors
        assert message in errors["service_key"]
    assert _count_applications(app) == 0


@pytest.mark.parametrize(
    "extra", [{"status": "approved"}, {"municipality_id": 2}, {"tracking_number": "X-1"}, {"version": 7}]
)
def test_create_refuses_protected_fields(app, client, world, token, extra):
    before = _count_applications(app)
    body = {"service_key": SERVICE_KEY, "data": DATA, "applicant": {"name": "Ani"}, **extra}
    response = client.post("/api/v1/applications", headers=token("alpha.front_clerk"), json=body)
    assert response.status_code == 400
    assert set(extra) <= set(response.json["errors"])
    assert _count_applications(app) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({"data": {**DATA, "purpose": ["bank", "zzz"]}}, "data.purpose"),
        ({"data": {**DATA, "address": ["x", "y"]}}, "data.address"),
        ({"data": {**DATA, "copies": [1]}}, "data.copies"),
        ({"data": {**DATA, "address": "Abovyan\ud800"}}, "data.address"),
        ({"data": {**DATA, "address": "Abovyan\x00 1"}}, "data.address"),
        ({"applicant": {"name": "A\ud800"}}, "applicant.name"),
        ({"applicant": {"name": "A\x00"}}, "applicant.name"),
        ({"applicant": {"name": "A", "psn": "١٢٣٤٥٦٧٨٩٠"}}, "applicant.psn"),
        ({"applicant": {"name": "A", "psn": "²²²²²²²²²²"}}, "applicant.psn"),
    ],
)
def test_create_refuses_lists_for_single_values_and_text_it_cannot_store(app, client, world, token, body, field):
    request = {"service_key": SERVICE_KEY, "data": DATA, "applicant": {"name": "Ani"}, **body}
    response = client.post("/api/v1/applications", headers=token("alpha.front_clerk"), json=request)
    assert response.status_code == 400, response.json
    assert field in response.json["errors"], response.json
    assert _count_applications(app) == 0


def test_create_is_refused_to_auditors(app, client, world, token):
    response = client.post(
        "/api/v1/applications",
        headers=token("alpha.auditor"),
        json={"service_key": SERVICE_KEY, "data": DATA, "applicant": {"name": "Ani"}},
    )
    assert response.status_code == 403
    assert _count_applications(app) == 0


def test_service_schema(client, world, token):
    response = client.get(f"/api/v1/services/{SERVICE_KEY}/schema?_l_=en", headers=token("alpha.clerk"))
    assert response.status_code == 200
    assert {"address", "purpose", "copies"} <= set(response.json["properties"])
    assert client.get("/api/v1/services/no-such-service/schema", headers=token("alpha.clerk")).status_code == 404
    assert client.get("/api/v1/services/" + "x" * 500 + "/schema", headers=token("alpha.clerk")).status_code == 404
