"""Consultations on draft decisions, the public's and the commenting citizen's side (issue 11).

* ``GET  /m/<code>/consultations/<id>/`` — the draft decision: its text and files, the
  comment period, the threaded comments with their supports (a hidden one shows the
  moderator's reason, never its text), and for a signed-in eligible citizen while it is open
  the comment, reply and support forms; at the end the summary and the decision's link.
* ``POST /m/<code>/consultations/<id>/comments`` — a comment, or a reply (``parent_id``).
* ``POST /m/<code>/consultations/<id>/comments/<comment_id>/support`` — support a comment.
* ``GET  /m/<code>/consultations/<id>/files/<file_id>`` — a file of the draft.

Thin: who may comment and what a comment may hold is app.domain.participation; a refusal is
the page again with the reason (400/409), and nothing written.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from app.domain import access, channels
from app.domain.access import Actor
from app.domain.participation import consultations as cs
from app.domain.participation import files as participation_files
from app.domain.participation import processes
from app.domain.storage import get_storage
from app.extensions import current_flask_app, db, limiter
from app.i18n import current_locale, tr
from app.models import Municipality
from app.models.participation import Consultation, Settlement
from app.portal.site import _municipality_or_404, error_page
from app.web import current_actor

bp = Blueprint("consultations", __name__)

for _code in (400, 403, 404, 405, 413, 429):
    bp.register_error_handler(_code, error_page)

# Commenting costs moderators time to read: generous, but no floods.
COMMENT_LIMIT = "20/hour;100/day"
SUPPORT_LIMIT = "120/hour"


def _consultation(code: str, consultation_id: int) -> tuple[Municipality, Consultation]:
    municipality = _municipality_or_404(code)
    try:
        return municipality, cs.get(db.session, current_actor(), municipality.id, consultation_id)
    except access.NotFound:
        abort(404)


def _standing(consultation: Consultation, actor: Actor | None) -> tuple[bool, str, str]:
    """(may take part, why not, advice: ``sign_in``, ``residency`` or ``""``)."""
    if actor is None:
        if processes.phase(consultation) != "open":
            return False, _processes_reason(consultation), ""
        return False, _("Sign in to comment and to support comments."), "sign_in"
    try:
        processes.eligible(db.session, actor.user_id, consultation)
    except processes.ParticipationRefused as exc:
        advice = "residency" if str(exc.message) == str(processes.NOT_A_RESIDENT) else ""
        return False, str(exc), advice
    return True, "", ""


def _processes_reason(consultation: Consultation) -> str:
    phase = processes.phase(consultation)
    if phase == "upcoming":
        return _("Comments open on %(when)s (Yerevan time).", when=processes.local_text(consultation.opens_at))
    if phase == "cancelled":
        return _("This consultation was cancelled.")
    if phase == "draft":
        return _("This consultation is a draft: it is not public yet.")
    return _("The comment period has ended.")


def _settlement_names(consultation: Consultation) -> list[str]:
    if not consultation.settlement_ids:
        return []
    stmt = access.within(select(Settlement), Settlement, consultation.municipality_id)
    stmt = stmt.where(Settlement.id.in_(list(consultation.settlement_ids))).order_by(Settlement.name_hy)
    locale = current_locale()
    return [getattr(s, f"name_{locale}", None) or s.name_hy for s in db.session.execute(stmt).scalars()]


def _render(
    municipality: Municipality,
    consultation: Consultation,
    *,
    errors: dict[str, str] | None = None,
    form: Any = None,
    status: int = 200,
) -> ResponseReturnValue:
    actor = current_actor()
    may, reason, advice = _standing(consultation, actor)
    comments = cs.thread(db.session, consultation, viewer=actor)
    body = render_template(
        "portal/consultations/show.html",
        title=tr(consultation.title),
        municipality=municipality,
        consultation=consultation,
        phase=processes.phase(consultation),
        files=participation_files.files_of(db.session, municipality.id, ("consultation", consultation.id)),
        comments=comments,
        comment_total=cs.count_comments(comments),
        settlements=_settlement_names(consultation),
        may_comment=may,
        why_not=reason,
        advice=advice,
        decided_by=cs.DECIDED_BY_LABELS.get(consultation.decided_by, consultation.decided_by),
        errors=errors or {},
        form=form or {},
        min_comment=cs.MIN_COMMENT,
        max_comment=cs.MAX_COMMENT,
    )
    response = make_response(body, status)
    # The page carries the viewer's own forms and supports: not for shared caches.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.route("/m/<code>/consultations/<int:consultation_id>/")
def show(code: str, consultation_id: int) -> ResponseReturnValue:
    municipality, consultation = _consultation(code, consultation_id)
    return _render(municipality, consultation)


def _refused(municipality: Municipality, consultation: Consultation, exc: Exception, field: str, form: Any):
    db.session.rollback()
    status = 400 if isinstance(exc, cs.InvalidComment) else 409
    return _render(
        municipality, _reload(municipality, consultation.id), errors={field: str(exc)}, form=form, status=status
    )


def _reload(municipality: Municipality, consultation_id: int) -> Consultation:
    try:
        return cs.get(db.session, current_actor(), municipality.id, consultation_id)
    except access.NotFound:
        abort(404)


def _signed_in_citizen(code: str, consultation_id: int) -> Actor:
    actor = current_actor()
    if actor is None:
        flash(_("Sign in to comment and to support comments."), "warning")
        target = url_for("account.login", next=url_for(".show", code=code, consultation_id=consultation_id))
        abort(redirect(target, 303))
    return actor


@bp.route("/m/<code>/consultations/<int:consultation_id>/comments", methods=["POST"])
@limiter.limit(COMMENT_LIMIT)
def comment(code: str, consultation_id: int) -> ResponseReturnValue:
    municipality, consultation = _consultation(code, consultation_id)
    actor = _signed_in_citizen(code, consultation_id)
    form = request.form
    parent = form.get("parent_id") or None
    field = f"reply-{parent}" if parent else "body"
    try:
        added = cs.add_comment(db.session, actor, consultation, body=form.get("body"), parent_id=parent)
        db.session.commit()
    except processes.ParticipationRefused as exc:
        return _refused(municipality, consultation, exc, field, form)
    flash(_("Your comment was published."), "success")
    return redirect(url_for(".show", code=code, consultation_id=consultation_id) + f"#comment-{added.id}", 303)


@bp.route("/m/<code>/consultations/<int:consultation_id>/comments/<int:comment_id>/support", methods=["POST"])
@limiter.limit(SUPPORT_LIMIT)
def support(code: str, consultation_id: int, comment_id: int) -> ResponseReturnValue:
    municipality, consultation = _consultation(code, consultation_id)
    actor = _signed_in_citizen(code, consultation_id)
    try:
        found = cs.get_comment(db.session, consultation, comment_id)
    except access.NotFound:
        abort(404)
    try:
        cs.support(db.session, actor, consultation, found)
        db.session.commit()
    except processes.ParticipationRefused as exc:
        return _refused(municipality, consultation, exc, f"support-{comment_id}", {})
    flash(_("You support this comment."), "success")
    return redirect(url_for(".show", code=code, consultation_id=consultation_id) + f"#comment-{comment_id}", 303)


@bp.route("/m/<code>/consultations/<int:consultation_id>/files/<int:file_id>")
def file(code: str, consultation_id: int, file_id: int) -> ResponseReturnValue:
    municipality, consultation = _consultation(code, consultation_id)
    try:
        opened = participation_files.open_file(
            db.session,
            get_storage(current_flask_app()),
            current_actor(),
            municipality_id=municipality.id,
            owner=("consultation", consultation.id),
            file_id=file_id,
            channel=channels.ONLINE,
            ip=request.remote_addr,
        )
    except (access.NotFound, participation_files.FileMissing):
        abort(404)
    except participation_files.FileUnavailable:
        abort(503)
    response = send_file(opened.stream, mimetype=opened.content_type, etag=False, conditional=False, max_age=0)
    response.headers.update(opened.headers)
    return response
