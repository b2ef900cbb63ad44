"""Browser tests: a real server on 127.0.0.1 (waitress, in a thread) with a real SQLite
database, driven by Debian's chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from app.testing import make_app, seed_municipality, seed_system_admin

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("HAMAYNK_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e .[test])"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    require_browser()
    tmp = tmp_path_factory.mktemp("live")
    app = make_app(tmp)
    app.seeded = {
        "alpha": seed_municipality(app, "alpha", "Alpha"),
        "beta": seed_municipality(app, "beta", "Beta"),
        "sysadmin": seed_system_admin(app),
    }
    with app.app_context():
        from app.domain.activations import set_activation
        from app.extensions import db
        from app.plugins import runtime as plugin_runtime

        for registered in plugin_runtime.registry().latest():
            set_activation(
                db.session,
                plugin_runtime.registry(),
                app.seeded["alpha"]["id"],
                registered.key,
                enabled=True,
                fee_override=None,
                deadline_override=None,
                department_id=None,
                actor_id=None,
            )
        db.session.commit()
    yield from serve(app)


def require_browser() -> None:
    """Skip (fail in CI) when playwright or chromium is missing."""
    reason = _missing()
    if reason:
        if IN_CI:
            pytest.fail(f"CI must run the browser tests, but {reason}")
        pytest.skip(reason)


AXE_JS = Path(os.environ.get("HAMAYNK_AXE_JS") or Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js")


@pytest.fixture(scope="session")
def axe():
    """``axe(page)``: axe-core's violations on the page as it is now (the vendored copy, see
    tests/browser/vendor/axe-core/README.md; ``HAMAYNK_AXE_JS`` points at another)."""
    assert AXE_JS.exists(), f"axe-core is missing at {AXE_JS}"

    def run(page) -> list[dict]:
        page.add_script_tag(path=str(AXE_JS))
        return page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")["violations"]

    return run


@pytest.fixture(scope="session")
def serve_app():
    """For a module's own ``live_server`` fixture serving another app: skips (fails in CI)
    without a browser, then ``yield from serve_app(app)``."""
    require_browser()
    return serve


def serve(app):
    """Serve ``app`` with waitress on a free loopback port (``app.live_url``) until the
    generator is closed: for module-scoped fixtures."""
    from waitress.server import create_server

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    app.live_url = f"http://127.0.0.1:{port}"
    yield app
    server.close()


@pytest.fixture(scope="module")
def browser(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"), args=ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    # Nothing may be fetched from outside this machine (docs/operations.md: no CDN, no web fonts).
    outside = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith(live_server.live_url) and not request.url.startswith("data:")
            else None
        ),
    )
    yield page
    context.close()
    assert outside == [], f"pages fetched outside resources: {outside}"


@pytest.fixture
def sign_in(live_server):
    """``sign_in(page, "alpha.clerk")``: the login form, filled in and sent by keyboard."""

    def _sign_in(page, username: str, password: str = "test-password-123") -> None:
        page.goto(f"{live_server.live_url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.press("input[name=password]", "Enter")
        page.wait_for_load_state("networkidle")

    return _sign_in
