"""Address assignment: reasons drive which fields and documents are needed."""

from __future__ import annotations

import jinja2
import pytest

from app.testing import form_checker

KEY = "address-assignment"

VALID = {
    "cadastral_code": "07-001-0123-0045",
    "property_type": "building",
    "reason": "new_building",
    "location": "Աբովյան, Կոտայքի փողոց, 14-րդ շենքի հարևանությամբ",
}


@pytest.fixture
def address(hamaynk_app_factory):
    return form_checker(hamaynk_app_factory(plugins=["plugins.address_assignment"]), KEY)


def required_documents(service, data):
    return {doc.key for doc in service.documents if doc.is_required(data)}


def test_valid_application_passes(address):
    data, errors = address(VALID)
    assert errors == {}
    assert data == VALID


def test_required_fields(address):
    _data, errors = address({})
    assert set(errors) == {"cadastral_code", "property_type", "reason", "location"}


@pytest.mark.parametrize(
    "code, ok",
    [
        ("07-001-0123-0045", True),
        ("07-001-0123-0045-012", True),  # premises inside a building
        ("07-001-0123", False),
        ("07-001-0123-0045-12", False),
        ("07 001 0123 0045", False),
    ],
)
def test_cadastral_code_pattern(address, code, ok):
    _data, errors = address({**VALID, "cadastral_code": code})
    assert ("cadastral_code" not in errors) is ok


def test_new_building_hides_current_address_and_needs_commissioning_act(address):
    data, errors = address({**VALID, "current_address": "Հին հասցե 1"})
    assert errors == {}
    assert "current_address" not in data
    assert required_documents(address.service, data) == {"ownership_certificate", "cadastral_plan", "commissioning_act"}


def test_correction_needs_current_address_and_reason(address):
    _data, errors = address({**VALID, "reason": "correction"})
    assert set(errors) == {"current_address", "correction_reason"}
    data, errors = address(
        {**VALID, "reason": "correction", "current_address": "Բաղրամյան 3", "correction_reason": "Փողոցը վերանվանվել է"}
    )
    assert errors == {}
    assert required_documents(address.service, data) == {"ownership_certificate", "cadastral_plan"}


def test_division_needs_parts_count_and_division_document(address):
    _data, errors = address({**VALID, "reason": "division", "current_address": "Բաղրամյան 3"})
    assert set(errors) == {"parts_count"}
    _data, errors = address({**VALID, "reason": "division", "current_address": "Բաղրամյան 3", "parts_count": "1"})
    assert set(errors) == {"parts_count"}
    data, errors = address({**VALID, "reason": "division", "current_address": "Բաղրամյան 3", "parts_count": "2"})
    assert errors == {}
    assert data["parts_count"] == 2
    assert required_documents(address.service, data) == {"ownership_certificate", "cadastral_plan", "division_document"}


def test_merger_needs_division_document_but_no_parts_count(address):
    data, errors = address({**VALID, "reason": "merger", "current_address": "Բաղրամյան 3", "parts_count": "3"})
    assert errors == {}
    assert "parts_count" not in data
    assert "division_document" in required_documents(address.service, data)


def test_route_is_review_then_signature(address):
    data, _ = address(VALID)
    route = address.service.route(data)
    assert [(s.key, s.role, s.department) for s in route] == [
        ("address_review", "specialist", "urban_planning"),
        ("decision", "head", "urban_planning"),
    ]
    assert sum(s.days for s in address.service.steps) <= address.service.deadline_days


def test_decision_template_renders(address):
    data, _ = address(
        {**VALID, "reason": "correction", "current_address": "Բաղրամյան 3", "correction_reason": "Վերանվանում"}
    )
    base = address.registered.base_path
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(base)), autoescape=True)
    html = env.get_template(address.service.output.template_file).render(
        output_title="Որոշում",
        municipality_name="Աբովյան",
        application={"applicant_name": "Անի Հակոբյան", "tracking_number": "AB-1"},
        data=data,
        assigned_address="Աբովյան, Կոտայքի 16",
    )
    assert "շենքին (շինությանը)" in html
    assert "Բաղրամյան 3" in html
    assert "Աբովյան, Կոտայքի 16" in html
