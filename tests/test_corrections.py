"""Corrections with documents: a return names the fields and documents to fix; the
resubmission changes exactly those, replaces or adds files by the intake's rules, in one
transaction; the history says what changed and which files were replaced (kept, still
openable). Domain first, then the workspace pages, the inbox and the REST API."""

from __future__ import annotations

import datetime as dt
import io
import re
import types

import pytest
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage

from app import testing
from app.domain import casefile, channels, deadlines, inbox, intake, statuses, workflow
from app.domain.errors import ChangedMeanwhile, InvalidAction
from app.domain.roles import CLERK, HEAD, SPECIALIST
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, ApplicationDocument, DeadlineAdjustment, TransitionRecord
from app.plugins import runtime as plugin_runtime
from app.sdk import Field, Service, Step, hookimpl
from app.testing import PASSWORD, actor_for, add_staff, attach, enable_service, login, seed_municipality

SERVICE_KEY = "residence-certificate"
RAW = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "copies": "1"}


# -- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def people(app):
    alpha = app.seeded["alpha"]
    found = dict(alpha["users"])
    found["registrar"] = add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    found["registry_head"] = add_staff(app, alpha, "alpha.registry_head", [HEAD], "civil_registry")
    found["front_clerk"] = add_staff(app, alpha, "alpha.front_clerk", [CLERK], "front_office")
    with app.app_context():
        enable_service(app, alpha["id"], SERVICE_KEY)
        db.session.commit()
    alpha["people"] = found
    return found


def file_with_passport(app, people, data=None) -> int:
    """File through the intake, with one passport scan, as the front office does."""
    with app.test_request_context("/?_l_=en"):
        result = intake.file(
            db.session,
            plugin_runtime.host(app),
            get_storage(app),
            actor_for(people["front_clerk"]),
            municipality_id=app.seeded["alpha"]["id"],
            service_key=SERVICE_KEY,
            data=data or RAW,
            applicant={"name": "Armen Petrosyan"},
            uploads={"identity": [attach("pdf", "passport.pdf")]},
            channel=channels.OFFICE,
        )
        return result.application.id


def run(app, application_id: int, who: str, action: str, **fields):
    """``workflow.act`` in its own transaction, as a channel calls it (English messages)."""
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        fields.setdefault("expected_version", application.version)
        try:
            record = workflow.act(
                db.session,
                application,
                action=action,
                actor=actor_for(app.seeded["alpha"]["people"][who]),
                host=plugin_runtime.host(app),
                storage=get_storage(app),
                **fields,
            )
            workflow.commit(db.session)
            return record.id
        except Exception:
            db.session.rollback()
            raise


def snapshot(app, application_id: int) -> dict:
    """Everything a refused action must leave as it was, stored files included."""
    with app.app_context():
        a = db.session.get(Application, application_id)
        documents = db.session.execute(
            select(ApplicationDocument.id, ApplicationDocument.storage_key)
            .where(ApplicationDocument.application_id == application_id)
            .order_by(ApplicationDocument.id)
        ).all()
        history = db.session.execute(
            select(TransitionRecord.action, TransitionRecord.details)
            .where(TransitionRecord.application_id == application_id)
            .order_by(TransitionRecord.id)
        ).all()
        return {
            "status": a.status,
            "version": a.version,
            "data": dict(a.data),
            "documents": [tuple(d) for d in documents],
            "history": [tuple(h) for h in history],
            "files": stored_files(app),
        }


def stored_files(app) -> list[str]:
    root = app.config["HAMAYNK_STORAGE_PATH"]
    import os

    return sorted(os.path.join(d, f) for d, _dirs, files in os.walk(root) for f in files)


def last_record(app, application_id: int) -> TransitionRecord:
    with app.app_context():
        record = db.session.execute(
            select(TransitionRecord)
            .where(TransitionRecord.application_id == application_id)
            .order_by(TransitionRecord.id.desc())
            .limit(1)
        ).scalar_one()
        db.session.expunge(record)
        return record


def html_file(name: str = "passport.pdf") -> FileStorage:
    return FileStorage(stream=io.BytesIO(b"<html><script>alert(1)</script></html>"), filename=name)


def returned(app, people, fields=("address",), documents=("identity",), text=None) -> int:
    application_id = file_with_passport(app, people)
    run(app, application_id, "registrar", "return", fields=list(fields), documents=list(documents), what_to_fix=text)
    return application_id


