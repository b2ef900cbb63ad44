"""Administration: the settlements of the administrator's own municipality (list, add, edit,
deactivate). Thin: app.domain.participation.settlements checks, writes and audit-logs."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.domain import access
from app.domain.errors import NotAllowed
from app.domain.participation import settlements
from app.extensions import db
from app.models.participation import Settlement


class SettlementsView(BaseView):
    """A municipal administrator keeps the settlements residents are verified in."""

    route_base = "/admin/settlements"
    class_permission_name = "SettlementsAdmin"
    method_permission_name = {"list": "list", "add": "add", "edit": "edit", "active": "edit"}
    default_view = "list"

    def _municipality_id(self) -> int:
        actor = web.require_actor()
        mid = actor.municipality_id
        if mid is None or not settlements.may_manage(actor, mid):
            abort(
                make_response(
                    self.render_template(
                        "hamaynk/error.html",
                        title=_("Settlements"),
                        message=_("Only an administrator of a municipality keeps its settlements."),
                        back_url=url_for("HomeView.index"),
                    ),
                    403,
                )
            )
        return mid

    def _row(self, pk: int) -> Settlement:
        try:
            return settlements.get(db.session, web.require_actor(), pk)
        except access.NotFound:
            abort(404)

    @expose("/")
    @has_access
    def list(self):
        mid = self._municipality_id()
        rows = settlements.listing(db.session, web.require_actor(), mid)
        return self.render_template(
            "admin/settlements.html",
            title=_("Settlements"),
            rows=rows,
            municipality=access.get_municipality(db.session, web.require_actor(), mid),
        )

    def _form(self, values: dict[str, Any], errors: dict[str, str], row: Settlement | None, status: int = 200):
        return self.render_template(
            "admin/settlement_form.html",
            title=_("Change a settlement") if row is not None else _("Add a settlement"),
            values=values,
            errors=errors,
            row=row,
            max_code=settlements.MAX_CODE,
            max_name=settlements.MAX_NAME,
        ), status

    @staticmethod
    def _posted() -> dict[str, str]:
        return {
            name: value if isinstance(value := request.form.get(name, ""), str) else ""
            for name in ("code", "name_hy", "name_en", "name_ru")
        }

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        mid = self._municipality_id()
        if request.method == "GET":
            return self._form({}, {}, None)
        values = self._posted()
        try:
            row = settlements.create(
                db.session, web.require_actor(), mid, settlements.clean(values), ip=request.remote_addr
            )
            db.session.commit()
        except settlements.InvalidSettlement as invalid:
            db.session.rollback()
            return self._form(values, invalid.errors, None, 400)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        flash(_("Settlement %(name)s was added.", name=row.name_hy), "success")
        return redirect(url_for(".list"))

    @expose("/edit/<int:pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk: int):
        self._municipality_id()
        row = self._row(pk)
        if request.method == "GET":
            values = {
                "code": row.code,
                "name_hy": row.name_hy,
                "name_en": row.name_en or "",
                "name_ru": row.name_ru or "",
            }
            return self._form(values, {}, row)
        values = self._posted()
        try:
            settlements.update(db.session, web.require_actor(), row, settlements.clean(values), ip=request.remote_addr)
            db.session.commit()
        except settlements.InvalidSettlement as invalid:
            db.session.rollback()
            return self._form(values, invalid.errors, self._row(pk), 400)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        flash(_("The settlement was saved."), "success")
        return redirect(url_for(".list"))

    @expose("/active/<int:pk>", methods=["POST"])
    @has_access
    def active(self, pk: int):
        self._municipality_id()
        row = self._row(pk)
        wanted = request.form.get("active") == "1"
        try:
            changed = settlements.set_active(db.session, web.require_actor(), row, wanted, ip=request.remote_addr)
            db.session.commit()
        except NotAllowed:
            db.session.rollback()
            abort(403)
        if changed:
            flash(
                _("The settlement is active again.")
                if wanted
                else _("The settlement was deactivated: no one is verified in it any more."),
                "success",
            )
        return redirect(url_for(".list"))
