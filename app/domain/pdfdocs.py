"""The layout of an issued document (a decision, approving or refusing) as a PDF, with fpdf2.

:func:`render_document` takes an :class:`IssuedContent` — everything the page says, already
in the document's language — and lays it out on A4: the municipality's emblem and name, the
title, number and date, the holder, the decision itself (the service's ``Output`` template
rendered to HTML, or the refusal and its reasons), the form data with the fields' labels, the
signer, and the verification block (the code and a QR code of the public verification URL).

The fonts are DejaVu Sans with Noto Sans Armenian as fallback, both shipped in
``app/static/fonts`` (as for receipts, app.domain.receipts), embedded as subsets with their
Unicode maps, so Armenian, Russian and English text is extracted intact from the PDF. Parsing
a font is the slowest part of a render, so each font is parsed once per process and every
document gets a copy that keeps its own subset (:func:`_install_fonts`).

HTML from a template goes through fpdf2's ``write_html``: headings, paragraphs, bold and
italic, lists and simple tables. Images are removed (a template must not make the renderer
read a file or fetch a URL); the emblem and the QR code are the only pictures.
"""

from __future__ import annotations

import copy
import functools
import io
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import segno
from flask_babel import force_locale
from flask_babel import gettext as _
from fontTools import ttLib  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace, SubsetMap, TextStyle, TTFFont

log = logging.getLogger(__name__)

FONT_DIR = Path(__file__).resolve().parent.parent / "static" / "fonts"
FAMILY = "DejaVuSans"
FALLBACK_FAMILY = "NotoSansArmenian"
FONTS = (
    (FAMILY, "", FONT_DIR / "DejaVuSans.ttf"),
    (FAMILY, "B", FONT_DIR / "DejaVuSans-Bold.ttf"),
    (FALLBACK_FAMILY, "", FONT_DIR / "NotoSansArmenian-Regular.ttf"),
    (FALLBACK_FAMILY, "B", FONT_DIR / "NotoSansArmenian-Bold.ttf"),
)
# Every HTML tag fpdf2 would set in another font, in ours: core fonts have no Armenian.
_BLACK = "#000000"
TAG_STYLES = {
    "h1": TextStyle(font_family=FAMILY, font_style="B", font_size_pt=15, color=_BLACK, t_margin=3, b_margin=2),
    "h2": TextStyle(font_family=FAMILY, font_style="B", font_size_pt=13, color=_BLACK, t_margin=3, b_margin=1),
    "h3": TextStyle(font_family=FAMILY, font_style="B", font_size_pt=12, color=_BLACK, t_margin=2, b_margin=1),
    "h4": TextStyle(font_family=FAMILY, font_style="B", font_size_pt=11, color=_BLACK, t_margin=2, b_margin=1),
    "h5": TextStyle(font_family=FAMILY, font_style="B", font_size_pt=11, color=_BLACK, t_margin=2, b_margin=1),
    "h6": TextStyle(font_family=FAMILY, font_style="B", font_size_pt=11, color=_BLACK, t_margin=2, b_margin=1),
    "blockquote": TextStyle(font_family=FAMILY, color=_BLACK, t_margin=2, b_margin=2, l_margin=8),
    "pre": TextStyle(font_family=FAMILY, t_margin=2, b_margin=2),
    "code": FontFace(family=FAMILY),
    "a": FontFace(color=_BLACK, emphasis="UNDERLINE"),
}
_IMAGES = re.compile(r"<\s*img\b[^>]*>", re.IGNORECASE)
BODY_SIZE = 11
QR_SIZE_MM = 32
EMBLEM_SIZE_MM = 22


@dataclass(frozen=True)
class IssuedContent:
    """What one issued document says, in its language (``language``: hy, en or ru)."""

    language: str
    kind: str  # "approval" or "rejection"
    municipality_name: str
    title: str
    number: str
    issued_on: str  # the date, formatted for the language
    holder_name: str
    service_title: str
    tracking_number: str
    verification_code: str  # formatted: XXXX-XXXX-XXXX-XXXX
    verification_url: str
    # The service's Output template rendered to HTML (approvals); None for a refusal.
    body_html: str | None = None
    # The reasons of a refusal (the rejecting staff member's words).
    reasons: str | None = None
    # The decision's substance: (label, value) per form field that holds a value.
    rows: tuple[tuple[str, str], ...] = ()
    signer_name: str = ""
    signer_role: str = ""
    # The number of the document this one replaces (a re-issue), if any.
    replaces: str | None = None
    emblem: bytes | None = None


class LayoutError(ValueError):
    """fpdf2 could not lay out the template's HTML (markup it does not support)."""


# -- fonts, parsed once per process -----------------------------------------------------------

_FONT_LOCK = threading.Lock()


# OpenType layout tables: fpdf2 drops them from the embedded subset anyway (it shapes no
# text), but fontTools would still parse them on every document.
_UNUSED_TABLES = ("GSUB", "GPOS", "GDEF", "MATH", "FFTM", "hdmx", "meta")