# -- the return ------------------------------------------------------------------------------------


def test_a_return_names_fields_and_documents_in_declared_order_without_free_text(app, people):
    application_id = file_with_passport(app, people)
    run(app, application_id, "registrar", "return", fields=["copies", "address"], documents=["identity"])
    record = last_record(app, application_id)
    assert (record.action, record.to_status, record.comment) == ("return", statuses.RETURNED, None)
    assert record.details == {"fields": ["address", "copies"], "documents": ["identity"]}


@pytest.mark.parametrize(
    ("fields", "documents", "text", "errors"),
    [
        (["address", "shoe_size"], [], None, {"fields"}),
        ([], ["passport_photo"], "Bring a photo", {"documents"}),
        (["nope"], ["nada"], None, {"fields", "documents"}),
        ([], [], "   ", {"what_to_fix"}),
    ],
)
def test_a_return_refuses_unknown_keys_and_an_empty_request_and_changes_nothing(
    app, people, fields, documents, text, errors
):
    application_id = file_with_passport(app, people)
    before = snapshot(app, application_id)
    with pytest.raises(workflow.InvalidInput) as refused:
        run(app, application_id, "registrar", "return", fields=fields, documents=documents, what_to_fix=text)
    assert set(refused.value.errors) == errors
    if "fields" in errors:
        assert "shoe_size" in str(refused.value.errors["fields"]) or "nope" in str(refused.value.errors["fields"])
    assert snapshot(app, application_id) == before


def test_the_return_function_itself_refuses_a_request_that_names_nothing(app, people):
    application_id = file_with_passport(app, people)
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        with pytest.raises(InvalidAction, match="Say what the applicant has to correct"):
            workflow.return_for_correction(
                db.session,
                application,
                actor=actor_for(people["registrar"]),
                expected_version=application.version,
                host=plugin_runtime.host(app),
            )
        with pytest.raises(workflow.InvalidInput):
            workflow.return_for_correction(
                db.session,
                application,
                actor=actor_for(people["registrar"]),
                expected_version=application.version,
                fields="address",  # a string, not a list of keys
                host=plugin_runtime.host(app),
            )
        db.session.rollback()


# -- the resubmission --------------------------------------------------------------------------------


def test_resubmission_changes_the_named_field_and_replaces_the_named_document(app, people):
    application_id = returned(app, people)
    before = snapshot(app, application_id)
    old_document = before["documents"][0][0]
    run(
        app,
        application_id,
        "front_clerk",
        "resubmit",
        data={"address": "Abovyan, Kotayk 2"},
        uploads={"identity": [attach("png", "passport-clear.png")]},
        comment="New scan brought in",
    )
    after = snapshot(app, application_id)
    assert after["status"] == statuses.IN_REVIEW
    assert after["version"] == before["version"] + 1  # one action, one version, files and all
    assert after["data"]["address"] == "Abovyan, Kotayk 2" and after["data"]["copies"] == 1
    # The old file is kept, in the database and in the storage; one new one is added.
    assert len(after["documents"]) == 2 and after["documents"][0] == before["documents"][0]
    assert len(after["files"]) == len(before["files"]) + 1
    new_document = after["documents"][1][0]
    record = last_record(app, application_id)
    assert record.details == {
        "changes": {"address": ["Abovyan, Kotayk 1", "Abovyan, Kotayk 2"]},
        "documents": {
            "replaced": [{"requirement": "identity", "old": [old_document], "new": [new_document]}],
            "added": [],
        },
    }
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        summary = casefile.summary(
            db.session,
            plugin_runtime.registry(app),
            actor_for(people["registrar"]),
            application,
            "en",
            may_act=True,
            may_open_documents=True,
        )
        assert {d.id: d.superseded for d in summary.documents} == {old_document: True, new_document: False}
        event = summary.events[-1]
        assert [(c.label, c.old, c.new) for c in event.changes] == [
            ("Address", "Abovyan, Kotayk 1", "Abovyan, Kotayk 2")
        ]
        [change] = event.document_changes
        assert (change.title, [f.name for f in change.replaced], [f.name for f in change.added]) == (
            "Passport or ID card",
            ["passport.pdf"],
            ["passport-clear.png"],
        )
    # Back at the step that returned it; the next return can name things again.
    assert snapshot(app, application_id)["status"] == statuses.IN_REVIEW


