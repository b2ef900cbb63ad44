#!/usr/bin/env python
"""Hamaynk's message catalogs: extract, update and compile. Re-runnable; see docs/translations.md.

    python scripts/i18n.py extract   # messages.pot from our code + Flask-AppBuilder's msgids,
                                     # then hy/en/ru .po updated (existing translations kept)
    python scripts/i18n.py compile   # every .po -> .mo (the .mo files are committed)
    python scripts/i18n.py check     # list untranslated, fuzzy and placeholder-mismatched entries

Flask-AppBuilder ships no Armenian catalog, so every string its screens show (login form,
list/show/edit pages, filters, flash messages, the Security menu) has to be in *our* catalog.
Its msgids are taken, as data, from the installed package: the msgids of its bundled Russian
catalog plus whatever its own Python code and templates mark for translation (that catalog
lags behind its code). Our catalogs are merged after Flask-AppBuilder's at run time, so our
translations win where both have one.

Files are only rewritten when their messages change, so re-running produces no churn.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
MAPPING_FILE = ROOT / "babel.cfg"
TRANSLATIONS_DIR = ROOT / "app" / "translations"
TEMPLATE_FILE = TRANSLATIONS_DIR / "messages.pot"
DOMAIN = "messages"
# Armenian first; English is the source language (its catalog stays empty on purpose).
LOCALES = ("hy", "en", "ru")
SOURCE_LOCALE = "en"
# Gettext-style keyword specs, as `pybabel extract -k` takes them.
KEYWORD_SPECS = (
    "_",
    "gettext",
    "ngettext:1,2",
    "_l",
    "lazy_gettext",
    "lazy_ngettext:1,2",
    "pgettext:1c,2",
    "npgettext:1c,2,3",
    "lazy_pgettext:1c,2",
    # Flask-AppBuilder's help texts on the users page ("The user role on the application, ...").
    "lazy_formatter_gettext",
)
COMMENT_TAGS = ("Translators:",)
FAB_COMMENT = "Flask-AppBuilder"
PROJECT = "Hamaynk"
WIDTH = 76
HEADER_COMMENT = """\
# Translations for Hamaynk (template: app/translations/messages.pot).
# This file is distributed under the same license as the Hamaynk project.
# Edit msgstr lines only; `python scripts/i18n.py extract` keeps them when the msgids change.
# See docs/translations.md.
#"""
# Lines of a .po/.pot header that change on every write without any message changing.
_VOLATILE_HEADER = re.compile(rb'^"(POT-Creation-Date|PO-Revision-Date|Generated-By): .*\\n"\n', re.M)
# A brace pair {name} is a str.format placeholder; doubled braces ({{ and }}) are literal braces.
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]|(?<!\{)\{[^{}]*\}(?!\})")


def keywords() -> dict:
    from babel.messages.frontend import parse_keywords

    return parse_keywords(KEYWORD_SPECS)


def fab_dir() -> Path:
    import flask_appbuilder

    return Path(flask_appbuilder.__file__).resolve().parent


def po_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(locale: str) -> Path:
    return TRANSLATIONS_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _new_catalog(locale: str | None = None) -> Catalog:
    return Catalog(
        locale=locale,
        domain=DOMAIN,
        project=PROJECT,
        version="1",
        copyright_holder="Hamaynk contributors",
        last_translator="Hamaynk contributors",
        language_team=f"{locale} <translations@hamaynk>" if locale else "LANGUAGE <translations@hamaynk>",
        msgid_bugs_address="",
        header_comment=HEADER_COMMENT,
        fuzzy=False,
    )


def _add_extracted(catalog: Catalog, results: Iterable, prefix: str = "", comment: str | None = None) -> None:
    """Add extract_from_dir() results; their file names are relative to the scanned directory."""
    for filename, lineno, message, comments, context in results:
        auto_comments = list(comments) + ([comment] if comment else [])
        location = (f"{prefix}{Path(filename).as_posix()}", lineno)
        catalog.add(message, None, [location], auto_comments=auto_comments, context=context)


def extract_app(root: Path = ROOT) -> Catalog:
    """Every message our code and templates mark, as babel.cfg maps them."""
    with open(root / "babel.cfg", encoding="utf-8") as fileobj:
        method_map, options_map = parse_mapping_cfg(fileobj, str(root / "babel.cfg"))
    catalog = _new_catalog()
    results = extract_from_dir(
        str(root), method_map, options_map, keywords=keywords(), comment_tags=COMMENT_TAGS, strip_comment_tags=True
    )
    _add_extracted(catalog, results)
    return catalog


def extract_fab() -> Catalog:
    """Flask-AppBuilder's msgids: its bundled Russian catalog plus its own marked strings."""
    base = fab_dir()
    catalog = _new_catalog()
    results = extract_from_dir(
        str(base),
        [("**.py", "python"), ("templates/**.html", "jinja2")],
        {"templates/**.html": {}},
        keywords=keywords(),
        # Skips its tests, bundled translations and __pycache__ like the default filter does.
        directory_filter=lambda d: (
            not Path(d).name.startswith((".", "_")) and Path(d).name not in {"tests", "translations", "static"}
        ),
    )
    _add_extracted(catalog, results, prefix="flask_appbuilder/", comment=FAB_COMMENT)
    with open(base / "translations" / "ru" / "LC_MESSAGES" / "messages.po", "rb") as fileobj:
        bundled = read_po(fileobj)
    for message in bundled:
        if message.id and message.id not in catalog:
            catalog.add(message.id, None, [], auto_comments=[FAB_COMMENT], context=message.context)
    return catalog


WTFORMS_COMMENT = "WTForms"


