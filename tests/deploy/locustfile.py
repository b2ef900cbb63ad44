"""The mixed workload of the production smoke test (tests/deploy/test_production_smoke.py),
run by locust in a process of its own:

    locust -f tests/deploy/locustfile.py --headless -u N -r N --run-time 90s --host http://127.0.0.1:PORT

Citizens sign in on the portal and each files SMOKE_SUBMISSIONS applications online (the
draft's form, an uploaded identity document, the fee and confirm stages, the submission),
then checks its status. Specialists sign in on the staff page, open their inbox, open each
case and approve its first step; each takes the cases whose id modulo the number of
specialists is its own, so no two act on one case (a second would rightly get 409).

Everything a request got is checked (status, the redirect's target), so any surprise counts
as a failure in locust's statistics. Each submission's tracking number and each approval go
to SMOKE_RESULTS (JSON lines) for the test to compare with the database. Every simulated
person comes from an address of its own (X-Forwarded-For, as the reverse proxy would send
it): rate limits count per client, as they do in production.

The run ends when every citizen filed everything and the specialists found nothing left to
approve, or at --run-time, whichever comes first: bounded in count and in time.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time

from locust import HttpUser, between, task
from locust.exception import StopUser

CITIZENS: list[str] = json.loads(os.environ["SMOKE_CITIZENS"])
SPECIALISTS: list[str] = json.loads(os.environ["SMOKE_SPECIALISTS"])
PASSWORD = os.environ["SMOKE_PASSWORD"]
SUBMISSIONS = int(os.environ["SMOKE_SUBMISSIONS"])
RESULTS = os.environ["SMOKE_RESULTS"]
MUNICIPALITY = os.environ.get("SMOKE_MUNICIPALITY", "smoke")
SERVICE = os.environ.get("SMOKE_SERVICE", "residence-certificate")
# A small PDF, as a scanned passport would be (the storage and the type check see a real one).
DOCUMENT = bytes.fromhex(os.environ["SMOKE_DOCUMENT_HEX"])

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
VERSION = re.compile(r'name="version" value="(\d+)"')
TOKEN = re.compile(r'name="token" value="([^"]+)"')
TRACKING = re.compile(r'class="tracking-number">([^<]+)<')
CASE_LINK = re.compile(r"/workspace/applications/(\d+)\b")

_lock = threading.Lock()
_state = {"citizens": 0, "citizens_done": 0, "specialists": 0, "specialists_done": 0}


def record(kind: str, **values: object) -> None:
    with _lock, open(RESULTS, "a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **values}) + "\n")


def _take(key: str) -> int:
    with _lock:
        number = _state[key]
        _state[key] += 1
        return number


def _found(pattern: re.Pattern[str], text: str, what: str) -> str:
    match = pattern.search(text)
    if match is None:
        raise AssertionError(f"no {what} on the page")
    return match.group(1)


class Person(HttpUser):
    abstract = True
    wait_time = between(0.1, 0.5)
    address = "10.0.0.1"

    def expect(self, method: str, path: str, status: int, name: str | None = None, **kwargs):
        """One request that must answer ``status``; anything else is a failure in the stats."""
        headers = {"X-Forwarded-For": self.address, **kwargs.pop("headers", {})}
        with self.client.request(
            method, path, name=name or path, headers=headers, allow_redirects=False, catch_response=True, **kwargs
        ) as response:
            if response.status_code != status:
                response.failure(f"{method} {path}: {response.status_code}, expected {status}: {response.text[:300]}")
                raise StopUser()
            response.success()
            return response

    def form_page(self, path: str, name: str) -> tuple[str, str]:
        """GET a page with a form: its CSRF token and the page."""
        page = self.expect("GET", path, 200, name=name)
        return _found(CSRF, page.text, "CSRF token"), page.text


class Citizen(Person):
    fixed_count = len(CITIZENS)

    def on_start(self) -> None:
        number = _take("citizens")
        self.email = CITIZENS[number]
        self.address = f"10.1.0.{number + 1}"
        self.filed = 0
        csrf, _page = self.form_page("/account/login?_l_=en", "/account/login")
        response = self.expect(
            "POST",
            "/account/login",
            302,
            data={"csrf_token": csrf, "email": self.email, "password": PASSWORD},
        )
        if "/account/login" in response.headers.get("Location", ""):
            raise AssertionError(f"{self.email} was not signed in")

    def stage(self, draft: int, stage: str, data: dict, files=None) -> None:
        path = f"/my/drafts/{draft}/{stage}?_l_=en"
        csrf, page = self.form_page(path, f"/my/drafts/[id]/{stage}")
        body = {"csrf_token": csrf, "version": _found(VERSION, page, "draft version"), **data}
        self.expect("POST", path, 303, name=f"/my/drafts/[id]/{stage} (post)", data=body, files=files)

    @task
    def file_an_application(self) -> None:
        if self.filed >= SUBMISSIONS:
            with _lock:
                _state["citizens_done"] += 1
            raise StopUser()
        start = f"/m/{MUNICIPALITY}/services/{SERVICE}/apply"
        csrf, _page = self.form_page(start + "?_l_=en", "/m/[code]/services/[key]/apply")
        started = self.expect(
            "POST", start, 303, name="/m/[code]/services/[key]/apply (post)", data={"csrf_token": csrf}
        )
        draft = int(_found(re.compile(r"/my/drafts/(\d+)/guide"), started.headers["Location"], "draft"))
        self.stage(
            draft,
            "form",
            {
                "action": "continue",
                "applicant-name": "Anna Petrosyan",
                "applicant-psn": "1234567890",
                "applicant-phone": "+37491123456",
                "applicant-email": self.email,
                "applicant-address": "1 Abovyan Street",
                "address": "1 Abovyan Street, Abovyan",
                "purpose": "bank",
                "copies": "1",
            },
        )
        self.stage(
            draft,
            "documents",
            {"action": "upload"},
            files={"doc-identity": ("passport.pdf", DOCUMENT, "application/pdf")},
        )
        self.stage(draft, "documents", {"action": "continue"})
        self.stage(draft, "fee", {"action": "continue"})
        csrf, page = self.form_page(f"/my/drafts/{draft}/confirm?_l_=en", "/my/drafts/[id]/confirm")
        submitted = self.expect(
            "POST",
            f"/my/drafts/{draft}/submit?_l_=en",
            303,
            name="/my/drafts/[id]/submit",
            data={
                "csrf_token": csrf,
                "token": _found(TOKEN, page, "submission token"),
                "version": _found(VERSION, page, "draft version"),
            },
        )
        location = submitted.headers["Location"]
        application = int(_found(re.compile(r"/my/applications/(\d+)/submitted"), location, "application"))
        done = self.expect("GET", location, 200, name="/my/applications/[id]/submitted")
        record("submitted", email=self.email, application=application, tracking=_found(TRACKING, done.text, "number"))
        self.filed += 1
        # The status, as a citizen checks it: the list, then the application itself.
        self.expect("GET", "/my/applications/?_l_=en", 200, name="/my/applications/")
        self.expect("GET", f"/my/applications/{application}?_l_=en", 200, name="/my/applications/[id]")


class Specialist(Person):
    fixed_count = len(SPECIALISTS)

    def on_start(self) -> None:
        self.number = _take("specialists")
        self.username = SPECIALISTS[self.number]
        self.address = f"10.2.0.{self.number + 1}"
        self.approved: set[int] = set()
        self.idle_since: float | None = None
        csrf, _page = self.form_page("/login/?_l_=en", "/login/")
        response = self.expect(
            "POST", "/login/", 302, data={"csrf_token": csrf, "username": self.username, "password": PASSWORD}
        )
        if "/login" in response.headers.get("Location", ""):
            raise AssertionError(f"{self.username} was not signed in")

    @task
    def work_the_inbox(self) -> None:
        inbox = self.expect("GET", "/workspace/?tab=mine&_l_=en", 200, name="/workspace/ (my tasks)")
        ids = sorted({int(found) for found in CASE_LINK.findall(inbox.text)})
        mine = [i for i in ids if i % len(SPECIALISTS) == self.number and i not in self.approved]
        for application in mine[:3]:
            csrf, page = self.form_page(f"/workspace/applications/{application}?_l_=en", "/workspace/applications/[id]")
            self.expect(
                "POST",
                f"/workspace/applications/{application}/approve?_l_=en",
                303,
                name="/workspace/applications/[id]/approve",
                data={"csrf_token": csrf, "version": _found(VERSION, page, "case version"), "comment": "Checked."},
            )
            self.approved.add(application)
            record("approved", username=self.username, application=application)
        if mine:
            self.idle_since = None
            return
        with _lock:
            citizens_finished = _state["citizens_done"] >= len(CITIZENS)
        if not citizens_finished:
            return
        # Everything is filed: one more look after a pause (a submission that committed just
        # before the last inbox page was read), then this specialist is done.
        if self.idle_since is None:
            self.idle_since = time.monotonic()
            return
        if time.monotonic() - self.idle_since < 2:
            return
        with _lock:
            _state["specialists_done"] += 1
            last = _state["specialists_done"] >= len(SPECIALISTS)
        if last:
            self.environment.runner.quit()
        raise StopUser()
