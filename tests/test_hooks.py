"""One test per hook (named test_hook_<name>; tests/test_hooks_documented.py checks)."""

from __future__ import annotations

import types

from app.plugins import runtime as plugin_runtime
from app.sdk import Field, FieldType, Service, Step, gettext, hookimpl


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


PERMIT = Service(
    key="hook-permit",
    version=1,
    title={"hy": "Թույլտվություն"},
    fields=(
        Field("plot_area", "integer", {"hy": "Հողամաս"}, required=True),
        Field("building_area", "integer", {"hy": "Շինություն"}, required=True),
    ),
    steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1),),
)


def test_hook_register_services(hamaynk_app_factory):
    app = hamaynk_app_factory(plugins=[_module("permits", register_services=lambda: [PERMIT])])
    registered = plugin_runtime.registry(app).get("hook-permit")
    assert registered.plugin == "permits" and registered.service is PERMIT


def test_hook_register_field_types(hamaynk_app_factory):
    def clean(value, spec):
        if not value.upper().startswith("AM"):
            raise ValueError(gettext("Enter an Armenian IBAN."))
        return value.replace(" ", "").upper()

    iban = FieldType("iban", "str", clean, {"type": "string", "pattern": "^AM"})
    service = Service(
        key="refund",
        version=1,
        title={"hy": "Վերադարձ"},
        fields=(Field("account", "iban", {"hy": "Հաշիվ"}, required=True),),
        steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1),),
    )
    app = hamaynk_app_factory(
        plugins=[
            _module("iban_type", register_field_types=lambda: [iban]),
            _module("refunds", register_services=lambda: [service]),
        ]
    )
    with app.test_request_context("/?_l_=en"):
        assert plugin_runtime.validate_application_data(service, {"account": "am12 3456"}, app) == (
            {"account": "AM123456"},
            {},
        )
        assert plugin_runtime.validate_application_data(service, {"account": "DE12"}, app)[1] == {
            "account": "Enter an Armenian IBAN."
        }
        assert plugin_runtime.json_schema(service, "en", app)["properties"]["account"]["pattern"] == "^AM"


def test_hook_validate_application(hamaynk_app_factory):
    seen = []

    def footprint_rule(service, data):
        seen.append((service.key, dict(data)))
        if service.key == "hook-permit" and data["building_area"] > data["plot_area"]:
            return {"building_area": gettext("The building cannot be larger than the plot.")}
        return None

    def always_fine(data):  # implementations may take a subset of the arguments
        return {}

    app = hamaynk_app_factory(
        plugins=[
            _module("permits", register_services=lambda: [PERMIT]),
            _module("footprint", validate_application=footprint_rule),
            _module("lenient", validate_application=always_fine),
        ]
    )
    with app.test_request_context("/?_l_=en"):
        _data, errors = plugin_runtime.validate_application_data(
            PERMIT, {"plot_area": "100", "building_area": "150"}, app
        )
        assert errors == {"building_area": "The building cannot be larger than the plot."}
        assert seen == [("hook-permit", {"plot_area": 100, "building_area": 150})]  # cleaned, typed values
        _data, errors = plugin_runtime.validate_application_data(
            PERMIT, {"plot_area": "100", "building_area": "80"}, app
        )
        assert errors == {}
        # Field-level errors come first: plug-in rules see only well-formed data.
        seen.clear()
        _data, errors = plugin_runtime.validate_application_data(PERMIT, {"plot_area": "x", "building_area": "80"}, app)
        assert "plot_area" in errors and seen == []


def test_hook_applicant_from_registry(hamaynk_app_factory):
    calls = []

    def unknown(psn):
        calls.append(("unknown", psn))
        return None

    def registry(psn):
        calls.append(("registry", psn))
        return {"name": "Արմեն Սարգսյան", "address": "Աբովյան, Հանրապետության 10"} if psn == "1234567890" else None

    app = hamaynk_app_factory(
        plugins=[
            _module("aaa_unknown", applicant_from_registry=unknown),
            _module("population_registry", applicant_from_registry=registry),
        ]
    )
    with app.app_context():
        assert plugin_runtime.applicant_from_registry("1234567890", app) == {
            "name": "Արմեն Սարգսյան",
            "address": "Աբովյան, Հանրապետության 10",
        }
        assert plugin_runtime.applicant_from_registry("0000000000", app) is None
    assert ("registry", "1234567890") in calls and ("unknown", "0000000000") in calls
