"""The "Substitute while I'm away" page: name a colleague to work one's tasks for a period,
list current, upcoming and recent substitutions, end one early.

Thin: who may name whom, the dates and the record are :mod:`app.domain.substitutes`. The
page uses the workspace's permissions: every member of staff with an inbox may open it,
naming and ending need the workspace's ``can_act`` (auditors only read).
"""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.domain import access, inputs
from app.domain import substitutes as subs
from app.domain.access import MAX_PK, Actor
from app.domain.tracking import office_today
from app.extensions import db
from app.workspace import permissions as workspace_permissions


def _date(raw: str | None) -> dt.date | None:
    text = (raw or "").strip()
    if len(text) != 10:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


class SubstitutesView(BaseView):
    route_base = "/workspace/substitutes"
    class_permission_name = workspace_permissions.NAME
    base_permissions = workspace_permissions.PERMISSIONS
    method_permission_name = {"list": "list", "add": "act", "end": "act"}
    default_view = "list"

    def _actor(self) -> Actor:
        actor = web.require_actor()
        if actor.municipality_id is None:
            abort(403)
        return actor

    def _page(self, actor: Actor, *, status: int = 200, errors: dict[str, str] | None = None, form=None):
        assert actor.municipality_id is not None  # _actor() refused anyone else
        today = office_today()
        people = subs.colleagues(db.session, actor.municipality_id)
        absent_choices = subs.absent_choices(actor, people)
        form = dict(form or {})
        chosen = inputs.whole_number(form.get("absent_id"), MAX_PK) if form else None
        absent = next((c.actor for c in absent_choices if c.user_id == chosen), None)
        if absent is None and len(absent_choices) == 1:
            absent = absent_choices[0].actor
        if absent is None:
            absent = next((c.actor for c in absent_choices if c.user_id == actor.user_id), None)
        return self.render_template(
            "workspace/substitutes.html",
            title=_("Substitutes while away"),
            listed=subs.visible(db.session, actor, today, people=people),
            standing_in=subs.standing_in_for(db.session, actor, today),
            names={c.user_id: c.name for c in people},
            absent_choices=absent_choices,
            # With one choice (oneself) the list fits that person; otherwise the domain checks the pair.
            substitute_choices=subs.substitute_choices(absent if len(absent_choices) == 1 else None, people),
            chosen_absent=absent.user_id if absent is not None else None,
            may_act=self.appbuilder.sm.has_access("can_act", self.class_permission_name),
            form=form,
            errors=errors or {},
            today=today,
            max_days=subs.MAX_DAYS,
            max_reason=subs.MAX_REASON,
        ), status

    @expose("/")
    @has_access
    def list(self):
        return self._page(self._actor())

    @expose("/add", methods=["POST"])
    @has_access
    def add(self):
        actor = self._actor()
        form = request.form
        try:
            subs.name_substitute(
                db.session,
                actor,
                absent_id=inputs.whole_number(form.get("absent_id"), MAX_PK),
                substitute_id=inputs.whole_number(form.get("substitute_id"), MAX_PK),
                starts_on=_date(form.get("starts_on")),
                ends_on=_date(form.get("ends_on")),
                reason=(form.get("reason") or "")[: subs.MAX_REASON + 1],
            )
            db.session.commit()
        except subs.SubstitutionError as exc:
            db.session.rollback()
            field = exc.field or "form"
            return self._page(actor, status=400, errors={field: str(exc)}, form=form.to_dict())
        flash(_("The substitute is named."), "success")
        return redirect(url_for(".list"), 303)

    @expose("/<int:substitution_id>/end", methods=["POST"])
    @has_access
    def end(self, substitution_id: int):
        actor = self._actor()
        try:
            subs.end_substitution(db.session, actor, substitution_id)
            db.session.commit()
        except access.NotFound:
            db.session.rollback()
            abort(404)
        except subs.SubstitutionError as exc:
            db.session.rollback()
            return self._page(actor, status=400, errors={"form": str(exc)})
        flash(_("The substitution has ended."), "success")
        return redirect(url_for(".list"), 303)
