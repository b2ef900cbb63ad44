"""No stranded work: steps nobody can act on are reported (domain, services page, inbox, case
page, ``flask hamaynk check``); a department's unassigned work is in its queue, anyone who
may act takes it ("assign to me"), and the head or the municipal admin hands it to anyone
who may act on the step."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

import config as settings
from app.domain import access, activations, inbox, workflow
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, AuditEvent, Department, TransitionRecord, User
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, actor_for, add_staff, count_statements, enable_service, file_application, login

RESIDENCE = "residence-certificate"


def gaps_of(app, municipality: str = "alpha") -> dict[str, list[tuple[str, str, str | None, bool]]]:
    with app.app_context():
        found = activations.staffing_gaps(db.session, app.seeded[municipality]["id"], plugin_runtime.registry(app))
        return {g.key: [(s.step_key, s.role, s.department_code, s.missing_department) for s in g.steps] for g in found}


def as_user(client, username: str) -> None:
    login(client, username)
    client.get("/lang/en")


def version_of(app, application_id: int) -> int:
    with app.app_context():
        return db.session.get(Application, application_id).version


def assignee_of(app, application_id: int) -> int | None:
    with app.app_context():
        db.session.expire_all()
        return db.session.get(Application, application_id).assignee_id


@pytest.fixture
def alpha(app):
    enable_service(app, "alpha", RESIDENCE)
    enable_service(app, "beta", RESIDENCE)
    return app.seeded["alpha"]


@pytest.fixture
def registry_staff(app, alpha):
    """Alpha's population registry: two specialists and a head."""
    return {
        "registrar": add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry"),
        "registrar2": add_staff(app, alpha, "alpha.registrar2", [SPECIALIST], "civil_registry"),
        "head": add_staff(app, alpha, "alpha.registry.head", [HEAD], "civil_registry"),
    }


# -- the gaps ------------------------------------------------------------------------------------


def test_an_offered_service_without_staff_has_gaps_until_its_department_is_staffed(app, alpha):
    # Only urban planning has a specialist and a head in the seeded municipality.
    assert gaps_of(app) == {
        RESIDENCE: [
            ("registry_check", SPECIALIST, "civil_registry", False),
            ("signature", HEAD, "civil_registry", False),
        ]
    }
    # A service not offered is nobody's concern yet.
    assert "trade-permit" not in gaps_of(app)
    # Staff of another municipality do not count.
    add_staff(app, app.seeded["beta"], "beta.registrar", [SPECIALIST], "civil_registry")
    assert [s[0] for s in gaps_of(app)[RESIDENCE]] == ["registry_check", "signature"]
    assert [s[0] for s in gaps_of(app, "beta")[RESIDENCE]] == ["signature"]
    # Nor does an inactive colleague, or one in another department.
    add_staff(app, alpha, "alpha.registrar.gone", [SPECIALIST], "civil_registry", active=False)
    add_staff(app, alpha, "alpha.head.trade", [HEAD], "trade")
    assert [s[0] for s in gaps_of(app)[RESIDENCE]] == ["registry_check", "signature"]
    add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    assert [s[0] for s in gaps_of(app)[RESIDENCE]] == ["signature"]
    add_staff(app, alpha, "alpha.registry.head", [HEAD], "civil_registry")
    assert gaps_of(app) == {}


def test_a_step_naming_a_department_the_municipality_lacks_is_a_gap(app, alpha):
    with app.app_context():
        department = db.session.execute(
            select(Department).where(Department.municipality_id == alpha["id"], Department.code == "civil_registry")
        ).scalar_one()
        department.code = "registry_renamed"
        db.session.commit()
    assert gaps_of(app)[RESIDENCE] == [
        ("registry_check", SPECIALIST, "civil_registry", True),
        ("signature", HEAD, "civil_registry", True),
    ]
    with app.test_request_context("/?_l_=en"):
        found = activations.staffing_gaps(db.session, alpha["id"], plugin_runtime.registry(app))
        assert found[0].steps[0].describe("en") == "Registry check: this municipality has no department civil_registry."


