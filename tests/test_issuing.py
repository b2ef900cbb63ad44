"""Issued documents (app.domain.issuing): the decision an application ends with becomes a PDF —
Armenian text that survives extraction, a QR code that decodes to the verification URL, the
form data with its labels, the signer — stored once with its sha256, re-issued as a new
document that supersedes the old one, opened only by the applicant and the municipality's
staff, and refused with a named error (nothing written) when a template breaks."""

from __future__ import annotations

import hashlib
import io
import types
from pathlib import Path

import pytest
import zxingcpp
from flask_babel import force_locale
from pypdf import PdfReader
from sqlalchemy import select

from app import sdk
from app.domain import access, channels, issuing, roles, statuses, workflow
from app.domain.errors import ChangedMeanwhile, HookFailed, InvalidAction, NotAllowed
from app.domain.output_templates import OutputTemplateError
from app.domain.storage import LocalStorage, StorageError, get_storage
from app.extensions import db
from app.models import (
    Application,
    ApplicationDocument,
    AuditEvent,
    Department,
    IssuedDocument,
    Municipality,
    TransitionRecord,
    User,
)
from app.models.issuing import REVOKED, SUPERSEDED, VALID
from app.plugins import runtime as plugin_runtime
from app.sdk import Field, Output, Service, Step, hookimpl
from app.testing import (
    PASSWORD,
    actor_for,
    apply,
    builtin_plugins,
    login,
    make_citizen,
    sample_data,
    seed_municipality,
    staff_user,
    walk,
)
from plugins import samples

HOLDER = "Պողոս Պետրոսյան"
ALPHA_HY = "Ալֆա համայնք"
PUBLIC_URL = "https://hamaynk.example"


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def _app(hamaynk_app_factory, extra_plugins=(), **config):
    config.setdefault("HAMAYNK_PUBLIC_URL", PUBLIC_URL)
    app = hamaynk_app_factory(plugins=[*builtin_plugins(), *extra_plugins], **config)
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    with app.app_context():
        municipality = db.session.get(Municipality, app.seeded["alpha"]["id"])
        municipality.name_hy = ALPHA_HY
        db.session.commit()
    return app


@pytest.fixture
def app(hamaynk_app_factory):
    return _app(hamaynk_app_factory)


def _file(app, key="residence-certificate", applicant_name=HOLDER, data=None):
    service = plugin_runtime.registry(app).get(key).service
    return apply(app, key, data=data or sample_data(service, samples.overrides(key)), applicant_name=applicant_name)


def _issued(app, application_id) -> list[IssuedDocument]:
    with app.app_context():
        rows = list(
            db.session.execute(
                select(IssuedDocument)
                .where(IssuedDocument.application_id == application_id)
                .order_by(IssuedDocument.sequence)
            ).scalars()
        )
        for row in rows:
            db.session.expunge(row)
        return rows


def _stored(app, document) -> bytes:
    with get_storage(app).open(document.storage_key) as stream:
        return stream.read()


def _stored_keys(app) -> set[str]:
    root = Path(app.config["HAMAYNK_STORAGE_PATH"])
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _qr_codes(pdf: bytes) -> list[str]:
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            found += [barcode.text for barcode in zxingcpp.read_barcodes(image.image)]
    return found


