"""``flask hamaynk new-service <key>``: an installable plug-in package that passes its own
tests right after generation, so an author starts from green and changes one thing at a time.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from app.domain.declarations import KEY_RE


class ScaffoldError(ValueError):
    pass


PYPROJECT = Template("""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "hamaynk-$key"
version = "0.1.0"
description = "Hamaynk service: $key"
requires-python = ">=3.11"
dependencies = ["hamaynk"]

# Hamaynk finds the plug-in through this entry-point group.
[project.entry-points.hamaynk]
$module = "$module"

[tool.setuptools.packages.find]
include = ["$module*"]

[tool.setuptools.package-data]
# Without these lines a normal (not editable) install leaves the templates and catalogs out.
$module = ["templates/*.html", "translations/*/LC_MESSAGES/*.po", "translations/*/LC_MESSAGES/*.mo"]
""")

MODULE = Template('''"""$title_en.

Describe the process in plain language, one line a stage:
1. The applicant fills in the form and attaches the documents.
2. A specialist reviews the application ($review_days working days).
3. The head of the department signs the result ($sign_days working day).
4. The result is issued as a PDF with a verification code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.sdk import Document, Field, Output, Service, Step, gettext, hookimpl

REQUIRES_CORE_API = ">=1,<2"

SERVICE = Service(
    key="$key",  # permanent: stored in every application, never rename it
    version=1,  # declare version=2 next to this one when the form or route changes
    title={"hy": "$title_hy", "en": "$title_en", "ru": "$title_ru"},
    description={"hy": "", "en": "", "ru": ""},
    fee=0,
    deadline_days=$deadline,
    fields=(
        Field("address", "address", {"hy": "Հասցե", "en": "Address", "ru": "Адрес"}, required=True, max_length=300),
        Field("details", "textarea", {"hy": "Մանրամասներ", "en": "Details", "ru": "Подробности"}, max_length=2000),
    ),
    documents=(
        Document("identity", {"hy": "Անձնագիր կամ նույնականացման քարտ", "en": "Passport or ID card", "ru": "Паспорт или ID-карта"},
                 types=("pdf", "jpeg", "png"), max_size_mb=10),
    ),
    steps=(
        Step("review", {"hy": "Ուսումնասիրում", "en": "Review", "ru": "Рассмотрение"}, role="specialist", days=$review_days),
        Step("signature", {"hy": "Ստորագրում", "en": "Signature", "ru": "Подписание"}, role="head", days=$sign_days,
             actions=("approve", "reject"), forbid_self_approval=True),
    ),
    output=Output({"hy": "$title_hy", "en": "$title_en", "ru": "$title_ru"}, template_file="templates/output.html"),
)


# Typed with app.sdk's types, so a type checker (mypy) checks the hooks as it checks the
# declaration above, where a misspelt role, action or operator is an error before any start.
@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]


@hookimpl
def validate_application(service: Service, data: Mapping[str, Any]) -> dict[str, str] | None:
    # Rules the declaration cannot express go here; return {field: message} or None.
    if service.key == SERVICE.key and "<" in data.get("details", ""):
        return {"details": gettext("Remove the angle brackets.")}
    return None
''')

TEMPLATE = """<h1>{{ output_title }}</h1>
<p>{{ municipality_name }}</p>
<p>{{ application.applicant_name }} — {{ data.address }}</p>
<p>{{ application.tracking_number }}</p>
"""

TESTS = Template('''"""Generated with `flask hamaynk new-service $key`; keep these green as you change the service.

They use app.testing, Hamaynk's test kit for plug-in authors: with app.sdk, the only Hamaynk
modules a plug-in imports.
"""

from app.testing import apply, discovered_plugins, form_checker, walk

import $module


def test_installed_plugin_is_found_through_its_entry_point():
    record = discovered_plugins()["$module"]
    assert (record.status, record.source, record.error) == ("active", "installed", "")
    assert ("$key", 1) in record.services


def test_form_accepts_good_data_and_refuses_bad(hamaynk_app_factory):
    check = form_checker(hamaynk_app_factory(plugins=["$module"]), "$key", locale="en")
    assert check.service is $module.SERVICE
    assert check({"address": "Abovyan, 1 Main St"}) == ({"address": "Abovyan, 1 Main St"}, {})
    assert check({})[1] == {"address": "This field is required."}
    assert check({"address": "x", "details": "<b>"})[1] == {"details": "Remove the angle brackets."}


