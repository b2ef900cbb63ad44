"""What every audience (office, workspace, API, admin, portal) shares about the request: the
current :class:`~app.domain.access.Actor`, built once per request, and the access backstop.

The domain decides who may see what (app.domain.access); this module only ties it to Flask.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, abort, current_app, g, has_request_context, send_file
from flask import request_started as flask_request_started
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from app.domain import access, memo
from app.domain.access import Actor
from app.domain.documents import OpenedDocument
from app.extensions import db
from app.models import Application, ApplicationDocument

log = logging.getLogger(__name__)

# What the backstop does with an unscoped query during a request: "raise" (development,
# tests), "log" (production: a forgotten scope must not take a page down, but must be seen),
# or "off". Jobs and commands are not requests and are never checked.
SCOPE_CHECK = "HAMAYNK_SCOPE_CHECK"
SCOPE_CHECK_MODES = ("raise", "log", "off")
# Kept on ``g`` for one request. A test client's requests can share one app context (and
# so one ``g``) with the test around them, so both are dropped when the request ends.
_HANDLING = "_hamaynk_handling"
_ACTOR = "_hamaynk_actor"
# The signed-in user's id, own staff profile (or None) and its department's code (or None),
# as the sign-in check read them with the user (app.security); dropped when the request
# ends, like the actor.
OWN_PROFILE = "_hamaynk_own_profile"


_VERDICTS = access.ShapeVerdicts()


class NamedLikeItsMenuItem:
    """For a view whose permission name is also the name of its menu item: the item's
    ``menu_access`` hangs on the same name. Declared with the view's own permissions, or
    Flask-AppBuilder deletes it as it registers the view on every start after the first (and
    logs "Refused to delete permission view", as a role holds it). Put it before the view
    class: ``class V(NamedLikeItsMenuItem, BaseView)``."""

    base_permissions: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_permissions = {*(self.base_permissions or ()), "menu_access"}


class UnscopedQuery(RuntimeError):
    """A request queried municipality-owned rows without app.domain.access (a programming error)."""


def current_actor() -> Actor | None:
    """The signed-in user of this request as an actor (cached for the request); ``None`` for
    anonymous visitors and unknown users. Works for pages (session) and the API (JWT): both
    leave the user in ``g.user``."""
    user = g.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    cached = g.get(_ACTOR)
    if cached is None or cached[0] != user.id:
        # The sign-in check read the user's own staff profile with the user (app.security).
        prefetched = g.get(OWN_PROFILE)
        if prefetched is not None and prefetched[0] == user.id:
            actor = access.load_actor(db.session, user.id, profile=prefetched[1], department_code=prefetched[2])
        else:
            actor = access.load_actor(db.session, user.id)
        cached = (user.id, actor)
        setattr(g, _ACTOR, cached)
    return cached[1]


def require_actor() -> Actor:
    """:func:`current_actor`, or 403 for anyone who is not an active user."""
    actor = current_actor()
    if actor is None or not actor.active:
        abort(403)
    return actor


def application_or_404(application_id: int) -> Application:
    """The application if the current user may see it (:func:`app.domain.access.get_application`), else 404."""
    try:
        return access.get_application(db.session, require_actor(), application_id)
    except access.NotFound:
        abort(404)


def document_or_404(application_id: int, document_id: int) -> ApplicationDocument:
    """The document if the current user may see its application (:func:`app.domain.access.get_document`), else 404."""
    try:
        return access.get_document(db.session, require_actor(), application_id, document_id)
    except access.NotFound:
        abort(404)


def send_document(opened: OpenedDocument) -> Response:
    """The response that sends an opened document (:class:`app.domain.documents.OpenedDocument`):
    its stream, never cached or revalidated, with the headers the domain chose for it."""
    response = send_file(opened.stream, mimetype=opened.content_type, etag=False, conditional=False, max_age=0)
    response.headers.update(opened.headers)
    return response


def _check(state: ORMExecuteState) -> None:
    # Only while a request is being handled (from before_request on): a test or a shell that
    # merely pushes a request context to render something is not a request.
    if not has_request_context() or not g.get(_HANDLING):
        return
    mode = current_app.config.get(SCOPE_CHECK, "raise")
    if mode == "off":
        return
    # Production checks each statement shape once per process (access.ShapeVerdicts says
    # what that gives up); development and tests check every statement.
    problem = _VERDICTS.check(state) if mode == "log" else access.unscoped_load(state)
    if problem is None:
        return
    if mode == "log":
        log.error("%s", problem, stack_info=True)
        return
    raise UnscopedQuery(problem)


def _handling() -> None:
    setattr(g, _HANDLING, True)


def _handled(_error: BaseException | None) -> None:
    g.pop(_HANDLING, None)
    g.pop(_ACTOR, None)
    g.pop(OWN_PROFILE, None)


_installed = False


def _check_mode(app: Flask) -> None:
    # Checked at start-up: a typo must stop the start, not turn every request into a 500.
    mode = app.config.get(SCOPE_CHECK, "raise")
    if mode not in SCOPE_CHECK_MODES:
        raise RuntimeError(f"{SCOPE_CHECK}={mode!r} is not one of: {', '.join(SCOPE_CHECK_MODES)}")


def init_app(app: Flask) -> None:
    global _installed
    _check_mode(app)
    app.before_request(_handling)
    app.teardown_request(_handled)
    if not _installed:
        # On the Session class: every app of the process shares it; each reads its own mode.
        event.listen(Session, "do_orm_execute", _check)
        # Flask's signal is process-wide too (weakly held: a module function stays).
        flask_request_started.connect(memo.request_started)
        _installed = True


__all__ = [
    "SCOPE_CHECK",
    "SCOPE_CHECK_MODES",
    "UnscopedQuery",
    "application_or_404",
    "current_actor",
    "document_or_404",
    "init_app",
    "require_actor",
]
