"""Translations: complete catalogs, compiled files in step with them, and pages that really
come out in Armenian (the default) and Russian — Flask-AppBuilder's screens included, whose
Armenian lives only in our catalog."""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from flask_babel import force_locale, gettext

ROOT = Path(__file__).resolve().parent.parent


def _load_script():
    spec = importlib.util.spec_from_file_location("hamaynk_i18n_script", ROOT / "scripts" / "i18n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


i18n = _load_script()
TRANSLATED = [locale for locale in i18n.LOCALES if locale != i18n.SOURCE_LOCALE]


def _catalog(locale):
    return i18n.read_catalog(i18n.po_path(locale), locale)


def _ids(catalog):
    return {(m.context, m.id) for m in catalog if m.id}


def _text(response) -> str:
    return response.get_data(as_text=True)


# --- (a) complete, reviewed catalogs ---------------------------------------------------------


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_message_is_translated_and_reviewed(locale):
    catalog = _catalog(locale)
    assert sum(1 for m in catalog if m.id) > 100
    assert i18n.problems(catalog) == []


@pytest.mark.parametrize("locale", TRANSLATED)
def test_placeholders_survive_translation(locale):
    catalog = _catalog(locale)
    checked = 0
    for message in catalog:
        if not message.id or "%" not in str(message.id):
            continue
        assert "python-format" in message.flags, message.id
        ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        allowed = [sorted(re.findall(r"%\([a-z_]+\)[sd]", text)) for text in ids]
        for text in strings:
            assert sorted(re.findall(r"%\([a-z_]+\)[sd]", text)) in allowed, (message.id, message.string)
        checked += 1
    assert checked > 0
    # babel's own python-format checker agrees
    assert [(m.id, errors) for m, errors in catalog.check()] == []


def test_english_catalog_exists_with_every_msgid():
    assert _ids(_catalog("en")) == _ids(_catalog("hy")) == _ids(_catalog("ru"))


def test_role_names_are_translated():
    from app.domain.roles import ALL_ROLES, ROLE_LABELS

    assert set(ROLE_LABELS) == set(ALL_ROLES)
    hy = _catalog("hy")
    for role in ALL_ROLES:
        assert hy[role].string and hy[role].string != role


# --- (b) compiled catalogs in step with the sources ------------------------------------------


def _as_tuple(value):
    # Plural entries (WTForms has some) carry lists of forms.
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _translations(catalog):
    return {
        (m.context, _as_tuple(m.id)): _as_tuple(m.string)
        for m in catalog
        if m.id
        and not m.fuzzy
        and m.string
        and all(_as_tuple(m.string) if isinstance(m.string, (list, tuple)) else [m.string])
        # babel compiles an untranslated plural entry as its own source text: nothing translated
        and _as_tuple(m.string) != _as_tuple(m.id)
    }


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_mo_files_match_po_files(locale):
    path = i18n.mo_path(locale)
    assert path.exists(), f"{path} is missing: run `python scripts/i18n.py compile`"
    with open(path, "rb") as fileobj:
        compiled = read_mo(fileobj)
    assert _translations(compiled) == _translations(_catalog(locale)), (
        f"{path.name} for {locale} is stale: run `python scripts/i18n.py compile`"
    )


# --- (e) nothing extracted from the code is missing from the catalogs ------------------------


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """Run the same extraction as `scripts/i18n.py extract`, into a temporary .pot."""
    template = i18n.build_template()
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    pot.write_bytes(i18n._po_bytes(template))
    return i18n.read_catalog(pot)


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_extracted_message_is_in_the_catalog(extracted, locale):
    missing = sorted(str(mid) for _, mid in _ids(extracted) - _ids(_catalog(locale)))
    assert missing == [], (
        f"{len(missing)} new string(s) not in {locale}: run `python scripts/i18n.py extract`, "
        f"translate, then `python scripts/i18n.py compile`"
    )


def test_extraction_covers_app_plugins_templates_and_fab(extracted):
    files = {loc[0] for m in extracted for loc in m.locations}
    assert any(f.startswith("app/") and f.endswith(".py") for f in files)
    assert any(f.startswith("app/templates/") for f in files)
    assert any(f.startswith("plugins/") for f in files)
    assert any(f.startswith("flask_appbuilder/") for f in files)
    # Flask-AppBuilder strings our catalogs must carry because it has no Armenian of its own
    for msgid in (
        "Sign In",
        "Added Row",
        "Changed Row",
        "Invalid login. Please try again.",
        "Record Count",
        "Add Filter",
        "Security",
        "List Users",
        "Reset my password",
        "Are you sure you want to delete this item?",
    ):
        assert msgid in extracted, msgid
    # role labels are marked in app.security
    for msgid in ("System admin", "Municipal admin", "Clerk", "Specialist", "Head", "Auditor", "Citizen"):
        assert msgid in extracted, msgid


# --- (c) the login page, Armenian by default and Russian on request --------------------------


def test_login_page_is_armenian_by_default(client):
    html = _text(client.get("/login/"))
    assert re.search(r'<html lang="hy"[ >]', html)
    assert ">Օգտանուն:</label>" in html
    assert ">Գաղտնաբառ:</label>" in html
    assert 'type="submit" value="Մուտք գործել"' in html
    assert "Մուտքագրեք Ձեր օգտանունը և գաղտնաբառը" in html
    for english in ("User Name", ">Username", ">Password", 'value="Sign In"'):
        assert english not in html


def test_login_page_in_russian_after_switching(client):
    response = client.get("/lang/ru")
    assert response.status_code == 302
    html = _text(client.get("/login/"))
    assert re.search(r'<html lang="ru"[ >]', html)
    assert ">Имя пользователя:</label>" in html
    assert ">Пароль:</label>" in html
    assert 'type="submit" value="Войти"' in html


def test_english_is_available_too(client):
    client.get("/lang/en")
    html = _text(client.get("/login/"))
    assert re.search(r'<html lang="en"[ >]', html)
    assert 'value="Sign In"' in html


def test_failed_login_message_is_armenian(client):
    response = client.post("/login/", data={"username": "nobody", "password": "wrong-password"}, follow_redirects=True)
    assert "Մուտքը չհաջողվեց" in _text(response)


# --- (d) signed-in screens -------------------------------------------------------------------


def test_navbar_and_department_list_in_armenian(client, login_as):
    login_as("municipal_admin")
    home = _text(client.get("/"))
    # menu category and items, account menu
    for label in ("Համայնք", "Ծառայություններ", "Բաժիններ", "Աշխատակիցներ", "Անձնական էջ", "Ելք"):
        assert label in home, label

    response = client.get("/admin/departments/list/")
    assert response.status_code == 200
    html = _text(response)
    # our column labels and title, and Flask-AppBuilder's own widgets
    for label in (
        "Բաժիններ",
        "Ծածկագիր",
        "Անվանում (հայերեն)",
        "Որոնում",
        "Ավելացնել զտիչ",
        "Գրառումների քանակ",
        "Խմբագրել",
        "Ջնջել",
        "Դիտել",
    ):
        assert label in html, label
    for english in ("Record Count", "Add Filter", ">Search<", "Name (Armenian)"):
        assert english not in html, english


def test_department_list_in_russian(client, login_as):
    login_as("municipal_admin")
    client.get("/lang/ru")
    html = _text(client.get("/admin/departments/list/"))
    for label in ("Отделы", "Сотрудники", "Код", "Количество записей", "Добавить фильтр", "Выйти"):
        assert label in html, label


def test_role_labels_render_through_gettext(app):
    from app.domain.roles import ALL_ROLES, ROLE_LABELS

    with app.test_request_context():
        with force_locale("hy"):
            assert gettext("Clerk") == str(ROLE_LABELS["Clerk"]) == "Օպերատոր"
            assert gettext("Municipal admin") == "Համայնքի ադմինիստրատոր"
            assert all(gettext(role) != role for role in ALL_ROLES)
        with force_locale("ru"):
            assert gettext("System admin") == "Системный администратор"
            assert all(gettext(role) != role for role in ALL_ROLES)


# --- the language switcher -------------------------------------------------------------------


def test_language_switcher_is_named_and_keyboard_reachable(client):
    html = _text(client.get("/login/"))
    # a focusable toggle that announces a menu, labelled with the current language in words
    assert re.search(r'<a href="#" id="hamaynk-language-toggle"[^>]*aria-haspopup="true"', html, re.S)
    assert '<span lang="hy">Հայերեն</span>' in html
    for code, name in (("hy", "Հայերեն"), ("en", "English"), ("ru", "Русский")):
        # each link brings the reader back to the page it was followed from
        assert re.search(
            rf'<a href="/lang/{code}(\?next=[^"]*)?" lang="{code}" hreflang="{code}"[^>]*>.*?{name}', html, re.S
        ), code
    assert re.search(r'<a href="/lang/hy[^"]*" lang="hy" hreflang="hy"[^>]*aria-current="true">', html)
    client.get("/lang/ru")
    html = _text(client.get("/login/"))
    assert '<span lang="ru">Русский</span>' in html
    assert re.search(r'hreflang="ru"[^>]*aria-current="true"', html)
    assert "Язык" in html


# --- (f) locale-aware formatting -------------------------------------------------------------
#
# The patterns themselves are CLDR's, and change between Babel releases (2.17 turned the
# Armenian long date around): expectations come from Babel's own data, and the tests check what
# is ours — the right locale reaches Babel, the month is named in its "format" case, the dram
# sign and the no-break space before it, empty input gives an empty string.

DAY = dt.date(2025, 3, 21)


def _month(locale: str, width: str = "wide", context: str = "format") -> str:
    """March as a date spells it (Armenian and Russian decline it: "մարտի", "марта")."""
    from babel.dates import get_month_names

    return get_month_names(width, context=context, locale=locale)[DAY.month]


def _grouped(digits: str, locale: str) -> str:
    from babel.numbers import get_group_symbol

    return digits.replace(",", get_group_symbol(locale=locale))


@pytest.mark.parametrize("locale", ["hy", "ru", "en"])
def test_format_amd_per_locale(locale):
    from app.i18n import format_amd

    # Babel groups the digits as the locale does; the dram sign follows a no-break space.
    assert format_amd(150000, locale) == _grouped("150,000", locale) + "\u00a0֏"
    assert format_amd(1234567, locale) == _grouped("1,234,567", locale) + "\u00a0֏"
    assert format_amd(0, locale) == "0\u00a0֏"
    assert format_amd(None, locale) == ""


def test_armenian_and_russian_group_digits_unlike_english():
    from app.i18n import format_amd

    assert format_amd(150000, "hy") != format_amd(150000, "en")
    assert "," not in format_amd(150000, "hy")


@pytest.mark.parametrize("locale", ["hy", "ru", "en"])
def test_each_date_format_is_its_own_and_carries_the_whole_date(locale):
    from app.i18n import format_date

    long, medium, short = (format_date(DAY, fmt, locale) for fmt in ("long", "medium", "short"))
    assert len({long, medium, short}) == 3
    assert "2025" in medium and re.search(r"\b21\b", medium)
    assert _month(locale, "abbreviated") in medium
    # The short form numbers the month; the year may be cut to two digits.
    assert re.search(r"\b0?3\b", short) and re.search(r"\b21\b", short) and re.search(r"\b(20)?25\b", short)


@pytest.mark.parametrize("fmt", ["long", "medium", "short"])
def test_a_timestamp_shows_as_its_own_date(fmt):
    from app.i18n import format_date

    # A step's due moment is the last second of its due day: it must not roll over to the next.
    assert format_date(dt.datetime(2025, 3, 21, 23, 59, 59), fmt, "hy") == format_date(DAY, fmt, "hy")


@pytest.mark.parametrize("locale", ["hy", "ru", "en"])
def test_long_date_names_day_month_and_year(locale):
    from app.i18n import format_date

    long = format_date(DAY, "long", locale)
    assert re.search(r"\b21\b", long) and "2025" in long
    assert _month(locale) in long
    assert not re.search(r"\b0?3\b", long), "a long date names the month instead of numbering it"


def test_armenian_long_date_is_armenian():
    from app.i18n import format_date

    long = format_date(DAY, "long", "hy")
    assert re.search(r"[\u0531-\u0587]", _month("hy")), "Armenian letters"
    # The month is in the genitive ("մարտի"), not as it stands alone ("մարտ").
    assert _month("hy") != _month("hy", context="stand-alone")
    assert re.search(rf"\b{_month('hy')}\b", long) and "2025" in long and re.search(r"\b21\b", long)
    assert long != format_date(DAY, "long", "en")
    assert format_date(None, "long", "hy") == ""


def test_formatting_follows_the_request_locale(app):
    from app.i18n import format_amd, format_date

    with app.test_request_context("/"):
        # Armenian by default
        assert format_amd(150000) == format_amd(150000, "hy")
        assert format_date(DAY, "long") == format_date(DAY, "long", "hy")
        assert _month("hy") in format_date(DAY, "long")
        with force_locale("en"):
            assert format_amd(150000) == format_amd(150000, "en")
            assert format_date(DAY, "long") == format_date(DAY, "long", "en")
        with force_locale("ru"):
            assert format_date(DAY, "long") == format_date(DAY, "long", "ru")


# --- no English left around the data (issue 8) ------------------------------------------------


def test_the_brand_is_shown_in_the_ui_language(client, app):
    html = _text(client.get("/login/"))
    assert re.search(r"<title>[^<]*Համայնք</title>", html)
    client.get("/lang/ru")
    html = _text(client.get("/login/"))
    assert re.search(r"<title>[^<]*Хамайнк</title>", html) and "Hamaynk" not in html
    # the configured name itself is unchanged for code and the API's description
    assert app.config["APP_NAME"] == "Hamaynk"


def test_values_print_in_the_page_language(app):
    from flask import render_template_string

    with app.test_request_context(), force_locale("hy"):
        assert render_template_string("{{ a }}|{{ b }}|{{ c }}|{{ d }}", a=True, b=False, c=None, d=0) == "Այո|Ոչ||0"
    with app.test_request_context(), force_locale("ru"):
        assert render_template_string("{{ a }}|{{ b }}", a=True, b=False) == "Да|Нет"


def test_profile_and_users_pages_show_role_labels_and_no_booleans(client, login_as):
    login_as("clerk")
    html = _text(client.get("/users/userinfo/"))
    assert "Օպերատոր" in html
    # (the test clerk's first name is "Clerk": data, so the role is looked for in brackets)
    for english in ("[Clerk]", "True", "False", "None"):
        assert english not in html, english
    login_as("system_admin")
    client.get("/lang/ru")
    html = _text(client.get("/users/list/"))
    assert "Оператор" in html and "Администратор общины" in html
    assert "[Clerk]" not in html and "True" not in html
    roles = _text(client.get("/roles/list/"))
    assert "Системный администратор" in roles and ">System admin<" not in roles
    form = _text(client.get("/users/add"))
    assert re.search(r"<option[^>]*>Оператор</option>", form)


@pytest.mark.parametrize(
    ("mime", "hy", "ru"),
    [
        ("application/pdf", "PDF փաստաթուղթ", "документ PDF"),
        ("image/jpeg", "JPEG պատկեր", "изображение JPEG"),
        ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "XLSX աղյուսակ", "таблица XLSX"),
        ("application/x-unknown", "Ֆայլ", "Файл"),
    ],
)
def test_file_types_are_named_not_given_as_mime_types(app, mime, hy, ru):
    from app.domain.formatting import document_type_name

    with app.test_request_context():
        with force_locale("hy"):
            assert document_type_name(mime) == hy
        with force_locale("ru"):
            assert document_type_name(mime) == ru


def test_select2_gets_its_texts_in_the_page_language(client, login_as):
    import html as html_module

    login_as("system_admin")
    page = _text(client.get("/users/add"))
    found = re.search(r"<script src=\"/static/select2-i18n.js\" data-texts='([^']*)'", page)
    assert found, "the page loads select2's language after select2"
    texts = __import__("json").loads(html_module.unescape(found.group(1)))
    assert texts["removeAllItems"] == "Հեռացնել բոլորը"
    assert texts["noResults"] == "Արդյունքներ չեն գտնվել"
    assert (ROOT / "app" / "static" / "select2-i18n.js").exists()


def test_words_with_two_meanings_are_extracted_with_their_context(extracted):
    """ "Open" the stage of a process (Armenian "Բաց") is not "Open" the link ("Բացել"): both
    lazy_pgettext in Python and pgettext in templates reach the catalog with their context."""
    ids = _ids(extracted)
    assert ("process stage", "Open") in ids and (None, "Open") in ids
    assert ("heading", "Support") in ids and (None, "Support") in ids
