"""Disk full (issue 12): the storage refuses a write with ENOSPC. The person is told the office
cannot accept files now (not "try again in a moment"), the operator finds the cause in the log
(errno, no personal data), and nothing is half-written: no row, no file, no temporary part.

The disk is really full where the test may mount a small tmpfs (as root); elsewhere the
operating system's answer is injected at the last call before the disk (``os.fsync``), which
is the same OSError(ENOSPC) the kernel gives."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select
from test_office import RESIDENCE, enable, open_form, post, residence_data
from test_portal_apply import SERVICE, post_form, start, submit, upload, version

from app.domain import statuses, workflow
from app.domain.storage import EXTENSION_KEY, TEMP_PREFIX
from app.extensions import db
from app.models import Application, ApplicationDocument, IssuedDocument, User
from app.models.office import StagedUpload
from app.plugins import runtime as plugin_runtime
from app.testing import (
    PASSWORD,
    actor_for,
    apply,
    enable_service,
    login,
    make_citizen,
    make_pdf,
    sample_data,
    staff_user,
)
from plugins import samples

FULL_MESSAGE = "The office cannot accept files right now"


class Disk:
    """A small filesystem for the storage that can be filled up."""

    def __init__(self, root: Path, mounted: bool, monkeypatch) -> None:
        self.root = root
        self.storage = root / "documents"
        self.mounted = mounted
        self._monkeypatch = monkeypatch
        self._filler = root / "filler"

    def fill(self) -> None:
        if not self.mounted:
            real = os.fsync

            def no_room(fd: int) -> None:
                # Only the storage's own files: the test's database must still work.
                try:
                    path = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    path = ""
                if path.startswith(str(self.storage)):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real(fd)

            self._monkeypatch.setattr(os, "fsync", no_room)
            return
        chunk = b"\0" * 65536
        with open(self._filler, "ab", buffering=0) as out, pytest.raises(OSError) as full:
            while True:
                out.write(chunk)
        assert full.value.errno == errno.ENOSPC
        # Fill the last bytes too, so even the smallest file finds no room.
        with open(self._filler, "ab", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0")

    def files(self) -> list[str]:
        if not self.storage.exists():
            return []
        return sorted(p.relative_to(self.storage).as_posix() for p in self.storage.rglob("*") if p.is_file())


def _can_mount() -> bool:
    # HAMAYNK_TEST_NO_TMPFS=1 tries the injected ENOSPC where a tmpfs could be mounted.
    if os.environ.get("HAMAYNK_TEST_NO_TMPFS"):
        return False
    return os.name == "posix" and hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def disk(app, tmp_path, monkeypatch):
    root = tmp_path / "disk"
    root.mkdir()
    mounted = False
    if _can_mount():
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(root)], capture_output=True, check=False
        )
        mounted = done.returncode == 0
    app.config["HAMAYNK_STORAGE_PATH"] = str(root / "documents")
    app.extensions.pop(EXTENSION_KEY, None)
    try:
        yield Disk(root, mounted, monkeypatch)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _assert_logged(caplog, *private: str) -> None:
    errors = [r for r in caplog.records if r.name == "app.domain.storage" and r.levelno == logging.ERROR]
    assert errors, "the storage failure was not logged"
    text = "\n".join(r.getMessage() for r in errors)
    assert "errno=28 (ENOSPC)" in text and "No space left on device" in text and "storage is full" in text
    for value in private:
        assert value not in caplog.text


def test_office_intake_on_a_full_disk(app, client, login_as, disk, caplog):
    enable(app, "alpha", RESIDENCE)
    login_as("clerk")
    client.get("/lang/en")
    token = open_form(client, RESIDENCE)
    disk.fill()
    caplog.set_level(logging.INFO)
    response = post(client, RESIDENCE, residence_data(token))
    html = response.get_data(as_text=True)
    assert response.status_code in (200, 400), response.status_code
    assert FULL_MESSAGE in html and "try again in a moment" not in html.lower()
    _assert_logged(caplog, "Պետրոսյան", "1234567890", "passport.pdf")
    assert _count(app, Application) == 0 and _count(app, ApplicationDocument) == 0 and _count(app, StagedUpload) == 0
    assert disk.files() == []  # no document, no temporary part


def test_portal_upload_and_submit_on_a_full_disk(app, client, disk, caplog):
    enable_service(app, "alpha", SERVICE)
    make_citizen(app, "anna@example.com", name="Anna Petrosyan")
    login(client, "anna@example.com", PASSWORD)
    draft_id = start(client)
    assert post_form(client, app, draft_id, action="continue").status_code == 303
    # The identity document went in while there was room; then the disk fills.
    assert upload(client, app, draft_id, {"identity": [(make_pdf(), "passport.pdf")]}).status_code == 303
    for stage in ("documents", "fee"):
        response = client.post(
            f"/my/drafts/{draft_id}/{stage}?_l_=en", data={"version": version(app, draft_id), "action": "continue"}
        )
        assert response.status_code == 303
    kept = disk.files()
    assert len(kept) == 1
    disk.fill()
    caplog.set_level(logging.INFO)

    refused = upload(client, app, draft_id, {"power_of_attorney": [(make_pdf("poa"), "poa.pdf")]})
    assert refused.status_code == 400 and FULL_MESSAGE in refused.get_data(as_text=True)
    assert _count(app, StagedUpload) == 1

    response = submit(client, app, draft_id)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert FULL_MESSAGE in page
    _assert_logged(caplog, "Anna Petrosyan", "anna@example.com", "poa.pdf")
    assert _count(app, Application) == 0 and _count(app, ApplicationDocument) == 0
    assert disk.files() == kept  # the draft's own file, nothing new, no temporary part


def test_api_decision_on_a_full_disk(app, disk, caplog):
    """The final approval issues a document: on a full disk the API answers 503 with the
    reason, and neither the decision nor a document is recorded."""
    service = plugin_runtime.registry(app).get(RESIDENCE).service
    filed = apply(app, RESIDENCE, data=sample_data(service, samples.overrides(RESIDENCE)), applicant_name="Poghos")
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, filed.id)
        host = plugin_runtime.host(app)
        while True:
            step = workflow.current_step(application, service)
            department = workflow.responsible_department_id(db.session, application, step)
            user_id = staff_user(app, application.municipality_id, step.role, department, (application.created_by_id,))
            if workflow.next_step(service, application.data, step.key) is None:
                break
            workflow.approve(
                db.session, application, actor=actor_for(user_id), expected_version=application.version, host=host
            )
            workflow.commit(db.session)
        username = db.session.get(User, user_id).username
        expected = application.version
    before = disk.files()
    disk.fill()
    caplog.set_level(logging.INFO)
    client = app.test_client()
    token = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    ).get_json()["access_token"]
    api = client.post(
        f"/api/v1/applications/{filed.id}/actions?_l_=en",
        json={"action": "approve", "expected_version": expected},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 503, api.get_json()
    assert FULL_MESSAGE in api.get_json()["message"]
    _assert_logged(caplog, "Poghos")
    with app.app_context():
        assert db.session.get(Application, filed.id).status != statuses.APPROVED
    assert _count(app, IssuedDocument) == 0
    assert disk.files() == before
    assert not any(name.rsplit("/", 1)[-1].startswith(TEMP_PREFIX) for name in disk.files())


def test_question_attachments_on_a_full_disk(app, client, disk, caplog):
    """A citizen's question with a file: the same full-disk answer as intake, no question kept."""
    from test_questions import send_question

    from app.models.portal import Question, QuestionAttachment
    from app.testing import attach

    alpha = app.seeded["alpha"]
    make_citizen(app, "anna@example.test", name="Anna Petrosyan")
    login(client, "anna@example.test", PASSWORD)
    disk.fill()
    caplog.set_level(logging.INFO)
    response = send_question(
        client, alpha["id"], alpha["departments"]["urban_planning"], attachments=[attach("pdf", "plan.pdf")]
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert FULL_MESSAGE in page and "try again in a moment" not in page.lower()
    _assert_logged(caplog, "Anna Petrosyan", "anna@example.test", "plan.pdf")
    assert _count(app, Question) == 0 and _count(app, QuestionAttachment) == 0
    assert disk.files() == []
