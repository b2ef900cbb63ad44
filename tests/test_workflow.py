"""The workflow engine on a real database: the residence certificate from submission to
approval, corrections, rejections, who may act, self-approval, history, hooks, and
concurrent approvals (SQLite file and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from app import testing
from app.domain import statuses, workflow
from app.domain.activations import set_activation
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed, TransitionVetoed
from app.domain.roles import CLERK, HEAD, SPECIALIST
from app.domain.tracking import is_valid_tracking_number, verify_access_secret
from app.extensions import db
from app.models import Application, AuditEvent, DeadlineAdjustment, TransitionRecord
from app.models.guards import AppendOnlyError
from app.plugins import runtime as plugin_runtime
from app.sdk import Step, hookimpl
from app.testing import actor_for, add_staff, builtin_plugins, enable_service, make_app, seed_municipality

SERVICE_KEY = "residence-certificate"
DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}
PG_DATABASE = "hamaynk_test_workflow"


# -- helpers -------------------------------------------------------------------------------


def set_up(app, municipality_key: str = "alpha") -> dict:
    """Offer the residence certificate and add civil-registry staff (the seed puts its
    specialist and head in urban planning)."""
    municipality = app.seeded[municipality_key]
    code = municipality["code"]
    people = dict(municipality["users"])
    people["registrar"] = add_staff(app, municipality, f"{code}.registrar", [SPECIALIST], "civil_registry")
    people["registrar2"] = add_staff(app, municipality, f"{code}.registrar2", [SPECIALIST], "civil_registry")
    people["registry_head"] = add_staff(app, municipality, f"{code}.registry_head", [HEAD], "civil_registry")
    people["registry_head2"] = add_staff(app, municipality, f"{code}.registry_head2", [HEAD], "civil_registry")
    people["front_clerk"] = add_staff(app, municipality, f"{code}.front_clerk", [CLERK], "front_office")
    with app.app_context():
        enable_service(app, municipality["id"], SERVICE_KEY)
        db.session.commit()
    municipality["people"] = people
    return people


def file_application(
    app, municipality_key: str = "alpha", *, by: str = "front_clerk", submit: bool = True, data=None
) -> int:
    people = app.seeded[municipality_key]["people"]
    return testing.file_application(app, SERVICE_KEY, municipality_key, data=data or DATA, by=people[by], submit=submit)


def act(app, application_id: int, action: str, actor: str, municipality_key: str = "alpha", **kwargs):
    """Run one workflow action in its own transaction, as a view would."""
    people = app.seeded[municipality_key]["people"]
    with app.app_context():
        application = db.session.get(Application, application_id)
        kwargs.setdefault("expected_version", application.version)
        if action == "comment":
            kwargs.pop("expected_version")
        try:
            record = getattr(workflow, action)(
                db.session, application, actor=actor_for(people[actor]), host=plugin_runtime.host(app), **kwargs
            )
            db.session.commit()
            return record.id
        except Exception:
            db.session.rollback()
            raise


def allowed(app, application: Application, user_id: int) -> list[str]:
    return workflow.allowed_actions(
        db.session, application, actor=actor_for(user_id), registry=plugin_runtime.registry(app)
    )


def load(app, application_id: int) -> dict:
    with app.app_context():
        a = db.session.get(Application, application_id)
        records = (
            db.session.execute(
                select(TransitionRecord)
                .where(TransitionRecord.application_id == application_id)
                .order_by(TransitionRecord.id)
            )
            .scalars()
            .all()
        )
        return {
            "status": a.status,
            "step": a.current_step,
            "version": a.version,
            "due_at": a.due_at,
            "step_due_at": a.step_due_at,
            "assignee_id": a.assignee_id,
            "closed_at": a.closed_at,
            "history": [(r.action, r.step_key, r.from_status, r.to_status, r.actor_id, r.comment) for r in records],
        }


@pytest.fixture
def people(app):
    return set_up(app)


# -- the happy path ------------------------------------------------------------------------


def test_residence_certificate_walks_from_draft_to_approved(app, people):
    alpha = app.seeded["alpha"]
    with app.app_context():
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        application, secret = workflow.new_application(
            db.session,
            service=service,
            municipality_id=alpha["id"],
            data=DATA,
            applicant_name="Armen Petrosyan",
            created_by_id=people["front_clerk"],
            channel="office",
        )
        db.session.commit()
        assert application.status == statuses.DRAFT
        assert is_valid_tracking_number(application.tracking_number)
        assert verify_access_secret(secret, application.access_secret_hash)
        assert secret not in application.access_secret_hash
        application_id = application.id
        assert workflow.history(db.session, application) == []

    act(app, application_id, "submit", "front_clerk")
    state = load(app, application_id)
    assert (state["status"], state["step"]) == (statuses.SUBMITTED, "registry_check")
    assert state["due_at"] is not None and state["step_due_at"] is not None

    act(app, application_id, "approve", "registrar", comment="Registered at the address since 2019.")
    state = load(app, application_id)
    assert (state["status"], state["step"]) == (statuses.IN_REVIEW, "signature")

    act(app, application_id, "approve", "registry_head")
    state = load(app, application_id)
    assert (state["status"], state["step"], state["step_due_at"]) == (statuses.APPROVED, None, None)
    assert state["history"] == [
        ("submit", "registry_check", statuses.DRAFT, statuses.SUBMITTED, people["front_clerk"], None),
        (
            "approve",
            "registry_check",
            statuses.SUBMITTED,
            statuses.IN_REVIEW,
            people["registrar"],
            "Registered at the address since 2019.",
        ),
        ("approve", "signature", statuses.IN_REVIEW, statuses.APPROVED, people["registry_head"], None),
    ]
    # Approved waits for the issued document; nothing more to approve or reject.
    with pytest.raises(InvalidAction):
        act(app, application_id, "reject", "registry_head", reason="changed my mind")


def test_every_transition_bumps_the_version_and_comments_do_not(app, people):
    application_id = file_application(app)
    before = load(app, application_id)["version"]
    act(app, application_id, "comment", "registrar", text="Checking with the passport office.")
    assert load(app, application_id)["version"] == before
    act(app, application_id, "approve", "registrar")
    assert load(app, application_id)["version"] == before + 1


def test_a_municipality_that_does_not_offer_the_service_cannot_file_it(app, people):
    beta = app.seeded["beta"]
    with app.app_context():
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        with pytest.raises(NotAllowed):
            workflow.new_application(
                db.session, service=service, municipality_id=beta["id"], data=DATA, applicant_name="X", channel="office"
            )


def test_the_channel_must_be_named_and_known(app, people):
    alpha = app.seeded["alpha"]
    with app.app_context():
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        draft = {"service": service, "municipality_id": alpha["id"], "data": DATA, "applicant_name": "X"}
        with pytest.raises(TypeError, match="channel"):
            workflow.new_application(db.session, **draft)
        with pytest.raises(ValueError, match="unknown channel 'fax'"):
            workflow.new_application(db.session, **draft, channel="fax")
        db.session.rollback()
        assert db.session.execute(select(func.count()).select_from(Application)).scalar() == 0
        application, _secret = workflow.new_application(db.session, **draft, channel="api")
        assert application.channel == "api"
        db.session.rollback()


def test_allowed_actions_match_what_the_actions_accept(app, people):
    application_id = file_application(app)
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert allowed(app, application, people["registrar"]) == ["approve", "reject", "return"]
        assert allowed(app, application, people["specialist"]) == []  # urban planning
        assert allowed(app, application, people["front_clerk"]) == ["withdraw"]
    act(app, application_id, "approve", "registrar")
    with app.app_context():
        application = db.session.get(Application, application_id)
        # The signature step allows no return.
        assert allowed(app, application, people["registry_head"]) == ["approve", "reject"]


# -- corrections and rejections --------------------------------------------------------------


def test_return_for_correction_and_resubmission_go_back_to_the_same_step(app, people):
    application_id = file_application(app)
    act(app, application_id, "approve", "registrar")
    # Back at step one via a second application: the signature step cannot return.
    with pytest.raises(InvalidAction):
        act(app, application_id, "return_for_correction", "registry_head", what_to_fix="Sign the form.")

    other = file_application(app)
    act(
        app,
        other,
        "return_for_correction",
        "registrar",
        what_to_fix="The passport scan is unreadable; attach a clearer one.",
        fields=["address"],
    )
    state = load(app, other)
    assert (state["status"], state["step"]) == (statuses.RETURNED, "registry_check")
    assert state["history"][-1][0] == "return"
    assert state["history"][-1][5] == "The passport scan is unreadable; attach a clearer one."
    # Nobody can approve while it waits on the applicant.
    with pytest.raises(InvalidAction):
        act(app, other, "approve", "registrar")

    corrected = dict(DATA, address="Abovyan, Kotayk 2")
    act(app, other, "resubmit", "front_clerk", data=corrected, comment="New scan attached.")
    state = load(app, other)
    assert (state["status"], state["step"]) == (statuses.IN_REVIEW, "registry_check")
    assert state["history"][-1][:4] == ("resubmit", "registry_check", statuses.RETURNED, statuses.IN_REVIEW)
    with app.app_context():
        assert db.session.get(Application, other).data["address"] == "Abovyan, Kotayk 2"
    act(app, other, "approve", "registrar")
    act(app, other, "approve", "registry_head")
    assert load(app, other)["status"] == statuses.APPROVED


def test_the_citizen_who_applied_online_may_resubmit(app, people):
    alpha = app.seeded["alpha"]
    with app.app_context():
        citizen_id = app.appbuilder.sm.find_user(username="citizen").id
        service = plugin_runtime.registry(app).get(SERVICE_KEY).service
        application, _ = workflow.new_application(
            db.session,
            service=service,
            municipality_id=alpha["id"],
            data=DATA,
            applicant_name="Cit Izen",
            applicant_user_id=citizen_id,
            created_by_id=citizen_id,
            channel="online",
        )
        workflow.submit(
            db.session,
            application,
            actor=actor_for(citizen_id),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        db.session.commit()
        application_id = application.id
    people["citizen"] = citizen_id
    act(app, application_id, "return_for_correction", "registrar", what_to_fix="Attach your ID card.")
    act(app, application_id, "resubmit", "citizen")
    assert load(app, application_id)["status"] == statuses.IN_REVIEW
    # A citizen is no staff: no internal comments, no approvals.
    with pytest.raises(NotAllowed):
        act(app, application_id, "comment", "citizen", text="hello")
    with pytest.raises(NotAllowed):
        act(app, application_id, "approve", "citizen")


def test_another_citizen_cannot_resubmit(app, people):
    application_id = file_application(app)
    act(app, application_id, "return_for_correction", "registrar", what_to_fix="Attach your ID card.")
    with app.app_context():
        people["citizen"] = app.appbuilder.sm.find_user(username="citizen").id
    with pytest.raises(NotAllowed):
        act(app, application_id, "resubmit", "citizen")


def test_rejection_needs_a_reason_and_is_final(app, people):
    application_id = file_application(app)
    before = load(app, application_id)
    for blank in ("", "   ", None):
        with pytest.raises(InvalidAction) as refused:
            act(app, application_id, "reject", "registrar", reason=blank)
        with force_locale("en"):
            assert str(refused.value) == "Give the reason for the rejection."
    assert load(app, application_id) == before  # nothing written

    act(app, application_id, "reject", "registrar", reason="Nobody is registered at this address.")
    state = load(app, application_id)
    assert state["status"] == statuses.REJECTED and state["closed_at"] is not None
    assert state["history"][-1][:4] == ("reject", "registry_check", statuses.SUBMITTED, statuses.REJECTED)
    assert state["history"][-1][5] == "Nobody is registered at this address."
    for action, kwargs in (
        ("approve", {}),
        ("reject", {"reason": "again"}),
        ("return_for_correction", {"what_to_fix": "x"}),
        ("resubmit", {}),
        ("withdraw", {}),
        ("extend_deadline", {"days": 1, "reason": "x"}),
    ):
        with pytest.raises(InvalidAction):
            act(app, application_id, action, "registry_head" if action == "extend_deadline" else "registrar", **kwargs)
    assert load(app, application_id)["history"] == state["history"]


def test_return_needs_to_say_what_to_fix(app, people):
    application_id = file_application(app)
    with pytest.raises(InvalidAction):
        act(app, application_id, "return_for_correction", "registrar", what_to_fix=" ")
    assert load(app, application_id)["status"] == statuses.SUBMITTED


def test_withdrawal_is_final(app, people):
    application_id = file_application(app)
    act(app, application_id, "withdraw", "front_clerk", reason="The citizen no longer needs it.")
    assert load(app, application_id)["status"] == statuses.WITHDRAWN
    with pytest.raises(InvalidAction):
        act(app, application_id, "approve", "registrar")


def test_submitting_twice_is_refused(app, people):
    application_id = file_application(app)
    with pytest.raises(InvalidAction):
        act(app, application_id, "submit", "front_clerk")


# -- who may act ---------------------------------------------------------------------------


def test_only_the_steps_role_may_act(app, people):
    application_id = file_application(app)
    for who in ("front_clerk", "registry_head", "auditor", "municipal_admin"):
        with pytest.raises(NotAllowed):
            act(app, application_id, "approve", who)
    with pytest.raises(NotAllowed) as refused:
        act(app, application_id, "approve", "front_clerk")
    with force_locale("en"):
        assert "Specialist" in str(refused.value)
    assert [h[0] for h in load(app, application_id)["history"]] == ["submit"]


def test_only_the_steps_department_may_act(app, people):
    application_id = file_application(app)
    # alpha.specialist is a specialist, but of urban planning.
    with pytest.raises(NotAllowed) as refused:
        act(app, application_id, "approve", "specialist")
    with force_locale("en"):
        assert "Population Registry Department" in str(refused.value)
    act(app, application_id, "approve", "registrar2")
    assert load(app, application_id)["step"] == "signature"


def test_staff_of_another_municipality_may_not_act(app, people):
    set_up(app, "beta")
    application_id = file_application(app)
    app.seeded["alpha"]["people"]["beta_registrar"] = app.seeded["beta"]["people"]["registrar"]
    with pytest.raises(NotAllowed):
        act(app, application_id, "approve", "beta_registrar")
    with pytest.raises(NotAllowed):
        act(app, application_id, "comment", "beta_registrar", text="peek")


def test_step_without_department_uses_the_department_the_municipality_chose(app, people):
    alpha = app.seeded["alpha"]
    application_id = file_application(app)
    step = Step("review", {"hy": "Ուսումնասիրություն"}, role="specialist", days=2)
    with app.app_context():
        set_activation(
            db.session,
            plugin_runtime.registry(app),
            alpha["id"],
            SERVICE_KEY,
            enabled=True,
            fee_override=None,
            deadline_override=None,
            department_id=alpha["departments"]["urban_planning"],
            actor_id=None,
        )
        db.session.commit()
        application = db.session.get(Application, application_id)
        assert (
            workflow.responsible_department_id(db.session, application, step) == alpha["departments"]["urban_planning"]
        )
        workflow.check_can_act_on_step(db.session, application, step, actor_for(people["specialist"]))
        with pytest.raises(NotAllowed):
            workflow.check_can_act_on_step(db.session, application, step, actor_for(people["registrar"]))


def test_a_missing_department_is_a_clear_refusal(app, people):
    application_id = file_application(app)
    step = Step("planning", {"hy": "x"}, role="specialist", days=1, department="no_such_department")
    with app.app_context():
        application = db.session.get(Application, application_id)
        with pytest.raises(NotAllowed) as refused:
            workflow.check_can_act_on_step(db.session, application, step, actor_for(people["registrar"]))
        with force_locale("en"):
            assert "no_such_department" in str(refused.value)


def test_an_inactive_user_may_not_act(app, people):
    application_id = file_application(app)
    with app.app_context():
        user = app.appbuilder.sm.get_user_by_id(people["registrar"])
        user.active = False
        db.session.commit()
    with pytest.raises(NotAllowed):
        act(app, application_id, "approve", "registrar")


# -- self-approval ---------------------------------------------------------------------------


def test_who_approved_the_previous_step_may_not_sign(app, people):
    alpha = app.seeded["alpha"]
    people["both"] = add_staff(app, alpha, "alpha.both", [SPECIALIST, HEAD], "civil_registry")
    application_id = file_application(app)
    act(app, application_id, "approve", "both")
    with pytest.raises(NotAllowed) as refused:
        act(app, application_id, "approve", "both")
    with force_locale("en"):
        assert "Another colleague must approve it" in str(refused.value)
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert allowed(app, application, people["both"]) == ["reject"]
    act(app, application_id, "approve", "registry_head")
    assert load(app, application_id)["status"] == statuses.APPROVED


def test_who_filed_the_application_may_not_sign(app, people):
    alpha = app.seeded["alpha"]
    people["filing_head"] = add_staff(app, alpha, "alpha.filing_head", [CLERK, HEAD], "civil_registry")
    application_id = file_application(app, by="filing_head")
    act(app, application_id, "approve", "registrar")
    with pytest.raises(NotAllowed):
        act(app, application_id, "approve", "filing_head")
    # Rejecting is not approving: they may still refuse it.
    act(app, application_id, "reject", "filing_head", reason="Filed for the wrong address.")
    assert load(app, application_id)["status"] == statuses.REJECTED


def test_steps_that_allow_self_approval_allow_it(app, people):
    alpha = app.seeded["alpha"]
    people["filing_registrar"] = add_staff(app, alpha, "alpha.filing_registrar", [CLERK, SPECIALIST], "civil_registry")
    application_id = file_application(app, by="filing_registrar")
    act(app, application_id, "approve", "filing_registrar")  # registry_check does not forbid it
    assert load(app, application_id)["step"] == "signature"


# -- comments, reassignment, extensions -----------------------------------------------------


def test_comments_are_internal_history_without_a_status_change(app, people):
    application_id = file_application(app)
    act(app, application_id, "comment", "registry_head", text="Please prioritise; the bank deadline is Friday.")
    state = load(app, application_id)
    assert state["history"][-1] == (
        "comment",
        "registry_check",
        statuses.SUBMITTED,
        statuses.SUBMITTED,
        people["registry_head"],
        "Please prioritise; the bank deadline is Friday.",
    )
    with pytest.raises(InvalidAction):
        act(app, application_id, "comment", "registrar", text="")
    with pytest.raises(NotAllowed):
        act(app, application_id, "comment", "auditor", text="auditors only read")


@pytest.mark.parametrize("closing", ["reject", "withdraw"])
def test_a_closed_application_takes_no_more_comments(app, people, client, closing):
    """Issue 12: a closed application's file is read-only (docs/security.md): the domain
    refuses the comment whatever the channel, nothing is written, the case page stops offering
    it and the workspace's POST is refused with the same message."""
    application_id = file_application(app)
    act(app, application_id, "comment", "registry_head", text="Before closing: fine.")
    if closing == "reject":
        act(app, application_id, "reject", "registrar", reason="Nobody is registered at this address.")
    else:
        act(app, application_id, "withdraw", "front_clerk")
    before = load(app, application_id)
    with pytest.raises(InvalidAction) as refused:
        act(app, application_id, "comment", "registry_head", text="After closing.")
    with force_locale("en"):
        assert str(refused.value) == "This application is closed; its file takes no more comments."
    assert load(app, application_id) == before
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert "comment" not in allowed(app, application, people["registry_head"])

    testing.login(client, "alpha.registry_head")
    page = client.get(f"/workspace/applications/{application_id}?_l_=en").get_data(as_text=True)
    assert "Internal comment (never shown to the applicant)" not in page
    response = client.post(f"/workspace/applications/{application_id}/comment?_l_=en", data={"comment": "Sneaked in."})
    assert response.status_code in (400, 409)
    assert load(app, application_id) == before


