"""Bad declarations are refused with errors naming the plug-in, the service and the bad value."""

from __future__ import annotations

import json
import types

import pytest

from app.domain import patterns
from app.domain.declarations import DeclarationValueError
from app.plugins.definitions import DefinitionError, service_from_dict
from app.plugins.host import PluginError, build_plugin_host
from app.plugins.registry import DeclarationError
from app.sdk import Condition, Document, Field, Output, Service, Step, hookimpl


def good_service(**changes) -> Service:
    values = {
        "key": "demo-service",
        "version": 1,
        "title": {"hy": "Փորձ", "en": "Demo", "ru": "Демо"},
        "fields": (
            Field("area", "decimal", {"hy": "Մակերես"}, required=True),
            Field("zone", "choice", {"hy": "Գոտի"}, choices=(("a", "Ա"), ("b", "Բ"))),
        ),
        "documents": (Document("passport", {"hy": "Անձնագիր"}),),
        "steps": (Step("review", {"hy": "Ուսումնասիրում"}, role="specialist", days=2),),
        "deadline_days": 5,
    }
    values.update(changes)
    return Service(**values)


def plugin_returning(*services, name="bad_plugin"):
    module = types.ModuleType(name)

    @hookimpl
    def register_services():
        return list(services)

    module.register_services = register_services
    return module


def load(*plugins, strict=True):
    return build_plugin_host(
        {
            "HAMAYNK_PLUGINS": list(plugins),
            "HAMAYNK_LOAD_ENTRYPOINTS": False,
            "HAMAYNK_SERVICE_DIRS": [],
            "HAMAYNK_STRICT_PLUGINS": strict,
        }
    )


def error_for(*services) -> str:
    with pytest.raises((DeclarationError, PluginError)) as info:
        load(plugin_returning(*services))
    return str(info.value)


def test_good_service_registers():
    host = load(plugin_returning(good_service()))
    assert host.registry.get("demo-service").service.title["en"] == "Demo"
    assert host.records["bad_plugin"].services == [("demo-service", 1)]


def test_duplicate_key_and_version_names_both_plugins():
    first = plugin_returning(good_service(), name="first_plugin")
    second = plugin_returning(good_service(), name="second_plugin")
    with pytest.raises(DeclarationError) as info:
        load(first, second)
    message = str(info.value)
    assert "plug-in 'second_plugin'" in message
    assert "service 'demo-service'" in message
    assert "version 1 is already declared by plug-in 'first_plugin'" in message


def test_duplicate_key_in_production_disables_only_the_later_plugin():
    first = plugin_returning(good_service(), name="first_plugin")
    second = plugin_returning(good_service(), name="second_plugin")
    host = load(first, second, strict=False)
    assert host.records["first_plugin"].status == "active"
    assert host.records["second_plugin"].status == "disabled"
    assert "already declared by plug-in 'first_plugin'" in host.records["second_plugin"].error
    assert host.registry.get("demo-service").plugin == "first_plugin"


def test_unknown_role():
    message = error_for(good_service(steps=(Step("review", {"hy": "Ստուգում"}, role="boss", days=2),)))
    assert "plug-in 'bad_plugin', service 'demo-service'" in message
    assert "step 'review' has unknown role 'boss'" in message


def test_condition_on_missing_field():
    fields = (
        Field("area", "decimal", {"hy": "Մակերես"}),
        Field("notes", "text", {"hy": "Նշումներ"}, visible_when=Condition("floors", "gt", 2)),
    )
    message = error_for(good_service(fields=fields))
    assert "service 'demo-service'" in message
    assert "field 'notes' visible_when refers to unknown field 'floors'" in message


def test_step_condition_on_missing_field():
    steps = (
        Step("review", {"hy": "Ստուգում"}, role="specialist", days=2),
        Step("fire", {"hy": "Հրդեհային"}, role="specialist", days=2, when=Condition("height", "gt", 10)),
    )
    assert "step 'fire' when refers to unknown field 'height'" in error_for(good_service(steps=steps))


def test_negative_deadline():
    assert "deadline_days -3 must be a whole number of working days, 1 or more" in error_for(
        good_service(deadline_days=-3)
    )


def test_negative_step_days():
    steps = (Step("review", {"hy": "Ստուգում"}, role="specialist", days=-1),)
    assert "step 'review' days -1 must be a whole number" in error_for(good_service(steps=steps))


def test_unknown_file_type():
    documents = (Document("plan", {"hy": "Նախագիծ"}, types=("pdf", "exe")),)
    message = error_for(good_service(documents=documents))
    assert "document 'plan' has unknown file type 'exe'" in message


def test_unknown_field_type():
    message = error_for(good_service(fields=(Field("x", "colour", {"hy": "Գույն"}),)))
    assert "field 'x' has unknown type 'colour'" in message


def test_no_steps():
    assert "needs at least one step" in error_for(good_service(steps=()))


