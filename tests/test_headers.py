"""Security headers (app.headers, issue 12): every response, HTML and API, says nosniff, may
not be framed and keeps its referrer to this site; pages carry a strict Content-Security-
Policy whose nonce is on every inline script; personal answers are never stored by caches;
HSTS in production."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select

import config as settings
from app.extensions import db
from app.models import ApplicationDocument
from app.testing import PASSWORD, apply, attach, login, make_app, make_citizen

TEMPLATES = Path(__file__).resolve().parents[1] / "app" / "templates"
RESIDENCE = "residence-certificate"


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in policy.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def assert_common(response) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    # A page may choose a stricter one of its own (the look-up pages send none).
    assert headers["Referrer-Policy"] in {"strict-origin-when-cross-origin", "same-origin", "no-referrer"}
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.styles: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append(dict(attrs))
        elif tag == "style":
            self.styles.append(dict(attrs))


def assert_strict_page(response) -> str:
    """The page's policy is the strict one and every <script>/<style> carries its nonce."""
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert_common(response)
    policy = _directives(response.headers["Content-Security-Policy"])
    nonce = next(s for s in policy["script-src"] if s.startswith("'nonce-"))[len("'nonce-") : -1]
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert "'unsafe-inline'" not in policy["style-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    found = _Scripts()
    found.feed(response.get_data(as_text=True))
    inline = [s for s in found.scripts if not s.get("src")] + found.styles
    assert all(s.get("nonce") == nonce for s in inline), inline
    return nonce


def test_public_pages_anonymous(app, client):
    for path in ("/", "/login/", "/m/alpha/", "/verify/", "/dashboard/"):
        response = client.get(path)
        assert_strict_page(response)
    # The catalogue says nothing personal: caches may keep it (the login page keeps its own no-store).
    for path in ("/", "/m/alpha/"):
        assert "no-store" not in client.get(path).headers.get("Cache-Control", ""), path


def test_the_nonce_is_new_for_every_request(client):
    assert assert_strict_page(client.get("/login/")) != assert_strict_page(client.get("/login/"))


def test_staff_and_admin_pages_flask_appbuilders_included(app, client, login_as):
    login_as("municipal_admin")
    clerk = app.seeded["alpha"]["users"]["clerk"]
    for path in (
        "/workspace/",
        "/office/",
        "/admin/staff/",
        f"/admin/staff/{clerk}/edit",
        "/admin/departments/list/",
        "/admin/departments/add",
        "/admin/builder/new",
    ):
        response = client.get(path)
        assert_strict_page(response)
        assert "no-store" in response.headers["Cache-Control"], path
    sysadmin = app.test_client()
    login(sysadmin, "sysadmin", PASSWORD)
    for path in ("/users/list/", "/roles/list/", "/users/add", "/swagger/v1"):
        assert_strict_page(sysadmin.get(path))


def test_case_page_inbox_and_api_json_are_not_stored(app, client, login_as):
    filed = apply(app, RESIDENCE, data={"address": "Alpha 1", "purpose": "bank", "copies": "1"},
                  documents={"identity": [attach("pdf", "passport.pdf")]})  # fmt: skip
    login_as("specialist")
    for path in ("/workspace/", f"/workspace/applications/{filed.id}", "/workspace/?tab=all"):
        response = client.get(path)
        assert response.status_code == 200 and "no-store" in response.headers["Cache-Control"], path
    api = app.test_client()
    token = api.post("/api/v1/security/login", json={"username": "alpha.clerk", "password": PASSWORD, "provider": "db"})
    # Even the token answer: it is a credential.
    assert "no-store" in token.headers["Cache-Control"]
    assert_common(token)
    bearer = {"Authorization": f"Bearer {token.json['access_token']}"}
    for path in ("/api/v1/applications", f"/api/v1/applications/{filed.id}"):
        response = api.get(path, headers=bearer)
        assert response.status_code == 200 and response.is_json
        assert_common(response)
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert "no-store" in response.headers["Cache-Control"]
    # An API error is JSON with the same headers.
    refused = app.test_client().get("/api/v1/applications")
    assert refused.status_code == 401 and "no-store" in refused.headers["Cache-Control"]
    assert_common(refused)


def test_portal_pages_with_personal_data_are_not_stored(app, client):
    make_citizen(app, "headers.citizen@test.example")
    client.post("/login/", data={"username": "headers.citizen@test.example", "password": PASSWORD})
    for path in ("/my/applications/", "/account/profile", "/my/questions/"):
        response = client.get(path)
        assert_strict_page(response)
        assert "no-store" in response.headers["Cache-Control"], path


def test_static_files_keep_caching_and_get_the_headers(client):
    response = client.get("/static/hamaynk.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_error_pages_have_the_headers(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert_common(response)


def test_a_documents_own_stricter_policy_is_kept(app, client, login_as):
    filed = apply(app, RESIDENCE, data={"address": "Alpha 1", "purpose": "bank", "copies": "1"},
                  documents={"identity": [attach("png", "passport.png")]})  # fmt: skip
    with app.app_context():
        document_id = db.session.execute(
            select(ApplicationDocument.id).where(ApplicationDocument.application_id == filed.id)
        ).scalar_one()
    login_as("specialist")
    preview = client.get(f"/workspace/applications/{filed.id}/documents/{document_id}/preview")
    assert preview.status_code == 200
    policy = preview.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'") and "sandbox" in policy and "frame-ancestors 'none'" in policy
    assert "private" in preview.headers["Cache-Control"] and "no-store" in preview.headers["Cache-Control"]


def test_hsts_only_in_production_and_only_over_tls(tmp_path):
    assert settings.Config.HAMAYNK_HSTS_SECONDS == 0
    assert settings.ProductionConfig.HAMAYNK_HSTS_SECONDS >= 180 * 24 * 3600
    app = make_app(tmp_path / "one", HAMAYNK_HSTS_SECONDS=settings.ProductionConfig.HAMAYNK_HSTS_SECONDS)
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/login/").headers
    secure = client.get("/login/", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    upstream = make_app(tmp_path / "two", HAMAYNK_HSTS_SECONDS=600, HAMAYNK_TLS_UPSTREAM=True).test_client()
    assert upstream.get("/login/").headers["Strict-Transport-Security"].startswith("max-age=600")
    off = make_app(tmp_path / "three").test_client()
    assert "Strict-Transport-Security" not in off.get("/login/", base_url="https://localhost").headers


def test_form_action_takes_a_configured_gateway(tmp_path):
    app = make_app(tmp_path, HAMAYNK_CSP_FORM_ACTION=["https://pay.example.am"])
    policy = _directives(app.test_client().get("/login/").headers["Content-Security-Policy"])
    assert policy["form-action"] == ["'self'", "https://pay.example.am"]


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_script_without_a_nonce(template):
    """No inline event handler or javascript: URL (no nonce can allow them), and every
    inline <script> and every <style> element carries the nonce."""
    text = template.read_text(encoding="utf-8")
    assert not re.search(r"<[a-z][^>]*\son[a-z]+=[\"']", text), "inline event handler"
    assert "javascript:" not in text.lower()
    for tag in re.findall(r"<script\b[^>]*>|<style\b[^>]*>", text):
        assert "nonce=" in tag or " src=" in tag, tag