def test_reassign_to_someone_who_may_work_the_step(app, people):
    application_id = file_application(app)
    act(app, application_id, "reassign", "registry_head", assignee_id=people["registrar2"], reason="Aram is on leave.")
    state = load(app, application_id)
    assert state["assignee_id"] == people["registrar2"]
    assert state["history"][-1][:2] == ("reassign", "registry_check")
    with app.app_context():
        audit = db.session.execute(select(AuditEvent).where(AuditEvent.action == "application.reassign")).scalar_one()
        assert audit.details == {"step": "registry_check", "from": None, "to": people["registrar2"]}
    # Wrong department, wrong role, same person again.
    for target in ("specialist", "front_clerk", "registrar2"):
        with pytest.raises(InvalidAction):
            act(app, application_id, "reassign", "registry_head", assignee_id=people[target])
    # A clerk may not hand work around.
    with pytest.raises(NotAllowed):
        act(app, application_id, "reassign", "front_clerk", assignee_id=people["registrar"])
    # The next step starts unassigned.
    act(app, application_id, "approve", "registrar2")
    assert load(app, application_id)["assignee_id"] is None


def test_reassign_across_municipalities_is_refused(app, people):
    set_up(app, "beta")
    application_id = file_application(app)
    with pytest.raises(InvalidAction):
        act(app, application_id, "reassign", "registry_head", assignee_id=app.seeded["beta"]["people"]["registrar"])


