"""The staff REST API under /api/v1 (JWT from FAB's POST /api/v1/security/login).

Thin: requests are parsed and checked here; who sees what is app.domain.access, what may happen is
app.domain.workflow, what form data is valid is app.plugins.runtime — the same rules as the
HTML screens. Every application and document is looked up inside the municipalities the
token's user may see, so another municipality's id is a plain 404 on every endpoint.

Built on ``BaseApi`` rather than ``ModelRestApi`` (see app.api.listing for why): there are no
generic write endpoints, so no column such as ``status``, ``municipality_id``,
``tracking_number`` or ``version`` can be set by a client; the only writes are the workflow
actions and creating a draft, each reading an explicit list of keys and refusing others.

Messages are in the language asked for with ``?_l_=hy|en|ru`` (Flask-AppBuilder's API
locale switch), Armenian by default.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response, current_app, g, request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_babel import gettext as _

from app import errors, web
from app.api import listing
from app.domain import access, channels, deadlines, documents, idempotency, inputs, intake, statuses, workflow
from app.domain import casefile as case
from app.domain.access import MAX_PK, Actor
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.domain.storage import get_storage
from app.extensions import current_flask_app, db
from app.i18n import current_locale
from app.models import Application
from app.plugins import runtime as plugin_runtime

MAX_KEY = 100
ACTION_KEYS = {
    "action",
    "expected_version",
    "comment",
    "reason",
    "what_to_fix",
    "assignee_id",
    "days",
    # return: the declared fields and documents to fix; resubmit: the corrected field values;
    # hand_over: how the result reached the applicant.
    "fields",
    "documents",
    "data",
    "method",
}
CREATE_KEYS = {"service_key", "data", "applicant"}
APPLICANT_KEYS = {"name", "psn", "phone", "email", "address"}
IDEMPOTENCY_HEADER = "Idempotency-Key"
TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


class BadRequest(ValueError):
    """The request cannot be handed to the domain; carries field errors for the client."""

    def __init__(self, message: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _not_text(value: Any) -> bool:
    return value is not None and not isinstance(value, str)


def _action_input(body: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for :func:`app.domain.workflow.act` from an action request, once
    its JSON types are right. A number that is not a positive whole number in range is
    handed over as missing, so the workflow names what it needed."""
    errors = {
        key: _("Send text here.") for key in ("comment", "reason", "what_to_fix", "method") if _not_text(body.get(key))
    }
    for key in ("fields", "documents"):
        value = body.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            errors[key] = _("Send a list of keys.")
    data = body.get("data")
    if data is not None:
        allowed = (str, int, float, bool, type(None))
        if not isinstance(data, dict):
            errors["data"] = _("Send the form data as an object.")
        else:
            errors.update(
                {
                    f"data.{name}": _("This value has the wrong type.")
                    for name, value in data.items()
                    if not (
                        isinstance(value, allowed)
                        or (isinstance(value, list) and all(isinstance(v, allowed) for v in value))
                    )
                }
            )
    if errors:
        raise BadRequest(_("Some fields are not valid."), errors)
    action = body.get("action")
    reason, what_to_fix = body.get("reason"), body.get("what_to_fix")
    if action == workflow.RETURN and what_to_fix is None:
        # Deprecated: API clients sent what to fix as ``reason`` before the field had its own name.
        reason, what_to_fix = None, reason
    return {
        "action": action if isinstance(action, str) else "",
        "expected_version": inputs.whole_number(body.get("expected_version"), workflow.MAX_VERSION),
        "comment": body.get("comment"),
        "reason": reason,
        "what_to_fix": what_to_fix,
        "assignee_id": inputs.whole_number(body.get("assignee_id"), MAX_PK),
        "days": inputs.whole_number(body.get("days"), deadlines.MAX_WORKING_DAYS),
        "fields": body.get("fields") or (),
        "documents": body.get("documents") or (),
        # JSON numbers arrive as the text a form field holds: the same rules as the HTML form.
        "data": _as_form_values(data) if isinstance(data, dict) else None,
        "method": body.get("method"),
    }


