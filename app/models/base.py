"""The declarative base shared with Flask-AppBuilder's security tables.

One metadata for everything means one Alembic history and one place to check that the
migrations produce exactly the models.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

if TYPE_CHECKING:
    from sqlalchemy.orm import DeclarativeBase

    class Model(DeclarativeBase):
        """Flask-AppBuilder's declarative base as the type checker sees it (the library has no
        types): models typed with ``Mapped[...]`` are then checked attribute by attribute."""

        __abstract__ = True

        def to_json(self) -> dict[str, Any]: ...

else:
    from flask_appbuilder import Model

metadata: MetaData = Model.metadata


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class MunicipalityScoped:
    """Marker for every model whose rows belong to a municipality by their own
    ``municipality_id``: app.domain.access scopes every query of them by it. A model that
    allows no owner (``NULL``) says whose such a row is with :attr:`unowned_rows_shared`."""

    # True: a row without a municipality is everyone's (a system-wide service); False: it is
    # the system administrators' alone (their staff profiles, system events).
    unowned_rows_shared: ClassVar[bool] = False


class MunicipalityOwned(MunicipalityScoped):
    """Mixin for every row that belongs to exactly one municipality (never ``NULL``)."""

    @declared_attr
    def municipality_id(cls) -> Mapped[int]:
        return mapped_column(Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), nullable=False, index=True)


__all__ = ["DateTime", "Model", "MunicipalityOwned", "MunicipalityScoped", "metadata", "utcnow"]