def test_extension_needs_a_supervisor_and_a_reason(app, people):
    application_id = file_application(app)
    before = load(app, application_id)
    with pytest.raises(NotAllowed):
        act(app, application_id, "extend_deadline", "registrar", days=2, reason="busy")
    with pytest.raises(InvalidAction):
        act(app, application_id, "extend_deadline", "registry_head", days=2, reason="")
    with pytest.raises(InvalidAction):
        act(app, application_id, "extend_deadline", "registry_head", days=0, reason="none")
    act(app, application_id, "extend_deadline", "registry_head", days=2, reason="Waiting for the passport office.")
    state = load(app, application_id)
    assert state["due_at"] > before["due_at"] and state["step_due_at"] > before["step_due_at"]
    assert state["history"][-1][0] == "extend" and state["history"][-1][5] == "Waiting for the passport office."
    with app.app_context():
        adjustment = db.session.execute(
            select(DeadlineAdjustment).where(DeadlineAdjustment.kind == "extension")
        ).scalar_one()
        assert (adjustment.days, adjustment.start_date, adjustment.end_date) == (2, before["due_at"], state["due_at"])


# -- optimistic locking ------------------------------------------------------------------------


# -- act: the one entry point every channel uses ---------------------------------------------


def act_as(app, application_id: int, actor: str, **fields):
    """``workflow.act`` in its own transaction, with the version as the actor saw it."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        fields.setdefault("expected_version", application.version)
        try:
            record = workflow.act(
                db.session,
                application,
                actor=actor_for(app.seeded["alpha"]["people"][actor]),
                host=plugin_runtime.host(app),
                **fields,
            )
            db.session.commit()
            return record.action
        except Exception:
            db.session.rollback()
            raise


@pytest.mark.parametrize(
    "fields, errors",
    [
        ({"action": "explode"}, {"action"}),
        ({"action": "approve", "expected_version": None}, {"expected_version"}),
        ({"action": "reject", "comment": "Not registered here"}, {"reason"}),
        ({"action": "return", "reason": "Unreadable scan", "comment": "Unreadable scan"}, {"what_to_fix"}),
        ({"action": "comment", "reason": "Called", "expected_version": None}, {"comment"}),
        ({"action": "reassign", "reason": "Holiday"}, {"assignee_id"}),
        ({"action": "extend", "expected_version": None}, {"expected_version", "days", "reason"}),
        ({"action": "extend", "days": 0, "reason": "x" * (workflow.MAX_TEXT + 1)}, {"days", "reason"}),
        ({"action": "approve", "comment": "x" * (workflow.MAX_TEXT + 1)}, {"comment"}),
    ],
)
def test_act_names_every_missing_or_oversized_field_and_changes_nothing(app, people, fields, errors):
    application_id = file_application(app)
    before = load(app, application_id)
    with pytest.raises(workflow.InvalidInput) as refused:
        act_as(app, application_id, "registry_head", **fields)
    assert set(refused.value.errors) == errors
    with force_locale("en"):
        # One sentence per field, for a channel that shows one message.
        assert all(str(message) in str(refused.value) for message in refused.value.errors.values())
    assert load(app, application_id) == before


def test_act_runs_the_action_the_fields_name(app, people):
    application_id = file_application(app)
    assert act_as(app, application_id, "front_clerk", action="comment", comment="Called", expected_version=None)
    what = "The passport scan is unreadable."
    assert act_as(app, application_id, "registrar", action="return", what_to_fix=what, fields=["address"]) == "return"
    corrected = dict(DATA, address="Abovyan, Kotayk 2")
    act_as(app, application_id, "front_clerk", action="resubmit", data=corrected, comment="New scan")
    act_as(app, application_id, "registry_head", action="extend", days=2, reason="Registry is slow")
    act_as(app, application_id, "registry_head", action="reassign", assignee_id=people["registrar2"])
    act_as(app, application_id, "registrar2", action="approve", comment="Records match")
    act_as(app, application_id, "registry_head", action="reject", reason="Not registered at this address")
    state = load(app, application_id)
    assert [(h[0], h[5]) for h in state["history"]] == [
        ("submit", None),
        ("comment", "Called"),
        ("return", what),
        ("resubmit", "New scan"),
        ("extend", "Registry is slow"),
        ("reassign", None),
        ("approve", "Records match"),
        ("reject", "Not registered at this address"),
    ]
    with app.app_context():
        assert db.session.get(Application, application_id).data["address"] == "Abovyan, Kotayk 2"
    other = file_application(app)
    assert act_as(app, other, "front_clerk", action="withdraw", reason="Moved away") == "withdraw"
    assert load(app, other)["status"] == statuses.WITHDRAWN


def test_a_stale_version_is_changed_meanwhile(app, people):
    application_id = file_application(app)
    seen = load(app, application_id)["version"]
    act(app, application_id, "approve", "registrar", expected_version=seen)
    with pytest.raises(ChangedMeanwhile) as refused:
        act(app, application_id, "reject", "registry_head", expected_version=seen, reason="too late")
    with force_locale("en"):
        assert str(refused.value) == "This application was changed by someone else meanwhile; reload it and try again."
    assert load(app, application_id)["status"] == statuses.IN_REVIEW


def test_the_loser_is_told_it_changed_meanwhile_even_when_the_status_moved_on(app, people):
    """Two heads open the signature step; the first signs, so the application is approved.
    The second signs what they saw: "changed meanwhile, reload", not "not possible while
    Approved". Likewise for an application closed meanwhile and a draft submitted meanwhile."""
    signed = file_application(app)
    act(app, signed, "approve", "registrar")
    seen = load(app, signed)["version"]
    act(app, signed, "approve", "registry_head", expected_version=seen)
    after = load(app, signed)
    assert after["status"] == statuses.APPROVED
    with pytest.raises(ChangedMeanwhile):
        act(app, signed, "approve", "registry_head2", expected_version=seen)
    # Whoever saw the approved application itself is told why it cannot be signed again.
    with pytest.raises(InvalidAction) as refused:
        act(app, signed, "approve", "registry_head2", expected_version=after["version"])
    with force_locale("en"):
        assert str(refused.value) == "This is not possible while the application is Approved."
    assert load(app, signed) == after

    closed = file_application(app)
    seen = load(app, closed)["version"]
    act(app, closed, "reject", "registrar", expected_version=seen, reason="Not registered here.")
    with pytest.raises(ChangedMeanwhile):
        act(app, closed, "approve", "registrar2", expected_version=seen)
    with pytest.raises(ChangedMeanwhile):
        act(app, closed, "withdraw", "front_clerk", expected_version=seen)

    draft = file_application(app, submit=False)
    seen = load(app, draft)["version"]
    act(app, draft, "submit", "front_clerk", expected_version=seen)
    with pytest.raises(ChangedMeanwhile):
        act(app, draft, "submit", "front_clerk", expected_version=seen)
    assert [h[0] for h in load(app, draft)["history"]] == ["submit"]