def test_bad_key_and_negative_fee():
    message = error_for(good_service(key="Demo_Service", fee=-100))
    assert "key 'Demo_Service' must be kebab-case" in message
    assert "fee -100 must be a whole number of drams" in message


def test_choice_field_without_choices_and_oversized_document():
    message = error_for(
        good_service(
            fields=(Field("zone", "choice", {"hy": "Գոտի"}),),
            documents=(Document("scan", {"hy": "Սկան"}, max_size_mb=500),),
        )
    )
    assert "field 'zone' of type 'choice' needs choices" in message
    assert "document 'scan' max_size_mb 500 is above the limit" in message


def test_missing_output_template_file():
    message = error_for(good_service(output=Output({"hy": "Վկայական"}, template_file="templates/nope.html")))
    assert "output template_file 'templates/nope.html' does not exist" in message


def test_register_services_returning_garbage():
    with pytest.raises(PluginError) as info:
        load(plugin_returning("not a service"))
    assert "register_services() returned 'not a service', which is not a Service" in str(info.value)


def test_declaration_objects_refuse_bad_values_early():
    with pytest.raises(DeclarationValueError, match="unknown operator 'approx'"):
        Condition("area", "approx", 3)
    with pytest.raises(DeclarationValueError, match="unknown language"):
        Field("x", "text", {"hy": "Ա", "fr": "A"})


def test_definition_dict_with_typo_is_refused():
    data = {
        "key": "typo-service",
        "version": 1,
        "title": {"hy": "Սխալ"},
        "steps": [{"key": "review", "title": {"hy": "Ստուգում"}, "role": "specialist", "days": 2, "requierd": True}],
    }
    with pytest.raises(DefinitionError) as info:
        service_from_dict(data, "typo.yaml")
    assert "typo.yaml.steps[0]: unknown key(s) ['requierd']" in str(info.value)


def test_service_versions_are_looked_up_by_key_and_version():
    host = load(plugin_returning(good_service(), good_service(version=2, title={"hy": "Նոր"})))
    assert host.registry.get("demo-service").version == 2
    assert host.registry.get("demo-service", 1).service.title["hy"] == "Փորձ"
    assert [r.version for r in host.registry.versions("demo-service")] == [1, 2]


def test_pattern_re2_cannot_run_is_refused_naming_plugin_service_field_and_pattern():
    backreference = r"(\d)\1"
    message = error_for(good_service(fields=(Field("code", "text", {"hy": "Կոդ"}, pattern=backreference),)))
    assert message.startswith("plug-in 'bad_plugin', service 'demo-service': ")
    assert f"field 'code' pattern {backreference!r} is not an RE2 regular expression" in message
    assert "backreferences and lookaround are not supported" in message


def test_definition_file_with_a_lookaround_pattern_is_disabled_with_its_error(tmp_path):
    folder = tmp_path / "services"
    folder.mkdir()
    lookahead = r"(?=\d)\w+"
    for key, pattern in (("lookahead-service", lookahead), ("plain-service", r"\d{4}")):
        (folder / f"{key}.yaml").write_text(
            f"key: {key}\nversion: 1\ntitle: {{hy: Ստուգում}}\n"
            f"fields: [{{name: code, type: text, label: {{hy: Կոդ}}, pattern: {json.dumps(pattern)}}}]\n"
            "steps: [{key: review, title: {hy: Ստուգում}, role: specialist, days: 2}]\n",
            encoding="utf-8",
        )
    host = build_plugin_host(
        {"HAMAYNK_LOAD_ENTRYPOINTS": False, "HAMAYNK_SERVICE_DIRS": [str(folder)], "HAMAYNK_STRICT_PLUGINS": False}
    )
    bad = host.records["file:lookahead-service.yaml"]
    assert bad.status == "disabled" and host.registry.get("lookahead-service") is None
    assert "service 'lookahead-service'" in bad.error
    assert f"field 'code' pattern {lookahead!r} is not an RE2 regular expression" in bad.error
    assert host.records["file:plain-service.yaml"].status == "active"
    with pytest.raises(DeclarationError, match="lookahead-service"):
        build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": False, "HAMAYNK_SERVICE_DIRS": [str(folder)]})


def test_patterns_are_refused_when_a_submission_could_spend_too_long_matching_them():
    heavy = r"[\p{L} -]{2,100}"  # a large Unicode class, up to 100 times
    size = patterns.compile_pattern(heavy).size

    def names(max_length, count=1):
        return tuple(
            Field(f"name_{i}", "text", {"hy": "Անուն"}, pattern=heavy, max_length=max_length) for i in range(count)
        )

    message = error_for(good_service(fields=names(None)))
    assert "field patterns are too complex to check on every submission" in message
    assert "set max_length on these fields" in message
    # Each of these two fits the budget alone; one submission checks both, so together they do not.
    half = patterns.MATCH_BUDGET // size // 2 + 1
    assert "too complex" in error_for(good_service(fields=names(half, count=2)))
    host = load(plugin_returning(good_service(fields=names(half - 1, count=2))))
    assert host.registry.get("demo-service") is not None
