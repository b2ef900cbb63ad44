"""Locale-aware formatting for templates: AMD amounts, dates, declaration texts.

The locale itself is chosen by Flask-AppBuilder's Babel manager (session, set by the language
switcher at /lang/<code>), with Armenian as the default. The formatters are the domain's
(:mod:`app.domain.formatting`, which needs no request); here they default to the request's
locale. The base form lives with the form builder and is imported from here by the audiences.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask import Flask

from app.domain import formatting
from app.domain.declarations import pick
from app.domain.formatting import current_locale
from app.domain.formbuilder import FORM_TRANSLATIONS, HamaynkForm

__all__ = [
    "FORM_TRANSLATIONS",
    "HamaynkForm",
    "current_locale",
    "format_amd",
    "format_date",
    "format_datetime",
    "init_app",
    "tr",
]


def format_amd(amount: int | None, locale: str | None = None) -> str:
    return formatting.format_amd(amount, locale or current_locale())


def format_date(value: dt.date | dt.datetime | None, fmt: str = "medium", locale: str | None = None) -> str:
    return formatting.format_date(value, fmt, locale or current_locale())


def format_datetime(value: dt.datetime | None, fmt: str = "medium", locale: str | None = None) -> str:
    return formatting.format_datetime(value, fmt, locale or current_locale())


def tr(texts: Mapping[str, str] | None, locale: str | None = None) -> str:
    """A declaration text (mapping language -> text) in the current language."""
    return pick(texts or {}, locale or current_locale())


def init_app(app: Flask) -> None:
    app.jinja_env.filters["amd"] = format_amd
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    app.jinja_env.filters["tr"] = tr

    @app.context_processor
    def _locale() -> dict[str, Any]:
        return {"current_locale": current_locale()}
