"""Administration screens: municipalities, departments, staff, plug-ins and services.

Views are thin: they parse the request, load rows through app.domain.access (what the user
may see), call the domain, and render. Permission names are explicit (``class_permission_name``) so renaming a
class never churns the permissions stored in every install.
"""

from __future__ import annotations

import importlib.metadata as metadata

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, IndexView, ModelView, expose, has_access
from flask_appbuilder.hooks import before_request
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.widgets import ListWidget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import contains_eager, selectinload
from wtforms.validators import Regexp

from app import web
from app.admin.forms import ActivationForm, StaffForm
from app.domain import access, citizen_cases
from app.domain.access import MAX_PK, Actor
from app.domain.activations import ActivationError, catalogue, set_activation, staffing_gaps
from app.domain.staff import StaffError, StaffInput, create_staff, grantable_roles, update_staff
from app.extensions import db
from app.i18n import current_locale, tr
from app.models import Department, Municipality, StaffProfile, User
from app.plugins import runtime as plugin_runtime


class HomeView(IndexView):
    """``/``: the sign-in invitation for visitors, each role's starting points for staff
    (app.admin.home)."""

    index_template = "hamaynk/index.html"

    @expose("/")
    def index(self):
        from flask import current_app as app_now

        from app.admin.home import home_context  # the home page's own module; kept out of this one's imports

        # Visitors and citizens get the citizen portal's public home (site.home, registered on
        # "/" too; this view answers "/" first), staff their starting points below.
        actor = web.current_actor()
        portal_home = app_now.view_functions.get("site.home")
        if portal_home is not None and (actor is None or actor.is_citizen):
            return portal_home()

        return self.render_template(self.index_template, appbuilder=self.appbuilder, **home_context(self.appbuilder))


class MunicipalityScopeFilter(BaseFilter):
    """FAB base filter: only rows of the municipalities the current user may see."""

    name = "municipality scope"
    arg_name = "hamaynk_scope"

    def apply(self, query, value):
        return access.scoped(query, self.model, web.current_actor())


# Codes of municipalities and departments: permanent, used in URLs and tracking numbers.
CODE_RE = r"^[a-z0-9][a-z0-9_-]*$"


class AccessibleListWidget(ListWidget):
    """FAB's list table with column headers a screen reader can announce (``scope="col"``)."""

    template = "hamaynk/widgets/list.html"


class FreshValidators(dict):
    """``validators_columns`` whose lists FAB cannot grow: FAB appends its own Unique validator
    to the list it is given, so a shared list gains one more per form built (add, edit, and
    every app in the process), and each shows "Already exists." once more."""

    def get(self, key, default=None):
        return list(super().get(key, default or []))


class RefusedChange(ValueError):
    """Raised from pre_add/pre_update/pre_delete; FAB flashes its (translated) text and writes nothing."""


def _refuse(message: str) -> RefusedChange:
    # FAB has already copied the form onto the row; drop that so nothing can flush it later.
    db.session.rollback()
    return RefusedChange(message)


class SafeSQLAInterface(SQLAInterface):
    """FAB flashes ``str(exception)`` when a write fails, which would put SQL on the page.
    Replace any database error with a plain, translated message (the row is not written)."""

    def add(self, item, commit: bool = True) -> None:
        try:
            super().add(item, commit)
        except SQLAlchemyError:
            raise RefusedChange(_("The change could not be saved: it conflicts with data already stored.")) from None


