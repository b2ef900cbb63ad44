"""The case page tells staff why an action is not offered (issue 14, item 11), by the very
checks the actions run (workflow.unavailable_reasons)."""

from __future__ import annotations

import html
import re

import pytest

from app.domain import workflow
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Application
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, add_staff, count_statements, enable_service, file_application, login

RESIDENCE = "residence-certificate"
SELF_APPROVAL = (
    "You cannot approve this step: you filed this application or approved its previous step. "
    "Another colleague must approve it."
)
WRONG_ROLE = "Only staff with the role Specialist may act on this step."
TAKEN = "A colleague is already working on this application; the head of the department can hand it over to you."
WAITING = (
    "The application waits for the applicant's correction; its step can be approved, rejected or returned "
    "again once it is resubmitted."
)


@pytest.fixture
def staff(app):
    alpha = app.seeded["alpha"]
    enable_service(app, alpha, RESIDENCE)
    return {
        "registrar": add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry"),
        "registrar2": add_staff(app, alpha, "alpha.registrar2", [SPECIALIST], "civil_registry"),
        # Both roles: may approve the registry check and the signature, but not both.
        "both": add_staff(app, alpha, "alpha.registry.both", [SPECIALIST, HEAD], "civil_registry"),
        "beta": add_staff(app, app.seeded["beta"], "beta.registrar", [SPECIALIST], "civil_registry"),
    }


def reasons(app, application_id: int, user_id: int) -> list[str]:
    with app.test_request_context("/?_l_=en"):
        registry = plugin_runtime.registry(app)
        application = db.session.get(Application, application_id)
        actor = actor_for(user_id)
        offered = workflow.allowed_actions(db.session, application, actor=actor, registry=registry)
        offered += workflow.staff_actions(db.session, application, actor=actor, registry=registry)
        return workflow.unavailable_reasons(db.session, application, actor=actor, registry=registry, offered=offered)


def act(app, application_id: int, user_id: int, action: str, **given) -> None:
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        workflow.act(
            db.session,
            application,
            action=action,
            actor=actor_for(user_id),
            host=plugin_runtime.host(app),
            expected_version=application.version,
            **given,
        )
        db.session.commit()


def note_of(client, application_id: int) -> list[str] | None:
    page = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    found = re.search(r'<section aria-labelledby="unavailable-heading"[^>]*>(.*?)</section>', page, re.S)
    if found is None:
        return None
    assert "Why can't I act?" in html.unescape(found.group(1))
    items = re.findall(r"<li>(.*?)</li>", found.group(1), re.S)
    return [html.unescape(re.sub(r"\s+", " ", item).strip()) for item in items]


def as_user(client, username: str) -> None:
    login(client, username)
    client.get("/lang/en")


def test_who_may_act_gets_no_reasons_and_the_wrong_role_is_told_which_role(app, staff, client):
    application_id = file_application(app, RESIDENCE)
    assert reasons(app, application_id, staff["registrar"]) == []
    clerk = app.seeded["alpha"]["users"]["clerk"]
    assert reasons(app, application_id, clerk) == [WRONG_ROLE]
    as_user(client, "alpha.clerk")
    assert note_of(client, application_id) == [WRONG_ROLE]
    as_user(client, "alpha.registrar")
    assert note_of(client, application_id) is None


def test_self_approval_is_explained_at_the_step_that_forbids_it(app, staff, client):
    application_id = file_application(app, RESIDENCE)
    act(app, application_id, staff["both"], workflow.APPROVE)
    # At the signature: they may still reject, but not approve their own previous approval.
    assert reasons(app, application_id, staff["both"]) == [SELF_APPROVAL]
    as_user(client, "alpha.registry.both")
    assert note_of(client, application_id) == [SELF_APPROVAL]


def test_work_assigned_to_a_colleague_is_explained(app, staff, client):
    application_id = file_application(app, RESIDENCE)
    act(app, application_id, staff["registrar"], workflow.TAKE)
    assert reasons(app, application_id, staff["registrar2"]) == [TAKEN]
    # The one it is assigned to is told nothing.
    assert reasons(app, application_id, staff["registrar"]) == []
    as_user(client, "alpha.registrar2")
    assert note_of(client, application_id) == [TAKEN]


def test_a_returned_application_waits_for_the_applicant(app, staff, client):
    application_id = file_application(app, RESIDENCE)
    act(app, application_id, staff["registrar"], workflow.RETURN, what_to_fix="The address is missing.")
    assert reasons(app, application_id, staff["registrar"]) == [WAITING]
    as_user(client, "alpha.registrar")
    assert note_of(client, application_id) == [WAITING]


def test_nobody_outside_the_municipality_gets_reasons(app, staff):
    application_id = file_application(app, RESIDENCE)
    # Staff of another municipality (and so anyone but its own staff) are told nothing.
    assert reasons(app, application_id, staff["beta"]) == []


def test_the_reasons_cost_at_most_two_queries_on_the_case_page(app, staff, client, monkeypatch):
    application_id = file_application(app, RESIDENCE)
    act(app, application_id, staff["registrar"], workflow.TAKE)
    as_user(client, "alpha.registrar2")
    url = f"/workspace/applications/{application_id}"
    client.get(url)  # warm caches

    def page():
        assert client.get(url).status_code == 200

    with_reasons = count_statements(app, page)
    monkeypatch.setattr(workflow, "unavailable_reasons", lambda *args, **kwargs: [])
    without = count_statements(app, page)
    # The reasons run the checks the offered actions ran; what those read is remembered for
    # the request (app.domain.memo), so they cost nothing more (they cost two before).
    assert with_reasons - without <= 0, (with_reasons, without)
