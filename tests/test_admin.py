"""The administration audience through HTTP: municipalities, departments, staff, plug-ins and
services, with tenant isolation, forged forms, hostile input and page accessibility.

Most tests switch the session to English (``/lang/en``) so messages can be compared with the
source strings; one test proves the messages also arrive in Armenian, the default.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from app.domain.roles import CLERK, SYSTEM_ADMIN
from app.extensions import db
from app.models import AuditEvent, Department, Municipality, ServiceActivation, StaffProfile
from app.testing import PASSWORD, builtin_plugins, login, make_app, seed_municipality, seed_system_admin

SERVICE = "residence-certificate"
NEW_PASSWORD = "a-long-enough-password"


# -- helpers ------------------------------------------------------------------------------


def text(response) -> str:
    return response.get_data(as_text=True)


def english(client) -> None:
    assert client.get("/lang/en").status_code == 302


@pytest.fixture
def as_user(client, login_as):
    """Sign in and switch to English: ``as_user("municipal_admin")``."""

    def _as(role: str, municipality: str = "alpha"):
        login_as(role, municipality)
        english(client)

    return _as


def scalar(app, stmt):
    with app.app_context():
        return db.session.execute(stmt).scalar()


def count(app, model, *where) -> int:
    return scalar(app, select(func.count()).select_from(model).where(*where))


def department_row(app, department_id: int):
    with app.app_context():
        d = db.session.get(Department, department_id)
        return None if d is None else (d.municipality_id, d.code, d.name_hy, d.name_en)


def user_id(app, username: str):
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        return None if user is None else user.id


def activation(app, municipality: str, key: str = SERVICE):
    with app.app_context():
        row = db.session.execute(
            select(ServiceActivation).where(
                ServiceActivation.municipality_id == app.seeded[municipality]["id"],
                ServiceActivation.service_key == key,
            )
        ).scalar_one_or_none()
        return None if row is None else (row.enabled, row.fee_override, row.deadline_override, row.department_id)


def field_errors(html: str) -> list[str]:
    """Error texts next to fields, on our forms and on FAB's."""
    ours = re.findall(r'<p class="help-block" id="[^"]+-err" role="alert">(.*?)</p>', html, re.S)
    fabs = re.findall(r'<div class="alert alert-danger">\s*(.*?)\s*</div>', html, re.S)
    return [e.strip() for e in ours + fabs]


def flashes(html: str) -> list[str]:
    found = re.findall(
        r'<div class="alert alert-(?:danger|success|warning|info)[^"]*">\s*(?:<button[^>]*>&times;</button>)?\s*(.*?)\s*</div>',
        html,
        re.S,
    )
    return [f.strip() for f in found]


def assert_no_error_page(response) -> None:
    body = text(response)
    assert response.status_code < 500
    for leak in ("Traceback", "sqlalchemy", "sqlite3", "IntegrityError", "INSERT INTO", "SELECT "):
        assert leak not in body, leak


class _Scan(HTMLParser):
    """Collects form controls, labels and table headers of a page."""

    def __init__(self):
        super().__init__()
        self.controls, self.label_for, self.ths, self.links = [], set(), [], []
        self._label_depth = 0
        self.wrapped = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.controls.append(a)
            if self._label_depth:
                self.wrapped.add(a.get("id"))
        if tag == "th":
            self.ths.append(a)
        if tag == "a":
            self.links.append(a.get("href", ""))

    def handle_endtag(self, tag):
        if tag == "label":
            self._label_depth -= 1


def scan(html: str) -> _Scan:
    parser = _Scan()
    parser.feed(html)
    return parser


