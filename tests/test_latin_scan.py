"""No English left in the Armenian and Russian UI: every page a demo walk-through reaches is
scanned for Latin-script text that is not data.

The walk-through: the demo data (`flask hamaynk demo`: three municipalities, a user for every
role and department), plus residence-certificate applications filed at Abovyan's front office
with a document and left submitted, approved, rejected and returned for correction. Then, in
Armenian and in Russian, each demo role signs in and follows every link of every page it is
shown (same site, GET only, at most two pages per URL shape: ``/users/show/1`` and
``/users/show/2`` are one shape), and the intake form is also posted empty to show its errors.

What is scanned: the text a person sees (script, style and template contents left out), the
title, aria-label, placeholder and alt attributes, button values and ``<option>`` texts.

What is not UI text, by rule rather than by word:
- **data**: every string the walk-through stored (names, usernames, e-mails, codes and names of
  municipalities and departments, tracking numbers, applicant and form values, file names),
  the service keys and plug-in names of the registry, and Flask-AppBuilder's permission and
  view-menu identifiers. They are read from the database and the registry after the walk,
  and cut out of the page text before it is checked. Role names are stored too, but are UI
  vocabulary with labels, so they are *not* data;
- text in an element marked ``translate="no"``, or whose ``lang`` is not the page's (the
  language menu names "English" in English on purpose), and in ``<code>``, ``<kbd>`` and
  ``<samp>``: literal identifiers and input, shown as they are typed;
- file-format names (PDF, JPEG, ... from ``app.domain.uploads.TYPE_LABELS``, plus YAML and
  JSON, the formats of service definition files): written in Latin letters in every language;
  and "ID", the name of Armenia's identity card in Russian too ("ID-карта"); the export
  formats CSV and XLSX, "QR" (a QR code is "QR կոդ" / "QR-код") and "API", written so in
  Armenian and Russian texts too.
A single Latin letter is not a word, nor are letters glued to digits (``v1``, ``RE2``); two
letters or more are.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select

from app import testing
from app.domain.uploads import TYPE_LABELS

LANGUAGES = ("hy", "ru")
# The demo logins that stand for each role (README): one per role, and a department's
# specialist and head beside urban planning's, so every kind of landing page is seen.
DEMO_USERS = (
    "admin",
    "abovyan.admin",
    "abovyan.clerk",
    "abovyan.specialist",
    "abovyan.head",
    "abovyan.registrar",
    "abovyan.registry.head",
    "abovyan.auditor",
    "citizen@hamaynk.example",
)
# File formats whose names are the same in every language (see the module docstring).
FORMAT_NAMES = frozenset(TYPE_LABELS.values()) | {"YAML", "JSON"}
# Authenticator apps the second-factor page suggests are named as their makers spell them.
NAMES_IN_EVERY_LANGUAGE = FORMAT_NAMES | {"ID", "CSV", "XLSX", "QR", "API", "FreeOTP", "Aegis"}
# Two Latin letters or more, not glued to digits (RE2, v1 and H264 are names of things).
LATIN_WORD = re.compile(r"(?<![0-9])[A-Za-z][A-Za-z'’]*[A-Za-z](?![0-9])")
# Not pages: leaving, switching language, files, the machine-facing API and its Swagger UI.
NOT_PAGES = ("/logout", "/lang/", "/static/", "/appbuilder/static", "/api/", "/swagger")
PAGES_PER_SHAPE = 2
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"}
HIDDEN = {"script", "style", "noscript", "template"}
LITERAL = {"code", "kbd", "samp"}
TEXT_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


class PageText(HTMLParser):
    """The visible texts and text attributes of a page (with the element they are in), and
    its links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page_lang: str | None = None
        self.stack: list[tuple[str, bool]] = []  # (tag, skipped with everything inside)
        self.texts: list[tuple[str, str]] = []
        self.links: list[str] = []

    def _skipping(self) -> bool:
        return any(skip for _tag, skip in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.page_lang = attributes.get("lang")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        lang = attributes.get("lang")
        skip = (
            tag in HIDDEN
            or tag in LITERAL
            or attributes.get("translate") == "no"
            or (tag != "html" and lang is not None and self.page_lang is not None and lang != self.page_lang)
        )
        if not (skip or self._skipping()):
            for name in TEXT_ATTRIBUTES:
                if attributes.get(name):
                    self.texts.append((f"{tag}[{name}]", attributes[name]))
            if tag == "input" and attributes.get("type") in ("submit", "button", "reset") and attributes.get("value"):
                self.texts.append((f"{tag}[value]", attributes["value"]))
        if tag not in VOID:
            self.stack.append((tag, skip))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._skipping():
            self.texts.append((self.stack[-1][0] if self.stack else "", data.strip()))


def english_words(text: str, data: list[str]) -> list[str]:
    for value in data:
        if value in text:
            text = text.replace(value, " ")
    return [word for word in LATIN_WORD.findall(text) if word not in NAMES_IN_EVERY_LANGUAGE]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def stored_data(app) -> list[str]:
    """Every data string of the walk-through, longest first (so a name is cut out whole before
    a shorter value inside it)."""
    from app.extensions import db
    from app.models import Application, ApplicationDocument, Department, Municipality, User
    from app.plugins import runtime as plugin_runtime

    values: set[str] = set()
    with app.app_context():
        session = db.session
        for user in session.execute(select(User)).scalars():
            values |= {user.username, user.email, user.first_name, user.last_name}
        for municipality in session.execute(select(Municipality)).scalars():
            values |= {municipality.code, municipality.name_hy, municipality.name_en, municipality.name_ru}
            values.add(municipality.region or "")
        for department in session.execute(select(Department)).scalars():
            values |= {department.code, department.name_hy, department.name_en, department.name_ru}
        for application in session.execute(select(Application)).scalars():
            values.add(application.tracking_number)
            applicant = (application.applicant_name, application.applicant_psn, application.applicant_phone)
            values |= {v for v in (*applicant, application.applicant_email, application.applicant_address) if v}
            values |= set(_strings(application.data))
        for document in session.execute(select(ApplicationDocument)).scalars():
            values.add(document.original_name)
        sm = app.appbuilder.sm
        values |= {p.name for p in session.query(sm.permission_model)}
        values |= {v.name for v in session.query(sm.viewmenu_model)}
        for registered in plugin_runtime.registry(app).latest():
            values.add(registered.key)
            values.add(registered.plugin)
        # The plug-ins page names each by its module and by its package's name.
        for module in testing.builtin_plugins():
            values |= {module, module.rsplit(".", 1)[-1]}
    return sorted((v for v in values if v and v.strip()), key=len, reverse=True)


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    import app.demo as demo
    from app.domain import workflow
    from app.extensions import db
    from app.models import Application
    from app.plugins import runtime as plugin_runtime

    app = testing.make_app(tmp_path_factory.mktemp("latin"))
    # Hashing forty demo passwords one by one is most of a minute; the hash is the same.
    original_hash = demo.generate_password_hash
    demo.generate_password_hash = lambda password: testing.password_hash(password)
    try:
        with app.app_context():
            demo.seed_demo()
    finally:
        demo.generate_password_hash = original_hash
    residence = "residence-certificate"
    filed = [testing.apply(app, residence, "abovyan", applicant_name="Արմեն Պետրոսյան") for _ in range(4)]
    testing.walk(app, filed[1].id)
    testing.walk(app, filed[2].id, outcome="rejected", reason="Հասցեն չի համապատասխանում։")
    with app.test_request_context("/"):
        application = db.session.get(Application, filed[3].id)
        service = workflow.service_of(application, plugin_runtime.registry(app))
        step = workflow.current_step(application, service)
        department_id = workflow.responsible_department_id(db.session, application, step)
        actor = testing.staff_user(app, application.municipality_id, step.role, department_id)
        workflow.return_for_correction(
            db.session,
            application,
            actor=testing.actor_for(actor),
            expected_version=application.version,
            what_to_fix="Կցեք անձնագրի ընթեռնելի պատճենը։",
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
    app.data_values = stored_data(app)
    return app


def crawl(client, start: str = "/") -> Iterator[tuple[str, str]]:
    """(url, html) of every page reachable from ``start``, at most PAGES_PER_SHAPE per shape."""
    seen: set[str] = set()
    per_shape: dict[str, int] = defaultdict(int)
    queue = [start]
    while queue:
        url = queue.pop(0)
        shape = re.sub(r"\d+", "N", url)
        if url in seen or per_shape[shape] >= PAGES_PER_SHAPE:
            continue
        seen.add(url)
        per_shape[shape] += 1
        response = client.get(url)
        if response.status_code != 200 or not response.content_type.startswith("text/html"):
            continue
        html = response.get_data(as_text=True)
        yield url, html
        parser = PageText()
        parser.feed(html)
        for href in parser.links:
            target = urlsplit(urljoin(f"http://localhost{url}", href))
            if target.netloc != "localhost" or target.path.startswith(NOT_PAGES):
                continue
            queue.append(target.path)


def findings(url: str, html: str, data: list[str], lang: str) -> list[str]:
    parser = PageText()
    parser.feed(html)
    assert parser.page_lang == lang, f"{url} is not in {lang}"
    found = []
    for where, text in parser.texts:
        words = english_words(text, data)
        if words:
            found.append(f"{url} <{where}> {text[:100]!r}: {' '.join(words)}")
    return found


def signed_in(app, username: str, lang: str):
    import app.demo as demo

    client = app.test_client()
    client.get(f"/lang/{lang}")
    response = client.post("/login/", data={"username": username, "password": demo.DEMO_PASSWORD})
    assert response.status_code == 302, f"cannot sign in as {username}"
    client.get(f"/lang/{lang}")  # signing in starts a new session
    return client


def _report(found: Iterable[str]) -> str:
    return "\n".join(sorted(set(found)))


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("username", DEMO_USERS)
def test_no_english_on_any_page_a_demo_user_reaches(walkthrough, username, lang):
    client = signed_in(walkthrough, username, lang)
    pages = 0
    found: list[str] = []
    for url, html in crawl(client):
        pages += 1
        found += findings(url, html, walkthrough.data_values, lang)
    assert pages >= 2, f"{username} reached {pages} page(s)"
    assert not found, f"English in the {lang} UI for {username}:\n{_report(found)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_english_on_the_signed_out_pages(walkthrough, lang):
    client = walkthrough.test_client()
    client.get(f"/lang/{lang}")
    found: list[str] = []
    for url in ("/", "/login/"):
        response = client.get(url, follow_redirects=True)
        found += findings(url, response.get_data(as_text=True), walkthrough.data_values, lang)
    assert not found, _report(found)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_english_in_the_intake_forms_errors(walkthrough, lang):
    client = signed_in(walkthrough, "abovyan.clerk", lang)
    response = client.post("/office/new/residence-certificate", data={}, content_type="multipart/form-data")
    assert response.status_code in (200, 400)
    found = findings("intake with errors", response.get_data(as_text=True), walkthrough.data_values, lang)
    assert not found, _report(found)


# --- the scanner itself --------------------------------------------------------------------


def test_the_scanner_finds_english_and_skips_data_and_marked_text():
    html = """<!DOCTYPE html><html lang="hy"><head><title>Համայնք</title>
      <script>var x = "Hidden";</script></head><body>
      <p>Ընդունելի են՝ PDF, JPEG</p>
      <p>True</p>
      <span translate="no">Anything</span>
      <a href="/lang/en" lang="en">English <b>here</b></a>
      <input type="text" placeholder="Search">
      <img alt="Logo" src="x.png">
      <select><option>Remove all items</option></select>
      <td>abovyan.clerk@hamaynk.example</td><td>v1</td><kbd>food=Սնունդ|Food</kbd>
      </body></html>"""
    found = findings("/x", html, ["abovyan.clerk@hamaynk.example"], "hy")
    flagged = {line.split(": ", 1)[1] for line in found}
    assert flagged == {"True", "Search", "Logo", "Remove all items"}
