"""Field types, conditional rules, and the compilation of declarations into WTForms and
JSON Schema. The server-side rules are the same on every path (validate_data)."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from app.domain import patterns
from app.domain.fieldtypes import normalize_phone, normalize_psn
from app.plugins import runtime as plugin_runtime
from app.plugins.host import build_plugin_host
from app.sdk import Condition, Field, Service, Step

SERVICE = Service(
    key="field-test",
    version=1,
    title={"hy": "Դաշտերի ստուգում", "en": "Field test"},
    fields=(
        Field("name", "text", {"hy": "Անուն", "en": "Name"}, required=True, max_length=20),
        Field("psn", "psn", {"hy": "ՀԾՀ", "en": "Public service number"}, required=True, personal=True),
        Field("phone", "phone", {"hy": "Հեռախոս", "en": "Phone"}),
        Field("email", "email", {"hy": "Էլ. փոստ", "en": "E-mail"}),
        Field("area", "decimal", {"hy": "Մակերես", "en": "Area"}, min_value=1, max_value=10000),
        Field("floors", "integer", {"hy": "Հարկեր", "en": "Floors"}, min_value=1, max_value=30),
        Field("start", "date", {"hy": "Սկիզբ", "en": "Start"}),
        Field(
            "zone",
            "choice",
            {"hy": "Գոտի", "en": "Zone"},
            choices=(("residential", "Բնակելի"), ("historic", "Պատմական")),
        ),
        Field(
            "heritage_ref",
            "text",
            {"hy": "Հուշարձանի համար", "en": "Monument number"},
            visible_when=Condition("zone", "eq", "historic"),
            required_when=Condition("zone", "eq", "historic"),
        ),
        Field(
            "extras",
            "multichoice",
            {"hy": "Լրացուցիչ", "en": "Extras"},
            choices=(("garage", "Ավտոտնակ"), ("pool", "Լողավազան")),
        ),
        Field("agree", "boolean", {"hy": "Համաձայն եմ", "en": "I agree"}, required=True),
        Field(
            "pool_depth", "decimal", {"hy": "Խորություն", "en": "Depth"}, visible_when=Condition("extras", "eq", "pool")
        ),
    ),
    steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1),),
)

GOOD = {
    "name": " Արամ ",
    "psn": "1234567890",
    "phone": "091 123456",
    "email": "Aram@Example.AM",
    "area": "120,5",
    "floors": "3",
    "start": "2026-12-01",
    "zone": "residential",
    "agree": "y",
    "extras": ["garage"],
}


@pytest.fixture
def field_app(hamaynk_app_factory):
    import types

    from app.sdk import hookimpl

    module = types.ModuleType("field_test_plugin")
    module.register_services = hookimpl(lambda: [SERVICE])
    return hamaynk_app_factory(plugins=[module])


def validate(app, raw):
    with app.test_request_context("/?_l_=en"):
        return plugin_runtime.validate_application_data(SERVICE, raw, app)


def test_good_input_is_cleaned(field_app):
    data, errors = validate(field_app, GOOD)
    assert errors == {}
    assert data == {
        "name": "Արամ",
        "psn": "1234567890",
        "phone": "+37491123456",
        "email": "Aram@example.am",
        "area": "120.5",
        "floors": 3,
        "start": "2026-12-01",
        "zone": "residential",
        "agree": True,
        "extras": ["garage"],
    }


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("psn", "12345", "A public service number has exactly 10 digits."),
        ("psn", "12345abcde", "A public service number has exactly 10 digits."),
        ("phone", "12", "Enter a phone number such as +374 91 123456."),
        ("email", "not-an-email", "Enter a valid e-mail address."),
        ("area", "lots", "Enter a number."),
        ("area", "0.5", "The smallest allowed value is 1."),
        ("area", "NaN", "Enter a number."),
        ("floors", "2.5", "Enter a whole number."),
        ("floors", "31", "The largest allowed value is 30."),
        ("start", "01/12/2026", "Enter a date as YYYY-MM-DD."),
        ("zone", "industrial", "Choose one of the listed options."),
        ("extras", ["garage", "helipad"], "Choose only listed options."),
        ("name", "x" * 21, "Enter at most 20 characters."),
        ("name", "   ", "This field is required."),
    ],
)
def test_bad_values_get_a_clear_message(field_app, field, value, message):
    _data, errors = validate(field_app, {**GOOD, field: value})
    assert errors == {field: message}


def test_required_boolean_must_be_ticked(field_app):
    raw = dict(GOOD)
    del raw["agree"]
    assert validate(field_app, raw)[1] == {"agree": "This field is required."}


def test_conditional_field_required_only_when_visible(field_app):
    assert validate(field_app, {**GOOD, "zone": "historic"})[1] == {"heritage_ref": "This field is required."}
    data, errors = validate(field_app, {**GOOD, "zone": "historic", "heritage_ref": "A-17"})
    assert errors == {} and data["heritage_ref"] == "A-17"


def test_hidden_field_values_never_reach_the_record(field_app):
    # A hostile client posts a value for a field its conditions hide.
    data, errors = validate(field_app, {**GOOD, "heritage_ref": "sneaky", "pool_depth": "abc"})
    assert errors == {}
    assert "heritage_ref" not in data and "pool_depth" not in data


def test_multichoice_condition(field_app):
    data, errors = validate(field_app, {**GOOD, "extras": ["pool"], "pool_depth": "2.5"})
    assert errors == {} and data["pool_depth"] == "2.5"


def test_undeclared_keys_are_dropped(field_app):
    data, errors = validate(field_app, {**GOOD, "status": "approved", "municipality_id": 2})
    assert errors == {} and "status" not in data and "municipality_id" not in data


def test_messages_come_in_the_users_language(field_app):
    with field_app.test_request_context("/?_l_=ru"):
        _data, errors = plugin_runtime.validate_application_data(SERVICE, {**GOOD, "psn": "1"}, field_app)
    import re

    assert re.search("[А-Яа-яЁё]", errors["psn"]), errors["psn"]  # Russian, not the English source


def test_psn_and_phone_normalisers():
    assert normalize_psn("123 456-7890") == "1234567890"
    assert normalize_phone("+374 10 123456") == "+37410123456"
    assert normalize_phone("(091) 12-34-56") == "+37491123456"
    with pytest.raises(ValueError):
        normalize_phone("+374 00 000")


def test_compiled_wtforms_class_uses_the_same_rules(field_app):
    with field_app.test_request_context("/?_l_=en", method="POST"):
        form_class = plugin_runtime.form_class(SERVICE, "en", field_app)
        form = form_class(
            formdata=MultiDict(
                {**{k: v for k, v in GOOD.items() if k != "extras"}, "zone": "historic", "extras": "garage"}
            )
        )
        assert form.validate() is False
        assert form.heritage_ref.errors == ["This field is required."]
        html = form.heritage_ref()
        assert "data-visible-when" in html and "historic" in html
        assert form.zone.label.text == "Zone"
        assert [c[0] for c in form.zone.choices] == ["", "residential", "historic"]

        good = form_class(formdata=MultiDict({**{k: v for k, v in GOOD.items() if k != "extras"}, "extras": "garage"}))
        assert good.validate() is True
        assert good.cleaned_data["floors"] == 3 and good.cleaned_data["extras"] == ["garage"]


def test_compiled_form_labels_follow_the_locale(field_app):
    with field_app.test_request_context("/?_l_=en"):
        form = plugin_runtime.form_class(SERVICE, "hy", field_app)(formdata=None)
        assert form.name.label.text == "Անուն"


def test_json_schema_describes_types_choices_and_conditions(field_app):
    with field_app.app_context():
        schema = plugin_runtime.json_schema(SERVICE, "en", field_app)
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "psn", "agree"}
    assert props["floors"] == {"type": "integer", "title": "Floors", "minimum": 1, "maximum": 30}
    assert props["zone"]["enum"] == ["residential", "historic"]
    assert props["extras"]["items"]["enum"] == ["garage", "pool"]
    assert props["psn"]["pattern"] == r"^\d{10}$"
    assert props["start"]["format"] == "date"
    assert {
        "if": {"properties": {"zone": {"const": "historic"}}, "required": ["zone"]},
        "then": {"required": ["heritage_ref"]},
    } in schema["allOf"]


def test_json_schema_accepts_what_the_server_accepts(field_app):
    jsonschema = pytest.importorskip("jsonschema")
    with field_app.test_request_context("/?_l_=en"):
        schema = plugin_runtime.json_schema(SERVICE, "en", field_app)
        data, errors = plugin_runtime.validate_application_data(SERVICE, GOOD, field_app)
    assert errors == {}
    jsonschema.validate(data, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "zone": "historic"}, schema)  # heritage_ref missing


def test_core_field_types_are_all_present():
    host = build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": False})
    assert set(host.registry.field_types) >= {
        "text",
        "textarea",
        "integer",
        "decimal",
        "date",
        "choice",
        "multichoice",
        "boolean",
        "email",
        "phone",
        "psn",
        "address",
    }


def test_conditions_compare_decimals_as_numbers():
    # Decimals are stored as strings; "1000" must be more than 300, not less ("1" < "3").
    big = Condition("area", "gt", 300)
    assert big.holds({"area": "1000"}) and big.holds({"area": "300.5"})
    assert not big.holds({"area": "99.9"}) and not big.holds({"area": "300"})
    assert Condition("area", "ge", "300").holds({"area": "300.00"})
    assert not big.holds({"area": "not a number"}) and not big.holds({})


def test_json_numbers_and_odd_types_from_api_clients(field_app):
    data, errors = validate(field_app, {**GOOD, "floors": 3, "area": 120.5})
    assert errors == {} and data["floors"] == 3 and data["area"] == "120.5"
    _data, errors = validate(field_app, {**GOOD, "floors": {"$gt": 1}})
    assert errors == {"floors": "The value does not have the expected format."}
    _data, errors = validate(field_app, {**GOOD, "agree": True, "floors": True})
    assert "floors" in errors


# -- declared patterns ------------------------------------------------------------------------------

PATTERNED = Service(
    key="pattern-test",
    version=1,
    title={"hy": "Ձևաչափեր", "en": "Patterns"},
    fields=(
        # Catastrophic for a backtracking engine: Python's re needs ~35 s for 31 characters.
        Field("code", "text", {"hy": "Կոդ", "en": "Code"}, pattern="(a+)+$"),
        Field("plot", "text", {"hy": "Հողամաս", "en": "Plot"}, pattern=r"\d{2}-\d{3}"),
    ),
    steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=1),),
)
BAD_FORMAT = "The value does not have the expected format."


@pytest.fixture
def pattern_app(hamaynk_app_factory):
    import types

    from app.sdk import hookimpl

    module = types.ModuleType("pattern_test_plugin")
    module.register_services = hookimpl(lambda: [PATTERNED])
    return hamaynk_app_factory(plugins=[module])


def validate_patterned(app, raw):
    with app.test_request_context("/?_l_=en"):
        return plugin_runtime.validate_application_data(PATTERNED, raw, app)


def test_a_catastrophic_pattern_gets_the_right_answer_without_backtracking(pattern_app):
    assert validate_patterned(pattern_app, {"code": "a" * 30 + "!"})[1] == {"code": BAD_FORMAT}
    assert validate_patterned(pattern_app, {"code": "a" * 30}) == ({"code": "a" * 30}, {})
    # Far beyond anything a backtracking engine could finish: linear time answers at once.
    assert validate_patterned(pattern_app, {"code": "a" * 5000 + "!"})[1] == {"code": BAD_FORMAT}


def test_declared_patterns_run_on_re2(pattern_app):
    compiled = patterns.compile_pattern("(a+)+$")
    assert type(compiled.regex).__module__ == "re2"
    # The validation path itself: RE2's \d is ASCII, Python's re would take these Arabic-Indic digits.
    assert validate_patterned(pattern_app, {"plot": "١٢-٣٤٥"})[1] == {"plot": BAD_FORMAT}
    assert validate_patterned(pattern_app, {"plot": "12-345"}) == ({"plot": "12-345"}, {})


def test_a_lone_surrogate_does_not_match_rather_than_raise():
    # RE2 matches UTF-8, which a lone surrogate cannot be encoded to.
    assert patterns.compile_pattern(r"\d+").fullmatch("12\ud800") is False
    assert patterns.matches(r"\d+", "12") is True


@pytest.mark.parametrize("pattern", [r"(\d)\1", r"(?=a)a", r"(?<=a)b", r"(?!x)y", "(unclosed"])
def test_patterns_re2_cannot_run_are_refused_naming_the_pattern(pattern):
    with pytest.raises(patterns.PatternError) as info:
        patterns.compile_pattern(pattern)
    assert info.value.problem == "invalid"
    assert str(info.value).startswith(f"pattern {pattern!r} is not an RE2 regular expression")


def test_pattern_length_and_matching_cost_are_bounded():
    with pytest.raises(patterns.PatternError) as info:
        patterns.compile_pattern("a" * (patterns.MAX_PATTERN_LENGTH + 1))
    assert info.value.problem == "too_long"
    with pytest.raises(patterns.PatternError) as info:
        patterns.compile_pattern(["not", "text"])
    assert info.value.problem == "not_text"
    # Each of up to 100 letters compiles to a large Unicode class: fine for short values only.
    names = patterns.compile_pattern(r"[\p{L} -]{2,100}")
    patterns.check_cost(names, 100)
    with pytest.raises(patterns.PatternError) as info:
        patterns.check_cost(names, 10_000)
    assert info.value.problem == "too_complex" and "set a smaller max_length" in str(info.value)


def test_json_schema_pattern_covers_the_whole_value_as_the_server_does(pattern_app):
    jsonschema = pytest.importorskip("jsonschema")
    with pattern_app.app_context():
        schema = plugin_runtime.json_schema(PATTERNED, "en", pattern_app)
    assert schema["properties"]["plot"]["pattern"] == r"^(?:\d{2}-\d{3})$"
    jsonschema.validate({"plot": "12-345"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"plot": "x12-3456"}, schema)
