"""Tenant isolation over every URL rule of the app: each staff role of one municipality,
pointed at another municipality's rows through every endpoint that takes an id (pages,
actions, downloads, FAB's generic action/download endpoints, the API), gets 403/404 or the
login page, sees none of the other municipality's data, and changes nothing. A service the
other municipality built in the admin UI does not exist for them either: not in the
catalogue, the schema API, the inbox filter or the Plug-ins page.

The rules are read from the app's URL map, so an endpoint added later is covered without
anyone remembering to add it here.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from urllib.parse import quote

import pytest
from issued_kit import issue_directly
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Application,
    AuditEvent,
    Department,
    IssuedDocument,
    Payment,
    PendingReceiptCode,
    ServiceActivation,
    ServiceDefinition,
    StaffProfile,
    Substitution,
    TransitionRecord,
)
from app.plugins import builder_services
from app.sdk import office_today
from app.testing import PASSWORD, apply, attach, enable_service

BETA_APPLICANT = "Զզբետա Բնակիչ Leakcheck"
ROLES = ("municipal_admin", "clerk", "specialist", "head", "auditor")
# FAB's own security screens (users, roles, permissions) are for system administrators only;
# a municipal role must be refused there outright, whatever the id.
FAB_SECURITY = ("/users/", "/roles/", "/permissions/", "/permissionviews/", "/viewmenus/", "/groups/")
REFUSED = {302, 400, 403, 404, 405, 409}
BETA_SERVICE = "beta-own-stall"
BETA_SERVICE_TITLE = "Բետայի սեփական կրպակ"


@pytest.fixture
def beta_rows(app):
    filed = apply(
        app,
        "residence-certificate",
        municipality="beta",
        applicant_name=BETA_APPLICANT,
        # In person (no power of attorney), so the checklist is the identity document alone.
        data={"address": "Beta 1", "purpose": "bank", "copies": "1"},
        documents={"identity": [attach("pdf", "beta-passport.pdf")]},
    )
    with app.app_context():
        application = db.session.get(Application, filed.id)
        beta_id = app.seeded["beta"]["id"]
        users = app.seeded["beta"]["users"]
        # A substitution of beta's, which alpha's staff must neither see nor end.
        substitution = Substitution(
            municipality_id=beta_id,
            absent_id=users["specialist"],
            substitute_id=users["head"],
            starts_on=office_today(),
            ends_on=office_today() + dt.timedelta(days=3),
        )
        db.session.add(substitution)
        # A payment of beta's applicant, started online and paid (app.domain.payments).
        payment = Payment(
            municipality_id=beta_id,
            application_id=application.id,
            user_id=users["clerk"],
            provider="test",
            reference="HPBE7A000000000000000001",
            amount=1000,
            status="paid",
            receipt_number="BETA-1",
        )
        db.session.add(payment)
        db.session.commit()
        return {
            "payment_id": payment.id,
            "reference": payment.reference,
            "provider": payment.provider,
            "substitution_id": substitution.id,
            "application_id": application.id,
            "document_id": application.documents[0].id,
            "tracking_number": application.tracking_number,
            "department_id": db.session.execute(select(Department.id).where(Department.municipality_id == beta_id))
            .scalars()
            .first(),
            "user_id": app.seeded["beta"]["users"]["clerk"],
            "municipality_id": beta_id,
            "draft_id": _beta_draft(app),
            # A document issued for beta's application (app.domain.issuing): its file, re-issue
            # and revocation are beta's head's alone.
            "issued_id": issue_directly(app, application.id).id,
            **_beta_question(app),
        }


BETA_QUESTION = "Բետայի բնակչի գաղտնի հարցը"


def _beta_question(app) -> dict:
    """A question of a beta citizen's, with an attachment: beta's staff answer it, nobody else."""
    from app.models import QuestionAttachment, QuestionMessage
    from app.testing import ask_question, make_citizen

    asker = make_citizen(app, "beta.asker@example.com", name="Beta Asker")
    question_id = ask_question(
        app, asker, municipality="beta", subject=BETA_QUESTION, files=[attach("pdf", "beta-question-scan.pdf")]
    )
    with app.app_context():
        attachment_id = db.session.execute(
            select(QuestionAttachment.id)
            .join(QuestionMessage, QuestionMessage.id == QuestionAttachment.message_id)
            .where(QuestionMessage.question_id == question_id)
        ).scalar_one()
    return {"question_id": question_id, "attachment_id": attachment_id}


def _beta_draft(app) -> int:
    """An online draft of a citizen of beta's (app.domain.drafts): nobody else's to reach."""
    from app.domain import drafts
    from app.plugins import runtime as plugin_runtime
    from app.testing import actor_for, make_citizen

    owner = make_citizen(app, "beta.resident@example.com", name="Beta Resident")
    with app.app_context():
        registry = plugin_runtime.registry(app)
        draft = drafts.start(
            db.session,
            registry,
            actor_for(owner),
            municipality_id=app.seeded["beta"]["id"],
            service_key="residence-certificate",
        )
        return draft.id


@pytest.fixture
def beta_service(app):
    """A service beta's administrator built in the admin UI; beta offers it."""
    beta = app.seeded["beta"]
    with app.app_context():
        builder_services.save(
            db.session,
            {
                "key": BETA_SERVICE,
                "title": {"hy": BETA_SERVICE_TITLE, "en": "Beta's own stall"},
                "fields": [{"name": "goods", "type": "text", "label": {"hy": "Ապրանք"}}],
                "steps": [{"key": "review", "title": {"hy": "Ստուգում"}, "role": "specialist", "days": 2}],
            },
            mode=builder_services.CREATE,
            owner_municipality_id=beta["id"],
            actor_id=beta["users"]["municipal_admin"],
            viewer_municipality_ids={beta["id"]},
        )
        db.session.commit()
        builder_services.refresh(app)
        enable_service(app, beta["id"], BETA_SERVICE)
        db.session.commit()
    return BETA_SERVICE