def staff_form(app, **changes):
    alpha = app.seeded["alpha"]
    data = {
        "username": "new.clerk",
        "first_name": "Nune",
        "last_name": "Clerkyan",
        "email": "new.clerk@test.example",
        "password": NEW_PASSWORD,
        "municipality_id": str(alpha["id"]),
        "department_id": str(alpha["departments"]["front_office"]),
        "roles": [CLERK],
        "position": "Front desk",
        "active": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# -- system administrator: municipalities ---------------------------------------------------


def test_system_admin_creates_and_edits_a_municipality(app, client, as_user):
    as_user("system_admin")
    before = count(app, Municipality)
    response = client.post(
        "/admin/municipalities/add",
        data={
            "code": "gamma",
            "name_hy": "Գամմա",
            "name_en": "Gamma",
            "name_ru": "Гамма",
            "region": "Kotayk",
            "active": "y",
        },
    )
    assert response.status_code == 302
    assert count(app, Municipality) == before + 1
    new_id = scalar(app, select(Municipality.id).where(Municipality.code == "gamma"))
    assert new_id is not None

    response = client.post(
        f"/admin/municipalities/edit/{new_id}",
        data={
            "code": "gamma",
            "name_hy": "Գամմա",
            "name_en": "Gamma City",
            "name_ru": "Гамма",
            "region": "Shirak",
            "active": "y",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        m = db.session.get(Municipality, new_id)
        assert (m.name_en, m.region) == ("Gamma City", "Shirak")

    listing = text(client.get("/admin/municipalities/list/"))
    for name in ("Alpha", "Beta", "Gamma City"):
        assert name in listing


def test_municipality_with_taken_or_malformed_code_is_refused(app, client, as_user):
    as_user("system_admin")
    before = count(app, Municipality)
    response = client.post(
        "/admin/municipalities/add", data={"code": "alpha", "name_hy": "Կրկնօրինակ"}, follow_redirects=True
    )
    assert_no_error_page(response)
    assert count(app, Municipality) == before
    assert field_errors(text(response)).count("Already exists.") == 1

    response = client.post("/admin/municipalities/add", data={"code": "Bad Code!", "name_hy": "Վատ"})
    assert_no_error_page(response)
    assert count(app, Municipality) == before
    assert "Use lower-case Latin letters, digits, - and _ only." in field_errors(text(response))


def test_municipalities_cannot_be_deleted_through_the_list(app, client, as_user):
    as_user("system_admin")
    beta_id = app.seeded["beta"]["id"]
    response = client.post(f"/admin/municipalities/delete/{beta_id}")
    assert response.status_code in (302, 403, 404, 405)
    assert count(app, Municipality, Municipality.id == beta_id) == 1


def test_municipal_admin_cannot_reach_municipality_management(app, client, as_user):
    as_user("municipal_admin")
    for url in (
        "/admin/municipalities/list/",
        "/admin/municipalities/add",
        f"/admin/municipalities/edit/{app.seeded['beta']['id']}",
    ):
        assert client.get(url).status_code == 403, url
    response = client.post("/admin/municipalities/add", data={"code": "rogue", "name_hy": "Ռոգ"})
    assert response.status_code == 403
    assert count(app, Municipality, Municipality.code == "rogue") == 0


def test_auditor_sees_only_their_own_municipality_in_the_list(app, client, as_user):
    as_user("auditor")
    listing = client.get("/admin/municipalities/list/")
    assert listing.status_code == 200
    assert "Alpha" in text(listing) and "Beta" not in text(listing)
    assert client.get(f"/admin/municipalities/show/{app.seeded['beta']['id']}").status_code == 404
    assert client.get(f"/admin/municipalities/show/{app.seeded['alpha']['id']}").status_code == 200


# -- plug-ins page ------------------------------------------------------------------------


def plugin_row(html: str, name: str) -> str:
    match = re.search(
        r'<tr class="plugin-[a-z]+">\s*<th scope="row"><code>' + re.escape(name) + r"</code>.*?</tr>", html, re.S
    )
    assert match, f"no row for plug-in {name}"
    return match.group(0)


def test_plugins_page_lists_the_builtin_service(app, client, as_user):
    as_user("system_admin")
    response = client.get("/admin/plugins/")
    assert response.status_code == 200
    row = plugin_row(text(response), "residence_certificate")
    assert 'class="plugin-active"' in row
    assert '<td class="source">built-in</td>' in row
    assert "<code>residence-certificate</code> v1" in row
    version = re.search(r'<td class="version">(.*?)</td>', row).group(1)
    assert re.fullmatch(r"\d+(\.\d+)+\S*", version), f"no version shown: {version!r}"
    # The services table names the key, version and where it came from.
    services = re.search(r'<table class="table table-striped" id="services">.*?</table>', text(response), re.S).group(0)
    assert re.search(r"<td><code>residence-certificate</code></td><td>1</td>.*?<td>built-in</td>", services, re.S)


def test_broken_plugin_is_shown_disabled_with_its_error_and_the_site_still_works(tmp_path):
    from app.sdk import hookimpl

    class BrokenPlugin:
        __name__ = "broken_forms"

        @hookimpl
        def register_services(self):
            raise RuntimeError("the forms server <forms.local> is unreachable")

    app = make_app(tmp_path, plugins=[*builtin_plugins(), BrokenPlugin()], HAMAYNK_STRICT_PLUGINS=False)
    try:
        seed_system_admin(app)
        seed_municipality(app, "alpha", "Alpha")
        client = app.test_client()
        login(client, "sysadmin")
        english(client)
        page = client.get("/admin/plugins/")
        assert page.status_code == 200
        html = text(page)
        broken = plugin_row(html, "broken_forms")
        assert 'class="plugin-disabled"' in broken and "disabled" in broken
        # The error is shown, escaped (it is plug-in text, not markup).
        assert "register_services() raised RuntimeError: the forms server &lt;forms.local&gt; is unreachable" in broken
        assert "<forms.local>" not in html
        assert 'class="plugin-active"' in plugin_row(html, "residence_certificate")
        # Disabled plug-ins are listed first, so an admin sees trouble at once.
        assert html.index("broken_forms") < html.index("<code>residence_certificate</code>")
        for url in ("/", "/admin/services/", "/admin/staff/", "/admin/departments/list/"):
            assert client.get(url).status_code == 200, url
        services = text(client.get("/admin/services/"))
        assert f'data-service="{SERVICE}"' in services
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_plugins_page_is_for_system_admins_and_auditors_only(client, as_user):
    as_user("municipal_admin")
    assert client.get("/admin/plugins/").status_code == 403
    as_user("auditor")
    assert client.get("/admin/plugins/").status_code == 200


# -- departments --------------------------------------------------------------------------


def test_municipal_admin_lists_only_their_departments(app, client, as_user):
    as_user("municipal_admin")
    response = client.get("/admin/departments/list/")
    assert response.status_code == 200
    html = text(response)
    for department_id in app.seeded["alpha"]["departments"].values():
        assert f"/admin/departments/show/{department_id}" in html
    for department_id in app.seeded["beta"]["departments"].values():
        assert f"/admin/departments/show/{department_id}" not in html
    assert "Beta" not in html and "beta." not in html
    assert "Alpha" in html


@pytest.mark.parametrize("endpoint", ["show", "edit"])
def test_municipal_admin_cannot_open_another_municipalitys_department(app, client, as_user, endpoint):
    as_user("municipal_admin")
    beta_department = app.seeded["beta"]["departments"]["trade"]
    response = client.get(f"/admin/departments/{endpoint}/{beta_department}")
    assert response.status_code == 404
    assert "Beta" not in text(response)


def test_municipal_admin_cannot_change_or_delete_another_municipalitys_department(app, client, as_user):
    as_user("municipal_admin")
    alpha_id = app.seeded["alpha"]["id"]
    beta_department = app.seeded["beta"]["departments"]["trade"]
    before = department_row(app, beta_department)

    response = client.post(
        f"/admin/departments/edit/{beta_department}",
        data={"municipality": str(alpha_id), "code": "stolen", "name_hy": "Գողացված"},
    )
    assert response.status_code == 404
    response = client.post(f"/admin/departments/delete/{beta_department}")
    assert response.status_code == 404
    assert department_row(app, beta_department) == before


def test_generic_action_endpoints_do_not_reach_other_municipalities(app, client, as_user):
    as_user("municipal_admin")
    beta_department = app.seeded["beta"]["departments"]["trade"]
    before = department_row(app, beta_department)
    departments_before = count(app, Department)

    for name in ("muldelete", "delete", "nonexistent"):
        response = client.post("/admin/departments/action_post", data={"action": name, "rowid": [str(beta_department)]})
        assert response.status_code == 404, name
        response = client.post(f"/admin/departments/action/{name}/{beta_department}")
        assert response.status_code == 404, name
    response = client.post("/admin/departments/action_post", data={})
    assert response.status_code == 404
    assert client.get("/admin/departments/download/..%2Fconfig.py").status_code == 404
    assert client.get("/admin/departments/download/anything.txt").status_code == 404

    assert department_row(app, beta_department) == before
    assert count(app, Department) == departments_before


def test_department_form_offers_only_the_admins_municipality(app, client, as_user):
    as_user("municipal_admin")
    html = text(client.get("/admin/departments/add"))
    select_html = re.search(r'<select[^>]*name="municipality"[^>]*>(.*?)</select>', html, re.S).group(1)
    options = re.findall(r'<option value="(\d+)"', select_html)
    assert options == [str(app.seeded["alpha"]["id"])]
    assert "Beta" not in html

    as_user("system_admin")
    html = text(client.get("/admin/departments/add"))
    select_html = re.search(r'<select[^>]*name="municipality"[^>]*>(.*?)</select>', html, re.S).group(1)
    assert sorted(re.findall(r'<option value="(\d+)"', select_html)) == sorted(
        [str(app.seeded["alpha"]["id"]), str(app.seeded["beta"]["id"])]
    )


def test_municipal_admin_adds_a_department_to_their_municipality(app, client, as_user):
    as_user("municipal_admin")
    alpha_id = app.seeded["alpha"]["id"]
    response = client.post(
        "/admin/departments/add",
        data={"municipality": str(alpha_id), "code": "archive", "name_hy": "Արխիվ", "name_en": "Archive"},
    )
    assert response.status_code == 302
    assert count(app, Department, Department.code == "archive", Department.municipality_id == alpha_id) == 1
    assert "Archive" in text(client.get("/admin/departments/list/")) or "Արխիվ" in text(
        client.get("/admin/departments/list/")
    )


def test_forged_department_in_another_municipality_is_refused(app, client, as_user):
    as_user("municipal_admin")
    beta_id = app.seeded["beta"]["id"]
    before = count(app, Department)
    response = client.post(
        "/admin/departments/add", data={"municipality": str(beta_id), "code": "forged", "name_hy": "Կեղծ"}
    )
    assert_no_error_page(response)
    assert response.status_code in (200, 400)
    assert field_errors(text(response)), "the refused field must say why"
    assert count(app, Department) == before

    # FAB's "related filter" trick (?_flt_0_municipality=) must not smuggle beta in either.
    response = client.post(
        f"/admin/departments/add?_flt_0_municipality={beta_id}",
        data={"code": "forged2", "name_hy": "Կեղծ"},
        follow_redirects=True,
    )
    assert_no_error_page(response)
    assert count(app, Department) == before


def test_related_filter_cannot_place_a_department_in_another_municipality(app, client, as_user):
    as_user("municipal_admin")
    beta_id = app.seeded["beta"]["id"]
    before = count(app, Department)
    response = client.post(
        f"/admin/departments/add?_flt_0_municipality={beta_id}",
        data={"municipality": str(beta_id), "code": "smuggled", "name_hy": "Մաքսանենգ"},
        follow_redirects=True,
    )
    assert_no_error_page(response)
    assert count(app, Department) == before
    assert count(app, Department, Department.code == "smuggled") == 0


def test_editing_a_department_cannot_move_it_to_another_municipality(app, client, as_user):
    as_user("system_admin")
    alpha_department = app.seeded["alpha"]["departments"]["social"]
    response = client.post(
        f"/admin/departments/edit/{alpha_department}",
        data={
            "municipality": str(app.seeded["beta"]["id"]),
            "code": "social",
            "name_hy": "Սոցիալական",
            "name_en": "Social Affairs",
        },
    )
    assert response.status_code == 302
    municipality_id, _code, _hy, name_en = department_row(app, alpha_department)
    assert municipality_id == app.seeded["alpha"]["id"]
    assert name_en == "Social Affairs"


def test_duplicate_department_code_gets_a_clear_message(app, client, as_user):
    as_user("municipal_admin")
    alpha_id = app.seeded["alpha"]["id"]
    before = count(app, Department)
    response = client.post(
        "/admin/departments/add",
        data={"municipality": str(alpha_id), "code": "front_office", "name_hy": "Կրկնակի"},
        follow_redirects=True,
    )
    assert_no_error_page(response)
    assert "This municipality already has a department with the code front_office." in flashes(text(response))
    assert count(app, Department) == before

    # Renaming a department onto another's code is refused the same way.
    trade = app.seeded["alpha"]["departments"]["trade"]
    before_row = department_row(app, trade)
    response = client.post(
        f"/admin/departments/edit/{trade}", data={"code": "social", "name_hy": "Առևտուր"}, follow_redirects=True
    )
    assert_no_error_page(response)
    assert "This municipality already has a department with the code social." in flashes(text(response))
    assert department_row(app, trade) == before_row

    # The same code in another municipality is fine: codes are per municipality.
    as_user("municipal_admin", "beta")
    response = client.post(
        "/admin/departments/add",
        data={"municipality": str(app.seeded["beta"]["id"]), "code": "archive", "name_hy": "Արխիվ"},
    )
    as_user("municipal_admin")
    response = client.post(
        "/admin/departments/add", data={"municipality": str(alpha_id), "code": "archive", "name_hy": "Արխիվ"}
    )
    assert response.status_code == 302
    assert count(app, Department, Department.code == "archive") == 2


def test_department_names_with_markup_are_shown_escaped(app, client, as_user):
    as_user("municipal_admin")
    alpha_id = app.seeded["alpha"]["id"]
    name = "<script>alert('x')</script> Բաժին ✓"
    response = client.post(
        "/admin/departments/add", data={"municipality": str(alpha_id), "code": "xss", "name_hy": name, "name_en": name}
    )
    assert response.status_code == 302
    html = text(client.get("/admin/departments/list/"))
    assert "<script>alert('x')</script>" not in html
    assert "&lt;script&gt;alert(" in html


@pytest.mark.parametrize(
    "data, message",
    [
        ({"code": "x" * 65, "name_hy": "Երկար"}, "Field cannot be longer than 64 characters."),
        ({"code": "long_name", "name_hy": "Ա" * 5000}, "Field cannot be longer than 200 characters."),
        ({"code": "", "name_hy": ""}, "This field is required."),
        ({"code": "Bad Code", "name_hy": "Վատ"}, "Use lower-case Latin letters, digits, - and _ only."),
    ],
)
def test_bad_department_input_gets_a_message_and_writes_nothing(app, client, as_user, data, message):
    as_user("municipal_admin")
    before = count(app, Department)
    response = client.post("/admin/departments/add", data={"municipality": str(app.seeded["alpha"]["id"]), **data})
    assert_no_error_page(response)
    assert message in field_errors(text(response))
    assert count(app, Department) == before


@pytest.mark.parametrize(
    "url",
    [
        "/admin/departments/show/abc",
        "/admin/departments/edit/1.5",
        "/admin/departments/show/-1",
        "/admin/departments/show/99999999999999999999999999",
        "/admin/departments/edit/%27%20OR%201=1--",
        "/admin/municipalities/show/99999999999999999999999999",
        "/admin/staff/abc/edit",
        "/admin/staff/99999999999999999999999999/edit",
        "/admin/services/%3Cscript%3E",
    ],
)
def test_malformed_ids_are_not_found_not_errors(client, as_user, url):
    as_user("system_admin")
    response = client.get(url)
    assert response.status_code == 404
    assert "<script>" not in text(response)


@pytest.mark.parametrize(
    "query",
    [
        "psize_DepartmentView=abc",
        "page_DepartmentView=-5",
        "page_DepartmentView=99999999999999999999999999",
        "psize_DepartmentView=1000000",
        "_oc_DepartmentView=nonexistent&_od_DepartmentView=asc",
        "_oc_DepartmentView=municipality_id);DROP TABLE department;--&_od_DepartmentView=asc",
    ],
)
def test_hostile_list_arguments_are_refused_cleanly(app, client, as_user, query):
    as_user("municipal_admin")
    response = client.get(f"/admin/departments/list/?{query}")
    assert response.status_code == 400
    assert count(app, Department) == 12


def test_reasonable_list_arguments_still_work(app, client, as_user):
    as_user("municipal_admin")
    response = client.get(
        "/admin/departments/list/?psize_DepartmentView=2&page_DepartmentView=1&_oc_DepartmentView=code&_od_DepartmentView=desc"
    )
    assert response.status_code == 200
    response = client.get("/admin/departments/list/?_flt_0_code=front")
    assert response.status_code == 200
    assert "Beta" not in text(response)


@pytest.mark.parametrize(
    ("path", "view"),
    [
        ("/users/list/", "UserDBModelView"),
        ("/roles/list/", "RoleModelView"),
        ("/groups/list/", "UserGroupModelView"),
        ("/permissionviews/list/", "PermissionViewModelView"),
    ],
)
def test_security_lists_sort_only_by_their_columns(app, client, as_user, path, view):
    """Flask-AppBuilder's security lists ordered by any name given: an unknown one was a 500,
    ``password`` sorted the users by their password hashes (found by a stranger's walk)."""
    as_user("system_admin")
    for column in ("nonexistent", "password", "id);DROP TABLE ab_user;--"):
        response = client.get(f"{path}?_oc_{view}={column}&_od_{view}=asc")
        assert response.status_code == 400, (path, column)
    from app.extensions import current_appbuilder

    with app.app_context():
        offered = next(v for v in current_appbuilder().baseviews if type(v).__name__ == view).order_columns
    for column in offered:  # the permission views offer none: their columns are relations
        assert client.get(f"{path}?_oc_{view}={column}&_od_{view}=desc").status_code == 200, column
    assert view == "PermissionViewModelView" or "username" in offered or "name" in offered


# -- staff --------------------------------------------------------------------------------


def test_municipal_admin_sees_only_their_staff(app, client, as_user):
    as_user("municipal_admin")
    response = client.get("/admin/staff/")
    assert response.status_code == 200
    html = text(response)
    for key in ("municipal_admin", "clerk", "specialist", "head", "auditor"):
        assert f"alpha.{key}" in html
        assert f"beta.{key}" not in html
    assert "Beta" not in html and "sysadmin" not in html
    for uid in app.seeded["beta"]["users"].values():
        assert f"/admin/staff/{uid}/edit" not in html


def test_system_admin_sees_all_staff(app, client, as_user):
    as_user("system_admin")
    html = text(client.get("/admin/staff/"))
    assert "alpha.clerk" in html and "beta.clerk" in html


def test_municipal_admin_creates_a_clerk(app, client, as_user):
    as_user("municipal_admin")
    response = client.post("/admin/staff/add", data=staff_form(app))
    assert response.status_code == 302
    new_id = user_id(app, "new.clerk")
    assert new_id is not None
    with app.app_context():
        profile = db.session.execute(select(StaffProfile).where(StaffProfile.user_id == new_id)).scalar_one()
        assert profile.municipality_id == app.seeded["alpha"]["id"]
        assert profile.department_id == app.seeded["alpha"]["departments"]["front_office"]
        assert profile.position == "Front desk"
        assert [r.name for r in profile.user.roles] == [CLERK]
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "staff.create", AuditEvent.object_id == str(new_id))
        ).scalar_one()
        assert event.municipality_id == app.seeded["alpha"]["id"]
        assert event.actor_id == app.seeded["alpha"]["users"]["municipal_admin"]
    assert "new.clerk" in text(client.get("/admin/staff/"))
    # The new account can sign in with the password set here.
    client.post("/logout/")
    assert client.post("/login/", data={"username": "new.clerk", "password": NEW_PASSWORD}).status_code == 302


def assert_refused(app, response, message, username="new.clerk"):
    assert response.status_code == 400
    assert_no_error_page(response)
    html = text(response)
    assert message in field_errors(html) or message in flashes(html), (message, field_errors(html), flashes(html))
    assert user_id(app, username) is None


def test_municipal_admin_cannot_grant_system_admin(app, client, as_user):
    as_user("municipal_admin")
    users_before = count(app, StaffProfile)
    form = text(client.get("/admin/staff/add"))
    assert f'value="{SYSTEM_ADMIN}"' not in form
    response = client.post("/admin/staff/add", data=staff_form(app, roles=[CLERK, SYSTEM_ADMIN]))
    assert_refused(app, response, "You may not give the role System admin.")
    assert count(app, StaffProfile) == users_before


def test_municipal_admin_cannot_give_themselves_or_others_system_admin_on_edit(app, client, as_user):
    as_user("municipal_admin")
    clerk = app.seeded["alpha"]["users"]["clerk"]
    response = client.post(
        f"/admin/staff/{clerk}/edit",
        data=staff_form(
            app, username="alpha.clerk", email="alpha.clerk@test.example", password="", roles=[SYSTEM_ADMIN]
        ),
    )
    assert response.status_code == 400
    assert "You may not give the role System admin." in flashes(text(response))
    with app.app_context():
        assert [r.name for r in app.appbuilder.sm.get_user_by_id(clerk).roles] == [CLERK]


def test_municipal_admin_cannot_create_staff_in_another_municipality(app, client, as_user):
    as_user("municipal_admin")
    response = client.post(
        "/admin/staff/add", data=staff_form(app, municipality_id=str(app.seeded["beta"]["id"]), department_id="")
    )
    assert_refused(app, response, "You can only manage staff of your own municipality.")
    form = text(client.get("/admin/staff/add"))
    options = re.findall(
        r'<option[^>]*value="(\d+)"', re.search(r'<select[^>]*id="municipality_id".*?</select>', form, re.S).group(0)
    )
    assert options == [str(app.seeded["alpha"]["id"])]


def test_municipal_admin_cannot_assign_another_municipalitys_department(app, client, as_user):
    as_user("municipal_admin")
    response = client.post(
        "/admin/staff/add", data=staff_form(app, department_id=str(app.seeded["beta"]["departments"]["front_office"]))
    )
    assert_refused(app, response, "Choose a department of this municipality.")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"username": "ALPHA.CLERK"}, "This username is already taken."),
        ({"email": "Alpha.Clerk@test.example"}, "This e-mail address is already used by another account."),
        ({"email": "not-an-email"}, "Enter a valid e-mail address."),
        ({"password": "short"}, "Use 10 to 128 characters."),
        ({"password": ""}, "Set a password for the new account."),
        ({"roles": None}, "Choose at least one role."),
        ({"roles": ["Citizen"]}, "You may not give the role Citizen."),
        ({"roles": ["Emperor"]}, "You may not give the role Emperor."),
        ({"username": "a b<c>"}, "Use Latin letters, digits and . _ @ - only."),
        ({"first_name": "Ա" * 5000}, "Field cannot be longer than 64 characters."),
        ({"department_id": "abc"}, "Invalid Choice: could not coerce."),
    ],
)
def test_bad_staff_input_gets_a_clear_message_and_writes_nothing(app, client, as_user, changes, message):
    as_user("municipal_admin")
    profiles = count(app, StaffProfile)
    events = count(app, AuditEvent)
    response = client.post("/admin/staff/add", data=staff_form(app, **changes))
    username = changes.get("username", "new.clerk")
    if username == "ALPHA.CLERK":
        username = "new.clerk"
    assert_refused(app, response, message, username)
    assert count(app, StaffProfile) == profiles
    assert count(app, AuditEvent) == events


