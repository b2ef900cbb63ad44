"""Public verification of an issued document: anyone holding one (or a copy) checks it here.

* ``GET /verify/`` — a form to type the code printed on the document (``?code=`` sends it);
  a well-formed code goes on to its page, anything else is told how a code looks.
* ``GET /verify/<code>`` — what the QR code on the document opens: issuer, service, number,
  issue date, the holder's initials only, the status (valid, superseded and by which document,
  revoked with the date and the reason) and the sha256 (app.domain.verification). A malformed
  code and one that names no document get the same "not found" page, so the address reveals
  nothing.
* ``POST /verify/<code>`` — upload a file: is it byte-for-byte the document issued?

Look-ups (GET and POST of a code's page) are rate-limited per client address by
``HAMAYNK_LIMIT_VERIFY`` (Flask-Limiter's notation); over the limit the answer is the portal's
"too many requests" page in the reader's language (HTTP 429).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address

from app.domain import issuing, verification
from app.extensions import db, limiter
from app.i18n import current_locale
from app.plugins import runtime as plugin_runtime
from app.portal.site import error_page

bp = Blueprint("verify", __name__, url_prefix="/verify")

LIMIT_SETTING = "HAMAYNK_LIMIT_VERIFY"
DEFAULT_LIMIT = "20 per minute; 200 per hour"
# Longest code read as typed (with spaces and dashes); anything longer is not a code.
MAX_TYPED = 64
EXAMPLE = "K7QM-3XZP-9D2H-T4WA"

for _code in (400, 403, 404, 405, 413, 429):
    bp.register_error_handler(_code, error_page)


def _limit() -> str:
    return str(current_app.config.get(LIMIT_SETTING) or DEFAULT_LIMIT)


def _limited(view: Callable[..., Any]) -> Callable[..., Any]:
    return limiter.limit(_limit, key_func=get_remote_address, methods=["GET", "POST"])(view)


def _respond(body: str, status: int = 200) -> ResponseReturnValue:
    response = make_response(body, status)
    # A code in the address is as good as the document: never sent on as a referrer, kept in
    # a shared cache or indexed; the status may change (a revocation) at any moment.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _form_page(typed: str = "", error: str | None = None, status: int = 200) -> ResponseReturnValue:
    return _respond(
        render_template(
            "portal/verify/form.html",
            title=_("Verify a document"),
            typed=typed,
            error=error,
            example=EXAMPLE,
            max_typed=MAX_TYPED,
        ),
        status,
    )


def _not_found() -> ResponseReturnValue:
    # The same page, word for word, for a malformed code and for one no document has.
    return _respond(
        render_template(
            "portal/verify/not_found.html",
            title=_("No document with this code"),
            example=EXAMPLE,
            max_typed=MAX_TYPED,
        ),
        404,
    )


@bp.route("/", methods=["GET"])
def form() -> ResponseReturnValue:
    """The form; with ``?code=`` a well-formed code goes on to its page."""
    raw = request.args.get("code")
    if raw is None:
        return _form_page()
    typed = raw[: MAX_TYPED + 1].strip() if isinstance(raw, str) else ""
    if not typed:
        return _form_page(error=_("Enter the verification code printed on the document."), status=400)
    code = issuing.normalize_code(typed) if len(typed) <= MAX_TYPED else None
    if code is None:
        return _form_page(
            typed[:MAX_TYPED],
            _(
                "This is not a verification code. It has 16 letters and digits, printed on the document "
                "next to the QR code, e.g. %(example)s.",
                example=EXAMPLE,
            ),
            400,
        )
    return redirect(url_for(".show", code=issuing.format_code(code)), 303)


def _page(found: verification.PublicDocument, *, result: str | None = None, error: str | None = None, status=200):
    return _respond(
        render_template(
            "portal/verify/show.html",
            title=_("Document %(number)s", number=found.number),
            found=found,
            result=result,
            error=error,
            max_mb=verification.MAX_COPY_BYTES // (1024 * 1024),
        ),
        status,
    )


@bp.route("/<code>", methods=["GET", "POST"])
@_limited
def show(code: str) -> ResponseReturnValue:
    """A document's verification page; POST checks an uploaded copy against it."""
    typed = code[:MAX_TYPED] if isinstance(code, str) else ""
    normalized = issuing.normalize_code(typed) if len(code) <= MAX_TYPED else None
    if normalized is None:
        return _not_found()
    canonical = issuing.format_code(normalized)
    if request.method == "GET" and code != canonical:
        # Typed by hand (lower case, no dashes, O for 0): the printed form, one address per document.
        return redirect(url_for(".show", code=canonical), 301)
    found = verification.find(db.session, normalized, registry=plugin_runtime.registry(), locale=current_locale())
    if found is None:
        return _not_found()
    if request.method == "GET":
        return _page(found)
    return _check(found, normalized)


def _check(found: verification.PublicDocument, code: str) -> ResponseReturnValue:
    upload = request.files.get("copy")
    if upload is None or not upload.filename:
        return _page(found, error=_("Choose the file to check: the PDF you were given."), status=400)
    if request.content_length is not None and request.content_length > verification.MAX_COPY_BYTES + 64 * 1024:
        return _page(found, error=str(verification.CopyTooLarge()), status=413)
    try:
        same = verification.check_copy(db.session, code, upload.stream)
    except verification.CopyTooLarge as exc:
        return _page(found, error=str(exc), status=413)
    finally:
        upload.close()
    return _page(found, result="match" if same else "mismatch")
