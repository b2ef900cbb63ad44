"""`python3 dev.py run` stops its children (waitress and the job worker) when it is stopped.

dev.py serves through :func:`supervise`, which these tests drive in a process of its own with
stand-in children (the real ones need the install, a migrated database and a free port): the
process is sent SIGTERM or SIGINT as a service manager or Ctrl+C would, and afterwards none of
its children may be left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

SLEEPER = "import time; print('ready', flush=True); time.sleep(120)"
# Ignores SIGTERM like a worker stuck in a job would: must be killed after the grace period.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"
)
DRIVER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("hamaynk_dev", sys.argv[1])
dev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev)
commands = [[sys.executable, "-c", code] for code in sys.argv[2:]]
sys.exit(dev.supervise(commands, grace=1.0))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(*children: str) -> tuple[subprocess.Popen[str], list[int], list[str]]:
    """The supervising process, the pids of its children once each said it is ready, and its
    output so far."""
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(ROOT / "dev.py"), *children],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    assert driver.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    # Counted in the whole output: two children writing at once can share a line ("readyready").
    while "".join(lines).count("ready") < len(children):
        assert time.monotonic() < deadline, lines
        line = driver.stdout.readline()
        assert line, f"the supervisor ended early: {lines}"
        lines.append(line)
    pids = [int(pid) for pid in re.findall(r"\(pid (\d+)\)", "".join(lines))]
    assert len(pids) == len(children), lines
    return driver, pids, lines


def _finish(driver: subprocess.Popen[str]) -> str:
    try:
        out, _ = driver.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        driver.kill()
        raise
    return out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_child(signum):
    driver, pids, _ = _start(SLEEPER, STUBBORN)
    try:
        assert all(_alive(pid) for pid in pids)
        driver.send_signal(signum)
        out = _finish(driver)
        assert driver.returncode == 0, out
        assert "stopped" in out
        assert [pid for pid in pids if _alive(pid)] == []
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_child_that_ends_takes_the_others_down_and_its_status_out():
    crashing = "import sys, time; print('ready', flush=True); time.sleep(1); sys.exit(3)"
    driver, pids, _ = _start(SLEEPER, crashing)
    try:
        out = _finish(driver)
        assert driver.returncode == 3, out
        assert "ended with status 3" in out
        assert [pid for pid in pids if _alive(pid)] == []
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_dev_run_serves_through_the_supervisor():
    source = (ROOT / "dev.py").read_text()
    body = source[source.index("def cmd_run") : source.index("def supervise")]
    assert "supervise([*mail, worker, server]" in body
    assert "subprocess.run(" not in body.split('"demo"')[-1]
