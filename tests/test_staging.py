"""Uploads that survive a refused submission (issue 8): kept server-side under the staging
prefix, tied to the form's token, the user and the municipality, shown on the re-rendered
form, filed with the next submission, and purged by the job worker when abandoned."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from test_office import PERMIT, application_id_of, enable, filed, files, open_form, permit_data, post
from test_uploads import ELF

from app import jobs
from app.domain import staging
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application
from app.models.base import utcnow
from app.models.office import StagedUpload
from app.testing import actor_for, make_pdf


def staged_rows(app) -> list[StagedUpload]:
    with app.app_context():
        rows = list(db.session.execute(select(StagedUpload).order_by(StagedUpload.id)).scalars())
        db.session.expunge_all()
        return rows


def staging_files(app) -> list[Path]:
    root = Path(app.config["HAMAYNK_STORAGE_PATH"]) / staging.PREFIX
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kept_ids(html: str) -> dict[str, str]:
    """The kept files the form lists: name → id of its "Remove" checkbox."""
    found = re.findall(
        r'Attached: ([^<(]+) \([^)]*\)\s*<label class="checkbox-inline">\s*<input type="checkbox" name="staged-remove" value="(\d+)"',
        html,
    )
    return {name.strip(): row_id for name, row_id in found}


@pytest.fixture
def clerk(app, client, login_as):
    enable(app, "alpha", PERMIT)
    login_as("clerk")
    client.get("/lang/en")
    return client


def without_assignment(token: str):
    data = permit_data(token)
    del data["doc-planning_assignment"]
    return data


def test_a_refused_submission_keeps_the_accepted_files_and_the_next_one_files_them(app, clerk):
    token = open_form(clerk, PERMIT)
    response = post(clerk, PERMIT, without_assignment(token))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "These documents are required and were not attached: “Architectural-planning assignment”." in html
    assert "The files already accepted are kept" in html
    assert set(kept_ids(html)) == {"ownership.pdf", "design-1.pdf", "design-2.pdf"}
    rows = staged_rows(app)
    clerk_id = app.seeded["alpha"]["users"]["clerk"]
    assert [(r.requirement_key, r.original_name) for r in rows] == [
        ("ownership_certificate", "ownership.pdf"),
        ("design_documentation", "design-1.pdf"),
        ("design_documentation", "design-2.pdf"),
    ]
    assert {(r.submission_token, r.user_id, r.municipality_id) for r in rows} == {
        (token, clerk_id, app.seeded["alpha"]["id"])
    }
    assert [r.sha256 for r in rows] == [
        sha(make_pdf("ownership")),
        sha(make_pdf("design 1")),
        sha(make_pdf("design 2")),
    ]
    assert all(r.storage_key.startswith("staging/") and r.content_type == "application/pdf" for r in rows)
    assert len(staging_files(app)) == 3
    # The form comes back with the same token, so the next submission finds them.
    assert f'value="{token}"' in html

    # The next submission carries only the missing document and the form fields.
    data = without_assignment(token)
    for key in ("doc-ownership_certificate", "doc-design_documentation"):
        del data[key]
    data["doc-planning_assignment"] = files((make_pdf("assignment"), "assignment.pdf"))
    row = filed(app, application_id_of(post(clerk, PERMIT, data)))
    assert row["status"] == "submitted"
    assert sorted((d[0], d[1], d[3]) for d in row["docs"]) == sorted(
        [
            ("ownership_certificate", "ownership.pdf", sha(make_pdf("ownership"))),
            ("design_documentation", "design-1.pdf", sha(make_pdf("design 1"))),
            ("design_documentation", "design-2.pdf", sha(make_pdf("design 2"))),
            ("planning_assignment", "assignment.pdf", sha(make_pdf("assignment"))),
        ]
    )
    # Filed under the documents' own keys; the staging rows and objects are gone.
    assert not any(d[4].startswith("staging/") for d in row["docs"])
    assert staged_rows(app) == [] and staging_files(app) == []


def test_a_kept_file_can_be_removed_and_a_file_chosen_again_is_not_doubled(app, clerk):
    token = open_form(clerk, PERMIT)
    html = post(clerk, PERMIT, without_assignment(token)).get_data(as_text=True)
    ids = kept_ids(html)
    # The clerk unticks design-2 and, out of habit, chooses ownership.pdf again.
    data = permit_data(token)
    del data["doc-design_documentation"]
    data["staged-remove"] = ids["design-2.pdf"]
    row = filed(app, application_id_of(post(clerk, PERMIT, data)))
    assert sorted(d[1] for d in row["docs"]) == ["assignment.pdf", "design-1.pdf", "ownership.pdf"]
    assert staged_rows(app) == [] and staging_files(app) == []


def test_a_refused_file_is_not_kept_and_says_why_while_the_good_ones_are(app, clerk):
    token = open_form(clerk, PERMIT)
    # A missing field (so the filing stops before any file is read) and a program posing as a PDF.
    data = without_assignment(token)
    data["designer"] = ""
    data["doc-ownership_certificate"] = files((ELF, "ownership.pdf"))
    response = post(clerk, PERMIT, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "ownership.pdf is not a real PDF file: its content is an executable program." in html
    assert set(kept_ids(html)) == {"design-1.pdf", "design-2.pdf"}
    assert [r.requirement_key for r in staged_rows(app)] == ["design_documentation", "design_documentation"]


def test_someone_elses_token_or_account_finds_nothing(app, client, clerk, login_as):
    token = open_form(clerk, PERMIT)
    post(clerk, PERMIT, without_assignment(token))
    assert len(staged_rows(app)) == 3
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    with app.app_context():
        assert len(staging.staged_for(db.session, actor_for(alpha["users"]["clerk"]), alpha["id"], token)) == 3
        for actor, municipality in (
            (actor_for(alpha["users"]["municipal_admin"]), alpha["id"]),  # same office, another person
            (actor_for(beta["users"]["clerk"]), beta["id"]),
            (actor_for(alpha["users"]["clerk"]), beta["id"]),  # not in another municipality either
            (None, alpha["id"]),
        ):
            assert staging.staged_for(db.session, actor, municipality, token) == []
        assert staging.staged_for(db.session, actor_for(alpha["users"]["clerk"]), alpha["id"], "x" * 32) == []

    # The municipal admin sending the clerk's token with the missing document gets no kept
    # files: their submission misses the other two and files nothing.
    login_as("municipal_admin")
    data = without_assignment(token)
    for key in ("doc-ownership_certificate", "doc-design_documentation"):
        del data[key]
    data["doc-planning_assignment"] = files((make_pdf("assignment"), "assignment.pdf"))
    data["staged-remove"] = [str(r.id) for r in staged_rows(app)]  # nor may they remove the clerk's
    response = post(client, PERMIT, data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "ownership.pdf" not in html and "design-1.pdf" not in html
    with app.app_context():
        assert db.session.execute(select(Application)).first() is None
    assert [r.user_id for r in staged_rows(app)].count(alpha["users"]["clerk"]) == 3


def test_the_purge_job_removes_old_kept_files_and_their_objects(app, clerk):
    token = open_form(clerk, PERMIT)
    post(clerk, PERMIT, without_assignment(token))
    old, *recent = staged_rows(app)
    with app.app_context():
        row = db.session.get(StagedUpload, old.id)
        row.created_at = utcnow() - staging.MAX_AGE - dt.timedelta(minutes=1)
        db.session.commit()
    storage = get_storage(app)
    assert storage.exists(old.storage_key)

    jobs.get_jobs(app).purge_staged()  # HAMAYNK_JOBS=immediate in tests: runs here and now

    assert [r.id for r in staged_rows(app)] == [r.id for r in recent]
    assert not storage.exists(old.storage_key) and all(storage.exists(r.storage_key) for r in recent)
    huey = jobs.get_huey(app)
    assert "hamaynk.purge_staged" in [t.name for t in huey.read_periodic(dt.datetime(2026, 3, 2, 10, 23))]
    # Nothing old left: the next run removes nothing.
    with app.app_context():
        assert staging.purge(db.session, storage) == 0


def test_the_form_renders_limits_for_the_browser_checks(app, clerk):
    html = clerk.get(f"/office/new/{PERMIT}").get_data(as_text=True)
    match = re.search(r'<input type="file" id="doc-design_documentation"[^>]*>', html, re.S)
    assert match, "no file input for the design documentation"
    tag = match.group(0)
    assert f'data-max-bytes="{50 * 1024 * 1024}"' in tag and 'data-max-count="10"' in tag
    assert 'accept=".pdf"' in tag
    assert "{name} is too large: this document may be at most 50 MB." in tag
    assert "doc-design_documentation-check" in tag
    assert 'id="doc-design_documentation-check" aria-live="assertive"' in html
