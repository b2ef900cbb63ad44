"""The online application: drafts (save, resume, delete) and the guided form (guide, form,
documents, fee, confirm), submitted through the same intake as the front office.

Thin views: the request is parsed here; drafts, their files, their checks and the filing live
in :mod:`app.domain.drafts` (which files through :func:`app.domain.intake.file`). Every draft
is loaded through :func:`app.domain.access.get_draft`, so another citizen's draft, a forged id
and a deleted draft are the same 404. Every page works without JavaScript;
``static/portal-apply.js`` adds upload progress, checks chosen files before they are sent and
shows or hides conditional fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from babel.numbers import format_decimal
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from app.domain import access, casefile, drafts, inputs, intake, staging
from app.domain.access import Actor
from app.domain.declarations import MAX_DOCUMENT_BYTES, Document, Service, pick
from app.domain.errors import WorkflowError
from app.domain.storage import StorageError, StorageFull, get_storage
from app.domain.uploads import EXTENSIONS, TYPE_LABELS
from app.extensions import current_flask_app, db
from app.i18n import current_locale
from app.models import Municipality, PortalDraft
from app.models.office import StagedUpload
from app.plugins import runtime as plugin_runtime
from app.portal.common import link, require_citizen

bp = Blueprint("apply", __name__)

MAX_CODE = 32
MAX_SERVICE_KEY = 100
# Drafts submitted from this browser session, so the back button to a draft that became an
# application leads to its confirmation (the draft itself is gone).
SUBMITTED = "apply_submitted"
KEEP_SUBMITTED = 10

STAGE_LABELS = {
    drafts.GUIDE: _l("What you need"),
    drafts.FORM: _l("Application form"),
    drafts.DOCUMENTS: _l("Documents"),
    drafts.FEE: _l("Fee"),
    drafts.CONFIRM: _l("Check and submit"),
}
APPLICANT_LABELS = {
    "name": _l("Full name"),
    "psn": _l("Public service number"),
    "phone": _l("Phone"),
    "email": _l("E-mail"),
    "address": _l("Your address"),
}
APPLICANT_HINTS = {
    "psn": _l("10 digits, as on your ID card or passport."),
    "phone": _l("For example +374 91 123456."),
}


# -- helpers --------------------------------------------------------------------------------


def _no_store(response: Response) -> Response:
    # Personal data, and a page the back button must fetch again (the draft may be filed).
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return _no_store(make_response(render_template(template, **context), status))


def _wants_json() -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


def _storage():
    return get_storage(current_flask_app())


def _stage_url(draft_id: int, stage: str, **values: Any) -> str:
    return url_for(".stage", draft_id=draft_id, stage=stage, **values)


def _see_other(url: str) -> Response:
    return redirect(url, 303)


def _remember_submitted(draft_id: int, application_id: int) -> None:
    done = dict(session.get(SUBMITTED) or {})
    done[str(draft_id)] = application_id
    session[SUBMITTED] = dict(list(done.items())[-KEEP_SUBMITTED:])


def _not_found(message: str | None = None) -> Response:
    return _page(
        "portal/apply/gone.html",
        404,
        title=_("Draft not found"),
        message=message
        or _("There is no such draft among yours. It may have been submitted or deleted, or the address is wrong."),
    )


def _draft_or_404(actor: Actor, draft_id: int) -> PortalDraft:
    try:
        return access.get_draft(db.session, actor, draft_id)
    except access.NotFound:
        filed = (session.get(SUBMITTED) or {}).get(str(draft_id))
        if isinstance(filed, int):
            abort(_see_other(url_for(".done", application_id=filed)))
        abort(_not_found())


def _municipality(draft: PortalDraft) -> Municipality | None:
    return db.session.get(Municipality, draft.municipality_id)


def _service_or_gone(draft: PortalDraft) -> Service:
    service = drafts.service_of(db.session, plugin_runtime.registry(), draft)
    if service is None:
        abort(
            _page(
                "portal/apply/unavailable.html",
                410,
                draft=draft,
                municipality=_municipality(draft),
                title=_("This service is not available"),
            )
        )
    return service


def _stages(draft: PortalDraft, current: str) -> list[dict[str, Any]]:
    reached = drafts.STAGES.index(draft.stage) if draft.stage in drafts.STAGES else 0
    return [
        {
            "key": key,
            "number": number,
            "label": STAGE_LABELS[key],
            "url": _stage_url(draft.id, key) if number - 1 <= reached or key == current else None,
            "current": key == current,
        }
        for number, key in enumerate(drafts.STAGES, start=1)
    ]


def _stage_page(draft: PortalDraft, service: Service, stage: str, status: int = 200, **context: Any) -> Response:
    locale = current_locale()
    number = drafts.STAGES.index(stage) + 1
    return _page(
        f"portal/apply/{stage}.html",
        status,
        draft=draft,
        service=service,
        stage=stage,
        stages=_stages(draft, stage),
        stage_number=number,
        stage_count=len(drafts.STAGES),
        municipality=_municipality(draft),
        title=_(
            "%(stage)s — %(service)s (step %(number)d of %(count)d)",
            stage=STAGE_LABELS[stage],
            service=pick(service.title, locale),
            number=number,
            count=len(drafts.STAGES),
        ),
        **context,
    )


# -- the form ----------------------------------------------------------------------------------


def _formdata(service: Service, values: Mapping[str, Any]) -> MultiDict:
    """Saved raw values as a browser would post them, to fill the generated form again."""
    posted: MultiDict = MultiDict()
    for spec in service.fields:
        value = values.get(spec.name)
        if spec.type == "multichoice":
            for item in value if isinstance(value, list) else []:
                posted.add(spec.name, str(item))
        elif spec.type == "boolean":
            if value is True or (isinstance(value, str) and value not in ("", "false")):
                posted.add(spec.name, "y")
        elif value is not None:
            posted.add(spec.name, str(value))
    return posted


def _service_form(service: Service, formdata: MultiDict) -> Any:
    # The same generated form as the front office; CSRF is the page's own hidden input.
    form_class = plugin_runtime.form_class(service, current_locale())
    return form_class(formdata=formdata, meta={"csrf": False})


def _optional(service: Service) -> set[str]:
    return {spec.name for spec in service.fields if not spec.required and not spec.required_when}


ErrorLink = tuple[str | None, str, str]


def _error_links(form: Any, data_errors: Mapping[str, str], applicant_errors: Mapping[str, str]) -> list[ErrorLink]:
    """(anchor, label, message) for the error summary, in the page's order: the applicant,
    then the fields; messages that belong to no field have no anchor."""
    links: list[ErrorLink] = []
    for name in drafts.APPLICANT_FIELDS:
        if name in applicant_errors:
            links.append((f"applicant-{name}", str(APPLICANT_LABELS[name]), applicant_errors[name]))
    for field in form:
        if field.name in data_errors:
            anchor = f"{field.id}-0" if field.type == "MultiCheckboxField" else field.id
            links.append((anchor, str(field.label.text), data_errors[field.name]))
    links += [(None, "", message) for name, message in data_errors.items() if name not in form]
    return links


def _form_page(
    draft: PortalDraft,
    service: Service,
    *,
    data_errors: Mapping[str, str] | None = None,
    applicant_errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    form = _service_form(service, _formdata(service, drafts.form_values(draft)))
    data_errors = dict(data_errors or {})
    applicant_errors = dict(applicant_errors or {})
    for name, message in data_errors.items():
        if name in form:
            form[name].errors = [message]
    return _stage_page(
        draft,
        service,
        drafts.FORM,
        status,
        form=form,
        optional=_optional(service),
        applicant=drafts.applicant_values(draft),
        applicant_fields=drafts.APPLICANT_FIELDS,
        applicant_labels=APPLICANT_LABELS,
        applicant_hints=APPLICANT_HINTS,
        applicant_errors=applicant_errors,
        error_links=_error_links(form, data_errors, applicant_errors),
    )


# -- the documents -------------------------------------------------------------------------------


def _accept_attr(requirement: Document) -> str:
    extensions = sorted(ext for ext, type_name in EXTENSIONS.items() if type_name in requirement.types)
    return ",".join(f".{ext}" for ext in extensions)


def _size_label(size: int, locale: str) -> str:
    if size < 1024 * 1024:
        return _("%(size)s KB", size=format_decimal(max(1, round(size / 1024)), locale=locale))
    return _("%(size)s MB", size=format_decimal(round(size / (1024 * 1024), 1), locale=locale))


def _checklist(
    service: Service,
    rows: Sequence[StagedUpload],
    cleaned: Mapping[str, Any],
    errors: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """What the documents page needs per checklist line: titles, limits (also for the page's
    script), the files attached and any problem."""
    locale = current_locale()
    attached = staging.by_requirement(rows)
    lines = []
    for requirement in service.documents:
        files = attached.get(requirement.key, [])
        max_bytes = min(requirement.max_bytes, MAX_DOCUMENT_BYTES)
        lines.append(
            {
                "key": requirement.key,
                "input_name": f"doc-{requirement.key}",
                "title": pick(requirement.title, locale),
                "help": pick(requirement.help, locale),
                "required": requirement.required and not requirement.required_when,
                "conditional": bool(requirement.required_when),
                "needed": requirement.is_required(cleaned),
                "types": ", ".join(TYPE_LABELS.get(t, t.upper()) for t in requirement.types),
                "accept": _accept_attr(requirement),
                "max_mb": requirement.max_size_mb,
                "max_bytes": max_bytes,
                "limit": _size_label(max_bytes, locale),
                "max_count": requirement.max_count,
                "replaces": requirement.max_count == 1 and bool(files),
                "full": requirement.max_count > 1 and len(files) >= requirement.max_count,
                "files": [
                    {"id": row.id, "name": row.original_name, "size": _size_label(row.size, locale)} for row in files
                ],
                "errors": list((errors or {}).get(requirement.key, [])),
            }
        )
    return lines


def _documents_context(
    actor: Actor, draft: PortalDraft, service: Service, errors: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    cleaned, _errors = intake.validate_form_data(plugin_runtime.host(), service, drafts.form_values(draft))
    rows = drafts.staged_files(db.session, actor, draft, service)
    checklist = _checklist(service, rows, cleaned, errors)
    return {
        "checklist": checklist,
        "error_links": [
            (line["input_name"], line["title"], message) for line in checklist for message in line["errors"]
        ],
    }


def _documents_page(
    actor: Actor,
    draft: PortalDraft,
    service: Service,
    errors: Mapping[str, Sequence[str]] | None = None,
    status: int = 200,
) -> Response:
    return _stage_page(draft, service, drafts.DOCUMENTS, status, **_documents_context(actor, draft, service, errors))


# -- the fee and the summary ------------------------------------------------------------------------


def _fee_context(draft: PortalDraft, service: Service) -> dict[str, Any]:
    quote, state = drafts.fee(db.session, plugin_runtime.registry(), draft, service)
    return {"quote": quote, "payment_state": state}


def _confirm_page(actor: Actor, draft: PortalDraft, service: Service, status: int = 200) -> Response:
    locale = current_locale()
    found = drafts.check(db.session, plugin_runtime.host(), actor, draft, service)
    rows = drafts.staged_files(db.session, actor, draft, service)
    attached = staging.by_requirement(rows)
    problems: list[tuple[str, str]] = []
    if not found.form_ok:
        problems.append((_stage_url(draft.id, drafts.FORM, check=1), _("Some entries of the form need correcting.")))
    if found.missing:
        problems.append(
            (
                _stage_url(draft.id, drafts.DOCUMENTS, check=1),
                intake.missing_documents_message(found.missing, locale),
            )
        )
    fee = _fee_context(draft, service)
    if fee["quote"].must_pay_first and not fee["payment_state"].settled:
        problems.append((_stage_url(draft.id, drafts.FEE), str(drafts.PaymentRequired())))
    applicant = drafts.applicant_values(draft)
    return _stage_page(
        draft,
        service,
        drafts.CONFIRM,
        status,
        field_rows=casefile.form_rows(service, found.cleaned, locale, show_personal=True),
        applicant_rows=[
            (APPLICANT_LABELS[name], applicant[name]) for name in drafts.APPLICANT_FIELDS if applicant[name]
        ],
        documents=[
            (pick(req.title, locale), [row.original_name for row in attached.get(req.key, [])])
            for req in service.documents
            if attached.get(req.key) or req.is_required(found.cleaned)
        ],
        problems=problems,
        **fee,
    )


# -- pages ----------------------------------------------------------------------------------------


def _offered(code: str, service_key: str) -> tuple[Municipality, Service]:
    municipality = None
    if 0 < len(code) <= MAX_CODE and 0 < len(service_key) <= MAX_SERVICE_KEY and not inputs.text_problem(code):
        municipality = db.session.execute(
            select(Municipality).where(Municipality.code == code, Municipality.active.is_(True))
        ).scalar_one_or_none()
    service = None
    if municipality is not None:
        service = intake.enabled_service(db.session, plugin_runtime.registry(), municipality.id, service_key)
    if municipality is None or service is None:
        abort(
            _page(
                "portal/apply/gone.html",
                404,
                title=_("Service not offered"),
                message=_("This municipality does not offer this service online, or the address is wrong."),
            )
        )
    return municipality, service


@bp.route("/m/<code>/services/<key>/apply", methods=["GET", "POST"])
def start(code: str, key: str):
    """POST starts a new draft and opens its guide. GET (where signing in comes back to)
    offers to start one, and lists the drafts of this service the citizen already has."""
    actor = require_citizen()
    municipality, service = _offered(code, key)
    if request.method == "POST":
        try:
            draft = drafts.start(
                db.session, plugin_runtime.registry(), actor, municipality_id=municipality.id, service_key=service.key
            )
        except WorkflowError as exc:
            flash(str(exc), "error")
            return _see_other(url_for(".start", code=code, key=key))
        return _see_other(_stage_url(draft.id, drafts.GUIDE))
    existing = [
        summary
        for summary in drafts.list_drafts(db.session, plugin_runtime.registry(), actor)
        if summary.draft.municipality_id == municipality.id and summary.draft.service_key == service.key
    ]
    return _page(
        "portal/apply/start.html",
        municipality=municipality,
        service=service,
        existing=existing,
        service_url=link("site.service", code=municipality.code, key=service.key),
        title=_("Apply online: %(service)s", service=pick(service.title, current_locale())),
    )


@bp.route("/my/drafts/", endpoint="drafts")
def drafts_list():
    actor = require_citizen()
    return _page(
        "portal/apply/drafts.html",
        summaries=drafts.list_drafts(db.session, plugin_runtime.registry(), actor),
        stage_labels=STAGE_LABELS,
        title=_("Drafts"),
    )


@bp.route("/my/drafts/<int:draft_id>/delete", methods=["GET", "POST"])
def delete(draft_id: int):
    """GET asks to confirm; POST deletes the draft and its files."""
    actor = require_citizen()
    draft = _draft_or_404(actor, draft_id)
    if request.method == "POST":
        drafts.delete_draft(db.session, _storage(), actor, draft)
        flash(_("The draft was deleted."), "success")
        return _see_other(url_for(".drafts"))
    registered = plugin_runtime.registry().get(draft.service_key, draft.service_version)
    service = registered.service if registered is not None else None
    paid = None
    if service is not None:
        paid = drafts.fee(db.session, plugin_runtime.registry(), draft, service)[1]
    return _page(
        "portal/apply/delete.html",
        draft=draft,
        service=service,
        municipality=_municipality(draft),
        payment_state=paid,
        files=len(staging.staged_for(db.session, actor, draft.municipality_id, draft.token)),
        title=_("Delete the draft?"),
    )


@bp.route("/my/drafts/<int:draft_id>/<stage>", methods=["GET", "POST"])
def stage(draft_id: int, stage: str):
    actor = require_citizen()
    draft = _draft_or_404(actor, draft_id)
    if stage not in drafts.STAGES:
        return _not_found(_("This step of the application does not exist."))
    service = _service_or_gone(draft)
    if request.method == "POST":
        return _post_stage(actor, draft, service, stage)
    checking = request.args.get("check") == "1"
    if stage == drafts.FORM:
        if checking:
            found = drafts.check(db.session, plugin_runtime.host(), actor, draft, service)
            return _form_page(draft, service, data_errors=found.data, applicant_errors=found.applicant)
        return _form_page(draft, service)
    if stage == drafts.DOCUMENTS:
        errors = None
        if checking:
            found = drafts.check(db.session, plugin_runtime.host(), actor, draft, service)
            errors = {key: [message] for key, message in found.documents.items()}
        return _documents_page(actor, draft, service, errors)
    if stage == drafts.FEE:
        return _stage_page(draft, service, stage, **_fee_context(draft, service))
    if stage == drafts.CONFIRM:
        return _confirm_page(actor, draft, service)
    return _stage_page(
        draft,
        service,
        stage,
        deadline_days=drafts.deadline_days(db.session, draft, service),
        checklist=_checklist(service, [], {}),
        **_fee_context(draft, service),
    )


def _next_stage(stage: str) -> str:
    return drafts.STAGES[min(drafts.STAGES.index(stage) + 1, len(drafts.STAGES) - 1)]


def _previous_stage(stage: str) -> str:
    return drafts.STAGES[max(drafts.STAGES.index(stage) - 1, 0)]


def _post_stage(actor: Actor, draft: PortalDraft, service: Service, stage: str) -> Response:
    action = request.form.get("action", "save")
    version = request.form.get("version")
    here = _stage_url(draft.id, stage)
    try:
        if stage == drafts.FORM:
            return _post_form(actor, draft, service, action, version)
        if stage == drafts.DOCUMENTS:
            return _post_documents(actor, draft, service, action, version)
        if action == "back":
            return _see_other(_stage_url(draft.id, _previous_stage(stage)))
        if action == "continue" and stage != drafts.CONFIRM:
            following = _next_stage(stage)
            drafts.save(db.session, draft, expected_version=version, stage=following)
            return _see_other(_stage_url(draft.id, following))
        drafts.save(db.session, draft, expected_version=version)
    except drafts.StaleDraft as exc:
        if _wants_json():
            return make_response(jsonify({"message": str(exc), "reload": True}), 409)
        flash(str(exc), "warning")
        return _see_other(here)
    flash(_("Your draft was saved. You can come back to it from Drafts on any device."), "success")
    return _see_other(here)


def _post_form(actor: Actor, draft: PortalDraft, service: Service, action: str, version: Any) -> Response:
    form = _service_form(service, request.form)
    applicant = {name: request.form.get(f"applicant-{name}", "") for name in drafts.APPLICANT_FIELDS}
    # What was typed is kept whatever happens next, valid or not.
    drafts.save(
        db.session, draft, expected_version=version, service=service, form=form.raw_values(), applicant=applicant
    )
    if action == "back":
        return _see_other(_stage_url(draft.id, drafts.GUIDE))
    if action != "continue":
        flash(_("Your draft was saved. You can come back to it from Drafts on any device."), "success")
        return _see_other(_stage_url(draft.id, drafts.FORM))
    found = drafts.check(db.session, plugin_runtime.host(), actor, draft, service)
    if not found.form_ok:
        return _form_page(draft, service, data_errors=found.data, applicant_errors=found.applicant, status=400)
    drafts.save(db.session, draft, expected_version=draft.version, stage=drafts.DOCUMENTS)
    return _see_other(_stage_url(draft.id, drafts.DOCUMENTS))


def _post_documents(actor: Actor, draft: PortalDraft, service: Service, action: str, version: Any) -> Response:
    storage = _storage()
    removed = [value for value in request.form.getlist("remove") if value]
    if removed:
        drafts.remove_files(db.session, storage, actor, draft, removed)
    files = {req.key: request.files.getlist(f"doc-{req.key}") for req in service.documents}
    added, refused = drafts.upload(db.session, storage, actor, draft, service, files)
    if _wants_json():
        context = _documents_context(actor, draft, service, refused)
        return _no_store(
            jsonify(
                {
                    "added": len(added),
                    "removed": len(removed),
                    "refused": refused,
                    "html": render_template("portal/apply/_checklist.html", draft=draft, **context),
                }
            )
        )
    if refused:
        # The files that passed are kept; say why the others were not.
        return _documents_page(actor, draft, service, refused, status=400)
    if action == "back":
        return _see_other(_stage_url(draft.id, drafts.FORM))
    if action == "continue":
        found = drafts.check(db.session, plugin_runtime.host(), actor, draft, service)
        if not found.documents_ok:
            errors = {key: [message] for key, message in found.documents.items()}
            return _documents_page(actor, draft, service, errors, status=400)
        drafts.save(db.session, draft, expected_version=version, stage=drafts.FEE)
        return _see_other(_stage_url(draft.id, drafts.FEE))
    if added:
        flash(_("%(count)d file(s) attached. Your draft is saved.", count=len(added)), "success")
    elif removed:
        flash(_("The file was removed."), "success")
    elif action == "upload":
        flash(_("No file was chosen. Choose a file for the document, then attach it."), "warning")
    else:
        flash(_("Your draft was saved. You can come back to it from Drafts on any device."), "success")
    return _see_other(_stage_url(draft.id, drafts.DOCUMENTS))


@bp.route("/my/drafts/<int:draft_id>/submit", methods=["POST"])
def submit(draft_id: int):
    """File the draft. A second POST (double click, reload, back button) finds the application
    the first one filed and shows its confirmation: one draft, one application."""
    actor = require_citizen()
    token = request.form.get("token", "")
    try:
        draft = access.get_draft(db.session, actor, draft_id)
    except access.NotFound:
        filed = drafts.submitted(db.session, actor, token)
        if filed is None:
            return _not_found()
        return _see_other(url_for(".done", application_id=filed.id))
    if token != draft.token:
        flash(_("This page was out of date. Check your application and submit it again."), "warning")
        return _see_other(_stage_url(draft.id, drafts.CONFIRM))
    confirm = _stage_url(draft.id, drafts.CONFIRM)
    try:
        result = drafts.submit(
            db.session,
            plugin_runtime.host(),
            _storage(),
            actor,
            draft,
            expected_version=request.form.get("version"),
            locale=current_locale(),
        )
    except intake.FilingRefused as exc:
        db.session.rollback()
        for message in [exc.service, *exc.problems]:
            if message:
                flash(str(message), "error")
        if exc.data or exc.applicant or exc.service:
            return _see_other(_stage_url(draft_id, drafts.FORM, check=1))
        return _see_other(_stage_url(draft_id, drafts.DOCUMENTS, check=1))
    except drafts.PaymentRequired as exc:
        flash(str(exc), "error")
        return _see_other(_stage_url(draft_id, drafts.FEE))
    except (drafts.StaleDraft, StorageError, WorkflowError) as exc:
        db.session.rollback()
        # Lost a race with the same submission (a double click): show the winner's.
        filed = drafts.submitted(db.session, actor, token)
        if filed is not None:
            _remember_submitted(draft_id, filed.id)
            return _see_other(url_for(".done", application_id=filed.id))
        if isinstance(exc, StorageFull):
            flash(str(exc), "error")
        elif isinstance(exc, StorageError):
            flash(_("The documents could not be stored just now; nothing was filed. Try again in a moment."), "error")
        else:
            flash(str(exc), "error")
        return _see_other(confirm)
    # The id from the identity map, not the expired row: no read after the commit, so a
    # connection lost now cannot turn a filed application into an error page.
    filed_id = cast("tuple[int]", sa_inspect(result.application).identity)[0]
    _remember_submitted(draft_id, filed_id)
    return _see_other(url_for(".done", application_id=filed_id))


@bp.route("/my/applications/<int:application_id>/submitted")
def done(application_id: int):
    actor = require_citizen()
    try:
        application = access.get_application(db.session, actor, application_id)
    except access.NotFound:
        application = None
    if application is None or application.applicant_user_id != actor.user_id or application.submitted_at is None:
        return _page(
            "portal/apply/gone.html",
            404,
            title=_("Application not found"),
            message=_("There is no such application among yours."),
        )
    registered = plugin_runtime.registry().get(application.service_key, application.service_version)
    service = registered.service if registered is not None else None
    locale = current_locale()
    steps = [pick(step.citizen_text or step.title, locale) for step in (service.steps if service else ())]
    return _page(
        "portal/apply/done.html",
        application=application,
        service=service,
        municipality=db.session.get(Municipality, application.municipality_id),
        steps=steps,
        show_url=link("mine.show", application_id=application.id),
        title=_("Application submitted"),
    )


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error: RequestEntityTooLarge):
    """Werkzeug refuses a body over MAX_CONTENT_LENGTH before the view reads it: nothing was
    attached or saved. Say so, with the limit."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = _(
        "The files sent together are too large: at most %(size)s MB can be sent at once. Nothing was attached. "
        "Attach the files one at a time, or scan them at a lower resolution.",
        size=format_decimal(round(limit / (1024 * 1024), 2), locale=current_locale()),
    )
    if _wants_json():
        return jsonify({"message": message}), 413
    back = request.path if request.method == "GET" else (request.referrer or url_for(".drafts"))
    if not back.startswith(("/", request.host_url)):
        back = url_for(".drafts")
    return _page("portal/apply/gone.html", 413, title=_("The files are too large"), message=message, back_url=back)
