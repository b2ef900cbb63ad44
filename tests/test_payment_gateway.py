"""Payment providers as plug-ins, and the built-in test gateway end to end: the redirect, the
bank page, the signed server-to-server callback (idempotent, amount and currency checked,
replays and forgeries refused) and the payer's return page."""

from __future__ import annotations

import re
import time

import pytest
from payment_kit import FREE, LATER, PAID, PaidServices, make_draft
from sqlalchemy import select

from app.domain import payments
from app.extensions import db
from app.models import Application, AuditEvent, Payment
from app.plugins import runtime
from app.sdk import CallbackResult, DuplicatePaymentProvider, PaymentProvider, PaymentProviderError, Redirect, hookimpl
from app.testing import actor_for, enable_service, file_application, login, make_app, make_citizen, seed_municipality

EMAIL, OTHER = "anna@example.org", "bob@example.org"


def build(tmp_path, plugins=(), **config):
    app = make_app(tmp_path, plugins=[PaidServices(), *plugins], **config)
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha"), "beta": seed_municipality(app, "beta", "Beta")}
    for key in (PAID, LATER, FREE):
        enable_service(app, "alpha", key)
    return app


@pytest.fixture
def app(tmp_path):
    app = build(tmp_path)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def anna(app, client):
    user_id = make_citizen(app, EMAIL)
    login(client, EMAIL)
    return user_id


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def gateway(app) -> payments.TestGateway:
    found = app.extensions["hamaynk.test_gateway"]
    assert isinstance(found, payments.TestGateway)
    return found


def start(client, draft_id, provider="test"):
    response = client.post(f"/pay/{provider}/start?_l_=en", data={"draft_id": draft_id})
    assert response.status_code == 303, text(response)
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    return response.headers["Location"], reference


def payment(app, reference) -> Payment:
    with app.app_context():
        return db.session.execute(select(Payment).where(Payment.reference == reference)).scalar_one()


def callback(client, app, reference, **overrides):
    fields, headers = gateway(app).callback(reference=reference, **{"amount": 5000, **overrides})
    return client.post("/pay/test/callback", data=fields, headers=headers), fields, headers


# -- the whole round trip --------------------------------------------------------------------------


def test_pay_with_the_test_gateway_from_the_fee_stage_to_the_return_page(app, client, anna):
    draft_id = make_draft(app, anna, PAID)
    location, reference = start(client, draft_id)
    assert location == f"/pay/test/gateway/{reference}"
    started = payment(app, reference)
    assert (started.status, started.amount, started.currency, started.draft_id, started.user_id) == (
        "started",
        5000,
        "AMD",
        draft_id,
        anna,
    )
    assert [item["amount"] for item in started.items] == [3000, 2000]
    page = text(client.get(location + "?_l_=en"))
    assert "Test payments — no money moves." in page and "5,000" in page and "Alpha" in page
    paid = client.post(location + "?_l_=en", data={"choice": "pay"})
    assert paid.status_code == 303 and paid.headers["Location"] == f"/pay/test/return/{reference}"
    settled = payment(app, reference)
    assert settled.status == "paid" and settled.receipt_number and settled.external_id and settled.paid_at
    back = text(client.get(paid.headers["Location"] + "?_l_=en"))
    assert "Payment received" in back and settled.receipt_number in back
    with app.app_context():
        draft = db.session.get(payments.PortalDraft, draft_id)
        assert payments.draft_payment_state(db.session, draft, fee=5000).paid
    # The bank page of a finished payment offers nothing more; posting again changes nothing.
    assert "This payment is finished." in text(client.get(location + "?_l_=en"))
    client.post(location, data={"choice": "pay"})
    with app.app_context():
        assert db.session.execute(select(Payment)).scalars().all()[0].status == "paid"
        assert len(db.session.execute(select(Payment)).scalars().all()) == 1
    # Paid: starting another payment is refused.
    again = client.post("/pay/test/start?_l_=en", data={"draft_id": draft_id})
    assert again.status_code == 302