def test_staff_messages_arrive_in_the_users_language(app, client, login_as):
    login_as("municipal_admin")  # no language chosen: Armenian, the default
    response = client.post("/admin/staff/add", data=staff_form(app, email="not-an-email"))
    assert response.status_code == 400
    html = text(response)
    assert '<html lang="hy">' in html
    with app.test_request_context(), force_locale("hy"):
        expected = gettext("Enter a valid e-mail address.")
    assert expected in field_errors(html)


def test_municipal_admin_cannot_edit_other_municipalities_staff_or_system_admins(app, client, as_user):
    as_user("municipal_admin")
    beta_clerk = app.seeded["beta"]["users"]["clerk"]
    sysadmin = app.seeded["sysadmin"]
    for uid in (beta_clerk, sysadmin):
        assert client.get(f"/admin/staff/{uid}/edit").status_code == 404
        response = client.post(
            f"/admin/staff/{uid}/edit", data=staff_form(app, username="hijacked", email="hijacked@test.example")
        )
        assert response.status_code == 404
    assert user_id(app, "hijacked") is None
    with app.app_context():
        assert app.appbuilder.sm.get_user_by_id(beta_clerk).username == "beta.clerk"


def test_municipal_admin_edits_their_clerk(app, client, as_user):
    as_user("municipal_admin")
    clerk = app.seeded["alpha"]["users"]["clerk"]
    form = text(client.get(f"/admin/staff/{clerk}/edit"))
    assert 'value="alpha.clerk"' in form
    response = client.post(
        f"/admin/staff/{clerk}/edit",
        data=staff_form(
            app,
            username="alpha.clerk",
            email="alpha.clerk@test.example",
            password="",
            roles=[CLERK, "Specialist"],
            department_id=str(app.seeded["alpha"]["departments"]["civil_registry"]),
        ),
    )
    assert response.status_code == 302
    with app.app_context():
        user = app.appbuilder.sm.get_user_by_id(clerk)
        assert sorted(r.name for r in user.roles) == [CLERK, "Specialist"]
        profile = db.session.execute(select(StaffProfile).where(StaffProfile.user_id == clerk)).scalar_one()
        assert profile.department_id == app.seeded["alpha"]["departments"]["civil_registry"]
    # The password was left empty: the old one still works.
    client.post("/logout/")
    assert client.post("/login/", data={"username": "alpha.clerk", "password": PASSWORD}).status_code == 302