def _json_object() -> dict[str, Any]:
    """The request body as a JSON object whose every string can be stored as text."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        # json gives up on deep nesting with RecursionError, which ``silent`` does not cover.
        raise BadRequest(_("The JSON in the request body is nested too deeply.")) from None
    if not isinstance(body, dict):
        raise BadRequest(_("Send a JSON object as the request body."))
    errors = inputs.text_problems(body, "")
    if errors:
        raise BadRequest(_("Some fields are not valid."), errors)
    return body


def _refuse_unknown(body: Mapping[str, Any], allowed: set[str], prefix: str = "") -> None:
    unknown = sorted(str(key) for key in body if key not in allowed)
    if unknown:
        raise BadRequest(
            _("These fields cannot be set here: %(fields)s.", fields=", ".join(prefix + key for key in unknown)),
            {prefix + key: _("This field cannot be set here.") for key in unknown},
        )


def _form_value(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return [_form_value(item) for item in value]


def _as_form_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    return {str(name): _form_value(value) for name, value in raw.items()}


def _filing_input(body: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments for :func:`app.domain.intake.file` from a create request, once
    its shape is right; what the values mean is the domain's to check, so an unknown or
    missing service is reported there, together with the applicant's and the data's errors."""
    errors: dict[str, str] = {}
    key = body.get("service_key")
    applicant = body.get("applicant")
    if not isinstance(applicant, dict):
        errors["applicant"] = _("Send the applicant as an object with at least a name.")
    else:
        _refuse_unknown(applicant, APPLICANT_KEYS, "applicant.")
    data = body.get("data")
    if not isinstance(data, dict):
        errors["data"] = _("Send the form data as an object.")
    else:
        allowed = (str, int, float, bool, type(None))
        errors.update(
            {
                f"data.{name}": _("This value has the wrong type.")
                for name, value in data.items()
                if not (
                    isinstance(value, allowed)
                    or (isinstance(value, list) and all(isinstance(v, allowed) for v in value))
                )
            }
        )
    if errors or not isinstance(data, dict):
        raise BadRequest(_("Some fields are not valid."), errors)
    # JSON numbers arrive as the text a form field holds: the same rules as the HTML form.
    service_key = key.strip() if isinstance(key, str) else ""
    return {"service_key": service_key, "data": _as_form_values(data), "applicant": applicant}


