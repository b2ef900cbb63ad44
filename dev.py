#!/usr/bin/env python3
"""Hamaynk's quick start: needs only Python 3.11+.

    python3 dev.py run     set up (virtualenv, install, migrate, demo data) and serve on
                           http://127.0.0.1:5000
    python3 dev.py test    run the whole test suite (extra arguments go to pytest)
    python3 dev.py test --postgres
                           the whole suite again on PostgreSQL (HAMAYNK_TEST_POSTGRES_URL,
                           default postgresql://postgres@127.0.0.1:5432/test)

Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("HAMAYNK_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".hamaynk-installed"
HOST, PORT = "127.0.0.1", int(os.environ.get("HAMAYNK_PORT", "5000"))
PROJECTS = [".", "examples/hamaynk-tree-felling"]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_environment() -> None:
    if not PYTHON.exists():
        say(f"creating virtualenv in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    # Reinstall only when what we install from has changed: re-runs start in seconds.
    digest = hashlib.sha256()
    for project in PROJECTS:
        digest.update((ROOT / project / "pyproject.toml").read_bytes())
    wanted = digest.hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        say("installing Hamaynk and its dependencies (first run takes a minute or two)")
        run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--upgrade", "pip")
        run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", ".[test]")
        # The example third-party plug-in is installed like any other, so the test suite
        # exercises entry-point discovery of a separately packaged service.
        for project in PROJECTS[1:]:
            run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", project)
        STAMP.write_text(wanted)


def app_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HAMAYNK_ENV", "development")
    env["FLASK_APP"] = "app:create_app"
    env.update(extra)
    return env


def cmd_run() -> None:
    ensure_environment()
    env = app_env()
    flask = BIN / "flask"
    say("migrating the database")
    run(flask, "hamaynk", "init", env=env)
    say("loading demo data (idempotent)")
    run(flask, "hamaynk", "demo", env=env)
    # The job worker (notifications, escalation of overdue steps) runs beside the web server;
    # embedded, its queue is a SQLite file in instance/, so nothing else needs installing.
    say("starting the background job worker")
    worker = subprocess.Popen([str(flask), "hamaynk", "worker"], cwd=ROOT, env=env)
    say(f"serving on http://{HOST}:{PORT}  (Ctrl+C stops)")
    try:
        server = subprocess.run(
            [
                str(BIN / "waitress-serve"),
                f"--host={HOST}",
                f"--port={PORT}",
                "--threads=8",
                "--call",
                "app:create_app",
            ],
            cwd=ROOT,
            env=env,
        )
    except KeyboardInterrupt:
        server = None
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
    sys.exit(server.returncode if server is not None else 0)


def fresh_postgres_database(url: str, name: str) -> str:
    code = (
        "import psycopg,sys\n"
        "url=sys.argv[1].replace('postgresql+psycopg://','postgresql://')\n"
        "with psycopg.connect(url, autocommit=True, connect_timeout=5) as c:\n"
        f"    c.execute('DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)')\n"
        f"    c.execute('CREATE DATABASE \"{name}\"')\n"
    )
    run(PYTHON, "-c", code, url)
    return url.rsplit("/", 1)[0] + "/" + name


def cmd_test(args: list[str]) -> None:
    ensure_environment()
    env = dict(os.environ)
    if "--postgres" in args:
        args = [a for a in args if a != "--postgres"]
        base = env.get("HAMAYNK_TEST_POSTGRES_URL", DEFAULT_PG)
        url = fresh_postgres_database(base, "hamaynk_suite")
        say(f"running the whole suite on PostgreSQL ({url})")
        env["HAMAYNK_TEST_DATABASE_URL"] = url
    if shutil.which("chromium") is None and "/usr/bin/chromium" not in env.get("HAMAYNK_CHROMIUM", ""):
        say("note: chromium is not installed; browser tests will be skipped (in CI they fail)")
    result = subprocess.run([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)
    sys.exit(result.returncode)


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    command, rest = argv[0], argv[1:]
    if command == "run":
        cmd_run()
    elif command == "test":
        cmd_test(rest)
    else:
        sys.exit(f"unknown command {command!r}; use 'run' or 'test'")


if __name__ == "__main__":
    main(sys.argv[1:])
