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
from urllib.parse import urlsplit, urlunsplit

from babel.dates import get_date_format
from flask import Flask, current_app, g, redirect, request, session
from flask.typing import ResponseReturnValue
from flask_appbuilder.security.sqla.models import PermissionView, Role
from flask_babel import get_translations, gettext, refresh
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from app.domain import formatting
from app.domain.declarations import pick
from app.domain.formatting import current_locale, document_type_name
from app.domain.formbuilder import FORM_TRANSLATIONS, HamaynkForm
from app.domain.roles import ROLE_LABELS

__all__ = [
    "FORM_TRANSLATIONS",
    "BrandName",
    "HamaynkForm",
    "current_locale",
    "date_input_pattern",
    "display",
    "format_amd",
    "format_date",
    "format_datetime",
    "format_moment",
    "init_app",
    "init_templates",
    "role_label",
    "tr",
]


def format_amd(amount: int | None, locale: str | None = None) -> str:
    return formatting.format_amd(amount, locale or current_locale())


def format_date(value: dt.date | dt.datetime | None, fmt: str = "medium", locale: str | None = None) -> str:
    return formatting.format_date(value, fmt, locale or current_locale())


def format_datetime(value: dt.datetime | None, fmt: str = "medium", locale: str | None = None) -> str:
    return formatting.format_datetime(value, fmt, locale or current_locale())


def format_moment(value: dt.datetime | None, locale: str | None = None) -> str:
    return formatting.format_moment(value, locale or current_locale())


def tr(texts: Mapping[str, str] | None, locale: str | None = None) -> str:
    """A declaration text (mapping language -> text) in the current language."""
    return pick(texts or {}, locale or current_locale())


# Translators: the product's name, shown in the navbar and in every page title. "Hamaynk" is
# Armenian for "community": Armenian writes it in its own script, Russian transliterates it.
BRAND = _l("Hamaynk")


class BrandName(str):
    """The product name as configured (``APP_NAME``), shown in the page's language.

    Flask-AppBuilder's navbar and page shell print ``appbuilder.app_name``, which is the
    config value itself; as this string it prints translated (Jinja asks for ``__html__``,
    string joins for ``__str__``), while code comparing or serialising it (the OpenAPI title)
    still sees the configured text.
    """

    def __str__(self) -> str:
        return gettext(str.__str__(self))

    def __html__(self) -> Markup:
        return escape(str(self))


# Translators: Flask-AppBuilder's role of visitors who have not signed in (it has no rights).
PUBLIC_ROLE = _l("Public")


def role_label(name: str) -> str:
    """A stored role name ("Clerk") as people read it in the current language."""
    label = ROLE_LABELS.get(name) or (PUBLIC_ROLE if name == "Public" else None)
    return str(label) if label is not None else gettext(name)


def display(value: Any) -> Any:
    """What ``{{ value }}`` prints in every template (Jinja's ``finalize``).

    Python's own spellings of values never reach a page: ``True``/``False`` become "Yes"/"No"
    in the page's language and ``None`` prints nothing. Roles print as their labels, and a list
    of roles (Flask-AppBuilder's users and profile pages print the model's list as it is, as
    ``[Clerk]``) as the labels joined. Permissions print as their two stored identifiers
    (Flask-AppBuilder would glue them with an English "on"). Anything else is left alone.
    """
    if value is None:
        return ""
    if value is True:
        return gettext("Yes")
    if value is False:
        return gettext("No")
    if isinstance(value, Role):
        return role_label(value.name)
    if isinstance(value, PermissionView):
        return f"{value.permission} · {value.view_menu}"
    if isinstance(value, list) and value and all(isinstance(v, (Role, PermissionView)) for v in value):
        return ", ".join(str(display(v)) for v in value)
    return value


def select2_texts() -> dict[str, str]:
    """select2's own messages (vendored by Flask-AppBuilder, English only) in the page's
    language; app/static/select2-i18n.js hands them to select2 as its default language."""
    return {
        "errorLoading": gettext("The results could not be loaded."),
        "inputTooLong": gettext("Please delete some characters."),
        "inputTooShort": gettext("Please enter more characters."),
        "loadingMore": gettext("Loading more results…"),
        "maximumSelected": gettext("You cannot choose any more items."),
        "noResults": gettext("No results found"),
        "searching": gettext("Searching…"),
        "removeAllItems": gettext("Remove all items"),
        "removeItem": gettext("Remove item"),
        "search": gettext("Search"),
        "placeholder": gettext("Choose…"),
    }