def test_staff_names_with_markup_are_escaped(app, client, as_user):
    as_user("municipal_admin")
    response = client.post(
        "/admin/staff/add", data=staff_form(app, first_name="<img src=x onerror=alert(1)>", last_name="Պողոսյան")
    )
    assert response.status_code == 302
    html = text(client.get("/admin/staff/"))
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; Պողոսյան" in html


def test_system_admin_creates_a_system_admin_and_a_staff_member_elsewhere(app, client, as_user):
    as_user("system_admin")
    response = client.post(
        "/admin/staff/add",
        data=staff_form(
            app,
            username="second.admin",
            email="second.admin@test.example",
            municipality_id="",
            department_id="",
            roles=[SYSTEM_ADMIN],
        ),
    )
    assert response.status_code == 302
    with app.app_context():
        assert [r.name for r in app.appbuilder.sm.find_user(username="second.admin").roles] == [SYSTEM_ADMIN]
    beta = app.seeded["beta"]
    response = client.post(
        "/admin/staff/add",
        data=staff_form(
            app,
            username="beta.new",
            email="beta.new@test.example",
            municipality_id=str(beta["id"]),
            department_id=str(beta["departments"]["trade"]),
        ),
    )
    assert response.status_code == 302
    # A system administrator belongs to no municipality.
    response = client.post(
        "/admin/staff/add",
        data=staff_form(app, username="odd.admin", email="odd.admin@test.example", roles=[SYSTEM_ADMIN]),
    )
    assert_refused(app, response, "A system administrator belongs to no municipality.", "odd.admin")


