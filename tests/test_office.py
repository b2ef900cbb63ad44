"""Front-office intake through HTTP: service choice per municipality, the generated form with
applicant and checklist, uploads (real and hostile), double submits (also racing), the
receipt page and PDF, applicant search and tenant isolation."""

from __future__ import annotations

import io
import re
import threading
import types
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import func, select
from test_uploads import ELF
from werkzeug.datastructures import FileStorage

from app import hookimpl
from app.domain import channels, intake, workflow
from app.domain.access import load_actor
from app.domain.errors import NotAllowed
from app.domain.storage import get_storage
from app.domain.tracking import verify_access_secret
from app.extensions import db
from app.models import Application, ApplicationDocument, AuditEvent, TransitionRecord, User
from app.plugins import runtime as plugin_runtime
from app.testing import (
    PASSWORD,
    builtin_plugins,
    enable_service,
    login,
    make_app,
    make_pdf,
    make_png,
    recorded_statements,
    seed_municipality,
    seed_system_admin,
)

RESIDENCE = "residence-certificate"
PERMIT = "construction-permit"


# -- helpers -------------------------------------------------------------------------------


def enable(app, municipality: str, *keys: str) -> None:
    for key in keys:
        enable_service(app, municipality, key)


def token_of(html: str) -> str:
    match = re.search(r'name="applicant-token" type="hidden" value="([A-Za-z0-9_-]{32})"', html)
    assert match, "the form carries no submission token"
    return match.group(1)


def open_form(client, key: str) -> str:
    response = client.get(f"/office/new/{key}")
    assert response.status_code == 200
    return token_of(response.get_data(as_text=True))


def files(*items):
    return [(io.BytesIO(data), name) for data, name in items]


def residence_data(token: str, **overrides):
    data = {
        "applicant-token": token,
        "applicant-name": "Արմեն Պետրոսյան",
        "applicant-psn": "12345 67890",
        "applicant-phone": "091 123456",
        "applicant-email": "Armen@Example.am",
        "applicant-address": "Աբովյան, Հանրապետության 10",
        "address": "Աբովյան, Հանրապետության 10",
        "purpose": "bank",
        "copies": "2",
        "doc-identity": files((make_pdf("passport"), "passport.pdf"), (make_png(), "id-card.png")),
    }
    data.update(overrides)
    return data


def permit_data(token: str, **overrides):
    data = {
        "applicant-token": token,
        "applicant-name": "Anna Hakobyan",
        "applicant-psn": "2345678901",
        "applicant-phone": "+37493111222",
        "cadastral_code": "07-001-0123-0045",
        "plot_address": "Abovyan, Garegin Nzhdeh 5",
        "zone": "residential",
        "work_type": "new",
        "building_purpose": "house",
        "plot_area": "600",
        "footprint_area": "120",
        "building_area": "200",
        "floors": "2",
        "designer": "Archstudio LLC",
        "designer_licence": "L-1234",
        "doc-ownership_certificate": files((make_pdf("ownership"), "ownership.pdf")),
        "doc-planning_assignment": files((make_pdf("assignment"), "assignment.pdf")),
        "doc-design_documentation": files(
            (make_pdf("design 1"), "design-1.pdf"), (make_pdf("design 2"), "design-2.pdf")
        ),
    }
    data.update(overrides)
    return data


def post(client, key: str, data):
    return client.post(f"/office/new/{key}", data=data, content_type="multipart/form-data")