def test_new_files_can_be_added_to_the_current_ones_instead(app, people):
    application_id = returned(app, people, fields=())
    run(app, application_id, "front_clerk", "resubmit", uploads={"identity": [attach("jpeg")]}, add_to=["identity"])
    after = snapshot(app, application_id)
    assert len(after["documents"]) == 2
    record = last_record(app, application_id)
    assert record.details["documents"] == {
        "replaced": [],
        "added": [{"requirement": "identity", "new": [after["documents"][1][0]]}],
    }
    assert record.details["changes"] == {}


def test_replacing_counts_only_the_new_files_against_the_limit_and_adding_counts_all(app, people):
    """The passport line takes at most two files: replacing one with two is fine, adding two
    to one is not."""
    application_id = returned(app, people, fields=())
    before = snapshot(app, application_id)
    with pytest.raises(workflow.InvalidInput) as refused:
        run(
            app,
            application_id,
            "front_clerk",
            "resubmit",
            uploads={"identity": [attach("pdf"), attach("png")]},
            add_to=["identity"],
        )
    assert "at most 2" in str(refused.value.errors["documents.identity"])
    assert snapshot(app, application_id) == before
    run(app, application_id, "front_clerk", "resubmit", uploads={"identity": [attach("pdf"), attach("png")]})
    assert len(snapshot(app, application_id)["documents"]) == 3


@pytest.mark.parametrize(
    ("data", "uploads", "errors"),
    [
        # A field the return did not name, changed: refused.
        ({"address": "New 1", "copies": "3"}, {"identity": "pdf"}, {"data.copies"}),
        # A field the service does not have.
        ({"address": "New 1", "shoe_size": "42"}, {"identity": "pdf"}, {"data.shoe_size"}),
        # The named field, with a value the form's own rules refuse (empty, and required).
        ({"address": "  "}, {"identity": "pdf"}, {"data.address"}),
        # The named document without a new file.
        ({"address": "New 1"}, {}, {"documents.identity"}),
        # A file for a document the return did not name (and the data does not require).
        ({"address": "New 1"}, {"identity": "pdf", "power_of_attorney": "pdf"}, {"documents.power_of_attorney"}),
        # A file for a document the service does not have.
        ({"address": "New 1"}, {"identity": "pdf", "selfie": "png"}, {"documents.selfie"}),
        # A bad file: a web page named .pdf.
        ({"address": "New 1"}, {"identity": "html"}, {"documents.identity"}),
        # Everything at once: every problem is named together.
        ({"copies": "4", "address": ""}, {"identity": "html", "selfie": "png"}, None),
    ],
)
def test_a_bad_resubmission_names_every_problem_and_changes_nothing(app, people, data, uploads, errors):
    application_id = returned(app, people)
    before = snapshot(app, application_id)
    files = {key: [html_file() if kind == "html" else attach(kind)] for key, kind in uploads.items()}
    with pytest.raises(workflow.InvalidInput) as refused:
        run(app, application_id, "front_clerk", "resubmit", data=data, uploads=files)
    expected = errors or {"data.copies", "data.address", "documents.identity", "documents.selfie"}
    assert set(refused.value.errors) == expected
    assert snapshot(app, application_id) == before


def test_an_unchanged_value_for_another_field_is_accepted_and_ignored(app, people):
    """A client may send the whole form back; only what the return named may differ."""
    application_id = returned(app, people)
    run(
        app,
        application_id,
        "front_clerk",
        "resubmit",
        data={**RAW, "address": "Abovyan, Kotayk 3"},
        uploads={"identity": [attach("pdf")]},
    )
    assert last_record(app, application_id).details["changes"] == {
        "address": ["Abovyan, Kotayk 1", "Abovyan, Kotayk 3"]
    }


def test_a_document_the_changed_data_makes_required_must_and_may_be_attached(app, people):
    """Ticking "on someone else's behalf" makes the power of attorney required: the return
    named only the field, yet the document is asked for and accepted."""
    application_id = returned(app, people, fields=("on_behalf",), documents=())
    before = snapshot(app, application_id)
    with pytest.raises(workflow.InvalidInput) as refused:
        run(app, application_id, "front_clerk", "resubmit", data={"on_behalf": True})
    assert set(refused.value.errors) == {"documents.power_of_attorney"}
    assert snapshot(app, application_id) == before
    run(
        app,
        application_id,
        "front_clerk",
        "resubmit",
        data={"on_behalf": "y"},
        uploads={"power_of_attorney": [attach("pdf", "poa.pdf")]},
    )
    details = last_record(app, application_id).details
    assert details["changes"] == {"on_behalf": [False, True]}
    assert [entry["requirement"] for entry in details["documents"]["added"]] == ["power_of_attorney"]


