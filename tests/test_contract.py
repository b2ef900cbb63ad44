"""The contract every service keeps, whatever it came from (built-in, installed plug-in,
definition file, service builder): a valid form is accepted, its documents attached, and
the application walks its route to "approved" and is handed over ("issued") — and,
separately, to "rejected" with a reason — leaving one history record per action, in order.
A service with an ``Output`` issues its document on approval, every refusal issues a refusal
decision: stored, with its sha256, and signed with the municipality's (demo) certificate.
"""

from __future__ import annotations

import hashlib
import io

import pytest
import yaml
from pyhanko.pdf_utils.reader import PdfFileReader
from pypdf import PdfReader
from sqlalchemy import select

from app.domain import signing, statuses, workflow
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, ApplicationDocument, IssuedDocument, TransitionRecord
from app.plugins import builder_services
from app.plugins import runtime as plugin_runtime
from app.plugins.host import build_plugin_host
from app.testing import actor_for, apply, sample_data, seed_municipality, staff_user, walk
from plugins import samples

FILE_SERVICE = {
    "key": "fence-permit",
    "version": 1,
    "title": {"hy": "Ցանկապատի թույլտվություն", "en": "Fence permit"},
    "fields": [
        {"name": "address", "type": "address", "label": {"hy": "Հասցե"}, "required": True},
        {
            "name": "height",
            "type": "decimal",
            "label": {"hy": "Բարձրություն"},
            "required": True,
            "min_value": 0.5,
            "max_value": 3,
        },
        {
            "name": "material",
            "type": "choice",
            "label": {"hy": "Նյութ"},
            "required": True,
            "choices": [{"value": "wood", "label": {"hy": "Փայտ"}}, {"value": "stone", "label": {"hy": "Քար"}}],
        },
        {
            "name": "stone_origin",
            "type": "text",
            "label": {"hy": "Քարի ծագում"},
            "visible_when": [{"field": "material", "op": "eq", "value": "stone"}],
            "required_when": [{"field": "material", "op": "eq", "value": "stone"}],
        },
    ],
    "documents": [{"key": "plan", "title": {"hy": "Հատակագիծ"}, "types": ["pdf"]}],
    "steps": [
        {"key": "review", "title": {"hy": "Ուսումնասիրում"}, "role": "specialist", "days": 3},
        {
            "key": "sign",
            "title": {"hy": "Ստորագրում"},
            "role": "head",
            "days": 1,
            "actions": ["approve", "reject"],
            "forbid_self_approval": True,
        },
    ],
}

BUILDER_SERVICE = {
    "key": "street-stall",
    "title": {"hy": "Փողոցային վաճառասեղան", "en": "Street stall"},
    "fee": 2000,
    "fields": [
        {"name": "owner_psn", "type": "psn", "label": {"hy": "ՀԾՀ"}, "required": True},
        {"name": "phone", "type": "phone", "label": {"hy": "Հեռախոս"}, "required": True},
        {"name": "start", "type": "date", "label": {"hy": "Սկիզբ"}, "required": True},
        {"name": "days", "type": "integer", "label": {"hy": "Օրեր"}, "required": True, "min_value": 1, "max_value": 30},
        {
            "name": "goods",
            "type": "multichoice",
            "label": {"hy": "Ապրանք"},
            "required": True,
            "choices": [{"value": "food", "label": {"hy": "Սնունդ"}}, {"value": "crafts", "label": {"hy": "Արհեստ"}}],
        },
        {
            "name": "hygiene_cert",
            "type": "text",
            "label": {"hy": "Սանիտարական վկայական"},
            "required_when": [{"field": "goods", "op": "eq", "value": "food"}],
        },
    ],
    "documents": [
        {"key": "photo", "title": {"hy": "Լուսանկար"}, "types": ["jpeg", "png"], "max_count": 2},
        {
            "key": "lease",
            "title": {"hy": "Վարձակալություն"},
            "required": False,
            "types": ["pdf"],
            "required_when": [{"field": "days", "op": "gt", "value": 7}],
        },
    ],
    "steps": [
        {"key": "check", "title": {"hy": "Ստուգում"}, "role": "clerk", "days": 1, "actions": ["approve", "return"]},
        {"key": "decide", "title": {"hy": "Որոշում"}, "role": "specialist", "days": 2, "department": "trade"},
    ],
}

