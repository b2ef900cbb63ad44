"""Notification channels are plug-ins: the hook, merging and refusing duplicates, the
log-only SMS default and its replacement, a channel that raises (retried, then failed), a
row whose channel is gone, and the HTTP SMS gateway example of docs/notifications.md run
against a local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from app import jobs
from app.domain import citizen_notices, notifications
from app.extensions import db
from app.models import CitizenProfile, Notification
from app.sdk import DeliveryFailed, DuplicateChannel, NotificationChannel, OutgoingMessage, hookimpl
from app.testing import make_citizen

DOC = Path(__file__).resolve().parent.parent / "docs" / "notifications.md"
PHONE = "+37491000111"


def plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def channel(key: str, send=None, **more) -> NotificationChannel:
    return NotificationChannel(key=key, label={"en": key.title()}, send=send, **more)


def citizen_on(app, channels: list[str], phone: str | None = PHONE) -> int:
    user_id = make_citizen(app, "anna@example.test", language="en")
    with app.app_context():
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user_id)).scalar_one()
        profile.channels = channels
        profile.phone = phone
        db.session.commit()
    return user_id


def tell(app, user_id: int, event: str = citizen_notices.QUESTION_ANSWERED) -> list[int]:
    """Emit one notice and commit: the outbox enqueues (and, in tests, delivers) it."""
    with app.app_context():
        written = citizen_notices.emit(
            db.session,
            event=event,
            user_id=user_id,
            municipality_id=None,
            config=app.config,
            context={"subject": "Parking", "excerpt": "Yes, you may.", "path": "/my/questions/1"},
        )
        db.session.commit()
        return [row.id for row in written]


def row(app, notification_id: int) -> Notification:
    with app.app_context():
        found = db.session.get(Notification, notification_id)
        db.session.expunge(found)
        return found


def run_due_retries(app) -> None:
    huey = jobs.get_huey(app)
    later = dt.datetime.utcnow() + dt.timedelta(days=1)
    for task in huey.read_schedule(later):
        huey.execute(task, timestamp=later)


# -- the hook -----------------------------------------------------------------------------------


def test_hook_register_notification_channels(hamaynk_app_factory):
    seen = {}

    def register(config):
        seen["url"] = config.get("MESSENGER_URL")
        return [channel("messenger", send=lambda message: None, address="phone")]

    def register_without_config():
        return channel("pager", send=lambda message: None)

    app = hamaynk_app_factory(
        plugins=[
            plugin("messenger", register_notification_channels=register),
            plugin("pager", register_notification_channels=register_without_config),
        ],
        MESSENGER_URL="https://messenger.example",
    )
    channels = jobs.notification_channels(app)
    assert list(channels) == ["email", "sms", "inapp", "messenger", "pager"]
    assert seen == {"url": "https://messenger.example"}
    assert channels["messenger"].address == "phone" and channels["sms"].note.startswith("log only")
    # The domain finds the same catalogue on the session (it is handed no app).
    with app.app_context():
        assert list(citizen_notices.channel_catalogue(db.session)) == list(channels)


def test_a_key_taken_twice_is_refused_but_sms_may_be_replaced(hamaynk_app_factory):
    def messenger():
        return [channel("messenger", send=lambda message: None)]

    with pytest.raises(DuplicateChannel, match=r"'messenger'.*'(one|two)'"):
        hamaynk_app_factory(
            plugins=[
                plugin("one", register_notification_channels=messenger),
                plugin("two", register_notification_channels=messenger),
            ]
        )
    with pytest.raises(DuplicateChannel, match=r"'email'.*'core'"):
        hamaynk_app_factory(
            plugins=[plugin("mail", register_notification_channels=lambda: [channel("email", address="email")])]
        )
    gateway = channel("sms", send=lambda message: None, address="phone")
    app = hamaynk_app_factory(plugins=[plugin("gateway", register_notification_channels=lambda: [gateway])])
    assert jobs.notification_channels(app)["sms"] is gateway


def test_in_production_a_broken_channel_plugin_is_left_out_and_logged(hamaynk_app_factory, caplog):
    def broken():
        raise RuntimeError("no gateway config")

    def clash():
        return [channel("inapp")]

    with caplog.at_level(logging.ERROR):
        app = hamaynk_app_factory(
            plugins=[
                plugin("broken", register_notification_channels=broken),
                plugin("fine", register_notification_channels=lambda: [channel("fine", send=print)]),
            ],
            HAMAYNK_STRICT_PLUGINS=False,
        )
    assert list(jobs.notification_channels(app)) == ["email", "sms", "inapp", "fine"]
    assert "plug-in 'broken'" in caplog.text and "no gateway config" in caplog.text
    app = hamaynk_app_factory(
        plugins=[plugin("clash", register_notification_channels=clash)], HAMAYNK_STRICT_PLUGINS=False
    )
    assert list(jobs.notification_channels(app)) == ["email", "sms", "inapp"]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"key": "Bad Key"}, "lower-case"),
        ({"key": "x" * 17}, "lower-case"),
        ({"key": "fax", "label": {}}, "label"),
        ({"key": "fax", "label": {"en": ""}}, "label"),
        ({"key": "fax", "send": "not callable"}, "callable"),
        ({"key": "fax", "address": "fax-number"}, "address"),
    ],
)
def test_a_bad_channel_declaration_is_refused(kwargs, problem):
    kwargs.setdefault("label", {"en": "Fax"})
    with pytest.raises(notifications.ChannelInvalid, match=problem):
        NotificationChannel(**kwargs)


# -- delivering over a plug-in channel ------------------------------------------------------------------


def test_a_channel_that_raises_is_retried_and_finally_marked_failed(hamaynk_app_factory):
    calls: list[OutgoingMessage] = []

    def flaky(message: OutgoingMessage) -> None:
        calls.append(message)
        raise ConnectionError("gateway down")

    app = hamaynk_app_factory(
        plugins=[plugin("flaky", register_notification_channels=lambda: [channel("flaky", flaky, address="phone")])],
        HAMAYNK_NOTIFICATION_RETRIES=1,
    )
    anna = citizen_on(app, ["flaky"])
    [notice_id] = tell(app, anna)
    first = row(app, notice_id)
    assert (first.channel, first.status, first.attempts) == ("flaky", notifications.PENDING, 1)
    assert first.last_error == "ConnectionError: gateway down" and first.recipient_address == PHONE
    assert calls[0].to == PHONE and calls[0].subject == "Your question was answered: Parking"
    assert "Yes, you may." in calls[0].body and calls[0].message_id.startswith(f"<hamaynk-notification-{notice_id}")
    # The one retry left is the last chance: it fails too and the row is failed for good.
    run_due_retries(app)
    last = row(app, notice_id)
    assert (last.status, last.attempts, len(calls)) == (notifications.FAILED, 2, 2)
    # A failed row is never tried again.
    jobs.get_jobs(app).deliver(notice_id)
    assert len(calls) == 2


def test_a_channel_that_works_is_called_once_per_notification(hamaynk_app_factory):
    calls: list[OutgoingMessage] = []
    app = hamaynk_app_factory(
        plugins=[plugin("ok", register_notification_channels=lambda: [channel("ok", calls.append, address="phone")])]
    )
    anna = citizen_on(app, ["ok", "inapp"])
    ids = tell(app, anna)
    assert [row(app, i).channel for i in ids] == ["inapp", "ok"]
    assert [row(app, i).status for i in ids] == ["sent", "sent"] and len(calls) == 1
    for _ in range(3):
        jobs.get_jobs(app).deliver(ids[1])
    assert len(calls) == 1


def test_a_row_whose_channel_is_no_longer_installed_fails_with_the_reason(app):
    anna = citizen_on(app, ["inapp"])
    with app.app_context():
        db.session.add(
            Notification(
                kind="poll_opened",
                channel="fax",
                recipient_user_id=anna,
                recipient_address="1",
                language="en",
                subject="s",
                body="b",
            )
        )
        db.session.commit()
        notice_id = db.session.execute(select(Notification.id).where(Notification.channel == "fax")).scalar_one()
        with pytest.raises(DeliveryFailed, match="no notification channel 'fax'"):
            notifications.deliver(db.session, notice_id, app.config, jobs.notification_channels(app))


def test_the_built_in_sms_channel_only_logs_and_says_so(app, caplog):
    anna = citizen_on(app, ["sms"])
    with caplog.at_level(logging.WARNING, logger="app.domain.notifications"):
        [notice_id] = tell(app, anna)
    assert row(app, notice_id).status == notifications.SENT
    assert "NOT sent: no SMS gateway is installed" in caplog.text and PHONE not in caplog.text


def test_non_essential_e_mails_carry_list_unsubscribe_headers(app):
    anna = citizen_on(app, ["email"])

    def mail(notice_id: int, kind: str) -> Notification:
        return Notification(
            id=notice_id,
            kind=kind,
            channel="email",
            recipient_user_id=anna,
            recipient_address="anna@example.test",
            language="hy",
            subject="S",
            body="B",
        )

    optional, essential = mail(7, "poll_opened"), mail(8, "decided")
    message = notifications.email_message(notifications.outgoing(optional, app.config), app.config)
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith(app.config["HAMAYNK_PUBLIC_URL"].rstrip("/") + "/notices/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert citizen_notices.user_of_unsubscribe_token(app.config, url.rsplit("/", 1)[1]) == anna
    plain = notifications.email_message(notifications.outgoing(essential, app.config), app.config)
    assert plain["List-Unsubscribe"] is None and plain["Content-Language"] == "hy"


# -- the documented HTTP SMS gateway ------------------------------------------------------------------


def documented_gateway() -> types.ModuleType:
    text = DOC.read_text(encoding="utf-8")
    [source] = [b for b in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "register_notification_channels" in b]
    module = types.ModuleType("hamaynk_sms_gateway")
    exec(compile(source, "docs/notifications.md", "exec"), module.__dict__)
    return module


class Gateway(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.received: list[tuple[dict, dict]] = []
        self.answers: list[int] = []
        super().__init__(("127.0.0.1", 0), GatewayHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1/messages"


class GatewayHandler(BaseHTTPRequestHandler):
    server: Gateway

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((body, dict(self.headers)))
        status = self.server.answers.pop(0) if self.server.answers else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if status == 200 else b"busy")

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def gateway():
    server = Gateway()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_documented_sms_gateway_plugin_sends_once_and_is_retried_while_the_gateway_is_busy(
    hamaynk_app_factory, gateway
):
    module = documented_gateway()
    app = hamaynk_app_factory(
        plugins=[module],
        HAMAYNK_SMS_GATEWAY_URL=gateway.url,
        HAMAYNK_SMS_GATEWAY_TOKEN="secret-token",
        HAMAYNK_SMS_SENDER="Hamaynk",
        HAMAYNK_PUBLIC_URL="https://hamaynk.example",
    )
    assert jobs.notification_channels(app)["sms"].note == ""  # the gateway replaced the log-only one
    anna = citizen_on(app, ["sms"])
    gateway.answers = [503]
    [notice_id] = tell(app, anna)
    waiting = row(app, notice_id)
    assert (waiting.status, waiting.attempts) == (notifications.PENDING, 1)
    assert waiting.last_error == "DeliveryFailed: SMS gateway answered 503: busy"
    run_due_retries(app)
    sent = row(app, notice_id)
    assert (sent.status, sent.attempts, sent.last_error) == (notifications.SENT, 2, None)
    [(first, headers), (second, _headers)] = gateway.received
    assert first == second  # the same message, with the same reference, tried twice
    assert first["to"] == PHONE and first["from"] == "Hamaynk" and headers["Authorization"] == "Bearer secret-token"
    assert first["text"] == "Your question was answered: Parking https://hamaynk.example/my/questions/1"
    assert first["reference"].startswith(f"<hamaynk-notification-{notice_id}")
    jobs.get_jobs(app).deliver(notice_id)
    assert len(gateway.received) == 2


def test_the_documented_sms_gateway_plugin_stays_out_when_not_configured(hamaynk_app_factory):
    app = hamaynk_app_factory(plugins=[documented_gateway()])
    assert jobs.notification_channels(app)["sms"] is notifications.LOG_ONLY_SMS