def _url_for_rule(rule, beta, service_key: str = "residence-certificate") -> str | None:
    if rule.endpoint.startswith(("site.", "account.", "verify.", "dashboard.")) or rule.endpoint == "apply.start":
        # The public catalogue shows every municipality's services on purpose (and a citizen
        # may apply for any of them: apply.start), the account pages (a signed link, an
        # identity provider) name no municipality's rows, and a document's verification page
        # is public to whoever holds its code (tests/test_verification.py).
        # tests/test_portal_isolation.py crawls the portal citizen against citizen.
        return None
    values = {}
    for argument in rule.arguments:
        if argument in ("application_id", "substitution_id"):
            values[argument] = beta[argument]
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
            values[argument] = service_key
        elif argument == "version":
            values[argument] = "v1"
        elif argument == "filename":
            values[argument] = "csv"
        elif argument in ("payment_id", "reference", "provider"):
            values[argument] = beta[argument]
        elif argument == "token":
            # Signed links from e-mails (unsubscribe, verify, reset): the link is the secret and
            # names no municipality's rows; a forged one must change and reveal nothing.
            values[argument] = "not-a-signed-token"
        elif argument in ("draft_id", "question_id", "attachment_id", "issued_id"):
            values[argument] = beta[argument]
        elif argument == "code":
            values[argument] = "beta"
        elif argument == "stage":
            values[argument] = "documents"
        elif argument == "locale":
            return None  # the language switch: not tenant data
        else:
            # A new kind of URL argument must be taught here, never skipped unseen.
            raise AssertionError(f"the isolation crawl cannot build {rule.rule} (argument {argument!r})")
    return rule.rule.replace("<int:", "<").replace("<string:", "<") and _build(rule.rule, values)


def _build(pattern: str, values) -> str:
    def sub(match):
        return str(values[match.group(1).split(":")[-1]])

    return re.sub(r"<([^>]+)>", sub, pattern)


def _snapshot(app, beta):
    with app.app_context():
        application = db.session.get(Application, beta["application_id"])
        from app.models import Question, QuestionMessage

        question = db.session.get(Question, beta["question_id"])
        return (
            application.status,
            application.version,
            application.assignee_id,
            (question.status, question.assignee_id, question.department_id, question.closed_at),
            db.session.execute(select(func.count()).select_from(QuestionMessage)).scalar_one(),
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
            db.session.execute(select(func.count()).select_from(ServiceDefinition)).scalar_one(),
            db.session.execute(
                select(Substitution.cancelled_at).where(Substitution.id == beta["substitution_id"])
            ).scalar_one(),
            db.session.execute(
                select(func.count()).where(PendingReceiptCode.municipality_id == beta["municipality_id"])
            ).scalar_one(),
            application.access_secret_hash,
            db.session.execute(
                select(IssuedDocument.id, IssuedDocument.status, IssuedDocument.superseded_by_id).order_by(
                    IssuedDocument.id
                )
            ).all(),
            db.session.execute(
                select(func.count()).where(
                    AuditEvent.action.like("issued_document.%"),
                    AuditEvent.municipality_id == beta["municipality_id"],
                )
            ).scalar_one(),
        )


