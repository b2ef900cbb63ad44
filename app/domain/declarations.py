"""Service declarations: plain, frozen data that a plug-in (or a definition file, or the
admin service builder) hands to the core.

Nothing here imports Flask: a plug-in author can build and unit-test declarations without an
app. Texts are mappings per language (``{"hy": ..., "en": ..., "ru": ...}``) so code,
definition files and the admin UI carry them the same way. The structural checks that need
the whole picture (known roles, known field types, conditions on existing fields) live in
:mod:`app.plugins.registry`; here each class only normalises its own values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dc_fields
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, get_args

LANGUAGES = ("hy", "en", "ru")

KEY_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
FIELD_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

# The closed vocabularies of a declaration, as types a plug-in author's checker understands.
# Values read from definition files are untyped, so the registry still checks each one at
# start-up against the tuples below, which are derived from these types.

# Every role key (app.domain.roles.ROLE_BY_KEY maps them to the stored role names).
RoleKey: TypeAlias = Literal["system_admin", "municipal_admin", "clerk", "specialist", "head", "auditor", "citizen"]
# Roles a step may name as its acting role. Citizens and auditors never act on a step.
StepRole: TypeAlias = Literal["clerk", "specialist", "head", "municipal_admin"]
# What a step may allow its actor to do; "return" sends the application back for correction.
Action: TypeAlias = Literal["approve", "reject", "return"]
# Every action the workflow records, and what ``before_transition`` receives as ``action``.
TransitionAction: TypeAlias = Literal[
    "submit",
    "approve",
    "reject",
    "return",
    "resubmit",
    "withdraw",
    "comment",
    "reassign",
    "extend",
    "hand_over",
    "take",
]
ConditionOp: TypeAlias = Literal["eq", "ne", "in", "not_in", "gt", "ge", "lt", "le", "set", "unset"]
FeePeriod: TypeAlias = Literal["once", "day", "month", "quarter", "year", "event"]
DocumentType: TypeAlias = Literal["pdf", "jpeg", "png", "tiff", "webp", "heic", "docx", "odt", "xlsx"]
# The kind of value a field type stores, and the HTML input the core renders for it.
PythonType: TypeAlias = Literal["str", "int", "decimal", "date", "bool", "list"]
InputType: TypeAlias = Literal["text", "textarea", "number", "date", "email", "tel", "checkbox", "select", "checkboxes"]

ROLE_KEYS: tuple[RoleKey, ...] = get_args(RoleKey)
STEP_ROLES: tuple[StepRole, ...] = get_args(StepRole)
ACTIONS: tuple[Action, ...] = get_args(Action)
TRANSITION_ACTIONS: tuple[TransitionAction, ...] = get_args(TransitionAction)
CONDITION_OPS: tuple[ConditionOp, ...] = get_args(ConditionOp)
FEE_PERIODS: tuple[FeePeriod, ...] = get_args(FeePeriod)
PYTHON_TYPES: tuple[PythonType, ...] = get_args(PythonType)
INPUT_TYPES: tuple[InputType, ...] = get_args(InputType)

# File types a document requirement may accept, by the name used in declarations. Types are
# detected from file content at upload time; the name is never trusted from the client.
DOCUMENT_TYPES: Mapping[DocumentType, tuple[str, ...]] = MappingProxyType(
    {
        "pdf": ("application/pdf",),
        "jpeg": ("image/jpeg",),
        "png": ("image/png",),
        "tiff": ("image/tiff",),
        "webp": ("image/webp",),
        "heic": ("image/heic",),
        "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
        "odt": ("application/vnd.oasis.opendocument.text",),
        "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
    }
)
# Above this a scan is not a document but a mistake; a declaration asking for more is wrong.
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


class DeclarationValueError(ValueError):
    """A single declaration object was built with a value it cannot hold.

    The registry catches it and re-raises it with the plug-in and service named.
    """


def text(value: Any, what: str) -> Mapping[str, str]:
    """Normalise a translatable text: a plain string counts as Armenian."""
    if isinstance(value, str):
        value = {"hy": value}
    if not isinstance(value, Mapping):
        raise DeclarationValueError(f"{what} must be a text or a mapping of language to text, got {value!r}")
    unknown = sorted(set(value) - set(LANGUAGES))
    if unknown:
        raise DeclarationValueError(f"{what} has unknown language(s) {unknown}; use {list(LANGUAGES)}")
    cleaned = {}
    for lang, item in value.items():
        if not isinstance(item, str):
            raise DeclarationValueError(f"{what}[{lang!r}] must be a string, got {item!r}")
        if item.strip():
            cleaned[lang] = item
    return MappingProxyType(cleaned)


def optional_text(value: Any, what: str) -> Mapping[str, str]:
    return text(value if value is not None else {}, what)


def pick(texts: Mapping[str, str], locale: str | None) -> str:
    """The text in ``locale``, else Armenian, else whatever language there is."""
    if not texts:
        return ""
    for lang in (locale, "hy", "en", "ru"):
        if lang and texts.get(lang):
            return texts[lang]
    return next(iter(texts.values()))


def _freeze(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Condition:
    """``field op value`` on the submitted form data, e.g. ``Condition("zone", "eq", "residential")``.

    Several conditions given together must all hold.
    """

    field: str
    op: ConditionOp = "eq"
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in CONDITION_OPS:
            raise DeclarationValueError(
                f"condition on {self.field!r} has unknown operator {self.op!r}; use one of {list(CONDITION_OPS)}"
            )
        if self.op in ("in", "not_in"):
            if isinstance(self.value, (str, bytes)) or not isinstance(self.value, Iterable):
                raise DeclarationValueError(
                    f"condition {self.field!r} {self.op} needs a list of values, got {self.value!r}"
                )
            _freeze(self, "value", tuple(self.value))

    def holds(self, data: Mapping[str, Any]) -> bool:
        actual = data.get(self.field)
        op, expected = self.op, self.value
        if op == "set":
            return actual not in (None, "", [], ())
        if op == "unset":
            return actual in (None, "", [], ())
        if isinstance(actual, (list, tuple)):
            # Multichoice: "eq x" means "x was chosen".
            if op == "eq":
                return expected in actual
            if op == "ne":
                return expected not in actual
            if op == "in":
                return any(item in expected for item in actual)
            if op == "not_in":
                return not any(item in expected for item in actual)
        if op == "eq":
            return bool(actual == expected)
        if op == "ne":
            return bool(actual != expected)
        if op == "in":
            return actual in expected
        if op == "not_in":
            return actual not in expected
        if actual is None:
            return False
        actual, expected = _comparable(actual), _comparable(expected)
        try:
            if op == "gt":
                return bool(actual > expected)
            if op == "ge":
                return bool(actual >= expected)
            if op == "lt":
                return bool(actual < expected)
            if op == "le":
                return bool(actual <= expected)
        except TypeError:
            return False
        raise AssertionError(op)  # unreachable: op validated in __post_init__

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "op": self.op, "value": value}


def _comparable(value: Any) -> Any:
    """Decimals are stored as strings ("350.5"); compare them as numbers, not alphabetically."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        return value
    if isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        return number if number.is_finite() else value
    return Decimal(str(value))


