"""`python3 dev.py audit`: pip-audit's report read so that "nothing was checked" never passes as
"no known vulnerabilities". pip-audit exits 0 when PyPI's JSON API answers 404 for every
package (as where it cannot be reached but the index can), listing them all as skipped."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _verdict():
    spec = importlib.util.spec_from_file_location("hamaynk_dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.audit_verdict, module.AUDIT_UNCHECKED


def _skipped(name: str) -> dict:
    return {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name} (1.0)"}


def _checked(name: str, *vulns: dict) -> dict:
    return {"name": name, "version": "1.0", "vulns": list(vulns), "fixes": []}


def test_every_package_checked_and_clean_passes():
    verdict, _unchecked = _verdict()
    status, lines = verdict({"dependencies": [_checked("flask"), _checked("jinja2")], "fixes": []})
    assert status == 0
    assert lines == ["pip-audit checked all 2 locked packages: no known vulnerabilities"]


def test_a_known_vulnerability_fails_and_is_named():
    verdict, _unchecked = _verdict()
    vuln = {"id": "PYSEC-2099-1", "fix_versions": ["1.1"], "aliases": [], "description": ""}
    status, lines = verdict({"dependencies": [_checked("flask", vuln), _checked("jinja2")]})
    assert status == 1
    assert lines == ["flask 1.0: PYSEC-2099-1 (fixed in 1.1)"]


def test_nothing_checked_is_not_a_pass():
    verdict, unchecked = _verdict()
    status, lines = verdict({"dependencies": [_skipped("flask"), _skipped("jinja2")], "fixes": []})
    assert status == unchecked != 0
    assert "could check none of 2 packages" in lines[-1]
    # pip-audit wrote no report at all (it could not connect, say): the same.
    status, lines = verdict(None, "exit 1: Could not connect to PyPI's vulnerability feed")
    assert status == unchecked
    assert "Could not connect" in lines[0]


def test_a_package_left_unchecked_while_others_were_checked_fails():
    verdict, _unchecked = _verdict()
    status, lines = verdict({"dependencies": [_checked("flask"), _skipped("private-thing")]})
    assert status == 1
    assert lines == [
        "not checked: private-thing: Dependency not found on PyPI and could not be audited: private-thing (1.0)"
    ]


def test_ci_audits_through_dev_py():
    """CI runs the audit that reads the report (not pip-audit's own exit status, which passes
    when nothing was checked) and repeats the warning at the end of the run."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 dev.py audit" in ci
    assert ".venv/bin/pip-audit" not in ci
