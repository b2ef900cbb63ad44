"""Start-up stays lean (issue 13): building the app imports no module that only some requests,
jobs or commands need, and ``flask hamaynk check`` handles a hundred service plug-ins.

No times are measured here (bench/startup.py does that); these tests fail when someone imports
one of the heavy modules at module level again, or when ``check`` loses a plug-in.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
import types

from click.testing import CliRunner, Result
from flask.cli import ScriptInfo

from app.sdk import hookimpl
from app.testing import builtin_plugins, enable_service, make_app, seed_municipality
from plugins.synthetic import synthetic_plugins, synthetic_service

# Imported on first use only: PDF layout (receipts, issued documents), QR codes, charts,
# spreadsheets, signing, S3, the job queue and its storages, migrations, password strength,
# identity providers.
LAZY = (
    "fpdf",
    "fontTools",
    "app.domain.pdfdocs",
    "segno",
    "pygal",
    "xlsxwriter",
    "pyhanko",
    "boto3",
    "botocore",
    "huey",
    "redis",
    "flask_migrate",
    "alembic",
    "zxcvbn",
    "authlib",
)

_PROBE = """
import json, sys
from app import create_app
create_app("test", overrides=json.loads(sys.argv[1]))
lazy = json.loads(sys.argv[2])
print(json.dumps(sorted(m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in lazy))))
"""


def test_every_lazy_module_is_installed():
    # Otherwise "not imported" below would hold for a module that cannot be imported at all.
    missing = [name for name in LAZY if importlib.util.find_spec(name) is None]
    assert missing == []


def test_building_the_app_imports_none_of_the_lazy_modules(tmp_path):
    overrides = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'startup.sqlite3'}",
        "HAMAYNK_PLUGINS": builtin_plugins(),
        "HAMAYNK_STORAGE_PATH": str(tmp_path / "documents"),
    }
    # A fresh interpreter: this test process has long imported everything.
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(overrides), json.dumps(LAZY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def _check(app) -> Result:
    from app.cli import check_command

    return CliRunner().invoke(check_command, obj=ScriptInfo(create_app=lambda: app))


def test_check_with_a_hundred_plugins_lists_them_all(tmp_path):
    app = make_app(tmp_path, plugins=[*builtin_plugins(), *synthetic_plugins(100)])
    alpha = seed_municipality(app, "alpha", "Alpha")
    for number in (1, 50, 100):
        enable_service(app, alpha, f"synthetic-{number:03d}")

    result = _check(app)

    assert result.exit_code == 0, result.output
    total = len(builtin_plugins()) + 100
    assert f"{total} plug-in(s) active, {total} service version(s), 0 problem(s)" in result.output
    assert "ERROR" not in result.output
    # The staffing report reaches the synthetic services offered in alpha: nobody in alpha's
    # front office is a specialist, so their first step has no one to act on it.
    for number in (1, 50, 100):
        assert (
            f"warning: alpha: service 'synthetic-{number:03d}' v1, step 'intake_check': "
            "nobody active with the role 'Specialist' in department 'front_office'"
        ) in result.output
    assert "synthetic-002' v1, step" not in result.output  # not offered in alpha


def test_check_with_a_hundred_plugins_names_the_broken_one(tmp_path):
    plugins = synthetic_plugins(100)
    broken = types.ModuleType("synthetic_plugin_057")
    bad = dataclasses.replace(synthetic_service(57), deadline_days=-2)

    @hookimpl
    def register_services():
        return [bad]

    broken.register_services = register_services  # type: ignore[attr-defined]
    plugins[56] = broken
    app = make_app(tmp_path, plugins=plugins, HAMAYNK_STRICT_PLUGINS=False)

    result = _check(app)

    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1
    assert errors[0].startswith("ERROR synthetic_plugin_057") and "'synthetic-057'" in errors[0]
    assert "deadline_days -2" in errors[0]
    assert "99 plug-in(s) active, 99 service version(s), 1 problem(s)" in result.output
