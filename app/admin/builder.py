"""The service builder: municipal and system administrators create, edit, export and import
services without code.

The structured form is turned into the definition-file format and handed to
:func:`app.plugins.builder_services.save`, which validates it with the same rules as plug-ins. "Add
row" buttons re-render the form on the server with one more empty row, so no script is needed
and every control is reachable by keyboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import (
    BooleanField,
    FieldList,
    FileField,
    Form,
    FormField,
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
from app.domain.declarations import ACTIONS, CONDITION_OPS, DOCUMENT_TYPES, FEE_PERIODS, KEY_RE, LANGUAGES, STEP_ROLES
from app.domain.fieldtypes import longest_value
from app.extensions import current_flask_app, db
from app.i18n import FORM_TRANSLATIONS, HamaynkForm
from app.models import Municipality, ServiceDefinition
from app.plugins import builder_services
from app.plugins import runtime as plugin_runtime
from app.plugins.builder_services import BuilderError

LANGUAGE_LABELS = {"hy": _l("Armenian"), "en": _l("English"), "ru": _l("Russian")}
ROW_LISTS = ("fields", "documents", "steps")
# A form with more rows than this is not being typed by a person.
MAX_ROWS = 100


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


class FieldRowForm(_RowForm):
    remove = BooleanField(_l("Remove this field"))
    name = StringField(_l("Name (snake_case, permanent)"))
    type = SelectField(_l("Type"), validate_choice=False)
    label_hy = StringField(_l("Label (Armenian)"))
    label_en = StringField(_l("Label (English)"))
    label_ru = StringField(_l("Label (Russian)"))
    help_hy = StringField(_l("Help text (Armenian)"))
    help_en = StringField(_l("Help text (English)"))
    help_ru = StringField(_l("Help text (Russian)"))
    required = BooleanField(_l("Required"))
    personal = BooleanField(_l("Personal data (shown only to those who need it)"))
    choices = TextAreaField(
        _l("Choices"), description=_l("One a line: value=Armenian label|English label|Russian label")
    )
    min_value = StringField(_l("Smallest value"))
    max_value = StringField(_l("Largest value"))
    min_length = IntegerField(_l("Shortest length"), validators=[OptionalValue(), NumberRange(min=0, max=100_000)])
    max_length = IntegerField(_l("Longest length"), validators=[OptionalValue(), NumberRange(min=0, max=100_000)])
    pattern = StringField(_l("Pattern (regular expression)"), validators=[_usable_pattern])
    visible_when = TextAreaField(_l("Shown only when"), description=_l("One condition a line: field operator value"))
    required_when = TextAreaField(_l("Required when"), description=_l("One condition a line: field operator value"))


class DocumentRowForm(_RowForm):
    remove = BooleanField(_l("Remove this document"))
    key = StringField(_l("Key (snake_case, permanent)"))
    title_hy = StringField(_l("Title (Armenian)"))
    title_en = StringField(_l("Title (English)"))
    title_ru = StringField(_l("Title (Russian)"))
    help_hy = StringField(_l("Help text (Armenian)"))
    help_en = StringField(_l("Help text (English)"))
    help_ru = StringField(_l("Help text (Russian)"))
    required = BooleanField(_l("Required"), default=True)
    required_when = TextAreaField(_l("Required when"), description=_l("One condition a line: field operator value"))
    types = MultiCheckboxField(
        _l("Accepted file types"),
        choices=[(t, t.upper()) for t in DOCUMENT_TYPES],
        validate_choice=False,
        default=["pdf", "jpeg", "png"],
    )
    max_size_mb = StringField(_l("Largest file (MB)"), default="10")
    max_count = IntegerField(_l("Most files"), default=1, validators=[OptionalValue(), NumberRange(min=1, max=50)])


class StepRowForm(_RowForm):
    remove = BooleanField(_l("Remove this step"))
    key = StringField(_l("Key (snake_case, permanent)"))
    title_hy = StringField(_l("Title (Armenian)"))
    title_en = StringField(_l("Title (English)"))
    title_ru = StringField(_l("Title (Russian)"))
    citizen_text_hy = StringField(_l("Text for the citizen (Armenian)"))
    citizen_text_en = StringField(_l("Text for the citizen (English)"))
    citizen_text_ru = StringField(_l("Text for the citizen (Russian)"))
    role = SelectField(
        _l("Acting role"), choices=[(r, r) for r in STEP_ROLES], default="specialist", validate_choice=False
    )
    days = IntegerField(_l("Working days"), default=5, validators=[OptionalValue(), NumberRange(min=1, max=365)])
    actions = MultiCheckboxField(
        _l("Allowed actions"), choices=[(a, a) for a in ACTIONS], validate_choice=False, default=list(ACTIONS)
    )
    department = StringField(_l("Department code (empty: the service's responsible department)"))
    when = TextAreaField(_l("Only when"), description=_l("One condition a line: field operator value"))
    forbid_self_approval = BooleanField(_l("Forbid self-approval"))


class BuilderForm(HamaynkForm):
    key = StringField(_l("Key (kebab-case, permanent)"))
    owner = SelectField(_l("Offered by"), coerce=_coerce_optional_int, validate_choice=False)
    title_hy = StringField(_l("Title (Armenian)"))
    title_en = StringField(_l("Title (English)"))
    title_ru = StringField(_l("Title (Russian)"))
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
        _l("Fee is charged"), choices=[(p, p) for p in FEE_PERIODS], default="once", validate_choice=False
    )
    deadline_days = IntegerField(
        _l("Deadline (working days)"), default=10, validators=[OptionalValue(), NumberRange(min=1, max=365)]
    )
    category = StringField(_l("Category"), default="general")
    output_title_hy = StringField(_l("Issued document title (Armenian)"))
    output_title_en = StringField(_l("Issued document title (English)"))
    output_title_ru = StringField(_l("Issued document title (Russian)"))
    output_template = TextAreaField(_l("Issued document template"))
    fields = FieldList(FormField(FieldRowForm), max_entries=MAX_ROWS)
    documents = FieldList(FormField(DocumentRowForm), max_entries=MAX_ROWS)
    steps = FieldList(FormField(StepRowForm), max_entries=MAX_ROWS)


class ImportForm(HamaynkForm):
    file = FileField(_l("Definition file (YAML or JSON)"))
    owner = SelectField(_l("Offered by"), coerce=_coerce_optional_int, validate_choice=False)


# -- form <-> definition ---------------------------------------------------------------------------


def _lang_map(form_or_row: Any, prefix: str) -> dict[str, str]:
    result = {}
    for lang in LANGUAGES:
        value = (getattr(form_or_row, f"{prefix}_{lang}").data or "").strip()
        if value:
            result[lang] = value
    return result


def _number(raw: str | None, what: str, problems: list[str]) -> float | int | None:
    raw = (raw or "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        problems.append(f"{what} {raw!r} is not a number")
        return None
    if not number.is_finite():
        problems.append(f"{what} {raw!r} is not a number")
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def _typed(value: str, field_type: str | None) -> Any:
    """A condition value as the form data will hold it: integers as int, booleans as bool."""
    if field_type == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if field_type == "boolean":
        return value.lower() in ("true", "yes", "1", "on")
    return value


def parse_conditions(
    text: str | None, what: str, types: Mapping[str, str], problems: list[str]
) -> list[dict[str, Any]]:
    conditions = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            problems.append(f"{what}: {line!r} must read 'field operator value' (operators: {list(CONDITION_OPS)})")
            continue
        name, op = parts[0], parts[1]
        raw = parts[2].strip() if len(parts) > 2 else ""
        if op in ("in", "not_in"):
            value: Any = [_typed(item.strip(), types.get(name)) for item in raw.split(",") if item.strip()]
        elif op in ("set", "unset"):
            value = None
        else:
            value = _typed(raw, types.get(name))
        conditions.append({"field": name, "op": op, "value": value})
    return conditions


def _conditions_text(conditions: Any) -> str:
    lines = []
    for cond in conditions or ():
        value = cond.get("value")
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            shown = "true" if value else "false"
        elif value is None:
            shown = ""
        else:
            shown = str(value)
        lines.append(f"{cond.get('field')} {cond.get('op', 'eq')} {shown}".rstrip())
    return "\n".join(lines)


def parse_choices(text: str | None) -> list[dict[str, Any]]:
    choices = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        value, _sep, labels = line.partition("=")
        value = value.strip()
        texts = [part.strip() for part in (labels or value).split("|")]
        choices.append({"value": value, "label": {lang: t for lang, t in zip(LANGUAGES, texts, strict=False) if t}})
    return choices


def _choices_text(choices: Any) -> str:
    lines = []
    for choice in choices or ():
        label = choice.get("label") or {}
        if isinstance(label, str):
            label = {"hy": label}
        lines.append(f"{choice.get('value')}=" + "|".join(label.get(lang, "") for lang in LANGUAGES).rstrip("|"))
    return "\n".join(lines)


def _blank(row: Any, name_attr: str, text_prefix: str) -> bool:
    return not (getattr(row, name_attr).data or "").strip() and not _lang_map(row, text_prefix)


def _field_specs(form: BuilderForm, problems: list[str]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The fields the form lists, and each field's type by name (for reading conditions)."""
    rows = [
        entry.form for entry in form.fields if not entry.form.remove.data and not _blank(entry.form, "name", "label")
    ]
    types = {(row.name.data or "").strip(): row.type.data for row in rows}
    fields = []
    for index, row in enumerate(rows):
        name = (row.name.data or "").strip()
        what = f"field {name or index + 1!r}"
        spec: dict[str, Any] = {"name": name, "type": row.type.data or "text", "label": _lang_map(row, "label")}
        if row.required.data:
            spec["required"] = True
        if row.personal.data:
            spec["personal"] = True
        help_texts = _lang_map(row, "help")
        if help_texts:
            spec["help"] = help_texts
        choices = parse_choices(row.choices.data)
        if choices:
            spec["choices"] = choices
        for attr in ("min_value", "max_value"):
            number = _number(getattr(row, attr).data, f"{what} {attr}", problems)
            if number is not None:
                spec[attr] = number
        for attr in ("min_length", "max_length"):
            if getattr(row, attr).data is not None:
                spec[attr] = getattr(row, attr).data
        pattern = (row.pattern.data or "").strip()
        if pattern:
            spec["pattern"] = pattern
        for attr in ("visible_when", "required_when"):
            conditions = parse_conditions(getattr(row, attr).data, f"{what} {attr}", types, problems)
            if conditions:
                spec[attr] = conditions
        fields.append(spec)
    return fields, types


