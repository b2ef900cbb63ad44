"""Issue 14: what a plug-in author hits. Hook answers of the wrong shape or a raising hook
become a clear message naming the plug-in (never a 500); errors on keys that are not fields
reach the form's error summary; ``app.testing.apply`` runs the office's checklist; a
definition file never takes over a builder service's key."""

from __future__ import annotations

import logging
import re
import types

import pytest
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Application
from app.plugins import builder_services
from app.plugins import runtime as plugin_runtime
from app.plugins.host import HookFailed
from app.sdk import Condition, Document, Field, Service, Step, hookimpl
from app.testing import ApplicationRefused, apply, database_url, enable_service, login, make_app, seed_municipality

PLOT = Service(
    key="burial-plot",
    version=1,
    title={"hy": "Գերեզմանատեղի", "en": "Burial plot"},
    fields=(
        Field("deceased", "text", {"hy": "Հանգուցյալ", "en": "Deceased"}, required=True),
        Field("kind", "choice", {"hy": "Տեսակ", "en": "Kind"}, choices=(("family", "Family"), ("single", "Single"))),
    ),
    documents=(
        Document("death_certificate", {"hy": "Մահվան վկայական", "en": "Death certificate"}, types=("pdf",)),
        Document(
            "family_consent",
            {"hy": "Համաձայնություն", "en": "Family consent"},
            required=False,
            required_when=(Condition("kind", "eq", "family"),),
        ),
    ),
    steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=3),),
)


def plot_plugin(validate):
    plugin = types.SimpleNamespace(__name__="plot_plugin", REQUIRES_CORE_API=">=1,<2")

    @hookimpl
    def register_services():
        return [PLOT]

    @hookimpl
    def validate_application(service, data):
        return validate(data)

    plugin.register_services = register_services
    plugin.validate_application = validate_application
    return plugin


def raising(data):
    raise KeyError("cemetery_id")


@pytest.fixture
def plot_app(tmp_path, request):
    app = make_app(tmp_path, plugins=[plot_plugin(request.param)])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    enable_service(app, "alpha", "burial-plot")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def post_office_form(app, data):
    client = app.test_client()
    login(client, "alpha.clerk")
    form = client.get("/office/new/burial-plot?_l_=en").get_data(as_text=True)
    token = re.search(r'name="applicant-token" type="hidden" value="([A-Za-z0-9_-]{32})"', form).group(1)
    return client.post(
        "/office/new/burial-plot?_l_=en",
        data={"applicant-token": token, "applicant-name": "Գայանե Մելքոնյան", **data},
    )