def test_read_only_roles_see_staff_without_edit_links(app, client, as_user):
    for role in ("auditor", "head"):
        as_user(role)
        response = client.get("/admin/staff/")
        assert response.status_code == 200
        html = text(response)
        assert "alpha.clerk" in html and "beta.clerk" not in html
        assert "/admin/staff/add" not in html
        assert "/edit" not in html
        assert client.get("/admin/staff/add").status_code == 403
        response = client.post("/admin/staff/add", data=staff_form(app))
        assert response.status_code == 403
        assert user_id(app, "new.clerk") is None


# -- services -----------------------------------------------------------------------------


def services_form(app, municipality="alpha", **changes):
    data = {
        "enabled": "y",
        "fee_override": "2500",
        "deadline_override": "7",
        "department_id": str(app.seeded[municipality]["departments"]["civil_registry"]),
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_services_page_lists_services_for_the_admins_municipality(app, client, as_user):
    as_user("municipal_admin")
    response = client.get("/admin/services/")
    assert response.status_code == 200
    html = text(response)
    assert f'data-service="{SERVICE}"' in html
    assert "Alpha" in html and "Beta" not in html
    assert f"/admin/services/{SERVICE}" in html


def test_municipal_admin_enables_and_tunes_a_service(app, client, as_user):
    as_user("municipal_admin")
    alpha = app.seeded["alpha"]
    assert activation(app, "alpha") is None
    response = client.post(f"/admin/services/{SERVICE}", data=services_form(app))
    assert response.status_code == 302
    assert activation(app, "alpha") == (True, 2500, 7, alpha["departments"]["civil_registry"])
    assert activation(app, "beta") is None
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "service.activation")).scalar_one()
        assert event.municipality_id == alpha["id"]
        assert event.object_id == SERVICE
        assert event.actor_id == alpha["users"]["municipal_admin"]
        assert event.details["after"] == {
            "enabled": True,
            "fee_override": 2500,
            "deadline_override": 7,
            "department_id": alpha["departments"]["civil_registry"],
        }

    html = text(client.get("/admin/services/"))
    row = re.search(rf'<tr data-service="{SERVICE}">.*?</tr>', html, re.S).group(0)
    assert "2,500" in row and "Yes" in row and "Population Registry Department" in row

    # Disabling: an unticked checkbox is simply absent from the form.
    response = client.post(
        f"/admin/services/{SERVICE}", data={"fee_override": "", "deadline_override": "", "department_id": ""}
    )
    assert response.status_code == 302
    assert activation(app, "alpha") == (False, None, None, None)
    assert count(app, AuditEvent, AuditEvent.action == "service.activation") == 2
    assert activation(app, "beta") is None


