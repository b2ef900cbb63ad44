"""What leaves the office and what the public can check: issued documents, and the running
counts the transparency dashboard and the statistics API read.

An :class:`IssuedDocument` is one rendered (and, with a certificate, signed) PDF: stored
once, never changed; a new issue of the same decision is a new row, and the old one points
to it (``superseded_by_id``). The public finds a document by its verification ``code`` only.

The ``stat_*`` tables are aggregates kept up to date in the same transaction as the change
that moves them (app.domain.statistics), so a dashboard or API request reads a few hundred
counters instead of scanning every application. ``flask hamaynk stats rebuild`` recomputes
them from the transition history.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, MunicipalityOwned, utcnow

VALID = "valid"
SUPERSEDED = "superseded"
REVOKED = "revoked"


class IssuedDocument(MunicipalityOwned, Model):
    """One issued decision (approval or refusal) as a stored PDF with its verification code."""

    __tablename__ = "issued_document"
    __table_args__ = (UniqueConstraint("application_id", "sequence", name="uq_issued_document_application_sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    # 1 for the first issue of the application's decision, 2 for its re-issue, …
    sequence: Mapped[int] = mapped_column(Integer, nullable=False)
    # "approval" or "rejection".
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    # Printed on the document: the tracking number and the sequence, e.g. ER-2026-000042-7/1.
    number: Mapped[str] = mapped_column(String(48), unique=True, nullable=False)
    # The short code a person types on /verify/ (16 Crockford base-32 characters, 80 random
    # bits, stored without dashes); unique, and the only way the public finds a document.
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    service_key: Mapped[str] = mapped_column(String(100), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="hy")
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    # All the public ever sees of the holder.
    holder_initials: Mapped[str] = mapped_column(String(16), nullable=False)
    signer_name: Mapped[str | None] = mapped_column(String(200))
    signer_role: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    # True when a PAdES signature with the municipality's certificate is in the file.
    signed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=VALID)
    superseded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("issued_document.id", ondelete="SET NULL"))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class StatMonth(Model):
    """How many applications of one service in one municipality did something in a month.

    ``measure`` is one of app.domain.statistics.MEASURES (received, completed, approved,
    rejected, withdrawn, issued, on_time, returned). Months are their first day."""

    __tablename__ = "stat_month"

    municipality_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="CASCADE"), primary_key=True
    )
    service_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    measure: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class StatDuration(Model):
    """How many decisions in a month took exactly ``working_days`` working days (suspended
    clocks left out): a histogram, so medians and percentiles come without the rows."""

    __tablename__ = "stat_duration"

    municipality_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="CASCADE"), primary_key=True
    )
    service_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    working_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class StatAction(Model):
    """Staff decisions per day, operator and role: what GET /data/statistics counts
    (processed = approved + sent back + rejected). ``actor_id`` 0 is "no person" (the system);
    not a foreign key, so the counts outlive a deleted account."""

    __tablename__ = "stat_action"

    municipality_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="CASCADE"), primary_key=True
    )
    service_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    actor_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The role of the step acted on (front_office, specialist, head, …).
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    # approve, return or reject.
    action: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