# The citizen too: an applicant reaches their own applications, never a municipality's.
@pytest.mark.parametrize("role", [*ROLES, "citizen"])
def test_no_endpoint_reaches_another_municipalitys_rows(app, client, login_as, beta_rows, beta_service, role):
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
        if not rule.arguments or _url_for_rule(rule, beta_rows) is None:
            continue
        keyed = bool({"service_key", "key"} & set(rule.arguments))
        for service_key, method in itertools.product(
            ("residence-certificate", beta_service) if keyed else ("residence-certificate",),
            sorted(rule.methods - {"HEAD", "OPTIONS"}),
        ):
            url = _url_for_rule(rule, beta_rows, service_key)
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
            body = _without_echo(response.get_data(as_text=True), url)
            label = f"{role} {method} {url}"
            checked += 1
            if keyed and service_key != beta_service:
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
            assert BETA_QUESTION not in body and "beta-question-scan" not in body, label
            assert BETA_SERVICE_TITLE not in body, label
    assert checked > 40
    assert _snapshot(app, beta_rows) == before


def _without_echo(body: str, url: str) -> str:
    """The page without the language links' ``next=``: the address the person asked for,
    sent back to them so a language switch stays on the page. Their own input, not data."""
    return body.replace(quote(url, safe=""), "")


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
        body = _without_echo(response.get_data(as_text=True), page)
        # The search word comes back in the page (the search box); the beta name must not.
        assert "Զզբետա" not in body, page
        assert beta_rows["tracking_number"] not in body.replace(f"q={beta_rows['tracking_number']}", "").replace(
            f'value="{beta_rows["tracking_number"]}"', ""
        ), page


SERVICE_PAGES = (
    "/office/",
    "/workspace/",
    "/workspace/?tab=all",
    "/admin/services/",
    "/admin/plugins/",
    "/admin/builder/",
)


def _pages_and_api(client, username):
    token = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    pages = {page: client.get(page) for page in SERVICE_PAGES}
    schema = client.get(f"/api/v1/services/{BETA_SERVICE}/schema", headers=headers)
    listed = client.get(f"/api/v1/applications?service={BETA_SERVICE}", headers=headers)
    filtered = client.get(f"/workspace/?tab=all&service={BETA_SERVICE}")
    return pages, schema, listed, filtered


@pytest.mark.parametrize("role", ["municipal_admin", "clerk", "specialist", "auditor"])
def test_another_municipalitys_builder_service_does_not_exist_for_them(app, client, login_as, beta_service, role):
    # The same role in beta sees it wherever it may look: the checks below are not vacuous.
    owner_pages, schema, listed, filtered = _pages_and_api(client, login_as(role, "beta"))
    assert (schema.status_code, listed.status_code) == (200, 200)
    assert beta_service in filtered.get_data(as_text=True)
    shown = {page for page, response in owner_pages.items() if response.status_code == 200}
    assert all(beta_service in owner_pages[page].get_data(as_text=True) for page in shown), role
    assert len(shown) >= 2

    pages, schema, listed, filtered = _pages_and_api(client, login_as(role, "alpha"))
    for page, response in pages.items():
        assert response.status_code == owner_pages[page].status_code, f"{role} {page}"
        body = _without_echo(response.get_data(as_text=True), page)
        assert beta_service not in body, f"{role} {page}"
        assert BETA_SERVICE_TITLE not in body, f"{role} {page}"
    assert schema.status_code == 404
    assert BETA_SERVICE_TITLE not in schema.get_data(as_text=True)
    # Filtering by it is filtering by a key nobody has: refused, and not echoed back.
    assert listed.status_code == 400 and "service" in listed.get_json()["errors"]
    filtered_body = _without_echo(filtered.get_data(as_text=True), f"/workspace/?tab=all&service={BETA_SERVICE}")
    assert filtered.status_code == 200 and beta_service not in filtered_body
    for url in (
        f"/office/new/{beta_service}",
        f"/admin/services/{beta_service}",
        f"/admin/builder/{beta_service}/edit",
    ):
        response = client.get(url)
        assert response.status_code in REFUSED, f"{role} {url}"
        assert BETA_SERVICE_TITLE not in _without_echo(response.get_data(as_text=True), url), f"{role} {url}"


def test_the_system_admin_sees_every_municipalitys_services(app, client, login_as, beta_service):
    pages, schema, _listed, _filtered = _pages_and_api(client, login_as("system_admin"))
    assert beta_service in pages["/admin/plugins/"].get_data(as_text=True)
    assert beta_service in pages["/admin/builder/"].get_data(as_text=True)
    assert schema.status_code == 200
