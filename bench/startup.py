"""Start-up and ``flask hamaynk check`` benchmarks (issue 13): ``python3 -m bench.startup``.

Targets: a process builds the app (imports included) in at most 1 s, and ``flask hamaynk
check`` with 100 service plug-ins finishes in at most 2 s.

Everything runs in fresh subprocesses (nothing imported stays warm) against a throwaway
SQLite install in a temporary folder: migrated (``flask hamaynk init``), with the demo
municipalities and staff (``flask hamaynk demo``), and with the 100 synthetic plug-ins'
services enabled in every municipality, so ``check`` walks departments and staffing for all
of them. The development settings are used, with the built-in plug-ins found through their
entry points like on a real install.

Measured, each the median of ``--runs`` (default 5):

``startup``
    ``from app import create_app; create_app()`` timed inside a fresh interpreter; then the
    first request (``GET /``) on its test client; and the whole process from outside.
``check``
    ``flask --app bench.startup:check_app(100) hamaynk check``, the whole process from outside
    (interpreter, app with 108 plug-ins, every finding printed), exit code and summary checked.

Wall-clock times depend on what else the machine runs; the CPU time of each process (user +
system, from ``getrusage``) depends far less on it and is printed next to it. The ratio
against the target is wall-clock median / target. A JSON copy goes to bench/results/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
STARTUP_TARGET_S = 1.0
CHECK_TARGET_S = 2.0
DEFAULT_PLUGINS = 100

# Run in the child: one line of JSON with the times measured inside the process.
_STARTUP_CODE = """
import json, time
started = time.perf_counter()
cpu = time.process_time()
from app import create_app
app = create_app()
built = time.perf_counter()
built_cpu = time.process_time()
response = app.test_client().get("/")
served = time.perf_counter()
print(json.dumps({
    "create_app_s": built - started,
    "create_app_cpu_s": built_cpu - cpu,
    "first_request_s": served - built,
    "status": response.status_code,
}))
"""


def check_app(plugins: int = DEFAULT_PLUGINS) -> Flask:
    """The app ``flask --app "bench.startup:check_app(100)"`` runs: the configured install
    (entry points and all) plus ``plugins`` synthetic service plug-ins."""
    from app import create_app
    from plugins.synthetic import synthetic_plugins

    return create_app(overrides={"HAMAYNK_PLUGINS": synthetic_plugins(plugins)})


def enable_synthetic(plugins: int = DEFAULT_PLUGINS) -> int:
    """Offer every synthetic service in every municipality (as their admins would on the
    Services page), creating departments a step names; returns how many were enabled."""
    from sqlalchemy import select

    from app.domain import access
    from app.domain.activations import missing_departments, set_activation
    from app.extensions import db
    from app.models import Department, Municipality
    from app.plugins import runtime as plugin_runtime

    app = check_app(plugins)
    enabled = 0
    with app.app_context():
        registry = plugin_runtime.registry(app)
        municipalities = (
            db.session.execute(access.unscoped(select(Municipality), reason="bench set-up")).scalars().all()
        )
        for municipality in municipalities:
            for registered in registry.latest():
                if not registered.key.startswith("synthetic-"):
                    continue
                for code in dict.fromkeys(
                    step.department or "" for step in missing_departments(db.session, registered, municipality.id)
                ):
                    db.session.add(
                        Department(municipality_id=municipality.id, code=code, name_hy=code, name_en=code, name_ru=code)
                    )
                set_activation(
                    db.session,
                    registry,
                    municipality.id,
                    registered.key,
                    enabled=True,
                    fee_override=None,
                    deadline_override=None,
                    department_id=None,
                    actor_id=None,
                )
                enabled += 1
        db.session.commit()
    return enabled


def _environment(folder: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HAMAYNK_") and k not in {"DATABASE_URL", "SECRET_KEY", "FLASK_APP"}
    }
    instance = folder / "instance"
    env.update(
        HAMAYNK_ENV="development",
        HAMAYNK_INSTANCE_DIR=str(instance),
        DATABASE_URL=f"sqlite:///{instance / 'hamaynk.sqlite3'}",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        # Compiled modules are cached, as on any install (pip compiles, a first run writes
        # __pycache__), but in the temporary folder: the working tree stays as it is, and a
        # PYTHONDONTWRITEBYTECODE set around us does not turn every start into a compile.
        PYTHONPYCACHEPREFIX=str(folder / "pycache"),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _without_bytecode_cache(env: dict[str, str]) -> dict[str, str]:
    """``env`` where Hamaynk's own modules are compiled at every start (installed packages
    keep the bytecode pip wrote): what a working tree run with PYTHONDONTWRITEBYTECODE pays."""
    cold = {k: v for k, v in env.items() if k != "PYTHONPYCACHEPREFIX"}
    cold["PYTHONDONTWRITEBYTECODE"] = "1"
    return cold


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _flask() -> list[str]:
    return [sys.executable, "-m", "flask"]


def _run(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``args``; return the result, its wall-clock seconds and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def _must(done: subprocess.CompletedProcess[str], what: str) -> None:
    if done.returncode != 0:
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def set_up(folder: Path, plugins: int) -> dict[str, str]:
    env = _environment(folder)
    _must(_run([*_flask(), "--app", "app:create_app", "hamaynk", "init"], env)[0], "flask hamaynk init")
    _must(_run([*_flask(), "--app", "app:create_app", "hamaynk", "demo"], env)[0], "flask hamaynk demo")
    code = f"from bench.startup import enable_synthetic; print(enable_synthetic({plugins}))"
    _must(_run([sys.executable, "-c", code], env)[0], "enabling the synthetic services")
    return env


def measure_startup(env: dict[str, str], runs: int) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        done, wall, cpu = _run([sys.executable, "-c", _STARTUP_CODE], env)
        _must(done, "start-up")
        inside = json.loads(done.stdout.strip().splitlines()[-1])
        if inside["status"] != 200:
            raise SystemExit(f"GET / answered {inside['status']}")
        samples.append({**inside, "process_s": wall, "process_cpu_s": cpu})
    return _summary(samples, "create_app_s", "create_app_cpu_s", STARTUP_TARGET_S)


def measure_check(env: dict[str, str], runs: int, plugins: int) -> dict[str, Any]:
    samples = []
    args = [*_flask(), "--app", f"bench.startup:check_app({plugins})", "hamaynk", "check"]
    for _ in range(runs):
        done, wall, cpu = _run(args, env)
        summary = re.search(r"(\d+) plug-in\(s\) active, (\d+) service version\(s\), (\d+) problem\(s\)", done.stdout)
        if done.returncode != 0 or summary is None or int(summary.group(1)) < plugins:
            raise SystemExit(
                f"check did not pass with {plugins} plug-ins:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        samples.append(
            {
                "process_s": wall,
                "process_cpu_s": cpu,
                "plugins_active": int(summary.group(1)),
                "lines": len(done.stdout.splitlines()),
            }
        )
    return _summary(samples, "process_s", "process_cpu_s", CHECK_TARGET_S)


def _summary(samples: list[dict[str, Any]], measure: str, cpu: str, target: float) -> dict[str, Any]:
    medians = {
        key: statistics.median(float(s[key]) for s in samples)
        for key in samples[0]
        if isinstance(samples[0][key], float)
    }
    return {
        "measure": measure,
        "target_s": target,
        "median": medians,
        "ratio": medians[measure] / target,
        "cpu_ratio": medians[cpu] / target,
        "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement (median)")
    parser.add_argument("--plugins", type=int, default=DEFAULT_PLUGINS, help="synthetic plug-ins for check")
    parser.add_argument("--results", default=str(RESULTS), help="folder for the JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary install (its path is printed)")
    options = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="hamaynk-startup-"))
    try:
        _out(f"setting up a throwaway install in {folder} …")
        env = set_up(folder, options.plugins)
        startup = measure_startup(env, options.runs)
        cold = measure_startup(_without_bytecode_cache(env), options.runs)
        check = measure_check(env, options.runs, options.plugins)
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)

    s, k, c = startup["median"], cold["median"], check["median"]
    rows: list[tuple[str, float, float | None, float | None]] = [
        ("create_app() incl. imports", s["create_app_s"], s["create_app_cpu_s"], STARTUP_TARGET_S),
        ("  same, own modules compiled at each start", k["create_app_s"], k["create_app_cpu_s"], None),
        ("first request GET /", s["first_request_s"], None, None),
        ("start-up process, whole (interpreter, exit)", s["process_s"], s["process_cpu_s"], None),
        (f"flask hamaynk check, {options.plugins} plug-ins", c["process_s"], c["process_cpu_s"], CHECK_TARGET_S),
    ]
    _out(
        f"\nmedian of {options.runs} fresh processes; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s)"
    )
    _out("(wall-clock times grow with the machine's load; CPU times much less: on an idle machine wall ~ CPU)")
    _out(f"{'measure':46} {'wall s':>7} {'cpu s':>7} {'target':>7} {'wall/t':>7} {'cpu/t':>6}")
    for name, wall, cpu, target in rows:
        cells = [f"{wall:7.3f}", "" if cpu is None else f"{cpu:7.3f}"]
        cells += ["", "", ""] if target is None else [f"{target:.1f}", f"{wall / target:.2f}", ""]
        if target is not None and cpu is not None:
            cells[-1] = f"{cpu / target:.2f}"
        _out(f"{name:46} {cells[0]:>7} {cells[1]:>7} {cells[2]:>7} {cells[3]:>7} {cells[4]:>6}")
    result = {
        "benchmark": "startup",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "runs": options.runs,
        "plugins": options.plugins,
        "startup": startup,
        "startup_without_bytecode_cache": cold,
        "check": check,
    }
    out = Path(options.results)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"startup-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    _out(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
