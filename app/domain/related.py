"""Lists of an application's rows, several kinds in one statement.

A case page shows an application's uploaded documents, issued documents, payments and
notifications: four tables, one statement each when each list reads its own. This module
reads the lists a page will show in one SELECT instead, and the functions that return
them (``access.documents_of``, ``issuing.documents_of``, ``payments.payments_of_application``,
``access.notifications_of``) find them there:

1. Each list is a :class:`Kind`: its model, the scoped SELECT of one application's rows
   (built through :mod:`app.domain.access`'s loaders, like any read of owned rows), and its
   order.
2. :func:`rows` returns one application's list of a kind, remembered for the transaction
   (:mod:`app.domain.memo`): asked twice, read once; read with one plain SELECT when
   :func:`prefetch` has not read it.
3. :func:`prefetch` reads several lists at once: each kind's SELECT becomes a scalar subquery
   that gathers its rows into one JSON array (SQLite's ``json_group_array``, PostgreSQL's
   ``json_agg``), all of them columns of a single SELECT. Each row comes back as the ORM's
   own object, put in the session as a loaded row would be (a row the session already holds
   is kept as it is), the list sorted as its SELECT orders it, and remembered as in 2.

What the database sends back is the stored values as JSON: timestamps as ISO text, booleans
as 0/1 on SQLite, JSON columns nested. :func:`_value` turns each back into what the
column's type gives Python; a column type it does not know (binary, say) is refused when
the kind is declared, not when a page is shown.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, Numeric, Select, String, Text, func, literal, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.domain import memo
from app.models import Application

M = TypeVar("M")

# Column types whose JSON form this module turns back into Python (_value).
_KNOWN_TYPES = (Integer, String, Text, DateTime, Date, Boolean, Numeric, JSON)


class UnsupportedColumn(TypeError):
    """A kind's model has a column whose JSON form :func:`_value` cannot turn back."""


@dataclass(frozen=True, eq=False)
class Kind(Generic[M]):
    """One list of an application's rows.

    ``statement(application)`` is the SELECT of ``model`` for one application, scoped through
    a loader of :mod:`app.domain.access` and without an ORDER BY; ``order`` names the columns
    it is sorted by, each with whether it is descending."""

    name: str
    model: type[M]
    statement: Callable[[Application], Select[Any]]
    order: tuple[tuple[str, bool], ...]

    def __post_init__(self) -> None:
        columns = sa_inspect(self.model).columns
        for key, _descending in self.order:
            if columns[key].nullable:
                raise UnsupportedColumn(f"{self.name}: ordered by {self.model.__name__}.{key}, which may be NULL")
        for attribute in sa_inspect(self.model).column_attrs:
            column_type = attribute.columns[0].type
            if not isinstance(column_type, _KNOWN_TYPES):
                raise UnsupportedColumn(f"{self.name}: {self.model.__name__}.{attribute.key} is a {column_type!r}")

    def ordered(self, application: Application) -> Select[Any]:
        columns = sa_inspect(self.model).columns
        return self.statement(application).order_by(
            *(columns[key].desc() if descending else columns[key].asc() for key, descending in self.order)
        )


def _key(kind: Kind[Any], application: Application) -> tuple[Any, ...]:
    return ("related", kind.name, application.id)


def rows(session: Session, application: Application, kind: Kind[M]) -> list[M]:
    """``application``'s rows of ``kind``, in its order (the caller loaded ``application``
    through a loader of :mod:`app.domain.access`)."""

    def read() -> tuple[M, ...]:
        return tuple(session.execute(kind.ordered(application)).scalars())

    return list(memo.remember(session, _key(kind, application), read))


def prefetch(session: Session, application: Application, kinds: Sequence[Kind[Any]]) -> None:
    """Read ``application``'s rows of each of ``kinds`` in one statement, for :func:`rows` to
    find. Kinds already remembered are not read again; with one left, nothing is read here
    (:func:`rows` reads it when asked, as it would have)."""
    wanted = [kind for kind in kinds if not memo.known(session, _key(kind, application))]
    if len(wanted) < 2:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    stmt = select(*(_gathered(kind, application, postgres) for kind in wanted))
    found = session.execute(stmt).one()
    for kind, gathered in zip(wanted, found, strict=True):
        values = json.loads(gathered) if isinstance(gathered, str) else gathered
        objects = _sorted(kind, [_instance(session, kind, row) for row in values or ()])
        memo.keep(session, _key(kind, application), tuple(objects))


def _gathered(kind: Kind[Any], application: Application, postgres: bool) -> Any:
    """A scalar subquery: the rows of ``kind`` as one JSON array of arrays (columns in the
    mapper's order)."""
    columns = [attribute.columns[0] for attribute in sa_inspect(kind.model).column_attrs]
    gathered: Any
    if postgres:
        row = func.json_build_array(*columns)
        gathered = func.coalesce(func.json_agg(row), literal("[]").cast(JSON))
    else:
        # json() makes a JSON column's text a nested value instead of a string in the array.
        row = func.json_array(*(func.json(c) if isinstance(c.type, JSON) else c for c in columns))
        gathered = func.json_group_array(row)
    return kind.statement(application).with_only_columns(gathered).scalar_subquery()


def _value(column_type: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column_type, DateTime):
        return dt.datetime.fromisoformat(value)
    if isinstance(column_type, Date):
        return dt.date.fromisoformat(value)
    if isinstance(column_type, Boolean):
        return bool(value)
    if isinstance(column_type, Numeric) and not isinstance(column_type, Integer):
        return Decimal(str(value))
    return value


def _instance(session: Session, kind: Kind[M], values: Sequence[Any]) -> M:
    """The session's object for one row: the one it holds already, else a new one set up as
    the ORM sets up a loaded row (every column loaded, nothing changed)."""
    mapper = sa_inspect(kind.model)
    attributes = mapper.column_attrs
    by_key = {a.key: _value(a.columns[0].type, v) for a, v in zip(attributes, values, strict=True)}
    identity = mapper.identity_key_from_primary_key([by_key[c.key] for c in mapper.primary_key])
    held = session.identity_map.get(identity)
    if held is not None:
        return held
    instance = mapper.class_manager.new_instance()
    for key, value in by_key.items():
        set_committed_value(instance, key, value)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


def _sorted(kind: Kind[M], objects: list[M]) -> list[M]:
    """``objects`` in the order of ``kind.ordered``, for rows gathered without one (a JSON
    aggregate keeps no order the SQL standard promises): one stable sort per column, the
    last first. The columns are NOT NULL (checked when the kind is declared), so no
    database's place for NULLs needs copying."""
    for name, descending in reversed(kind.order):
        objects.sort(key=lambda instance: getattr(instance, name), reverse=descending)
    return objects


__all__ = ["Kind", "UnsupportedColumn", "prefetch", "rows"]
