"""The service builder: municipal and system administrators create, edit, export and import
services without code.

It is made for municipal staff, not developers: every list shows words (acting roles,
actions, kinds of answer, fee periods, comparisons), conditions are picked from the form's
own fields and their values instead of typed as rules, keys are made from the Armenian
title (editable until saved, permanent afterwards), a step's department is picked from the
municipality's own departments, and every mistake is marked next to its input in the
user's language.

"Add" buttons (rows, conditions) re-render the form on the server, so everything works
without script and by keyboard; app/static/builder.js only makes it quicker (keys while
typing, only the values of the chosen field). The form is turned into the definition-file
format and handed to :func:`app.plugins.builder_services.save`, which validates it with the
same rules as plug-ins: whatever slips past the checks here is still refused there, and
shown as technical detail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from flask import Response, abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import (
    BooleanField,
    FieldList,
    FileField,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import NumberRange, ValidationError
from wtforms.validators import Optional as OptionalValue
from wtforms.widgets import CheckboxInput, ListWidget

from app import web
from app.domain import access, patterns
from app.domain.access import Actor
from app.domain.declarations import (
    ACTIONS,
    CONDITION_OPS,
    DOCUMENT_TYPES,
    FEE_PERIODS,
    FIELD_NAME_RE,
    KEY_RE,
    LANGUAGES,
    MAX_DOCUMENT_BYTES,
    STEP_ROLES,
    pick,
)
from app.domain.fieldtypes import longest_value
from app.extensions import current_flask_app, db
from app.i18n import FORM_TRANSLATIONS, HamaynkForm, current_locale
from app.models import Department, Municipality, ServiceActivation, ServiceDefinition
from app.plugins import builder_services
from app.plugins import runtime as plugin_runtime
from app.plugins.builder_services import BuilderError

LANGUAGE_LABELS = {"hy": _l("Armenian"), "en": _l("English"), "ru": _l("Russian")}
ROW_LISTS = ("fields", "documents", "steps")
CONDITION_LISTS = {"fields": ("visible_when", "required_when"), "documents": ("required_when",), "steps": ("when",)}
# A form with more rows than this is not being typed by a person.
MAX_ROWS = 100
MAX_CONDITIONS = 20

# -- words for every closed list (never a raw key on the page) -------------------------------------

OP_LABELS = {
    "eq": _l("is"),
    "ne": _l("is not"),
    "in": _l("is one of"),
    "not_in": _l("is none of"),
    "gt": _l("is more than"),
    "ge": _l("is at least"),
    "lt": _l("is less than"),
    "le": _l("is at most"),
    "set": _l("is filled in"),
    "unset": _l("is left empty"),
}
NO_VALUE_OPS = ("set", "unset")
LIST_OPS = ("in", "not_in")
ORDER_OPS = ("gt", "ge", "lt", "le")
STEP_ROLE_LABELS = {
    "clerk": _l("Front-office clerk"),
    "specialist": _l("Specialist"),
    "head": _l("Head of the department"),
    "municipal_admin": _l("Municipal administrator"),
}
ACTION_LABELS = {"approve": _l("Approve"), "reject": _l("Reject"), "return": _l("Return for correction")}
FEE_PERIOD_LABELS = {
    "once": _l("Once"),
    "day": _l("Per day"),
    "month": _l("Per month"),
    "quarter": _l("Per quarter"),
    "year": _l("Per year"),
    "event": _l("Per event"),
}
FIELD_TYPE_LABELS = {
    "text": _l("Short text"),
    "textarea": _l("Long text"),
    "address": _l("Address"),
    "integer": _l("Whole number"),
    "decimal": _l("Number with decimals"),
    "date": _l("Date"),
    "choice": _l("One choice from a list"),
    "multichoice": _l("Several choices from a list"),
    "boolean": _l("Yes or no (a tick box)"),
    "email": _l("E-mail address"),
    "phone": _l("Phone number"),
    "psn": _l("Public service number"),
}
DOCUMENT_TYPE_LABELS = {
    "pdf": _l("PDF document"),
    "jpeg": _l("JPEG photo"),
    "png": _l("PNG image"),
    "tiff": _l("TIFF scan"),
    "webp": _l("WebP image"),
    "heic": _l("HEIC photo (iPhone)"),
    "docx": _l("Word document (DOCX)"),
    "odt": _l("OpenDocument text (ODT)"),
    "xlsx": _l("Excel spreadsheet (XLSX)"),
}
CHOICE_TYPES = ("choice", "multichoice")
# A choice value the applicant's data will hold: no spaces, and not the separators of a line.


class _ChoiceLineHelp:
    """The choices' help text with its two examples as code (``<kbd translate="no">``): they
    show the three languages' labels as typed, so they stay Latin/Cyrillic in every UI."""

    EXAMPLE = "Սնունդ|Food|Еда"

    def _text(self, example: str, keyed: str) -> str:
        return _(
            "One choice a line: its Armenian label, then |English label|Russian label if you have them, "
            "e.g. %(example)s. A key is made from the label; to choose it yourself, start the line "
            "with the key and =, e.g. %(keyed)s.",
            example=example,
            keyed=keyed,
        )

    def __str__(self) -> str:
        return self._text(self.EXAMPLE, f"food={self.EXAMPLE}")

    def __html__(self) -> Markup:
        def code(text: str) -> Markup:
            return Markup('<kbd translate="no">%s</kbd>') % text

        return (
            escape(self._text("\x00example\x00", "\x00keyed\x00"))
            .replace("\x00example\x00", code(self.EXAMPLE))
            .replace("\x00keyed\x00", code(f"food={self.EXAMPLE}"))
        )


CHOICE_LINE_HELP = _ChoiceLineHelp()


def field_type_label(name: str) -> str:
    label = FIELD_TYPE_LABELS.get(name)
    # A type a plug-in registered has no label of ours: say so in words, with its name.
    return str(label) if label is not None else _("Other kind (%(name)s)", name=name)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _coerce_optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


def _usable_pattern(form: FieldRowForm, field: StringField) -> None:
    """Only patterns RE2 can match in bounded time (see app.domain.patterns), marked on the row."""
    text = (field.data or "").strip()
    if not text:
        return
    try:
        patterns.check_cost(patterns.compile_pattern(text), longest_value(form.max_length.data))
    except patterns.PatternError as exc:
        if exc.problem == "too_long":
            raise ValidationError(
                _("The pattern is too long: at most %(count)d characters.", count=patterns.MAX_PATTERN_LENGTH)
            ) from None
        if exc.problem == "too_complex":
            raise ValidationError(
                _(
                    "This pattern is too complex to check on every submission: "
                    "set a smaller longest length or simplify the pattern."
                )
            ) from None
        raise ValidationError(
            _(
                "The pattern %(pattern)s cannot be used: patterns use RE2 syntax, "
                "without backreferences or lookaround.",
                pattern=text,
            )
        ) from None


