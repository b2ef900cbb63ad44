"""Forms as the server renders them: every page a role can open (its own rows' ids in the URL)
is fetched, and each form on it parsed into its action, method and fields, so the fuzz, the
mass-assignment and the XSS tests cover forms added later without anyone listing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

from .crawl import build_url, crawled_rules, variants

# Forms whose submission ends the session or deletes the fuzzer's own rows, and FAB's
# security screens' edit forms (roles and permissions every test shares).
SKIPPED_ACTIONS = (
    "logout",
    "/delete",
    "/lang/",
    "/roles/edit",
    "/permissions",
    "/viewmenus",
    "/permissionviews",
    "/users/edit",
    "/groups/edit",
    "/resetpassword",
    "/resetmypassword",
    "/userinfoeditview",
)


@dataclass
class Form:
    page: str
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # name -> baseline value
    files: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # free-text inputs and text areas

    @property
    def key(self) -> tuple:
        return (self.action.split("?")[0], self.method, tuple(sorted(self.fields)), tuple(self.files))


class _Parser(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(
                self.page, urljoin(self.page, a.get("action") or self.page), a.get("method", "get").upper()
            )
            self.forms.append(self._form)
            return
        form = self._form
        if form is not None and tag == "option" and self._select:
            # An option has no name of its own: the first one with a value (or the selected one)
            # is the select's baseline.
            if not form.fields.get(self._select) or "selected" in a:
                form.fields[self._select] = a.get("value", "")
            return
        if form is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "file":
                form.files.append(name)
            elif kind in ("checkbox", "radio"):
                if "checked" in a or name not in form.fields:
                    form.fields[name] = a.get("value", "y")
            elif kind not in ("submit", "button", "image", "reset"):
                form.fields[name] = a.get("value", "")
                if kind in ("text", "search", "email", "tel", "url", "") and name != "csrf_token":
                    form.text.append(name)
        elif tag == "select":
            self._select = name
            form.fields.setdefault(name, "")
        elif tag == "textarea":
            self._textarea = name
            form.fields[name] = ""
            form.text.append(name)
        elif tag == "button" and a.get("value"):
            form.fields.setdefault(name, a["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data


def discover(live, session, own: dict) -> list[Form]:
    """Every distinct form on every page the session opens, its own rows in the URLs.

    The limits start from zero, and a page over its limit fails the discovery: a rate-limited
    page (the verification page, after the enumeration test's guesses from the same address)
    would otherwise drop out silently, and with it its forms from every test that fuzzes them."""
    live.reset_limits()
    seen: dict[tuple, Form] = {}
    followed: set[tuple] = set()
    for _rule, path in pages(live, own):
        for form in _forms_on(live, session, live.url(path + "?_l_=en"), path):
            seen.setdefault(form.key, form)
            # A GET form (a municipality chooser, a search) leads to a page that may have forms
            # of its own (the question form with its attachments): followed once, as sent.
            if form.method == "GET" and form.key not in followed:
                followed.add(form.key)
                query = urlencode({**form.fields, "_l_": "en"})
                for found in _forms_on(live, session, f"{form.action.split('?')[0]}?{query}", form.action):
                    seen.setdefault(found.key, found)
    return list(seen.values())


def _forms_on(live, session, url: str, label: str) -> list[Form]:
    response = session.get(url, timeout=60)
    assert response.status_code != 429, f"{label} was rate-limited while its forms were being discovered"
    if response.status_code != 200 or "html" not in response.headers.get("Content-Type", ""):
        return []
    parser = _Parser(response.url)
    parser.feed(response.text)
    return [
        form
        for form in parser.forms
        if urlsplit(form.action).netloc == urlsplit(live.base).netloc
        and not any(part in form.action for part in SKIPPED_ACTIONS)
    ]


def pages(live, own: dict, api: bool = False) -> list[tuple]:
    """Every GET rule's path (the API's too if ``api``) with ``own``'s rows, and again with
    each of its variants' rows where the path differs (crawl.variants)."""
    found: list[tuple] = []
    for rule in crawled_rules(live.app):
        if "GET" not in (rule.methods or set()) or (rule.rule.startswith("/api/") and not api):
            continue
        paths = []
        for rows in variants(own):
            try:
                path = build_url(rule, rows)
            except KeyError:
                continue
            if path not in paths:
                paths.append(path)
        found.extend((rule, path) for path in paths)
    return found


FUZZERS = ("municipal_admin", "clerk", "head", "citizen_c", "anonymous")


def fuzzer_rows(live, role: str, code: str = "gamma") -> dict:
    """The rows the fuzzers' pages name: playground ``code``'s (conftest.Live.playground)."""
    own = live.playground(code)
    rows = {
        **live.victims["citizen_a"],
        **own,
        "user_id": own["users"]["clerk"],
        "department_id": next(iter(own["departments"].values())),
        "municipality_id": own["id"],
        "code": code,
    }
    return rows
