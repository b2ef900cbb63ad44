"""Locale-aware formatting with no request needed: AMD amounts, dates and times, and the
names of file types.

Every formatter takes its locale as an argument, so a receipt, an e-mail sent by a job and a
case summary come out the same wherever they are made. Templates reach these through
:mod:`app.i18n`, which fills in the locale of the request.
"""

from __future__ import annotations

import datetime as dt
import functools

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal
from flask_babel import get_locale
from flask_babel import gettext as _

from app.domain.declarations import DOCUMENT_TYPES
from app.domain.tracking import OFFICE_TZ
from app.domain.uploads import TYPE_LABELS

DEFAULT_LOCALE = "hy"
DRAM_SIGN = "֏"


def current_locale() -> str:
    """The locale Flask-Babel has in force (a request's, or one set with ``force_locale``)."""
    try:
        return str(get_locale() or DEFAULT_LOCALE)
    except RuntimeError:  # outside an app context: a plain script or test
        return DEFAULT_LOCALE


def format_amd(amount: int | None, locale: str) -> str:
    """``150 000 ֏`` in Armenian and Russian, ``150,000 ֏`` in English: drams have no cents in use."""
    if amount is None:
        return ""
    return f"{format_decimal(int(amount), format='#,##0', locale=locale)}\u00a0{DRAM_SIGN}"


def format_date(value: dt.date | dt.datetime | None, fmt: str, locale: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    return _date_text(value, fmt, locale)


# An inbox page prints 25 due dates, most of them the same few days as the page before:
# Babel takes ~15 µs for each, the cache a dictionary look-up.
@functools.lru_cache(maxsize=4096)
def _date_text(value: dt.date, fmt: str, locale: str) -> str:
    return _babel_date(value, format=fmt, locale=locale)


def format_datetime(value: dt.datetime | None, fmt: str, locale: str) -> str:
    """In the office's time zone; a naive value is taken as UTC, as times are stored."""
    if value is None:
        return ""
    return _babel_datetime(value, format=fmt, locale=locale, tzinfo=OFFICE_TZ)


# A participation window's start and end, and when something in it was said or done, on every
# page and in every message alike: "25 նոյեմբերի 2026, 09:00" -- to the minute (a window is set
# to the minute), the month in full (an abbreviated month reads badly in Armenian).
MOMENT = "d MMMM y, HH:mm"


def format_moment(value: dt.datetime | None, locale: str) -> str:
    """``value`` (stored UTC, naive) in Yerevan time in the :data:`MOMENT` format."""
    return format_datetime(value, MOMENT, locale)


# What kind of thing each accepted file type is, to name it to people as "PDF document" or
# "JPEG image" rather than by its MIME type. The format's own name (TYPE_LABELS) is the same
# in every language; the kind is translated.
_DOCUMENT_KINDS: dict[str, str] = {
    "pdf": "document",
    "jpeg": "image",
    "png": "image",
    "tiff": "image",
    "webp": "image",
    "heic": "image",
    "docx": "document",
    "odt": "document",
    "xlsx": "spreadsheet",
}


def document_type_name(content_type: str | None) -> str:
    """``application/pdf`` -> "PDF document" (in the current language); a type no document
    requirement accepts, or none, is just "File"."""
    wanted = (content_type or "").split(";", 1)[0].strip().lower()
    for name, mimes in DOCUMENT_TYPES.items():
        if wanted in mimes:
            label = TYPE_LABELS.get(name, name.upper())
            kind = _DOCUMENT_KINDS.get(name, "document")
            if kind == "image":
                return _("%(format)s image", format=label)
            if kind == "spreadsheet":
                return _("%(format)s spreadsheet", format=label)
            return _("%(format)s document", format=label)
    return _("File")