class _RowForm(Form):
    """A row of a FieldList: no CSRF of its own (the page's form has it), messages translated."""

    class Meta:
        def get_translations(self, form):
            return FORM_TRANSLATIONS


class ConditionForm(_RowForm):
    """One condition, picked: a field of this form, a comparison in words, and a value (ticked
    among the field's choices when it has them, typed otherwise)."""

    field = SelectField(_l("Field"), validate_choice=False)
    op = SelectField(_l("Comparison"), choices=list(OP_LABELS.items()), default="eq", validate_choice=False)
    # "field=value" pairs: every choice field's values are listed (script shows only the chosen field's).
    options = SelectMultipleField(_l("Value"), validate_choice=False)
    value = StringField(_l("Value"), description=_l("For several values, separate them with commas."))


def _conditions(label: Any) -> FieldList:
    # One empty condition always shows, so a condition can be picked without an extra click.
    return FieldList(FormField(ConditionForm), label=label, min_entries=1, max_entries=MAX_CONDITIONS)


class FieldRowForm(_RowForm):
    saved_name = HiddenField()
    remove = BooleanField(_l("Remove this field"))
    label_hy = StringField(_l("Question or label (Armenian)"))
    label_en = StringField(_l("Question or label (English)"))
    label_ru = StringField(_l("Question or label (Russian)"))
    name = StringField(
        _l("Key"),
        description=_l(
            "Made from the Armenian label; you may change it until the service is saved. "
            "Latin letters, digits and _ only."
        ),
    )
    type = SelectField(_l("Kind of answer"), validate_choice=False)
    help_hy = StringField(_l("Help text (Armenian)"))
    help_en = StringField(_l("Help text (English)"))
    help_ru = StringField(_l("Help text (Russian)"))
    required = BooleanField(_l("The applicant must fill this in"))
    personal = BooleanField(_l("Personal data (shown only to those who need it)"))
    # WTForms keeps the description as given and Jinja renders it through __html__.
    choices = TextAreaField(_l("Choices"), description=cast(str, CHOICE_LINE_HELP))
    min_value = StringField(_l("Smallest number allowed"))
    max_value = StringField(_l("Largest number allowed"))
    min_length = IntegerField(_l("Fewest characters"), validators=[OptionalValue(), NumberRange(min=0, max=100_000)])
    max_length = IntegerField(_l("Most characters"), validators=[OptionalValue(), NumberRange(min=0, max=100_000)])
    pattern = StringField(
        _l("Pattern (a regular expression, for experts)"),
        validators=[_usable_pattern],
        description=_l("Leave empty unless you know regular expressions; they use RE2 syntax."),
    )
    visible_when = _conditions(_l("Ask this only when"))
    required_when = _conditions(_l("Required only when"))


class DocumentRowForm(_RowForm):
    saved_key = HiddenField()
    remove = BooleanField(_l("Remove this document"))
    title_hy = StringField(_l("Name of the document (Armenian)"))
    title_en = StringField(_l("Name of the document (English)"))
    title_ru = StringField(_l("Name of the document (Russian)"))
    key = StringField(
        _l("Key"),
        description=_l(
            "Made from the Armenian name; you may change it until the service is saved. "
            "Latin letters, digits and _ only."
        ),
    )
    help_hy = StringField(_l("Help text (Armenian)"))
    help_en = StringField(_l("Help text (English)"))
    help_ru = StringField(_l("Help text (Russian)"))
    required = BooleanField(_l("Every applicant must bring it"), default=True)
    required_when = _conditions(_l("Required only when (then the tick box above does not count)"))
    types = MultiCheckboxField(
        _l("Accepted file types"),
        choices=[(t, DOCUMENT_TYPE_LABELS.get(t, t)) for t in DOCUMENT_TYPES],
        validate_choice=False,
        default=["pdf", "jpeg", "png"],
    )
    max_size_mb = StringField(_l("Largest file (MB)"), default="10")
    max_count = IntegerField(
        _l("How many files at most"), default=1, validators=[OptionalValue(), NumberRange(min=1, max=50)]
    )


class StepRowForm(_RowForm):
    saved_key = HiddenField()
    remove = BooleanField(_l("Remove this step"))
    title_hy = StringField(_l("Name of the step (Armenian)"))
    title_en = StringField(_l("Name of the step (English)"))
    title_ru = StringField(_l("Name of the step (Russian)"))
    key = StringField(
        _l("Key"),
        description=_l(
            "Made from the Armenian name; you may change it until the service is saved. "
            "Latin letters, digits and _ only."
        ),
    )
    citizen_text_hy = StringField(_l("What the applicant reads during this step (Armenian)"))
    citizen_text_en = StringField(_l("What the applicant reads during this step (English)"))
    citizen_text_ru = StringField(_l("What the applicant reads during this step (Russian)"))
    role = SelectField(
        _l("Who acts on this step"),
        choices=[(r, STEP_ROLE_LABELS.get(r, r)) for r in STEP_ROLES],
        default="specialist",
        validate_choice=False,
    )
    days = IntegerField(
        _l("Working days for this step"), default=5, validators=[OptionalValue(), NumberRange(min=1, max=365)]
    )
    actions = MultiCheckboxField(
        _l("What the staff member may do"),
        choices=[(a, ACTION_LABELS.get(a, a)) for a in ACTIONS],
        validate_choice=False,
        default=list(ACTIONS),
    )
    department = SelectField(_l("Department"), validate_choice=False)
    when = _conditions(_l("Only for applications where"))
    forbid_self_approval = BooleanField(
        _l("Someone who filed the application or approved an earlier step may not approve this one")
    )