# Rules a declaration cannot express (plug-in validators): the one input a generic filler cannot guess.


def _discovered() -> list[tuple[str, str]]:
    host = build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": True, "HAMAYNK_SERVICE_DIRS": []})
    cases = [(registered.source, registered.key) for registered in host.registry.latest()]
    return [*cases, ("file", FILE_SERVICE["key"]), ("builder", BUILDER_SERVICE["key"])]


CASES = _discovered()


def test_discovery_covers_every_source():
    sources = {source for source, _key in CASES}
    assert {"built-in", "installed", "file", "builder"} <= sources
    assert ("installed", "tree-felling") in CASES
    assert len([c for c in CASES if c[0] == "built-in"]) >= 7


SIGNING_PASSWORD = "contract-demo"
_DEMO_P12: list[bytes] = []


def _signing_dir(tmp_path):
    """A signing folder with a demo certificate for "alpha" (made once per process)."""
    folder = tmp_path / "signing"
    folder.mkdir(exist_ok=True)
    if not _DEMO_P12:
        signing.make_demo_certificate(folder / "alpha.p12", SIGNING_PASSWORD, "Alpha (contract demo)")
        _DEMO_P12.append((folder / "alpha.p12").read_bytes())
    (folder / "alpha.p12").write_bytes(_DEMO_P12[0])
    return folder


def make_app(hamaynk_app_factory, tmp_path):
    folder = tmp_path / "services"
    folder.mkdir(exist_ok=True)
    (folder / "fence.yaml").write_text(yaml.safe_dump(FILE_SERVICE, allow_unicode=True), encoding="utf-8")
    app = hamaynk_app_factory(
        plugins=[],
        HAMAYNK_LOAD_ENTRYPOINTS=True,
        HAMAYNK_SERVICE_DIRS=[str(folder)],
        HAMAYNK_SIGNING_DIR=str(_signing_dir(tmp_path)),
        HAMAYNK_SIGNING_PASSWORD=SIGNING_PASSWORD,
    )
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    with app.app_context():
        builder_services.save(
            db.session,
            BUILDER_SERVICE,
            mode=builder_services.CREATE,
            owner_municipality_id=None,
            actor_id=None,
            viewer_municipality_ids=None,
            app=app,
        )
        db.session.commit()
    builder_services.refresh(app)
    return app


def _filed_and_checked(app, key: str):
    registered = plugin_runtime.registry(app).get(key)
    data = sample_data(registered.service, samples.overrides(key))
    filed = apply(app, key, data=data)
    assert filed.status in (statuses.SUBMITTED, statuses.APPROVED)
    with app.app_context():
        application = db.session.get(Application, filed.id)
        kept = {
            d.requirement_key
            for d in db.session.execute(
                select(ApplicationDocument).where(ApplicationDocument.application_id == filed.id)
            ).scalars()
        }
        required = {d.key for d in registered.service.documents if d.is_required(application.data)}
        assert required <= kept, f"documents missing: {required - kept}"
        route = [step.key for step in registered.service.route(application.data)]
    return filed, registered, route


