"""Trade and advertising permit: per-month fee, type-dependent fields, documents and route."""

from __future__ import annotations

import jinja2
import pytest

from app.testing import form_checker

KEY = "trade-permit"

TRADE = {
    "permit_type": "outdoor_trade",
    "business_name": "Արարատ Ֆրուտ ՍՊԸ",
    "tax_id": "02612345",
    "location": "Գյումրի, Վարդանանց հրապարակ",
    "start_date": "2027-04-01",
    "period_months": "6",
    "area": "4.5",
    "goods": ["produce", "flowers"],
}

ADVERTISING = {
    "permit_type": "advertising",
    "business_name": "Լույս Մեդիա ՍՊԸ",
    "tax_id": "00123456",
    "location": "Գյումրի, Աբովյան 10, շենքի ճակատ",
    "start_date": "2027-01-15",
    "period_months": "12",
    "ad_type": "lightbox",
    "ad_surface": "3.2",
}


@pytest.fixture
def permit(hamaynk_app_factory):
    return form_checker(hamaynk_app_factory(plugins=["plugins.trade_permit"]), KEY)


def required_documents(service, data):
    return {doc.key for doc in service.documents if doc.is_required(data)}


def route(service, data):
    return [step.key for step in service.route(data)]


def test_fee_is_charged_per_month(permit):
    service = permit.service
    assert service.fee == 10000
    assert service.fee_period == "month"
    months = service.field("period_months")
    assert months.required and months.min_value == 1 and months.max_value == 12


def test_outdoor_trade_passes(permit):
    data, errors = permit(TRADE)
    assert errors == {}
    assert data["goods"] == ["produce", "flowers"]
    assert data["period_months"] == 6


def test_advertising_passes(permit):
    data, errors = permit(ADVERTISING)
    assert errors == {}
    assert data["illuminated"] is False


def test_required_fields(permit):
    _data, errors = permit({})
    assert set(errors) == {"permit_type", "business_name", "tax_id", "location", "start_date", "period_months"}


@pytest.mark.parametrize("months", ["0", "13", "-1"])
def test_period_out_of_range_is_refused(permit, months):
    _data, errors = permit({**TRADE, "period_months": months})
    assert set(errors) == {"period_months"}


@pytest.mark.parametrize("tin", ["1234567", "123456789", "0261234A"])
def test_tax_id_needs_eight_digits(permit, tin):
    _data, errors = permit({**TRADE, "tax_id": tin})
    assert set(errors) == {"tax_id"}


def test_trade_needs_area_and_goods(permit):
    raw = {k: v for k, v in TRADE.items() if k not in ("area", "goods")}
    _data, errors = permit(raw)
    assert set(errors) == {"area", "goods"}


def test_advertising_needs_structure_details_and_hides_trade_fields(permit):
    raw = {k: v for k, v in ADVERTISING.items() if k not in ("ad_type", "ad_surface")}
    _data, errors = permit({**raw, "goods": ["food"], "area": "10"})
    assert set(errors) == {"ad_type", "ad_surface"}
    data, errors = permit({**ADVERTISING, "goods": ["food"], "area": "10"})
    assert errors == {}
    assert "goods" not in data and "area" not in data


def test_terrace_needs_seats(permit):
    raw = {**TRADE, "permit_type": "terrace"}
    raw.pop("goods")
    _data, errors = permit(raw)
    assert set(errors) == {"seats"}
    _data, errors = permit({**raw, "seats": "24"})
    assert errors == {}


def test_route_adds_urban_design_approval_for_terraces_and_advertising(permit):
    service = permit.service
    trade, _ = permit(TRADE)
    ad, _ = permit(ADVERTISING)
    terrace, errors = permit({**TRADE, "permit_type": "terrace", "seats": "10"})
    assert errors == {}
    assert route(service, trade) == ["trade_review", "signature"]
    assert route(service, ad) == ["trade_review", "streetscape_review", "signature"]
    assert route(service, terrace) == ["trade_review", "streetscape_review", "signature"]
    assert service.step("trade_review").department == "trade"
    assert service.step("streetscape_review").department == "urban_planning"


def test_documents_follow_the_permit_type(permit):
    service = permit.service
    trade, _ = permit({**TRADE, "on_building": "on"})  # hidden for trade, so it is dropped
    assert "on_building" not in trade
    assert required_documents(service, trade) == {"registration_extract", "location_scheme"}
    ad, _ = permit(ADVERTISING)
    assert required_documents(service, ad) == {"registration_extract", "location_scheme", "ad_design"}
    ad_on_building, _ = permit({**ADVERTISING, "on_building": "on"})
    assert required_documents(service, ad_on_building) == {
        "registration_extract",
        "location_scheme",
        "ad_design",
        "owner_consent",
    }


def test_permit_template_renders(permit):
    data, _ = permit({**ADVERTISING, "illuminated": "on"})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(permit.registered.base_path)), autoescape=True)
    html = env.get_template(permit.service.output.template_file).render(
        output_title="Թույլտվություն",
        municipality_name="Գյումրի",
        application={"applicant_name": "Լույս Մեդիա", "tracking_number": "GY-7"},
        data=data,
    )
    assert "արտաքին գովազդի տեղադրման" in html
    assert "3.2 մ², լուսավորվող" in html
    assert "12 ամիս" in html
