""" "My applications" in the citizen portal (app.portal.mine, app.domain.citizen_cases): the
citizen's own list with its filters and pages, one application in plain words, their own
documents, the online correction loop through the office's own resubmission, and
withdrawal; another citizen, staff and strangers reach none of it."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import select

from app.domain import access, channels, citizen_cases, intake, statuses, workflow
from app.domain.roles import CLERK, HEAD, SPECIALIST
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, ApplicationDocument, AuditEvent, DeadlineAdjustment, ServiceActivation
from app.plugins import runtime as plugin_runtime
from app.sdk import Field, Service, Step
from app.testing import (
    actor_for,
    add_staff,
    attach,
    count_statements,
    enable_service,
    file_application,
    login,
    make_citizen,
    make_png,
)

SERVICE_KEY = "residence-certificate"
RAW = {"address": "Abovyan 1, Kotayk", "purpose": "bank", "copies": "1"}


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def people(app):
    alpha = app.seeded["alpha"]
    found = dict(alpha["users"])
    found["registrar"] = add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    found["registry_head"] = add_staff(app, alpha, "alpha.registry_head", [HEAD], "civil_registry")
    found["front_clerk"] = add_staff(app, alpha, "alpha.front_clerk", [CLERK], "front_office")
    found["anna"] = make_citizen(app, "anna@test.example", name="Anna Petrosyan")
    found["bella"] = make_citizen(app, "bella@test.example", name="Bella Hakobyan")
    enable_service(app, "alpha", SERVICE_KEY)
    return found


def file_online(app, citizen_id: int, data=None, files=None) -> int:
    """An application the citizen filed online themselves (the intake's own online path)."""
    with app.test_request_context("/?_l_=en"):
        result = intake.file(
            db.session,
            plugin_runtime.host(app),
            get_storage(app),
            actor_for(citizen_id),
            municipality_id=app.seeded["alpha"]["id"],
            service_key=SERVICE_KEY,
            data=data or RAW,
            applicant={"name": "Anna Petrosyan"},
            uploads=files or {"identity": [attach("pdf", "passport.pdf")]},
            channel=channels.ONLINE,
        )
        return result.application.id


def act(app, application_id: int, user_id: int, action: str, **fields):
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        fields.setdefault("expected_version", application.version)
        workflow.act(
            db.session,
            application,
            action=action,
            actor=actor_for(user_id),
            host=plugin_runtime.host(app),
            storage=get_storage(app),
            **fields,
        )
        workflow.commit(db.session)


def sign_in(client, email: str):
    login(client, email)


def body(response) -> str:
    return response.get_data(as_text=True)


def send_correction(client, application_id: int, data: dict):
    """The application's correction form sent (in English)."""
    return client.post(
        f"/my/applications/{application_id}/correct?_l_=en", data=data, content_type="multipart/form-data"
    )


def application(app, application_id: int) -> Application:
    with app.app_context():
        found = db.session.get(Application, application_id)
        db.session.expunge(found)
        return found


def returned(app, people, **named) -> int:
    """Anna's online application, returned by the registrar naming the address and the passport."""
    application_id = file_online(app, people["anna"])
    named.setdefault("fields", ["address"])
    named.setdefault("documents", ["identity"])
    named.setdefault("what_to_fix", "The house number is missing; the scan is unreadable.")
    act(app, application_id, people["registrar"], "return", **named)
    return application_id


# -- words ---------------------------------------------------------------------------------------


WORDED = Service(
    key="worded",
    version=1,
    title={"hy": "Ծառայություն", "en": "Worded"},
    fields=(Field("name", "text", {"hy": "Անուն", "en": "Name"}),),
    steps=(
        Step(
            "check",
            {"hy": "Ստուգում", "en": "Check"},
            role="specialist",
            days=1,
            citizen_text={"hy": "Ստուգում ենք", "en": "We are checking your papers."},
        ),
    ),
    status_texts={"in_review": {"en": "Being looked at", "hy": "Դիտարկվում է"}, "approved": {"hy": "Հաստատված է"}},
)


def test_status_words_come_from_the_municipality_then_the_declaration_then_the_generic_label(app):
    with app.test_request_context("/?_l_=en"):
        overrides = {"in_review": {"en": "With our registry team"}}
        assert citizen_cases.status_text(WORDED, overrides, "in_review", "en") == "With our registry team"
        assert citizen_cases.status_text(WORDED, overrides, "in_review", "hy") == "Դիտարկվում է"
        assert citizen_cases.status_text(WORDED, {}, "in_review", "en") == "Being looked at"
        # Only Armenian declared for "approved": an English reader gets the generic label in English.
        assert citizen_cases.status_text(WORDED, {}, "approved", "en") == "Approved"
        assert citizen_cases.status_text(WORDED, {}, "approved", "hy") == "Հաստատված է"
        assert citizen_cases.status_text(None, None, "rejected", "en") == "Rejected"
        in_review = Application(status="in_review", current_step="check")
        words = citizen_cases.words(in_review, WORDED, {}, "en")
        assert (words.text, words.step_title, words.step_text) == (
            "Being looked at",
            "Check",
            "We are checking your papers.",
        )
        # No step words once the application has left the route.
        done = citizen_cases.words(Application(status="approved", current_step=None), WORDED, {}, "en")
        assert (done.step_title, done.step_text, done.tone) == (None, None, "ok")


def test_a_municipality_sets_its_own_status_words_on_the_service_form(app, client, people, login_as):
    login_as("municipal_admin")
    page = body(client.get(f"/admin/services/{SERVICE_KEY}?_l_=en"))
    assert 'name="status_text-in_review-en"' in page and "Default: In review" in page
    form = {
        "enabled": "y",
        "status_text-in_review-en": "  Our registry   team checks it ",
        "status_text-submitted-hy": "Ստացված է",
    }
    assert client.post(f"/admin/services/{SERVICE_KEY}?_l_=en", data=form).status_code == 302
    with app.app_context():
        row = db.session.execute(
            select(ServiceActivation).where(ServiceActivation.service_key == SERVICE_KEY)
        ).scalar_one()
        assert row.status_texts == {
            "in_review": {"en": "Our registry team checks it"},
            "submitted": {"hy": "Ստացված է"},
        }
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == "service.status_texts")).scalar_one()
    # Too long: refused next to its input, nothing stored.
    too_long = {"enabled": "y", "status_text-rejected-en": "x" * 301}
    response = client.post(f"/admin/services/{SERVICE_KEY}?_l_=en", data=too_long)
    assert response.status_code == 400 and "At most 300 characters." in body(response)
    with app.app_context():
        row = db.session.execute(
            select(ServiceActivation).where(ServiceActivation.service_key == SERVICE_KEY)
        ).scalar_one()
        assert "rejected" not in row.status_texts
    # The citizen reads them.
    application_id = file_online(app, people["anna"])
    act(app, application_id, people["registrar"], "approve")
    sign_in(client, "anna@test.example")
    assert "Our registry team checks it" in body(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert "Our registry team checks it" in body(client.get("/my/applications/?_l_=en"))
    # An empty form clears them (explicit form data, like the other settings).
    login_as("municipal_admin")
    assert client.post(f"/admin/services/{SERVICE_KEY}?_l_=en", data={"enabled": "y"}).status_code == 302
    with app.app_context():
        row = db.session.execute(
            select(ServiceActivation).where(ServiceActivation.service_key == SERVICE_KEY)
        ).scalar_one()
        assert row.status_texts == {}


# -- the list ------------------------------------------------------------------------------------


def test_my_applications_lists_only_my_own_newest_first_in_plain_words(app, client, people):
    first = file_online(app, people["anna"])
    second = file_online(app, people["anna"], data={**RAW, "address": "Second 2"})
    act(app, second, people["registrar"], "return", what_to_fix="Add the flat number.", fields=["address"])
    others = file_online(app, people["bella"])
    walk_in = file_application(app, SERVICE_KEY)  # at the office, nobody's account
    sign_in(client, "anna@test.example")
    response = client.get("/my/applications/?_l_=en")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = body(response)
    shown = [int(i) for i in re.findall(r'data-application="(\d+)"', page)]
    assert shown == [second, first]
    assert str(others) not in shown and walk_in not in shown
    assert "Returned for correction" in page and "Waiting for your correction." in page
    assert application(app, first).tracking_number in page
    assert "Certificate of residence and family composition" in page
    assert "Expected by" in page


def test_filters_narrow_the_list_and_bad_values_are_ignored_with_a_notice(app, client, people):
    older = file_online(app, people["anna"])
    newer = file_online(app, people["anna"])
    act(app, newer, people["registrar"], "return", what_to_fix="Fix it.")
    with app.app_context():
        db.session.get(Application, older).submitted_at = dt.datetime(2024, 3, 10, 9, 0)
        db.session.commit()
    sign_in(client, "anna@test.example")

    def ids(query: str) -> list[int]:
        response = client.get(f"/my/applications/?_l_=en&{query}")
        assert response.status_code == 200, query
        return [int(i) for i in re.findall(r'data-application="(\d+)"', body(response))]

    assert ids("status=returned_for_correction") == [newer]
    assert ids("status=submitted") == [older]
    assert ids(f"service={SERVICE_KEY}") == [newer, older]
    assert ids("from=2024-03-10&to=2024-03-10") == [older]
    assert ids("from=2024-03-11") == [newer]
    assert ids("to=2024-03-09") == []
    for query, notice in (
        ("status=bogus", "There is no such status"),
        ("status=draft", "There is no such status"),
        ("service=trade-permit", "You have no applications for such a service"),
        ("service=%3Cscript%3E", "You have no applications for such a service"),
        ("from=10.03.2024", "Enter dates as YYYY-MM-DD"),
        ("to=2024-13-45", "Enter dates as YYYY-MM-DD"),
        ("from=2024-05-01&to=2024-01-01", "The start date is after the end date"),
        ("page=0", "There is no such page"),
        ("page=-3", "There is no such page"),
        ("page=99999999999999999999", "There is no such page"),
        ("page=x", "There is no such page"),
    ):
        response = client.get(f"/my/applications/?_l_=en&{query}")
        assert response.status_code == 200, query
        assert notice in body(response), query
        assert sorted(int(i) for i in re.findall(r'data-application="(\d+)"', body(response))) == sorted([older, newer])
    # A page past the end shows the last one.
    assert ids("page=7") == [newer, older]


def test_the_list_pages_and_costs_the_same_queries_for_a_few_rows_or_many(app, client, people):
    anna = people["anna"]

    def add(count: int) -> None:
        for _ in range(count):
            application_id = file_application(app, SERVICE_KEY)
            with app.app_context():
                db.session.get(Application, application_id).applicant_user_id = anna
                db.session.commit()

    add(3)
    sign_in(client, "anna@test.example")
    client.get("/my/applications/?_l_=en")  # the first request of a session loads more
    few = count_statements(app, lambda: client.get("/my/applications/?_l_=en"))
    add(22)
    many = count_statements(app, lambda: client.get("/my/applications/?_l_=en"))
    assert few == many <= 8, (few, many)
    first = body(client.get("/my/applications/?_l_=en"))
    assert len(re.findall(r'data-application="\d+"', first)) == citizen_cases.PAGE_SIZE
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = body(client.get("/my/applications/?_l_=en&page=2"))
    assert len(re.findall(r'data-application="\d+"', second)) == 25 - citizen_cases.PAGE_SIZE
    assert 'rel="prev"' in second


# -- one application -----------------------------------------------------------------------------


def test_the_application_page_speaks_plain_words_and_hides_the_office_inside(app, client, people):
    application_id = file_online(app, people["anna"])
    act(app, application_id, people["registrar"], "comment", comment="Looks forged to me")
    act(
        app,
        application_id,
        people["registry_head"],
        "reassign",
        assignee_id=people["registrar"],
        reason="Internal shuffle",
    )
    sign_in(client, "anna@test.example")
    response = client.get(f"/my/applications/{application_id}?_l_=en")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = body(response)
    assert "Submitted" in page
    assert "Registry check" in page  # the current step
    # Who has it: the department, never a person.
    assert "Population Registry Department" in page
    for person in ("Alpha.Registrar", "Alpha.Registry_Head", "Registry_Head"):
        assert person not in page
    # Internal notes stay inside the office.
    assert "Looks forged" not in page and "Internal shuffle" not in page
    found = application(app, application_id)
    assert found.due_at is not None
    with app.test_request_context("/?_l_=en"):
        from app.i18n import format_date

        assert format_date(found.due_at, "long") in page
    # The documents, with a link to open each; the form data, the applicant's own.
    assert "passport.pdf" in page and f"/my/applications/{application_id}/documents/" in page
    assert "Abovyan 1, Kotayk" in page
    # Withdrawal offered before a decision; no correction while nothing was returned.
    assert f"/my/applications/{application_id}/withdraw" in page
    assert f"/my/applications/{application_id}/correct" not in page
    # A question link only when the questions area exists; never a dead download link.
    with app.test_request_context():
        has_questions = "questions.new" in app.view_functions
    assert (f"application_id={application_id}" in page) == has_questions
    assert "Download the issued document" not in page
    assert "Free of charge" in page
    # The payment state, read-only here (changed in the session the test client's requests share).
    with app.test_request_context():
        found = db.session.get(Application, application_id)
        found.fee, found.payment_status = 1500, "due"
        db.session.commit()
    payment = re.search(
        r'id="case-payment">(.*?)</dd>', body(client.get(f"/my/applications/{application_id}?_l_=en")), re.S
    )
    assert payment and "1" in payment.group(1) and "To be paid" in payment.group(1)


def test_the_timeline_shows_what_was_asked_and_decided_but_not_staff_notes(app, client, people):
    application_id = returned(app, people)
    sign_in(client, "anna@test.example")
    page = body(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert "Returned for correction" in page
    assert "The house number is missing; the scan is unreadable." in page
    assert "To correct: Address, Passport or ID card" in page
    assert "The clock is paused" in page
    assert "You: the application waits for your correction" in page
    assert f"/my/applications/{application_id}/correct" in page
    # The office resubmits on the citizen's behalf with a staff note: the note stays inside.
    act(
        app,
        application_id,
        people["front_clerk"],
        "resubmit",
        data={"address": "Abovyan 1/5, Kotayk"},
        uploads={"identity": [attach("pdf", "passport-2.pdf")]},
        comment="Citizen phoned, clerk typed it",
    )
    act(app, application_id, people["registrar"], "approve")
    act(app, application_id, people["registry_head"], "reject", reason="Not registered at this address.")
    page = body(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert "The corrections were sent" in page and "Changed: Address" in page and "passport-2.pdf" in page
    assert "Citizen phoned" not in page
    assert "Step completed: Registry check" in page
    assert "Not registered at this address." in page and "Rejected" in page
    # Closed: no actions, no expected date.
    assert "/withdraw" not in page and "/correct" not in page and "Expected by" not in page


def test_the_applicant_opens_their_own_documents_and_each_opening_is_audited(app, client, people):
    application_id = file_online(app, people["anna"])
    with app.app_context():
        document_id = db.session.execute(
            select(ApplicationDocument.id).where(ApplicationDocument.application_id == application_id)
        ).scalar_one()
    sign_in(client, "anna@test.example")
    response = client.get(f"/my/applications/{application_id}/documents/{document_id}?_l_=en")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert response.headers["Content-Disposition"].startswith("attachment")
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "document.download")).scalar_one()
        assert (event.actor_id, event.object_id, event.details["channel"]) == (
            people["anna"],
            str(document_id),
            "online",
        )
    assert client.get(f"/my/applications/{application_id}/documents/{document_id + 999}?_l_=en").status_code == 404


def test_the_applicants_own_account_may_read_their_personal_data_and_no_other_citizen(app, people):
    application_id = file_online(app, people["anna"])
    with app.app_context():
        found = db.session.get(Application, application_id)
        assert access.may_see_personal_data(actor_for(people["anna"]), found)
        assert not access.may_see_personal_data(actor_for(people["bella"]), found)
        assert access.may_see_personal_data(actor_for(people["front_clerk"]), found)
        assert not access.may_see_personal_data(actor_for(app.seeded["alpha"]["users"]["auditor"]), found)
        # A walk-in is nobody's account until it is claimed.
        walk_in = db.session.get(Application, file_application(app, SERVICE_KEY))
        assert not access.may_see_personal_data(actor_for(people["anna"]), walk_in)


# -- correction ----------------------------------------------------------------------------------


def test_the_correction_page_offers_exactly_what_the_office_named(app, client, people):
    application_id = returned(app, people)
    sign_in(client, "anna@test.example")
    response = client.get(f"/my/applications/{application_id}/correct?_l_=en")
    assert response.status_code == 200
    page = body(response)
    assert 'name="data-address"' in page and 'name="doc-identity"' in page
    for other in ("data-purpose", "data-copies", "data-on_behalf", "doc-power_of_attorney"):
        assert f'name="{other}"' not in page, other
    assert "The house number is missing" in page
    assert 'name="token"' in page and 'name="version"' in page
    # Not returned (any more): no correction page.
    other_id = file_online(app, people["anna"])
    response = client.get(f"/my/applications/{other_id}/correct?_l_=en")
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/my/applications/{other_id}")
    assert client.post(f"/my/applications/{other_id}/correct?_l_=en", data={}).status_code == 409


def test_a_correction_goes_through_the_offices_resubmission_and_the_clock_resumes(app, client, people):
    application_id = returned(app, people)
    before = application(app, application_id)
    with app.app_context():
        old_ids = set(
            db.session.execute(
                select(ApplicationDocument.id).where(ApplicationDocument.application_id == application_id)
            ).scalars()
        )
    sign_in(client, "anna@test.example")
    response = send_correction(
        client,
        application_id,
        {
            "version": str(before.version),
            "token": "t" * 32,
            "data-address": "Abovyan 1/5, Kotayk",
            # Not named: never read, so it cannot change.
            "data-purpose": "court",
            "note": "Added the flat number and a clear scan.",
            "doc-identity": [attach("pdf", "clear-passport.pdf")],
        },
    )
    assert response.status_code == 303, body(response)
    after = application(app, application_id)
    assert after.status == statuses.IN_REVIEW
    assert after.data["address"] == "Abovyan 1/5, Kotayk" and after.data["purpose"] == "bank"
    with app.app_context():
        suspension = db.session.execute(
            select(DeadlineAdjustment).where(
                DeadlineAdjustment.application_id == application_id, DeadlineAdjustment.kind == "suspension"
            )
        ).scalar_one()
        assert suspension.end_date is not None  # the clock runs again
        assert workflow.open_suspension(db.session, db.session.get(Application, application_id)) is None
        record = workflow.history(db.session, db.session.get(Application, application_id))[-1]
        assert (record.action, record.actor_id) == ("resubmit", people["anna"])
        replaced = record.details["documents"]["replaced"][0]
        assert set(replaced["old"]) == old_ids
    page = body(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert "Thank you: your corrections were sent" in page
    assert "clear-passport.pdf" in page and "replaced" in page
    assert "Added the flat number and a clear scan." in page  # the citizen's own note


def test_a_refused_correction_says_why_changes_nothing_and_keeps_the_good_file(app, client, people):
    application_id = returned(app, people)
    before = application(app, application_id)
    sign_in(client, "anna@test.example")
    token = "k" * 32
    # The address emptied (required): refused, with an error summary linking to the input; the
    # passport scan, which is fine, is kept for the next try.
    response = send_correction(
        client,
        application_id,
        {
            "version": str(before.version),
            "token": token,
            "data-address": "",
            "doc-identity": [attach("pdf", "kept-passport.pdf")],
        },
    )
    assert response.status_code == 400
    page = body(response)
    assert 'class="error-summary"' in page and 'href="#data-address"' in page
    assert 'aria-invalid="true"' in page
    assert "kept-passport.pdf" in page and 'name="staged-remove"' in page
    assert application(app, application_id).status == statuses.RETURNED
    assert application(app, application_id).version == before.version
    # No file and a wrong type: both named.
    response = send_correction(
        client, application_id, {"version": str(before.version), "token": "z" * 32, "data-address": "Abovyan 2"}
    )
    assert response.status_code == 400 and 'href="#doc-identity"' in body(response)
    response = send_correction(
        client,
        application_id,
        {
            "version": str(before.version),
            "token": "y" * 32,
            "data-address": "Abovyan 2",
            "doc-identity": [(io.BytesIO(b"plain text, not a scan"), "passport.txt")],
        },
    )
    assert response.status_code == 400 and 'href="#doc-identity"' in body(response)
    # A file for a document the office did not name (a forged form): refused, and not kept.
    forged = send_correction(
        client,
        application_id,
        {
            "version": str(before.version),
            "token": "f" * 32,
            "data-address": "Abovyan 2",
            "doc-identity": [attach("pdf", "good-scan.pdf")],
            "doc-power_of_attorney": [attach("pdf", "attorney.pdf")],
        },
    )
    assert forged.status_code == 400
    assert 'href="#doc-power_of_attorney"' in body(forged) and "was not named for correction" in body(forged)
    assert "good-scan.pdf" in body(forged) and "attorney.pdf" not in body(forged)
    # The next try with the same form token needs no new file: the kept one is filed.
    response = send_correction(
        client, application_id, {"version": str(before.version), "token": token, "data-address": "Abovyan 1/5"}
    )
    assert response.status_code == 303, body(response)
    with app.app_context():
        names = set(
            db.session.execute(
                select(ApplicationDocument.original_name).where(ApplicationDocument.application_id == application_id)
            ).scalars()
        )
        assert "kept-passport.pdf" in names
    assert application(app, application_id).status == statuses.IN_REVIEW


def test_a_correction_from_a_stale_page_is_refused(app, client, people):
    application_id = returned(app, people, documents=[])
    sign_in(client, "anna@test.example")
    stale = application(app, application_id).version - 1
    response = send_correction(client, application_id, {"version": str(stale), "data-address": "Somewhere 3"})
    assert response.status_code == 409 and "changed by someone else meanwhile" in body(response)
    response = send_correction(client, application_id, {"version": "not a number", "data-address": "Somewhere 3"})
    assert response.status_code in (400, 409)
    assert application(app, application_id).status == statuses.RETURNED


# -- withdrawal ----------------------------------------------------------------------------------


def test_withdrawing_asks_first_then_closes_the_application_for_good(app, client, people):
    application_id = file_online(app, people["anna"])
    sign_in(client, "anna@test.example")
    confirm = client.get(f"/my/applications/{application_id}/withdraw?_l_=en")
    assert confirm.status_code == 200
    assert "Yes, withdraw the application" in body(confirm) and 'name="reason"' in body(confirm)
    assert application(app, application_id).status == statuses.SUBMITTED  # asking changes nothing
    response = client.post(
        f"/my/applications/{application_id}/withdraw?_l_=en",
        data={"version": str(application(app, application_id).version), "reason": "Not needed any more"},
    )
    assert response.status_code == 303
    withdrawn = application(app, application_id)
    assert withdrawn.status == statuses.WITHDRAWN and withdrawn.closed_at is not None
    page = body(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert "Withdrawn" in page and "Not needed any more" in page
    # Again: nothing to withdraw.
    assert client.get(f"/my/applications/{application_id}/withdraw?_l_=en").status_code == 303
    again = client.post(f"/my/applications/{application_id}/withdraw?_l_=en", data={"version": str(withdrawn.version)})
    assert again.status_code == 409


def test_a_returned_application_can_be_withdrawn_without_a_reason_and_the_clock_stops(app, client, people):
    application_id = returned(app, people)
    sign_in(client, "anna@test.example")
    response = client.post(
        f"/my/applications/{application_id}/withdraw?_l_=en",
        data={"version": str(application(app, application_id).version)},
    )
    assert response.status_code == 303
    assert application(app, application_id).status == statuses.WITHDRAWN
    with app.app_context():
        assert workflow.open_suspension(db.session, db.session.get(Application, application_id)) is None


def test_no_withdrawal_after_a_decision_nor_from_a_stale_page(app, client, people):
    approved_id = file_online(app, people["anna"])
    act(app, approved_id, people["registrar"], "approve")
    act(app, approved_id, people["registry_head"], "approve")
    assert application(app, approved_id).status == statuses.APPROVED
    sign_in(client, "anna@test.example")
    assert f"/my/applications/{approved_id}/withdraw" not in body(client.get(f"/my/applications/{approved_id}?_l_=en"))
    response = client.post(
        f"/my/applications/{approved_id}/withdraw?_l_=en", data={"version": str(application(app, approved_id).version)}
    )
    assert response.status_code == 409 and application(app, approved_id).status == statuses.APPROVED
    open_id = file_online(app, people["anna"])
    stale = client.post(
        f"/my/applications/{open_id}/withdraw?_l_=en", data={"version": str(application(app, open_id).version + 1)}
    )
    assert stale.status_code == 409 and "changed by someone else meanwhile" in body(stale)
    missing = client.post(f"/my/applications/{open_id}/withdraw?_l_=en", data={})
    assert missing.status_code == 409 and "missing the version" in body(missing)
    too_long = client.post(
        f"/my/applications/{open_id}/withdraw?_l_=en",
        data={"version": str(application(app, open_id).version), "reason": "x" * (workflow.MAX_TEXT + 5)},
    )
    assert too_long.status_code == 400 and "too long" in body(too_long)
    assert application(app, open_id).status == statuses.SUBMITTED


# -- who may -------------------------------------------------------------------------------------


def mine_urls(application_id: int, document_id: int) -> list[tuple[str, str]]:
    base = f"/my/applications/{application_id}"
    return [
        ("GET", base),
        ("GET", f"{base}/correct"),
        ("POST", f"{base}/correct"),
        ("GET", f"{base}/withdraw"),
        ("POST", f"{base}/withdraw"),
        ("GET", f"{base}/documents/{document_id}"),
    ]


def test_another_citizen_gets_404_on_every_page_of_my_application(app, client, people):
    application_id = returned(app, people)
    with app.app_context():
        document_id = db.session.execute(
            select(ApplicationDocument.id).where(ApplicationDocument.application_id == application_id)
        ).scalar_one()
    rules = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("mine.")}
    with_id = {rule for rule in rules if "<int:application_id>" in rule}
    # Every rule about one application is in the crawl below.
    assert len(with_id) == len(mine_urls(0, 0)) - 2  # correct and withdraw answer GET and POST
    sign_in(client, "bella@test.example")
    before = application(app, application_id)
    for method, url in mine_urls(application_id, document_id):
        response = client.open(url, method=method, data={"version": str(before.version), "data-address": "Hacked"})
        assert response.status_code == 404, (method, url, response.status_code)
    assert str(application_id) not in re.findall(
        r'data-application="(\d+)"', body(client.get("/my/applications/?_l_=en"))
    )
    after = application(app, application_id)
    assert (after.status, after.version, after.data) == (before.status, before.version, before.data)
    # Ids that do not exist or do not fit a database integer: 404 too, never 500.
    for url in ("/my/applications/999999", "/my/applications/99999999999999999999999", "/my/applications/0/correct"):
        assert client.get(url).status_code == 404, url


def test_staff_and_strangers_do_not_get_the_citizens_pages(app, client, people, login_as):
    application_id = file_online(app, people["anna"])
    for url in ("/my/applications/", f"/my/applications/{application_id}", "/my/claim"):
        response = client.get(url)
        assert response.status_code in (302, 401), url
        if response.status_code == 302:
            assert "next=" in response.headers["Location"]
    login_as("clerk")
    for url in ("/my/applications/", f"/my/applications/{application_id}", "/my/claim"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/my/applications/{application_id}/withdraw?_l_=en", data={"version": "1"}).status_code == 403
    assert application(app, application_id).status == statuses.SUBMITTED


def test_a_png_scan_replaces_the_pdf_too(app, client, people):
    # Any accepted type of the checklist line, as at intake.
    application_id = returned(app, people, fields=[])
    sign_in(client, "anna@test.example")
    response = send_correction(
        client,
        application_id,
        {
            "version": str(application(app, application_id).version),
            "doc-identity": [(io.BytesIO(make_png()), "scan.png")],
        },
    )
    assert response.status_code == 303, body(response)
    assert application(app, application_id).status == statuses.IN_REVIEW


def test_a_refused_application_offers_its_refusal_decision_to_download(app, client, people):
    from app.testing import walk

    application_id = file_online(app, people["anna"])
    sign_in(client, "anna@test.example")
    # Before the decision: no download link of any kind.
    assert 'id="decision-link"' not in body(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert walk(app, application_id, outcome="rejected", reason="The parcel is not in the municipality") == (
        statuses.REJECTED
    )
    page = body(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert "Download the refusal decision" in page and "Download the issued document" not in page
    response = client.get(f"/my/applications/{application_id}/document?_l_=en")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