def test_final_approval_issues_a_pdf_in_armenian_with_the_decision_and_its_data(app):
    filed = _file(app)
    assert walk(app, filed.id) == statuses.APPROVED
    [document] = _issued(app, filed.id)
    pdf = _stored(app, document)
    assert pdf.startswith(b"%PDF-")
    assert (document.kind, document.sequence, document.number) == ("approval", 1, f"{filed.tracking_number}/1")
    assert (document.status, document.language, document.service_key) == (VALID, "hy", "residence-certificate")
    assert document.sha256 == hashlib.sha256(pdf).hexdigest() and document.size == len(pdf)
    assert document.signed is False  # no certificate configured: issued unsigned
    assert document.title == "Տեղեկանք"
    assert document.holder_initials == "Պ. Պ."
    assert issuing.normalize_code(issuing.format_code(document.code)) == document.code
    text = _text(pdf)
    # The municipality, the template's own words, the holder, the number, the field labels and
    # the chosen values' labels, all intact after extraction.
    for expected in (
        ALPHA_HY,
        "Տեղեկանք",
        "Սույնով տեղեկացվում է",
        HOLDER,
        document.number,
        "Նպատակ",
        "Բանկի համար",
        "Օրինակների քանակ",
        issuing.format_code(document.code),
    ):
        assert expected in text, expected
    # The head who signed at the last step, named on the document and on the row.
    with app.app_context():
        last = (
            db.session.execute(
                select(TransitionRecord)
                .where(TransitionRecord.application_id == filed.id)
                .order_by(TransitionRecord.id.desc())
            )
            .scalars()
            .first()
        )
        assert document.issued_by_id == last.actor_id
    assert document.signer_name and document.signer_name in text
    with app.test_request_context("/"), force_locale("hy"):
        head = str(roles.ROLE_LABELS[roles.HEAD])
        department = db.session.get(Department, app.seeded["alpha"]["departments"]["civil_registry"]).name_hy
    assert document.signer_role == f"{head}, {department}"
    assert head in text


def test_the_qr_code_decodes_to_the_public_verification_url(app):
    filed = _file(app)
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    url = f"{PUBLIC_URL}/verify/{issuing.format_code(document.code)}"
    assert _qr_codes(_stored(app, document)) == [url]
    assert url in _text(_stored(app, document))


def test_without_a_public_url_the_verification_url_is_localhost(hamaynk_app_factory):
    app = _app(hamaynk_app_factory, HAMAYNK_PUBLIC_URL="")
    filed = _file(app)
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    assert _qr_codes(_stored(app, document)) == [f"http://localhost/verify/{issuing.format_code(document.code)}"]


def test_a_rejection_issues_a_refusal_with_the_reasons(app):
    filed = _file(app)
    reason = "Նշված հասցեում դիմողը հաշվառված չէ։"
    assert walk(app, filed.id, outcome="rejected", reason=reason) == statuses.REJECTED
    [document] = _issued(app, filed.id)
    assert document.kind == "rejection" and document.number == f"{filed.tracking_number}/1"
    text = _text(_stored(app, document))
    assert "Նշված հասցեում դիմողը հաշվառված չէ" in text
    assert HOLDER in text and ALPHA_HY in text
    assert _qr_codes(_stored(app, document)) == [f"{PUBLIC_URL}/verify/{issuing.format_code(document.code)}"]


NO_OUTPUT = Service(
    key="no-output",
    version=1,
    title={"hy": "Առանց փաստաթղթի", "en": "No document"},
    fields=(Field("address", "text", {"hy": "Հասցե", "en": "Address"}, required=True),),
    steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1, actions=("approve", "reject")),),
)


def test_a_service_without_output_issues_only_refusals(hamaynk_app_factory):
    app = _app(hamaynk_app_factory, [_module("plain", register_services=lambda: [NO_OUTPUT])])
    approved = apply(app, "no-output", data={"address": "Աբովյան 5"})
    assert walk(app, approved.id) == statuses.APPROVED
    assert _issued(app, approved.id) == []
    refused = apply(app, "no-output", data={"address": "Աբովյան 7"})
    assert walk(app, refused.id, outcome="rejected", reason="Սխալ հասցե") == statuses.REJECTED
    [document] = _issued(app, refused.id)
    assert document.kind == "rejection"
    assert "Սխալ հասցե" in _text(_stored(app, document))


def test_the_document_is_in_the_applicants_language(app):
    citizen = make_citizen(app, "anna@example.test", name="Анна Петросян", language="ru")
    filed = _file(app, applicant_name="Анна Петросян")
    with app.app_context():
        db.session.get(Application, filed.id).applicant_user_id = citizen
        db.session.commit()
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    assert (document.language, document.title) == ("ru", "Справка")
    text = _text(_stored(app, document))
    assert "Анна Петросян" in text and "Для банка" in text


def _head_actor(app):
    return actor_for(app.seeded["alpha"]["users"]["head"])