def test_a_concurrent_update_found_at_flush_is_changed_meanwhile(app, people):
    """Both load version N; the second UPDATE finds no row with version N."""
    application_id = file_application(app)
    with app.app_context():
        application = db.session.get(Application, application_id)
        seen = application.version
        # Someone else wins in another connection meanwhile.
        with db.engine.begin() as conn:
            conn.execute(
                Application.__table__.update()
                .where(Application.__table__.c.id == application_id)
                .values(version=seen + 1, assignee_id=people["registrar2"])
            )
        with pytest.raises(ChangedMeanwhile):
            workflow.approve(
                db.session,
                application,
                actor=actor_for(people["registrar"]),
                expected_version=seen,
                host=plugin_runtime.host(app),
            )
        assert (
            db.session.execute(
                select(func.count())
                .select_from(TransitionRecord)
                .where(TransitionRecord.application_id == application_id)
            ).scalar_one()
            == 1
        )


def race(app, application_id: int, actors: list[int]) -> tuple[int, int, list[BaseException]]:
    """Every actor loads the application, then all approve at once."""
    won = lost = 0
    other: list[BaseException] = []
    lock = threading.Lock()
    loaded = threading.Barrier(len(actors))

    def worker(actor_id: int):
        nonlocal won, lost
        with app.app_context():
            try:
                actor = actor_for(actor_id)
                application = db.session.get(Application, application_id)
                seen = application.version
                loaded.wait()
                workflow.approve(
                    db.session, application, actor=actor, expected_version=seen, host=plugin_runtime.host(app)
                )
                workflow.commit(db.session)
                with lock:
                    won += 1
            except ChangedMeanwhile:
                with lock:
                    lost += 1
            except BaseException as exc:
                db.session.rollback()
                with lock:
                    other.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(actor_id,)) for actor_id in actors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return won, lost, other