class BuilderForm(HamaynkForm):
    title_hy = StringField(_l("Name of the service (Armenian)"))
    title_en = StringField(_l("Name of the service (English)"))
    title_ru = StringField(_l("Name of the service (Russian)"))
    key = StringField(
        _l("Key"),
        description=_l(
            "Made from the Armenian name; it appears in addresses and exports. You may change it "
            "until the service is saved, not afterwards. Latin letters, digits and dashes."
        ),
    )
    owner = SelectField(_l("Offered by"), coerce=_coerce_optional_int, validate_choice=False)
    description_hy = TextAreaField(_l("Description (Armenian)"))
    description_en = TextAreaField(_l("Description (English)"))
    description_ru = TextAreaField(_l("Description (Russian)"))
    who_may_apply_hy = StringField(_l("Who may apply (Armenian)"))
    who_may_apply_en = StringField(_l("Who may apply (English)"))
    who_may_apply_ru = StringField(_l("Who may apply (Russian)"))
    delivery_hy = StringField(_l("How the result is delivered (Armenian)"))
    delivery_en = StringField(_l("How the result is delivered (English)"))
    delivery_ru = StringField(_l("How the result is delivered (Russian)"))
    legal_basis_hy = StringField(_l("Legal basis (Armenian)"))
    legal_basis_en = StringField(_l("Legal basis (English)"))
    legal_basis_ru = StringField(_l("Legal basis (Russian)"))
    fee = IntegerField(_l("Fee (AMD)"), default=0, validators=[OptionalValue(), NumberRange(min=0, max=100_000_000)])
    fee_period = SelectField(
        _l("The fee is charged"),
        choices=[(p, FEE_PERIOD_LABELS.get(p, p)) for p in FEE_PERIODS],
        default="once",
        validate_choice=False,
    )
    deadline_days = IntegerField(
        _l("Deadline (working days)"), default=10, validators=[OptionalValue(), NumberRange(min=1, max=365)]
    )
    category = StringField(_l("Category"), default="general")
    output_title_hy = StringField(_l("Name of the issued document (Armenian)"))
    output_title_en = StringField(_l("Name of the issued document (English)"))
    output_title_ru = StringField(_l("Name of the issued document (Russian)"))
    output_template = TextAreaField(_l("Text of the issued document"))
    fields = FieldList(FormField(FieldRowForm), max_entries=MAX_ROWS)
    documents = FieldList(FormField(DocumentRowForm), max_entries=MAX_ROWS)
    steps = FieldList(FormField(StepRowForm), max_entries=MAX_ROWS)


class ImportForm(HamaynkForm):
    file = FileField(_l("Definition file (YAML or JSON)"))
    owner = SelectField(_l("Offered by"), coerce=_coerce_optional_int, validate_choice=False)


# -- reading the form -------------------------------------------------------------------------------


def _add_error(field: Any, message: str) -> None:
    """Mark ``field`` with ``message`` (after ``validate()``, or on a field it never validated)."""
    if not isinstance(field.errors, list):
        field.errors = list(field.errors or ())
    if message not in field.errors:
        field.errors.append(message)


def _lang_map(form_or_row: Any, prefix: str) -> dict[str, str]:
    result = {}
    for lang in LANGUAGES:
        value = (getattr(form_or_row, f"{prefix}_{lang}").data or "").strip()
        if value:
            result[lang] = value
    return result


def _first_text(form_or_row: Any, prefix: str) -> str:
    """The text a key is made from: Armenian, else Russian, else English."""
    texts = _lang_map(form_or_row, prefix)
    return next((texts[lang] for lang in ("hy", "ru", "en") if texts.get(lang)), "")


