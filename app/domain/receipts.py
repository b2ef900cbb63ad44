"""The receipt a clerk hands to a citizen after an office intake, as a PDF.

Plain functions, no request needed: :func:`build_receipt` collects what the receipt says
from the application, :func:`render_receipt_pdf` lays it out with fpdf2. The receipt is in
Armenian by default (the language of the office's paperwork); labels are translatable like
every other text, so ``locale`` may ask for another language.

The font is DejaVu Sans, shipped in ``app/static/fonts`` with its licence, so the receipt
renders the same on a fresh machine without system fonts. DejaVu has no glyph for the dram
sign (֏, U+058F); Noto Sans Armenian (also shipped, OFL) is the fallback font for it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from babel.dates import format_time
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import access, deadlines
from app.domain.declarations import Service, pick
from app.domain.formatting import format_amd, format_date
from app.domain.tracking import OFFICE_TZ
from app.models import Application, ApplicationDocument, Municipality

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "fonts"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FAMILY = "DejaVuSans"
FALLBACK_FAMILY = "NotoSansArmenian"


@dataclass(frozen=True)
class ReceiptLine:
    """One checklist line with what was received for it."""

    title: str
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Receipt:
    tracking_number: str
    service_title: str
    municipality_name: str
    applicant_name: str
    documents: tuple[ReceiptLine, ...]
    fee: int
    due_date: dt.date | None
    deadline_days: int | None
    filed_at: dt.datetime | None  # UTC, as stored
    # Only on the receipt printed right after the intake: the code is never stored in clear.
    access_code: str | None = None
    locale: str = "hy"


def format_filed_at(value: dt.datetime, locale: str) -> str:
    """Date and time in the office's time zone (stored times are naive UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    local = value.astimezone(OFFICE_TZ)
    return f"{format_date(local, 'long', locale)}, {format_time(local, 'short', tzinfo=OFFICE_TZ, locale=locale)}"


def _municipality_name(municipality: Municipality | None, locale: str) -> str:
    if municipality is None:
        return ""
    return getattr(municipality, f"name_{locale}", None) or municipality.name_hy


def build_receipt(
    session: Session, application: Application, service: Service, *, access_code: str | None = None, locale: str = "hy"
) -> Receipt:
    """What the receipt of ``application`` says (two queries: municipality and documents)."""
    municipality = session.get(Municipality, application.municipality_id)
    columns = select(ApplicationDocument.requirement_key, ApplicationDocument.original_name)
    rows = session.execute(
        access.within(columns, ApplicationDocument, application.municipality_id)
        .where(ApplicationDocument.application_id == application.id)
        .order_by(ApplicationDocument.id)
    ).all()
    names: dict[str, list[str]] = {}
    for key, name in rows:
        names.setdefault(key, []).append(name)
    lines = []
    for requirement in service.documents:
        if names.get(requirement.key):
            lines.append(ReceiptLine(pick(requirement.title, locale), tuple(names.pop(requirement.key))))
    for key, leftover in names.items():  # a requirement a newer declaration no longer lists
        lines.append(ReceiptLine(key, tuple(leftover)))
    days = deadlines.service_deadline_days(session, service, application.municipality_id)
    return Receipt(
        tracking_number=application.tracking_number,
        service_title=pick(service.title, locale),
        municipality_name=_municipality_name(municipality, locale),
        applicant_name=application.applicant_name,
        documents=tuple(lines),
        fee=application.fee,
        due_date=application.due_at,
        deadline_days=days,
        filed_at=application.submitted_at or application.created_at,
        access_code=access_code,
        locale=locale,
    )


