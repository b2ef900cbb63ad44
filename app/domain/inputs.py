"""Raw values from outside (form fields, query strings, JSON bodies), read the same strict way
by every channel before the domain sees them.

Whole numbers: ``str.isdigit`` is true for ``"²"`` (which ``int`` then refuses) and ``int``
reads ``"١"`` (Arabic-Indic one) as 1, so only ASCII digits count, and the length is bounded
before ``int`` runs (a 5,000-digit number is refused, not converted).

Text: a lone surrogate (``"\\ud800"``, which JSON allows) cannot be encoded, so the database
write failed; PostgreSQL refuses NUL in text; other C0 control characters have no business in
a name or a comment; and no single value is longer than :data:`MAX_TEXT` (fields keep their own,
smaller limits). Such text is refused with a message naming the field instead.

app.cleaning applies these checks to every request before any view runs; views and the domain
call them again where a value arrives some other way (a plug-in hook, an identity provider).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

from flask_babel import gettext as _

# Enough for any 64-bit key; longer input is refused before it is converted.
MAX_DIGITS = 19
# The largest key a row can have: every key is an INTEGER column, which PostgreSQL holds in
# 32 bits (a larger number in a query is an "integer out of range" error there, not "no row").
MAX_ID = 2**31 - 1
# Generous for any one form field, query value or JSON string (a service definition pasted into
# the builder included); a field's own, smaller limit still applies after this one.
MAX_TEXT = 100_000
# An integer as a form or query value: optional sign, ASCII digits.
_SIGNED = re.compile(r"\s*[+-]?[0-9]+\s*")
_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")
# C0 controls except tab, line feed and carriage return (text areas send CR LF).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def whole_number(value: Any, maximum: int, minimum: int = 1) -> int | None:
    """``value`` as an int from ``minimum`` to ``maximum`` — a JSON integer (not a boolean)
    or text of ASCII digits, surrounding spaces allowed — or ``None`` for anything else, so
    the caller reports what it needed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if minimum <= number <= maximum else None


def date_filter(value: Any, problems: list[str]) -> dt.date | None:
    """A list filter's date (``YYYY-MM-DD``), or ``None`` when absent; anything else is
    ignored, with a message added to ``problems`` for the page to show."""
    raw = value.strip() if isinstance(value, str) else ""
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    problems.append(_("Enter dates as YYYY-MM-DD; the date filter was ignored."))
    return None


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None`` when it can."""
    if len(value) > MAX_TEXT:
        return _("This text is too long: at most %(count)s characters are accepted.", count=MAX_TEXT)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("This text contains characters that are not valid Unicode.")
    if _CONTROL.search(value):
        return _("This text contains control characters; remove them.")
    return None


def percent_encoded_problem(raw: bytes) -> str | None:
    """Why a query string or form-urlencoded body is not UTF-8 text once its ``%`` escapes are
    decoded, or ``None`` when it is. Werkzeug would keep ``%FF`` as the literal text "%FF"."""
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return _("This text contains characters that are not valid Unicode.")
    return None


def too_large_number(value: str) -> bool:
    """True for an integer (sign and ASCII digits) beyond :data:`MAX_ID`: no key or count a
    database column holds, and ``int`` of it would overflow every 64-bit query parameter."""
    if not _SIGNED.fullmatch(value):
        return False
    digits = value.strip().lstrip("+-").lstrip("0")
    return len(digits) > MAX_DIGITS or int(digits or "0") > MAX_ID


def text_problems(value: Any, name: str) -> dict[str, str]:
    """``{field: message}`` for every string in ``value`` (walking objects and lists; object
    keys included) that :func:`text_problem` refuses, named by its path under ``name``."""
    if isinstance(value, str):
        problem = text_problem(value)
        return {name: problem} if problem else {}
    errors: dict[str, str] = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = text_problem(key) if isinstance(key, str) else None
            if problem:
                # The key itself cannot be echoed back safely: name its parent.
                errors.setdefault(name, problem)
            else:
                errors.update(text_problems(item, f"{name}.{key}" if name else str(key)))
    elif isinstance(value, list):
        for item in value:
            errors.update(text_problems(item, name))
    return errors


__all__ = [
    "MAX_DIGITS",
    "MAX_ID",
    "MAX_TEXT",
    "percent_encoded_problem",
    "text_problem",
    "text_problems",
    "too_large_number",
    "whole_number",
]
