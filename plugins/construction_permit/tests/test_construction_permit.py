"""Construction permit: form rules, conditional review steps and the custom validation hook."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from app.testing import FormChecker, form_checker

PLUGIN = "plugins.construction_permit"
KEY = "construction-permit"

VALID = {
    "cadastral_code": "07-001-0123-0045",
    "plot_address": "Աբովյան, Հանրապետության 12",
    "zone": "residential",
    "work_type": "new",
    "building_purpose": "house",
    "plot_area": "600",
    "footprint_area": "120.5",
    "building_area": "220",
    "floors": "2",
    "designer": "Նախագիծ ՍՊԸ",
    "designer_licence": "ՆԽ-0123",
}


class Checks:
    """``check(raw) -> (data, errors)`` for the permit (``key=`` names another service), with
    the permit's declaration under ``check.service`` and ``check.registered``."""

    def __init__(self, checkers: dict[str, FormChecker]) -> None:
        self._checkers = checkers
        self.registered = checkers[KEY].registered
        self.service = checkers[KEY].service

    def __call__(self, raw, key=KEY):
        return self._checkers[key](raw)


@pytest.fixture
def permit(hamaynk_app_factory):
    flask_app = hamaynk_app_factory(plugins=[PLUGIN, "plugins.address_assignment"])
    return Checks({key: form_checker(flask_app, key) for key in (KEY, "address-assignment")})


def steps(service, data):
    return [step.key for step in service.route(data)]


def test_valid_application_passes_and_is_cleaned(permit):
    data, errors = permit(VALID)
    assert errors == {}
    assert data["building_area"] == 220
    assert data["floors"] == 2
    assert data["footprint_area"] == "120.5"
    assert data["co_owned"] is False


def test_required_fields_are_reported(permit):
    _data, errors = permit({})
    required = {
        "cadastral_code",
        "plot_address",
        "zone",
        "work_type",
        "building_purpose",
        "plot_area",
        "footprint_area",
        "building_area",
        "floors",
        "designer",
        "designer_licence",
    }
    assert set(errors) == required


def test_unknown_zone_is_refused(permit):
    _data, errors = permit({**VALID, "zone": "downtown"})
    assert set(errors) == {"zone"}


def test_floors_are_bounded(permit):
    assert set(permit({**VALID, "floors": "0"})[1]) == {"floors"}
    assert set(permit({**VALID, "floors": "41"})[1]) == {"floors"}


def test_small_residential_building_skips_heritage_and_engineering(permit):
    data, _ = permit(VALID)
    assert steps(permit.service, data) == ["completeness_check", "planning_review", "signature"]


def test_historic_zone_adds_heritage_review(permit):
    data, errors = permit({**VALID, "zone": "historic"})
    assert errors == {}
    assert steps(permit.service, data) == ["completeness_check", "planning_review", "heritage_review", "signature"]


@pytest.mark.parametrize("area, expected", [(300, False), (301, True), (5000, True)])
def test_engineering_review_only_above_300_m2(permit, area, expected):
    data, errors = permit({**VALID, "building_area": str(area)})
    assert errors == {}
    assert ("engineering_review" in steps(permit.service, data)) is expected


def test_large_historic_building_goes_through_every_review(permit):
    data, _ = permit({**VALID, "zone": "historic", "building_area": "1200", "floors": "4"})
    assert steps(permit.service, data) == [
        "completeness_check",
        "planning_review",
        "heritage_review",
        "engineering_review",
        "signature",
    ]
    signature = permit.service.step("signature")
    assert signature.role == "head" and "return" not in signature.actions and signature.forbid_self_approval


def test_footprint_larger_than_plot_is_refused_by_hook(permit):
    _data, errors = permit({**VALID, "plot_area": "100", "footprint_area": "100.01"})
    assert set(errors) == {"footprint_area"}
    assert errors["footprint_area"]


def test_footprint_equal_to_plot_is_allowed(permit):
    _data, errors = permit({**VALID, "plot_area": "150,5", "footprint_area": "150.50"})
    assert errors == {}


@pytest.mark.parametrize(
    "code",
    [
        "07-001-0123",  # parcel missing
        "07001-0123-0045",  # dash missing
        "7-001-0123-0045",  # region one digit
        "07-001-0123-00456",  # parcel too long
        "07-001-0123-0045x",
        "12-001-0123-0045",  # no region 12
        "00-001-0123-0045",
        "07-000-0123-0045",  # zero community
        "07-001-0123-0000",  # zero parcel
    ],
)
def test_malformed_cadastral_codes_are_refused(permit, code):
    _data, errors = permit({**VALID, "cadastral_code": code})
    assert set(errors) == {"cadastral_code"}


@pytest.mark.parametrize("code", ["01-001-0001-0001", "11-045-0987-0012", " 07-001-0123-0045 "])
def test_wellformed_cadastral_codes_pass(permit, code):
    data, errors = permit({**VALID, "cadastral_code": code})
    assert errors == {}
    assert data["cadastral_code"] == code.strip()


def test_hook_reports_all_problems_at_once(permit):
    _data, errors = permit({**VALID, "cadastral_code": "bad", "plot_area": "50", "footprint_area": "60"})
    assert set(errors) == {"cadastral_code", "footprint_area"}


def test_hook_leaves_other_services_alone(permit):
    # Address assignment accepts region 99 by its declared pattern; the construction permit's
    # hook must not judge another service's cadastral codes or areas.
    raw = {
        "cadastral_code": "99-001-0123-0045",
        "property_type": "land",
        "reason": "no_address",
        "location": "Ձորի փողոց",
    }
    _data, errors = permit(raw, key="address-assignment")
    assert errors == {}


def test_conditional_documents(permit):
    service = permit.service
    plain, _ = permit(VALID)
    required = {d.key for d in service.documents if d.is_required(plain)}
    assert required == {"ownership_certificate", "planning_assignment", "design_documentation"}

    busy, errors = permit({**VALID, "zone": "historic", "building_area": "301", "co_owned": "on"})
    assert errors == {}
    required = {d.key for d in service.documents if d.is_required(busy)}
    assert required == {
        "ownership_certificate",
        "planning_assignment",
        "design_documentation",
        "expert_review",
        "heritage_consent",
        "co_owners_consent",
    }


def test_fee_and_deadline(permit):
    service = permit.service
    assert service.fee == 30000 and service.fee_period == "once"
    assert sum(step.days for step in service.steps) <= service.deadline_days


def test_permit_template_renders_the_application(permit):
    registered = permit.registered
    data, _ = permit({**VALID, "underground_floors": "1"})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(registered.base_path)), autoescape=True)
    html = env.get_template(registered.service.output.template_file).render(
        output_title="Շինարարության թույլտվություն",
        municipality_name="Աբովյան",
        application={"applicant_name": "Արամ Պետրոսյան", "tracking_number": "AB-2026-000123"},
        data=data,
    )
    assert "07-001-0123-0045" in html
    assert "բնակելի կառուցապատման գոտի" in html
    assert "նոր շինարարություն" in html
    assert "2 + 1 ստորգետնյա" in html
    assert Path(registered.base_path, "templates", "permit.html").is_file()
