"""The SDK's types say the same as the core: the Literal vocabularies match the values the
core checks and stores, the read-only views match the rows hooks are handed, and no hook
signature names a type a plug-in cannot import from app.sdk. mypy (CI) checks the types of
the view members; these tests catch what it cannot see at run time."""

from __future__ import annotations

import inspect
import typing
from types import SimpleNamespace
from typing import get_args

import pytest

from app import sdk
from app.domain import roles, statuses, workflow
from app.domain.declarations import DOCUMENT_TYPES
from app.models import Application, TransitionRecord
from app.plugins import hookspecs


def test_role_keys_are_the_domain_roles():
    assert set(get_args(sdk.RoleKey)) == set(roles.ROLE_BY_KEY)
    assert set(sdk.STEP_ROLES) <= set(sdk.ROLE_KEYS)
    assert "citizen" not in sdk.STEP_ROLES


def test_transition_actions_are_what_the_workflow_records():
    assert set(sdk.TRANSITION_ACTIONS) == set(workflow.ACTIONS)
    assert set(sdk.ACTIONS) <= set(sdk.TRANSITION_ACTIONS)


def test_document_types_are_the_detectable_ones():
    assert set(get_args(sdk.DocumentType)) == set(DOCUMENT_TYPES)


@pytest.mark.parametrize(
    "alias, values",
    [
        (sdk.StepRole, sdk.STEP_ROLES),
        (sdk.Action, sdk.ACTIONS),
        (sdk.ConditionOp, sdk.CONDITION_OPS),
        (sdk.FeePeriod, sdk.FEE_PERIODS),
        (sdk.PythonType, sdk.PYTHON_TYPES),
        (sdk.InputType, sdk.INPUT_TYPES),
    ],
)
def test_each_tuple_lists_its_literal(alias, values):
    assert values == get_args(alias)


def test_a_literal_outside_its_type_is_refused_at_start_up():
    """Definition files are untyped; the registry checks what the type would have."""
    from app.domain.fieldtypes import CORE_FIELD_TYPES
    from app.plugins.registry import validate_service

    service = sdk.Service(
        key="typed",
        version=1,
        title="Տիպեր",
        fee_period="weekly",
        steps=(sdk.Step("check", "Ստուգում", role="citizen", days=1, actions=("approve", "escalate")),),
    )
    problems = " ".join(validate_service(service, CORE_FIELD_TYPES))
    assert "fee_period 'weekly'" in problems
    assert "unknown role 'citizen'" in problems
    assert "unknown action 'escalate'" in problems
    with pytest.raises(ValueError, match="unknown operator"):
        sdk.Condition("zone", "like", "x")


def test_the_rows_hooks_receive_have_every_member_of_their_view():
    application = Application(tracking_number="ABV-2026-000001-X", status=statuses.DRAFT, data={})
    record = TransitionRecord(action="submit", to_status=statuses.SUBMITTED)
    assert isinstance(application, sdk.ApplicationView)
    assert isinstance(record, sdk.TransitionView)


def _members(view: type) -> set[str]:
    return {name for name, value in vars(view).items() if isinstance(value, property)}


@pytest.mark.parametrize(
    "view, some_members",
    [
        (sdk.ApplicationView, {"tracking_number", "status", "data", "due_at"}),
        (sdk.TransitionView, {"action", "from_status", "to_status", "at"}),
    ],
)
def test_a_view_needs_every_one_of_its_members(view, some_members):
    members = _members(view)
    assert some_members <= members
    assert isinstance(SimpleNamespace(**dict.fromkeys(members)), view)
    # Not just any object with a few of the right names: each member counts.
    for missing in sorted(members):
        partial = SimpleNamespace(**dict.fromkeys(members - {missing}))
        assert not isinstance(partial, view), f"{view.__name__} without {missing}"


HOOKS = sorted(
    name for name, obj in vars(hookspecs).items() if inspect.isfunction(obj) and hasattr(obj, "hamaynk_spec")
)


def _classes(hint: object) -> list[type]:
    """Every class a type hint names (through unions, generics and aliases)."""
    found = [hint] if isinstance(hint, type) else []
    for arg in get_args(hint):
        found += _classes(arg)
    return found


@pytest.mark.parametrize("name", HOOKS)
def test_hooks_name_only_types_a_plugin_can_import_from_the_sdk(name):
    hints = typing.get_type_hints(getattr(hookspecs, name))
    leaked = [
        f"{cls.__module__}.{cls.__qualname__}"
        for hint in hints.values()
        for cls in _classes(hint)
        if cls.__module__.startswith("app.") and getattr(sdk, cls.__name__, None) is not cls
    ]
    assert leaked == [], f"{name} names types that app.sdk does not export"


def test_every_name_the_sdk_exports_exists():
    assert sorted(sdk.__all__) == sorted(set(sdk.__all__))
    missing = [name for name in sdk.__all__ if not hasattr(sdk, name)]
    assert missing == []
