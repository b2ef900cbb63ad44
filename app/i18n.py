"""Locale-aware formatting for templates and code: AMD amounts, dates, declaration texts.

The locale itself is chosen by Flask-AppBuilder's Babel manager (session, set by the language
switcher at /lang/<code>), with Armenian as the default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal
from flask import Flask
from flask_babel import get_locale
from flask_wtf import FlaskForm

from app.domain.declarations import pick
from app.domain.tracking import OFFICE_TZ

DRAM_SIGN = "֏"


def current_locale() -> str:
    try:
        return str(get_locale() or "hy")
    except RuntimeError:  # outside an app context
        return "hy"


def format_amd(amount: int | None, locale: str | None = None) -> str:
    """``150 000 ֏`` in Armenian and Russian, ``150,000 ֏`` in English: drams have no cents in use."""
    if amount is None:
        return ""
    return f"{format_decimal(int(amount), format='#,##0', locale=locale or current_locale())}\u00a0{DRAM_SIGN}"


def format_date(value: dt.date | dt.datetime | None, fmt: str = "medium", locale: str | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    return _babel_date(value, format=fmt, locale=locale or current_locale())


def format_datetime(value: dt.datetime | None, fmt: str = "medium", locale: str | None = None) -> str:
    if value is None:
        return ""
    return _babel_datetime(value, format=fmt, locale=locale or current_locale(), tzinfo=OFFICE_TZ)


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


class _FormTranslations:
    """WTForms' built-in messages ("Not a valid integer value.", …) in the user's language.

    Flask-WTF only looks in WTForms' own catalogs, which have no Armenian; ours carry those
    messages too (scripts/i18n.py merges them), so look there first and fall back to WTForms'.
    """

    def gettext(self, string: str) -> str:
        from flask_babel import get_translations
        from flask_wtf.i18n import translations as wtforms_translations

        translated = get_translations().ugettext(string)
        return translated if translated != string else wtforms_translations.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        from flask_babel import get_translations
        from flask_wtf.i18n import translations as wtforms_translations

        translated = get_translations().ungettext(singular, plural, n)
        if translated not in (singular, plural):
            return translated
        return wtforms_translations.ngettext(singular, plural, n)


FORM_TRANSLATIONS = _FormTranslations()


class HamaynkForm(FlaskForm):
    """The base of every Hamaynk form: Flask-WTF (CSRF) with messages in the user's language."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            return FORM_TRANSLATIONS