@pytest.mark.parametrize(
    ("plot_app", "logged"),
    [
        (lambda data: "the plot is taken", "must return a mapping of field name to message or None, got str"),
        (raising, "raised KeyError: 'cemetery_id'"),
    ],
    indirect=["plot_app"],
)
def test_a_broken_validate_application_is_a_clear_message_naming_the_plug_in_never_a_500(plot_app, logged, caplog):
    with caplog.at_level(logging.ERROR):
        response = post_office_form(plot_app, {"deceased": "Արամ", "kind": "single"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "check failed, so nothing was filed" in page
    assert "plot_plugin" not in page and "KeyError" not in page  # the clerk is not shown internals
    assert any(
        "plug-in 'plot_plugin', hook validate_application()" in r.getMessage() and logged in r.getMessage()
        for r in caplog.records
    )
    with plot_app.app_context():
        assert db.session.execute(select(Application.id)).first() is None
    # The author's own tests get the plug-in and the hook, not the generic text.
    with pytest.raises(HookFailed, match=re.escape(logged)):
        apply(plot_app, "burial-plot", data={"deceased": "Արամ", "kind": "single"})


@pytest.mark.parametrize(
    "plot_app", [lambda data: {"cemetery": "No free plot is left in this cemetery."}], indirect=True
)
def test_an_error_under_a_key_that_is_no_field_reaches_the_error_summary(plot_app):
    response = post_office_form(plot_app, {"deceased": "Արամ", "kind": "single"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    summary = page[page.index('id="problems"') :]
    summary = summary[: summary.index("</div>")]
    assert "No free plot is left in this cemetery." in summary


@pytest.mark.parametrize("plot_app", [lambda data: None], indirect=True)
def test_apply_runs_the_offices_checklist_and_can_skip_documents_explicitly(plot_app):
    from app.testing import attach

    # Left out, the documents the data requires are attached; the conditional one too.
    filed = apply(plot_app, "burial-plot", data={"deceased": "Արամ", "kind": "family"})
    assert filed.status == "submitted"
    # Given, they are checked as the office checks them: the family consent is missing.
    with pytest.raises(ApplicationRefused) as info:
        apply(
            plot_app,
            "burial-plot",
            data={"deceased": "Արամ", "kind": "family"},
            documents={"death_certificate": attach("pdf")},
        )
    assert set(info.value.errors) == {"documents.family_consent"}
    with pytest.raises(ApplicationRefused) as info:
        apply(plot_app, "burial-plot", data={"deceased": "Արամ", "kind": "single"}, documents={})
    assert set(info.value.errors) == {"documents.death_certificate"}
    # A file of a type the requirement does not accept is refused as at the office.
    with pytest.raises(ApplicationRefused, match=r"documents\.death_certificate"):
        apply(
            plot_app,
            "burial-plot",
            data={"deceased": "Արամ", "kind": "single"},
            documents={"death_certificate": attach("png")},
        )
    # Skipping the checklist is said out loud; the form rules still apply.
    skipped = apply(plot_app, "burial-plot", data={"deceased": "Արամ", "kind": "single"}, skip_documents=True)
    assert skipped.status == "submitted"
    with pytest.raises(AssertionError, match="deceased"):
        apply(plot_app, "burial-plot", data={"kind": "single"}, skip_documents=True)


MARKET = {
    "key": "market-stall",
    "title": {"hy": "Վաճառասեղան", "en": "Market stall"},
    "fields": [{"name": "goods", "type": "text", "label": {"hy": "Ապրանք"}}],
    "steps": [{"key": "review", "title": {"hy": "Ստուգում"}, "role": "specialist", "days": 3}],
}


def test_a_definition_file_with_a_builder_services_key_fails_check_naming_both(tmp_path):
    app = make_app(tmp_path, plugins=[])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    with app.app_context():
        builder_services.save(
            db.session,
            MARKET,
            mode=builder_services.CREATE,
            owner_municipality_id=app.seeded["alpha"]["id"],
            actor_id=None,
            viewer_municipality_ids=None,
        )
        db.session.commit()
    builder_services.refresh(app, force=True)
    filed = apply(app, "market-stall", data={"goods": "Մեղր"})

    folder = tmp_path / "services"
    folder.mkdir()
    (folder / "market.yaml").write_text(
        "key: market-stall\nversion: 1\ntitle: {hy: Շուկա, en: Market from a file}\n"
        "steps: [{key: check, title: {hy: Ստուգում}, role: head, days: 1}]\n",
        encoding="utf-8",
    )
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path),
        "HAMAYNK_PLUGINS": [],
        "HAMAYNK_LOAD_ENTRYPOINTS": False,
        "HAMAYNK_SERVICE_DIRS": [str(folder)],
        "HAMAYNK_STORAGE_PATH": str(tmp_path / "documents"),
    }
    # Development and tests: the start stops, naming both.
    with pytest.raises(Exception, match=r"file:market.yaml.*builder:market-stall"):
        create_app("test", overrides=settings)
    # Production: it starts; the builder service and its application are untouched.
    second = create_app("test", overrides={**settings, "HAMAYNK_STRICT_PLUGINS": False})
    registered = plugin_runtime.registry(second).get("market-stall", 1)
    assert registered.plugin == "builder:market-stall" and registered.service.title["en"] == "Market stall"
    record = plugin_runtime.host(second).records["file:market.yaml"]
    assert record.status == "disabled" and "builder:market-stall" in record.error
    with second.app_context():
        application = db.session.get(Application, filed.id)
        assert (application.service_key, application.service_version) == ("market-stall", 1)
    client = second.test_client()
    login(client, "alpha.specialist")
    case = client.get(f"/workspace/applications/{filed.id}")
    assert case.status_code == 200
    page = case.get_data(as_text=True)
    assert "Վաճառասեղան" in page and "Շուկա" not in page  # the built service's title, not the file's

    result = second.test_cli_runner().invoke(args=["hamaynk", "check"])
    assert result.exit_code == 1, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("ERROR file:market.yaml"))
    assert "'market-stall'" in line and "builder:market-stall" in line
    with second.app_context():
        db.session.remove()
        db.engine.dispose()