class ScopedModelView(ModelView):
    """A ModelView whose every generic endpoint (list, show, edit, delete, action,
    action_post, download) sees only the rows ``base_filters`` allow, and whose URL
    arguments are checked before FAB parses them (so hostile input is a 4xx, never a 500).
    """

    list_widget = AccessibleListWidget
    # Rows of these tables have no files; FAB's download endpoint would serve UPLOAD_FOLDER.
    method_permission_name = {
        "list": "list",
        "show": "show",
        "add": "add",
        "edit": "edit",
        "delete": "delete",
        "download": "show",
        "action": "edit",
        "action_post": "edit",
        "api_read": "list",
        "api_get": "show",
    }

    @before_request
    def _check_url_arguments(self):
        # Page numbers and sizes are bounded for every view by app.cleaning; the sort column
        # must be one this view offers.
        for name, values in request.args.lists():
            if name.startswith("_oc_") and any(value not in (self.order_columns or []) for value in values):
                abort(400)
        return None

    def _deserialize_pk_if_composite(self, pk):
        # Every Hamaynk table has an integer key: anything else cannot name a row.
        if not isinstance(pk, str) or not pk.isdigit() or int(pk) > MAX_PK:
            abort(404)
        return int(pk)

    def _scoped_get(self, pk):
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        return item

    def _action_or_404(self, name: str):
        action = self.actions.get(name)
        if action is None:
            abort(404)
        return action

    @expose("/action/<string:name>/<pk>", methods=["GET", "POST"])
    def action(self, name, pk):
        # FAB's own version skips base_filters (any row by id) and fails on unknown names.
        if not self.is_get_mutation_allowed():
            abort(405)
        action = self._action_or_404(name)
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(name), self.class_permission_name):
            abort(403)
        return action.func(self._scoped_get(pk))

    @expose("/action_post", methods=["POST"])
    def action_post(self):
        action = self._action_or_404(request.form.get("action", ""))
        if not self.appbuilder.sm.has_access(self.get_action_permission_name(action.name), self.class_permission_name):
            abort(403)
        items = [self._scoped_get(pk) for pk in request.form.getlist("rowid")]
        return action.func(items)

    @expose("/download/<string:filename>")
    @has_access
    def download(self, filename):
        abort(404)


class MunicipalityView(ScopedModelView):
    datamodel = SafeSQLAInterface(Municipality)
    class_permission_name = "MunicipalityAdmin"
    route_base = "/admin/municipalities"
    base_filters = [["id", MunicipalityScopeFilter, None]]
    list_columns = ["code", "name_hy", "name_en", "name_ru", "region", "active"]
    add_columns = edit_columns = ["code", "name_hy", "name_en", "name_ru", "region", "active"]
    show_columns = ["code", "name_hy", "name_en", "name_ru", "region", "active", "created_at"]
    search_columns = ["code", "name_hy", "name_en", "name_ru", "region"]
    label_columns = {
        "code": _l("Code"),
        "name_hy": _l("Name (Armenian)"),
        "name_en": _l("Name (English)"),
        "name_ru": _l("Name (Russian)"),
        "region": _l("Region"),
        "active": _l("Active"),
        "created_at": _l("Created"),
    }
    validators_columns = FreshValidators(
        code=[Regexp(CODE_RE, message=_l("Use lower-case Latin letters, digits, - and _ only."))],
    )
    description_columns = {"code": _l("Short permanent code used in tracking numbers, e.g. abovyan.")}
    list_title = _l("Municipalities")
    add_title = _l("Add municipality")
    edit_title = _l("Edit municipality")
    show_title = _l("Municipality")
    # Deleting a tenant with data must go through a deliberate process, not a list button.
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]

    def _check_unique(self, item) -> None:
        stmt = access.unscoped(
            select(Municipality.id).where(func.lower(Municipality.code) == (item.code or "").lower()),
            reason="a municipality code is unique across the install",
        )
        if item.id is not None:
            stmt = stmt.where(Municipality.id != item.id)
        if db.session.execute(stmt).first() is not None:
            raise _refuse(_("A municipality with the code %(code)s already exists.", code=item.code))

    def pre_add(self, item) -> None:
        with db.session.no_autoflush:
            self._check_unique(item)

    def pre_update(self, item) -> None:
        with db.session.no_autoflush:
            self._check_unique(item)


