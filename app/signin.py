"""Between "the password was right" and "signed in": the second factor.

Whichever page took the password (the staff /login/ of app.admin.login, or the portal's
/account/login, where staff may sign in too) hands the account to :func:`after_password`:

- no second factor on, none required: signed in at once (:func:`finish`);
- a second factor on: nobody is signed in yet. The account id waits in the session (with
  the time and the number of wrong codes) and the browser goes to the code page;
- a second factor required (an administrator whose municipality, or the install, asks for
  it) but not set up: the same, to the enrolment page, which must be completed first.

``login_user`` is called only once the code is right. The wait is short
(``HAMAYNK_SECOND_FACTOR_WINDOW`` seconds) and allows a few wrong codes (:data:`MAX_TRIES`);
the server-side limit on codes (app.limits, ``HAMAYNK_LIMIT_SECOND_FACTOR``, per account)
holds even against a client that replays an older cookie.

Audit (app.domain.audit.login / login_failed): every sign-in, failed password and failed code
(never the password, the code, or a typed name that matches no account).
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user
from sqlalchemy import or_, select

from app.domain import access, audit, second_factor
from app.extensions import db
from app.models import User

PENDING = "_hamaynk_second_factor"
CODE = "code"
ENROL = "enrol"
MAX_TRIES = 5
DEFAULT_WINDOW = 300


def _window() -> int:
    return int(current_app.config.get("HAMAYNK_SECOND_FACTOR_WINDOW") or DEFAULT_WINDOW)


def _ip() -> str | None:
    return request.remote_addr


def secret_key() -> str:
    return str(current_app.config["SECRET_KEY"])


# -- audit -------------------------------------------------------------------------------------


def audit_login(user: User, *, channel: str, second_factor_used: bool) -> None:
    actor = access.load_actor(db.session, user.id)
    audit.login(
        db.session,
        user.id,
        ip=_ip(),
        channel=channel,
        municipality_id=actor.municipality_id if actor is not None else None,
        second_factor=second_factor_used,
    )


def audit_failed(*, channel: str, reason: str, username: str | None = None, user_id: int | None = None) -> None:
    """A failed attempt: the account when the name typed is one (else only a keyed digest of
    the name: people type their password there), and why; never a password or a code."""
    if user_id is None and username:
        user = db.session.execute(
            select(User).where(or_(User.username == username, User.email == username)).limit(1)
        ).scalar_one_or_none()
        user_id = user.id if user is not None else None
    digest = audit.username_digest(username, secret_key()) if username and user_id is None else None
    audit.login_failed(db.session, ip=_ip(), channel=channel, user_id=user_id, username_digest=digest, reason=reason)


# -- the waiting sign-in ----------------------------------------------------------------------


def pending() -> dict[str, Any] | None:
    """The sign-in waiting for its second factor, or ``None`` (none, or it waited too long)."""
    value = session.get(PENDING)
    if not isinstance(value, dict) or not isinstance(value.get("user"), int):
        return None
    if time.time() - float(value.get("since", 0)) > _window():
        session.pop(PENDING, None)
        return None
    return value


def pending_user() -> User | None:
    value = pending()
    if value is None:
        return None
    user = db.session.get(User, value["user"])
    if user is None or not user.is_active:
        clear()
        return None
    return user


def clear() -> None:
    session.pop(PENDING, None)


def count_wrong() -> bool:
    """One more wrong code; ``False`` when the tries are used up (the wait is over then)."""
    value = pending()
    if value is None:
        return False
    value["tries"] = int(value.get("tries", 0)) + 1
    if value["tries"] >= MAX_TRIES:
        clear()
        return False
    session[PENDING] = value
    return True


def pending_key() -> str:
    """The rate-limit key of the code pages: the account waiting (empty: no limit applies)."""
    value = session.get(PENDING)
    user = value.get("user") if isinstance(value, dict) else None
    return f"second-factor:{user}" if isinstance(user, int) else ""


def next_url() -> str:
    value = pending() or {}
    target = value.get("next")
    return target if isinstance(target, str) and target.startswith("/") and not target.startswith("//") else "/"


def after_password(user: User, next_target: str | None) -> ResponseReturnValue | None:
    """Where a right password leads: ``None`` when no second factor is asked (the caller
    signs in as it does), otherwise the redirect to the code or enrolment page."""
    if second_factor.is_enabled(db.session, user.id):
        mode = CODE
    elif second_factor.required_for(db.session, user.id, current_app.config):
        mode = ENROL
    else:
        return None
    session[PENDING] = {
        "user": int(user.id),
        "mode": mode,
        "since": int(time.time()),
        "tries": 0,
        "next": next_target or "/",
    }
    db.session.commit()
    return redirect(url_for("AuthDBView.code" if mode == CODE else "AuthDBView.enrol"))


def finish(
    user: User, *, channel: str, second_factor_used: bool, next_target: str | None = None
) -> ResponseReturnValue:
    """Sign in (the password and any second factor were right) and go on: to ``next_target``
    or where the waiting sign-in was going."""
    target = next_target or (next_url() if pending() else "/")
    clear()
    login_user(user, remember=False)
    audit_login(user, channel=channel, second_factor_used=second_factor_used)
    db.session.commit()
    return redirect(target)


__all__ = [
    "CODE",
    "ENROL",
    "MAX_TRIES",
    "after_password",
    "audit_failed",
    "audit_login",
    "clear",
    "count_wrong",
    "finish",
    "next_url",
    "pending",
    "pending_key",
    "pending_user",
    "secret_key",
]
