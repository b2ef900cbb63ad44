"""The intake receipt as a PDF: rendered without a request, read back with pypdf."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
import pytest
from sqlalchemy import func, select
from test_office import RESIDENCE, access_code_on, application_id_of, enable, open_form, pdf_text, post
from test_office import residence_data as residence_form
from werkzeug.datastructures import FileStorage

from app.domain import receipts, tracking, workflow
from app.domain.activations import set_activation
from app.domain.documents import store_documents
from app.domain.errors import NotAllowed
from app.domain.storage import get_storage
from app.extensions import db
from app.i18n import format_date
from app.models import Application, AuditEvent, Municipality
from app.models.office import PendingReceiptCode
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, make_pdf, make_png


def text_of(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    # Wrapped lines come back with line breaks and doubled spaces; compare words.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def receipt(**overrides) -> receipts.Receipt:
    values = {
        "tracking_number": "ABV-2026-000123-K",
        "service_title": "Շինարարության թույլտվություն",
        "municipality_name": "Աբովյան համայնք",
        "applicant_name": "Արմեն Պետրոսյան",
        "documents": (receipts.ReceiptLine("Նախագծային փաստաթղթեր", ("design-1.pdf", "design-2.pdf")),),
        "fee": 30000,
        "due_date": dt.date(2026, 3, 2),
        "deadline_days": 20,
        "filed_at": dt.datetime(2026, 2, 2, 20, 30),  # UTC: already 3 February in Yerevan
        "access_code": "q1W2e3R4t5Y6u7I8o9P0aA",
    }
    values.update(overrides)
    return receipts.Receipt(**values)


def test_the_receipt_is_a_pdf_with_armenian_text_tracking_number_and_access_code():
    data = receipts.render_receipt_pdf(receipt())
    assert data.startswith(b"%PDF-")
    text = text_of(data)
    for expected in (
        "Աբովյան համայնք",
        "Շինարարության թույլտվություն",
        "Արմեն Պետրոսյան",
        "ABV-2026-000123-K",
        "q1W2e3R4t5Y6u7I8o9P0aA",
        "Նախագծային փաստաթղթեր",
        "design-1.pdf",
        "design-2.pdf",
        "30 000 ֏",
    ):
        assert expected in text, expected
    # Dates are Armenian, in the office's time zone.
    assert format_date(dt.date(2026, 3, 2), "long", locale="hy") in text
    assert format_date(dt.date(2026, 2, 3), "long", locale="hy") in text and "00:30" in text
    reader = pypdf.PdfReader(io.BytesIO(data))
    fonts = {str(font["/BaseFont"]) for page in reader.pages for font in page["/Resources"]["/Font"].values()}
    assert any("DejaVuSans" in name for name in fonts), fonts


def test_a_reprint_has_no_access_code_and_says_so():
    text = text_of(receipts.render_receipt_pdf(receipt(access_code=None, locale="en")))
    assert "ABV-2026-000123-K" in text and "q1W2e3R4t5Y6u7I8o9P0aA" not in text
    assert "This is a copy of the receipt. The access code is printed only on the original receipt." in text
    assert "the office can issue a new one" in text


def test_the_receipt_sends_the_applicant_to_the_public_look_up():
    """The portal's look-up (tracking number + access code) is where a walk-in applicant
    follows the application; the receipt prints its address."""
    text = text_of(receipts.render_receipt_pdf(receipt(locale="en", track_url="https://hamaynk.example.am/track")))
    assert "Follow the application at https://hamaynk.example.am/track" in text
    assert "q1W2e3R4t5Y6u7I8o9P0aA" in text


def test_a_free_service_without_documents_says_so():
    text = text_of(receipts.render_receipt_pdf(receipt(fee=0, documents=())))
    assert "Free of charge" in text and "No documents were attached." in text and "֏" not in text


def test_the_font_ships_with_its_licence():
    assert receipts.FONT_REGULAR.is_file() and receipts.FONT_BOLD.is_file()
    licence = (receipts.FONT_DIR / "DejaVu-LICENSE.txt").read_text(encoding="utf-8")
    assert "Bitstream" in licence and "DejaVu" in licence


def test_build_receipt_reads_the_filed_application(app):
    alpha = app.seeded["alpha"]
    with app.app_context():
        municipality = db.session.get(Municipality, alpha["id"])
        municipality.name_hy = "Ալֆա համայնք"
        set_activation(
            db.session,
            plugin_runtime.registry(app),
            alpha["id"],
            "construction-permit",
            enabled=True,
            fee_override=25000,
            deadline_override=15,
            department_id=None,
            actor_id=None,
        )
        db.session.commit()
        service = plugin_runtime.registry(app).get("construction-permit").service
        clerk = alpha["users"]["clerk"]
        data = {
            "cadastral_code": "07-001-0123-0045",
            "plot_address": "Abovyan 5",
            "zone": "residential",
            "work_type": "new",
            "building_purpose": "house",
            "plot_area": "600",
            "footprint_area": "120",
            "building_area": 200,
            "floors": 2,
            "designer": "Archstudio",
            "designer_licence": "L-1",
            "co_owned": False,
        }
        application, secret = workflow.new_application(
            db.session,
            service=service,
            municipality_id=alpha["id"],
            data=data,
            applicant_name="Անի Սարգսյան",
            created_by_id=clerk,
            channel="office",
        )
        storage = get_storage(app)
        store_documents(
            db.session,
            storage,
            application,
            service.document("design_documentation"),
            [
                FileStorage(io.BytesIO(make_pdf("a")), "plan-a.pdf"),
                FileStorage(io.BytesIO(make_pdf("b")), "plan-b.pdf"),
            ],
            clerk,
        )
        store_documents(
            db.session,
            storage,
            application,
            service.document("ownership_certificate"),
            [FileStorage(io.BytesIO(make_png()), "ownership.png")],
            clerk,
        )
        workflow.submit(
            db.session,
            application,
            actor=actor_for(clerk),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        db.session.commit()

        built = receipts.build_receipt(db.session, application, service, access_code=secret)
        assert built.municipality_name == "Ալֆա համայնք" and built.service_title == "Շինարարության թույլտվություն"
        assert built.fee == 25000 and built.deadline_days == 15 and built.due_date == application.due_at
        # Checklist order, names and counts.
        assert [(line.title, line.names) for line in built.documents] == [
            ("Հողամասի նկատմամբ իրավունքի պետական գրանցման վկայական", ("ownership.png",)),
            ("Նախագծային փաստաթղթեր", ("plan-a.pdf", "plan-b.pdf")),
        ]
        assert [line.count for line in built.documents] == [1, 2]
        text = text_of(receipts.receipt_pdf(db.session, application, service, access_code=secret))
        assert application.tracking_number in text and secret in text and "Ալֆա համայնք" in text and "25 000 ֏" in text
        assert format_date(application.due_at, "long", locale="hy") in text


# -- the access code until the receipt is handed over (issue 8) ---------------------------------


@pytest.fixture
def office(app, client, login_as):
    enable(app, "alpha", RESIDENCE)
    login_as("clerk")
    client.get("/lang/en")
    return client


def file_one(client) -> int:
    return application_id_of(post(client, RESIDENCE, residence_form(open_form(client, RESIDENCE))))


def code_of(client, application_id: int) -> str | None:
    page = client.get(f"/office/receipt/{application_id}")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    return access_code_on(page.get_data(as_text=True))


def events(app, action: str, application_id: int) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_id == str(application_id))
        return list(db.session.execute(stmt).scalars())


def pending_rows(app, application_id: int) -> list[PendingReceiptCode]:
    with app.app_context():
        stmt = select(PendingReceiptCode).where(PendingReceiptCode.application_id == application_id)
        rows = list(db.session.execute(stmt).scalars())
        db.session.expunge_all()
        return rows


def application_number(app, application_id: int) -> str:
    with app.app_context():
        return db.session.get(Application, application_id).tracking_number


def lookup(app, application_id: int, code: str) -> int | None:
    with app.app_context():
        number = db.session.get(Application, application_id).tracking_number
        found = tracking.find_by_access_code(db.session, number, code)
        return found.id if found is not None else None


def test_reloading_and_downloading_keep_the_code_until_the_clerk_confirms(app, office):
    application_id = file_one(office)
    code = code_of(office, application_id)
    assert code and lookup(app, application_id, code) == application_id
    # A reload, another page, a PDF download and a second one: the code is still there.
    office.get("/office/")
    assert code_of(office, application_id) == code
    for _attempt in range(2):
        assert code in pdf_text(office.get(f"/office/receipt/{application_id}/receipt.pdf").data)
    html = office.get(f"/office/receipt/{application_id}").get_data(as_text=True)
    # The public look-up, at this install's address, is where the applicant follows it.
    assert f"Follow the application at {app.config['HAMAYNK_PUBLIC_URL']}/track" in html
    assert 'id="print-receipt"' in html and "office-print.css" in html
    assert "The receipt was printed or handed over" in html and "Issue a new access code" not in html

    response = office.post(f"/office/receipt/{application_id}/handed-over")
    assert response.status_code == 302
    html = office.get(f"/office/receipt/{application_id}").get_data(as_text=True)
    assert access_code_on(html) is None and code not in html
    assert "the receipt was handed over" in html and "Issue a new access code" in html
    copy = pdf_text(office.get(f"/office/receipt/{application_id}/receipt.pdf").data)
    assert code not in copy and application_number(app, application_id) in copy
    assert "This is a copy of the receipt." in html
    assert pending_rows(app, application_id) == []
    (event,) = events(app, receipts.AUDIT_HANDED_OVER, application_id)
    assert event.actor_id == app.seeded["alpha"]["users"]["clerk"] and code not in str(event.details)
    # The code itself still works: handing over is not revoking.
    assert lookup(app, application_id, code) == application_id


def test_the_sealed_code_in_the_database_is_not_the_code(app, office):
    application_id = file_one(office)
    code = code_of(office, application_id)
    (row,) = pending_rows(app, application_id)
    assert code not in row.sealed_code and row.sealed_code != code
    assert row.municipality_id == app.seeded["alpha"]["id"]
    assert row.created_by_id == app.seeded["alpha"]["users"]["clerk"]
    assert receipts.unseal_code(app.config["SECRET_KEY"], row.sealed_code) == code
    # Another secret key (a copied database elsewhere) reads nothing, and a tampered value neither.
    assert receipts.unseal_code("another secret key of at least 32 characters", row.sealed_code) is None
    assert receipts.unseal_code(app.config["SECRET_KEY"], row.sealed_code[:-4] + "AAAA") is None
    # Sealing twice gives two different values (random IV), so equal codes do not show.
    assert receipts.seal_code("k" * 32, code) != receipts.seal_code("k" * 32, code)


def test_a_stale_second_confirmation_is_harmless(app, office):
    application_id = file_one(office)
    code_of(office, application_id)
    assert office.post(f"/office/receipt/{application_id}/handed-over").status_code == 302
    second = office.post(f"/office/receipt/{application_id}/handed-over", follow_redirects=True)
    assert second.status_code == 200
    assert "already been confirmed as handed over" in second.get_data(as_text=True)
    assert len(events(app, receipts.AUDIT_HANDED_OVER, application_id)) == 1


def test_a_lost_code_is_reissued_and_the_old_one_stops_working(app, client, office, login_as):
    application_id = file_one(office)
    old = code_of(office, application_id)
    office.post(f"/office/receipt/{application_id}/handed-over")
    response = office.post(f"/office/receipt/{application_id}/new-code", follow_redirects=True)
    assert response.status_code == 200
    new = access_code_on(response.get_data(as_text=True))
    assert new and new != old
    assert "the old one no longer works" in response.get_data(as_text=True)
    assert lookup(app, application_id, old) is None
    assert lookup(app, application_id, new) == application_id
    (row,) = pending_rows(app, application_id)
    assert receipts.unseal_code(app.config["SECRET_KEY"], row.sealed_code) == new
    assert new in pdf_text(client.get(f"/office/receipt/{application_id}/receipt.pdf").data)
    (event,) = events(app, receipts.AUDIT_REISSUED, application_id)
    assert event.actor_id == app.seeded["alpha"]["users"]["clerk"] and new not in str(event.details)

    # The municipal administrator may re-issue too; a specialist may not reach the office at all.
    login_as("municipal_admin")
    again = client.post(f"/office/receipt/{application_id}/new-code", follow_redirects=True)
    newest = access_code_on(again.get_data(as_text=True))
    assert newest and newest != new and lookup(app, application_id, new) is None
    login_as("specialist")
    assert client.post(f"/office/receipt/{application_id}/new-code").status_code in (302, 403)
    assert lookup(app, application_id, newest) == application_id


def test_another_municipalitys_clerk_gets_404_and_changes_nothing(app, client, office, login_as):
    application_id = file_one(office)
    code = code_of(office, application_id)
    with app.app_context():
        before = db.session.get(Application, application_id).access_secret_hash
    login_as("clerk", "beta")
    for method, path in (
        ("get", ""),
        ("get", "/receipt.pdf"),
        ("post", "/handed-over"),
        ("post", "/new-code"),
    ):
        response = getattr(client, method)(f"/office/receipt/{application_id}{path}")
        assert response.status_code == 404, path
        assert code not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Application, application_id).access_secret_hash == before
        assert (
            db.session.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.in_([receipts.AUDIT_HANDED_OVER, receipts.AUDIT_REISSUED]))
            ).scalar_one()
            == 0
        )
    assert len(pending_rows(app, application_id)) == 1 and lookup(app, application_id, code) == application_id


def test_who_may_hand_over_and_reissue(app, office):
    application_id = file_one(office)
    alpha, beta = app.seeded["alpha"]["users"], app.seeded["beta"]["users"]
    with app.app_context():
        application = db.session.get(Application, application_id)
        allowed = {
            name: receipts.may_hand_over(actor_for(user_id), application)
            for name, user_id in (*alpha.items(), ("beta.clerk", beta["clerk"]))
        }
        assert allowed == {
            "municipal_admin": True,
            "clerk": True,
            "specialist": False,
            "head": False,
            "auditor": False,
            "beta.clerk": False,
        }
        with pytest.raises(NotAllowed):
            receipts.reissue_code(db.session, actor_for(alpha["specialist"]), application, secret_key="k" * 32)
        with pytest.raises(NotAllowed):
            receipts.confirm_handed_over(db.session, actor_for(alpha["auditor"]), application)
    assert len(pending_rows(app, application_id)) == 1


def test_the_public_lookup_needs_number_and_current_code(app, office):
    application_id = file_one(office)
    code = code_of(office, application_id)
    with app.app_context():
        number = db.session.get(Application, application_id).tracking_number
        assert tracking.find_by_access_code(db.session, number, code).id == application_id
        assert (
            tracking.find_by_access_code(db.session, number.lower().replace("-", " "), f" {code} ").id == application_id
        )
        for bad_number, bad_code in ((number, ""), (number, code[:-1]), (number[:-1] + "0", code), ("", code)):
            assert tracking.find_by_access_code(db.session, bad_number, bad_code) is None


def test_the_office_finds_a_filed_application_by_tracking_number(app, client, office, login_as):
    application_id = file_one(office)
    with app.app_context():
        number = db.session.get(Application, application_id).tracking_number
    assert 'action="/office/find"' in office.get("/office/").get_data(as_text=True)
    found = office.get("/office/find", query_string={"tracking": number.lower().replace("-", " ")})
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/office/receipt/{application_id}")
    # The check character left out (a clerk reading the number over the phone) is completed.
    without_check = office.get("/office/find", query_string={"tracking": number.rsplit("-", 1)[0]})
    assert without_check.headers["Location"].endswith(f"/office/receipt/{application_id}")
    for wrong in ("", "nonsense", number[:-1] + ("0" if number[-1] != "0" else "1"), "x" * 5000):
        missed = office.get("/office/find", query_string={"tracking": wrong}, follow_redirects=True)
        assert missed.status_code == 200 and "No filed application of this municipality" in missed.get_data(
            as_text=True
        )
    # Another municipality's clerk learns nothing from a right number.
    login_as("clerk", "beta")
    client.get("/lang/en")
    other = client.get("/office/find", query_string={"tracking": number})
    assert other.status_code == 302 and other.headers["Location"].endswith("/office/")