def extract_wtforms() -> Catalog:
    """WTForms' built-in validation messages, from the template it ships.

    Flask-WTF only finds them in WTForms' own catalogs, which have no Armenian; app.i18n's
    HamaynkForm looks in ours first.
    """
    import wtforms

    with open(Path(wtforms.__file__).parent / "locale" / "wtforms.pot", "rb") as fileobj:
        shipped = read_po(fileobj)
    catalog = _new_catalog()
    for message in shipped:
        if message.id:
            catalog.add(
                message.id, None, [], auto_comments=[WTFORMS_COMMENT], flags=message.flags, context=message.context
            )
    return catalog


def build_template(root: Path = ROOT) -> Catalog:
    """Our messages first (in source order), then Flask-AppBuilder's and WTForms' that we do not already have."""
    template = extract_app(root)
    for message in list(extract_fab()) + list(extract_wtforms()):
        if not message.id:
            continue
        existing = template.get(message.id, message.context)
        if existing is None:
            template[message.id] = Message(
                message.id,
                None,
                locations=message.locations,
                flags=message.flags,
                auto_comments=message.auto_comments,
                context=message.context,
            )
        else:
            for comment in message.auto_comments:
                if comment not in existing.auto_comments:
                    existing.auto_comments.append(comment)
    return template


def fab_translations(locale: str) -> Catalog | None:
    path = fab_dir() / "translations" / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return None
    with open(path, "rb") as fileobj:
        return read_po(fileobj, locale=locale)


def read_catalog(path: Path, locale: str | None = None) -> Catalog:
    with open(path, "rb") as fileobj:
        return read_po(fileobj, locale=locale, domain=DOMAIN)


def _po_bytes(catalog: Catalog, **kwargs) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, width=WIDTH, ignore_obsolete=True, include_previous=False, **kwargs)
    return buf.getvalue()


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and _VOLATILE_HEADER.sub(b"", path.read_bytes()) == _VOLATILE_HEADER.sub(b"", data):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def update_locale(locale: str, template: Catalog) -> tuple[Catalog, list[str]]:
    """Bring one locale's catalog in line with the template, keeping its translations.

    New msgids that Flask-AppBuilder itself translates for this locale are pre-filled from its
    catalog but marked fuzzy: a person has to read them (some of its translations are wrong)
    before they count.
    """
    path = po_path(locale)
    catalog = read_catalog(path, locale) if path.exists() else _new_catalog(locale)
    before = {m.id for m in catalog if m.id}
    # No fuzzy matching: a guessed translation of a similar string is worse than none.
    catalog.update(template, no_fuzzy_matching=True, update_header_comment=True)
    catalog.fuzzy = False
    added = [m.id for m in catalog if m.id and m.id not in before]
    if locale != SOURCE_LOCALE:
        fab = fab_translations(locale)
        for message in catalog:
            if fab is None or not message.id or message.string:
                continue
            theirs = fab.get(message.id, message.context)
            if theirs is not None and theirs.string and not theirs.fuzzy:
                message.string = theirs.string
                message.flags.add("fuzzy")
    return catalog, [str(m) for m in added]


def placeholders(text: str) -> list[str]:
    return sorted(p for p in _PLACEHOLDER.findall(text or "") if p != "%%")


def problems(catalog: Catalog) -> list[str]:
    """Untranslated, fuzzy or placeholder-mismatched entries, one line each."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else (message.id,)
        strings = message.string if isinstance(message.string, (list, tuple)) else (message.string,)
        label = repr(ids[0])
        if message.fuzzy:
            found.append(f"fuzzy: {label}")
        if not all(strings):
            found.append(f"untranslated: {label}")
            continue
        want = placeholders(ids[-1])
        for text in strings:
            if placeholders(text) != want and placeholders(text) != placeholders(ids[0]):
                found.append(f"placeholders differ: {label} -> {text!r}")
    return found


def compile_catalog(locale: str) -> bytes:
    catalog = read_catalog(po_path(locale), locale)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def cmd_extract(args: argparse.Namespace) -> int:
    template = build_template()
    changed = _write_if_changed(TEMPLATE_FILE, _po_bytes(template))
    print(
        f"{TEMPLATE_FILE.relative_to(ROOT)}: {sum(1 for m in template if m.id)} msgids{' (written)' if changed else ''}"
    )
    for locale in LOCALES:
        catalog, added = update_locale(locale, template)
        changed = _write_if_changed(po_path(locale), _po_bytes(catalog))
        todo = [] if locale == SOURCE_LOCALE else problems(catalog)
        print(
            f"{po_path(locale).relative_to(ROOT)}: {len(added)} new, {len(todo)} to translate or review{' (written)' if changed else ''}"
        )
    print("Next: translate the new entries, remove their fuzzy flags, then run `python scripts/i18n.py compile`.")
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    status = 0
    for locale in LOCALES:
        catalog = read_catalog(po_path(locale), locale)
        for message, errors in catalog.check():
            for error in errors:
                print(f"{locale}: {message.id!r}: {error}", file=sys.stderr)
                status = 1
        changed = _write_if_changed(mo_path(locale), compile_catalog(locale))
        print(f"{mo_path(locale).relative_to(ROOT)}{' (written)' if changed else ' (up to date)'}")
    return status


def cmd_check(args: argparse.Namespace) -> int:
    status = 0
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        for line in problems(read_catalog(po_path(locale), locale)):
            print(f"{locale}: {line}")
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("extract", help="update messages.pot and the hy/en/ru catalogs").set_defaults(func=cmd_extract)
    sub.add_parser("compile", help="compile every catalog to .mo").set_defaults(func=cmd_compile)
    sub.add_parser("check", help="list entries still to translate").set_defaults(func=cmd_check)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
