"""One input-cleaning layer in front of every view, Flask-AppBuilder's included.

Every query-string value, form field, uploaded file's name, JSON string and path argument is
checked before any view (or anything it calls) can store it, search with it or convert it:

- text is UTF-8, has no NUL or other C0 controls but tab/CR/LF, no lone surrogates, and no
  value is longer than :data:`app.domain.inputs.MAX_TEXT` (app.domain.inputs says why);
- integers that name rows or pages are bounded: Flask-AppBuilder's ``page_<View>`` and
  ``psize_<View>`` (it multiplies them into an OFFSET), ``rowid`` of its list actions, form fields
  named ``*_id`` (staff, department and municipality pickers) and integer path arguments;
- files arrive only where files are expected (:data:`FILE_FIELDS`): elsewhere a file part where
  a text field should be reached code that calls ``len()`` or a regular expression on it.

A refusal is a 400 with a message in the user's language (JSON under /api/), and the view never
runs, so nothing was changed. The checks themselves live in app.domain.inputs, shared with the
domain; this module only decides which request value gets which check.

Rows stored before these checks existed may still hold a lone surrogate: :func:`_printable`
(wrapped around Jinja's ``finalize``) prints U+FFFD for it, so such a row cannot make its page
fail for ever.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, abort, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_appbuilder.baseviews import BaseCRUDView
from flask_babel import gettext as _
from flask_login import current_user

from app.domain import inputs
from app.extensions import current_appbuilder

# Endpoints that take uploads, and the names of their file fields. Every other endpoint, and
# every other field of these, refuses a file part. A new upload form adds its endpoint here.
_DOCUMENTS = re.compile(r"doc-[A-Za-z0-9_.-]{1,100}")
_ATTACHMENTS = re.compile(r"attachments")
FILE_FIELDS: Mapping[str, re.Pattern[str]] = {
    # Office intake (documents, also staged across a refused submission).
    "OfficeView.new": _DOCUMENTS,
    # Portal application: the documents stage of a draft.
    "apply.stage": _DOCUMENTS,
    # Corrections: by the citizen, and resubmitted at the desk on the citizen's behalf.
    "mine.correct": _DOCUMENTS,
    "WorkspaceView.act": _DOCUMENTS,
    # Question attachments: citizen's question and reply, the specialist's answer.
    "questions.new": _ATTACHMENTS,
    "questions.show": _ATTACHMENTS,
    # A resident's proposal and its photos (app.portal.proposals).
    "proposals.new": re.compile(r"photos"),
    "QuestionsView.answer": _ATTACHMENTS,
    # Verification: the copy a visitor checks against an issued document.
    "verify.show": re.compile(r"copy"),
    "CoatOfArmsView.upload": re.compile(r"image"),
    # A poll's attachments (app.admin.polls).
    "PollsView.upload": _ATTACHMENTS,
    # A consultation's draft documents (app.admin.consultations).
    "ConsultationsView.upload": re.compile(r"files"),
    # The builder's definition file (YAML or JSON).
    "ServiceBuilderView.import_definition": re.compile(r"file"),
}
# Forms whose field names come from service declarations (a plug-in's or an administrator's
# ``parcel_id`` may be text): their fields are checked by the declared field types instead of
# the ``*_id`` rule below.
DECLARED_FIELDS = frozenset({"OfficeView.new", "apply.stage", "mine.correct", "WorkspaceView.act"})

# Flask-AppBuilder reads every argument *containing* ``page_`` or ``psize_`` as an int
# (re.findall, not match), and multiplies page by size into the query's OFFSET.
_FAB_PAGING = re.compile(r"(page|psize)_")
MAX_PAGE = 10**9
MAX_PAGE_SIZE = 1000
# Form fields and query arguments that name rows.
_ID_NAME = re.compile(r"(?:.*_)?ids?|pk|rowid")
# Path arguments a view treats as row keys: Flask-AppBuilder's ``<pk>`` is a string.
_PATH_KEYS = ("pk",)


class Refused(Exception):
    """A request value fails a check; ``message`` says which way, ``errors`` maps the fields
    whose names are safe to echo to their problems (for API clients)."""

    def __init__(self, message: str, field: str | None = None, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or ({field: message} if field else {}))


# -- the checks, per part of the request ------------------------------------------------------


def _text(name: str, value: str) -> None:
    problem = inputs.text_problem(name)
    if problem:
        raise Refused(problem)
    problem = inputs.text_problem(value)
    if problem:
        raise Refused(problem, name)


def _row_number(name: str, value: str) -> None:
    if name == "rowid" or name == "pk":
        if value.strip() and inputs.whole_number(value, inputs.MAX_ID, minimum=0) is None:
            raise Refused(_("The selected rows are not valid; reload the list and choose again."), name)
    elif inputs.too_large_number(value):
        raise Refused(_("This number is too large."), name)


def _paging(name: str, value: str) -> None:
    size = "psize_" in name
    number = inputs.whole_number(value, MAX_PAGE_SIZE if size else MAX_PAGE, minimum=1 if size else 0)
    if number is None:
        raise Refused(_("Page numbers and page sizes must be whole numbers within range."), name)


def _check_query() -> None:
    problem = inputs.percent_encoded_problem(request.query_string)
    if problem:
        raise Refused(problem)
    for name, values in request.args.lists():
        for value in values:
            _text(name, value)
            if _FAB_PAGING.search(name):
                _paging(name, value)
            elif _ID_NAME.fullmatch(name):
                _row_number(name, value)


def _check_urlencoded_body() -> None:
    # Checked on the raw body before Werkzeug decodes it (it keeps bad escapes as literal
    # text); only bodies Werkzeug would parse at all, so no limit is bypassed.
    limit = current_app.config.get("MAX_FORM_MEMORY_SIZE")
    length = request.content_length
    if length is None or (limit is not None and length > limit):
        return
    problem = inputs.percent_encoded_problem(request.get_data(cache=True))
    if problem:
        raise Refused(problem)


def _check_form(endpoint: str) -> None:
    declared = endpoint in DECLARED_FIELDS
    for name, values in request.form.lists():
        for value in values:
            _text(name, value)
            if not declared and _ID_NAME.fullmatch(name):
                _row_number(name, value)


def _check_files(endpoint: str) -> None:
    allowed = FILE_FIELDS.get(endpoint)
    for name, uploads in request.files.lists():
        if allowed is None or not allowed.fullmatch(name):
            raise Refused(_("A file was sent where none is expected."))
        for upload in uploads:
            _text(name, upload.filename or "")


def _check_json() -> None:
    try:
        body = request.get_json(silent=True)
        errors = inputs.text_problems(body, "") if body is not None else {}
    except RecursionError:
        # json gives up on deep nesting with RecursionError, which ``silent`` does not cover.
        raise Refused(_("The JSON in the request body is nested too deeply.")) from None
    if errors:
        # Every field at once, as the API reports its own checks; a problem of the body as a
        # whole (a bare string) has no field name.
        _first, problem = min(errors.items())
        raise Refused(problem, errors={name: text for name, text in errors.items() if name})


def _check_path() -> None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            if inputs.text_problem(value) or (
                name in _PATH_KEYS and inputs.whole_number(value, inputs.MAX_ID, minimum=0) is None
            ):
                abort(404)
        elif isinstance(value, int) and not 0 <= value <= inputs.MAX_ID:
            # ``<int:…>`` has no upper bound; no row has such a key.
            abort(404)


def _fab_view(endpoint: str) -> Any:
    """The Flask-AppBuilder view behind ``endpoint`` (it registers bound methods), or None."""
    return getattr(current_app.view_functions.get(endpoint), "__self__", None)


def _check_fab_file_download(endpoint: str) -> None:
    """Flask-AppBuilder's generic ``download/<filename>`` serves files of file columns from
    ``UPLOAD_FOLDER``; no Hamaynk table has one and the setting is unset, so the name given
    can only be a KeyError (its own security views keep the endpoint)."""
    fab_download = endpoint.endswith(".download") and isinstance(_fab_view(endpoint), BaseCRUDView)
    if fab_download and not current_app.config.get("UPLOAD_FOLDER"):
        abort(404)


def _check_fab_list_action(endpoint: str) -> None:
    """Flask-AppBuilder's ``action_post`` looks the action up after its access check and calls
    ``.func`` on whatever it found (None for an unknown name)."""
    if not endpoint.endswith(".action_post"):
        return
    actions = getattr(_fab_view(endpoint), "actions", None)
    if actions is not None and request.form.get("action") not in actions:
        abort(404)


def check_request() -> None:
    """Raise :class:`Refused` (or abort with 404 for an address that cannot exist) for the
    first value of the current request that fails a check."""
    endpoint = request.endpoint or ""
    _check_path()
    _check_fab_file_download(endpoint)
    _check_query()
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json:
            _check_json()
        else:
            if request.mimetype == "application/x-www-form-urlencoded":
                # First: reading the form (or the files) consumes the raw body.
                _check_urlencoded_body()
            _check_files(endpoint)
            _check_form(endpoint)
            _check_fab_list_action(endpoint)


# -- the answer ------------------------------------------------------------------------------


def _refusal(refused: Refused) -> ResponseReturnValue:
    message = _("%(problem)s Nothing was changed.", problem=refused.message)
    if request.path.startswith("/api/"):
        payload: dict[str, Any] = {"message": message}
        if refused.errors:
            payload["errors"] = refused.errors
        return jsonify(payload), 400
    # Before Flask-AppBuilder's own before_request: the menu needs the user.
    if not hasattr(g, "user"):
        g.user = current_user
    return render_template(
        "hamaynk/error.html",
        appbuilder=current_appbuilder(),
        title=_("The request could not be accepted"),
        message=message,
        back_url=request.referrer if (request.referrer or "").startswith(request.host_url) else "/",
    ), 400


def _before_request() -> ResponseReturnValue | None:
    try:
        check_request()
    except Refused as refused:
        return _refusal(refused)
    return None


# -- printing what older rows hold -----------------------------------------------------------

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _printable(finalize: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def printable(value: Any) -> Any:
        if finalize is not None:
            value = finalize(value)
        if isinstance(value, str) and _SURROGATE.search(value):
            # Markup stays Markup: the replacement character needs no escaping.
            return type(value)(_SURROGATE.sub("\ufffd", value))
        return value

    return printable


def printable_text(value: str) -> str:
    """``value`` with every lone surrogate replaced by U+FFFD: text an encoder accepts."""
    return _SURROGATE.sub("\ufffd", value)


def init_app(app: Flask) -> None:
    # First of all: before Flask-WTF's CSRF check parses the body (the raw-body check needs it
    # unread), the rate limits and the session, and long before any view.
    app.before_request_funcs.setdefault(None, []).insert(0, _before_request)
    # Jinja builds ``finalize`` into templates as they compile: wrap it before the first page.
    app.jinja_env.finalize = _printable(app.jinja_env.finalize)


__all__ = ["DECLARED_FIELDS", "FILE_FIELDS", "Refused", "check_request", "init_app", "printable_text"]
