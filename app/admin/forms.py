from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, Regexp

from app.admin.security_views import StaffPasswordPolicy
from app.i18n import HamaynkForm

USERNAME_RE = r"^[A-Za-z0-9_.@-]+$"


def _coerce_optional_int(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class StaffForm(HamaynkForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(),
            Length(min=3, max=64),
            Regexp(USERNAME_RE, message=_l("Use Latin letters, digits and . _ @ - only.")),
        ],
    )
    first_name = StringField(_l("First name"), validators=[DataRequired(), Length(max=64)])
    last_name = StringField(_l("Last name"), validators=[DataRequired(), Length(max=64)])
    email = StringField(
        _l("E-mail"), validators=[DataRequired(), Email(message=_l("Enter a valid e-mail address.")), Length(max=254)]
    )
    # The staff password policy, as on Flask-AppBuilder's own password forms.
    password = PasswordField(
        _l("Password"),
        validators=[
            Optional(),
            Length(min=10, max=128, message=_l("Use 10 to 128 characters.")),
            StaffPasswordPolicy(),
        ],
    )
    municipality_id = SelectField(_l("Municipality"), coerce=_coerce_optional_int, validate_choice=False)
    department_id = SelectField(_l("Department"), coerce=_coerce_optional_int, validate_choice=False)
    roles = SelectMultipleField(
        _l("Roles"), validators=[DataRequired(message=_l("Choose at least one role."))], validate_choice=False
    )
    position = StringField(_l("Position"), validators=[Optional(), Length(max=200)])
    active = BooleanField(_l("Active"), default=True)


class ActivationForm(HamaynkForm):
    enabled = BooleanField(_l("Offered in this municipality"))
    fee_override = IntegerField(
        _l("Fee (AMD), leave empty for the service's own"),
        validators=[
            Optional(),
            NumberRange(min=0, max=100_000_000, message=_l("Enter an amount between 0 and 100 000 000.")),
        ],
    )
    deadline_override = IntegerField(
        _l("Deadline (working days), leave empty for the service's own"),
        validators=[Optional(), NumberRange(min=1, max=365, message=_l("Enter between 1 and 365 working days."))],
    )
    department_id = SelectField(_l("Responsible department"), coerce=_coerce_optional_int, validate_choice=False)