def test_reissue_makes_a_new_document_and_supersedes_the_old(app):
    filed = _file(app)
    walk(app, filed.id)
    [first] = _issued(app, filed.id)
    first_bytes = _stored(app, first)
    with app.test_request_context("/?_l_=en"):
        document = db.session.get(IssuedDocument, first.id)
        new = issuing.reissue(db.session, plugin_runtime.host(app), document, actor=_head_actor(app), ip="10.0.0.1")
        new_id = new.id
    old, second = _issued(app, filed.id)
    assert second.id == new_id
    assert (old.status, old.superseded_by_id) == (SUPERSEDED, second.id)
    assert (second.status, second.sequence, second.number) == (VALID, 2, f"{filed.tracking_number}/2")
    assert second.code != old.code and second.storage_key != old.storage_key
    assert second.issued_by_id == app.seeded["alpha"]["users"]["head"]
    # The old file is untouched; the new one says what it replaces.
    assert _stored(app, old) == first_bytes and hashlib.sha256(first_bytes).hexdigest() == old.sha256
    assert old.number in _text(_stored(app, second))
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == issuing.AUDIT_REISSUED)).scalar_one()
        assert (event.object_type, event.object_id, event.ip) == ("issued_document", str(old.id), "10.0.0.1")
        assert event.details["new_number"] == second.number
    # A replaced document is not re-issued again; the newest is.
    with app.test_request_context("/?_l_=en"):
        document = db.session.get(IssuedDocument, old.id)
        with pytest.raises(InvalidAction):
            issuing.reissue(db.session, plugin_runtime.host(app), document, actor=_head_actor(app))


def test_only_the_head_of_the_same_municipality_reissues(app):
    filed = _file(app)
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    beta = seed_municipality(app, "beta", "Beta")
    with app.test_request_context("/?_l_=en"):
        row = db.session.get(IssuedDocument, document.id)
        for actor in (
            actor_for(app.seeded["alpha"]["users"]["specialist"]),
            actor_for(app.seeded["alpha"]["users"]["municipal_admin"]),
            actor_for(beta["users"]["head"]),
            None,
        ):
            with pytest.raises(NotAllowed):
                issuing.reissue(db.session, plugin_runtime.host(app), row, actor=actor)
    assert len(_issued(app, filed.id)) == 1


def test_a_revoked_document_reissued_stays_revoked_and_points_to_its_successor(app):
    filed = _file(app)
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    with app.test_request_context("/?_l_=en"):
        row = db.session.get(IssuedDocument, document.id)
        row.status = REVOKED
        db.session.commit()
        issuing.reissue(db.session, plugin_runtime.host(app), row, actor=_head_actor(app))
    old, new = _issued(app, filed.id)
    assert (old.status, old.superseded_by_id, new.status) == (REVOKED, new.id, VALID)


def test_two_reissues_at_once_one_wins(app, monkeypatch):
    filed = _file(app)
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    real = issuing._next_sequence
    monkeypatch.setattr(issuing, "_next_sequence", lambda session, application: 2)
    with app.test_request_context("/?_l_=en"):
        # Someone else's re-issue took sequence 2 meanwhile.
        db.session.add(
            IssuedDocument(
                municipality_id=document.municipality_id,
                application_id=filed.id,
                sequence=2,
                kind="approval",
                number=f"{filed.tracking_number}/2",
                code=issuing.new_code(),
                service_key="residence-certificate",
                title="x",
                holder_initials="x",
                storage_key="elsewhere/x",
                size=1,
                sha256="0" * 64,
            )
        )
        db.session.commit()
        row = db.session.get(IssuedDocument, document.id)
        with pytest.raises(ChangedMeanwhile):
            issuing.reissue(db.session, plugin_runtime.host(app), row, actor=_head_actor(app))
    monkeypatch.setattr(issuing, "_next_sequence", real)
    assert [d.status for d in _issued(app, filed.id)] == [VALID, VALID]
    # The file the loser stored went with its transaction.
    keys = _stored_keys(app)
    assert document.storage_key in keys
    with app.app_context():
        referenced = set(db.session.execute(select(IssuedDocument.storage_key)).scalars())
        referenced |= set(db.session.execute(select(ApplicationDocument.storage_key)).scalars())
    assert keys <= referenced


