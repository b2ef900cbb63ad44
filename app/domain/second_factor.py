"""A second factor for staff sign-in: time-based one-time codes (TOTP, RFC 6238) from an
authenticator app.

- The shared secret is stored sealed (Fernet, under a key derived from the instance's secret
  key with its own label, as receipt codes are: app.domain.receipts), never in clear, and is
  shown once, while enrolling.
- Enrolling is two steps: :func:`begin_enrolment` stores a new secret that does nothing yet;
  :func:`confirm_enrolment` with a code from the app switches it on. Until then a sign-in
  does not ask for codes.
- A code is good once: the 30-second step it was accepted for is stored
  (``AccountSecurity.totp_last_step``) and a code of that step or an earlier one is refused,
  even when two requests race (the step moves forward in one conditional UPDATE).
- Required for administrators (:func:`required_for`): a municipality's administrators when it
  switches ``require_admin_totp`` on, system administrators when the install sets
  ``HAMAYNK_REQUIRE_ADMIN_TOTP``.
- Switching it off takes a code from the person (:func:`disable`) or an administrator's reset
  (:func:`reset`, for a lost phone); both are audit-logged, and so is switching it on.

Functions add to the caller's session and never commit: the caller commits, which makes an
accepted code count as used.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.domain import access, audit, roles
from app.domain.access import Actor
from app.domain.receipts import seal_code, unseal_code
from app.models.base import utcnow
from app.models.security import AccountSecurity

# Sealing key label: a second-factor secret is sealed under its own key, not the receipts'.
SEAL_INFO = b"hamaynk/totp-secret/v1"
ISSUER = "Hamaynk"
DIGITS = 6
STEP_SECONDS = 30
# Codes of the step before and after now are accepted too (clocks drift, people type slowly).
DRIFT_STEPS = 1

AUDIT_ENABLED = "second_factor.enabled"
AUDIT_DISABLED = "second_factor.disabled"
AUDIT_RESET = "second_factor.reset"
AUDIT_REQUIREMENT = "municipality.require_admin_totp"

SETTING_SYSTEM_ADMINS = "HAMAYNK_REQUIRE_ADMIN_TOTP"


class SecondFactorError(Exception):
    """Something about the second factor cannot be done as asked."""


class AlreadyEnabled(SecondFactorError):
    """The account already has a second factor: switch it off first."""


class NotEnabled(SecondFactorError):
    """The account has no second factor to check or switch off."""


class NotAllowed(SecondFactorError):
    """The actor may not reset this account's second factor."""


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows once: the secret (for typing in) and the otpauth:// URI
    (for the QR code)."""

    secret: str
    uri: str


def _row(session: Session, user_id: int) -> AccountSecurity | None:
    return session.get(AccountSecurity, user_id)


def _secret(row: AccountSecurity | None, secret_key: str | bytes) -> str | None:
    if row is None or not row.totp_secret:
        return None
    return unseal_code(secret_key, row.totp_secret, info=SEAL_INFO)


def _clean(code: Any) -> str:
    """The digits typed, or "" when it cannot be a code (apps show "123 456")."""
    if not isinstance(code, str):
        return ""
    digits = code.replace(" ", "").replace("-", "").strip()
    return digits if len(digits) == DIGITS and digits.isascii() and digits.isdigit() else ""


def _matching_step(secret: str, code: str, now: float | None) -> int | None:
    """The step within the drift window whose code is ``code``, latest first."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _use_step(session: Session, user_id: int, step: int) -> bool:
    """Move the last used step to ``step`` unless it is already there or beyond; one UPDATE,
    so of two requests with the same code exactly one wins."""
    result = session.execute(
        update(AccountSecurity)
        .where(
            AccountSecurity.user_id == user_id,
            or_(AccountSecurity.totp_last_step.is_(None), AccountSecurity.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# -- asking ------------------------------------------------------------------------------------


def is_enabled(session: Session, user_id: int) -> bool:
    row = _row(session, user_id)
    return row is not None and row.totp_enabled_at is not None and bool(row.totp_secret)


def required_for(session: Session, user_id: int, config: Mapping[str, Any]) -> bool:
    """Whether this account must sign in with a second factor: a system administrator when
    ``HAMAYNK_REQUIRE_ADMIN_TOTP`` is on; a municipal administrator (or a system
    administrator attached to a municipality) when their municipality asks for it."""
    actor = access.load_actor(session, user_id)
    if actor is None or not actor.has(roles.SYSTEM_ADMIN, roles.MUNICIPAL_ADMIN):
        return False
    if actor.is_system_admin and bool(config.get(SETTING_SYSTEM_ADMINS)):
        return True
    if actor.municipality_id is None:
        return False
    try:
        municipality = access.get_municipality(session, actor, actor.municipality_id)
    except access.NotFound:
        return False
    return bool(municipality.require_admin_totp)


def check_code(session: Session, user_id: int, code: str, *, secret_key: str | bytes, now: float | None = None) -> bool:
    """Whether ``code`` is a right code of this account's second factor, not used before.
    An accepted code is marked used (the caller commits). ``False`` for an account without a
    second factor. ``secret_key`` is the instance's (the domain never reads the running app)."""
    digits = _clean(code)
    row = _row(session, user_id)
    if not digits or row is None or row.totp_enabled_at is None:
        return False
    secret = _secret(row, secret_key)
    if secret is None:
        return False
    step = _matching_step(secret, digits, now)
    return step is not None and _use_step(session, user_id, step)


# -- switching on ------------------------------------------------------------------------------


def begin_enrolment(
    session: Session, user_id: int, account_name: str, *, secret_key: str | bytes, issuer: str = ISSUER
) -> Enrolment:
    """A secret for the account, stored sealed but not yet in force. The same secret comes
    back while the enrolment is unconfirmed (a reloaded page keeps the scanned code valid)."""
    row = _row(session, user_id)
    if row is not None and row.totp_enabled_at is not None:
        raise AlreadyEnabled(user_id)
    secret = _secret(row, secret_key)
    if secret is None:
        secret = pyotp.random_base32()
        if row is None:
            row = AccountSecurity(user_id=user_id)
            session.add(row)
        row.totp_secret = seal_code(secret_key, secret, info=SEAL_INFO)
        row.totp_last_step = None
        session.flush()
    uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account_name, issuer_name=issuer
    )
    return Enrolment(secret=secret, uri=uri)


def confirm_enrolment(
    session: Session,
    user_id: int,
    code: str,
    *,
    secret_key: str | bytes,
    ip: str | None = None,
    now: float | None = None,
) -> bool:
    """Switch the second factor on when ``code`` is right for the secret being enrolled."""
    row = _row(session, user_id)
    if row is None or row.totp_enabled_at is not None:
        return False
    secret = _secret(row, secret_key)
    digits = _clean(code)
    if secret is None or not digits:
        return False
    step = _matching_step(secret, digits, now)
    if step is None or not _use_step(session, user_id, step):
        return False
    row.totp_enabled_at = utcnow()
    audit.record(session, AUDIT_ENABLED, actor=user_id, target=("user", user_id), ip=ip)
    return True


# -- switching off -----------------------------------------------------------------------------


def _clear(row: AccountSecurity) -> None:
    row.totp_secret = None
    row.totp_enabled_at = None
    row.totp_last_step = None


def disable(
    session: Session,
    user_id: int,
    code: str,
    *,
    secret_key: str | bytes,
    ip: str | None = None,
    now: float | None = None,
) -> bool:
    """The person switches their second factor off, proving it with a code."""
    row = _row(session, user_id)
    if row is None or row.totp_enabled_at is None:
        raise NotEnabled(user_id)
    if not check_code(session, user_id, code, secret_key=secret_key, now=now):
        return False
    _clear(row)
    audit.record(session, AUDIT_DISABLED, actor=user_id, target=("user", user_id), ip=ip)
    return True


def may_reset(session: Session, actor: Actor, user_id: int) -> bool:
    """System administrators reset anyone's; municipal administrators their own staff's."""
    if not actor.active or actor.user_id == user_id:
        return False
    if actor.is_system_admin:
        return True
    if not actor.has(roles.MUNICIPAL_ADMIN) or actor.municipality_id is None:
        return False
    target = access.load_actor(session, user_id)
    return target is not None and target.municipality_id == actor.municipality_id and not target.is_system_admin


def reset(session: Session, actor: Actor, user_id: int, *, ip: str | None = None) -> None:
    """An administrator switches someone's second factor off (a lost phone); they enrol
    again at their next sign-in if it is required of them."""
    if not may_reset(session, actor, user_id):
        raise NotAllowed(user_id)
    row = _row(session, user_id)
    if row is None or row.totp_secret is None:
        raise NotEnabled(user_id)
    _clear(row)
    target = access.load_actor(session, user_id)
    audit.record(
        session,
        AUDIT_RESET,
        actor=actor,
        target=("user", user_id),
        municipality_id=target.municipality_id if target is not None else None,
        ip=ip,
    )


# -- the municipality's requirement -----------------------------------------------------------


def may_set_requirement(actor: Actor, municipality_id: int) -> bool:
    return actor.active and (
        actor.is_system_admin or (actor.has(roles.MUNICIPAL_ADMIN) and actor.municipality_id == municipality_id)
    )


def set_requirement(
    session: Session, actor: Actor, municipality_id: int, required: bool, *, ip: str | None = None
) -> bool:
    """Switch the municipality's "administrators sign in with a second factor" on or off;
    ``True`` when it changed (and an audit event was added)."""
    if not may_set_requirement(actor, municipality_id):
        raise NotAllowed(municipality_id)
    municipality = access.get_municipality(session, actor, municipality_id)
    if bool(municipality.require_admin_totp) == required:
        return False
    municipality.require_admin_totp = required
    audit.record(
        session,
        AUDIT_REQUIREMENT,
        actor=actor,
        target=("municipality", municipality_id),
        municipality_id=municipality_id,
        details={"required": required},
        ip=ip,
    )
    return True


def enabled_among(session: Session, user_ids: list[int]) -> set[int]:
    """Which of ``user_ids`` have a second factor on (for lists of staff)."""
    if not user_ids:
        return set()
    stmt = select(AccountSecurity.user_id).where(
        AccountSecurity.user_id.in_(user_ids), AccountSecurity.totp_enabled_at.is_not(None)
    )
    return set(session.execute(stmt).scalars())


__all__ = [
    "AlreadyEnabled",
    "Enrolment",
    "NotAllowed",
    "NotEnabled",
    "SecondFactorError",
    "begin_enrolment",
    "check_code",
    "confirm_enrolment",
    "disable",
    "enabled_among",
    "is_enabled",
    "may_reset",
    "may_set_requirement",
    "required_for",
    "reset",
    "set_requirement",
]
