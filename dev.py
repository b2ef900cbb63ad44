#!/usr/bin/env python3
"""Hamaynk's quick start: needs only Python 3.11+.

    python3 dev.py run     set up (virtualenv, install, migrate, demo data) and serve on
                           http://127.0.0.1:5000 (HAMAYNK_HOST and HAMAYNK_PORT change that)
    python3 dev.py test    run the whole test suite on every core (extra arguments go to
                           pytest: a file, -k, -x, -n 1, -p no:xdist, ...)
    python3 dev.py test --postgres
                           the whole suite again on PostgreSQL (HAMAYNK_TEST_POSTGRES_URL,
                           default postgresql://postgres@127.0.0.1:5432/test)
    python3 dev.py translations
                           refresh the message catalogs from the code (scripts/i18n.py extract),
                           compile them and list what is still to translate; fails while
                           anything is (docs/translations.md)
    python3 dev.py lock    recompile requirements.lock from pyproject.toml with uv, keeping
                           the current pins where they still fit (extra arguments go to
                           uv pip compile: --upgrade, --upgrade-package NAME, ...)
    python3 dev.py check-lock
                           show pip freeze of .venv against requirements.lock; fails when a
                           locked package is missing or at another version, or when a package
                           the lock does not hold is installed
    python3 dev.py audit   pip-audit of requirements.lock against PyPI's vulnerability data
                           (extra arguments go to pip-audit: --ignore-vuln ID, ...); fails on a
                           known vulnerability or on a package it could not check, and exits
                           with 3 when it could check none (the data could not be reached)

The virtualenv is installed from requirements.lock (every package pinned and hashed), so a
fresh machine gets exactly the versions that were tested.

Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("HAMAYNK_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".hamaynk-installed"
LOCK = ROOT / "requirements.lock"
# Loopback unless told otherwise (HAMAYNK_HOST=0.0.0.0 serves the office's network); the app
# is told the same address and refuses a known or short SECRET_KEY on any other (config.py).
HOST, PORT = os.environ.get("HAMAYNK_HOST", "127.0.0.1"), int(os.environ.get("HAMAYNK_PORT", "5000"))
PROJECTS = [".", "examples/hamaynk-tree-felling"]
LOCAL_PACKAGES = {"hamaynk", "hamaynk-tree-felling"}
# The venv module seeds these; once the lock holds one, its locked version is required.
SEEDED_BY_VENV = {"pip", "setuptools", "wheel"}
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# One lock for every platform and Python 3.11+; hashes make pip refuse any file that differs
# from the one locked. All extras are in it: the tests and the contributors' tools included.
LOCK_OPTIONS = [
    "--all-extras",
    "--universal",
    "--python-version",
    "3.11",
    "--generate-hashes",
    "--custom-compile-command",
    "python3 dev.py lock",
]
PIP = ["-m", "pip", "--disable-pip-version-check"]


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv() -> None:
    if not PYTHON.exists():
        say(f"creating virtualenv in {VENV}")
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)


def install_locked(*names: str) -> None:
    """Install just these packages from the lock, hashes checked like the rest."""
    lines = LOCK.read_text().splitlines()
    entries = []
    for number, line in enumerate(lines):
        if line.split("==", 1)[0] in names:
            end = number
            while lines[end].endswith("\\"):
                end += 1
            entries.extend(lines[number : end + 1])
    partial = VENV / "partial-lock.txt"
    partial.write_text("\n".join(entries) + "\n")
    try:
        run(PYTHON, *PIP, "install", "-q", "-r", partial)
    finally:
        partial.unlink()


def ensure_environment() -> None:
    ensure_venv()
    # Reinstall only when what we install from has changed: re-runs start in seconds.
    digest = hashlib.sha256(LOCK.read_bytes())
    for project in PROJECTS:
        digest.update((ROOT / project / "pyproject.toml").read_bytes())
    wanted = digest.hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        say("installing the locked dependencies (first run takes a minute or two)")
        # The locked pip first: the rest is installed by the pip that was tested, not by
        # whichever one this Python's venv module bundles.
        install_locked("pip")
        run(PYTHON, *PIP, "install", "-q", "-r", LOCK)
        # Our own packages on top, without their dependencies: the lock already holds them, so
        # nothing unlocked slips in. This is a second pip call because the lock's hashes put pip
        # in hash-checking mode, which a local editable project cannot satisfy. No build
        # isolation: the build uses the locked setuptools instead of downloading another one.
        # The example third-party plug-in is installed like any other, so the test suite
        # exercises entry-point discovery of a separately packaged service.
        editables = [arg for project in PROJECTS for arg in ("-e", project)]
        # -qq: setuptools' notes on editable installs are noise here; errors still show.
        run(PYTHON, *PIP, "install", "-qq", "--no-deps", "--no-build-isolation", *editables)
        STAMP.write_text(wanted)


def app_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HAMAYNK_ENV", "development")
    env["FLASK_APP"] = "app:create_app"
    env["HAMAYNK_HOST"] = HOST
    env.update(extra)
    return env


def dev_mail(env: dict[str, str]) -> list[list[str]]:
    """Unless HAMAYNK_SMTP_HOST names a real mail server, a local one (aiosmtpd, from the lock)
    takes the e-mails the demo sends and keeps each as a file in instance/mail (a Maildir),
    so notifications are delivered and readable, and the worker does not retry a server that
    is not there."""
    if os.environ.get("HAMAYNK_SMTP_HOST"):
        return []
    port = os.environ.get("HAMAYNK_DEV_SMTP_PORT", "8025")
    instance = Path(os.environ.get("HAMAYNK_INSTANCE_DIR", ROOT / "instance"))
    env.update(HAMAYNK_SMTP_HOST="127.0.0.1", HAMAYNK_SMTP_PORT=port)
    say(f"e-mails go to {instance / 'mail'} (a Maildir; HAMAYNK_SMTP_HOST sends them to a real server)")
    handler = ["-c", "aiosmtpd.handlers.Mailbox", str(instance / "mail")]
    return [[str(PYTHON), "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", *handler]]


def cmd_run() -> None:
    ensure_environment()
    env = app_env()
    # Links in e-mails and on receipts point at this server unless told otherwise.
    # (Served on every interface, the machine's own loopback address is the one that works here.)
    reachable = "127.0.0.1" if HOST in {"0.0.0.0", "::"} else HOST  # noqa: S104 - compared, not bound
    env.setdefault("HAMAYNK_PUBLIC_URL", f"http://{reachable}:{PORT}")
    mail = dev_mail(env)
    flask = BIN / "flask"
    say("migrating the database")
    run(flask, "hamaynk", "init", env=env)
    say("loading demo data (idempotent)")
    run(flask, "hamaynk", "demo", env=env)
    # The job worker (notifications, escalation of overdue steps) runs beside the web server;
    # embedded, its queue is a SQLite file in instance/, so nothing else needs installing.
    worker = [str(flask), "hamaynk", "worker"]
    # waitress through app.serve: its body limit comes from the app's MAX_CONTENT_LENGTH, so a
    # too large upload is refused before waitress buffers it (waitress-serve cannot read it).
    server = [str(PYTHON), "-m", "app.serve", f"--host={HOST}", f"--port={PORT}", "--threads=8"]
    say(f"starting the background job worker and serving on http://{HOST}:{PORT}  (Ctrl+C stops)")
    sys.exit(supervise([*mail, worker, server], env=env))


def supervise(commands: list[list[str]], env: dict[str, str] | None = None, grace: float = 10.0) -> int:
    """Run the commands side by side until one ends or this process is told to stop (SIGTERM,
    SIGINT, SIGHUP); then stop every one still running: SIGTERM, and SIGKILL for any still
    there after ``grace`` seconds. Returns the exit status to leave with: the first child's
    that ended on its own, or 0 when stopped by a signal.

    Without this a SIGTERM (a service manager, `kill`, a container stopping) ended dev.py at
    once and left waitress and the job worker running, still holding the port and the queue.
    """
    import signal
    import time

    stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, on_signal) for signum in wanted}
    children: list[subprocess.Popen[bytes]] = []
    status = 0
    try:
        for command in commands:
            children.append(subprocess.Popen(command, cwd=ROOT, env=env))
            say(f"started {Path(command[0]).name} (pid {children[-1].pid})")
        while not stop:
            ended = [child for child in children if child.poll() is not None]
            if ended:
                status = ended[0].returncode
                say(f"{Path(str(ended[0].args[0])).name} ended with status {status}; stopping the others")
                break
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + grace
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if stop:
        say("stopped")
    return status


def fresh_postgres_database(url: str, name: str) -> str:
    code = "import sys; from app.testing import create_database; print(create_database(*sys.argv[1:]))"
    result = subprocess.run([str(PYTHON), "-c", code, url, name], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"cannot create the PostgreSQL database {name!r} next to {url}:\n{result.stderr}")
    return result.stdout.strip()


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist on every core, unless the caller chose a number of workers or turned
    xdist off (pytest-xdist itself falls back to one process under --pdb)."""
    chosen = any(a.startswith(("-n", "--numprocesses")) or a.endswith("no:xdist") for a in args)
    return args if chosen else ["-n", "auto", *args]


