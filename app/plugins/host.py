"""Builds the plug-in manager of one app: core field types, configured modules, entry points
of group ``hamaynk`` (built-in services come this way too), then definition files.

A plug-in that fails to import, declares hooks that do not exist, needs another core API, or
returns a bad declaration is *disabled* with its errors recorded. Loading never stops at the
first problem: every plug-in is examined as far as it can be, so one run (``flask hamaynk
check``, the admin "Plug-ins" page) names every problem. In strict mode (development and
tests) the start then fails with all of them; in production the site starts without the
broken plug-ins and the admin "Plug-ins" page shows why.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as metadata
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from app.domain.declarations import PYTHON_TYPES, FieldType, Service
from app.domain.errors import HookFailed, TransitionVetoed
from app.domain.fieldtypes import CORE_FIELD_TYPES
from app.plugins import hookspecs
from app.plugins.definitions import DefinitionError, definition_files, load_definition_file
from app.plugins.registry import (
    DeclarationError,
    RegisteredService,
    ServiceRegistry,
    condition_warnings,
    validate_service,
)
from app.sdk import CORE_API_VERSION

log = logging.getLogger(__name__)

PROJECT = "hamaynk"
ENTRY_POINT_GROUP = "hamaynk"

ACTIVE = "active"
DISABLED = "disabled"
BLOCKED = "blocked"

__all__ = ["HookFailed", "PluginError", "PluginHost", "PluginRecord", "PluginsFailed", "build_plugin_host"]

HOOK_NAMES = frozenset(
    name for name, value in vars(hookspecs).items() if callable(value) and hasattr(value, "hamaynk_spec")
)


class PluginError(RuntimeError):
    """A plug-in cannot be used. The message names the plug-in and what is wrong."""

    def __init__(self, plugin: str, problem: str):
        self.plugin = plugin
        self.problem = problem
        super().__init__(f"plug-in {plugin!r}: {problem}")


class PluginsFailed(PluginError):
    """Several problems stopped a strict start; the message lists every one of them."""

    def __init__(self, errors: list[Exception]):
        self.errors = errors
        plugins = sorted({getattr(e, "plugin", "?") for e in errors})
        lines = "\n".join(f"  - {e}" for e in errors)
        RuntimeError.__init__(
            self,
            f"{len(errors)} problem(s) in plug-in(s) {', '.join(repr(p) for p in plugins)}:\n{lines}",
        )
        self.plugin = plugins[0] if plugins else ""
        self.problem = str(self)


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
    # Every problem found (the exceptions, each naming the plug-in); ``error`` joins them.
    problems: list[Exception] = field(default_factory=list)
    # Things that work but are probably a mistake; shown by ``flask hamaynk check``.
    warnings: list[str] = field(default_factory=list)


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
        """Record a problem and disable the plug-in. Loading goes on, so that every other
        problem is found too; :meth:`raise_if_strict` stops a strict start at the end."""
        if not isinstance(error, Exception):
            error = PluginError(record.name, error)
        record.problems.append(error)
        record.status = DISABLED
        record.error = "; ".join(str(p) for p in record.problems)
        record.services = []
        self.registry.remove_plugin(record.name)

    def problems(self) -> list[Exception]:
        return [p for r in sorted(self.records.values(), key=lambda r: r.name) for p in r.problems]

    def raise_if_strict(self) -> None:
        if not self.strict:
            return
        errors = self.problems()
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise PluginsFailed(errors)

    def _finish(self) -> None:
        """Take every plug-in with a problem out of the manager (its hooks never run)."""
        for record in self.records.values():
            if record.status == DISABLED and record.module is not None and self.pm.is_registered(record.module):
                self.pm.unregister(record.module)

    # -- loading ------------------------------------------------------------------------
    def _hook_problems(self, record: PluginRecord, module: Any) -> list[str]:
        """Every hook implementation that names no hook, or takes an argument its hook does
        not pass. Pluggy reports only the first; an author wants them all at once."""
        problems = []
        for attr in sorted(dir(module)):
            try:
                opts = self.pm.parse_hookimpl_opts(module, attr)
            except Exception:  # an attribute that cannot even be inspected is no hook
                log.debug("plug-in %s: attribute %s cannot be inspected", record.name, attr, exc_info=True)
                continue
            if opts is None:
                continue
            name = opts.get("specname") or attr
            if opts.get("optionalhook"):
                continue  # the author said it may name a hook another plug-in defines
            if name not in HOOK_NAMES:
                close = difflib.get_close_matches(name, sorted(HOOK_NAMES), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(f"hook {name!r} does not exist{hint} (hooks: {sorted(HOOK_NAMES)})")
                continue
            try:
                accepted = set(inspect.signature(getattr(module, attr)).parameters)
            except (TypeError, ValueError):
                continue
            offered = set(inspect.signature(getattr(hookspecs, name)).parameters)
            extra = sorted(accepted - offered)
            if extra:
                problems.append(
                    f"hook {name!r} takes argument(s) {extra} that Hamaynk does not pass (it passes: {sorted(offered)})"
                )
        return problems

    def _register_module(self, record: PluginRecord, module: Any) -> None:
        requires = getattr(module, "REQUIRES_CORE_API", None)
        if requires is None:
            if record.source not in ("built-in", "file"):
                record.warnings.append(
                    f"has no REQUIRES_CORE_API; add e.g. REQUIRES_CORE_API = '>=1,<2' so an incompatible Hamaynk "
                    f"refuses it with a clear message (this Hamaynk provides {CORE_API_VERSION})"
                )
        else:
            try:
                spec = SpecifierSet(str(requires))
            except InvalidSpecifier:
                self._fail(
                    record,
                    PluginError(record.name, f"REQUIRES_CORE_API {requires!r} is not a version range such as '>=1,<2'"),
                )
            else:
                if Version(CORE_API_VERSION) not in spec:
                    self._fail(
                        record,
                        PluginError(
                            record.name,
                            f"needs core API {requires}, but this Hamaynk provides {CORE_API_VERSION}; upgrade the plug-in or Hamaynk",
                        ),
                    )
        record.warnings += _catalog_warnings(module)
        hook_problems = self._hook_problems(record, module)
        for problem in hook_problems:
            self._fail(record, PluginError(record.name, f"does not match Hamaynk's hooks: {problem}"))
        record.module = module
        try:
            # Registered even with problems, so its declarations are checked as well; a
            # disabled plug-in is unregistered before anything is served.
            self.pm.register(module, name=record.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            if not hook_problems:
                self._fail(record, PluginError(record.name, f"does not match Hamaynk's hooks: {exc}"))
            record.module = None

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
        """Call a collect hook plug-in by plug-in, so a failure is pinned on its author.

        Plug-ins that already have a problem are called too (their results are checked,
        never used): one run should name every mistake."""
        results = []
        # Grouped once: asking pluggy for every implementation per plug-in made loading
        # quadratic in the number of plug-ins.
        impls_of: dict[int, list[Any]] = {}
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            impls_of.setdefault(id(impl.plugin), []).append(impl)
        for record in sorted(self.records.values(), key=lambda r: r.name):
            if record.module is None or record.status == BLOCKED or not self.pm.is_registered(record.module):
                continue
            for impl in impls_of.get(id(record.module), []):
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
            try:
                items = _as_list(value, FieldType, record.name, "register_field_types")
            except PluginError as exc:
                self._fail(record, exc)
                continue
            good: list[FieldType] = []
            for item in items:
                if item.name in types:
                    problem = f"field type {item.name!r} is already registered by {owners[item.name]!r}"
                elif item.python_type not in PYTHON_TYPES:
                    problem = f"field type {item.name!r} has unknown python_type {item.python_type!r}"
                elif item.clean is not None and not callable(item.clean):
                    problem = f"field type {item.name!r} clean must be callable"
                else:
                    good.append(item)
                    continue
                self._fail(record, PluginError(record.name, problem))
            # A broken plug-in's types stay known, so its services are checked against them.
            for item in good:
                types[item.name] = item
                owners[item.name] = record.name
        self.registry.field_types = types

    def collect_services(self) -> None:
        for record, value in self._call_each("register_services"):
            try:
                services = _as_list(value, Service, record.name, "register_services")
            except PluginError as exc:
                self._fail(record, exc)
                continue
            base_path = _module_dir(record.module)
            self._add_services(record, services, base_path)

    def _add_services(self, record: PluginRecord, services: list[Service], base_path: Path | None) -> None:
        seen: set[tuple[str, int]] = set()
        for service in sorted(services, key=lambda s: (str(s.key), str(s.version))):
            ident = (service.key, service.version)
            if ident in seen:
                self._fail(
                    record,
                    DeclarationError(record.name, str(service.key), f"version {service.version} is declared twice"),
                )
                continue
            seen.add(ident)
            try:
                problems = validate_service(service, self.registry.field_types, base_path)
            except (TypeError, ValueError) as exc:
                # A value of the wrong type (a list for a number) makes a comparison raise.
                problems = [f"a value has the wrong type: {exc}"]
            if problems:
                self._fail(record, DeclarationError(record.name, str(service.key), "; ".join(problems), problems))
                continue
            record.warnings += [f"service {service.key!r} v{service.version}: {w}" for w in condition_warnings(service)]
            if record.status != ACTIVE:
                continue  # checked, never offered
            try:
                self.registry.add(RegisteredService(service, record.name, record.source, base_path))
            except DeclarationError as exc:
                self._fail(record, exc)
                continue
            record.services.append((service.key, service.version))

    def load_definition_dirs(self, directories: Iterable[str], blocked: Iterable[str]) -> None:
        for directory in directories:
            for path in definition_files(directory):
                name = f"file:{path.name}"
                record = PluginRecord(name=name, source="file", origin=str(path))
                if name in self.records:
                    self.records[f"{name}@{path}"] = record
                    self._fail(record, PluginError(name, f"another definition file is also named {path.name!r}"))
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

    def refuse_clashing(self, builder_keys: Mapping[str, str]) -> None:
        """Disable every plug-in or definition file declaring a key that a service built in
        the admin UI already has (``builder_keys``: key -> builder record name).

        The builder service stays: it is stored data, its applications were filed under it,
        and the builder refuses a key a plug-in already has, so the plug-in is the newcomer.
        Neither replaces the other silently: the error names both, on the Plug-ins page and
        in ``flask hamaynk check``. Renaming the plug-in's key and restarting brings it back."""
        for registered in self.registry.all():
            owner = builder_keys.get(registered.key)
            if owner is None or registered.source == "builder" or registered.plugin not in self.records:
                continue
            record = self.records[registered.plugin]
            self._fail(
                record,
                DeclarationError(
                    record.name,
                    registered.key,
                    f"the key is already used by the service built in the admin UI {owner!r}; "
                    f"the built service and its applications are kept; give this service another key",
                ),
            )

    # -- translations ---------------------------------------------------------------------
    def translation_dirs(self) -> list[str]:
        """The ``translations/`` folders of active plug-in packages, by plug-in name.

        A plug-in ships its catalogs next to its module (``<package>/translations/<lang>/
        LC_MESSAGES/messages.mo``, as ``pybabel compile`` writes them); ``app.sdk.gettext``
        then finds its strings. Nothing to register: the folder is the registration."""
        found = []
        for record in sorted(self.records.values(), key=lambda r: r.name):
            folder = _translations_dir(record.module)
            if record.status == ACTIVE and folder is not None:
                found.append(str(folder))
        return found

    # -- calling hooks at run time ----------------------------------------------------------
    def validate_application(self, service: Service, data: Mapping[str, Any]) -> dict[str, str]:
        """Every plug-in's ``validate_application`` (merged; the first message for a name wins).

        Each implementation is called on its own, so a raise or an answer that is not a
        mapping of texts is pinned on its plug-in: :class:`HookFailed` naming plug-in and hook
        (the caller shows the clerk a generic message and logs this one)."""
        merged: dict[str, str] = {}
        for name, function in self._impls("validate_application"):
            try:
                result = _call_with_kwargs(function, {"service": service, "data": data})
            except Exception as exc:
                raise HookFailed(name, "validate_application", f"raised {type(exc).__name__}: {exc}") from exc
            if result is None:
                continue
            if not isinstance(result, Mapping) or not all(isinstance(k, str) for k in result):
                raise HookFailed(
                    name,
                    "validate_application",
                    f"must return a mapping of field name to message or None, got {type(result).__name__} {result!r:.80}",
                )
            for key, message in sorted(result.items()):
                merged.setdefault(key, str(message))
        return merged

    def call_hook(self, hook_name: str, **kwargs: Any) -> None:
        """Call a lifecycle hook (``after_submit``, ``before_transition``, …) plug-in by
        plug-in. ``TransitionVetoed`` passes through; any other exception becomes
        :class:`HookFailed` naming the plug-in and the hook."""
        if any(impl.hookwrapper or impl.wrapper for impl in getattr(self.pm.hook, hook_name).get_hookimpls()):
            # A wrapper must surround the others: only pluggy can run that.
            getattr(self.pm.hook, hook_name)(**kwargs)
            return
        for name, function in self._impls(hook_name):
            try:
                _call_with_kwargs(function, kwargs)
            except TransitionVetoed:
                raise
            except Exception as exc:
                raise HookFailed(name, hook_name, f"raised {type(exc).__name__}: {exc}") from exc

    def listens(self, hook_name: str) -> bool:
        """Whether any plug-in implements ``hook_name`` (the core skips work done only for it)."""
        return bool(getattr(self.pm.hook, hook_name).get_hookimpls())

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook that answers (``output_context``) plug-in by plug-in, sorted by
        plug-in name; ``(plug-in name, answer)`` for each. A raise becomes :class:`HookFailed`
        naming the plug-in and the hook; the caller checks the answers' shape."""
        answers = []
        for name, function in self._impls(hook_name):
            try:
                answers.append((name, _call_with_kwargs(function, kwargs)))
            except Exception as exc:
                raise HookFailed(name, hook_name, f"raised {type(exc).__name__}: {exc}") from exc
        return answers

    def first_answer(self, hook_name: str, **kwargs: Any) -> tuple[str, Any] | None:
        """Call a resolver (``*_from_*``) plug-in by plug-in, sorted by plug-in name, and stop
        at the first answer that is not ``None``: ``(plug-in name, answer)``, or ``None`` when
        none answered. The caller learns who answered (a residency records it); a raise
        becomes :class:`HookFailed` naming the plug-in and the hook."""
        for name, function in self._impls(hook_name):
            try:
                answer = _call_with_kwargs(function, kwargs)
            except Exception as exc:
                raise HookFailed(name, hook_name, f"raised {type(exc).__name__}: {exc}") from exc
            if answer is not None:
                return name, answer
        return None

    def implemented(self, hook_name: str) -> bool:
        """Whether any plug-in implements ``hook_name``."""
        return bool(self._impls(hook_name))

    def _impls(self, hook_name: str) -> list[tuple[str, Callable[..., Any]]]:
        impls = [i for i in getattr(self.pm.hook, hook_name).get_hookimpls() if not (i.hookwrapper or i.wrapper)]
        # Sorted by plug-in name: nothing may depend on the order plug-ins were found in.
        return sorted(((impl.plugin_name, impl.function) for impl in impls), key=lambda pair: pair[0])


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