def _conditions(value: Any, what: str) -> tuple[Condition, ...]:
    if value is None:
        return ()
    if isinstance(value, (Condition, Mapping)):
        value = [value]
    result = []
    for item in value:
        if isinstance(item, Mapping):
            try:
                item = Condition(**item)
            except TypeError as exc:
                raise DeclarationValueError(f"{what}: {exc}") from None
        if not isinstance(item, Condition):
            raise DeclarationValueError(f"{what} must be a Condition or a list of them, got {item!r}")
        result.append(item)
    return tuple(result)


def all_hold(conditions: Iterable[Condition], data: Mapping[str, Any]) -> bool:
    return all(cond.holds(data) for cond in conditions)


@dataclass(frozen=True)
class Choice:
    value: str
    label: Mapping[str, str]

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not self.value:
            raise DeclarationValueError(f"choice value must be a non-empty string, got {self.value!r}")
        _freeze(self, "label", text(self.label, f"choice {self.value!r} label"))


def _choices(value: Any) -> tuple[Choice, ...]:
    result = []
    for item in value or ():
        if isinstance(item, Mapping):
            # From a definition file: Choice checks the value itself.
            choice_value: Any = item.get("value")
            item = Choice(value=choice_value, label=item.get("label", choice_value))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            item = Choice(value=item[0], label=item[1])
        if not isinstance(item, Choice):
            raise DeclarationValueError(
                f"choices must be Choice objects, (value, label) pairs or mappings, got {item!r}"
            )
        result.append(item)
    return tuple(result)