def stored_files(app) -> list[Path]:
    """The stored documents of applications; files kept from a refused submission (under the
    staging prefix, see tests/test_staging.py) are not filed documents."""
    root = Path(app.config["HAMAYNK_STORAGE_PATH"])
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "staging")


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def filed(app, application_id: int) -> dict:
    with app.app_context():
        a = db.session.get(Application, application_id)
        docs = (
            db.session.execute(
                select(ApplicationDocument)
                .where(ApplicationDocument.application_id == a.id)
                .order_by(ApplicationDocument.id)
            )
            .scalars()
            .all()
        )
        return {
            "status": a.status,
            "step": a.current_step,
            "channel": a.channel,
            "created_by": a.created_by_id,
            "name": a.applicant_name,
            "psn": a.applicant_psn,
            "phone": a.applicant_phone,
            "email": a.applicant_email,
            "data": dict(a.data),
            "fee": a.fee,
            "tracking": a.tracking_number,
            "hash": a.access_secret_hash,
            "municipality": a.municipality_id,
            "due_at": a.due_at,
            "docs": [(d.requirement_key, d.original_name, d.content_type, d.sha256, d.storage_key) for d in docs],
            "submits": db.session.execute(
                select(func.count()).where(TransitionRecord.application_id == a.id, TransitionRecord.action == "submit")
            ).scalar_one(),
        }


