"""The declarative base shared with Flask-AppBuilder's security tables.

One metadata for everything means one Alembic history and one place to check that the
migrations produce exactly the models.
"""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Integer, MetaData
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

metadata: MetaData = Model.metadata


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class MunicipalityOwned:
    """Mixin for every row that belongs to one municipality (DESIGN §6)."""

    @declared_attr
    def municipality_id(cls) -> Mapped[int]:
        return mapped_column(Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), nullable=False, index=True)


__all__ = ["DateTime", "Model", "MunicipalityOwned", "metadata", "utcnow"]
