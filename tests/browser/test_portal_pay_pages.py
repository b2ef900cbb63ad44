"""Fees and payment in a real browser: the fee partial (item by item, the pay buttons), the
test gateway's bank page, the return page (paid, and still waiting for the callback), and the
staff's payment panel and printed receipt have no axe-core violation in Armenian at 390 px
and 1366 px and fit the screen; a citizen pays with the test gateway from the fee page and
is back with the payment confirmed; a clerk records a payment at the office, the specialist
can then approve, and the receipt prints.

Screenshots go to ``test-artifacts/portal/<page>-<width>.png`` (``HAMAYNK_TEST_ARTIFACTS``
moves the root). The fee partial is shown on a small page this module adds to its own app
(the online application's fee step renders the same partial).
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from app.sdk import FeeItem, Field, Service, Step, hookimpl
from app.testing import actor_for, enable_service, file_application, make_app, make_citizen, seed_municipality

pytestmark = pytest.mark.browser

WIDTHS = (390, 1366)
CITIZEN = "lilit@example.test"
PAID = "paid-permit"

FEE_PAGE = """{% extends "portal/base.html" %}
{% block content %}<h1>{{ title }}</h1>{% include "portal/pay/_fee.html" %}{% endblock %}"""


class PaidServices:
    __name__ = "browser_paid_services"

    @hookimpl
    def register_services(self) -> list[Service]:
        return [
            Service(
                key=PAID,
                version=1,
                title={"hy": "Շինարարության թույլտվություն", "en": "Building permit"},
                steps=(Step(key="review", title={"hy": "Քննում", "en": "Review"}, role="specialist", days=5),),
                fields=(Field(name="note", type="text", label={"hy": "Նշում", "en": "Note"}),),
                fee=5000,
                fee_items=(
                    FeeItem(label={"hy": "Պետական տուրք", "en": "State duty"}, amount=3000),
                    FeeItem(label={"hy": "Սպասարկման վճար", "en": "Service charge"}, amount=2000),
                ),
                payment_first=True,
            )
        ]


def _fee_page(draft_id: int) -> Any:
    from flask import abort, render_template_string

    from app.domain import access, payments
    from app.extensions import db
    from app.plugins import runtime
    from app.portal.common import require_citizen

    actor = require_citizen()
    try:
        draft = access.get_draft(db.session, actor, draft_id)
    except access.NotFound:
        abort(404)
    service = runtime.registry().get(draft.service_key).service
    quote = payments.quote(db.session, None, municipality_id=draft.municipality_id, service=service)
    state = payments.draft_payment_state(db.session, draft, fee=quote.total)
    return render_template_string(FEE_PAGE, title="Վճար", quote=quote, payment_state=state, draft=draft)


@pytest.fixture(scope="module")
def live_server(serve_app, tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("pay"), plugins=[PaidServices()])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    enable_service(app, "alpha", PAID)
    app.add_url_rule("/_test/fee/<int:draft_id>", "test_fee_page", _fee_page)
    yield from serve_app(app)


def _draft(app, user_id: int) -> int:
    from app.extensions import db
    from app.models import PortalDraft

    with app.app_context():
        draft = PortalDraft(
            municipality_id=app.seeded["alpha"]["id"],
            user_id=user_id,
            service_key=PAID,
            service_version=1,
            token=secrets.token_hex(16),
            data={"note": "x"},
            stage="fee",
        )
        db.session.add(draft)
        db.session.commit()
        return int(draft.id)


@pytest.fixture(scope="module")
def targets(live_server) -> dict[str, Any]:
    """A citizen with an unpaid draft, one whose payment is waiting at the gateway, one paid;
    an office application with its payment due and one paid at the office."""
    from app.domain import payments
    from app.extensions import db
    from app.models import Payment, PortalDraft
    from app.plugins import runtime

    app = live_server
    citizen = make_citizen(app, CITIZEN, name="Լիլիթ Հակոբյան")
    unpaid, waiting, paid = (_draft(app, citizen) for _ in range(3))
    gateway = app.extensions["hamaynk.test_gateway"]
    provider = app.extensions["hamaynk.payments"]["test"]
    references = {}
    with app.test_request_context("/"):
        service = runtime.registry().get(PAID).service
        quote = payments.quote(db.session, None, municipality_id=app.seeded["alpha"]["id"], service=service)
        for name, draft_id in (("waiting", waiting), ("paid", paid)):
            started = payments.start_for_draft(
                db.session,
                actor=actor_for(citizen),
                draft=db.session.get(PortalDraft, draft_id),
                provider=provider,
                fee=quote,
                description="Շինարարության թույլտվություն",
            )
            references[name] = started.reference
        form, headers = gateway.callback(reference=references["paid"], amount=5000)
        payments.settle(db.session, provider, gateway.verify_callback(form, headers))
        db.session.commit()
    due = file_application(app, PAID, data={"note": "x"}, applicant_name="Արամ Սարգսյան")
    settled = file_application(app, PAID, data={"note": "x"}, applicant_name="Անի Մանուկյան")
    with app.test_request_context("/"):
        from app.models import Application

        payments.record_at_office(
            db.session,
            db.session.get(Application, settled),
            actor=actor_for(app.seeded["alpha"]["users"]["clerk"]),
            receipt_number="Ա-000731",
            service=runtime.registry().get(PAID).service,
        )
        db.session.commit()
        receipt_id = db.session.query(Payment.id).filter(Payment.application_id == settled).scalar()
    return {
        "citizen": citizen,
        "fee": f"/_test/fee/{unpaid}",
        "fee-paid": f"/_test/fee/{paid}",
        "gateway": f"/pay/test/gateway/{references['waiting']}",
        "return-waiting": f"/pay/test/return/{references['waiting']}",
        "return-paid": f"/pay/test/return/{references['paid']}",
        "case-due": f"/workspace/applications/{due}",
        "case-paid": f"/workspace/applications/{settled}",
        "receipt": f"/workspace/applications/{settled}/payments/{receipt_id}/receipt",
        "due_id": due,
    }


# (name, who, where): ``where`` is a key of ``targets``.
PAGES: list[tuple[str, str, str]] = [
    ("pay-fee", CITIZEN, "fee"),
    ("pay-fee-paid", CITIZEN, "fee-paid"),
    ("pay-gateway", CITIZEN, "gateway"),
    ("pay-return-waiting", CITIZEN, "return-waiting"),
    ("pay-return-paid", CITIZEN, "return-paid"),
    ("pay-case-due", "alpha.clerk", "case-due"),
    ("pay-case-waived-form", "alpha.head", "case-due"),
    ("pay-case-paid", "alpha.clerk", "case-paid"),
    ("pay-receipt", "alpha.clerk", "receipt"),
]
# Staff pages are Flask-AppBuilder's; the receipt is a bare printable page: their titles are their own.
PORTAL_TITLED = {"pay-fee", "pay-fee-paid", "pay-return-waiting", "pay-return-paid"}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("name", "user", "where"), PAGES, ids=[p[0] for p in PAGES])
def test_pay_pages_have_no_axe_violations(
    live_server, portal_context, sessions, look, targets, name, user, where, width
):
    base = live_server.live_url
    outside: list[str] = []
    context = portal_context(width, outside, sessions["state"](user))
    try:
        page = context.new_page()
        response = page.goto(base + targets[where])
        assert response is not None and response.status == 200, f"{name}: {response and response.status}"
        page.wait_for_load_state("networkidle")
        assert page.get_attribute("html", "lang") == "hy"
        assert "/login" not in page.url, f"{name}: signed out"
        body = page.locator("body").inner_text().replace("\u00a0", " ").replace("\u202f", " ")
        if name == "pay-fee":
            assert "Պետական տուրք" in body and "3 000" in body and "5 000" in body
            assert page.locator("form[action='/pay/test/start'] button").count() == 1
        if name == "pay-gateway":
            assert page.locator("button[value=pay]").count() == 1 and "5 000" in body
        seen = look(page, name, width)
    finally:
        context.close()
    assert outside == [], f"{name} fetched outside resources: {outside}"
    seen.assert_clean(fits=name in PORTAL_TITLED or width == 390, titled=name in PORTAL_TITLED)
    assert seen.title


def test_a_citizen_pays_online_and_a_clerk_records_a_payment_at_the_office(browser, live_server, sessions, targets):
    base = live_server.live_url
    draft_id = _draft(live_server, targets["citizen"])
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, storage_state=sessions["state"](CITIZEN), locale="hy-AM"
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/_test/fee/{draft_id}")
        page.focus("form[action='/pay/test/start'] button")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "/pay/test/gateway/" in page.url
        reference = page.url.rsplit("/", 1)[1]
        assert "Թեստային վճարումներ" in page.locator("body").inner_text()  # no money moves
        page.focus("button[value=pay]")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url == f"{base}/pay/test/return/{reference}"
        assert page.locator(".badge-ok").count() == 1
        page.click("a.button")  # continue: back to the fee, now paid
        page.wait_for_load_state("networkidle")
        assert page.url == f"{base}/_test/fee/{draft_id}" or "/my/drafts/" in page.url
    finally:
        context.close()

    due = targets["due_id"]
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, storage_state=sessions["state"]("alpha.specialist")
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/workspace/applications/{due}")
        assert page.locator("#case-unavailable").count() == 1  # waiting for the payment
        assert page.locator("form[action$='/approve']").count() == 0
    finally:
        context.close()
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, storage_state=sessions["state"]("alpha.clerk")
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/workspace/applications/{due}")
        page.fill("#receipt-number", "-5")
        page.evaluate("() => document.querySelector('form.case-record-payment').submit()")
        page.wait_for_load_state("networkidle")
        assert page.locator("#action-error").count() == 1
        page.fill("#receipt-number", "Բ-000900")
        with page.expect_navigation():
            page.click("form.case-record-payment button[type=submit]")
        assert page.locator("#payment-status").get_attribute("data-status") == "paid"
        with page.expect_navigation():
            page.click(".case-payments a")
        assert "Բ-000900" in page.locator("#receipt-number").inner_text()
        page.emulate_media(media="print")
        assert not page.locator(".no-print").is_visible()
    finally:
        context.close()
    context = browser.new_context(
        viewport={"width": 1366, "height": 900}, storage_state=sessions["state"]("alpha.specialist")
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/workspace/applications/{due}")
        assert page.locator("form[action$='/approve']").count() == 1
    finally:
        context.close()
