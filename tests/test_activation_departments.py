"""Enabling a service whose steps name a department the municipality lacks is refused
(issue 14, item 4): its applications would otherwise wait where nobody can ever act."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.domain import activations
from app.extensions import db
from app.models import AuditEvent, Department, ServiceActivation
from app.plugins import runtime as plugin_runtime
from app.testing import enable_service

RESIDENCE = "residence-certificate"
REFUSAL = (
    "Certificate of residence and family composition cannot be offered yet: this municipality has no "
    "department civil_registry, which its steps need (Registry check (civil_registry), Signature "
    "(civil_registry)). Add the department under Departments, then enable the service."
)


def rename_department(app, municipality_id: int, old: str, new: str) -> None:
    with app.app_context():
        department = db.session.execute(
            select(Department).where(Department.municipality_id == municipality_id, Department.code == old)
        ).scalar_one()
        department.code = new
        db.session.commit()


def activation_of(app, municipality_id: int, key: str) -> tuple[bool, int | None] | None:
    with app.app_context():
        row = db.session.execute(
            select(ServiceActivation).where(
                ServiceActivation.municipality_id == municipality_id, ServiceActivation.service_key == key
            )
        ).scalar_one_or_none()
        return None if row is None else (row.enabled, row.fee_override)


def audit_count(app) -> int:
    with app.app_context():
        return db.session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "service.activation")
        ).scalar_one()


def set_(app, municipality_id: int, key: str, *, enabled: bool, fee: int | None = None) -> None:
    with app.test_request_context("/?_l_=en"):
        activations.set_activation(
            db.session,
            plugin_runtime.registry(app),
            municipality_id,
            key,
            enabled=enabled,
            fee_override=fee,
            deadline_override=None,
            department_id=None,
            actor_id=None,
        )
        db.session.commit()


@pytest.fixture
def alpha_without_registry(app):
    alpha = app.seeded["alpha"]
    rename_department(app, alpha["id"], "civil_registry", "registry_renamed")
    return alpha


def test_enabling_is_refused_naming_the_service_its_steps_and_the_department(app, alpha_without_registry):
    alpha_id = alpha_without_registry["id"]
    with pytest.raises(activations.ActivationError) as refused:
        set_(app, alpha_id, RESIDENCE, enabled=True)
    assert str(refused.value) == REFUSAL
    assert refused.value.field == "enabled"
    assert activation_of(app, alpha_id, RESIDENCE) is None and audit_count(app) == 0
    # A department chosen for the service does not stand in for the one a step names: the
    # workflow resolves a named step by its code alone.
    with app.test_request_context("/?_l_=en"), pytest.raises(activations.ActivationError):
        activations.set_activation(
            db.session,
            plugin_runtime.registry(app),
            alpha_id,
            RESIDENCE,
            enabled=True,
            fee_override=None,
            deadline_override=None,
            department_id=alpha_without_registry["departments"]["urban_planning"],
            actor_id=None,
        )
    # Saved disabled, it is stored (nothing is offered, so nothing waits).
    set_(app, alpha_id, RESIDENCE, enabled=False, fee=100)
    assert activation_of(app, alpha_id, RESIDENCE) == (False, 100)
    # Once the municipality has the department, enabling works.
    rename_department(app, alpha_id, "registry_renamed", "civil_registry")
    set_(app, alpha_id, RESIDENCE, enabled=True)
    assert activation_of(app, alpha_id, RESIDENCE) == (True, None)


def test_the_refusal_is_in_the_readers_language(app, alpha_without_registry):
    with app.test_request_context("/?_l_=hy"), pytest.raises(activations.ActivationError) as refused:
        activations.set_activation(
            db.session,
            plugin_runtime.registry(app),
            alpha_without_registry["id"],
            RESIDENCE,
            enabled=True,
            fee_override=None,
            deadline_override=None,
            department_id=None,
            actor_id=None,
        )
    message = str(refused.value)
    assert "Ստորագրում (civil_registry)" in message and "Certificate" not in message


def test_an_enabled_service_whose_department_went_away_can_be_edited_and_disabled(app):
    alpha_id = app.seeded["alpha"]["id"]
    enable_service(app, "alpha", RESIDENCE)
    rename_department(app, alpha_id, "civil_registry", "registry_renamed")
    # A staffing gap, not an error.
    with app.app_context():
        gaps = activations.staffing_gaps(db.session, alpha_id, plugin_runtime.registry(app))
        assert [(g.key, [s.missing_department for s in g.steps]) for g in gaps] == [(RESIDENCE, [True, True])]
    set_(app, alpha_id, RESIDENCE, enabled=True, fee=2500)
    assert activation_of(app, alpha_id, RESIDENCE) == (True, 2500)
    set_(app, alpha_id, RESIDENCE, enabled=False, fee=2500)
    assert activation_of(app, alpha_id, RESIDENCE) == (False, 2500)
    # Enabling it again is enabling: refused until the department is back.
    with pytest.raises(activations.ActivationError):
        set_(app, alpha_id, RESIDENCE, enabled=True)
    assert activation_of(app, alpha_id, RESIDENCE) == (False, 2500)


def test_the_services_page_shows_the_refusal_next_to_the_checkbox_and_changes_nothing(
    app, client, login_as, alpha_without_registry
):
    login_as("municipal_admin")
    client.get("/lang/en")
    before = audit_count(app)
    response = client.post(f"/admin/services/{RESIDENCE}", data={"enabled": "y", "fee_override": "300"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'<p class="help-block" id="enabled-err" role="alert">{REFUSAL}</p>' in html
    assert 'aria-describedby="enabled-err"' in html
    assert activation_of(app, alpha_without_registry["id"], RESIDENCE) is None
    assert audit_count(app) == before
    # Other services are unaffected, and so is saving this one disabled.
    assert client.post("/admin/services/trade-permit", data={"enabled": "y"}).status_code == 302
    assert client.post(f"/admin/services/{RESIDENCE}", data={"fee_override": "300"}).status_code == 302
    assert activation_of(app, alpha_without_registry["id"], RESIDENCE) == (False, 300)


def test_builder_services_pick_the_municipalitys_departments_and_are_enabled(app, client, login_as):
    login_as("municipal_admin")
    data = {
        "key": "market-stall",
        "title_hy": "Վաճառասեղան",
        "fee": "1500",
        "fee_period": "once",
        "deadline_days": "5",
        "category": "trade",
        "fields-0-name": "goods",
        "fields-0-type": "text",
        "fields-0-label_hy": "Ապրանք",
        "steps-0-key": "review",
        "steps-0-title_hy": "Ուսումնասիրում",
        "steps-0-role": "specialist",
        "steps-0-days": "3",
        "steps-0-actions": ["approve", "reject", "return"],
        "steps-0-department": "urban_planning",
    }
    assert client.post("/admin/builder/new", data=data).status_code == 302
    assert client.post("/admin/services/market-stall", data={"enabled": "y"}).status_code == 302
    assert activation_of(app, app.seeded["alpha"]["id"], "market-stall") == (True, None)


def test_the_testing_kit_creates_the_departments_a_service_names(app, alpha_without_registry):
    # A plug-in's tests may use department codes of their own: enable_service adds them,
    # as walk() does, instead of the office's rule being relaxed.
    enable_service(app, "alpha", RESIDENCE)
    assert activation_of(app, alpha_without_registry["id"], RESIDENCE) == (True, None)
    with app.app_context():
        codes = set(
            db.session.execute(
                select(Department.code).where(Department.municipality_id == alpha_without_registry["id"])
            ).scalars()
        )
    assert {"civil_registry", "registry_renamed"} <= codes
