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
   is kept, its expired attributes filled), the list sorted as its SELECT orders it, and
   remembered as in 2.

What the database sends back is the stored values as JSON: timestamps as ISO text, booleans
as 0/1 on SQLite, JSON columns nested. :func:`_converter` turns each back into what the
column's type gives Python; a column type it does not know (binary, say) is refused when
the kind is declared, not when a page is shown.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Integer,
    Numeric,
    Select,
    String,
    Text,
    bindparam,
    func,
    literal,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.base import instance_state

from app.domain import memo
from app.models import Application

M = TypeVar("M")

# Column types whose JSON form this module turns back into Python (_converter).
_KNOWN_TYPES = (Integer, String, Text, DateTime, Date, Boolean, Numeric, JSON)


class UnsupportedColumn(TypeError):
    """A kind's model has a column whose JSON form :func:`_converter` cannot turn back."""


@dataclass(frozen=True, eq=False)
class Kind(Generic[M]):
    """One list of an application's rows.

    ``statement(municipality_id, application_id)`` is the SELECT of ``model`` for one
    application, scoped through a loader of :mod:`app.domain.access` and without an ORDER
    BY; it is called with bound parameters, once per process (building a statement costs
    more than running it). ``order`` names the columns it is sorted by, each with whether it
    is descending."""

    name: str
    model: type[M]
    statement: Callable[[Any, Any], Select[Any]]
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

    def bound(self) -> Select[Any]:
        """The kind's SELECT for the application the parameters name (:func:`_parameters`)."""
        return self.statement(bindparam(_MUNICIPALITY, type_=Integer), bindparam(_APPLICATION, type_=Integer))

    @functools.cached_property
    def ordered(self) -> Select[Any]:
        columns = sa_inspect(self.model).columns
        return self.bound().order_by(
            *(columns[key].desc() if descending else columns[key].asc() for key, descending in self.order)
        )


# The bound parameters of every kind's statement.
_MUNICIPALITY, _APPLICATION = "related_municipality_id", "related_application_id"


def _parameters(application: Application) -> dict[str, int]:
    return {_MUNICIPALITY: application.municipality_id, _APPLICATION: application.id}


def _key(kind: Kind[Any], application: Application) -> tuple[Any, ...]:
    return ("related", kind.name, application.id)


def rows(session: Session, application: Application, kind: Kind[M]) -> list[M]:
    """``application``'s rows of ``kind``, in its order (the caller loaded ``application``
    through a loader of :mod:`app.domain.access`)."""

    def read() -> tuple[M, ...]:
        return tuple(session.execute(kind.ordered, _parameters(application)).scalars())

    return list(memo.remember(session, _key(kind, application), read))


def prefetch(session: Session, application: Application, kinds: Sequence[Kind[Any]]) -> None:
    """Read ``application``'s rows of each of ``kinds`` in one statement, for :func:`rows` to
    find. Kinds already remembered are not read again; with one left, nothing is read here
    (:func:`rows` reads it when asked, as it would have)."""
    wanted = tuple(kind for kind in kinds if not memo.known(session, _key(kind, application)))
    if len(wanted) < 2:
        return
    stmt = _together(wanted, session.get_bind().dialect.name == "postgresql")
    found = session.execute(stmt, _parameters(application)).one()
    for kind, gathered in zip(wanted, found, strict=True):
        values = json.loads(gathered) if isinstance(gathered, str) else gathered
        objects = _sorted(kind, [_instance(session, kind, row) for row in values or ()])
        memo.keep(session, _key(kind, application), tuple(objects))


@functools.cache
def _together(kinds: tuple[Kind[Any], ...], postgres: bool) -> Select[Any]:
    # One per combination of kinds and dialect: a handful in a process.
    return select(*(_gathered(kind, postgres) for kind in kinds))


def _gathered(kind: Kind[Any], postgres: bool) -> Any:
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
    return kind.bound().with_only_columns(gathered).scalar_subquery()


def _converter(column_type: Any) -> Callable[[Any], Any] | None:
    """What turns a column's JSON value (not NULL) back into what its type gives Python;
    ``None`` when JSON already gives it (numbers, text, nested JSON)."""
    if isinstance(column_type, DateTime):
        return dt.datetime.fromisoformat
    if isinstance(column_type, Date):
        return dt.date.fromisoformat
    if isinstance(column_type, Boolean):
        return bool
    if isinstance(column_type, Numeric) and not isinstance(column_type, Integer):
        return lambda value: Decimal(str(value))
    return None


@functools.cache
def _columns_of(kind: Kind[Any]) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    # Per kind, once: each column's attribute key and converter, in the mapper's order.
    return tuple((a.key, _converter(a.columns[0].type)) for a in sa_inspect(kind.model).column_attrs)


def _instance(session: Session, kind: Kind[M], values: Sequence[Any]) -> M:
    """The session's object for one row: the one it holds already, else a new one set up as
    the ORM sets up a loaded row (every column loaded, nothing changed)."""
    mapper = sa_inspect(kind.model)
    by_key = {
        key: convert(value) if convert is not None and value is not None else value
        for (key, convert), value in zip(_columns_of(kind), values, strict=True)
    }
    identity = mapper.identity_key_from_primary_key([by_key[c.key] for c in mapper.primary_key])
    held = session.identity_map.get(identity)
    if held is not None:
        # As the ORM's loader does: what the held object no longer has loaded (expired by a
        # rollback or a commit) is filled from the row; what it holds is left as it is.
        for key in instance_state(held).unloaded & by_key.keys():
            set_committed_value(held, key, by_key[key])
        return cast(M, held)
    instance = mapper.class_manager.new_instance()
    # Loaded values, as the ORM's loader writes them: no change history.
    instance_state(instance).dict.update(by_key)
    make_transient_to_detached(instance)
    session.add(instance)
    return cast(M, instance)


def _sorted(kind: Kind[M], objects: list[M]) -> list[M]:
    """``objects`` in the order of ``kind.ordered``, for rows gathered without one (a JSON
    aggregate keeps no order the SQL standard promises): one stable sort per column, the
    last first. The columns are NOT NULL (checked when the kind is declared), so no
    database's place for NULLs needs copying."""
    for name, descending in reversed(kind.order):
        objects.sort(key=lambda instance: getattr(instance, name), reverse=descending)
    return objects


__all__ = ["Kind", "UnsupportedColumn", "prefetch", "rows"]