def test_cancelling_at_the_gateway_and_paying_again(app, client, anna):
    draft_id = make_draft(app, anna, LATER)
    location, reference = start(client, draft_id)
    cancelled = client.post(location, data={"choice": "cancel"})
    assert cancelled.status_code == 303
    assert payment(app, reference).status == "cancelled"
    assert "The payment was not made" in text(client.get(f"/pay/test/return/{reference}?_l_=en"))
    bad = client.post(location, data={"choice": "steal"})
    assert bad.status_code in (200, 400)  # finished: the page only shows itself
    location2, reference2 = start(client, draft_id)
    assert reference2 != reference
    client.post(location2, data={"choice": "pay"})
    assert payment(app, reference2).status == "paid"
    assert payment(app, reference2).amount == 3000


def test_an_earlier_unfinished_attempt_is_superseded_but_its_late_payment_still_counts(app, client, anna):
    draft_id = make_draft(app, anna, LATER)
    _location, first = start(client, draft_id)
    _location, second = start(client, draft_id)
    assert payment(app, first).status == "cancelled" and payment(app, second).status == "started"
    answer, *_ = callback(client, app, first, amount=3000)
    assert answer.status_code == 200 and payment(app, first).status == "paid"


# -- the callback's checks ---------------------------------------------------------------------------


def test_a_forged_signature_is_refused(app, client, anna):
    _location, reference = start(client, make_draft(app, anna, PAID))
    fields, headers = gateway(app).callback(reference=reference, amount=5000)
    forged = client.post("/pay/test/callback", data=fields, headers={"X-Test-Gateway-Signature": "0" * 64})
    assert forged.status_code == 403
    tampered = client.post("/pay/test/callback", data={**fields, "amount": "5"}, headers=headers)
    assert tampered.status_code == 403
    unsigned = client.post("/pay/test/callback", data=fields)
    assert unsigned.status_code == 403
    other_key = payments.TestGateway(b"another-key-of-32-bytes-at-least!")
    fields2, headers2 = other_key.callback(reference=reference, amount=5000)
    assert client.post("/pay/test/callback", data=fields2, headers=headers2).status_code == 403
    assert payment(app, reference).status == "started"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"amount": 4999}, "amount 4999"), ({"amount": 50000}, "amount 50000"), ({"currency": "USD"}, "currency 'USD'")],
)
def test_a_wrong_amount_or_currency_is_refused_logged_and_not_paid(app, client, anna, overrides, message, caplog):
    _location, reference = start(client, make_draft(app, anna, PAID))
    answer, *_ = callback(client, app, reference, **overrides)
    assert answer.status_code == 400 and message in answer.get_json()["error"]
    assert payment(app, reference).status == "started"
    assert any(message in record.getMessage() for record in caplog.records)
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == payments.AUDIT_REFUSED)).scalar_one()
        assert message in event.details["reason"]