def cmd_test(args: list[str]) -> None:
    ensure_environment()
    env = dict(os.environ)
    if "--postgres" in args:
        args = [a for a in args if a != "--postgres"]
        base = env.get("HAMAYNK_TEST_POSTGRES_URL", DEFAULT_PG)
        url = fresh_postgres_database(base, "hamaynk_suite")
        # Under pytest-xdist each worker makes a database of its own from this name
        # (hamaynk_suite_gw0, ...): see app.testing.
        say(f"running the tests on PostgreSQL ({url})")
        env["HAMAYNK_TEST_DATABASE_URL"] = url
    chromium = env.get("HAMAYNK_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium) and shutil.which("chromium") is None:
        say("note: chromium is not installed; browser tests will be skipped (in CI they fail)")
    result = subprocess.run([str(PYTHON), "-m", "pytest", *parallel(args)], cwd=ROOT, env=env)
    if result.returncode == 5:
        say("pytest collected no tests: check the path or -k expression")
    sys.exit(result.returncode)


def cmd_lock(args: list[str]) -> None:
    ensure_venv()
    uv = BIN / ("uv.exe" if os.name == "nt" else "uv")
    if not uv.exists():
        say("installing uv into the virtualenv")
        if LOCK.exists():
            install_locked("uv")
        else:
            run(PYTHON, *PIP, "install", "-q", "uv")
    say(f"recompiling {LOCK.name} from pyproject.toml")
    run(uv, "pip", "compile", "--quiet", "pyproject.toml", *LOCK_OPTIONS, "-o", LOCK, *args)
    say(f"done; review and commit {LOCK.name} (the next dev.py run or test installs from it)")


def locked_versions() -> dict[str, str]:
    """name -> version for every lock entry whose environment marker holds here."""
    # Only ever called with the virtualenv's interpreter (see cmd_check_lock), where packaging
    # is installed: the lock's markers need a real evaluator.
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    versions = {}
    for line in LOCK.read_text().replace("\\\n", " ").splitlines():
        spec = line.split("#", 1)[0].split(" --hash", 1)[0].strip()
        if not spec:
            continue
        requirement = Requirement(spec)
        if requirement.marker is None or requirement.marker.evaluate():
            (pin,) = requirement.specifier
            versions[canonicalize_name(requirement.name)] = pin.version
    return versions


def installed_versions() -> dict[str, str]:
    from packaging.utils import canonicalize_name

    freeze = subprocess.run(
        [sys.executable, *PIP, "freeze", "--all", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {}
    for line in freeze.splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            # A line without "==" installs from a path or URL: never what the lock pins.
            versions[canonicalize_name(name if sep else line.split(" @ ")[0])] = version if sep else line
    return versions


def pins(versions: dict[str, str]) -> list[str]:
    return [f"{name}=={version}" for name, version in sorted(versions.items())]


def same_version(installed: str | None, locked: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return installed is not None and Version(installed) == Version(locked)
    except InvalidVersion:
        return False


def lock_problems(locked: dict[str, str], installed: dict[str, str]) -> list[str]:
    """Each way ``installed`` differs from ``locked`` (both name -> version, names canonical),
    one line each; our own local packages are not in the lock and are left out."""
    problems = [
        f"{name}: locked {version}, " + (f"installed {installed[name]}" if name in installed else "not installed")
        for name, version in sorted(locked.items())
        if not same_version(installed.get(name), version)
    ]
    extras = installed.keys() - locked.keys() - LOCAL_PACKAGES - SEEDED_BY_VENV
    problems += [f"{name}: installed {installed[name]}, not in the lock" for name in sorted(extras)]
    return problems


def cmd_check_lock() -> None:
    if Path(sys.prefix).resolve() != VENV.resolve():
        ensure_environment()
        sys.exit(subprocess.run([str(PYTHON), __file__, "check-lock"], cwd=ROOT).returncode)
    locked, installed = locked_versions(), installed_versions()
    say(f"pip freeze of {VENV} against {LOCK.name} (- locked, + installed; local editables left out)")
    diff = difflib.unified_diff(pins(locked), pins(installed), LOCK.name, "pip freeze", n=0, lineterm="")
    print("\n".join(diff) or f"identical: {len(installed)} packages")
    problems = lock_problems(locked, installed)
    if problems:
        sys.exit(
            f"{VENV} is not what {LOCK.name} locks:\n  "
            + "\n  ".join(problems)
            + f"\nReinstall from the lock ({PYTHON} -m pip install -r {LOCK.name}) and uninstall what it does"
            " not hold; a package the project needs goes into pyproject.toml, then `python3 dev.py lock`."
        )
    say(f"all {len(locked)} locked packages are installed at their locked versions, and nothing else")


# `dev.py audit`'s exit status when not one package could be checked: CI tells that apart from
# a finding (1) and warns instead of failing (.ci/run, docs/security.md).
AUDIT_UNCHECKED = 3
# The lock is pinned and hashed: no resolving, no pip; PyPI's JSON API holds the advisories.
AUDIT_OPTIONS = ["--no-deps", "--disable-pip", "-s", "pypi", "--progress-spinner", "off", "-f", "json"]


def audit_verdict(report: dict | None, problem: str = "") -> tuple[int, list[str]]:
    """The exit status and the lines to print for pip-audit's JSON ``report`` (``None`` when it
    wrote none; ``problem`` says why). pip-audit itself exits 0 when PyPI answers 404 for every
    package, listing them all as skipped: its "No known vulnerabilities found" then means
    nothing was checked, which must not read as a pass."""
    if report is None:
        return AUDIT_UNCHECKED, [f"pip-audit checked nothing: {problem or 'it wrote no report'}"]
    found = report.get("dependencies", [])
    skipped = [d for d in found if "skip_reason" in d]
    vulnerable = [d for d in found if d.get("vulns")]
    lines = [
        f"{d['name']} {d['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or ['no release yet'])})"
        for d in vulnerable
        for v in d["vulns"]
    ]
    checked = len(found) - len(skipped)
    if skipped and not checked:
        reason = skipped[0]["skip_reason"]
        return AUDIT_UNCHECKED, [*lines, f"pip-audit could check none of {len(found)} packages, e.g. {reason}"]
    # Some answered and these did not: not an outage, so each is a gap in the audit.
    lines += [f"not checked: {d['name']}: {d['skip_reason']}" for d in skipped]
    if vulnerable or skipped:
        return 1, lines
    return 0, [f"pip-audit checked all {checked} locked packages: no known vulnerabilities"]


def cmd_audit(args: list[str]) -> None:
    ensure_environment()
    with tempfile.TemporaryDirectory(prefix="hamaynk-audit-") as tmp:
        output = Path(tmp) / "audit.json"
        command = [str(BIN / "pip-audit"), "-r", str(LOCK), *AUDIT_OPTIONS, "-o", str(output), *args]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        try:
            report = json.loads(output.read_text())
        except (OSError, ValueError):
            report = None
    status, lines = audit_verdict(report, f"exit {done.returncode}: {done.stderr.strip()[-1000:]}")
    print("\n".join(lines), file=sys.stderr if status else sys.stdout)
    if status == AUDIT_UNCHECKED:
        say("WARNING: no locked package was checked for known vulnerabilities (docs/security.md)")
    sys.exit(status)


def cmd_translations() -> None:
    ensure_environment()
    script = ROOT / "scripts" / "i18n.py"
    run(PYTHON, script, "extract")
    run(PYTHON, script, "compile")
    result = subprocess.run([str(PYTHON), str(script), "check"], cwd=ROOT)
    if result.returncode != 0:
        sys.exit("translate the entries listed above (docs/translations.md), then run this again")
    say("every message is translated in every language, and the compiled catalogs are up to date")


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return
    command, rest = argv[0], argv[1:]
    if command == "run":
        cmd_run()
    elif command == "test":
        cmd_test(rest)
    elif command == "lock":
        cmd_lock(rest)
    elif command == "check-lock":
        cmd_check_lock()
    elif command == "audit":
        cmd_audit(rest)
    elif command == "translations":
        cmd_translations()
    else:
        sys.exit(f"unknown command {command!r}; use 'run', 'test', 'translations', 'lock', 'check-lock' or 'audit'")


if __name__ == "__main__":
    main(sys.argv[1:])
