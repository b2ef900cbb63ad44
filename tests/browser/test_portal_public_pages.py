"""The citizen portal's public and account pages in Chromium, in Armenian, at a phone's width
(390 px) and a desktop's (1366 px): axe-core finds no violation, nothing is fetched from
another site, nothing is wider than the screen, and every page's title names it. Each page is
saved as a screenshot under ``test-artifacts/portal/<page>-<width>.png``.

One test function: the citizen registers (the form, sent with mistakes first), confirms the
address through the link the outbox holds, signs in on the portal's own page and opens the
profile, so later pages depend on earlier steps.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Notification, User

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)
EMAIL = "anahit.browser@example.am"
PASSWORD = "lantern orchard quietly humming"


def _check(check_page, page, name: str, width: int, outside: list[str]) -> None:
    check_page(page, name, width)
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


def test_public_and_account_pages_in_armenian_at_phone_and_desktop_width(live_server, portal_context, check_page):
    base = live_server.live_url
    with live_server.app_context():
        from app.plugins import runtime as plugin_runtime

        service_key = plugin_runtime.registry().latest()[0].key
    for width in WIDTHS:
        outside: list[str] = []
        context = portal_context(width, outside)
        try:
            page = context.new_page()

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
                _check(check_page, page, name, width, outside)

            # Sent with mistakes: the answer with its error summary is a page too.
            page.fill("#name", "Անահիտ Բրաուզեր")
            page.fill("#email", "not-an-address")
            page.fill("#password", "short")
            page.fill("#password_again", "other")
            page.click("form[action='/account/register'] button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator(".error-summary a[href='#email']").count() == 1
            assert page.get_attribute("#password", "aria-invalid") == "true"
            _check(check_page, page, "account-register-errors", width, outside)

            if width == min(WIDTHS):
                # Registers by keyboard, confirms the address, signs in.
                page.fill("#email", EMAIL)
                page.fill("#password", PASSWORD)
                page.fill("#password_again", PASSWORD)
                page.press("#password_again", "Enter")
                page.wait_for_url(f"{base}/account/sent/register")
                _check(check_page, page, "account-sent", width, outside)
                page.goto(base + _verify_link(live_server))
                _check(check_page, page, "account-verified", width, outside)
            page.goto(base + "/account/login?next=/account/profile")
            page.fill("#email", EMAIL)
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
            page.wait_for_url(f"{base}/account/profile")
            _check(check_page, page, "account-profile", width, outside)
            # The profile sent with a wrong public service number.
            page.fill("#psn", "123")
            page.click("form[action='/account/profile'] button[type=submit]")
            page.wait_for_load_state("networkidle")
            assert page.locator(".error-summary a[href='#psn']").count() == 1
            _check(check_page, page, "account-profile-errors", width, outside)
            # Signed in, the public pages show the citizen's menu; the service offers to apply.
            page.goto(f"{base}/m/alpha/services/{service_key}/")
            _check(check_page, page, "site-service-signed-in", width, outside)
            page.click("header form[action='/account/logout'] button")
            page.wait_for_url(f"{base}/")
        finally:
            context.close()