def test_a_stale_resubmission_changes_nothing(app, people):
    application_id = returned(app, people)
    before = snapshot(app, application_id)
    with pytest.raises(ChangedMeanwhile):
        run(
            app,
            application_id,
            "front_clerk",
            "resubmit",
            expected_version=before["version"] - 1,
            data={"address": "New 1"},
            uploads={"identity": [attach("pdf")]},
        )
    assert snapshot(app, application_id) == before


def test_a_failure_after_the_files_were_written_leaves_no_file_behind(app, people, monkeypatch):
    """Files are written inside the action; when anything after them fails, the transaction
    rolls back and the files it wrote are deleted with it."""
    application_id = returned(app, people)
    before = snapshot(app, application_id)

    def broken(*args, **kwargs):
        raise RuntimeError("the clock broke")

    monkeypatch.setattr(workflow.deadlines, "shift", broken)
    with pytest.raises(RuntimeError):
        run(
            app,
            application_id,
            "front_clerk",
            "resubmit",
            data={"address": "New 1"},
            uploads={"identity": [attach("pdf")]},
        )
    assert snapshot(app, application_id) == before


def test_only_who_speaks_for_the_applicant_resubmits(app, people):
    application_id = returned(app, people)
    with pytest.raises(workflow.NotAllowed):
        run(
            app,
            application_id,
            "specialist",  # urban planning: not the step's department, not a clerk
            "resubmit",
            data={"address": "New 1"},
            uploads={"identity": [attach("pdf")]},
        )


ID_CHECK = Service(
    key="id-check",
    version=1,
    title={"hy": "Ստուգում", "en": "ID check"},
    fields=(
        Field("name", "text", {"hy": "Անուն", "en": "Name"}, required=True),
        Field("passport", "text", {"hy": "Անձնագիր", "en": "Passport number"}, required=True, personal=True),
    ),
    steps=(Step("review", {"hy": "Ստուգում", "en": "Review"}, role="specialist", days=1),),
)


def test_personal_values_in_the_history_are_masked_for_readers_who_may_not_see_them(hamaynk_app_factory):
    """The auditor reads the history: the changed personal field shows masked (in the
    reading and in the details the API serves); the specialist sees it in full."""
    module = types.ModuleType("id_check")
    module.register_services = hookimpl(lambda: [ID_CHECK])
    app = hamaynk_app_factory(plugins=[module])
    alpha = seed_municipality(app, "alpha")
    app.seeded = {"alpha": alpha}
    enable_service(app, alpha["id"], "id-check")
    application_id = testing.file_application(app, "id-check", data={"name": "Ani", "passport": "AB1234567"})
    users = alpha["users"]
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        host = plugin_runtime.host(app)
        workflow.return_for_correction(
            db.session,
            application,
            actor=actor_for(users["specialist"]),
            expected_version=application.version,
            fields=["passport"],
            host=host,
        )
        workflow.commit(db.session)
        workflow.resubmit(
            db.session,
            application,
            actor=actor_for(users["clerk"]),
            expected_version=application.version,
            data={"passport": "CD7654321"},
            host=host,
        )
        workflow.commit(db.session)
        for reader, shown in ((users["auditor"], False), (users["specialist"], True)):
            summary = casefile.summary(
                db.session,
                plugin_runtime.registry(app),
                actor_for(reader),
                application,
                "en",
                may_act=False,
                may_open_documents=False,
            )
            event = summary.events[-1]
            [change] = event.changes
            if shown:
                assert (change.label, change.old, change.new, change.masked) == (
                    "Passport number",
                    "AB1234567",
                    "CD7654321",
                    False,
                )
                assert event.details["changes"] == {"passport": ["AB1234567", "CD7654321"]}
            else:
                assert change.masked and change.new.endswith("21") and "7654" not in change.new
                assert "7654" not in str(event.details) and "1234" not in str(event.details)


# -- the workspace pages -----------------------------------------------------------------------------


