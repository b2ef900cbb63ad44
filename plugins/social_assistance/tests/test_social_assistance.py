"""Social assistance: household data, priority categories, committee decision."""

from __future__ import annotations

import jinja2
import pytest

from app.testing import form_checker

KEY = "social-assistance"

VALID = {
    "assistance_type": "cash",
    "household_members": "5",
    "children": "3",
    "monthly_income": "85 000",
    "priority_categories": ["single_parent"],
    "circumstances": "Ամուսինս մահացել է, երեք անչափահաս երեխա ունեմ, աշխատում եմ կես դրույքով։",
    "requested_amount": "100000",
    "payment_method": "cash_desk",
}


@pytest.fixture
def social(hamaynk_app_factory):
    return form_checker(hamaynk_app_factory(plugins=["plugins.social_assistance"]), KEY)


def required_documents(service, data):
    return {doc.key for doc in service.documents if doc.is_required(data)}


def test_valid_application_passes(social):
    data, errors = social(VALID)
    assert errors == {}
    assert data["monthly_income"] == 85000
    assert data["household_members"] == 5
    assert data["priority_categories"] == ["single_parent"]


def test_required_fields(social):
    _data, errors = social({})
    assert set(errors) == {
        "assistance_type",
        "household_members",
        "children",
        "monthly_income",
        "circumstances",
        "payment_method",
    }


def test_priority_categories_are_optional_and_checked(social):
    raw = dict(VALID)
    raw.pop("priority_categories")
    assert social(raw)[1] == {}
    _data, errors = social({**VALID, "priority_categories": ["single_parent", "rich"]})
    assert set(errors) == {"priority_categories"}


def test_bank_account_only_for_bank_payment(social):
    _data, errors = social({**VALID, "payment_method": "bank"})
    assert set(errors) == {"bank_account"}
    _data, errors = social({**VALID, "payment_method": "bank", "bank_account": "247001234567890"})
    assert set(errors) == {"bank_account"}  # 15 digits
    data, errors = social({**VALID, "payment_method": "bank", "bank_account": "2470012345678901"})
    assert errors == {}
    assert data["bank_account"] == "2470012345678901"
    data, errors = social({**VALID, "bank_account": "2470012345678901"})
    assert errors == {} and "bank_account" not in data
    assert social.service.field("bank_account").personal


def test_requested_amount_hidden_for_winter_fuel(social):
    data, errors = social({**VALID, "assistance_type": "winter_fuel"})
    assert errors == {}
    assert "requested_amount" not in data


def test_hook_refuses_more_children_than_people(social):
    _data, errors = social({**VALID, "household_members": "2", "children": "3"})
    assert set(errors) == {"children"}
    # A child alone under a guardian's care is a household of one child.
    _data, errors = social({**VALID, "household_members": "1", "children": "1", "priority_categories": ["orphan"]})
    assert errors == {}


def test_hook_checks_many_children_category(social):
    _data, errors = social({**VALID, "priority_categories": ["many_children"]})
    assert set(errors) == {"priority_categories"}
    _data, errors = social(
        {**VALID, "household_members": "6", "children": "4", "priority_categories": ["many_children"]}
    )
    assert errors == {}


def test_documents_follow_categories_and_assistance_type(social):
    service = social.service
    data, _ = social(VALID)
    assert required_documents(service, data) == {"identity", "income_statement"}
    data, errors = social({**VALID, "assistance_type": "medical", "priority_categories": ["disability", "displaced"]})
    assert errors == {}
    assert required_documents(service, data) == {
        "identity",
        "income_statement",
        "disability_certificate",
        "displaced_status",
        "medical_bills",
    }
    data, _ = social({**VALID, "assistance_type": "funeral", "priority_categories": ["fallen_serviceman"]})
    assert required_documents(service, data) == {
        "identity",
        "income_statement",
        "serviceman_status",
        "death_certificate",
    }


def test_committee_decides_last(social):
    service = social.service
    data, _ = social(VALID)
    route = service.route(data)
    assert [s.key for s in route] == ["intake", "assessment", "committee_decision"]
    committee = route[-1]
    assert committee.role == "head" and committee.department == "social"
    assert set(committee.actions) == {"approve", "reject"}
    assert committee.forbid_self_approval
    assert sum(s.days for s in service.steps) <= service.deadline_days
    assert service.fee == 0


def test_decision_template_renders_without_bank_account(social):
    data, _ = social({**VALID, "payment_method": "bank", "bank_account": "2470012345678901"})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(social.registered.base_path)), autoescape=True)
    html = env.get_template(social.service.output.template_file).render(
        output_title="Որոշում",
        municipality_name="Դիլիջան",
        application={"applicant_name": "Նարինե Մկրտչյան", "tracking_number": "DL-3"},
        data=data,
        granted_amount="80 000",
    )
    assert "միանվագ դրամական օգնություն" in html
    assert "80 000 դրամի չափով" in html
    assert "բանկային հաշվին" in html
    assert "2470012345678901" not in html