def _number(raw: str | None) -> float | int | None:
    """A typed number (comma or point), ``None`` when empty; ``ValueError`` when not a number."""
    raw = (raw or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise ValueError(raw) from None
    if not number.is_finite():
        raise ValueError(raw)
    return int(number) if number == number.to_integral_value() else float(number)


@dataclass
class ChoiceLines:
    choices: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def parse_choices(text: str | None) -> ChoiceLines:
    """The choice lines of a field: ``label|label|label`` (key made from the first label) or
    ``key=label|label|label``. Keys are what applications store, so each is checked here:
    no spaces, no duplicates, never empty."""
    result = ChoiceLines()
    seen: set[str] = set()
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        value, sep, labels = line.partition("=")
        if sep:
            value = value.strip()
            texts = [part.strip() for part in (labels or value).split("|")]
            if not value:
                result.errors.append(_("Line %(n)d: write the key before =, or leave = out.", n=number))
                continue
            if any(char.isspace() or char == "|" for char in value):
                result.errors.append(
                    _(
                        "Line %(n)d: the key %(key)s may not contain spaces or |; "
                        "write it like food_stall, or leave out the key and = to have one made.",
                        n=number,
                        key=value,
                    )
                )
                continue
        else:
            texts = [part.strip() for part in line.split("|")]
            label = next((t for t in texts if t), "")
            value = builder_services.latin_key(label, "_")
            if not value:
                result.errors.append(
                    _(
                        "Line %(n)d: no key can be made from %(label)s; start the line with a key and =.",
                        n=number,
                        label=line,
                    )
                )
                continue
            base, n = value, 2
            while value in seen:
                value, n = f"{base}_{n}", n + 1
        if value in seen:
            result.errors.append(_("Line %(n)d: the key %(key)s is listed twice.", n=number, key=value))
            continue
        seen.add(value)
        result.choices.append(
            {
                "value": value,
                "label": {lang: t for lang, t in zip(LANGUAGES, texts, strict=False) if t} or {"hy": value},
            }
        )
    return result


def _choices_text(choices: Any) -> str:
    lines = []
    for choice in choices or ():
        label = choice.get("label") or {}
        if isinstance(label, str):
            label = {"hy": label}
        lines.append(f"{choice.get('value')}=" + "|".join(label.get(lang, "") for lang in LANGUAGES).rstrip("|"))
    return "\n".join(lines)


@dataclass(frozen=True)
class FormFieldInfo:
    """What a condition needs to know about a field of the form being built."""

    name: str
    type: str
    label: str
    # (value, label) pairs a condition may pick from; None for fields a value is typed for.
    options: tuple[tuple[str, str], ...] | None


def _live_rows(rows: FieldList, key_attr: str, text_prefix: str) -> Iterator[Any]:
    for entry in rows:
        row = entry.form
        if not row.remove.data and not _blank(row, key_attr, text_prefix):
            yield row


def _blank(row: Any, name_attr: str, text_prefix: str) -> bool:
    return not (getattr(row, name_attr).data or "").strip() and not _lang_map(row, text_prefix)


def form_fields(form: BuilderForm) -> dict[str, FormFieldInfo]:
    """The fields the form lists now, by key, with the values a condition can pick."""
    locale = current_locale()
    found: dict[str, FormFieldInfo] = {}
    for row in _live_rows(form.fields, "name", "label"):
        name = (row.name.data or "").strip()
        if not name or name in found:
            continue
        options: tuple[tuple[str, str], ...] | None = None
        if row.type.data in CHOICE_TYPES:
            options = tuple((c["value"], pick(c["label"], locale)) for c in parse_choices(row.choices.data).choices)
        elif row.type.data == "boolean":
            options = (("true", _("ticked (yes)")), ("false", _("not ticked (no)")))
        label = pick(_lang_map(row, "label"), locale) or name
        found[name] = FormFieldInfo(name, row.type.data or "text", label, options)
    return found


def _typed(value: str, info: FormFieldInfo) -> Any:
    """A typed condition value as the form data holds it; ``ValueError`` with a message."""
    value = value.strip()
    if info.type == "integer":
        try:
            return int(value)
        except ValueError:
            raise ValueError(_("Enter a whole number for “%(field)s”.", field=info.label)) from None
    if info.type == "decimal":
        try:
            number = _number(value)
        except ValueError:
            number = None
        if number is None:
            raise ValueError(_("Enter a number for “%(field)s”.", field=info.label))
        return value.replace(",", ".")
    if info.type == "date":
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(
                _("Enter a date for “%(field)s” as year-month-day, e.g. 2025-03-31.", field=info.label)
            ) from None
    return value


def read_conditions(
    rows: FieldList, fields: Mapping[str, FormFieldInfo], owner: str | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """The conditions picked in ``rows`` as definition data, and whether all were fine.

    Mistakes are marked on the inputs of the condition. A condition that names something
    unknown is still returned, so the registry's technical sentence is shown too."""
    conditions: list[dict[str, Any]] = []
    ok = True
    for entry in rows:
        row = entry.form
        name = (row.field.data or "").strip()
        if not name:
            continue
        op = row.op.data or "eq"
        info = fields.get(name)
        if info is None:
            _add_error(row.field, _("This field is not on the form (any more): choose one that is."))
            conditions.append({"field": name, "op": op, "value": (row.value.data or "").strip() or None})
            ok = False
            continue
        if owner is not None and name == owner:
            _add_error(row.field, _("A field cannot depend on itself: choose another field."))
            ok = False
        if op not in CONDITION_OPS:
            _add_error(row.op, _("Choose a comparison from the list."))
            conditions.append({"field": name, "op": op, "value": None})
            ok = False
            continue
        if op in NO_VALUE_OPS:
            conditions.append({"field": name, "op": op, "value": None})
            continue
        typed = [v.strip() for v in (row.value.data or "").split(",") if v.strip()]
        if info.options is not None:
            ticked = [opt.partition("=")[2] for opt in row.options.data or () if opt.partition("=")[0] == name]
            picked = ticked or typed
            offered = [value for value, _label in info.options]
            unknown = [value for value in picked if value not in offered]
            if unknown:
                shown = ", ".join(f"{label} ({value})" for value, label in info.options)
                _add_error(
                    row.value,
                    _(
                        "“%(field)s” has no value %(value)s; it offers: %(offered)s.",
                        field=info.label,
                        value=", ".join(unknown),
                        offered=shown,
                    ),
                )
                ok = False
            if op in ORDER_OPS:
                _add_error(
                    row.op,
                    _("“%(field)s” is not a number or a date: choose “is”, “is not” or “is one of”.", field=info.label),
                )
                ok = False
            if not picked:
                _add_error(row.value, _("Tick the value of “%(field)s” to compare with.", field=info.label))
                ok = False
            elif op not in LIST_OPS and len(picked) > 1:
                _add_error(row.value, _("Tick one value, or choose “is one of”."))
                ok = False
            if info.type == "boolean":
                values: list[Any] = [value == "true" for value in picked]
            else:
                values = list(picked)
            conditions.append(
                {"field": name, "op": op, "value": values if op in LIST_OPS else (values[0] if values else None)}
            )
            continue
        if not typed:
            _add_error(row.value, _("Enter the value of “%(field)s” to compare with.", field=info.label))
            ok = False
            continue
        try:
            converted = [_typed(v, info) for v in typed]
        except ValueError as exc:
            _add_error(row.value, str(exc))
            ok = False
            continue
        if op not in LIST_OPS:
            if len(converted) > 1:
                _add_error(row.value, _("Enter one value, or choose “is one of”."))
                ok = False
                continue
            conditions.append({"field": name, "op": op, "value": converted[0]})
        else:
            conditions.append({"field": name, "op": op, "value": converted})
    return conditions, ok


def _condition_rows(conditions: Any, fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Form data for stored conditions (the inverse of :func:`read_conditions`)."""
    rows = []
    for cond in conditions or ():
        name = cond.get("field", "")
        value = cond.get("value")
        values = list(value) if isinstance(value, (list, tuple)) else ([] if value is None else [value])
        shown = ["true" if v is True else "false" if v is False else str(v) for v in values]
        if name in fields:
            rows.append(
                {"field": name, "op": cond.get("op", "eq"), "options": [f"{name}={v}" for v in shown], "value": ""}
            )
        else:
            rows.append({"field": name, "op": cond.get("op", "eq"), "options": [], "value": ", ".join(shown)})
    return [*rows, {}]


# -- checking the form, field by field --------------------------------------------------------------


@dataclass
class Context:
    """What the checks need beyond the form: permanent keys and allowed departments."""

    departments: Mapping[str, str]  # code -> name, of the municipality (or all of them)
    municipality_name: str | None
    saved: Mapping[str, AbstractSet[str]] = field(default_factory=dict)
    new_service: bool = True
    section_errors: dict[str, list[str]] = field(default_factory=dict)

    def section_error(self, section: str, message: str) -> None:
        self.section_errors.setdefault(section, []).append(message)


KEY_HELP = _l("Use lower-case Latin letters, digits and _, starting with a letter (e.g. land_area).")


def fill_keys(form: BuilderForm, ctx: Context) -> None:
    """Keys left empty are made from the titles; saved keys are put back as they were.

    Runs before every check and every re-render, so conditions can name new fields and the
    person sees the key that will be stored."""
    if ctx.new_service and not (form.key.data or "").strip():
        base = builder_services.latin_key(_first_text(form, "title"), "-")
        if base:
            form.key.data = builder_services.free_key(db.session, base)
    lists: tuple[tuple[Any, str, str, str, str], ...] = (
        (form.fields, "name", "saved_name", "label", "field"),
        (form.documents, "key", "saved_key", "title", "document"),
        (form.steps, "key", "saved_key", "title", "step"),
    )
    for rows, key_attr, saved_attr, prefix, fallback in lists:
        saved = ctx.saved.get(rows.name, frozenset())
        taken = set()
        for index, entry in enumerate(rows):
            row = entry.form
            kept = (getattr(row, saved_attr).data or "").strip()
            key_field = getattr(row, key_attr)
            if kept and kept in saved:
                key_field.data = kept  # permanent: whatever was posted, the saved key stays
            elif kept:
                getattr(row, saved_attr).data = ""  # not a key of the stored service: a forgery
            key = (key_field.data or "").strip()
            if not key and not row.remove.data and _lang_map(row, prefix):
                base = builder_services.latin_key(_first_text(row, prefix), "_") or f"{fallback}_{index + 1}"
                key, n = base, 2
                while key in taken:
                    key, n = f"{base}_{n}", n + 1
                key_field.data = key
            key_field.data = key
            taken.add(key)


def _check_texts(row: Any, prefix: str) -> bool:
    if not (getattr(row, f"{prefix}_hy").data or "").strip():
        _add_error(getattr(row, f"{prefix}_hy"), _("This field is required."))
        return False
    return True


def _check_key(field: Any, seen: set[str], pattern: Any, help_text: Any) -> bool:
    key = (field.data or "").strip()
    if not pattern.match(key):
        _add_error(field, str(help_text))
        return False
    if key in seen:
        _add_error(field, _("Another entry of this list already has this key."))
        return False
    seen.add(key)
    return True


def check_form(form: BuilderForm, ctx: Context) -> bool:
    """Mark every mistake next to its input, in the user's language; True when there is none."""
    ok = True
    if not _check_texts(form, "title"):
        ok = False
    key = (form.key.data or "").strip()
    if ctx.new_service and key:
        if not KEY_RE.match(key) or len(key) > 100:
            _add_error(
                form.key,
                _("Use lower-case Latin letters, digits and dashes, starting with a letter (e.g. market-stall)."),
            )
            ok = False
        elif not builder_services.key_is_free(db.session, key):
            _add_error(form.key, _("This key is already used by another service; choose another."))
            ok = False
    if form.fee_period.data not in FEE_PERIODS:
        _add_error(form.fee_period, _("Not a valid choice."))
        ok = False

    fields = form_fields(form)
    seen: set[str] = set()
    for row in _live_rows(form.fields, "name", "label"):
        ok &= _check_texts(row, "label")
        ok &= _check_key(row.name, seen, FIELD_NAME_RE, KEY_HELP)
        if row.type.data not in dict(row.type.choices or ()):
            _add_error(row.type, _("Not a valid choice."))
            ok = False
        lines = parse_choices(row.choices.data)
        for message in lines.errors:
            _add_error(row.choices, message)
            ok = False
        if row.type.data in CHOICE_TYPES and not lines.choices and not lines.errors:
            _add_error(row.choices, _("List the choices, one a line."))
            ok = False
        elif row.type.data not in CHOICE_TYPES and lines.choices:
            _add_error(
                row.choices,
                _(
                    "Only the kinds “One choice from a list” and “Several choices from a list” have choices: empty this box or change the kind."
                ),
            )
            ok = False
        numbers: dict[str, float | int | None] = {}
        for attr in ("min_value", "max_value"):
            try:
                numbers[attr] = _number(getattr(row, attr).data)
            except ValueError:
                _add_error(getattr(row, attr), _("Enter a number."))
                ok = False
        smallest, largest = numbers.get("min_value"), numbers.get("max_value")
        if smallest is not None and largest is not None and smallest > largest:
            _add_error(row.max_value, _("The largest number is below the smallest."))
            ok = False
        if (
            row.min_length.data is not None
            and row.max_length.data is not None
            and row.min_length.data > row.max_length.data
        ):
            _add_error(row.max_length, _("The most characters is below the fewest."))
            ok = False
        for attr in ("visible_when", "required_when"):
            ok &= read_conditions(getattr(row, attr), fields, (row.name.data or "").strip())[1]

    seen = set()
    for row in _live_rows(form.documents, "key", "title"):
        ok &= _check_texts(row, "title")
        ok &= _check_key(row.key, seen, FIELD_NAME_RE, KEY_HELP)
        types = list(row.types.data or [])
        if not types:
            _add_error(row.types, _("Tick at least one file type."))
            ok = False
        elif any(t not in DOCUMENT_TYPES for t in types):
            _add_error(row.types, _("Not a valid choice."))
            ok = False
        limit = MAX_DOCUMENT_BYTES // (1024 * 1024)
        try:
            size = _number(row.max_size_mb.data)
        except ValueError:
            size = -1
        if size is not None and not 0 < size <= limit:
            _add_error(row.max_size_mb, _("Enter a size in megabytes, above 0 and at most %(limit)d.", limit=limit))
            ok = False
        ok &= read_conditions(row.required_when, fields)[1]

    seen = set()
    steps = list(_live_rows(form.steps, "key", "title"))
    conditional: list[bool] = []
    for row in steps:
        ok &= _check_texts(row, "title")
        ok &= _check_key(row.key, seen, FIELD_NAME_RE, KEY_HELP)
        if row.role.data not in STEP_ROLES:
            _add_error(row.role, _("Not a valid choice."))
            ok = False
        actions = list(row.actions.data or [])
        if any(a not in ACTIONS for a in actions):
            _add_error(row.actions, _("Not a valid choice."))
            ok = False
        elif "approve" not in actions:
            _add_error(row.actions, _("Tick “Approve”: otherwise no application could ever pass this step."))
            ok = False
        department = row.department.data or ""
        if department and department not in ctx.departments:
            if ctx.municipality_name:
                message = _(
                    "%(municipality)s has no such department: choose one of its departments.",
                    municipality=ctx.municipality_name,
                )
            else:
                message = _("No municipality has such a department: choose one from the list.")
            _add_error(row.department, message)
            ok = False
        conditions, fine = read_conditions(row.when, fields)
        ok &= fine
        conditional.append(bool(conditions))
    if not steps:
        ctx.section_error("steps", _("Add at least one approval step: name it and choose who acts on it."))
        ok = False
    elif all(conditional):
        ctx.section_error("steps", _("At least one step must have no condition, so that every application has a step."))
        ok = False

    has_title = bool(_lang_map(form, "output_title"))
    has_template = bool((form.output_template.data or "").strip())
    if has_title and not has_template:
        _add_error(form.output_template, _("Write the text of the issued document, or empty its name."))
        ok = False
    elif has_template:
        ok &= _check_texts(form, "output_title")
    return ok


# -- form <-> definition ----------------------------------------------------------------------------


def form_to_definition(form: BuilderForm, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The definition-file dict the form describes (after :func:`check_form`, or for showing
    the technical detail of what is wrong).

    What the form has no inputs for (per-status citizen texts) is carried over from ``base``,
    the version being edited, so editing never silently drops it.
    """
    fields = form_fields(form)
    data: dict[str, Any] = {"key": (form.key.data or "").strip(), "title": _lang_map(form, "title")}
    for name in ("description", "who_may_apply", "delivery", "legal_basis"):
        texts = _lang_map(form, name)
        if texts:
            data[name] = texts
    data["fee"] = form.fee.data if form.fee.data is not None else 0
    data["fee_period"] = form.fee_period.data or "once"
    data["deadline_days"] = form.deadline_days.data if form.deadline_days.data is not None else 10
    data["category"] = (form.category.data or "").strip() or "general"

    specs = []
    for row in _live_rows(form.fields, "name", "label"):
        name = (row.name.data or "").strip()
        spec: dict[str, Any] = {"name": name, "type": row.type.data or "text", "label": _lang_map(row, "label")}
        if row.required.data:
            spec["required"] = True
        if row.personal.data:
            spec["personal"] = True
        help_texts = _lang_map(row, "help")
        if help_texts:
            spec["help"] = help_texts
        choices = parse_choices(row.choices.data).choices
        if choices:
            spec["choices"] = choices
        for attr in ("min_value", "max_value"):
            try:
                number = _number(getattr(row, attr).data)
            except ValueError:
                number = None
            if number is not None:
                spec[attr] = number
        for attr in ("min_length", "max_length"):
            if getattr(row, attr).data is not None:
                spec[attr] = getattr(row, attr).data
        pattern = (row.pattern.data or "").strip()
        if pattern:
            spec["pattern"] = pattern
        for attr in ("visible_when", "required_when"):
            conditions = read_conditions(getattr(row, attr), fields, name)[0]
            if conditions:
                spec[attr] = conditions
        specs.append(spec)
    if specs:
        data["fields"] = specs

    documents = []
    for row in _live_rows(form.documents, "key", "title"):
        doc: dict[str, Any] = {
            "key": (row.key.data or "").strip(),
            "title": _lang_map(row, "title"),
            "required": bool(row.required.data),
        }
        help_texts = _lang_map(row, "help")
        if help_texts:
            doc["help"] = help_texts
        conditions = read_conditions(row.required_when, fields)[0]
        if conditions:
            doc["required_when"] = conditions
        doc["types"] = list(row.types.data or [])
        try:
            size = _number(row.max_size_mb.data)
        except ValueError:
            size = None
        doc["max_size_mb"] = size if size is not None else 10
        doc["max_count"] = row.max_count.data if row.max_count.data is not None else 1
        documents.append(doc)
    if documents:
        data["documents"] = documents

    steps = []
    for row in _live_rows(form.steps, "key", "title"):
        step: dict[str, Any] = {
            "key": (row.key.data or "").strip(),
            "title": _lang_map(row, "title"),
            "role": row.role.data,
            "days": row.days.data if row.days.data is not None else 5,
            "actions": list(row.actions.data or []),
        }
        citizen = _lang_map(row, "citizen_text")
        if citizen:
            step["citizen_text"] = citizen
        if row.department.data:
            step["department"] = row.department.data
        conditions = read_conditions(row.when, fields)[0]
        if conditions:
            step["when"] = conditions
        if row.forbid_self_approval.data:
            step["forbid_self_approval"] = True
        steps.append(step)
    data["steps"] = steps

    output_title = _lang_map(form, "output_title")
    template = form.output_template.data or ""
    if output_title or template.strip():
        data["output"] = {"title": output_title, "template": template}
    if base and base.get("status_texts"):
        data["status_texts"] = base["status_texts"]
    return data


def _langs(prefix: str, texts: Any) -> dict[str, str]:
    texts = texts or {}
    if isinstance(texts, str):
        texts = {"hy": texts}
    return {f"{prefix}_{lang}": texts.get(lang, "") for lang in LANGUAGES}


def definition_to_form_data(definition: Mapping[str, Any]) -> dict[str, Any]:
    """Initial values for :class:`BuilderForm` from a stored definition."""
    data: dict[str, Any] = {"key": definition.get("key", "")}
    for name in ("title", "description", "who_may_apply", "delivery", "legal_basis"):
        data.update(_langs(name, definition.get(name)))
    data["fee"] = definition.get("fee", 0)
    data["fee_period"] = definition.get("fee_period", "once")
    data["deadline_days"] = definition.get("deadline_days", 10)
    data["category"] = definition.get("category", "general")
    output = definition.get("output") or {}
    data.update(_langs("output_title", output.get("title")))
    data["output_template"] = output.get("template", "")
    # Conditions on a choice (or yes/no) field are ticked among its values; others are typed.
    pickable = {
        f.get("name"): f for f in definition.get("fields") or () if f.get("choices") or f.get("type") == "boolean"
    }
    data["fields"] = [
        {
            "saved_name": f.get("name", ""),
            "name": f.get("name", ""),
            "type": f.get("type", "text"),
            **_langs("label", f.get("label")),
            **_langs("help", f.get("help")),
            "required": bool(f.get("required")),
            "personal": bool(f.get("personal")),
            "choices": _choices_text(f.get("choices")),
            "min_value": "" if f.get("min_value") is None else str(f["min_value"]),
            "max_value": "" if f.get("max_value") is None else str(f["max_value"]),
            "min_length": f.get("min_length"),
            "max_length": f.get("max_length"),
            "pattern": f.get("pattern") or "",
            "visible_when": _condition_rows(f.get("visible_when"), pickable),
            "required_when": _condition_rows(f.get("required_when"), pickable),
        }
        for f in definition.get("fields") or ()
    ]
    data["documents"] = [
        {
            "saved_key": d.get("key", ""),
            "key": d.get("key", ""),
            **_langs("title", d.get("title")),
            **_langs("help", d.get("help")),
            "required": d.get("required", True),
            "required_when": _condition_rows(d.get("required_when"), pickable),
            "types": list(d.get("types") or ["pdf", "jpeg", "png"]),
            "max_size_mb": str(d.get("max_size_mb", 10)),
            "max_count": d.get("max_count", 1),
        }
        for d in definition.get("documents") or ()
    ]
    data["steps"] = [
        {
            "saved_key": s.get("key", ""),
            "key": s.get("key", ""),
            **_langs("title", s.get("title")),
            **_langs("citizen_text", s.get("citizen_text")),
            "role": s.get("role", "specialist"),
            "days": s.get("days", 5),
            "actions": list(s.get("actions") or ACTIONS),
            "department": s.get("department") or "",
            "when": _condition_rows(s.get("when"), pickable),
            "forbid_self_approval": bool(s.get("forbid_self_approval")),
        }
        for s in definition.get("steps") or ()
    ]
    return data


def _saved_keys(definition: Mapping[str, Any] | None) -> dict[str, frozenset[str]]:
    if not definition:
        return {}
    return {
        "fields": frozenset(str(f.get("name")) for f in definition.get("fields") or ()),
        "documents": frozenset(str(d.get("key")) for d in definition.get("documents") or ()),
        "steps": frozenset(str(s.get("key")) for s in definition.get("steps") or ()),
    }


def error_summary(form: BuilderForm) -> list[tuple[str, str]]:
    """(input id, "where: message") for every marked input, in page order, for the list of
    links at the top of the page."""
    found: list[tuple[str, str]] = []

    def walk(form_obj: Any, where: str) -> None:
        for fld in form_obj:
            if isinstance(fld, FieldList):
                for index, entry in enumerate(fld.entries, start=1):
                    inner = entry.form
                    if fld.name.endswith(("visible_when", "required_when", "when")):
                        walk(inner, f"{where}{fld.label.text} ({index}) — ")
                    else:
                        walk(inner, f"{where}{ROW_TITLES[fld.short_name]} {index} — ")
            elif fld.errors and not isinstance(fld.errors, dict):
                for message in fld.errors:
                    found.append((fld.id, f"{where}{fld.label.text}: {message}"))

    walk(form, "")
    return found


ROW_TITLES = {"fields": _l("Question"), "documents": _l("Document"), "steps": _l("Step")}


# -- the view --------------------------------------------------------------------------------------


def _owner_choices(actor: Actor) -> list[tuple[str, str]]:
    stmt = access.scoped(select(Municipality).order_by(Municipality.code), Municipality, actor)
    return [("", _("All municipalities"))] + [(str(m.id), m.name) for m in db.session.execute(stmt).scalars()]


def department_options(actor: Actor, municipality_id: int | None) -> dict[str, str]:
    """Department code -> name a step may name: the owner municipality's departments, or for
    a service of every municipality, the codes any municipality the actor sees has."""
    if municipality_id is not None:
        stmt = access.departments_of(actor, municipality_id)
    else:
        stmt = access.scoped(select(Department), Department, actor).order_by(Department.code, Department.id)
    options: dict[str, str] = {}
    for department in db.session.execute(stmt).scalars():
        options.setdefault(department.code, department.name)
    return options


class ServiceBuilderView(web.NamedLikeItsMenuItem, BaseView):
    route_base = "/admin/builder"
    class_permission_name = "ServiceBuilder"
    method_permission_name = {
        "list": "list",
        "add": "add",
        "edit": "edit",
        "export": "show",
        "import_definition": "add",
    }
    default_view = "list"

    # -- who and what -------------------------------------------------------------------------
    def _visible_ids(self) -> AbstractSet[int] | None:
        return access.visible_municipality_ids(web.require_actor())

    def _own_municipality(self) -> int | None:
        """Where a new service belongs: the municipal admin's municipality, or what a system
        admin chose (None: every municipality)."""
        actor = web.require_actor()
        if actor.is_system_admin:
            return None
        if actor.municipality_id is None:
            abort(403)
        return actor.municipality_id

    def _owner_from(self, form) -> int | None:
        if not web.require_actor().is_system_admin:
            return self._own_municipality()
        chosen = form.owner.data
        if chosen is None:
            return None
        try:
            return access.get_municipality(db.session, web.require_actor(), chosen).id
        except access.NotFound:
            # A forged id must not silently widen the service to every municipality.
            abort(400)

    def _row_or_404(self, key: str, version: int | None = None) -> ServiceDefinition:
        if len(key) > 100 or not KEY_RE.match(key):
            abort(404)
        row = builder_services.latest_definition(db.session, web.require_actor(), key, version)
        if row is None:
            abort(404)
        return row

    def _context(self, form: BuilderForm, row: ServiceDefinition | None) -> Context:
        actor = web.require_actor()
        owner = row.municipality_id if row is not None else self._owner_from(form)
        name = None
        if owner is not None:
            name = access.get_municipality(db.session, actor, owner).name
        return Context(
            departments=department_options(actor, owner),
            municipality_name=name,
            saved=_saved_keys(row.definition if row is not None else None),
            new_service=row is None,
        )

    def _prepare(self, form: BuilderForm, ctx: Context) -> dict[str, FormFieldInfo]:
        """Choices of every select, from the registry, the departments and the form itself."""
        known = plugin_runtime.registry().field_types
        ordered = [t for t in FIELD_TYPE_LABELS if t in known] + sorted(t for t in known if t not in FIELD_TYPE_LABELS)
        type_choices = [(t, field_type_label(t)) for t in ordered]
        actor = web.require_actor()
        form.owner.choices = _owner_choices(actor) if actor.is_system_admin else []
        fill_keys(form, ctx)
        fields = form_fields(form)
        field_choices = [("", _("— no condition —"))] + [(f.name, f.label) for f in fields.values()]
        option_choices = [
            (f"{f.name}={value}", label) for f in fields.values() if f.options for value, label in f.options
        ]
        for entry in form.fields:
            entry.form.type.choices = type_choices
        department_choices = [("", _("The department responsible for the service (chosen when it is enabled)"))]
        department_choices += [(code, name) for code, name in ctx.departments.items()]
        for step_entry in form.steps:
            current = step_entry.form.department.data or ""
            choices = list(department_choices)
            if current and current not in ctx.departments:
                # A stored code the municipality no longer has: shown, so it is not silently changed.
                choices.append((current, _("Unknown department (%(code)s)", code=current)))
            step_entry.form.department.choices = choices
        for rows in self._condition_lists(form):
            for entry in rows:
                current = entry.form.field.data or ""
                choices = list(field_choices)
                if current and current not in fields:
                    choices.append((current, _("A field no longer on the form (%(name)s)", name=current)))
                entry.form.field.choices = choices
                entry.form.options.choices = option_choices
        return fields

    @staticmethod
    def _condition_lists(form: BuilderForm) -> Iterator[FieldList]:
        for list_name, names in CONDITION_LISTS.items():
            for entry in getattr(form, list_name):
                for name in names:
                    yield getattr(entry.form, name)

    def _add_row(self, form: BuilderForm) -> str | None:
        """Handle an "add" button: a row (``fields``), or a condition (``fields-2-visible_when``);
        returns the id of the part to focus, or None when the button was not an "add"."""
        which = request.form.get("add_row", "")
        if which in ROW_LISTS:
            rows = getattr(form, which)
            if len(rows) < MAX_ROWS:
                rows.append_entry()
            return f"{which}-{len(rows) - 1}-{'label' if which == 'fields' else 'title'}_hy"
        parts = which.split("-")
        if (
            len(parts) == 3
            and parts[0] in CONDITION_LISTS
            and parts[1].isdecimal()
            and parts[2] in CONDITION_LISTS[parts[0]]
        ):
            entries = getattr(form, parts[0]).entries
            index = int(parts[1])
            if index < len(entries):
                conditions = getattr(entries[index].form, parts[2])
                if len(conditions) < MAX_CONDITIONS:
                    conditions.append_entry()
                return f"{which}-{len(conditions) - 1}-field"
            return ""
        if which == "refresh":
            return ""
        return None

    def _render(self, form, ctx, *, title, row=None, problems=(), headline=None, status=200, focus=None):
        fields = self._prepare(form, ctx)
        return self.render_template(
            "hamaynk/builder_form.html",
            form=form,
            title=title,
            row=row,
            problems=list(problems),
            summary=error_summary(form) if headline else [],
            section_errors=ctx.section_errors,
            headline=headline,
            languages=LANGUAGES,
            language_labels=LANGUAGE_LABELS,
            is_system_admin=web.require_actor().is_system_admin,
            focus=focus,
            form_fields=fields,
            saved=ctx.saved,
            choice_types=CHOICE_TYPES,
            no_value_ops=NO_VALUE_OPS,
            transliteration=builder_services.TRANSLITERATION,
        ), status

    def _post(self, form: BuilderForm, *, mode: str, title: str, row: ServiceDefinition | None = None):
        ctx = self._context(form, row)
        self._prepare(form, ctx)
        focus = self._add_row(form)
        if focus is not None:
            return self._render(form, ctx, title=title, row=row, focus=focus)
        valid = form.validate()
        fine = check_form(form, ctx)
        base = row.definition if row is not None else None
        data = form_to_definition(form, base)
        if not (valid and fine):
            # The technical sentences too, for whoever exports the service to a plug-in author.
            problems = builder_services.definition_problems(data)
            return self._render(
                form,
                ctx,
                title=title,
                row=row,
                problems=problems,
                headline=_("The service cannot be saved."),
                status=400,
            )
        try:
            saved = builder_services.save(
                db.session,
                data,
                mode=mode,
                owner_municipality_id=self._owner_from(form) if row is None else row.municipality_id,
                actor_id=web.require_actor().user_id,
                viewer_municipality_ids=self._visible_ids(),
                key=row.key if row is not None else None,
            )
            db.session.commit()
        except BuilderError as exc:
            db.session.rollback()
            return self._render(
                form, ctx, title=title, row=row, problems=exc.problems, headline=exc.headline, status=400
            )
        builder_services.refresh(current_flask_app())
        flash(_("Saved %(key)s as version %(version)d.", key=saved.key, version=saved.version), "success")
        return redirect(url_for(".list"))

    def _check_departments(self, data: Mapping[str, Any], form: ImportForm) -> None:
        """An imported file's steps name departments the owner has (as the form's select
        allows), or the import is refused: an unknown code would strand every application."""
        key = data.get("key")
        current = (
            builder_services.latest_definition(db.session, web.require_actor(), key) if isinstance(key, str) else None
        )
        owner = current.municipality_id if current is not None else self._owner_from(form)
        known = department_options(web.require_actor(), owner)
        raw_steps = data.get("steps")
        steps: list[Any] = raw_steps if isinstance(raw_steps, list) else []
        unknown = sorted(
            {str(s.get("department")) for s in steps if isinstance(s, Mapping) and s.get("department")} - set(known)
        )
        if unknown:
            where = access.get_municipality(db.session, web.require_actor(), owner).name if owner else None
            raise BuilderError(
                _("%(municipality)s has no department %(codes)s.", municipality=where, codes=", ".join(unknown))
                if where
                else _("No municipality has a department %(codes)s.", codes=", ".join(unknown)),
                [f"step department(s) {unknown} are not departments of the owner (known: {sorted(known)})"],
            )

    # -- pages --------------------------------------------------------------------------------
    @expose("/")
    @has_access
    def list(self):
        actor = web.require_actor()
        rows = builder_services.latest_definitions(db.session, actor)
        records = plugin_runtime.host().records
        owned = access.scoped(select(Municipality), Municipality, actor)
        owners = {m.id: m for m in db.session.execute(owned).scalars()} if rows else {}
        # Where each service is offered: enabled activations the actor may see, one query.
        offered: dict[str, set[int]] = {}
        if rows:
            stmt = access.scoped(select(ServiceActivation), ServiceActivation, actor).where(
                ServiceActivation.service_key.in_([r.key for r in rows]), ServiceActivation.enabled.is_(True)
            )
            for activation in db.session.execute(stmt).scalars():
                offered.setdefault(activation.service_key, set()).add(activation.municipality_id)
        sm = self.appbuilder.sm
        return self.render_template(
            "hamaynk/builder_list.html",
            rows=rows,
            records=records,
            owners=owners,
            offered=offered,
            title=_("Service builder"),
            record_name=builder_services.record_name,
            can_add=sm.has_access("can_add", self.class_permission_name),
            can_edit=sm.has_access("can_edit", self.class_permission_name),
            can_enable=sm.has_access("can_edit", "ServicesAdmin"),
        )

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def add(self):
        title = _("New service")
        self._own_municipality()
        if request.method == "POST":
            return self._post(BuilderForm(formdata=request.form), mode=builder_services.CREATE, title=title)
        form = BuilderForm(formdata=None)
        form.fields.append_entry()
        form.documents.append_entry()
        form.steps.append_entry()
        return self._render(form, self._context(form, None), title=title)

    @expose("/<key>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, key: str):
        row = self._row_or_404(key)
        title = _("Edit service %(key)s (new version %(version)d)", key=row.key, version=row.version + 1)
        if request.method == "GET":
            form = BuilderForm(formdata=None, data=definition_to_form_data(row.definition))
            return self._render(form, self._context(form, row), title=title, row=row)
        form = BuilderForm(formdata=request.form)
        form.key.data = row.key  # permanent: whatever was posted, the key stays
        return self._post(form, mode=builder_services.EDIT, title=title, row=row)

    @expose("/<key>/export")
    @has_access
    def export(self, key: str):
        raw = request.args.get("version", "")
        version = None
        if raw:
            if not raw.isdigit() or len(raw) > 9:
                abort(404)
            version = int(raw)
        row = self._row_or_404(key, version)
        filename = f"{row.key}-v{row.version}.yaml"
        return Response(
            builder_services.export_text(row),
            mimetype="application/yaml",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "X-Content-Type-Options": "nosniff"},
        )

    @expose("/import", methods=["GET", "POST"])
    @has_access
    def import_definition(self):
        self._own_municipality()
        form = ImportForm()
        actor = web.require_actor()
        form.owner.choices = _owner_choices(actor) if actor.is_system_admin else []
        errors: list[str] = []
        headline = None
        if request.method == "POST":
            upload = request.files.get("file")
            if not form.validate():
                headline = _("The form could not be accepted")
            elif upload is None or not upload.filename:
                headline = _("Choose a file to import.")
            else:
                content = upload.stream.read(builder_services.MAX_DEFINITION_BYTES + 1)
                try:
                    data = builder_services.parse_upload(content, upload.filename)
                    self._check_departments(data, form)
                    saved = builder_services.save(
                        db.session,
                        data,
                        mode=builder_services.IMPORT,
                        owner_municipality_id=self._owner_from(form),
                        actor_id=actor.user_id,
                        viewer_municipality_ids=self._visible_ids(),
                    )
                    db.session.commit()
                except BuilderError as exc:
                    db.session.rollback()
                    headline, errors = exc.headline, exc.problems
                else:
                    builder_services.refresh(current_flask_app())
                    flash(
                        _("Imported %(key)s as version %(version)d.", key=saved.key, version=saved.version), "success"
                    )
                    return redirect(url_for(".list"))
        status = 400 if request.method == "POST" else 200
        return self.render_template(
            "hamaynk/builder_import.html",
            form=form,
            problems=errors,
            summary=[],
            headline=headline,
            title=_("Import a service definition"),
            is_system_admin=actor.is_system_admin,
            max_kb=builder_services.MAX_DEFINITION_BYTES // 1024,
        ), status
