from __future__ import annotations

import datetime as dt

from flask_babel import get_locale
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model, MunicipalityOwned, utcnow


def _localized(obj, prefix: str) -> str:
    try:
        lang = str(get_locale() or "hy")
    except Exception:
        lang = "hy"
    return getattr(obj, f"{prefix}_{lang}", None) or getattr(obj, f"{prefix}_hy")


class Municipality(Model):
    """A tenant: one community (համայնք) with its own staff, services and applications."""

    __tablename__ = "municipality"
    # Named, because SQLite adds it to an existing table through a batch copy that needs one.
    __table_args__ = (UniqueConstraint("tracking_prefix", name="uq_municipality_tracking_prefix"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Short permanent code, used in tracking numbers and URLs (e.g. "abovyan").
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    # Short upper-case prefix of tracking numbers (e.g. "ABV"); empty means derived from code.
    tracking_prefix: Mapped[str | None] = mapped_column(String(10))
    name_hy: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    name_ru: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Office days staff have to answer a citizen's question before it shows as overdue.
    question_answer_days: Mapped[int] = mapped_column(Integer, nullable=False, default=5, server_default="5")
    # The municipality asks its administrators to sign in with a second factor (TOTP).
    require_admin_totp: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0")
    # The coat of arms printed on issued documents (a PNG or JPEG in storage), set by the
    # municipal admin; a neutral emblem is drawn when there is none.
    coat_of_arms_key: Mapped[str | None] = mapped_column(String(255))
    # Supports from verified residents that move a citizen's proposal to review.
    proposal_support_threshold: Mapped[int] = mapped_column(Integer, nullable=False, default=50, server_default="50")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)

    departments: Mapped[list[Department]] = relationship(back_populates="municipality", order_by="Department.code")

    @property
    def name(self) -> str:
        return _localized(self, "name")

    def __repr__(self) -> str:
        return self.name


class Department(MunicipalityOwned, Model):
    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("municipality_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Matches Step.department in service declarations (e.g. "urban_planning").
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name_hy: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    name_ru: Mapped[str | None] = mapped_column(String(200))
    head_user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    municipality: Mapped[Municipality] = relationship(back_populates="departments")

    @property
    def name(self) -> str:
        return _localized(self, "name")

    def __repr__(self) -> str:
        return self.name