def test_beta_activation_is_not_touched_by_alpha(app, client, as_user):
    as_user("municipal_admin", "beta")
    assert (
        client.post(f"/admin/services/{SERVICE}", data=services_form(app, "beta", fee_override="900")).status_code
        == 302
    )
    beta_before = activation(app, "beta")
    as_user("municipal_admin")
    # A forged ?municipality= is ignored for municipal admins: this changes alpha only.
    response = client.post(
        f"/admin/services/{SERVICE}?municipality={app.seeded['beta']['id']}",
        data=services_form(app, fee_override="100"),
    )
    assert response.status_code == 302
    assert activation(app, "beta") == beta_before
    assert activation(app, "alpha")[1] == 100
    html = text(client.get(f"/admin/services/?municipality={app.seeded['beta']['id']}"))
    assert "Beta" not in html


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"fee_override": "-1"}, "Enter an amount between 0 and 100 000 000."),
        ({"fee_override": "abc"}, "Enter an amount between 0 and 100 000 000."),
        ({"fee_override": "12.5"}, "Enter an amount between 0 and 100 000 000."),
        ({"fee_override": "9" * 40}, "Enter an amount between 0 and 100 000 000."),
        ({"deadline_override": "0"}, "Enter between 1 and 365 working days."),
        ({"deadline_override": "-3"}, "Enter between 1 and 365 working days."),
        ({"deadline_override": "seven"}, "Enter between 1 and 365 working days."),
        ({"department_id": "BETA"}, "Invalid Choice: could not coerce."),
        ({"department_id": "999999"}, "Choose a department of this municipality."),
    ],
)
def test_bad_service_terms_are_refused_and_nothing_is_written(app, client, as_user, changes, message):
    as_user("municipal_admin")
    response = client.post(f"/admin/services/{SERVICE}", data=services_form(app, **changes))
    assert response.status_code == 400
    assert_no_error_page(response)
    html = text(response)
    assert any(message in m for m in field_errors(html) + flashes(html)), (field_errors(html), flashes(html))
    assert activation(app, "alpha") is None
    assert count(app, AuditEvent, AuditEvent.action == "service.activation") == 0


