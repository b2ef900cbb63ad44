"""The online application (issue 9 item 3): a citizen's drafts and the guided form, filed
through the same intake as the front office.

Start from a service page, the stages guide → form → documents → fee → confirm, save and
resume on another device, uploads kept with the draft (refused ones say why and cost the
others nothing), submission exactly once (double click, reload, back button), payments moved
and the draft deleted in the filing's transaction, and a draft nobody else can reach."""

from __future__ import annotations

import datetime as dt
import io
import re
import threading

import pytest
from payment_kit import PAID, PaidServices
from sqlalchemy import func, select

from app.domain import drafts, staging
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, ApplicationDocument, Payment, PortalDraft
from app.models.base import utcnow
from app.models.office import StagedUpload
from app.testing import PASSWORD, enable_service, login, make_citizen, make_pdf, make_png

SERVICE = "residence-certificate"
START = f"/m/alpha/services/{SERVICE}/apply"
FORM = {
    "address": "1 Abovyan Street, Yerevan",
    "purpose": "bank",
    "copies": "2",
}
APPLICANT = {
    "applicant-name": "Anna Petrosyan",
    "applicant-psn": "1234567890",
    "applicant-phone": "+37491123456",
    "applicant-email": "anna@example.com",
    "applicant-address": "1 Abovyan Street",
}
XHR = {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"}


@pytest.fixture
def anna(app, client):
    enable_service(app, "alpha", SERVICE)
    user_id = make_citizen(app, "anna@example.com", name="Anna Petrosyan")
    login(client, "anna@example.com", PASSWORD)
    return user_id


def start(client, url: str = START) -> int:
    response = client.post(url)
    assert response.status_code == 303, response.data[:500]
    match = re.search(r"/my/drafts/(\d+)/guide$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def draft_row(app, draft_id: int) -> PortalDraft | None:
    with app.app_context():
        draft = db.session.get(PortalDraft, draft_id)
        if draft is not None:
            db.session.expunge(draft)
        return draft


def version(app, draft_id: int) -> int:
    draft = draft_row(app, draft_id)
    assert draft is not None
    return draft.version


def stage_url(draft_id: int, stage: str) -> str:
    return f"/my/drafts/{draft_id}/{stage}?_l_=en"


def post_form(client, app, draft_id: int, action: str = "save", **values):
    data = {**APPLICANT, **FORM, "version": str(version(app, draft_id)), "action": action}
    data.update(values)
    return client.post(stage_url(draft_id, "form"), data=data)


def upload(client, app, draft_id: int, files: dict, action: str = "upload", headers=None):
    data = {"version": str(version(app, draft_id)), "action": action}
    for key, items in files.items():
        data[f"doc-{key}"] = [(io.BytesIO(content), name) for content, name in items]
    return client.post(
        stage_url(draft_id, "documents"), data=data, content_type="multipart/form-data", headers=headers or {}
    )


def staged(app, draft_id: int) -> list[tuple[str, str]]:
    draft = draft_row(app, draft_id)
    assert draft is not None
    with app.app_context():
        rows = db.session.execute(
            select(StagedUpload.requirement_key, StagedUpload.original_name)
            .where(StagedUpload.submission_token == draft.token)
            .order_by(StagedUpload.id)
        ).all()
        return [tuple(row) for row in rows]


def ready_draft(client, app) -> int:
    """A draft with a valid form and its identity document, at the confirm stage."""
    draft_id = start(client)
    assert post_form(client, app, draft_id, action="continue").status_code == 303
    assert upload(client, app, draft_id, {"identity": [(make_pdf(), "passport.pdf")]}).status_code == 303
    for stage in ("documents", "fee"):
        response = client.post(
            stage_url(draft_id, stage), data={"version": version(app, draft_id), "action": "continue"}
        )
        assert response.status_code == 303, response.data[:800]
    return draft_id


def submit(client, app, draft_id: int, token: str | None = None, version_: int | None = None):
    draft = draft_row(app, draft_id)
    data = {
        "token": token if token is not None else (draft.token if draft else ""),
        "version": str(version_ if version_ is not None else (draft.version if draft else 1)),
    }
    return client.post(f"/my/drafts/{draft_id}/submit?_l_=en", data=data)


def applications(app) -> list[Application]:
    with app.app_context():
        rows = list(db.session.execute(select(Application).order_by(Application.id)).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


# -- starting ---------------------------------------------------------------------------------------


def test_starting_needs_a_signed_in_citizen(app, client, login_as):
    enable_service(app, "alpha", SERVICE)
    response = client.post(START)
    assert response.status_code in (302, 303, 401)
    if response.status_code != 401:
        assert "next=" in response.headers["Location"]
    login_as("clerk")
    assert client.post(START).status_code == 403
    with app.app_context():
        assert db.session.execute(select(func.count(PortalDraft.id))).scalar() == 0


def test_a_draft_starts_from_the_service_page_with_the_applicant_from_the_account(app, client, anna):
    draft_id = start(client)
    draft = draft_row(app, draft_id)
    assert draft is not None and draft.user_id == anna and draft.stage == "guide"
    assert draft.service_key == SERVICE and draft.service_version == 1
    assert drafts.applicant_values(draft)["name"] == "Anna Petrosyan"
    assert drafts.applicant_values(draft)["email"] == "anna@example.com"
    guide = client.get(stage_url(draft_id, "guide")).get_data(as_text=True)
    assert 'aria-current="step"' in guide and 'class="steps"' in guide
    assert "Passport or ID card" in guide  # what you need
    assert "Free of charge" in guide
    form = client.get(stage_url(draft_id, "form")).get_data(as_text=True)
    assert 'value="Anna Petrosyan"' in form and 'value="anna@example.com"' in form


def test_the_service_must_be_offered_by_that_municipality(app, client, anna):
    for url in (
        f"/m/beta/services/{SERVICE}/apply",  # beta does not offer it
        "/m/alpha/services/no-such-service/apply",
        f"/m/nowhere/services/{SERVICE}/apply",
        f"/m/{'x' * 300}/services/{SERVICE}/apply",
    ):
        response = client.post(url + "?_l_=en")
        assert response.status_code == 404, url
        assert "does not offer this service" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count(PortalDraft.id))).scalar() == 0


def test_signing_in_comes_back_to_a_page_that_offers_to_start_or_resume(app, client, anna):
    draft_id = start(client)
    page = client.get(START + "?_l_=en")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Start a new application" in text and f"/my/drafts/{draft_id}/guide" in text


# -- the form ----------------------------------------------------------------------------------------


def test_save_keeps_what_was_typed_even_when_invalid(app, client, anna):
    draft_id = start(client)
    response = post_form(client, app, draft_id, copies="many", purpose="", **{"applicant-psn": "12"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/my/drafts/{draft_id}/form")
    draft = draft_row(app, draft_id)
    assert drafts.form_values(draft)["copies"] == "many"
    assert drafts.applicant_values(draft)["psn"] == "12"
    page = client.get(stage_url(draft_id, "form")).get_data(as_text=True)
    assert 'value="many"' in page and "error-summary" not in page  # saved, not judged
    assert "Your draft was saved" in page


def test_continue_shows_every_problem_linked_to_its_field_and_keeps_the_values(app, client, anna):
    draft_id = start(client)
    response = post_form(
        client,
        app,
        draft_id,
        action="continue",
        address="",
        copies="9",
        **{"applicant-name": "", "applicant-email": "x"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="error-summary"' in page
    for anchor in ("#applicant-name", "#applicant-email", "#address", "#copies"):
        assert f'href="{anchor}"' in page, anchor
    assert 'id="copies-error"' in page and 'aria-invalid="true"' in page
    assert 'aria-describedby="copies-error"' in page or "copies-error" in page
    draft = draft_row(app, draft_id)
    assert draft.stage == "guide" and drafts.form_values(draft)["copies"] == "9"


def test_conditions_are_the_services_own(app, client, anna):
    draft_id = start(client)
    # "Other" makes purpose_other required: the server says so, whatever the page showed.
    response = post_form(client, app, draft_id, action="continue", purpose="other", purpose_other="")
    assert response.status_code == 400 and 'href="#purpose_other"' in response.get_data(as_text=True)
    assert (
        post_form(client, app, draft_id, action="continue", purpose="other", purpose_other="A visa").status_code == 303
    )
    assert draft_row(app, draft_id).stage == "documents"


def test_a_save_from_a_stale_tab_changes_nothing(app, client, anna):
    draft_id = start(client)
    old = version(app, draft_id)
    assert post_form(client, app, draft_id, address="First tab").status_code == 303
    data = {**APPLICANT, **FORM, "address": "Second tab", "version": str(old), "action": "save"}
    response = client.post(stage_url(draft_id, "form"), data=data, follow_redirects=True)
    assert "changed in another window" in response.get_data(as_text=True)
    assert drafts.form_values(draft_row(app, draft_id))["address"] == "First tab"
    # Moving forward from a stale page is refused the same way.
    response = client.post(stage_url(draft_id, "guide"), data={"version": str(old), "action": "continue"})
    assert response.status_code == 303 and draft_row(app, draft_id).stage == "guide"


def test_resumable_on_another_device(app, client, anna):
    draft_id = start(client)
    post_form(client, app, draft_id, address="Typed on the phone")
    laptop = app.test_client()
    login(laptop, "anna@example.com", PASSWORD)
    listing = laptop.get("/my/drafts/?_l_=en").get_data(as_text=True)
    assert f"/my/drafts/{draft_id}/guide" in listing and "Last saved" in listing
    assert "Typed on the phone" in laptop.get(stage_url(draft_id, "form")).get_data(as_text=True)


# -- documents ---------------------------------------------------------------------------------------


def test_uploads_are_kept_with_the_draft_and_one_refusal_costs_the_others_nothing(app, client, anna):
    draft_id = start(client)
    response = upload(
        client,
        app,
        draft_id,
        {
            "identity": [(make_pdf(), "front.pdf"), (b"MZ\x90\x00not a pdf at all", "back.pdf")],
            "power_of_attorney": [(make_png(), "letter.png")],
        },
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "back.pdf is not a real PDF file" in page  # says which file and why
    assert staged(app, draft_id) == [("identity", "front.pdf"), ("power_of_attorney", "letter.png")]
    # Too many for the line: identity takes two files, one is attached.
    response = upload(client, app, draft_id, {"identity": [(make_pdf("a"), "a.pdf"), (make_pdf("b"), "b.pdf")]})
    assert response.status_code == 400
    assert "Too many files for “Passport or ID card”" in response.get_data(as_text=True)
    assert [name for _key, name in staged(app, draft_id)] == ["front.pdf", "letter.png", "a.pdf"]


def test_a_single_file_line_replaces_and_files_can_be_removed(app, client, anna):
    draft_id = start(client)
    assert upload(client, app, draft_id, {"power_of_attorney": [(make_pdf(), "old.pdf")]}).status_code == 303
    assert upload(client, app, draft_id, {"power_of_attorney": [(make_pdf("new"), "new.pdf")]}).status_code == 303
    assert staged(app, draft_id) == [("power_of_attorney", "new.pdf")]
    # A refused replacement keeps the file attached.
    response = upload(client, app, draft_id, {"power_of_attorney": [(b"plain text", "note.pdf")]})
    assert response.status_code == 400
    assert staged(app, draft_id) == [("power_of_attorney", "new.pdf")]
    with app.app_context():
        row_id = db.session.execute(select(StagedUpload.id)).scalar_one()
    response = client.post(stage_url(draft_id, "documents"), data={"version": version(app, draft_id), "remove": row_id})
    assert response.status_code == 303 and staged(app, draft_id) == []


def test_uploads_through_the_script_answer_with_the_new_checklist(app, client, anna):
    draft_id = start(client)
    response = upload(client, app, draft_id, {"identity": [(make_pdf(), "scan.pdf")]}, headers=XHR)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["added"] == 1 and answer["refused"] == {}
    assert 'id="checklist"' in answer["html"] and "scan.pdf" in answer["html"]
    response = upload(client, app, draft_id, {"identity": [(b"", "empty.pdf")]}, headers=XHR)
    answer = response.get_json()
    assert list(answer["refused"]) == ["identity"] and "empty.pdf" in answer["html"]


def test_hostile_file_names_are_refused_or_shown_harmlessly(app, client, anna):
    draft_id = start(client)
    response = upload(client, app, draft_id, {"identity": [(make_pdf(), "../../etc/passwd.pdf")]})
    assert response.status_code == 400 and "contains a folder path" in response.get_data(as_text=True)
    assert staged(app, draft_id) == []
    hostile = '<script>alert("x")</script>.pdf'
    upload(client, app, draft_id, {"power_of_attorney": [(make_pdf(), hostile)]})
    page = client.get(stage_url(draft_id, "documents")).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page


def test_an_oversize_request_says_why_and_keeps_nothing(app, client, anna):
    draft_id = start(client)
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = upload(client, app, draft_id, {"identity": [(b"%PDF-1.4\n" + b"0" * 80_000, "big.pdf")]})
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
    response = upload(client, app, draft_id, {"identity": [(b"%PDF-1.4\n" + b"0" * 80_000, "big.pdf")]}, headers=XHR)
    assert response.status_code == 413 and "too large" in response.get_json()["message"]
    assert staged(app, draft_id) == []


def test_a_file_over_the_lines_limit_is_refused(app, client, anna):
    draft_id = start(client)
    big = make_pdf() + b"%" + b"0" * (10 * 1024 * 1024)  # the line takes 10 MB
    response = upload(client, app, draft_id, {"identity": [(big, "huge.pdf")]})
    assert response.status_code == 400 and "huge.pdf" in response.get_data(as_text=True)
    assert staged(app, draft_id) == []


def test_continue_from_documents_needs_the_required_ones(app, client, anna):
    draft_id = start(client)
    post_form(client, app, draft_id, action="continue")
    response = client.post(
        stage_url(draft_id, "documents"), data={"version": version(app, draft_id), "action": "continue"}
    )
    assert response.status_code == 400
    assert 'href="#doc-identity"' in response.get_data(as_text=True)
    # Conditional: "on someone else's behalf" makes the power of attorney required.
    post_form(client, app, draft_id, on_behalf="y")
    upload(client, app, draft_id, {"identity": [(make_pdf(), "id.pdf")]})
    response = client.post(
        stage_url(draft_id, "documents"), data={"version": version(app, draft_id), "action": "continue"}
    )
    assert response.status_code == 400 and 'href="#doc-power_of_attorney"' in response.get_data(as_text=True)


# -- submitting --------------------------------------------------------------------------------------


def test_submitting_files_one_online_application_and_deletes_the_draft(app, client, anna):
    draft_id = ready_draft(client, app)
    confirm = client.get(stage_url(draft_id, "confirm")).get_data(as_text=True)
    assert "passport.pdf" in confirm and "For a bank" in confirm and "Submit the application" in confirm
    response = submit(client, app, draft_id)
    assert response.status_code == 303
    done_url = response.headers["Location"]
    (filed,) = applications(app)
    assert done_url.endswith(f"/my/applications/{filed.id}/submitted")
    assert filed.channel == "online" and filed.applicant_user_id == anna and filed.created_by_id == anna
    assert filed.status == "submitted" and filed.applicant_name == "Anna Petrosyan"
    assert filed.applicant_psn == "1234567890" and filed.data["copies"] == 2
    with app.app_context():
        documents = db.session.execute(select(ApplicationDocument.original_name)).scalars().all()
        assert documents == ["passport.pdf"]
        assert db.session.execute(select(func.count(StagedUpload.id))).scalar() == 0
    assert draft_row(app, draft_id) is None
    page = client.get(done_url + "?_l_=en").get_data(as_text=True)
    assert filed.tracking_number in page and "What happens next" in page


def test_double_click_refresh_and_back_button_file_exactly_one(app, client, anna):
    draft_id = ready_draft(client, app)
    draft = draft_row(app, draft_id)
    first = submit(client, app, draft_id)
    # Refresh of the POST (the browser sends it again) and a second click: same answer.
    again = submit(client, app, draft_id, token=draft.token, version_=draft.version)
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    # Back button to the confirm page: the draft became that application.
    back = client.get(stage_url(draft_id, "confirm"))
    assert back.status_code == 303 and back.headers["Location"] == first.headers["Location"]
    # Reloading the confirmation changes nothing.
    assert client.get(first.headers["Location"]).status_code == 200
    assert len(applications(app)) == 1
    # Another browser of the same citizen submitting the stale page: the same application.
    other = app.test_client()
    login(other, "anna@example.com", PASSWORD)
    late = submit(other, app, draft_id, token=draft.token, version_=draft.version)
    assert late.status_code == 303 and late.headers["Location"] == first.headers["Location"]
    assert len(applications(app)) == 1


def test_two_clicks_at_once_file_one(app, anna):
    clients = []
    for _ in range(2):
        browser = app.test_client()
        login(browser, "anna@example.com", PASSWORD)
        clients.append(browser)
    draft_id = ready_draft(clients[0], app)
    barrier = threading.Barrier(2)
    answers: list = [None, None]

    def click(n: int) -> None:
        barrier.wait()
        answers[n] = submit(clients[n], app, draft_id)

    threads = [threading.Thread(target=click, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    (filed,) = applications(app)
    for answer in answers:
        assert answer is not None and answer.status_code == 303, answer and answer.data[:500]
        assert answer.headers["Location"].endswith(f"/my/applications/{filed.id}/submitted")
    with app.app_context():
        assert db.session.execute(select(func.count(ApplicationDocument.id))).scalar() == 1


def test_a_refused_submission_goes_back_to_the_problem_and_keeps_the_files(app, client, anna):
    draft_id = start(client)
    post_form(client, app, draft_id, copies="")  # saved, not checked
    upload(client, app, draft_id, {"power_of_attorney": [(make_pdf(), "letter.pdf")]})
    response = submit(client, app, draft_id)
    assert response.status_code == 303 and "/form?check=1" in response.headers["Location"]
    page = client.get(response.headers["Location"] + "&_l_=en").get_data(as_text=True)
    assert 'href="#copies"' in page
    assert applications(app) == [] and staged(app, draft_id) == [("power_of_attorney", "letter.pdf")]
    post_form(client, app, draft_id)
    response = submit(client, app, draft_id)
    assert response.status_code == 303 and "/documents?check=1" in response.headers["Location"]
    page = client.get(response.headers["Location"] + "&_l_=en").get_data(as_text=True)
    assert 'href="#doc-identity"' in page
    assert applications(app) == [] and draft_row(app, draft_id) is not None


def test_a_submission_from_a_stale_page_changes_nothing(app, client, anna):
    draft_id = ready_draft(client, app)
    old = version(app, draft_id)
    post_form(client, app, draft_id, address="Changed in another tab")
    response = submit(client, app, draft_id, version_=old)
    assert response.status_code == 303 and response.headers["Location"].endswith("/confirm")
    assert applications(app) == []
    assert "changed in another window" in client.get(response.headers["Location"] + "?_l_=en").get_data(as_text=True)


def test_a_draft_deleted_in_another_tab_is_not_filed(app, client, anna):
    draft_id = ready_draft(client, app)
    draft = draft_row(app, draft_id)
    assert client.post(f"/my/drafts/{draft_id}/delete").status_code == 303
    response = submit(client, app, draft_id, token=draft.token, version_=draft.version)
    assert response.status_code == 404 and "no such draft" in response.get_data(as_text=True)
    assert applications(app) == []


def test_a_forged_token_files_nothing(app, client, anna):
    draft_id = ready_draft(client, app)
    response = submit(client, app, draft_id, token="A" * 32)
    assert response.status_code == 303 and applications(app) == []


def test_the_confirmation_e_mail_is_written_by_the_workflow(app, client, anna):
    citizen_notices = pytest.importorskip(
        "app.domain.citizen_notices", reason="H4's app.domain.citizen_notices is not in place yet"
    )
    from app.models import Notification

    draft_id = ready_draft(client, app)
    submit(client, app, draft_id)
    with app.app_context():
        rows = db.session.execute(
            select(Notification.kind, Notification.channel).where(Notification.recipient_user_id == anna)
        ).all()
    assert (citizen_notices.SUBMITTED, "email") in rows, rows


# -- fees ----------------------------------------------------------------------------------------------


@pytest.fixture
def paid_app(tmp_path):
    from app.testing import builtin_plugins, make_app, seed_municipality, seed_system_admin

    app = make_app(tmp_path, plugins=[*builtin_plugins(), PaidServices()])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha"), "sysadmin": seed_system_admin(app)}
    enable_service(app, "alpha", PAID)
    make_citizen(app, "anna@example.com", name="Anna Petrosyan")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_service_paid_first_is_refused_until_paid_and_the_payment_moves(paid_app):
    app = paid_app
    client = app.test_client()
    login(client, "anna@example.com", PASSWORD)
    draft_id = start(client, f"/m/alpha/services/{PAID}/apply")
    response = client.post(
        stage_url(draft_id, "form"), data={**APPLICANT, "note": "x", "version": 1, "action": "continue"}
    )
    assert response.status_code == 303
    fee = client.get(stage_url(draft_id, "fee")).get_data(as_text=True)
    assert "State duty" in fee and "Service charge" in fee
    response = submit(client, app, draft_id)
    assert response.status_code == 303 and response.headers["Location"].endswith("/fee")
    assert "must be paid" in client.get(response.headers["Location"] + "?_l_=en").get_data(as_text=True)
    assert applications(app) == []
    draft = draft_row(app, draft_id)
    with app.app_context():
        db.session.add(
            Payment(
                municipality_id=draft.municipality_id,
                draft_id=draft_id,
                user_id=draft.user_id,
                provider="test",
                reference="ref-1",
                amount=5000,
                currency="AMD",
                status="paid",
                receipt_number="R-1",
                paid_at=utcnow(),
            )
        )
        db.session.commit()
    response = submit(client, app, draft_id)
    assert response.status_code == 303 and "/submitted" in response.headers["Location"]
    (filed,) = applications(app)
    assert filed.payment_status == "paid"
    with app.app_context():
        payment = db.session.execute(select(Payment)).scalar_one()
        assert payment.application_id == filed.id


# -- who may see a draft -----------------------------------------------------------------------------


def test_another_citizen_gets_404_on_every_draft_url_and_staff_403(app, client, anna, login_as):
    draft_id = ready_draft(client, app)
    before = draft_row(app, draft_id)
    files = staged(app, draft_id)
    make_citizen(app, "boris@example.com", name="Boris Sargsyan")
    login(client, "boris@example.com", PASSWORD)
    urls = [(f"/my/drafts/{draft_id}/{stage}", method) for stage in drafts.STAGES for method in ("GET", "POST")]
    urls += [(f"/my/drafts/{draft_id}/delete", "GET"), (f"/my/drafts/{draft_id}/delete", "POST")]
    urls += [(f"/my/drafts/{draft_id}/submit", "POST")]
    for url, method in urls:
        data = {"version": before.version, "action": "continue", "token": before.token, "remove": "1"}
        response = client.open(url, method=method, data=data)
        assert response.status_code == 404, (url, method, response.status_code)
    assert f"/my/drafts/{draft_id}/" not in client.get("/my/drafts/").get_data(as_text=True)
    after = draft_row(app, draft_id)
    assert (after.version, after.data, after.stage) == (before.version, before.data, before.stage)
    assert staged(app, draft_id) == files and applications(app) == []
    # Staff never see citizens' drafts.
    for role in ("clerk", "municipal_admin", "system_admin"):
        login_as(role)
        for url, method in urls:
            assert client.open(url, method=method, data={"version": 1}).status_code == 403, (role, url)
    # Anna's confirmation is hers alone.
    login(client, "anna@example.com", PASSWORD)
    done = submit(client, app, draft_id).headers["Location"]
    login(client, "boris@example.com", PASSWORD)
    assert client.get(done).status_code == 404
    assert client.post(f"/my/drafts/{draft_id}/submit", data={"token": before.token}).status_code == 404


def test_forged_ids_and_stage_names_are_not_found(app, client, anna):
    draft_id = start(client)
    assert client.get(f"/my/drafts/{draft_id}/payment").status_code == 404
    assert client.get(f"/my/drafts/{draft_id}/..%2fguide").status_code == 404
    assert client.get("/my/drafts/99999999999999999999999/guide").status_code == 404
    assert client.get("/my/drafts/0/guide").status_code == 404
    assert client.get("/my/applications/99999999999999999999/submitted").status_code == 404


# -- the list and deleting -----------------------------------------------------------------------------


def test_drafts_are_listed_and_deleted_after_confirmation_with_their_files(app, client, anna):
    draft_id = start(client)
    upload(client, app, draft_id, {"identity": [(make_pdf(), "id.pdf")]})
    listing = client.get("/my/drafts/?_l_=en").get_data(as_text=True)
    assert "Certificate of residence" in listing and f"/my/drafts/{draft_id}/delete" in listing
    confirm = client.get(f"/my/drafts/{draft_id}/delete?_l_=en")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.get_data(as_text=True)
    assert draft_row(app, draft_id) is not None  # asking deletes nothing
    with app.app_context():
        key = db.session.execute(select(StagedUpload.storage_key)).scalar_one()
    response = client.post(f"/my/drafts/{draft_id}/delete")
    assert response.status_code == 303 and response.headers["Location"].endswith("/my/drafts/")
    assert draft_row(app, draft_id) is None
    with app.app_context():
        assert db.session.execute(select(func.count(StagedUpload.id))).scalar() == 0
        assert not get_storage(app).exists(key)
    assert "You have no drafts" in client.get("/my/drafts/?_l_=en").get_data(as_text=True)


# -- the purge -------------------------------------------------------------------------------------------


def test_the_hourly_purge_keeps_a_live_drafts_files_and_drafts_go_after_their_age(app, client, anna):
    draft_id = start(client)
    upload(client, app, draft_id, {"identity": [(make_pdf(), "id.pdf")]})
    later = utcnow() + dt.timedelta(days=10)
    with app.app_context():
        storage = get_storage(app)
        assert staging.purge(db.session, storage, now=later) == 0  # the draft lives: its files stay
        assert drafts.purge(db.session, storage, older_than=drafts.draft_age(app.config), now=later) == 0
        assert drafts.draft_age({"HAMAYNK_DRAFT_DAYS": "7"}) == dt.timedelta(days=7)
        assert drafts.draft_age(app.config) == dt.timedelta(days=90)
        key = db.session.execute(select(StagedUpload.storage_key)).scalar_one()
        assert drafts.purge(db.session, storage, older_than=dt.timedelta(days=7), now=later) == 1
        assert db.session.execute(select(func.count(StagedUpload.id))).scalar() == 0
        assert not storage.exists(key)
    assert draft_row(app, draft_id) is None


def test_the_job_purges_abandoned_drafts(app, client, anna):
    from app.jobs import get_jobs

    draft_id = start(client)
    with app.app_context():
        draft = db.session.get(PortalDraft, draft_id)
        draft.updated_at = utcnow() - dt.timedelta(days=91)
        db.session.commit()
    get_jobs(app).purge_staged.call_local()
    assert draft_row(app, draft_id) is None


def test_a_municipality_code_with_control_characters_starts_nothing(app, client):
    """A NUL in the address's municipality code is no municipality (PostgreSQL refuses NUL in
    text, so it must never reach a query), for starting a draft as for the catalogue."""
    make_citizen(app, "nul@example.com")
    login(client, "nul@example.com")
    for method in ("get", "post"):
        response = getattr(client, method)("/m/%00/services/residence-certificate/apply?_l_=en")
        assert response.status_code == 404
