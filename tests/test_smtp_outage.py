"""With the SMTP server stopped, notifications queue; once it is back every one is delivered
exactly once — counted at a real SMTP server (aiosmtpd), also when the hourly sweep and
Huey's retries race for the same rows in two threads."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
from sqlalchemy import select

from app import jobs
from app.domain import citizen_notices, notifications, workflow
from app.domain.roles import HEAD, SPECIALIST
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, Notification
from app.plugins import runtime as plugin_runtime
from app.testing import SmtpInbox, actor_for, add_staff, enable_service, file_application, make_citizen

SERVICE_KEY = "residence-certificate"


@pytest.fixture
def smtp():
    with SmtpInbox() as server:
        yield server


def email_rows(app) -> list[Notification]:
    with app.app_context():
        found = list(
            db.session.execute(
                select(Notification).where(Notification.channel == "email").order_by(Notification.id)
            ).scalars()
        )
        db.session.expunge_all()
        return found


def act(app, application_id: int, user_id: int, action: str, **fields) -> None:
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        workflow.act(
            db.session,
            application,
            action=action,
            actor=actor_for(user_id),
            host=plugin_runtime.host(app),
            storage=get_storage(app),
            expected_version=application.version,
            **fields,
        )
        workflow.commit(db.session)


def cause_notifications(app) -> None:
    """What a busy morning writes: submissions, step changes, returns, a walk-in's e-mail and
    an account e-mail, each committed in its own transaction as the pages do."""
    alpha = app.seeded["alpha"]
    registrar = add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    add_staff(app, alpha, "alpha.registry_head", [HEAD], "civil_registry")
    enable_service(app, alpha["id"], SERVICE_KEY)
    for n in range(3):
        person = make_citizen(app, f"citizen{n}@example.test", language="en")
        application_id = file_application(app, SERVICE_KEY, applicant_user_id=person)
        act(app, application_id, registrar, "approve")  # a step change (optional)
    returned = file_application(app, SERVICE_KEY, applicant_user_id=make_citizen(app, "ret@example.test"))
    act(app, returned, registrar, "return", what_to_fix="The address is incomplete.")
    file_application(app, SERVICE_KEY, applicant_email="walkin@example.test")
    with app.app_context():
        citizen_notices.emit(
            db.session,
            event=citizen_notices.PASSWORD_RESET,
            user_id=make_citizen(app, "reset@example.test"),
            municipality_id=None,
            config=app.config,
            context={"path": "/account/reset/TOKEN"},
        )
        db.session.commit()


def due_retries(app) -> list:
    """Huey's scheduled retries, all of them (whatever their back-off), taken off the schedule."""
    return jobs.get_huey(app).read_schedule(dt.datetime.utcnow() + dt.timedelta(days=365))


def test_notifications_queue_while_the_smtp_server_is_down_and_each_is_delivered_exactly_once_after(
    app, smtp, monkeypatch
):
    app.config.update(HAMAYNK_SMTP_HOST="127.0.0.1", HAMAYNK_SMTP_PORT=smtp.port, HAMAYNK_SMTP_TIMEOUT=5)
    huey = jobs.get_huey(app)

    # -- the server is down ---------------------------------------------------------------------
    assert smtp.refuses()
    cause_notifications(app)
    rows = email_rows(app)
    # 3 × (submitted + step changed) + submitted + returned + the walk-in's + the reset.
    assert len(rows) == 10
    assert Counter(r.kind for r in rows) == {"submitted": 5, "step_changed": 3, "returned": 1, "password_reset": 1}
    # Each was tried once when its transaction committed; all wait, each with its error.
    assert {(r.status, r.attempts) for r in rows} == {(notifications.PENDING, 1)}
    assert all("refused" in r.last_error.lower() for r in rows)
    assert len(huey.scheduled()) == len(rows)
    # Retries while it is still down: counted, still pending, the error kept.
    later = dt.datetime.utcnow() + dt.timedelta(days=365)
    for task in due_retries(app):
        huey.execute(task, timestamp=later)
    rows = email_rows(app)
    assert {(r.status, r.attempts) for r in rows} == {(notifications.PENDING, 2)}
    assert all(r.last_error and r.last_attempt_at for r in rows)
    assert smtp.messages == []

    # -- the server is back: the hourly sweep and the retries race ----------------------------------
    smtp.start()
    tasks = due_retries(app)
    assert len(tasks) == len(rows)
    start = threading.Barrier(2)
    problems: list[BaseException] = []

    def retries() -> None:
        try:
            start.wait()
            for task in tasks:
                huey.execute(task, timestamp=later)
        except BaseException as exc:  # pragma: no cover - reported below
            problems.append(exc)

    def sweep() -> None:
        try:
            start.wait()
            jobs.get_jobs(app).sweep.call_local()
        except BaseException as exc:  # pragma: no cover - reported below
            problems.append(exc)

    threads = [threading.Thread(target=retries), threading.Thread(target=sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not problems, problems
    # A task that lost a database lock to the other thread was rescheduled: let it finish.
    for _round in range(5):
        if all(r.status == notifications.SENT for r in email_rows(app)):
            break
        for task in due_retries(app):
            huey.execute(task, timestamp=later)
        time.sleep(0.2)

    rows = email_rows(app)
    assert {r.status for r in rows} == {notifications.SENT}
    assert all(r.last_error is None and r.sent_at for r in rows)
    # Counted at the server: every notification exactly once.
    received = smtp.counts()
    assert len(smtp.messages) == len(rows)
    assert set(received.values()) == {1}
    assert set(received) == {f"<hamaynk-notification-{r.id}@localhost>" for r in rows}
    assert sorted(to for _from, tos, _m in smtp.messages for to in tos) == sorted(r.recipient_address for r in rows)
    # Only the optional notices carry a one-click unsubscribe.
    by_id = {str(message["Message-ID"]): message for _from, _to, message in smtp.messages}
    for r in rows:
        header = by_id[f"<hamaynk-notification-{r.id}@localhost>"]["List-Unsubscribe"]
        assert (header is not None) == (r.kind == "step_changed"), r.kind

    # -- later runs send nothing again ------------------------------------------------------------
    jobs.get_jobs(app).sweep.call_local()
    for r in rows:
        jobs.get_jobs(app).deliver(r.id)
    for task in due_retries(app):
        huey.execute(task, timestamp=later)
    assert len(smtp.messages) == len(rows)


def test_a_long_armenian_subject_arrives_with_every_space(smtp):
    # Python's folder dropped the space where it split a non-ASCII subject into encoded
    # words: "…կարծիքը որոշման…" arrived as "…կարծիքըորոշման…" (notifications._MailPolicy).
    subject = "Արտահայտեք Ձեր կարծիքը որոշման նախագծի մասին՝ Համայնքի կանաչ տարածքների պահպանման կարգ (նախագիծ)"
    outgoing = notifications.OutgoingMessage(
        notification_id=1,
        channel="email",
        kind="notice",
        to="citizen@example.am",
        subject=subject,
        body="Բարև ձեզ։\n",
        language="hy",
        message_id="<subject-test@example.am>",
    )
    config = {"HAMAYNK_SMTP_HOST": "127.0.0.1", "HAMAYNK_SMTP_PORT": smtp.port, "HAMAYNK_MAIL_FROM": "a@example.am"}
    smtp.start()
    notifications.send_smtp(notifications.email_message(outgoing, config), config)
    (_from, _to, received), *_ = smtp.messages
    assert str(received["Subject"]) == subject
    assert received.get_content().strip() == "Բարև ձեզ։"
