"""Definition files: the low-code path. A YAML or JSON document with the same shape as a
:class:`~app.domain.declarations.Service`, loaded into the very same declaration objects, so
the registry validates file-based and code-based services with one set of rules.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from app.domain.declarations import (
    Choice,
    Condition,
    DeclarationValueError,
    Document,
    Field,
    Output,
    Service,
    Step,
    declaration_to_dict,
)

DEFINITION_SUFFIXES = (".yaml", ".yml", ".json")

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Declaration = TypeVar("Declaration", bound="DataclassInstance")


class DefinitionError(ValueError):
    """A definition file (or dict) cannot become a Service. The message names the place."""


def _build(cls: type[Declaration], data: Any, where: str, nested: Mapping[str, Any] | None = None) -> Declaration:
    if not isinstance(data, Mapping):
        raise DefinitionError(f"{where}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in dc_fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        # A typo such as "requierd" must not silently drop a rule.
        raise DefinitionError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    missing = [
        name for name, f in known.items() if f.default is MISSING and f.default_factory is MISSING and name not in data
    ]
    if missing:
        raise DefinitionError(f"{where}: missing required key(s) {missing}")
    kwargs = {}
    for name, value in data.items():
        if nested and name in nested and value is not None:
            builder = nested[name]
            if isinstance(value, list):
                value = tuple(builder(item, f"{where}.{name}[{i}]") for i, item in enumerate(value))
            else:
                value = builder(value, f"{where}.{name}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except DeclarationValueError as exc:
        raise DefinitionError(f"{where}: {exc}") from None
    except TypeError as exc:
        raise DefinitionError(f"{where}: {exc}") from None


def _condition(data: Any, where: str) -> Condition:
    return _build(Condition, data, where)


def _choice(data: Any, where: str) -> Choice:
    if isinstance(data, str):
        data = {"value": data, "label": data}
    return _build(Choice, data, where)


def _field(data: Any, where: str) -> Field:
    return _build(Field, data, where, {"choices": _choice, "visible_when": _condition, "required_when": _condition})


def _document(data: Any, where: str) -> Document:
    if isinstance(data, Mapping) and isinstance(data.get("types"), list):
        data = {**data, "types": tuple(data["types"])}
    return _build(Document, data, where, {"required_when": _condition})


def _step(data: Any, where: str) -> Step:
    if isinstance(data, Mapping) and isinstance(data.get("actions"), list):
        data = {**data, "actions": tuple(data["actions"])}
    return _build(Step, data, where, {"when": _condition})


def _output(data: Any, where: str) -> Output:
    return _build(Output, data, where)


def service_from_dict(data: Any, where: str = "definition") -> Service:
    return _build(
        Service,
        data,
        where,
        {"fields": _field, "documents": _document, "steps": _step, "output": _output},
    )


def service_to_dict(service: Service) -> dict[str, Any]:
    data: dict[str, Any] = declaration_to_dict(service)
    return data


def _load_yaml(content: str) -> Any:
    # libyaml's loader reads the same documents as the pure-Python one about ten times faster
    # (definition files are read at every start); its error messages are terser, so a file
    # it refuses is read again by the pure-Python loader, whose message (with the offending
    # line drawn) is the one the author sees.
    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return yaml.safe_load(content)
    try:
        return yaml.load(content, Loader=loader)  # noqa: S506  # nosec B506
    except yaml.YAMLError:
        return yaml.safe_load(content)


def parse_definition_text(content: str, fmt: str, where: str) -> Any:
    try:
        if fmt == "json":
            return json.loads(content)
        return _load_yaml(content)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise DefinitionError(f"{where}: not valid {fmt.upper()}: {exc}") from None


def load_definition_file(path: str | Path) -> list[Service]:
    """One file holds one service, or a list of them (several versions of one service)."""
    path = Path(path)
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{path}: cannot be read: {exc}") from None
    data = parse_definition_text(content, fmt, str(path))
    items = data if isinstance(data, list) else [data]
    return [
        service_from_dict(item, f"{path.name}[{i}]" if len(items) > 1 else path.name) for i, item in enumerate(items)
    ]


def definition_files(directory: str | Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in DEFINITION_SUFFIXES and p.is_file())
