"""Rate limits of the paths an attacker can try over and over: signing in (staff /login/, the
portal's /account/login, the API's /api/v1/security/login), the second-factor code, registering,
password resets and public look-ups. One helper over Flask-Limiter (app.extensions.limiter),
so every path counts the same way and answers the same way.

- Counters live where ``RATELIMIT_STORAGE_URI`` says: memory for one process, Redis when
  several processes serve the same install (all of them must see the same counters).
- Each limited view is counted per client address and, separately, per account typed in
  (the username or e-mail address, trimmed and in lower case): many addresses against one
  account are held up as much as one address against many accounts.
- Sign-in paths share one scope: a failure on the staff page, the portal or the API counts
  against the same address and the same account. They count failed attempts only (offices
  put many clerks behind one address, and a right password must not use up a colleague's
  tries); once over the limit even the right password is refused until the window passes.
  Registration and resets count every attempt (each one may send an e-mail).
- Over the limit nothing is done; the answer is 429 with ``Retry-After`` and a message in the
  user's language: JSON on /api/, otherwise the page the caller chooses or its audience's
  429 page.

Limits are in Flask-Limiter's notation ("10 per minute; 100 per hour") and come from
``HAMAYNK_LIMIT_*`` settings, read on every request (tests and operators may change them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from flask import current_app, g, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address

from app.domain.accounts import normalize_email
from app.extensions import limiter

# The one scope of every sign-in path (shared counters).
SIGN_IN_SCOPE = "sign-in"
# Used when a setting is missing or empty: a limit is never silently off.
FALLBACK_LIMIT = "10 per minute"
# Set on ``g`` by a view whose attempt failed (see :func:`mark_failed`).
_FAILED = "_hamaynk_attempt_failed"
# Statuses that mean "wrong credentials or code" on their own (the portal answers 400, the
# API 401), for views that do not call mark_failed.
_FAILED_STATUSES = frozenset({400, 401})

View = Callable[..., Any]
Refused = Callable[[int], ResponseReturnValue]


def setting(name: str) -> Callable[[], str]:
    """The limit in setting ``name``, read when a request is checked."""

    def value() -> str:
        return str(current_app.config.get(name) or FALLBACK_LIMIT)

    return value


def client_key() -> str:
    """Counted per client address (behind a reverse proxy, see docs/operations.md)."""
    return "ip:" + (get_remote_address() or "")


def account_key(*fields: str) -> Callable[[], str]:
    """Counted per account typed into the first of ``fields`` present in the form or JSON
    body. Requests with no account typed share one key (Flask-Limiter logs an error for an
    empty key and skips the limit)."""

    def key() -> str:
        for name in fields:
            value = request.form.get(name)
            if value is None:
                body = request.get_json(silent=True) if request.is_json else None
                value = body.get(name) if isinstance(body, dict) else None
            account = normalize_email(value)
            if account:
                return "account:" + account
        return "account:-"

    return key


def mark_failed() -> None:
    """Count this request as a failed attempt (for limits with ``failures_only``)."""
    setattr(g, _FAILED, True)


def _failed(response: Any) -> bool:
    return bool(g.get(_FAILED)) or getattr(response, "status_code", 200) in _FAILED_STATUSES


def seconds_to_wait() -> int:
    """How long the client must wait, from the limit just breached (at least a second)."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


def message(seconds: int) -> str:
    """What the person is told, in their language."""
    minutes = max(1, -(-seconds // 60))
    return _("Too many attempts. For your safety, wait %(minutes)d minute(s) and try again.", minutes=minutes)


def _api_refusal(seconds: int) -> ResponseReturnValue:
    response = make_response(jsonify({"message": message(seconds)}), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


def limited(
    setting_name: str,
    *,
    keys: Sequence[Callable[[], str]] = (client_key,),
    scope: str | None = None,
    failures_only: bool = False,
    methods: Sequence[str] = ("POST",),
    refused: Refused | None = None,
) -> Callable[[View], View]:
    """Limit a view (a function, or a Flask-AppBuilder view or API method) by the limits in
    setting ``setting_name``, once per key function in ``keys``.

    ``scope`` shares the counters between views (each view has its own otherwise);
    ``failures_only`` counts only attempts the view marks with :func:`mark_failed` or answers
    with 400/401 (the check still happens before the view runs). Over the limit: ``refused``
    (given the seconds to wait) answers, or on /api/ a JSON message, or the 429 error is
    left to the audience's error page. ``Retry-After`` is set on every refusal."""

    def decorate(view: View) -> View:
        inner = view
        for key in keys:
            options: dict[str, Any] = {
                "key_func": key,
                "methods": list(methods),
                "deduct_when": _failed if failures_only else None,
            }
            if scope:
                inner = limiter.shared_limit(setting(setting_name), scope=scope, **options)(inner)
            else:
                inner = limiter.limit(setting(setting_name), **options)(inner)

        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return inner(*args, **kwargs)
            except RateLimitExceeded:
                seconds = seconds_to_wait()
                if refused is not None:
                    response = make_response(refused(seconds))
                elif request.path.startswith("/api/"):
                    response = make_response(_api_refusal(seconds))
                else:
                    raise
                response.status_code = 429
                response.headers["Retry-After"] = str(seconds)
                return response

        return guarded

    return decorate


def sign_in(*fields: str, refused: Refused | None = None) -> Callable[[View], View]:
    """The limit of every sign-in path (``HAMAYNK_LIMIT_LOGIN``): failed attempts per client
    address and per account typed into ``fields`` (default ``username``), one shared scope."""
    return limited(
        "HAMAYNK_LIMIT_LOGIN",
        keys=(client_key, account_key(*(fields or ("username",)))),
        scope=SIGN_IN_SCOPE,
        failures_only=True,
        refused=refused,
    )


def per_account(setting_name: str, *fields: str) -> Callable[[View], View]:
    """Every POST per client address and per account typed into ``fields`` (registration,
    resets, resending a verification link)."""
    return limited(setting_name, keys=(client_key, account_key(*fields)))


__all__ = [
    "SIGN_IN_SCOPE",
    "account_key",
    "client_key",
    "limited",
    "mark_failed",
    "message",
    "per_account",
    "seconds_to_wait",
    "setting",
    "sign_in",
]