def test_the_gaps_cost_one_query_whatever_is_offered(app, alpha):
    for key in ("trade-permit", "construction-permit", "kindergarten-enrolment"):
        enable_service(app, alpha, key)

    def run():
        with app.app_context():
            activations.staffing_gaps(db.session, alpha["id"], plugin_runtime.registry(app))

    assert count_statements(app, run) == 1


def test_the_services_page_the_inbox_and_the_case_page_warn_until_someone_can_act(app, alpha, client):
    application_id = file_application(app, RESIDENCE)
    as_user(client, "alpha.municipal_admin")
    page = client.get("/admin/services/").get_data(as_text=True)
    assert 'id="staffing-gaps"' in page and f'data-gap="{RESIDENCE}"' in page
    assert "Registry check: nobody with the role Specialist in Population Registry Department." in page
    case = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert 'id="staffing-gap"' in case and "Nobody can act on the step this application waits at." in case
    as_user(client, "alpha.clerk")
    inbox_page = client.get("/workspace/").get_data(as_text=True)
    assert 'id="staffing-gaps"' in inbox_page and "Registry check: nobody with the role Specialist" in inbox_page

    add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    # The step it waits at is staffed now; the signature step is still not.
    as_user(client, "alpha.municipal_admin")
    case = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert 'id="staffing-gap"' not in case
    page = client.get("/admin/services/").get_data(as_text=True)
    assert "Registry check: nobody" not in page and "Signature: nobody with the role Head" in page

    add_staff(app, alpha, "alpha.registry.head", [HEAD], "civil_registry")
    assert 'id="staffing-gaps"' not in client.get("/admin/services/").get_data(as_text=True)
    as_user(client, "alpha.clerk")
    assert 'id="staffing-gaps"' not in client.get("/workspace/").get_data(as_text=True)