def test_another_municipalitys_department_cannot_be_made_responsible(app, client, as_user):
    as_user("municipal_admin")
    # First a valid state, so "nothing changed" is a real comparison.
    assert client.post(f"/admin/services/{SERVICE}", data=services_form(app)).status_code == 302
    before = activation(app, "alpha")
    events = count(app, AuditEvent)
    response = client.post(
        f"/admin/services/{SERVICE}",
        data=services_form(app, fee_override="1", department_id=str(app.seeded["beta"]["departments"]["trade"])),
    )
    assert response.status_code == 400
    assert "Choose a department of this municipality." in flashes(text(response))
    assert activation(app, "alpha") == before
    assert count(app, AuditEvent) == events
    # The department drop-down never offers beta's departments.
    form = text(client.get(f"/admin/services/{SERVICE}"))
    options = set(re.findall(r'<option[^>]*value="(\d+)"', form))
    assert options == {str(i) for i in app.seeded["alpha"]["departments"].values()}


def test_unknown_service_is_not_found(app, client, as_user):
    as_user("municipal_admin")
    assert client.get("/admin/services/no-such-service").status_code == 404
    assert client.post("/admin/services/no-such-service", data=services_form(app)).status_code == 404
    assert count(app, ServiceActivation) == 0


def test_system_admin_tunes_any_municipality(app, client, as_user):
    as_user("system_admin")
    beta = app.seeded["beta"]
    page = text(client.get(f"/admin/services/?municipality={beta['id']}"))
    assert "Beta" in page
    response = client.post(
        f"/admin/services/{SERVICE}?municipality={beta['id']}", data=services_form(app, "beta", fee_override="0")
    )
    assert response.status_code == 302
    assert activation(app, "beta") == (True, 0, 7, beta["departments"]["civil_registry"])
    assert activation(app, "alpha") is None
    # alpha's department cannot be responsible for beta's service.
    response = client.post(f"/admin/services/{SERVICE}?municipality={beta['id']}", data=services_form(app, "alpha"))
    assert response.status_code == 400
    assert activation(app, "beta") == (True, 0, 7, beta["departments"]["civil_registry"])
    assert client.get("/admin/services/?municipality=999999").status_code == 404


def test_auditor_lists_services_but_cannot_change_them(app, client, as_user):
    as_user("auditor")
    response = client.get("/admin/services/")
    assert response.status_code == 200
    assert f"/admin/services/{SERVICE}" not in text(response)
    assert client.get(f"/admin/services/{SERVICE}").status_code == 403
    assert client.post(f"/admin/services/{SERVICE}", data=services_form(app)).status_code == 403
    assert activation(app, "alpha") is None


