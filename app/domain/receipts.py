"""The receipt a clerk hands to a citizen after an office intake, as a PDF.

Plain functions, no request needed: :func:`build_receipt` collects what the receipt says
from the application, :func:`render_receipt_pdf` lays it out with fpdf2. The receipt is in
Armenian by default (the language of the office's paperwork); labels are translatable like
every other text, so ``locale`` may ask for another language.

The access code. At an office intake the applicant's plain access code (of which the
application keeps only a hash) is sealed into a :class:`~app.models.PendingReceiptCode` row
in the same transaction as the application (:func:`keep_code`): encrypted with a key derived
from the app's secret key, never stored readable. While that row exists the receipt page and
PDF show the code, so a reload, a crashed printer or a clerk called away loses nothing. The
clerk confirms that the receipt was printed or handed over (:func:`confirm_handed_over`),
which deletes the row; from then on receipts are copies without the code. A lost code is
replaced by :func:`reissue_code`: a new code, the old one stops working at once, and the new
one waits in a pending row like the first. Both are audit-logged. Who may do either: the
front-office clerks and the municipal administrators of the application's municipality
(:func:`may_hand_over`), the people who meet the applicant at the counter.

The font is DejaVu Sans, shipped in ``app/static/fonts`` with its licence, so the receipt
renders the same on a fresh machine without system fonts. DejaVu has no glyph for the dram
sign (֏, U+058F); Noto Sans Armenian (also shipped, OFL) is the fallback font for it.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from babel.dates import format_time
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _
from sqlalchemy import Delete, Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session
from sqlalchemy.orm.exc import StaleDataError

from app.domain import access, audit, deadlines, roles, tracking
from app.domain.access import Actor
from app.domain.declarations import Service, pick
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed
from app.domain.formatting import format_amd, format_date
from app.domain.tracking import OFFICE_TZ
from app.models import Application, ApplicationDocument, Municipality
from app.models.office import PendingReceiptCode

if TYPE_CHECKING:
    # fpdf2 (and the fontTools it loads) takes a few hundred milliseconds to import; only
    # printing a receipt needs it, so the functions below import it, not the app's start.
    from fpdf import FPDF

log = logging.getLogger(__name__)

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
    # Where the applicant follows the application online (the portal's public look-up).
    track_url: str = ""


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
    session: Session,
    application: Application,
    service: Service,
    *,
    access_code: str | None = None,
    locale: str = "hy",
    track_url: str = "",
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
        track_url=track_url,
    )


def _receipt_pdf() -> FPDF:
    from fpdf import FPDF

    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.add_font(FAMILY, "", str(FONT_REGULAR))
    pdf.add_font(FAMILY, "B", str(FONT_BOLD))
    # Glyphs DejaVu lacks (the dram sign) come from Noto Sans Armenian.
    pdf.add_font(FALLBACK_FAMILY, "", str(FONT_DIR / "NotoSansArmenian-Regular.ttf"))
    pdf.add_font(FALLBACK_FAMILY, "B", str(FONT_DIR / "NotoSansArmenian-Bold.ttf"))
    pdf.set_fallback_fonts([FALLBACK_FAMILY])
    pdf.set_margins(20, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    return pdf


def _row(pdf: FPDF, label: str, value: str, *, bold: bool = False, size: float = 11) -> None:
    from fpdf.enums import XPos, YPos

    label_width = 55
    pdf.set_font(FAMILY, "", 10)
    y = pdf.get_y()
    pdf.multi_cell(label_width, 6, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
    pdf.set_font(FAMILY, "B" if bold else "", size)
    pdf.multi_cell(0, 6, value or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), y + 6) + 1.5)


def render_receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as PDF bytes (A4, one page for any ordinary checklist)."""
    from fpdf.enums import XPos, YPos

    locale = receipt.locale
    with force_locale(locale):
        pdf = _receipt_pdf()
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
                "Keep this receipt. Follow the application at %(url)s with the tracking number and the access "
                "code, or add it to your account there. The access code is printed only on this receipt: keep "
                "it to yourself. If it is lost, the office can issue a new one, and the old one stops working.",
                url=receipt.track_url or "/track",
            )
        else:
            note = _(
                "This is a copy of the receipt. The access code is printed only on the original receipt. "
                "If it is lost, the office can issue a new one, and the old one stops working."
            )
        pdf.multi_cell(0, 5, note, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        return bytes(pdf.output())


def receipt_pdf(
    session: Session,
    application: Application,
    service: Service,
    *,
    access_code: str | None = None,
    locale: str = "hy",
    track_url: str = "",
    actor: Actor | None = None,
    ip: str | None = None,
) -> bytes:
    """The receipt as PDF. With ``actor``, the printing is audit-logged and committed before the
    bytes are returned: the receipt carries the applicant's name, so no copy leaves untraced."""
    receipt = build_receipt(session, application, service, access_code=access_code, locale=locale, track_url=track_url)
    pdf = render_receipt_pdf(receipt)
    if actor is not None:
        audit.record(
            session,
            AUDIT_PRINTED,
            actor=actor,
            target=("application", application.id),
            municipality_id=application.municipality_id,
            details={"tracking_number": application.tracking_number, "with_code": access_code is not None},
            ip=ip,
        )
        session.commit()
    return pdf


# -- the access code until the receipt is handed over ------------------------------------------

# Domain separation: the key sealing receipt codes is not the key signing sessions, even though
# both come from the one secret key.
_SEAL_INFO = b"hamaynk/pending-receipt-code/v1"
AUDIT_HANDED_OVER = "receipt.handed_over"
AUDIT_REISSUED = "receipt.code_reissued"
AUDIT_PRINTED = "receipt.printed"


def _fernet(secret_key: str | bytes, info: bytes = _SEAL_INFO) -> Fernet:
    if isinstance(secret_key, str):
        secret_key = secret_key.encode("utf-8")
    if not secret_key:
        raise ValueError("sealing receipt codes needs the app's SECRET_KEY")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret_key)
    return Fernet(base64.urlsafe_b64encode(derived))


