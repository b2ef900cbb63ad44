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
# A municipality's public pages that the crawl reaches with beta's code alone (no row id):
# readable by anyone on purpose, as GET only. Each shows beta's published rows only (no
# marker of BETA_PRIVATE may appear in it); every page that takes a row's id is pointed at
# beta's private rows and must refuse like any other.
PUBLIC_PAGES = {
    "proposals.index": "the municipality's proposals (withdrawn ones are not listed)",
    "proposals.new": "the proposal form (the domain refuses a non-resident's submission)",
}
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
            **_beta_participation(app),
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


# Beta's participation rows nobody outside beta's staff may read: a draft poll and a draft
# consultation (with their files), a withdrawn proposal (with a photo) and a hidden comment.
# The crawl points every participation URL at these; the published ones next to them are
# public by design (PUBLIC_PAGES, test_public_participation_pages_show_published_rows_only).
BETA_PRIVATE = (
    "Beta draft poll Zzsecret",
    "beta-draft-poll-map",
    "Beta draft consultation Zzsecret",
    "beta-draft-consultation-text",
    "Beta withdrawn proposal Zzsecret",
    "beta-withdrawn-photo",
    "Beta hidden comment Zzsecret",
)
BETA_PUBLIC = ("Beta public poll", "Beta public consultation", "Beta public proposal", "Beta visible comment")


def _beta_participation(app) -> dict:
    """Beta's participation rows, private and public (see BETA_PRIVATE), made directly."""
    from app.domain.participation import files
    from app.domain.storage import get_storage
    from app.models.base import utcnow
    from app.models.participation import (
        Consultation,
        ConsultationComment,
        Poll,
        PollOption,
        PollQuestion,
        Proposal,
        Residency,
        Settlement,
    )
    from app.testing import make_citizen

    beta_id = app.seeded["beta"]["id"]
    resident = make_citizen(app, "beta.voter@example.com", name="Beta Voter")
    with app.app_context():
        now = utcnow()
        storage = get_storage(app)
        settlement = Settlement(municipality_id=beta_id, code="beta-village", name_hy="Բետագյուղ", name_en="Betavil")
        db.session.add(settlement)
        db.session.flush()
        db.session.add(
            Residency(
                municipality_id=beta_id,
                user_id=resident,
                settlement_id=settlement.id,
                method="office",
                document_kind="passport",
                verified_at=now - dt.timedelta(days=1),
                expires_at=now + dt.timedelta(days=365),
            )
        )

        def poll(title: str, status: str) -> Poll:
            row = Poll(
                municipality_id=beta_id,
                title={"hy": title, "en": title},
                status=status,
                opens_at=now - dt.timedelta(days=1),
                closes_at=now + dt.timedelta(days=8),
            )
            db.session.add(row)
            db.session.flush()
            question = PollQuestion(poll_id=row.id, position=0, text={"hy": "Հարց", "en": "Which?"}, max_choices=1)
            db.session.add(question)
            db.session.flush()
            for position in (0, 1):
                db.session.add(PollOption(poll_id=row.id, question_id=question.id, position=position, text={"hy": "Ա"}))
            return row

        def consultation(title: str, status: str) -> Consultation:
            row = Consultation(
                municipality_id=beta_id,
                title={"hy": title, "en": title},
                body={"hy": title, "en": title},
                status=status,
                opens_at=now - dt.timedelta(days=1),
                closes_at=now + dt.timedelta(days=8),
            )
            db.session.add(row)
            db.session.flush()
            return row

        def proposal(title: str, status: str) -> Proposal:
            row = Proposal(
                municipality_id=beta_id,
                user_id=resident,
                title=title,
                description=title,
                cost_estimate=1000,
                status=status,
            )
            db.session.add(row)
            db.session.flush()
            return row

        def store(owner: tuple[str, int], upload, kind) -> int:
            [row] = files.store(db.session, storage, municipality_id=beta_id, owner=owner, uploads=[upload], kind=kind)
            return row.id

        draft_poll = poll("Beta draft poll Zzsecret", "draft")
        public_poll = poll("Beta public poll", "published")
        draft_consultation = consultation("Beta draft consultation Zzsecret", "draft")
        public_consultation = consultation("Beta public consultation", "published")
        comments = {}
        for body, hidden in (("Beta visible comment", False), ("Beta hidden comment Zzsecret", True)):
            comment = ConsultationComment(
                municipality_id=beta_id,
                consultation_id=public_consultation.id,
                user_id=resident,
                body=body,
                hidden_at=now if hidden else None,
                hide_reason="off topic" if hidden else None,
            )
            db.session.add(comment)
            db.session.flush()
            comments[hidden] = comment.id
        withdrawn = proposal("Beta withdrawn proposal Zzsecret", "withdrawn")
        public_proposal = proposal("Beta public proposal", "open")
        rows = {
            "poll_id": draft_poll.id,
            "poll_file_id": store(("poll", draft_poll.id), attach("pdf", "beta-draft-poll-map.pdf"), "document"),
            "consultation_id": draft_consultation.id,
            "consultation_file_id": store(
                ("consultation", draft_consultation.id), attach("pdf", "beta-draft-consultation-text.pdf"), "document"
            ),
            "comment_id": comments[True],
            "proposal_id": withdrawn.id,
            "proposal_file_id": store(("proposal", withdrawn.id), attach("png", "beta-withdrawn-photo.png"), "photo"),
            "settlement_id": settlement.id,
            "resident_id": resident,
            "public_poll_id": public_poll.id,
            "public_consultation_id": public_consultation.id,
            "visible_comment_id": comments[False],
            "public_proposal_id": public_proposal.id,
        }
        db.session.commit()
        return rows


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
            elif rule.rule.startswith("/admin/settlements/"):
                values[argument] = beta["settlement_id"]
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
        elif argument in ("poll_id", "consultation_id", "comment_id", "proposal_id"):
            values[argument] = beta[argument]  # the private ones: a draft, a hidden comment, a withdrawn proposal
        elif argument == "file_id":
            # The file of the row the URL names (a draft's, a withdrawn proposal's photo).
            owner = next(name for name in ("poll", "consultation", "proposal") if f"{name}_id" in rule.arguments)
            values[argument] = beta[f"{owner}_file_id"]
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
            _participation_state(beta),
        )