@dataclass(frozen=True)
class Field:
    """One input on the application form.

    ``type`` is one of the core field types (text, textarea, integer, decimal, date, choice,
    multichoice, boolean, email, phone, psn, address) or a type a plug-in registered.
    """

    name: str
    type: str
    label: Mapping[str, str]
    required: bool = False
    help: Mapping[str, str] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    visible_when: tuple[Condition, ...] = ()
    required_when: tuple[Condition, ...] = ()
    # Where the value is personal data (public service numbers, passports) the core shows it
    # only to those who need it.
    personal: bool = False

    def __post_init__(self) -> None:
        _freeze(self, "label", text(self.label, f"field {self.name!r} label"))
        _freeze(self, "help", optional_text(self.help, f"field {self.name!r} help"))
        _freeze(self, "choices", _choices(self.choices))
        _freeze(self, "visible_when", _conditions(self.visible_when, f"field {self.name!r} visible_when"))
        _freeze(self, "required_when", _conditions(self.required_when, f"field {self.name!r} required_when"))

    def is_visible(self, data: Mapping[str, Any]) -> bool:
        return all_hold(self.visible_when, data)

    def is_required(self, data: Mapping[str, Any]) -> bool:
        if not self.is_visible(data):
            return False
        if self.required:
            return True
        return bool(self.required_when) and all_hold(self.required_when, data)


@dataclass(frozen=True)
class Document:
    """One line of the document checklist."""

    key: str
    title: Mapping[str, str]
    required: bool = True
    required_when: tuple[Condition, ...] = ()
    types: tuple[DocumentType, ...] = ("pdf", "jpeg", "png")
    max_size_mb: float = 10
    max_count: int = 1
    help: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze(self, "title", text(self.title, f"document {self.key!r} title"))
        _freeze(self, "help", optional_text(self.help, f"document {self.key!r} help"))
        _freeze(self, "required_when", _conditions(self.required_when, f"document {self.key!r} required_when"))
        types = self.types
        if isinstance(types, str):
            types = (types,)
        _freeze(self, "types", tuple(types))

    @property
    def max_bytes(self) -> int:
        return int(self.max_size_mb * 1024 * 1024)

    def is_required(self, data: Mapping[str, Any]) -> bool:
        if self.required_when:
            return all_hold(self.required_when, data)
        return self.required


@dataclass(frozen=True)
class Step:
    """One stop on the approval route.

    ``department`` names a department by its code; an empty one means the department the
    municipality made responsible for the service. ``days`` is the working-day budget.
    """

    key: str
    title: Mapping[str, str]
    role: StepRole
    days: int
    actions: tuple[Action, ...] = ("approve", "reject", "return")
    department: str | None = None
    when: tuple[Condition, ...] = ()
    forbid_self_approval: bool = False
    citizen_text: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _freeze(self, "title", text(self.title, f"step {self.key!r} title"))
        _freeze(self, "citizen_text", optional_text(self.citizen_text, f"step {self.key!r} citizen_text"))
        _freeze(self, "when", _conditions(self.when, f"step {self.key!r} when"))
        actions = (self.actions,) if isinstance(self.actions, str) else tuple(self.actions)
        _freeze(self, "actions", actions)

    def applies(self, data: Mapping[str, Any]) -> bool:
        return all_hold(self.when, data)


