"""Flask-AppBuilder's own security screens (users, roles, groups) in the page's language.

Its views print what the database stores: role names ("Clerk") on the users and profile pages
and in the role pickers, permissions glued with an English "on", and the groups screens with
column labels made from the column names ("Name", "Label"), which gettext never sees. These
subclasses change only how things are named; what the views do stays Flask-AppBuilder's.
Lists and show pages are handled by ``app.i18n.display`` (every template's ``finalize``); the
option lists of their forms are set here. Wired in by ``app.security.HamaynkSecurityManager``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import abort, current_app, g, has_request_context, request
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_appbuilder.hooks import before_request
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security import views as fab
from flask_appbuilder.security.sqla import models as fab_models
from flask_appbuilder.validators import PasswordComplexityValidator
from flask_babel import lazy_gettext as _l
from sqlalchemy import func
from sqlalchemy.orm import joinedload

from app.domain.accounts import MAX_NAME_PART, password_problem
from app.extensions import db
from app.i18n import display, role_label
from app.models import User

# -- the staff password policy --------------------------------------------------------------
#
# Flask-AppBuilder calls FAB_PASSWORD_COMPLEXITY_VALIDATOR (set by app.admin) from every one
# of its password forms: adding a user, an administrator resetting someone's password, and
# "reset my password"; the staff screen (app.admin.forms.StaffForm) uses the same validator.
# The judgement is the citizens' (app.domain.accounts.password_problem): at least
# HAMAYNK_PASSWORD_MIN_LENGTH characters and zxcvbn's score at least HAMAYNK_PASSWORD_MIN_SCORE,
# which also refuses the passwords people use most (zxcvbn's own frequency lists, offline; no
# breach service is asked), judged together with the person's own name, login and address.


def _form_text(name: str) -> str:
    value = request.form.get(name, "")
    return value[: 4 * MAX_NAME_PART] if isinstance(value, str) else ""


def _whose_password() -> tuple[str, str]:
    """(name, e-mail) of the account the password is for: the form's fields when it has them
    (adding a user), else the account reset (?pk=) or the signed-in person's own."""
    if not has_request_context():
        return "", ""
    name = " ".join(filter(None, (_form_text("first_name"), _form_text("last_name"), _form_text("username"))))
    email = _form_text("email")
    if name or email:
        return name, email
    user = None
    pk = request.args.get("pk", "")
    if isinstance(pk, str) and pk.isdecimal() and len(pk) <= 18:
        user = db.session.get(User, int(pk))
    elif getattr(g.get("user"), "is_authenticated", False):
        user = g.user
    if user is None:
        return "", ""
    return f"{user.first_name or ''} {user.last_name or ''} {user.username or ''}".strip(), user.email or ""


class StaffPasswordPolicy(PasswordComplexityValidator):
    """Flask-AppBuilder's password validator for our own forms, judged only once the field's
    earlier checks (its length) passed: one message at a time."""

    def __call__(self, form: Any, field: Any) -> None:
        if not field.errors:
            super().__call__(form, field)


def staff_password_policy(password: Any) -> None:
    """Flask-AppBuilder's password validator: raises with the reason, in the page's language."""
    name, email = _whose_password()
    problem = password_problem(
        password if isinstance(password, str) else "", name=name, email=email, config=current_app.config
    )
    if problem:
        raise PasswordComplexityValidationError(problem)


def _role_option(role: Any) -> str:
    return role_label(role.name)


def _option(item: Any) -> str:
    return str(display(item))


def _relabel_options(view: Any, labels: dict[str, Any]) -> None:
    """Give the forms' relation pickers our option labels (the form fields are still unbound
    classes here: ``kwargs`` is what they are built with for every request)."""
    for form in (getattr(view, "add_form", None), getattr(view, "edit_form", None)):
        for name, get_label in labels.items():
            field = getattr(form, name, None) if form is not None else None
            if field is not None and hasattr(field, "kwargs"):
                field.kwargs["get_label"] = get_label


class _Choices(SQLAInterface):
    """A related model's interface for a form's picker (add, edit and the search form): the
    whole table without a page, so how many rows there are is how many were read, not one
    more count query."""

    def query(
        self,
        filters: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        select_columns: list[str] | None = None,
        outer_default_load: bool = False,
    ) -> tuple[int, list[Any]]:
        if page is not None or page_size is not None or select_columns:
            return super().query(
                filters, order_column, order_direction, page, page_size, select_columns, outer_default_load
            )
        items = self.apply_all(self.session.query(self.obj), filters, order_column, order_direction).all()
        return len(items), items


