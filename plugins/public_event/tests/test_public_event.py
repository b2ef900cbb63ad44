"""Public event notification: a service declared entirely in service.yaml."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from app.sdk import load_definition_file
from app.testing import form_checker

KEY = "public-event"
YAML = Path(__file__).resolve().parents[1] / "service.yaml"

VALID = {
    "event_name": "Գյումրու գարնանային փառատոն",
    "event_type": "cultural",
    "event_date": "2027-05-09",
    "start_time": "17:00",
    "end_time": "21:30",
    "location": "Գյումրի, Վարդանանց հրապարակ",
    "expected_participants": "300",
    "organiser_type": "person",
    "contact_phone": "+374 91 123456",
}


@pytest.fixture
def event(hamaynk_app_factory):
    return form_checker(hamaynk_app_factory(plugins=["plugins.public_event"]), KEY)


def required_documents(service, data):
    return {doc.key for doc in service.documents if doc.is_required(data)}


def test_service_comes_from_the_definition_file(event):
    assert [event.service] == load_definition_file(YAML)
    assert event.registered.plugin == "public_event"
    assert event.registered.base_path == YAML.parent
    assert (YAML.parent / event.service.output.template_file).is_file()
    assert event.service.deadline_days == 3
    assert set(event.service.title) == {"hy", "en", "ru"}


def test_valid_notification_passes(event):
    data, errors = event(VALID)
    assert errors == {}
    assert data["contact_phone"] == "+37491123456"
    assert data["expected_participants"] == 300


def test_required_fields(event):
    _data, errors = event({})
    assert set(errors) == {
        "event_name",
        "event_type",
        "event_date",
        "start_time",
        "end_time",
        "location",
        "expected_participants",
        "organiser_type",
        "contact_phone",
    }


@pytest.mark.parametrize(
    "time, ok", [("00:00", True), ("23:59", True), ("9:30", False), ("24:00", False), ("12:60", False)]
)
def test_time_format(event, time, ok):
    _data, errors = event({**VALID, "start_time": time})
    assert ("start_time" not in errors) is ok


def test_march_needs_route_and_map(event):
    _data, errors = event({**VALID, "event_type": "march"})
    assert set(errors) == {"route"}
    data, errors = event(
        {**VALID, "event_type": "march", "route": "Վարդանանց հրապարակ — Աբովյան փողոց — Կենտրոնական այգի"}
    )
    assert errors == {}
    assert "route_map" in required_documents(event.service, data)


def test_route_is_dropped_when_not_a_march(event):
    data, errors = event({**VALID, "route": "Մի երթուղի"})
    assert errors == {}
    assert "route" not in data
    assert "route_map" not in required_documents(event.service, data)


def test_other_type_needs_description(event):
    _data, errors = event({**VALID, "event_type": "other"})
    assert set(errors) == {"event_type_other"}


def test_stewards_required_above_500(event):
    assert event({**VALID, "expected_participants": "500"})[1] == {}
    _data, errors = event({**VALID, "expected_participants": "501"})
    assert set(errors) == {"stewards"}
    assert event({**VALID, "expected_participants": "501", "stewards": "20"})[1] == {}


def test_organisation_needs_name_and_authorisation(event):
    _data, errors = event({**VALID, "organiser_type": "organisation"})
    assert set(errors) == {"organisation_name"}
    data, errors = event(
        {**VALID, "organiser_type": "organisation", "organisation_name": "Շիրակ մշակութային հիմնադրամ"}
    )
    assert errors == {}
    assert required_documents(event.service, data) == {"organiser_identity", "organisation_authorisation"}


def test_structures_need_description(event):
    _data, errors = event({**VALID, "temporary_structures": "on"})
    assert set(errors) == {"structures_description"}


def test_safety_plan_above_1000_participants(event):
    service = event.service
    data, _ = event({**VALID, "expected_participants": "1000", "stewards": "30"})
    assert "safety_plan" not in required_documents(service, data)
    data, _ = event({**VALID, "expected_participants": "1001", "stewards": "30"})
    assert "safety_plan" in required_documents(service, data)


def test_route_fits_the_short_deadline(event):
    service = event.service
    data, _ = event(VALID)
    assert [(s.key, s.role) for s in service.route(data)] == [("registration", "clerk"), ("review", "municipal_admin")]
    assert service.step("registration").actions == ("approve", "return")
    assert sum(s.days for s in service.steps) <= service.deadline_days


def test_acknowledgement_template_renders(event):
    data, _ = event({**VALID, "organiser_type": "organisation", "organisation_name": "Շիրակ հիմնադրամ"})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(event.registered.base_path)), autoescape=True)
    html = env.get_template(event.service.output.template_file).render(
        output_title="Տեղեկանք",
        municipality_name="Գյումրի",
        application={"applicant_name": "Արամ Պետրոսյան", "tracking_number": "GY-11"},
        data=data,
    )
    assert "Շիրակ հիմնադրամ-ի անունից" in html
    assert "մշակութային միջոցառում" in html
    assert "17:00–21:30" in html
