"""Browser tests: a real server on 127.0.0.1 (waitress, in a thread) with a real SQLite
database, driven by Debian's chromium through Playwright."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.testing import PASSWORD, make_app, seed_municipality, seed_system_admin

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

    source = AXE_JS.read_text(encoding="utf-8")

    def run(page) -> list[dict]:
        # Evaluated through the DevTools protocol: a <script> tag added to the page would be
        # inline script, which the pages' Content-Security-Policy refuses (app.headers).
        page.evaluate(f"() => {{ {source}\n; window.axe = axe; }}")
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


def _sign_in(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"{username} could not sign in"


@pytest.fixture
def sign_in(live_server):
    """``sign_in(page, "alpha.clerk")``: the login form (a citizen signs in there with the
    e-mail address), filled in and sent by keyboard; fails unless that signed in."""

    def sign_in_(page, username: str, password: str = PASSWORD) -> None:
        _sign_in(page, live_server.live_url, username, password)

    return sign_in_


@pytest.fixture(scope="module")
def sessions(browser, live_server) -> dict[str, Any]:
    """``sessions["state"](username)``: that user's signed-in browser state, made once per
    module (``None`` for nobody), for ``browser.new_context(storage_state=...)``. Called
    only inside a test, so the module's data fixtures have made the user by then."""
    made: dict[str, Any] = {}

    def state(username: str | None):
        if username is None:
            return None
        if username not in made:
            context = browser.new_context()
            _sign_in(context.new_page(), live_server.live_url, username)
            made[username] = context.storage_state()
            context.close()
        return made[username]

    return {"state": state}


# -- the portal's pages in Armenian at a phone's and a desktop's width --------------------------

PORTAL_ARTIFACTS = (
    Path(os.environ.get("HAMAYNK_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts") / "portal"
)
PORTAL_HEIGHTS = {390: 844, 1366: 900}


@pytest.fixture(scope="module")
def portal_context(browser, live_server):
    """``portal_context(width, outside, storage_state=None)``: a new browser context in
    Armenian, ``width`` px wide (390: a touch phone), that adds to ``outside`` every URL it
    requests from anywhere but the live server."""
    base = live_server.live_url

    def make(width: int, outside: list[str], storage_state: Any = None):
        context = browser.new_context(
            viewport={"width": width, "height": PORTAL_HEIGHTS[width]},
            is_mobile=width < 800,
            has_touch=width < 800,
            storage_state=storage_state,
            locale="hy-AM",
        )
        context.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:")) else None)
        return context

    return make


def describe(violations: list[dict[str, Any]]) -> str:
    """axe-core's violations, a line each and a line for each of their first five places."""
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


@dataclass
class Look:
    """A page as ``look`` saw it: axe-core's violations, how far it scrolls sideways, its title."""

    name: str
    width: int
    violations: list[dict[str, Any]]
    overflow: int
    title: str

    def assert_clean(self, *, fits: bool = True, titled: bool = True) -> None:
        """No axe violation; and, unless told otherwise, no sideways scrolling and a title
        that names the page ("<page> · <site>")."""
        name, width = self.name, self.width
        assert not self.violations, f"{name} at {width}px:\n{describe(self.violations)}"
        if fits:
            assert self.overflow <= 0, f"{name} is {self.overflow}px wider than a {width}px screen"
        if titled:
            assert " · " in self.title, f"{name}: the title {self.title!r} does not name the page"


@pytest.fixture(scope="session")
def look(axe):
    """``look(page, name, width, prefix="")``: once the page has settled, a full-page
    screenshot at ``test-artifacts/portal/<prefix><name>-<width>.png`` (``HAMAYNK_TEST_ARTIFACTS``
    moves the root) with axe-core's violations beside it (``.json``); returns a ``Look``."""

    def look_(page, name: str, width: int, *, prefix: str = "") -> Look:
        page.wait_for_load_state("networkidle")
        shot = PORTAL_ARTIFACTS / f"{prefix}{name}-{width}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        violations = axe(page)
        shot.with_suffix(".json").write_text(json.dumps(violations, ensure_ascii=False, indent=1))
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        return Look(name, width, violations, overflow, page.title())

    return look_


@pytest.fixture(scope="session")
def check_page(look):
    """``check_page(page, name, width, prefix="")``: the page as it is now is in Armenian,
    has no axe violation, fits the screen and has a title that names it (saved as ``look``
    saves it)."""

    def check(page, name: str, width: int, *, prefix: str = "") -> None:
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("html", "lang") == "hy", name
        look(page, name, width, prefix=prefix).assert_clean()

    return check