@functools.cache
def _font_bytes(path: Path) -> bytes:
    """The font file without the tables the embedded subset drops anyway."""
    with ttLib.TTFont(str(path), recalcTimestamp=False) as font:
        for tag in _UNUSED_TABLES:
            if tag in font:
                del font[tag]
        out = io.BytesIO()
        font.save(out)
    return out.getvalue()


@functools.cache
def _prototypes() -> dict[str, TTFFont]:
    """Each font parsed once (metrics, character map), keyed by fpdf2's font key."""
    scratch = FPDF()
    for family, style, path in FONTS:
        scratch.add_font(family, style, str(path))
    prototypes = {key: font for key, font in scratch.fonts.items() if isinstance(font, TTFFont)}
    for font in prototypes.values():
        font.ttfont.close()  # what the copies need was read; each gets a font file of its own
    return prototypes


def _install_fonts(pdf: FPDF) -> None:
    """Give ``pdf`` our fonts: copies of the parsed prototypes that share the read-only
    metrics and get their own font file (fpdf2 subsets it in place when writing) and their own
    subset map. Like fpdf2's own ``TTFFont.__deepcopy__``; on any surprise (a newer fpdf2),
    the fonts are parsed the ordinary way."""
    try:
        with _FONT_LOCK:
            prototypes = _prototypes()
        paths = {f"{family.lower()}{style}": path for family, style, path in FONTS}
        for key, path in paths.items():
            font = copy.copy(prototypes[key])
            font.i = len(pdf.fonts) + 1
            font.ttfont = ttLib.TTFont(io.BytesIO(_font_bytes(path)), recalcTimestamp=False, lazy=True)
            font.missing_glyphs = []
            font.biggest_size_pt = 0
            font._hbfont = None
            font.color_font = None
            font.subset = SubsetMap(font)
            pdf.fonts[key] = font
    except Exception:
        log.warning("cannot reuse the parsed fonts; parsing them again", exc_info=True)
        for key in [f"{family.lower()}{style}" for family, style, _path in FONTS]:
            pdf.fonts.pop(key, None)
        for family, style, path in FONTS:
            pdf.add_font(family, style, str(path))
    pdf.set_fallback_fonts([FALLBACK_FAMILY])


