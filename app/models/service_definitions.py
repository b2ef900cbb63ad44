"""Services built in the admin UI: one immutable row per (key, version).

Editing a service adds the next version instead of changing a row, because applications in
flight keep the version they were filed under and must still find it word for word.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, MunicipalityScoped, utcnow


class ImmutableDefinition(RuntimeError):
    """Code tried to change or delete a stored service definition."""


class ServiceDefinition(MunicipalityScoped, Model):
    __tablename__ = "service_definition"
    __table_args__ = (
        UniqueConstraint("key", "version", name="uq_service_definition_key_version"),
        CheckConstraint("version >= 1", name="service_definition_version_positive"),
    )
    # A system administrator's service (no municipality) is offered to every municipality.
    unowned_rows_shared = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The definition-file format (app.plugins.definitions.service_to_dict), key and version included.
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # NULL: a system administrator's service offered to every municipality; otherwise only
    # the owning municipality may see, edit and offer it.
    municipality_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


@event.listens_for(ServiceDefinition, "before_update")
def _refuse_update(mapper, connection, target) -> None:
    raise ImmutableDefinition(
        f"service definition {target.key!r} version {target.version} is immutable; save a new version instead"
    )


@event.listens_for(ServiceDefinition, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:
    raise ImmutableDefinition(
        f"service definition {target.key!r} version {target.version} is immutable; applications may depend on it"
    )
