"""Back-office screens: the inbox, the case page, its actions and its documents.

Thin views: the request is parsed here; who sees what is app.domain.access and app.domain.inbox,
what may happen is app.domain.workflow, what the page shows is app.domain.casefile. Every
application and document is looked up inside the municipalities the user may see, so
another municipality's id is a plain 404 on every endpoint. Every POST is CSRF-protected
(Flask-WTF's CSRFProtect covers the whole site).

The case page lists the documents issued for the case (:func:`issued_panel`); their download
goes through app.domain.issuing.open_issued (audited), re-issuing through
app.domain.issuing.reissue and revoking through app.domain.verification.revoke, both the
head's alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select

from app import web
from app.domain import (
    access,
    activations,
    channels,
    deadlines,
    documents,
    inbox,
    inputs,
    issuing,
    payments,
    related,
    roles,
    statuses,
    verification,
    workflow,
)
from app.domain import casefile as case
from app.domain.access import MAX_PK, Actor
from app.domain.citizen_notices import STATUS_LABELS as DELIVERY_LABELS
from app.domain.citizen_notices import deliveries as notice_deliveries
from app.domain.corrections import ADD, requested
from app.domain.declarations import pick
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.domain.storage import StorageError, get_storage
from app.extensions import current_flask_app, db
from app.i18n import current_locale
from app.models import Application, ApplicationDocument, IssuedDocument, User
from app.plugins import runtime as plugin_runtime
from app.workspace import permissions as workspace_permissions
from app.workspace.payments import panel as payment_panel


def _date_arg(name: str, problems: list[str]) -> dt.date | None:
    return inputs.date_filter(request.args.get(name), problems)


# The lists of rows the case page shows (app.domain.related), for staff of the application's
# municipality and for anyone else who may open it (a system administrator).
CASE_LISTS = (access.DOCUMENTS, issuing.ISSUED, payments.PAYMENTS, access.NOTIFICATIONS)
CASE_LISTS_ELSEWHERE = (access.DOCUMENTS, access.NOTIFICATIONS)


# -- issued documents of a case ------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedRow:
    document: IssuedDocument
    code: str  # as printed
    kind: str
    status: str
    verify_url: str
    download_url: str | None
    successor_number: str | None
    revoked_by: str | None
    may_reissue: bool
    may_revoke: bool


@dataclass(frozen=True)
class IssuedPanel:
    """What the case page shows of the documents issued for the application."""

    rows: list[IssuedRow]
    may_manage: bool  # the head of the municipality: re-issue and revoke


def _may_manage(actor: Actor, document: IssuedDocument) -> bool:
    try:
        issuing.check_may_manage(actor, document)
    except NotAllowed:
        return False
    return True


def issued_panel(actor: Actor, application: Application, *, may_open: bool) -> IssuedPanel | None:
    """The issued documents of ``application`` for the staff of its municipality (``None`` for
    anyone else, and for an application that has none and is not decided yet). Downloads for
    those whose role opens documents (``may_open``); re-issue and revoke for the head."""
    if not access.same_municipality(actor, application):
        return None
    found = sorted(issuing.documents_of(db.session, application), key=lambda d: (d.sequence, d.id), reverse=True)
    if not found and application.status not in (statuses.APPROVED, statuses.ISSUED, statuses.REJECTED):
        return None
    by_id = {d.id: d for d in found}
    revokers = sorted({d.revoked_by_id for d in found if d.revoked_by_id is not None})
    names = {}
    if revokers:
        for user in db.session.execute(select(User).where(User.id.in_(revokers))).scalars():
            names[user.id] = f"{user.first_name} {user.last_name}".strip()
    rows = []
    for d in found:
        manage = _may_manage(actor, d)
        successor = by_id.get(d.superseded_by_id) if d.superseded_by_id is not None else None
        rows.append(
            IssuedRow(
                document=d,
                code=issuing.format_code(d.code),
                kind=str(verification.KIND_LABELS.get(d.kind, d.kind)),
                status=str(verification.STATUS_LABELS.get(d.status, d.status)),
                verify_url=url_for("verify.show", code=issuing.format_code(d.code)),
                download_url=url_for("WorkspaceView.issued_download", application_id=application.id, issued_id=d.id)
                if may_open
                else None,
                successor_number=successor.number if successor is not None else None,
                revoked_by=names.get(d.revoked_by_id) if d.revoked_by_id is not None else None,
                # A superseded document has its successor already: that one is re-issued or revoked.
                may_reissue=manage and d.status != verification.SUPERSEDED and d.superseded_by_id is None,
                may_revoke=manage and d.status == verification.VALID,
            )
        )
    return IssuedPanel(rows=rows, may_manage=any(r.may_reissue or r.may_revoke for r in rows))


class WorkspaceView(BaseView):
    """The clerk's and specialist's desk."""

    route_base = "/workspace"
    class_permission_name = workspace_permissions.NAME
    base_permissions = workspace_permissions.PERMISSIONS
    method_permission_name = {
        "inbox": "list",
        "case": "show",
        "act": "act",
        "download": "document",
        "preview": "document",
        "issued_download": "document",
        "issued_revoke": "act",
        "issued_reissue": "act",
    }
    default_view = "inbox"

    # -- helpers --------------------------------------------------------------------------

    def _actor(self) -> Actor:
        return web.require_actor()

    def _application(self, application_id: int) -> Application:
        return web.application_or_404(application_id)

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    def _error(self, message: str, status: int, back: str | None = None):
        return self.render_template(
            "hamaynk/error.html", title=_("Workspace"), message=message, back_url=back or url_for(".inbox")
        ), status

    # -- inbox ----------------------------------------------------------------------------

    def _filters(self, problems: list[str]) -> inbox.Filters:
        service = (request.args.get("service") or "").strip()
        if service and access.visible_service(plugin_runtime.registry(), web.current_actor(), service[:100]) is None:
            problems.append(_("There is no such service; the service filter was ignored."))
            service = ""
        status = (request.args.get("status") or "").strip()
        if status and status not in statuses.ALL:
            problems.append(_("There is no such status; the status filter was ignored."))
            status = ""
        q = (request.args.get("q") or "").strip()
        if len(q) > inbox.MAX_QUERY:
            problems.append(_("The search text is too long; only its beginning was used."))
            q = q[: inbox.MAX_QUERY]
        return inbox.Filters(
            service=service or None,
            status=status or None,
            overdue=request.args.get("overdue") == "1",
            submitted_from=_date_arg("from", problems),
            submitted_to=_date_arg("to", problems),
            q=q,
        )

    @staticmethod
    def _query_args(tab: str, filters: inbox.Filters) -> dict[str, str]:
        args = {"tab": tab}
        if filters.service:
            args["service"] = filters.service
        if filters.status:
            args["status"] = filters.status
        if filters.overdue:
            args["overdue"] = "1"
        if filters.submitted_from:
            args["from"] = filters.submitted_from.isoformat()
        if filters.submitted_to:
            args["to"] = filters.submitted_to.isoformat()
        if filters.q:
            args["q"] = filters.q
        return args

    @expose("/")
    @has_access
    def inbox(self):
        actor = self._actor()
        tabs = inbox.tabs_for(actor)
        if not tabs:
            return self._error(_("Your account does not belong to a municipality, so it has no inbox."), 403, "/")
        asked = request.args.get("tab", "")
        tab = asked if asked in tabs else tabs[0]
        problems: list[str] = []
        filters = self._filters(problems)
        cursor = None
        token = request.args.get("cursor")
        if token:
            try:
                cursor = inbox.decode_cursor(current_app.config["SECRET_KEY"], token)
            except inbox.BadCursor:
                problems.append(_("The page link was damaged or has expired; showing the first page."))
        registry = plugin_runtime.registry()
        page = inbox.list_page(
            db.session,
            registry,
            actor,
            tab,
            filters=filters,
            cursor=cursor,
        )
        args = self._query_args(tab, filters)

        def page_url(target: inbox.Cursor | None) -> str | None:
            if target is None:
                return None
            return (
                url_for(".inbox")
                + "?"
                + urlencode({**args, "cursor": inbox.encode_cursor(current_app.config["SECRET_KEY"], target)})
            )

        locale = current_locale()
        today = deadlines.today()
        may_act = self._may("can_act")
        own_code = inbox.department_code_of(db.session, actor) if may_act and page.rows else None
        # How long each returned case has waited for its correction (one query for the page).
        returned = case.returned_since(
            db.session, actor, [r.application.id for r in page.rows if r.application.status == statuses.RETURNED]
        )
        rows = []
        for row in page.rows:
            application = row.application
            registered = registry.get(application.service_key, application.service_version)
            service = registered.service if registered else None
            step = service.step(application.current_step) if service and application.current_step else None
            # "Assign to me" on unassigned work of these two tabs: they hold only steps of the
            # reader's department (or of colleagues they stand in for, whose named department
            # must then be the reader's own), so the step's role decides. The act checks again.
            takeable = (
                may_act
                and tab in (inbox.MINE, inbox.DEPARTMENT)
                and application.assignee_id is None
                and application.status in workflow.AT_STEP
                and step is not None
                and actor.has(roles.ROLE_BY_KEY.get(step.role, step.role))
                and (step.department is None or step.department == own_code)
            )
            rows.append(
                {
                    "application": application,
                    "service": pick(service.title, locale) if service else application.service_key,
                    "step": pick(step.title, locale) if step else "",
                    "status": statuses.LABELS.get(application.status, application.status),
                    "assignee": row.assignee_name,
                    "overdue": deadlines.is_overdue(application, today)
                    or deadlines.is_step_overdue(application, today),
                    "takeable": takeable,
                    "returned_days": (today - returned[application.id]).days if application.id in returned else None,
                }
            )
        tab_labels = {
            inbox.MINE: _("My tasks"),
            inbox.DEPARTMENT: _("My department"),
            inbox.ALL: _("All in municipality"),
        }
        services = sorted(
            ((r.key, pick(r.service.title, locale)) for r in access.visible_services(registry, actor)),
            key=lambda item: item[1],
        )
        # Steps nobody in the municipality can act on: applications reaching them wait there.
        # Shown on every view, so from facts at most HAMAYNK_STAFFING_RECHECK_SECONDS old
        # (changes made in this process at once); advice only: every act checks rights live.
        recheck = float(current_app.config.get(activations.RECHECK_SECONDS, activations.DEFAULT_RECHECK_SECONDS))
        gaps = (
            activations.staffing_gaps(db.session, actor.municipality_id, registry, max_age=recheck)
            if actor.municipality_id is not None
            else []
        )
        return self.render_template(
            "workspace/inbox.html",
            title=_("Inbox"),
            staffing_gaps=[
                (pick(g.registered.service.title, locale), [s.describe(locale) for s in g.steps]) for g in gaps
            ],
            tabs=[(t, tab_labels[t]) for t in tabs],
            tab=tab,
            rows=rows,
            filters=filters,
            problems=problems,
            services=services,
            status_labels=statuses.LABELS,
            next_url=page_url(page.next_cursor),
            prev_url=page_url(page.prev_cursor),
            tab_url=lambda t: url_for(".inbox") + "?" + urlencode({**args, "tab": t}),
        )

    # -- case page ------------------------------------------------------------------------

    def _resubmit_form(self, application: Application, service, bound: bool = False):
        """The form of a resubmission: the service's own generated form (as at intake), of
        which the page shows only the fields the return named. Prefilled with the stored
        data, or ``bound`` to what was just posted. Its inputs are prefixed ``data-`` so a
        field can never collide with the page's own (version, comment)."""
        form_class = plugin_runtime.form_class(service, current_locale())
        if bound:
            return form_class(prefix="data")
        return form_class(formdata=None, prefix="data", data=dict(application.data or {}))

    def _render_case(
        self,
        application: Application,
        actor: Actor,
        status: int = 200,
        error: str | None = None,
        resubmit_form=None,
        doc_errors: dict[str, str] | None = None,
    ):
        own = access.same_municipality(actor, application)
        # The lists the page shows, read in one statement (the payment and issued-document
        # panels are its municipality's staff's only).
        related.prefetch(db.session, application, CASE_LISTS if own else CASE_LISTS_ELSEWHERE)
        # Its staff are told when the step it waits at has nobody who can act on it.
        gap = activations.application_gap(db.session, application, plugin_runtime.registry()) if own else None
        summary = case.summary(
            db.session,
            plugin_runtime.registry(),
            actor,
            application,
            current_locale(),
            may_act=self._may("can_act"),
            may_open_documents=self._may("can_document"),
        )
        if resubmit_form is None and summary.correction is not None and summary.service is not None:
            resubmit_form = self._resubmit_form(application, summary.service)
        response = make_response(
            self.render_template(
                "workspace/case.html",
                title=application.tracking_number,
                application=application,
                summary=summary,
                resubmit_form=resubmit_form,
                doc_errors=doc_errors or {},
                handover_methods=[(key, case.HANDOVER_LABELS[key]) for key in workflow.HANDOVER_METHODS],
                preview_types=documents.PREVIEW_TYPES,
                max_extension=deadlines.MAX_WORKING_DAYS,
                staffing_gap=gap.describe(current_locale()) if gap is not None else None,
                payment=payment_panel(actor, application),
                issued=issued_panel(actor, application, may_open=self._may("can_document")),
                max_reason=verification.MAX_REASON,
                error=error or summary.problem,
                # How each notification about it was delivered (channel, masked recipient, state).
                deliveries=notice_deliveries(db.session, application, actor, current_locale()),
                delivery_labels=DELIVERY_LABELS,
            ),
            status,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/applications/<int:application_id>")
    @has_access
    def case(self, application_id: int):
        actor = self._actor()
        return self._render_case(self._application(application_id), actor)

    @expose("/applications/<int:application_id>/<action>", methods=["POST"])
    @has_access
    def act(self, application_id: int, action: str):
        actor = self._actor()
        application = self._application(application_id)
        if action not in workflow.CASE_ACTIONS:
            abort(404)
        form = request.form
        confirmation = self._confirmation(application, actor, action)
        if confirmation is not None:
            return confirmation
        resubmission: dict = {}
        resubmit_form = None
        if action == workflow.RESUBMIT:
            resubmit_form, resubmission = self._resubmission(application)
        try:
            # Each action's form posts the fields workflow.act reads for it, under its names.
            workflow.act(
                db.session,
                application,
                action=action,
                actor=actor,
                host=plugin_runtime.host(),
                expected_version=inputs.whole_number(form.get("version"), workflow.MAX_VERSION),
                comment=form.get("comment"),
                reason=form.get("reason"),
                what_to_fix=form.get("what_to_fix"),
                assignee_id=inputs.whole_number(form.get("assignee_id"), MAX_PK),
                days=inputs.whole_number(form.get("days"), deadlines.MAX_WORKING_DAYS),
                fields=form.getlist("fields"),
                documents=form.getlist("documents"),
                method=form.get("method"),
                storage=get_storage(current_flask_app()),
                **resubmission,
            )
            workflow.commit(db.session)
        except workflow.InvalidInput as exc:
            db.session.rollback()
            if resubmit_form is None:
                return self._render_case(self._application(application_id), actor, 400, str(exc))
            # Each message next to its input, as at intake; the files must be chosen again.
            doc_errors: dict[str, str] = {}
            loose: list[str] = []
            shown = set(requested(workflow.history(db.session, application)).fields)
            for key, message in exc.errors.items():
                name = key[5:] if key.startswith("data.") else None
                if name in shown and name in resubmit_form:
                    resubmit_form[name].errors = [*list(resubmit_form[name].errors), str(message)]
                elif name is not None and name in resubmit_form:
                    # A field the page does not show (posted all the same): named in the message.
                    loose.append(f"{resubmit_form[name].label.text}: {message}")
                elif key.startswith("documents."):
                    doc_errors[key[10:]] = str(message)
                else:
                    loose.append(str(message))
            message = " ".join(
                [_("Nothing was resubmitted. Correct the marked entries and choose the files again."), *loose]
            )
            return self._render_case(
                self._application(application_id),
                actor,
                400,
                message,
                resubmit_form=resubmit_form,
                doc_errors=doc_errors,
            )
        except StorageError:
            db.session.rollback()
            return self._render_case(
                self._application(application_id),
                actor,
                503,
                _("The documents could not be stored just now; nothing was resubmitted. Try again in a moment."),
            )
        except WorkflowError as exc:
            return self._refused(application_id, actor, exc)
        flash(_("Done."), "success")
        return redirect(url_for(".case", application_id=application_id), 303)

    def _refused(self, application_id: int, actor: Actor, exc: WorkflowError):
        """The case page again, the change rolled back, with the workflow's refusal: 403 for
        what the reader may not do, 409 for a case changed meanwhile, 503 when the document
        storage is down (a decision's document could not be stored), else 400."""
        db.session.rollback()
        if isinstance(exc, NotAllowed):
            status = 403
        elif isinstance(exc, ChangedMeanwhile):
            status = 409
        elif isinstance(exc, documents.DocumentUnavailable):
            status = 503
        else:
            status = 400
        return self._render_case(self._application(application_id), actor, status, str(exc))

    def _resubmission(self, application: Application) -> tuple[Any, dict[str, Any]]:
        """The posted resubmission form and what workflow.act takes from it: the values of
        the fields the return named (unchecked boxes post nothing, so they are read from the
        form, not the request), any other declared field that was posted anyway (the domain
        refuses it unless unchanged), the files by checklist line and where to add them."""
        try:
            service = workflow.service_of(application, plugin_runtime.registry())
        except WorkflowError:
            return None, {}
        form = self._resubmit_form(application, service, bound=True)
        named = set(requested(workflow.history(db.session, application)).fields)
        raw = form.raw_values()
        data = {
            spec.name: raw[spec.name]
            for spec in service.fields
            if spec.name in named or f"data-{spec.name}" in request.form
        }
        uploads = {
            req.key: request.files.getlist(f"doc-{req.key}")
            for req in service.documents
            if f"doc-{req.key}" in request.files
        }
        add_to = [req.key for req in service.documents if request.form.get(f"mode-{req.key}") == ADD]
        return form, {"data": data, "uploads": uploads, "add_to": add_to}

    def _confirmation(self, application: Application, actor: Actor, action: str):
        """A page asking to confirm a rejection or the final approval, unless the form says it
        was confirmed; ``None`` when there is nothing to confirm. A plain page, not a script
        dialog: it works without JavaScript and with the keyboard alone, and the choice is
        repeated on it. Only what would pass is asked about (a rejection with a reason, an
        approval the reader may give); anything else goes straight to the workflow's refusal."""
        form = request.form
        if form.get("confirmed") == "1" or action not in (workflow.REJECT, workflow.APPROVE):
            return None
        registry = plugin_runtime.registry()
        try:
            service = workflow.service_of(application, registry)
        except WorkflowError:
            return None
        if action not in workflow.allowed_actions(db.session, application, actor=actor, registry=registry):
            return None
        if action == workflow.REJECT:
            reason = (form.get("reason") or "").strip()
            if not reason:
                return None
            heading = _("Reject application %(number)s?", number=application.tracking_number)
            question = _("The application is closed for good and the applicant is told this reason:")
            quoted, button, style = reason, _("Yes, reject the application"), "btn-danger"
        else:
            if not workflow.approves_finally(application, service):
                return None
            heading = _("Approve application %(number)s?", number=application.tracking_number)
            question = _("This is the last step: the whole application will be approved.")
            quoted, button, style = None, _("Yes, approve the application"), "btn-success"
        hidden = [(key, form.get(key) or "") for key in ("version", "reason", "comment") if form.get(key) is not None]
        response = make_response(
            self.render_template(
                "workspace/confirm.html",
                title=heading,
                heading=heading,
                question=question,
                quoted=quoted,
                button=button,
                button_style=style,
                hidden=hidden,
                action_url=url_for(".act", application_id=application.id, action=action),
                back_url=url_for(".case", application_id=application.id),
            )
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- documents ------------------------------------------------------------------------

    def _document(self, application_id: int, document_id: int) -> tuple[Application, ApplicationDocument, Actor]:
        actor = self._actor()
        document = web.document_or_404(application_id, document_id)
        return document.application, document, actor

    def _serve(self, application_id: int, document_id: int, purpose: str):
        application, document, actor = self._document(application_id, document_id)
        back = url_for(".case", application_id=application.id)
        try:
            opened = documents.open_document(
                db.session,
                get_storage(current_flask_app()),
                actor,
                application,
                document,
                purpose=purpose,
                channel=channels.OFFICE,
                ip=request.remote_addr,
            )
        except NotAllowed as exc:
            return self._error(str(exc), 403)
        except (documents.NoPreview, documents.DocumentMissing) as exc:
            return self._error(str(exc), 404, back)
        except documents.DocumentUnavailable as exc:
            return self._error(str(exc), 503, back)
        return web.send_document(opened)

    @expose("/applications/<int:application_id>/documents/<int:document_id>")
    @has_access
    def download(self, application_id: int, document_id: int):
        return self._serve(application_id, document_id, documents.DOWNLOAD)

    @expose("/applications/<int:application_id>/documents/<int:document_id>/preview")
    @has_access
    def preview(self, application_id: int, document_id: int):
        return self._serve(application_id, document_id, documents.PREVIEW)

    # -- issued documents -----------------------------------------------------------------

    def _issued(self, application_id: int, issued_id: int) -> tuple[Application, IssuedDocument, Actor]:
        actor = self._actor()
        application = self._application(application_id)
        # Another municipality's staff never reach here (the application is a 404 for them);
        # an auditor or a system administrator sees the case but not its issued files.
        if not access.same_municipality(actor, application):
            abort(404)
        try:
            return application, issuing.get_document(db.session, actor, application.id, issued_id), actor
        except access.NotFound:
            abort(404)

    def _issued_back(self, application_id: int) -> str:
        return url_for(".case", application_id=application_id) + "#case-issued"

    @expose("/applications/<int:application_id>/issued/<int:issued_id>")
    @has_access
    def issued_download(self, application_id: int, issued_id: int):
        application, document, actor = self._issued(application_id, issued_id)
        back = url_for(".case", application_id=application.id)
        try:
            opened = issuing.open_issued(
                db.session,
                get_storage(current_flask_app()),
                actor,
                application,
                document,
                channel=channels.OFFICE,
                ip=request.remote_addr,
            )
        except NotAllowed as exc:
            return self._error(str(exc), 403, back)
        except documents.DocumentMissing as exc:
            return self._error(str(exc), 404, back)
        except WorkflowError as exc:
            return self._error(str(exc), 503, back)
        return web.send_document(opened)

    @expose("/applications/<int:application_id>/issued/<int:issued_id>/revoke", methods=["POST"])
    @has_access
    def issued_revoke(self, application_id: int, issued_id: int):
        application, document, actor = self._issued(application_id, issued_id)
        try:
            verification.revoke(db.session, document, actor, request.form.get("reason"), ip=request.remote_addr)
            db.session.commit()
        except WorkflowError as exc:
            return self._refused(application_id, actor, exc)
        flash(_("Document %(number)s is revoked; its verification page says so.", number=document.number), "success")
        return redirect(self._issued_back(application.id), 303)

    @expose("/applications/<int:application_id>/issued/<int:issued_id>/reissue", methods=["POST"])
    @has_access
    def issued_reissue(self, application_id: int, issued_id: int):
        application, document, actor = self._issued(application_id, issued_id)
        try:
            # The head's decision (issuing.check_may_manage); committed there.
            new = issuing.reissue(db.session, plugin_runtime.host(), document, actor=actor, ip=request.remote_addr)
        except issuing.IssuingUnavailable:
            db.session.rollback()
            return self._render_case(
                self._application(application_id),
                actor,
                503,
                _("The document could not be stored just now; nothing was re-issued. Try again in a moment."),
            )
        except WorkflowError as exc:
            return self._refused(application_id, actor, exc)
        flash(
            _("Document %(new)s is issued in place of %(old)s.", new=new.number, old=document.number),
            "success",
        )
        return redirect(self._issued_back(application.id), 303)
