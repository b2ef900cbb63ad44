"""The applicant part of the intake form. The service part is compiled from the declaration
(:func:`app.plugins.runtime.form_class`) and carries the CSRF token for the whole page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, StringField, TextAreaField

from app.domain.intake import MAX_ADDRESS, MAX_NAME
from app.i18n import HamaynkForm

# Prefix keeps these inputs apart from declared fields of the same name (many services have
# an "address" field of their own).
PREFIX = "applicant"


class ApplicantForm(HamaynkForm):
    """Raw inputs only: :func:`app.domain.intake.clean_applicant` decides what is valid."""

    class Meta:
        # Validated together with the service form, whose token covers the same request.
        csrf = False

    name = StringField(
        _l("Full name"), render_kw={"maxlength": MAX_NAME, "autocomplete": "off", "aria-required": "true"}
    )
    psn = StringField(
        _l("Public service number"),
        description=_l("10 digits; finds the citizen's earlier applications and registry data."),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 12},
    )
    phone = StringField(_l("Phone"), render_kw={"type": "tel", "autocomplete": "off"})
    email = StringField(_l("E-mail"), render_kw={"type": "email", "autocomplete": "off"})
    address = TextAreaField(_l("Address"), render_kw={"maxlength": MAX_ADDRESS, "rows": 2})
    # One-time token against double submits (see app.domain.intake).
    token = HiddenField()


def applicant_form(**kwargs) -> ApplicantForm:
    return ApplicantForm(prefix=PREFIX, **kwargs)


def applicant_raw(form: ApplicantForm) -> dict[str, str]:
    return {name: form[name].data or "" for name in ("name", "psn", "phone", "email", "address")}
