"""Fees and payments (issue 9 item 8): fee quotes item by item with the municipality's
override, payment states on applications, a draft's payments moving to its application,
"processing starts only once paid", and staff recording, waiving and printing at the office."""

from __future__ import annotations

import re

import pytest
from flask_babel import force_locale
from payment_kit import FREE, LATER, PAID, PaidServices, make_draft, paid_services
from sqlalchemy import select

from app.domain import payments, workflow
from app.domain.declarations import DeclarationValueError, FeeItem, Service
from app.extensions import db
from app.models import Application, AuditEvent, Payment, PortalDraft, ServiceActivation
from app.plugins import runtime
from app.plugins.definitions import DefinitionError, service_from_dict
from app.testing import (
    actor_for,
    enable_service,
    file_application,
    login,
    make_app,
    make_citizen,
    seed_municipality,
)


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path, plugins=[PaidServices()])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha"), "beta": seed_municipality(app, "beta", "Beta")}
    for key in (PAID, LATER, FREE):
        enable_service(app, "alpha", key)
        enable_service(app, "beta", key)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def service(app, key):
    return runtime.registry(app).get(key).service


def set_override(app, municipality, key, fee):
    with app.app_context():
        row = db.session.execute(
            select(ServiceActivation).where(
                ServiceActivation.municipality_id == app.seeded[municipality]["id"],
                ServiceActivation.service_key == key,
            )
        ).scalar_one()
        row.fee_override = fee
        db.session.commit()


def application(app, application_id) -> Application:
    return db.session.get(Application, application_id)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# -- declarations -------------------------------------------------------------------------------


def test_fee_items_must_add_up_to_the_fee_and_the_error_names_the_service_and_values():
    base = paid_services()[0]
    with pytest.raises(
        DeclarationValueError, match=r"'paid-permit' fee_items add up to 4000 \(3000 \+ 1000\), not to its fee 5000"
    ):
        Service(
            key="paid-permit",
            version=1,
            title={"hy": "x"},
            steps=base.steps,
            fee=5000,
            fee_items=(FeeItem({"hy": "ա"}, 3000), FeeItem({"hy": "բ"}, 1000)),
        )
    with pytest.raises(DeclarationValueError, match="amount -5 must be a whole number"):
        FeeItem({"hy": "ա", "en": "Duty"}, -5)
    with pytest.raises(DeclarationValueError, match="needs an Armenian"):
        FeeItem({"en": "Duty"}, 5)
    with pytest.raises(DeclarationValueError, match="payment_first must be true or false"):
        Service(key="x", version=1, title={"hy": "x"}, steps=base.steps, payment_first="yes")  # type: ignore[arg-type]


def test_fee_items_from_a_definition_file_and_errors_name_the_place():
    data = {
        "key": "kiosk",
        "version": 1,
        "title": {"hy": "Կրպակ"},
        "steps": [{"key": "review", "title": {"hy": "Քննում"}, "role": "specialist", "days": 3}],
        "fee": 700,
        "fee_items": [
            {"label": {"hy": "Տուրք", "en": "Duty"}, "amount": 500},
            {"label": "Ծառայություն", "amount": 200},
        ],
        "payment_first": True,
    }
    loaded = service_from_dict(data, "kiosk.yaml")
    assert [(item.label["hy"], item.amount) for item in loaded.fee_items] == [("Տուրք", 500), ("Ծառայություն", 200)]
    assert loaded.payment_first is True
    wrong = {**data, "fee": 800}
    with pytest.raises(
        DefinitionError, match=r"kiosk.yaml: service 'kiosk' fee_items add up to 700 \(500 \+ 200\), not to its fee 800"
    ):
        service_from_dict(wrong, "kiosk.yaml")
    typo = {**data, "fee_items": [{"label": "x", "amout": 700}]}
    with pytest.raises(DefinitionError, match="needs exactly 'label' and 'amount'"):
        service_from_dict(typo, "kiosk.yaml")


def test_a_plugin_with_wrong_fee_items_is_refused_naming_the_plugin(tmp_path):
    from app.plugins.host import PluginError
    from app.sdk import hookimpl

    class Broken:
        __name__ = "broken_fees"

        @hookimpl
        def register_services(self):
            base = paid_services()[0]
            return [
                Service(
                    key="b",
                    version=1,
                    title={"hy": "բ"},
                    steps=base.steps,
                    fee=10,
                    fee_items=(FeeItem({"hy": "ա"}, 9),),
                )
            ]

    with pytest.raises(PluginError, match=r"broken_fees.*'b' fee_items add up to 9 \(9\), not to its fee 10"):
        make_app(tmp_path, plugins=[Broken()])


