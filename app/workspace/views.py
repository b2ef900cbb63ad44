"""Back-office screens: the inbox, the case page, its actions and its documents.

Thin views: the request is parsed here; who sees what is app.tenancy and app.domain.inbox,
what may happen is app.domain.workflow, what the page shows is app.domain.casefile. Every
application and document is looked up inside the municipalities the user may see, so
another municipality's id is a plain 404 on every endpoint. Every POST is CSRF-protected
(Flask-WTF's CSRFProtect covers the whole site).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from flask import abort, current_app, flash, g, make_response, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from sqlalchemy import select

from app import tenancy
from app.domain import casefile as case
from app.domain import deadlines, inbox, statuses, workflow
from app.domain.declarations import pick
from app.domain.errors import ChangedMeanwhile, NotAllowed, ServiceUnavailable, WorkflowError
from app.domain.storage import ObjectNotFound, StorageError, get_storage
from app.extensions import db
from app.i18n import current_locale
from app.models import Application, ApplicationDocument, AuditEvent
from app.plugins import runtime as plugin_runtime

# Largest primary key a database integer column holds; anything bigger is simply "not found".
MAX_PK = 2**63 - 1
MAX_TEXT = 5000
MAX_VERSION = 2**31 - 1

# What each action form posts besides the version, and which workflow function it calls.
ACTIONS = ("approve", "reject", "return", "comment", "reassign", "extend", "resubmit", "withdraw")


class BadInput(ValueError):
    """A form value that cannot even be handed to the workflow (not a number, too long)."""


def _int_arg(value: str | None, message: str, maximum: int = MAX_PK) -> int:
    text = (value or "").strip()
    if not text.isdigit() or len(text) > 19 or int(text) > maximum:
        raise BadInput(message)
    return int(text)


def _text_arg(name: str) -> str:
    value = request.form.get(name, "")
    if len(value) > MAX_TEXT:
        raise BadInput(_("The text is too long: at most %(max)d characters.", max=MAX_TEXT))
    return value


def _date_arg(name: str, problems: list[str]) -> dt.date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
    except ValueError:
        pass
    problems.append(_("Enter dates as YYYY-MM-DD; the date filter was ignored."))
    return None


class WorkspaceView(BaseView):
    """The clerk's and specialist's desk."""

    route_base = "/workspace"
    class_permission_name = "Workspace"
    method_permission_name = {
        "inbox": "list",
        "case": "show",
        "act": "act",
        "download": "document",
        "preview": "document",
    }
    default_view = "inbox"

    # -- helpers --------------------------------------------------------------------------

    def _actor(self) -> workflow.Actor:
        actor = workflow.load_actor(db.session, g.user.id)
        if actor is None or not actor.active:
            abort(403)
        return actor

    def _application(self, application_id: int) -> Application:
        if application_id > MAX_PK:
            abort(404)
        stmt = tenancy.scope(select(Application).where(Application.id == application_id), Application, g.user)
        application = db.session.execute(stmt).scalar_one_or_none()
        if application is None or (application.status == statuses.DRAFT and not self._may_see_drafts(application)):
            abort(404)
        return application

    def _may_see_drafts(self, application: Application) -> bool:
        # A draft is the applicant's (or the filing clerk's) until it is submitted.
        return application.created_by_id == g.user.id

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    def _error(self, message: str, status: int, back: str | None = None):
        return self.render_template(
            "hamaynk/error.html", title=_("Workspace"), message=message, back_url=back or url_for(".inbox")
        ), status

    # -- inbox ----------------------------------------------------------------------------

    def _filters(self, problems: list[str]) -> inbox.Filters:
        service = (request.args.get("service") or "").strip()
        if service and plugin_runtime.registry().get(service[:100]) is None:
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
        tab = request.args.get("tab") if request.args.get("tab") in tabs else tabs[0]
        problems: list[str] = []
        filters = self._filters(problems)
        cursor = None
        token = request.args.get("cursor")
        if token:
            try:
                cursor = inbox.decode_cursor(current_app.secret_key, token)
            except inbox.BadCursor:
                problems.append(_("The page link was damaged or has expired; showing the first page."))
        registry = plugin_runtime.registry()
        page = inbox.list_page(
            db.session,
            registry,
            actor,
            tab,
            municipality_ids=tenancy.visible_municipality_ids(g.user),
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
                + urlencode({**args, "cursor": inbox.encode_cursor(current_app.secret_key, target)})
            )

        locale = current_locale()
        today = deadlines.today()
        rows = []
        for row in page.rows:
            application = row.application
            registered = registry.get(application.service_key, application.service_version)
            service = registered.service if registered else None
            step = service.step(application.current_step) if service and application.current_step else None
            rows.append(
                {
                    "application": application,
                    "service": pick(service.title, locale) if service else application.service_key,
                    "step": pick(step.title, locale) if step else "",
                    "status": statuses.LABELS.get(application.status, application.status),
                    "assignee": row.assignee_name,
                    "overdue": deadlines.is_overdue(application, today)
                    or deadlines.is_step_overdue(application, today),
                }
            )
        tab_labels = {
            inbox.MINE: _("My tasks"),
            inbox.DEPARTMENT: _("My department"),
            inbox.ALL: _("All in municipality"),
        }
        services = sorted(((r.key, pick(r.service.title, locale)) for r in registry.latest()), key=lambda item: item[1])
        return self.render_template(
            "workspace/inbox.html",
            title=_("Inbox"),
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

    def _render_case(
        self, application: Application, actor: workflow.Actor, status: int = 200, error: str | None = None
    ):
        locale = current_locale()
        try:
            service = workflow.service_of(application)
        except ServiceUnavailable as exc:
            service = None
            error = error or str(exc)
        show_personal = case.may_see_personal(actor, application)
        actions: list[str] = []
        if self._may("can_act") and service is not None:
            actions = workflow.allowed_actions(db.session, application, actor.user_id) + workflow.staff_actions(
                db.session, application, actor.user_id
            )
        step = workflow.current_step(application, service) if service else None
        candidates = case.reassign_candidates(db.session, application, step) if "reassign" in actions else []
        titles = {d.key: pick(d.title, locale) for d in service.documents} if service else {}
        documents = list(application.documents)
        assignee = (
            case.user_names(db.session, [application.assignee_id]).get(application.assignee_id)
            if application.assignee_id
            else None
        )
        response = make_response(
            self.render_template(
                "workspace/case.html",
                title=application.tracking_number,
                application=application,
                service=service,
                service_title=pick(service.title, locale) if service else application.service_key,
                step_title=pick(step.title, locale) if step else "",
                status_label=statuses.LABELS.get(application.status, application.status),
                fields=case.form_rows(service, application.data or {}, locale, show_personal) if service else [],
                applicant=case.applicant_rows(application, show_personal),
                documents=documents,
                document_titles=titles,
                may_open_documents=show_personal and self._may("can_document"),
                preview_types=case.PREVIEW_TYPES,
                events=case.timeline(db.session, application, service, locale),
                deadline=case.deadline_info(db.session, application),
                actions=actions,
                candidates=candidates,
                assignee=assignee,
                max_extension=deadlines.MAX_WORKING_DAYS,
                error=error,
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
        if action not in ACTIONS:
            abort(404)
        try:
            version = _int_arg(
                request.form.get("version"),
                _("The form is missing the version of the application; reload it and try again."),
                MAX_VERSION,
            )
            self._run(application, actor, action, version)
            workflow.commit(db.session)
        except BadInput as exc:
            db.session.rollback()
            return self._render_case(self._application(application_id), actor, 400, str(exc))
        except ChangedMeanwhile as exc:
            db.session.rollback()
            return self._render_case(self._application(application_id), actor, 409, str(exc))
        except NotAllowed as exc:
            db.session.rollback()
            return self._render_case(self._application(application_id), actor, 403, str(exc))
        except WorkflowError as exc:
            db.session.rollback()
            return self._render_case(self._application(application_id), actor, 400, str(exc))
        flash(_("Done."), "success")
        return redirect(url_for(".case", application_id=application_id), 303)

    def _run(self, application: Application, actor: workflow.Actor, action: str, version: int) -> None:
        common: dict[str, Any] = {"actor_id": actor.user_id}
        if action == "comment":
            # A comment changes nothing, so it never conflicts; the version is still checked
            # for being a number above, like every form of the page.
            workflow.comment(db.session, application, text=_text_arg("comment"), **common)
            return
        common["expected_version"] = version
        if action == "approve":
            workflow.approve(db.session, application, comment=_text_arg("comment"), **common)
        elif action == "reject":
            workflow.reject(db.session, application, reason=_text_arg("reason"), **common)
        elif action == "return":
            workflow.return_for_correction(db.session, application, what_to_fix=_text_arg("what_to_fix"), **common)
        elif action == "resubmit":
            workflow.resubmit(db.session, application, comment=_text_arg("comment"), **common)
        elif action == "withdraw":
            workflow.withdraw(db.session, application, reason=_text_arg("reason"), **common)
        elif action == "reassign":
            assignee_id = _int_arg(
                request.form.get("assignee_id"), _("Choose the staff member to hand the application to.")
            )
            workflow.reassign(db.session, application, assignee_id=assignee_id, reason=_text_arg("reason"), **common)
        elif action == "extend":
            days = _int_arg(
                request.form.get("days"),
                _("Extend by 1 to %(max)s working days.", max=deadlines.MAX_WORKING_DAYS),
                deadlines.MAX_WORKING_DAYS,
            )
            workflow.extend_deadline(db.session, application, days=days, reason=_text_arg("reason"), **common)

    # -- documents ------------------------------------------------------------------------

    def _document(
        self, application_id: int, document_id: int
    ) -> tuple[Application, ApplicationDocument, workflow.Actor]:
        actor = self._actor()
        application = self._application(application_id)
        if document_id > MAX_PK:
            abort(404)
        document = db.session.execute(
            select(ApplicationDocument).where(
                ApplicationDocument.id == document_id,
                ApplicationDocument.application_id == application.id,
                ApplicationDocument.municipality_id == application.municipality_id,
            )
        ).scalar_one_or_none()
        if document is None:
            abort(404)
        if not case.may_see_personal(actor, application):
            abort(
                make_response(
                    self._error(
                        _("Documents hold personal data; your role may see that they exist, not open them."), 403
                    )
                )
            )
        return application, document, actor

    def _serve(self, application_id: int, document_id: int, inline: bool):
        application, document, actor = self._document(application_id, document_id)
        back = url_for(".case", application_id=application.id)
        if inline and document.content_type not in case.PREVIEW_TYPES:
            return self._error(_("This type of file cannot be previewed; download it instead."), 404, back)
        try:
            stream = get_storage().open(document.storage_key)
        except ObjectNotFound:
            return self._error(
                _("The file of this document is missing from the storage; tell the administrator."), 404, back
            )
        except StorageError:
            return self._error(_("The document storage cannot be reached now; try again in a moment."), 503, back)
        # Written and committed before a byte is sent: a view that left no trace must not happen.
        db.session.add(
            AuditEvent(
                actor_id=actor.user_id,
                municipality_id=application.municipality_id,
                action="document.view" if inline else "document.download",
                object_type="application_document",
                object_id=str(document.id),
                details={"application_id": application.id, "sha256": document.sha256},
                ip=(request.remote_addr or "")[:45] or None,
            )
        )
        try:
            db.session.commit()
        except Exception:
            stream.close()
            db.session.rollback()
            raise
        name = case.download_name(document.original_name, document.id, document.content_type)
        response = send_file(
            stream,
            mimetype=document.content_type,
            as_attachment=not inline,
            download_name=name,
            etag=False,
            conditional=False,
            max_age=0,
        )
        response.headers["Content-Disposition"] = case.content_disposition(
            "inline" if inline else "attachment", name, document.id
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "private, no-store"
        if inline:
            response.headers["Content-Security-Policy"] = case.PREVIEW_CSP
        return response

    @expose("/applications/<int:application_id>/documents/<int:document_id>")
    @has_access
    def download(self, application_id: int, document_id: int):
        return self._serve(application_id, document_id, inline=False)

    @expose("/applications/<int:application_id>/documents/<int:document_id>/preview")
    @has_access
    def preview(self, application_id: int, document_id: int):
        return self._serve(application_id, document_id, inline=True)