# -- pictures ----------------------------------------------------------------------------------


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as a PNG (error correction M, quiet zone of 4 modules)."""
    out = io.BytesIO()
    segno.make(url, error="m", micro=False).save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def _draw_placeholder_emblem(pdf: FPDF, x: float, y: float, size: float) -> None:
    """A neutral shield outline, for a municipality without a coat of arms (vector, no file)."""
    w = size * 0.8
    left = x + (size - w) / 2
    pdf.set_draw_color(110, 110, 110)
    pdf.set_fill_color(235, 235, 235)
    pdf.set_line_width(0.6)
    points = [
        (left, y + size * 0.08),
        (left + w, y + size * 0.08),
        (left + w, y + size * 0.5),
        (left + w / 2, y + size * 0.95),
        (left, y + size * 0.5),
    ]
    pdf.polygon(points, style="DF")
    r = size * 0.12
    pdf.circle(x=x + size / 2, y=y + size * 0.42, radius=r, style="D")
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)


# -- the page ------------------------------------------------------------------------------------


class _DecisionPDF(FPDF):
    def __init__(self, content: IssuedContent) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        _install_fonts(self)
        self.content = content
        self.set_margins(20, 18, 20)
        self.set_auto_page_break(True, margin=18)
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FAMILY, "", 8)
        self.set_text_color(90, 90, 90)
        text = f"{self.content.number} · {self.content.verification_code} · {self.page_no()}/{{nb}}"
        self.cell(0, 5, text, align="C")
        self.set_text_color(0, 0, 0)


def _line(pdf: FPDF, text: str, *, size: float = BODY_SIZE, bold: bool = False, height: float = 6) -> None:
    pdf.set_font(FAMILY, "B" if bold else "", size)
    pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _labelled(pdf: FPDF, label: str, value: str, *, label_width: float = 50) -> None:
    y = pdf.get_y()
    if y > pdf.h - pdf.b_margin - 12:
        pdf.add_page()
        y = pdf.get_y()
    pdf.set_font(FAMILY, "", 9.5)
    pdf.set_text_color(70, 70, 70)
    # Left-aligned (fpdf2 justifies by default, which spreads a short wrapped line); the
    # label's own bottom is where it ended, so a label longer than its value pushes the next row.
    pdf.multi_cell(label_width - 2, 5.5, label, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    label_bottom = pdf.get_y()
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(pdf.l_margin + label_width, y)
    pdf.set_font(FAMILY, "", 10.5)
    pdf.multi_cell(0, 5.5, value or "—", align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), label_bottom, y + 5.5) + 1)


def _header(pdf: _DecisionPDF, content: IssuedContent) -> None:
    top = pdf.get_y()
    x = pdf.l_margin
    if content.emblem:
        try:
            pdf.image(
                io.BytesIO(content.emblem), x=x, y=top, w=EMBLEM_SIZE_MM, h=EMBLEM_SIZE_MM, keep_aspect_ratio=True
            )
        except Exception:
            log.warning("the coat of arms cannot be drawn; using the placeholder emblem", exc_info=True)
            _draw_placeholder_emblem(pdf, x, top, EMBLEM_SIZE_MM)
    else:
        _draw_placeholder_emblem(pdf, x, top, EMBLEM_SIZE_MM)
    text_x = x + EMBLEM_SIZE_MM + 5
    pdf.set_xy(text_x, top + 3)
    pdf.set_font(FAMILY, "B", 13)
    pdf.multi_cell(0, 6.5, content.municipality_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(text_x)
    pdf.set_font(FAMILY, "", 9.5)
    pdf.multi_cell(0, 5, content.service_title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), top + EMBLEM_SIZE_MM) + 3)
    pdf.set_draw_color(120, 120, 120)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.set_draw_color(0, 0, 0)
    pdf.ln(4)


def _body_html(pdf: FPDF, html: str) -> None:
    pdf.set_font(FAMILY, "", BODY_SIZE)
    try:
        pdf.write_html(
            _IMAGES.sub("", html), font_family=FAMILY, tag_styles=TAG_STYLES, warn_on_tags_not_matching=False
        )
    except Exception as exc:
        raise LayoutError(f"{type(exc).__name__}: {exc}") from exc
    pdf.set_font(FAMILY, "", BODY_SIZE)
    pdf.ln(2)


def _verification_block(pdf: FPDF, content: IssuedContent) -> None:
    needed = QR_SIZE_MM + 10
    if pdf.get_y() + needed > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.ln(3)
    top = pdf.get_y()
    pdf.set_draw_color(150, 150, 150)
    pdf.rect(pdf.l_margin, top, pdf.w - pdf.l_margin - pdf.r_margin, QR_SIZE_MM + 4)
    pdf.set_draw_color(0, 0, 0)
    pdf.image(io.BytesIO(qr_png(content.verification_url)), x=pdf.l_margin + 2, y=top + 2, w=QR_SIZE_MM, h=QR_SIZE_MM)
    text_x = pdf.l_margin + QR_SIZE_MM + 6
    width = pdf.w - pdf.r_margin - text_x - 2
    pdf.set_xy(text_x, top + 4)
    pdf.set_font(FAMILY, "", 9)
    pdf.multi_cell(width, 5, _("Verification code"), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "B", 14)
    pdf.multi_cell(width, 7, content.verification_code, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(FAMILY, "", 8.5)
    pdf.multi_cell(
        width,
        4.5,
        _(
            "Anyone can check this document: scan the QR code or open the address below and compare "
            "the document, its number and its status."
        ),
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )
    pdf.multi_cell(width, 4.5, content.verification_url, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_y(top + QR_SIZE_MM + 6)


def render_document(content: IssuedContent) -> bytes:
    """The document as PDF bytes (A4; more pages when the decision is long).

    Raises :class:`LayoutError` when the template's HTML cannot be laid out."""
    with force_locale(content.language):
        pdf = _DecisionPDF(content)
        pdf.set_title(f"{content.title} {content.number}")
        pdf.set_subject(content.service_title)
        pdf.set_author(content.municipality_name)
        pdf.set_creator("Hamaynk")
        pdf.set_lang(content.language)
        pdf.add_page()
        _header(pdf, content)

        if content.kind == "rejection" or not content.body_html:
            pdf.set_font(FAMILY, "B", 15)
            pdf.multi_cell(0, 8, content.title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(2)
        _labelled(pdf, _("Document number"), content.number)
        _labelled(pdf, _("Date of issue"), content.issued_on)
        _labelled(pdf, _("Issued to"), content.holder_name)
        _labelled(pdf, _("Application"), content.tracking_number)
        if content.replaces:
            _labelled(pdf, _("Replaces document"), content.replaces)
        pdf.ln(2)

        if content.kind == "rejection":
            _line(
                pdf,
                _(
                    "The application %(number)s for the service “%(service)s” is refused.",
                    number=content.tracking_number,
                    service=content.service_title,
                ),
            )
            pdf.ln(2)
            _line(pdf, _("Reasons"), bold=True)
            _line(pdf, content.reasons or "—")
            pdf.ln(2)
        elif content.body_html:
            _body_html(pdf, content.body_html)
        else:
            _line(
                pdf,
                _(
                    "The application %(number)s for the service “%(service)s” is approved.",
                    number=content.tracking_number,
                    service=content.service_title,
                ),
            )
            pdf.ln(2)

        if content.rows:
            _line(pdf, _("Details of the application"), size=11.5, bold=True, height=7)
            for label, value in content.rows:
                _labelled(pdf, label, value, label_width=62)
            pdf.ln(2)

        if pdf.get_y() > pdf.h - pdf.b_margin - 25:
            pdf.add_page()
        pdf.ln(4)
        _labelled(pdf, _("Decided by"), content.signer_name or "—")
        if content.signer_role:
            _labelled(pdf, _("Position"), content.signer_role)
        _verification_block(pdf, content)
        return bytes(pdf.output())


__all__ = ["IssuedContent", "LayoutError", "qr_png", "render_document"]
