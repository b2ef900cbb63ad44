"""The input-cleaning layer (app.cleaning): every hostile value from issue 12's "500s from bad
input" is refused with a 400 in the user's language (JSON under /api/) before any view runs,
and nothing changes; rows stored before the layer existed cannot make their pages fail.

The last test walks every URL rule of the app with hostile query strings as a signed-in system
administrator: an endpoint added later is covered without anyone remembering it here.
"""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

import pytest
from babel.support import Translations
from sqlalchemy import func, select

from app import cleaning
from app.extensions import db
from app.models import Application, Department, StaffProfile
from app.testing import PASSWORD, apply, login, make_app, seed_municipality, seed_system_admin

PG_DATABASE = "hamaynk_test_input_layer"
HUGE = "9223372036854775807"  # 2**63 - 1: a valid key, but as a page number an OFFSET overflow
BEYOND = "99999999999999999999999"  # beyond 64 bits
REFUSED_TEXT = "The request could not be accepted"


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def _in_armenian(msgid: str) -> str:
    translations = Translations.load(str(Path(cleaning.__file__).parent / "translations"), ["hy"])
    return translations.gettext(msgid)


def _refused(response, status: int = 400) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    if status == 400 and response.mimetype == "text/html":
        # The pages are in Armenian unless the request asks otherwise.
        page = response.get_data(as_text=True)
        english = '<html lang="en"' in page
        said = (lambda msgid: msgid) if english else _in_armenian
        nothing_changed = said("%(problem)s Nothing was changed.").replace("%(problem)s", "").strip()
        assert said(REFUSED_TEXT) in page and nothing_changed in page


def _file(name: str = "note.txt"):
    return (io.BytesIO(b"not a form value"), name)


def _token(client, username: str) -> str:
    answer = client.post("/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["access_token"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_app(request):
    """The suite's app on SQLite, and an app on a PostgreSQL database of its own (which refuses
    NUL in text: there a NUL that reached a query was a 500)."""
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


# -- integers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        f"page_DepartmentView={HUGE}",
        f"page_DepartmentView={BEYOND}",
        "page_DepartmentView=-1",
        "page_DepartmentView=abc",
        # FAB reads every argument *containing* page_ (re.findall), not only those starting so.
        "xpage_DepartmentView=abc",
        "psize_DepartmentView=0",
        f"psize_DepartmentView={HUGE}",
    ],
)
def test_fab_paging_arguments_are_bounded(client, login_as, query):
    login_as("system_admin")
    _refused(client.get(f"/admin/departments/list/?{query}"))
    # FAB's own security views have no check of their own.
    _refused(client.get(f"/users/list/?{query.replace('DepartmentView', 'UserDBModelView')}"))


def test_fab_paging_in_range_still_works(client, login_as):
    login_as("system_admin")
    assert client.get("/admin/departments/list/?page_DepartmentView=0&psize_DepartmentView=25").status_code == 200
    assert client.get("/users/list/?page_UserDBModelView=3").status_code == 200


@pytest.mark.parametrize("role", ["system_admin", "municipal_admin"])
@pytest.mark.parametrize("field", ["department_id", "municipality_id"])
def test_admin_form_integers_beyond_64_bits_are_refused(app, client, login_as, role, field):
    login_as(role)
    before = _count(app, StaffProfile)
    form = {
        "username": "new.person",
        "first_name": "New",
        "last_name": "Person",
        "email": "new.person@test.example",
        "roles": "Clerk",
        "department_id": str(app.seeded["alpha"]["departments"]["front_office"]),
        "municipality_id": str(app.seeded["alpha"]["id"]),
    }
    form[field] = BEYOND
    _refused(client.post("/admin/staff/add", data=form))
    assert _count(app, StaffProfile) == before


def test_department_form_municipality_beyond_64_bits_is_refused(app, client, login_as):
    login_as("system_admin")
    before = _count(app, Department)
    form = {"code": "x1", "name_hy": "Ա", "name_en": "A", "name_ru": "А", "municipality_id": BEYOND}
    _refused(client.post("/admin/departments/add", data=form))
    assert _count(app, Department) == before


@pytest.mark.parametrize("rowid", ["abc", BEYOND, "-1"])
@pytest.mark.parametrize("path", ["/admin/departments/action_post", "/users/action_post", "/roles/action_post"])
def test_list_action_rowids_are_checked(app, client, login_as, path, rowid):
    login_as("system_admin")
    before = _count(app, Department)
    _refused(client.post(path, data={"action": "muldelete", "rowid": rowid}))
    assert _count(app, Department) == before


def test_unknown_list_action_is_not_found(client, login_as):
    login_as("system_admin")
    # The users view has no muldelete: FAB called .func on None.
    _refused(client.post("/users/action_post", data={"action": "no-such-action", "rowid": "1"}), 404)


