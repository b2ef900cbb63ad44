"""Writing notifications to the outbox and delivering the e-mail ones.

Writing (:func:`notify_user`) only adds rows to the caller's session: the caller commits
them together with the change that caused them, so a notification exists exactly when its
cause does. Delivery (:func:`deliver_email`) runs later in a job (app.jobs), one row at a
time, and records every attempt on the row; a failed attempt raises
:class:`DeliveryFailed` so the job library retries it.

Texts are rendered in the recipient's language when the notification is written, not when
it is read: an e-mail cannot be re-translated once sent, and the in-app copy shows the same
words.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, cast

from flask_babel import force_locale
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from app.models import Notification, User
from app.models.base import utcnow

EMAIL = "email"
INAPP = "inapp"
CHANNELS = (EMAIL, INAPP)

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
STATUSES = (PENDING, SENT, FAILED)

LANGUAGES = ("hy", "en", "ru")
MAX_ERROR = 2000


class DeliveryFailed(RuntimeError):
    """This attempt did not deliver; the row says why and the job retries."""


def recipient_language(session: Session, user_id: int | None, default: str) -> str:
    """The language to write to ``user_id`` in.

    Staff have no stored language preference yet, so this is the install's ``default``
    (its ``BABEL_DEFAULT_LOCALE``), or Armenian when that is not one we write in; the one
    place to change when they get one.
    """
    return default if default in LANGUAGES else "hy"


def notify_user(
    session: Session,
    *,
    user: User,
    default_language: str,
    municipality_id: int,
    kind: str,
    render: Callable[[str], tuple[str, str]],
    application_id: int | None = None,
    step_key: str | None = None,
    step_due_at: dt.datetime | None = None,
    dedup: str | None = None,
) -> list[Notification]:
    """Add an in-app notification for ``user`` and, when they have an address, an e-mail.

    ``render(language)`` returns ``(subject, body)``; it runs inside ``force_locale`` so
    gettext inside it speaks the recipient's language (see :func:`recipient_language` for
    ``default_language``). ``dedup`` (unique per cause) keeps a repeated or concurrent run
    from writing the same notification twice.
    """
    language = recipient_language(session, user.id, default_language)
    with force_locale(language):
        subject, body = render(language)
    subject = " ".join(str(subject).split())[:300]
    now = utcnow()
    rows = []
    channels = [INAPP] + ([EMAIL] if (user.email or "").strip() else [])
    for channel in channels:
        row = Notification(
            municipality_id=municipality_id,
            kind=kind,
            channel=channel,
            recipient_user_id=user.id,
            recipient_address=user.email.strip() if channel == EMAIL else None,
            language=language,
            subject=subject,
            body=str(body),
            application_id=application_id,
            step_key=step_key,
            step_due_at=step_due_at,
            dedup_key=f"{dedup}:{channel}:{user.id}"[:255] if dedup else None,
            # Written is delivered for the in-app channel: the reader's list shows it now.
            status=SENT if channel == INAPP else PENDING,
            sent_at=now if channel == INAPP else None,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


# -- e-mail delivery -----------------------------------------------------------------------


def _message(notification: Notification, config: Mapping[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.get("HAMAYNK_MAIL_FROM") or "hamaynk@localhost"
    message["To"] = notification.recipient_address
    message["Subject"] = notification.subject
    message["Date"] = formatdate(localtime=False)
    # Stable per notification, so a resent message is recognisable as the same one.
    domain = (config.get("HAMAYNK_MAIL_FROM") or "hamaynk@localhost").rsplit("@", 1)[-1] or "localhost"
    message["Message-ID"] = make_msgid(idstring=f"hamaynk-notification-{notification.id}", domain=domain)
    message.set_content(notification.body)
    # After set_content, which replaces every Content-* header.
    message["Content-Language"] = notification.language
    return message


def send_smtp(message: EmailMessage, config: Mapping[str, Any]) -> None:
    host = config.get("HAMAYNK_SMTP_HOST") or ""
    if not host:
        raise DeliveryFailed("HAMAYNK_SMTP_HOST is not set: e-mail cannot be sent")
    timeout = float(config.get("HAMAYNK_SMTP_TIMEOUT") or 20)
    with smtplib.SMTP(host, int(config.get("HAMAYNK_SMTP_PORT") or 25), timeout=timeout) as smtp:
        if config.get("HAMAYNK_SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("HAMAYNK_SMTP_USER"):
            smtp.login(config["HAMAYNK_SMTP_USER"], config.get("HAMAYNK_SMTP_PASSWORD") or "")
        smtp.send_message(message)


def deliver_email(
    session: Session, notification_id: int, config: Mapping[str, Any], *, final_attempt: bool = False
) -> str:
    """Try to send one pending e-mail notification and commit what happened.

    Returns the row's status afterwards (``sent``, or ``failed`` when ``final_attempt``
    failed too); a failed attempt that will be retried raises :class:`DeliveryFailed`.
    A row that is missing, not an e-mail or no longer pending is left alone (a retry of a
    message already sent must not send it again).
    """
    notification = session.get(Notification, notification_id)
    if notification is None or notification.channel != EMAIL or notification.status != PENDING:
        session.rollback()
        return notification.status if notification is not None else "missing"
    seen = notification.attempts
    # Claim the attempt: of two workers holding the same task, only one counts it and sends.
    claim = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == PENDING, Notification.attempts == seen)
        .values(attempts=seen + 1, last_attempt_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    claimed = cast(CursorResult[Any], claim).rowcount
    session.commit()
    # The commit expired the row: reading it again loads what the claim (or the other worker) wrote.
    if claimed != 1:
        return notification.status
    try:
        send_smtp(_message(notification, config), config)
    except (TimeoutError, OSError, smtplib.SMTPException, DeliveryFailed) as exc:
        notification.last_error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        if final_attempt:
            notification.status = FAILED
        session.commit()
        if final_attempt:
            return FAILED
        raise DeliveryFailed(notification.last_error) from exc
    notification.status = SENT
    notification.sent_at = utcnow()
    notification.last_error = None
    session.commit()
    return SENT


def pending_email_ids(session: Session, *, older_than: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Pending e-mails not attempted since ``older_than`` (never attempted counts too): what
    a sweep re-enqueues when a delivery task was lost (a worker killed, a queue emptied)."""
    query = select(Notification.id).where(Notification.channel == EMAIL, Notification.status == PENDING)
    if older_than is not None:
        never_tried = Notification.last_attempt_at.is_(None) & (Notification.created_at < older_than)
        query = query.where(never_tried | (Notification.last_attempt_at < older_than))
    return list(session.execute(query.order_by(Notification.id).limit(limit)).scalars())


__all__ = [
    "CHANNELS",
    "EMAIL",
    "FAILED",
    "INAPP",
    "PENDING",
    "SENT",
    "STATUSES",
    "DeliveryFailed",
    "deliver_email",
    "notify_user",
    "pending_email_ids",
    "recipient_language",
    "send_smtp",
]