def test_open_issued_for_the_applicant_and_the_staff_audited(app):
    citizen = make_citizen(app, "owner@example.test")
    stranger = make_citizen(app, "stranger@example.test")
    filed = _file(app)
    with app.app_context():
        db.session.get(Application, filed.id).applicant_user_id = citizen
        db.session.commit()
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    storage = get_storage(app)
    users = app.seeded["alpha"]["users"]
    with app.test_request_context("/?_l_=en"):
        for user_id, channel in ((citizen, channels.ONLINE), (users["clerk"], channels.OFFICE)):
            actor = actor_for(user_id)
            row = issuing.get_document(db.session, actor, filed.id, document.id)
            application = access.get_application(db.session, actor, filed.id)
            opened = issuing.open_issued(db.session, storage, actor, application, row, channel=channel, ip="10.1.1.1")
            with opened.stream:
                assert hashlib.sha256(opened.stream.read()).hexdigest() == document.sha256
            assert opened.content_type == "application/pdf"
            assert opened.name == f"{filed.tracking_number}-1.pdf"
            assert opened.headers["Content-Disposition"].startswith("attachment;")
        events = (
            db.session.execute(
                select(AuditEvent).where(AuditEvent.action == issuing.AUDIT_DOWNLOAD).order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        assert [(e.actor_id, e.object_id, e.details["channel"]) for e in events] == [
            (citizen, str(document.id), channels.ONLINE),
            (users["clerk"], str(document.id), channels.OFFICE),
        ]
        # The auditor sees the application, not its documents; a stranger not even that.
        auditor = actor_for(users["auditor"])
        application = access.get_application(db.session, auditor, filed.id)
        row = issuing.get_document(db.session, auditor, filed.id, document.id)
        with pytest.raises(NotAllowed):
            issuing.open_issued(db.session, storage, auditor, application, row, channel=channels.OFFICE)
        with pytest.raises(access.NotFound):
            issuing.get_document(db.session, actor_for(stranger), filed.id, document.id)
        beta = seed_municipality(app, "beta", "Beta")
        with pytest.raises(access.NotFound):
            issuing.get_document(db.session, actor_for(beta["users"]["head"]), filed.id, document.id)
        assert (
            db.session.execute(select(AuditEvent).where(AuditEvent.action == issuing.AUDIT_DOWNLOAD)).scalars().all()
            == events
        )


def test_a_decision_rolled_back_leaves_no_document_and_no_file(app):
    filed = _file(app)
    before = _stored_keys(app)
    seen = []
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, filed.id)
        host = plugin_runtime.host(app)
        service = workflow.service_of(application, host.registry)
        while application.status in workflow.AT_STEP:
            step = workflow.current_step(application, service)
            department = workflow.responsible_department_id(db.session, application, step)
            actor_id = staff_user(app, application.municipality_id, step.role, department, (application.created_by_id,))
            workflow.approve(
                db.session, application, actor=actor_for(actor_id), expected_version=application.version, host=host
            )
            if application.status == statuses.APPROVED:
                seen = list(db.session.execute(select(IssuedDocument)).scalars())
                db.session.rollback()
                break
            workflow.commit(db.session)
    assert len(seen) == 1
    assert _issued(app, filed.id) == []
    assert _stored_keys(app) == before


def test_storage_down_refuses_the_decision_and_writes_nothing(app, monkeypatch):
    filed = _file(app)

    def broken(self, key, stream):
        raise StorageError()

    monkeypatch.setattr(LocalStorage, "put", broken)
    with pytest.raises(issuing.IssuingUnavailable):
        walk(app, filed.id)
    with app.app_context():
        application = db.session.get(Application, filed.id)
        assert application.status == statuses.IN_REVIEW
    assert _issued(app, filed.id) == []


def test_storage_down_answers_503_at_the_desk_and_in_the_api_and_writes_nothing(app, monkeypatch):
    """A storage outage is not the staff member's mistake: 503 with the reason, never 400."""
    filed = _file(app)
    # Every step but the last through the workflow, so the next approval is the final decision.
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, filed.id)
        host = plugin_runtime.host(app)
        service = workflow.service_of(application, host.registry)
        while True:
            step = workflow.current_step(application, service)
            department = workflow.responsible_department_id(db.session, application, step)
            user_id = staff_user(app, application.municipality_id, step.role, department, (application.created_by_id,))
            if workflow.next_step(service, application.data, step.key) is None:
                break
            workflow.approve(
                db.session, application, actor=actor_for(user_id), expected_version=application.version, host=host
            )
            workflow.commit(db.session)
        username = db.session.get(User, user_id).username
        version = application.version

    def broken(self, key, stream):
        raise StorageError()

    monkeypatch.setattr(LocalStorage, "put", broken)
    client = app.test_client()
    login(client, username, PASSWORD)
    client.get("/lang/en")
    response = client.post(f"/workspace/applications/{filed.id}/approve", data={"version": version, "confirmed": "1"})
    assert response.status_code == 503
    assert "the document storage cannot be reached now" in response.get_data(as_text=True)
    token = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    ).get_json()["access_token"]
    api = client.post(
        f"/api/v1/applications/{filed.id}/actions?_l_=en",
        json={"action": "approve", "expected_version": version},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 503, api.get_json()
    assert "the document storage cannot be reached now" in api.get_json()["message"]
    with app.app_context():
        assert db.session.get(Application, filed.id).status != statuses.APPROVED
    assert _issued(app, filed.id) == []


BROKEN = Service(
    key="broken-output",
    version=1,
    title={"hy": "Սխալ ձևանմուշ", "en": "Broken template"},
    fields=(Field("address", "text", {"hy": "Հասցե"}, required=True),),
    steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1),),
    output=Output({"hy": "Տեղեկանք"}, template="<p>{{ data.missing.deeper }}</p>"),
)


