"""Tracking numbers and access secrets.

A tracking number reads ``ABV-2026-000123-K``: the municipality's prefix, the year, a
sequence per municipality and year, and a check character (ISO 7064 MOD 37,36) that catches
every single mistyped character and almost every swap of two neighbours, so a citizen who
reads a number over the phone with one wrong character gets "no such number" instead of
somebody else's application.

Tracking numbers are guessable by design (they are printed on receipts and read aloud).
Looking an application up publicly therefore also needs the access secret: 128 random bits
handed to the applicant once, of which only a hash is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain import access, statuses
from app.models import Application, Municipality, TrackingCounter

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEQUENCE_DIGITS = 6
PREFIX_MAX = 10
OFFICE_TZ = ZoneInfo("Asia/Yerevan")


def office_today() -> dt.date:
    """Today in Yerevan, where every municipality keeps its office hours (not the server's date)."""
    return dt.datetime.now(OFFICE_TZ).date()


# Prefix, 4-digit year, at least 6-digit sequence (it grows past 999999 rather than wrap).
_FORMAT = re.compile(rf"^([A-Z0-9]{{1,{PREFIX_MAX}}})-(\d{{4}})-(\d{{{SEQUENCE_DIGITS},}})-([0-9A-Z])$")
# The same without its check character, the sequence as short as a clerk types it ("ABV-2026-123").
_BODY = re.compile(rf"^([A-Z0-9]{{1,{PREFIX_MAX}}})-(\d{{4}})-(\d{{1,12}})$")
# Dashes people and word processors type instead of "-".
_DASHES = re.compile(r"[\u2010-\u2015\u2212_\s]+")


# -- check character ---------------------------------------------------------------------


def _mod37_36(chars: str) -> int:
    """The running product of ISO 7064 MOD 37,36 (a hybrid system over 0-9A-Z)."""
    m = len(ALPHABET)
    product = m
    for char in chars:
        total = (product + ALPHABET.index(char)) % m or m
        product = (total * 2) % (m + 1)
    return product


def check_character(body: str) -> str:
    """The check character for ``body`` (digits and A-Z; dashes are ignored)."""
    chars = body.replace("-", "").upper()
    if not chars or any(c not in ALPHABET for c in chars):
        raise ValueError(f"tracking number body {body!r} may only hold digits, A-Z and dashes")
    m = len(ALPHABET)
    return ALPHABET[(m + 1 - _mod37_36(chars)) % m]


# -- format ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackingNumber:
    prefix: str
    year: int
    sequence: int
    check: str

    def __str__(self) -> str:
        return f"{self.prefix}-{self.year:04d}-{self.sequence:0{SEQUENCE_DIGITS}d}-{self.check}"


def format_tracking_number(prefix: str, year: int, sequence: int) -> str:
    body = f"{prefix}-{year:04d}-{sequence:0{SEQUENCE_DIGITS}d}"
    return f"{body}-{check_character(body)}"


def normalize_tracking_number(value: str) -> str:
    """What the citizen typed, in the canonical spelling: upper case, plain dashes, no spaces."""
    return _DASHES.sub("-", (value or "").strip()).strip("-").upper()


def parse_tracking_number(value: str) -> TrackingNumber | None:
    """The parts of a well-formed number with a correct check character, else ``None``."""
    if not isinstance(value, str):
        return None
    match = _FORMAT.match(normalize_tracking_number(value))
    if not match:
        return None
    prefix, year, sequence, check = match.groups()
    if check_character(f"{prefix}{year}{sequence}") != check:
        return None
    return TrackingNumber(prefix, int(year), int(sequence), check)


def complete_tracking_number(value: str) -> TrackingNumber | None:
    """A number as a clerk may type it: in full, or without its check character (which is
    then computed) and with the sequence's leading zeros left out. ``None`` for anything else,
    a wrong check character included (one of the characters before it is a typo)."""
    parsed = parse_tracking_number(value)
    if parsed is not None or not isinstance(value, str):
        return parsed
    match = _BODY.match(normalize_tracking_number(value))
    if not match:
        return None
    prefix, year, sequence = match.groups()
    return parse_tracking_number(format_tracking_number(prefix, int(year), int(sequence)))


def is_valid_tracking_number(value: str) -> bool:
    """True for a well-formed number whose check character matches (typos give False)."""
    return parse_tracking_number(value) is not None


def tracking_prefix(municipality: Municipality) -> str:
    """The municipality's own prefix, or one derived from its permanent code."""
    if municipality.tracking_prefix:
        return municipality.tracking_prefix.upper()
    derived = re.sub(r"[^A-Z0-9]", "", municipality.code.upper())[:PREFIX_MAX]
    return derived or f"M{municipality.id}"


# -- allocation --------------------------------------------------------------------------


def current_year() -> int:
    # The office's calendar year: at 01:00 on 1 January in Yerevan it is already the new year.
    return dt.datetime.now(OFFICE_TZ).year


def _counter_table() -> Table:
    # A mapped class's __table__ is typed as any FROM clause; this one is a plain table.
    table = TrackingCounter.__table__
    assert isinstance(table, Table)
    return table


def _bump(session: Session, municipality_id: int, year: int) -> int | None:
    """Add one to the counter and return the new value, or None when there is no row yet."""
    table = _counter_table()
    where = (table.c.municipality_id == municipality_id) & (table.c.year == year)
    bump = update(table).where(where).values(last_value=table.c.last_value + 1)
    dialect = session.get_bind().dialect
    # PostgreSQL, and SQLite from 3.35 on (SQLAlchemy reads sqlite3.sqlite_version for this
    # flag): one statement both locks the row and reads the value it wrote.
    if getattr(dialect, "update_returning", False):
        return session.execute(bump.returning(table.c.last_value)).scalar_one_or_none()
    # Elsewhere: lock the row first, so no one else can bump between our write and our read.
    locked = session.execute(select(table.c.id).where(where).with_for_update()).scalar_one_or_none()
    if locked is None:
        return None
    session.execute(bump)
    return session.execute(select(table.c.last_value).where(where)).scalar_one()


def _create_counter(session: Session, municipality_id: int, year: int) -> None:
    """Make sure the row exists; when two first allocations race, both end up using one row."""
    table = _counter_table()
    values = {"municipality_id": municipality_id, "year": year, "last_value": 0}
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        unique = ["municipality_id", "year"]
        statement: Insert
        if dialect == "postgresql":
            statement = postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=unique)
        else:
            statement = sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=unique)
        session.execute(statement)
        return
    try:
        with session.begin_nested():
            session.execute(table.insert().values(**values))
    except IntegrityError:
        pass  # the other one won; its row is the one we bump


