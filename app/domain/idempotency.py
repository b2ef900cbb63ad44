"""``Idempotency-Key`` for API requests that create something: a resend answers what the first
request answered instead of doing it again.

A request with a key first *claims* it (:func:`begin`): one :class:`IdempotencyRecord` per
user and key, inserted and committed before any work, so of two concurrent requests with
the same key exactly one gets the claim (the unique constraint); the other waits a little for
the first to finish and replays its answer, or is told the first is still in progress. The
answer is kept (:func:`finish`) after the work committed; an answer of 500 or an exception
gives the key up (:func:`abandon`), so the client may retry with it.

What is kept is the status and the JSON body, encrypted with a key derived from the app's
secret key (a created draft's body carries the applicant's access code, shown once). The
same key with another body (or another endpoint) is refused (:class:`KeyReused`). Records are
purged after ``HAMAYNK_IDEMPOTENCY_HOURS`` (default 24; :func:`purge`).

The remaining window: a process killed after the work committed and before :func:`finish`
leaves the claim without an answer. A resend then gets :class:`StillInProgress` with
``stale`` set, never a second creation: the client is told to check whether the first request
was recorded before using a new key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models.base import utcnow
from app.models.security import IdempotencyRecord

# Printable ASCII without spaces, as the IETF draft's examples (UUIDs, random tokens).
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
HOURS = 24
# How long a resend waits for a concurrent first request to finish before answering 409.
WAIT_SECONDS = 5.0
# A claim without an answer for this long belongs to a request that died.
STALE_AFTER = dt.timedelta(minutes=5)
SALT = b"hamaynk.idempotency"


class KeyInvalid(ValueError):
    """The header's value is empty, too long or has characters other than printable ASCII."""


class KeyReused(ValueError):
    """The key was used before for another request (another body or endpoint)."""


class StillInProgress(RuntimeError):
    """The first request with this key has not answered (yet); ``stale`` when it never will."""

    def __init__(self, stale: bool) -> None:
        super().__init__("stale" if stale else "in progress")
        self.stale = stale


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    record_id: int


def request_hash(method: str, path: str, body: bytes) -> str:
    """The same JSON in other spacing or key order is the same request."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def check_key(raw: str) -> str:
    if not KEY_PATTERN.match(raw):
        raise KeyInvalid(raw)
    return raw


def _fernet(secret_key: str | bytes) -> Fernet:
    secret = secret_key.encode() if isinstance(secret_key, str) else secret_key
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(SALT + b"\0" + secret).digest()))


def _lookup(session: Session, user_id: int, key: str) -> IdempotencyRecord | None:
    return session.execute(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    ).scalar_one_or_none()


def _answer(record: IdempotencyRecord, request_digest: str, secret_key: str | bytes) -> Replay | None:
    if record.request_hash != request_digest:
        raise KeyReused(record.key)
    if record.status_code is None or record.response_body is None:
        return None
    try:
        body = json.loads(_fernet(secret_key).decrypt(record.response_body.encode()))
    except InvalidToken as exc:  # the secret key changed since: the answer cannot be read back
        raise StillInProgress(stale=True) from exc
    return Replay(record.status_code, body)


def begin(
    session: Session,
    *,
    user_id: int,
    key: str,
    method: str,
    path: str,
    request_digest: str,
    secret_key: str | bytes,
    wait_seconds: float = WAIT_SECONDS,
) -> Claim | Replay:
    """Claim ``key`` for this request (commits), or the answer to replay. Raises
    :class:`KeyReused` or :class:`StillInProgress`."""
    record = IdempotencyRecord(
        user_id=user_id, key=key, method=method[:8], path=path[:255], request_hash=request_digest, created_at=utcnow()
    )
    session.add(record)
    try:
        session.commit()
        return Claim(record.id)
    except IntegrityError:
        session.rollback()
    deadline = time.monotonic() + wait_seconds
    while True:
        existing = _lookup(session, user_id, key)
        if existing is None:  # the first gave the key up meanwhile: the client may resend
            session.rollback()
            raise StillInProgress(stale=False)
        replay = _answer(existing, request_digest, secret_key)
        stale = existing.created_at < utcnow() - STALE_AFTER
        session.rollback()
        if replay is not None:
            return replay
        if stale or time.monotonic() >= deadline:
            raise StillInProgress(stale=stale)
        time.sleep(0.1)


def finish(
    session: Session, claim: Claim, status_code: int, body: Mapping[str, Any], *, secret_key: str | bytes
) -> None:
    """Keep the answer to replay (commits)."""
    record = session.get(IdempotencyRecord, claim.record_id)
    if record is None:
        return  # purged meanwhile (a request longer than a day): nothing to replay then
    record.status_code = status_code
    record.response_body = _fernet(secret_key).encrypt(json.dumps(body).encode()).decode()
    session.commit()


def abandon(session: Session, claim: Claim) -> None:
    """Give the key up after a failure that changed nothing known (commits)."""
    session.rollback()
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == claim.record_id))
    session.commit()


def purge(session: Session, *, older_than: dt.timedelta) -> int:
    """Remove records older than ``older_than`` (commits); returns how many."""
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - older_than))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


__all__ = [
    "HOURS",
    "Claim",
    "KeyInvalid",
    "KeyReused",
    "Replay",
    "StillInProgress",
    "abandon",
    "begin",
    "check_key",
    "finish",
    "purge",
    "request_hash",
]