def test_services_page_with_no_municipality_yet(tmp_path):
    app = make_app(tmp_path)
    try:
        seed_system_admin(app)
        client = app.test_client()
        login(client, "sysadmin")
        english(client)
        response = client.get("/admin/services/")
        assert response.status_code == 200
        assert "There is no municipality yet. Create one first." in text(response)
        assert client.get(f"/admin/services/{SERVICE}").status_code == 404
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- CSRF ---------------------------------------------------------------------------------


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_posts_without_a_csrf_token_are_refused_and_write_nothing(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    try:
        alpha = seed_municipality(app, "alpha", "Alpha")
        client = app.test_client()
        token = csrf_token(text(client.get("/login/")))
        assert (
            client.post(
                "/login/", data={"username": "alpha.municipal_admin", "password": PASSWORD, "csrf_token": token}
            ).status_code
            == 302
        )
        english(client)
        app.seeded = {"alpha": alpha}
        staff = staff_form(app)
        terms = services_form(app)

        response = client.post("/admin/staff/add", data=staff)
        assert response.status_code == 400
        assert "The form has expired or did not come from this site." in text(response)
        assert user_id(app, "new.clerk") is None

        response = client.post(f"/admin/services/{SERVICE}", data=terms)
        assert response.status_code == 400
        assert count(app, ServiceActivation) == 0

        response = client.post(
            "/admin/departments/add", data={"municipality": str(alpha["id"]), "code": "nocsrf", "name_hy": "Առանց"}
        )
        assert response.status_code == 400
        assert count(app, Department, Department.code == "nocsrf") == 0

        response = client.post("/admin/staff/add", data={**staff, "csrf_token": "forged-token"})
        assert response.status_code == 400
        assert user_id(app, "new.clerk") is None

        # With the page's own token the same posts go through: the refusals above were CSRF.
        token = csrf_token(text(client.get("/admin/staff/add")))
        assert client.post("/admin/staff/add", data={**staff, "csrf_token": token}).status_code == 302
        assert user_id(app, "new.clerk") is not None
        token = csrf_token(text(client.get(f"/admin/services/{SERVICE}")))
        assert client.post(f"/admin/services/{SERVICE}", data={**terms, "csrf_token": token}).status_code == 302
        assert count(app, ServiceActivation) == 1
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# -- pages for phones, keyboards and screen readers ---------------------------------------


ADMIN_PAGES = [
    "/admin/staff/",
    "/admin/staff/add",
    "/admin/services/",
    f"/admin/services/{SERVICE}",
    "/admin/departments/list/",
    "/admin/departments/add",
    "/admin/plugins/",
    "/admin/municipalities/list/",
]


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_admin_pages_have_skip_link_viewport_labels_and_header_scopes(client, as_user, url):
    as_user("system_admin")
    response = client.get(url)
    assert response.status_code == 200
    html = text(response)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1.0">' in html
    assert re.search(r'<a class="skip-link" href="#main">', html)
    assert '<main id="main"' in html
    page = scan(html)
    for control in page.controls:
        cid = control.get("id")
        labelled = cid in page.label_for or cid in page.wrapped or control.get("aria-label")
        assert labelled, f"unlabelled control {control} on {url}"
    for th in page.ths:
        # The FAB search widget's filter table is empty until a filter is added.
        assert th.get("scope") in ("col", "row"), f"header without scope on {url}: {th}"
    assert 'aria-describedby="None"' not in html


def test_tables_have_headers(client, as_user):
    as_user("system_admin")
    for url in ("/admin/staff/", "/admin/services/", "/admin/departments/list/", "/admin/plugins/"):
        assert scan(text(client.get(url))).ths, url


def test_field_errors_are_tied_to_their_inputs(app, client, as_user):
    as_user("municipal_admin")
    html = text(client.post("/admin/staff/add", data=staff_form(app, email="nope")))
    assert re.search(
        r'<input[^>]*aria-describedby="email-err"[^>]*aria-invalid="true"|<input[^>]*aria-invalid="true"[^>]*aria-describedby="email-err"',
        html,
    )
    assert 'id="email-err" role="alert"' in html


def test_an_empty_post_disables_the_service(app, client, as_user):
    """Unticking "offered" with every other field empty must not keep the stored values."""
    as_user("municipal_admin")
    assert client.post(f"/admin/services/{SERVICE}", data=services_form(app)).status_code == 302
    assert activation(app, "alpha")[0] is True
    response = client.post(f"/admin/services/{SERVICE}", data={})
    assert response.status_code == 302
    assert activation(app, "alpha")[0] is False


def test_municipal_admin_deletes_their_own_department(app, client, as_user):
    """The positive control for the refused cross-municipality delete."""
    as_user("municipal_admin")
    department = app.seeded["alpha"]["departments"]["education"]
    response = client.post(f"/admin/departments/delete/{department}")
    assert response.status_code == 302
    assert department_row(app, department) is None
    assert count(app, Department, Department.municipality_id == app.seeded["beta"]["id"]) == 6


def test_role_names_in_refusals_are_translated(app, client, login_as):
    login_as("municipal_admin")  # Armenian
    response = client.post("/admin/staff/add", data=staff_form(app, roles=[SYSTEM_ADMIN]))
    assert response.status_code == 400
    with app.test_request_context(), force_locale("hy"):
        expected = gettext("You may not give the role %(role)s.", role=gettext(SYSTEM_ADMIN))
    assert expected in field_errors(text(response))
