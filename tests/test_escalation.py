"""escalate_overdue on a real database, without Huey: who is told about an overdue step,
exactly once, never across municipalities, and never while the citizen has the ball; its
audit event goes through the one writer."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from app.domain import deadlines, notifications, statuses, workflow
from app.domain.escalation import escalate_overdue
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, AuditEvent, Department, Notification
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, add_staff, enable_service

SERVICE_KEY = "residence-certificate"
DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}


def set_up(app, key: str, *, head_user: bool = True) -> dict:
    """Offer the residence certificate; civil-registry staff; the registry's head recorded
    on the department (unless ``head_user`` is False)."""
    municipality = app.seeded[key]
    code = municipality["code"]
    people = dict(municipality["users"])
    people["registrar"] = add_staff(app, municipality, f"{code}.registrar", [SPECIALIST], "civil_registry")
    people["registry_head"] = add_staff(app, municipality, f"{code}.registry_head", [HEAD], "civil_registry")
    with app.app_context():
        enable_service(app, municipality["id"], SERVICE_KEY)
        if head_user:
            db.session.get(Department, municipality["departments"]["civil_registry"]).head_user_id = people[
                "registry_head"
            ]
        db.session.commit()
    municipality["people"] = people
    return people


def file_overdue(app, key: str = "alpha", *, days_late: int = 3) -> int:
    """A submitted application whose first step was due ``days_late`` days ago."""
    municipality = app.seeded[key]
    clerk = municipality["users"]["clerk"]
    with app.app_context():
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        application, _ = workflow.new_application(
            db.session,
            service=service,
            municipality_id=municipality["id"],
            data=DATA,
            applicant_name="Armen",
            created_by_id=clerk,
            channel="office",
        )
        workflow.submit(
            db.session,
            application,
            actor=actor_for(clerk),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        application.step_due_at = deadlines.end_of_day(deadlines.today() - dt.timedelta(days=days_late))
        db.session.commit()
        return application.id


def run(app, on: dt.date | None = None) -> list[tuple[int, str, int]]:
    """Escalate and commit; (application, channel, recipient) of what was written."""
    with app.app_context():
        written = escalate_overdue(db.session, on, registry=plugin_runtime.registry(app), config=app.config)
        db.session.commit()
        return sorted((n.application_id, n.channel, n.recipient_user_id) for n in written)


def all_notifications(app) -> list[Notification]:
    with app.app_context():
        rows = db.session.execute(select(Notification).order_by(Notification.id)).scalars().all()
        db.session.expunge_all()
        return rows


def test_overdue_step_notifies_the_department_head_once(app):
    people = set_up(app, "alpha")
    application_id = file_overdue(app)
    first = run(app)
    assert first == [
        (application_id, "email", people["registry_head"]),
        (application_id, "inapp", people["registry_head"]),
    ]
    assert run(app) == []  # idempotent: the second run finds the marker
    rows = all_notifications(app)
    assert len(rows) == 2
    email = next(r for r in rows if r.channel == notifications.EMAIL)
    inapp = next(r for r in rows if r.channel == notifications.INAPP)
    assert email.status == notifications.PENDING and email.recipient_address == "alpha.registry_head@test.example"
    assert inapp.status == notifications.SENT
    assert email.step_key == "registry_check" and email.kind == "escalation"
    with app.app_context():
        tracking = db.session.get(Application, application_id).tracking_number
        (event,) = db.session.execute(select(AuditEvent).where(AuditEvent.action == "application.escalate")).scalars()
        assert (event.actor_id, event.municipality_id, event.object_type, event.object_id) == (
            None,
            app.seeded["alpha"]["id"],
            "application",
            str(application_id),
        )
        assert event.details["step"] == "registry_check"
        assert event.details["recipients"] == [people["registry_head"]]
    assert tracking in email.subject and tracking in email.body
    # A link in an e-mail must be a whole address, not a path.
    assert f"http://127.0.0.1:5000/workspace/applications/{application_id}" in email.body
    assert email.language == "hy" and email.municipality_id == app.seeded["alpha"]["id"]


def test_in_review_step_after_an_approval_is_escalated_too(app):
    people = set_up(app, "alpha")
    application_id = file_overdue(app)
    with app.app_context():
        application = db.session.get(Application, application_id)
        workflow.approve(
            db.session,
            application,
            actor=actor_for(people["registrar"]),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        application.step_due_at = deadlines.end_of_day(deadlines.today() - dt.timedelta(days=1))
        db.session.commit()
        assert application.status == statuses.IN_REVIEW and application.current_step == "signature"
    assert [r[2] for r in run(app)] == [people["registry_head"]] * 2


def test_not_overdue_is_not_notified(app):
    set_up(app, "alpha")
    application_id = file_overdue(app, days_late=0)  # due at the end of today: not late yet
    assert run(app) == []
    # As seen from the day after, it is.
    assert {r[0] for r in run(app, deadlines.today() + dt.timedelta(days=1))} == {application_id}


def test_returned_for_correction_is_suspended_and_not_notified(app):
    people = set_up(app, "alpha")
    application_id = file_overdue(app)
    with app.app_context():
        application = db.session.get(Application, application_id)
        workflow.return_for_correction(
            db.session,
            application,
            actor=actor_for(people["registrar"]),
            expected_version=application.version,
            what_to_fix="Attach the passport.",
            host=plugin_runtime.host(app),
        )
        db.session.commit()
    assert run(app) == []
    assert all_notifications(app) == []


def test_another_municipality_head_is_never_notified(app):
    alpha = set_up(app, "alpha")
    beta = set_up(app, "beta")
    alpha_app = file_overdue(app, "alpha")
    beta_app = file_overdue(app, "beta")
    # A mistake in the data: alpha's registry names beta's head as its head.
    with app.app_context():
        db.session.get(Department, app.seeded["alpha"]["departments"]["civil_registry"]).head_user_id = beta[
            "registry_head"
        ]
        db.session.commit()
    written = run(app)
    by_application = {}
    for application_id, _channel, user_id in written:
        by_application.setdefault(application_id, set()).add(user_id)
    assert by_application == {alpha_app: {alpha["registry_head"]}, beta_app: {beta["registry_head"]}}
    for row in all_notifications(app):
        expected = app.seeded["alpha"]["id"] if row.application_id == alpha_app else app.seeded["beta"]["id"]
        assert row.municipality_id == expected


def test_fallback_to_heads_of_the_department_then_the_municipal_admin(app):
    people = set_up(app, "alpha", head_user=False)
    second_head = add_staff(app, app.seeded["alpha"], "alpha.registry_head2", [HEAD], "civil_registry")
    add_staff(app, app.seeded["alpha"], "alpha.retired_head", [HEAD], "civil_registry", active=False)
    first = file_overdue(app)
    assert {r[2] for r in run(app)} == {people["registry_head"], second_head}
    # No head in the department at all: the municipal administrator hears of it.
    with app.app_context():
        from flask_appbuilder.security.sqla.models import User

        for uid in (people["registry_head"], second_head):
            db.session.get(User, uid).active = False
        db.session.commit()
    second = file_overdue(app)
    written = run(app)
    assert {(r[0], r[2]) for r in written} == {(second, people["municipal_admin"])}
    assert first not in {r[0] for r in written}


def test_an_extended_deadline_that_passes_again_escalates_again(app):
    people = set_up(app, "alpha")
    application_id = file_overdue(app)
    assert len(run(app)) == 2
    with app.app_context():
        application = db.session.get(Application, application_id)
        application.step_due_at = deadlines.end_of_day(deadlines.today() - dt.timedelta(days=1))
        db.session.commit()
    assert {r[2] for r in run(app)} == {people["registry_head"]}
    assert len(all_notifications(app)) == 4


@pytest.mark.parametrize("language", ["en", "ru"])
def test_texts_are_written_in_the_recipients_language(app, language):
    app.config["BABEL_DEFAULT_LOCALE"] = language
    set_up(app, "alpha")
    file_overdue(app)
    run(app)
    rows = all_notifications(app)
    assert {r.language for r in rows} == {language}
    if language == "en":
        assert rows[0].subject.startswith("Overdue")


def test_audit_events_are_written_only_by_the_audit_module():
    """app.domain.audit.record is the one writer (the escalation used to build its own)."""
    root = Path(__file__).resolve().parent.parent
    writers = []
    for path in sorted([*(root / "app").rglob("*.py"), *(root / "plugins").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "AuditEvent"
            ):
                writers.append(str(path.relative_to(root)))
    assert writers == ["app/domain/audit.py"]
