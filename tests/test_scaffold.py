"""The scaffolded package installs with pip and passes its own tests straight away."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from app.cli import new_service_command

# What a plug-in may import from Hamaynk: everything else may change without notice.
PLUGIN_API = {"app.sdk", "app.testing"}


def hamaynk_imports(path: Path) -> set[str]:
    """The ``app`` modules a Python file imports (``from app import x`` counts as ``app.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "app":
            found |= {f"app.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name == "app" or name.startswith("app.")}


def test_the_import_finder_sees_every_form(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        "import app.plugins.host\nfrom app import sdk\nfrom app.testing import walk\nimport application\n"
        "def f():\n    from app.plugins import runtime\n",
        encoding="utf-8",
    )
    assert hamaynk_imports(source) == {"app.plugins.host", "app.sdk", "app.testing", "app.plugins"}


def test_new_service_refuses_a_bad_key(tmp_path):
    result = CliRunner().invoke(new_service_command, ["Tree_Felling", "--dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "'Tree_Felling' is not a service key" in result.output
    assert list(tmp_path.iterdir()) == []


def test_new_service_refuses_to_overwrite(tmp_path):
    assert CliRunner().invoke(new_service_command, ["bee-keeping", "--dir", str(tmp_path)]).exit_code == 0
    again = CliRunner().invoke(new_service_command, ["bee-keeping", "--dir", str(tmp_path)])
    assert again.exit_code != 0 and "already exists" in again.output


def test_scaffolded_package_is_installable_and_green(tmp_path):
    result = CliRunner().invoke(
        new_service_command, ["street-vending", "--dir", str(tmp_path), "--title", "Street vending permit"]
    )
    assert result.exit_code == 0, result.output
    package = tmp_path / "hamaynk-street-vending"
    generated = sorted(package.rglob("*.py"))
    assert len(generated) == 2
    for path in generated:
        assert hamaynk_imports(path) <= PLUGIN_API, path.name
    site = tmp_path / "site"
    # A real pip install (into a private folder, so this test leaves the environment as it was).
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    assert (site / "hamaynk_street_vending" / "templates" / "output.html").is_file()
    env = dict(os.environ, PYTHONPATH=str(site))
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout


def test_installed_scaffold_shows_its_own_armenian_message_on_the_armenian_office_page(tmp_path, monkeypatch):
    """Issue 14 item 7: a plug-in ships its catalogs; the core's gettext finds them."""
    import re

    from app.extensions import db
    from app.testing import enable_service, login, make_app, seed_municipality

    assert CliRunner().invoke(new_service_command, ["plot-lease", "--dir", str(tmp_path)]).exit_code == 0
    site = tmp_path / "site"
    install = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps"),
            *("--no-build-isolation", "--target", str(site), str(tmp_path / "hamaynk-plot-lease")),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    # Installed, not the source folder: the catalogs came through the package data.
    assert (site / "hamaynk_plot_lease" / "translations" / "hy" / "LC_MESSAGES" / "messages.mo").is_file()
    monkeypatch.syspath_prepend(str(site))
    app = make_app(tmp_path, plugins=["hamaynk_plot_lease"])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    enable_service(app, "alpha", "plot-lease")
    client = app.test_client()
    login(client, "alpha.clerk")
    form = client.get("/office/new/plot-lease?_l_=hy").get_data(as_text=True)
    token = re.search(r'name="applicant-token" type="hidden" value="([A-Za-z0-9_-]{32})"', form).group(1)
    response = client.post(
        "/office/new/plot-lease",
        data={"applicant-token": token, "applicant-name": "Արամ", "address": "Աբովյան 1", "details": "<b>"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'lang="hy"' in page
    assert "Հեռացրեք անկյունային փակագծերը։" in page
    assert "Remove the angle brackets." not in page
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
