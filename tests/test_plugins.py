"""Plug-in discovery through entry points, isolation of broken plug-ins, version checks."""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from pathlib import Path

import pytest

from app.plugins.host import PluginError, build_plugin_host
from app.sdk import CORE_API_VERSION, hookimpl
from app.testing import PASSWORD, login, make_app, seed_system_admin

SERVICE_MODULE = """
from app.sdk import Service, Step, hookimpl

REQUIRES_CORE_API = {requires!r}

@hookimpl
def register_services():
    return [Service(
        key={key!r}, version=1, title={{"hy": "Երրորդ կողմի ծառայություն", "en": "Third-party service"}},
        steps=(Step("review", {{"hy": "Ստուգում"}}, role="specialist", days=1),),
    )]
"""


def install_distribution(root: Path, dist: str, module: str, source: str, version: str = "1.0") -> None:
    """Lay out a real installed distribution (module + .dist-info with entry_points.txt) the
    way pip does, in a folder that goes on sys.path — importlib.metadata finds it exactly as
    it finds anything pip installed."""
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(source, encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[hamaynk]\n{module} = {module}\n", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")


@pytest.fixture
def site_dir(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    for name in [m for m in sys.modules if m.startswith(("thirdparty_", "broken_"))]:
        del sys.modules[name]


def test_installed_plugin_is_discovered_through_its_entry_point(site_dir, tmp_path):
    install_distribution(
        site_dir,
        "hamaynk-thirdparty",
        "thirdparty_permits",
        SERVICE_MODULE.format(requires=">=1,<2", key="thirdparty-permit"),
        version="2.3",
    )
    app = make_app(tmp_path, plugins=[], HAMAYNK_LOAD_ENTRYPOINTS=True)
    host = app.extensions["hamaynk.plugins"]
    record = host.records["thirdparty_permits"]
    assert (record.status, record.source, record.version) == ("active", "installed", "2.3")
    registered = host.registry.get("thirdparty-permit")
    assert registered.plugin == "thirdparty_permits" and registered.source == "installed"
    # The built-in services come through the very same entry-point group.
    assert host.records["residence_certificate"].source == "built-in"
    assert host.registry.get("residence-certificate") is not None


def test_broken_plugin_is_disabled_in_production_and_the_site_still_serves(site_dir, tmp_path):
    install_distribution(site_dir, "hamaynk-broken", "broken_import", "raise RuntimeError('database driver missing')\n")
    install_distribution(
        site_dir, "hamaynk-thirdparty", "thirdparty_ok", SERVICE_MODULE.format(requires=">=1,<2", key="thirdparty-ok")
    )
    app = make_app(tmp_path, plugins=[], HAMAYNK_LOAD_ENTRYPOINTS=True, HAMAYNK_STRICT_PLUGINS=False)
    host = app.extensions["hamaynk.plugins"]
    broken = host.records["broken_import"]
    assert broken.status == "disabled"
    assert "cannot be imported from 'broken_import': RuntimeError: database driver missing" in broken.error
    assert host.records["thirdparty_ok"].status == "active"

    seed_system_admin(app)
    client = app.test_client()
    assert client.get("/").status_code == 200
    login(client, "sysadmin", PASSWORD)
    page = client.get("/admin/plugins/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "broken_import" in text and "database driver missing" in text


def test_broken_plugin_fails_loudly_in_development(site_dir, tmp_path):
    install_distribution(site_dir, "hamaynk-broken", "broken_loud", "raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match=r"plug-in 'broken_loud': cannot be imported .*boom"):
        make_app(tmp_path, plugins=[], HAMAYNK_LOAD_ENTRYPOINTS=True)


def test_incompatible_core_version_is_refused_with_a_clear_message(site_dir, tmp_path):
    install_distribution(
        site_dir, "hamaynk-future", "thirdparty_future", SERVICE_MODULE.format(requires=">=2,<3", key="future-permit")
    )
    host = build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": True, "HAMAYNK_STRICT_PLUGINS": False})
    record = host.records["thirdparty_future"]
    assert record.status == "disabled"
    assert record.error == (
        f"plug-in 'thirdparty_future': needs core API >=2,<3, but this Hamaynk provides {CORE_API_VERSION}; "
        "upgrade the plug-in or Hamaynk"
    )
    assert host.registry.get("future-permit") is None


def test_block_list_keeps_a_plugin_out(site_dir):
    install_distribution(
        site_dir,
        "hamaynk-thirdparty",
        "thirdparty_blocked",
        SERVICE_MODULE.format(requires=">=1,<2", key="blocked-permit"),
    )
    host = build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": True, "HAMAYNK_BLOCKED_PLUGINS": ["thirdparty_blocked"]})
    assert host.records["thirdparty_blocked"].status == "blocked"
    assert host.registry.get("blocked-permit") is None
    assert "thirdparty_blocked" not in sys.modules  # blocked means never even imported


def test_misspelled_hook_is_caught_by_check_pending():
    module = types.ModuleType("typo_plugin")

    @hookimpl
    def register_service():  # missing "s": would silently never run
        return []

    module.register_service = register_service
    host = build_plugin_host(
        {"HAMAYNK_PLUGINS": [module], "HAMAYNK_LOAD_ENTRYPOINTS": False, "HAMAYNK_STRICT_PLUGINS": False}
    )
    record = host.records["typo_plugin"]
    assert record.status == "disabled"
    assert "does not match Hamaynk's hooks" in record.error and "register_service" in record.error


def test_hook_that_raises_disables_only_its_plugin():
    module = types.ModuleType("raising_plugin")

    @hookimpl
    def register_services():
        raise KeyError("missing setting")

    module.register_services = register_services
    host = build_plugin_host(
        {
            "HAMAYNK_PLUGINS": [module, "plugins.residence_certificate"],
            "HAMAYNK_LOAD_ENTRYPOINTS": False,
            "HAMAYNK_STRICT_PLUGINS": False,
        }
    )
    assert host.records["raising_plugin"].status == "disabled"
    assert "register_services() raised KeyError: 'missing setting'" in host.records["raising_plugin"].error
    assert host.records["residence_certificate"].status == "active"


def test_definition_files_are_loaded_from_the_configured_folder(tmp_path):
    folder = tmp_path / "services"
    folder.mkdir()
    (folder / "tree-felling.yaml").write_text(
        textwrap.dedent("""
        key: tree-felling
        version: 1
        title: {hy: "Ծառահատման թույլտվություն", en: "Tree felling permit", ru: "Разрешение на вырубку деревьев"}
        deadline_days: 10
        fields:
          - {name: trees, type: integer, label: {hy: "Ծառերի քանակ"}, required: true, min_value: 1}
        steps:
          - {key: review, title: {hy: "Ուսումնասիրություն"}, role: specialist, days: 5}
    """),
        encoding="utf-8",
    )
    (folder / "broken.json").write_text('{"key": "broken", ', encoding="utf-8")
    host = build_plugin_host(
        {"HAMAYNK_LOAD_ENTRYPOINTS": False, "HAMAYNK_SERVICE_DIRS": [str(folder)], "HAMAYNK_STRICT_PLUGINS": False}
    )
    good = host.records["file:tree-felling.yaml"]
    assert (good.status, good.source, good.services) == ("active", "file", [("tree-felling", 1)])
    assert host.registry.get("tree-felling").service.fields[0].min_value == 1
    bad = host.records["file:broken.json"]
    assert bad.status == "disabled" and "not valid JSON" in bad.error


def test_field_type_from_a_plugin_can_be_used_by_another_plugins_service():
    from app.sdk import Field, FieldType, Service, Step

    types_plugin = types.ModuleType("cadastre_types")

    @hookimpl
    def register_field_types():
        return [FieldType("cadastral_code", "str", lambda value, spec: value.strip(), {"type": "string"})]

    types_plugin.register_field_types = register_field_types
    service_plugin = types.ModuleType("aaa_service_plugin")  # sorts first: order must not matter

    @hookimpl
    def register_services():
        return [
            Service(
                key="land-lease",
                version=1,
                title={"hy": "Հողի վարձակալություն"},
                fields=(Field("code", "cadastral_code", {"hy": "Կադաստրային ծածկագիր"}),),
                steps=(Step("review", {"hy": "Ստուգում"}, role="specialist", days=3),),
            )
        ]

    service_plugin.register_services = register_services
    host = build_plugin_host({"HAMAYNK_PLUGINS": [service_plugin, types_plugin], "HAMAYNK_LOAD_ENTRYPOINTS": False})
    assert host.registry.get("land-lease") is not None
    assert "cadastral_code" in host.registry.field_types


def test_field_type_name_clash_is_refused():
    from app.sdk import FieldType

    module = types.ModuleType("clashing_types")

    @hookimpl
    def register_field_types():
        return [FieldType("phone")]

    module.register_field_types = register_field_types
    with pytest.raises(PluginError, match="field type 'phone' is already registered by 'core'"):
        build_plugin_host({"HAMAYNK_PLUGINS": [module], "HAMAYNK_LOAD_ENTRYPOINTS": False})