@dataclass(frozen=True)
class Output:
    """The document issued at the end: a Jinja template rendered to PDF with a verification code.

    ``template`` is either inline template text or, with ``template_file``, a path relative to
    the plug-in's package (or to the definition file).
    """

    title: Mapping[str, str]
    template: str = ""
    template_file: str | None = None

    def __post_init__(self) -> None:
        _freeze(self, "title", text(self.title, "output title"))


@dataclass(frozen=True)
class FeeItem:
    """One line of a service's fee as the payer sees it (e.g. state duty and a service
    charge): a label per language and an amount in whole dram. A service's ``fee_items``,
    when given, must add up to its ``fee``."""

    label: Mapping[str, str]
    amount: int

    def __post_init__(self) -> None:
        _freeze(self, "label", text(self.label, "fee item label"))
        if not self.label.get("hy"):
            raise DeclarationValueError(f"fee item {dict(self.label)!r} label needs an Armenian ('hy') text")
        if not isinstance(self.amount, int) or isinstance(self.amount, bool) or self.amount < 0:
            raise DeclarationValueError(
                f"fee item {pick(self.label, 'en')!r} amount {self.amount!r} must be a whole number of drams, 0 or more"
            )


def _fee_items(value: Any, service_key: str) -> tuple[FeeItem, ...]:
    result = []
    for item in value or ():
        if isinstance(item, Mapping):
            unknown = sorted(set(item) - {"label", "amount"})
            if unknown or "label" not in item or "amount" not in item:
                raise DeclarationValueError(
                    f"service {service_key!r} fee item {dict(item)!r} needs exactly 'label' and 'amount'"
                )
            item = FeeItem(label=item["label"], amount=item["amount"])
        if not isinstance(item, FeeItem):
            raise DeclarationValueError(
                f"service {service_key!r} fee_items must be FeeItem objects or mappings, got {item!r}"
            )
        result.append(item)
    return tuple(result)


@dataclass(frozen=True)
class Service:
    """A municipal service as a plug-in declares it. See docs/plugins.md for every field."""

    key: str
    version: int
    title: Mapping[str, str]
    steps: tuple[Step, ...]
    description: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[Field, ...] = ()
    documents: tuple[Document, ...] = ()
    fee: int = 0
    fee_period: FeePeriod = "once"
    deadline_days: int = 10
    output: Output | None = None
    category: str = "general"
    # Catalogue metadata, as on the national e-services portal.
    who_may_apply: Mapping[str, str] = field(default_factory=dict)
    delivery: Mapping[str, str] = field(default_factory=dict)
    legal_basis: Mapping[str, str] = field(default_factory=dict)
    # Per-status texts shown to the citizen, keyed by status (see app.domain.statuses).
    status_texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The fee item by item (app.domain.payments); when given, the amounts add up to ``fee``.
    fee_items: tuple[FeeItem, ...] = ()
    # Processing starts only once the fee is paid (or waived): staff cannot approve before.
    payment_first: bool = False

    def __post_init__(self) -> None:
        _freeze(self, "fee_items", _fee_items(self.fee_items, self.key))
        if self.fee_items and sum(item.amount for item in self.fee_items) != self.fee:
            amounts = " + ".join(str(item.amount) for item in self.fee_items)
            raise DeclarationValueError(
                f"service {self.key!r} fee_items add up to {sum(item.amount for item in self.fee_items)} "
                f"({amounts}), not to its fee {self.fee!r}"
            )
        if not isinstance(self.payment_first, bool):
            raise DeclarationValueError(
                f"service {self.key!r} payment_first must be true or false, got {self.payment_first!r}"
            )
        for name in ("title",):
            _freeze(self, name, text(getattr(self, name), f"service {self.key!r} {name}"))
        for name in ("description", "who_may_apply", "delivery", "legal_basis"):
            _freeze(self, name, optional_text(getattr(self, name), f"service {self.key!r} {name}"))
        _freeze(
            self,
            "status_texts",
            MappingProxyType(
                {status: text(value, f"status text {status!r}") for status, value in (self.status_texts or {}).items()}
            ),
        )
        for name in ("steps", "fields", "documents"):
            value = getattr(self, name)
            _freeze(self, name, tuple(value) if value is not None else ())

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def step(self, key: str) -> Step | None:
        return next((s for s in self.steps if s.key == key), None)

    def document(self, key: str) -> Document | None:
        return next((d for d in self.documents if d.key == key), None)

    def route(self, data: Mapping[str, Any]) -> tuple[Step, ...]:
        """The steps this application will go through, given its form data."""
        return tuple(step for step in self.steps if step.applies(data))


