from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model, MunicipalityOwned, MunicipalityScoped, utcnow

# The stored status values, defined with the column that holds them; never rename one. What
# they mean (final, waiting on the citizen) and their labels are in app.domain.statuses.
DRAFT = "draft"
SUBMITTED = "submitted"
IN_REVIEW = "in_review"
RETURNED = "returned_for_correction"
APPROVED = "approved"
ISSUED = "issued"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"


class Application(MunicipalityOwned, Model):
    """One citizen's request for one service, from draft to issued/rejected/withdrawn."""

    __tablename__ = "application"
    __table_args__ = (
        # The workspace lists by municipality, status and due date; this keeps that cheap at 60k+.
        Index("ix_application_inbox", "municipality_id", "status", "due_at"),
        Index("ix_application_applicant_psn", "municipality_id", "applicant_psn"),
        # Inbox pages walk a municipality's applications by (due_at, id) keyset (app.domain.inbox).
        Index("ix_application_queue", "municipality_id", "due_at", "id"),
        Index("ix_application_applicant_phone", "municipality_id", "applicant_phone"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Human-readable, per municipality and year, with a check character.
    tracking_number: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    # Random secret (hashed) for public look-ups, so tracking numbers cannot be enumerated.
    access_secret_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    service_key: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    service_version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default=DRAFT)
    current_step: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), nullable=False, default="office")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)

    applicant_name: Mapped[str] = mapped_column(String(200), nullable=False)
    applicant_psn: Mapped[str | None] = mapped_column(String(10))
    applicant_phone: Mapped[str | None] = mapped_column(String(32))
    applicant_email: Mapped[str | None] = mapped_column(String(254))
    applicant_address: Mapped[str | None] = mapped_column(String(500))
    applicant_user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    fee: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # None when nothing is to be paid; otherwise due, paid or waived (app.domain.payments).
    payment_status: Mapped[str | None] = mapped_column(String(16))

    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    due_at: Mapped[dt.date | None] = mapped_column(Date)
    step_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # A client-chosen key for the submit request: a double submit finds the first row.
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Optimistic locking: an UPDATE that finds another version changes nothing.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}

    documents: Mapped[list[ApplicationDocument]] = relationship(
        back_populates="application", order_by="ApplicationDocument.id"
    )
    history: Mapped[list[TransitionRecord]] = relationship(back_populates="application", order_by="TransitionRecord.id")


class ApplicationDocument(MunicipalityOwned, Model):
    __tablename__ = "application_document"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), nullable=False, index=True
    )
    requirement_key: Mapped[str] = mapped_column(String(64), nullable=False)
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)  # sniffed from content
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    application: Mapped[Application] = relationship(back_populates="documents")


class TransitionRecord(MunicipalityOwned, Model):
    """Immutable history: rows are only ever inserted (see app.models.guards)."""

    __tablename__ = "transition_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    step_key: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32), nullable=False)
    comment: Mapped[str | None] = mapped_column(Text)
    # What the act changed or named, for the history: for a return the fields and documents
    # to fix, for a resubmission {field: [old, new]} and replaced files, for a hand-over how
    # the result reached the applicant. Never personal data beyond what the form holds.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # Set when a substitute acted for an absent colleague: the colleague's user id.
    on_behalf_of_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))

    application: Mapped[Application] = relationship(back_populates="history")


class AuditEvent(MunicipalityScoped, Model):
    """Append-only log of security-relevant acts (document views, permission changes, …)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    # Nullable: system-level events (a plug-in disabled, a municipality created) have none.
    municipality_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    # The tamper-evident chain (app.domain.audit): ``hash`` covers this event's fields and
    # ``prev_hash``, the previous event's ``hash``. Events written before the chain began
    # have neither (app.models.security.AuditChain says where it begins).
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


__all__ = ["Application", "ApplicationDocument", "AuditEvent", "TransitionRecord", "UniqueConstraint"]