def _concurrent_approvals(app, staff_count: int = 6) -> None:
    people = set_up(app)
    alpha = app.seeded["alpha"]
    actors = [people["registrar"], people["registrar2"]] + [
        add_staff(app, alpha, f"alpha.registrar{i}", [SPECIALIST], "civil_registry") for i in range(3, staff_count + 1)
    ]
    application_id = file_application(app)
    won, lost, other = race(app, application_id, actors)
    assert other == []
    assert (won, lost) == (1, staff_count - 1)
    state = load(app, application_id)
    assert [h[0] for h in state["history"]] == ["submit", "approve"]
    assert (state["status"], state["step"]) == (statuses.IN_REVIEW, "signature")


@pytest.fixture
def sqlite_app(tmp_path):
    """On a SQLite file whatever database the suite runs on."""
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'workflow.sqlite3'}")
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_concurrent_approvals_on_sqlite_one_wins(sqlite_app):
    with sqlite_app.app_context():
        assert db.engine.dialect.name == "sqlite"
    _concurrent_approvals(sqlite_app)


@pytest.mark.postgres
def test_concurrent_approvals_on_postgresql_one_wins(pg_app):
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
    _concurrent_approvals(pg_app, staff_count=8)


# -- history -----------------------------------------------------------------------------------


def test_history_is_append_only(app, people):
    application_id = file_application(app)
    act(app, application_id, "approve", "registrar")
    with app.app_context():
        record = (
            db.session.execute(select(TransitionRecord).where(TransitionRecord.application_id == application_id))
            .scalars()
            .first()
        )
        record.comment = "rewritten"
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
        record = db.session.get(TransitionRecord, record.id)
        db.session.delete(record)
        with pytest.raises(AppendOnlyError):
            db.session.flush()
        db.session.rollback()
    assert len(load(app, application_id)["history"]) == 2