def test_the_hook_message_is_translated_by_the_plugins_own_catalog(hamaynk_app_factory):
    app = hamaynk_app_factory(plugins=["$module"])
    for locale, text in (("hy", "Հեռացրեք անկյունային փակագծերը։"), ("ru", "Уберите угловые скобки.")):
        assert form_checker(app, "$key", locale=locale)({"address": "x", "details": "<b>"})[1] == {"details": text}


def test_filed_at_the_office_and_decided_along_the_route(hamaynk_app_factory):
    app = hamaynk_app_factory(plugins=["$module"])
    filed = apply(app, "$key")
    assert filed.status == "submitted"
    assert walk(app, filed.id) == "approved"
    assert walk(app, apply(app, "$key").id, outcome="rejected") == "rejected"


def test_route_and_checklist():
    service = $module.SERVICE
    assert [step.key for step in service.route({})] == ["review", "signature"]
    assert service.document("identity").is_required({})
''')

README = Template("""# hamaynk-$key

A Hamaynk service plug-in.

    pip install -e .
    pytest

Edit `$module/__init__.py` (the declaration) and `$module/templates/output.html` (the
issued document). `flask hamaynk check` in a Hamaynk install validates it; the plug-in
author guide is docs/plugins.md in Hamaynk.

Texts your hooks show (through `app.sdk.gettext`) are translated in
`$module/translations/<hy|ru>/LC_MESSAGES/messages.po`. After changing texts:

    pybabel extract -o messages.pot $module
    pybabel update -i messages.pot -d $module/translations
    # translate the new entries in the .po files, then:
    pybabel compile -d $module/translations

Commit both the `.po` and the `.mo` files: the package ships them as they are.
""")

# The one text the generated hook shows, in the languages besides English.
CATALOG_TEXTS = {
    "hy": "Հեռացրեք անկյունային փակագծերը։",
    "ru": "Уберите угловые скобки.",
}
HOOK_MESSAGE = "Remove the angle brackets."


def module_name(key: str) -> str:
    return "hamaynk_" + key.replace("-", "_")


def create_package(key: str, target: Path, title_en: str | None = None) -> Path:
    """Write the package for service ``key`` into ``target/hamaynk-<key>``; return that path."""
    if not KEY_RE.match(key):
        raise ScaffoldError(
            f"{key!r} is not a service key: use lower-case letters, digits and dashes, e.g. 'tree-felling'"
        )
    root = Path(target) / f"hamaynk-{key}"
    if root.exists():
        raise ScaffoldError(f"{root} already exists; choose another folder or remove it")
    module = module_name(key)
    words = title_en or re.sub(r"[-]+", " ", key).capitalize()
    values = {
        "key": key,
        "module": module,
        "title_en": words.replace('"', "'"),
        "title_hy": words.replace('"', "'"),
        "title_ru": words.replace('"', "'"),
        "deadline": 5,
        "review_days": 3,
        "sign_days": 1,
    }
    (root / module / "templates").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.substitute(values), encoding="utf-8")
    (root / "README.md").write_text(README.substitute(values), encoding="utf-8")
    (root / module / "__init__.py").write_text(MODULE.substitute(values), encoding="utf-8")
    (root / module / "templates" / "output.html").write_text(TEMPLATE, encoding="utf-8")
    (root / "tests" / f"test_{module}.py").write_text(TESTS.substitute(values), encoding="utf-8")
    write_catalogs(root / module / "translations", module, {HOOK_MESSAGE: CATALOG_TEXTS})
    return root


def write_catalogs(folder: Path, project: str, texts: dict[str, dict[str, str]]) -> None:
    """``<lang>/LC_MESSAGES/messages.po`` and the compiled ``.mo`` for each language of
    ``texts`` ({English text: {lang: translation}}), as ``pybabel`` would write them."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import write_po

    languages = sorted({lang for per_lang in texts.values() for lang in per_lang})
    for lang in languages:
        catalog = Catalog(locale=lang, project=project, version="0.1.0", charset="utf-8")
        for english, per_lang in texts.items():
            catalog.add(english, per_lang.get(lang, ""))
        target = folder / lang / "LC_MESSAGES"
        target.mkdir(parents=True, exist_ok=True)
        with (target / "messages.po").open("wb") as po:
            write_po(po, catalog, omit_header=False)
        with (target / "messages.mo").open("wb") as mo:
            write_mo(mo, catalog)
