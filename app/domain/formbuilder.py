"""Compiles a service's fields into a WTForms class for the HTML channels.

The generated form only renders inputs and collects raw values; deciding what is valid is
left to :func:`app.plugins.runtime.validate_application_data`, the same function the API
uses, so the browser path can never be more lenient than any other path.

:class:`HamaynkForm`, the base of every Hamaynk form, lives here too: the generated forms are
built on it, and the audiences' own forms import it through :mod:`app.i18n`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from flask_babel import get_translations
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations as wtforms_translations
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms import (
    Field as WTField,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.domain.declarations import Field, FieldType, Service, pick


class _FormTranslations:
    """WTForms' built-in messages ("Not a valid integer value.", …) in the user's language.

    Flask-WTF only looks in WTForms' own catalogs, which have no Armenian; ours carry those
    messages too (scripts/i18n.py merges them), so look there first and fall back to WTForms'.
    """

    def gettext(self, string: str) -> str:
        translated = get_translations().ugettext(string)
        return translated if translated != string else wtforms_translations.gettext(string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        translated = get_translations().ungettext(singular, plural, n)
        if translated not in (singular, plural):
            return translated
        return wtforms_translations.ngettext(singular, plural, n)


FORM_TRANSLATIONS = _FormTranslations()


class HamaynkForm(FlaskForm):
    """The base of every Hamaynk form: Flask-WTF (CSRF) with messages in the user's language."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form):
            return FORM_TRANSLATIONS


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _render_kw(spec: Field, field_type: FieldType) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if field_type.input_type in ("number", "email", "tel", "date"):
        kw["type"] = field_type.input_type
    if spec.type == "integer":
        kw["inputmode"] = "numeric"
    if spec.type in ("psn",):
        kw["inputmode"] = "numeric"
        kw["autocomplete"] = "off"
    if spec.type == "phone":
        kw["autocomplete"] = "tel"
    if spec.type == "email":
        kw["autocomplete"] = "email"
    if spec.max_length:
        kw["maxlength"] = spec.max_length
    if spec.min_value is not None and spec.type in ("integer", "decimal"):
        kw["min"] = spec.min_value
    if spec.max_value is not None and spec.type in ("integer", "decimal"):
        kw["max"] = spec.max_value
    if spec.visible_when:
        # Lets the page hide and show the field without a round trip; the server decides anyway.
        kw["data-visible-when"] = _conditions_attr(spec)
    if spec.required and not spec.visible_when:
        kw["aria-required"] = "true"
    return kw


def _conditions_attr(spec: Field) -> str:
    return json.dumps([c.to_dict() for c in spec.visible_when], ensure_ascii=False)


def _wtf_field(spec: Field, field_type: FieldType, locale: str) -> WTField:
    label = pick(spec.label, locale)
    description = pick(spec.help, locale)
    kw: dict[str, Any] = {"label": label, "description": description, "render_kw": _render_kw(spec, field_type)}
    if spec.type in ("choice",):
        choices = [("", "—")] + [(c.value, pick(c.label, locale)) for c in spec.choices]
        return SelectField(choices=choices, validate_choice=False, **kw)
    if spec.type == "multichoice":
        return MultiCheckboxField(
            choices=[(c.value, pick(c.label, locale)) for c in spec.choices], validate_choice=False, **kw
        )
    if spec.type == "boolean":
        return BooleanField(**kw)
    if field_type.input_type == "textarea":
        return TextAreaField(**kw)
    # Dates too: a text input keeps the raw value, and validate_data parses it.
    return StringField(**kw)


def build_form_class(
    service: Service,
    field_types: Mapping[str, FieldType],
    locale: str,
    validate: Callable[[Service, Mapping[str, Any]], tuple[dict[str, Any], dict[str, str]]],
) -> type[HamaynkForm]:
    """A HamaynkForm subclass (CSRF included) with one input per declared field.

    ``form.validate()`` runs ``validate`` on the raw values, puts each message on its field,
    and leaves the cleaned data in ``form.cleaned_data``.
    """
    attrs: dict[str, Any] = {}
    for spec in service.fields:
        attrs[spec.name] = _wtf_field(spec, field_types[spec.type], locale)

    def raw_values(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for spec in service.fields:
            field = self[spec.name]
            raw[spec.name] = (
                field.data
                if spec.type in ("multichoice", "boolean")
                else (field.raw_data[0] if field.raw_data else field.data)
            )
        return raw

    def validate_form(self, extra_validators=None) -> bool:
        ok = HamaynkForm.validate(self, extra_validators)  # CSRF and WTForms' own checks
        data, errors = validate(service, self.raw_values())
        for name, message in errors.items():
            if name in self:
                self[name].errors = [*list(self[name].errors), message]
            else:
                self.form_errors.append(message)
        self.cleaned_data = data
        return ok and not errors

    attrs["raw_values"] = raw_values
    attrs["validate"] = validate_form
    attrs["service"] = service
    return type(
        f"{service.key.replace('-', '_').title().replace('_', '')}V{service.version}Form", (HamaynkForm,), attrs
    )