def _history(app, application_id: int) -> list[tuple[str, str | None, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(TransitionRecord)
            .where(TransitionRecord.application_id == application_id)
            .order_by(TransitionRecord.id)
        ).scalars()
        return [(r.action, r.step_key, r.to_status) for r in rows]


def _issued_documents(app, application_id: int) -> list[tuple[IssuedDocument, bytes]]:
    """The application's issued documents with their stored bytes, each checked: stored once
    with its sha256 and size, and carrying a PAdES signature."""
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
    found = []
    for row in rows:
        with get_storage(app).open(row.storage_key) as stream:
            pdf = stream.read()
        assert pdf.startswith(b"%PDF-") and row.size == len(pdf)
        assert row.sha256 == hashlib.sha256(pdf).hexdigest()
        assert row.signed
        [signature] = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
        assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
        found.append((row, pdf))
    return found


def _hand_over(app, application_id: int) -> str:
    """The result reaches the applicant at the front office: the application is "issued"."""
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        clerk = staff_user(app, application.municipality_id, "clerk")
        workflow.hand_over(
            db.session,
            application,
            actor=actor_for(clerk),
            expected_version=application.version,
            method="in_person",
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
        return application.status


@pytest.mark.parametrize(("source", "key"), CASES, ids=[f"{s}:{k}" for s, k in CASES])
def test_happy_path(hamaynk_app_factory, tmp_path, source, key):
    app = make_app(hamaynk_app_factory, tmp_path)
    registered = plugin_runtime.registry(app).get(key)
    assert registered is not None and registered.source == source
    filed, _registered, route = _filed_and_checked(app, key)
    assert walk(app, filed.id, outcome="approved") == statuses.APPROVED
    issued = _issued_documents(app, filed.id)
    if registered.service.output is not None:
        [(document, _pdf)] = issued
        assert (document.kind, document.number) == ("approval", f"{filed.tracking_number}/1")
    else:
        assert issued == []  # nothing to issue: the service declares no document
    assert _hand_over(app, filed.id) == statuses.ISSUED
    expected = [(workflow.SUBMIT, route[0] if route else None, statuses.SUBMITTED if route else statuses.APPROVED)]
    for index, step in enumerate(route):
        expected.append((workflow.APPROVE, step, statuses.APPROVED if index == len(route) - 1 else statuses.IN_REVIEW))
    expected.append((workflow.HAND_OVER, None, statuses.ISSUED))
    assert _history(app, filed.id) == expected
    assert len(_issued_documents(app, filed.id)) == len(issued)  # handing over issues nothing new


def test_every_builtin_service_issues_a_document():
    host = build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": True, "HAMAYNK_SERVICE_DIRS": []})
    builtin = [r for r in host.registry.latest() if r.source in ("built-in", "installed")]
    assert builtin and all(r.service.output is not None for r in builtin)


@pytest.mark.parametrize(("source", "key"), CASES, ids=[f"{s}:{k}" for s, k in CASES])
def test_rejection_path(hamaynk_app_factory, tmp_path, source, key):
    app = make_app(hamaynk_app_factory, tmp_path)
    filed, registered, route = _filed_and_checked(app, key)
    steps = [registered.service.step(k) for k in route]
    rejecting = next((i for i, step in enumerate(steps) if workflow.REJECT in step.actions), None)
    assert rejecting is not None, f"{key} has no step that may reject"
    assert walk(app, filed.id, outcome="rejected", reason="Not in the plan") == statuses.REJECTED
    expected = [(workflow.SUBMIT, route[0], statuses.SUBMITTED)]
    expected += [(workflow.APPROVE, route[i], statuses.IN_REVIEW) for i in range(rejecting)]
    expected.append((workflow.REJECT, route[rejecting], statuses.REJECTED))
    assert _history(app, filed.id) == expected
    with app.app_context():
        last = db.session.execute(
            select(TransitionRecord)
            .where(TransitionRecord.application_id == filed.id)
            .order_by(TransitionRecord.id.desc())
            .limit(1)
        ).scalar_one()
        assert last.comment == "Not in the plan"
    [(document, pdf)] = _issued_documents(app, filed.id)
    assert (document.kind, document.number) == ("rejection", f"{filed.tracking_number}/1")
    assert "Not in the plan" in "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_application_in_flight_keeps_its_builder_version(hamaynk_app_factory, tmp_path):
    app = make_app(hamaynk_app_factory, tmp_path)
    key = BUILDER_SERVICE["key"]
    old = apply(app, key)
    # Version 2: a new required field and a different route.
    v2 = dict(BUILDER_SERVICE)
    v2["fields"] = BUILDER_SERVICE["fields"] + [
        {"name": "stall_size", "type": "integer", "label": {"hy": "Չափ"}, "required": True}
    ]
    v2["steps"] = [{"key": "approval", "title": {"hy": "Հաստատում"}, "role": "head", "days": 2}]
    with app.app_context():
        row = builder_services.save(
            db.session,
            v2,
            mode=builder_services.EDIT,
            owner_municipality_id=None,
            actor_id=None,
            viewer_municipality_ids=None,
            key=key,
            app=app,
        )
        db.session.commit()
        assert row.version == 2
    builder_services.refresh(app)
    registry = plugin_runtime.registry(app)
    assert registry.get(key).version == 2
    assert [s.key for s in registry.get(key, 1).service.steps] == ["check", "decide"]
    with app.app_context():
        application = db.session.get(Application, old.id)
        assert application.service_version == 1
        assert workflow.service_of(application, plugin_runtime.registry(app)).step("check") is not None
    assert walk(app, old.id) == statuses.APPROVED
    assert [step for _action, step, _status in _history(app, old.id)] == ["check", "check", "decide"]
    new = apply(app, key, data=sample_data(registry.get(key).service))
    with app.app_context():
        application = db.session.get(Application, new.id)
        assert (application.service_version, application.current_step) == (2, "approval")
    assert walk(app, new.id) == statuses.APPROVED


@pytest.mark.parametrize(("source", "key"), CASES, ids=[f"{s}:{k}" for s, k in CASES])
def test_correction_path(hamaynk_app_factory, tmp_path, source, key):
    """Returned for correction at the first step that may return, resubmitted by the clerk who
    filed it, then approved to the end; every act is in the history, in order."""
    app = make_app(hamaynk_app_factory, tmp_path)
    filed, registered, route = _filed_and_checked(app, key)
    steps = [registered.service.step(k) for k in route]
    returning = next((i for i, step in enumerate(steps) if workflow.RETURN in step.actions), None)
    assert returning is not None, f"{key} has no step that may return an application for correction"
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, filed.id)
        for step in steps[:returning]:
            actor = staff_user(
                app,
                application.municipality_id,
                step.role,
                workflow.responsible_department_id(db.session, application, step),
                exclude=[application.created_by_id],
            )
            workflow.approve(
                db.session,
                application,
                actor=actor_for(actor),
                expected_version=application.version,
                host=plugin_runtime.host(app),
            )
            workflow.commit(db.session)
        step = steps[returning]
        actor = staff_user(
            app,
            application.municipality_id,
            step.role,
            workflow.responsible_department_id(db.session, application, step),
            exclude=[application.created_by_id],
        )
        workflow.return_for_correction(
            db.session,
            application,
            actor=actor_for(actor),
            expected_version=application.version,
            what_to_fix="The scan is unreadable",
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
        assert application.status == statuses.RETURNED
        workflow.resubmit(
            db.session,
            application,
            actor=actor_for(application.created_by_id),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
        assert (application.status, application.current_step) == (statuses.IN_REVIEW, step.key)
    assert walk(app, filed.id, outcome="approved") == statuses.APPROVED
    history = _history(app, filed.id)
    expected = [(workflow.SUBMIT, route[0], statuses.SUBMITTED)]
    expected += [(workflow.APPROVE, route[i], statuses.IN_REVIEW) for i in range(returning)]
    expected += [
        (workflow.RETURN, route[returning], statuses.RETURNED),
        (workflow.RESUBMIT, route[returning], statuses.IN_REVIEW),
    ]
    expected += [
        (workflow.APPROVE, route[i], statuses.APPROVED if i == len(route) - 1 else statuses.IN_REVIEW)
        for i in range(returning, len(route))
    ]
    assert history == expected
