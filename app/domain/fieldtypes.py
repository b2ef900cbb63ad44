"""The core field types and the one function that validates form data on every path.

HTML forms, the REST API and definition-file services all end in :func:`validate_data`, so a
rule declared once is enforced the same way everywhere, always on the server.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from app.domain import inputs, patterns
from app.domain.declarations import Condition, Field, FieldType, Service, pick

PSN_RE = re.compile(r"^[0-9]{10}$")


def _clean_text(value: str, spec: Field) -> str:
    problem = inputs.text_problem(value)
    if problem:
        raise ValueError(problem)
    return value.strip()


def _clean_int(value: str, spec: Field) -> int:
    try:
        return int(value.strip().replace(" ", ""))
    except ValueError:
        raise ValueError(_("Enter a whole number.")) from None


def _clean_decimal(value: str, spec: Field) -> str:
    try:
        number = Decimal(value.strip().replace(" ", "").replace(",", "."))
    except InvalidOperation:
        raise ValueError(_("Enter a number.")) from None
    if not number.is_finite():
        raise ValueError(_("Enter a number."))
    # Stored as a string: JSON has no decimal, and floats would round money and areas.
    return str(number)


def _clean_date(value: str, spec: Field) -> str:
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None


def _clean_bool(value: Any, spec: Field) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "y", "yes", "on"}


def _clean_email(value: str, spec: Field) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError(_("Enter a valid e-mail address.")) from None


def normalize_phone(value: str) -> str:
    """An Armenian or international phone number in E.164 form (+374XXXXXXXX)."""
    try:
        number = phonenumbers.parse(value.strip(), "AM")
    except phonenumbers.NumberParseException:
        raise ValueError(_("Enter a phone number such as +374 91 123456.")) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_("Enter a phone number such as +374 91 123456."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _clean_phone(value: str, spec: Field) -> str:
    return normalize_phone(value)


def normalize_psn(value: str) -> str:
    """Armenian public service number (ՀԾՀ): exactly ten digits.

    No check digit is published for it, so format is all that can be verified offline; a
    registry plug-in can confirm that the number exists.
    """
    digits = re.sub(r"[\s-]", "", value or "")
    if not PSN_RE.match(digits):
        raise ValueError(_("A public service number has exactly 10 digits."))
    return digits


def _clean_psn(value: str, spec: Field) -> str:
    return normalize_psn(value)


def _clean_choice(value: str, spec: Field) -> str:
    value = value.strip()
    if value not in {choice.value for choice in spec.choices}:
        raise ValueError(_("Choose one of the listed options."))
    return value


def _clean_multichoice(value: Any, spec: Field) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    allowed = {choice.value for choice in spec.choices}
    cleaned = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        if item not in allowed:
            raise ValueError(_("Choose only listed options."))
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


CORE_FIELD_TYPES: dict[str, FieldType] = {
    ft.name: ft
    for ft in (
        FieldType("text", "str", _clean_text, {"type": "string"}),
        FieldType("textarea", "str", _clean_text, {"type": "string"}, input_type="textarea"),
        FieldType("address", "str", _clean_text, {"type": "string"}, input_type="textarea"),
        FieldType("integer", "int", _clean_int, {"type": "integer"}, input_type="number"),
        FieldType(
            "decimal", "decimal", _clean_decimal, {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}, input_type="text"
        ),
        FieldType("date", "date", _clean_date, {"type": "string", "format": "date"}, input_type="date"),
        FieldType("boolean", "bool", _clean_bool, {"type": "boolean"}, input_type="checkbox"),
        FieldType("email", "str", _clean_email, {"type": "string", "format": "email"}, input_type="email"),
        FieldType(
            "phone", "str", _clean_phone, {"type": "string", "pattern": r"^\+?[0-9 ()-]{6,20}$"}, input_type="tel"
        ),
        FieldType("psn", "str", _clean_psn, {"type": "string", "pattern": r"^\d{10}$"}, input_type="text"),
        FieldType("choice", "str", _clean_choice, {"type": "string"}, input_type="select"),
        FieldType(
            "multichoice",
            "list",
            _clean_multichoice,
            {"type": "array", "items": {"type": "string"}},
            input_type="checkboxes",
        ),
    )
}


def _empty(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, (list, tuple)) and not value)
    )


def _check_bounds(spec: Field, value: Any) -> str | None:
    if isinstance(value, (int, str)) and spec.type in ("integer", "decimal"):
        number = Decimal(str(value))
        if spec.min_value is not None and number < Decimal(str(spec.min_value)):
            return _("The smallest allowed value is %(value)s.", value=spec.min_value)
        if spec.max_value is not None and number > Decimal(str(spec.max_value)):
            return _("The largest allowed value is %(value)s.", value=spec.max_value)
    if isinstance(value, str) and spec.type not in ("integer", "decimal", "date"):
        if spec.min_length is not None and len(value) < spec.min_length:
            return _("Enter at least %(count)d characters.", count=spec.min_length)
        if spec.max_length is not None and len(value) > spec.max_length:
            return _("Enter at most %(count)d characters.", count=spec.max_length)
        # The length checks above come first: they bound what the pattern runs on.
        if spec.pattern and (len(value) > MAX_TEXT or not patterns.matches(spec.pattern, value)):
            return _("The value does not have the expected format.")
    return None


# A generous ceiling for any single text value: nothing a clerk types is this long, and it
# keeps hostile input from bloating the JSON column.
MAX_TEXT = 10_000


def longest_value(max_length: object) -> int:
    """The most characters a field's pattern ever runs on, given the field's ``max_length``:
    longer values are refused before the pattern runs (see :mod:`app.domain.patterns`)."""
    if isinstance(max_length, int) and not isinstance(max_length, bool) and max_length >= 0:
        return min(max_length, MAX_TEXT)
    return MAX_TEXT


def validate_data(
    service: Service,
    raw: Mapping[str, Any],
    field_types: Mapping[str, FieldType],
    extra_validators: Callable[[Service, dict[str, Any]], Mapping[str, str]] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean and check ``raw`` form input against the service's fields.

    Returns ``(data, errors)``: ``data`` holds only declared, visible fields with cleaned
    values; ``errors`` maps field name to a message in the current language. Hidden fields
    are dropped, so a value that a condition hides can never slip into the record.
    """
    # First pass: clean every declared value so conditions compare typed values.
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in service.fields:
        value = raw.get(spec.name)
        if spec.type == "boolean" and value is None:
            value = False
        if spec.type != "multichoice" and isinstance(value, (list, tuple)):
            # Forms send one value per field; a list here would lose all but one silently.
            errors[spec.name] = _("Send one value here, not a list.")
            continue
        if _empty(value):
            continue
        if isinstance(value, str) and len(value) > MAX_TEXT:
            errors[spec.name] = _("Enter at most %(count)d characters.", count=MAX_TEXT)
            continue
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and spec.type not in ("boolean", "multichoice")
        ):
            # JSON clients send numbers as numbers; the cleaners read text, as forms send it.
            value = repr(value) if isinstance(value, float) else str(value)
        elif not isinstance(value, (str, bool, list, tuple)) or (isinstance(value, bool) and spec.type != "boolean"):
            errors[spec.name] = _("The value does not have the expected format.")
            continue
        field_type = field_types[spec.type]
        try:
            cleaned[spec.name] = field_type.clean(value, spec) if field_type.clean else value
        except ValueError as exc:
            errors[spec.name] = str(exc)
            continue
        problem = _check_bounds(spec, cleaned[spec.name])
        if problem:
            errors[spec.name] = problem
    # Second pass: visibility and requirement depend on other (cleaned) values.
    data: dict[str, Any] = {}
    for spec in service.fields:
        if not spec.is_visible(cleaned):
            errors.pop(spec.name, None)
            continue
        if spec.name in cleaned:
            value = cleaned[spec.name]
            if spec.type == "boolean" and value is False and spec.is_required(cleaned):
                errors.setdefault(spec.name, _("This field is required."))
            data[spec.name] = value
        elif spec.is_required(cleaned) and spec.name not in errors:
            errors[spec.name] = _("This field is required.")
    if not errors and extra_validators is not None:
        for name, message in extra_validators(service, data).items():
            errors[name] = str(message)
    return data, errors


