from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model


class TrackingCounter(Model):
    """The last tracking-number sequence handed out, per municipality and year.

    One row per (municipality, year), bumped with a single atomic UPDATE (see
    app.domain.tracking) so concurrent submissions never share a number.
    """

    __tablename__ = "tracking_counter"
    __table_args__ = (UniqueConstraint("municipality_id", "year", name="uq_tracking_counter_municipality_year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), nullable=False
    )
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    last_value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