class _EagerList(SQLAInterface):
    """The view's model interface, with what the list shows of each row (``loads``: joined
    eager loads) read with the page's rows, not lazily per row: Flask-AppBuilder's lists
    would otherwise send one query per row and relation (tests/test_query_counts.py). The
    page's rows come with the number of all the rows its filters match (a window count in
    the same statement, not a count query before it), so a list page is one statement; a
    form's pickers read the related table once (:class:`_Choices`)."""

    def __init__(self, obj: Any, loads: Callable[[], Sequence[Any]] = tuple) -> None:
        super().__init__(obj)
        self._loads = loads

    def apply_all(self, query: Any, *args: Any, **kwargs: Any) -> Any:
        return super().apply_all(query, *args, **kwargs).options(*self._loads())

    def query(
        self,
        filters: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        select_columns: list[str] | None = None,
        outer_default_load: bool = False,
    ) -> tuple[int, list[Any]]:
        if select_columns:
            # Flask-AppBuilder's own (its outer query for dotted columns); none of ours asks it.
            return super().query(
                filters, order_column, order_direction, page, page_size, select_columns, outer_default_load
            )
        query = self.apply_all(
            self.session.query(self.obj), filters, order_column, order_direction, page, page_size
        ).add_columns(func.count().over())
        rows = query.all()
        if rows:
            return int(rows[0][1]), [row[0] for row in rows]
        if page:
            # A page past the last one: how many rows there are still needs its own count.
            return self.query_count(self.session.query(self.obj), filters), []
        return 0, []

    def get_related_interface(self, col_name: str) -> SQLAInterface:
        # The related model's own lists (a form's pickers) load nothing extra.
        return _Choices(self.get_related_model(col_name))


def _eager(view: Any, loads: Callable[[], Sequence[Any]] = tuple) -> None:
    view.datamodel = _EagerList(view.datamodel.obj, loads)


def _role_permissions() -> list[Any]:
    # A role's permissions print as "permission on view": both joined with the page too.
    permissions = joinedload(fab_models.Role.permissions)
    return [
        permissions.joinedload(fab_models.PermissionView.permission),
        permissions.joinedload(fab_models.PermissionView.view_menu),
    ]


class _CheckedSort:
    """A sort column must be one the list offers (as app.admin.views.ScopedModelView checks
    for Hamaynk's own lists): Flask-AppBuilder orders by any name it is given, so an unknown
    one was a 500 and ``password`` sorted users by their password hashes."""

    order_columns: list[str]

    # Only the list sorts; a hook wraps the handlers it applies to, and app.cleaning finds the
    # view behind the other endpoints (action_post, download) through their bound methods.
    @before_request(only=["list"])
    def _check_sort(self) -> None:
        for name, values in request.args.lists():
            if name.startswith("_oc_") and any(value not in (self.order_columns or []) for value in values):
                abort(400)


# Each is named as its parent: Flask-AppBuilder derives endpoints, permission names and its
# templates' links from the class name, so URLs, stored permissions and app.security's role
# table stay what they were.
class UserDBModelView(_CheckedSort, fab.UserDBModelView):
    def __init__(self, **kwargs: Any) -> None:
        _eager(self, lambda: [joinedload(User.roles), joinedload(User.groups)])
        super().__init__(**kwargs)
        _relabel_options(self, {"roles": _role_option, "groups": _option})


class RoleModelView(_CheckedSort, fab.RoleModelView):
    """Its list and show widgets print the stored name as it is, past any formatter: the
    rows handed to them carry the label instead (no built-in roles are configured, the only
    thing those templates look names up for)."""

    # Its search form offers these too, under names made from the columns.
    label_columns = {**fab.RoleModelView.label_columns, "user": _l("Users"), "groups": _l("Groups")}

    def __init__(self, **kwargs: Any) -> None:
        _eager(self, _role_permissions)
        super().__init__(**kwargs)
        _relabel_options(self, {"permissions": _option, "user": _option})

    def _get_list_widget(self, *args: Any, **kwargs: Any) -> Any:
        widgets = super()._get_list_widget(*args, **kwargs)
        # The rows come as a generator: read them once and hand the widget a list.
        rows = list(widgets["list"].template_args.get("value_columns") or [])
        for row in rows:
            if isinstance(row.get("name"), str):
                row["name"] = role_label(row["name"])
        widgets["list"].template_args["value_columns"] = rows
        return widgets

    def _get_show_widget(self, *args: Any, **kwargs: Any) -> Any:
        widgets = super()._get_show_widget(*args, **kwargs)
        args_ = widgets["show"].template_args
        values, columns = args_.get("value_columns"), args_.get("include_columns") or []
        if isinstance(values, list) and "name" in columns and isinstance(values[columns.index("name")], str):
            values[columns.index("name")] = role_label(values[columns.index("name")])
        return widgets


class UserGroupModelView(_CheckedSort, fab.UserGroupModelView):
    label_columns = {
        "name": _l("Name"),
        "label": _l("Label"),
        "description": _l("Description"),
        "users": _l("Users"),
        "roles": _l("Roles"),
    }

    def __init__(self, **kwargs: Any) -> None:
        _eager(self, lambda: [joinedload(fab_models.Group.roles)])
        super().__init__(**kwargs)
        _relabel_options(self, {"roles": _role_option, "users": _option})


class PermissionViewModelView(_CheckedSort, fab.PermissionViewModelView):
    # Its search form offers the roles too, under a name made from the column.
    label_columns = {**fab.PermissionViewModelView.label_columns, "role": _l("Roles")}

    def __init__(self, **kwargs: Any) -> None:
        # Its permission and view load with each row already (joined by the model).
        _eager(self)
        super().__init__(**kwargs)
