"""The kill loop (issue 12): the real server (waitress, in a process of its own, on a file SQLite
database and local storage) takes office intakes with uploads from clerks over HTTP (with
CSRF) while it is SIGKILLed at random moments and restarted. Afterwards

* every acknowledged application (a redirect to its receipt) is there, complete, with every
  document it was sent, each file's sha256 what the clerk sent;
* nothing is half-written: no application without its documents, no document without its file;
* after the orphan sweep (grace 0) no file without a row and no ``.tmp-*`` part is left.

``HAMAYNK_KILLS`` sets the number of kills (default 10, which CI runs); the full run is
``HAMAYNK_KILLS=100 .venv/bin/python -m pytest tests/reliability/test_kill_loop.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from app.domain import sweep
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, ApplicationDocument
from app.testing import PASSWORD, enable_service, make_app, make_pdf, seed_municipality

KILLS = int(os.environ.get("HAMAYNK_KILLS", "10"))
CLIENTS = 3
RESIDENCE = "residence-certificate"
ROOT = Path(__file__).resolve().parents[2]
SERVER = """
import json, os, sys
from waitress import serve
from app import create_app
app = create_app("test", overrides=json.loads(os.environ["KILL_LOOP_SETTINGS"]))
serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=4, _quiet=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, settings: dict, log: Path) -> None:
        import json

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "KILL_LOOP_SETTINGS": json.dumps(settings)}
        self.log = log
        self.process: subprocess.Popen | None = None
        self.up = threading.Event()
        self.posting = threading.Event()  # a clerk has sent a filing to this server's life

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(self.port)], cwd=ROOT, env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited ({self.process.returncode}); see {self.log}")
            try:
                requests.get(self.url + "/login/", timeout=2)
                self.up.set()
                return
            except requests.RequestException:
                time.sleep(0.1)
        pytest.fail(f"the server did not answer on {self.url}")

    def kill(self) -> None:
        self.up.clear()
        self.posting.clear()
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def _csrf(html: str) -> str | None:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    return match.group(1) if match else None


