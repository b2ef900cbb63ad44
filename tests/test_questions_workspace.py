"""Questions to the specialist, the staff's side (app.workspace.questions): the lists per role
with age and overdue flag, the thread, answering, handing over, closing, the answer deadline
setting, response times, and what another municipality's staff and auditors cannot do."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from app.domain import access, audit, deadlines
from app.domain import questions as qs
from app.domain.storage import get_storage
from app.extensions import db
from app.models import AuditEvent, Municipality, Notification
from app.models.portal import Question, QuestionAttachment, QuestionMessage
from app.testing import (
    actor_for,
    add_staff,
    ask_question,
    attach,
    count_statements,
    make_citizen,
)


@pytest.fixture
def anna(app):
    return make_citizen(app, "anna@example.test", name="Anna Petrosyan")


def html(response) -> str:
    return response.get_data(as_text=True)


def get(app, question_id: int) -> Question:
    with app.app_context():
        found = db.session.get(Question, question_id)
        assert found is not None
        db.session.expunge(found)
        return found


def count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def backdate(app, question_id: int, *, days: int, due_on: dt.date | None) -> None:
    with app.app_context():
        found = db.session.get(Question, question_id)
        assert found is not None
        found.created_at -= dt.timedelta(days=days)
        found.due_on = due_on
        db.session.commit()


# -- the lists -----------------------------------------------------------------------------------


def test_each_role_gets_its_lists(app):
    alpha = app.seeded["alpha"]
    with app.app_context():
        views = {role: qs.views_for(actor_for(uid)) for role, uid in alpha["users"].items()}
        assert views == {
            "municipal_admin": [qs.MINE, qs.ALL],
            "clerk": [qs.MINE, qs.DEPARTMENT],
            "specialist": [qs.MINE, qs.DEPARTMENT],
            "head": [qs.MINE, qs.DEPARTMENT, qs.ALL],
            "auditor": [qs.ALL],
        }
        assert qs.views_for(actor_for(app.seeded["sysadmin"])) == [qs.ALL]


def test_the_lists_show_mine_my_departments_and_all_with_age_and_overdue(app, client, anna, login_as):
    alpha = app.seeded["alpha"]
    planning = ask_question(app, anna, subject="Planning question")
    trade = ask_question(app, anna, subject="Trade question", department="trade")
    late = ask_question(app, anna, subject="Late question")
    # Asked ten calendar days ago, due yesterday: overdue; its age counts working days only.
    yesterday = deadlines.today() - dt.timedelta(days=1)
    backdate(app, late, days=10, due_on=yesterday)

    login_as("specialist")
    mine = html(client.get("/workspace/questions/?_l_=en"))
    # Unassigned questions of my department are mine to answer; the trade one is not.
    assert "Planning question" in mine and "Late question" in mine and "Trade question" not in mine
    assert mine.index("Late question") < mine.index("Planning question")  # the earliest deadline first
    with app.app_context():
        created = db.session.get(Question, late).created_at
        age = deadlines.working_days_between(
            qs.office_date(created), deadlines.today(), session=db.session, municipality_id=alpha["id"]
        )
    row = mine[mine.index(f'data-question="{late}"') :]
    row = row[: row.index("</tr>")]
    assert 'class="danger"' in mine[mine.index(f'data-question="{late}"') - 40 : mine.index(f'data-question="{late}"')]
    assert f"<td>{age}</td>" in row and "overdue" in row
    assert 5 <= age <= 10
    overdue_only = html(client.get("/workspace/questions/?_l_=en&overdue=1"))
    assert "Late question" in overdue_only and "Planning question" not in overdue_only
    # Asking for a list the role does not have shows its first one.
    assert "Trade question" not in html(client.get("/workspace/questions/?view=all&_l_=en"))

    login_as("head")
    everything = html(client.get("/workspace/questions/?view=all&_l_=en"))
    assert all(s in everything for s in ("Planning question", "Trade question", "Late question"))
    login_as("auditor")
    assert "Trade question" in html(client.get("/workspace/questions/?_l_=en"))
    assert trade and planning


def test_bad_filters_are_ignored_with_a_message(app, client, anna, login_as):
    ask_question(app, anna, subject="Planning question")
    login_as("specialist")
    response = client.get("/workspace/questions/?_l_=en&status=bogus&view=nonsense")
    assert response.status_code == 200
    assert "There is no such status" in html(response)
    assert "Planning question" in html(response)
    # A control character is no filter at all: the input layer (app.cleaning) refuses the request.
    refused = client.get("/workspace/questions/?_l_=en&status=bogus&view=%00")
    assert refused.status_code == 400
    page = html(refused)
    assert "The request could not be accepted" in page
    assert "This text contains control characters; remove them. Nothing was changed." in page
    assert "Planning question" not in page


def test_the_list_costs_the_same_queries_for_two_questions_as_for_twelve(app, client, anna, login_as):
    login_as("head")
    for n in range(2):
        ask_question(app, anna, subject=f"Question {n}")

    def fetch():
        assert client.get("/workspace/questions/?view=all&status=any").status_code == 200

    two = count_statements(app, fetch)
    other = make_citizen(app, "other@example.test", name="Other Person")
    for n in range(10):
        question_id = ask_question(app, other if n % 2 else anna, subject=f"More {n}", department="trade")
        if n % 3 == 0:
            with app.test_request_context("/?_l_=en"):
                head = actor_for(app.seeded["alpha"]["users"]["head"])
                found = access.get_question(db.session, head, question_id)
                qs.answer(db.session, get_storage(app), head, found, body="Answer", config=app.config)
                db.session.commit()
    twelve = count_statements(app, fetch)
    assert twelve == two
    assert html(client.get("/workspace/questions/?view=all&status=any")).count("data-question=") == 12


def test_the_inbox_links_to_the_questions_with_the_number_waiting(app, client, anna, login_as):
    ask_question(app, anna)
    ask_question(app, anna)
    login_as("specialist")
    page = html(client.get("/workspace/?_l_=en"))
    assert 'class="inbox-questions"' in page
    link = page[page.index('class="inbox-questions"') :]
    assert '<span class="badge">2</span>' in link[:300]
    login_as("clerk")  # front office: nothing addressed to it
    assert '<span class="badge">0</span>' in html(client.get("/workspace/?_l_=en"))


# -- answering -----------------------------------------------------------------------------------


def test_a_specialist_answers_with_an_attachment_and_the_citizen_is_told(app, client, anna, login_as):
    alpha = app.seeded["alpha"]
    question_id = ask_question(app, anna, files=[attach("pdf", "plan.pdf")])
    login_as("specialist")
    page = client.get(f"/workspace/questions/{question_id}?_l_=en")
    assert page.status_code == 200
    assert "Anna Petrosyan" in html(page) and "plan.pdf" in html(page)
    answered = client.post(
        f"/workspace/questions/{question_id}/answer?_l_=en",
        data={"body": "Yes, up to 1.5 m.", "attachments": [attach("png", "rules.png")]},
        content_type="multipart/form-data",
    )
    assert answered.status_code == 303
    done = get(app, question_id)
    assert done.status == qs.ANSWERED
    assert done.first_answered_at is not None
    assert done.assignee_id == alpha["users"]["specialist"]  # unassigned: the answerer takes it
    with app.app_context():
        messages = db.session.execute(select(QuestionMessage).order_by(QuestionMessage.id)).scalars().all()
        assert [m.from_staff for m in messages] == [False, True]
        assert messages[0].read_at is not None  # the specialist read the citizen's message
        assert messages[1].read_at is None
        names = [a.original_name for a in db.session.execute(select(QuestionAttachment)).scalars()]
        assert names == ["plan.pdf", "rules.png"]
        told = db.session.execute(select(Notification).where(Notification.kind == "question_answered")).scalars().all()
        assert {n.recipient_user_id for n in told} == {anna}
        assert all(f"/my/questions/{question_id}" in n.body for n in told)
    first = done.first_answered_at
    # A second answer keeps the first response time; closing with it closes the question.
    again = client.post(f"/workspace/questions/{question_id}/answer", data={"body": "Also…", "close": "1"})
    assert again.status_code == 303
    closed = get(app, question_id)
    assert closed.status == qs.CLOSED and closed.closed_at is not None
    assert closed.first_answered_at == first
    refused = client.post(f"/workspace/questions/{question_id}/answer?_l_=en", data={"body": "More"})
    assert refused.status_code == 409
    assert "closed" in html(refused)


def test_an_empty_answer_or_a_bad_file_is_refused_and_changes_nothing(app, client, anna, login_as):
    import io

    from werkzeug.datastructures import FileStorage

    question_id = ask_question(app, anna)
    login_as("specialist")
    for data, message in (
        ({"body": "   "}, "Write a message."),
        ({"body": "x" * 5001}, "at most 5000 characters"),
        ({"body": "ok", "attachments": [FileStorage(io.BytesIO(b"MZ" + b"\0" * 99), "a.pdf")]}, "executable"),
    ):
        response = client.post(
            f"/workspace/questions/{question_id}/answer?_l_=en", data=data, content_type="multipart/form-data"
        )
        assert response.status_code == 400, data
        assert message in html(response)
    assert count(app, QuestionMessage) == 1
    assert get(app, question_id).status == qs.OPEN
    assert get(app, question_id).first_answered_at is None


def test_an_auditor_reads_but_cannot_answer_close_hand_over_or_open_attachments(app, client, anna, login_as):
    question_id = ask_question(app, anna, files=[attach("pdf")])
    with app.app_context():
        attachment_id = db.session.execute(select(QuestionAttachment.id)).scalar_one()
    login_as("auditor")
    page = client.get(f"/workspace/questions/{question_id}?_l_=en")
    assert page.status_code == 200
    assert 'name="body"' not in html(page) and "/answer" not in html(page)
    for action, data in (("answer", {"body": "I am the auditor"}), ("close", {}), ("reassign", {"department_id": "1"})):
        response = client.post(f"/workspace/questions/{question_id}/{action}", data=data)
        assert response.status_code in (302, 403), action
    assert client.get(f"/workspace/questions/{question_id}/attachments/{attachment_id}").status_code in (302, 403)
    assert count(app, QuestionMessage) == 1
    assert get(app, question_id).status == qs.OPEN
    # Nor through the domain, whatever the screen allows.
    with app.test_request_context("/?_l_=en"):
        auditor = actor_for(app.seeded["alpha"]["users"]["auditor"])
        found = access.get_question(db.session, auditor, question_id)
        with pytest.raises(qs.NotAllowed):
            qs.answer(db.session, get_storage(app), auditor, found, body="x", config=app.config)
        with pytest.raises(qs.NotAllowed):
            qs.close(db.session, auditor, found)
        assert qs.mark_read(db.session, auditor, found) == 0


def test_staff_of_another_municipality_see_nothing_of_alphas_questions(app, client, anna, login_as):
    question_id = ask_question(app, anna, subject="Alpha's question", files=[attach("pdf")])
    with app.app_context():
        attachment_id = db.session.execute(select(QuestionAttachment.id)).scalar_one()
    for role in ("specialist", "head", "municipal_admin", "auditor", "clerk"):
        login_as(role, "beta")
        listed = client.get("/workspace/questions/?view=all&status=any")
        assert "Alpha&#39;s question" not in html(listed) and "Alpha's question" not in html(listed), role
        assert client.get(f"/workspace/questions/{question_id}").status_code == 404, role
        for action in ("answer", "close", "reassign"):
            response = client.post(f"/workspace/questions/{question_id}/{action}", data={"body": "beta"})
            assert response.status_code in (403, 404), (role, action)
        response = client.get(f"/workspace/questions/{question_id}/attachments/{attachment_id}")
        assert response.status_code in (403, 404), role
    assert count(app, QuestionMessage) == 1
    assert get(app, question_id).status == qs.OPEN
    with app.app_context():
        # Only the sign-ins and the refusals are recorded: nothing was downloaded or changed.
        actions = set(db.session.execute(select(AuditEvent.action)).scalars())
        assert actions <= {audit.LOGIN, audit.ACCESS_DENIED}, actions
        assert audit.LOGIN in actions


def test_a_caseworker_opens_an_attachment_and_it_is_audited(app, client, anna, login_as):
    question_id = ask_question(app, anna, files=[attach("pdf", "plan.pdf")])
    with app.app_context():
        attachment_id = db.session.execute(select(QuestionAttachment.id)).scalar_one()
    login_as("specialist")
    response = client.get(f"/workspace/questions/{question_id}/attachments/{attachment_id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "plan.pdf" in response.headers["Content-Disposition"]
    with app.app_context():
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == qs.AUDIT_DOWNLOAD)).scalar_one()
        assert event.actor_id == app.seeded["alpha"]["users"]["specialist"]
        assert event.details == {"question_id": question_id, "sha256": event.details["sha256"], "channel": "office"}


# -- handing over and closing --------------------------------------------------------------------


def test_a_head_hands_a_question_over_within_the_municipality(app, client, anna, login_as):
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    question_id = ask_question(app, anna)
    trader = add_staff(app, alpha, "alpha.trader", ["Specialist"], "trade")
    login_as("head")
    page = html(client.get(f"/workspace/questions/{question_id}?_l_=en"))
    assert "Hand over" in page and "Alpha.Trader" in page
    # To a department: its pool, nobody assigned.
    moved = client.post(
        f"/workspace/questions/{question_id}/reassign", data={"department_id": str(alpha["departments"]["social"])}
    )
    assert moved.status_code == 303
    assert (get(app, question_id).department_id, get(app, question_id).assignee_id) == (
        alpha["departments"]["social"],
        None,
    )
    # To a person: their department follows; they are told.
    moved = client.post(f"/workspace/questions/{question_id}/reassign", data={"assignee_id": str(trader)})
    assert moved.status_code == 303
    assert (get(app, question_id).department_id, get(app, question_id).assignee_id) == (
        alpha["departments"]["trade"],
        trader,
    )
    with app.app_context():
        told = db.session.execute(
            select(Notification.recipient_user_id).where(Notification.kind == "question_asked")
        ).scalars()
        assert trader in set(told)
        handovers = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "question.reassign")
        assert db.session.execute(handovers).scalar_one() == 2
    # Another municipality's department or person, garbage, or nothing: refused, nothing changes.
    for data, message in (
        ({"department_id": str(beta["departments"]["trade"])}, "Choose a department of this municipality."),
        ({"assignee_id": str(beta["users"]["specialist"])}, "Choose a colleague of this municipality"),
        ({"assignee_id": str(alpha["users"]["auditor"])}, "Choose a colleague of this municipality"),
        ({"department_id": "x"}, "Choose a department of this municipality."),
        ({}, "Choose a department or a colleague."),
    ):
        refused = client.post(f"/workspace/questions/{question_id}/reassign?_l_=en", data=data)
        assert refused.status_code == 400, data
        assert message in html(refused), data
    assert get(app, question_id).assignee_id == trader
    with app.app_context():
        assert db.session.execute(handovers).scalar_one() == 2


def test_a_specialist_cannot_hand_over_but_can_close(app, client, anna, login_as):
    question_id = ask_question(app, anna)
    login_as("specialist")
    assert "Hand over" not in html(client.get(f"/workspace/questions/{question_id}?_l_=en"))
    refused = client.post(
        f"/workspace/questions/{question_id}/reassign?_l_=en",
        data={"department_id": str(app.seeded["alpha"]["departments"]["trade"])},
    )
    assert refused.status_code == 403
    assert get(app, question_id).department_id == app.seeded["alpha"]["departments"]["urban_planning"]
    assert client.post(f"/workspace/questions/{question_id}/close").status_code == 303
    assert get(app, question_id).status == qs.CLOSED
    assert client.post(f"/workspace/questions/{question_id}/close").status_code == 409


# -- the answer deadline -------------------------------------------------------------------------


def test_the_municipal_admin_sets_the_answer_deadline(app, client, anna, login_as):
    alpha = app.seeded["alpha"]
    login_as("municipal_admin")
    page = client.get("/admin/services/settings/questions?_l_=en")
    assert page.status_code == 200 and 'value="5"' in html(page)
    for bad in ("0", "61", "abc", "", "5.5", "-3", "١٠"):
        response = client.post("/admin/services/settings/questions?_l_=en", data={"days": bad})
        assert response.status_code == 400, bad
        assert "from 1 to 60" in html(response)
    with app.app_context():
        assert db.session.get(Municipality, alpha["id"]).question_answer_days == 5
    assert client.post("/admin/services/settings/questions", data={"days": "10"}).status_code == 302
    with app.app_context():
        assert db.session.get(Municipality, alpha["id"]).question_answer_days == 10
        settings = select(AuditEvent.action).where(AuditEvent.action.startswith("municipality."))
        assert db.session.execute(settings).scalar_one() == "municipality.question_answer_days"
    question_id = ask_question(app, anna)
    with app.app_context():
        expected = deadlines.add_working_days(deadlines.today(), 10, session=db.session, municipality_id=alpha["id"])
    assert get(app, question_id).due_on == expected
    # Nobody else's municipality, and no other role.
    login_as("specialist")
    assert client.post("/admin/services/settings/questions", data={"days": "3"}).status_code in (302, 403)
    login_as("municipal_admin", "beta")
    client.post("/admin/services/settings/questions", data={"days": "20"})
    with app.app_context():
        assert db.session.get(Municipality, alpha["id"]).question_answer_days == 10
        assert db.session.get(Municipality, app.seeded["beta"]["id"]).question_answer_days == 20


# -- response times ------------------------------------------------------------------------------


def test_response_times_per_municipality_and_department(app, anna):
    alpha = app.seeded["alpha"]
    ids = [ask_question(app, anna, department=d) for d in ("urban_planning", "urban_planning", "trade", "trade")]
    ask_question(app, anna, municipality="beta")
    with app.app_context():
        asked = {q.id: q.created_at for q in db.session.execute(select(Question)).scalars()}
        for question_id, hours in zip(ids[:3], (2, 6, 10), strict=True):
            db.session.execute(
                update(Question)
                .where(Question.id == question_id)
                .values(first_answered_at=asked[question_id] + dt.timedelta(hours=hours))
            )
        db.session.commit()
        today = deadlines.today()
        every = qs.response_times(db.session, today - dt.timedelta(days=1), today)
        assert [r.municipality_id for r in every] == sorted([alpha["id"], app.seeded["beta"]["id"]])
        (mine,) = qs.response_times(db.session, today, today, municipality_id=alpha["id"])
        assert mine.overall == qs.ResponseStats(asked=4, answered=3, average_hours=6.0, median_hours=6.0)
        planning = mine.by_department[alpha["departments"]["urban_planning"]]
        assert planning == qs.ResponseStats(asked=2, answered=2, average_hours=4.0, median_hours=4.0)
        trade = mine.by_department[alpha["departments"]["trade"]]
        assert trade == qs.ResponseStats(asked=2, answered=1, average_hours=10.0, median_hours=10.0)
        assert qs.response_times(db.session, today + dt.timedelta(days=1), today + dt.timedelta(days=2)) == []