def test_integer_path_arguments_beyond_64_bits_are_not_found(client, login_as):
    login_as("specialist")
    _refused(client.get(f"/workspace/applications/{BEYOND}"), 404)
    login_as("system_admin")
    _refused(client.get(f"/users/edit/{BEYOND}"), 404)
    _refused(client.get("/users/show/abc"), 404)


# -- files only where files are expected ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/admin/staff/add", "username"),
        ("/admin/departments/add", "code"),
        ("/admin/municipalities/add", "code"),
        ("/users/add", "first_name"),
        ("/roles/add", "name"),
        ("/groups/add", "name"),
        ("/login/", "username"),
    ],
)
def test_a_file_where_text_is_expected_is_refused(app, client, login_as, path, field):
    login_as("system_admin")
    counts = {model: _count(app, model) for model in (StaffProfile, Department)}
    _refused(client.post(path, data={field: _file(), "password": PASSWORD}, content_type="multipart/form-data"))
    assert {model: _count(app, model) for model in counts} == counts


def test_upload_endpoints_take_files_only_in_their_file_fields(app, client, login_as):
    apply(app, "residence-certificate", data={"address": "Alpha 1", "purpose": "bank", "copies": "1"})
    login_as("clerk")
    before = _count(app, Application)
    sent = {"address": _file(), "doc-identity": _file("passport.pdf")}
    _refused(client.post("/office/new/residence-certificate", data=sent, content_type="multipart/form-data"))
    assert _count(app, Application) == before


def test_upload_allowlist_names_real_endpoints(app):
    endpoints = set(app.view_functions)
    assert set(cleaning.FILE_FIELDS) <= endpoints
    assert endpoints >= cleaning.DECLARED_FIELDS


# -- text ----------------------------------------------------------------------------------