def _returned_days_ago(app, application_id: int, days: int) -> None:
    """Move the open return of ``application_id`` to ``days`` calendar days ago."""
    with app.app_context():
        db.session.execute(
            update(DeadlineAdjustment)
            .where(DeadlineAdjustment.application_id == application_id, DeadlineAdjustment.end_date.is_(None))
            .values(start_date=deadlines.today() - dt.timedelta(days=days))
        )
        db.session.commit()


def english(client, username: str) -> None:
    login(client, username, PASSWORD)
    client.get("/lang/en")


def test_the_workspace_returns_with_checkboxes_and_the_clerk_resubmits_exactly_those(app, people, client):
    application_id = file_with_passport(app, people)
    english(client, "alpha.registrar")
    page = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert 'name="fields" value="address"' in page and 'name="documents" value="identity"' in page
    version = snapshot(app, application_id)["version"]
    bad = client.post(
        f"/workspace/applications/{application_id}/return",
        data={"version": version, "fields": ["address", "hair_colour"]},
    )
    assert bad.status_code == 400 and "hair_colour" in bad.get_data(as_text=True)
    ok = client.post(
        f"/workspace/applications/{application_id}/return",
        data={"version": version, "fields": ["address"], "documents": ["identity"]},
    )
    assert ok.status_code == 303

    english(client, "alpha.clerk")
    # The returned case is in the clerk's "My tasks", with its age.
    tasks = client.get("/workspace/?tab=mine").get_data(as_text=True)
    assert f'data-application="{application_id}"' in tasks and "returned today" in tasks
    assert "Returned today, " in client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    for days, row_says, case_says in (
        (1, "returned 1 day ago", "(1 day ago)"),
        (3, "returned 3 days ago", "(3 days ago)"),
    ):
        _returned_days_ago(app, application_id, days)
        assert row_says in client.get("/workspace/?tab=mine").get_data(as_text=True)
        assert case_says in client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    _returned_days_ago(app, application_id, 0)
    page = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    fix = page[page.index('id="case-correction"') :]
    assert "Address" in fix and "Passport or ID card" in fix
    form = page[page.index('class="case-resubmit"') :]
    form = form[: form.index("</form>")]
    # Only the named field and the named document are in the form.
    assert 'name="data-address"' in form and 'name="data-copies"' not in form and 'name="data-purpose"' not in form
    assert 'name="doc-identity"' in form and 'name="doc-power_of_attorney"' not in form
    version = snapshot(app, application_id)["version"]
    # A tampered form changing another field, and a bad file: refused with messages, nothing kept.
    before = snapshot(app, application_id)
    refused = client.post(
        f"/workspace/applications/{application_id}/resubmit",
        data={
            "version": version,
            "data-address": "Abovyan, Kotayk 9",
            "data-copies": "4",
            "doc-identity": (io.BytesIO(b"<html></html>"), "scan.pdf"),
        },
        content_type="multipart/form-data",
    )
    text = refused.get_data(as_text=True)
    assert refused.status_code == 400, text
    assert "not named for correction" in text and "scan.pdf" in text and "Abovyan, Kotayk 9</textarea>" in text
    assert snapshot(app, application_id) == before
    done = client.post(
        f"/workspace/applications/{application_id}/resubmit",
        data={
            "version": version,
            "data-address": "Abovyan, Kotayk 9",
            "doc-identity": (io.BytesIO(attach("png").stream.read()), "clear.png"),
            "mode-identity": "replace",
        },
        content_type="multipart/form-data",
    )
    assert done.status_code == 303
    page = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    history = page[page.index('id="history-heading"') :]
    assert re.search(r"Address: <del>Abovyan, Kotayk 1</del> → <ins>Abovyan, Kotayk 9</ins>", history)
    assert "passport.pdf" in history and "clear.png" in history
    # The replaced file is still listed and can be opened.
    old_id = before["documents"][0][0]
    assert f"/documents/{old_id}" in page and "replaced" in page
    assert client.get(f"/workspace/applications/{application_id}/documents/{old_id}").status_code == 200
    tasks = client.get("/workspace/?tab=mine").get_data(as_text=True)
    assert f'data-application="{application_id}"' not in tasks