# -- quotes -------------------------------------------------------------------------------------


def test_quote_lists_declared_items_a_single_fee_or_nothing(app):
    with app.app_context():
        alpha = app.seeded["alpha"]["id"]
        quote = payments.quote(db.session, runtime.registry(), municipality_id=alpha, service=service(app, PAID))
        assert [(item.text("en"), item.amount) for item in quote.items] == [
            ("State duty", 3000),
            ("Service charge", 2000),
        ]
        assert (quote.total, quote.currency, quote.must_pay_first, quote.overridden) == (5000, "AMD", True, False)
        later = payments.quote(db.session, None, municipality_id=alpha, service=service(app, LATER))
        assert [(item.text("en"), item.amount) for item in later.items] == [("Service fee", 3000)]
        assert later.must_pay_first is False
        free = payments.quote(db.session, None, municipality_id=alpha, service=service(app, FREE))
        assert free.items == () and free.total == 0 and free.free


def test_the_municipality_override_replaces_the_total_as_one_item(app):
    set_override(app, "alpha", PAID, 4200)
    set_override(app, "beta", PAID, 0)
    with app.app_context():
        alpha = payments.quote(db.session, None, municipality_id=app.seeded["alpha"]["id"], service=service(app, PAID))
        assert [(item.text("en"), item.amount) for item in alpha.items] == [("Fee set by the municipality", 4200)]
        assert alpha.total == 4200 and alpha.overridden and alpha.must_pay_first
        beta = payments.quote(db.session, None, municipality_id=app.seeded["beta"]["id"], service=service(app, PAID))
        # Free in beta: nothing to pay first either.
        assert beta.items == () and beta.total == 0 and not beta.must_pay_first


# -- payment states on filing --------------------------------------------------------------------


def test_submit_sets_due_when_there_is_a_fee_and_nothing_otherwise(app):
    paid_id = file_application(app, LATER, data={"note": "x"})
    free_id = file_application(app, FREE, data={"note": "x"})
    draft_id = file_application(app, LATER, data={"note": "x"}, submit=False)
    with app.app_context():
        assert application(app, paid_id).payment_status == payments.DUE
        assert application(app, free_id).payment_status is None
        assert application(app, draft_id).payment_status is None


def test_a_drafts_payments_move_to_the_application_and_make_it_paid(app):
    citizen = make_citizen(app, "anna@example.org")
    draft_id = make_draft(app, citizen, LATER)
    other_draft = make_draft(app, citizen, LATER)
    with app.app_context():
        draft = db.session.get(PortalDraft, draft_id)
        actor = actor_for(citizen)
        quote = payments.quote(db.session, None, municipality_id=draft.municipality_id, service=service(app, LATER))
        assert not payments.draft_payment_state(db.session, draft, fee=quote.total).paid
        provider = payments.TestGateway(b"k" * 32).provider()
        payment = payments.start_for_draft(db.session, actor=actor, draft=draft, provider=provider, fee=quote)
        gateway = payments.TestGateway(b"k" * 32)
        form, headers = gateway.callback(reference=payment.reference, amount=3000)
        payments.settle(db.session, provider, gateway.verify_callback(form, headers))
        db.session.commit()
        state = payments.draft_payment_state(db.session, draft, fee=quote.total)
        assert state.paid and state.amount_paid == 3000 and state.receipt_number
        # Another draft's state is its own.
        assert not payments.draft_payment_state(db.session, db.session.get(PortalDraft, other_draft)).paid

        filed_id = file_application(app, LATER, data={"note": "x"}, submit=False)
        filed = application(app, filed_id)
        filed.applicant_user_id = citizen
        workflow.submit(
            db.session,
            filed,
            actor=actor_for(app.seeded["alpha"]["users"]["clerk"]),
            expected_version=filed.version,
            host=runtime.host(),
        )
        assert filed.payment_status == payments.DUE
        state = payments.attach_to_application(db.session, draft, filed)
        db.session.commit()
        assert filed.payment_status == payments.PAID and state.paid
        moved = db.session.execute(select(Payment)).scalars().all()
        assert [(p.application_id, p.status) for p in moved] == [(filed_id, "paid")]
        assert payments.draft_payment_state(db.session, draft).payments == ()


def test_attach_refuses_another_municipalitys_application(app):
    citizen = make_citizen(app, "anna@example.org")
    draft_id = make_draft(app, citizen, LATER, municipality="alpha")
    beta_app = file_application(app, LATER, "beta", data={"note": "x"})
    with app.app_context(), pytest.raises(ValueError):
        payments.attach_to_application(db.session, db.session.get(PortalDraft, draft_id), application(app, beta_app))


