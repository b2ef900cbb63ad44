"""The citizen portal's public and account pages in Chromium, in Armenian, at a phone's width
(390 px) and a desktop's (1366 px): axe-core finds no violation, nothing is fetched from
another site, nothing is wider than the screen, and every page's title names it. Each page is
saved as a screenshot under ``test-artifacts/portal/<page>-<width>.png``.

One test function: the citizen registers (the form, sent with mistakes first), confirms the
address through the link the outbox holds, signs in on the portal's own page and opens the
profile, so later pages depend on earlier steps.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Notification, User

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HAMAYNK_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "portal"
WIDTHS = {390: 844, 1366: 900}
EMAIL = "anahit.browser@example.am"
PASSWORD = "lantern orchard quietly humming"


def _describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


def _check(page, axe, name: str, width: int, base: str, outside: list[str]) -> None:
    page.wait_for_load_state("networkidle")
    assert page.get_attribute("html", "lang") == "hy", name
    shot = ARTIFACTS / f"{name}-{width}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    violations = axe(page)
    (ARTIFACTS / f"{name}-{width}.json").write_text(json.dumps(violations, ensure_ascii=False, indent=1))
    assert not violations, f"{name} at {width}px:\n{_describe(violations)}"
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px screen"
    assert " · " in page.title(), f"{name}: the title {page.title()!r} does not name the page"
    assert outside == [], f"{name} fetched outside resources: {outside}"


def _verify_link(app) -> str:
    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.username == EMAIL)).scalar_one()
        body = (
            db.session.execute(
                select(Notification.body)
                .where(Notification.recipient_user_id == user_id, Notification.channel == "email")
                .order_by(Notification.id.desc())
            )
            .scalars()
            .first()
        )
    found = re.search(r"/account/verify/[A-Za-z0-9_.\-]+", body or "")
    assert found, body
    return found.group(0)


def test_public_and_account_pages_in_armenian_at_phone_and_desktop_width(browser, live_server, axe):
    base = live_server.live_url
    with live_server.app_context():
        from app.plugins import runtime as plugin_runtime

        service_key = plugin_runtime.registry().latest()[0].key
    for width, height in WIDTHS.items():
        context = browser.new_context(
            viewport={"width": width, "height": height},
            is_mobile=width < 800,
            has_touch=width < 800,
            locale="hy-AM",
        )
        try:
            page = context.new_page()
            outside: list[str] = []
            page.on(
                "request",
                lambda r, seen=outside: seen.append(r.url) if not r.url.startswith((base, "data:")) else None,
            )

            for name, path in (
                ("site-home", "/"),
                ("site-municipality", "/m/alpha/"),
                ("site-municipality-search", "/m/alpha/?q=%D5%A9%D5%B8%D6%82%D5%B5%D5%AC"),
                ("site-service", f"/m/alpha/services/{service_key}/"),
                ("account-login", "/account/login"),
                ("account-reset-request", "/account/reset"),
                ("account-register", "/account/register"),
            ):
                response = page.goto(base + path)
                assert response is not None and response.status == 200, f"{name}: {response and response.status}"
                _check(page, axe, name, width, base, outside)

            # Sent with mistakes: the answer with its error summary is a page too.
            page.fill("#name", "Անահիտ Բրաուզեր")
            page.fill("#email", "not-an-address")
            page.fill("#password", "short")
            page.fill("#password_again", "other")
            page.click("form[action='/account/register'] button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator(".error-summary a[href='#email']").count() == 1
            assert page.get_attribute("#password", "aria-invalid") == "true"
            _check(page, axe, "account-register-errors", width, base, outside)

            if width == min(WIDTHS):
                # Registers by keyboard, confirms the address, signs in.
                page.fill("#email", EMAIL)
                page.fill("#password", PASSWORD)
                page.fill("#password_again", PASSWORD)
                page.press("#password_again", "Enter")
                page.wait_for_url(f"{base}/account/sent/register")
                _check(page, axe, "account-sent", width, base, outside)
                page.goto(base + _verify_link(live_server))
                _check(page, axe, "account-verified", width, base, outside)
            page.goto(base + "/account/login?next=/account/profile")
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
            page.wait_for_url(f"{base}/account/profile")
            _check(page, axe, "account-profile", width, base, outside)
            # The profile sent with a wrong public service number.
            page.fill("#psn", "123")
            page.click("form[action='/account/profile'] button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator(".error-summary a[href='#psn']").count() == 1
            _check(page, axe, "account-profile-errors", width, base, outside)
            # Signed in, the public pages show the citizen's menu; the service offers to apply.
            page.goto(f"{base}/m/alpha/services/{service_key}/")
            _check(page, axe, "site-service-signed-in", width, base, outside)
            page.click("header form[action='/account/logout'] button")
            page.wait_for_url(f"{base}/")
        finally:
            context.close()