class DepartmentView(ScopedModelView):
    datamodel = SafeSQLAInterface(Department)
    class_permission_name = "DepartmentAdmin"
    route_base = "/admin/departments"
    base_filters = [["municipality_id", MunicipalityScopeFilter, None]]
    list_columns = ["municipality", "code", "name_hy", "name_en", "name_ru"]
    show_columns = ["municipality", "code", "name_hy", "name_en", "name_ru"]
    add_columns = ["municipality", "code", "name_hy", "name_en", "name_ru"]
    # A department never moves to another municipality: its staff and services stay behind.
    edit_columns = ["code", "name_hy", "name_en", "name_ru"]
    search_columns = ["code", "name_hy", "name_en", "name_ru"]
    # The municipality drop-down only offers what the user may see.
    add_form_query_rel_fields = {"municipality": [["id", MunicipalityScopeFilter, None]]}
    validators_columns = FreshValidators(
        code=[Regexp(CODE_RE, message=_l("Use lower-case Latin letters, digits, - and _ only."))],
    )
    label_columns = {
        "municipality": _l("Municipality"),
        "code": _l("Code"),
        "name_hy": _l("Name (Armenian)"),
        "name_en": _l("Name (English)"),
        "name_ru": _l("Name (Russian)"),
    }
    list_title = _l("Departments")
    add_title = _l("Add department")
    edit_title = _l("Edit department")
    show_title = _l("Department")

    @staticmethod
    def _municipality_id(item):
        # Before the flush only the relationship is set from the form; the column is stale.
        return item.municipality.id if item.municipality is not None else item.municipality_id

    def _check_owner(self, item) -> None:
        ids = access.visible_municipality_ids(web.current_actor())
        municipality_id = self._municipality_id(item)
        if municipality_id is None:
            raise _refuse(_("Choose the municipality this department belongs to."))
        if ids is not None and municipality_id not in ids:
            # Never trust the posted municipality: a forged id must not move a row elsewhere.
            raise _refuse(_("You can only manage departments of your own municipality."))

    def _check_unique(self, item) -> None:
        # Within the municipality _check_owner has just allowed.
        stmt = access.within(select(Department.id), Department, self._municipality_id(item))
        stmt = stmt.where(Department.code == item.code)
        if item.id is not None:
            stmt = stmt.where(Department.id != item.id)
        if db.session.execute(stmt).first() is not None:
            raise _refuse(_("This municipality already has a department with the code %(code)s.", code=item.code))

    def pre_add(self, item) -> None:
        # No autoflush: the form's values are already on the row and must not reach the
        # database before they are checked.
        with db.session.no_autoflush:
            self._check_owner(item)
            self._check_unique(item)

    def pre_update(self, item) -> None:
        with db.session.no_autoflush:
            self._check_owner(item)
            self._check_unique(item)

    def pre_delete(self, item) -> None:
        self._check_owner(item)


def _municipality_choices(actor: Actor) -> list[tuple[str, str]]:
    stmt = access.scoped(select(Municipality).order_by(Municipality.code), Municipality, actor)
    return [(str(m.id), m.name) for m in db.session.execute(stmt).scalars()]


def _department_choices(actor: Actor, municipality_id) -> list[tuple[str, str]]:
    """The departments of ``municipality_id`` (maybe posted, so maybe forged: scoped too)."""
    choices = [("", _("— none —"))]
    if municipality_id is None:
        return choices
    return choices + [
        (str(d.id), d.name) for d in db.session.execute(access.departments_of(actor, municipality_id)).scalars()
    ]


