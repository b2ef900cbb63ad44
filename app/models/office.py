"""Tables the back office lives by: receipt codes waiting to be handed over, uploads kept
across a failed submission, and substitutes for staff on leave."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, MunicipalityOwned, utcnow


class PendingReceiptCode(MunicipalityOwned, Model):
    """The access code of an application whose receipt the clerk has not yet confirmed as
    printed or handed over. Sealed (encrypted with a key derived from the secret key), one row
    per application, deleted on confirmation: until then the receipt can be shown again."""

    __tablename__ = "pending_receipt_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    sealed_code: Mapped[str] = mapped_column(String(512), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))


class StagedUpload(MunicipalityOwned, Model):
    """A file accepted during a submission that failed validation, kept so the person need
    not attach it again. Tied to the form's submission token and to the user; purged by a job
    after a few hours."""

    __tablename__ = "staged_upload"
    __table_args__ = (Index("ix_staged_upload_token", "submission_token", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_token: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    requirement_key: Mapped[str] = mapped_column(String(64), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)


class Substitution(MunicipalityOwned, Model):
    """While ``absent`` is away (``starts_on``..``ends_on``, inclusive, office days), their
    tasks show in ``substitute``'s "My tasks" and the substitute acts on their behalf."""

    __tablename__ = "substitution"
    __table_args__ = (Index("ix_substitution_substitute", "substitute_id", "starts_on", "ends_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    absent_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    substitute_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    # Ended early (the person came back): kept for the history, no longer in force.
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
