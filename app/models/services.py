from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model, MunicipalityOwned, utcnow
from app.models.municipality import Department


class ServiceActivation(MunicipalityOwned, Model):
    """A municipality offers a service, possibly with its own fee, deadline and department.

    Rows are keyed by the permanent service key, not the version: enabling a service offers
    its newest version, while filed applications keep the version they were filed under.
    """

    __tablename__ = "service_activation"
    __table_args__ = (
        UniqueConstraint("municipality_id", "service_key"),
        CheckConstraint("fee_override IS NULL OR fee_override >= 0", name="fee_not_negative"),
        CheckConstraint("deadline_override IS NULL OR deadline_override >= 1", name="deadline_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_key: Mapped[str] = mapped_column(String(100), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    fee_override: Mapped[int | None] = mapped_column(Integer)
    deadline_override: Mapped[int | None] = mapped_column(Integer)
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id", ondelete="SET NULL"))
    # The municipality's own citizen-facing words per status ({status: {language: text}}),
    # over the service declaration's ``status_texts``.
    status_texts: Mapped[dict[str, dict[str, str]]] = mapped_column(
        JSON, nullable=False, default=dict, server_default="{}"
    )
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    department: Mapped[Department | None] = relationship(Department)
