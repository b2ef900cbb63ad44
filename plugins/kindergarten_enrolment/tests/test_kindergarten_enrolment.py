"""Kindergarten enrolment: age on 1 September, ranked choices, priority documents."""

from __future__ import annotations

import datetime as dt

import jinja2
import pytest

from app.testing import form_checker
from plugins.kindergarten_enrolment import age_on, school_year_start

KEY = "kindergarten-enrolment"


def born_years_before_start(years: int, days: int = 0) -> str:
    start = school_year_start()
    return (dt.date(start.year - years, start.month, start.day) + dt.timedelta(days=days)).isoformat()


VALID = {
    "child_name": "Մարիամ Սարգսյան",
    "child_birth_date": born_years_before_start(4),
    "first_choice": "kg_3",
    "second_choice": "kg_1",
    "third_choice": "kg_5",
    "group_language": "hy",
}


@pytest.fixture
def enrol(hamaynk_app_factory):
    return form_checker(hamaynk_app_factory(plugins=["plugins.kindergarten_enrolment"]), KEY)


def required_documents(service, data):
    return {doc.key for doc in service.documents if doc.is_required(data)}


def test_school_year_start():
    assert school_year_start(dt.date(2026, 3, 10)) == dt.date(2026, 9, 1)
    assert school_year_start(dt.date(2026, 9, 1)) == dt.date(2026, 9, 1)
    assert school_year_start(dt.date(2026, 9, 2)) == dt.date(2027, 9, 1)


def test_age_on():
    assert age_on(dt.date(2022, 9, 1), dt.date(2026, 9, 1)) == 4
    assert age_on(dt.date(2022, 9, 2), dt.date(2026, 9, 1)) == 3
    assert age_on(dt.date(2020, 2, 29), dt.date(2026, 9, 1)) == 6


def test_valid_application_passes(enrol):
    data, errors = enrol(VALID)
    assert errors == {}
    assert data["third_choice"] == "kg_5"
    assert data["special_needs"] is False


def test_required_fields(enrol):
    _data, errors = enrol({})
    assert set(errors) == {"child_name", "child_birth_date", "first_choice", "group_language"}


@pytest.mark.parametrize(
    "years, days, ok",
    [
        (2, 0, True),  # turns 2 exactly on 1 September
        (2, 1, False),  # turns 2 a day later
        (5, 0, True),
        (6, 1, True),  # still 5 on 1 September
        (6, 0, False),  # 6 on 1 September: school age
        (7, 0, False),
        (1, 0, False),
    ],
)
def test_child_must_be_2_to_5_on_1_september(enrol, years, days, ok):
    _data, errors = enrol({**VALID, "child_birth_date": born_years_before_start(years, days)})
    assert ("child_birth_date" not in errors) is ok
    if not ok:
        assert set(errors) == {"child_birth_date"}


def test_birth_date_in_future_is_refused(enrol):
    _data, errors = enrol({**VALID, "child_birth_date": (dt.date.today() + dt.timedelta(days=10)).isoformat()})
    assert set(errors) == {"child_birth_date"}


def test_malformed_birth_date_is_a_field_error(enrol):
    _data, errors = enrol({**VALID, "child_birth_date": "01.02.2022"})
    assert set(errors) == {"child_birth_date"}


def test_ranked_choices_must_differ(enrol):
    _data, errors = enrol({**VALID, "second_choice": "kg_3"})
    assert set(errors) == {"second_choice"}
    _data, errors = enrol({**VALID, "third_choice": "kg_1"})
    assert set(errors) == {"third_choice"}


def test_third_choice_only_after_a_second(enrol):
    raw = {**VALID}
    raw.pop("second_choice")
    data, errors = enrol({**raw, "third_choice": "kg_3"})
    assert errors == {}
    assert "third_choice" not in data


def test_unknown_kindergarten_is_refused(enrol):
    _data, errors = enrol({**VALID, "first_choice": "kg_99"})
    assert set(errors) == {"first_choice"}


def test_sibling_priority_needs_sibling_name(enrol):
    _data, errors = enrol({**VALID, "priority_categories": ["sibling"]})
    assert set(errors) == {"sibling_name"}
    data, errors = enrol({**VALID, "priority_categories": ["sibling", "displaced"], "sibling_name": "Դավիթ Սարգսյան"})
    assert errors == {}
    assert data["priority_categories"] == ["sibling", "displaced"]


def test_special_needs_need_details_and_assessment(enrol):
    _data, errors = enrol({**VALID, "special_needs": "yes"})
    assert set(errors) == {"special_needs_details"}
    data, errors = enrol({**VALID, "special_needs": "yes", "special_needs_details": "Խոսքի զարգացման ուշացում"})
    assert errors == {}
    assert "special_needs_assessment" in required_documents(enrol.service, data)


def test_priority_proof_only_with_categories(enrol):
    service = enrol.service
    plain, _ = enrol({**VALID, "priority_categories": []})
    assert required_documents(service, plain) == {"birth_certificate", "parent_identity", "medical_record"}
    priority, _ = enrol({**VALID, "priority_categories": ["disability"]})
    assert required_documents(service, priority) == {
        "birth_certificate",
        "parent_identity",
        "medical_record",
        "priority_proof",
    }


def test_route_and_personal_fields(enrol):
    service = enrol.service
    data, _ = enrol(VALID)
    assert [(s.key, s.department) for s in service.route(data)] == [
        ("placement", "education"),
        ("referral_signature", "education"),
    ]
    assert service.field("child_birth_date").personal and service.field("child_psn").personal
    assert sum(s.days for s in service.steps) <= service.deadline_days


def test_referral_template_renders(enrol):
    data, _ = enrol({**VALID, "group_language": "ru", "full_day": "on"})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(enrol.registered.base_path)), autoescape=True)
    html = env.get_template(enrol.service.output.template_file).render(
        output_title="Ուղեգիր",
        municipality_name="Աբովյան",
        application={"applicant_name": "Լիլիթ Սարգսյան", "tracking_number": "AB-9"},
        data=data,
        kindergarten_label="Մանկապարտեզ №3",
    )
    assert "Մարիամ Սարգսյան" in html
    assert "Մանկապարտեզ №3" in html
    assert "ռուսերեն ուսուցմամբ" in html
    assert "լրիվ օրվա" in html


def test_referral_names_the_first_choice_kindergarten():
    import dataclasses
    from types import SimpleNamespace
    from typing import cast

    from app.sdk import ApplicationView
    from plugins.kindergarten_enrolment import SERVICE, output_context

    application = cast(ApplicationView, SimpleNamespace(data=VALID))
    assert output_context(application=application, service=SERVICE) == {"kindergarten_label": "Մանկապարտեզ №3"}
    other = dataclasses.replace(SERVICE, key="another-service")
    assert output_context(application=application, service=other) is None