def _submission_key(user_id: int) -> str | None:
    """With an Idempotency-Key, the draft's submission key (unique per application): intake
    finds the draft the same key filed instead of filing another, also when the key's record
    is gone or a commit's answer was lost (intake retries and looks again)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key:
        return None
    digest = hashlib.sha256(f"{int(user_id)}\0{key}".encode()).hexdigest()
    return f"api-{digest[:60]}"


class ApplicationsApi(BaseApi):
    """Applications for staff: list, show, act, documents; service form schemas."""

    route_base = "/api/v1"
    resource_name = "applications"
    class_permission_name = "ApplicationsApi"
    method_permission_name = {
        "list_applications": "read",
        "show_application": "read",
        "get_document": "read",
        "service_schema": "read",
        "act": "act",
        "create_application": "act",
    }
    openapi_spec_tag = "Applications"

    # -- helpers --------------------------------------------------------------------------

    def _fail(self, status: int, message: str, errors: Mapping[str, str] | None = None):
        payload: dict[str, Any] = {"message": message}
        if errors:
            payload["errors"] = dict(errors)
        return self.response(status, **payload)

    def _refusal(self, exc: Exception):
        """The answer for a request the domain refused; nothing was changed (the caller rolled back)."""
        if isinstance(exc, BadRequest):
            return self._fail(400, exc.message, exc.errors)
        if isinstance(exc, workflow.InvalidInput):
            return self._fail(400, _("Some fields are not valid."), {k: str(m) for k, m in exc.errors.items()})
        if isinstance(exc, ChangedMeanwhile):
            return self._fail(409, str(exc))
        if isinstance(exc, NotAllowed):
            return self._fail(403, str(exc))
        if isinstance(exc, documents.DocumentMissing):
            return self._fail(404, str(exc))
        if isinstance(exc, documents.DocumentUnavailable):
            return self._fail(503, str(exc))
        return self._fail(400, str(exc))

    def _not_found(self):
        return self._fail(404, _("There is no such application, or you may not see it."))

    def _idempotent(self, work: Callable[[], Response]) -> Response:
        """Run ``work`` at most once per ``Idempotency-Key`` of this user (app.domain.idempotency):
        a resend replays the first answer. Without the header, just ``work()``."""
        raw = request.headers.get(IDEMPOTENCY_HEADER)
        actor = self._actor()
        if raw is None or actor is None:
            return work()
        secret = current_app.config["SECRET_KEY"]
        try:
            outcome = idempotency.begin(
                db.session,
                user_id=actor.user_id,
                key=idempotency.check_key(raw),
                method=request.method,
                path=request.path,
                request_digest=idempotency.request_hash(request.method, request.path, request.get_data(cache=True)),
                secret_key=secret,
            )
        except idempotency.KeyInvalid:
            return self._fail(
                400, _("The Idempotency-Key header must be 1 to 255 printable characters without spaces.")
            )
        except idempotency.KeyReused:
            return self._fail(
                422, _("This Idempotency-Key was already used for another request. Use a new key for a new request.")
            )
        except idempotency.StillInProgress as exc:
            if exc.stale:
                return self._fail(
                    409,
                    _(
                        "The first request with this Idempotency-Key did not finish. Check whether it was recorded before sending it again with a new key."
                    ),
                )
            return self._fail(
                409, _("A request with this Idempotency-Key is still being answered. Wait a moment and send it again.")
            )
        if isinstance(outcome, idempotency.Replay):
            replayed = self.response(outcome.status_code, **outcome.body)
            replayed.headers["Idempotent-Replayed"] = "true"
            return replayed
        # Only commits made by the work itself decide whether giving the key up is safe.
        g.pop(errors.COMMIT_BEGUN, None)
        try:
            response = work()
        except BaseException:
            self._give_up(outcome)
            raise
        if response.status_code >= 500:
            self._give_up(outcome)
            return response
        idempotency.finish(db.session, outcome, response.status_code, response.get_json() or {}, secret_key=secret)
        return response

    def _give_up(self, claim: idempotency.Claim) -> None:
        # A failure before any commit changed nothing: the client may resend with the key.
        # After a commit was begun the outcome is unknown; the claim stays (409 on a resend).
        if not g.get(errors.COMMIT_BEGUN):
            db.session.rollback()
            idempotency.abandon(db.session, claim)

    def _actor(self) -> Actor | None:
        actor = web.current_actor()
        return actor if actor is not None and actor.active else None

    def _application(self, pk: int) -> Application | None:
        try:
            return access.get_application(db.session, self._actor(), pk)
        except access.NotFound:
            return None

    def _may(self, permission: str) -> bool:
        return bool(self.appbuilder.sm.has_access(permission, self.class_permission_name))

    def _show(self, application: Application, actor: Actor | None) -> dict[str, Any]:
        summary = case.summary(
            db.session,
            plugin_runtime.registry(),
            actor,
            application,
            current_locale(),
            may_act=self._may("can_act"),
            may_open_documents=self._may("can_read"),  # the permission of get_document
        )
        document_url = f"{self.route_base}/applications/{application.id}/documents/"
        deadline = summary.deadline
        return {
            "id": application.id,
            "tracking_number": application.tracking_number,
            "service_key": application.service_key,
            "service_version": application.service_version,
            "service_title": summary.service_title if summary.service else None,
            "status": application.status,
            "status_label": summary.status_label,
            "current_step": application.current_step,
            "channel": application.channel,
            "version": application.version,
            "fee": application.fee,
            "department_id": application.department_id,
            "assignee_id": application.assignee_id,
            "created_at": _iso(application.created_at),
            "submitted_at": _iso(application.submitted_at),
            "due_at": _iso(application.due_at),
            "step_due_at": _iso(application.step_due_at),
            "closed_at": _iso(application.closed_at),
            "deadline": {
                "overdue": deadline.overdue,
                "step_overdue": deadline.step_overdue,
                "suspended_since": _iso(deadline.suspended_since),
            },
            "applicant": {row.key: row.value for row in summary.applicant},
            "personal_data_masked": not summary.personal_shown,
            "data": summary.data,
            "documents": [
                {
                    "id": d.id,
                    "requirement_key": d.requirement_key,
                    "title": d.title,
                    "original_name": d.original_name,
                    "content_type": d.content_type,
                    "size": d.size,
                    "sha256": d.sha256,
                    "uploaded_at": _iso(d.uploaded_at),
                    # Replaced by a resubmission: kept, no longer current.
                    "superseded": d.superseded,
                    # Only for a reader who may open it: no link that would answer 403.
                    "url": f"{document_url}{d.id}" if summary.may_open_documents else None,
                }
                for d in summary.documents
            ],
            "history": [
                {
                    "at": _iso(e.at),
                    "action": e.action,
                    "actor_id": e.actor_id,
                    "step_key": e.step_key,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "comment": e.comment,
                    # What the act named or changed; personal values masked as on the case page.
                    "details": e.details,
                    # A substitute acted for this absent colleague (else null).
                    "on_behalf_of_id": e.on_behalf_of_id,
                }
                for e in summary.events
            ],
            "allowed_actions": sorted(summary.actions),
        }

    # -- list -----------------------------------------------------------------------------

    def _list_args(self) -> tuple[listing.ListFilters, int, int | None]:
        errors: dict[str, str] = {}
        status = (request.args.get("status") or "").strip()
        if status and status not in statuses.ALL:
            errors["status"] = _("Choose one of: %(values)s.", values=", ".join(statuses.ALL))
        service = (request.args.get("service") or "").strip()
        if service and (
            len(service) > MAX_KEY or access.visible_service(plugin_runtime.registry(), self._actor(), service) is None
        ):
            errors["service"] = _("There is no such service.")
        overdue_raw = (request.args.get("overdue") or "").strip().lower()
        if overdue_raw not in TRUE | FALSE:
            errors["overdue"] = _("Use true or false.")
        maximum = int(current_app.config.get("HAMAYNK_API_MAX_PAGE_SIZE", 100))
        limit = listing.DEFAULT_LIMIT
        if request.args.get("limit") is not None:
            limit = inputs.whole_number(request.args.get("limit"), maximum) or 0
            if not limit:
                errors["limit"] = _("Use a whole number from 1 to %(max)d.", max=maximum)
        after = None
        if request.args.get("after") is not None:
            after = inputs.whole_number(request.args.get("after"), MAX_PK)
            if after is None:
                errors["after"] = _("Use the next_after value of the previous page.")
        if errors:
            raise BadRequest(_("Some query parameters are not valid."), errors)
        return (
            listing.ListFilters(status=status or None, service=service or None, overdue=overdue_raw in TRUE),
            limit,
            after,
        )

    @expose("/applications", methods=["GET"])
    @protect()
    @safe
    def list_applications(self):
        """Applications the caller may see, newest first, by keyset pages (no total count).
        ---
        get:
          summary: List applications
          parameters:
          - {in: query, name: status, schema: {type: string}, description: Only this status}
          - {in: query, name: service, schema: {type: string}, description: Only this service key}
          - {in: query, name: overdue, schema: {type: boolean}, description: Only late applications (overall or current step)}
          - {in: query, name: limit, schema: {type: integer, minimum: 1, maximum: 100, default: 25}}
          - {in: query, name: after, schema: {type: integer}, description: next_after of the previous page}
          responses:
            200:
              description: One page
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      result: {type: array, items: {type: object}}
                      next_after: {type: integer, nullable: true}
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
        """
        try:
            filters, limit, after = self._list_args()
        except BadRequest as exc:
            return self._fail(400, exc.message, exc.errors)
        page = listing.list_applications(db.session, self._actor(), filters, limit=limit, after=after)
        return self.response(200, result=page.rows, next_after=page.next_after, limit=limit)

    # -- show -----------------------------------------------------------------------------

    @expose("/applications/<int:pk>", methods=["GET"])
    @protect()
    @safe
    def show_application(self, pk: int):
        """One application with its form data, documents (metadata) and history.
        ---
        get:
          summary: Show an application
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200:
              description: The application
              content:
                application/json:
                  schema: {type: object}
            404:
              $ref: '#/components/responses/404'
        """
        application = self._application(pk)
        if application is None:
            return self._not_found()
        return self.response(200, result=self._show(application, self._actor()))

    # -- act ------------------------------------------------------------------------------

    @expose("/applications/<int:pk>/actions", methods=["POST"])
    @protect()
    @safe
    def act(self, pk: int):
        """Take a workflow action on an application.
        ---
        post:
          summary: Act on an application
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - in: header
            name: Idempotency-Key
            required: false
            schema: {type: string, minLength: 1, maxLength: 255}
            description: >-
              Any unique value (a UUID) per request. A resend with the same key and body gets
              the first answer again (header Idempotent-Replayed: true) instead of acting twice;
              the same key with another body is refused (422); while the first is still being
              answered, 409. Kept for 24 hours per user
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [action]
                  properties:
                    action:
                      type: string
                      enum: [approve, reject, return, resubmit, withdraw, comment, reassign, extend, take, hand_over]
                    expected_version: {type: integer, description: The version you saw; required except for comment}
                    comment:
                      type: string
                      description: Staff note for approve, resubmit and hand_over; the text itself for comment (required)
                    reason:
                      type: string
                      description: Required for reject (shown to the applicant) and extend; optional for reassign and withdraw
                    what_to_fix:
                      type: string
                      description: >-
                        For return: what to correct, shown to the applicant. A return needs
                        what_to_fix, fields or documents (at least one). Deprecated alias:
                        reason, when what_to_fix is not sent
                    fields:
                      type: array
                      items: {type: string}
                      description: >-
                        For return: keys of the service's form fields to fix (see
                        /api/v1/services/{key}/schema); an unknown key is refused
                    documents:
                      type: array
                      items: {type: string}
                      description: >-
                        For return: keys of the service's checklist documents to fix; an
                        unknown key is refused. A resubmission must attach a new file to each
                        one, which the API cannot send yet: resubmit such a case at the office
                    data:
                      type: object
                      description: >-
                        For resubmit: corrected values of the fields the return named. A value
                        for any other field is refused unless it equals the stored one; the
                        whole form is validated again, as at intake
                    method:
                      type: string
                      enum: [in_person, post, online]
                      description: >-
                        Required for hand_over (approved applications only; a front-office
                        clerk or the staff of the last step): how the result reached the
                        applicant. The application becomes issued and is closed
                    assignee_id: {type: integer, description: Required for reassign}
                    days: {type: integer, description: Working days; required for extend}
          responses:
            200:
              description: Done; the application as it is now
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: >-
                Changed by someone else meanwhile; reload and try again. Or a request with the
                same Idempotency-Key is still being answered
            422:
              description: The Idempotency-Key was used before for another request
        """
        return self._idempotent(lambda: self._act(pk))

    def _act(self, pk: int) -> Response:
        application = self._application(pk)
        if application is None:
            return self._not_found()
        actor = self._actor()
        if actor is None:
            return self._fail(403, _("You are not allowed to do this."))
        try:
            body = _json_object()
            _refuse_unknown(body, ACTION_KEYS)
            workflow.act(db.session, application, actor=actor, host=plugin_runtime.host(), **_action_input(body))
            workflow.commit(db.session)
        except (BadRequest, WorkflowError) as exc:
            db.session.rollback()
            return self._refusal(exc)
        # Committed: the row reloads its expired columns on first use.
        return self.response(200, result=self._show(application, actor))

    # -- create ---------------------------------------------------------------------------

    @expose("/applications", methods=["POST"])
    @protect()
    @safe
    def create_application(self):
        """File a draft application for a service the caller's municipality offers.
        ---
        post:
          summary: Create a draft application
          description: >-
            The form data is checked by the same rules as the office form. The draft still
            needs its documents and submission at the front office. The response carries the
            applicant's access code once; only its hash is stored (a replay through
            Idempotency-Key shows it again within 24 hours).
          parameters:
          - in: header
            name: Idempotency-Key
            required: false
            schema: {type: string, minLength: 1, maxLength: 255}
            description: >-
              Any unique value (a UUID) per request. A resend with the same key and body gets
              the first answer again (header Idempotent-Replayed: true) instead of a second
              draft; the same key with another body is refused (422); while the first is still
              being answered, 409. Kept for 24 hours per user
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [service_key, data, applicant]
                  properties:
                    service_key: {type: string}
                    data: {type: object}
                    applicant:
                      type: object
                      required: [name]
                      properties:
                        name: {type: string}
                        psn: {type: string}
                        phone: {type: string}
                        email: {type: string}
                        address: {type: string}
          responses:
            201:
              description: The draft
            400:
              $ref: '#/components/responses/400'
            403:
              $ref: '#/components/responses/403'
            409:
              description: A request with the same Idempotency-Key is still being answered
            422:
              description: The Idempotency-Key was used before for another request
        """
        return self._idempotent(self._create_application)

    def _create_application(self) -> Response:
        actor = self._actor()
        if actor is None or actor.municipality_id is None:
            return self._fail(403, _("Only the municipality's staff may file applications."))
        shown: dict[str, Any] = {}

        def capture(session: Any, application: Application) -> None:
            # The answer is read inside the filing's transaction: after its commit nothing is
            # read again, so a connection lost then cannot turn a filed draft into an error.
            shown.update(self._show(application, actor))

        try:
            body = _json_object()
            _refuse_unknown(body, CREATE_KEYS)
            filed = intake.file(
                db.session,
                plugin_runtime.host(),
                get_storage(current_flask_app()),
                actor,
                municipality_id=actor.municipality_id,
                channel=channels.API,
                submit=False,
                locale=current_locale(),
                before_commit=capture,
                submission_key=_submission_key(actor.user_id),
                **_filing_input(body),
            )
        except intake.FilingRefused as exc:
            db.session.rollback()
            return self._fail(400, str(exc), exc.errors())
        except (BadRequest, WorkflowError) as exc:
            db.session.rollback()
            return self._refusal(exc)
        # Not created: the same key filed it before (its record purged, or a commit whose
        # answer was lost and retried by intake); the access code was shown then, not again.
        result = dict(shown) if filed.created else self._show(filed.application, actor)
        result["access_code"] = filed.access_code
        return self.response(201, result=result)

    # -- documents ------------------------------------------------------------------------

    @expose("/applications/<int:pk>/documents/<int:document_id>", methods=["GET"])
    @protect()
    @safe
    def get_document(self, pk: int, document_id: int):
        """Download one document of an application (always as an attachment; audit-logged).
        ---
        get:
          summary: Download a document
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: path, name: document_id, required: true, schema: {type: integer}}
          responses:
            200:
              description: The file
              content:
                application/octet-stream:
                  schema: {type: string, format: binary}
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        application = self._application(pk)
        if application is None:
            return self._not_found()
        try:
            document = access.document_of(db.session, application, document_id)
        except access.NotFound:
            return self._fail(404, _("There is no such document."))
        try:
            opened = documents.open_document(
                db.session,
                get_storage(current_flask_app()),
                self._actor(),
                application,
                document,
                channel=channels.API,
                ip=request.remote_addr,
            )
        except WorkflowError as exc:
            return self._refusal(exc)
        return web.send_document(opened)

    # -- services -------------------------------------------------------------------------

    @expose("/services/<key>/schema", methods=["GET"])
    @protect()
    @safe
    def service_schema(self, key: str):
        """The JSON Schema of a service's form (newest version), as the API validates it.
        ---
        get:
          summary: Form schema of a service
          parameters:
          - {in: path, name: key, required: true, schema: {type: string}}
          responses:
            200:
              description: JSON Schema
              content:
                application/json:
                  schema: {type: object}
            404:
              $ref: '#/components/responses/404'
        """
        registered = None
        if len(key) <= MAX_KEY:
            # Another municipality's own (builder) service does not exist for this caller.
            registered = access.visible_service(plugin_runtime.registry(), self._actor(), key)
        if registered is None:
            return self._fail(404, _("There is no such service."))
        schema = plugin_runtime.json_schema(registered.service, current_locale())
        return self.response(200, **schema)


__all__ = ["ApplicationsApi"]