# -- hooks -----------------------------------------------------------------------------------


class Recorder:
    """A plug-in that records every lifecycle hook call and can veto on demand."""

    def __init__(self):
        self.calls = []
        self.veto = None

    @hookimpl
    def after_submit(self, application, service):
        self.calls.append(("after_submit", application.tracking_number, application.status, service.key))

    @hookimpl
    def before_transition(self, application, service, step, action, actor_id):
        self.calls.append(("before_transition", action, step.key if step else None, application.status, actor_id))
        if self.veto == action:
            raise TransitionVetoed("Attach the fee receipt first.")

    @hookimpl
    def after_transition(self, application, service, record):
        self.calls.append(
            ("after_transition", record.action, record.from_status, record.to_status, record.id is not None)
        )


@pytest.fixture
def hooked(tmp_path):
    recorder = Recorder()
    app = make_app(tmp_path, plugins=[*builtin_plugins(), recorder])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    set_up(app)
    app.recorder = recorder
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_hook_after_submit(hooked):
    application_id = file_application(hooked)
    calls = [c for c in hooked.recorder.calls if c[0] == "after_submit"]
    with hooked.app_context():
        number = db.session.get(Application, application_id).tracking_number
    assert calls == [("after_submit", number, statuses.SUBMITTED, SERVICE_KEY)]
    # It fires after the submit record was written (after_transition came first).
    names = [c[0] for c in hooked.recorder.calls]
    assert names == ["before_transition", "after_transition", "after_submit"]