# -- processing only once paid -------------------------------------------------------------------


def walk_to_approve(app, client, application_id):
    login(client, "alpha.specialist")
    with app.app_context():
        version = application(app, application_id).version
    return client.post(
        f"/workspace/applications/{application_id}/approve?_l_=en",
        data={"version": version, "confirmed": "1"},
    )


def test_payment_first_blocks_approval_until_the_clerk_records_the_payment(app, client):
    application_id = file_application(app, PAID, data={"note": "x"})
    specialist = app.seeded["alpha"]["users"]["specialist"]
    with app.app_context():
        filed = application(app, application_id)
        assert filed.payment_status == payments.DUE
        registry = runtime.registry()
        offered = workflow.allowed_actions(db.session, filed, actor=actor_for(specialist), registry=registry)
        assert "approve" not in offered and {"reject", "return"} <= set(offered)
        with force_locale("en"), pytest.raises(workflow.InvalidAction, match="processed only once its fee is paid"):
            workflow.approve(
                db.session, filed, actor=actor_for(specialist), expected_version=filed.version, host=runtime.host()
            )
    login(client, "alpha.specialist")
    page = text(client.get(f"/workspace/applications/{application_id}?_l_=en"))
    assert "Why can't I act?" in page and "processed only once its fee is paid" in page
    assert 'data-status="due"' in page
    assert "Record the payment" not in page  # a specialist does not take money
    refused = walk_to_approve(app, client, application_id)
    assert refused.status_code == 400 and "processed only once its fee is paid" in text(refused)
    with app.app_context():
        assert application(app, application_id).status == "submitted"

    login(client, "alpha.clerk")
    page = text(client.get(f"/workspace/applications/{application_id}?_l_=en"))
    assert "Record the payment" in page and "Waive the fee" not in page
    done = client.post(
        f"/workspace/applications/{application_id}/payment/record?_l_=en", data={"receipt_number": "A-000123"}
    )
    assert done.status_code == 303
    with app.app_context():
        filed = application(app, application_id)
        assert filed.payment_status == payments.PAID
        row = db.session.execute(select(Payment)).scalar_one()
        assert (row.provider, row.status, row.amount, row.receipt_number, row.recorded_by_id) == (
            "office",
            "paid",
            5000,
            "A-000123",
            app.seeded["alpha"]["users"]["clerk"],
        )
        assert [item["amount"] for item in row.items] == [3000, 2000]
        assert db.session.execute(select(AuditEvent).where(AuditEvent.action == payments.AUDIT_RECORDED)).scalar_one()
    approved = walk_to_approve(app, client, application_id)
    assert approved.status_code == 303
    with app.app_context():
        assert application(app, application_id).status == "approved"


def test_a_service_without_payment_first_is_approved_with_payment_due(app, client):
    application_id = file_application(app, LATER, data={"note": "x"})
    assert walk_to_approve(app, client, application_id).status_code == 303
    with app.app_context():
        filed = application(app, application_id)
        assert (filed.status, filed.payment_status) == ("approved", "due")


# -- staff at the office ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "",
        "   ",
        "-5",
        "0",
        "000",
        "-",
        "12345678901234567890123456789012345",
        "1; DROP TABLE payment",
        "<b>1</b>",
        "1.5",
        "A B 1",
    ],
)
def test_bad_receipt_numbers_are_refused_and_nothing_is_recorded(app, client, number):
    application_id = file_application(app, LATER, data={"note": "x"})
    login(client, "alpha.clerk")
    refused = client.post(
        f"/workspace/applications/{application_id}/payment/record?_l_=en", data={"receipt_number": number}
    )
    assert refused.status_code == 400
    assert "Enter the receipt number as printed" in text(refused)
    with app.app_context():
        assert application(app, application_id).payment_status == "due"
        assert db.session.execute(select(Payment)).first() is None


def test_a_receipt_number_is_recorded_once_per_municipality(app, client):
    first = file_application(app, LATER, data={"note": "x"})
    second = file_application(app, LATER, data={"note": "x"})
    in_beta = file_application(app, LATER, "beta", data={"note": "x"})
    login(client, "alpha.clerk")
    assert (
        client.post(f"/workspace/applications/{first}/payment/record?_l_=en", data={"receipt_number": "77"}).status_code
        == 303
    )
    again = client.post(f"/workspace/applications/{second}/payment/record?_l_=en", data={"receipt_number": "77"})
    assert again.status_code == 400 and "already recorded" in text(again)
    # Paid already: nothing more to record.
    twice = client.post(f"/workspace/applications/{first}/payment/record?_l_=en", data={"receipt_number": "78"})
    assert twice.status_code == 400 and "Nothing is due" in text(twice)
    login(client, "beta.clerk")
    assert (
        client.post(
            f"/workspace/applications/{in_beta}/payment/record?_l_=en", data={"receipt_number": "77"}
        ).status_code
        == 303
    )
    # And another municipality's application is not found at all.
    assert (
        client.post(f"/workspace/applications/{first}/payment/record?_l_=en", data={"receipt_number": "79"}).status_code
        == 404
    )


