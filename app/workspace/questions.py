"""The "Questions" tab of the workspace: citizens' questions to the municipality, their age
and answer deadline, the thread, answering (with attachments), handing a question to another
department or colleague, closing it.

Thin: what each role may see and do is app.domain.questions (and its loaders in
app.domain.access). It uses the workspace's permissions: everyone with an inbox reads
(``can_list``/``can_show``), caseworkers act (``can_act``) and open attachments
(``can_document``); auditors only read. Another municipality's question is a 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import abort, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.domain import access, channels, deadlines
from app.domain import questions as qs
from app.domain.access import Actor
from app.domain.errors import InvalidAction, NotAllowed, WorkflowError
from app.domain.storage import StorageError, get_storage
from app.extensions import current_flask_app, db
from app.i18n import current_locale
from app.workspace import permissions as workspace_permissions


class QuestionsView(BaseView):
    route_base = "/workspace/questions"
    class_permission_name = workspace_permissions.NAME
    base_permissions = workspace_permissions.PERMISSIONS
    method_permission_name = {
        "list": "list",
        "show": "show",
        "answer": "act",
        "close": "act",
        "reassign": "act",
        "attachment": "document",
    }
    default_view = "list"

    def _actor(self) -> Actor:
        return web.require_actor()

    def _may(self, permission: str) -> bool:
        return bool(self.appbuilder.sm.has_access(permission, self.class_permission_name))

    def _question(self, actor: Actor, question_id: int):
        try:
            return access.get_question(db.session, actor, question_id)
        except access.NotFound:
            abort(404)

    def _error(self, message: str, status: int):
        return self.render_template(
            "hamaynk/error.html", title=_("Questions"), message=message, back_url=url_for(".list")
        ), status

    # -- the list -------------------------------------------------------------------------

    @expose("/")
    @has_access
    def list(self):
        actor = self._actor()
        views = qs.views_for(actor)
        if not views:
            return self._error(_("Your account does not belong to a municipality, so it has no questions."), 403)
        asked = request.args.get("view", "")
        view = asked if asked in views else views[0]
        problems: list[str] = []
        status = request.args.get("status", qs.OPEN)
        if status not in (*qs.STATUSES, "any"):
            problems.append(_("There is no such status; the status filter was ignored."))
            status = qs.OPEN
        overdue = request.args.get("overdue") == "1"
        filters = qs.StaffFilters(status=None if status == "any" else status, overdue=overdue)
        page = qs.staff_list(db.session, actor, view, current_locale(), filters)
        args = {"view": view, "status": status}
        if overdue:
            args["overdue"] = "1"
        open_count = qs.open_count(db.session, actor)
        response = make_response(
            self.render_template(
                "workspace/questions.html",
                title=_("Questions"),
                views=[(v, qs.VIEW_LABELS[v]) for v in views],
                view=view,
                view_url=lambda v: url_for(".list") + "?" + urlencode({**args, "view": v}),
                status=status,
                statuses=[(s, qs.STATUS_LABELS[s]) for s in qs.STATUSES],
                overdue=overdue,
                page=page,
                problems=problems,
                open_count=open_count,
                settings_url=url_for("ServicesView.answer_days")
                if "ServicesView.answer_days" in current_flask_app().view_functions
                and self.appbuilder.sm.has_access("can_edit", "ServicesAdmin")
                else None,
                limit=qs.LIST_LIMIT,
            )
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- the thread -----------------------------------------------------------------------

    def _thread(self, actor: Actor, question_id: int) -> qs.Thread:
        try:
            return qs.load_thread(db.session, actor, question_id, current_locale())
        except access.NotFound:
            abort(404)

    def _render(self, actor: Actor, thread: qs.Thread, *, errors=None, form=None, status: int = 200):
        question = thread.question
        may_act = self._may("can_act")
        departments, people = (
            qs.reassign_choices(db.session, question) if may_act and qs.may_reassign(actor, question) else ([], [])
        )
        response = make_response(
            self.render_template(
                "workspace/questions_thread.html",
                title=_("Question: %(subject)s", subject=question.subject),
                thread=thread,
                may_answer=may_act and qs.may_answer(actor, question) and question.status != qs.CLOSED,
                may_close=may_act and qs.may_close(actor, question) and question.status != qs.CLOSED,
                may_reassign=bool(departments or people) and question.status != qs.CLOSED,
                may_open=self._may("can_document") and qs.may_open_attachments(actor, question),
                departments=departments,
                people=people,
                errors=errors or {},
                form=form or {},
                max_body=qs.MAX_BODY,
                max_attachments=qs.MAX_ATTACHMENTS,
                max_attachment_mb=qs.MAX_ATTACHMENT_MB,
                today=deadlines.today(),
            ),
            status,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/<int:question_id>")
    @has_access
    def show(self, question_id: int):
        actor = self._actor()
        thread = self._thread(actor, question_id)
        response = self._render(actor, thread)
        if self._may("can_act") and qs.mark_read(db.session, actor, thread.question):
            db.session.commit()
        return response

    def _fail(self, actor: Actor, question_id: int, exc: Exception):
        db.session.rollback()
        thread = self._thread(actor, question_id)
        if isinstance(exc, qs.InvalidQuestion):
            return self._render(actor, thread, errors=exc.errors, form=request.form, status=400)
        if isinstance(exc, StorageError):
            message = qs.attachments_problem(exc)
            return self._render(actor, thread, errors={"attachments": message}, form=request.form, status=503)
        status = 403 if isinstance(exc, NotAllowed) else 409 if isinstance(exc, InvalidAction) else 400
        return self._render(actor, thread, errors={"form": str(exc)}, form=request.form, status=status)

    @expose("/<int:question_id>/answer", methods=["POST"])
    @has_access
    def answer(self, question_id: int):
        actor = self._actor()
        question = self._question(actor, question_id)
        try:
            qs.answer(
                db.session,
                get_storage(current_flask_app()),
                actor,
                question,
                body=request.form.get("body"),
                files=request.files.getlist("attachments"),
                close=request.form.get("close") == "1",
                config=current_flask_app().config,
            )
            db.session.commit()
        except (WorkflowError, StorageError) as exc:
            return self._fail(actor, question_id, exc)
        flash(_("The answer was sent to the citizen."), "success")
        return redirect(url_for(".show", question_id=question_id), 303)

    @expose("/<int:question_id>/close", methods=["POST"])
    @has_access
    def close(self, question_id: int):
        actor = self._actor()
        question = self._question(actor, question_id)
        try:
            qs.close(db.session, actor, question, ip=request.remote_addr)
            db.session.commit()
        except WorkflowError as exc:
            return self._fail(actor, question_id, exc)
        flash(_("The question is closed."), "success")
        return redirect(url_for(".show", question_id=question_id), 303)

    @expose("/<int:question_id>/reassign", methods=["POST"])
    @has_access
    def reassign(self, question_id: int):
        actor = self._actor()
        question = self._question(actor, question_id)
        try:
            qs.reassign(
                db.session,
                actor,
                question,
                department_id=request.form.get("department_id"),
                assignee_id=request.form.get("assignee_id"),
                config=current_flask_app().config,
                ip=request.remote_addr,
            )
            db.session.commit()
        except WorkflowError as exc:
            return self._fail(actor, question_id, exc)
        flash(_("The question was handed over."), "success")
        return redirect(url_for(".show", question_id=question_id), 303)

    @expose("/<int:question_id>/attachments/<int:attachment_id>")
    @has_access
    def attachment(self, question_id: int, attachment_id: int):
        actor = self._actor()
        try:
            question, found = access.get_question_attachment(db.session, actor, question_id, attachment_id)
        except access.NotFound:
            abort(404)
        try:
            opened = qs.open_attachment(
                db.session,
                get_storage(current_flask_app()),
                actor,
                question,
                found,
                channel=channels.OFFICE,
                ip=request.remote_addr,
            )
        except NotAllowed as exc:
            return self._error(str(exc), 403)
        except qs.AttachmentMissing as exc:
            return self._error(str(exc), 404)
        except qs.AttachmentUnavailable as exc:
            return self._error(str(exc), 503)
        return web.send_document(opened)


def open_questions() -> int | None:
    """For the workspace's pages (a template global): how many questions wait for an answer
    in the signed-in person's first questions list; ``None`` when they have no such list."""
    actor = web.current_actor()
    if actor is None or not actor.active:
        return None
    return qs.open_count(db.session, actor)
