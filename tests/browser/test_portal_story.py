"""A citizen's whole story through the portal, in Chromium on a 390 px phone, in Armenian
(issue 9's "must show"):

registers and verifies the e-mail address (the link read from a real SMTP server, aiosmtpd),
applies for a service with two uploads, saves the draft, signs out, signs in again, resumes,
pays with the test payment provider and submits; staff return it naming a field and a
document; the citizen fixes exactly those and resubmits; staff approve and hand the result
over. At every turn the citizen's page shows the status in the words the domain gives for it
(never a raw status key), and every e-mail the outbox wrote for the citizen arrived at the
SMTP server, once.

Then every portal page the citizen has seen is visited again at 390 px and 1366 px: each is
saved as a screenshot (``test-artifacts/portal/story-<page>-<width>.png``) and has no
axe-core violation.
"""

from __future__ import annotations

import os
import re
import time
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from app.domain.formatting import format_amd
from app.testing import PASSWORD, SmtpInbox, add_staff, make_app, make_pdf, make_png, seed_municipality

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("HAMAYNK_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "portal"
SERVICE = "residence-certificate"
EMAIL = "narine.story@example.com"
NAME = "Նարինե Սարգսյան"
# The municipality charges for this (otherwise free) certificate: the fee is its own override.
FEE = 1500


@pytest.fixture(scope="module")
def story_server(tmp_path_factory, serve_app):
    from app.domain.activations import set_activation
    from app.domain.roles import HEAD, SPECIALIST
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    inbox = SmtpInbox()
    inbox.start()
    app = make_app(
        tmp_path_factory.mktemp("story"),
        HAMAYNK_SMTP_HOST="127.0.0.1",
        HAMAYNK_SMTP_PORT=inbox.port,
        HAMAYNK_SMTP_TIMEOUT=5,
    )
    alpha = seed_municipality(app, "alpha", "Ալֆա")
    add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    add_staff(app, alpha, "alpha.registry_head", [HEAD], "civil_registry")
    with app.app_context():
        set_activation(
            db.session,
            plugin_runtime.registry(),
            alpha["id"],
            SERVICE,
            enabled=True,
            fee_override=FEE,
            deadline_override=None,
            department_id=None,
            actor_id=None,
        )
        db.session.commit()
    served = serve_app(app)
    app = next(served)
    # Links in e-mails start with the public address, which is known once the server listens.
    app.config["HAMAYNK_PUBLIC_URL"] = app.live_url
    app.inbox = inbox
    try:
        yield app
    finally:
        served.close()
        inbox.stop()


# -- helpers ---------------------------------------------------------------------------------


def _shot(page, name: str, width: int, look=None) -> None:
    """A screenshot, ``test-artifacts/portal/story-<name>-<width>.png``; given the ``look``
    fixture, the page also has no axe violation and no sideways scrolling."""
    if look is not None:
        look(page, name, width, prefix="story-").assert_clean(titled=False)
        return
    page.wait_for_load_state("networkidle")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"story-{name}-{width}.png"), full_page=True)


def _plain(text: str) -> str:
    return re.sub(r"[\s\u00a0\u202f]+", " ", text)


def _subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def _mails_to(app, address: str) -> list:
    return [m for _from, to, m in app.inbox.messages if address in to]


