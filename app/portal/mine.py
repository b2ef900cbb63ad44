""" "My applications": status in plain words, timeline, documents, corrections, withdrawal; public
status look-up and claiming a walk-in application.

Thin: who sees what is :mod:`app.domain.access`, what the citizen reads is
:mod:`app.domain.citizen_cases`, what may happen is :mod:`app.domain.workflow` (the same
resubmission and withdrawal the office records), uploads kept across a refused correction are
:mod:`app.domain.staging`'s.

Rate limits (Flask-Limiter's storage and strategy, limits read from the config):

* the look-up, per client address (``HAMAYNK_LIMIT_LOOKUP``, every attempt) and per tracking
  number (``HAMAYNK_LIMIT_LOOKUP_NUMBER``, failed attempts only, whoever makes them): guessing
  a code from many addresses stops as soon as from one; a number whose limit is spent answers
  "too many attempts" to everyone, also with the right code, until the window has passed;
* claiming, per client address (``HAMAYNK_LIMIT_LOOKUP``) and per account
  (``HAMAYNK_LIMIT_CLAIM``, failed attempts only), not per tracking number: strangers who
  spend a number's look-up limit cannot keep its owner from claiming it into their account
  and following it there.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many

from app import web
from app.domain import (
    access,
    channels,
    citizen_cases,
    corrections,
    documents,
    inputs,
    intake,
    staging,
    statuses,
    tracking,
    verification,
    workflow,
)
from app.domain.access import Actor
from app.domain.declarations import pick
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.domain.storage import StorageError, delete_quietly, get_storage
from app.extensions import current_flask_app, db, limiter
from app.i18n import current_locale
from app.models import Application
from app.plugins import runtime as plugin_runtime
from app.portal.common import require_citizen

log = logging.getLogger(__name__)

bp = Blueprint("mine", __name__)

LOOKUP_LIMIT = "HAMAYNK_LIMIT_LOOKUP"
LOOKUP_NUMBER_LIMIT = "HAMAYNK_LIMIT_LOOKUP_NUMBER"
CLAIM_LIMIT = "HAMAYNK_LIMIT_CLAIM"
# What a tracking number and an access code can be at most, as typed (with spaces).
MAX_NUMBER = 60
MAX_CODE = 100
MAX_NOTE = workflow.MAX_TEXT


# -- rate limits ---------------------------------------------------------------------------------


def _items(config_key: str) -> list[RateLimitItem]:
    value = current_app.config.get(config_key) or ""
    return list(parse_many(value)) if value else []


def _limits_on() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True)) and bool(limiter.enabled)


def _wait(config_key: str, scope: str, key: str) -> int | None:
    """Seconds until ``key`` may try again under the limits of ``config_key``, or ``None``
    when it may try now. A storage failure lets the attempt through (and is logged): the
    codes are 128 random bits, the limit is a second line of defence."""
    if not _limits_on():
        return None
    try:
        for item in _items(config_key):
            if not limiter.limiter.test(item, scope, key):
                reset = limiter.limiter.get_window_stats(item, scope, key).reset_time
                return max(1, int(reset - time.time()) + 1)
    except Exception:
        log.warning("rate limit storage failed; letting the attempt through", exc_info=True)
    return None


def _hit(config_key: str, scope: str, key: str) -> None:
    if not _limits_on():
        return
    try:
        for item in _items(config_key):
            limiter.limiter.hit(item, scope, key)
    except Exception:
        log.warning("rate limit storage failed; the attempt was not counted", exc_info=True)


def _too_many(template: str, seconds: int, **context: Any) -> ResponseReturnValue:
    minutes = max(1, -(-seconds // 60))
    message = _("Too many attempts. Try again in %(minutes)d minute(s).", minutes=minutes)
    response = make_response(_render(template, too_many=message, **context), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


# -- helpers -------------------------------------------------------------------------------------


def _render(template: str, **context: Any) -> str:
    return render_template(template, **context)


def _no_store(body: Any, status: int = 200) -> ResponseReturnValue:
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _application(actor: Actor, application_id: int) -> Application:
    try:
        return access.get_application(db.session, actor, application_id)
    except access.NotFound:
        abort(404)


def _date_arg(name: str, problems: list[str]) -> dt.date | None:
    return inputs.date_filter(request.args.get(name), problems)


def _filters(services: Iterable[str], problems: list[str]) -> citizen_cases.Filters:
    status = (request.args.get("status") or "").strip()
    if status and status not in citizen_cases.CITIZEN_STATUSES:
        problems.append(_("There is no such status; the status filter was ignored."))
        status = ""
    service = (request.args.get("service") or "").strip()
    if service and service not in set(services):
        problems.append(_("You have no applications for such a service; the service filter was ignored."))
        service = ""
    start, end = _date_arg("from", problems), _date_arg("to", problems)
    if start and end and start > end:
        problems.append(_("The start date is after the end date; the date filter was ignored."))
        start = end = None
    return citizen_cases.Filters(status=status or None, service=service or None, submitted_from=start, submitted_to=end)


def _page_arg(problems: list[str]) -> int:
    raw = (request.args.get("page") or "").strip()
    if not raw:
        return 1
    number = inputs.whole_number(raw, citizen_cases.MAX_PAGE)
    if number is None:
        problems.append(_("There is no such page; showing the first one."))
        return 1
    return number


def _query(filters: citizen_cases.Filters, page: int | None = None) -> dict[str, str]:
    args = {}
    if filters.status:
        args["status"] = filters.status
    if filters.service:
        args["service"] = filters.service
    if filters.submitted_from:
        args["from"] = filters.submitted_from.isoformat()
    if filters.submitted_to:
        args["to"] = filters.submitted_to.isoformat()
    if page and page > 1:
        args["page"] = str(page)
    return args


def _status_choices() -> list[tuple[str, str]]:
    return [(status, str(statuses.LABELS[status])) for status in citizen_cases.CITIZEN_STATUSES]


def _text(name: str, maximum: int) -> str:
    value = request.form.get(name)
    return value.strip()[:maximum] if isinstance(value, str) else ""


# -- my applications -----------------------------------------------------------------------------


@bp.route("/my/applications/")
def index() -> ResponseReturnValue:
    actor = require_citizen()
    registry = plugin_runtime.registry()
    locale = current_locale()
    problems: list[str] = []
    services = citizen_cases.own_services(db.session, registry, actor, locale)
    filters = _filters([key for key, _title in services], problems)
    page = citizen_cases.list_page(db.session, registry, actor, locale, filters=filters, page=_page_arg(problems))

    def page_url(number: int) -> str:
        args = _query(filters, number)
        return url_for(".index") + ("?" + urlencode(args) if args else "")

    return _no_store(
        _render(
            "portal/mine/index.html",
            title=_("My applications"),
            page=page,
            filters=filters,
            problems=problems,
            services=services,
            status_choices=_status_choices(),
            prev_url=page_url(page.page - 1) if page.page > 1 else None,
            next_url=page_url(page.page + 1) if page.page < page.pages else None,
        )
    )


def _show(actor: Actor, application: Application, status: int = 200, error: str | None = None) -> ResponseReturnValue:
    shown = citizen_cases.case(db.session, plugin_runtime.registry(), actor, application, current_locale())
    # The decision in force (an issued approval, or a refusal with its reasons) to download.
    decision = None
    if application.status in (statuses.ISSUED, statuses.REJECTED):
        decision = verification.in_force(db.session, application)
    return _no_store(
        _render(
            "portal/mine/show.html",
            title=_("Application %(number)s", number=application.tracking_number),
            case=shown,
            application=application,
            decision=decision,
            error=error,
        ),
        status,
    )


@bp.route("/my/applications/<int:application_id>")
def show(application_id: int) -> ResponseReturnValue:
    actor = require_citizen()
    return _show(actor, _application(actor, application_id))


@bp.route("/my/applications/<int:application_id>/documents/<int:document_id>")
def document(application_id: int, document_id: int) -> ResponseReturnValue:
    """The applicant opens a document they gave: the same access rule and audit trail as
    staff (app.domain.documents.open_document)."""
    actor = require_citizen()
    application = _application(actor, application_id)
    try:
        found = access.document_of(db.session, application, document_id)
    except access.NotFound:
        abort(404)
    try:
        opened = documents.open_document(
            db.session,
            get_storage(current_flask_app()),
            actor,
            application,
            found,
            purpose=documents.DOWNLOAD,
            channel=channels.ONLINE,
            ip=request.remote_addr,
        )
    except NotAllowed as exc:
        return _show(actor, application, 403, str(exc))
    except documents.DocumentUnavailable as exc:  # missing, or the storage is down
        return _show(actor, application, 503 if not isinstance(exc, documents.DocumentMissing) else 404, str(exc))
    return web.send_document(opened)


# -- correction ----------------------------------------------------------------------------------


def _correction_form(application: Application, service: Any, bound: bool) -> Any:
    """The service's own generated form (as at intake and in the office), of which the page
    shows only the fields the return named; its inputs are prefixed ``data-``."""
    form_class = plugin_runtime.form_class(service, current_locale())
    if bound:
        return form_class(prefix="data")
    return form_class(formdata=None, prefix="data", data=dict(application.data or {}))


def _render_correct(
    actor: Actor,
    application: Application,
    form: Any,
    token: str,
    status: int = 200,
    *,
    doc_errors: dict[str, str] | None = None,
    loose: list[str] | None = None,
    note: str = "",
) -> ResponseReturnValue:
    shown = citizen_cases.case(db.session, plugin_runtime.registry(), actor, application, current_locale())
    kept = staging.staged_for(db.session, actor, application.municipality_id, token)
    named_fields = [key for key, _label in (shown.correction.fields if shown.correction else [])]
    summary: list[tuple[str, str]] = []
    for key in named_fields:
        if key in form and form[key].errors:
            summary.append((form[key].id, f"{form[key].label.text}: {' '.join(str(e) for e in form[key].errors)}"))
    titles = {req.key: pick(req.title, current_locale()) for req in shown.service.documents} if shown.service else {}
    for key, message in (doc_errors or {}).items():
        summary.append((f"doc-{key}", f"{titles.get(key, key)}: {message}"))
    for message in loose or ():
        summary.append(("", message))
    return _no_store(
        _render(
            "portal/mine/correct.html",
            title=_("Correct application %(number)s", number=application.tracking_number),
            case=shown,
            application=application,
            form=form,
            token=token,
            named_fields=named_fields,
            doc_errors=doc_errors or {},
            summary=summary,
            kept=staging.by_requirement(kept),
            current=citizen_cases.current_documents(db.session, application),
            note=note,
            max_note=MAX_NOTE,
        ),
        status,
    )


@bp.route("/my/applications/<int:application_id>/correct", methods=["GET", "POST"])
def correct(application_id: int) -> ResponseReturnValue:
    actor = require_citizen()
    application = _application(actor, application_id)
    registry = plugin_runtime.registry()
    try:
        service = workflow.service_of(application, registry)
    except WorkflowError as exc:
        return _show(actor, application, 409, str(exc))
    if workflow.RESUBMIT not in workflow.allowed_actions(db.session, application, actor=actor, registry=registry):
        if request.method == "POST":
            return _show(actor, application, 409, _("This application is not waiting for a correction from you."))
        flash(_("This application is not waiting for a correction from you."), "warning")
        return redirect(url_for(".show", application_id=application.id), 303)
    if request.method == "GET":
        form = _correction_form(application, service, bound=False)
        return _render_correct(actor, application, form, intake.new_submission_token())
    return _resubmit(actor, application, service)


def _resubmit(actor: Actor, application: Application, service: Any) -> ResponseReturnValue:
    storage = get_storage(current_flask_app())
    municipality_id = application.municipality_id
    token = request.form.get("token") or ""
    if intake.submission_key(actor.user_id, token) is None:
        token = intake.new_submission_token()
    form = _correction_form(application, service, bound=True)
    history = workflow.history(db.session, application)
    asked = corrections.requested(history)
    raw = form.raw_values()
    # Exactly the fields the return named: nothing else is read from the request.
    data = {name: raw.get(name) for name in asked.fields if name in raw}
    fresh = {
        req.key: [f for f in request.files.getlist(f"doc-{req.key}") if f and f.filename]
        for req in service.documents
        if f"doc-{req.key}" in request.files
    }
    fresh = {key: files for key, files in fresh.items() if files}
    kept = staging.staged_for(db.session, actor, municipality_id, token)
    removed = [str(i) for i in request.form.getlist("staged-remove")]
    removed += [str(row.id) for row in staging.resent(kept, fresh)]
    if removed:
        staging.discard(db.session, storage, actor, municipality_id, token, removed)
        kept = staging.staged_for(db.session, actor, municipality_id, token)
    uploads: dict[str, list[Any]] = {key: list(files) for key, files in staging.as_uploads(storage, kept).items()}
    for key, files in fresh.items():
        uploads.setdefault(key, []).extend(files)
    add_to = [req.key for req in service.documents if request.form.get(f"mode-{req.key}") == corrections.ADD]
    note = _text("note", MAX_NOTE)
    version = inputs.whole_number(request.form.get("version"), workflow.MAX_VERSION)
    # Reloaded after any commit above (discarding kept files commits).
    application = _application(actor, application.id)
    try:
        workflow.resubmit(
            db.session,
            application,
            actor=actor,
            expected_version=version,  # type: ignore[arg-type]  # None is refused by the workflow
            data=data,
            uploads=uploads,
            add_to=add_to,
            comment=note or None,
            storage=storage,
            host=plugin_runtime.host(),
        )
        keys = staging.consume(db.session, municipality_id, [row.id for row in kept])
        workflow.commit(db.session)
    except workflow.InvalidInput as exc:
        db.session.rollback()
        _close(uploads)
        # Files that passed their own checks are kept for the next try; the rest are named.
        # Not those sent for a line the office did not name: they could never be filed.
        never = {str(corrections.DOCUMENT_NOT_NAMED), str(corrections.UNKNOWN_DOCUMENT)}
        keep = {key: files for key, files in fresh.items() if str(exc.errors.get(f"documents.{key}")) not in never}
        _new_rows, not_kept = staging.stage(
            db.session, storage, actor, municipality_id, token, service, keep, already=kept
        )
        application = _application(actor, application.id)
        doc_errors: dict[str, str] = {}
        loose: list[str] = []
        for key, message in exc.errors.items():
            name = key[5:] if key.startswith("data.") else None
            if name is not None and name in asked.fields and name in form:
                form[name].errors = [*list(form[name].errors), str(message)]
            elif key.startswith("documents."):
                doc_errors[key[10:]] = str(message)
            else:
                loose.append(str(message))
        for key, message in not_kept.items():
            doc_errors.setdefault(key, message)
        return _render_correct(actor, application, form, token, 400, doc_errors=doc_errors, loose=loose, note=note)
    except ChangedMeanwhile as exc:
        db.session.rollback()
        _close(uploads)
        return _show(actor, _application(actor, application.id), 409, str(exc))
    except StorageError:
        db.session.rollback()
        _close(uploads)
        return _show(
            actor,
            _application(actor, application.id),
            503,
            _("The documents could not be stored just now; nothing was sent. Try again in a moment."),
        )
    except WorkflowError as exc:
        db.session.rollback()
        _close(uploads)
        return _show(actor, _application(actor, application.id), 409, str(exc))
    _close(uploads)
    delete_quietly(storage, keys)
    flash(_("Thank you: your corrections were sent and the application is back in review."), "success")
    return redirect(url_for(".show", application_id=application.id), 303)


def _close(uploads: dict[str, list[Any]]) -> None:
    for files in uploads.values():
        for upload in files:
            close = getattr(upload, "close", None)
            if isinstance(upload, staging.StoredUpload) and close is not None:
                close()


# -- withdrawal ----------------------------------------------------------------------------------


@bp.route("/my/applications/<int:application_id>/withdraw", methods=["GET", "POST"])
def withdraw(application_id: int) -> ResponseReturnValue:
    actor = require_citizen()
    application = _application(actor, application_id)
    registry = plugin_runtime.registry()
    allowed = workflow.WITHDRAW in workflow.allowed_actions(db.session, application, actor=actor, registry=registry)
    if request.method == "GET":
        if not allowed:
            flash(_("This application can no longer be withdrawn."), "warning")
            return redirect(url_for(".show", application_id=application.id), 303)
        return _no_store(
            _render(
                "portal/mine/withdraw.html",
                title=_("Withdraw application %(number)s?", number=application.tracking_number),
                case=citizen_cases.case(db.session, registry, actor, application, current_locale()),
                application=application,
                max_note=MAX_NOTE,
                error=None,
                reason="",
            )
        )
    reason = _text("reason", MAX_NOTE + 1)
    if len(reason) > MAX_NOTE:
        return _no_store(
            _render(
                "portal/mine/withdraw.html",
                title=_("Withdraw application %(number)s?", number=application.tracking_number),
                case=citizen_cases.case(db.session, registry, actor, application, current_locale()),
                application=application,
                max_note=MAX_NOTE,
                error=_("The text is too long: at most %(max)d characters.", max=MAX_NOTE),
                reason=reason[:MAX_NOTE],
            ),
            400,
        )
    try:
        workflow.withdraw(
            db.session,
            application,
            actor=actor,
            expected_version=inputs.whole_number(request.form.get("version"), workflow.MAX_VERSION),  # type: ignore[arg-type]
            reason=reason or None,
            host=plugin_runtime.host(),
        )
        workflow.commit(db.session)
    except ChangedMeanwhile as exc:
        db.session.rollback()
        return _show(actor, _application(actor, application_id), 409, str(exc))
    except WorkflowError as exc:
        db.session.rollback()
        return _show(actor, _application(actor, application_id), 409, str(exc))
    flash(_("The application was withdrawn."), "success")
    return redirect(url_for(".show", application_id=application_id), 303)


# -- public look-up ------------------------------------------------------------------------------


def _number_key(value: str) -> str | None:
    parsed = tracking.parse_tracking_number(value)
    return str(parsed) if parsed is not None else None


def _read_number_and_code() -> tuple[str, str, dict[str, str]]:
    number = (request.form.get("tracking_number") or "")[:MAX_NUMBER].strip()
    code = (request.form.get("access_code") or "")[:MAX_CODE].strip()
    errors: dict[str, str] = {}
    if not number:
        errors["tracking_number"] = _("Enter the tracking number from your receipt.")
    elif _number_key(number) is None:
        errors["tracking_number"] = _(
            "This is not a tracking number: check it against your receipt (it reads like %(example)s).",
            example="ABC-2026-000123-K",
        )
    if not code:
        errors["access_code"] = _("Enter the access code from your receipt.")
    return number, code, errors


@bp.route("/track", methods=["GET", "POST"])
def lookup() -> ResponseReturnValue:
    """Anyone with a receipt: tracking number and access code → the status in plain words,
    nothing personal. The same answer for an unknown number and a wrong code."""
    template = "portal/mine/lookup.html"
    context: dict[str, Any] = {"title": _("Track an application"), "errors": {}, "tracking_number": ""}
    if request.method == "GET":
        return _no_store(_render(template, **context))
    address = get_remote_address() or "-"
    wait = _wait(LOOKUP_LIMIT, "lookup-ip", address)
    if wait is not None:
        return _too_many(template, wait, **context)
    _hit(LOOKUP_LIMIT, "lookup-ip", address)
    number, code, errors = _read_number_and_code()
    context["tracking_number"] = number
    if errors:
        return _no_store(_render(template, **{**context, "errors": errors}), 400)
    key = _number_key(number)
    assert key is not None  # checked above
    wait = _wait(LOOKUP_NUMBER_LIMIT, "lookup-number", key)
    if wait is not None:
        return _too_many(template, wait, **context)
    found = citizen_cases.look_up(db.session, plugin_runtime.registry(), number, code, current_locale())
    if found is None:
        _hit(LOOKUP_NUMBER_LIMIT, "lookup-number", key)
        return _no_store(_render(template, **{**context, "not_found": str(citizen_cases.NOT_FOUND)}), 404)
    return _no_store(
        _render(
            "portal/mine/lookup_result.html",
            title=_("Application %(number)s", number=found.tracking_number),
            found=found,
        )
    )


# -- claiming a walk-in application --------------------------------------------------------------


@bp.route("/my/claim", methods=["GET", "POST"])
def claim() -> ResponseReturnValue:
    """A signed-in citizen links a walk-in application to their account with the receipt's
    tracking number and access code."""
    actor = require_citizen()
    template = "portal/mine/claim.html"
    number_arg = (request.args.get("tracking_number") or "")[:MAX_NUMBER].strip()
    context: dict[str, Any] = {
        "title": _("Add an application from a receipt"),
        "errors": {},
        "tracking_number": number_arg,
    }
    if request.method == "GET":
        return _no_store(_render(template, **context))
    address = get_remote_address() or "-"
    account = str(actor.user_id)
    wait = _wait(LOOKUP_LIMIT, "claim-ip", address) or _wait(CLAIM_LIMIT, "claim-account", account)
    if wait is not None:
        return _too_many(template, wait, **context)
    _hit(LOOKUP_LIMIT, "claim-ip", address)
    number, code, errors = _read_number_and_code()
    context["tracking_number"] = number
    if errors:
        return _no_store(_render(template, **{**context, "errors": errors}), 400)
    try:
        claimed = citizen_cases.claim(db.session, actor, number, code, ip=request.remote_addr)
        db.session.commit()
    except access.NotFound:
        db.session.rollback()
        _hit(CLAIM_LIMIT, "claim-account", account)
        return _no_store(_render(template, **{**context, "not_found": str(citizen_cases.NOT_FOUND)}), 404)
    except (NotAllowed, ChangedMeanwhile) as exc:
        db.session.rollback()
        _hit(CLAIM_LIMIT, "claim-account", account)
        return _no_store(_render(template, **{**context, "refused": str(exc)}), 409)
    if claimed.already:
        flash(_("This application is already in your account."), "info")
    else:
        flash(_("The application is now in your account."), "success")
    return redirect(url_for(".show", application_id=claimed.application.id), 303)