def test_enabling_a_service_nobody_can_work_is_allowed_with_a_warning(app, client):
    as_user(client, "alpha.municipal_admin")
    response = client.post(f"/admin/services/{RESIDENCE}", data={"enabled": "y"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Nobody can act on some steps of this service yet" in html
    assert "Signature: nobody with the role Head in Population Registry Department." in html
    assert RESIDENCE in gaps_of(app)


def test_flask_hamaynk_check_reports_gaps_per_municipality(app, alpha, tmp_path, monkeypatch):
    monkeypatch.setenv("HAMAYNK_ENV", "test")
    monkeypatch.setattr(settings.TestConfig, "HAMAYNK_SERVICE_DIRS", [str(tmp_path)])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["hamaynk", "check"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: alpha: service 'residence-certificate' v1, step 'registry_check': "
        "nobody active with the role 'Specialist' in department 'civil_registry'"
    ) in result.output
    assert "warning: beta: service 'residence-certificate' v1, step 'signature'" in result.output
    assert "staffing: 4 step(s) of offered services nobody can act on" in result.output
    strict = runner.invoke(args=["hamaynk", "check", "--strict"])
    assert strict.exit_code == 1 and "4 problem(s)" in strict.output

    for municipality in ("alpha", "beta"):
        m = app.seeded[municipality]
        add_staff(app, m, f"{municipality}.registrar", [SPECIALIST], "civil_registry")
        add_staff(app, m, f"{municipality}.registry.head", [HEAD], "civil_registry")
    clean = runner.invoke(args=["hamaynk", "check", "--strict"])
    assert clean.exit_code == 0, clean.output
    assert "staffing: 0 step(s)" in clean.output and "warning: alpha" not in clean.output


# -- the department's queue, "assign to me", handing over ------------------------------------------


def test_unassigned_work_is_in_the_department_queue_and_whoever_may_act_takes_it(app, registry_staff, client):
    application_id = file_application(app, RESIDENCE)
    with app.app_context():
        registry = plugin_runtime.registry(app)
        for user_id in (registry_staff["registrar"], registry_staff["head"]):
            page = inbox.list_page(db.session, registry, actor_for(user_id), inbox.DEPARTMENT)
            assert [row.application.id for row in page.rows] == [application_id]

    as_user(client, "alpha.registrar")
    html = client.get("/workspace/?tab=department").get_data(as_text=True)
    take_url = f"/workspace/applications/{application_id}/take"
    assert f'action="{take_url}"' in html
    # The head cannot act on the registry check, so is not offered to take it.
    as_user(client, "alpha.registry.head")
    assert f'action="{take_url}"' not in client.get("/workspace/?tab=department").get_data(as_text=True)

    as_user(client, "alpha.registrar")
    case = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert f'action="{take_url}"' in case
    response = client.post(take_url, data={"version": version_of(app, application_id)})
    assert response.status_code == 303
    assert assignee_of(app, application_id) == registry_staff["registrar"]
    case = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert "Took the application" in case and f'action="{take_url}"' not in case
    with app.app_context():
        record = db.session.execute(
            select(TransitionRecord).where(
                TransitionRecord.application_id == application_id, TransitionRecord.action == workflow.TAKE
            )
        ).scalar_one()
        assert (record.actor_id, record.step_key, record.on_behalf_of_id) == (
            registry_staff["registrar"],
            "registry_check",
            None,
        )
        assert db.session.execute(
            select(AuditEvent.details).where(AuditEvent.action == "application.take")
        ).scalar_one() == {"step": "registry_check", "from": None, "to": registry_staff["registrar"]}
        registry = plugin_runtime.registry(app)
        # Taken work leaves the colleague's "My tasks" and stays in the department's queue.
        mine = inbox.list_page(db.session, registry, actor_for(registry_staff["registrar2"]), inbox.MINE)
        assert mine.rows == []
        queue = inbox.list_page(db.session, registry, actor_for(registry_staff["registrar2"]), inbox.DEPARTMENT)
        assert [row.application.id for row in queue.rows] == [application_id]


def test_taking_is_refused_without_the_role_elsewhere_when_stale_or_when_a_colleague_has_it(
    app, registry_staff, client
):
    application_id = file_application(app, RESIDENCE)
    beta_registrar = add_staff(app, app.seeded["beta"], "beta.registrar", [SPECIALIST], "civil_registry")
    # Messages in English, as a request in that language gets them.
    with app.test_request_context("/?_l_=en"):
        host = plugin_runtime.host(app)
        application = db.session.get(Application, application_id)
        version = application.version

        def take(user_id, expected=version):
            return workflow.act(
                db.session,
                application,
                action=workflow.TAKE,
                actor=actor_for(user_id),
                expected_version=expected,
                host=host,
            )

        # Urban planning's specialist has the role, not the department; the head not the role.
        with pytest.raises(NotAllowed, match="Only staff of"):
            take(app.seeded["alpha"]["users"]["specialist"])
        with pytest.raises(NotAllowed, match="role"):
            take(registry_staff["head"])
        with pytest.raises(NotAllowed, match="another municipality"):
            take(beta_registrar)
        with pytest.raises(ChangedMeanwhile):
            take(registry_staff["registrar"], expected=version + 1)
        db.session.rollback()
        application = db.session.get(Application, application_id)
        take(registry_staff["registrar"], expected=application.version)
        workflow.commit(db.session)
        with pytest.raises(InvalidAction, match="already assigned to you"):
            take(registry_staff["registrar"], expected=application.version)
        with pytest.raises(NotAllowed, match="colleague is already working"):
            take(registry_staff["registrar2"], expected=application.version)
        db.session.rollback()
    assert assignee_of(app, application_id) == registry_staff["registrar"]
    # Over HTTP: a stale version is 409, another municipality's staff get 404.
    as_user(client, "alpha.registrar2")
    stale = client.post(f"/workspace/applications/{application_id}/take", data={"version": "1"})
    assert stale.status_code == 409
    as_user(client, "beta.specialist")
    assert client.post(f"/workspace/applications/{application_id}/take", data={"version": "3"}).status_code == 404
    assert assignee_of(app, application_id) == registry_staff["registrar"]


def test_the_head_and_the_admin_hand_work_to_anyone_who_may_act_on_the_step(app, registry_staff, client):
    application_id = file_application(app, RESIDENCE)
    for username in ("alpha.registry.head", "alpha.municipal_admin"):
        as_user(client, username)
        html = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
        select_html = re.search(r'<select[^>]*id="reassign-to".*?</select>', html, re.S).group(0)
        offered = {int(v) for v in re.findall(r'<option value="(\d+)"', select_html)}
        # Both registrars; not urban planning's specialist (the department), not the head (the role).
        assert offered == {registry_staff["registrar"], registry_staff["registrar2"]}, username
    response = client.post(
        f"/workspace/applications/{application_id}/reassign",
        data={"version": version_of(app, application_id), "assignee_id": registry_staff["registrar2"]},
    )
    assert response.status_code == 303
    assert assignee_of(app, application_id) == registry_staff["registrar2"]
    refused = client.post(
        f"/workspace/applications/{application_id}/reassign",
        data={"version": version_of(app, application_id), "assignee_id": app.seeded["alpha"]["users"]["specialist"]},
    )
    assert refused.status_code == 400 and "This person cannot work on this step" in refused.get_data(as_text=True)
    assert assignee_of(app, application_id) == registry_staff["registrar2"]


def test_an_unstaffed_step_says_nobody_may_act_instead_of_an_empty_list(app, alpha, client):
    application_id = file_application(app, RESIDENCE)
    as_user(client, "alpha.municipal_admin")
    html = client.get(f"/workspace/applications/{application_id}").get_data(as_text=True)
    assert 'id="reassign-nobody"' in html and "Nobody else may act on this step" in html


def test_the_candidates_are_the_people_the_workflow_accepts(app, registry_staff):
    """Every active staff member of the municipality is offered exactly when reassign accepts them."""
    from app.domain import casefile

    application_id = file_application(app, RESIDENCE)
    add_staff(app, app.seeded["alpha"], "alpha.registrar.off", [SPECIALIST], "civil_registry", active=False)
    with app.app_context():
        application = db.session.get(Application, application_id)
        step = workflow.current_step(application, workflow.service_of(application, plugin_runtime.registry(app)))
        offered = {uid for uid, _name in casefile.reassign_candidates(db.session, application, step)}
        everyone = db.session.execute(select(User.id)).scalars().all()
        accepted = set()
        for user_id in everyone:
            person = access.load_actor(db.session, user_id)
            if person is None or not person.active:
                continue
            try:
                workflow.check_step_right(db.session, application, step, person)
            except NotAllowed:
                continue
            accepted.add(user_id)
        assert offered == accepted == {registry_staff["registrar"], registry_staff["registrar2"]}


def test_assign_to_me_through_the_api(app, registry_staff, client):
    application_id = file_application(app, RESIDENCE)
    token = client.post(
        "/api/v1/security/login", json={"username": "alpha.registrar", "password": PASSWORD, "provider": "db"}
    ).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    shown = client.get(f"/api/v1/applications/{application_id}", headers=headers).json["result"]
    assert "take" in shown["allowed_actions"]
    response = client.post(
        f"/api/v1/applications/{application_id}/actions",
        headers=headers,
        json={"action": "take", "expected_version": shown["version"]},
    )
    assert response.status_code == 200, response.json
    result = response.json["result"]
    assert result["assignee_id"] == registry_staff["registrar"] and "take" not in result["allowed_actions"]
    assert [(h["action"], h["on_behalf_of_id"]) for h in result["history"]] == [("submit", None), ("take", None)]
