"""Questions to the specialist, the citizen's side (staff answer in app.workspace).

Thin: who may see, ask, reply and open what is app.domain.questions (and its loaders in
app.domain.access); another citizen's question, or one that does not exist, is a plain 404 on
every page here, as is an application that is not the citizen's own.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from app.domain import access, channels, inputs
from app.domain import questions as qs
from app.domain.access import MAX_PK, Actor
from app.domain.errors import NotAllowed, WorkflowError
from app.domain.storage import StorageError, get_storage
from app.extensions import current_flask_app, db, limiter
from app.i18n import current_locale
from app.models import Municipality
from app.plugins import runtime as plugin_runtime
from app.portal.common import require_citizen

bp = Blueprint("questions", __name__)

# Asking is cheap to try and costs staff time to read: a generous limit that stops floods.
ASK_LIMIT = "20/hour;100/day"


def _no_store(response: Any) -> Any:
    response = make_response(response)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _question(actor: Actor, question_id: int):
    try:
        return access.get_question(db.session, actor, question_id)
    except access.NotFound:
        abort(404)


def _owned_application(actor: Actor, raw: str | None):
    """The citizen's own filed application named by ``?application_id=``, ``None`` when none
    is named; 404 for anything else (someone else's, a draft, garbage)."""
    if raw in (None, ""):
        return None
    number = inputs.whole_number(raw, MAX_PK)
    if number is None:
        abort(404)
    try:
        application = access.get_application(db.session, actor, number)
    except access.NotFound:
        abort(404)
    if application.applicant_user_id != actor.user_id or application.status == "draft":
        abort(404)
    return application


@bp.route("/my/questions/")
def index():
    actor = require_citizen()
    rows = qs.citizen_list(db.session, actor, current_locale())
    return _no_store(render_template("portal/questions/index.html", title=_("My questions"), rows=rows))


def _chosen_municipality(raw: str | None) -> Municipality | None:
    number = inputs.whole_number(raw, MAX_PK) if raw else None
    if number is None:
        return None
    municipality = db.session.get(Municipality, number)
    return municipality if municipality is not None and municipality.active else None


def _render_new(actor: Actor, *, application=None, errors: dict[str, str] | None = None, form=None, status=200):
    form = form or {}
    errors = errors or {}
    municipality = None
    departments: list[Any] = []
    municipalities: list[Municipality] = []
    if application is None:
        municipality = _chosen_municipality(form.get("municipality_id") or request.args.get("municipality_id"))
        municipalities = qs.active_municipalities(db.session)
        if municipality is not None:
            departments = qs.public_departments(db.session, municipality.id)
    return _no_store(
        (
            render_template(
                "portal/questions/new.html",
                title=_("Ask a question"),
                application=application,
                municipality=municipality,
                municipalities=municipalities,
                departments=departments,
                errors=errors,
                form=form,
                max_subject=qs.MAX_SUBJECT,
                max_body=qs.MAX_BODY,
                max_attachments=qs.MAX_ATTACHMENTS,
                max_attachment_mb=qs.MAX_ATTACHMENT_MB,
            ),
            status,
        )
    )


@bp.route("/my/questions/new", methods=["GET", "POST"])
@limiter.limit(ASK_LIMIT, methods=["POST"])
def new():
    actor = require_citizen()
    application = _owned_application(actor, request.values.get("application_id"))
    if qs.application_closed(application):
        # Closed applications take no questions (the domain refuses them too): the general form.
        flash(str(qs.APPLICATION_CLOSED), "warning")
        return redirect(url_for(".new"), 303)
    if request.method == "GET":
        return _render_new(actor, application=application)
    form = request.form
    try:
        question = qs.ask(
            db.session,
            get_storage(current_flask_app()),
            actor,
            subject=form.get("subject"),
            body=form.get("body"),
            files=request.files.getlist("attachments"),
            application_id=application.id if application is not None else None,
            municipality_id=None if application is not None else form.get("municipality_id"),
            department_id=None if application is not None else form.get("department_id"),
            registry=plugin_runtime.registry(),
            config=current_flask_app().config,
        )
        db.session.commit()
    except qs.InvalidQuestion as exc:
        db.session.rollback()
        return _render_new(actor, application=application, errors=exc.errors, form=form, status=400)
    except access.NotFound:
        db.session.rollback()
        abort(404)
    except StorageError as exc:
        db.session.rollback()
        message = qs.attachments_problem(exc)
        return _render_new(actor, application=application, errors={"attachments": message}, form=form, status=503)
    flash(_("Your question was sent. You will be told when it is answered."), "success")
    return redirect(url_for(".show", question_id=question.id), 303)


def _thread(actor: Actor, question_id: int) -> qs.Thread:
    try:
        return qs.load_thread(db.session, actor, question_id, current_locale())
    except access.NotFound:
        abort(404)


def _render_show(actor: Actor, thread: qs.Thread, *, errors: dict[str, str] | None = None, form=None, status=200):
    return _no_store(
        (
            render_template(
                "portal/questions/show.html",
                title=_("Question: %(subject)s", subject=thread.question.subject),
                thread=thread,
                may_reply=qs.may_follow_up_thread(actor, thread),
                errors=errors or {},
                form=form or {},
                max_body=qs.MAX_BODY,
                max_attachments=qs.MAX_ATTACHMENTS,
                max_attachment_mb=qs.MAX_ATTACHMENT_MB,
            ),
            status,
        )
    )


@bp.route("/my/questions/<int:question_id>", methods=["GET", "POST"])
@limiter.limit(ASK_LIMIT, methods=["POST"])
def show(question_id: int):
    actor = require_citizen()
    if request.method == "GET":
        thread = _thread(actor, question_id)
        response = _render_show(actor, thread)
        # Reading the page reads the answers: marked after it rendered, committed by itself.
        if qs.mark_read(db.session, actor, thread.question):
            db.session.commit()
        return response
    question = _question(actor, question_id)
    form = request.form
    try:
        qs.reply(
            db.session,
            get_storage(current_flask_app()),
            actor,
            question,
            body=form.get("body"),
            files=request.files.getlist("attachments"),
            config=current_flask_app().config,
        )
        db.session.commit()
    except qs.InvalidQuestion as exc:
        db.session.rollback()
        return _render_show(actor, _thread(actor, question_id), errors=exc.errors, form=form, status=400)
    except StorageError as exc:
        db.session.rollback()
        message = qs.attachments_problem(exc)
        return _render_show(actor, _thread(actor, question_id), errors={"attachments": message}, form=form, status=503)
    except WorkflowError as exc:
        db.session.rollback()
        return _render_show(actor, _thread(actor, question_id), errors={"body": str(exc)}, form=form, status=409)
    flash(_("Your message was sent."), "success")
    return redirect(url_for(".show", question_id=question_id), 303)


@bp.route("/my/questions/<int:question_id>/attachments/<int:attachment_id>")
def attachment(question_id: int, attachment_id: int):
    actor = require_citizen()
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
            channel=channels.ONLINE,
            ip=request.remote_addr,
        )
    except NotAllowed:
        abort(404)
    except qs.AttachmentMissing:
        abort(404)
    except qs.AttachmentUnavailable:
        abort(503)
    response = send_file(opened.stream, mimetype=opened.content_type, etag=False, conditional=False, max_age=0)
    response.headers.update(opened.headers)
    return response
