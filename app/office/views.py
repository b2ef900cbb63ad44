"""Front-office screens: pick a service, fill in the intake form, print the receipt.

Thin views: the request is parsed here, everything else happens in app.domain.intake,
app.domain.staging (files kept across a refused submission) and app.domain.receipts (the
access code until the receipt is handed over, re-issuing a lost one). Every application a clerk can reach is loaded through app.domain.access,
so a forged id or token from another municipality, or another clerk's draft, is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from babel.numbers import format_decimal
from flask import abort, current_app, flash, g, jsonify, make_response, redirect, render_template, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import inspect as sa_inspect
from werkzeug.exceptions import RequestEntityTooLarge

from app import web
from app.domain import access, channels, intake, receipts, staging, tracking, workflow
from app.domain.declarations import MAX_DOCUMENT_BYTES, Document, Service, pick
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed, WorkflowError
from app.domain.storage import StorageError, StorageFull, delete_quietly, get_storage
from app.domain.uploads import EXTENSIONS, TYPE_LABELS
from app.extensions import current_appbuilder, current_flask_app, db
from app.i18n import current_locale
from app.models import Application
from app.models.office import StagedUpload
from app.office.forms import applicant_form, applicant_raw
from app.plugins import runtime as plugin_runtime

MAX_SERVICE_KEY = 100
MAX_TRACKING = 40
# Receipts are printed in the office's paperwork language.
RECEIPT_LOCALE = "hy"


def _accept_attr(requirement: Document) -> str:
    extensions = sorted(ext for ext, type_name in EXTENSIONS.items() if type_name in requirement.types)
    return ",".join(f".{ext}" for ext in extensions)


def _size_label(size: int, locale: str) -> str:
    if size < 1024 * 1024:
        return _("%(size)s KB", size=format_decimal(max(1, round(size / 1024)), locale=locale))
    return _("%(size)s MB", size=format_decimal(round(size / (1024 * 1024), 1), locale=locale))


def _checklist(service: Service, locale: str, kept: Sequence[StagedUpload] = ()) -> list[dict[str, Any]]:
    """What the template needs per checklist line (titles, limits, conditions for office.js,
    and the files kept from a refused submission)."""
    kept_by_key = staging.by_requirement(kept)
    lines = []
    for requirement in service.documents:
        lines.append(
            {
                "key": requirement.key,
                "input_name": f"doc-{requirement.key}",
                "title": pick(requirement.title, locale),
                "help": pick(requirement.help, locale),
                "required": requirement.required and not requirement.required_when,
                "conditional": bool(requirement.required_when),
                "required_when": json.dumps([c.to_dict() for c in requirement.required_when], ensure_ascii=False)
                if requirement.required_when
                else "",
                "types": ", ".join(TYPE_LABELS.get(t, t.upper()) for t in requirement.types),
                "accept": _accept_attr(requirement),
                "max_mb": requirement.max_size_mb,
                "max_bytes": min(requirement.max_bytes, MAX_DOCUMENT_BYTES),
                "limit": _size_label(min(requirement.max_bytes, MAX_DOCUMENT_BYTES), locale),
                "max_count": requirement.max_count,
                "kept": [
                    {"id": row.id, "name": row.original_name, "size": _size_label(row.size, locale)}
                    for row in kept_by_key.get(requirement.key, [])
                ],
            }
        )
    return lines


def _mark_errors(form, applicant, refused: intake.FilingRefused) -> list[str]:
    """Put each message on its input; return the sentences that belong to no input."""
    loose = [refused.service] if refused.service else []
    for target, errors in ((form, refused.data), (applicant, refused.applicant)):
        for name, message in errors.items():
            if name in target:
                target[name].errors = [*list(target[name].errors), message]
            else:
                loose.append(message)
    return loose + refused.problems


def _no_store(response):
    # Pages and files with personal data or the access code must not linger in caches.
    response.headers["Cache-Control"] = "no-store"
    return response


def too_large(error: RequestEntityTooLarge):
    """The intake's own 413 page: it names the limit and says nothing was filed.

    Werkzeug refuses the body (MAX_CONTENT_LENGTH) before any view reads it, so nothing was
    written. Registered on this view's blueprint, so it applies to office pages only and the
    site-wide page (app.errors) to the rest.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = _(
        "The files sent together are too large: one submission may carry at most %(size)s MB. "
        "Nothing was filed. Scan the documents at a lower resolution, or attach fewer pages.",
        size=format_decimal(round(limit / (1024 * 1024), 2), locale=current_locale()),
    )
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"message": message}), 413
    if not hasattr(g, "user"):
        g.user = current_user
    back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else request.path
    return render_template(
        "hamaynk/error.html",
        appbuilder=current_appbuilder(),
        title=_("The files are too large"),
        message=message,
        back_url=back,
    ), 413


