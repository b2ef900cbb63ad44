"""Code blocks in docs/ are part of the feature: they parse, plug-in authors' examples import
only what authors may import, the test examples pass against the example plug-in, and the
definition-file example loads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from app.domain.fieldtypes import CORE_FIELD_TYPES
from app.plugins.registry import validate_service
from app.sdk import service_from_dict

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"^ *```(\w+)\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
# What a plug-in author may import from Hamaynk: the SDK, and the test kit in tests.
AUTHOR_MODULES = {"app.sdk", "app.testing"}


def blocks(doc: str, language: str) -> list[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return [body for lang, body in BLOCK.findall(text) if lang == language]


def all_python_blocks() -> list[tuple[str, int, str]]:
    return [
        (doc.name, n, body) for doc in sorted(DOCS.glob("*.md")) for n, body in enumerate(blocks(doc.name, "python"))
    ]


def test_docs_have_python_examples():
    assert len(blocks("plugins.md", "python")) >= 4


@pytest.mark.parametrize(("doc", "n", "body"), all_python_blocks(), ids=lambda v: str(v)[:20])
def test_python_block_parses(doc, n, body):
    ast.parse(body, filename=f"{doc}#{n}")


@pytest.mark.parametrize("body", blocks("plugins.md", "python"), ids=lambda v: v.split("\n", 1)[0][:30])
def test_author_examples_import_only_the_sdk_and_the_test_kit(body):
    for node in ast.walk(ast.parse(body)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "app":
            assert node.module in AUTHOR_MODULES, f"docs/plugins.md example imports {node.module}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name.split(".")[0] != "app" or alias.name in AUTHOR_MODULES, alias.name


def example_tests() -> list[tuple[str, str]]:
    found = []
    for body in blocks("plugins.md", "python"):
        if "hamaynk_tree_felling" not in body:
            continue
        for node in ast.parse(body).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                found.append((node.name, body))
    return found


def test_the_tutorial_has_runnable_tests():
    assert len(example_tests()) >= 3


@pytest.mark.parametrize(("name", "body"), example_tests(), ids=lambda v: v if v.startswith("test_") else "")
def test_tutorial_test_passes_against_the_example_plugin(name, body, hamaynk_app_factory):
    namespace: dict = {"__name__": f"docs_example_{name}"}
    exec(compile(body, f"docs/plugins.md:{name}", "exec"), namespace)
    namespace[name](hamaynk_app_factory)


@pytest.mark.parametrize("body", blocks("plugins.md", "yaml"))
def test_definition_file_examples_load(body):
    document = yaml.safe_load(body)
    service = service_from_dict(document, "docs/plugins.md")
    assert service.key == document["key"]
    assert validate_service(service, CORE_FIELD_TYPES, None) == []


def recount_example() -> tuple[str, list[str]]:
    """docs/participation.md's worked example: the ballot list (shown pretty; the download is
    its canonical JSON) and the console block (the command, then its output)."""
    (listing,) = [body for body in blocks("participation.md", "json") if "hamaynk.ballots/1" in body]
    (console,) = [body for body in blocks("participation.md", "console") if "polls recount" in body]
    return listing, console.strip("\n").split("\n")


def test_the_recount_example_prints_what_the_docs_say(app, tmp_path, monkeypatch):
    import hashlib
    import json
    import shlex

    from app.domain.participation import ballots

    listing, (command, *expected) = recount_example()
    args = shlex.split(command.removeprefix("$ "))
    assert args[:2] == ["flask", "hamaynk"]
    canonical = ballots.canonical_json(json.loads(listing))
    (tmp_path / args[4]).write_text(canonical, encoding="utf-8")
    assert args[-1] == hashlib.sha256(canonical.encode("utf-8")).hexdigest(), "the sha256 in the example"
    monkeypatch.chdir(tmp_path)
    result = app.test_cli_runner().invoke(args=args[1:])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip("\n").split("\n") == expected
