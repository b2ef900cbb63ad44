"""The layering rules, enforced by the suite as well as by CI.

The import contracts (audiences -> i18n -> plug-in machinery -> domain -> models, and what the
domain may not import) live in pyproject.toml's ``[tool.importlinter]``. One rule a contract
cannot say: the domain and the models never touch Flask's request-bound globals
(``request``, ``g``, ``session``, ``current_app``) or Flask-Login's ``current_user``. They are
handed the actor, registry, host or config they need, so they run the same in a request, a
job, the CLI and a plain test.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Neither the domain nor the models may depend on a request or the running app.
REQUEST_FREE = [ROOT / "app" / "domain", ROOT / "app" / "models"]

_FLASK_GLOBALS = frozenset({"request", "g", "session", "current_app"})
# module -> the request-bound names it offers
REQUEST_BOUND = {
    "flask": _FLASK_GLOBALS,
    "flask.globals": _FLASK_GLOBALS,
    "flask_login": frozenset({"current_user"}),
    "flask_login.utils": frozenset({"current_user"}),
}
# Names nothing else in the code base uses: seen bare, they can only be the globals.
UNMISTAKABLE = frozenset({"current_app", "current_user"})


def _imported_modules(tree: ast.AST) -> dict[str, str]:
    """Local name -> module for every ``import``: ``import flask.globals`` binds ``flask``,
    ``import flask.globals as fg`` binds ``fg`` to ``flask.globals``."""
    modules = {}
    for node in ast.walk(tree):
        for alias in node.names if isinstance(node, ast.Import) else ():
            if alias.asname:
                modules[alias.asname] = alias.name
            else:
                top = alias.name.partition(".")[0]
                modules[top] = top
    return modules


def _dotted(node: ast.expr, modules: dict[str, str]) -> str | None:
    """``flask.g`` for ``fl.g`` after ``import flask as fl``; None unless rooted in a module."""
    if isinstance(node, ast.Name):
        return modules.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, modules)
        return f"{base}.{node.attr}" if base else None
    return None


def request_bound_uses(source: str) -> list[int]:
    """Line numbers where ``source`` imports or names a request-bound global: ``from flask
    import g``, ``import flask`` then ``flask.request``, ``from flask_login import
    current_user as user``, a star import from those modules, or a bare ``current_app``."""
    tree = ast.parse(source)
    modules = _imported_modules(tree)

    def names_one(node: ast.AST) -> bool:
        if isinstance(node, ast.ImportFrom):
            offered = REQUEST_BOUND.get(node.module or "", frozenset())
            return any(alias.name in offered or (offered and alias.name == "*") for alias in node.names)
        if isinstance(node, ast.Attribute):
            module, _, name = (_dotted(node, modules) or "").rpartition(".")
            return name in REQUEST_BOUND.get(module, ())
        return isinstance(node, ast.Name) and node.id in UNMISTAKABLE

    return sorted({node.lineno for node in ast.walk(tree) if names_one(node)})


@pytest.mark.parametrize(
    "source, found",
    [
        ("from flask import current_app\n", [1]),
        ("def f():\n    from flask import g, current_app as ca\n    return ca\n", [2]),
        ("import flask\n\nx = flask.current_app.config\n", [3]),
        ("def f(app):\n    return (app or current_app).config\n", [2]),
        ("from flask import request\n", [1]),
        ("from flask import session as web_session\n", [1]),
        ("from flask import *\n", [1]),
        ("from flask.globals import g\n", [1]),
        ("import flask as fl\n\nfl.g.cache = {}\n", [3]),
        ("import flask.globals\n\nuser_id = flask.globals.session['user']\n", [3]),
        ("import flask.globals as fg\n\nfg.request.args\n", [3]),
        ("from flask_login import current_user as user\n", [1]),
        ("import flask_login\n\nwho = flask_login.current_user\n", [3]),
        ("def f():\n    return current_user.id\n", [2]),
        # What the domain legitimately does with the same words:
        ("from flask import Flask\n\ndef f(app: Flask):\n    return app.config\n", []),
        ("def f(session, g):\n    return session.get(g.request, 1)\n", []),
        ("from app.extensions import db\n\ndb.session.commit()\n", []),
        ("from flask_babel import gettext, get_locale\n", []),
    ],
)
def test_the_request_global_detector_sees_every_form(source, found):
    assert request_bound_uses(source) == found


def test_domain_and_models_never_use_request_bound_globals():
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in REQUEST_FREE
        for path in sorted(package.rglob("*.py"))
        for line in request_bound_uses(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "pass the actor, registry, host or config in instead: " + ", ".join(offenders)


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
