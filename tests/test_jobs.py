"""Huey jobs for real: the worker command consumes a SQLite queue in a separate process,
its scheduler runs the escalation, and e-mails go through a real SMTP server (aiosmtpd),
retried by Huey until delivered."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from huey import MemoryHuey, SqliteHuey
from sqlalchemy import select
from test_escalation import file_overdue, set_up

from app import jobs
from app.domain import notifications
from app.extensions import db
from app.models import Application, Notification
from app.testing import builtin_plugins

REPO = Path(__file__).resolve().parent.parent


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


def subject_of(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def email_rows(app) -> list[Notification]:
    with app.app_context():
        rows = (
            db.session.execute(select(Notification).where(Notification.channel == "email").order_by(Notification.id))
            .scalars()
            .all()
        )
        db.session.expunge_all()
        return rows


# -- configuration -------------------------------------------------------------------------------


def test_huey_is_built_from_config(tmp_path):
    immediate = jobs.make_huey({"HAMAYNK_JOBS": "immediate"}, str(tmp_path))
    assert isinstance(immediate, MemoryHuey) and immediate.immediate
    embedded = jobs.make_huey({"HAMAYNK_JOBS": "sqlite"}, str(tmp_path / "instance"))
    assert isinstance(embedded, SqliteHuey) and not embedded.immediate
    assert embedded.storage.filename == str(tmp_path / "instance" / "huey.sqlite3")
    chosen = jobs.make_huey(
        {"HAMAYNK_JOBS": "sqlite", "HAMAYNK_HUEY_PATH": str(tmp_path / "q" / "jobs.db")}, str(tmp_path)
    )
    assert chosen.storage.filename == str(tmp_path / "q" / "jobs.db")
    with pytest.raises(jobs.JobsMisconfigured, match="HAMAYNK_JOBS='celery'"):
        jobs.make_huey({"HAMAYNK_JOBS": "celery"}, str(tmp_path))


def test_redis_mode_uses_redis_huey(tmp_path):
    try:
        import redis  # noqa: F401
    except ImportError:
        with pytest.raises(jobs.JobsMisconfigured, match="redis"):
            jobs.make_huey({"HAMAYNK_JOBS": "redis", "HAMAYNK_REDIS_URL": "redis://127.0.0.1:1/0"}, str(tmp_path))
        return
    from huey import RedisHuey

    assert isinstance(
        jobs.make_huey({"HAMAYNK_JOBS": "redis", "HAMAYNK_REDIS_URL": "redis://127.0.0.1:1/0"}, str(tmp_path)),
        RedisHuey,
    )


def test_tests_run_jobs_immediately_and_the_schedule_is_every_quarter_hour(app):
    huey = jobs.get_huey(app)
    assert huey.immediate
    names = lambda when: sorted(task.name for task in huey.read_periodic(when))  # noqa: E731
    # Escalation every quarter hour; the delivery sweep and e-participation's announcements
    # every minute (a killed worker's leases run out in minutes, not hours; a poll's closing
    # is announced within a minute); the housekeeping jobs once an hour or once a day.
    every = ["hamaynk.announce", "hamaynk.sweep"]
    assert names(dt.datetime(2026, 3, 2, 10, 15)) == sorted(["hamaynk.escalate", *every])
    assert names(dt.datetime(2026, 3, 2, 10, 45)) == sorted(["hamaynk.escalate", *every])
    assert names(dt.datetime(2026, 3, 2, 10, 7)) == every
    assert names(dt.datetime(2026, 3, 2, 10, 16)) == every
    assert names(dt.datetime(2026, 3, 2, 10, 17)) == sorted(["hamaynk.purge_idempotency", *every])
    assert names(dt.datetime(2026, 3, 2, 10, 23)) == sorted(["hamaynk.purge_staged", *every])
    assert names(dt.datetime(2026, 3, 2, 10, 41)) == sorted(["hamaynk.sweep_storage", *every])
    assert names(dt.datetime(2026, 3, 2, 3, 53)) == sorted(["hamaynk.prune_audit", *every])


def test_the_worker_refuses_immediate_mode(app):
    result = app.test_cli_runner().invoke(args=["hamaynk", "worker"])
    assert result.exit_code != 0 and "immediate" in result.output


# -- the escalation command and task ---------------------------------------------------------------


def test_escalate_command_runs_once_and_queues_the_emails(app, smtp_server):
    app.config.update(HAMAYNK_SMTP_HOST="127.0.0.1", HAMAYNK_SMTP_PORT=smtp_server.port)
    people = set_up(app, "alpha")
    application_id = file_overdue(app)
    result = app.test_cli_runner().invoke(args=["hamaynk", "escalate"])
    assert result.exit_code == 0, result.output
    assert "1 e-mail(s) queued" in result.output
    # Immediate mode: delivered before the command returned.
    [row] = email_rows(app)
    assert row.status == notifications.SENT and row.attempts == 1 and row.sent_at is not None
    [(_sender, recipients, message)] = smtp_server.messages
    with app.app_context():
        tracking = db.session.get(Application, application_id).tracking_number
    assert recipients == ["alpha.registry_head@test.example"] and row.recipient_user_id == people["registry_head"]
    assert tracking in subject_of(message) and message["Content-Language"] == "hy"
    again = app.test_cli_runner().invoke(args=["hamaynk", "escalate"])
    assert "0 e-mail(s) queued" in again.output and len(smtp_server.messages) == 1
    assert app.test_cli_runner().invoke(args=["hamaynk", "escalate", "--on", "yesterday"]).exit_code != 0


# -- delivery and retries --------------------------------------------------------------------------


def test_delivery_is_retried_by_huey_until_the_smtp_server_takes_it(app, smtp_server):
    dead_port = free_port()  # nothing listens here
    app.config.update(HAMAYNK_SMTP_HOST="127.0.0.1", HAMAYNK_SMTP_PORT=dead_port)
    set_up(app, "alpha")
    file_overdue(app)
    jobs.run_escalation(app)
    [row] = email_rows(app)
    assert row.status == notifications.PENDING and row.attempts == 1
    assert "Connection" in row.last_error or "refused" in row.last_error.lower()
    huey = jobs.get_huey(app)
    # Huey kept the retry, scheduled with the configured delay.
    retries = huey.scheduled()
    assert [task.name for task in retries] == ["hamaynk.deliver"]
    assert retries[0].retries == app.config["HAMAYNK_NOTIFICATION_RETRIES"] - 1
    # The mail server is back; the retry comes due.
    app.config["HAMAYNK_SMTP_PORT"] = smtp_server.port
    later = dt.datetime.utcnow() + dt.timedelta(days=1)
    due = huey.read_schedule(later)
    assert len(due) == 1
    for task in due:
        huey.execute(task, timestamp=later)
    [row] = email_rows(app)
    assert row.status == notifications.SENT and row.attempts == 2 and row.last_error is None
    assert len(smtp_server.messages) == 1
    # A duplicate task for a sent row sends nothing.
    jobs.get_jobs(app).deliver(row.id)
    assert len(smtp_server.messages) == 1 and email_rows(app)[0].attempts == 2


def test_the_last_failed_attempt_marks_the_row_failed(app):
    app.config.update(HAMAYNK_SMTP_HOST="127.0.0.1", HAMAYNK_SMTP_PORT=free_port())
    set_up(app, "alpha")
    file_overdue(app)
    with app.app_context():
        from app.domain.escalation import escalate_overdue
        from app.plugins import runtime as plugin_runtime

        escalate_overdue(db.session, registry=plugin_runtime.registry(app), config=app.config)
        db.session.commit()
        row_id = db.session.execute(select(Notification.id).where(Notification.channel == "email")).scalar_one()
        with pytest.raises(notifications.DeliveryFailed):
            notifications.deliver_email(db.session, row_id, app.config)
        assert notifications.deliver_email(db.session, row_id, app.config, final_attempt=True) == notifications.FAILED
    [row] = email_rows(app)
    # Three attempts: the commit enqueued the first (the outbox listener), the test made two.
    assert row.status == notifications.FAILED and row.attempts == 3 and row.last_error


# -- the real consumer -----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def queue(request, tmp_path) -> dict[str, str]:
    """The worker's queue settings: the embedded SQLite queue, and Redis as at scale."""
    if request.param == "sqlite":
        return {"HAMAYNK_JOBS": "sqlite", "HAMAYNK_HUEY_PATH": str(tmp_path / "huey.sqlite3")}
    return {"HAMAYNK_JOBS": "redis", "HAMAYNK_REDIS_URL": request.getfixturevalue("redis_url")}


