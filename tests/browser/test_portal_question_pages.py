"""Questions to the specialist in a real browser: the citizen's pages (list, new question in
its two steps and with errors, the thread) and the staff's (the list, the thread with the
answer and hand-over forms, the answer deadline setting) have no axe-core violation in
Armenian at 390 px and 1366 px and fit the screen; a citizen asks with the keyboard alone,
a specialist answers, and the citizen reads the answer.

Screenshots go to ``test-artifacts/portal/<page>-<width>.png`` (``HAMAYNK_TEST_ARTIFACTS``
moves the root).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.testing import ask_question, attach, make_citizen

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)
CITIZEN = "hasmik@example.test"

# (name, who, where): ``where`` is a path, or a key of the ``targets`` fixture.
PAGES: list[tuple[str, str, str]] = [
    ("questions-index", CITIZEN, "/my/questions/"),
    ("questions-new", CITIZEN, "/my/questions/new"),
    ("questions-new-department", CITIZEN, "new-department"),
    ("questions-new-errors", CITIZEN, "new-department"),
    ("questions-new-application", CITIZEN, "new-application"),
    ("questions-show", CITIZEN, "show"),
    ("workspace-questions", "alpha.specialist", "/workspace/questions/"),
    ("workspace-questions-all", "alpha.head", "/workspace/questions/?view=all&status=any"),
    ("workspace-question", "alpha.head", "staff-show"),
    ("workspace-question-auditor", "alpha.auditor", "staff-show"),
    ("workspace-question-deadline", "alpha.municipal_admin", "/admin/services/settings/questions"),
]


@pytest.fixture(scope="module")
def targets(live_server) -> dict[str, Any]:
    """A citizen with an answered question (attachments both ways), an open one and an
    application of their own to ask about."""
    from sqlalchemy import update

    from app.domain import access
    from app.domain import questions as qs
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models import Application
    from app.testing import actor_for, file_application

    app = live_server
    alpha = app.seeded["alpha"]
    citizen = make_citizen(app, CITIZEN, name="Հասմիկ Գրիգորյան")
    answered = ask_question(
        app,
        citizen,
        subject="Ցանկապատի բարձրություն",
        body="Կարո՞ղ եմ կառուցել 1,5 մ բարձրությամբ ցանկապատ։\nՇնորհակալություն։",
        files=[attach("pdf", "հատակագիծ.pdf")],
    )
    ask_question(app, citizen, subject="Առևտրի թույլտվություն", department="trade")
    with app.test_request_context("/"):
        specialist = actor_for(alpha["users"]["specialist"])
        found = access.get_question(db.session, specialist, answered)
        qs.answer(
            db.session,
            get_storage(app),
            specialist,
            found,
            body="Այո, մինչև 1,5 մ առանց թույլտվության։",
            files=[attach("png", "կանոններ.png")],
            config=app.config,
        )
        db.session.commit()
    application_id = file_application(app, "residence-certificate")
    with app.app_context():
        db.session.execute(
            update(Application).where(Application.id == application_id).values(applicant_user_id=citizen)
        )
        db.session.commit()
    return {
        "citizen": citizen,
        "show": f"/my/questions/{answered}",
        "staff-show": f"/workspace/questions/{answered}",
        "new-department": f"/my/questions/new?municipality_id={alpha['id']}",
        "new-application": f"/my/questions/new?application_id={application_id}",
    }


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("name", "user", "where"), PAGES, ids=[p[0] for p in PAGES])
def test_question_pages_have_no_axe_violations(
    live_server, portal_context, sessions, look, targets, name, user, where, width
):
    base = live_server.live_url
    outside: list[str] = []
    context = portal_context(width, outside, sessions["state"](user))
    try:
        page = context.new_page()
        response = page.goto(base + targets.get(where, where))
        assert response is not None and response.status == 200, f"{name}: {response and response.status}"
        if name == "questions-new-errors":
            # Sent empty, past the browser's own checks: the server's answer is the page under test.
            with page.expect_navigation():
                page.evaluate("() => document.querySelector('form.question-form').submit()")
            assert page.locator(".error-summary a[href='#subject']").count() == 1
            assert page.locator("#subject[aria-invalid=true]").count() == 1
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("html", "lang") == "hy"
        assert "/login" not in page.url, f"{name}: signed out"
        seen = look(page, name, width)
    finally:
        context.close()
    assert outside == [], f"{name} fetched outside resources: {outside}"
    seen.assert_clean()


def test_a_citizen_asks_by_keyboard_a_specialist_answers_and_the_citizen_reads_it(
    browser, live_server, sessions, targets
):
    base = live_server.live_url
    subject = "Աղբահանության ժամանակացույց"
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, storage_state=sessions["state"](CITIZEN)
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/my/questions/new")
        page.focus("#municipality_id")
        page.select_option("#municipality_id", label="Alpha")
        page.keyboard.press("Tab")
        with page.expect_navigation():
            page.keyboard.press("Enter")  # "Continue": the second step lists Alpha's departments
        page.select_option("#department_id", label="Քաղաքաշինության բաժին")
        page.focus("#subject")
        page.keyboard.type(subject)
        page.keyboard.press("Tab")
        page.keyboard.type("Երբ են աղբը տանում մեր փողոցից։")
        page.focus("form.question-form button[type=submit]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert re.search(r"/my/questions/\d+$", page.url), page.url
        question_path = page.url.removeprefix(base)
        assert page.locator("h1").inner_text() == subject
    finally:
        context.close()

    question_id = question_path.rsplit("/", 1)[1]
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, storage_state=sessions["state"]("alpha.specialist")
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/workspace/questions/")
        page.click(f"tr[data-question='{question_id}'] a")
        page.fill("#answer-body", "Երեքշաբթի և ուրբաթ օրերին, առավոտյան։")
        with page.expect_navigation():
            page.click("form.question-answer button[type=submit]")
        assert page.url.endswith(f"/workspace/questions/{question_id}")
        assert "Երեքշաբթի" in page.locator(".question-thread").inner_text()
    finally:
        context.close()

    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, storage_state=sessions["state"](CITIZEN)
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/my/questions/")
        card = page.locator(f"li[data-question='{question_id}']")
        assert card.locator(".badge-bad").count() == 1  # one new answer
        card.locator("a").click()
        page.wait_for_load_state("networkidle")
        assert "Երեքշաբթի" in page.locator(".question-thread").inner_text()
    finally:
        context.close()
