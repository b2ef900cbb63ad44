"""The audit trail's ties to Flask (the trail itself is app.domain.audit): who is acting
during a request, and an event for every refused request (403).

Flask-AppBuilder's ``has_access`` answers a signed-in user 403 (``abort(403)``, or its API's
``response_403``), and so do our own checks (:func:`app.web.require_actor`, the domain's
refusals), so one ``after_request`` sees them all. Anonymous visitors to a protected page are
sent to the sign-in page instead: that is not a refusal of anyone, so it is not recorded.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, g, has_request_context, request
from flask_appbuilder.const import LOGMSG_WAR_SEC_LOGIN_FAILED, LOGMSG_WAR_SEC_NOLDAP_OBJ

from app.domain import audit
from app.extensions import db

_HANDLING = "_hamaynk_audit_handling"


def remote_ip() -> str | None:
    return request.remote_addr


def current_context() -> audit.Context | None:
    """Who acts in the request being handled; ``None`` outside one (commands, jobs, start-up)."""
    if not has_request_context() or not g.get(_HANDLING):
        return None
    user = g.get("user")
    actor_id = user.id if user is not None and getattr(user, "is_authenticated", False) else None
    return audit.Context(actor_id, remote_ip())


def username_digest(username: str) -> str:
    """:func:`app.domain.audit.username_digest` keyed with this app's secret key."""
    return audit.username_digest(username, current_app.secret_key or "")


def _handling() -> None:
    setattr(g, _HANDLING, True)


def _handled(_error: BaseException | None) -> None:
    g.pop(_HANDLING, None)


def _record_refusal(response: Response) -> Response:
    if response.status_code != 403 or not g.get(_HANDLING):
        return response
    from app.web import current_actor

    actor = current_actor()
    # A refused request must have changed nothing; whatever it left in the session goes, so
    # that committing the event cannot commit half of it.
    db.session.rollback()
    audit.access_denied(
        db.session,
        actor_id=actor.user_id if actor is not None else None,
        ip=remote_ip(),
        endpoint=request.endpoint or "?",
        method=request.method,
        municipality_id=actor.municipality_id if actor is not None else None,
    )
    db.session.commit()
    return response


class WithholdTypedNames(logging.Filter):
    """Flask-AppBuilder logs the user name of every failed sign-in as typed: people type their
    password into the name box, so the name is withheld (the audit log has a keyed digest)."""

    MESSAGES = frozenset({LOGMSG_WAR_SEC_LOGIN_FAILED, LOGMSG_WAR_SEC_NOLDAP_OBJ})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg in self.MESSAGES or "with username" in str(record.msg):
            record.args = ("(withheld)",)
        return True


_FAB_LOGGERS = ("flask_appbuilder.security.manager", "flask_appbuilder.security.sqla.manager")


def _withhold_typed_names() -> None:
    for name in _FAB_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, WithholdTypedNames) for f in logger.filters):
            logger.addFilter(WithholdTypedNames())


def init_app(app: Flask) -> None:
    _withhold_typed_names()
    audit.install()
    audit.set_context_provider(current_context)
    app.before_request(_handling)
    app.teardown_request(_handled)
    app.after_request(_record_refusal)


__all__ = ["current_context", "init_app", "remote_ip", "username_digest"]