def test_hook_before_transition(hooked):
    people = hooked.seeded["alpha"]["people"]
    application_id = file_application(hooked)
    assert hooked.recorder.calls[0] == (
        "before_transition",
        "submit",
        "registry_check",
        statuses.DRAFT,
        people["front_clerk"],
    )
    hooked.recorder.veto = "approve"
    before = load(hooked, application_id)
    with pytest.raises(TransitionVetoed) as refused:
        act(hooked, application_id, "approve", "registrar")
    assert str(refused.value) == "Attach the fee receipt first."
    assert load(hooked, application_id) == before  # nothing written
    # Core checks come first: a refused actor never reaches the plug-in.
    hooked.recorder.calls.clear()
    with pytest.raises(NotAllowed):
        act(hooked, application_id, "approve", "front_clerk")
    assert hooked.recorder.calls == []
    hooked.recorder.veto = None
    act(hooked, application_id, "approve", "registrar")
    assert hooked.recorder.calls[0] == (
        "before_transition",
        "approve",
        "registry_check",
        statuses.SUBMITTED,
        people["registrar"],
    )


def test_hook_after_transition(hooked):
    application_id = file_application(hooked)
    act(hooked, application_id, "approve", "registrar")
    act(hooked, application_id, "comment", "registry_head", text="ok")
    act(hooked, application_id, "reject", "registry_head", reason="Address does not exist.")
    after = [c for c in hooked.recorder.calls if c[0] == "after_transition"]
    assert after == [
        ("after_transition", "submit", statuses.DRAFT, statuses.SUBMITTED, True),
        ("after_transition", "approve", statuses.SUBMITTED, statuses.IN_REVIEW, True),
        ("after_transition", "comment", statuses.IN_REVIEW, statuses.IN_REVIEW, True),
        ("after_transition", "reject", statuses.IN_REVIEW, statuses.REJECTED, True),
    ]


def test_rows_a_hook_adds_commit_with_the_transition_or_not_at_all(tmp_path):
    class Notifier:
        fail = False

        @hookimpl
        def after_transition(self, application, record):
            db.session.add(
                AuditEvent(
                    municipality_id=application.municipality_id,
                    action="test.notified",
                    object_type="application",
                    object_id=str(application.id),
                )
            )
            if self.fail:
                raise RuntimeError("the SMS gateway is down")

    notifier = Notifier()
    app = make_app(tmp_path, plugins=[*builtin_plugins(), notifier])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    set_up(app)
    application_id = file_application(app)
    notifier.fail = True
    with pytest.raises(RuntimeError):  # strict in tests: the broken plug-in is loud
        act(app, application_id, "approve", "registrar")
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "test.notified")
            ).scalar_one()
            == 1
        )
    assert load(app, application_id)["status"] == statuses.SUBMITTED
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_transition_vetoed_is_part_of_the_sdk():
    import app.sdk as sdk

    assert sdk.TransitionVetoed is TransitionVetoed
    assert "TransitionVetoed" in sdk.__all__
