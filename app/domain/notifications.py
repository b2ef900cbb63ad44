"""Writing notifications to the outbox, the channels they go out on, and delivering them.

Writing (:func:`notify_user` for staff, :func:`app.domain.citizen_notices.emit` for
everyone else) only adds rows to the caller's session: the caller commits them together
with the change that caused them, so a notification exists exactly when its cause does.

Channels (:class:`NotificationChannel`) are plug-ins (hook ``register_notification_channels``);
built in are ``email`` (SMTP), ``sms`` (an interface whose default only logs; a plug-in
registering ``sms`` replaces it) and ``inapp`` (the bell: delivered when written). Delivery
(:func:`deliver`) runs later in a job (app.jobs), one row at a time: it *claims* the row
(``pending`` → ``sending``, one UPDATE that only one worker can win) under a short lease,
records ``send_started_at`` just before the message leaves and ``sent_at`` right after; a
failed attempt goes back to ``pending`` and raises :class:`DeliveryFailed` so the job library
retries it, the last one marks it ``failed``. A row is never sent twice by two workers: the
sweep, a retry and a duplicate task all lose the claim while another's lease holds. A worker
that died before sending leaves a row the sweep (every minute) re-enqueues once its lease is
over; one that died while handing the message over leaves an *uncertain* row, which is not
resent blindly (see the delivery section below and docs/notifications.md).

Texts are rendered in the recipient's language when the notification is written, not when
it is read: an e-mail cannot be re-translated once sent, and the in-app copy shows the same
words.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import smtplib
import socket
import ssl
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.policy import default as default_policy
from email.utils import formatdate
from functools import partial
from typing import Any, Literal, cast

from flask_babel import force_locale
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from app.models import Notification, User
from app.models.base import utcnow

log = logging.getLogger(__name__)

EMAIL = "email"
SMS = "sms"
INAPP = "inapp"
# The built-in channels, in the order they are listed.
CHANNELS = (EMAIL, SMS, INAPP)

PENDING = "pending"
# Leased to one worker, which is sending it now (or died while handing it over: uncertain).
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
STATUSES = (PENDING, SENDING, SENT, FAILED)

# Kinds of notice a citizen may turn off (CitizenProfile.optional_notices); their e-mails
# carry an unsubscribe link and List-Unsubscribe headers (app.domain.citizen_notices).
OPTIONAL_KINDS = frozenset(
    {
        "poll_opened",
        "budget_opened",
        "consultation_opened",
        "results_published",
        "summary_published",
        "step_changed",
    }
)

LANGUAGES = ("hy", "en", "ru")
MAX_ERROR = 2000


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
    municipality_id: int | None,
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


# -- channels ----------------------------------------------------------------------------------

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
ADDRESS_KINDS = ("email", "phone")


class DeliveryFailed(RuntimeError):
    """This attempt did not deliver; the row says why and the job retries."""


class LeaseLost(DeliveryFailed):
    """This worker's lease ran out before the message left: another worker may own the row
    now, so this one sends nothing."""


class HandOffUncertain(DeliveryFailed):
    """The connection failed after the message was handed over and before the channel said
    whether it took it: it may have been delivered."""


class ChannelInvalid(ValueError):
    """A :class:`NotificationChannel` declaration that cannot be used."""


class DuplicateChannel(ValueError):
    """Two plug-ins (or a plug-in and the core) register the same channel key."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One notification as a channel sends it. ``to`` is the address the channel asked for
    (an e-mail address, a phone number; ``None`` for channels that need none). ``message_id``
    is stable per notification: a gateway that de-duplicates can use it."""

    notification_id: int
    channel: str
    kind: str
    to: str | None
    subject: str
    body: str
    language: str
    message_id: str
    # The one-click unsubscribe address of a notice that is not essential, else None.
    unsubscribe_url: str | None = None
    recipient_user_id: int | None = None


@dataclass(frozen=True)
class NotificationChannel:
    """A way to reach people, registered by a plug-in through ``register_notification_channels``.

    ``key``
        stored on each notification row (lower case, up to 16 characters: ``email``, ``sms``).
    ``label``
        its name per language, as citizens see it when they choose channels.
    ``send``
        ``send(message: OutgoingMessage) -> None``; raise :class:`DeliveryFailed` (or any
        exception) when the message did not go out: the job retries with back-off. It runs
        inside the app context of a job worker. ``None`` means delivered when written (the
        in-app bell).
    ``address``
        what the channel sends to: ``"email"`` (the account's address), ``"phone"`` (the
        profile's phone) or ``None``. A person without that address is not written to on it.
    ``essential``
        whether it may carry essential notices (decisions, returns, account links); e-mail
        always does.
    """

    key: str
    label: Mapping[str, str]
    send: Callable[[OutgoingMessage], None] | None = None
    address: Literal["email", "phone"] | None = None
    essential: bool = True
    # Shown on the admin Plug-ins page / in logs; e.g. "log only: no gateway installed".
    note: str = field(default="", compare=False)
    # ``send_handing_off(message, hand_off)``: a channel that can say when the message really
    # leaves calls ``hand_off()`` right then (e-mail: before DATA); it raises when this worker
    # may no longer send. Without it, ``hand_off`` runs just before ``send``.
    send_handing_off: Callable[[OutgoingMessage, Callable[[], None]], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not KEY_PATTERN.match(self.key):
            raise ChannelInvalid(f"channel key {self.key!r} must be 1-16 lower-case letters, digits, _ or -")
        if (
            not isinstance(self.label, Mapping)
            or not self.label
            or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in self.label.items())
        ):
            raise ChannelInvalid(f"channel {self.key!r}: label must map languages to non-empty names")
        if self.send is not None and not callable(self.send):
            raise ChannelInvalid(f"channel {self.key!r}: send must be callable or None")
        if self.address is not None and self.address not in ADDRESS_KINDS:
            raise ChannelInvalid(f"channel {self.key!r}: address must be one of {ADDRESS_KINDS} or None")
        object.__setattr__(self, "label", dict(self.label))


def _mask(address: str | None) -> str:
    if not address:
        return ""
    return ("\u2026" + address[-3:]) if len(address) > 3 else "\u2026"


def email_channel(config: Mapping[str, Any]) -> NotificationChannel:
    def send(message: OutgoingMessage) -> None:
        send_smtp(email_message(message, config), config)

    def send_handing_off(message: OutgoingMessage, hand_off: Callable[[], None]) -> None:
        send_smtp(email_message(message, config), config, hand_off=hand_off)

    return NotificationChannel(
        key=EMAIL,
        label={"hy": "Էլ. փոստ", "en": "E-mail", "ru": "Эл. почта"},
        send=send,
        address="email",
        essential=True,
        send_handing_off=send_handing_off,
    )


def _log_sms(message: OutgoingMessage) -> None:
    log.warning(
        "SMS notification %s to %s NOT sent: no SMS gateway is installed (the built-in SMS channel only logs)",
        message.notification_id,
        _mask(message.to),
    )


LOG_ONLY_SMS = NotificationChannel(
    key=SMS,
    label={"hy": "ՍՄՍ", "en": "SMS", "ru": "СМС"},
    send=_log_sms,
    address="phone",
    essential=True,
    note="log only: no SMS gateway installed",
)

INAPP_CHANNEL = NotificationChannel(
    key=INAPP,
    label={"hy": "Ծանուցումներ կայքում", "en": "Notices on the site", "ru": "Уведомления на сайте"},
    send=None,
    address=None,
    essential=True,
)


def builtin_channels(config: Mapping[str, Any]) -> list[NotificationChannel]:
    return [email_channel(config), LOG_ONLY_SMS, INAPP_CHANNEL]


def catalogue(
    builtin: Iterable[NotificationChannel], contributed: Iterable[tuple[str, NotificationChannel]] = ()
) -> dict[str, NotificationChannel]:
    """The install's channels by key: the built-in ones first, then the plug-ins' sorted by
    key. ``contributed`` pairs each channel with the name of the plug-in that registered it.
    A plug-in may replace the log-only ``sms`` (that is what the interface is for); any other
    key taken twice raises :class:`DuplicateChannel` naming both owners."""
    channels: dict[str, NotificationChannel] = {}
    owners: dict[str, str] = {}
    for channel in builtin:
        channels[channel.key] = channel
        owners[channel.key] = "core"
    for owner, channel in sorted(contributed, key=lambda pair: (pair[1].key, pair[0])):
        if channel.key in owners and not (owners[channel.key] == "core" and channel.key == SMS):
            raise DuplicateChannel(
                f"notification channel {channel.key!r} of plug-in {owner!r} is already registered by {owners[channel.key]!r}"
            )
        channels[channel.key] = channel
        owners[channel.key] = owner
    return channels


def builtin_catalogue(config: Mapping[str, Any] | None = None) -> dict[str, NotificationChannel]:
    return catalogue(builtin_channels(config or {}))


# The session.info keys where app.jobs leaves the app's channels and config for the domain,
# which is handed a session but no app.
CATALOGUE_INFO_KEY = "hamaynk.notification_channels"
CONFIG_INFO_KEY = "hamaynk.config"


def _began(session: Session, key: str) -> Any:
    if key not in session.info:
        # The app's listener fills session.info when a transaction begins: begin one.
        session.connection()
    return session.info.get(key)


def session_catalogue(session: Session) -> Mapping[str, NotificationChannel]:
    """The app's notification channels, as app.jobs left them on ``session``; the built-in
    ones for a session of no app."""
    registered = _began(session, CATALOGUE_INFO_KEY)
    if registered:
        return cast(Mapping[str, NotificationChannel], registered)
    return builtin_catalogue(session_config(session))


def session_config(session: Session) -> Mapping[str, Any]:
    """The app's config, as app.jobs left it on ``session``; empty for a session of no app."""
    return cast(Mapping[str, Any], _began(session, CONFIG_INFO_KEY) or {})


# -- unsubscribing -----------------------------------------------------------------------------

UNSUBSCRIBE_SALT = "hamaynk.notices.unsubscribe"
UNSUBSCRIBE_DAYS = 90


class BadToken(ValueError):
    """An unsubscribe token that is forged, broken or too old."""


def _serializer(config: Mapping[str, Any]) -> URLSafeTimedSerializer:
    secret = str(config.get("SECRET_KEY") or "")
    if not secret:
        raise BadToken("no SECRET_KEY to sign with")
    return URLSafeTimedSerializer(secret, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(config: Mapping[str, Any], user_id: int) -> str:
    return _serializer(config).dumps({"u": int(user_id)})


def user_of_unsubscribe_token(config: Mapping[str, Any], token: str) -> int:
    """The user id an unsubscribe token was made for; :class:`BadToken` when it is forged,
    broken or older than ``HAMAYNK_UNSUBSCRIBE_DAYS`` (default 90) days."""
    days = float(config.get("HAMAYNK_UNSUBSCRIBE_DAYS") or UNSUBSCRIBE_DAYS)
    try:
        data = _serializer(config).loads(token, max_age=int(days * 86400))
    except SignatureExpired as exc:
        raise BadToken("expired") from exc
    except BadSignature as exc:
        raise BadToken("bad signature") from exc
    if not isinstance(data, dict) or type(data.get("u")) is not int:
        raise BadToken("bad payload")
    return int(data["u"])


def public_url(config: Mapping[str, Any], path: str) -> str:
    base = (config.get("HAMAYNK_PUBLIC_URL") or "").rstrip("/")
    return f"{base}/{path.lstrip('/')}"


def unsubscribe_url(config: Mapping[str, Any], user_id: int) -> str:
    return public_url(config, f"/notices/unsubscribe/{unsubscribe_token(config, user_id)}")


# -- messages ----------------------------------------------------------------------------------


def _domain(config: Mapping[str, Any]) -> str:
    return (config.get("HAMAYNK_MAIL_FROM") or "hamaynk@localhost").rsplit("@", 1)[-1] or "localhost"


def outgoing(notification: Notification, config: Mapping[str, Any]) -> OutgoingMessage:
    """What a channel is handed for ``notification``."""
    unsubscribe = None
    if notification.kind in OPTIONAL_KINDS and notification.recipient_user_id is not None:
        try:
            unsubscribe = unsubscribe_url(config, notification.recipient_user_id)
        except BadToken:
            unsubscribe = None
    return OutgoingMessage(
        notification_id=notification.id,
        channel=notification.channel,
        kind=notification.kind,
        to=notification.recipient_address,
        subject=notification.subject,
        body=notification.body,
        language=notification.language,
        # Stable per notification, so a resent message is recognisable as the same one.
        message_id=f"<hamaynk-notification-{notification.id}@{_domain(config)}>",
        unsubscribe_url=unsubscribe,
        recipient_user_id=notification.recipient_user_id,
    )


class _MailPolicy(EmailPolicy):
    """The standard policy, except for how a non-ASCII Subject is folded. Python's folder
    (3.11, 3.12) puts the space where it splits a long subject into encoded words outside
    them, and a reader drops whitespace between encoded words (RFC 2047, 6.2): an Armenian
    subject of more than about forty letters arrived with two words run together. The
    legacy ``Header`` encoder keeps each space inside an encoded word."""

    def fold(self, name: str, value: str) -> str:
        text = str(value)
        if name.lower() != "subject" or text.isascii():
            return super().fold(name, value)
        encoded = Header(text, "utf-8", maxlinelen=self.max_line_length, header_name=name)
        return f"{name}: {encoded.encode(linesep=self.linesep)}{self.linesep}"

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() != "subject" or str(value).isascii():
            return super().fold_binary(name, value)
        return self.fold(name, value).encode("ascii")


MAIL_POLICY = _MailPolicy() + default_policy


def email_message(message: OutgoingMessage, config: Mapping[str, Any]) -> EmailMessage:
    email = EmailMessage(policy=MAIL_POLICY)
    email["From"] = config.get("HAMAYNK_MAIL_FROM") or "hamaynk@localhost"
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = message.message_id
    if message.unsubscribe_url:
        # RFC 2369 and RFC 8058: mail programs offer their own one-click "unsubscribe".
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.body)
    # After set_content, which replaces every Content-* header.
    email["Content-Language"] = message.language
    return email


def _message(notification: Notification, config: Mapping[str, Any]) -> EmailMessage:
    return email_message(outgoing(notification, config), config)


class _HandingOffSMTP(smtplib.SMTP):
    """smtplib's client that calls ``hand_off`` just before DATA, once the server accepted
    sender and recipients: everything before can fail without the message having left."""

    def __init__(self, *args: Any, hand_off: Callable[[], None] | None = None, **kwargs: Any) -> None:
        self._hand_off = hand_off
        super().__init__(*args, **kwargs)

    def data(self, msg: Any) -> tuple[int, bytes]:
        if self._hand_off is not None:
            self._hand_off()
        try:
            return super().data(msg)
        except smtplib.SMTPResponseException:
            raise  # the server answered with an error: it did not take the message
        except OSError as exc:  # the connection broke: the server may have taken it
            raise HandOffUncertain(f"{type(exc).__name__}: {exc}") from exc


def send_smtp(message: EmailMessage, config: Mapping[str, Any], *, hand_off: Callable[[], None] | None = None) -> None:
    """Send ``message`` to the configured server; ``hand_off()`` runs right before DATA."""
    host = config.get("HAMAYNK_SMTP_HOST") or ""
    if not host:
        raise DeliveryFailed("HAMAYNK_SMTP_HOST is not set: e-mail cannot be sent")
    timeout = float(config.get("HAMAYNK_SMTP_TIMEOUT") or 20)
    port = int(config.get("HAMAYNK_SMTP_PORT") or 25)
    with _HandingOffSMTP(host, port, timeout=timeout, hand_off=hand_off) as smtp:
        if config.get("HAMAYNK_SMTP_STARTTLS"):
            smtp.starttls(context=ssl.create_default_context())
        if config.get("HAMAYNK_SMTP_USER"):
            smtp.login(config["HAMAYNK_SMTP_USER"], config.get("HAMAYNK_SMTP_PASSWORD") or "")
        smtp.send_message(message)


# -- delivery ----------------------------------------------------------------------------------
#
# A delivery runs under a lease: the claim (one UPDATE, one winner) moves the row to
# ``sending`` with ``lease_owner`` and ``lease_until``. Just before the message leaves (for
# e-mail: after the mail server accepted sender and recipient, right before DATA) the owner
# records ``send_started_at``, and only while its lease still holds; right after the channel
# returns it records ``sent_at``. So a row whose lease ran out is:
#   - ``sending`` without ``send_started_at``: the worker died before anything left; any
#     worker may claim it again (the sweep re-enqueues it);
#   - ``sending`` with ``send_started_at``: *uncertain*, the message may have been delivered.
#     It is not resent blindly: it waits HAMAYNK_NOTIFY_UNCERTAIN_SECONDS and is then sent
#     once more with the same Message-ID (or marked failed when that setting is 0).
# A ``pending`` row's ``lease_until`` is when its queued task is due (a retry's back-off, or
# a task the sweep just enqueued); the sweep leaves it alone until then.

LEASE_SECONDS = 120
UNCERTAIN_SECONDS = 6 * 3600
UNCERTAIN_NOTE = (
    "uncertain: the worker stopped while handing the message over; it may have been delivered, "
    "so it is not resent at once"
)


def lease_length(config: Mapping[str, Any]) -> dt.timedelta:
    return dt.timedelta(seconds=float(config.get("HAMAYNK_NOTIFY_LEASE_SECONDS") or LEASE_SECONDS))


def uncertain_wait(config: Mapping[str, Any]) -> dt.timedelta | None:
    """How long an uncertain row waits before it is sent once more; ``None``: never (it is
    marked failed, for a person to decide)."""
    raw = config.get("HAMAYNK_NOTIFY_UNCERTAIN_SECONDS")
    seconds = float(UNCERTAIN_SECONDS if raw is None or raw == "" else raw)
    return dt.timedelta(seconds=seconds) if seconds > 0 else None


def _lease_over(now: dt.datetime, lease: dt.timedelta) -> Any:
    # Rows claimed before leases existed have no lease_until: their last attempt stands in.
    return or_(
        Notification.lease_until < now,
        Notification.lease_until.is_(None) & (Notification.last_attempt_at < now - lease),
    )


def _claimable(now: dt.datetime, config: Mapping[str, Any]) -> Any:
    lease = lease_length(config)
    sending = Notification.status == SENDING
    abandoned = sending & Notification.send_started_at.is_(None) & _lease_over(now, lease)
    condition = or_(Notification.status == PENDING, abandoned)
    wait = uncertain_wait(config)
    if wait is not None:
        condition = or_(
            condition,
            sending & Notification.sent_at.is_(None) & (Notification.send_started_at < now - wait),
        )
    return condition


def lease_owner_name() -> str:
    """Unique per claim: the host and process (for a person reading the row) and a nonce."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _owned(notification_id: int, owner: str) -> Any:
    return (Notification.id == notification_id) & (Notification.lease_owner == owner) & (Notification.status == SENDING)


def _update(session: Session, where: Any, **values: Any) -> int:
    result = session.execute(
        update(Notification).where(where).values(**values).execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


def _hand_off(session: Session, notification_id: int, owner: str) -> None:
    """Record that the message is leaving now, or raise :class:`LeaseLost`: only the owner of
    a lease that still holds may send."""
    now = utcnow()
    marked = _update(
        session,
        _owned(notification_id, owner) & Notification.send_started_at.is_(None) & (Notification.lease_until >= now),
        send_started_at=now,
    )
    session.commit()
    if marked != 1:
        raise LeaseLost(f"notification {notification_id}: the lease of {owner} ran out before sending")


def deliver(
    session: Session,
    notification_id: int,
    config: Mapping[str, Any],
    channels: Mapping[str, NotificationChannel] | None = None,
    *,
    final_attempt: bool = False,
    retry_in: float | None = None,
    owner: str | None = None,
) -> str:
    """Try to send one notification over its channel and commit what happened.

    Returns the row's status afterwards (``sent``; ``failed`` when ``final_attempt`` failed
    too; ``sending`` when the outcome is uncertain or another worker holds the row); a failed
    attempt that will be retried raises :class:`DeliveryFailed`, leaving the row ``pending``
    until ``retry_in`` seconds from now (when the job library's retry is due). A row that is
    missing, sent, failed or leased to another worker is left alone. ``channels`` is the
    install's catalogue (default: the built-in channels on ``config``).
    """
    channels = channels if channels is not None else builtin_catalogue(config)
    owner = owner or lease_owner_name()
    now = utcnow()
    resent_uncertain = session.execute(
        select(Notification.send_started_at).where(Notification.id == notification_id)
    ).scalar_one_or_none()
    # Claim it: of two workers holding the same task (a retry and the sweep's), one wins.
    claimed = _update(
        session,
        (Notification.id == notification_id) & (Notification.channel != INAPP) & _claimable(now, config),
        status=SENDING,
        attempts=Notification.attempts + 1,
        last_attempt_at=now,
        lease_owner=owner,
        lease_until=now + lease_length(config),
        send_started_at=None,
    )
    session.commit()
    notification = session.get(Notification, notification_id)
    if notification is None:
        return "missing"
    if claimed != 1:
        return notification.status
    if resent_uncertain is not None:
        log.warning("notification %s: sending again after an uncertain hand-off, same Message-ID", notification_id)
    channel = channels.get(notification.channel)
    message = outgoing(notification, config)
    try:
        if channel is None:
            raise DeliveryFailed(f"no notification channel {notification.channel!r} is installed")
        hand_off = partial(_hand_off, session, notification_id, owner)
        if channel.send_handing_off is not None:
            channel.send_handing_off(message, hand_off)
        else:
            hand_off()
            if channel.send is not None:
                channel.send(message)
    except LeaseLost:
        log.warning("notification %s: lease lost before sending; left to its new owner", notification_id)
        session.rollback()
        return SENDING
    except HandOffUncertain as exc:
        return _uncertain(session, notification_id, owner, exc)
    except Exception as exc:  # a plug-in's channel may raise anything: it is one failed attempt
        return _failed(session, notification_id, owner, exc, final_attempt=final_attempt, retry_in=retry_in)
    # Unconditional: the message left, whoever holds the row now.
    _update(
        session,
        Notification.id == notification_id,
        status=SENT,
        sent_at=utcnow(),
        last_error=None,
        lease_until=None,
    )
    session.commit()
    return SENT


def _failed(
    session: Session,
    notification_id: int,
    owner: str,
    exc: Exception,
    *,
    final_attempt: bool,
    retry_in: float | None,
) -> str:
    # The channel said it did not take the message (an SMTP error answer, a gateway's refusal):
    # nothing left, so the hand-off mark is cleared and the row may be sent again.
    session.rollback()
    error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
    status = FAILED if final_attempt else PENDING
    due = utcnow() + dt.timedelta(seconds=retry_in) if retry_in and not final_attempt else None
    _update(
        session,
        _owned(notification_id, owner),
        status=status,
        last_error=error,
        lease_until=due,
        send_started_at=None,
    )
    session.commit()
    if final_attempt:
        log.warning("notification %s failed for good: %s", notification_id, error)
        return FAILED
    raise DeliveryFailed(error) from exc


def _uncertain(session: Session, notification_id: int, owner: str, exc: Exception) -> str:
    # Not retried now: the message may be in the recipient's mailbox already.
    session.rollback()
    _update(
        session,
        _owned(notification_id, owner),
        lease_owner=None,
        lease_until=None,
        last_error=f"{UNCERTAIN_NOTE} ({type(exc).__name__}: {exc})"[:MAX_ERROR],
    )
    session.commit()
    log.warning("notification %s: %s", notification_id, exc)
    return SENDING


def deliver_email(
    session: Session, notification_id: int, config: Mapping[str, Any], *, final_attempt: bool = False
) -> str:
    """:func:`deliver` with the built-in channels (kept for callers from before channels)."""
    return deliver(session, notification_id, config, final_attempt=final_attempt)


def due_for_delivery(session: Session, config: Mapping[str, Any], *, limit: int = 500) -> list[int]:
    """What the sweep (re-)enqueues, and commits: pending rows never handed out within a lease
    or whose queued task is overdue, rows whose worker died before sending, and uncertain
    rows whose wait is over. The pending ones get a fresh ``lease_until`` so the next sweep
    does not enqueue them again while their task is queued. Uncertain rows are noted (and
    failed, when they are never to be resent)."""
    now = utcnow()
    lease = lease_length(config)
    _settle_uncertain(session, config, now)
    pending = (Notification.status == PENDING) & or_(
        Notification.lease_until < now,
        Notification.lease_until.is_(None) & (Notification.created_at <= now - lease),
    )
    retake = (Notification.status == SENDING) & _claimable(now, config)
    ids = list(
        session.execute(
            select(Notification.id)
            .where(Notification.channel != INAPP, or_(pending, retake))
            .order_by(Notification.id)
            .limit(limit)
        ).scalars()
    )
    if ids:
        _update(session, Notification.id.in_(ids) & (Notification.status == PENDING), lease_until=now + lease)
    session.commit()
    return ids


def _settle_uncertain(session: Session, config: Mapping[str, Any], now: dt.datetime) -> None:
    found = (
        (Notification.status == SENDING)
        & Notification.send_started_at.is_not(None)
        & Notification.lease_owner.is_not(None)
        & _lease_over(now, lease_length(config))
    )
    ids = list(session.execute(select(Notification.id).where(found)).scalars())
    if not ids:
        return
    never = uncertain_wait(config) is None
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None, "last_error": UNCERTAIN_NOTE}
    if never:
        values["status"] = FAILED
    _update(session, Notification.id.in_(ids) & found, **values)
    log.warning(
        "%d notification(s) may have been delivered by a worker that stopped (ids %s): %s",
        len(ids),
        ", ".join(map(str, ids[:20])),
        "marked failed (HAMAYNK_NOTIFY_UNCERTAIN_SECONDS=0)" if never else "to be sent once more later",
    )


def pending_ids(session: Session, *, older_than: dt.datetime | None = None, limit: int = 500) -> list[int]:
    """Notifications still to send (read only): pending rows, created before ``older_than``
    when given."""
    query = select(Notification.id).where(Notification.channel != INAPP, Notification.status == PENDING)
    if older_than is not None:
        query = query.where(Notification.created_at < older_than)
    return list(session.execute(query.order_by(Notification.id).limit(limit)).scalars())


def pending_email_ids(session: Session, *, older_than: dt.datetime | None = None, limit: int = 500) -> list[int]:
    return pending_ids(session, older_than=older_than, limit=limit)


__all__ = [
    "CHANNELS",
    "EMAIL",
    "FAILED",
    "INAPP",
    "OPTIONAL_KINDS",
    "PENDING",
    "SENDING",
    "SENT",
    "SMS",
    "STATUSES",
    "BadToken",
    "ChannelInvalid",
    "DeliveryFailed",
    "DuplicateChannel",
    "HandOffUncertain",
    "LeaseLost",
    "NotificationChannel",
    "OutgoingMessage",
    "builtin_catalogue",
    "builtin_channels",
    "catalogue",
    "deliver",
    "deliver_email",
    "due_for_delivery",
    "email_message",
    "lease_length",
    "notify_user",
    "outgoing",
    "pending_email_ids",
    "pending_ids",
    "recipient_language",
    "send_smtp",
    "uncertain_wait",
    "unsubscribe_token",
    "unsubscribe_url",
    "user_of_unsubscribe_token",
]