def test_a_template_that_fails_refuses_the_decision_naming_plugin_service_and_template(hamaynk_app_factory):
    app = _app(hamaynk_app_factory, [_module("broken_templates", register_services=lambda: [BROKEN])])
    filed = apply(app, "broken-output", data={"address": "Աբովյան 5"})
    with pytest.raises(OutputTemplateError) as refused:
        walk(app, filed.id)
    error = refused.value
    assert (error.plugin, error.service_key, error.template) == ("broken_templates", "broken-output", "<inline>")
    assert "UndefinedError" in error.detail
    with app.test_request_context("/?_l_=en"):
        message = str(error)
    assert "broken_templates" in message and "broken-output" in message and "nothing was changed" in message
    with app.app_context():
        assert db.session.get(Application, filed.id).status == statuses.SUBMITTED
    assert _issued(app, filed.id) == []


def test_a_template_with_a_syntax_error_is_refused_at_start_up():
    from app.domain.fieldtypes import CORE_FIELD_TYPES
    from app.plugins.registry import validate_service

    bad = Service(
        key="bad-syntax",
        version=1,
        title={"hy": "Սխալ"},
        steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1),),
        output=Output({"hy": "Տեղեկանք"}, template="<p>{% if data.x %}unclosed</p>"),
    )
    problems = validate_service(bad, CORE_FIELD_TYPES)
    assert any("output template '<inline>' has a syntax error on line 1" in p for p in problems), problems


def test_a_template_cannot_reach_outside_its_context_or_load_images(hamaynk_app_factory):
    sneaky = Service(
        key="sneaky-output",
        version=1,
        title={"hy": "Փորձ"},
        fields=(Field("address", "text", {"hy": "Հասցե"}, required=True),),
        steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1),),
        output=Output(
            {"hy": "Տեղեկանք"},
            template='<p>{{ data.address }}</p><img src="/etc/passwd"><p>{{ application.__class__ }}</p>',
        ),
    )
    app = _app(hamaynk_app_factory, [_module("sneaky", register_services=lambda: [sneaky])])
    filed = apply(app, "sneaky-output", data={"address": "<b>Աբովյան</b> 5"})
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    text = _text(_stored(app, document))
    # Escaped, not markup; no image but the QR code; the sandbox hides dunder attributes.
    assert "<b>Աբովյան</b> 5" in text
    assert "class" not in text.split("Տեղեկանք", 1)[-1].split("Details", 1)[0]
    assert len(_qr_codes(_stored(app, document))) == 1


