"""In-app notices (the bell with the unread count) and unsubscribing from e-mails that are not essential.

``notices.index``        ``/my/notices/``: the signed-in citizen's notices, newest first, the
                         unread ones marked.
``notices.read``         POST ``/my/notices/read``: mark one notice (``notice``) or all of
                         them (``all``) read.
``notices.unsubscribe``  ``/notices/unsubscribe/<token>``: the link in each e-mail of a notice
                         that is not essential (and its List-Unsubscribe header). One click
                         (GET, or the mail program's RFC 8058 POST) turns those notices off
                         and says so; a forged or expired link changes nothing.

Thin: what a citizen's notices are and what unsubscribing changes is
:mod:`app.domain.citizen_notices`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app import limits
from app.domain import access, citizen_notices, inputs
from app.extensions import csrf, db
from app.portal.common import citizen, link, require_citizen

bp = Blueprint("notices", __name__)

PER_PAGE = 20
MAX_PAGE = 10_000


@bp.app_context_processor
def _bell() -> dict[str, Any]:
    def unread_notices() -> int | None:
        """The signed-in citizen's unread notices, or ``None`` for anyone else (no bell)."""
        actor = citizen()
        if actor is None:
            return None
        return citizen_notices.unread_count(db.session, actor)

    return {"portal_unread_notices": unread_notices}


def _paragraphs(body: str) -> list[list[str]]:
    """A notice's text as paragraphs of lines, as it was written (blank lines part them)."""
    paragraphs: list[list[str]] = [[]]
    for line in body.splitlines():
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


@bp.get("/my/notices/")
def index() -> ResponseReturnValue:
    actor = require_citizen()
    page_number = inputs.whole_number(request.args.get("page"), MAX_PAGE) or 1
    page = citizen_notices.notices_page(db.session, actor, page_number, PER_PAGE)
    items = [
        {
            "row": row,
            "paragraphs": _paragraphs(row.body),
            "application_url": link("mine.show", application_id=row.application_id) if row.application_id else None,
        }
        for row in page.rows
    ]
    return render_template(
        "portal/notices/index.html",
        title=_("Notices"),
        page=page,
        items=items,
        prev_url=url_for(".index", page=page.page - 1) if page.page > 1 else None,
        next_url=url_for(".index", page=page.page + 1) if page.page < page.pages else None,
    )


@bp.post("/my/notices/read")
def read() -> ResponseReturnValue:
    actor = require_citizen()
    if request.form.get("all"):
        changed = citizen_notices.mark_read(db.session, actor)
        db.session.commit()
        flash(_("All notices are marked as read.") if changed else _("There were no unread notices."), "success")
        return redirect(url_for(".index"), 303)
    notice_id = inputs.whole_number(request.form.get("notice"), inputs.MAX_ID)
    if notice_id is None:
        flash(_("Choose the notice to mark as read."), "error")
        return redirect(url_for(".index"), 303)
    try:
        citizen_notices.mark_read(db.session, actor, notice_id)
    except access.NotFound:
        db.session.rollback()
        abort(404)
    db.session.commit()
    flash(_("The notice is marked as read."), "success")
    page = inputs.whole_number(request.form.get("page"), MAX_PAGE)
    return redirect(url_for(".index", page=page) if page and page > 1 else url_for(".index"), 303)


@bp.route("/notices/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # mail programs' one-click POST (RFC 8058) has no form token; the link is the secret
@limits.limited("HAMAYNK_LIMIT_LINKS", failures_only=True, methods=("GET", "POST"))
def unsubscribe(token: str) -> ResponseReturnValue:
    try:
        user_id = citizen_notices.user_of_unsubscribe_token(current_app.config, token)
    except citizen_notices.BadToken as exc:
        expired = str(exc) == "expired"
        return (
            render_template(
                "portal/notices/unsubscribe.html",
                title=_("This link has expired") if expired else _("This link does not work"),
                done=False,
                expired=expired,
            ),
            400,
        )
    changed = citizen_notices.unsubscribe(db.session, user_id)
    db.session.commit()
    return render_template(
        "portal/notices/unsubscribe.html",
        title=_("Notices turned off"),
        done=changed,
        expired=False,
    )
