"""Every hook in app/plugins/hookspecs.py is documented in docs/plugins.md with its exact signature,
has a docstring saying when it fires, and has a test named test_hook_<name>."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from app.plugins import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
# Hooks live in the "Hook reference" section; other headings (declarations) are not hooks.
HOOK_SECTION = DOCS[DOCS.index("Hook reference") :]
TEST_SOURCES = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))

HOOKS = sorted(
    name for name, obj in vars(hookspecs).items() if inspect.isfunction(obj) and hasattr(obj, "hamaynk_spec")
)


def signature_text(name: str) -> str:
    """``name(arg: Type, ...) -> Return`` as written in the hookspecs source."""
    fn = getattr(hookspecs, name)
    source = inspect.getsource(fn)
    header = source[source.index("def ") + 4 : source.index(":\n", source.index(")"))]
    # The formatter may break a long signature over lines, with a trailing comma.
    flat = re.sub(r"\s+", " ", header).replace("( ", "(")
    return re.sub(r",? \)", ")", flat)


def test_there_are_hooks():
    assert {"register_services", "register_field_types", "validate_application", "applicant_from_registry"} <= set(
        HOOKS
    )


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_exact_signature(name):
    heading = f"### `{signature_text(name)}`"
    assert heading in HOOK_SECTION, f"docs/plugins.md needs the heading: {heading}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_says_when_it_fires(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "fires" in doc.lower(), f"{name}'s docstring must say when it fires"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(name):
    assert re.search(rf"def test_hook_{name}\b", TEST_SOURCES), f"write a test named test_hook_{name}"


def test_docs_do_not_mention_hooks_that_do_not_exist():
    documented = set(re.findall(r"^### `(\w+)\(", HOOK_SECTION, flags=re.MULTILINE))
    assert documented <= set(HOOKS), f"documented but not in hookspecs: {documented - set(HOOKS)}"


@pytest.mark.parametrize("name", ["Service", "Field", "Document", "Step", "Output", "Condition", "Choice", "FieldType"])
def test_every_declaration_field_is_in_the_reference(name):
    """The declaration reference in docs/plugins.md names every field of every declaration class."""
    import dataclasses

    from app import sdk

    reference = DOCS[DOCS.index("Declaration reference") : DOCS.index("Hook reference")]
    missing = [f.name for f in dataclasses.fields(getattr(sdk, name)) if f"`{f.name}`" not in reference]
    assert missing == [], f"docs/plugins.md does not describe {name}.{missing}"