class Clerk(threading.Thread):
    """Files applications one after another; notes each acknowledged one with what it sent."""

    def __init__(self, number: int, server: Server, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.number = number
        self.server = server
        self.stop = stop
        self.http: requests.Session | None = None
        self.acknowledged: dict[int, tuple[str, list[str]]] = {}
        self.attempts = 0
        self.errors: list[str] = []

    def _login(self) -> requests.Session:
        http = requests.Session()
        page = http.get(self.server.url + "/login/", timeout=10)
        response = http.post(
            self.server.url + "/login/",
            data={"username": "alpha.clerk", "password": PASSWORD, "csrf_token": _csrf(page.text) or ""},
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code in (302, 303), response.status_code
        return http

    def _submit_one(self, serial: int) -> None:
        if self.http is None:
            self.http = self._login()
        form = self.http.get(f"{self.server.url}/office/new/{RESIDENCE}", allow_redirects=False, timeout=10)
        if form.status_code != 200:
            self.http = None  # signed out (a session lost with the kill): sign in again
            return
        token = re.search(r'name="applicant-token" type="hidden" value="([A-Za-z0-9_-]{32})"', form.text)
        assert token, "the form carries no submission token"
        name = f"Kill Loop {self.number}-{serial}"
        contents = [make_pdf(f"{name} passport {random.random()}"), make_pdf(f"{name} card {random.random()}")]
        self.attempts += 1
        self.server.posting.set()
        response = self.http.post(
            f"{self.server.url}/office/new/{RESIDENCE}",
            data={
                "csrf_token": _csrf(form.text) or "",
                "applicant-token": token.group(1),
                "applicant-name": name,
                "applicant-psn": "1234567890",
                "applicant-phone": "091 123456",
                "address": "Abovyan 10",
                "purpose": "bank",
                "copies": "1",
            },
            files=[("doc-identity", (f"doc-{i}.pdf", data, "application/pdf")) for i, data in enumerate(contents)],
            allow_redirects=False,
            timeout=30,
        )
        receipt = re.search(r"/office/receipt/(\d+)$", response.headers.get("Location", ""))
        if response.status_code in (302, 303) and receipt:
            self.acknowledged[int(receipt.group(1))] = (name, [hashlib.sha256(c).hexdigest() for c in contents])
        elif response.status_code < 500:
            self.errors.append(f"{response.status_code}: {response.text[-300:]}")

    def run(self) -> None:
        serial = 0
        while not self.stop.is_set():
            if not self.server.up.wait(timeout=0.2):
                continue
            serial += 1
            # Killed mid-request: not acknowledged, so no promise was made.
            with contextlib.suppress(requests.RequestException):
                self._submit_one(serial)


def test_sigkill_during_submissions_loses_nothing_acknowledged(tmp_path):
    settings = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'kill-loop.sqlite3'}",
        "HAMAYNK_STORAGE_PATH": str(tmp_path / "documents"),
        "WTF_CSRF_ENABLED": True,
        "RATELIMIT_ENABLED": False,
        "HAMAYNK_JOBS": "immediate",
        "SECRET_KEY": "kill-loop-" + os.urandom(16).hex(),
    }
    seeder = make_app(tmp_path, **settings)
    seeder.seeded = {"alpha": seed_municipality(seeder, "alpha", "Alpha")}
    enable_service(seeder, "alpha", RESIDENCE)
    with seeder.app_context():
        db.session.remove()
        db.engine.dispose()
    app_settings = {k: v for k, v in seeder.config.items() if k in settings or k.startswith("HAMAYNK_")}
    app_settings = {
        k: v for k, v in app_settings.items() if isinstance(v, str | int | float | bool | list | type(None))
    }

    server = Server(app_settings, tmp_path / "server.log")
    stop = threading.Event()
    clerks = [Clerk(n, server, stop) for n in range(CLIENTS)]
    rng = random.Random(int(os.environ.get("HAMAYNK_KILL_SEED", "0")) or None)
    server.start()
    for clerk in clerks:
        clerk.start()
    try:
        for _ in range(KILLS):
            # Kill at a random moment once filings reach this server (on a slow machine the
            # clerks need a while to sign in again after a restart).
            server.posting.wait(timeout=60)
            time.sleep(rng.uniform(0.0, 2.5))
            server.kill()
            server.start()
        time.sleep(1.0)  # a last round of filings on a server left running
    finally:
        stop.set()
        for clerk in clerks:
            clerk.join(timeout=60)
        server.kill()

    acknowledged = {k: v for clerk in clerks for k, v in clerk.acknowledged.items()}
    attempts = sum(clerk.attempts for clerk in clerks)
    print(f"\nkill loop: {KILLS} SIGKILLs, {attempts} submissions tried, {len(acknowledged)} acknowledged")
    assert acknowledged, "no submission was acknowledged; the loop tested nothing"
    assert not [e for clerk in clerks for e in clerk.errors], [e for clerk in clerks for e in clerk.errors][:3]

    from app import create_app

    app = create_app("test", overrides=app_settings)
    storage = get_storage(app)
    try:
        with app.app_context():
            applications = {a.id: a for a in db.session.execute(select(Application)).scalars()}
            documents = list(db.session.execute(select(ApplicationDocument)).scalars())
            by_application: dict[int, list[ApplicationDocument]] = {}
            for document in documents:
                by_application.setdefault(document.application_id, []).append(document)

            # Every acknowledged application, complete, with what was sent.
            for application_id, (name, hashes) in acknowledged.items():
                application = applications.get(application_id)
                assert application is not None, f"acknowledged application {application_id} is lost"
                assert application.applicant_name == name and application.submitted_at is not None
                stored = by_application.get(application_id, [])
                assert Counter(d.sha256 for d in stored) == Counter(hashes), application_id

            # Nothing half-written: every application has its documents, every document its file.
            for application_id in applications:
                assert len(by_application.get(application_id, [])) == 2, f"application {application_id} is incomplete"
            for document in documents:
                with storage.open(document.storage_key) as f:
                    assert hashlib.sha256(f.read()).hexdigest() == document.sha256, document.storage_key
            assert db.session.execute(select(func.count()).select_from(Application)).scalar_one() >= len(acknowledged)

            before = list(storage.iter_objects())
            report = sweep.sweep(db.session, storage, grace=dt.timedelta(0))
            keys = sweep.referenced_keys(db.session)
            db.session.rollback()
        left = list(storage.iter_objects())
        print(
            f"kill loop: {len(before) - len(keys)} orphan(s) and temporary part(s) before the sweep; "
            f"swept {len(report.removed)} ({report.removed_bytes} bytes)"
        )
        assert [found.key for found in left if found.temporary] == []
        assert {found.key for found in left} == keys
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