def _translations_dir(module: Any) -> Path | None:
    # Only a package has a folder of its own; a single-file module's folder is site-packages.
    if module is None or not hasattr(module, "__path__"):
        return None
    base = _module_dir(module)
    folder = base / "translations" if base is not None else None
    return folder if folder is not None and folder.is_dir() else None


def _catalog_warnings(module: Any) -> list[str]:
    """A ``.po`` catalog without an up-to-date ``.mo`` next to it: its texts would not show."""
    folder = _translations_dir(module)
    if folder is None:
        return []
    warnings = []
    for po in sorted(folder.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.is_file() or mo.stat().st_mtime < po.stat().st_mtime:
            warnings.append(
                f"translations: {po.relative_to(folder)} has no up-to-date {mo.name}; run "
                f"`pybabel compile -d {folder}` (and package the .mo files) or its texts stay in English"
            )
    return warnings


def _module_dir(module: Any) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else None


def build_plugin_host(config: Mapping[str, Any], strict: bool | None = None) -> PluginHost:
    """Load every plug-in and definition file ``config`` names. In strict mode (``strict``,
    else ``HAMAYNK_STRICT_PLUGINS``) raise after loading when anything is wrong: the one
    problem itself, or :class:`PluginsFailed` listing them all."""
    if strict is None:
        strict = bool(config.get("HAMAYNK_STRICT_PLUGINS", True))
    host = PluginHost(strict=strict)
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
    host._finish()
    host.raise_if_strict()
    return host