def choice_condition_problems(service: Service) -> list[str]:
    """Conditions comparing a choice field with a value it does not offer (``kind eq c`` when
    ``kind`` offers ``a`` and ``b``): such a condition can never hold, so a field or step that
    needs it never appears. One sentence per condition, naming where it is and the field."""
    offered = {spec.name: [c.value for c in spec.choices] for spec in service.fields if spec.choices}
    problems: list[str] = []

    def check(conditions: Iterable[Condition], what: str) -> None:
        for cond in conditions:
            values = offered.get(cond.field)
            if values is None or cond.op not in ("eq", "ne", "in", "not_in"):
                continue
            wanted = cond.value if cond.op in ("in", "not_in") else (cond.value,)
            missing = [value for value in wanted if value not in values]
            if missing:
                shown = ", ".join(repr(value) for value in missing)
                problems.append(
                    f"{what} compares field {cond.field!r} with {shown}, which it does not offer (choices: {values})"
                )

    for what, conditions in condition_lists(service):
        check(conditions, what)
    return problems


def condition_lists(service: Service) -> Iterator[tuple[str, Sequence[Condition]]]:
    """Every list of conditions in ``service``, each with where it stands in the declaration
    (``field 'kind' visible_when``), in declaration order."""
    for spec in service.fields:
        yield f"field {spec.name!r} visible_when", spec.visible_when
        yield f"field {spec.name!r} required_when", spec.required_when
    for doc in service.documents:
        yield f"document {doc.key!r} required_when", doc.required_when
    for step in service.steps:
        yield f"step {step.key!r} when", step.when


# ``clean(value, field)``: the submitted value (text from a form; a number, bool or list from
# the API) and the declaring Field in, the value to store out; ValueError for bad input.
FieldCleaner: TypeAlias = Callable[[Any, Field], Any]


@dataclass(frozen=True)
class FieldType:
    """A field type a plug-in adds (``register_field_types``).

    ``python_type`` is the kind of value stored; ``input_type`` the HTML input the core
    renders. ``clean(value, field)`` turns the submitted value into the stored one and raises
    ``ValueError`` with a user-facing message when the input is wrong; without it the value
    is stored as submitted. ``json_schema`` is the JSON Schema fragment the API publishes
    for the value.
    """

    name: str
    python_type: PythonType = "str"
    clean: FieldCleaner | None = None
    json_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    input_type: InputType = "text"

    def __post_init__(self) -> None:
        _freeze(self, "json_schema", MappingProxyType(dict(self.json_schema)))


def declaration_to_dict(obj: Any) -> Any:
    """Plain JSON-ready data for a declaration (the definition-file format)."""
    if isinstance(obj, Condition):
        return obj.to_dict()
    if hasattr(obj, "__dataclass_fields__"):
        result = {}
        for f in dc_fields(obj):
            value = getattr(obj, f.name)
            is_default = (
                f.default is not None and not callable(getattr(f, "default_factory", None)) and value == f.default
            )
            # Keep files short: leave out values equal to the default.
            if is_default and f.name not in ("key", "version", "name", "type", "role", "days"):
                continue
            if value in ((), {}, None) and f.name not in ("steps",):
                continue
            result[f.name] = declaration_to_dict(value)
        return result
    if isinstance(obj, Mapping):
        return {k: declaration_to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [declaration_to_dict(v) for v in obj]
    return obj