def _document_specs(form: BuilderForm, types: Mapping[str, str], problems: list[str]) -> list[dict[str, Any]]:
    documents = []
    for index, entry in enumerate(form.documents):
        row = entry.form
        if row.remove.data or _blank(row, "key", "title"):
            continue
        key = (row.key.data or "").strip()
        what = f"document {key or index + 1!r}"
        doc: dict[str, Any] = {"key": key, "title": _lang_map(row, "title"), "required": bool(row.required.data)}
        help_texts = _lang_map(row, "help")
        if help_texts:
            doc["help"] = help_texts
        conditions = parse_conditions(row.required_when.data, f"{what} required_when", types, problems)
        if conditions:
            doc["required_when"] = conditions
        doc["types"] = list(row.types.data or [])
        size = _number(row.max_size_mb.data, f"{what} max_size_mb", problems)
        doc["max_size_mb"] = size if size is not None else 10
        doc["max_count"] = row.max_count.data if row.max_count.data is not None else 1
        documents.append(doc)
    return documents


def _step_specs(form: BuilderForm, types: Mapping[str, str], problems: list[str]) -> list[dict[str, Any]]:
    steps = []
    for index, entry in enumerate(form.steps):
        row = entry.form
        if row.remove.data or _blank(row, "key", "title"):
            continue
        key = (row.key.data or "").strip()
        step: dict[str, Any] = {
            "key": key,
            "title": _lang_map(row, "title"),
            "role": row.role.data,
            "days": row.days.data if row.days.data is not None else 5,
            "actions": list(row.actions.data or []),
        }
        citizen = _lang_map(row, "citizen_text")
        if citizen:
            step["citizen_text"] = citizen
        department = (row.department.data or "").strip()
        if department:
            step["department"] = department
        conditions = parse_conditions(row.when.data, f"step {key or index + 1!r} when", types, problems)
        if conditions:
            step["when"] = conditions
        if row.forbid_self_approval.data:
            step["forbid_self_approval"] = True
        steps.append(step)
    return steps


