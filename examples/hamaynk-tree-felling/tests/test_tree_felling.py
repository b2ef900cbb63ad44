"""Tests of the example plug-in, run the way a plug-in author runs theirs: the package is
pip-installed, and Hamaynk finds it through its entry point."""

from app.testing import discovered_plugins, form_checker


def test_found_through_its_entry_point():
    record = discovered_plugins()["tree_felling"]
    assert (record.status, record.source, record.error) == ("active", "installed", "")
    assert ("tree-felling", 1) in record.services


def test_form_rules_and_council_threshold(hamaynk_app_factory):
    check = form_checker(hamaynk_app_factory(plugins=["hamaynk_tree_felling"]), "tree-felling", locale="en")
    data, errors = check({"address": "Աբովյան 5", "trees": "7", "reason": "dry"})
    assert errors == {}
    assert check.service.document("dendrology").is_required(data)
    _data, errors = check({"address": "Աբովյան 5", "trees": "120", "reason": "dry"})
    assert errors == {"trees": "More than 100 trees needs a council decision, not a permit."}
    _data, errors = check({"address": "Աբովյան 5", "trees": "2", "reason": "construction"})
    assert errors == {"permit_number": "This field is required."}
