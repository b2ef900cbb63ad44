"""Residence certificate: purpose, on-behalf applications and the two-step route."""

from __future__ import annotations

import pytest

from app.testing import form_checker

KEY = "residence-certificate"

VALID = {"address": "Դիլիջան, Մյասնիկյան 5, բն. 12", "purpose": "bank", "copies": "1"}


@pytest.fixture
def certificate(hamaynk_app_factory):
    return form_checker(hamaynk_app_factory(plugins=["plugins.residence_certificate"]), KEY)


def test_valid_application_passes(certificate):
    data, errors = certificate(VALID)
    assert errors == {}
    assert data["copies"] == 1 and data["on_behalf"] is False


def test_required_fields(certificate):
    assert set(certificate({})[1]) == {"address", "purpose", "copies"}


def test_other_purpose_needs_text(certificate):
    assert set(certificate({**VALID, "purpose": "other"})[1]) == {"purpose_other"}
    data, errors = certificate({**VALID, "purpose_other": "Նոտարի համար"})
    assert errors == {} and "purpose_other" not in data


def test_copies_are_bounded(certificate):
    assert set(certificate({**VALID, "copies": "6"})[1]) == {"copies"}


def test_power_of_attorney_only_on_behalf(certificate):
    service = certificate.service
    own, _ = certificate(VALID)
    other, _ = certificate({**VALID, "on_behalf": "on"})
    assert {d.key for d in service.documents if d.is_required(own)} == {"identity"}
    assert {d.key for d in service.documents if d.is_required(other)} == {"identity", "power_of_attorney"}
    assert [s.key for s in service.route(own)] == ["registry_check", "signature"]


def test_certificate_template_names_the_purpose(hamaynk_app_factory):
    import jinja2

    flask_app = hamaynk_app_factory(plugins=["plugins.residence_certificate"])
    registered = flask_app.extensions["hamaynk.plugins"].registry.get(KEY)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(registered.base_path)), autoescape=True)
    template = env.get_template(registered.service.output.template_file)
    common = {
        "output_title": "Տեղեկանք",
        "municipality_name": "Դիլիջան",
        "application": {"applicant_name": "Սոնա Գրիգորյան", "tracking_number": "DL-1"},
    }
    assert "ներկայացնելու համար՝ դեսպանատուն" in template.render(data={**VALID, "purpose": "embassy"}, **common)
    other = template.render(data={**VALID, "purpose": "other", "purpose_other": "Նոտար"}, **common)
    assert "ներկայացնելու համար՝ Նոտար" in other
