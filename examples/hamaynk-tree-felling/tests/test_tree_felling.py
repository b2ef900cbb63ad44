"""Tests of the example plug-in, run the way a plug-in author runs theirs: the package is
pip-installed, and Hamaynk finds it through its entry point."""

from app.plugins import runtime as plugin_runtime
from app.plugins.host import build_plugin_host


def test_found_through_its_entry_point():
    host = build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": True})
    record = host.records["tree_felling"]
    assert (record.status, record.source) == ("active", "installed")
    assert host.registry.get("tree-felling").plugin == "tree_felling"


def test_form_rules_and_council_threshold(hamaynk_app_factory):
    app = hamaynk_app_factory(plugins=["hamaynk_tree_felling"])
    service = plugin_runtime.registry(app).get("tree-felling").service
    with app.test_request_context("/?_l_=en"):  # English messages
        data, errors = plugin_runtime.validate_application_data(
            service, {"address": "Աբովյան 5", "trees": "7", "reason": "dry"}, app
        )
        assert errors == {}
        assert service.document("dendrology").is_required(data)
        _data, errors = plugin_runtime.validate_application_data(
            service, {"address": "Աբովյան 5", "trees": "120", "reason": "dry"}, app
        )
        assert errors == {"trees": "More than 100 trees needs a council decision, not a permit."}
        _data, errors = plugin_runtime.validate_application_data(
            service, {"address": "Աբովյան 5", "trees": "2", "reason": "construction"}, app
        )
        assert errors == {"permit_number": "This field is required."}