class _ReceiptPDF(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font(FAMILY, "", str(FONT_REGULAR))
        self.add_font(FAMILY, "B", str(FONT_BOLD))
        # Glyphs DejaVu lacks (the dram sign) come from Noto Sans Armenian.
        self.add_font(FALLBACK_FAMILY, "", str(FONT_DIR / "NotoSansArmenian-Regular.ttf"))
        self.add_font(FALLBACK_FAMILY, "B", str(FONT_DIR / "NotoSansArmenian-Bold.ttf"))
        self.set_fallback_fonts([FALLBACK_FAMILY])
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(True, margin=20)


def _row(pdf: FPDF, label: str, value: str, *, bold: bool = False, size: float = 11) -> None:
    label_width = 55
    pdf.set_font(FAMILY, "", 10)
    y = pdf.get_y()
    pdf.multi_cell(label_width, 6, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.set_font(FAMILY, "B" if bold else "", size)
    pdf.multi_cell(0, 6, value or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), y + 6) + 1.5)


def render_receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as PDF bytes (A4, one page for any ordinary checklist)."""
    locale = receipt.locale
    with force_locale(locale):
        pdf = _ReceiptPDF()
        pdf.set_title(_("Application receipt") + " " + receipt.tracking_number)
        pdf.set_creator("Hamaynk")
        pdf.set_lang(locale)
        pdf.add_page()

        pdf.set_font(FAMILY, "B", 13)
        pdf.multi_cell(0, 7, receipt.municipality_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FAMILY, "", 10)
        pdf.multi_cell(0, 6, _("Citizen Service Office"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(4)
        pdf.set_font(FAMILY, "B", 16)
        pdf.multi_cell(0, 9, _("Application receipt"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)

        _row(pdf, _("Tracking number"), receipt.tracking_number, bold=True, size=14)
        if receipt.access_code:
            _row(pdf, _("Access code"), receipt.access_code, bold=True, size=14)
        _row(pdf, _("Service"), receipt.service_title)
        _row(pdf, _("Applicant"), receipt.applicant_name)
        _row(pdf, _("Submitted on"), format_filed_at(receipt.filed_at, locale) if receipt.filed_at else "")
        _row(pdf, _("Fee"), format_amd(receipt.fee, locale) if receipt.fee else _("Free of charge"))
        due = format_date(receipt.due_date, "long", locale=locale) if receipt.due_date else ""
        if due and receipt.deadline_days:
            due = _("%(date)s (%(days)d working days)", date=due, days=receipt.deadline_days)
        _row(pdf, _("Due date"), due)

        pdf.ln(2)
        pdf.set_font(FAMILY, "B", 12)
        pdf.multi_cell(0, 7, _("Documents received"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if not receipt.documents:
            pdf.set_font(FAMILY, "", 10)
            pdf.multi_cell(0, 6, _("No documents were attached."), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for line in receipt.documents:
            pdf.set_font(FAMILY, "B", 10)
            count = ngettext("%(num)d file", "%(num)d files", line.count)
            pdf.multi_cell(0, 6, f"{line.title} — {count}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font(FAMILY, "", 9)
            for name in line.names:
                pdf.set_x(pdf.l_margin + 6)
                pdf.multi_cell(0, 5, name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)

        pdf.ln(4)
        pdf.set_font(FAMILY, "", 9)
        if receipt.access_code:
            note = _(
                "Keep this receipt. With the tracking number and the access code you can follow your application online. "
                "The access code is printed only on this receipt; the office cannot show it again."
            )
        else:
            note = _("This is a copy of the receipt. The access code is printed only on the original receipt.")
        pdf.multi_cell(0, 5, note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return bytes(pdf.output())


def receipt_pdf(
    session: Session, application: Application, service: Service, *, access_code: str | None = None, locale: str = "hy"
) -> bytes:
    return render_receipt_pdf(build_receipt(session, application, service, access_code=access_code, locale=locale))


def receipt_filename(tracking_number: str) -> str:
    # Tracking numbers are [A-Z0-9-] only, safe in a header as they are.
    return f"receipt-{tracking_number}.pdf"


__all__ = [
    "Receipt",
    "ReceiptLine",
    "build_receipt",
    "receipt_filename",
    "receipt_pdf",
    "render_receipt_pdf",
]