def test_lone_surrogates_in_api_json_are_refused(app, client):
    token = _token(client, "alpha.clerk")
    before = _count(app, Application)
    body = '{"service": "residence-certificate", "data": {"address": "Alpha \\ud800 1"}}'
    answer = client.post(
        "/api/v1/applications?_l_=en",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400
    assert answer.get_json()["errors"] == {"data.address": "This text contains characters that are not valid Unicode."}
    assert _count(app, Application) == before


def test_deeply_nested_json_is_refused(client):
    answer = client.post("/api/v1/applications?_l_=en", data="[" * 100_000, content_type="application/json")
    assert answer.status_code == 400
    assert "nested too deeply" in answer.get_json()["message"]


def test_a_stored_lone_surrogate_cannot_break_its_pages(app, client, login_as):
    """Rows saved before the layer existed (SQLite keeps JSON escapes as they came)."""
    filed = apply(app, "residence-certificate", data={"address": "Alpha 1", "purpose": "bank", "copies": "1"})
    with app.app_context():
        application = db.session.get(Application, filed.id)
        application.data = {**application.data, "address": "Alpha \ud800 1"}
        db.session.commit()
    login_as("specialist")
    page = client.get(f"/workspace/applications/{filed.id}")
    assert page.status_code == 200
    assert "Alpha \ufffd 1" in page.get_data(as_text=True)
    token = _token(client, "alpha.specialist")
    shown = client.get(f"/api/v1/applications/{filed.id}", headers={"Authorization": f"Bearer {token}"})
    assert shown.status_code == 200


@pytest.mark.parametrize(
    "query",
    ["q=a%00b", "q=a%1Bb", "q=%FF", "q=%ED%A0%80", "q=" + "x" * 100_001, "a%00b=1"],
)
def test_query_text_is_checked(client, login_as, query):
    login_as("specialist")
    _refused(client.get(f"/workspace/?{query}"))


def test_long_but_allowed_text_passes_the_layer(client, login_as):
    login_as("specialist")
    assert client.get("/workspace/?q=" + "x" * 100_000).status_code != 400


def test_urlencoded_body_must_be_utf8(client):
    sent = client.post(
        "/account/login?_l_=en", data=b"email=%FF%FE&password=x", content_type="application/x-www-form-urlencoded"
    )
    _refused(sent)


def test_path_text_is_checked(client):
    _refused(client.get("/m/a%00b/"), 404)
    _refused(client.get("/verify/a%01b"), 404)


def test_refusal_is_in_the_users_language(client, login_as):
    login_as("specialist")
    client.get("/lang/ru")
    page = client.get("/workspace/?q=a%00b")
    assert page.status_code == 400
    # app.domain.inputs' message, translated long before this layer used it.
    assert "This text contains control characters" not in page.get_data(as_text=True)
    client.get("/lang/en")
    assert "This text contains control characters" in client.get("/workspace/?q=a%00b").get_data(as_text=True)


# -- NUL: PostgreSQL refuses it in text, so it used to reach a query and fail ----------------


def test_nul_is_refused_everywhere_the_attack_found_it(any_app):
    app = any_app
    client = app.test_client()
    before = _count(app, Application)
    # Both sign-in pages and the API sign-in: refused, and nobody is signed in.
    _refused(client.post("/login/", data={"username": "alpha.clerk\x00", "password": PASSWORD}))
    _refused(client.post("/account/login", data={"email": "a\x00b@example.com", "password": PASSWORD}))
    answer = client.post("/api/v1/security/login", json={"username": "a\x00b", "password": "x", "provider": "db"})
    assert answer.status_code == 400 and "message" in answer.get_json()
    assert client.get("/workspace/").status_code in (302, 401, 403)
    login(client, "alpha.clerk")
    # Applicant search and the office's find box.
    _refused(client.get("/office/applicants?q=a%00b"))
    _refused(client.get("/office/find?q=a%00b"))
    # The office form.
    form = {"applicant-name": "Anna\x00 Petrosyan", "address": "Alpha 1", "purpose": "bank", "copies": "1"}
    _refused(client.post("/office/new/residence-certificate", data=form))
    login(client, "alpha.specialist")
    # The inbox search.
    _refused(client.get("/workspace/?q=a%00b"))
    assert _count(app, Application) == before


# -- every URL rule, hostile query strings, as a system administrator ------------------------

# Values the layer refuses: every GET endpoint must answer 400 (never reach a view).
REFUSED_QUERIES = {
    "nul": "q=a%00b",
    "control": "next=%1B%5B31m",
    "surrogate": "q=%ED%A0%80",
    "overlong": "q=" + "x" * 100_001,
    "fab_page": f"page_X={HUGE}",
    "row_id": f"municipality_id={BEYOND}",
}
# Values the layer lets through (they are valid text): the views must cope, never 500.
_NAMES = [
    "after",
    "check",
    "code",
    "cursor",
    "email",
    "event",
    "format",
    "from",
    "language",
    "limit",
    "municipality",
    "next",
    "overdue",
    "page",
    "q",
    "report",
    "service",
    "status",
    "tab",
    "to",
    "tracking",
    "tracking_number",
    "value_columns",
    "version",
    "view",
    "_oc_X",
    "_od_X",
    "_flt_0_x",
]
_PASSED_VALUES = (BEYOND, "-1", "%D9%A1", "9" * 1000, "")  # %D9%A1: Arabic-Indic one


def _passed_query() -> str:
    """One query string for all: each name gets every value, a different one first (views
    read the first value or all of them)."""
    parts = []
    for index, name in enumerate(_NAMES):
        shift = index % len(_PASSED_VALUES)
        parts += [f"{name}={value}" for value in _PASSED_VALUES[shift:] + _PASSED_VALUES[:shift]]
    return "&".join(parts)


PASSED_QUERY = _passed_query()


@pytest.fixture(scope="module")
def walk_app(tmp_path_factory):
    # Limits off: this walk signs in again after /logout/ and /lang/ and is not about them.
    app = make_app(tmp_path_factory.mktemp("walk"), RATELIMIT_ENABLED=False)
    app.seeded = {"alpha": seed_municipality(app, "alpha"), "sysadmin": seed_system_admin(app)}
    apply(app, "residence-certificate", data={"address": "Alpha 1", "purpose": "bank", "copies": "1"})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def walk_client(walk_app):
    client = walk_app.test_client()
    login(client, "sysadmin")
    return client


# These end the session or switch the language: sign in again after them.
_SIGNS_OUT = ("AuthDBView.logout", "LocaleView.index")


def _get_rules() -> list[tuple[str, str]]:
    """Every rule that answers GET (static files aside), read from an app built for it."""
    with tempfile.TemporaryDirectory() as folder:
        made = make_app(Path(folder))
        rules = [
            (rule.rule, rule.endpoint)
            for rule in made.url_map.iter_rules()
            if "GET" in (rule.methods or ()) and not rule.endpoint.endswith("static")
        ]
        with made.app_context():
            db.engine.dispose()
    return sorted(rules)


def _fill(rule: str) -> str:
    def value(match: re.Match[str]) -> str:
        return "1" if match.group(1) == "int" or match.group(2) == "pk" else "x"

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", value, rule)


@pytest.mark.parametrize(("rule", "endpoint"), _get_rules())
def test_every_rule_survives_hostile_queries(walk_client, rule, endpoint):
    path = _fill(rule)
    for name, query in REFUSED_QUERIES.items():
        answer = walk_client.get(f"{path}?{query}")
        # 404 where the path itself is refused first (a file download that cannot exist).
        assert answer.status_code in (400, 404), f"{name}: {answer.status_code}"
    answer = walk_client.get(f"{path}?{PASSED_QUERY}")
    assert answer.status_code < 500, f"{answer.status_code} {answer.get_data(as_text=True)[:300]}"
    if endpoint in _SIGNS_OUT:
        login(walk_client, "sysadmin")
