"""Error pages in the user's language: never a bare English page, a stack trace or SQL.

API paths (/api/) get JSON with the same message, so clients can show it too.

A 500 says "nothing was changed" only when it knows: when no commit was even begun during
the request. Once one was (it succeeded, or the connection broke during it, so its outcome is
unknown), the page says the request may have been recorded and asks to check before sending
it again (issue 12: 3 of 22 intake POSTs answered 500 on a lost PostgreSQL connection had
filed complete applications). A listener on every session notes the commit on ``g``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from app.extensions import current_appbuilder, db

MESSAGES = {
    400: (
        _l("The request could not be understood"),
        _l("Something in what was sent is not valid. Go back, check the form and try again."),
    ),
    403: (_l("Access denied"), _l("You do not have permission to do this.")),
    404: (_l("Not found"), _l("There is nothing at this address, or you may not see it.")),
    405: (_l("Not allowed"), _l("This page cannot be used this way.")),
    409: (_l("Changed meanwhile"), _l("Someone else changed this meanwhile. Reload the page and try again.")),
    413: (
        _l("Too large"),
        _l("What was sent is larger than this site accepts. Send smaller files, or fewer at a time."),
    ),
    429: (_l("Too many requests"), _l("Too many requests in a short time. Wait a moment and try again.")),
    500: (
        _l("Something went wrong"),
        _l(
            "The request could not be completed and nothing was changed. Try again later; if it keeps happening, tell the administrator."
        ),
    ),
}
# A 500 after a commit was begun: the change may be stored, so a blind resend could repeat it.
MAY_BE_RECORDED = (
    _l("Something went wrong"),
    _l(
        "The request could not be completed, but it may have been recorded before the error. Check (for example in the list, or by its tracking number) before sending it again; if it keeps happening, tell the administrator."
    ),
)
# g: set once a commit was begun while answering this request.
COMMIT_BEGUN = "hamaynk_commit_begun"


def _page(code: int, title: Any, message: Any, *, back_otherwise: str) -> tuple[str, int]:
    # Errors raised before FAB's before_request (routing, the CSRF check) leave g.user unset;
    # the menu needs it.
    if not hasattr(g, "user"):
        g.user = current_user
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else back_otherwise
    return render_template(
        "hamaynk/error.html", appbuilder=current_appbuilder(), title=title, message=message, back_url=back
    ), code


def _respond(code: int):
    title, message = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    if code == 500 and g.get(COMMIT_BEGUN):
        title, message = MAY_BE_RECORDED
    if request.path.startswith("/api/"):
        return jsonify({"message": str(message)}), code
    return _page(code, title, message, back_otherwise="/")


def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    # Flask-WTF's own answer is a bare English page; say what happened, in the user's language.
    # Nothing was written: the check runs before any view.
    return _page(
        400,
        _("The form could not be accepted"),
        _("The form has expired or did not come from this site. Go back, reload the page and send it again."),
        back_otherwise=request.path,
    )


def _commit_begun(_session: Session) -> None:
    # Before the COMMIT is sent: a connection lost during it leaves the outcome unknown too.
    if has_request_context():
        setattr(g, COMMIT_BEGUN, True)


_listening = False


def init_app(app: Flask) -> None:
    global _listening
    if not _listening:
        event.listen(Session, "before_commit", _commit_begun)
        _listening = True
    for code in (400, 403, 404, 405, 409, 413, 429):
        app.register_error_handler(code, lambda error, code=code: _respond(code))
    # More specific than the 400 above (CSRFError is a BadRequest), so Flask picks this one.
    app.register_error_handler(CSRFError, _csrf_refused)

    @app.errorhandler(500)
    def _server_error(error):
        # Whatever half-done work the failed request left in the session must not leak into
        # the next request on this thread.
        db.session.rollback()
        return _respond(500)

    @app.errorhandler(HTTPException)
    def _other_http(error: HTTPException):
        return _respond(error.code or 500)
