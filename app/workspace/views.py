"""Back-office screens: the inbox, the case page, its actions and its documents.

Thin views: the request is parsed here; who sees what is app.domain.access and app.domain.inbox,
what may happen is app.domain.workflow, what the page shows is app.domain.casefile. Every
application and document is looked up inside the municipalities the user may see, so
another municipality's id is a plain 404 on every endpoint. Every POST is CSRF-protected
(Flask-WTF's CSRFProtect covers the whole site).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from flask import abort, current_app, flash, make_response, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.domain import access, channels, deadlines, documents, inbox, inputs, statuses, workflow
from app.domain import casefile as case
from app.domain.access import MAX_PK, Actor
from app.domain.declarations import pick
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.domain.storage import get_storage
from app.extensions import current_flask_app, db
from app.i18n import current_locale
from app.models import Application, ApplicationDocument
from app.plugins import runtime as plugin_runtime


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
        services = sorted(
            ((r.key, pick(r.service.title, locale)) for r in access.visible_services(registry, actor)),
            key=lambda item: item[1],
        )
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

    def _render_case(self, application: Application, actor: Actor, status: int = 200, error: str | None = None):
        summary = case.summary(
            db.session,
            plugin_runtime.registry(),
            actor,
            application,
            current_locale(),
            may_act=self._may("can_act"),
            may_open_documents=self._may("can_document"),
        )
        response = make_response(
            self.render_template(
                "workspace/case.html",
                title=application.tracking_number,
                application=application,
                summary=summary,
                preview_types=documents.PREVIEW_TYPES,
                max_extension=deadlines.MAX_WORKING_DAYS,
                error=error or summary.problem,
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
            )
            workflow.commit(db.session)
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
        response = send_file(opened.stream, mimetype=opened.content_type, etag=False, conditional=False, max_age=0)
        response.headers.update(opened.headers)
        return response

    @expose("/applications/<int:application_id>/documents/<int:document_id>")
    @has_access
    def download(self, application_id: int, document_id: int):
        return self._serve(application_id, document_id, documents.DOWNLOAD)

    @expose("/applications/<int:application_id>/documents/<int:document_id>/preview")
    @has_access
    def preview(self, application_id: int, document_id: int):
        return self._serve(application_id, document_id, documents.PREVIEW)