class StaffView(BaseView):
    """Staff of a municipality with their roles. Municipal admins see and change only their own."""

    route_base = "/admin/staff"
    class_permission_name = "StaffAdmin"
    method_permission_name = {"list": "list", "add": "add", "edit": "edit"}
    default_view = "list"

    def _sm(self):
        return self.appbuilder.sm

    def _visible_profiles(self):
        # Each row shows its user and their roles: loaded with the profiles, not per row.
        stmt = (
            select(StaffProfile)
            .join(StaffProfile.user)
            .options(
                contains_eager(StaffProfile.user).selectinload(User.roles), selectinload(StaffProfile.municipality)
            )
            .order_by(StaffProfile.municipality_id, StaffProfile.user_id)
        )
        return db.session.execute(access.scoped(stmt, StaffProfile, web.require_actor())).scalars().all()

    def _department_names(self, profiles) -> dict[int, str]:
        # A profile is not an owned row: its departments come through the loader, not p.department.
        ids = {p.department_id for p in profiles if p.department_id is not None}
        stmt = access.scoped(select(Department), Department, web.require_actor()).where(Department.id.in_(ids))
        return {d.id: d.name for d in db.session.execute(stmt).scalars()} if ids else {}

    def _form(self, profile=None):
        form = StaffForm(obj=profile.user if profile else None)
        if not form.password.raw_data:
            # obj= filled the field with the stored hash; a post without the field would save
            # that hash as the new password. No password given means keep the old one.
            form.password.data = None
        actor = web.require_actor()
        is_sys = actor.is_system_admin
        form.roles.choices = [(r, _(r)) for r in grantable_roles(is_sys)]
        municipalities = _municipality_choices(actor)
        form.municipality_id.choices = ([("", _("— none (system administrator) —"))] if is_sys else []) + municipalities
        if request.method == "GET" and profile is not None:
            form.roles.data = [r.name for r in profile.user.roles]
            form.municipality_id.data = profile.municipality_id
            form.department_id.data = profile.department_id
            form.position.data = profile.position
        chosen = form.municipality_id.data
        if chosen is None and not is_sys:
            chosen = actor.municipality_id
        form.department_id.choices = _department_choices(actor, chosen)
        return form

    def _input(self, form) -> StaffInput:
        municipality_id = form.municipality_id.data
        actor = web.require_actor()
        if municipality_id is None and not actor.is_system_admin:
            # A municipal admin's form offers only their own; a forged other one is refused
            # by the domain check instead of being silently replaced.
            municipality_id = actor.municipality_id
        return StaffInput(
            username=form.username.data.strip(),
            first_name=form.first_name.data.strip(),
            last_name=form.last_name.data.strip(),
            email=form.email.data.strip(),
            roles=list(form.roles.data or []),
            municipality_id=municipality_id,
            department_id=form.department_id.data,
            position=(form.position.data or "").strip() or None,
            active=bool(form.active.data),
            password=form.password.data or None,
        )

    def _save(self, form, action, profile=None):
        actor = web.require_actor()
        try:
            data = self._input(form)
            if profile is None:
                create_staff(db.session, self._sm(), data, actor=actor)
            else:
                update_staff(db.session, self._sm(), profile.user, data, actor=actor)
            db.session.commit()
        except StaffError as exc:
            db.session.rollback()
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None:
                field.errors = [*list(field.errors), str(exc)]
            flash(str(exc), "danger")
            return None
        flash(_("Saved."), "success")
        return redirect(url_for(".list"))

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    @expose("/")
    @has_access
    def list(self):
        profiles = self._visible_profiles()
        return self.render_template(
            "hamaynk/staff_list.html",
            profiles=profiles,
            departments=self._department_names(profiles),
            title=_("Staff"),
            can_add=self._may("can_add"),
            can_edit=self._may("can_edit"),
        )

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        form = self._form()
        if request.method == "POST" and form.validate():
            done = self._save(form, "add")
            if done is not None:
                return done
        status = 400 if request.method == "POST" else 200
        return self.render_template("hamaynk/staff_form.html", form=form, title=_("Add staff member")), status

    @expose("/<int:user_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, user_id: int):
        if user_id > MAX_PK:
            abort(404)
        stmt = access.scoped(
            select(StaffProfile).where(StaffProfile.user_id == user_id), StaffProfile, web.require_actor()
        )
        profile = db.session.execute(stmt).scalar_one_or_none()
        if profile is None:
            abort(404)
        form = self._form(profile)
        if request.method == "POST" and form.validate():
            done = self._save(form, "edit", profile)
            if done is not None:
                return done
        status = 400 if request.method == "POST" else 200
        return self.render_template(
            "hamaynk/staff_form.html", form=form, title=_("Edit staff member"), profile=profile
        ), status


def _plugin_version(record) -> str:
    """The version to show: the distribution's, the module's ``__version__``, or Hamaynk's own
    for a built-in service (it ships with the core); empty when nobody says."""
    if record.version:
        return str(record.version)
    module_version = getattr(record.module, "__version__", None) if record.module is not None else None
    if module_version:
        return str(module_version)
    if record.source == "built-in":
        try:
            return metadata.version("hamaynk")
        except metadata.PackageNotFoundError:
            return ""
    return ""


class PluginsView(BaseView):
    """Every plug-in and service with version, source, status and error."""

    route_base = "/admin/plugins"
    class_permission_name = "PluginsAdmin"
    method_permission_name = {"list": "list"}
    default_view = "list"

    @expose("/")
    @has_access
    def list(self):
        host = plugin_runtime.host()
        actor = web.current_actor()
        # Another municipality's own (builder) services are not there at all for this viewer.
        visible = [r for r in host.records.values() if access.service_visible(r, actor)]
        records = sorted(visible, key=lambda r: (r.status != "disabled", r.name))
        versions = {r.name: _plugin_version(r) for r in records}
        return self.render_template(
            "hamaynk/plugins.html",
            records=records,
            versions=versions,
            services=[r for r in host.registry.all() if access.service_visible(r, actor)],
            title=_("Plug-ins"),
        )


class ServicesView(BaseView):
    """A municipal admin enables services for their municipality and tunes their terms."""

    route_base = "/admin/services"
    class_permission_name = "ServicesAdmin"
    method_permission_name = {"list": "list", "edit": "edit", "answer_days": "edit"}
    default_view = "list"

    def _chosen_municipality(self) -> Municipality | None:
        """The municipality the page is about, or None when a system admin has created none yet.
        Only a system administrator chooses one (``?municipality=``); anyone else gets their own."""
        actor = web.require_actor()
        visible = access.scoped(select(Municipality).order_by(Municipality.code), Municipality, actor)
        raw = request.args.get("municipality", "") if actor.is_system_admin else ""
        # isdecimal: int() reads every such string (not "²"); the length keeps it a small number.
        if raw.isdecimal() and len(raw) <= len(str(MAX_PK)):
            try:
                return access.get_municipality(db.session, actor, int(raw))
            except access.NotFound:
                abort(404)
        municipality = db.session.execute(visible).scalars().first()
        if municipality is None and not actor.is_system_admin:
            abort(403)
        return municipality

    def _municipality(self) -> Municipality:
        municipality = self._chosen_municipality()
        if municipality is None:
            abort(404)
        return municipality

    @expose("/")
    @has_access
    def list(self):
        municipality = self._chosen_municipality()
        offered = catalogue(db.session, plugin_runtime.registry(), municipality.id) if municipality is not None else []
        # Offered services with steps nobody can act on: shown with each row and above the table.
        gaps = staffing_gaps(db.session, municipality.id, plugin_runtime.registry()) if municipality is not None else []
        actor = web.require_actor()
        municipalities = _municipality_choices(actor) if actor.is_system_admin else []
        return self.render_template(
            "hamaynk/services.html",
            offered=offered,
            gaps={g.key: g for g in gaps},
            locale=current_locale(),
            may_manage_staff=self.appbuilder.sm.has_access("can_add", "StaffAdmin"),
            municipality=municipality,
            municipalities=municipalities,
            title=_("Services"),
            can_edit=self.appbuilder.sm.has_access("can_edit", self.class_permission_name),
        )

    @expose("/settings/questions", methods=["GET", "POST"])
    @has_access
    def answer_days(self):
        """How many office days staff have to answer a citizen's question (1 to 60), the
        municipality's setting (app.domain.questions.set_answer_days)."""
        from app.domain import questions  # the questions area's own module

        municipality = self._municipality()
        errors: dict[str, str] = {}
        value = str(municipality.question_answer_days)
        if request.method == "POST":
            value = (request.form.get("days") or "").strip()[:10]
            try:
                questions.set_answer_days(
                    db.session, web.require_actor(), municipality.id, value, ip=request.remote_addr
                )
                db.session.commit()
            except questions.InvalidQuestion as exc:
                db.session.rollback()
                errors = exc.errors
            except access.NotFound:
                db.session.rollback()
                abort(404)
            except questions.NotAllowed:
                db.session.rollback()
                abort(403)
            else:
                flash(_("Saved."), "success")
                return redirect(url_for(".answer_days", municipality=municipality.id))
        return self.render_template(
            "workspace/questions_deadline.html",
            title=_("Answer deadline for citizens' questions"),
            municipality=municipality,
            value=value,
            errors=errors,
            minimum=questions.MIN_ANSWER_DAYS,
            maximum=questions.MAX_ANSWER_DAYS,
        ), (400 if errors else 200)

    @expose("/<service_key>", methods=["GET", "POST"])
    @has_access
    def edit(self, service_key: str):
        registered = plugin_runtime.registry().get(service_key)
        if registered is None:
            abort(404)
        municipality = self._municipality()
        offered = next(
            (
                o
                for o in catalogue(db.session, plugin_runtime.registry(), municipality.id)
                if o.registered.key == service_key
            ),
            None,
        )
        if offered is None:
            # Another municipality's own (builder) service: not offered here.
            abort(404)
        # Explicit form data: an empty POST must read as "all unticked", not as "keep the stored values".
        form = ActivationForm(formdata=request.form if request.method == "POST" else None, obj=offered.activation)
        form.department_id.choices = _department_choices(web.require_actor(), municipality.id)
        # The municipality's own words per status for citizens (app.domain.citizen_cases).
        languages = list(current_app.config["LANGUAGES"])
        stored_texts = dict(offered.activation.status_texts or {}) if offered.activation is not None else {}
        posted = request.form if request.method == "POST" else None
        status_texts, text_errors = citizen_cases.clean_status_texts(posted or {}, languages)
        if request.method == "POST" and form.validate() and not text_errors:
            try:
                row = set_activation(
                    db.session,
                    plugin_runtime.registry(),
                    municipality.id,
                    service_key,
                    enabled=bool(form.enabled.data),
                    fee_override=form.fee_override.data,
                    deadline_override=form.deadline_override.data,
                    department_id=form.department_id.data,
                    actor_id=web.require_actor().user_id,
                )
                citizen_cases.set_status_texts(db.session, row, status_texts, web.require_actor().user_id)
                db.session.commit()
            except ActivationError as exc:
                db.session.rollback()
                target = getattr(form, exc.field, None) if exc.field else None
                if target is not None:
                    # Next to the field it is about (read out by screen readers there too).
                    target.errors = [*target.errors, str(exc)]
                else:
                    flash(str(exc), "danger")
            else:
                flash(_("Saved."), "success")
                # Enabling before staffing is allowed, never silent (app.domain.activations).
                gap = next(
                    (
                        g
                        for g in staffing_gaps(db.session, municipality.id, plugin_runtime.registry())
                        if g.key == service_key
                    ),
                    None,
                )
                if gap is not None:
                    locale = current_locale()
                    flash(
                        _("Nobody can act on some steps of this service yet, so its applications will wait there:")
                        + " "
                        + " ".join(step.describe(locale) for step in gap.steps),
                        "warning",
                    )
                return redirect(url_for(".list", municipality=municipality.id))
        status = 400 if request.method == "POST" else 200
        return self.render_template(
            "hamaynk/service_form.html",
            form=form,
            offered=offered,
            municipality=municipality,
            title=tr(registered.service.title),
            status_texts=citizen_cases.status_text_inputs(
                registered.service, stored_texts, text_errors, languages, current_locale(), posted
            ),
            language_names={code: language["name"] for code, language in current_app.config["LANGUAGES"].items()},
        ), status
