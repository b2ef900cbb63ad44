"""Every built-in service, worked to the end in a real browser by the demo staff alone: the
front-office clerk files it with its documents, whoever the demo data has in each step's
department approves it, and the clerk hands the result over. Nobody is created for the
test, so a department the demo leaves unstaffed fails it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.demo import DEMO_PASSWORD, STAFF, seed_demo
from app.domain import statuses, workflow
from app.domain.roles import ROLE_BY_KEY
from app.extensions import db
from app.models import Application, Department, TransitionRecord, User
from app.plugins import runtime as plugin_runtime
from app.testing import SAMPLE_FILES, make_app, sample_data
from plugins import samples

MUNICIPALITY = "abovyan"
BUILT_IN = [
    "address-assignment",
    "construction-permit",
    "kindergarten-enrolment",
    "public-event",
    "residence-certificate",
    "social-assistance",
    "trade-permit",
]


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, serve_app):
    """The other browser fixtures (``browser``, ``page``, ``sign_in``) use this server: the
    demo data of the quick start instead of the test municipalities."""
    app = make_app(tmp_path_factory.mktemp("demo"))
    with app.app_context():
        seed_demo()
    yield from serve_app(app)


def test_the_demo_offers_exactly_the_built_in_services(live_server):
    with live_server.app_context():
        assert sorted(r.key for r in plugin_runtime.registry().latest()) == BUILT_IN


def _demo_user(role: str, department_code: str | None, exclude: set[str]) -> str:
    for suffix, staff_role, staff_department, _first, _last in STAFF:
        username = f"{MUNICIPALITY}.{suffix}"
        if staff_role == role and staff_department == department_code and username not in exclude:
            return username
    raise AssertionError(f"the demo has no {role} in {department_code!r} (besides {sorted(exclude)})")


def _fill(page, name: str, value) -> None:
    """Fill the visible input named ``name`` the way a person would for its kind."""
    inputs = page.locator(f"[name='{name}']")
    if inputs.count() == 1 and inputs.first.get_attribute("type") == "hidden":
        # A date typed as a person would, in the page's format (hamaynk.js fills the ISO value).
        shown = page.locator(f"#{name}")
        if shown.is_visible():
            pattern = page.locator("body").get_attribute("data-date-pattern") or "yyyy-MM-dd"
            year, month, day = str(value).split("-")
            shown.fill(pattern.replace("yyyy", year).replace("MM", month).replace("dd", day))
        return
    if inputs.count() == 0 or not inputs.first.is_visible():
        return  # hidden by a condition: the server drops it anyway
    first = inputs.first
    tag = first.evaluate("e => e.tagName.toLowerCase()")
    kind = (first.get_attribute("type") or "").lower()
    if tag == "select":
        first.select_option(value[0] if isinstance(value, list) else str(value))
    elif kind in ("checkbox", "radio"):
        for choice in value if isinstance(value, list) else [value]:
            box = page.locator(f"[name='{name}'][value='{choice}']") if inputs.count() > 1 else first
            box.check()
    else:
        first.fill(str(value))


def _file_at_the_office(page, app, service_key: str, tmp_path) -> int:
    base = app.live_url
    page.goto(f"{base}/office/")
    page.locator(f"a[href$='/office/new/{service_key}']").first.click()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Full name", exact=True).fill("Արմեն Սարգսյան")
    page.get_by_label("Public service number", exact=True).fill("1234567890")
    page.get_by_label("Phone", exact=True).fill("091 123456")
    with app.app_context():
        registered = plugin_runtime.registry().get(service_key)
        assert registered is not None
        service = registered.service
    for name, value in sample_data(service, samples.overrides(service_key)).items():
        _fill(page, name, value)
    for index, line in enumerate(page.locator("[data-document] input[type=file]").all()):
        if not line.is_visible():
            continue
        accept = line.get_attribute("accept") or ""
        kind = "pdf" if ("pdf" in accept or not accept) else "jpeg" if "jp" in accept else "png"
        upload = tmp_path / f"{service_key}-{index}.{'jpg' if kind == 'jpeg' else kind}"
        upload.write_bytes(SAMPLE_FILES[kind][0])
        line.set_input_files(str(upload))
    page.get_by_role("button", name="File the application").click()
    page.wait_for_load_state("networkidle")
    match = re.search(r"/office/receipt/(\d+)", page.url)
    assert match, (
        f"{service_key}: not filed, the form says: {page.locator('.alert-danger, .help-block').all_inner_texts()}"
    )
    return int(match.group(1))


def _next_actor(app, application_id: int) -> tuple[str, str] | None:
    """(username, status) of the demo user who acts next, or None when no step is open."""
    with app.app_context():
        application = db.session.get(Application, application_id)
        assert application is not None
        if application.status not in workflow.AT_STEP:
            return None
        step = workflow.current_step(application, workflow.service_of(application, plugin_runtime.registry()))
        assert step is not None
        department = db.session.get(Department, workflow.responsible_department_id(db.session, application, step))
        acted = set(
            db.session.execute(
                select(User.username)
                .join(TransitionRecord, TransitionRecord.actor_id == User.id)
                .where(TransitionRecord.application_id == application_id)
            ).scalars()
        )
        exclude = acted if step.forbid_self_approval else set()
        status = application.status
        db.session.remove()
    return _demo_user(ROLE_BY_KEY[step.role], department.code if department else None, exclude), status


def _status(app, application_id: int) -> tuple[str, int]:
    """The status and how many approvals the history holds."""
    with app.app_context():
        status = db.session.execute(select(Application.status).where(Application.id == application_id)).scalar_one()
        approvals = len(
            db.session.execute(
                select(TransitionRecord.id).where(
                    TransitionRecord.application_id == application_id, TransitionRecord.action == workflow.APPROVE
                )
            ).all()
        )
        db.session.remove()
    return status, approvals


@pytest.mark.parametrize("service_key", BUILT_IN)
def test_demo_staff_work_the_service_to_the_end(page, live_server, sign_in, service_key, tmp_path):
    base = live_server.live_url
    sign_in(page, f"{MUNICIPALITY}.clerk", DEMO_PASSWORD)
    page.goto(f"{base}/lang/en")
    application_id = _file_at_the_office(page, live_server, service_key, tmp_path)

    for _guard in range(10):
        actor = _next_actor(live_server, application_id)
        if actor is None:
            break
        username, _ = actor
        _, approvals = _status(live_server, application_id)
        page.goto(f"{base}/logout/")
        page.click("#hamaynk-logout-form button")  # signing out is a POST
        sign_in(page, username, DEMO_PASSWORD)
        page.goto(f"{base}/lang/en")
        # The task is in the inbox of the person the demo staffs the step with.
        page.goto(f"{base}/workspace/")
        page.locator(f"a[href$='/workspace/applications/{application_id}']").first.click()
        page.wait_for_load_state("networkidle")
        page.get_by_role("button", name="Approve", exact=True).click()
        page.wait_for_load_state("networkidle")
        # The last approval is confirmed on a page of its own.
        confirm = page.get_by_role("dialog").get_by_role("button", name=re.compile("^(Approve|Yes)"))
        if confirm.count():
            confirm.first.click()
        page.wait_for_load_state("networkidle")
        assert _status(live_server, application_id)[1] == approvals + 1, f"{username} could not approve"
    assert _status(live_server, application_id)[0] == statuses.APPROVED

    page.goto(f"{base}/logout/")
    page.click("#hamaynk-logout-form button")  # signing out is a POST
    sign_in(page, f"{MUNICIPALITY}.clerk", DEMO_PASSWORD)
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/workspace/applications/{application_id}")
    page.get_by_label(re.compile("in person", re.IGNORECASE)).check()
    page.get_by_role("button", name=re.compile("Hand over", re.IGNORECASE)).click()
    page.wait_for_load_state("networkidle")
    assert _status(live_server, application_id)[0] == statuses.ISSUED