def _track_url() -> str:
    """The public look-up's address as printed on receipts (the portal's ``mine.lookup``)."""
    base = str(current_app.config.get("HAMAYNK_PUBLIC_URL") or "").rstrip("/")
    return base + url_for("mine.lookup") if "mine.lookup" in current_app.view_functions else ""


class OfficeView(BaseView):
    """The "one window": a clerk files an application for a walk-in citizen."""

    route_base = "/office"
    class_permission_name = "OfficeIntake"
    method_permission_name = dict.fromkeys(
        ("index", "find", "new", "applicants", "receipt", "receipt_pdf", "receipt_handed_over", "receipt_new_code"),
        "intake",
    )
    default_view = "index"

    def create_blueprint(self, appbuilder, endpoint=None, static_folder=None):
        blueprint = super().create_blueprint(appbuilder, endpoint=endpoint, static_folder=static_folder)
        blueprint.register_error_handler(RequestEntityTooLarge, too_large)
        return blueprint

    # -- helpers ------------------------------------------------------------------------

    def _municipality_id(self) -> int:
        actor = web.current_actor()
        mid = actor.municipality_id if actor is not None and actor.active else None
        if mid is None:
            abort(
                make_response(
                    self._error(
                        _("Your account does not belong to a municipality, so it cannot file applications."), 403
                    )
                )
            )
        return mid

    def _error(self, message: str, status: int):
        return self.render_template(
            "hamaynk/error.html", title=_("Front office"), message=message, back_url=url_for(".index")
        ), status

    def _application(self, application_id: int) -> Application:
        # The office files for its own municipality; what it may reopen is app.domain.access's call.
        self._municipality_id()
        return web.application_or_404(application_id)

    # -- pages --------------------------------------------------------------------------

    @expose("/")
    @has_access
    def index(self):
        mid = self._municipality_id()
        offered = intake.offered_services(db.session, plugin_runtime.registry(), mid)
        return self.render_template(
            "office/index.html",
            offered=offered,
            municipality=access.get_municipality(db.session, web.require_actor(), mid),
            title=_("New application"),
        )

    @expose("/find")
    @has_access
    def find(self):
        """A filed application of this municipality by its tracking number: to its receipt
        (a reprint, or a new access code for an applicant who lost theirs)."""
        mid = self._municipality_id()
        number = tracking.complete_tracking_number(request.args.get("tracking", "")[:MAX_TRACKING])
        found = None
        if number is not None:
            stmt = access.visible_applications(web.require_actor(), Application.id).where(
                Application.tracking_number == str(number),
                Application.municipality_id == mid,
                Application.submitted_at.is_not(None),
            )
            found = db.session.execute(stmt).scalar_one_or_none()
        if found is None:
            flash(
                _("No filed application of this municipality has that tracking number; check it and try again."),
                "warning",
            )
            return redirect(url_for(".index"))
        return redirect(url_for(".receipt", application_id=found))

    @expose("/new/<service_key>", methods=["GET", "POST"])
    @has_access
    def new(self, service_key: str):
        mid = self._municipality_id()
        offered = None
        if len(service_key) <= MAX_SERVICE_KEY:
            offered = intake.offered_service(db.session, plugin_runtime.registry(), mid, service_key)
        if offered is None:
            return self._error(_("Your municipality does not offer this service."), 404)
        service, activation = offered
        locale = current_locale()
        form = plugin_runtime.form_class(service, locale)()
        applicant = applicant_form()
        doc_errors: dict[str, str] = {}
        problems: list[str] = []

        if request.method == "GET":
            applicant.token.data = intake.new_submission_token()
            return self._render_form(service, form, applicant, doc_errors, problems, 200)

        token = applicant.token.data or ""
        key = intake.submission_key(g.user.id, token)
        if key is None:
            applicant.token.data = intake.new_submission_token()
            problems.append(
                _(
                    "The form has expired or did not come from this site. Check the entries, choose the files again and send it again."
                )
            )
            return self._render_form(service, form, applicant, doc_errors, problems, 400)
        actor = web.current_actor()
        storage = get_storage(current_flask_app())
        # Files kept from an earlier refused submission of this very form, minus those unticked.
        fresh = {req.key: intake.uploaded_files(request.files.getlist(f"doc-{req.key}")) for req in service.documents}
        removed = request.form.getlist("staged-remove")
        kept = staging.staged_for(db.session, actor, mid, token)
        removed += [str(row.id) for row in staging.resent(kept, fresh)]
        if removed:
            staging.discard(db.session, storage, actor, mid, token, removed)
            kept = staging.staged_for(db.session, actor, mid, token)
        declared = {req.key for req in service.documents}
        kept = [row for row in kept if row.requirement_key in declared]
        kept_keys = [row.storage_key for row in kept]
        stored = staging.as_uploads(storage, kept)
        refused: intake.FilingRefused | None = None
        try:
            # A double submit (second click, reload after a slow answer) gets the first one back.
            result = intake.file(
                db.session,
                plugin_runtime.host(),
                storage,
                actor,
                municipality_id=mid,
                service_key=service.key,
                data=form.raw_values(),
                applicant=applicant_raw(applicant),
                uploads={k: [*stored.get(k, []), *files] for k, files in fresh.items()},
                channel=channels.OFFICE,
                submission_key=key,
                locale=locale,
                receipt_key=current_flask_app().config["SECRET_KEY"],
                staged_ids=[row.id for row in kept],
                activation=activation,  # read above: not again
            )
        except intake.FilingRefused as exc:
            refused = exc
            problems += _mark_errors(form, applicant, exc)
            doc_errors.update(exc.documents)
        except StorageFull as exc:
            # Only an operator can make room: "try again in a moment" would be untrue.
            problems.append(str(exc))
        except StorageError:
            problems.append(_("The documents could not be stored just now; nothing was filed. Try again in a moment."))
        except WorkflowError as exc:
            problems.append(str(exc))
        else:
            if result.created:
                # Their rows went with the filing; the filed copies live under their own keys.
                delete_quietly(storage, kept_keys)
            # The id from the identity map, not the expired row: no read after the commit,
            # so a connection lost now cannot turn a filed application into an error page.
            filed_id = cast("tuple[int]", sa_inspect(result.application).identity)[0]
            return redirect(url_for(".receipt", application_id=filed_id))
        finally:
            for uploads in stored.values():
                for upload in uploads:
                    upload.close()
        kept = staging.staged_for(db.session, actor, mid, token)
        if refused is not None:
            # Keep what passed its checks, so the clerk need not scan it again.
            new_rows, not_kept = staging.stage(db.session, storage, actor, mid, token, service, fresh, already=kept)
            kept += new_rows
            for requirement_key, message in not_kept.items():
                doc_errors.setdefault(requirement_key, message)
        kept = [row for row in kept if row.requirement_key in declared]
        if kept:
            problems.insert(
                0,
                _(
                    "The application was not filed. Correct the marked entries. The files already accepted are "
                    "kept and listed with their documents; choose again only the files marked with an error."
                ),
            )
        else:
            problems.insert(
                0, _("The application was not filed. Correct the marked entries and choose the files again.")
            )
        return self._render_form(service, form, applicant, doc_errors, problems, 400, kept)

    def _render_form(self, service, form, applicant, doc_errors, problems, status, kept=()):
        locale = current_locale()
        response = make_response(
            self.render_template(
                "office/new.html",
                service=service,
                form=form,
                applicant=applicant,
                checklist=_checklist(service, locale, list(kept)),
                doc_errors=doc_errors,
                problems=problems,
                title=pick(service.title, locale),
            ),
            status,
        )
        return _no_store(response)

    @expose("/applicants")
    @has_access
    def applicants(self):
        """Earlier applicants of this municipality matching ``q`` (JSON, for the form's search)."""
        mid = self._municipality_id()
        query = request.args.get("q", "")
        found = intake.find_applicants(db.session, plugin_runtime.host(), web.current_actor(), mid, query)
        return _no_store(jsonify({"query": query.strip(), "results": [item.to_dict() for item in found]}))

    def _never_filed(self):
        # A receipt confirms a filing: a draft (or a draft withdrawn before filing) has none,
        # even for the clerk who created it.
        return self._error(_("This application has not been filed yet, so it has no receipt."), 404)

    def _secret_key(self) -> str:
        return current_flask_app().config["SECRET_KEY"]

    @expose("/receipt/<int:application_id>")
    @has_access
    def receipt(self, application_id: int):
        application = self._application(application_id)
        if application.submitted_at is None:
            return self._never_filed()
        code = receipts.pending_code(db.session, application, secret_key=self._secret_key())
        try:
            service: Service | None = workflow.service_of(application, plugin_runtime.registry())
        except WorkflowError:
            service = None
        documents = access.documents_of(db.session, application)
        titles = {d.key: pick(d.title, current_locale()) for d in (service.documents if service else ())}
        response = make_response(
            self.render_template(
                "office/receipt.html",
                application=application,
                service=service,
                access_code=code,
                track_url=_track_url(),
                may_hand_over=receipts.may_hand_over(web.current_actor(), application),
                documents=documents,
                titles=titles,
                title=_("Application filed") if code else _("Receipt"),
            )
        )
        return _no_store(response)

    @expose("/receipt/<int:application_id>/receipt.pdf")
    @has_access
    def receipt_pdf(self, application_id: int):
        application = self._application(application_id)
        if application.submitted_at is None:
            return self._never_filed()
        try:
            service = workflow.service_of(application, plugin_runtime.registry())
        except WorkflowError as exc:
            return self._error(str(exc), 404)
        # The code is printed until the clerk confirms the hand-over; after that, a copy.
        code = receipts.pending_code(db.session, application, secret_key=self._secret_key())
        pdf = receipts.receipt_pdf(
            db.session,
            application,
            service,
            access_code=code,
            locale=RECEIPT_LOCALE,
            track_url=_track_url(),
            actor=web.current_actor(),
            ip=request.remote_addr,
        )
        response = make_response(pdf)
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{receipts.receipt_filename(application.tracking_number)}"'
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return _no_store(response)

    def _receipt_action(self, application_id: int, act):
        application = self._application(application_id)
        if application.submitted_at is None:
            return self._never_filed()
        try:
            act(application)
        except NotAllowed as exc:
            return self._error(str(exc), 403)
        except InvalidAction:
            return self._never_filed()
        except ChangedMeanwhile as exc:
            flash(str(exc), "warning")
        return redirect(url_for(".receipt", application_id=application.id))

    @expose("/receipt/<int:application_id>/handed-over", methods=["POST"])
    @has_access
    def receipt_handed_over(self, application_id: int):
        """The clerk confirms the receipt with the code was printed or handed over."""

        def act(application: Application) -> None:
            if receipts.confirm_handed_over(db.session, web.current_actor(), application, ip=request.remote_addr):
                flash(_("Recorded: the receipt was handed over. The access code is no longer shown."), "success")
            else:
                # A second click, or a colleague confirmed first: the outcome is the same.
                flash(_("The receipt had already been confirmed as handed over."), "info")

        return self._receipt_action(application_id, act)

    @expose("/receipt/<int:application_id>/new-code", methods=["POST"])
    @has_access
    def receipt_new_code(self, application_id: int):
        """A lost access code: a new one replaces it and waits on the receipt to be printed."""

        def act(application: Application) -> None:
            receipts.reissue_code(
                db.session, web.current_actor(), application, secret_key=self._secret_key(), ip=request.remote_addr
            )
            flash(
                _("A new access code was issued; the old one no longer works. Print the receipt and hand it over."),
                "success",
            )

        return self._receipt_action(application_id, act)
