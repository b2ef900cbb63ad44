"""Hand-over: after the last approval the result reaches the applicant (in person, by post,
online); the act records how, by whom and when, and the application is issued and closed.
Who may: a front-office clerk of the municipality, or the staff of the step that approved it
last (its role in its department)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.domain import statuses, workflow
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed
from app.domain.roles import CLERK, HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, TransitionRecord
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, actor_for, add_staff, enable_service, file_application, login

SERVICE_KEY = "residence-certificate"
DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}


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


def run(app, application_id: int, who: str, action: str, **fields):
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
                **fields,
            )
            workflow.commit(db.session)
            return record.id
        except Exception:
            db.session.rollback()
            raise


def state(app, application_id: int) -> dict:
    with app.app_context():
        a = db.session.get(Application, application_id)
        history = db.session.execute(
            select(
                TransitionRecord.action,
                TransitionRecord.actor_id,
                TransitionRecord.to_status,
                TransitionRecord.details,
                TransitionRecord.comment,
            )
            .where(TransitionRecord.application_id == application_id)
            .order_by(TransitionRecord.id)
        ).all()
        return {
            "status": a.status,
            "version": a.version,
            "closed_at": a.closed_at,
            "history": [tuple(h) for h in history],
        }


def approved(app, people) -> int:
    application_id = file_application(app, SERVICE_KEY, data=DATA, by=people["front_clerk"])
    run(app, application_id, "registrar", "approve")
    run(app, application_id, "registry_head", "approve")
    assert state(app, application_id)["status"] == statuses.APPROVED
    return application_id


def allowed(app, application_id: int, who: str) -> list[str]:
    with app.app_context():
        application = db.session.get(Application, application_id)
        return workflow.allowed_actions(
            db.session,
            application,
            actor=actor_for(app.seeded["alpha"]["people"][who]),
            registry=plugin_runtime.registry(app),
        )


@pytest.mark.parametrize(("who", "method"), [("clerk", "in_person"), ("registry_head", "post")])
def test_the_clerk_or_the_last_steps_staff_hands_over_and_the_case_is_issued_and_closed(app, people, who, method):
    application_id = approved(app, people)
    run(app, application_id, who, "hand_over", method=method, comment="Registered mail RR123")
    after = state(app, application_id)
    assert after["status"] == statuses.ISSUED and after["closed_at"] is not None
    action, actor_id, to_status, details, comment = after["history"][-1]
    assert (action, actor_id, to_status, details, comment) == (
        "hand_over",
        people[who],
        statuses.ISSUED,
        {"method": method},
        "Registered mail RR123",
    )
    # Issued is final.
    assert allowed(app, application_id, "clerk") == []
    with pytest.raises(InvalidAction):
        run(app, application_id, "clerk", "hand_over", method="online")


def test_who_may_hand_over(app, people):
    application_id = approved(app, people)
    assert "hand_over" in allowed(app, application_id, "clerk")
    assert "hand_over" in allowed(app, application_id, "registry_head")
    # The registrar approved the first step, not the last; urban planning and the auditor are no one's.
    for who in ("registrar", "specialist", "head", "auditor"):
        assert "hand_over" not in allowed(app, application_id, who), who
    before = state(app, application_id)
    for who in ("registrar", "specialist", "head"):
        with pytest.raises(NotAllowed):
            run(app, application_id, who, "hand_over", method="in_person")
    beta_clerk = app.seeded["beta"]["users"]["clerk"]
    with app.app_context():
        application = db.session.get(Application, application_id)
        with pytest.raises(NotAllowed):
            workflow.hand_over(
                db.session,
                application,
                actor=actor_for(beta_clerk),
                expected_version=application.version,
                method="in_person",
                host=plugin_runtime.host(app),
            )
        db.session.rollback()
    assert state(app, application_id) == before


@pytest.mark.parametrize("method", [None, "", "carrier pigeon", "IN_PERSON"])
def test_the_method_is_required_and_must_be_known(app, people, method):
    application_id = approved(app, people)
    before = state(app, application_id)
    with pytest.raises(workflow.InvalidInput) as refused:
        run(app, application_id, "clerk", "hand_over", method=method)
    assert set(refused.value.errors) == {"method"}
    assert state(app, application_id) == before


def test_only_an_approved_application_can_be_handed_over(app, people):
    application_id = file_application(app, SERVICE_KEY, data=DATA, by=people["front_clerk"])
    before = state(app, application_id)
    assert "hand_over" not in allowed(app, application_id, "clerk")
    with pytest.raises(InvalidAction):
        run(app, application_id, "clerk", "hand_over", method="in_person")
    assert state(app, application_id) == before


def test_a_stale_hand_over_changes_nothing(app, people):
    application_id = approved(app, people)
    before = state(app, application_id)
    with pytest.raises(ChangedMeanwhile):
        run(app, application_id, "clerk", "hand_over", method="online", expected_version=before["version"] - 1)
    assert state(app, application_id) == before


def test_the_workspace_and_the_api_hand_over(app, people, client):
    first, second = approved(app, people), approved(app, people)
    login(client, "alpha.clerk", PASSWORD)
    client.get("/lang/en")
    page = client.get(f"/workspace/applications/{first}").get_data(as_text=True)
    assert 'name="method" value="in_person"' in page and "Hand over the result" in page
    version = state(app, first)["version"]
    missing = client.post(f"/workspace/applications/{first}/hand_over", data={"version": version})
    assert missing.status_code == 400 and "in person, by post or online" in missing.get_data(as_text=True)
    done = client.post(f"/workspace/applications/{first}/hand_over", data={"version": version, "method": "post"})
    assert done.status_code == 303
    page = client.get(f"/workspace/applications/{first}").get_data(as_text=True)
    assert "Handed over: By post" in page and "Hand over the result" not in page

    response = client.post(
        "/api/v1/security/login", json={"username": "alpha.clerk", "password": PASSWORD, "provider": "db"}
    )
    headers = {"Authorization": f"Bearer {response.json['access_token']}"}
    url = f"/api/v1/applications/{second}/actions"
    version = state(app, second)["version"]
    bad = client.post(url, json={"action": "hand_over", "expected_version": version, "method": 3}, headers=headers)
    assert bad.status_code == 400 and set(bad.json["errors"]) == {"method"}
    ok = client.post(
        url, json={"action": "hand_over", "expected_version": version, "method": "online"}, headers=headers
    )
    assert ok.status_code == 200
    result = ok.json["result"]
    assert result["status"] == statuses.ISSUED and result["closed_at"] is not None
    # Closed applications are read-only (docs/security.md): not even a comment is offered.
    assert result["history"][-1]["details"] == {"method": "online"} and result["allowed_actions"] == []