def test_the_inbox_clause_shows_returned_cases_to_clerks_only(app, people):
    application_id = returned(app, people)
    with app.app_context():
        registry = plugin_runtime.registry(app)
        for who, expected in (("clerk", True), ("front_clerk", True), ("auditor", False), ("head", False)):
            actor = actor_for(people[who])
            if inbox.MINE not in inbox.tabs_for(actor):
                assert not expected
                continue
            page = inbox.list_page(db.session, registry, actor, inbox.MINE)
            assert (application_id in [r.application.id for r in page.rows]) is expected, who
        beta_clerk = actor_for(app.seeded["beta"]["users"]["clerk"])
        assert application_id not in [
            r.application.id for r in inbox.list_page(db.session, registry, beta_clerk, inbox.MINE).rows
        ]


def test_reject_and_the_final_approval_ask_for_confirmation_first(app, people, client):
    application_id = file_with_passport(app, people)
    english(client, "alpha.registrar")
    version = snapshot(app, application_id)["version"]
    # Approving the first of two steps needs no confirmation.
    assert (
        client.post(f"/workspace/applications/{application_id}/approve", data={"version": version}).status_code == 303
    )
    english(client, "alpha.registry_head")
    page = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert "approves the whole application" in page
    before = snapshot(app, application_id)
    ask = client.post(f"/workspace/applications/{application_id}/approve", data={"version": before["version"]})
    text = ask.get_data(as_text=True)
    assert ask.status_code == 200 and "Yes, approve the application" in text and 'name="confirmed" value="1"' in text
    assert snapshot(app, application_id) == before
    ask = client.post(
        f"/workspace/applications/{application_id}/reject",
        data={"version": before["version"], "reason": "Not registered here"},
    )
    text = ask.get_data(as_text=True)
    assert ask.status_code == 200 and "Yes, reject the application" in text and "Not registered here" in text
    assert snapshot(app, application_id) == before
    confirmed = client.post(
        f"/workspace/applications/{application_id}/approve", data={"version": before["version"], "confirmed": "1"}
    )
    assert confirmed.status_code == 303
    assert snapshot(app, application_id)["status"] == statuses.APPROVED


# -- the REST API ----------------------------------------------------------------------------------


def token(client, username: str) -> dict:
    response = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    )
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def test_the_api_returns_with_fields_and_documents_and_resubmits_data(app, people, client):
    application_id = file_with_passport(app, people)
    specialist = token(client, "alpha.registrar")
    url = f"/api/v1/applications/{application_id}/actions"
    version = snapshot(app, application_id)["version"]
    for body, errors in (
        ({"fields": "address"}, {"fields"}),
        ({"fields": ["address", "eye_colour"]}, {"fields"}),
        ({"documents": ["identity", 7]}, {"documents"}),
        ({}, {"what_to_fix"}),
    ):
        response = client.post(url, json={"action": "return", "expected_version": version, **body}, headers=specialist)
        assert response.status_code == 400 and set(response.json["errors"]) == errors, body
    response = client.post(
        url, json={"action": "return", "expected_version": version, "fields": ["copies"]}, headers=specialist
    )
    assert response.status_code == 200
    result = response.json["result"]
    assert result["history"][-1]["details"] == {"fields": ["copies"], "documents": []}

    clerk = token(client, "alpha.clerk")
    version = result["version"]
    response = client.post(
        url,
        json={"action": "resubmit", "expected_version": version, "data": {"copies": 3, "address": "Elsewhere"}},
        headers=clerk,
    )
    assert response.status_code == 400 and set(response.json["errors"]) == {"data.address"}
    response = client.post(
        url, json={"action": "resubmit", "expected_version": version, "data": {"copies": 3}}, headers=clerk
    )
    assert response.status_code == 200
    result = response.json["result"]
    assert result["data"]["copies"] == 3 and result["status"] == statuses.IN_REVIEW
    assert result["history"][-1]["details"]["changes"] == {"copies": [1, 3]}
    assert [d["superseded"] for d in result["documents"]] == [False]


def test_nothing_is_stored_twice_for_one_resubmission(app, people):
    """One resubmission, one record, one new row per file."""
    application_id = returned(app, people)
    run(
        app,
        application_id,
        "front_clerk",
        "resubmit",
        data={"address": "New 1"},
        uploads={"identity": [attach("pdf")]},
    )
    with app.app_context():
        count = db.session.execute(
            select(func.count(TransitionRecord.id)).where(
                TransitionRecord.application_id == application_id, TransitionRecord.action == "resubmit"
            )
        ).scalar_one()
        assert count == 1
