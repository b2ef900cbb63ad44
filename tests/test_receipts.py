"""The intake receipt as a PDF: rendered without a request, read back with pypdf."""

from __future__ import annotations

import datetime as dt
import io

import pypdf
from werkzeug.datastructures import FileStorage

from app.domain import receipts, workflow
from app.domain.activations import set_activation
from app.domain.documents import store_documents
from app.domain.storage import get_storage
from app.extensions import db
from app.i18n import format_date
from app.models import Municipality
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
    text = text_of(receipts.render_receipt_pdf(receipt(access_code=None)))
    assert "ABV-2026-000123-K" in text and "q1W2e3R4t5Y6u7I8o9P0aA" not in text
    assert "The access code is printed only on the original receipt." in text


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
