"""Issue 14 item 9: the tutorial in docs/plugins.md, taken from its code blocks, is a real
package: built as a wheel (not an editable install), installed into a fresh virtualenv, it
passes its own tests there, Armenian message included. No network: the wheel is built
without build isolation and the fresh venv reaches Hamaynk and its dependencies through the
project's own environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(r"^ *```(\w+)\n(.*?)^ *```", re.MULTILINE | re.DOTALL)


def doc_blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def tutorial_package(target: Path) -> Path:
    """Write the package exactly as the tutorial shows it, block by block."""
    root = target / "hamaynk-tree-felling"
    module = root / "hamaynk_tree_felling"
    (module / "templates").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(doc_blocks("toml")[0], encoding="utf-8")
    (module / "templates" / "permit.html").write_text(doc_blocks("html")[0], encoding="utf-8")
    python = doc_blocks("python")
    declaration = next(b for b in python if "SERVICE = Service(" in b)
    (module / "__init__.py").write_text(declaration, encoding="utf-8")
    tests = [b for b in python if "hamaynk_tree_felling" in b and "def test_" in b]
    assert len(tests) >= 3
    for n, body in enumerate(tests):
        (root / "tests" / f"test_tutorial_{n}.py").write_text(body, encoding="utf-8")
    catalog = module / "translations" / "hy" / "LC_MESSAGES"
    catalog.mkdir(parents=True)
    (catalog / "messages.po").write_text(doc_blocks("po")[0], encoding="utf-8")
    return root


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_tutorial_wheel_installs_into_a_fresh_venv_and_passes_its_tests(tmp_path):
    root = tutorial_package(tmp_path)
    # As the tutorial says: compile the catalog, then build a wheel (no editable install).
    run(Path(sys.executable).with_name("pybabel"), "compile", "-d", root / "hamaynk_tree_felling" / "translations")
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", dist, root)
    wheel = next(dist.glob("hamaynk_tree_felling-1.0.0-*.whl"))

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    venv_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    # Hamaynk and its locked dependencies come from this project's environment, as if the
    # fresh venv had them installed; the plug-in comes only from the wheel.
    project_site = sysconfig.get_paths()["purelib"]
    (venv_site / "zz_hamaynk_project.pth").write_text(f"import site; site.addsitedir({project_site!r})\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel)

    installed = venv_site / "hamaynk_tree_felling"
    assert (installed / "templates" / "permit.html").is_file()
    assert (installed / "translations" / "hy" / "LC_MESSAGES" / "messages.mo").is_file()
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HAMAYNK_")}
    where = run(python, "-c", "import hamaynk_tree_felling; print(hamaynk_tree_felling.__file__)", cwd=work, env=env)
    assert where.stdout.strip().startswith(str(venv_site))
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", root / "tests", cwd=work, env=env)
    assert re.search(r"\b4 passed\b", tests.stdout), tests.stdout
