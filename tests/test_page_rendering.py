"""What pages keep between requests to render faster, and that none of it goes stale: the
navbar's menu (app.menu), the templates' translations (app.i18n.page_translations) and the
sign-in SELECT (app.domain.sessions)."""

from __future__ import annotations

import re

from flask import render_template_string, template_rendered
from flask_babel import force_locale, refresh

from app import i18n, menu
from app.domain import roles, sessions
from app.extensions import current_appbuilder, db

INBOX = "/workspace/?tab=all"
NAVBAR = re.compile(r'<nav class="navbar.*?</nav>', re.S)


def navbar(html: str) -> str:
    found = NAVBAR.search(html)
    assert found is not None, "no navbar on the page"
    return found.group(0)


def rendered_templates(app, client, path: str) -> list[str]:
    seen: list[str] = []

    def record(_sender, template, **_extra):
        seen.append(template.name)

    template_rendered.connect(record, app)
    try:
        assert client.get(path).status_code == 200
    finally:
        template_rendered.disconnect(record, app)
    return seen


def test_the_menu_is_rendered_once_per_language_and_set_of_items(app, client, login_as):
    login_as("clerk")
    assert rendered_templates(app, client, INBOX).count(menu.TEMPLATE) == 1
    assert rendered_templates(app, client, INBOX).count(menu.TEMPLATE) == 0
    # Another page, the same reader and language: the same menu.
    assert rendered_templates(app, client, "/workspace/questions/").count(menu.TEMPLATE) == 0
    client.get("/lang/en")
    assert rendered_templates(app, client, INBOX).count(menu.TEMPLATE) == 1
    assert rendered_templates(app, client, INBOX).count(menu.TEMPLATE) == 0


def test_the_kept_menu_prints_what_a_fresh_render_prints(app, client, login_as):
    login_as("clerk")
    first = navbar(client.get(INBOX).get_data(as_text=True))
    kept = navbar(client.get(INBOX).get_data(as_text=True))
    assert kept == first
    assert "Մուտքային" in kept and "Գրասենյակ" in kept  # "Inbox" under "Office", in Armenian
    client.get("/lang/en")
    english = navbar(client.get(INBOX).get_data(as_text=True))
    assert re.search(r">\s*Inbox</a>", english)
    assert "Մուտքային" not in english


def test_a_menu_item_taken_from_a_role_leaves_the_next_page(app, client, login_as):
    login_as("clerk")
    assert "/office/residents/" in navbar(client.get(INBOX).get_data(as_text=True))
    with app.app_context():
        sm = current_appbuilder().sm
        role = sm.find_role(roles.CLERK)
        pv = sm.find_permission_view_menu("menu_access", "Residents")
        assert pv in role.permissions
        role.permissions.remove(pv)
        db.session.commit()
    assert "/office/residents/" not in navbar(client.get(INBOX).get_data(as_text=True))
    with app.app_context():
        sm = current_appbuilder().sm
        role = sm.find_role(roles.CLERK)
        role.permissions.append(sm.find_permission_view_menu("menu_access", "Residents"))
        db.session.commit()
    assert "/office/residents/" in navbar(client.get(INBOX).get_data(as_text=True))


def test_the_menus_items_are_those_each_reader_has_access_to(app, client, login_as):
    """``menu_access`` (one look-up of the reader's pairs) answers for every item what
    Flask-AppBuilder's ``has_access`` answers item by item, for each role and for a visitor;
    with a role that holds different items, so a wrong answer cannot pass as the same menu."""
    seen: dict[str, frozenset[str]] = {}

    def check(who: str) -> None:
        def compare(_sender, template, context, **_extra):
            if who in seen:  # the page's own template (the menu's is rendered inside it)
                return
            sm = current_appbuilder().sm
            names = [item.name for item in menu._items(sm.appbuilder.menu.get_list()) if item.name != "-"]
            expected = frozenset(name for name in names if sm.has_access("menu_access", name))
            assert sm.menu_access(names) == expected, who
            seen[who] = expected

        template_rendered.connect(compare, app)
        try:
            assert client.get(INBOX if who != "visitor" else "/login/").status_code == 200
        finally:
            template_rendered.disconnect(compare, app)

    check("visitor")
    for role in ("clerk", "specialist", "head", "auditor", "municipal_admin", "system_admin"):
        client.get("/logout/")
        login_as(role)
        check(role)
    assert len(set(seen.values())) >= 4, seen
    assert "Residents" in seen["clerk"] and "Residents" not in seen["visitor"]


def test_templates_translate_in_the_forced_and_the_refreshed_language(app):
    template = "{{ _('Yes') }}|{{ ngettext('%(num)d day', '%(num)d days', 2) }}"
    with app.test_request_context(headers={"Accept-Language": "hy"}):
        armenian = render_template_string(template)
        with force_locale("en"):
            english = render_template_string(template)
        with force_locale("ru"):
            russian = render_template_string(template)
        assert render_template_string(template) == armenian
        refresh()
        assert render_template_string(template) == armenian
    assert english == "Yes|2 days"
    assert armenian != english and russian not in (armenian, english)
    assert armenian.split("|")[0] == "Այո"


def test_templates_translate_outside_a_request(app):
    with app.app_context():
        assert i18n.page_translations() is not None
        assert render_template_string("{{ _('Yes') }}") in ("Այո", "Yes")


def test_the_sign_in_select_is_built_once(app, client, login_as):
    login_as("clerk")
    assert client.get(INBOX).status_code == 200
    built = dict(sessions._WITH_USER)
    assert built, "no sign-in SELECT was kept"
    assert client.get(INBOX).status_code == 200
    assert client.get("/workspace/questions/").status_code == 200
    assert built == sessions._WITH_USER
    assert all(a is b for a, b in zip(sessions._WITH_USER.values(), built.values(), strict=True))
