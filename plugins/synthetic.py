"""Synthetic service plug-ins, for tests and benchmarks of what grows with the number of
plug-ins (start-up, ``flask hamaynk check``, the catalogue). Not a service: never registered
through an entry point.

Each plug-in is an in-memory module carrying a ``register_services`` hook implementation, the
way tests hand plug-ins to the app without installing them::

    create_app("test", overrides={"HAMAYNK_PLUGINS": synthetic_plugins(100)})

Every plug-in declares one valid service shaped like the built-in ones (a dozen fields of the
core types, conditions, a document checklist, a three-step route, an inline output template),
so the registry, the form builder and ``check`` do the same work per plug-in as for a real one.
The declarations are deterministic: the same ``count`` gives the same plug-ins.
"""

from __future__ import annotations

import types

from app.sdk import Choice, Condition, Document, Field, Output, Service, Step, hookimpl

REQUIRES_CORE_API = ">=1,<2"
PREFIX = "synthetic_plugin_"


def _text(what: str, number: int) -> dict[str, str]:
    return {"hy": f"{what} {number} (հայ)", "en": f"{what} {number}", "ru": f"{what} {number} (рус)"}


def synthetic_service(number: int) -> Service:
    """The service of synthetic plug-in ``number``: key ``synthetic-<number>`` (zero-padded)."""
    purposes = tuple(Choice(f"p{i}", _text("Purpose", i)) for i in range(4))
    other = (Condition("purpose", "eq", "p3"),)
    return Service(
        key=f"synthetic-{number:03d}",
        version=1,
        category="synthetic",
        title=_text("Synthetic service", number),
        description=_text("A generated service for benchmarks", number),
        fee=1000 * (number % 5),
        deadline_days=5 + number % 10,
        fields=(
            Field("full_name", "text", _text("Full name", number), required=True, max_length=200),
            Field("address", "address", _text("Address", number), required=True, max_length=300),
            Field("purpose", "choice", _text("Purpose", number), required=True, choices=purposes),
            Field("purpose_other", "text", _text("Other purpose", number), visible_when=other, required_when=other),
            Field("details", "textarea", _text("Details", number), max_length=2000),
            Field("area", "decimal", _text("Area", number), min_value=0, max_value=100000),
            Field("copies", "integer", _text("Copies", number), required=True, min_value=1, max_value=5),
            Field("wanted_on", "date", _text("Wanted on", number)),
            Field("email", "email", _text("E-mail", number)),
            Field("phone", "phone", _text("Phone", number)),
            Field("on_behalf", "boolean", _text("On someone's behalf", number)),
            Field("extras", "multichoice", _text("Extras", number), choices=purposes[:3]),
        ),
        documents=(
            Document("identity", _text("Passport or ID card", number), max_count=2),
            Document(
                "power_of_attorney",
                _text("Power of attorney", number),
                required=False,
                required_when=(Condition("on_behalf", "eq", True),),
            ),
            Document("plan", _text("Plan", number), required=False, types=("pdf",), max_size_mb=20),
        ),
        steps=(
            Step("intake_check", _text("Intake check", number), role="specialist", days=1, department="front_office"),
            Step("review", _text("Review", number), role="specialist", days=2),
            Step(
                "decision",
                _text("Decision", number),
                role="head",
                days=1,
                actions=("approve", "reject"),
                forbid_self_approval=True,
            ),
        ),
        output=Output(
            title=_text("Certificate", number),
            template="<h1>{{ service_title }}</h1><p>{{ application.applicant_name }}</p>",
        ),
    )


def synthetic_plugin(number: int) -> types.ModuleType:
    """One plug-in module (named ``synthetic_plugin_<number>``) declaring :func:`synthetic_service`."""
    module = types.ModuleType(f"{PREFIX}{number:03d}")
    module.REQUIRES_CORE_API = REQUIRES_CORE_API  # type: ignore[attr-defined]
    service = synthetic_service(number)

    @hookimpl
    def register_services() -> list[Service]:
        return [service]

    module.register_services = register_services  # type: ignore[attr-defined]
    return module


def synthetic_plugins(count: int = 100) -> list[types.ModuleType]:
    """``count`` plug-ins, numbered from 1."""
    return [synthetic_plugin(number) for number in range(1, count + 1)]
