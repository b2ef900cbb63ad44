"""Citizens' notices: which events reach whom on which channel, in which words (built-in texts,
per-service and per-municipality overrides, a broken override), the unsubscribe link, the
bell and the notices page, the outbox's enqueue-on-commit, and the delivery state on the
staff case page."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from app import jobs
from app.domain import citizen_notices, notifications, workflow
from app.domain.roles import HEAD, SPECIALIST
from app.domain.storage import get_storage
from app.extensions import db
from app.models import Application, CitizenProfile, Notification
from app.models.portal import NotificationText
from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, actor_for, add_staff, enable_service, file_application, login, make_citizen

SERVICE_KEY = "residence-certificate"
EMAIL_ADDRESS = "anna@example.test"


@pytest.fixture
def people(app):
    alpha = app.seeded["alpha"]
    found = dict(alpha["users"])
    found["registrar"] = add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    found["registry_head"] = add_staff(app, alpha, "alpha.registry_head", [HEAD], "civil_registry")
    enable_service(app, alpha["id"], SERVICE_KEY)
    alpha["people"] = found
    # Nothing listens on this port: sending fails at once, rows stay pending.
    app.config.update(HAMAYNK_SMTP_HOST="127.0.0.1", HAMAYNK_SMTP_PORT=9, HAMAYNK_PUBLIC_URL="https://hamaynk.example")
    return found


def citizen(app, email=EMAIL_ADDRESS, *, language="en", channels=None, phone=None, optional=True) -> int:
    user_id = make_citizen(app, email, language=language)
    with app.app_context():
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user_id)).scalar_one()
        if channels is not None:
            profile.channels = list(channels)
        profile.phone = phone
        profile.optional_notices = optional
        db.session.commit()
    return user_id


def act(app, application_id: int, who: str, action: str, **fields):
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        fields.setdefault("expected_version", application.version)
        workflow.act(
            db.session,
            application,
            action=action,
            actor=actor_for(app.seeded["alpha"]["people"][who]),
            host=plugin_runtime.host(app),
            storage=get_storage(app),
            **fields,
        )
        workflow.commit(db.session)


def rows(app, **where) -> list[Notification]:
    with app.app_context():
        stmt = select(Notification).order_by(Notification.id)
        for key, value in where.items():
            stmt = stmt.where(getattr(Notification, key) == value)
        found = list(db.session.execute(stmt).scalars())
        db.session.expunge_all()
        return found


def by_event(app, user_id: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in rows(app, recipient_user_id=user_id):
        found.setdefault(row.kind, []).append(row.channel)
    return {kind: sorted(channels) for kind, channels in found.items()}


def tracking_of(app, application_id: int) -> str:
    with app.app_context():
        return db.session.get(Application, application_id).tracking_number


# -- the application's events ----------------------------------------------------------------------


def test_every_workflow_event_reaches_the_applicant_in_their_language_with_the_right_words(app, people):
    anna = citizen(app)
    application_id = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    tracking = tracking_of(app, application_id)
    [email, inapp] = rows(app, kind=citizen_notices.SUBMITTED)
    assert (inapp.channel, inapp.status, inapp.sent_at is not None) == ("inapp", "sent", True)
    assert (email.channel, email.status, email.recipient_address) == ("email", "pending", EMAIL_ADDRESS)
    assert email.language == "en" and email.subject == f"Application {tracking} received"
    assert f"https://hamaynk.example/my/applications/{application_id}" in email.body
    assert "Certificate of residence" in email.body  # the service's title in English
    # Returned, naming a field and saying why.
    act(app, application_id, "registrar", "return", fields=["address"], what_to_fix="The flat number is missing.")
    [returned] = rows(app, kind=citizen_notices.RETURNED, channel="email")
    assert "Address" in returned.body and "The flat number is missing." in returned.body
    assert "unsubscribe" not in returned.body
    with app.app_context():
        data = dict(db.session.get(Application, application_id).data)
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, application_id)
        workflow.act(
            db.session,
            application,
            action="resubmit",
            actor=actor_for(people["clerk"]),
            host=plugin_runtime.host(app),
            storage=get_storage(app),
            expected_version=application.version,
            data={**data, "address": "Abovyan 1, flat 2"},
        )
        workflow.commit(db.session)
    # The clerk resubmitted for them: it is back at its step, in the service's citizen words.
    [back] = rows(app, kind=citizen_notices.STEP_CHANGED, channel="email")
    assert back.subject.startswith(f"Application {tracking}: ")
    assert "/notices/unsubscribe/" in back.body  # not essential: it can be turned off
    act(app, application_id, "registrar", "approve")
    assert "Signature" in rows(app, kind=citizen_notices.STEP_CHANGED, channel="email")[1].subject
    act(app, application_id, "registry_head", "approve")
    [decided] = rows(app, kind=citizen_notices.DECIDED, channel="email")
    assert decided.subject == f"Application {tracking}: Approved"
    act(app, application_id, "clerk", "hand_over", method="post")
    [handed] = rows(app, kind=citizen_notices.HANDED_OVER, channel="email")
    assert "by post" in handed.body
    events = by_event(app, anna)
    assert events[citizen_notices.SUBMITTED] == ["email", "inapp"]
    assert events[citizen_notices.RETURNED] == ["email", "inapp"]
    # The clerk's resubmission moved it on again: a second step change.
    assert events[citizen_notices.STEP_CHANGED] == ["email", "email", "inapp", "inapp"]


def test_a_rejection_gives_the_reason_and_a_withdrawal_is_confirmed(app, people):
    anna = citizen(app, language="hy")
    rejected = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    act(app, rejected, "registrar", "reject", reason="Not registered here.")
    [mail] = rows(app, kind=citizen_notices.DECIDED, channel="email")
    assert mail.language == "hy" and "Not registered here." in mail.body
    withdrawn = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    with app.test_request_context("/?_l_=en"):
        application = db.session.get(Application, withdrawn)
        workflow.withdraw(
            db.session,
            application,
            actor=actor_for(people["clerk"]),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        workflow.commit(db.session)
    assert [r.channel for r in rows(app, kind=citizen_notices.WITHDRAWN)] == ["email", "inapp"]


def test_a_walk_in_applicant_is_written_to_at_the_address_they_gave_but_not_about_each_step(app, people):
    application_id = file_application(app, SERVICE_KEY, applicant_email="walkin@example.test")
    act(app, application_id, "registrar", "approve")
    act(app, application_id, "registry_head", "approve")
    found = rows(app, recipient_address="walkin@example.test")
    assert [(r.kind, r.channel) for r in found] == [("submitted", "email"), ("decided", "email")]
    assert all(r.recipient_user_id is None for r in found)
    assert "https://hamaynk.example/track" in found[0].body  # the public look-up, no account page
    # Without an address and an account nobody is written to.
    before = len(rows(app))
    file_application(app, SERVICE_KEY)
    assert len(rows(app)) == before


def test_a_citizen_who_chose_sms_only_gets_sms_and_e_mail_only_for_essential_events(app, people):
    anna = citizen(app, channels=["sms"], phone="+37491000000")
    application_id = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    act(app, application_id, "registrar", "return", what_to_fix="Sign it.")
    act(app, application_id, "clerk", "resubmit")
    events = by_event(app, anna)
    assert events == {
        citizen_notices.SUBMITTED: ["sms"],
        # Essential: e-mail too, whatever was chosen.
        citizen_notices.RETURNED: ["email", "sms"],
        citizen_notices.STEP_CHANGED: ["sms"],
    }
    [sms] = rows(app, kind=citizen_notices.RETURNED, channel="sms")
    assert sms.recipient_address == "+37491000000" and "Sign it." in sms.body


def test_sms_without_a_phone_number_is_skipped_and_unsubscribed_citizens_get_no_optional_mail(app, people):
    anna = citizen(app, channels=["sms", "inapp"], phone=None, optional=False)
    application_id = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    act(app, application_id, "registrar", "approve")
    events = by_event(app, anna)
    assert events[citizen_notices.SUBMITTED] == ["inapp"]
    # Unsubscribed from optional notices: the bell only, nothing sent.
    assert events[citizen_notices.STEP_CHANGED] == ["inapp"]


def test_account_events_go_by_e_mail_only_and_carry_the_link_from_the_context(app):
    anna = citizen(app)
    with app.app_context():
        written = citizen_notices.emit(
            db.session,
            event=citizen_notices.PASSWORD_RESET,
            user_id=anna,
            municipality_id=None,
            config=app.config,
            context={"path": "/account/reset/TOKEN"},
        )
        db.session.commit()
        assert [(r.channel, r.municipality_id) for r in written] == [("email", None)]
        assert "/account/reset/TOKEN" in written[0].body and written[0].subject == "Reset your password"


def test_a_dedup_key_writes_a_notice_once(app):
    anna = citizen(app)
    with app.app_context():
        for _ in range(2):
            citizen_notices.emit(
                db.session,
                event=citizen_notices.POLL_OPENED,
                user_id=anna,
                municipality_id=app.seeded["alpha"]["id"],
                config=app.config,
                context={"title": {"en": "Park", "hy": "Այգի"}},
                dedup="poll:1",
            )
            try:
                db.session.commit()
            except Exception:
                db.session.rollback()
    assert [r.channel for r in rows(app, kind=citizen_notices.POLL_OPENED)] == ["email", "inapp"]


# -- texts and overrides -----------------------------------------------------------------------------


def override(app, *, municipality=None, service=None, subject, body="{tracking_number}", language="en"):
    with app.app_context():
        db.session.add(
            NotificationText(
                municipality_id=app.seeded[municipality]["id"] if municipality else None,
                service_key=service,
                event=citizen_notices.SUBMITTED,
                language=language,
                subject=subject,
                body=body,
            )
        )
        db.session.commit()


def submitted_subject(app, anna, municipality="alpha") -> str:
    application_id = file_application(app, SERVICE_KEY, municipality, applicant_user_id=anna)
    with app.app_context():
        return db.session.execute(
            select(Notification.subject).where(
                Notification.application_id == application_id,
                Notification.kind == citizen_notices.SUBMITTED,
                Notification.channel == "email",
            )
        ).scalar_one()


def test_the_most_specific_override_wins(app, people):
    anna = citizen(app)
    enable_service(app, app.seeded["beta"]["id"], SERVICE_KEY)
    assert submitted_subject(app, anna).endswith("received")  # built in
    override(app, subject="install {tracking_number}")
    assert submitted_subject(app, anna).startswith("install ")
    override(app, service=SERVICE_KEY, subject="service {tracking_number}")
    assert submitted_subject(app, anna).startswith("service ")
    override(app, municipality="alpha", subject="alpha {tracking_number}")
    assert submitted_subject(app, anna).startswith("alpha ")
    override(app, municipality="alpha", service=SERVICE_KEY, subject="alpha+service {service}")
    assert submitted_subject(app, anna) == "alpha+service Certificate of residence and family composition"
    # Another municipality's text is not used; a text in another language neither.
    override(app, municipality="beta", service=SERVICE_KEY, subject="beta-hy", language="hy")
    assert submitted_subject(app, anna, "beta").startswith("service ")


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{unknown} {tracking_number}", "{unknown} T-1"),
        ("{tracking_number", "{tracking_number"),
        ("}{", "}{"),
        ("{0} {}", "{0} {}"),
        ("{tracking_number.__class__}", "{tracking_number.__class__}"),
        ("{tracking_number[0]}", "{tracking_number[0]}"),
        ("{tracking_number:>5}", "  T-1"),
        ("{tracking_number:%Y}", "T-1"),
        ("{tracking_number!r}", "T-1"),
        ("{{literal}}", "{literal}"),
    ],
)
def test_a_bad_template_never_raises(template, expected):
    assert citizen_notices.render_template(template, {"tracking_number": "T-1"}) == expected


def test_a_broken_override_leaves_the_workflow_working(app, people):
    anna = citizen(app)
    override(app, subject="{nope} {tracking_number", body="Hello {applicant.__dict__} {0} {tracking_number}")
    application_id = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    [mail] = rows(app, application_id=application_id, channel="email")
    tracking = tracking_of(app, application_id)
    assert mail.subject == "{nope} {tracking_number"
    assert mail.body == f"Hello {{applicant.__dict__}} {{0}} {tracking}"


# -- unsubscribing -----------------------------------------------------------------------------------


def test_the_unsubscribe_link_turns_optional_notices_off_in_one_click(app, people, client):
    anna = citizen(app)
    application_id = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    act(app, application_id, "registrar", "approve")
    [mail] = rows(app, kind=citizen_notices.STEP_CHANGED, channel="email")
    url = re.search(r"https://hamaynk\.example(/notices/unsubscribe/\S+)", mail.body).group(1)
    page = client.get(url + "?_l_=en")
    assert page.status_code == 200 and "Notices turned off" in page.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.execute(
                select(CitizenProfile.optional_notices).where(CitizenProfile.user_id == anna)
            ).scalar_one()
            is False
        )
    # The mail program's one-click POST (RFC 8058) works too, and again changes nothing more.
    assert client.post(url).status_code == 200


def test_a_forged_or_expired_unsubscribe_token_changes_nothing(app, people, client, monkeypatch):
    anna = citizen(app)
    forged = notifications.URLSafeTimedSerializer("another-secret-key-that-is-long-enough", salt="x").dumps({"u": anna})
    token = citizen_notices.unsubscribe_token(app.config, anna)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, tampered, "nonsense", citizen_notices.unsubscribe_token(app.config, anna) + "x"):
        page = client.get(f"/notices/unsubscribe/{bad}?_l_=en")
        assert page.status_code == 400 and "not valid" in page.get_data(as_text=True)
    # A token from 91 days ago has expired.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() - 91 * 86400)
    old = citizen_notices.unsubscribe_token(app.config, anna)
    monkeypatch.setattr(time, "time", real_time)
    page = client.get(f"/notices/unsubscribe/{old}?_l_=en")
    assert page.status_code == 400 and "too old" in page.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.execute(
                select(CitizenProfile.optional_notices).where(CitizenProfile.user_id == anna)
            ).scalar_one()
            is True
        )


# -- the bell and the notices page ---------------------------------------------------------------------


def test_the_notices_page_lists_the_citizens_own_notices_newest_first_and_marks_them_read(app, people, client):
    anna = citizen(app)
    boris = citizen(app, "boris@example.test")
    first = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    act(app, first, "registrar", "approve")
    file_application(app, SERVICE_KEY, applicant_user_id=boris)
    login(client, EMAIL_ADDRESS, PASSWORD)
    page = client.get("/my/notices/?_l_=en").get_data(as_text=True)
    assert 'id="notices-bell"' in page and "Notices" in page and ", 2 unread" in page
    ids = [int(i) for i in re.findall(r'data-notice="(\d+)"', page)]
    mine = [r.id for r in rows(app, recipient_user_id=anna, channel="inapp")]
    assert ids == sorted(mine, reverse=True) and len(ids) == 2
    assert page.count('data-read="no"') == 2 and "You have 2 unread notices." in page
    # Boris's notice is not Anna's to read or mark.
    [boris_notice] = rows(app, recipient_user_id=boris, channel="inapp")
    assert client.post("/my/notices/read", data={"notice": boris_notice.id}).status_code == 404
    assert client.post("/my/notices/read", data={"notice": "x"}).status_code == 303
    assert client.post("/my/notices/read", data={"notice": ids[0]}).status_code == 303
    page = client.get("/my/notices/?_l_=en").get_data(as_text=True)
    assert ", 1 unread" in page and page.count('data-read="no"') == 1
    assert client.post("/my/notices/read", data={"all": "1"}).status_code == 303
    page = client.get("/my/notices/?_l_=en").get_data(as_text=True)
    assert "unread" not in page.split("<main", 1)[0] and "You have no unread notices." in page
    assert rows(app, recipient_user_id=boris, channel="inapp")[0].read_at is None


def test_the_notices_page_needs_a_citizen(app, client, login_as):
    assert client.get("/my/notices/").status_code in (302, 401)
    login_as("clerk")
    assert client.get("/my/notices/").status_code == 403
    assert client.post("/my/notices/read", data={"all": "1"}).status_code == 403


# -- the outbox ------------------------------------------------------------------------------------


def test_rows_are_enqueued_when_their_transaction_commits_and_not_after_a_rollback(app, people):
    enqueued: list[int] = []
    deliver = jobs.get_jobs(app).deliver

    class Spy:
        def __call__(self, notification_id):
            enqueued.append(notification_id)
            return deliver(notification_id)

    object.__setattr__(jobs.get_jobs(app), "deliver", Spy())
    anna = citizen(app)
    with app.app_context():
        citizen_notices.emit(
            db.session, event=citizen_notices.SUBMITTED, user_id=anna, municipality_id=None, config=app.config
        )
        db.session.flush()
        db.session.rollback()
    assert enqueued == [] and rows(app) == []
    application_id = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    [email] = rows(app, application_id=application_id, channel="email")
    # Only the row that is sent: the in-app copy is delivered when written.
    assert enqueued == [email.id]
    # Immediate mode tried at once; the server is down, so it waits for the retry.
    assert email.status == notifications.PENDING and email.attempts == 1 and "refused" in email.last_error.lower()


# -- the staff case page -------------------------------------------------------------------------------


def test_staff_see_the_delivery_state_of_each_notification_on_the_case_page(app, people, client, login_as):
    anna = citizen(app)
    application_id = file_application(app, SERVICE_KEY, applicant_user_id=anna)
    login_as("clerk")
    page = client.get(f"/workspace/applications/{application_id}?_l_=en").get_data(as_text=True)
    section = page.split('id="deliveries-heading"', 1)[1].split("</section>", 1)[0]
    assert "E-mail" in section and "Pending" in section and "refused" in section.lower()
    assert EMAIL_ADDRESS in section  # the clerk may see the applicant's contact details
    assert "Notices on the site" in section and "Sent" in section
    login_as("auditor")
    page = client.get(f"/workspace/applications/{application_id}?_l_=en").get_data(as_text=True)
    section = page.split('id="deliveries-heading"', 1)[1].split("</section>", 1)[0]
    assert EMAIL_ADDRESS not in section and "a\u2022\u2022\u2022@example.test" in section


def test_an_event_without_built_in_words_uses_the_callers_texts_per_language(app):
    anna = citizen(app, language="ru")
    with app.app_context():
        [mail] = citizen_notices.emit(
            db.session,
            event="account_exists",
            user_id=anna,
            municipality_id=None,
            config=app.config,
            channels=["email"],
            context={"subject": {"en": "Hello", "ru": "Привет"}, "body": {"en": "Text", "ru": "Текст {link}"}},
        )
        db.session.commit()
        # The caller's text is data, not a template: its braces stay as they are.
        assert (mail.language, mail.subject, mail.body) == ("ru", "Привет", "Текст {link}")


def test_staff_without_a_profile_get_e_mail_and_the_in_app_copy_in_the_install_language(app):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    with app.app_context():
        written = citizen_notices.emit(
            db.session,
            event=citizen_notices.QUESTION_ASKED,
            user_id=clerk,
            municipality_id=app.seeded["alpha"]["id"],
            config=app.config,
            context={"subject": "Parking", "excerpt": "May I?", "path": "/workspace/questions/1"},
        )
        db.session.commit()
        assert sorted(r.channel for r in written) == ["email", "inapp"]
        assert {r.language for r in written} == {app.config["BABEL_DEFAULT_LOCALE"]}
        assert all("/workspace/questions/1" in r.body for r in written)
