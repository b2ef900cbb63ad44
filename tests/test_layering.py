"""The layering rules, enforced by the suite as well as by CI.

The import contracts (audiences -> plug-in machinery -> domain -> models, and what the domain
may not import) live in pyproject.toml's ``[tool.importlinter]``. One rule a contract cannot
say: the domain never uses ``flask.current_app`` — it is handed the registry, host or config
it needs, so it runs the same in a request, a job, the CLI and a plain test.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Neither the domain nor the models may look up the running app.
APP_FREE = [ROOT / "app" / "domain", ROOT / "app" / "models"]


def current_app_uses(source: str) -> list[int]:
    """Line numbers where ``source`` imports or names ``current_app`` (``flask.current_app``
    and ``from flask import current_app as x`` included)."""

    def names_it(node: ast.AST) -> bool:
        if isinstance(node, ast.ImportFrom):
            return any(alias.name == "current_app" for alias in node.names)
        if isinstance(node, ast.Attribute):
            return node.attr == "current_app"
        return isinstance(node, ast.Name) and node.id == "current_app"

    return sorted({node.lineno for node in ast.walk(ast.parse(source)) if names_it(node)})


@pytest.mark.parametrize(
    "source, found",
    [
        ("from flask import current_app\n", [1]),
        ("def f():\n    from flask import g, current_app as ca\n    return ca\n", [2]),
        ("import flask\n\nx = flask.current_app.config\n", [3]),
        ("def f(app):\n    return (app or current_app).config\n", [2]),
        ("from flask import Flask\n\ndef f(app: Flask):\n    return app.config\n", []),
    ],
)
def test_the_current_app_detector_sees_every_form(source, found):
    assert current_app_uses(source) == found


def test_domain_and_models_never_use_current_app():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in APP_FREE
        for path in sorted(package.rglob("*.py"))
        for line in current_app_uses(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "pass the registry, host or config in instead: " + ", ".join(offenders)


def test_import_contracts_are_kept():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
            "--no-cache",
            "--no-logo",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(result.stdout + result.stderr, pytrace=False)
