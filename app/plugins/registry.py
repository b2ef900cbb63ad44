"""Collects service declarations and validates them; looks services up by key and version.

Every problem is reported as a :class:`DeclarationError` whose message names the plug-in,
the service and the bad value, because the person reading it is usually a municipal IT
officer looking at the admin "Plug-ins" page, not the author.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from app.domain import output_templates, patterns, statuses
from app.domain.declarations import (
    ACTIONS,
    DOCUMENT_TYPES,
    FEE_PERIODS,
    FIELD_NAME_RE,
    KEY_RE,
    MAX_DOCUMENT_BYTES,
    STEP_ROLES,
    Condition,
    FieldType,
    Service,
    choice_condition_problems,
    condition_lists,
)
from app.domain.fieldtypes import longest_value

CHOICE_TYPES = ("choice", "multichoice")
DEPARTMENT_CODE_RE = re.compile(r"^[a-z][a-z0-9_-]*$")


class DeclarationError(ValueError):
    """A service declaration is wrong. ``str()`` names plug-in, service and bad value."""

    def __init__(self, plugin: str, service: str | None, problem: str, items: list[str] | None = None):
        self.plugin = plugin
        self.service = service
        self.problem = problem
        # The separate problems ``problem`` joins, one sentence each (``flask hamaynk check``).
        self.items = list(items) if items else [problem]
        where = f"plug-in {plugin!r}"
        if service:
            where += f", service {service!r}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class RegisteredService:
    service: Service
    plugin: str
    source: str  # "built-in", "installed", "configured", "file" or "builder"
    base_path: Path | None = None  # where template_file paths are resolved
    # Services built in the admin UI by a municipal admin belong to that municipality only;
    # None means every municipality may offer the service.
    municipality_id: int | None = None

    @property
    def key(self) -> str:
        return self.service.key

    @property
    def version(self) -> int:
        return self.service.version


def _check_conditions(
    conditions: Iterable[Condition], what: str, names: set[str], owner: str | None = None
) -> list[str]:
    problems = []
    for cond in conditions:
        if cond.field not in names:
            problems.append(f"{what} refers to unknown field {cond.field!r} (fields: {sorted(names)})")
        elif owner is not None and cond.field == owner:
            problems.append(f"{what} refers to the field itself ({cond.field!r})")
    return problems


def _check_patterns(service: Service) -> list[str]:
    """Patterns RE2 can run, whose matching together stays within the per-submission budget."""
    problems: list[str] = []
    costs: dict[str, int] = {}
    for spec in service.fields:
        if spec.pattern is None:
            continue
        try:
            compiled = patterns.compile_pattern(spec.pattern)
        except patterns.PatternError as exc:
            problems.append(f"field {spec.name!r} {exc}")
            continue
        costs[spec.name] = compiled.cost(longest_value(spec.max_length))
    if sum(costs.values()) > patterns.MATCH_BUDGET:
        listed = ", ".join(f"{name!r} {cost}" for name, cost in costs.items())
        problems.append(
            f"the field patterns are too complex to check on every submission: compiled size x max_length"
            f" ({listed}) adds up to more than {patterns.MATCH_BUDGET}; set max_length on these fields"
            " or simplify the patterns"
        )
    return problems


def validate_service(
    service: Service, field_types: Mapping[str, FieldType], base_path: Path | None = None
) -> list[str]:
    """Everything wrong with one declaration, as readable sentences (empty when it is fine)."""
    p: list[str] = []
    if not isinstance(service.key, str) or not KEY_RE.match(service.key):
        p.append(
            f"key {service.key!r} must be kebab-case: lower-case letters, digits and dashes, starting with a letter"
        )
    if not isinstance(service.version, int) or isinstance(service.version, bool) or service.version < 1:
        p.append(f"version {service.version!r} must be a whole number of 1 or more")
    if not service.title.get("hy"):
        p.append("title needs an Armenian ('hy') text")
    if not isinstance(service.fee, int) or isinstance(service.fee, bool) or service.fee < 0:
        p.append(f"fee {service.fee!r} must be a whole number of drams, 0 or more")
    if service.fee_period not in FEE_PERIODS:
        p.append(f"fee_period {service.fee_period!r} is not one of {list(FEE_PERIODS)}")
    if (
        not isinstance(service.deadline_days, int)
        or isinstance(service.deadline_days, bool)
        or service.deadline_days < 1
    ):
        p.append(f"deadline_days {service.deadline_days!r} must be a whole number of working days, 1 or more")
    for status in service.status_texts:
        if status not in statuses.ALL:
            p.append(f"status_texts has unknown status {status!r} (statuses: {list(statuses.ALL)})")

    # Fields
    names: set[str] = set()
    for spec in service.fields:
        if not isinstance(spec.name, str) or not FIELD_NAME_RE.match(spec.name):
            p.append(f"field name {spec.name!r} must be snake_case")
        if spec.name in names:
            p.append(f"field {spec.name!r} is declared twice")
        names.add(spec.name)
    for spec in service.fields:
        if spec.type not in field_types:
            p.append(f"field {spec.name!r} has unknown type {spec.type!r} (known: {sorted(field_types)})")
        if not spec.label.get("hy"):
            p.append(f"field {spec.name!r} label needs an Armenian ('hy') text")
        if spec.type in CHOICE_TYPES:
            values = [c.value for c in spec.choices]
            if not values:
                p.append(f"field {spec.name!r} of type {spec.type!r} needs choices")
            if len(values) != len(set(values)):
                p.append(f"field {spec.name!r} has duplicate choice values")
        elif spec.choices:
            p.append(f"field {spec.name!r} of type {spec.type!r} cannot have choices")
        if spec.min_value is not None and spec.max_value is not None and spec.min_value > spec.max_value:
            p.append(f"field {spec.name!r} has min_value {spec.min_value!r} above max_value {spec.max_value!r}")
        if spec.min_length is not None and spec.max_length is not None and spec.min_length > spec.max_length:
            p.append(f"field {spec.name!r} has min_length above max_length")
        for attr in ("min_length", "max_length"):
            value = getattr(spec, attr)
            if value is not None and (not isinstance(value, int) or value < 0):
                p.append(f"field {spec.name!r} {attr} {value!r} must be a whole number, 0 or more")
        p += _check_conditions(spec.visible_when, f"field {spec.name!r} visible_when", names, spec.name)
        p += _check_conditions(spec.required_when, f"field {spec.name!r} required_when", names, spec.name)
    p += _check_patterns(service)
    # A condition on a value the field does not offer can never hold: what it guards never shows.
    p += choice_condition_problems(service)

    # Documents
    doc_keys: set[str] = set()
    for doc in service.documents:
        if not isinstance(doc.key, str) or not FIELD_NAME_RE.match(doc.key):
            p.append(f"document key {doc.key!r} must be snake_case")
        if doc.key in doc_keys:
            p.append(f"document {doc.key!r} is declared twice")
        doc_keys.add(doc.key)
        if not doc.title.get("hy"):
            p.append(f"document {doc.key!r} title needs an Armenian ('hy') text")
        if not doc.types:
            p.append(f"document {doc.key!r} accepts no file types")
        for kind in doc.types:
            if kind not in DOCUMENT_TYPES:
                p.append(f"document {doc.key!r} has unknown file type {kind!r} (known: {sorted(DOCUMENT_TYPES)})")
        if not isinstance(doc.max_size_mb, (int, float)) or isinstance(doc.max_size_mb, bool) or doc.max_size_mb <= 0:
            p.append(f"document {doc.key!r} max_size_mb {doc.max_size_mb!r} must be a positive number")
        elif doc.max_bytes > MAX_DOCUMENT_BYTES:
            p.append(
                f"document {doc.key!r} max_size_mb {doc.max_size_mb!r} is above the limit of {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB"
            )
        if not isinstance(doc.max_count, int) or isinstance(doc.max_count, bool) or not 1 <= doc.max_count <= 50:
            p.append(f"document {doc.key!r} max_count {doc.max_count!r} must be between 1 and 50")
        p += _check_conditions(doc.required_when, f"document {doc.key!r} required_when", names)

    # Steps
    if not service.steps:
        p.append("needs at least one step")
    step_keys: set[str] = set()
    for step in service.steps:
        if not isinstance(step.key, str) or not FIELD_NAME_RE.match(step.key):
            p.append(f"step key {step.key!r} must be snake_case")
        if step.key in step_keys:
            p.append(f"step {step.key!r} is declared twice")
        step_keys.add(step.key)
        if not step.title.get("hy"):
            p.append(f"step {step.key!r} title needs an Armenian ('hy') text")
        if step.role not in STEP_ROLES:
            p.append(f"step {step.key!r} has unknown role {step.role!r} (known: {list(STEP_ROLES)})")
        if not isinstance(step.days, int) or isinstance(step.days, bool) or step.days < 1:
            p.append(f"step {step.key!r} days {step.days!r} must be a whole number of working days, 1 or more")
        if not step.actions:
            p.append(f"step {step.key!r} allows no action")
        for action in step.actions:
            if action not in ACTIONS:
                p.append(f"step {step.key!r} has unknown action {action!r} (known: {list(ACTIONS)})")
        if "approve" not in step.actions:
            p.append(f"step {step.key!r} must allow 'approve', or no application could ever pass it")
        if step.department is not None and not DEPARTMENT_CODE_RE.match(str(step.department)):
            p.append(
                f"step {step.key!r} department {step.department!r} must be a department code such as 'urban_planning'"
            )
        p += _check_conditions(step.when, f"step {step.key!r} when", names)
    if service.steps and not any(not step.when for step in service.steps):
        p.append("every step has a condition: at least one step must apply to all applications")

    # Output
    if service.output is not None:
        if not service.output.title.get("hy"):
            p.append("output title needs an Armenian ('hy') text")
        if service.output.template_file:
            if base_path is None or not (base_path / service.output.template_file).is_file():
                p.append(f"output template_file {service.output.template_file!r} does not exist next to the plug-in")
        elif not service.output.template.strip():
            p.append("output needs a template or a template_file")
        syntax = output_templates.syntax_problem(service.output, base_path)
        if syntax:
            p.append(syntax)
    return p


def condition_warnings(service: Service) -> list[str]:
    """Condition lists that can never hold although each condition alone is valid: one list
    (all must hold) asking a field to equal two values, to be both set and unset, or a
    yes/no field to equal something that is not ``true``/``false``. What such a list guards
    never appears; the author almost certainly meant something else."""
    booleans = {spec.name for spec in service.fields if spec.type == "boolean"}
    warnings: list[str] = []

    def check(conditions: Iterable[Condition], what: str) -> None:
        equal: dict[str, set[str]] = {}
        presence: dict[str, set[str]] = {}
        for cond in conditions:
            if cond.op == "eq":
                equal.setdefault(cond.field, set()).add(repr(cond.value))
            if cond.op in ("set", "unset"):
                presence.setdefault(cond.field, set()).add(cond.op)
            if cond.field in booleans and cond.op in ("eq", "ne") and not isinstance(cond.value, bool):
                warnings.append(
                    f"{what} compares yes/no field {cond.field!r} with {cond.value!r}; it only holds true or false"
                )
            if cond.op in ("in",) and not cond.value:
                warnings.append(f"{what} asks field {cond.field!r} to be in an empty list: it can never hold")
        multi = {spec.name for spec in service.fields if spec.type == "multichoice"}
        for name, values in sorted(equal.items()):
            if len(values) > 1 and name not in multi:
                warnings.append(f"{what} asks field {name!r} to equal {sorted(values)} at once: it can never hold")
        for name, ops in sorted(presence.items()):
            if len(ops) > 1:
                warnings.append(f"{what} asks field {name!r} to be both set and unset: it can never hold")

    for what, conditions in condition_lists(service):
        check(conditions, what)
    return warnings


class ServiceRegistry:
    """All services of all active plug-ins, by (key, version).

    Builder services are swapped in while requests are served, so every change builds a new
    dict and replaces the old one in a single assignment: a reader in another thread sees
    the old set or the new one, never half of each, and never a dict changing under it.
    """

    def __init__(self) -> None:
        self._services: dict[tuple[str, int], RegisteredService] = {}
        self.field_types: dict[str, FieldType] = {}
        self._write_lock = threading.Lock()
        # Moves on with every change of the services: what was built from them (the inbox's
        # statements, app.domain.inbox) is built again.
        self.generation = 0

    def add(self, registered: RegisteredService) -> None:
        self.replace(lambda _r: False, [registered])

    def remove_plugin(self, plugin: str) -> None:
        self.replace(lambda r: r.plugin == plugin, [])

    def replace(self, remove: Callable[[RegisteredService], bool], add: Iterable[RegisteredService]) -> None:
        """Drop the services ``remove`` picks and add ``add``, as one change.

        Raises :class:`DeclarationError` (changing nothing) when a (key, version) is taken.
        """
        with self._write_lock:
            services = {ident: r for ident, r in self._services.items() if not remove(r)}
            for registered in add:
                ident = (registered.key, registered.version)
                existing = services.get(ident)
                if existing is not None:
                    raise DeclarationError(
                        registered.plugin,
                        registered.key,
                        f"version {registered.version} is already declared by plug-in {existing.plugin!r}",
                    )
                services[ident] = registered
            self._services = services
            self.generation += 1

    def get(self, key: str, version: int | None = None) -> RegisteredService | None:
        services = self._services
        if version is not None:
            return services.get((key, version))
        versions = [r for (k, _v), r in services.items() if k == key]
        return max(versions, key=lambda r: r.version) if versions else None

    def versions(self, key: str) -> list[RegisteredService]:
        return sorted((r for (k, _v), r in self._services.items() if k == key), key=lambda r: r.version)

    def latest(self) -> list[RegisteredService]:
        """The newest version of every service, sorted by key."""
        newest: dict[str, RegisteredService] = {}
        for (key, version), registered in self._services.items():
            if key not in newest or version > newest[key].version:
                newest[key] = registered
        return [newest[key] for key in sorted(newest)]

    def all(self) -> list[RegisteredService]:
        services = self._services
        return [services[i] for i in sorted(services)]

    def keys(self) -> list[str]:
        return sorted({k for k, _v in self._services})

    def __len__(self) -> int:
        return len(self._services)