def test_waiving_needs_the_head_or_administrator_and_a_reason(app, client):
    application_id = file_application(app, PAID, data={"note": "x"})
    url = f"/workspace/applications/{application_id}/payment/waive?_l_=en"
    for role in ("clerk", "specialist"):
        login(client, f"alpha.{role}")
        refused = client.post(url, data={"reason": "poverty"})
        assert refused.status_code == 403 and "head or administrator may waive a fee" in text(refused)
    login(client, "alpha.auditor")
    assert client.post(url, data={"reason": "poverty"}).status_code in (302, 403)  # no can_act at all
    login(client, "alpha.head")
    missing = client.post(url, data={"reason": "  "})
    assert missing.status_code == 400 and "Give the reason" in text(missing)
    long = client.post(url, data={"reason": "x" * 1001})
    assert long.status_code == 400 and "too long" in text(long)
    with app.app_context():
        assert application(app, application_id).payment_status == "due"
        assert db.session.execute(select(Payment)).first() is None
    page = text(client.get(f"/workspace/applications/{application_id}?_l_=en"))
    assert "Waive the fee" in page
    assert client.post(url, data={"reason": "Large family, decision 12"}).status_code == 303
    with app.app_context():
        filed = application(app, application_id)
        assert filed.payment_status == payments.WAIVED
        row = db.session.execute(select(Payment)).scalar_one()
        assert (row.status, row.amount, row.details["reason"]) == ("waived", 5000, "Large family, decision 12")
    page = text(client.get(f"/workspace/applications/{application_id}?_l_=en"))
    assert 'data-status="waived"' in page and "Large family, decision 12" in page
    # Waived, so a specialist may approve now.
    assert walk_to_approve(app, client, application_id).status_code == 303


def test_the_printed_receipt_shows_the_payment_and_is_the_municipalitys_only(app, client):
    application_id = file_application(app, PAID, data={"note": "x"})
    login(client, "alpha.clerk")
    # Every request in English: the test's app context keeps the first locale it computed.
    client.post(f"/workspace/applications/{application_id}/payment/record?_l_=en", data={"receipt_number": "R-2024/17"})
    page = text(client.get(f"/workspace/applications/{application_id}?_l_=en"))
    link = re.search(r'href="(/workspace/applications/\d+/payments/\d+/receipt)"', page).group(1)
    receipt = client.get(link + "?_l_=en")
    body = text(receipt)
    assert receipt.status_code == 200 and "@media print" in body
    assert "Payment receipt" in body and "R-2024/17" in body and "5,000" in body and "State duty" in body
    assert '<html lang="en">' in body
    login(client, "alpha.auditor")
    assert client.get(link).status_code == 200
    login(client, "beta.clerk")
    assert client.get(link).status_code == 404
    bogus = re.sub(r"/payments/\d+/", "/payments/999999999999999999999/", link)
    login(client, "alpha.clerk")
    assert client.get(bogus).status_code == 404
    # The receipt names the payer: the clerk's and the auditor's views are audit-logged, the
    # refused ones are not.
    with app.app_context():
        viewed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "payment.receipt_viewed")).all()
    payment_id = re.search(r"/payments/(\d+)/", link).group(1)
    assert len(viewed) == 2 and {e.object_id for e in viewed} == {payment_id}


def test_payment_history_on_the_case_page(app, client):
    citizen = make_citizen(app, "anna@example.org")
    application_id = file_application(app, LATER, data={"note": "x"})
    with app.app_context():
        filed = application(app, application_id)
        filed.applicant_user_id = citizen
        filed.channel = "online"
        db.session.commit()
        provider = payments.TestGateway(b"k" * 32).provider()
        first = payments.start_for_application(
            db.session, actor=actor_for(citizen), application=filed, provider=provider, service=None
        )
        payments.cancel(db.session, first)
        db.session.commit()
    login(client, "alpha.clerk")
    page = text(client.get(f"/workspace/applications/{application_id}?_l_=en"))
    assert "Cancelled" in page and "Payment due" in page and "Record the payment" in page
