"""The notification outbox.

A notification is written in the same transaction as the change that causes it, so it
exists exactly when the change does; delivery happens afterwards (app.jobs) and is retried
until it succeeds, with its state kept on the row.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, MunicipalityScoped, utcnow


class Notification(MunicipalityScoped, Model):
    """One message to one person over one channel. Most belong to a municipality (about its
    applications, questions, polls); account e-mails (verify the address, reset the password)
    belong to none, and such rows are only ever read by their recipient."""

    __tablename__ = "notification"
    __table_args__ = (
        # The delivery sweep looks for e-mails still pending.
        Index("ix_notification_delivery", "channel", "status"),
        # Escalation asks "was this step, due then, escalated already?" per application.
        Index("ix_notification_subject", "application_id", "kind", "step_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    municipality_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    # What caused it ("escalation", …): lets a reader group and a job find its own.
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    # "email" is sent by a job; "inapp" is shown inside Hamaynk and is delivered once written.
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    recipient_user_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), index=True
    )
    # Copied at writing time: the message goes where the address was when it was decided.
    recipient_address: Mapped[str | None] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)

    application_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("application.id", ondelete="CASCADE"))
    # For escalations: the step and its due moment that were overdue. A step that becomes
    # overdue again after an extension is a new escalation.
    step_key: Mapped[str | None] = mapped_column(String(64))
    step_due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Unique: two jobs racing to write the same notification leave one row.
    dedup_key: Mapped[str | None] = mapped_column(String(255), unique=True)

    # pending → sending (leased to one worker until lease_until) → sent, or failed once the
    # retries are used up. A lease that runs out returns the row to the sweep.
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Recorded just before the message is handed to the mail server: a row found with it set
    # and no sent_at was perhaps delivered, and is settled without a blind resend.
    send_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


__all__ = ["Notification"]
