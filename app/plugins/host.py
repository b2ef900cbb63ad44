"""Builds the plug-in manager of one app: core field types, configured modules, entry points
of group ``hamaynk`` (built-in services come this way too), then definition files.

A plug-in that fails to import, declares hooks that do not exist, needs another core API, or
returns a bad declaration is *disabled* with its error recorded. In strict mode (development
and tests) the first such error is raised instead, so authors see it at once; in production
the site starts without the plug-in and the admin "Plug-ins" page shows why.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from app.domain.declarations import PYTHON_TYPES, FieldType, Service
from app.domain.fieldtypes import CORE_FIELD_TYPES
from app.plugins import hookspecs
from app.plugins.definitions import DefinitionError, definition_files, load_definition_file
from app.plugins.registry import DeclarationError, RegisteredService, ServiceRegistry, validate_service
from app.sdk import CORE_API_VERSION

PROJECT = "hamaynk"
ENTRY_POINT_GROUP = "hamaynk"

ACTIVE = "active"
DISABLED = "disabled"
BLOCKED = "blocked"


class PluginError(RuntimeError):
    """A plug-in cannot be used. The message names the plug-in and what is wrong."""

    def __init__(self, plugin: str, problem: str):
        self.plugin = plugin
        self.problem = problem
        super().__init__(f"plug-in {plugin!r}: {problem}")


@dataclass
class PluginRecord:
    name: str
    source: str  # "built-in", "installed", "configured", "file"
    origin: str  # module path or file path
    version: str = ""
    status: str = ACTIVE
    error: str = ""
    services: list[tuple[str, int]] = field(default_factory=list)
    module: Any = None  # the registered plug-in object (None for files)
    # A service built in the admin UI belongs to one municipality (None: to every one).
    municipality_id: int | None = None


class PluginHost:
    """One per app: the pluggy manager, what was loaded and the service registry."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.registry = ServiceRegistry()

    @property
    def hook(self) -> Any:
        return self.pm.hook

    # -- problems -----------------------------------------------------------------------
    def _fail(self, record: PluginRecord, error: Exception | str) -> None:
        message = str(error)
        record.status = DISABLED
        record.error = message
        record.services = []
        if record.module is not None and self.pm.is_registered(record.module):
            self.pm.unregister(record.module)
        self.registry.remove_plugin(record.name)
        if self.strict:
            if isinstance(error, (PluginError, DeclarationError)):
                raise error
            raise PluginError(record.name, message)

    # -- loading ------------------------------------------------------------------------
    def _register_module(self, record: PluginRecord, module: ModuleType) -> None:
        requires = getattr(module, "REQUIRES_CORE_API", None)
        if requires is not None:
            try:
                spec = SpecifierSet(str(requires))
            except InvalidSpecifier:
                self._fail(
                    record,
                    PluginError(record.name, f"REQUIRES_CORE_API {requires!r} is not a version range such as '>=1,<2'"),
                )
                return
            if Version(CORE_API_VERSION) not in spec:
                self._fail(
                    record,
                    PluginError(
                        record.name,
                        f"needs core API {requires}, but this Hamaynk provides {CORE_API_VERSION}; upgrade the plug-in or Hamaynk",
                    ),
                )
                return
        record.module = module
        try:
            self.pm.register(module, name=record.name)
            # A hookimpl whose name matches no hook is a typo that would silently never run.
            self.pm.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            self._fail(record, PluginError(record.name, f"does not match Hamaynk's hooks: {exc}"))

    def load_module(
        self, name: str, import_path: str, source: str, version: str = "", blocked: Iterable[str] = ()
    ) -> None:
        record = PluginRecord(name=name, source=source, origin=import_path, version=version)
        if name in self.records:
            # The same module reached twice (configured and via an entry point): keep one.
            return
        self.records[name] = record
        if name in blocked or import_path in blocked:
            record.status = BLOCKED
            return
        try:
            module = importlib.import_module(import_path)
        except Exception as exc:
            self._fail(
                record, PluginError(name, f"cannot be imported from {import_path!r}: {type(exc).__name__}: {exc}")
            )
            return
        self._register_module(record, module)

    def load_entry_points(self, blocked: Iterable[str]) -> None:
        eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
        for ep in eps:
            dist = ep.dist.name if ep.dist is not None else ""
            source = "built-in" if dist == "hamaynk" and ep.value.startswith("plugins.") else "installed"
            version = ep.dist.version if ep.dist is not None else ""
            self.load_module(ep.name, ep.value, source, version, blocked)

    # -- collecting ---------------------------------------------------------------------
    def _call_each(self, hook_name: str) -> list[tuple[PluginRecord, Any]]:
        """Call a collect hook plug-in by plug-in, so a failure is pinned on its author."""
        results = []
        for record in sorted(self.records.values(), key=lambda r: r.name):
            if record.status != ACTIVE or record.module is None:
                continue
            impls = [i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if i.plugin is record.module]
            for impl in impls:
                try:
                    value = _call_with_kwargs(impl.function, {})
                except Exception as exc:
                    self._fail(record, PluginError(record.name, f"{hook_name}() raised {type(exc).__name__}: {exc}"))
                    break
                results.append((record, value))
        return results

    def collect_field_types(self) -> None:
        types: dict[str, FieldType] = dict(CORE_FIELD_TYPES)
        owners: dict[str, str] = dict.fromkeys(types, "core")
        for record, value in self._call_each("register_field_types"):
            if record.status != ACTIVE:
                continue
            try:
                items = _as_list(value, FieldType, record.name, "register_field_types")
                for item in items:
                    if item.name in types:
                        raise PluginError(
                            record.name, f"field type {item.name!r} is already registered by {owners[item.name]!r}"
                        )
                    if item.python_type not in PYTHON_TYPES:
                        raise PluginError(
                            record.name, f"field type {item.name!r} has unknown python_type {item.python_type!r}"
                        )
                    if item.clean is not None and not callable(item.clean):
                        raise PluginError(record.name, f"field type {item.name!r} clean must be callable")
            except PluginError as exc:
                self._fail(record, exc)
                continue
            for item in items:
                types[item.name] = item
                owners[item.name] = record.name
        self.registry.field_types = types

    def collect_services(self) -> None:
        for record, value in self._call_each("register_services"):
            if record.status != ACTIVE:
                continue
            try:
                services = _as_list(value, Service, record.name, "register_services")
            except PluginError as exc:
                self._fail(record, exc)
                continue
            base_path = _module_dir(record.module)
            self._add_services(record, services, base_path)

    def _add_services(self, record: PluginRecord, services: list[Service], base_path: Path | None) -> None:
        for service in sorted(services, key=lambda s: (str(s.key), str(s.version))):
            problems = validate_service(service, self.registry.field_types, base_path)
            if problems:
                self._fail(record, DeclarationError(record.name, str(service.key), "; ".join(problems)))
                return
            try:
                self.registry.add(RegisteredService(service, record.name, record.source, base_path))
            except DeclarationError as exc:
                self._fail(record, exc)
                return
            record.services.append((service.key, service.version))

    def load_definition_dirs(self, directories: Iterable[str], blocked: Iterable[str]) -> None:
        for directory in directories:
            for path in definition_files(directory):
                name = f"file:{path.name}"
                record = PluginRecord(name=name, source="file", origin=str(path))
                if name in self.records:
                    record.status = DISABLED
                    record.error = f"another definition file is also named {path.name!r}"
                    self.records[f"{name}@{path}"] = record
                    if self.strict:
                        raise PluginError(name, record.error)
                    continue
                self.records[name] = record
                if name in blocked or str(path) in blocked:
                    record.status = BLOCKED
                    continue
                try:
                    services = load_definition_file(path)
                except DefinitionError as exc:
                    self._fail(record, PluginError(name, str(exc)))
                    continue
                self._add_services(record, services, path.parent)


