from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, MunicipalityOwned, utcnow
from app.models.municipality import _localized


class MunicipalHoliday(MunicipalityOwned, Model):
    """A day off that only this municipality has (a local feast, a council decision).

    National public holidays come from the ``holidays`` package and are never stored.
    """

    __tablename__ = "municipal_holiday"
    __table_args__ = (UniqueConstraint("municipality_id", "date", name="uq_municipal_holiday_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    name_hy: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    name_ru: Mapped[str | None] = mapped_column(String(200))

    @property
    def name(self) -> str:
        return _localized(self, "name")


class DeadlineAdjustment(MunicipalityOwned, Model):
    """Why an application's due dates moved: the clock was suspended while it waited on the
    citizen, or someone extended the deadline. Rows are only inserted; the sum of ``days``
    explains the difference between the statutory and the current due date."""

    __tablename__ = "deadline_adjustment"
    __table_args__ = (
        CheckConstraint("kind IN ('suspension', 'extension')", name="deadline_adjustment_kind"),
        CheckConstraint("days >= 0", name="deadline_adjustment_days_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # Working days the due dates moved by.
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    # For a suspension: the days the application waited on the citizen.
    start_date: Mapped[dt.date | None] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    step_key: Mapped[str | None] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