def application_id_of(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    match = re.search(r"/office/receipt/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def access_code_on(html: str) -> str | None:
    match = re.search(r'id="access-code">([^<]+)<', html)
    return match.group(1) if match else None


def pdf_text(data: bytes) -> str:
    # Extraction puts line breaks where a long line wrapped and doubles some spaces.
    return " ".join(" ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages).split())


@pytest.fixture
def clerk(app, client, login_as):
    enable(app, "alpha", RESIDENCE, PERMIT)
    login_as("clerk")
    client.get("/lang/en")
    return client


# -- choosing a service ---------------------------------------------------------------------


def test_a_clerk_is_offered_only_the_services_enabled_in_their_municipality(app, client, login_as):
    enable(app, "alpha", RESIDENCE)
    enable(app, "beta", PERMIT)
    login_as("clerk")
    client.get("/lang/en")
    page = client.get("/office/").get_data(as_text=True)
    assert "Certificate of residence and family composition" in page and f"/office/new/{RESIDENCE}" in page
    assert "Construction permit" not in page
    # Enabled in beta only: neither the form nor a forged post reaches it from alpha.
    assert client.get(f"/office/new/{PERMIT}").status_code == 404
    response = post(client, PERMIT, permit_data("x" * 32))
    assert response.status_code == 404 and "does not offer this service" in response.get_data(as_text=True)
    assert client.get("/office/new/no-such-service").status_code == 404
    assert client.get("/office/new/" + "a" * 500).status_code == 404
    assert count(app, Application) == 0


def test_the_menu_and_the_pages_are_for_clerks_and_municipal_admins_only(app, client, login_as):
    enable(app, "alpha", RESIDENCE)
    for role in ("clerk", "municipal_admin"):
        login_as(role)
        client.get("/lang/en")
        home = client.get("/").get_data(as_text=True)
        assert "Office" in home and "/office/" in home
        assert client.get("/office/").status_code == 200
    for role in ("specialist", "head", "auditor", "citizen"):
        login_as(role)
        assert client.get("/office/").status_code in (302, 403), role
        assert client.get("/office/applicants?q=Armen").status_code in (302, 403), role
    client.post("/logout/")
    assert client.get(f"/office/new/{RESIDENCE}").status_code in (302, 401, 403)


def test_staff_without_a_municipality_get_a_clear_refusal(app, client, login_as):
    login_as("system_admin")
    client.get("/lang/en")
    response = client.get("/office/")
    assert response.status_code == 403
    assert "does not belong to a municipality" in response.get_data(as_text=True)


# -- the residence certificate --------------------------------------------------------------


def test_residence_certificate_intake_files_submits_and_prints_a_receipt(app, clerk):
    html = clerk.get(f"/office/new/{RESIDENCE}").get_data(as_text=True)
    # Conditional fields carry their condition for office.js; the checklist names limits.
    assert re.search(
        r'data-visible-when="\[\{&#34;field&#34;: &#34;purpose&#34;, &#34;op&#34;: &#34;eq&#34;, &#34;value&#34;: &#34;other&#34;\}\]"',
        html,
    )
    assert "office.js" in html and 'enctype="multipart/form-data"' in html
    assert 'name="doc-identity"' in html and "multiple" in html and ".pdf" in html
    assert "Accepted: PDF, JPEG, PNG; at most 10 MB per file; up to 2 file(s)." in html
    assert 'data-document="power_of_attorney"' in html and "data-required-when" in html

    response = post(clerk, RESIDENCE, residence_data(token_of(html)))
    application_id = application_id_of(response)
    row = filed(app, application_id)
    clerk_id = app.seeded["alpha"]["users"]["clerk"]
    assert row["status"] == "submitted" and row["step"] == "registry_check" and row["channel"] == "office"
    assert row["created_by"] == clerk_id and row["municipality"] == app.seeded["alpha"]["id"] and row["submits"] == 1
    assert (row["name"], row["psn"], row["phone"], row["email"]) == (
        "Արմեն Պետրոսյան",
        "1234567890",
        "+37491123456",
        "Armen@example.am",
    )
    assert row["data"] == {"address": "Աբովյան, Հանրապետության 10", "purpose": "bank", "on_behalf": False, "copies": 2}
    assert row["due_at"] is not None
    assert [(d[0], d[1], d[2]) for d in row["docs"]] == [
        ("identity", "passport.pdf", "application/pdf"),
        ("identity", "id-card.png", "image/png"),
    ]
    import hashlib

    assert row["docs"][0][3] == hashlib.sha256(make_pdf("passport")).hexdigest()
    assert len(stored_files(app)) == 2

    # The receipt page shows the access code once it exists only as a hash in the database.
    page = clerk.get(f"/office/receipt/{application_id}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    code = access_code_on(html)
    assert code and verify_access_secret(code, row["hash"]) and code not in row["hash"]
    assert row["tracking"] in html and "passport.pdf" in html and "id-card.png" in html

    pdf = clerk.get(f"/office/receipt/{application_id}/receipt.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="receipt-{row["tracking"]}.pdf"'
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    text = pdf_text(pdf.data)
    assert row["tracking"] in text and code in text
    assert "Տեղեկանք բնակության վայրի և ընտանիքի կազմի մասին" in text  # the service, in Armenian
    assert "Արմեն Պետրոսյան" in text and "passport.pdf" in text and "id-card.png" in text

    # Downloading is not handing over: until the clerk confirms, the code stays on the receipt.
    assert access_code_on(clerk.get(f"/office/receipt/{application_id}").get_data(as_text=True)) == code
    confirmed = clerk.post(f"/office/receipt/{application_id}/handed-over")
    assert confirmed.status_code == 302 and confirmed.headers["Location"].endswith(f"/office/receipt/{application_id}")

    # Handed over: neither the page nor a reprint shows the code again.
    again = clerk.get(f"/office/receipt/{application_id}").get_data(as_text=True)
    assert access_code_on(again) is None and code not in again
    reprint = pdf_text(clerk.get(f"/office/receipt/{application_id}/receipt.pdf").data)
    assert row["tracking"] in reprint and code not in reprint

    # Each printing carries the applicant's name, so each is in the audit log (never the code).
    with app.app_context():
        printed = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "receipt.printed").order_by(AuditEvent.id)
        ).all()
    assert [(e.object_id, e.details["with_code"]) for e in printed] == [
        (str(application_id), True),
        (str(application_id), False),
    ]
    assert all(e.actor_id is not None and code not in str(e.details) for e in printed)


def test_a_hidden_field_value_is_dropped_and_a_visible_required_one_enforced(app, clerk):
    token = open_form(clerk, RESIDENCE)
    response = post(clerk, RESIDENCE, residence_data(token, purpose="other"))
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)
    assert count(app, Application) == 0
    response = post(clerk, RESIDENCE, residence_data(token, purpose="bank", purpose_other="smuggled"))
    assert filed(app, application_id_of(response))["data"].get("purpose_other") is None


def test_on_behalf_needs_the_power_of_attorney(app, clerk):
    token = open_form(clerk, RESIDENCE)
    response = post(clerk, RESIDENCE, residence_data(token, on_behalf="y"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "These documents are required and were not attached: “Power of attorney”." in html
    assert count(app, Application) == 0 and stored_files(app) == []
    # The same token still works: nothing was created with it.
    response = post(
        clerk,
        RESIDENCE,
        residence_data(token, on_behalf="y", **{"doc-power_of_attorney": files((make_pdf("poa"), "poa.pdf"))}),
    )
    row = filed(app, application_id_of(response))
    assert sorted(d[0] for d in row["docs"]) == ["identity", "identity", "power_of_attorney"]


def test_a_missing_required_document_files_nothing(app, clerk):
    token = open_form(clerk, RESIDENCE)
    data = residence_data(token)
    del data["doc-identity"]
    data["doc-identity"] = (io.BytesIO(b""), "")  # what a browser sends for an empty file input
    response = post(clerk, RESIDENCE, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "“Passport or ID card”" in html and "Attach this document." in html
    assert count(app, Application) == 0 and count(app, ApplicationDocument) == 0 and stored_files(app) == []


def test_a_renamed_executable_is_refused_and_nothing_is_stored(app, clerk):
    token = open_form(clerk, RESIDENCE)
    data = residence_data(token, **{"doc-identity": files((make_pdf(), "good.pdf"), (ELF, "passport.pdf"))})
    response = post(clerk, RESIDENCE, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "passport.pdf is not a real PDF file: its content is an executable program." in html
    assert "Traceback" not in html
    assert count(app, Application) == 0 and count(app, ApplicationDocument) == 0 and count(app, TransitionRecord) == 0
    assert stored_files(app) == []


def test_bad_applicant_details_are_refused_with_messages(app, clerk):
    token = open_form(clerk, RESIDENCE)
    data = residence_data(
        token,
        **{
            "applicant-name": "  ",
            "applicant-psn": "12345",
            "applicant-phone": "12",
            "applicant-email": "not-an-email",
        },
    )
    data["copies"] = "9"
    response = post(clerk, RESIDENCE, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for message in (
        "Enter the applicant&#39;s name.",
        "A public service number has exactly 10 digits.",
        "Enter a phone number such as +374 91 123456.",
        "Enter a valid e-mail address.",
        "The largest allowed value is 5.",
    ):
        assert message in html, message
    assert 'aria-invalid="true"' in html
    assert count(app, Application) == 0 and stored_files(app) == []


def test_a_forged_or_missing_submission_token_is_refused(app, clerk):
    open_form(clerk, RESIDENCE)
    for token in ("", "short", "x" * 31 + "!", "../../" + "a" * 26):
        response = post(clerk, RESIDENCE, residence_data(token))
        assert response.status_code == 400
        assert "The form has expired" in response.get_data(as_text=True)
    assert count(app, Application) == 0


# -- the construction permit ----------------------------------------------------------------


def test_construction_permit_with_conditional_documents_and_route(app, clerk):
    token = open_form(clerk, PERMIT)
    big_historic = {"zone": "historic", "building_area": "450", "co_owned": "y"}
    response = post(clerk, PERMIT, permit_data(token, **big_historic))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for title in (
        "Positive expert review of the design",
        "Consent of the heritage protection authority",
        "Notarised consent of the co-owners",
    ):
        assert title in html
    assert count(app, Application) == 0 and stored_files(app) == []

    # An image where only PDF is accepted is refused with both types named.
    def extra(heritage=None):
        heritage = heritage or (make_pdf("heritage"), "heritage.pdf")
        return {
            "doc-expert_review": files((make_pdf("review"), "review.pdf")),
            "doc-heritage_consent": files(heritage),
            "doc-co_owners_consent": files((make_png(), "consent.png")),
        }

    response = post(clerk, PERMIT, permit_data(token, **big_historic, **extra((make_png(), "heritage.png"))))
    assert response.status_code == 400
    assert (
        "heritage.png is a PNG file, but “Consent of the heritage protection authority” accepts only PDF."
        in response.get_data(as_text=True)
    )
    assert count(app, Application) == 0 and stored_files(app) == []

    response = post(clerk, PERMIT, permit_data(token, **big_historic, **extra()))
    application_id = application_id_of(response)
    row = filed(app, application_id)
    assert row["status"] == "submitted" and row["step"] == "completeness_check" and row["fee"] == 30000
    with app.app_context():
        service = plugin_runtime.registry(app).get(PERMIT).service
        route = [s.key for s in service.route(row["data"])]
    assert route == ["completeness_check", "planning_review", "heritage_review", "engineering_review", "signature"]
    assert row["step"] == route[0]
    assert sorted(d[0] for d in row["docs"]) == sorted(
        [
            "ownership_certificate",
            "planning_assignment",
            "design_documentation",
            "design_documentation",
            "expert_review",
            "heritage_consent",
            "co_owners_consent",
        ]
    )
    assert len(stored_files(app)) == 7
    page = clerk.get(f"/office/receipt/{application_id}").get_data(as_text=True)
    assert "30,000\u00a0֏" in page
    text = pdf_text(clerk.get(f"/office/receipt/{application_id}/receipt.pdf").data)
    assert "Շինարարության թույլտվություն" in text and "30 000 ֏" in text and "design-2.pdf" in text


def test_a_small_residential_permit_skips_the_conditional_steps(app, clerk):
    response = post(clerk, PERMIT, permit_data(open_form(clerk, PERMIT)))
    row = filed(app, application_id_of(response))
    assert row["status"] == "submitted" and row["step"] == "completeness_check"
    assert sorted({d[0] for d in row["docs"]}) == [
        "design_documentation",
        "ownership_certificate",
        "planning_assignment",
    ]


# -- the domain function behind every channel ------------------------------------------------


def test_every_channel_files_through_intake_and_is_recorded_truthfully(app):
    enable(app, "alpha", RESIDENCE)
    alpha = app.seeded["alpha"]["id"]
    raw = {"address": "Abovyan 1", "purpose": "bank", "copies": "1"}

    def file(actor, channel, **overrides):
        arguments = {
            "municipality_id": alpha,
            "service_key": RESIDENCE,
            "data": raw,
            "applicant": {"name": "Cit Izen"},
            "uploads": {"identity": [FileStorage(io.BytesIO(make_pdf()), "passport.pdf")]},
            "channel": channel,
            **overrides,
        }
        return intake.file(db.session, plugin_runtime.host(app), get_storage(app), actor, **arguments)

    with app.app_context():
        citizen_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
        citizen = load_actor(db.session, citizen_id)
        filed = file(citizen, channels.ONLINE)
        assert filed.created and filed.access_code and filed.tracking_number == filed.application.tracking_number
        assert (filed.application.channel, filed.application.applicant_user_id) == ("online", citizen_id)
        assert filed.application.status == "submitted" and len(filed.documents) == 1
        # Only the municipality's own staff file at its office or through its API.
        beta_clerk = load_actor(db.session, app.seeded["beta"]["users"]["clerk"])
        auditor = load_actor(db.session, app.seeded["alpha"]["users"]["auditor"])
        for actor, channel in ((citizen, channels.OFFICE), (beta_clerk, channels.API), (auditor, channels.OFFICE)):
            with pytest.raises(NotAllowed):
                file(actor, channel)
        clerk = load_actor(db.session, app.seeded["alpha"]["users"]["clerk"])
        with pytest.raises(intake.FilingRefused) as caught:
            file(clerk, channels.OFFICE, service_key=PERMIT)
        assert list(caught.value.errors()) == ["service_key"]
        draft = file(clerk, channels.API, uploads={}, submit=False)
        assert (draft.application.channel, draft.application.status) == ("api", "draft")
    assert count(app, Application) == 2 and count(app, ApplicationDocument) == 1


# -- double submits -------------------------------------------------------------------------


def test_a_double_submit_with_the_same_token_creates_one_application(app, clerk):
    token = open_form(clerk, RESIDENCE)
    first = application_id_of(post(clerk, RESIDENCE, residence_data(token)))
    second = application_id_of(post(clerk, RESIDENCE, residence_data(token)))
    assert first == second
    assert count(app, Application) == 1 and count(app, ApplicationDocument) == 2 and len(stored_files(app)) == 2
    # A fresh form is a new application.
    third = application_id_of(post(clerk, RESIDENCE, residence_data(open_form(clerk, RESIDENCE))))
    assert third != first and count(app, Application) == 2


def test_two_submits_racing_with_one_token_create_one_application(app, clerk):
    token = open_form(clerk, RESIDENCE)
    clients = []
    for _ in range(2):
        other = app.test_client()
        login(other, "alpha.clerk", PASSWORD)
        clients.append(other)
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(index: int) -> None:
        data = residence_data(token)
        barrier.wait()
        try:
            results[index] = post(clients[index], RESIDENCE, data)
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = {application_id_of(r) for r in results}
    assert len(ids) == 1
    assert count(app, Application) == 1 and count(app, ApplicationDocument) == 2
    # The loser's files went with its transaction.
    assert len(stored_files(app)) == 2


# -- limits, CSRF ---------------------------------------------------------------------------


def test_a_request_over_the_size_limit_gets_a_clear_message(app, clerk):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    token = open_form(clerk, RESIDENCE)
    data = residence_data(token, **{"doc-identity": files((make_pdf() + b"%" * (100 * 1024), "big.pdf"))})
    response = post(clerk, RESIDENCE, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "one submission may carry at most 0.06 MB" in html
    assert "The files sent together are too large" in html and "Nothing was filed." in html
    assert count(app, Application) == 0 and stored_files(app) == []


def test_the_sensible_default_request_limit_is_set(app):
    assert app.config["MAX_CONTENT_LENGTH"] == 100 * 1024 * 1024


def test_with_csrf_on_the_form_carries_a_token_and_a_post_without_it_is_refused(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    try:
        app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
        enable(app, "alpha", RESIDENCE)
        client = app.test_client()
        page = client.get("/login/").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        assert (
            client.post(
                "/login/", data={"username": "alpha.clerk", "password": PASSWORD, "csrf_token": csrf}
            ).status_code
            == 302
        )
        client.get("/lang/en")
        html = client.get(f"/office/new/{RESIDENCE}").get_data(as_text=True)
        match = re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', html)
        assert match, "the intake form carries no CSRF token"
        data = residence_data(token_of(html))
        refused = post(client, RESIDENCE, data)
        assert refused.status_code == 400 and count(app, Application) == 0
        data = residence_data(token_of(html), csrf_token=match.group(1))
        assert application_id_of(post(client, RESIDENCE, data))
        assert count(app, Application) == 1
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- receipts and tenants -------------------------------------------------------------------


def test_another_municipalitys_receipt_is_not_found(app, client, clerk, login_as):
    application_id = application_id_of(post(clerk, RESIDENCE, residence_data(open_form(clerk, RESIDENCE))))
    login_as("clerk", "beta")
    assert client.get(f"/office/receipt/{application_id}").status_code == 404
    assert client.get(f"/office/receipt/{application_id}/receipt.pdf").status_code == 404
    assert client.get(f"/office/receipt/{2**70}").status_code == 404


def test_a_draft_never_filed_has_no_receipt_even_for_its_creator(app, clerk):
    """Its own creator gets a clear 404 for a draft (one withdrawn before filing included),
    without its personal data; once the draft is submitted, the receipt is there."""
    with app.app_context():
        actor = load_actor(db.session, app.seeded["alpha"]["users"]["clerk"])
        host = plugin_runtime.host(app)
        drafts = [
            intake.file(
                db.session,
                host,
                get_storage(app),
                actor,
                municipality_id=app.seeded["alpha"]["id"],
                service_key=RESIDENCE,
                data={"address": "Abovyan 1", "purpose": "bank", "copies": "1"},
                applicant={"name": "Նազելի Սևագիր"},
                uploads={},
                channel=channels.API,
                submit=False,
            ).application
            for _ in range(2)
        ]
        draft, withdrawn = (d.id for d in drafts)
        workflow.withdraw(db.session, drafts[1], actor=actor, expected_version=drafts[1].version, host=host)
        db.session.commit()

    def pages(application_id: int) -> list:
        return [clerk.get(f"/office/receipt/{application_id}{pdf}") for pdf in ("", "/receipt.pdf")]

    for application_id in (draft, withdrawn):
        for response in pages(application_id):
            text = response.get_data(as_text=True)
            assert response.status_code == 404 and "has not been filed yet, so it has no receipt" in text
            assert "Սևագիր" not in text and not response.data.startswith(b"%PDF")

    with app.app_context():
        application = db.session.get(Application, draft)
        actor = load_actor(db.session, app.seeded["alpha"]["users"]["clerk"])
        workflow.submit(
            db.session, application, actor=actor, expected_version=application.version, host=plugin_runtime.host(app)
        )
        db.session.commit()
    page, pdf = pages(draft)
    assert page.status_code == 200 and "Սևագիր" in page.get_data(as_text=True)
    assert pdf.status_code == 200 and "Սևագիր" in pdf_text(pdf.data)


# -- finding a returning citizen --------------------------------------------------------------


def search(client, q: str) -> list[dict]:
    response = client.get("/office/applicants", query_string={"q": q})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return response.json["results"]


def test_a_returning_citizen_is_found_in_alpha_but_never_from_beta(app, client, clerk, login_as):
    enable(app, "beta", RESIDENCE)
    application_id_of(post(clerk, RESIDENCE, residence_data(open_form(clerk, RESIDENCE))))
    application_id_of(post(clerk, RESIDENCE, residence_data(open_form(clerk, RESIDENCE))))  # the same person again
    expected = {
        "name": "Արմեն Պետրոսյան",
        "psn": "1234567890",
        "phone": "+37491123456",
        "email": "Armen@example.am",
        "address": "Աբովյան, Հանրապետության 10",
        "source": "applications",
    }
    for q in ("1234567890", "12345 67890", "+374 91 123456", "Պետրոս", "Արմեն"):
        assert search(clerk, q) == [expected], q
    assert search(clerk, "Ar") == []  # too short to search
    assert search(clerk, "Nobody") == []
    assert search(clerk, "%") == [] and search(clerk, "___") == []  # LIKE wildcards are literal

    login_as("clerk", "beta")
    for q in ("1234567890", "+374 91 123456", "Պետրոս", "Արմեն"):
        assert search(client, q) == [], q


def test_the_search_costs_the_same_number_of_queries_for_many_matches(app, clerk):
    def statements(q: str) -> int:
        seen = recorded_statements(app, lambda: search(clerk, q))
        return sum(1 for s in seen if s.lstrip().upper().startswith("SELECT") and "application" in s)

    application_id_of(post(clerk, RESIDENCE, residence_data(open_form(clerk, RESIDENCE))))
    one = statements("Armen")
    for n in range(6):
        application_id_of(
            post(
                clerk,
                RESIDENCE,
                residence_data(
                    open_form(clerk, RESIDENCE), **{"applicant-name": f"Armen {n}", "applicant-psn": f"99999999{n:02d}"}
                ),
            )
        )
    assert len(search(clerk, "Armen")) == 6  # Latin "Armen n"; the first is Armenian script
    assert statements("Armen") == one


def test_the_population_registry_hook_prefills_by_public_service_number(tmp_path):
    def registry_answer(psn):
        return {"name": "Սոնա Մկրտչյան", "address": "Աբովյան, Սևանի 3"} if psn == "5555555555" else None

    module = types.ModuleType("population_registry")
    module.applicant_from_registry = hookimpl(registry_answer)
    app = make_app(tmp_path, plugins=[*builtin_plugins(), module])
    try:
        seed_municipality(app, "alpha", "Alpha")
        seed_system_admin(app)
        client = app.test_client()
        login(client, "alpha.clerk", PASSWORD)
        assert search(client, "555 555 5555") == [
            {
                "name": "Սոնա Մկրտչյան",
                "psn": "5555555555",
                "phone": None,
                "email": None,
                "address": "Աբովյան, Սևանի 3",
                "source": "registry",
            }
        ]
        assert search(client, "1111111111") == []
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