def test_worker_process_runs_the_scheduled_escalation_and_delivers(app, tmp_path, smtp_server, queue):
    """`flask hamaynk worker` in its own process, on a SQLite or a Redis queue, with the
    escalation scheduled every minute: it escalates the overdue application and mails the head."""
    # The worker is its own process on the same database (SQLite file or PostgreSQL).
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    people = set_up(app, "alpha")
    application_id = file_overdue(app)
    env = dict(
        os.environ,
        FLASK_APP="app:create_app('development')",
        DATABASE_URL=url,
        HAMAYNK_INSTANCE_DIR=str(tmp_path / "instance"),
        **queue,
        HAMAYNK_ESCALATION_MINUTES="*",
        HAMAYNK_LOAD_ENTRYPOINTS="0",
        HAMAYNK_PLUGINS=",".join(builtin_plugins()),
        HAMAYNK_SMTP_HOST="127.0.0.1",
        HAMAYNK_SMTP_PORT=str(smtp_server.port),
        PYTHONUNBUFFERED="1",
    )
    env.pop("HAMAYNK_ENV", None)
    log = open(tmp_path / "worker.log", "w+")  # noqa: SIM115 - closed with the worker at the end
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "hamaynk", "worker"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
            smtp_server.messages and email_rows(app)[0].status == notifications.SENT
        ):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.3)
    finally:
        worker.send_signal(signal.SIGINT)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    output = (tmp_path / "worker.log").read_text()
    rows = email_rows(app)
    assert len(rows) == 1, output
    assert rows[0].application_id == application_id and rows[0].recipient_user_id == people["registry_head"]
    assert rows[0].status == notifications.SENT, output
    with app.app_context():
        tracking = db.session.get(Application, application_id).tracking_number
    assert [subject_of(m) for _, _, m in smtp_server.messages] == [f"{subject_of(smtp_server.messages[0][2])}"]
    assert tracking in subject_of(smtp_server.messages[0][2])
    assert "hamaynk.escalate" in output
