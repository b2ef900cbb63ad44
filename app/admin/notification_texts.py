"""Administration: the words of the notices citizens receive, per event, language, service and
municipality (app.domain.notification_texts). No JavaScript: the preview is a server round trip.

Which texts a page is about comes from its query string: ``municipality`` (a municipality's
id, or ``install`` for the install-wide texts, a system administrator's alone; by default
the actor's own municipality), ``service`` (a service key, empty for every service),
``event`` and ``language`` (the text being edited).
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import web
from app.admin.common import chosen_municipality, municipality_choices
from app.domain import notification_texts as texts
from app.domain.access import Actor
from app.extensions import db
from app.i18n import current_locale
from app.models import Municipality
from app.plugins import runtime as plugin_runtime

# ``?municipality=install``: the install-wide texts every municipality falls back to.
INSTALL = "install"
MAX_KEY = 100  # a service key's column length
LANGUAGE_NAMES = {"hy": _l("Armenian"), "en": _l("English"), "ru": _l("Russian")}
# A placeholder as written in a template ("{name}", "{0}", "{x:>5}"), or a doubled brace.
_PIECE = re.compile(r"(\{\{|\}\}|\{[^{}]*\})")


def template_parts(template: str) -> list[tuple[str, bool]]:
    """``template`` as written, cut into ``(text, is_placeholder)`` pieces, so a page can show
    the placeholders as code (they are names, the same in every language)."""
    return [(piece, piece.startswith("{") and piece != "{{") for piece in _PIECE.split(str(template)) if piece]


class NotificationTextsView(BaseView):
    """A municipal administrator's (and a system administrator's) notice texts; auditors read."""

    route_base = "/admin/notification-texts"
    class_permission_name = "NotificationTextsAdmin"
    method_permission_name = {"list": "list", "edit": "edit"}
    default_view = "list"

    # -- which texts --------------------------------------------------------------------------

    def _municipality(self, actor: Actor) -> Municipality | None:
        """The municipality the page is about, ``None`` for the install-wide texts."""
        raw = request.args.get("municipality", "")
        if raw == INSTALL:
            if not actor.is_system_admin:
                abort(403)
            return None
        return chosen_municipality(actor, raw)

    def _level(self) -> tuple[Actor, Municipality | None, texts.Level, list[texts.ServiceChoice]]:
        actor = web.require_actor()
        municipality = self._municipality(actor)
        municipality_id = municipality.id if municipality is not None else None
        if not texts.may_read(actor, municipality_id):
            abort(403)
        services = texts.services_for(db.session, plugin_runtime.registry(), actor, municipality_id)
        service_key = (request.args.get("service") or "").strip()[:MAX_KEY] or None
        return actor, municipality, texts.Level(municipality_id, service_key), services

    @staticmethod
    def _args(level: texts.Level, **more: Any) -> dict[str, Any]:
        args: dict[str, Any] = {
            "municipality": INSTALL if level.municipality_id is None else level.municipality_id,
            **more,
        }
        if level.service_key:
            args["service"] = level.service_key
        return args

    def _municipality_choices(self, actor: Actor) -> list[tuple[str, str]]:
        if not actor.is_system_admin:
            return []
        return [(INSTALL, _("Whole install (every municipality)"))] + [
            (str(m.id), m.name) for m in municipality_choices(actor)
        ]

    def _common(self, actor: Actor, municipality: Municipality | None, level: texts.Level, services) -> dict:
        return {
            "municipality": municipality,
            "level": level,
            "level_args": self._args(level),
            "services": services,
            "service_name": texts.service_title(services, level.service_key, current_locale())
            or (level.service_key or ""),
            "municipalities": self._municipality_choices(actor),
            "municipality_value": INSTALL if municipality is None else str(municipality.id),
            "language_names": {k: str(v) for k, v in LANGUAGE_NAMES.items()},
            "template_parts": template_parts,
            "source_labels": {k: str(v) for k, v in texts.SOURCE_LABELS.items()},
            "can_edit": texts.may_edit(actor, level.municipality_id)
            and self.appbuilder.sm.has_access("can_edit", self.class_permission_name),
        }

    # -- the list -----------------------------------------------------------------------------

    @expose("/")
    @has_access
    def list(self):
        actor, municipality, level, services = self._level()
        errors: dict[str, str] = {}
        if level.service_key is not None and level.service_key not in {s.key for s in services}:
            errors["service"] = _("There is no such service here. Choose one from the list.")
            level = texts.Level(level.municipality_id, None)
        try:
            rows = texts.overview(db.session, actor, level)
        except texts.NotAllowed:
            abort(403)
        return self.render_template(
            "hamaynk/notification_texts.html",
            title=_("Notification texts"),
            rows=rows,
            errors=errors,
            **self._common(actor, municipality, level, services),
        ), (400 if errors else 200)

    # -- one text -----------------------------------------------------------------------------

    @expose("/edit", methods=["GET", "POST"])
    @has_access
    def edit(self):
        actor, municipality, level, services = self._level()
        if not texts.may_edit(actor, level.municipality_id):
            abort(403)
        registry = plugin_runtime.registry()
        event = request.args.get("event", "")[:64]
        language = request.args.get("language", "")[:8]
        common = self._common(actor, municipality, level, services)
        target_errors = texts.check_level(db.session, registry, actor, level, event, language)
        if target_errors:
            # A forged or stale link: say what is wrong, change nothing.
            db.session.rollback()
            return self.render_template(
                "hamaynk/notification_text_form.html",
                title=_("Notification text"),
                target_errors=target_errors,
                **common,
            ), 400
        action = request.form.get("action", "") if request.method == "POST" else ""
        if action == "reset":
            return self._reset(actor, level, event, language)
        now = texts.current(db.session, actor, level, event, language)
        subject, body = now.subject, now.body
        errors: dict[str, str] = {}
        preview = None
        status = 200
        if request.method == "POST":
            subject = request.form.get("subject", "")
            body = request.form.get("body", "")
            if action == "save":
                try:
                    _row, checked = texts.save(
                        db.session, registry, actor, level, event, language, subject, body, ip=request.remote_addr
                    )
                    db.session.commit()
                except texts.InvalidText as exc:
                    db.session.rollback()
                    errors = exc.errors
                    status = 400
                except texts.NotAllowed:
                    db.session.rollback()
                    abort(403)
                else:
                    flash(_("Saved. Notices of this kind now use this text."), "success")
                    for warning in checked.warnings:
                        flash(warning, "warning")
                    return redirect(url_for(".edit", **self._args(level, event=event, language=language)))
            elif action != "preview":
                errors = {"action": _("Choose Preview, Save or Reset.")}
                status = 400
        checked = texts.check(event, subject, body)
        errors = errors or checked.errors
        if action == "preview":
            preview = texts.preview(
                subject,
                body,
                texts.sample_values(
                    event,
                    language,
                    config=current_app.config,
                    service_title=texts.service_title(services, level.service_key, language),
                    municipality_name=municipality.name if municipality is not None else "",
                ),
            )
        builtin_subject, builtin_body = texts.builtin(event, language)
        return self.render_template(
            "hamaynk/notification_text_form.html",
            title=_("%(event)s: %(language)s", event=texts.EVENT_LABELS[event], language=LANGUAGE_NAMES[language]),
            event=event,
            event_label=str(texts.EVENT_LABELS[event]),
            event_hint=str(texts.EVENT_HINTS[event]),
            language=language,
            placeholders=texts.placeholders(event),
            builtin_subject=builtin_subject,
            builtin_body=builtin_body,
            current=now,
            subject=subject,
            body=body,
            errors=errors,
            warnings=checked.warnings,
            preview=preview,
            max_subject=texts.MAX_SUBJECT,
            max_body=texts.MAX_BODY,
            form_args=self._args(level, event=event, language=language),
            **common,
        ), status

    def _reset(self, actor: Actor, level: texts.Level, event: str, language: str):
        try:
            removed = texts.reset(
                db.session, plugin_runtime.registry(), actor, level, event, language, ip=request.remote_addr
            )
            db.session.commit()
        except texts.NotAllowed:
            db.session.rollback()
            abort(403)
        except texts.InvalidText:  # checked just before; the level cannot change in between
            db.session.rollback()
            abort(400)
        if removed:
            now = texts.current(db.session, actor, level, event, language)
            flash(
                _("Removed. Notices of this kind now use: %(source)s.", source=texts.SOURCE_LABELS[now.source]),
                "success",
            )
        else:
            flash(_("There was no text of your own to remove."), "info")
        return redirect(url_for(".edit", **self._args(level, event=event, language=language)))