def test_hook_output_context(hamaynk_app_factory):
    calls = []

    def output_context(application, service):
        calls.append((application.tracking_number, service.key))
        if service.key == "residence-certificate":
            return {"purpose_label": "Հատուկ նպատակի համար", "number": "ignored at top level"}
        return None

    app = _app(hamaynk_app_factory, [_module("purposes", output_context=output_context)])
    filed = _file(app)
    walk(app, filed.id)
    assert calls == [(filed.tracking_number, "residence-certificate")]
    [document] = _issued(app, filed.id)
    text = _text(_stored(app, document))
    # The certificate's template prints purpose_label when given; a core name is not replaced.
    assert "Հատուկ նպատակի համար" in text
    assert "ignored at top level" not in text
    # Refusals render no template: the hook does not fire for them.
    refused = _file(app)
    walk(app, refused.id, outcome="rejected", reason="Ոչ")
    assert len(calls) == 1


def test_output_context_from_two_plugins_may_not_clash(hamaynk_app_factory):
    app = _app(
        hamaynk_app_factory,
        [
            _module("one", output_context=lambda: {"purpose_label": "a"}),
            _module("two", output_context=lambda: {"purpose_label": "b"}),
        ],
    )
    filed = _file(app)
    with pytest.raises(HookFailed, match="'purpose_label' is also given by plug-in 'one'"):
        walk(app, filed.id)
    assert _issued(app, filed.id) == []


def test_hook_after_issue(hamaynk_app_factory):
    seen = []

    def after_issue(application, service, document):
        assert isinstance(document, sdk.IssuedDocumentView)
        seen.append((application.id, service.key, document.number, document.kind, document.sha256, document.status))

    app = _app(hamaynk_app_factory, [_module("archive", after_issue=after_issue)])
    filed = _file(app)
    walk(app, filed.id)
    [document] = _issued(app, filed.id)
    assert seen == [(filed.id, "residence-certificate", document.number, "approval", document.sha256, VALID)]
    with app.test_request_context("/?_l_=en"):
        row = db.session.get(IssuedDocument, document.id)
        issuing.reissue(db.session, plugin_runtime.host(app), row, actor=_head_actor(app))
    assert [entry[2] for entry in seen] == [document.number, f"{filed.tracking_number}/2"]


def test_a_failing_after_issue_rolls_the_decision_back_in_development(hamaynk_app_factory):
    def after_issue(document):
        raise RuntimeError("archive down")

    app = _app(hamaynk_app_factory, [_module("archive", after_issue=after_issue)])
    filed = _file(app)
    with pytest.raises(HookFailed, match="archive"):
        walk(app, filed.id)
    assert _issued(app, filed.id) == []


def test_every_builtin_template_renders_and_the_fonts_are_parsed_once(app):
    from app.domain import pdfdocs

    pdfdocs._prototypes.cache_clear()
    for registered in plugin_runtime.registry(app).latest():
        if registered.service.output is None:
            continue
        filed = _file(app, registered.key)
        assert walk(app, filed.id) == statuses.APPROVED, registered.key
        [document] = _issued(app, filed.id)
        text = _text(_stored(app, document))
        assert document.title in text and HOLDER in text, registered.key
    assert pdfdocs._prototypes.cache_info().misses == 1


def test_a_broken_template_answers_the_staff_member_not_a_500(hamaynk_app_factory):
    app = _app(hamaynk_app_factory, [_module("broken_templates", register_services=lambda: [BROKEN])])
    filed = apply(app, "broken-output", data={"address": "Աբովյան 5"})
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, filed.id)
        step = workflow.current_step(application, workflow.service_of(application, plugin_runtime.registry(app)))
        department = workflow.responsible_department_id(db.session, application, step)
        user_id = staff_user(app, application.municipality_id, step.role, department, (application.created_by_id,))
        username = db.session.get(User, user_id).username
        version = application.version
    client = app.test_client()
    login(client, username, PASSWORD)
    client.get("/lang/en")
    response = client.post(f"/workspace/applications/{filed.id}/approve", data={"version": version, "confirmed": "1"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "the document template of this service has an error" in body and "broken_templates" in body
    with app.app_context():
        assert db.session.get(Application, filed.id).status == statuses.SUBMITTED
    assert _issued(app, filed.id) == []