def _participation_state(beta) -> tuple:
    """Beta's participation rows as they stand: statuses, files, hidden comments, supports,
    residencies and settlements (all of beta's; one read each)."""
    from app.models.participation import (
        CommentSupport,
        Consultation,
        ConsultationComment,
        ParticipationFile,
        Poll,
        PollVoter,
        Proposal,
        ProposalSupport,
        Residency,
        Settlement,
    )

    mid = beta["municipality_id"]

    def rows(*columns, where):
        return db.session.execute(select(*columns).where(where).order_by(columns[0])).all()

    return (
        rows(Poll.id, Poll.status, Poll.version, where=Poll.municipality_id == mid),
        rows(Consultation.id, Consultation.status, Consultation.version, where=Consultation.municipality_id == mid),
        rows(ConsultationComment.id, ConsultationComment.hidden_at, where=ConsultationComment.municipality_id == mid),
        rows(Proposal.id, Proposal.status, Proposal.support_count, where=Proposal.municipality_id == mid),
        rows(ParticipationFile.id, where=ParticipationFile.municipality_id == mid),
        rows(Residency.id, Residency.user_id, Residency.revoked_at, where=Residency.municipality_id == mid),
        rows(Settlement.id, Settlement.code, Settlement.active, where=Settlement.municipality_id == mid),
        db.session.execute(select(func.count()).select_from(CommentSupport)).scalar_one(),
        db.session.execute(select(func.count()).select_from(ProposalSupport)).scalar_one(),
        db.session.execute(select(func.count()).select_from(PollVoter)).scalar_one(),
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
    public_seen: set[str] = set()
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
            elif method == "GET" and rule.endpoint in PUBLIC_PAGES:
                # Public by design; which rows it shows is checked below (no private marker)
                # and in test_public_participation_pages_show_published_rows_only.
                assert response.status_code < 500, label
                public_seen.add(rule.endpoint)
            else:
                assert response.status_code in REFUSED, f"{label} -> {response.status_code}"
            assert BETA_APPLICANT not in body, label
            assert beta_rows["tracking_number"] not in body, label
            assert "beta-passport" not in body, label
            assert BETA_QUESTION not in body and "beta-question-scan" not in body, label
            assert BETA_SERVICE_TITLE not in body, label
            assert not [marker for marker in BETA_PRIVATE if marker in body], label
    assert checked > 40
    assert public_seen == set(PUBLIC_PAGES), "PUBLIC_PAGES names an endpoint the crawl no longer reaches"
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
    # The participation screens of staff: their own municipality's rows only, even when
    # asked for beta's (a public poll of beta's is not theirs to manage either).
    mid = beta_rows["municipality_id"]
    staff_only = [
        "/admin/polls/",
        f"/admin/polls/?municipality={mid}",
        "/admin/consultations/",
        f"/admin/consultations/?municipality={mid}",
        "/admin/proposals/?status=all",
        f"/admin/proposals/?municipality={mid}&status=all",
        "/admin/proposals/budget-vote",
        "/admin/settlements/",
        "/office/voting/",
        "/office/residents/?q=beta.voter@example.com",
    ]
    for page in staff_only:
        response = client.get(page)
        assert response.status_code < 500, page
        body = response.get_data(as_text=True)
        assert not [marker for marker in (*BETA_PRIVATE, *BETA_PUBLIC, "Betavil") if marker in body], (role, page)
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


@pytest.mark.parametrize("role", [None, "citizen", "clerk", "municipal_admin"])
def test_public_participation_pages_show_published_rows_only(app, client, login_as, beta_rows, role):
    """A municipality's published polls, consultations (with their visible comments) and its
    proposals are public: anyone reads them, another municipality's staff and citizens too.
    Its drafts, withdrawn proposals and hidden comments are not: not listed, not shown, their
    pages and files are not found."""
    if role is not None:
        login_as(role, "alpha")
    beta = beta_rows
    public = {
        "/m/beta/": ("Beta public poll", "Beta public consultation"),
        "/m/beta/proposals/": ("Beta public proposal",),
        f"/m/beta/polls/{beta['public_poll_id']}/": ("Beta public poll",),
        f"/m/beta/consultations/{beta['public_consultation_id']}/": (
            "Beta public consultation",
            "Beta visible comment",
        ),
        f"/m/beta/proposals/{beta['public_proposal_id']}": ("Beta public proposal",),
    }
    for status in ("withdrawn", "open", "all", "x"):
        public[f"/m/beta/proposals/?status={status}"] = ()
    for url, shown in public.items():
        response = client.get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, f"{role} {url} -> {response.status_code}"
        assert all(text in body for text in shown), f"{role} {url}"
        assert not [marker for marker in BETA_PRIVATE if marker in body], f"{role} {url}"
    private = (
        f"/m/beta/polls/{beta['poll_id']}/",
        f"/m/beta/polls/{beta['poll_id']}/results",
        f"/m/beta/polls/{beta['poll_id']}/results.json",
        f"/m/beta/polls/{beta['poll_id']}/files/{beta['poll_file_id']}",
        f"/m/beta/consultations/{beta['consultation_id']}/",
        f"/m/beta/consultations/{beta['consultation_id']}/files/{beta['consultation_file_id']}",
        f"/m/beta/proposals/{beta['proposal_id']}",
        f"/m/beta/proposals/{beta['proposal_id']}/photos/{beta['proposal_file_id']}",
    )
    for url in private:
        response = client.get(url)
        assert response.status_code == 404, f"{role} {url} -> {response.status_code}"
        assert not [marker for marker in BETA_PRIVATE if marker in response.get_data(as_text=True)], f"{role} {url}"
    # Nor do the same rows exist under alpha's address.
    for url in (f"/m/alpha/polls/{beta['public_poll_id']}/", f"/m/alpha/proposals/{beta['public_proposal_id']}"):
        assert client.get(url).status_code == 404, f"{role} {url}"


def test_another_municipalitys_clerk_does_not_learn_where_a_resident_lives(app, client, login_as, beta_rows):
    """A citizen who comes to an office is found there by the whole e-mail address (a person
    verifies residency where they live); a residency in beta, and its settlement, are beta's
    own. Without a search that found them, another municipality's resident is not there."""
    import html
    import re

    login_as("clerk", "alpha")
    person = f"/office/residents/person/{beta_rows['resident_id']}"
    assert client.get(person).status_code == 404
    found = client.get("/office/residents/?q=beta.voter@example.com").get_data(as_text=True)
    link = re.search(rf'href="({re.escape(person)}\?t=[^"]+)"', found)
    assert link, "the search finds the person by the whole e-mail address"
    for body in (found, client.get(html.unescape(link.group(1))).get_data(as_text=True)):
        assert "Beta Voter" in body  # the person is found, the checks below are not vacuous
        assert "Betavil" not in body and "Բետագյուղ" not in body


def test_beta_staff_see_their_participation_rows_where_alpha_staff_look(app, client, login_as, beta_rows):
    """The marker checks above are not vacuous: the same screens show them to beta's own."""
    login_as("municipal_admin", "beta")
    expected = {
        "/admin/polls/": ("Beta draft poll Zzsecret", "Beta public poll"),
        "/admin/consultations/": ("Beta draft consultation Zzsecret", "Beta public consultation"),
        "/admin/proposals/?status=all": ("Beta withdrawn proposal Zzsecret", "Beta public proposal"),
        "/admin/settlements/": ("Betavil",),
    }
    for page, markers in expected.items():
        body = client.get(page).get_data(as_text=True)
        assert all(marker in body for marker in markers), page
