"""Administration: a municipality's consultations on draft decisions (issue 11, point 5).

A municipal administrator writes a draft (title and text in Armenian, English and Russian, who
decides, the comment period in Yerevan time, who may comment), attaches the draft's files,
publishes it, moderates the comments (hide with a reason the author is told, show again) and
at the end publishes the summary of what changed and why with the final decision's link.
Auditors of the municipality read. Everything is decided in
app.domain.participation.consultations; this module turns forms into its calls and its
per-field messages back onto the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app import web
from app.admin.common import own_municipality
from app.domain import access, channels
from app.domain.access import Actor
from app.domain.declarations import pick
from app.domain.errors import NotAllowed, WorkflowError
from app.domain.participation import consultations as cs
from app.domain.participation import files as participation_files
from app.domain.participation import processes
from app.domain.storage import StorageError, get_storage
from app.domain.uploads import TYPE_LABELS, UploadRefused
from app.extensions import db
from app.i18n import current_locale
from app.models import Municipality
from app.models.participation import Consultation, Settlement

LANGUAGES = ("hy", "en", "ru")
LANGUAGE_LABELS = {"hy": _l("Armenian"), "en": _l("English"), "ru": _l("Russian")}
PHASES = {
    "draft": _l("Draft"),
    "upcoming": _l("Published, not open yet"),
    "open": _l("Open for comments"),
    "closed": _l("Comment period ended"),
    "cancelled": _l("Cancelled"),
}
AUDIENCES = {
    "residents": _l("Verified residents of the municipality"),
    "registered": _l("Any registered citizen"),
}
PUBLIC_ENDPOINT = "consultations.show"


def _texts(form: Mapping[str, Any], prefix: str) -> dict[str, str]:
    return {lang: str(form.get(f"{prefix}_{lang}", "") or "") for lang in LANGUAGES}


def _local_input(value: Any) -> str:
    return processes.local(value).strftime("%Y-%m-%dT%H:%M") if value is not None else ""


def _form_of(consultation: Consultation | None) -> dict[str, Any]:
    if consultation is None:
        return {"title": {}, "body": {}, "decided_by": "council", "audience": "residents", "settlement_ids": []}
    return {
        "title": dict(consultation.title or {}),
        "body": dict(consultation.body or {}),
        "decided_by": consultation.decided_by,
        "opens_at": _local_input(consultation.opens_at),
        "closes_at": _local_input(consultation.closes_at),
        "audience": consultation.audience,
        "settlement_ids": [str(s) for s in consultation.settlement_ids or []],
    }


def _posted_form() -> dict[str, Any]:
    form = request.form
    return {
        "title": _texts(form, "title"),
        "body": _texts(form, "body"),
        "decided_by": form.get("decided_by", ""),
        "opens_at": form.get("opens_at", "").strip(),
        "closes_at": form.get("closes_at", "").strip(),
        "audience": form.get("audience", ""),
        "settlement_ids": [v for v in form.getlist("settlement_ids") if v][:1000],
    }


def _spec(form: Mapping[str, Any]) -> cs.ConsultationSpec:
    return cs.ConsultationSpec(
        title=form["title"],
        body=form["body"],
        decided_by=form["decided_by"],
        opens_at=form["opens_at"],
        closes_at=form["closes_at"],
        audience=form["audience"],
        settlement_ids=form["settlement_ids"],
    )


def anchor(key: str) -> str:
    """The id of the input an error summary's link goes to."""
    base = key.split(".")[0]
    if base in ("title", "body", "summary"):
        lang = key.split(".")[1] if "." in key else "hy"
        return f"{base}_{lang}"
    return base


