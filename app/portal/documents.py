"""The citizen downloads the document their application ended with.

``GET /my/applications/<application_id>/document`` serves the document in force (the newest
valid one; a re-issue replaces it, a revocation withdraws it) of an application the signed-in
citizen may see (app.domain.access), opened and audit-logged by app.domain.issuing like every
other document. Another citizen's application and an application without a document in force
answer 404 in the portal's look; staff get 403 (they download on the case page).
"""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from app import web
from app.domain import channels, issuing, verification
from app.domain.errors import NotAllowed, WorkflowError
from app.domain.storage import get_storage
from app.extensions import current_flask_app, db
from app.portal.common import require_citizen
from app.portal.site import error_page

bp = Blueprint("documents", __name__)

for _code in (400, 403, 404, 405, 429):
    bp.register_error_handler(_code, error_page)


def _problem(title: str, message: str, status: int) -> ResponseReturnValue:
    body = render_template("portal/site/error.html", title=title, message=message, code=status)
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/my/applications/<int:application_id>/document")
def download(application_id: int) -> ResponseReturnValue:
    actor = require_citizen()
    application = web.application_or_404(application_id)
    current = verification.in_force(db.session, application)
    if current is None:
        return _problem(
            _("No document to download"),
            _("This application has no issued document in force. If you expected one, ask the municipality."),
            404,
        )
    try:
        opened = issuing.open_issued(
            db.session,
            get_storage(current_flask_app()),
            actor,
            application,
            current,
            channel=channels.ONLINE,
            ip=request.remote_addr,
        )
    except NotAllowed as exc:
        return _problem(_("Access denied"), str(exc), 403)
    except WorkflowError as exc:  # the file is missing, or the storage cannot be reached
        return _problem(_("The document cannot be opened now"), str(exc), 503)
    return web.send_document(opened)
