"""Issue 14, "Must show": a plug-in package with 19 typical mistakes spread over several
modules. One ``flask hamaynk check`` in the default mode (development: strict plug-ins)
names every one with its plug-in, shows the two warnings, exits 1 and prints no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "mistakes"
MODULES = ("declarations", "future", "malformed", "hooks", "strings", "registry_client", "unversioned")

# (plug-in module, words the line must carry): one entry per mistake.
MISTAKES = [
    ("declarations", "field 'plot' has unknown type 'plot_number'"),
    ("declarations", "field 'name' is declared twice"),
    ("declarations", "service 'burial-plot': version 1 is declared twice"),
    ("declarations", "key 'Burial_Plot_Extension' must be kebab-case"),
    ("declarations", "step 'review' has unknown role 'gravedigger'"),
    ("declarations", "compares field 'kind' with 'crypt', which it does not offer"),
    ("declarations", "required_when refers to unknown field 'relative'"),
    ("declarations", "document 'death_certificate' has unknown file type 'doc'"),
    ("declarations", "step 'decision' must allow 'approve'"),
    ("declarations", "department 'Cemetery Dept' must be a department code"),
    ("declarations", "deadline_days 0 must be a whole number"),
    ("declarations", "output template_file 'templates/decision.html' does not exist"),
    ("future", "needs core API >=2,<3, but this Hamaynk provides"),
    ("malformed", "REQUIRES_CORE_API 'version one or later' is not a version range"),
    ("hooks", "hook 'register_service' does not exist; did you mean 'register_services'?"),
    ("hooks", "hook 'validate_application' takes argument(s) ['request']"),
    ("strings", "register_services() must return a list of Service, got str"),
    ("strings", "field type 'text' is already registered by 'core'"),
    ("registry_client", "No module named 'hamaynk_cemetery_registry_client'"),
]
WARNINGS = [
    ("unversioned", "has no REQUIRES_CORE_API"),
    ("unversioned", "asks field 'kind' to equal"),
]


def test_one_check_in_the_default_mode_names_all_nineteen_mistakes(tmp_path):
    assert len(MISTAKES) == 19
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HAMAYNK_", "FLASK_")) and k != "DATABASE_URL"}
    env.update(
        PYTHONPATH=os.pathsep.join([str(FIXTURE), str(ROOT)]),
        HAMAYNK_PLUGINS=",".join(f"hamaynk_mistakes.{m}" for m in MODULES),
        HAMAYNK_LOAD_ENTRYPOINTS="0",
        HAMAYNK_INSTANCE_DIR=str(tmp_path),
        HAMAYNK_SERVICE_DIRS=str(tmp_path / "services"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app:create_app", "hamaynk", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    lines = output.splitlines()
    for module, words in MISTAKES:
        plugin = f"hamaynk_mistakes.{module}"
        assert any(line.startswith(f"ERROR {plugin} ") and words in line for line in lines), (plugin, words, output)
    for module, words in WARNINGS:
        plugin = f"hamaynk_mistakes.{module}"
        assert any(line.startswith(f"warning: {plugin} ") and words in line for line in lines), (plugin, words)
    # Exactly these: nothing reported twice, nothing invented.
    assert sum(line.startswith("ERROR ") for line in lines) == 19, output
    assert "19 problem(s)" in output


def test_the_same_package_stops_a_strict_start_listing_every_problem(monkeypatch):
    import pytest

    from app.plugins.host import PluginsFailed, build_plugin_host

    monkeypatch.syspath_prepend(str(FIXTURE))
    with pytest.raises(PluginsFailed) as info:
        build_plugin_host(
            {"HAMAYNK_PLUGINS": [f"hamaynk_mistakes.{m}" for m in MODULES], "HAMAYNK_LOAD_ENTRYPOINTS": False}
        )
    message = str(info.value)
    assert message.startswith("10 problem(s) in plug-in(s)")  # one per bad service or module check
    for _module, words in MISTAKES:
        assert words in message