class ConsultationsView(BaseView):
    """A municipality's consultations: its administrators run them, auditors read."""

    route_base = "/admin/consultations"
    class_permission_name = "ConsultationsAdmin"
    method_permission_name = {
        "list": "list",
        "show": "list",
        "file": "list",
        "add": "add",
        "edit": "edit",
        "publish": "edit",
        "cancel": "edit",
        "upload": "edit",
        "remove_file": "edit",
        "hide": "edit",
        "unhide": "edit",
        "summary": "edit",
    }
    default_view = "list"

    # -- whose ----------------------------------------------------------------------------------

    def _municipality(self, actor: Actor) -> Municipality | None:
        """The actor's own municipality (consultations are run by the municipality's own
        people); ``None`` for a system administrator, who runs none: no picker here."""
        return own_municipality(actor)

    def _consultation(self, actor: Actor, consultation_id: int) -> Consultation:
        if actor.municipality_id is None or not access.staff_of(actor, actor.municipality_id):
            abort(404)
        try:
            return cs.get(db.session, actor, actor.municipality_id, consultation_id)
        except access.NotFound:
            abort(404)

    def _manager(self, actor: Actor, municipality_id: int) -> bool:
        return bool(self.appbuilder.sm.has_access("can_edit", self.class_permission_name)) and cs.may_manage(
            actor, municipality_id
        )

    def _settlements(self, municipality_id: int) -> dict[int, str]:
        stmt = access.within(select(Settlement), Settlement, municipality_id).where(Settlement.active.is_(True))
        locale = current_locale()
        return {
            s.id: pick({"hy": s.name_hy, "en": s.name_en or "", "ru": s.name_ru or ""}, locale)
            for s in db.session.execute(stmt.order_by(Settlement.name_hy)).scalars()
        }

    def _back(self, consultation: Consultation, anchor_id: str = ""):
        return redirect(url_for(".show", consultation_id=consultation.id) + (f"#{anchor_id}" if anchor_id else ""))

    # -- the list -------------------------------------------------------------------------------

    @expose("/")
    @has_access
    def list(self):
        actor = web.require_actor()
        municipality = self._municipality(actor)
        rows: list[cs.AdminRow] = []
        readable = municipality is not None and access.staff_of(actor, municipality.id)
        if municipality is not None and readable:
            rows = cs.admin_list(db.session, actor, municipality.id)
        return self.render_template(
            "admin/consultations/list.html",
            title=_("Consultations on draft decisions"),
            municipality=municipality,
            rows=rows,
            phases=PHASES,
            can_add=municipality is not None
            and self.appbuilder.sm.has_access("can_add", self.class_permission_name)
            and cs.may_manage(actor, municipality.id),
        )

    # -- one consultation -------------------------------------------------------------------------

    @expose("/<int:consultation_id>/")
    @has_access
    def show(self, consultation_id: int):
        actor = web.require_actor()
        return self._render_show(actor, self._consultation(actor, consultation_id))

    def _render_show(
        self,
        actor: Actor,
        consultation: Consultation,
        *,
        errors: Mapping[str, str] | None = None,
        form: Mapping[str, Any] | None = None,
        status: int = 200,
    ):
        phase = processes.phase(consultation)
        manager = self._manager(actor, consultation.municipality_id)
        municipality = db.session.get(Municipality, consultation.municipality_id)
        settlements = self._settlements(consultation.municipality_id)
        public_url = None
        if phase != "draft" and municipality is not None and PUBLIC_ENDPOINT in current_app.view_functions:
            public_url = url_for(PUBLIC_ENDPOINT, code=municipality.code, consultation_id=consultation.id)
        return self.render_template(
            "admin/consultations/show.html",
            title=pick(consultation.title, current_locale()),
            consultation=consultation,
            phase=phase,
            phases=PHASES,
            audiences=AUDIENCES,
            decided_by=cs.DECIDED_BY_LABELS,
            settlement_names=[settlements.get(s, "?") for s in consultation.settlement_ids or []],
            files=participation_files.files_of(
                db.session, consultation.municipality_id, ("consultation", consultation.id)
            ),
            comments=cs.thread(db.session, consultation, viewer=None, show_hidden=True),
            public_url=public_url,
            can_edit=manager and phase == "draft",
            can_publish=manager and phase == "draft",
            can_cancel=manager and phase != "cancelled" and consultation.summary_published_at is None,
            can_moderate=manager,
            can_summarise=manager and phase == "closed" and consultation.summary_published_at is None,
            errors=errors or {},
            form=form or {},
            anchor=anchor,
            languages=LANGUAGES,
            language_labels=LANGUAGE_LABELS,
            max_files=participation_files.MAX_DOCUMENTS,
            max_mb=participation_files.MAX_DOCUMENT_MB,
            accepted=", ".join(TYPE_LABELS[t] for t in participation_files.REQUIREMENTS["document"].types),
            max_reason=cs.MAX_REASON,
        ), status

    # -- create and edit --------------------------------------------------------------------------

    def _render_form(self, actor: Actor, municipality_id: int, form, *, consultation=None, errors=None, status=200):
        return self.render_template(
            "admin/consultations/form.html",
            title=_("Change the draft") if consultation is not None else _("New consultation"),
            consultation=consultation,
            form=form,
            errors=errors or {},
            anchor=anchor,
            languages=LANGUAGES,
            language_labels=LANGUAGE_LABELS,
            settlements=self._settlements(municipality_id),
            audiences=AUDIENCES,
            decided_by=cs.DECIDED_BY_LABELS,
            version=consultation.version if consultation is not None else None,
            max_title=cs.MAX_TITLE,
        ), status

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def add(self):
        actor = web.require_actor()
        municipality = self._municipality(actor)
        if municipality is None or not cs.may_manage(actor, municipality.id):
            abort(403)
        if request.method == "GET":
            return self._render_form(actor, municipality.id, _form_of(None))
        form = _posted_form()
        try:
            created = cs.create(db.session, actor, municipality.id, _spec(form), ip=request.remote_addr)
            db.session.commit()
        except processes.InvalidProcess as exc:
            db.session.rollback()
            return self._render_form(actor, municipality.id, form, errors=exc.errors, status=400)
        flash(_("The draft was saved. Add its files, check it, then publish it."), "success")
        return self._back(created)

    @expose("/<int:consultation_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, consultation_id: int):
        actor = web.require_actor()
        consultation = self._consultation(actor, consultation_id)
        if not self._manager(actor, consultation.municipality_id):
            abort(403)
        if request.method == "GET":
            return self._render_form(
                actor, consultation.municipality_id, _form_of(consultation), consultation=consultation
            )
        form = _posted_form()
        try:
            cs.update(
                db.session,
                actor,
                consultation,
                _spec(form),
                expected_version=request.form.get("version"),
                ip=request.remote_addr,
            )
            db.session.commit()
        except processes.InvalidProcess as exc:
            db.session.rollback()
            consultation = self._consultation(actor, consultation_id)
            return self._render_form(
                actor, consultation.municipality_id, form, consultation=consultation, errors=exc.errors, status=400
            )
        except (WorkflowError, StaleDataError) as exc:
            db.session.rollback()
            consultation = self._consultation(actor, consultation_id)
            message = str(exc) if isinstance(exc, WorkflowError) else _("Someone else changed it meanwhile.")
            return self._render_form(
                actor,
                consultation.municipality_id,
                form,
                consultation=consultation,
                errors={"form": message},
                status=409,
            )
        flash(_("The draft was saved."), "success")
        return self._back(consultation)

    # -- acts -------------------------------------------------------------------------------------

    def _act(self, consultation_id: int, act, success: str, *, field: str = "form", anchor_id: str = ""):
        """Run ``act(actor, consultation)``, commit, and go back to the page; a refusal is the
        page again with its message next to ``field`` (nothing changed)."""
        actor = web.require_actor()
        consultation = self._consultation(actor, consultation_id)
        if not self._manager(actor, consultation.municipality_id):
            abort(403)
        try:
            act(actor, consultation)
            db.session.commit()
        except processes.InvalidProcess as exc:
            db.session.rollback()
            consultation = self._consultation(actor, consultation_id)
            # A comment's reason field is named after the comment (one form per comment).
            errors = {(field if key == "reason" else key): message for key, message in exc.errors.items()}
            return self._render_show(actor, consultation, errors=errors, form=request.form, status=400)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        except (WorkflowError, StaleDataError) as exc:
            db.session.rollback()
            consultation = self._consultation(actor, consultation_id)
            message = str(exc) if isinstance(exc, WorkflowError) else _("Someone else changed it meanwhile.")
            return self._render_show(actor, consultation, errors={field: message}, form=request.form, status=409)
        flash(success, "success")
        return self._back(consultation, anchor_id)

    @expose("/<int:consultation_id>/publish", methods=["POST"])
    @has_access
    def publish(self, consultation_id: int):
        def act(actor: Actor, consultation: Consultation) -> None:
            cs.publish(
                db.session, actor, consultation, expected_version=request.form.get("version"), ip=request.remote_addr
            )

        return self._act(consultation_id, act, _("The consultation is published."))

    @expose("/<int:consultation_id>/cancel", methods=["POST"])
    @has_access
    def cancel(self, consultation_id: int):
        def act(actor: Actor, consultation: Consultation) -> None:
            cs.cancel(
                db.session,
                actor,
                consultation,
                reason=request.form.get("reason", ""),
                expected_version=request.form.get("version"),
                ip=request.remote_addr,
            )

        return self._act(consultation_id, act, _("The consultation was cancelled."), field="reason")

    @expose("/<int:consultation_id>/comments/<int:comment_id>/hide", methods=["POST"])
    @has_access
    def hide(self, consultation_id: int, comment_id: int):
        def act(actor: Actor, consultation: Consultation) -> None:
            comment = self._comment(consultation, comment_id)
            cs.hide(
                db.session,
                actor,
                consultation,
                comment,
                reason=request.form.get("reason", ""),
                config=current_app.config,
                ip=request.remote_addr,
            )

        return self._act(
            consultation_id,
            act,
            _("The comment is hidden; its author was told why."),
            field=f"reason-{comment_id}",
            anchor_id=f"comment-{comment_id}",
        )

    @expose("/<int:consultation_id>/comments/<int:comment_id>/unhide", methods=["POST"])
    @has_access
    def unhide(self, consultation_id: int, comment_id: int):
        def act(actor: Actor, consultation: Consultation) -> None:
            cs.unhide(db.session, actor, consultation, self._comment(consultation, comment_id), ip=request.remote_addr)

        return self._act(
            consultation_id,
            act,
            _("The comment is shown again."),
            field=f"reason-{comment_id}",
            anchor_id=f"comment-{comment_id}",
        )

    def _comment(self, consultation: Consultation, comment_id: int):
        try:
            return cs.get_comment(db.session, consultation, comment_id)
        except access.NotFound:
            abort(404)

    @expose("/<int:consultation_id>/summary", methods=["POST"])
    @has_access
    def summary(self, consultation_id: int):
        def act(actor: Actor, consultation: Consultation) -> None:
            cs.publish_summary(
                db.session,
                actor,
                consultation,
                summary=_texts(request.form, "summary"),
                decision_reference=request.form.get("decision_reference", ""),
                decision_url=request.form.get("decision_url", ""),
                ip=request.remote_addr,
            )

        return self._act(consultation_id, act, _("The summary is published."), field="summary")

    # -- files ------------------------------------------------------------------------------------

    @expose("/<int:consultation_id>/files", methods=["POST"])
    @has_access
    def upload(self, consultation_id: int):
        actor = web.require_actor()
        consultation = self._consultation(actor, consultation_id)
        if not self._manager(actor, consultation.municipality_id):
            abort(403)
        if processes.phase(consultation) != "draft":
            return self._render_show(
                actor, consultation, errors={"files": _("Files are added to a draft only.")}, status=409
            )
        uploads = participation_files.chosen(request.files.getlist("files"))
        if not uploads:
            return self._render_show(actor, consultation, errors={"files": _("Choose the files to add.")}, status=400)
        try:
            rows = participation_files.store(
                db.session,
                get_storage(current_app),
                municipality_id=consultation.municipality_id,
                owner=("consultation", consultation.id),
                uploads=uploads,
                kind="document",
            )
            cs.record_files(db.session, actor, consultation, added=[r.filename for r in rows], ip=request.remote_addr)
            db.session.commit()
        except UploadRefused as exc:
            db.session.rollback()
            consultation = self._consultation(actor, consultation_id)
            return self._render_show(actor, consultation, errors={"files": str(exc)}, status=400)
        except StorageError as exc:
            db.session.rollback()
            consultation = self._consultation(actor, consultation_id)
            message = participation_files.storage_problem(exc)
            return self._render_show(actor, consultation, errors={"files": message}, status=503)
        flash(_("The files were added."), "success")
        return self._back(consultation, "files")

    @expose("/<int:consultation_id>/files/<int:file_id>/remove", methods=["POST"])
    @has_access
    def remove_file(self, consultation_id: int, file_id: int):
        actor = web.require_actor()
        consultation = self._consultation(actor, consultation_id)
        if not self._manager(actor, consultation.municipality_id):
            abort(403)
        if processes.phase(consultation) != "draft":
            return self._render_show(
                actor, consultation, errors={"files": _("Files are removed from a draft only.")}, status=409
            )
        try:
            found = participation_files.get(
                db.session, consultation.municipality_id, ("consultation", consultation.id), file_id
            )
        except access.NotFound:
            abort(404)
        participation_files.delete(db.session, get_storage(current_app), actor, found, ip=request.remote_addr)
        flash(_("The file was removed."), "success")
        return self._back(consultation, "files")

    @expose("/<int:consultation_id>/files/<int:file_id>")
    @has_access
    def file(self, consultation_id: int, file_id: int):
        actor = web.require_actor()
        consultation = self._consultation(actor, consultation_id)
        try:
            opened = participation_files.open_file(
                db.session,
                get_storage(current_app),
                actor,
                municipality_id=consultation.municipality_id,
                owner=("consultation", consultation.id),
                file_id=file_id,
                channel=channels.OFFICE,
                ip=request.remote_addr,
            )
        except (access.NotFound, participation_files.FileMissing):
            abort(404)
        except participation_files.FileUnavailable:
            abort(503)
        response = send_file(opened.stream, mimetype=opened.content_type, etag=False, conditional=False, max_age=0)
        response.headers.update(opened.headers)
        return response