def _wait_for_mail(app, address: str, count: int, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mails = _mails_to(app, address)
        if len(mails) >= count:
            return mails
        time.sleep(0.2)
    raise AssertionError(f"{count} e-mail(s) to {address} expected, {len(_mails_to(app, address))} arrived")


def _body(message) -> str:
    part = message.get_body(preferencelist=("plain",)) if message.is_multipart() else message
    return part.get_content()


def _status_words(app, application_id: int) -> str:
    """What the domain says the citizen should read for the application's status, in Armenian."""
    from app.domain import citizen_cases
    from app.extensions import db
    from app.models import Application
    from app.plugins import runtime as plugin_runtime

    with app.test_request_context("/"), force_locale("hy"):
        application = db.session.get(Application, application_id)
        service = citizen_cases._service(plugin_runtime.registry(app), application)
        overrides = citizen_cases._overrides(db.session, application)
        text = citizen_cases.words(application, service, overrides, "hy").text
        db.session.remove()
        return text


def _application(app, application_id: int):
    from app.extensions import db
    from app.models import Application

    with app.app_context():
        row = db.session.get(Application, application_id)
        db.session.expunge(row)
        db.session.remove()
        return row


def _citizen_sees(page, app, application_id: int, raw_status: str) -> str:
    page.goto(f"{app.live_url}/my/applications/{application_id}")
    shown = page.locator("#case-status").inner_text().strip()
    assert _application(app, application_id).status == raw_status
    expected = _status_words(app, application_id)
    assert expected and expected != raw_status
    assert expected in shown, f"the page says {shown!r}, the domain {expected!r}"
    assert raw_status not in shown
    return shown


def _staff_sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/logout/")  # signing out is a POST: a signed-in page shows the button
    if page.locator("#hamaynk-logout-form").count():
        page.click("#hamaynk-logout-form button")
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state("networkidle")
    page.goto(f"{base}/lang/en")


def _citizen_sign_in(page, base: str) -> None:
    page.goto(f"{base}/account/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.locator("main form[action^='/account/login'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "/account/login" not in page.url, page.locator("main").inner_text()


def _sign_out(page) -> None:
    page.click("header form[action='/account/logout'] button")
    page.wait_for_load_state("networkidle")


# -- the story -------------------------------------------------------------------------------


def test_a_citizen_registers_applies_pays_corrects_and_receives_the_result(browser, story_server, look, tmp_path):
    app, base = story_server, story_server.live_url
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="hy-AM")
    staff = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        page = phone.new_page()
        # 1. Registration; the verification link comes by e-mail.
        page.goto(f"{base}/account/register")
        _shot(page, "register", 390)
        page.fill("#name", NAME)
        page.fill("#email", EMAIL)
        page.fill("#password", PASSWORD)
        page.fill("#password_again", PASSWORD)
        page.click("form[action='/account/register'] button[type=submit]")
        _shot(page, "registered", 390)
        (verification,) = _wait_for_mail(app, EMAIL, 1)
        link = re.search(r"https?://\S+/account/verify/\S+", _body(verification))
        assert link, _body(verification)
        page.goto(link.group(0))
        _shot(page, "verified", 390)
        _citizen_sign_in(page, base)

        # 2. The service page, then the draft: the form and two uploads, saved.
        page.goto(f"{base}/m/alpha/services/{SERVICE}/")
        # The municipality's fee, in dram as the page's language writes them.
        assert _plain(format_amd(FEE, "hy")) in _plain(page.locator("main").inner_text())
        page.locator(f"form[action$='/{SERVICE}/apply'] button").first.click()
        page.wait_for_url("**/guide")
        draft_path = page.url.split(base, 1)[1].rsplit("/", 1)[0]
        page.locator("button[value=continue]").click()
        page.wait_for_url("**/form")
        page.fill("#address", "Կոտայք, Աբովյան 1")
        page.select_option("#purpose", "bank")
        page.fill("#copies", "1")
        page.locator("button[value=continue]").click()
        page.wait_for_url("**/documents")
        front, back = tmp_path / "passport-front.pdf", tmp_path / "passport-back.png"
        front.write_bytes(make_pdf("front"))
        back.write_bytes(make_png(30, 30))
        page.set_input_files("#doc-identity", [str(front), str(back)])
        page.wait_for_selector("[data-document=identity] .attached li:nth-child(2)", timeout=30000)
        page.locator("button[value=save]").click()
        page.wait_for_load_state("networkidle")

        # 3. Sign out, sign in again, resume from the drafts list.
        _sign_out(page)
        _citizen_sign_in(page, base)
        page.goto(f"{base}/my/drafts/")
        _shot(page, "drafts", 390)
        page.locator(f"main a[href^='{draft_path}/']").first.click()
        page.wait_for_load_state("networkidle")
        page.goto(f"{base}{draft_path}/documents")
        assert page.locator("[data-document=identity] .attached li").count() == 2
        page.locator("button[value=continue]").click()
        page.wait_for_url("**/fee")
        _shot(page, "fee", 390)

        # 4. Pay with the test provider (a simulated gateway), back to the fee: paid.
        page.locator("form[action='/pay/test/start'] button").click()
        page.wait_for_url("**/pay/test/gateway/**")
        _shot(page, "gateway", 390)
        page.locator("button[value=pay]").click()
        page.wait_for_url("**/pay/test/return/**")
        _shot(page, "paid", 390)
        page.locator("main a.button").first.click()
        page.wait_for_url("**/fee")
        page.locator("main form:not([action*='/pay/']) button[value=continue]").click()
        page.wait_for_url("**/confirm")
        _shot(page, "confirm", 390)
        page.locator(f"form[action='{draft_path}/submit'] button[type=submit]").click()
        page.wait_for_url("**/submitted")
        _shot(page, "submitted", 390)
        application_id = int(re.search(r"/my/applications/(\d+)/submitted", page.url).group(1))
        filed = _application(app, application_id)
        assert filed.tracking_number in page.locator("main").inner_text()
        assert filed.channel == "online" and filed.payment_status == "paid"
        _citizen_sees(page, app, application_id, "submitted")

        # 5. The registrar returns it, naming the address and the passport.
        office = staff.new_page()
        _staff_sign_in(office, base, "alpha.registrar")
        office.goto(f"{base}/workspace/applications/{application_id}")
        office.get_by_role("group", name="Fields to fix").get_by_label("Address", exact=True).check()
        office.get_by_role("group", name="Documents to fix").get_by_label("Passport or ID card").check()
        office.get_by_label("What the applicant has to correct").fill("The house number is missing.")
        office.get_by_role("button", name="Return for correction").click()
        office.wait_for_load_state("networkidle")

        # 6. The citizen sees exactly what to fix, fixes those and resubmits.
        _citizen_sees(page, app, application_id, "returned_for_correction")
        _shot(page, "returned", 390)
        page.goto(f"{base}/my/applications/{application_id}/correct")
        _shot(page, "correct", 390)
        form = page.locator("form.correct-form")
        assert form.locator("[name^='data-']").count() == 1
        assert form.locator("input[type=file]").count() == 1
        form.locator("[name=data-address]").fill("Կոտայք, Աբովյան 1, բն. 7")
        clear = tmp_path / "passport-clear.png"
        clear.write_bytes(make_png(60, 60))
        form.locator("input[type=file]").set_input_files(str(clear))
        form.locator("button[type=submit]").click()
        page.wait_for_load_state("networkidle")
        assert _application(app, application_id).data["address"] == "Կոտայք, Աբովյան 1, բն. 7"
        _citizen_sees(page, app, application_id, "in_review")

        # 7. Both approvals (the last one confirmed), then the clerk hands the result over.
        for username in ("alpha.registrar", "alpha.registry_head"):
            _staff_sign_in(office, base, username)
            office.goto(f"{base}/workspace/applications/{application_id}")
            office.get_by_role("button", name="Approve", exact=True).click()
            office.wait_for_load_state("networkidle")
            if username == "alpha.registrar":
                _citizen_sees(page, app, application_id, "in_review")
        office.get_by_role("dialog").get_by_role("button", name="Yes, approve the application").click()
        office.wait_for_load_state("networkidle")
        _citizen_sees(page, app, application_id, "approved")
        _staff_sign_in(office, base, "alpha.clerk")
        office.goto(f"{base}/workspace/applications/{application_id}")
        office.get_by_role("group", name="How the result reached the applicant").get_by_label("In person").check()
        office.get_by_role("button", name="Hand over the result").click()
        office.wait_for_load_state("networkidle")
        _citizen_sees(page, app, application_id, "issued")
        _shot(page, "issued", 390)

        # 8. Every e-mail written for the citizen arrived, once each.
        _assert_each_email_arrived_once(app, application_id)
        _every_page_at_both_widths(browser, app, look, application_id)
    finally:
        phone.close()
        staff.close()


def _assert_each_email_arrived_once(app, application_id: int) -> None:
    from app.extensions import db
    from app.models import Notification

    deadline = time.monotonic() + 20
    while True:
        with app.app_context():
            rows = db.session.execute(
                select(Notification.kind, Notification.status, Notification.subject).where(
                    Notification.channel == "email", Notification.recipient_address == EMAIL
                )
            ).all()
            db.session.remove()
        if all(status == "sent" for _k, status, _s in rows) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    kinds = {kind for kind, _status, _subject in rows}
    for event in ("submitted", "returned", "decided", "handed_over"):
        assert any(event in kind for kind in kinds), f"no {event} e-mail among {sorted(kinds)}"
    assert all(status == "sent" for _k, status, _s in rows), rows
    received = sorted(_subject(m) for m in _mails_to(app, EMAIL))
    assert received == sorted(subject for _k, _s, subject in rows)


def _every_page_at_both_widths(browser, app, look, application_id: int) -> None:
    base = app.live_url
    pages = {
        "home": "/",
        "municipality": "/m/alpha/",
        "service": f"/m/alpha/services/{SERVICE}/",
        "login": "/account/login",
        "register": "/account/register",
        "reset": "/account/reset",
        "lookup": "/track",
        "profile": "/account/profile",
        "drafts": "/my/drafts/",
        "applications": "/my/applications/",
        "application": f"/my/applications/{application_id}",
        "claim": "/my/claim",
        "questions": "/my/questions/",
        "ask": f"/my/questions/new?application_id={application_id}",
        "notices": "/my/notices/",
    }
    signed_in = {"profile", "drafts", "applications", "application", "claim", "questions", "ask", "notices"}
    for width, height in ((390, 844), (1366, 900)):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="hy-AM")
        try:
            page = context.new_page()
            for name, path in pages.items():
                if name not in signed_in:
                    page.goto(base + path)
                    _shot(page, name, width, look)
            _citizen_sign_in(page, base)
            for name, path in pages.items():
                if name in signed_in:
                    response = page.goto(base + path)
                    assert response is not None and response.status == 200, f"{name}: {response and response.status}"
                    _shot(page, name, width, look)
        finally:
            context.close()
