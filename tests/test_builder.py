"""The service builder in the admin UI: structured form, versions, export/import, scoping."""

from __future__ import annotations

import html
import io
import json
import re
from html.parser import HTMLParser

import pytest
import yaml
from sqlalchemy import event, func, select
from werkzeug.datastructures import MultiDict

from app.domain.activations import catalogue
from app.extensions import db
from app.models import Application, ServiceDefinition
from app.plugins import builder_services
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, SAMPLE_FILES, walk

BASE = "/admin/builder"


def form_data(key="market-stall", **extra):
    """What a browser posts for a small service: one field, one document, one step."""
    data = {
        "key": key,
        "title_hy": "Վաճառասեղան",
        "title_en": "Market stall",
        "title_ru": "",
        "fee": "1500",
        "fee_period": "once",
        "deadline_days": "5",
        "category": "trade",
        "fields-0-name": "goods",
        "fields-0-type": "choice",
        "fields-0-label_hy": "Ապրանք",
        "fields-0-label_en": "Goods",
        "fields-0-required": "y",
        "fields-0-choices": "food=Սնունդ|Food\ncrafts=Արհեստ|Crafts",
        "fields-1-name": "certificate",
        "fields-1-type": "text",
        "fields-1-label_hy": "Վկայական",
        # Conditions are picked: a field, a comparison and a ticked value of that field.
        "fields-1-visible_when-0-field": "goods",
        "fields-1-visible_when-0-op": "eq",
        "fields-1-visible_when-0-options": ["goods=food"],
        "fields-1-required_when-0-field": "goods",
        "fields-1-required_when-0-op": "eq",
        "fields-1-required_when-0-options": ["goods=food"],
        "documents-0-key": "photo",
        "documents-0-title_hy": "Լուսանկար",
        "documents-0-required": "y",
        "documents-0-types": ["jpeg", "png"],
        "documents-0-max_size_mb": "5",
        "documents-0-max_count": "2",
        "steps-0-key": "review",
        "steps-0-title_hy": "Ուսումնասիրում",
        "steps-0-role": "specialist",
        "steps-0-days": "3",
        "steps-0-actions": ["approve", "reject", "return"],
    }
    data.update(extra)
    return data


def count_rows(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(ServiceDefinition.id))).scalar_one()


def rows(app, key):
    with app.app_context():
        return [
            (r.version, r.municipality_id, r.definition)
            for r in db.session.execute(
                select(ServiceDefinition).where(ServiceDefinition.key == key).order_by(ServiceDefinition.version)
            ).scalars()
        ]


def test_municipal_admin_builds_a_service_that_only_their_municipality_offers(app, client, login_as):
    login_as("municipal_admin")
    response = client.post(f"{BASE}/new", data=form_data())
    assert response.status_code == 302, response.get_data(as_text=True)
    [(version, owner, definition)] = rows(app, "market-stall")
    assert (version, owner) == (1, app.seeded["alpha"]["id"])
    assert definition["fields"][1]["visible_when"] == [{"field": "goods", "op": "eq", "value": "food"}]
    assert definition["fields"][0]["choices"][1] == {"value": "crafts", "label": {"hy": "Արհեստ", "en": "Crafts"}}
    assert definition["documents"][0]["types"] == ["jpeg", "png"]
    registered = plugin_runtime.registry(app).get("market-stall")
    assert (registered.source, registered.plugin, registered.municipality_id) == (
        "builder",
        "builder:market-stall",
        app.seeded["alpha"]["id"],
    )
    with app.app_context():
        assert "market-stall" in {
            o.registered.key for o in catalogue(db.session, plugin_runtime.registry(app), app.seeded["alpha"]["id"])
        }
        assert "market-stall" not in {
            o.registered.key for o in catalogue(db.session, plugin_runtime.registry(app), app.seeded["beta"]["id"])
        }
    assert 'data-service="market-stall"' in client.get(f"{BASE}/").get_data(as_text=True)


def test_a_builder_service_is_applied_for_at_the_front_office_and_approved(app, client, login_as):
    login_as("municipal_admin")
    assert client.post(f"{BASE}/new", data=form_data()).status_code == 302
    response = client.post("/admin/services/market-stall", data={"enabled": "y", "department_id": ""})
    assert response.status_code == 302
    login_as("clerk")
    office = client.get("/office/")
    assert office.status_code == 200 and "market-stall" in office.get_data(as_text=True)
    form = client.get("/office/new/market-stall").get_data(as_text=True)
    token = re.search(r'name="applicant-token" type="hidden" value="([A-Za-z0-9_-]{32})"', form).group(1)
    # Filed through the real front-office form, with the photo the checklist requires...
    response = client.post(
        "/office/new/market-stall",
        content_type="multipart/form-data",
        data={
            "applicant-token": token,
            "applicant-name": "Գայանե Մելքոնյան",
            "applicant-phone": "091 555666",
            "goods": "crafts",
            "doc-photo": [(io.BytesIO(SAMPLE_FILES["png"][0]), "stall.png")],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        filed_id = db.session.execute(
            select(Application.id).where(Application.service_key == "market-stall")
        ).scalar_one()
        assert db.session.get(Application, filed_id).status == "submitted"
    assert walk(app, filed_id) == "approved"
    # ...and through the REST API, with the same rules (a food stall needs its certificate).
    api_token = client.post(
        "/api/v1/security/login", json={"username": "alpha.clerk", "password": PASSWORD, "provider": "db"}
    ).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {api_token}"}
    refused = client.post(
        "/api/v1/applications",
        headers=headers,
        json={"service_key": "market-stall", "data": {"goods": "food"}, "applicant": {"name": "Aram"}},
    )
    assert refused.status_code == 400 and "certificate" in refused.get_data(as_text=True)
    created = client.post(
        "/api/v1/applications",
        headers=headers,
        json={
            "service_key": "market-stall",
            "data": {"goods": "food", "certificate": "C-1"},
            "applicant": {"name": "Aram"},
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.get_json()["result"]["service_version"] == 1
    # Beta may not offer alpha's own service, not even by a forged request.
    login_as("municipal_admin", "beta")
    assert client.post("/admin/services/market-stall", data={"enabled": "y"}).status_code == 404


def test_add_row_re_renders_with_one_more_row_and_writes_nothing(app, client, login_as):
    login_as("municipal_admin")
    response = client.post(f"{BASE}/new", data=form_data(add_row="fields"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="fields-2-name"' in page and 'name="fields-3-name"' not in page
    assert 'value="certificate"' in page  # what was typed is kept
    assert (
        client.post(f"{BASE}/new", data=form_data(add_row="steps")).get_data(as_text=True).count('name="steps-1-key"')
        == 1
    )
    assert count_rows(app) == 0


def test_new_form_is_keyboard_and_label_friendly(app, client, login_as):
    login_as("municipal_admin")
    page = client.get(f"{BASE}/new").get_data(as_text=True)
    for name in ("key", "title_hy", "fields-0-name", "fields-0-type", "documents-0-key", "steps-0-role"):
        assert f'<label class="control-label" for="{name}"' in page or f'for="{name}"' in page, name
    assert 'name="add_row" value="fields"' in page and "<legend" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"steps-0-actions": ["reject"]}, "step 'review' must allow 'approve', or no application could ever pass it"),
        ({"title_hy": ""}, "title needs an Armenian ('hy') text"),
        ({"key": "Market Stall"}, "key 'Market Stall' must be kebab-case"),
        (
            # A forged (or since removed) field: only the form's own fields are offered.
            {"fields-1-visible_when-0-field": "colour", "fields-1-visible_when-0-value": "red"},
            "field 'certificate' visible_when refers to unknown field 'colour'",
        ),
        ({"fields-1-required_when-0-op": "between"}, "unknown operator 'between'"),
        ({"fields-0-choices": ""}, "field 'goods' of type 'choice' needs choices"),
        ({"documents-0-types": []}, "document 'photo' accepts no file types"),
        # Not a number: nothing technical to add, the message sits next to the input.
        ({"fields-0-min_value": "lots"}, "Enter a number."),
    ],
)
def test_invalid_service_is_refused_with_the_exact_message_and_nothing_written(app, client, login_as, changes, message):
    login_as("municipal_admin")
    response = client.post(f"{BASE}/new?_l_=en", data=form_data(**changes))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message.replace("'", "&#39;") in page
    assert "The service cannot be saved." in page
    assert count_rows(app) == 0 and plugin_runtime.registry(app).get("market-stall") is None


def test_wrong_number_in_a_row_is_marked_next_to_it(app, client, login_as):
    login_as("municipal_admin")
    response = client.post(f"{BASE}/new?_l_=en", data=form_data(**{"steps-0-days": "soon"}))
    assert response.status_code == 400
    assert 'id="steps-0-days-err"' in response.get_data(as_text=True)
    assert count_rows(app) == 0


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(\w)\1", "cannot be used: patterns use RE2 syntax, without backreferences or lookaround."),
        (r"(?<!x)y", "cannot be used: patterns use RE2 syntax, without backreferences or lookaround."),
        ("a" * 501, "The pattern is too long: at most 500 characters."),
        (r"[\p{L} -]{2,100}", "This pattern is too complex to check on every submission"),
    ],
)
def test_pattern_that_cannot_be_bounded_is_marked_on_its_row_and_nothing_saved(app, client, login_as, pattern, message):
    login_as("municipal_admin")
    response = client.post(f"{BASE}/new?_l_=en", data=form_data(**{"fields-1-pattern": pattern}))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="fields-1-pattern-err"' in page and message in page
    assert count_rows(app) == 0 and plugin_runtime.registry(app).get("market-stall") is None


def test_pattern_errors_are_translated_and_a_short_enough_value_makes_a_heavy_pattern_fit(app, client, login_as):
    login_as("municipal_admin")
    page = client.post(f"{BASE}/new?_l_=hy", data=form_data(**{"fields-1-pattern": r"(a)\1"})).get_data(as_text=True)
    assert 'id="fields-1-pattern-err"' in page and "RE2" in page and "without backreferences" not in page
    heavy = {"fields-1-pattern": r"[\p{L} -]{2,100}", "fields-1-max_length": "100"}
    response = client.post(f"{BASE}/new", data=form_data(**heavy))
    assert response.status_code == 302, response.get_data(as_text=True)
    [(_version, _owner, definition)] = rows(app, "market-stall")
    assert definition["fields"][1]["pattern"] == r"[\p{L} -]{2,100}"


def test_edit_creates_version_2_and_keeps_version_1(app, client, login_as):
    login_as("municipal_admin")
    client.post(f"{BASE}/new", data=form_data())
    page = client.get(f"{BASE}/market-stall/edit").get_data(as_text=True)
    assert 'value="goods"' in page and "food=Սնունդ|Food" in page
    assert 'name="fields-1-visible_when-0-options" value="goods=food" checked' in page
    response = client.post(
        f"{BASE}/market-stall/edit", data=form_data(key="hijacked", fee="2500", **{"steps-0-days": "4"})
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    versions = rows(app, "market-stall")
    assert [v for v, _o, _d in versions] == [1, 2]
    assert versions[0][2].get("fee") == 1500 and versions[1][2]["fee"] == 2500
    assert rows(app, "hijacked") == []
    registry = plugin_runtime.registry(app)
    assert registry.get("market-stall").version == 2 and registry.get("market-stall", 1).service.fee == 1500


def test_export_then_import_round_trips(app, client, login_as):
    login_as("municipal_admin")
    client.post(f"{BASE}/new", data=form_data())
    exported = client.get(f"{BASE}/market-stall/export")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"] == 'attachment; filename="market-stall-v1.yaml"'
    response = client.post(
        f"{BASE}/import",
        data={"file": (io.BytesIO(exported.data), "market-stall-v1.yaml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    (v1, owner1, first), (v2, owner2, second) = rows(app, "market-stall")
    assert (v1, v2, owner1, owner2) == (1, 2, app.seeded["alpha"]["id"], app.seeded["alpha"]["id"])
    assert {**first, "version": 2} == second
    assert yaml.safe_load(exported.data) == first
    # The exported file is a definition file: the same loader reads it.
    assert (
        builder_services.service_of(
            ServiceDefinition(key="market-stall", version=1, definition=yaml.safe_load(exported.data))
        ).key
        == "market-stall"
    )


def test_import_a_new_key_from_json(app, client, login_as):
    login_as("system_admin")
    definition = {
        "key": "bench-repair",
        "version": 7,
        "title": {"hy": "Նստարան"},
        "steps": [{"key": "fix", "title": {"hy": "Նորոգում"}, "role": "specialist", "days": 2}],
    }
    response = client.post(
        f"{BASE}/import",
        data={"file": (io.BytesIO(json.dumps(definition).encode()), "bench.json"), "owner": ""},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    [(version, owner, _definition)] = rows(app, "bench-repair")
    assert (version, owner) == (1, None)  # versions are assigned, not taken from the file; global for a system admin


HOSTILE = [
    ("evil.yaml", b"!!python/object/apply:os.system ['echo owned']\n", "could not determine a constructor"),
    ("evil.yaml", b"key: x\ntitle: !!python/object/new:object {}\n", "could not determine a constructor"),
    ("bomb.yaml", b"a: &a [x, x]\nb: &b [*a, *a]\nkey: *b\n", "anchors and aliases"),
    ("huge.yaml", b"key: x\n" + b"#" * (300 * 1024), "too large"),
    (
        "types.yaml",
        b"key: bad-types\ntitle: {hy: X}\nfee: lots\nsteps: [{key: s, title: {hy: S}, role: head, days: 1}]\n",
        "fee 'lots' must be a whole number",
    ),
    ("types.yaml", b"key: bad-types\ntitle: {hy: X}\nfields: nope\nsteps: []\n", "expected a mapping"),
    (
        "types.yaml",
        b"key: bad-types\ntitle: {hy: X}\nsteps: [{key: s, title: {hy: S}, role: head, days: 1}]\n"
        b"fields: [{name: a, type: text, label: {hy: A}, min_length: [1], max_length: 2}]\n",
        "wrong type",
    ),
    (
        "backreference.yaml",
        b"key: bad-pattern\ntitle: {hy: X}\nsteps: [{key: s, title: {hy: S}, role: head, days: 1}]\n"
        b"fields: [{name: a, type: text, label: {hy: A}, pattern: '(a)\\1'}]\n",
        "field 'a' pattern '(a)\\\\1' is not an RE2 regular expression",
    ),
    ("list.yaml", b"- 1\n- 2\n", "expected one service"),
    ("deep.json", b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ("binary.yaml", b"\xff\xfe\x00garbage", "not UTF-8"),
    ("broken.json", b'{"key": ', "not valid JSON"),
]


@pytest.mark.parametrize(
    ("filename", "content", "message"), HOSTILE, ids=[f"{i}-{h[0]}" for i, h in enumerate(HOSTILE)]
)
def test_hostile_or_invalid_imports_are_refused_with_a_message(app, client, login_as, filename, content, message):
    login_as("municipal_admin")
    response = client.post(
        f"{BASE}/import?_l_=en", data={"file": (io.BytesIO(content), filename)}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    assert count_rows(app) == 0


def test_other_municipality_cannot_see_or_change_the_service(app, client, login_as):
    login_as("municipal_admin")
    client.post(f"{BASE}/new", data=form_data())
    login_as("municipal_admin", "beta")
    assert 'data-service="market-stall"' not in client.get(f"{BASE}/").get_data(as_text=True)
    assert client.get(f"{BASE}/market-stall/edit").status_code == 404
    assert client.post(f"{BASE}/market-stall/edit", data=form_data()).status_code == 404
    assert client.get(f"{BASE}/market-stall/export").status_code == 404
    assert client.get(f"{BASE}/market-stall/export?version=1").status_code == 404
    # Neither by creating nor importing the same key.
    assert client.post(f"{BASE}/new", data=form_data()).status_code == 400
    exported = yaml.safe_dump({**rows(app, "market-stall")[0][2]}).encode()
    assert (
        client.post(
            f"{BASE}/import", data={"file": (io.BytesIO(exported), "x.yaml")}, content_type="multipart/form-data"
        ).status_code
        == 400
    )
    assert len(rows(app, "market-stall")) == 1
    login_as("system_admin")
    assert 'data-service="market-stall"' in client.get(f"{BASE}/").get_data(as_text=True)


def test_hostile_urls_are_404(app, client, login_as):
    login_as("municipal_admin")
    for url in (
        f"{BASE}/NOPE/edit",
        f"{BASE}/{'a' * 300}/edit",
        f"{BASE}/missing/export",
        f"{BASE}/missing/export?version=99999999999",
    ):
        assert client.get(url).status_code == 404, url


def test_key_used_by_a_plug_in_is_refused(app, client, login_as):
    login_as("system_admin")
    response = client.post(f"{BASE}/new?_l_=en", data=form_data(key="residence-certificate"))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert re.search(r'id="key-err">This key is already used by another service; choose another\.', page)
    assert count_rows(app) == 0


def test_only_administrators_reach_the_builder(app, client, login_as):
    for role in ("clerk", "specialist", "head", "auditor", "citizen"):
        login_as(role)
        assert client.get(f"{BASE}/").status_code in (302, 403), role
        assert client.post(f"{BASE}/new", data=form_data()).status_code in (302, 403), role
    assert count_rows(app) == 0


def test_list_page_issues_a_constant_number_of_queries(app, client, login_as):
    login_as("system_admin")

    def queries() -> int:
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert client.get(f"{BASE}/").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    client.post(f"{BASE}/new", data=form_data(key="one-service"))
    client.get(f"{BASE}/")
    one = queries()
    for key in ("two-service", "three-service", "four-service"):
        client.post(f"{BASE}/new", data=form_data(key=key))
    client.get(f"{BASE}/")
    assert queries() == one


def test_stored_definitions_are_immutable(app):
    from app.models.service_definitions import ImmutableDefinition

    with app.app_context():
        row = builder_services.save(
            db.session,
            {
                "key": "fixed",
                "title": {"hy": "Ա"},
                "steps": [{"key": "s", "title": {"hy": "Ս"}, "role": "head", "days": 1}],
            },
            mode=builder_services.CREATE,
            owner_municipality_id=None,
            actor_id=None,
            viewer_municipality_ids=None,
        )
        db.session.commit()
        row.definition = {"key": "fixed"}
        with pytest.raises(ImmutableDefinition):
            db.session.commit()
        db.session.rollback()


def test_other_processes_pick_up_new_services_on_their_next_request(app, client, login_as):
    """A second app on the same database stands for another process."""
    from app import create_app

    other = create_app(
        "test",
        overrides={
            **{
                k: app.config[k]
                for k in (
                    "SQLALCHEMY_DATABASE_URI",
                    "HAMAYNK_PLUGINS",
                    "HAMAYNK_LOAD_ENTRYPOINTS",
                    "HAMAYNK_SERVICE_DIRS",
                    "HAMAYNK_STORAGE",
                    "HAMAYNK_STORAGE_PATH",
                )
            },
            # Look on every request (by default every 2 s; tests/test_request_overhead.py).
            "HAMAYNK_BUILDER_RECHECK_SECONDS": 0,
        },
    )
    try:
        assert plugin_runtime.registry(other).get("market-stall") is None
        login_as("municipal_admin")
        client.post(f"{BASE}/new", data=form_data())
        assert plugin_runtime.registry(other).get("market-stall") is None
        other.test_client().get("/login/")
        registered = plugin_runtime.registry(other).get("market-stall")
        assert registered is not None and registered.version == 1
        assert other.extensions["hamaynk.plugins"].records["builder:market-stall"].status == "active"
        client.post(f"{BASE}/market-stall/edit", data=form_data(fee="99"))
        other.test_client().get("/login/")
        assert plugin_runtime.registry(other).get("market-stall").service.fee == 99
    finally:
        with other.app_context():
            db.engine.dispose()


# -- a builder for municipal staff (issue 8, deliverable 9; issue 14, builder points) ---------------


class _FormReader(HTMLParser):
    """What a browser would post for the builder form as the page shows it (without script):
    text inputs, ticked boxes, selected options and text areas; no submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_first: str | None = None
        self._selected = False
        self._option: dict | None = None
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button", "file"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self.pairs.append((name, a.get("value", "on")))
            else:
                self.pairs.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_first, self._selected = name, None, False
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in a:
                self.pairs.append((self._select, value))
                self._selected = True
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "select" and self._select:
            if not self._selected and self._select_first is not None:
                self.pairs.append((self._select, self._select_first))
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.pairs.append((self._textarea, "".join(self._text).lstrip("\n")))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


def posted_as_shown(page: str) -> MultiDict:
    reader = _FormReader()
    reader.feed(page)
    return MultiDict(reader.pairs)


def error_of(page: str, input_id: str) -> str:
    found = re.search(rf'id="{re.escape(input_id)}-err">([^<]*)<', page)
    assert found, f"no error next to {input_id}"
    return html.unescape(found.group(1))


def test_empty_save_marks_the_inputs_in_the_users_language_and_saves_nothing(app, client, login_as):
    login_as("municipal_admin")
    page = client.get(f"{BASE}/new?_l_=hy").get_data(as_text=True)
    response = client.post(f"{BASE}/new?_l_=hy", data=posted_as_shown(page))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    # Next to the input, in Armenian, and listed with a link at the top.
    assert error_of(page, "title_hy") == "Այս դաշտը պարտադիր է։"
    assert 'href="#title_hy"' in page and 'id="steps-err"' in page
    assert "Ծառայությունը հնարավոր չէ պահպանել։" in page
    # Never the loader's sentence as the message.
    assert "missing required key" not in page
    assert count_rows(app) == 0


def test_choice_lists_show_words_not_keys(app, client, login_as):
    login_as("system_admin")
    page = client.get(f"{BASE}/new?_l_=en").get_data(as_text=True)
    for words in (
        ">One choice from a list<",
        ">Yes or no (a tick box)<",
        ">Head of the department<",
        ">Front-office clerk<",
        "> Return for correction</label>",
        ">Per month<",
        ">is more than<",
        ">is one of<",
        "> PDF document</label>",
    ):
        assert words in page, words
    # No option of a closed list shows its own key (multichoice, not_in, municipal_admin, ...).
    raw = re.findall(r'<option[^>]*value="([a-z_]+)"[^>]*>\s*\1\s*</option>', page)
    assert raw == []
    assert "trees gt 5" not in page and "snake_case" not in page and "kebab-case" not in page


def test_keys_are_made_from_an_armenian_title_and_stay_once_saved(app, client, login_as):
    assert builder_services.latin_key("Երևան") == "yerevan"
    assert builder_services.latin_key("Ոռոգման ջրի վճար", "_") == "vorogman_jri_vchar"
    assert builder_services.latin_key("Разрешение на вырубку") == "razreshenie-na-vyrubku"
    assert builder_services.latin_key("2024 — Շուկա") == "shuka"
    assert builder_services.latin_key("!!!") == ""
    login_as("municipal_admin")
    data = {
        "title_hy": "Ծառահատման թույլտվություն",
        "fields-0-label_hy": "Ծառերի քանակ",
        "fields-0-type": "integer",
        "documents-0-title_hy": "Հողի սեփականության վկայական",
        "documents-0-types": ["pdf"],
        "documents-0-max_size_mb": "5",
        "documents-0-max_count": "1",
        "steps-0-title_hy": "Ուսումնասիրում",
        "steps-0-role": "specialist",
        "steps-0-days": "3",
        "steps-0-actions": ["approve", "reject"],
    }
    # Re-rendered (here by "add a step"), the keys are shown before anything is saved...
    page = client.post(f"{BASE}/new", data={**data, "add_row": "steps"}).get_data(as_text=True)
    assert 'value="tsarahatman-tuyltvutyun"' in page and 'value="tsareri_kanak"' in page
    assert count_rows(app) == 0
    # ...and saved as made when left empty.
    response = client.post(f"{BASE}/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    [(_version, _owner, definition)] = rows(app, "tsarahatman-tuyltvutyun")
    assert definition["fields"][0]["name"] == "tsareri_kanak"
    assert definition["documents"][0]["key"] == "hoghi_sepakanutyan_vkayakan"
    assert definition["steps"][0]["key"] == "usumnasirum"
    # A second service with the same title gets the next free key.
    assert client.post(f"{BASE}/new", data=data).status_code == 302
    assert len(rows(app, "tsarahatman-tuyltvutyun-2")) == 1
    # Saved keys are shown read-only and kept whatever is posted; new rows are still editable.
    page = client.get(f"{BASE}/tsarahatman-tuyltvutyun/edit").get_data(as_text=True)
    assert re.search(r'<input[^>]*id="fields-0-name"[^>]*readonly', page)
    edited = posted_as_shown(page)
    edited["fields-0-name"] = "renamed"
    edited["steps-0-key"] = "renamed_step"
    edited["fields-0-label_hy"] = "Ծառերի թիվ"
    response = client.post(f"{BASE}/tsarahatman-tuyltvutyun/edit", data=edited)
    assert response.status_code == 302, response.get_data(as_text=True)
    second = rows(app, "tsarahatman-tuyltvutyun")[-1][2]
    assert second["fields"][0]["name"] == "tsareri_kanak" and second["fields"][0]["label"]["hy"] == "Ծառերի թիվ"
    assert second["steps"][0]["key"] == "usumnasirum"


def test_conditions_picked_from_the_forms_fields_round_trip_to_the_stored_definition(app, client, login_as):
    login_as("municipal_admin")
    data = form_data(
        **{
            "fields-2-name": "trees",
            "fields-2-type": "integer",
            "fields-2-label_hy": "Ծառեր",
            "fields-2-label_en": "Trees",
            # "Goods is one of food, crafts" — two ticked values.
            "fields-2-visible_when-0-field": "goods",
            "fields-2-visible_when-0-op": "in",
            "fields-2-visible_when-0-options": ["goods=food", "goods=crafts"],
            # A second step only when more than 5 trees: a typed number for a number field.
            "steps-1-key": "inspection",
            "steps-1-title_hy": "Տեղազննում",
            "steps-1-role": "head",
            "steps-1-days": "2",
            "steps-1-actions": ["approve", "reject"],
            "steps-1-department": "urban_planning",
            "steps-1-when-0-field": "trees",
            "steps-1-when-0-op": "gt",
            "steps-1-when-0-value": "5",
            "documents-0-required_when-0-field": "certificate",
            "documents-0-required_when-0-op": "set",
        }
    )
    response = client.post(f"{BASE}/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    [(_v, _o, first)] = rows(app, "market-stall")
    assert first["fields"][2]["visible_when"] == [{"field": "goods", "op": "in", "value": ["food", "crafts"]}]
    assert first["steps"][1]["when"] == [{"field": "trees", "op": "gt", "value": 5}]
    assert first["steps"][1]["department"] == "urban_planning"
    assert first["documents"][0]["required_when"] == [{"field": "certificate", "op": "set", "value": None}]
    # The edit page shows them picked (the field, the comparison, the ticked values)...
    page = client.get(f"{BASE}/market-stall/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="trees">Ծառեր</option>|<option value="trees" selected', page) or (
        'value="trees" selected' in page or '<option selected value="trees"' in page
    )
    assert 'value="goods=crafts" checked' in page
    # ...and saving it unchanged stores the same conditions in version 2.
    response = client.post(f"{BASE}/market-stall/edit", data=posted_as_shown(page))
    assert response.status_code == 302, response.get_data(as_text=True)
    second = rows(app, "market-stall")[-1][2]
    assert {**second, "version": 1} == {**first, "version": 1}
    registered = plugin_runtime.registry(app).get("market-stall")
    assert [s.key for s in registered.service.route({"goods": "food", "trees": 9})] == ["review", "inspection"]
    assert [s.key for s in registered.service.route({"goods": "food", "trees": 2})] == ["review"]


def test_choice_lines_get_keys_or_clear_errors(app, client, login_as):
    login_as("municipal_admin")
    # A key with spaces, a repeated key, a line no key can be made from: each named by its line.
    for choices, message in (
        ("food stall=Սնունդ\ncrafts=Արհեստ", "Line 1: the key food stall may not contain spaces"),
        ("food=Սնունդ\nfood=Ուտելիք", "Line 2: the key food is listed twice."),
        ("food=Սնունդ\n???", "Line 2: no key can be made from ???"),
        ("=Սնունդ", "Line 1: write the key before =, or leave = out."),
    ):
        response = client.post(f"{BASE}/new?_l_=en", data=form_data(key="other-stall", **{"fields-0-choices": choices}))
        assert response.status_code == 400, choices
        assert message in error_of(response.get_data(as_text=True), "fields-0-choices"), choices
    assert rows(app, "other-stall") == []
    # A line without "=" gets a key made from its Armenian label (never a value with spaces).
    made = form_data(
        **{
            "fields-0-choices": "Սննդամթերք|Food\nԱրհեստագործական իրեր|Crafts\nfood_stall=Սնունդ փողոցում",
            "fields-1-visible_when-0-options": ["goods=snndamterk"],
            "fields-1-required_when-0-options": ["goods=arhestagortsakan_irer"],
        }
    )
    response = client.post(f"{BASE}/new", data=made)
    assert response.status_code == 302, response.get_data(as_text=True)
    [(_v, _o, definition)] = rows(app, "market-stall")
    assert [c["value"] for c in definition["fields"][0]["choices"]] == [
        "snndamterk",
        "arhestagortsakan_irer",
        "food_stall",
    ]
    assert definition["fields"][0]["choices"][0]["label"] == {"hy": "Սննդամթերք", "en": "Food"}


def test_a_condition_on_a_value_the_field_does_not_offer_is_refused_naming_the_field(app, client, login_as):
    login_as("municipal_admin")
    for forged in (
        {"fields-1-visible_when-0-options": ["goods=c"]},  # a forged tick
        {"fields-1-visible_when-0-options": [], "fields-1-visible_when-0-value": "c"},  # typed without script
    ):
        response = client.post(f"{BASE}/new?_l_=en", data=form_data(**forged))
        page = response.get_data(as_text=True)
        assert response.status_code == 400
        message = error_of(page, "fields-1-visible_when-0-value")
        assert message.startswith("“Goods” has no value c; it offers: Food (food), Crafts (crafts)"), message
        assert "compares field &#39;goods&#39; with &#39;c&#39;, which it does not offer" in page
    assert count_rows(app) == 0
    # The same rule for a definition file imported into the builder.
    definition = {
        "key": "kinds",
        "title": {"hy": "Տեսակ"},
        "fields": [
            {"name": "kind", "type": "choice", "label": {"hy": "Տ"}, "choices": [{"value": "a", "label": "A"}]},
            {"name": "note", "type": "text", "label": {"hy": "Ն"}, "visible_when": [{"field": "kind", "value": "c"}]},
        ],
        "steps": [{"key": "s", "title": {"hy": "Ս"}, "role": "head", "days": 1}],
    }
    response = client.post(
        f"{BASE}/import?_l_=en",
        data={"file": (io.BytesIO(json.dumps(definition).encode()), "kinds.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "field &#39;note&#39; visible_when compares field &#39;kind&#39; with &#39;c&#39;" in response.get_data(
        as_text=True
    )


def test_choice_condition_problems_cover_every_kind_of_condition():
    from app.sdk import Choice, Condition, Document, Field, Service, Step

    service = Service(
        key="kinds",
        version=1,
        title={"hy": "Տ"},
        fields=(
            Field("kind", "choice", {"hy": "Տ"}, choices=(Choice("a", {"hy": "Ա"}), Choice("b", {"hy": "Բ"}))),
            Field("note", "text", {"hy": "Ն"}, visible_when=(Condition("kind", "eq", "c"),)),
            Field("other", "text", {"hy": "Ա"}, required_when=(Condition("kind", "in", ["a", "z"]),)),
        ),
        documents=(Document("plan", {"hy": "Պ"}, required_when=(Condition("kind", "ne", "b"),)),),
        steps=(
            Step("check", {"hy": "Ս"}, "head", 1),
            Step("extra", {"hy": "Լ"}, "head", 1, when=(Condition("kind", "not_in", ["q"]),)),
        ),
    )
    from app.domain.declarations import choice_condition_problems

    assert choice_condition_problems(service) == [
        "field 'note' visible_when compares field 'kind' with 'c', which it does not offer (choices: ['a', 'b'])",
        "field 'other' required_when compares field 'kind' with 'z', which it does not offer (choices: ['a', 'b'])",
        "step 'extra' when compares field 'kind' with 'q', which it does not offer (choices: ['a', 'b'])",
    ]


def test_definition_files_and_code_plug_ins_refuse_a_condition_on_a_missing_choice():
    from app.domain.fieldtypes import CORE_FIELD_TYPES
    from app.plugins.registry import validate_service
    from app.sdk import service_from_dict

    service = service_from_dict(
        {
            "key": "kinds",
            "version": 1,
            "title": {"hy": "Տ"},
            "fields": [
                {"name": "kind", "type": "choice", "label": {"hy": "Տ"}, "choices": ["a", "b"]},
                {
                    "name": "note",
                    "type": "text",
                    "label": {"hy": "Ն"},
                    "visible_when": [{"field": "kind", "value": "c"}],
                },
            ],
            "steps": [{"key": "s", "title": {"hy": "Ս"}, "role": "head", "days": 1}],
        }
    )
    assert any("does not offer" in p for p in validate_service(service, CORE_FIELD_TYPES))


def test_departments_are_chosen_from_the_municipalitys_own(app, client, login_as):
    from app.models import Department

    with app.app_context():
        db.session.add(
            Department(
                municipality_id=app.seeded["beta"]["id"], code="cemetery", name_hy="Գերեզմանատուն", name_en="Cemetery"
            )
        )
        db.session.commit()
    login_as("municipal_admin")
    page = client.get(f"{BASE}/new?_l_=en").get_data(as_text=True)
    select = re.search(r'<select[^>]*id="steps-0-department".*?</select>', page, re.S).group(0)
    assert 'value="urban_planning"' in select and 'value="cemetery"' not in select
    # Another municipality's department, or one nobody has, is refused next to the select.
    for code in ("cemetery", "cemetery_dept"):
        response = client.post(f"{BASE}/new?_l_=en", data=form_data(**{"steps-0-department": code}))
        assert response.status_code == 400, code
        assert error_of(response.get_data(as_text=True), "steps-0-department") == (
            "Alpha has no such department: choose one of its departments."
        )
    assert count_rows(app) == 0
    assert client.post(f"{BASE}/new", data=form_data(**{"steps-0-department": "urban_planning"})).status_code == 302
    # A service of every municipality may name a department some municipality has.
    login_as("system_admin")
    assert 'value="cemetery"' in client.get(f"{BASE}/new").get_data(as_text=True)
    response = client.post(
        f"{BASE}/new?_l_=en", data=form_data(key="graves", owner="", **{"steps-0-department": "nope"})
    )
    assert error_of(response.get_data(as_text=True), "steps-0-department").startswith("No municipality has")
    assert (
        client.post(
            f"{BASE}/new", data=form_data(key="graves", owner="", **{"steps-0-department": "cemetery"})
        ).status_code
        == 302
    )
    assert rows(app, "graves")[0][2]["steps"][0]["department"] == "cemetery"
    # An imported definition file cannot bring an unknown department either.
    login_as("municipal_admin")
    definition = {
        "key": "plots",
        "title": {"hy": "Հողամաս"},
        "steps": [{"key": "s", "title": {"hy": "Ս"}, "role": "head", "days": 1, "department": "cemetery_dept"}],
    }
    response = client.post(
        f"{BASE}/import?_l_=en",
        data={"file": (io.BytesIO(json.dumps(definition).encode()), "plots.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Alpha has no department cemetery_dept." in response.get_data(as_text=True)
    assert rows(app, "plots") == []


def test_the_list_explains_ready_but_not_offered_and_links_to_enabling(app, client, login_as):
    login_as("municipal_admin")
    # (The test client keeps the first request's language: English from the start.)
    assert client.post(f"{BASE}/new?_l_=en", data=form_data()).status_code == 302
    page = client.get(f"{BASE}/?_l_=en").get_data(as_text=True)
    row = re.search(r'<tr data-service="market-stall">.*?</tr>', page, re.S).group(0)
    assert 'data-state="ready"' in row and 'data-offered="no"' in row and "Not offered yet" in row
    link = f'href="/admin/services/market-stall?municipality={app.seeded["alpha"]["id"]}"'
    assert link in row and "Enable it on the Services page" in row
    assert client.get(f"/admin/services/market-stall?municipality={app.seeded['alpha']['id']}").status_code == 200
    department = app.seeded["alpha"]["departments"]["urban_planning"]  # staffed: a specialist works step 1
    client.post("/admin/services/market-stall", data={"enabled": "y", "department_id": str(department)})
    row = re.search(
        r'<tr data-service="market-stall">.*?</tr>', client.get(f"{BASE}/?_l_=en").get_data(as_text=True), re.S
    )
    assert 'data-offered="yes"' in row.group(0) and "Enable it" not in row.group(0)
