"""Raw values from outside (form fields, query strings, JSON bodies), read the same strict way
by every channel before the domain sees them.

Whole numbers: ``str.isdigit`` is true for ``"²"`` (which ``int`` then refuses) and ``int``
reads ``"١"`` (Arabic-Indic one) as 1, so only ASCII digits count, and the length is bounded
before ``int`` runs (a 5,000-digit number is refused, not converted).

Text: a lone surrogate (``"\\ud800"``, which JSON allows) cannot be encoded, so the database
write failed; PostgreSQL refuses NUL in text; other C0 control characters have no business in
a name or a comment. Such text is refused with a message naming the field instead.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from flask_babel import gettext as _

# Enough for any 64-bit key; longer input is refused before it is converted.
MAX_DIGITS = 19
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
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("This text contains characters that are not valid Unicode.")
    if _CONTROL.search(value):
        return _("This text contains control characters; remove them.")
    return None


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


__all__ = ["MAX_DIGITS", "text_problem", "text_problems", "whole_number"]