def date_input_pattern(locale: str | None = None) -> str:
    """How people of ``locale`` type a date, for date fields (app/static/hamaynk.js shows
    ``<input type=date>`` this way, since the browser's own picker follows the browser's
    language, not the page's): the locale's short date with two-digit day and month and a
    four-digit year — ``dd.MM.yyyy`` in hy and ru, ``MM/dd/yyyy`` in en."""
    pattern = get_date_format("short", locale or current_locale()).pattern
    out, previous = [], ""
    for ch in pattern:
        if ch in "dMy":
            if ch != previous:
                out.append({"d": "dd", "M": "MM", "y": "yyyy"}[ch])
        elif ch not in "'":
            out.append(ch)
        previous = ch
    return "".join(out)


# Flask-AppBuilder's language switch (/lang/<code>) goes back through its page history, which
# only its own model views keep: from any other page it lands on "/" (logging "Invalid
# redirect detected"). :func:`_switch_language` answers that endpoint first and returns to the
# page named by ``?next=`` (the navbar's links carry it), else the referring page of this site.
LOCALE_ENDPOINT = "LocaleView.index"
_MAX_NEXT = 2000


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (``/office/?x=1``), else ``None``: never another
    host (``//evil``, ``https://…``, ``/\\evil``), a scheme or control characters."""
    if not target or len(target) > _MAX_NEXT or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target) or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _back_to() -> str:
    target = safe_next(request.args.get("next"))
    if target is None and request.referrer:
        here = urlsplit(request.host_url)
        referrer = urlsplit(request.referrer)
        if (referrer.scheme, referrer.netloc) == (here.scheme, here.netloc):
            target = safe_next(urlunsplit(("", "", referrer.path or "/", referrer.query, "")))
    # Never back to the switch itself (a loop), nor to a page only a POST renders.
    if target is None or urlsplit(target).path.startswith("/lang/"):
        return "/"
    return target


def _switch_language() -> ResponseReturnValue | None:
    if request.endpoint != LOCALE_ENDPOINT:
        return None
    locale = (request.view_args or {}).get("locale")
    if locale not in (current_app.config.get("LANGUAGES") or {}):
        return None  # Flask-AppBuilder's view answers 404
    session["locale"] = locale
    refresh()
    return redirect(_back_to())


def _fresh_locale() -> None:
    # Flask-Babel keeps the locale it chose on the application context. A server pushes one
    # per request, but requests made inside an already pushed context (a test client, a
    # request replayed in-process) would keep the first request's language.
    refresh()


def init_app(app: Flask) -> None:
    # First of all before-request functions: every later one (the input layer's refusals
    # included) speaks this request's language.
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_locale)
    app.before_request(_switch_language)
    app.jinja_env.filters["amd"] = format_amd
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["datetime"] = format_datetime
    # Participation pages' windows and times (formatting.MOMENT).
    app.jinja_env.filters["moment"] = format_moment
    app.jinja_env.filters["tr"] = tr
    app.jinja_env.filters["type_name"] = document_type_name
    # Before any template is compiled: Jinja builds finalize into the compiled code.
    app.jinja_env.finalize = display
    app.config["APP_NAME"] = BrandName(app.config.get("APP_NAME") or "Hamaynk")

    @app.context_processor
    def _locale() -> dict[str, Any]:
        return {
            "current_locale": current_locale(),
            "brand": BRAND,
            "select2_texts": select2_texts,
            "date_input_pattern": date_input_pattern,
        }


# -- templates' translations ---------------------------------------------------------------
#
# A page prints some seventy translated strings. Flask-Babel finds the translations anew for
# each (the domain, then the locale, then the catalogue, each through Flask's ``g``), which
# was about a tenth of a page's time. Here they are found once and kept on Flask-Babel's own
# per-request namespace, next to the locale they belong to: ``refresh()`` (a language
# switch) drops that locale, and ``force_locale`` sets another, so either makes the next
# string look them up again.

_KEPT_TRANSLATIONS = "hamaynk_translations"


def page_translations() -> Any:
    """The translations in force for this request (or forced locale)."""
    try:
        ns = g._flask_babel
    except (AttributeError, RuntimeError):  # no request, or Flask-Babel has not looked yet
        return get_translations()
    locale, domain = getattr(ns, "babel_locale", None), getattr(ns, "babel_domain", None)
    kept = getattr(ns, _KEPT_TRANSLATIONS, None)
    if locale is not None and kept is not None and kept[0] is locale and kept[1] is domain:
        return kept[2]
    translations = get_translations()
    setattr(ns, _KEPT_TRANSLATIONS, (getattr(ns, "babel_locale", None), domain, translations))
    return translations


def init_templates(app: Flask) -> None:
    """Once Flask-AppBuilder has set up Flask-Babel (which installs its own callables)."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )
