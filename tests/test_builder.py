"""The service builder in the admin UI: structured form, versions, export/import, scoping."""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml
from sqlalchemy import event, func, select

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
        "fields-1-visible_when": "goods eq food",
        "fields-1-required_when": "goods eq food",
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
            {"fields-1-visible_when": "colour eq red"},
            "field 'certificate' visible_when refers to unknown field 'colour'",
        ),
        ({"fields-1-required_when": "goods between food"}, "unknown operator 'between'"),
        ({"fields-0-choices": ""}, "field 'goods' of type 'choice' needs choices"),
        ({"documents-0-types": []}, "document 'photo' accepts no file types"),
        ({"fields-0-min_value": "lots"}, "min_value 'lots' is not a number"),
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
    assert 'value="goods"' in page and "food=Սնունդ|Food" in page and "goods eq food" in page
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
    assert "already used by plug-in" in response.get_data(as_text=True)
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
