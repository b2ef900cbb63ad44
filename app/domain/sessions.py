"""Sign-in sessions kept on the server (app.models.security.AuthSession).

A signed cookie or JWT cannot be taken back once issued, so neither carries the sign-in
itself: each carries a random session id, and a request is honoured only while the row for
that id is open. This module opens, checks and ends those rows; the web glue (app.security)
and the API's token endpoints (app.api.auth) call it.

- Signing out ends one session; changing or resetting a password ends all of the account's
  sessions, and deactivating the account does too. Both are caught by a flush listener on the
  user's ``password`` and ``active`` columns (:func:`install`), so Flask-AppBuilder's own
  password views, the portal's reset and the admin screens are covered alike.
- The browser that changed its own password stays signed in under a new session id (the
  old id, and every copy of the old cookie, stop working).
- Idle sessions end after a timeout the caller chooses (staff shorter than citizens).
- API sessions rotate their refresh token on every use; presenting a used refresh token again
  means it was copied, so the whole session ends.

Only the sha256 of a session id is stored: the table does not let anyone sign in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, event, inspect, select, update
from sqlalchemy.orm import Session, attributes

from app.domain.access import OWN_PROFILE, own_department_join, unscoped
from app.models import Department, StaffProfile, User
from app.models.base import utcnow
from app.models.security import AuthSession

WEB = "web"
API = "api"
KINDS = (WEB, API)

# Why a session ended (AuthSession.end_reason).
LOGOUT = "logout"
PASSWORD = "password"  # noqa: S105 - a reason, not a secret
DEACTIVATED = "deactivated"
IDLE = "idle"
REFRESH_REUSE = "refresh_reuse"

# last_seen_at is written at most this often: one UPDATE a minute per active session, not
# one per request.
TOUCH_EVERY = dt.timedelta(minutes=1)

# Keys in ``Session.info`` shared with the web glue. CURRENT: the open web session of the
# request being handled, as a :class:`Current`; the glue sets it once the cookie checked out
# and drops it when the request ends. REISSUED: the new id for that browser after its own
# password change, set only once the change is committed.
CURRENT = "hamaynk.auth_session.current"
REISSUED = "hamaynk.auth_session.reissued"
_PENDING = "hamaynk.auth_session.pending"


class UnknownKind(ValueError):
    """A session kind other than "web" or "api" (a programming error)."""


@dataclass(frozen=True)
class Current:
    """The sign-in a request is made under."""

    session_id: int
    user_id: int
    kind: str


def new_id() -> str:
    """A fresh random session id (what the cookie or token carries)."""
    return secrets.token_urlsafe(32)


def digest(raw_id: str) -> str:
    """What is stored for a session id."""
    return hashlib.sha256(raw_id.encode("utf-8")).hexdigest()


def open_session(
    session: Session,
    user_id: int,
    kind: str,
    *,
    ip: str | None = None,
    now: dt.datetime | None = None,
    refresh_jti: str | None = None,
) -> tuple[str, AuthSession]:
    """Start a sign-in for ``user_id``; returns the raw id to hand out and the (added) row."""
    if kind not in KINDS:
        raise UnknownKind(kind)
    raw = new_id()
    moment = now or utcnow()
    row = AuthSession(
        token_hash=digest(raw),
        user_id=user_id,
        kind=kind,
        created_at=moment,
        last_seen_at=moment,
        refresh_jti=refresh_jti,
        ip=(ip or "")[:45] or None,
    )
    session.add(row)
    return raw, row


def find(session: Session, raw_id: object) -> AuthSession | None:
    """The row for a raw session id, open or not; ``None`` for anything else."""
    if not isinstance(raw_id, str) or not raw_id or len(raw_id) > 256:
        return None
    return session.scalars(select(AuthSession).where(AuthSession.token_hash == digest(raw_id))).first()


def find_with_user(
    session: Session,
    raw_id: object,
    *,
    user_id: int,
    kind: str,
    user_model: Any = User,
    joins: Callable[[Select[Any]], Select[Any]] | None = None,
) -> Found | None:
    """The row for a raw session id of ``user_id`` and ``kind`` (open or not) with its user
    (``user_model``: Flask-AppBuilder's user class), the user's own staff profile (``None``
    for citizens) and its department's code, in one SELECT: checking a request's session costs one query, and what
    the request's actor is built from (app.domain.access.load_actor) is then loaded.
    ``joins`` adds joins with their ``contains_eager`` options (its roles and groups,
    joined in as well) and may add columns (handed back as ``Found.extra``); pass the same
    callable each time (the statement is built once for it)."""
    if not isinstance(raw_id, str) or not raw_id or len(raw_id) > 256:
        return None
    stmt = _session_with_user(user_model, kind, joins)
    found = session.execute(stmt, {"token_hash": digest(raw_id), "user_id": user_id}).unique().first()
    if found is None:
        return None
    profile = found[2]
    code = found[3] if profile is not None and profile.department_id is not None else None
    return Found(found[0], found[1], profile, code, tuple(found[4:]))


# Every request runs this SELECT; building it (its aliased joins above all) cost more than
# running it: 2-4 ms a page. A statement is immutable, so one per user class, kind and joins
# serves every request, with the session id and user as bound parameters.
_WITH_USER: dict[tuple[Any, str, Any], Select[Any]] = {}


def _session_with_user(user_model: Any, kind: str, joins: Callable[[Select[Any]], Select[Any]] | None) -> Select[Any]:
    key = (user_model, kind, joins)
    stmt = _WITH_USER.get(key)
    if stmt is None:
        stmt = (
            select(AuthSession, user_model, StaffProfile, Department.code)
            .join(user_model, user_model.id == AuthSession.user_id)
            .outerjoin(StaffProfile, StaffProfile.user_id == user_model.id)
            .outerjoin(Department, own_department_join())
            .where(
                AuthSession.token_hash == bindparam("token_hash"),
                AuthSession.user_id == bindparam("user_id"),
                AuthSession.kind == kind,
            )
        )
        if joins is not None:
            stmt = joins(stmt)
        stmt = _WITH_USER.setdefault(key, unscoped(stmt, reason=OWN_PROFILE))
    return stmt


class Found(NamedTuple):
    """What :func:`find_with_user` read: the session row, its user, the user's own staff
    profile (``None`` for citizens) and the code of the profile's department (``None``:
    no department)."""

    row: AuthSession
    user: Any
    profile: StaffProfile | None
    department_code: str | None = None
    extra: tuple[Any, ...] = ()  # the columns ``joins`` added, in order


def is_open(row: AuthSession, idle: dt.timedelta | None = None, now: dt.datetime | None = None) -> bool:
    """Whether ``row`` may still be used: not ended, not waiting for its second factor, not
    idle too long."""
    return row.ended_at is None and not row.pending_second_factor and not is_idle(row, idle, now)


def is_idle(row: AuthSession, idle: dt.timedelta | None, now: dt.datetime | None = None) -> bool:
    """Whether ``row`` has been unused for longer than ``idle`` (``None``: never idle)."""
    return idle is not None and (now or utcnow()) - row.last_seen_at > idle


def usable(
    session: Session,
    raw_id: object,
    *,
    user_id: int,
    kind: str,
    idle: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> AuthSession | None:
    """The open row of ``user_id`` for ``raw_id``, or ``None`` when the request must be
    treated as signed out: unknown id, another user's or kind's, ended, idle too long, or
    still waiting for its second factor. Writes nothing (see :func:`settle`)."""
    row = find(session, raw_id)
    if row is None or row.user_id != user_id or row.kind != kind or not is_open(row, idle, now):
        return None
    return row


def needs_touch(row: AuthSession, now: dt.datetime | None = None) -> bool:
    """Whether ``last_seen_at`` is due to move (its last move is at least a minute old)."""
    return (now or utcnow()) - row.last_seen_at >= TOUCH_EVERY


def touch(session: Session, row: AuthSession, *, now: dt.datetime | None = None) -> None:
    """Move ``last_seen_at`` of an open ``row`` to ``now`` with one UPDATE of that column
    alone (the caller commits). The row in the session is updated too, not expired."""
    moment = now or utcnow()
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == row.id, AuthSession.ended_at.is_(None))
        .values(last_seen_at=moment)
        .execution_options(synchronize_session=False)
    )
    attributes.set_committed_value(row, "last_seen_at", moment)


def settle(
    session: Session, row: AuthSession, *, idle: dt.timedelta | None = None, now: dt.datetime | None = None
) -> bool:
    """Record a use of ``row``: end it if idle too long, else move ``last_seen_at`` if the
    last move is a minute old. True when something was written (the caller commits)."""
    moment = now or utcnow()
    if row.ended_at is not None:
        return False
    if is_idle(row, idle, moment):
        end(session, row, IDLE, now=moment)
        return True
    if needs_touch(row, moment):
        touch(session, row, now=moment)
        return True
    return False


def end(session: Session, row: AuthSession, reason: str, *, now: dt.datetime | None = None) -> None:
    """End one session (no-op if it already ended: the first reason stays)."""
    if row.ended_at is None:
        row.ended_at = now or utcnow()
        row.end_reason = reason


def end_all(
    session: Session, user_id: int, reason: str, *, keep: int | None = None, now: dt.datetime | None = None
) -> int:
    """End every open session of ``user_id`` except the row ``keep``; returns how many."""
    moment = now or utcnow()
    query = select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    with session.no_autoflush:
        rows = list(session.scalars(query))
    for row in rows:
        end(session, row, reason, now=moment)
    return len(rows)


def rotate_refresh(session: Session, row: AuthSession, presented_jti: str, new_jti: str) -> bool:
    """Swap the session's one valid refresh token ``presented_jti`` for ``new_jti``.

    False when ``presented_jti`` is not the current one (already used, so copied or
    replayed): the session is then ended with REFRESH_REUSE, and the caller refuses. The
    swap is a conditional UPDATE, so of two concurrent refreshes with one token only one
    wins and the other ends the session."""
    result = session.execute(
        update(AuthSession)
        .where(
            AuthSession.id == row.id,
            AuthSession.ended_at.is_(None),
            AuthSession.refresh_jti == presented_jti,
        )
        .values(refresh_jti=new_jti, last_seen_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if getattr(result, "rowcount", 0) == 1:
        return True
    session.refresh(row)
    end(session, row, REFRESH_REUSE)
    return False


# -- ending sessions when the account changes ---------------------------------------------------


def _changed(user: User, attribute: str) -> bool:
    return inspect(user).attrs[attribute].history.has_changes()


def _account_changes(session: Session) -> list[tuple[User, str]]:
    found = []
    for obj in session.dirty:
        if not isinstance(obj, User) or obj.id is None:
            continue
        if _changed(obj, "active") and not obj.active:
            found.append((obj, DEACTIVATED))
        elif _changed(obj, "password"):
            found.append((obj, PASSWORD))
    return found


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    """End the sessions of every account whose password changed or that was deactivated,
    in the same transaction as the change itself."""
    current: Current | None = session.info.get(CURRENT)
    for user, reason in _account_changes(session):
        end_all(session, user.id, reason)
        if reason == PASSWORD and current is not None and current.kind == WEB and current.user_id == user.id:
            _reissue(session, current)


def _reissue(session: Session, current: Current) -> None:
    # The browser that changed its own password keeps working, under a new id: the
    # old one (and any copy of the old cookie) ends with the rest. The new row is flushed
    # with the change; the glue hands its id to the browser once the change is committed.
    raw, _row = open_session(session, current.user_id, WEB)
    session.info[_PENDING] = raw


def _after_commit(session: Session) -> None:
    raw = session.info.pop(_PENDING, None)
    if raw is not None:
        session.info[REISSUED] = raw


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


_installed = False


def install() -> None:
    """Listen on every ORM session (once per process)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_rollback", _after_rollback)
    _installed = True


__all__ = [
    "API",
    "CURRENT",
    "DEACTIVATED",
    "IDLE",
    "KINDS",
    "LOGOUT",
    "PASSWORD",
    "REFRESH_REUSE",
    "REISSUED",
    "WEB",
    "Current",
    "Found",
    "UnknownKind",
    "digest",
    "end",
    "end_all",
    "find",
    "find_with_user",
    "install",
    "is_idle",
    "is_open",
    "needs_touch",
    "new_id",
    "open_session",
    "rotate_refresh",
    "settle",
    "touch",
    "usable",
]
