"""The admin screen for the words of citizens' notices (app.admin.notification_texts over
app.domain.notification_texts): who may change which texts, what is checked, what the
preview shows, and that the next notice really carries the saved words."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.domain import citizen_notices
from app.domain import notification_texts as texts
from app.extensions import db
from app.models import AuditEvent, Notification
from app.models.portal import NotificationText
from app.testing import enable_service, file_application, make_citizen

SERVICE_KEY = "residence-certificate"
OTHER_SERVICE = "trade-permit"  # a built-in service alpha does not offer in these tests
PAGE = "/admin/notification-texts/"
EDIT = "/admin/notification-texts/edit"


@pytest.fixture
def alpha(app):
    enable_service(app, app.seeded["alpha"]["id"], SERVICE_KEY)
    # Nothing listens on this port: sending fails at once, the outbox rows stay as written.
    app.config.update(HAMAYNK_SMTP_HOST="127.0.0.1", HAMAYNK_SMTP_PORT=9, HAMAYNK_PUBLIC_URL="https://hamaynk.example")
    return app.seeded["alpha"]


def edit_url(app, municipality="alpha", *, event=citizen_notices.SUBMITTED, language="en", service=None) -> str:
    where = "install" if municipality == "install" else app.seeded[municipality]["id"]
    url = f"{EDIT}?municipality={where}&event={event}&language={language}&_l_=en"
    return url + (f"&service={service}" if service else "")


def save(client, app, subject, body="{tracking_number}: {link}", **where):
    return client.post(edit_url(app, **where), data={"action": "save", "subject": subject, "body": body})


def rows(app) -> list[tuple]:
    with app.app_context():
        return [
            (r.municipality_id, r.service_key, r.event, r.language, r.subject, r.body)
            for r in db.session.execute(select(NotificationText).order_by(NotificationText.id)).scalars()
        ]


def submitted_subject(app, citizen_id, municipality="alpha") -> str:
    """File an application for ``citizen_id`` and read the subject of the e-mail it got."""
    application_id = file_application(app, SERVICE_KEY, municipality, applicant_user_id=citizen_id)
    with app.app_context():
        return db.session.execute(
            select(Notification.subject).where(
                Notification.application_id == application_id,
                Notification.kind == citizen_notices.SUBMITTED,
                Notification.channel == "email",
            )
        ).scalar_one()


def audit_rows(app, action) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars().all()
        db.session.expunge_all()
        return list(found)


# -- saving, and the next notice ------------------------------------------------------------------


def test_saved_texts_reach_the_next_notice_and_the_most_specific_wins(app, client, login_as, alpha):
    anna = make_citizen(app, "anna@example.test", language="en")
    enable_service(app, app.seeded["beta"]["id"], SERVICE_KEY)
    assert submitted_subject(app, anna).endswith("received")  # the built-in text

    login_as("system_admin")
    response = save(client, app, "Install {tracking_number}", municipality="install")
    assert response.status_code == 302
    assert submitted_subject(app, anna).startswith("Install ")

    login_as("municipal_admin")
    assert save(client, app, "Alpha {tracking_number}").status_code == 302
    subject = submitted_subject(app, anna)
    assert subject.startswith("Alpha ") and "{tracking_number}" not in subject
    assert save(client, app, "Alpha residence {tracking_number}", service=SERVICE_KEY).status_code == 302
    assert submitted_subject(app, anna).startswith("Alpha residence ")
    # Beta has no text of its own: the install-wide one.
    assert submitted_subject(app, anna, "beta").startswith("Install ")
    # Only English was changed: an Armenian reader still gets the built-in words (in Armenian).
    armen = make_citizen(app, "armen@example.test", language="hy")
    assert not submitted_subject(app, armen).startswith("Alpha")

    listing = client.get(f"{PAGE}?service={SERVICE_KEY}&_l_=en")
    assert listing.status_code == 200
    body = listing.get_data(as_text=True)
    assert "Alpha residence <code>{tracking_number}</code>" in body and "Own text" in body
    general = client.get(f"{PAGE}?_l_=en").get_data(as_text=True)
    assert "Alpha <code>{tracking_number}</code>" in general and "Alpha residence" not in general


def test_saving_again_changes_the_same_row(app, client, login_as, alpha):
    login_as("municipal_admin")
    save(client, app, "First {tracking_number}", service=SERVICE_KEY)
    save(client, app, "Second {tracking_number}", body="New words {link}", service=SERVICE_KEY)
    assert rows(app) == [(alpha["id"], SERVICE_KEY, "submitted", "en", "Second {tracking_number}", "New words {link}")]
    page = client.get(edit_url(app, service=SERVICE_KEY)).get_data(as_text=True)
    assert 'value="Second {tracking_number}"' in page and "New words {link}</textarea>" in page


def test_every_save_is_audited(app, client, login_as, alpha):
    login_as("municipal_admin")
    save(client, app, "First {tracking_number}")
    save(client, app, "Second {tracking_number} {oops}")
    events = audit_rows(app, "notification_text.save")
    assert len(events) == 2
    first, second = events
    assert first.actor_id == alpha["users"]["municipal_admin"] and first.municipality_id == alpha["id"]
    assert first.details["created"] is True and first.details["event"] == "submitted"
    assert second.details["created"] is False
    assert second.details["previous_subject"] == "First {tracking_number}"
    assert second.details["unknown_placeholders"] == ["oops"]
    assert first.object_type == "notification_text" and first.object_id == second.object_id


def test_reset_deletes_the_row_and_the_fallback_takes_over(app, client, login_as, alpha):
    anna = make_citizen(app, "anna@example.test", language="en")
    login_as("municipal_admin")
    save(client, app, "Alpha {tracking_number}")
    save(client, app, "Alpha residence {tracking_number}", service=SERVICE_KEY)
    page = client.get(edit_url(app, service=SERVICE_KEY)).get_data(as_text=True)
    assert "Remove this text" in page  # the municipality's own text for every service takes over

    response = client.post(edit_url(app, service=SERVICE_KEY), data={"action": "reset"}, follow_redirects=True)
    assert response.status_code == 200
    assert "The municipality&#39;s text for every service" in response.get_data(as_text=True)
    assert [r[1] for r in rows(app)] == [None]
    assert submitted_subject(app, anna).startswith("Alpha ")
    (event,) = audit_rows(app, "notification_text.reset")
    assert event.details["service_key"] == SERVICE_KEY and event.details["subject"].startswith("Alpha residence")

    page = client.get(edit_url(app)).get_data(as_text=True)
    assert "Reset to the built-in text" in page
    client.post(edit_url(app), data={"action": "reset"})
    assert rows(app) == []
    assert submitted_subject(app, anna).endswith("received")
    # Nothing left to reset: said so, nothing written.
    response = client.post(edit_url(app), data={"action": "reset"}, follow_redirects=True)
    assert "no text of your own to remove" in response.get_data(as_text=True)
    assert len(audit_rows(app, "notification_text.reset")) == 2


# -- the page ------------------------------------------------------------------------------------


def test_the_page_shows_the_built_in_text_placeholders_and_language(app, client, login_as, alpha):
    login_as("municipal_admin")
    response = client.get(edit_url(app, event=citizen_notices.RETURNED, language="ru"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    builtin_subject, _body = texts.builtin(citizen_notices.RETURNED, "ru")
    # The built-in text is the starting point, in the language of the text.
    assert f'lang="ru" value="{builtin_subject}"' in page
    for name in texts.PLACEHOLDERS[citizen_notices.RETURNED]:
        assert f"<code>{{{name}}}</code>" in page
    assert 'id="body" name="body" rows="10" lang="ru"' in page
    assert "Reset to the built-in text" not in page  # nothing of its own to reset yet


def test_preview_renders_sample_values_and_saves_nothing(app, client, login_as, alpha):
    login_as("municipal_admin")
    response = client.post(
        edit_url(app, service=SERVICE_KEY),
        data={"action": "preview", "subject": "Got {tracking_number}", "body": "For {service}: {link} {nope}"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f"Got {texts.SAMPLE_TRACKING_NUMBER}</strong>" in page
    assert (
        "For Certificate of residence and family composition: https://hamaynk.example/my/applications/42 {nope}" in page
    )
    assert "does not fill in {nope}" in page
    assert rows(app) == []


def test_hostile_html_is_shown_escaped(app, client, login_as, alpha):
    login_as("municipal_admin")
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    response = client.post(edit_url(app), data={"action": "preview", "subject": hostile, "body": hostile})
    page = response.get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    # Saved as written (plain text), and shown escaped wherever it appears.
    assert save(client, app, hostile, body=hostile).status_code == 302
    for url in (edit_url(app), f"{PAGE}?_l_=en"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;" in page, url


@pytest.mark.parametrize(
    ("subject", "body", "field", "message"),
    [
        ("x" * 301, "{link}", "subject", "300 characters or fewer"),
        ("Hi", "x" * (texts.MAX_BODY + 1), "body", f"{texts.MAX_BODY} characters or fewer"),
        ("   ", "{link}", "subject", "Enter a subject"),
        ("Hi", "", "body", "Enter the text"),
        ("Two\nlines", "{link}", "subject", "one line"),
    ],
)
def test_bad_texts_are_refused_next_to_their_field(app, client, login_as, alpha, subject, body, field, message):
    login_as("municipal_admin")
    response = save(client, app, subject, body=body)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert f'<a href="#{field}">' in page and f'id="{field}-err"' in page
    assert 'aria-invalid="true"' in page
    assert rows(app) == [] and audit_rows(app, "notification_text.save") == []


def test_unknown_placeholders_are_a_warning_and_stay_literal(app, client, login_as, alpha):
    anna = make_citizen(app, "anna@example.test", language="en")
    login_as("municipal_admin")
    response = save(client, app, "Hi {tracking_numbr} {0} {x.y}")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "does not fill in {tracking_numbr}, {0}, {x.y}" in page
    assert submitted_subject(app, anna) == "Hi {tracking_numbr} {0} {x.y}"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ({"event": "made_up"}, "no such notice"),
        ({"event": citizen_notices.QUESTION_ASKED}, "no such notice"),  # to staff, not citizens
        ({"event": citizen_notices.ACCOUNT_VERIFY}, "no such notice"),  # the install's alone
        ({"event": citizen_notices.POLL_OPENED, "service": SERVICE_KEY}, "no such notice"),
        ({"language": "de"}, "no such language"),
        ({"language": ""}, "no such language"),
        ({"service": "no-such-service"}, "no such service"),
        ({"service": OTHER_SERVICE}, "no such service"),  # not offered by alpha
    ],
)
def test_forged_events_languages_and_services_are_refused(app, client, login_as, alpha, where, message):
    login_as("municipal_admin")
    response = save(client, app, "Hi {link}", **where)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and "Nothing was saved" in page
    assert client.post(edit_url(app, **where), data={"action": "reset"}).status_code == 400
    assert client.get(edit_url(app, **where)).status_code == 400
    assert rows(app) == [] and audit_rows(app, "notification_text.save") == []


def test_a_forged_service_on_the_list_is_named_not_listed(app, client, login_as, alpha):
    login_as("municipal_admin")
    response = client.get(f"{PAGE}?service=<b>nope</b>&_l_=en")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "no such service" in page and "<b>nope" not in page


def test_a_service_alpha_no_longer_offers_keeps_its_texts_resettable(app, client, login_as, alpha):
    login_as("municipal_admin")
    save(client, app, "Hi {link}", service=SERVICE_KEY)
    with app.app_context():
        from app.models import ServiceActivation

        activation = db.session.execute(
            select(ServiceActivation).where(ServiceActivation.municipality_id == alpha["id"])
        ).scalar_one()
        activation.enabled = False
        db.session.commit()
    assert client.get(edit_url(app, service=SERVICE_KEY)).status_code == 200
    client.post(edit_url(app, service=SERVICE_KEY), data={"action": "reset"})
    assert rows(app) == []
    assert client.get(edit_url(app, service=SERVICE_KEY)).status_code == 400


# -- who may ------------------------------------------------------------------------------------


def test_another_municipalitys_admin_can_neither_see_nor_change_alphas_texts(app, client, login_as, alpha):
    login_as("municipal_admin")
    save(client, app, "Alpha secret words {link}")
    before = rows(app)

    login_as("municipal_admin", "beta")
    alpha_id = alpha["id"]
    for url in (f"{PAGE}?municipality={alpha_id}", edit_url(app)):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Alpha secret words" not in response.get_data(as_text=True)
    assert save(client, app, "Beta was here {link}").status_code == 404
    assert client.post(edit_url(app), data={"action": "reset"}).status_code == 404
    # Their own list does not show alpha's text either.
    own = client.get(f"{PAGE}?_l_=en")
    assert own.status_code == 200 and "Alpha secret words" not in own.get_data(as_text=True)
    # Nor may they change the install-wide texts everyone falls back to.
    assert client.get(f"{PAGE}?municipality=install").status_code == 403
    assert save(client, app, "Everyone {link}", municipality="install").status_code == 403
    assert client.get(f"{PAGE}?municipality=99999999999999999999999").status_code == 404
    assert rows(app) == before


@pytest.mark.parametrize("role", ["citizen", "clerk", "specialist", "head"])
def test_other_roles_are_refused(app, client, login_as, alpha, role):
    login_as(role)
    for url in (PAGE, edit_url(app)):
        assert client.get(url).status_code == 403, url
    assert save(client, app, "Hi {link}").status_code == 403
    assert rows(app) == []


def test_anonymous_visitors_are_sent_to_sign_in(app, client, alpha):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_auditors_read_but_do_not_change(app, client, login_as, alpha):
    login_as("municipal_admin")
    save(client, app, "Alpha words {link}")
    login_as("auditor")
    page = client.get(f"{PAGE}?_l_=en")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Alpha words <code>{link}</code>" in body and "/admin/notification-texts/edit" not in body
    assert client.get(edit_url(app)).status_code == 403
    assert save(client, app, "Auditor {link}").status_code == 403
    assert client.post(edit_url(app), data={"action": "reset"}).status_code == 403
    assert len(rows(app)) == 1


def test_the_system_admin_edits_install_wide_account_texts(app, client, login_as, alpha):
    login_as("system_admin")
    page = client.get(f"{PAGE}?_l_=en")  # no municipality of their own: the install's texts
    assert page.status_code == 200
    assert 'data-event="account_verify"' in page.get_data(as_text=True)
    response = save(
        client,
        app,
        "Confirm your address",
        body="Open {link}",
        municipality="install",
        event=citizen_notices.ACCOUNT_VERIFY,
    )
    assert response.status_code == 302
    assert rows(app) == [(None, None, "account_verify", "en", "Confirm your address", "Open {link}")]
    (event,) = audit_rows(app, "notification_text.save")
    assert event.municipality_id is None
    # And any municipality's.
    assert save(client, app, "Beta {link}", municipality="beta").status_code == 302
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).where(NotificationText.municipality_id == app.seeded["beta"]["id"])
            ).scalar_one()
            == 1
        )


def test_unknown_action_changes_nothing(app, client, login_as, alpha):
    login_as("municipal_admin")
    response = client.post(edit_url(app), data={"action": "delete-everything", "subject": "x", "body": "y"})
    assert response.status_code == 400
    assert "Choose Preview, Save or Reset" in response.get_data(as_text=True)
    assert rows(app) == []


# -- the domain -----------------------------------------------------------------------------------


@pytest.mark.parametrize("event", texts.INSTALL_EVENTS)
@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_built_in_text_uses_only_the_placeholders_listed(app, event, language):
    """The list the screen shows is the one the notices fill in: the built-in texts (in every
    language) use no other, and the preview's sample values fill each of them."""
    with app.test_request_context():
        subject, body = texts.builtin(event, language)
        checked = texts.check(event, subject, body)
        assert checked.unknown == () and checked.warnings == [], checked
        values = texts.sample_values(event, language, config=app.config)
        assert set(values) == set(texts.PLACEHOLDERS[event])
        shown_subject, shown_body = texts.preview(subject, body, values)
        assert "{" not in shown_subject + shown_body


def test_check_names_unbalanced_braces(app):
    with app.test_request_context("/?_l_=en"):
        checked = texts.check(citizen_notices.SUBMITTED, "Hi {tracking_number", "{link} {{literal}}")
    assert checked.errors == {}
    assert len(checked.warnings) == 1 and "do not pair up" in checked.warnings[0]
    assert checked.unknown == ()


def test_templates_are_shown_with_their_placeholders_as_code():
    from app.admin.notification_texts import template_parts

    assert template_parts("Hi {name}, {{literal}} {0} {x:>5} {open") == [
        ("Hi ", False),
        ("{name}", True),
        (", ", False),
        ("{{", False),
        ("literal", False),
        ("}}", False),
        (" ", False),
        ("{0}", True),
        (" ", False),
        ("{x:>5}", True),
        (" {open", False),
    ]
