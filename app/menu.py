"""The navbar's menu, rendered once for each language and set of items the reader may see.

Flask-AppBuilder's menu template checks every item's permission and prints some forty
expressions through the translations: about a millisecond of every staff page. What it
prints depends only on the language, the site's root path, the menu's items and which of
them the reader may open, so the HTML is kept per such combination for the life of the
app. Which items the reader may open is still asked on every page (for a signed-in user one
set look-up per item in the pairs their roles hold, app.security's ``menu_access``): a change
to a role's permissions shows in the next page's menu.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask, current_app, render_template, request
from flask_babel import get_locale
from markupsafe import Markup

from app.extensions import current_appbuilder

TEMPLATE = "appbuilder/navbar_menu.html"
# Languages × distinct menus (one per combination of roles): a few dozen in practice; the
# bound only stops a pathological install from growing it without end.
KEPT = 512
EXTENSION = "hamaynk.menu"


def _items(items: list[Any]) -> Iterator[Any]:
    for item in items:
        if item is None:
            continue
        yield item
        yield from _items(item.childs or [])


def navbar_menu() -> Markup:
    """The menu's HTML for this request (``{{ navbar_menu() }}`` in navbar.html)."""
    appbuilder = current_appbuilder()
    menu, sm = appbuilder.menu, appbuilder.sm
    items = list(_items(menu.get_list()))
    allowed = sm.menu_access(item.name for item in items if item.name != "-")
    seen = tuple((item.name, item.name in allowed) for item in items)
    key = (str(get_locale()), request.script_root, seen)
    rendered: dict[tuple[Any, ...], Markup] = current_app.extensions[EXTENSION]
    html = rendered.get(key)
    if html is None:
        # Rendered by Jinja with autoescape on: the HTML is the template's, every value escaped.
        html = Markup(render_template(TEMPLATE, menu=menu))  # noqa: S704  # nosec B704
        if len(rendered) >= KEPT:
            rendered.clear()
        rendered[key] = html
    return html


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = {}
    app.jinja_env.globals["navbar_menu"] = navbar_menu


__all__ = ["init_app", "navbar_menu"]
