"""Sign-in sessions, second factors, idempotent API requests and the audit chain's head.

A signed cookie or a JWT alone cannot be taken back, so every sign-in (browser or API) is a
row here: the cookie and the tokens carry only a random session id, and a request is
honoured only while its row is open. Signing out ends one row; changing or resetting a
password, or deactivating the account, ends them all. Only the sha256 of the session id is
stored, so someone reading the database cannot sign in as anyone.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, utcnow


class AuthSession(Model):
    """One sign-in: a browser session or an API token pair."""

    __tablename__ = "auth_session"
    __table_args__ = (Index("ix_auth_session_user_open", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 (hex) of the random id the cookie or token carries.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    # "web" (a browser cookie) or "api" (a JWT access/refresh pair).
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # Touched at most once a minute; staff sessions idle longer than the timeout end.
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # "logout", "password", "reset", "deactivated", "idle", "refresh_reuse", …
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # The one refresh token (its jti) that may still be exchanged; a used one is replaced,
    # and presenting an old one again ends the session (the token was stolen or replayed).
    refresh_jti: Mapped[str | None] = mapped_column(String(64))
    # A password typed but the second factor still to come: the session grants nothing yet.
    pending_second_factor: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False, server_default="0")
    ip: Mapped[str | None] = mapped_column(String(45))


class AccountSecurity(Model):
    """Per-account security settings that Flask-AppBuilder's user table has no place for."""

    __tablename__ = "account_security"

    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    # The TOTP secret, sealed (Fernet under a key derived from the instance's secret key).
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The last 30-second step a code was accepted for: a code is good once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class IdempotencyRecord(Model):
    """The answer to one API request sent with an ``Idempotency-Key``, replayed on a resend."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_record_user_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    method: Mapped[str] = mapped_column(String(8), nullable=False)
    path: Mapped[str] = mapped_column(String(255), nullable=False)
    # sha256 of the body: the same key with another body is refused (422), not replayed.
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # None while the first request is still being answered.
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)


class AuditChain(Model):
    """The single row holding the audit chain's ends. Writing an event locks and moves the
    head, so events are chained one after another even when written concurrently; pruning
    old events (retention) moves the origin, so the rest still verifies."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    head_id: Mapped[int | None] = mapped_column(Integer)
    head_hash: Mapped[str | None] = mapped_column(String(64))
    # The first event the chain covers and the hash it links back to ("" at the very start).
    origin_id: Mapped[int | None] = mapped_column(Integer)
    origin_prev_hash: Mapped[str | None] = mapped_column(String(64))
    # Why the origin is where it is ("chain started", "pruned before <date>").
    note: Mapped[str | None] = mapped_column(Text)


__all__ = ["AccountSecurity", "AuditChain", "AuthSession", "IdempotencyRecord"]