def test_the_same_callback_twice_pays_once_and_answers_200_both_times(app, client, anna):
    _location, reference = start(client, make_draft(app, anna, PAID))
    first, fields, headers = callback(client, app, reference)
    paid_at = payment(app, reference).paid_at
    second = client.post("/pay/test/callback", data=fields, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.get_json()["changed"] is True and second.get_json()["changed"] is False
    assert payment(app, reference).paid_at == paid_at
    # A second genuine "paid" message for the same gateway id (a retry with a new nonce): still once.
    retry, *_ = callback(client, app, reference, external_id=fields["external_id"])
    assert retry.status_code == 200 and retry.get_json()["changed"] is False
    with app.app_context():
        assert db.session.execute(select(Payment)).scalars().all()[0].amount == 5000


def test_replays_and_conflicting_settlements_are_refused(app, client, anna):
    _location, reference = start(client, make_draft(app, anna, PAID))
    stale, *_ = callback(client, app, reference, timestamp=int(time.time()) - 3600)
    assert stale.status_code == 400 and "time window" in stale.get_json()["error"]
    future, *_ = callback(client, app, reference, timestamp=int(time.time()) + 3600)
    assert future.status_code == 400
    assert payment(app, reference).status == "started"
    ok, fields, _headers = callback(client, app, reference)
    assert ok.status_code == 200
    # Settled with one gateway id: a callback with another is refused, and so is a "cancelled".
    other, *_ = callback(client, app, reference, external_id="TG-SOMETHING-ELSE")
    assert other.status_code == 409
    cancel, *_ = callback(client, app, reference, outcome="cancelled", external_id=fields["external_id"])
    assert cancel.status_code == 409
    settled = payment(app, reference)
    assert (settled.status, settled.external_id) == ("paid", fields["external_id"])


def test_a_gateway_id_settles_one_payment_only(app, client, anna):
    _l, first = start(client, make_draft(app, anna, PAID))
    _l, second = start(client, make_draft(app, anna, PAID))
    ok, fields, _headers = callback(client, app, first)
    assert ok.status_code == 200
    clash, *_ = callback(client, app, second, external_id=fields["external_id"])
    assert clash.status_code == 409 and payment(app, second).status == "started"


@pytest.mark.parametrize("reference", ["HP0000000000000000000000", "nope", "'; select 1 --", "A" * 200])
def test_an_unknown_reference_is_refused(app, client, reference):
    answer, *_ = callback(client, app, reference)
    assert answer.status_code == 404


def test_unknown_and_offline_providers_take_no_callbacks(app, client):
    assert client.post("/pay/nope/callback", data={}).status_code == 404
    assert client.post("/pay/office/callback", data={}).status_code == 404
    # Garbage from the right provider: refused, not a 500.
    assert client.post("/pay/test/callback", data={"amount": "x" * 10000}).status_code == 403


def test_the_callback_racing_the_return_redirect(app, client, anna):
    _location, reference = start(client, make_draft(app, anna, PAID))
    # The browser is back before the gateway's callback arrived.
    early = text(client.get(f"/pay/test/return/{reference}?_l_=en"))
    assert "Waiting for the confirmation" in early and "Check again" in early
    answer, *_ = callback(client, app, reference)
    assert answer.status_code == 200
    late = text(client.get(f"/pay/test/return/{reference}?_l_=en"))
    assert "Payment received" in late


def test_a_callback_paying_a_filed_application_makes_it_paid(app, client, anna):
    application_id = file_application(app, PAID, data={"note": "x"})
    with app.app_context():
        filed = db.session.get(Application, application_id)
        filed.applicant_user_id = anna
        filed.channel = "online"
        db.session.commit()
    response = client.post("/pay/test/start?_l_=en", data={"application_id": application_id})
    assert response.status_code == 303
    reference = response.headers["Location"].rsplit("/", 1)[-1]
    callback(client, app, reference)
    with app.app_context():
        assert db.session.get(Application, application_id).payment_status == "paid"
    # Nothing is due any more.
    assert client.post("/pay/test/start", data={"application_id": application_id}).status_code == 302


# -- who may start and see a payment -------------------------------------------------------------------


def test_only_the_drafts_owner_pays_for_it_and_sees_its_return_page(app, client, anna):
    draft_id = make_draft(app, anna, PAID)
    _location, reference = start(client, draft_id)
    bob = make_citizen(app, OTHER)
    bobs_draft = make_draft(app, bob, PAID)
    assert client.post("/pay/test/start", data={"draft_id": bobs_draft}).status_code == 404
    login(client, OTHER)
    assert client.post("/pay/test/start", data={"draft_id": draft_id}).status_code == 404
    assert client.get(f"/pay/test/return/{reference}").status_code == 404
    login(client, "alpha.clerk")
    assert client.post("/pay/test/start", data={"draft_id": draft_id}).status_code == 403
    client.post("/logout/")
    anonymous = client.post("/pay/test/start", data={"draft_id": draft_id})
    assert anonymous.status_code == 302 and "login" in anonymous.headers["Location"]


@pytest.mark.parametrize(
    "form",
    [{}, {"draft_id": "abc"}, {"draft_id": "-1"}, {"draft_id": "9" * 40}, {"draft_id": "1", "application_id": "1"}],
)
def test_bad_start_requests_are_refused_without_a_500(app, client, anna, form):
    assert client.post("/pay/test/start", data=form).status_code in (400, 404)


def test_nothing_to_pay_for_a_free_service_and_no_online_start_at_the_office(app, client, anna):
    free = make_draft(app, anna, FREE)
    refused = client.post("/pay/test/start?_l_=en", data={"draft_id": free})
    assert refused.status_code == 302
    office = client.post("/pay/office/start?_l_=en", data={"draft_id": make_draft(app, anna, PAID)})
    assert office.status_code == 302
    assert client.post("/pay/nope/start", data={"draft_id": free}).status_code == 404
    with app.app_context():
        assert db.session.execute(select(Payment)).first() is None


# -- configuration ------------------------------------------------------------------------------------------


def test_test_payments_are_off_in_production_config():
    import config

    assert config.TestConfig.HAMAYNK_TEST_PAYMENTS is True
    assert config.DevelopmentConfig.HAMAYNK_TEST_PAYMENTS is True
    assert config.ProductionConfig.HAMAYNK_TEST_PAYMENTS is False


def test_without_test_payments_there_is_no_test_gateway(tmp_path):
    app = build(tmp_path, HAMAYNK_TEST_PAYMENTS=False)
    client = app.test_client()
    make_citizen(app, EMAIL)
    login(client, EMAIL)
    assert "test" not in app.extensions["hamaynk.payments"]
    assert list(app.extensions["hamaynk.payments"]) == ["office"]
    assert client.post("/pay/test/start", data={"draft_id": "1"}).status_code == 404
    assert client.get("/pay/test/gateway/HP0000000000000000000000").status_code == 404
    assert client.post("/pay/test/callback", data={}).status_code == 404


def test_the_gateway_key_comes_from_the_secret_key_or_config(tmp_path):
    assert payments.test_gateway_key("a" * 40) == payments.test_gateway_key("a" * 40)
    assert payments.test_gateway_key("a" * 40) != payments.test_gateway_key("b" * 40)
    with pytest.raises(ValueError):
        payments.test_gateway_key("")
    app = build(tmp_path, HAMAYNK_TEST_GATEWAY_KEY="configured-gateway-key-0123456789")
    fields, headers = gateway(app).callback(reference="HP00", amount=1)
    derived = payments.TestGateway(payments.test_gateway_key(app.config["SECRET_KEY"]))
    with pytest.raises(payments.CallbackRefused):
        derived.verify_callback(fields, headers)


def test_the_callback_needs_no_csrf_token_but_starting_does(tmp_path):
    app = build(tmp_path, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    user = make_citizen(app, EMAIL)
    draft_id = make_draft(app, user, PAID)
    with app.app_context():
        started = payments.start_for_draft(
            db.session,
            actor=actor_for(user),
            draft=db.session.get(payments.PortalDraft, draft_id),
            provider=gateway(app).provider(),
            fee=payments.quote(
                db.session,
                None,
                municipality_id=app.seeded["alpha"]["id"],
                service=runtime.registry().get(PAID).service,
            ),
        )
        db.session.commit()
        reference = started.reference
    fields, headers = gateway(app).callback(reference=reference, amount=5000)
    assert client.post("/pay/test/callback", data=fields, headers=headers).status_code == 200
    assert client.post("/pay/test/start", data={"draft_id": draft_id}).status_code == 400


# -- providers are plug-ins ----------------------------------------------------------------------------------


class CardGateway:
    """A pretend Armenian card gateway plug-in: it hands out its order id at start."""

    __name__ = "card_gateway"

    def __init__(self, key="card"):
        self.key = key
        self.seen_config = None

    @hookimpl
    def register_payment_providers(self, config):
        self.seen_config = config

        def begin(payment, return_url):
            return Redirect(
                f"https://vpos.example.am/pay?order={payment.reference}&back={return_url}",
                external_id="ORD-" + payment.reference,
            )

        def verify(form):
            if form.get("secret") != "s3cret":
                raise payments.CallbackRefused("bad secret", status=403)
            return CallbackResult(
                reference=form["reference"],
                external_id=form["order"],
                outcome="paid",
                amount=int(form["amount"]),
                currency="AMD",
            )

        return [PaymentProvider(key=self.key, label={"hy": "Քարտ", "en": "Card"}, start=begin, verify_callback=verify)]


def test_hook_register_payment_providers(tmp_path):
    plugin = CardGateway()
    app = build(tmp_path, plugins=[plugin])
    assert plugin.seen_config is not None and plugin.seen_config["SECRET_KEY"] == app.config["SECRET_KEY"]
    found = app.extensions["hamaynk.payments"]
    assert list(found) == ["card", "office", "test"]
    assert found.owners == {"card": "card_gateway", "office": "core", "test": "core"}
    assert [p.key for p in found.listed()] == ["card", "test", "office"]
    client = app.test_client()
    user = make_citizen(app, EMAIL)
    login(client, EMAIL)
    draft_id = make_draft(app, user, PAID)
    answer = client.post("/pay/card/start", data={"draft_id": draft_id})
    assert answer.status_code == 303 and answer.headers["Location"].startswith("https://vpos.example.am/pay?order=HP")
    reference = re.search(r"order=(HP[0-9A-F]+)", answer.headers["Location"]).group(1)
    assert payment(app, reference).external_id == "ORD-" + reference
    assert (
        client.post(
            "/pay/card/callback", data={"reference": reference, "order": "ORD-" + reference, "amount": "5000"}
        ).status_code
        == 403
    )
    ok = client.post(
        "/pay/card/callback",
        data={"reference": reference, "order": "ORD-" + reference, "amount": "5000", "secret": "s3cret"},
    )
    assert ok.status_code == 200 and payment(app, reference).status == "paid"
    # The gateway's id was set at start: a callback naming another order is refused.
    _answer = client.post("/pay/card/start", data={"draft_id": make_draft(app, user, PAID)})
    other = re.search(r"order=(HP[0-9A-F]+)", _answer.headers["Location"]).group(1)
    wrong = client.post(
        "/pay/card/callback", data={"reference": other, "order": "ORD-X", "amount": "5000", "secret": "s3cret"}
    )
    assert wrong.status_code == 409


def test_duplicate_provider_keys_are_refused_naming_both_plugins(tmp_path):
    with pytest.raises(
        DuplicatePaymentProvider,
        match=r"plug-in 'card_gateway': payment provider 'test' is already registered by 'core'",
    ):
        build(tmp_path, plugins=[CardGateway(key="test")])


def test_two_plugins_with_one_key_are_refused(tmp_path):
    second = CardGateway()
    second.__name__ = "another_gateway"
    with pytest.raises(DuplicatePaymentProvider, match="'card' is already registered by 'another_gateway'"):
        build(tmp_path, plugins=[CardGateway(), second])


def test_a_bad_provider_declaration_is_refused(tmp_path):
    class NoStart:
        __name__ = "no_start"

        @hookimpl
        def register_payment_providers(self):
            return [PaymentProvider(key="wallet", label={"hy": "Դրամապանակ"})]

    with pytest.raises(
        PaymentProviderError, match="plug-in 'no_start': online payment provider 'wallet' needs a callable start"
    ):
        build(tmp_path, plugins=[NoStart()])

    class NotAProvider:
        __name__ = "not_a_provider"

        @hookimpl
        def register_payment_providers(self):
            return ["wallet"]

    with pytest.raises(PaymentProviderError, match=r"not_a_provider.*which is not a PaymentProvider"):
        build(tmp_path / "2", plugins=[NotAProvider()])


def test_a_broken_provider_plugin_is_left_out_when_not_strict(tmp_path, caplog):
    class Raises:
        __name__ = "raises"

        @hookimpl
        def register_payment_providers(self):
            raise RuntimeError("no merchant id configured")

    app = build(tmp_path, plugins=[Raises()], HAMAYNK_STRICT_PLUGINS=False)
    assert list(app.extensions["hamaynk.payments"]) == ["office", "test"]
    assert any("no merchant id configured" in record.getMessage() for record in caplog.records)


def test_a_provider_that_fails_to_start_marks_the_attempt_failed(tmp_path):
    class Down:
        __name__ = "down"

        @hookimpl
        def register_payment_providers(self):
            def begin(payment):
                raise ConnectionError("gateway down")

            return [
                PaymentProvider(key="down", label={"hy": "Չաշխատող"}, start=begin, verify_callback=lambda form: None)
            ]

    app = build(tmp_path, plugins=[Down()])
    client = app.test_client()
    user = make_citizen(app, EMAIL)
    login(client, EMAIL)
    answer = client.post("/pay/down/start?_l_=en", data={"draft_id": make_draft(app, user, PAID)})
    assert answer.status_code == 302
    with app.app_context():
        assert [p.status for p in db.session.execute(select(Payment)).scalars()] == ["failed"]
    # A provider whose verify_callback answers nothing is not trusted.
    assert client.post("/pay/down/callback", data={}).status_code == 500


# -- the plug-in guide's example (docs/payments.md) -------------------------------------------------------


def _docs_blocks() -> list[str]:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "payments.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", doc, flags=re.MULTILINE | re.DOTALL)


class FakeBank:
    """The bank's order registration, as the example plug-in calls it."""

    def __init__(self):
        self.orders = []

    def post(self, url, data, timeout):
        self.orders.append(dict(data, url=url))
        order_id = f"ORD-{len(self.orders)}"

        class Answer:
            def raise_for_status(self):
                return None

            def json(self):
                return {"orderId": order_id, "formUrl": f"https://bank.example.am/form?mdOrder={order_id}"}

        return Answer()


def test_the_docs_card_gateway_plugin(tmp_path):
    import ast
    import types

    plugin_code, test_code = _docs_blocks()
    for node in ast.walk(ast.parse(plugin_code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app"):
            assert node.module == "app.sdk"
    plugin = types.ModuleType("example_card_gateway")
    exec(compile(plugin_code, "docs/payments.md:example_card_gateway", "exec"), plugin.__dict__)
    plugin.http = FakeBank()
    settings = {"url": "https://bank.example.am/api", "merchant": "m", "password": "p", "secret": "bank-secret"}
    app = build(tmp_path, plugins=[plugin], CARD_GATEWAY=settings)
    assert "card" in app.extensions["hamaynk.payments"]
    client = app.test_client()
    user = make_citizen(app, EMAIL)
    login(client, EMAIL)
    draft_id = make_draft(app, user, PAID)
    helpers: dict = {"time": time}
    exec(compile(test_code, "docs/payments.md:testing", "exec"), helpers)
    helpers["check_card_gateway"](client, plugin, draft_id)
    order = plugin.http.orders[-1]
    assert order["amount"] == 500000 and order["currency"] == "051"
    assert order["callbackUrl"].endswith("/pay/card/callback") and "/pay/card/return/" in order["returnUrl"]
    paid = payment(app, order["orderNumber"])
    assert (paid.status, paid.external_id, paid.receipt_number, paid.amount) == ("paid", "ORD-1", "123456", 5000)
    # A stale notification is refused by the plug-in; a bad status too.
    form = {
        "orderNumber": order["orderNumber"],
        "mdOrder": "ORD-1",
        "status": "DEPOSITED",
        "amount": "500000",
        "currency": "051",
        "nonce": "n-2",
        "timestamp": str(int(time.time()) - 3600),
    }
    stale = client.post(
        "/pay/card/callback", data=form, headers={"X-Signature": plugin.signature(b"bank-secret", form)}
    )
    assert stale.status_code == 400
    # Without its settings the plug-in offers nothing.
    bare = build(tmp_path / "bare", plugins=[plugin])
    assert "card" not in bare.extensions["hamaynk.payments"]


# -- the partials ------------------------------------------------------------------------------------------


def test_the_fee_partial_lists_the_items_and_the_ways_to_pay(app, anna):
    from flask import render_template

    draft_id = make_draft(app, anna, PAID)
    with app.test_request_context("/?_l_=en"):
        draft = db.session.get(payments.PortalDraft, draft_id)
        service = runtime.registry().get(PAID).service
        quote = payments.quote(db.session, None, municipality_id=draft.municipality_id, service=service)
        state = payments.draft_payment_state(db.session, draft, fee=quote.total)
        html = re.sub(
            r"\s+", " ", render_template("portal/pay/_fee.html", quote=quote, payment_state=state, draft=draft)
        )
        assert "State duty" in html and "3,000" in html and "Service charge" in html and "5,000" in html
        assert 'action="/pay/test/start"' in html and f'name="draft_id" value="{draft_id}"' in html
        assert "Test payments — no money moves." in html and "pay at the municipality" in html
        assert "processed only once the fee is paid: pay online before you submit" in html
        paid = payments.PaymentState(paid=True, waived=False, amount_paid=5000)
        html = render_template("portal/pay/_fee.html", quote=quote, payment_state=paid, draft=draft)
        assert "Paid" in html and "/pay/test/start" not in html
        free = payments.quote(
            db.session, None, municipality_id=draft.municipality_id, service=runtime.registry().get(FREE).service
        )
        html = render_template("portal/pay/_fee.html", quote=free, payment_state=None, draft=draft)
        assert "free of charge" in html and "/pay/" not in html


def test_the_due_partial_offers_online_payment_of_a_filed_application(app):
    from flask import render_template

    due = file_application(app, LATER, data={"note": "x"})
    free = file_application(app, FREE, data={"note": "x"})
    with app.test_request_context("/?_l_=en"):
        html = render_template("portal/pay/_due.html", application=db.session.get(Application, due))
        assert "Payment due" in html and f'name="application_id" value="{due}"' in html and "3,000" in html
        assert render_template("portal/pay/_due.html", application=db.session.get(Application, free)).strip() == ""


def test_the_citizens_application_page_offers_to_pay_what_is_due(app, client, anna):
    """The application page (mine.show) shows a fee still due with the online pay buttons;
    once paid, the buttons are gone."""
    application_id = file_application(app, LATER, data={"note": "x"})
    with app.app_context():
        filed = db.session.get(Application, application_id)
        filed.applicant_user_id = anna
        db.session.commit()
    page = text(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert 'id="payment-due-heading"' in page and f'name="application_id" value="{application_id}"' in page
    response = client.post("/pay/test/start?_l_=en", data={"application_id": application_id})
    answer, *_ = callback(client, app, response.headers["Location"].rsplit("/", 1)[-1], amount=3000)
    assert answer.status_code == 200
    with app.app_context():
        assert db.session.get(Application, application_id).payment_status == "paid"
    page = text(client.get(f"/my/applications/{application_id}?_l_=en"))
    assert 'id="payment-due-heading"' not in page and 'name="application_id"' not in page
