"""Error pages in the user's language: never a bare English page, a stack trace or SQL.

API paths (/api/) get JSON with the same message, so clients can show it too.
"""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from app.extensions import db

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


def _respond(code: int):
    title, message = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    if request.path.startswith("/api/"):
        return jsonify({"message": str(message)}), code
    # Errors raised before FAB's before_request (e.g. routing) leave g.user unset; the menu needs it.
    if not hasattr(g, "user"):
        g.user = current_user
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else "/"
    return render_template(
        "hamaynk/error.html", appbuilder=current_app.appbuilder, title=title, message=message, back_url=back
    ), code


def init_app(app: Flask) -> None:
    for code in (400, 403, 404, 405, 409, 413, 429):
        app.register_error_handler(code, lambda error, code=code: _respond(code))

    @app.errorhandler(500)
    def _server_error(error):
        # Whatever half-done work the failed request left in the session must not leak into
        # the next request on this thread.
        db.session.rollback()
        return _respond(500)

    @app.errorhandler(HTTPException)
    def _other_http(error: HTTPException):
        return _respond(error.code or 500)
