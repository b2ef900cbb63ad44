"""(f) Upload attacks through every form with a file input (found by crawling, forms.py):
polyglots, content that contradicts the extension, SVG with script, path traversal and NUL in
file names, a declared size far beyond the limit. Never a 500; nothing lands outside storage;
nothing is served back as something a browser would run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from app.testing import make_pdf, make_png

from .forms import discover, fuzzer_rows

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="x9()"><script>x9()</script></svg>'
HTML = b"<html><script>x9()</script></html>"
ATTACKS = {
    "polyglot.pdf": make_pdf("x") + HTML,
    "html-in-pdf.pdf": b"%PDF-1.4\n" + HTML,
    "png-named-pdf.pdf": make_png(),
    "pdf-named-png.png": make_pdf("x"),
    "script.svg": SVG,
    "script.svg.png": SVG,
    "page.html": HTML,
    "program.exe.pdf": b"MZ\x90\x00" + b"\x00" * 200,
    "../../../../tmp/hamaynk-traversal.pdf": make_pdf("x"),
    "..\\..\\..\\hamaynk-traversal.pdf": make_pdf("x"),
    "nul\x00.pdf": make_pdf("x"),
    ("a" * 2000) + ".pdf": make_pdf("x"),
    "": make_pdf("x"),
}
RUNNABLE = ("text/html", "image/svg+xml", "application/javascript", "text/javascript", "application/xhtml")
UPLOAD_CASES: list[int] = []
# The upload forms each role must find (parts of their actions). The test acts in a playground
# of its own (conftest.Live.playground), which the fuzzers never touch: its services are on,
# its accounts sign in, its draft poll and consultations take files. The verification page is
# rate-limited per address, and the enumeration test used up the limit from this address:
# discover() resets the limits and fails on a 429.
PLAYGROUND = "delta"
EXPECTED = {
    "municipal_admin": (
        "/admin/coat-of-arms/upload",
        "/admin/builder/import",
        "/admin/polls/",
        "/admin/consultations/",
        "/verify/",
    ),
    "clerk": ("/office/new", "/verify/"),
    "citizen_c": ("/my/questions/", "/proposals/new", "/verify/"),
}
ROLES = tuple(EXPECTED)


@pytest.mark.parametrize("role", ROLES)
def test_upload_attacks_are_refused_or_stored_harmlessly(live, role):
    session = live.login(role, PLAYGROUND)
    forms = [form for form in discover(live, session, fuzzer_rows(live, role, PLAYGROUND)) if form.files]
    actions = [form.action for form in forms]
    missing = [part for part in EXPECTED[role] if not any(part in action for action in actions)]
    assert not missing, f"{role} found no upload form at {missing}; found {actions}"
    problems = []
    cases = 0
    for form in forms:
        for filename, content in ATTACKS.items():
            cases += 1
            data = {name: (value or "Upload test") for name, value in form.fields.items()}
            files = [(name, (filename, content, "application/pdf")) for name in form.files]
            response = session.post(form.action, data=data, files=files, timeout=120, allow_redirects=False)
            if response.status_code >= 500:
                problems.append(f"{role} {form.action} {filename[:40]!r} -> {response.status_code}")
        # A declared size far beyond the limit: refused before the body is read.
        cases += 1
        try:
            response = session.post(
                form.action,
                data=b"x" * 1024,
                headers={"Content-Type": "multipart/form-data; boundary=zz", "Content-Length": str(10 * 1024**3)},
                timeout=30,
            )
            if response.status_code >= 500:
                problems.append(f"{role} {form.action} huge declared size -> {response.status_code}")
        except requests.RequestException:
            pass  # the server closed the connection: refused
    UPLOAD_CASES.append(cases)
    print(f"\nuploads: {cases} hostile uploads to {len(forms)} forms as {role}")
    assert not problems, "\n".join(problems)
    assert not list(Path("/tmp").glob("hamaynk-traversal*")), "a file name escaped the storage folder"
    storage = Path(live.app.config["HAMAYNK_STORAGE_PATH"])
    for path in storage.rglob("*"):
        assert ".." not in path.name and "\\" not in path.name, path
    assert os.path.commonpath([storage, *storage.rglob("*")]) == str(storage)


def test_stored_attachments_are_never_served_as_runnable(live):
    """Whatever was stored is sent back as an attachment the browser will not sniff or run."""
    session = live.session("citizen_a")
    a = live.victims["citizen_a"]
    for path in (
        f"/my/questions/{a['question_id']}/attachments/{a['attachment_id']}",
        f"/my/applications/{a['application_id']}/documents/{a['document_id']}",
    ):
        response = session.get(live.url(path), timeout=60)
        assert response.status_code == 200, path
        assert not response.headers.get("Content-Type", "").startswith(RUNNABLE), path
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