def allocate_sequence(session: Session, municipality_id: int, year: int) -> int:
    """The next sequence number for this municipality and year, inside the caller's
    transaction: it is given back if the transaction rolls back, and other allocations for
    the same municipality and year wait until this transaction ends."""
    value = _bump(session, municipality_id, year)
    if value is None:
        _create_counter(session, municipality_id, year)
        value = _bump(session, municipality_id, year)
    if value is None:  # pragma: no cover - the row was created just above
        raise RuntimeError(f"tracking counter for municipality {municipality_id}, year {year} could not be created")
    return value


def allocate_tracking_number(session: Session, municipality_id: int, year: int | None = None) -> str:
    """A new, unique tracking number for an application of this municipality."""
    municipality = session.get(Municipality, municipality_id)
    if municipality is None:
        raise ValueError(f"there is no municipality with id {municipality_id}")
    year = year or current_year()
    return format_tracking_number(
        tracking_prefix(municipality), year, allocate_sequence(session, municipality_id, year)
    )


# -- access secrets ----------------------------------------------------------------------

_HASH_SCHEME = "sha256"


def hash_access_secret(secret: str) -> str:
    # The secret is 128 random bits, so a fast hash is enough: there is nothing to brute-force
    # that a slow hash would protect, and look-ups stay cheap.
    digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    return f"{_HASH_SCHEME}${digest}"


def new_access_secret() -> tuple[str, str]:
    """``(secret, stored_hash)``: give the secret to the applicant once, store only the hash."""
    secret = secrets.token_urlsafe(16)
    return secret, hash_access_secret(secret)


def verify_access_secret(secret: str, stored_hash: str) -> bool:
    """Constant-time check of a secret someone presented against the stored hash."""
    if not isinstance(secret, str) or not isinstance(stored_hash, str) or not secret:
        return False
    scheme, _sep, _digest = stored_hash.partition("$")
    if scheme != _HASH_SCHEME:
        return False
    return hmac.compare_digest(hash_access_secret(secret.strip()).encode("ascii"), stored_hash.encode("ascii"))


# A well-formed hash to compare against when no application matches, so a miss costs the same
# as a wrong code and timing does not tell which tracking numbers exist.
_NO_MATCH = hash_access_secret("no application has this secret")


def find_by_access_code(session: Session, tracking_number: str, code: str) -> Application | None:
    """The filed application with ``tracking_number`` whose current access code is ``code``,
    else ``None`` (no such number, a draft, a wrong or replaced code: all look the same).

    This is the one public way to an application without signing in (the citizen portal's
    status look-up will use it); nothing else is needed to reach it, so it reads across
    municipalities: the tracking number names its municipality, the code proves the right to see.
    """
    number = parse_tracking_number(tracking_number)
    if number is None or not isinstance(code, str) or not code.strip():
        # The same hashing and comparison as any other miss, so no path is measurably faster.
        verify_access_secret(code if isinstance(code, str) and code.strip() else "-", _NO_MATCH)
        return None
    stmt = access.unscoped(select(Application), reason="public look-up by tracking number and access code")
    application = session.execute(
        stmt.where(Application.tracking_number == str(number), Application.status != statuses.DRAFT)
    ).scalar_one_or_none()
    stored = application.access_secret_hash if application is not None else _NO_MATCH
    if not verify_access_secret(code, stored) or application is None:
        return None
    return application


__all__ = [
    "TrackingNumber",
    "allocate_sequence",
    "allocate_tracking_number",
    "check_character",
    "complete_tracking_number",
    "current_year",
    "find_by_access_code",
    "format_tracking_number",
    "hash_access_secret",
    "is_valid_tracking_number",
    "new_access_secret",
    "normalize_tracking_number",
    "parse_tracking_number",
    "tracking_prefix",
    "verify_access_secret",
]
