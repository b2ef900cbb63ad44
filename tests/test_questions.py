"""Questions to the specialist, the citizen's side (app.portal.questions, app.domain.questions):
asking about one's application or a department, the upload rules for attachments, the list
with unread answers, following up, and isolation between citizens."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from babel.support import Translations
from sqlalchemy import func, select, update

import app as app_package
from app.domain import access, deadlines
from app.domain import questions as qs
from app.domain.storage import LocalStorage, StorageError, get_storage
from app.extensions import db
from app.models import Application, AuditEvent, Municipality, Notification
from app.models.portal import Question, QuestionAttachment, QuestionMessage
from app.testing import (
    actor_for,
    ask_question,
    attach,
    count_statements,
    enable_service,
    file_application,
    login,
    make_citizen,
    make_pdf,
)

SERVICE = "residence-certificate"


@pytest.fixture
def people(app):
    return {
        "a": make_citizen(app, "anna@example.test", name="Anna Petrosyan"),
        "b": make_citizen(app, "boris@example.test", name="Boris Sargsyan"),
    }


def own_application(app, user_id: int, *, assignee: int | None = None, municipality: str = "alpha") -> int:
    """A filed application under the citizen's account (as an online one is)."""
    enable_service(app, municipality, SERVICE)
    application_id = file_application(app, SERVICE, municipality)
    with app.app_context():
        db.session.execute(
            update(Application)
            .where(Application.id == application_id)
            .values(applicant_user_id=user_id, channel="online", assignee_id=assignee)
        )
        db.session.commit()
    return application_id


