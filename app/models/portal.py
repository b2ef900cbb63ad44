"""Tables of the citizen's side: accounts' profiles and outside identities, drafts of online
applications, payments, questions to the specialist, and per-municipality notification texts.

A citizen is a Flask-AppBuilder user with the citizen role and no staff profile; what the
portal knows about them beyond name and e-mail lives in :class:`CitizenProfile`. Rows a
citizen owns that belong to a municipality too (drafts, questions, payments) carry both
``municipality_id`` and the citizen's user id, and are read through app.domain.access.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, MunicipalityOwned, MunicipalityScoped, utcnow


class CitizenProfile(Model):
    """What a citizen account holds beyond FAB's user row: contact details, the language and
    channels they want to be written to in, and what has been verified about them."""

    __tablename__ = "citizen_profile"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    psn: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str] = mapped_column(String(8), nullable=False, default="hy")
    # Notification channel names the citizen chose (e-mail, SMS, in-app; plug-ins add more).
    channels: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=lambda: ["email", "inapp"])
    # False once they unsubscribed from notices that are not essential (polls opened, …).
    optional_notices: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    email_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set when an identity provider vouched for who the person is (and for ``psn``).
    identity_verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    identity_provider: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class CitizenIdentity(Model):
    """An account at an outside identity provider (the national e-ID, mobile ID) linked to a
    citizen account: signing in there signs in here."""

    __tablename__ = "citizen_identity"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False, index=True
    )
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class PortalDraft(MunicipalityOwned, Model):
    """An online application being prepared: raw form values as typed (incomplete values are
    fine here), the stage of the guided form reached, and a token that names its kept uploads
    (app.domain.staging) and makes its submission idempotent. Deleted when it is submitted,
    in the same transaction that files the application."""

    __tablename__ = "portal_draft"
    __table_args__ = (Index("ix_portal_draft_owner", "user_id", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    service_key: Mapped[str] = mapped_column(String(100), nullable=False)
    service_version: Mapped[int] = mapped_column(Integer, nullable=False)
    token: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    stage: Mapped[str] = mapped_column(String(16), nullable=False, default="guide")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # Optimistic locking: a save from a stale tab (another device) changes nothing.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class Payment(MunicipalityOwned, Model):
    """One payment of an application's fee (or of a draft's, paid before submitting), through
    one provider (app.domain.payments). ``reference`` is ours, sent to the gateway; the
    gateway's own id is ``external_id``, unique per provider so a replayed callback finds
    the payment it already settled."""

    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("portal_draft.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    provider: Mapped[str] = mapped_column(String(64), nullable=False)
    reference: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(128))
    # In the smallest unit of the currency (dram have none: whole ֏).
    amount: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="AMD")
    # The fee items paid, as shown to the payer: [{"label": {...}, "amount": n}, ...].
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    # started → paid | failed | cancelled; waived is recorded by staff.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="started")
    receipt_number: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    recorded_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))


class Question(MunicipalityOwned, Model):
    """A citizen's question to a municipality: about one of their applications (it goes to
    the assignee, or the department when there is none) or general, to a department. Staff
    answer it from their workspace; ``due_on`` is the municipality's answer deadline."""

    __tablename__ = "question"
    __table_args__ = (
        Index("ix_question_queue", "municipality_id", "status", "due_on"),
        Index("ix_question_citizen", "citizen_user_id", "last_message_at"),
        # The dashboard's answer times read the questions of a window from the index alone.
        Index("ix_question_asked", "municipality_id", "created_at", "first_answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    application_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("application.id", ondelete="CASCADE"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("department.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    # open (waiting for staff) → answered (waiting for the citizen, or done) → closed.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    # For response times on the dashboard: when staff first answered.
    first_answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_message_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class QuestionMessage(MunicipalityOwned, Model):
    """One message of a question's thread, from the citizen or from staff. Never edited."""

    __tablename__ = "question_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("question.id", ondelete="CASCADE"), nullable=False, index=True
    )
    author_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    from_staff: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class QuestionAttachment(MunicipalityOwned, Model):
    """A file attached to a question's message, checked like any upload (app.domain.uploads)."""

    __tablename__ = "question_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("question_message.id", ondelete="CASCADE"), nullable=False, index=True
    )
    original_name: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class NotificationText(MunicipalityScoped, Model):
    """A municipality's (or, without one, the install's) own words for one notification event,
    optionally for one service only, in one language. The most specific text wins
    (municipality + service, municipality, service, then the built-in text)."""

    __tablename__ = "notification_text"
    __table_args__ = (UniqueConstraint("municipality_id", "service_key", "event", "language"),)
    unowned_rows_shared = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="CASCADE"), index=True
    )
    service_key: Mapped[str | None] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


__all__ = [
    "CitizenIdentity",
    "CitizenProfile",
    "NotificationText",
    "Payment",
    "PortalDraft",
    "Question",
    "QuestionAttachment",
    "QuestionMessage",
]