def _call_with_kwargs(function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    accepted = inspect.signature(function).parameters
    return function(**{k: v for k, v in kwargs.items() if k in accepted})


def _as_list(value: Any, kind: type, plugin: str, hook: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, kind):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise PluginError(plugin, f"{hook}() must return a list of {kind.__name__}, got {type(value).__name__}")
    for item in value:
        if not isinstance(item, kind):
            raise PluginError(plugin, f"{hook}() returned {item!r}, which is not a {kind.__name__}")
    return list(value)


def _module_dir(module: Any) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def build_plugin_host(config: dict[str, Any]) -> PluginHost:
    host = PluginHost(strict=bool(config.get("HAMAYNK_STRICT_PLUGINS", True)))
    blocked = list(config.get("HAMAYNK_BLOCKED_PLUGINS") or [])
    for import_path in config.get("HAMAYNK_PLUGINS") or []:
        if isinstance(import_path, ModuleType) or not isinstance(import_path, str):
            # Tests may hand in a module or an object carrying hookimpls directly.
            obj = import_path
            name = getattr(obj, "__name__", None) or type(obj).__name__
            record = PluginRecord(name=name, source="configured", origin=name)
            host.records[name] = record
            host._register_module(record, obj)
            continue
        name = import_path.rsplit(".", 1)[-1] if import_path.startswith("plugins.") else import_path
        source = "built-in" if import_path.startswith("plugins.") else "configured"
        host.load_module(name, import_path, source, blocked=blocked)
    if config.get("HAMAYNK_LOAD_ENTRYPOINTS", True):
        host.load_entry_points(blocked)
    host.collect_field_types()
    host.collect_services()
    host.load_definition_dirs(config.get("HAMAYNK_SERVICE_DIRS") or [], blocked)
    return host
