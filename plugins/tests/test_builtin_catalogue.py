"""All built-in services together: they load side by side and meet the catalogue's standards."""

from __future__ import annotations

import importlib

import pytest

from app.demo import DEPARTMENTS
from app.domain.declarations import LANGUAGES
from app.testing import builtin_plugins

EXPECTED = {
    "address-assignment",
    "construction-permit",
    "kindergarten-enrolment",
    "public-event",
    "residence-certificate",
    "social-assistance",
    "trade-permit",
}
DEPARTMENT_CODES = {code for code, *_names in DEPARTMENTS}


@pytest.fixture
def registry(hamaynk_app_factory):
    flask_app = hamaynk_app_factory()
    host = flask_app.extensions["hamaynk.plugins"]
    assert {name: record.error for name, record in host.records.items() if record.error} == {}
    return host.registry


def all_texts(service):
    """(where, mapping) for every translatable text of a service."""
    yield "title", service.title
    for name in ("description", "who_may_apply", "delivery", "legal_basis"):
        yield name, getattr(service, name)
    for spec in service.fields:
        yield f"field {spec.name}", spec.label
        if spec.help:
            yield f"field {spec.name} help", spec.help
        for choice in spec.choices:
            yield f"field {spec.name} choice {choice.value}", choice.label
    for doc in service.documents:
        yield f"document {doc.key}", doc.title
    for step in service.steps:
        yield f"step {step.key}", step.title
        if step.citizen_text:
            yield f"step {step.key} citizen_text", step.citizen_text
    if service.output:
        yield "output", service.output.title


def test_all_builtin_services_load_together(registry):
    assert set(registry.keys()) == EXPECTED
    assert len(builtin_plugins()) == len(EXPECTED)


def test_every_text_has_armenian_english_and_russian(registry):
    missing = [
        f"{registered.key}: {where} lacks {lang}"
        for registered in registry.latest()
        for where, texts in all_texts(registered.service)
        for lang in LANGUAGES
        if not texts.get(lang, "").strip()
    ]
    assert missing == []


def test_steps_use_demo_departments_and_fit_the_deadline(registry):
    for registered in registry.latest():
        service = registered.service
        for step in service.steps:
            assert step.department is None or step.department in DEPARTMENT_CODES, (service.key, step.key)
        # Even the longest route (every conditional step taken) fits the statutory deadline.
        assert sum(step.days for step in service.steps) <= service.deadline_days, service.key


def test_every_service_issues_a_template_file(registry):
    for registered in registry.latest():
        output = registered.service.output
        assert output is not None and output.template_file, registered.key
        assert (registered.base_path / output.template_file).is_file(), registered.key


@pytest.mark.parametrize("import_path", sorted(builtin_plugins()))
def test_plugin_modules_state_api_and_process(import_path):
    module = importlib.import_module(import_path)
    assert module.REQUIRES_CORE_API == ">=1,<2"
    process = module.__doc__ or ""
    assert "\n1. " in process and "\n2. " in process