def form_to_definition(form: BuilderForm, base: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The definition-file dict the form describes, and problems found while reading it.

    What the form has no inputs for (per-status citizen texts) is carried over from ``base``,
    the version being edited, so editing never silently drops it.
    """
    problems: list[str] = []
    data: dict[str, Any] = {"key": (form.key.data or "").strip(), "title": _lang_map(form, "title")}
    for name in ("description", "who_may_apply", "delivery", "legal_basis"):
        texts = _lang_map(form, name)
        if texts:
            data[name] = texts
    data["fee"] = form.fee.data if form.fee.data is not None else 0
    data["fee_period"] = form.fee_period.data or "once"
    data["deadline_days"] = form.deadline_days.data if form.deadline_days.data is not None else 10
    data["category"] = (form.category.data or "").strip() or "general"

    fields, types = _field_specs(form, problems)
    if fields:
        data["fields"] = fields
    documents = _document_specs(form, types, problems)
    if documents:
        data["documents"] = documents
    data["steps"] = _step_specs(form, types, problems)

    output_title = _lang_map(form, "output_title")
    template = form.output_template.data or ""
    if output_title or template.strip():
        data["output"] = {"title": output_title, "template": template}
    if base and base.get("status_texts"):
        data["status_texts"] = base["status_texts"]
    return data, problems


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
    data["fields"] = [
        {
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
            "visible_when": _conditions_text(f.get("visible_when")),
            "required_when": _conditions_text(f.get("required_when")),
        }
        for f in definition.get("fields") or ()
    ]
    data["documents"] = [
        {
            "key": d.get("key", ""),
            **_langs("title", d.get("title")),
            **_langs("help", d.get("help")),
            "required": d.get("required", True),
            "required_when": _conditions_text(d.get("required_when")),
            "types": list(d.get("types") or ["pdf", "jpeg", "png"]),
            "max_size_mb": str(d.get("max_size_mb", 10)),
            "max_count": d.get("max_count", 1),
        }
        for d in definition.get("documents") or ()
    ]
    data["steps"] = [
        {
            "key": s.get("key", ""),
            **_langs("title", s.get("title")),
            **_langs("citizen_text", s.get("citizen_text")),
            "role": s.get("role", "specialist"),
            "days": s.get("days", 5),
            "actions": list(s.get("actions") or ACTIONS),
            "department": s.get("department") or "",
            "when": _conditions_text(s.get("when")),
            "forbid_self_approval": bool(s.get("forbid_self_approval")),
        }
        for s in definition.get("steps") or ()
    ]
    return data


# -- the view --------------------------------------------------------------------------------------


def _owner_choices(actor: Actor) -> list[tuple[str, str]]:
    stmt = access.scoped(select(Municipality).order_by(Municipality.code), Municipality, actor)
    return [("", _("All municipalities"))] + [(str(m.id), m.name) for m in db.session.execute(stmt).scalars()]


class ServiceBuilderView(BaseView):
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

    def _prepare(self, form: BuilderForm) -> None:
        field_types = sorted(plugin_runtime.registry().field_types)
        for entry in form.fields:
            entry.form.type.choices = [(t, t) for t in field_types]
        actor = web.require_actor()
        form.owner.choices = _owner_choices(actor) if actor.is_system_admin else []

    def _add_row(self, form: BuilderForm) -> bool:
        which = request.form.get("add_row")
        if which not in ROW_LISTS:
            return False
        rows = getattr(form, which)
        if len(rows) < MAX_ROWS:
            rows.append_entry()
        return True

    def _render(self, form, *, title, row=None, errors=(), headline=None, status=200, focus=None):
        self._prepare(form)
        return self.render_template(
            "hamaynk/builder_form.html",
            form=form,
            title=title,
            row=row,
            errors=list(errors),
            headline=headline,
            languages=LANGUAGES,
            language_labels=LANGUAGE_LABELS,
            is_system_admin=web.require_actor().is_system_admin,
            focus=focus,
        ), status

    def _save(self, form, *, mode, title, row=None):
        base = row.definition if row is not None else None
        data, problems = form_to_definition(form, base)
        if problems:
            return self._render(
                form, title=title, row=row, errors=problems, headline=_("The service cannot be saved."), status=400
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
            return self._render(form, title=title, row=row, errors=exc.problems, headline=exc.headline, status=400)
        builder_services.refresh(current_flask_app())
        flash(_("Saved %(key)s as version %(version)d.", key=saved.key, version=saved.version), "success")
        return redirect(url_for(".list"))

    # -- pages --------------------------------------------------------------------------------
    @expose("/")
    @has_access
    def list(self):
        actor = web.require_actor()
        rows = builder_services.latest_definitions(db.session, actor)
        records = plugin_runtime.host().records
        owned = access.scoped(select(Municipality), Municipality, actor)
        owners = {m.id: m for m in db.session.execute(owned).scalars()} if rows else {}
        sm = self.appbuilder.sm
        return self.render_template(
            "hamaynk/builder_list.html",
            rows=rows,
            records=records,
            owners=owners,
            title=_("Service builder"),
            record_name=builder_services.record_name,
            can_add=sm.has_access("can_add", self.class_permission_name),
            can_edit=sm.has_access("can_edit", self.class_permission_name),
        )

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def add(self):
        title = _("New service")
        self._own_municipality()
        form = BuilderForm(formdata=request.form if request.method == "POST" else None)
        if request.method == "GET":
            form.steps.append_entry()
            form.fields.append_entry()
            form.documents.append_entry()
        elif self._add_row(form):
            return self._render(form, title=title, focus=request.form.get("add_row"))
        elif form.validate():
            return self._save(form, mode=builder_services.CREATE, title=title)
        else:
            return self._render(form, title=title, headline=_("Correct the marked entries."), status=400)
        return self._render(form, title=title)

    @expose("/<key>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, key: str):
        row = self._row_or_404(key)
        title = _("Edit service %(key)s (new version %(version)d)", key=row.key, version=row.version + 1)
        if request.method == "GET":
            form = BuilderForm(formdata=None, data=definition_to_form_data(row.definition))
            return self._render(form, title=title, row=row)
        form = BuilderForm(formdata=request.form)
        form.key.data = row.key  # permanent: whatever was posted, the key stays
        if self._add_row(form):
            return self._render(form, title=title, row=row, focus=request.form.get("add_row"))
        if not form.validate():
            return self._render(form, title=title, row=row, headline=_("Correct the marked entries."), status=400)
        return self._save(form, mode=builder_services.EDIT, title=title, row=row)

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
            errors=errors,
            headline=headline,
            title=_("Import a service definition"),
            is_system_admin=actor.is_system_admin,
            max_kb=builder_services.MAX_DEFINITION_BYTES // 1024,
        ), status
