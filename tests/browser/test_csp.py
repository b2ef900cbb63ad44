"""The strict Content-Security-Policy (app.headers) breaks no page: staff, admin (Flask-
AppBuilder's own list, show, edit and add pages), portal and public pages open in a real
browser without one "Refused to ..." and every page's scripts still run."""

from __future__ import annotations

import pytest

from app.testing import PASSWORD, apply, attach, make_citizen

# Collects the browser's violation reports; an init script runs outside the page's policy.
LISTEN = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sample || '') + ' @' + e.sourceFile + ':' + e.lineNumber));
"""


@pytest.fixture(scope="module")
def filed(live_server):
    make_citizen(live_server, email="csp.citizen@test.example", name="Anna Tsatryan", verified=True)
    return apply(
        live_server,
        "residence-certificate",
        municipality="alpha",
        data={"address": "Alpha 1", "purpose": "bank", "copies": "1"},
        documents={"identity": [attach("pdf", "passport.pdf")]},
    )


def _pages(app, filed) -> dict[str | None, list[str]]:
    alpha = app.seeded["alpha"]
    clerk, admin = alpha["users"]["clerk"], alpha["users"]["municipal_admin"]
    department = alpha["departments"]["front_office"]
    return {
        None: [
            "/",
            "/m/alpha/",
            "/m/alpha/services/residence-certificate/",
            "/login/",
            "/account/register",
            "/account/reset",
            "/verify/",
            "/dashboard/",
            "/m/alpha/dashboard/",
            "/track",
        ],
        "csp.citizen@test.example": [
            "/",
            "/my/applications/",
            "/my/drafts/",
            "/my/questions/",
            "/my/questions/new",
            "/my/notices/",
            "/account/profile",
            "/m/alpha/services/residence-certificate/apply",
        ],
        "alpha.clerk": [
            "/office/",
            "/office/new/residence-certificate",
            f"/office/receipt/{filed.id}",
            "/workspace/",
            f"/workspace/applications/{filed.id}",
            "/workspace/questions/",
            "/users/userinfo/",
        ],
        "alpha.municipal_admin": [
            "/admin/staff/",
            "/admin/staff/add",
            f"/admin/staff/{clerk}/edit",
            "/admin/departments/list/",
            "/admin/departments/add",
            f"/admin/departments/edit/{department}",
            f"/admin/departments/show/{department}",
            "/admin/services/",
            "/admin/services/residence-certificate",
            "/admin/builder/",
            "/admin/builder/new",
            "/admin/notification-texts/",
            "/admin/coat-of-arms/",
            "/workspace/reports/",
            "/workspace/substitutes/",
        ],
        "sysadmin": [
            "/users/list/",
            "/users/add",
            f"/users/edit/{admin}",
            f"/users/show/{admin}",
            "/roles/list/",
            "/roles/add",
            "/groups/list/",
            "/permissions/list/",
            "/admin/municipalities/list/",
            "/admin/municipalities/add",
            "/admin/plugins/",
            "/swagger/v1",
            "/resetmypassword/form",
        ],
    }


def _collect(page, refused: list[str]) -> None:
    """Console messages saying the browser refused something, and uncaught script errors."""
    page.on("console", lambda m: refused.append(f"{page.url}: {m.text}") if "Refused to" in m.text else None)
    page.on("pageerror", lambda e: refused.append(f"{page.url}: {e}"))


def test_no_page_violates_the_content_security_policy(browser, live_server, filed):
    base = live_server.live_url
    refused: list[str] = []
    seen = 0
    for user, paths in _pages(live_server, filed).items():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_init_script(LISTEN)
        page = context.new_page()
        _collect(page, refused)
        if user is not None:
            page.goto(f"{base}/login/")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", PASSWORD)
            page.press("input[name=password]", "Enter")
            page.wait_for_load_state("networkidle")
            assert "/login" not in page.url, f"{user} could not sign in"
        for path in paths:
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, (user, path, response and response.status)
            policy = response.headers.get("content-security-policy", "")
            assert "'unsafe-inline'" not in policy.split("style-src-attr")[0], (path, policy)
            page.wait_for_load_state("networkidle")
            if path.endswith("/list/"):
                # Flask-AppBuilder's search widget (an inline, nonced script) adds a filter row.
                add = page.locator(".filter-action, a.dropdown-toggle:has-text('Add Filter')")
                if add.count():
                    add.first.click()
            refused += [f"{path}: {v}" for v in page.evaluate("window.__csp")]
            seen += 1
        context.close()
    print(f"{seen} pages checked under the CSP")
    assert refused == [], "\n".join(refused)


def test_scripts_still_run_under_the_policy(browser, live_server, sign_in):
    """Scripts from this site and FAB's nonced inline ones do run: select2 turns the staff
    form's role list into its widget, and the swagger page draws the API."""
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, "alpha.municipal_admin")
    page.goto(f"{live_server.live_url}/admin/departments/add")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof jQuery === 'function' && typeof jQuery.fn.select2 === 'function'")
    context.close()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, "sysadmin")
    page.goto(f"{live_server.live_url}/swagger/v1")
    page.wait_for_selector("#swagger-ui .opblock", timeout=15_000)
    context.close()