def json_schema(service: Service, field_types: Mapping[str, FieldType], locale: str = "en") -> dict[str, Any]:
    """JSON Schema (draft 2020-12) for the service's form data, for the API and its docs.

    Conditional requirements are expressed with ``if``/``then`` so a client can see them;
    the server enforces them through :func:`validate_data` either way.
    """
    properties: dict[str, Any] = {}
    required: list[str] = []
    conditionals: list[dict[str, Any]] = []
    for spec in service.fields:
        prop = dict(field_types[spec.type].json_schema)
        prop["title"] = pick(spec.label, locale)
        if spec.help:
            prop["description"] = pick(spec.help, locale)
        if spec.choices:
            values = [choice.value for choice in spec.choices]
            if spec.type == "multichoice":
                prop["items"] = {"type": "string", "enum": values}
            else:
                prop["enum"] = values
        if spec.min_value is not None:
            prop["minimum"] = spec.min_value
        if spec.max_value is not None:
            prop["maximum"] = spec.max_value
        if spec.min_length is not None:
            prop["minLength"] = spec.min_length
        if spec.max_length is not None:
            prop["maxLength"] = spec.max_length
        if spec.pattern:
            # JSON Schema patterns match anywhere in the value; the server matches all of it.
            prop["pattern"] = f"^(?:{spec.pattern})$"
        properties[spec.name] = prop
        if spec.required and not spec.visible_when:
            required.append(spec.name)
        conds = list(spec.visible_when) + list(spec.required_when)
        if conds and (spec.required or spec.required_when):
            conditionals.append(
                {
                    "if": {
                        "properties": {c.field: _condition_schema(c) for c in conds},
                        "required": sorted({c.field for c in conds}),
                    },
                    "then": {"required": [spec.name]},
                }
            )
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": pick(service.title, locale),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    if conditionals:
        schema["allOf"] = conditionals
    return schema


def _condition_schema(cond: Condition) -> dict[str, Any]:
    op, value = cond.op, cond.value
    if op == "eq":
        return {"const": value}
    if op == "ne":
        return {"not": {"const": value}}
    if op == "in":
        return {"enum": list(value)}
    if op == "not_in":
        return {"not": {"enum": list(value)}}
    if op == "gt":
        return {"exclusiveMinimum": value}
    if op == "ge":
        return {"minimum": value}
    if op == "lt":
        return {"exclusiveMaximum": value}
    if op == "le":
        return {"maximum": value}
    if op == "set":
        return {"not": {"enum": ["", None, []]}}
    # "unset": absent or empty; an absent property never reaches this sub-schema.
    return {"enum": ["", None, []]}
