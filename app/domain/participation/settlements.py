"""The settlements (villages, towns, districts) of a municipality, kept by its administrator.

Consolidated communities have many; a residency names one, and polls and consultations may
be limited to some. A settlement is never deleted (residencies and past polls name it): it
is deactivated, and then no one is verified in it any more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, audit, roles
from app.domain.access import MAX_PK, Actor
from app.domain.errors import NotAllowed
from app.models.participation import Settlement

# What callers hold: a plain session or Flask-SQLAlchemy's scoped one.
DbSession = Session | scoped_session[Session]

MAX_CODE = 64
MAX_NAME = 200
# What registries and data files call a settlement: lower-case letters, digits, "-" and "_".
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

CREATED = "settlement.create"
UPDATED = "settlement.update"
DEACTIVATED = "settlement.deactivate"
REACTIVATED = "settlement.reactivate"


class InvalidSettlement(ValueError):
    """Bad input: ``errors`` maps each field to a sentence in the user's language."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class SettlementInput:
    code: str
    name_hy: str
    name_en: str | None
    name_ru: str | None


def may_manage(actor: Actor | None, municipality_id: int) -> bool:
    """Municipal administrators keep their own municipality's settlements."""
    return access.staff_of(actor, municipality_id) and actor.has(roles.MUNICIPAL_ADMIN)


def _require(actor: Actor | None, municipality_id: int) -> Actor:
    if not may_manage(actor, municipality_id):
        raise NotAllowed(_("Only an administrator of this municipality keeps its settlements."))
    assert actor is not None
    return actor


def listing(session: DbSession, actor: Actor | None, municipality_id: int) -> list[Settlement]:
    """Every settlement of ``municipality_id`` (active first, by name) for its administrator."""
    _require(actor, municipality_id)
    stmt = access.within(select(Settlement), Settlement, municipality_id)
    return list(session.execute(stmt.order_by(Settlement.active.desc(), Settlement.name_hy, Settlement.id)).scalars())


def get(session: DbSession, actor: Actor | None, settlement_id: int) -> Settlement:
    """A settlement ``actor`` may manage; :class:`~app.domain.access.NotFound` otherwise."""
    if not isinstance(settlement_id, int) or isinstance(settlement_id, bool) or not 0 < settlement_id <= MAX_PK:
        raise access.NotFound(settlement_id)
    stmt = access.scoped(select(Settlement), Settlement, actor).where(Settlement.id == settlement_id)
    row = session.execute(stmt).scalar_one_or_none()
    if row is None or not may_manage(actor, row.municipality_id):
        raise access.NotFound(settlement_id)
    return row


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name, "")
    return " ".join(value.split()) if isinstance(value, str) else ""


def clean(raw: Mapping[str, Any]) -> SettlementInput:
    """The form's values, or :class:`InvalidSettlement` naming every problem."""
    errors: dict[str, str] = {}
    code = _text(raw, "code").lower()
    if not code:
        errors["code"] = _("Enter a code.")
    elif len(code) > MAX_CODE or not CODE_RE.match(code):
        errors["code"] = _(
            "A code has at most %(max)d lower-case Latin letters, digits, hyphens and underscores.", max=MAX_CODE
        )
    names: dict[str, str] = {}
    for language in ("hy", "en", "ru"):
        value = _text(raw, f"name_{language}")
        if len(value) > MAX_NAME:
            errors[f"name_{language}"] = _("At most %(max)d characters.", max=MAX_NAME)
        names[language] = value
    if not names["hy"] and "name_hy" not in errors:
        errors["name_hy"] = _("Enter the name in Armenian.")
    if errors:
        raise InvalidSettlement(errors)
    return SettlementInput(code, names["hy"], names["en"] or None, names["ru"] or None)


def _taken(session: DbSession, municipality_id: int, code: str, other_than: int | None = None) -> bool:
    stmt = access.within(select(Settlement.id), Settlement, municipality_id).where(Settlement.code == code)
    if other_than is not None:
        stmt = stmt.where(Settlement.id != other_than)
    return session.execute(stmt.limit(1)).first() is not None


def _code_taken() -> InvalidSettlement:
    return InvalidSettlement({"code": _("Another settlement of the municipality has this code.")})


def _details(row: Settlement) -> dict[str, Any]:
    return {"code": row.code, "name_hy": row.name_hy, "name_en": row.name_en, "name_ru": row.name_ru}


def create(
    session: DbSession, actor: Actor | None, municipality_id: int, data: SettlementInput, *, ip: str | None = None
) -> Settlement:
    """Add a settlement (audit-logged); flushes, does not commit."""
    who = _require(actor, municipality_id)
    if _taken(session, municipality_id, data.code):
        raise _code_taken()
    row = Settlement(
        municipality_id=municipality_id,
        code=data.code,
        name_hy=data.name_hy,
        name_en=data.name_en,
        name_ru=data.name_ru,
        active=True,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # added a moment ago by someone else
        raise _code_taken() from None
    audit.record(
        session,
        CREATED,
        actor=who,
        target=("settlement", row.id),
        municipality_id=municipality_id,
        details=_details(row),
        ip=ip,
    )
    return row


def update(
    session: DbSession, actor: Actor | None, row: Settlement, data: SettlementInput, *, ip: str | None = None
) -> Settlement:
    """Change a settlement's code and names (audit-logged); flushes, does not commit."""
    who = _require(actor, row.municipality_id)
    if _taken(session, row.municipality_id, data.code, other_than=row.id):
        raise _code_taken()
    before = _details(row)
    row.code, row.name_hy, row.name_en, row.name_ru = data.code, data.name_hy, data.name_en, data.name_ru
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise _code_taken() from None
    audit.record(
        session,
        UPDATED,
        actor=who,
        target=("settlement", row.id),
        municipality_id=row.municipality_id,
        details={"before": before, "after": _details(row)},
        ip=ip,
    )
    return row


def set_active(
    session: DbSession, actor: Actor | None, row: Settlement, active: bool, *, ip: str | None = None
) -> bool:
    """Deactivate (or bring back) a settlement; ``False`` when it already was so. Audit-logged."""
    who = _require(actor, row.municipality_id)
    if row.active == active:
        return False
    row.active = active
    session.flush()
    audit.record(
        session,
        REACTIVATED if active else DEACTIVATED,
        actor=who,
        target=("settlement", row.id),
        municipality_id=row.municipality_id,
        details={"code": row.code},
        ip=ip,
    )
    return True