def stored_objects(app) -> list[Path]:
    root = Path(app.config["HAMAYNK_STORAGE_PATH"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def question(app, question_id: int) -> Question:
    with app.app_context():
        found = db.session.get(Question, question_id)
        assert found is not None
        db.session.expunge(found)
        return found


def notices(app, kind: str) -> list[Notification]:
    with app.app_context():
        rows = db.session.execute(select(Notification).where(Notification.kind == kind)).scalars().all()
        for row in rows:
            db.session.expunge(row)
        return list(rows)


def html(response) -> str:
    return response.get_data(as_text=True)


def assert_refused_by_input_layer(response, problem: str) -> None:
    """The input layer's 400 page (app.cleaning): its title and ``problem``, followed by
    "Nothing was changed.", in the page's language (English, or Armenian once a request of the
    test cached it)."""
    assert response.status_code == 400, html(response)[:500]
    page = html(response)
    if '<html lang="en"' in page:
        said = str
    else:
        assert '<html lang="hy"' in page
        said = Translations.load(str(Path(app_package.__file__).parent / "translations"), ["hy"]).gettext
    assert said("The request could not be accepted") in page
    assert said("%(problem)s Nothing was changed.") % {"problem": said(problem)} in page


def send_question(client, municipality_id: int | str, department_id: int | str, /, **fields):
    """The new-question form sent (in English): subject "Subject" and body "Text" unless
    ``fields`` say otherwise (the ids too)."""
    data = {
        "municipality_id": str(municipality_id),
        "department_id": str(department_id),
        "subject": "Subject",
        "body": "Text",
        **fields,
    }
    return client.post("/my/questions/new?_l_=en", data=data, content_type="multipart/form-data")


# -- asking --------------------------------------------------------------------------------------


def test_a_citizen_asks_a_general_question_to_a_department_of_a_municipality(app, client, people):
    alpha = app.seeded["alpha"]
    login(client, "anna@example.test")
    first = client.get("/my/questions/new?_l_=en")
    assert first.status_code == 200
    assert 'name="municipality_id"' in html(first) and "Alpha" in html(first) and "Beta" in html(first)
    # The municipality chosen, its departments are listed (publicly: a citizen is no staff).
    chosen = client.get(f"/my/questions/new?_l_=en&municipality_id={alpha['id']}")
    assert "Urban Planning Department" in html(chosen)
    assert 'name="department_id"' in html(chosen)

    sent = send_question(
        client,
        alpha["id"],
        alpha["departments"]["urban_planning"],
        subject="  Fence   on my plot ",
        body="May I build a fence\r\n1.5 m high?",
        attachments=[attach("pdf", "plan.pdf"), attach("png", "photo.png")],
    )
    assert sent.status_code == 303
    with app.app_context():
        asked = db.session.execute(select(Question)).scalar_one()
        assert sent.headers["Location"].endswith(f"/my/questions/{asked.id}")
        assert asked.subject == "Fence on my plot"
        assert asked.status == qs.OPEN
        assert asked.municipality_id == alpha["id"]
        assert asked.department_id == alpha["departments"]["urban_planning"]
        assert asked.assignee_id is None and asked.application_id is None
        today = deadlines.today()
        assert asked.due_on == deadlines.add_working_days(today, 5, session=db.session, municipality_id=alpha["id"])
        message = db.session.execute(select(QuestionMessage)).scalar_one()
        assert message.body == "May I build a fence\n1.5 m high?" and not message.from_staff
        files = db.session.execute(select(QuestionAttachment).order_by(QuestionAttachment.id)).scalars().all()
        assert [(f.original_name, f.content_type) for f in files] == [
            ("plan.pdf", "application/pdf"),
            ("photo.png", "image/png"),
        ]
        assert all(get_storage(app).exists(f.storage_key) for f in files)
    # The department's caseworkers are told (its specialist and head), nobody else.
    told = {n.recipient_user_id for n in notices(app, "question_asked")}
    assert told == {alpha["users"]["specialist"], alpha["users"]["head"]}

    page = client.get(sent.headers["Location"] + "?_l_=en")
    assert page.status_code == 200
    assert "Fence on my plot" in html(page) and "plan.pdf" in html(page)
    assert "May I build a fence<br>1.5 m high?" in html(page)


def test_a_question_about_an_application_goes_to_its_assignee(app, client, people):
    alpha = app.seeded["alpha"]
    application_id = own_application(app, people["a"], assignee=alpha["users"]["specialist"])
    login(client, "anna@example.test")
    page = client.get(f"/my/questions/new?_l_=en&application_id={application_id}")
    assert page.status_code == 200
    with app.app_context():
        number = db.session.get(Application, application_id).tracking_number
    assert number in html(page)
    sent = client.post(
        "/my/questions/new?_l_=en",
        data={"application_id": str(application_id), "subject": "How long?", "body": "When is it ready?"},
    )
    assert sent.status_code == 303
    asked = question(app, int(sent.headers["Location"].rsplit("/", 1)[1]))
    assert asked.application_id == application_id
    assert asked.assignee_id == alpha["users"]["specialist"]
    # The department holding the current step (the registry check: civil registry).
    assert asked.department_id == alpha["departments"]["civil_registry"]
    assert {n.recipient_user_id for n in notices(app, "question_asked")} == {alpha["users"]["specialist"]}
    shown = client.get(sent.headers["Location"] + "?_l_=en")
    assert number in html(shown)


def test_without_an_assignee_it_goes_to_the_department_or_else_the_municipal_admin(app, people):
    alpha = app.seeded["alpha"]
    application_id = own_application(app, people["a"])
    question_id = ask_question(app, people["a"], application_id=application_id)
    asked = question(app, question_id)
    assert asked.assignee_id is None
    assert asked.department_id == alpha["departments"]["civil_registry"]
    # Nobody works in the civil registry of the seeded municipality: its administrator is told.
    assert {n.recipient_user_id for n in notices(app, "question_asked")} == {alpha["users"]["municipal_admin"]}


def test_another_citizens_application_or_a_draft_or_garbage_is_not_found(app, client, people):
    theirs = own_application(app, people["a"])
    walk_in = file_application(app, SERVICE, "alpha")  # filed at the office, no account
    login(client, "boris@example.test")
    for raw in (theirs, walk_in, "abc", "0", "-1", "1.0"):
        assert client.get(f"/my/questions/new?application_id={raw}").status_code == 404, raw
        posted = client.post(
            "/my/questions/new", data={"application_id": str(raw), "subject": "Hi", "body": "Let me see"}
        )
        assert posted.status_code == 404, raw
    # A key beyond PostgreSQL's integer names no row: the input layer refuses it before the view.
    huge = "99999999999999999999999"
    assert_refused_by_input_layer(
        client.get(f"/my/questions/new?_l_=en&application_id={huge}"), "This number is too large."
    )
    posted = client.post(
        "/my/questions/new?_l_=en", data={"application_id": huge, "subject": "Hi", "body": "Let me see"}
    )
    assert_refused_by_input_layer(posted, "This number is too large.")
    assert count(app, Question) == 0
    with app.test_request_context("/?_l_=en"), pytest.raises(access.NotFound):
        qs.ask(
            db.session,
            get_storage(app),
            actor_for(people["b"]),
            subject="Hi",
            body="x",
            application_id=theirs,
            config=app.config,
        )


BAD = [
    ({"subject": "", "body": "Text"}, "subject", "Enter a subject."),
    ({"subject": "   ", "body": "Text"}, "subject", "Enter a subject."),
    ({"subject": "S" * 201, "body": "Text"}, "subject", "at most 200 characters"),
    ({"subject": "Bell\x07", "body": "Text"}, "subject", "control characters"),
    ({"subject": "Subject", "body": ""}, "body", "Write your question."),
    ({"subject": "Subject", "body": "x" * 5001}, "body", "at most 5000 characters"),
    ({"subject": "Subject", "body": "nul\x00"}, "body", "control characters"),
    ({"subject": "Subject", "body": "Text", "department_id": ""}, "department_id", "Choose the department"),
    ({"subject": "Subject", "body": "Text", "department_id": "abc"}, "department_id", "Choose the department"),
    ({"subject": "Subject", "body": "Text", "municipality_id": ""}, "municipality_id", "Choose the municipality"),
    ({"subject": "Subject", "body": "Text", "municipality_id": "x"}, "municipality_id", "Choose the municipality"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD)
def test_bad_input_is_refused_with_a_message_next_to_its_field_and_changes_nothing(
    app, client, people, changes, field, message
):
    alpha = app.seeded["alpha"]
    login(client, "anna@example.test")
    response = send_question(
        client, alpha["id"], alpha["departments"]["urban_planning"], attachments=[attach("pdf")], **changes
    )
    if message == "control characters":
        # Refused by the input layer (app.cleaning) before the form is read: its page, not the form.
        assert_refused_by_input_layer(response, "This text contains control characters; remove them.")
    else:
        assert response.status_code == 400
        text = html(response)
        assert message in text
        assert f'href="#{field}"' in text  # the error summary links to the field
        assert 'aria-invalid="true"' in text
    assert count(app, Question) == 0 and count(app, QuestionMessage) == 0
    assert stored_objects(app) == []
    assert notices(app, "question_asked") == []


def test_a_department_of_another_municipality_or_an_inactive_municipality_is_refused(app, client, people):
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    login(client, "anna@example.test")
    forged = send_question(client, alpha["id"], beta["departments"]["urban_planning"])
    assert forged.status_code == 400 and "Choose the department of Alpha" in html(forged)
    with app.app_context():
        db.session.execute(update(Municipality).where(Municipality.id == beta["id"]).values(active=False))
        db.session.commit()
    closed = send_question(client, beta["id"], beta["departments"]["urban_planning"])
    assert closed.status_code == 400 and "Choose the municipality" in html(closed)
    assert "Beta" not in html(client.get("/my/questions/new?_l_=en"))
    assert count(app, Question) == 0


def _upload(name: str, content: bytes):
    from werkzeug.datastructures import FileStorage

    return FileStorage(stream=io.BytesIO(content), filename=name, content_type="application/pdf")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (lambda: [_upload("virus.pdf", b"MZ\x90\x00" + b"\x00" * 200)], "executable program"),
        (lambda: [_upload("page.pdf", b"<!DOCTYPE html><html><script>alert(1)</script></html>")], "web page"),
        (lambda: [_upload("empty.pdf", b"")], "is empty"),
        (lambda: [_upload("big.pdf", make_pdf() + b"0" * (qs.MAX_ATTACHMENT_MB * 1024 * 1024))], "too large"),
        (lambda: [attach("pdf"), attach("png"), attach("jpeg"), attach("pdf", "four.pdf")], "Too many files"),
        (lambda: [_upload("../../etc/passwd.pdf", make_pdf())], "folder path"),
    ],
)
def test_attachments_follow_the_upload_rules(app, client, people, files, message):
    alpha = app.seeded["alpha"]
    login(client, "anna@example.test")
    response = send_question(client, alpha["id"], alpha["departments"]["urban_planning"], attachments=files())
    assert response.status_code == 400
    assert message in html(response)
    assert 'href="#attachments"' in html(response)
    assert count(app, Question) == 0 and count(app, QuestionAttachment) == 0
    assert stored_objects(app) == []


def test_a_storage_failure_half_way_leaves_no_row_and_no_file(app, client, people, monkeypatch):
    alpha = app.seeded["alpha"]
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    real_put = LocalStorage.put
    calls = []

    def failing_put(self, key, stream):
        calls.append(key)
        if len(calls) == 2:
            raise StorageError()
        return real_put(self, key, stream)

    monkeypatch.setattr(LocalStorage, "put", failing_put)
    login(client, "anna@example.test")
    response = send_question(
        client, alpha["id"], alpha["departments"]["urban_planning"], attachments=[attach("pdf"), attach("png")]
    )
    assert response.status_code == 503
    assert "could not be stored" in html(response)
    assert len(calls) == 2
    assert count(app, Question) == 0 and count(app, QuestionAttachment) == 0
    assert stored_objects(app) == []


def test_a_failed_commit_deletes_the_files_it_stored(app, people, monkeypatch):
    """Objects are bound to the transaction, as documents are: no commit, no file."""
    with app.test_request_context("/?_l_=en"):
        qs.ask(
            db.session,
            get_storage(app),
            actor_for(people["a"]),
            subject="Subject",
            body="Text",
            files=[attach("pdf")],
            municipality_id=app.seeded["alpha"]["id"],
            department_id=app.seeded["alpha"]["departments"]["urban_planning"],
            config=app.config,
        )
        assert len(stored_objects(app)) == 1
        db.session.rollback()
    assert stored_objects(app) == []
    assert count(app, Question) == 0


def test_staff_and_strangers_cannot_ask_here(app, client, login_as):
    assert client.get("/my/questions/new").status_code in (302, 401)
    assert client.get("/my/questions/").status_code in (302, 401)
    login_as("specialist")
    assert client.get("/my/questions/").status_code == 403
    assert client.post("/my/questions/new", data={"subject": "x", "body": "y"}).status_code == 403
    with app.test_request_context("/?_l_=en"), pytest.raises(qs.NotAllowed):
        qs.ask(
            db.session,
            get_storage(app),
            actor_for(app.seeded["alpha"]["users"]["specialist"]),
            subject="S",
            body="B",
            municipality_id=app.seeded["alpha"]["id"],
            department_id=app.seeded["alpha"]["departments"]["trade"],
        )


# -- the list and the thread ---------------------------------------------------------------------


def _staff_answer(app, question_id: int, body: str = "Yes, you may.", files=(), close: bool = False) -> None:
    alpha = app.seeded["alpha"]
    with app.test_request_context("/?_l_=en"):
        staff = actor_for(alpha["users"]["specialist"])
        found = access.get_question(db.session, staff, question_id)
        qs.answer(
            db.session, get_storage(app), staff, found, body=body, files=list(files), close=close, config=app.config
        )
        db.session.commit()


def test_the_list_shows_status_last_activity_and_unread_answers(app, client, people):
    first = ask_question(app, people["a"], subject="First question")
    second = ask_question(app, people["a"], subject="Second question", department="trade")
    ask_question(app, people["b"], subject="Boris asks")
    _staff_answer(app, first)
    _staff_answer(app, first, body="And one more thing.")
    login(client, "anna@example.test")
    page = html(client.get("/my/questions/?_l_=en"))
    assert "First question" in page and "Second question" in page
    assert "Boris asks" not in page
    assert "2 new answers" in page
    assert "Answered" in page and "Waiting for an answer" in page
    assert "Urban Planning Department" in page and "Trade and Services Department" in page
    # The latest activity first: the answered question moved to the top.
    assert page.index("First question") < page.index("Second question")
    # Reading the thread reads the answers.
    client.get(f"/my/questions/{first}?_l_=en")
    assert "new answer" not in html(client.get("/my/questions/?_l_=en"))
    assert second


def test_the_list_costs_the_same_queries_for_two_questions_as_for_eight(app, client, people):
    login(client, "anna@example.test")
    for n in range(2):
        ask_question(app, people["a"], subject=f"Question {n}")
    two = count_statements(app, lambda: client.get("/my/questions/"))
    for n in range(6):
        question_id = ask_question(app, people["a"], subject=f"More {n}", department="trade")
        _staff_answer(app, question_id)
    eight = count_statements(app, lambda: client.get("/my/questions/"))
    assert eight == two
    assert html(client.get("/my/questions/")).count('class="card"') == 8


def test_a_follow_up_reopens_the_question_and_restarts_its_deadline(app, client, people):
    question_id = ask_question(app, people["a"])
    _staff_answer(app, question_id)
    with app.app_context():
        db.session.execute(update(Question).where(Question.id == question_id).values(due_on=deadlines.today()))
        db.session.commit()
    login(client, "anna@example.test")
    replied = client.post(
        f"/my/questions/{question_id}?_l_=en",
        data={"body": "Thank you. And the height?", "attachments": [attach("jpeg")]},
        content_type="multipart/form-data",
    )
    assert replied.status_code == 303
    reopened = question(app, question_id)
    assert reopened.status == qs.OPEN
    with app.app_context():
        assert reopened.due_on == qs.due_date(
            db.session, db.session.get(Municipality, reopened.municipality_id), deadlines.today()
        )
    # The answerer (now the assignee) is told about the follow-up.
    told = [n.recipient_user_id for n in notices(app, "question_asked")]
    assert told.count(app.seeded["alpha"]["users"]["specialist"]) >= 2
    empty = client.post(f"/my/questions/{question_id}?_l_=en", data={"body": " "})
    assert empty.status_code == 400 and "Write a message." in html(empty)


def test_a_closed_question_takes_no_follow_up(app, client, people):
    question_id = ask_question(app, people["a"])
    _staff_answer(app, question_id, close=True)
    login(client, "anna@example.test")
    page = html(client.get(f"/my/questions/{question_id}?_l_=en"))
    assert "This question is closed" in page and 'name="body"' not in page
    before = count(app, QuestionMessage)
    refused = client.post(f"/my/questions/{question_id}?_l_=en", data={"body": "Hello?"})
    assert refused.status_code == 409
    assert "closed" in html(refused)
    assert count(app, QuestionMessage) == before


@pytest.mark.parametrize("closed", ["rejected", "withdrawn", "issued"])
def test_a_closed_application_takes_no_questions_or_follow_ups(app, client, people, closed):
    """Issue 12: once an application is closed its file is read-only for the citizen
    (docs/security.md): no new question about it, no follow-up on one asked before (the
    domain refuses both, nothing written); staff may still answer what was asked before."""
    application_id = own_application(app, people["a"])
    asked_before = ask_question(app, people["a"], application_id=application_id)
    with app.app_context():
        db.session.execute(update(Application).where(Application.id == application_id).values(status=closed))
        db.session.commit()
    before = (count(app, Question), count(app, QuestionMessage))

    with pytest.raises(qs.ApplicationClosed):
        ask_question(app, people["a"], application_id=application_id)
    login(client, "anna@example.test")
    sent = client.post(
        "/my/questions/new?_l_=en",
        data={"application_id": str(application_id), "subject": "Why?", "body": "Why was it closed?"},
    )
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/my/questions/new")
    assert "questions about it are no longer taken" in html(client.get("/my/questions/new?_l_=en"))

    page = html(client.get(f"/my/questions/{asked_before}?_l_=en"))
    assert 'name="body"' not in page
    refused = client.post(f"/my/questions/{asked_before}?_l_=en", data={"body": "Hello?"})
    assert refused.status_code == 409 and "questions about it are no longer taken" in html(refused)
    assert (count(app, Question), count(app, QuestionMessage)) == before

    _staff_answer(app, asked_before, body="It was closed because the address is not registered.")
    assert count(app, QuestionMessage) == before[1] + 1
    # A general question to the department is still open to the citizen.
    assert ask_question(app, people["a"])


def test_hostile_text_is_shown_as_text(app, client, people):
    question_id = ask_question(
        app, people["a"], subject="<script>alert(1)</script>", body="<img src=x onerror=alert(1)>"
    )
    login(client, "anna@example.test")
    page = html(client.get(f"/my/questions/{question_id}"))
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x" in page


def test_the_citizen_downloads_their_own_and_staffs_attachments_and_each_is_audited(app, client, people):
    question_id = ask_question(app, people["a"], files=[attach("pdf", "mine.pdf")])
    _staff_answer(app, question_id, files=[attach("png", "answer.png")])
    with app.app_context():
        files = db.session.execute(select(QuestionAttachment).order_by(QuestionAttachment.id)).scalars().all()
        ids = [f.id for f in files]
    login(client, "anna@example.test")
    for attachment_id, mime in zip(ids, ("application/pdf", "image/png"), strict=True):
        response = client.get(f"/my/questions/{question_id}/attachments/{attachment_id}")
        assert response.status_code == 200
        assert response.mimetype == mime
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "no-store" in response.headers["Cache-Control"]
    with app.app_context():
        events = (
            db.session.execute(select(AuditEvent).where(AuditEvent.action == qs.AUDIT_DOWNLOAD).order_by(AuditEvent.id))
            .scalars()
            .all()
        )
        assert [(e.actor_id, e.object_id, e.details["channel"]) for e in events] == [
            (people["a"], str(ids[0]), "online"),
            (people["a"], str(ids[1]), "online"),
        ]
    # Another question's attachment through this question's URL: not found.
    other = ask_question(app, people["a"], files=[attach("pdf")])
    assert client.get(f"/my/questions/{other}/attachments/{ids[0]}").status_code == 404


def test_citizen_b_cannot_read_reply_to_or_download_from_citizen_as_question(app, client, people):
    question_id = ask_question(app, people["a"], subject="Anna's private question", files=[attach("pdf")])
    with app.app_context():
        attachment_id = db.session.execute(select(QuestionAttachment.id)).scalar_one()
    login(client, "boris@example.test")
    assert "Anna's private question" not in html(client.get("/my/questions/"))
    missing = question_id + 1000
    for url in (f"/my/questions/{question_id}", f"/my/questions/{missing}"):
        assert client.get(url).status_code == 404
        assert client.post(url, data={"body": "Boris was here"}).status_code == 404
    assert client.get(f"/my/questions/{question_id}/attachments/{attachment_id}").status_code == 404
    assert client.get(f"/my/questions/{missing}/attachments/{attachment_id}").status_code == 404
    assert count(app, QuestionMessage) == 1
    with app.app_context():
        opened = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == qs.AUDIT_DOWNLOAD)
        assert db.session.execute(opened).scalar_one() == 0
    # Anna reads and downloads it.
    login(client, "anna@example.test")
    assert client.get(f"/my/questions/{question_id}").status_code == 200
    assert client.get(f"/my/questions/{question_id}/attachments/{attachment_id}").status_code == 200


def test_a_missing_stored_file_is_a_clear_404_not_a_crash(app, client, people):
    question_id = ask_question(app, people["a"], files=[attach("pdf")])
    with app.app_context():
        found = db.session.execute(select(QuestionAttachment)).scalar_one()
        os.unlink(get_storage(app).path(found.storage_key))  # type: ignore[attr-defined]
        attachment_id = found.id
    login(client, "anna@example.test")
    assert client.get(f"/my/questions/{question_id}/attachments/{attachment_id}").status_code == 404