def seal_code(secret_key: str | bytes, code: str, *, info: bytes = _SEAL_INFO) -> str:
    """``code`` encrypted and authenticated (Fernet) under a key derived from ``secret_key``
    (and ``info``: other secrets, such as second-factor keys, are sealed under their own)."""
    return _fernet(secret_key, info).encrypt(code.encode("utf-8")).decode("ascii")


def unseal_code(secret_key: str | bytes, sealed: str, *, info: bytes = _SEAL_INFO) -> str | None:
    """The code inside ``sealed``, or ``None`` when it was sealed under another secret key
    (rotated since) or tampered with: then the code is lost and can only be re-issued."""
    try:
        return _fernet(secret_key, info).decrypt(sealed.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        return None


def may_hand_over(actor: Actor | None, application: Application) -> bool:
    """Whether ``actor`` may confirm the hand-over of the receipt or re-issue the access code:
    a front-office clerk or a municipal administrator of the application's municipality, the
    people who meet the applicant and can check their identity document. Specialists and
    heads work the case, not the counter; auditors and system administrators act for no one."""
    return access.same_municipality(actor, application) and actor.has(roles.CLERK, roles.MUNICIPAL_ADMIN)


def keep_code(
    session: Session | scoped_session[Session],
    application: Application,
    code: str,
    *,
    secret_key: str | bytes,
    created_by_id: int | None,
) -> PendingReceiptCode:
    """Add the sealed ``code`` of a just-filed ``application`` to ``session`` (not committed:
    it commits with the application, so a filed application never lacks its code)."""
    if application.id is None:
        session.flush()
    row = PendingReceiptCode(
        application_id=application.id,
        municipality_id=application.municipality_id,
        sealed_code=seal_code(secret_key, code),
        created_by_id=created_by_id,
    )
    session.add(row)
    return row


def _pending_rows(application: Application) -> Select[PendingReceiptCode]:
    stmt = access.within(select(PendingReceiptCode), PendingReceiptCode, application.municipality_id)
    return stmt.where(PendingReceiptCode.application_id == application.id)


def _drop_pending(application: Application) -> Delete:
    stmt = access.within(delete(PendingReceiptCode), PendingReceiptCode, application.municipality_id)
    return stmt.where(PendingReceiptCode.application_id == application.id)


def pending_code(
    session: Session | scoped_session[Session], application: Application, *, secret_key: str | bytes
) -> str | None:
    """The access code of ``application`` (loaded through :mod:`app.domain.access`) while its
    receipt has not been confirmed as handed over; ``None`` afterwards."""
    row = session.execute(_pending_rows(application)).scalar_one_or_none()
    if row is None:
        return None
    code = unseal_code(secret_key, row.sealed_code)
    if code is None:
        log.warning(
            "the pending access code of application %s cannot be unsealed (secret key changed?)", application.id
        )
    return code


def has_pending_code(session: Session | scoped_session[Session], application: Application) -> bool:
    return session.execute(_pending_rows(application)).first() is not None


def _require_receipt(actor: Actor | None, application: Application) -> Actor:
    if not may_hand_over(actor, application):
        raise NotAllowed(_("Only the front office and the municipal administrator hand receipts over."))
    assert actor is not None  # may_hand_over said so; mypy cannot see through it
    if application.submitted_at is None:
        raise InvalidAction(_("This application has not been filed yet, so it has no receipt."))
    return actor


def confirm_handed_over(
    session: Session | scoped_session[Session], actor: Actor | None, application: Application, *, ip: str | None = None
) -> bool:
    """Record that the receipt with the access code was printed or handed over: the sealed
    code is deleted and the event audit-logged, committed. ``False`` (nothing written) when
    there was nothing to confirm, e.g. a second click or another clerk's confirmation came
    first; that is harmless, not an error."""
    actor = _require_receipt(actor, application)
    gone = session.execute(_drop_pending(application))
    # A bulk DELETE's row count says whether this request is the one that confirmed.
    if not getattr(gone, "rowcount", 0):
        session.rollback()
        return False
    audit.record(
        session,
        AUDIT_HANDED_OVER,
        actor=actor,
        target=("application", application.id),
        municipality_id=application.municipality_id,
        details={"tracking_number": application.tracking_number},
        ip=ip,
    )
    session.commit()
    return True


def reissue_code(
    session: Session | scoped_session[Session],
    actor: Actor | None,
    application: Application,
    *,
    secret_key: str | bytes,
    ip: str | None = None,
) -> str:
    """Replace the access code of ``application`` with a new one and return it (committed).
    The old code stops working at once (only the new hash is kept); the new code waits in a
    pending receipt like the first one, to be printed and confirmed. Audit-logged without the
    code. The application's version moves on, as for any change to it."""
    actor = _require_receipt(actor, application)
    code, digest = tracking.new_access_secret()
    application.access_secret_hash = digest
    session.execute(_drop_pending(application))
    keep_code(session, application, code, secret_key=secret_key, created_by_id=actor.user_id)
    audit.record(
        session,
        AUDIT_REISSUED,
        actor=actor,
        target=("application", application.id),
        municipality_id=application.municipality_id,
        details={"tracking_number": application.tracking_number},
        ip=ip,
    )
    try:
        session.commit()
    except (StaleDataError, IntegrityError):
        # The application changed meanwhile (its version moved on), or two re-issues raced
        # and the other one's pending row came first: the other change stands, as a whole.
        session.rollback()
        raise ChangedMeanwhile() from None
    return code


def receipt_filename(tracking_number: str) -> str:
    # Tracking numbers are [A-Z0-9-] only, safe in a header as they are.
    return f"receipt-{tracking_number}.pdf"


__all__ = [
    "AUDIT_HANDED_OVER",
    "AUDIT_PRINTED",
    "AUDIT_REISSUED",
    "Receipt",
    "ReceiptLine",
    "build_receipt",
    "confirm_handed_over",
    "has_pending_code",
    "keep_code",
    "may_hand_over",
    "pending_code",
    "receipt_filename",
    "receipt_pdf",
    "reissue_code",
    "render_receipt_pdf",
    "seal_code",
    "unseal_code",
]
