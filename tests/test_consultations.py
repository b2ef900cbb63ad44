"""Consultations on draft decisions (issue 11, point 5) and the files of participation processes."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from sqlalchemy import func, select, update

from app.domain import access
from app.domain.participation import consultations as cs
from app.domain.participation import files, processes
from app.domain.storage import get_storage
from app.domain.uploads import UploadRefused
from app.extensions import db
from app.models import AuditEvent, Notification
from app.models.participation import (
    CommentSupport,
    Consultation,
    ConsultationComment,
    ParticipationFile,
    Residency,
)
from app.testing import PASSWORD, actor_for, attach, count_statements, login, make_citizen


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _consultation(app, code="alpha", status="published", **extra) -> int:
    with app.app_context():
        values = {
            "opens_at": _now() - dt.timedelta(days=1),
            "closes_at": _now() + dt.timedelta(days=10),
            **extra,
        }
        row = Consultation(
            municipality_id=app.seeded[code]["id"],
            title={"hy": "Նախագիծ", "en": "Draft on parking"},
            body={"hy": "Տեքստ", "en": "The text of the draft"},
            status=status,
            **values,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def _resident(app, email, code="alpha", name="Anna Petrosyan") -> int:
    user_id = make_citizen(app, email, name=name, language="en")
    with app.app_context():
        db.session.add(
            Residency(
                municipality_id=app.seeded[code]["id"],
                user_id=user_id,
                method="office",
                document_kind="passport",
                verified_at=_now(),
                expires_at=_now() + dt.timedelta(days=365),
            )
        )
        db.session.commit()
    return user_id


def _page(cid, code="alpha") -> str:
    return f"/m/{code}/consultations/{cid}/"


def _admin(cid) -> str:
    return f"/admin/consultations/{cid}/"


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _comment_ids(app) -> list[int]:
    with app.app_context():
        return list(db.session.execute(select(ConsultationComment.id).order_by(ConsultationComment.id)).scalars())


def _close(app, cid) -> None:
    with app.app_context():
        db.session.execute(
            update(Consultation)
            .where(Consultation.id == cid)
            .values(opens_at=_now() - dt.timedelta(days=20), closes_at=_now() - dt.timedelta(minutes=1))
        )
        db.session.commit()
    # The test's own request context keeps one session across the client's requests: forget
    # what it loaded, as a new request would.
    db.session.expire_all()


def _events(app, action) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars().all()
        db.session.expunge_all()
        return list(rows)


def _text(response) -> str:
    return response.get_data(as_text=True)


# -- files ----------------------------------------------------------------------------------------


def test_files_store_open_delete(app):
    cid = _consultation(app, status="draft")
    mid = app.seeded["alpha"]["id"]
    owner = ("consultation", cid)
    with app.test_request_context():
        storage = get_storage(app)
        rows = files.store(
            db.session, storage, municipality_id=mid, owner=owner, uploads=[attach("pdf")], kind="document"
        )
        db.session.commit()
        assert len(rows) == 1 and storage.exists(rows[0].storage_key)
        fid = rows[0].id
        # A draft's file does not exist for the public; staff open it, audit-logged.
        with pytest.raises(access.NotFound):
            files.open_file(db.session, storage, None, municipality_id=mid, owner=owner, file_id=fid, channel="online")
        admin = actor_for(app.seeded["alpha"]["users"]["municipal_admin"])
        opened = files.open_file(
            db.session, storage, admin, municipality_id=mid, owner=owner, file_id=fid, channel="office"
        )
        assert opened.stream.read().startswith(b"%PDF")
        opened.stream.close()
        assert len(_events(app, files.AUDIT_DOWNLOAD)) == 1
        # Published: anyone opens it, and nothing is recorded.
        db.session.get(Consultation, cid).status = "published"
        db.session.commit()
        opened = files.open_file(
            db.session, storage, None, municipality_id=mid, owner=owner, file_id=fid, channel="online"
        )
        opened.stream.close()
        assert len(_events(app, files.AUDIT_DOWNLOAD)) == 1
        # Another municipality, another owner, a forged id: not found.
        for municipality_id, other, file_id in (
            (app.seeded["beta"]["id"], owner, fid),
            (mid, ("poll", cid), fid),
            (mid, owner, True),
        ):
            with pytest.raises(access.NotFound):
                files.get(db.session, municipality_id, other, file_id)
        # A refused upload writes nothing (one bad file refuses all).
        before = set(storage.iter_keys())
        with pytest.raises(UploadRefused):
            files.store(
                db.session,
                storage,
                municipality_id=mid,
                owner=owner,
                uploads=[attach("png"), attach("pdf")],
                kind="photo",
            )
        db.session.rollback()
        assert set(storage.iter_keys()) == before
        assert len(files.files_of(db.session, mid, owner)) == 1
        row = files.get(db.session, mid, owner, fid)
        key = row.storage_key
        files.delete(db.session, storage, admin, row)
        assert not storage.exists(key)
        assert db.session.execute(select(ParticipationFile)).first() is None
        assert len(_events(app, files.AUDIT_DELETE)) == 1


def test_files_count_limit_and_full_storage(app, monkeypatch):
    from app.domain.storage import StorageFull

    cid = _consultation(app, status="draft")
    mid = app.seeded["alpha"]["id"]
    with app.test_request_context("/?_l_=en"):
        storage = get_storage(app)
        with pytest.raises(UploadRefused, match="at most 10"):
            files.store(
                db.session,
                storage,
                municipality_id=mid,
                owner=("consultation", cid),
                uploads=[attach("pdf") for _ in range(11)],
                kind="document",
            )

        def full(*_args, **_kwargs):
            raise StorageFull()

        monkeypatch.setattr(type(storage), "put", full)
        with pytest.raises(StorageFull) as caught:
            files.store(
                db.session,
                storage,
                municipality_id=mid,
                owner=("consultation", cid),
                uploads=[attach("pdf")],
                kind="document",
            )
        assert "cannot accept files" in files.storage_problem(caught.value)
        db.session.rollback()
    assert _count(app, ParticipationFile) == 0


# -- the whole flow through the screens -------------------------------------------------------------


FORM = {
    "title_hy": "Կայանատեղիների մասին",
    "title_en": "On parking",
    "body_hy": "Որոշման նախագիծ",
    "body_en": "The draft decision on parking in the centre.",
    "decided_by": "council",
    "opens_at": "2020-01-01T09:00",
    "closes_at": "2099-01-01T18:00",
    "audience": "residents",
}


def test_the_whole_flow(app, client, login_as):
    anna = _resident(app, "anna@example.org")
    _resident(app, "boris@example.org", name="Boris Sargsyan")
    login_as("municipal_admin")
    created = client.post("/admin/consultations/new?_l_=en", data=FORM)
    assert created.status_code == 302, _text(created)
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        cid, version = consultation.id, consultation.version
        assert consultation.status == "draft" and consultation.title["en"] == "On parking"
        # Yerevan time (UTC+4) stored as UTC.
        assert consultation.opens_at == dt.datetime(2020, 1, 1, 5, 0)
    assert len(_events(app, cs.AUDIT_CREATE)) == 1
    # The draft's file.
    uploaded = client.post(
        _admin(cid) + "files?_l_=en", data={"files": [attach("pdf", "draft.pdf")]}, content_type="multipart/form-data"
    )
    assert uploaded.status_code == 302, _text(uploaded)
    with app.app_context():
        fid = db.session.execute(select(ParticipationFile.id)).scalar_one()
    assert client.get(_admin(cid) + f"files/{fid}").status_code == 200
    # Not public yet.
    client.post("/logout/")
    assert client.get(_page(cid)).status_code == 404
    assert client.get(_page(cid) + f"files/{fid}").status_code == 404
    login_as("municipal_admin")
    edited = client.post(_admin(cid) + "edit?_l_=en", data={**FORM, "title_en": "On parking (2)", "version": version})
    assert edited.status_code == 302
    with app.app_context():
        version = db.session.get(Consultation, cid).version
    published = client.post(_admin(cid) + "publish?_l_=en", data={"version": version})
    assert published.status_code == 302
    assert len(_events(app, cs.AUDIT_PUBLISH)) == 1
    # Published: the draft's page and file are public.
    client.post("/logout/")
    page = client.get(_page(cid) + "?_l_=en")
    assert page.status_code == 200
    assert "On parking (2)" in _text(page) and "draft.pdf" in _text(page) and "Sign in to comment" in _text(page)
    download = client.get(_page(cid) + f"files/{fid}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    # Citizens comment, reply and support.
    login(client, "anna@example.org", PASSWORD)
    assert client.post(_page(cid) + "comments?_l_=en", data={"body": "Please keep the trees."}).status_code == 303
    [first] = _comment_ids(app)
    login(client, "boris@example.org", PASSWORD)
    reply = client.post(_page(cid) + "comments?_l_=en", data={"body": "Agreed.", "parent_id": str(first)})
    assert reply.status_code == 303
    assert client.post(_page(cid) + f"comments/{first}/support?_l_=en").status_code == 303
    text = _text(client.get(_page(cid) + "?_l_=en"))
    assert "Please keep the trees." in text and "Agreed." in text and "1 support" in text and "Anna P." in text
    # The period ends; the administrator publishes the summary.
    _close(app, cid)
    login_as("municipal_admin")
    bad = client.post(
        _admin(cid) + "summary?_l_=en",
        data={"summary_hy": "Փոփոխվեց", "decision_reference": "N 45-N", "decision_url": "javascript:alert(1)"},
    )
    assert bad.status_code == 400 and "starting with https://" in _text(bad)
    with app.app_context():
        assert db.session.get(Consultation, cid).summary_published_at is None
    good = client.post(
        _admin(cid) + "summary?_l_=en",
        data={
            "summary_hy": "Փոփոխվեց",
            "summary_en": "The trees stay: article 3 was changed.",
            "decision_reference": "Decision N 45-N",
            "decision_url": "https://alpha.example.am/decisions/45",
        },
    )
    assert good.status_code == 302, _text(good)
    assert len(_events(app, cs.AUDIT_SUMMARY)) == 1
    client.post("/logout/")
    text = _text(client.get(_page(cid) + "?_l_=en"))
    assert "The trees stay: article 3 was changed." in text
    assert 'href="https://alpha.example.am/decisions/45"' in text and "Decision N 45-N" in text
    assert "The comment period has ended." in text
    with app.app_context():
        assert db.session.get(ConsultationComment, first).user_id == anna
        listed = processes.public_processes(db.session, app.seeded["alpha"]["id"])
        assert [c.id for c in listed.consultations] == [cid]


def test_a_draft_with_bad_input_is_refused_with_messages_and_nothing_saved(app, client, login_as):
    login_as("municipal_admin")
    cases = [
        ({"title_hy": ""}, "Enter the text in Armenian"),
        ({"closes_at": "2019-01-01T09:00"}, "must end after it starts"),
        ({"opens_at": "yesterday"}, "Enter a date and time"),
        ({"decided_by": "mayor"}, "Choose who decides"),
        ({"audience": "everyone"}, "Choose who may comment"),
        ({"title_en": "x" * 201}, "too long"),
        ({"settlement_ids": "99999"}, "Choose settlements from the list"),
    ]
    for change, message in cases:
        response = client.post("/admin/consultations/new?_l_=en", data={**FORM, **change})
        assert response.status_code == 400, change
        assert message in _text(response), (change, _text(response))
    # Hostile input stops at the input layer, with its own clear message.
    hostile = client.post("/admin/consultations/new?_l_=en", data={**FORM, "title_hy": "a\x00b"})
    assert hostile.status_code == 400 and "Nothing was changed" in _text(hostile)
    assert _count(app, Consultation) == 0


# -- comments -------------------------------------------------------------------------------------------


def _comment(client, cid, body, parent=None):
    data = {"body": body}
    if parent is not None:
        data["parent_id"] = str(parent)
    return client.post(_page(cid) + "comments?_l_=en", data=data)


def test_comments_are_refused_with_a_clear_message_and_nothing_changes(app, client):
    cid = _consultation(app)
    _resident(app, "anna@example.org")
    make_citizen(app, "nobody@example.org", language="en")
    _resident(app, "bettina@example.org", code="beta")
    login(client, "anna@example.org", PASSWORD)
    assert _comment(client, cid, "The first comment.").status_code == 303
    cases = [
        ("", None, 400, "at least 2 characters"),
        ("x" * (cs.MAX_COMMENT + 1), None, 400, "at most 3000 characters"),
        ("A reply to nothing.", 987654, 400, "does not exist"),
        ("A reply to nothing.", "abc", 400, "does not exist"),
    ]
    for body, parent, status, message in cases:
        response = _comment(client, cid, body, parent)
        assert response.status_code == status, (body[:20], parent)
        assert message in _text(response)
    # Not residents of alpha: an unverified citizen and a resident of beta.
    for email in ("nobody@example.org", "bettina@example.org"):
        login(client, email, PASSWORD)
        response = _comment(client, cid, "I want to comment.")
        assert response.status_code == 409 and "Only verified residents" in _text(response)
        first = _comment_ids(app)[0]
        refused = client.post(_page(cid) + f"comments/{first}/support?_l_=en")
        assert refused.status_code == 409
    # Staff accounts do not take part as citizens.
    login(client, "alpha.municipal_admin", PASSWORD)
    assert _comment(client, cid, "Staff comment.").status_code == 409
    # Outside the period: before it opens, and after it ended.
    login(client, "anna@example.org", PASSWORD)
    with app.app_context():
        db.session.execute(
            update(Consultation).where(Consultation.id == cid).values(opens_at=_now() + dt.timedelta(days=1))
        )
        db.session.commit()
    response = _comment(client, cid, "Too early.")
    assert response.status_code == 409 and "not open yet" in _text(response)
    _close(app, cid)
    response = _comment(client, cid, "Too late.")
    assert response.status_code == 409 and "closed on" in _text(response)
    # Signed out: sent to sign in.
    client.post("/logout/")
    assert _comment(client, cid, "Anonymous.").status_code == 303
    assert len(_comment_ids(app)) == 1 and _count(app, CommentSupport) == 0


def test_replies_join_the_thread_of_the_comment_they_answer(app, client):
    cid = _consultation(app)
    _resident(app, "anna@example.org")
    login(client, "anna@example.org", PASSWORD)
    _comment(client, cid, "Root comment.")
    [root] = _comment_ids(app)
    _comment(client, cid, "First reply.", root)
    reply = _comment_ids(app)[-1]
    _comment(client, cid, "A reply to the reply.", reply)
    with app.app_context():
        parents = [
            c.parent_id
            for c in db.session.execute(select(ConsultationComment).order_by(ConsultationComment.id)).scalars()
        ]
        consultation = db.session.get(Consultation, cid)
        view = cs.thread(db.session, consultation, viewer=None)
    assert parents == [None, root, root]
    assert len(view) == 1 and [r.body for r in view[0].replies] == ["First reply.", "A reply to the reply."]
    page = _text(client.get(_page(cid) + "?_l_=en"))
    assert page.index("Root comment.") < page.index("First reply.") < page.index("A reply to the reply.")


def test_a_comment_is_supported_once_per_person(app, client):
    cid = _consultation(app)
    _resident(app, "anna@example.org")
    _resident(app, "boris@example.org", name="Boris Sargsyan")
    login(client, "anna@example.org", PASSWORD)
    _comment(client, cid, "Support me.")
    [first] = _comment_ids(app)
    own = client.post(_page(cid) + f"comments/{first}/support?_l_=en")
    assert own.status_code == 409 and "your own comment" in _text(own)
    login(client, "boris@example.org", PASSWORD)
    assert client.post(_page(cid) + f"comments/{first}/support?_l_=en").status_code == 303
    again = client.post(_page(cid) + f"comments/{first}/support?_l_=en")
    assert again.status_code == 409 and "already support" in _text(again)
    assert client.post(_page(cid) + "comments/424242/support?_l_=en").status_code == 404
    with app.app_context():
        assert db.session.get(ConsultationComment, first).support_count == 1
    assert _count(app, CommentSupport) == 1
    assert "You support this comment" in _text(client.get(_page(cid) + "?_l_=en"))


def test_concurrent_supports_count_each_person_once(app):
    cid = _consultation(app)
    author = _resident(app, "author@example.org")
    people = [_resident(app, f"p{n}@example.org") for n in range(4)]
    with app.app_context():
        consultation = db.session.get(Consultation, cid)
        comment = cs.add_comment(db.session, actor_for(author), consultation, body="Support this.")
        db.session.commit()
        comment_id = comment.id
    outcomes: list[str] = []
    barrier = threading.Barrier(len(people) * 2)

    def support(user_id: int) -> None:
        with app.app_context():
            actor = actor_for(user_id)
            consultation = db.session.get(Consultation, cid)
            found = cs.get_comment(db.session, consultation, comment_id)
            barrier.wait()
            for _attempt in range(20):
                try:
                    cs.support(db.session, actor, consultation, found)
                    db.session.commit()
                    outcomes.append("ok")
                    return
                except cs.AlreadySupported:
                    db.session.rollback()
                    outcomes.append("again")
                    return
                except Exception as exc:  # SQLite's one writer: a locked database is retried
                    db.session.rollback()
                    if "locked" not in str(exc):
                        outcomes.append(repr(exc))
                        return
            outcomes.append("gave up")

    threads = [threading.Thread(target=support, args=(p,)) for p in people for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["again"] * 4 + ["ok"] * 4, outcomes
    with app.app_context():
        assert db.session.get(ConsultationComment, comment_id).support_count == 4
    assert _count(app, CommentSupport) == 4


# -- moderation -----------------------------------------------------------------------------------------


def test_hiding_tells_the_author_why_and_is_audited(app, client, login_as):
    cid = _consultation(app)
    anna = _resident(app, "anna@example.org")
    login(client, "anna@example.org", PASSWORD)
    _comment(client, cid, "Something offensive.")
    [first] = _comment_ids(app)
    login_as("municipal_admin")
    queue = _text(client.get(_admin(cid) + "?_l_=en"))
    assert "Something offensive." in queue and "Hide this comment" in queue
    no_reason = client.post(_admin(cid) + f"comments/{first}/hide?_l_=en", data={"reason": " "})
    assert no_reason.status_code == 400 and "Give the reason" in _text(no_reason)
    assert f'id="reason-{first}-err"' in _text(no_reason)
    with app.app_context():
        assert db.session.get(ConsultationComment, first).hidden_at is None
    hidden = client.post(_admin(cid) + f"comments/{first}/hide?_l_=en", data={"reason": "Insults another resident."})
    assert hidden.status_code == 302
    [event] = _events(app, cs.AUDIT_HIDE)
    assert event.details["reason"] == "Insults another resident." and event.object_id == str(first)
    with app.app_context():
        notices = (
            db.session.execute(
                select(Notification).where(
                    Notification.kind == "comment_hidden", Notification.recipient_user_id == anna
                )
            )
            .scalars()
            .all()
        )
        assert notices and all("Insults another resident." in n.body for n in notices)
        assert "Draft on parking" in notices[0].subject
    page = _text(client.get(_page(cid) + "?_l_=en"))
    assert "Hidden by the moderator: Insults another resident." in page and "Something offensive." not in page
    # A hidden comment takes no reply and no support.
    _resident(app, "boris@example.org", name="Boris Sargsyan")
    login(client, "boris@example.org", PASSWORD)
    assert _comment(client, cid, "A reply.", first).status_code == 409
    assert client.post(_page(cid) + f"comments/{first}/support?_l_=en").status_code == 409
    # Shown again.
    login_as("municipal_admin")
    assert client.post(_admin(cid) + f"comments/{first}/unhide?_l_=en").status_code == 302
    assert len(_events(app, cs.AUDIT_UNHIDE)) == 1
    assert "Something offensive." in _text(client.get(_page(cid) + "?_l_=en"))


def test_another_municipalitys_admin_finds_nothing(app, client, login_as):
    cid = _consultation(app)
    _resident(app, "anna@example.org")
    login(client, "anna@example.org", PASSWORD)
    _comment(client, cid, "Alpha only.")
    [first] = _comment_ids(app)
    login_as("municipal_admin", "beta")
    for method, url, data in (
        ("get", _admin(cid), None),
        ("get", _admin(cid) + "edit", None),
        ("post", _admin(cid) + "publish", {}),
        ("post", _admin(cid) + "cancel", {}),
        ("post", _admin(cid) + f"comments/{first}/hide", {"reason": "Not yours."}),
        ("post", _admin(cid) + "summary", {}),
    ):
        response = getattr(client, method)(url, data=data)
        assert response.status_code == 404, (method, url)
    assert "Draft on parking" not in _text(client.get("/admin/consultations/?_l_=en"))
    # Beta's public pages do not show alpha's consultation either.
    assert client.get(_page(cid, code="beta")).status_code == 404
    with app.app_context():
        assert db.session.get(ConsultationComment, first).hidden_at is None
    # An auditor of alpha reads, but does not moderate.
    login_as("auditor")
    assert client.get(_admin(cid)).status_code == 200
    assert "Hide this comment" not in _text(client.get(_admin(cid) + "?_l_=en"))


def test_a_cancelled_consultation_takes_no_comments(app, client, login_as):
    cid = _consultation(app)
    _resident(app, "anna@example.org")
    login_as("municipal_admin")
    assert client.post(_admin(cid) + "cancel", data={"reason": "Withdrawn by the council."}).status_code == 302
    assert len(_events(app, cs.AUDIT_CANCEL)) == 1
    login(client, "anna@example.org", PASSWORD)
    response = _comment(client, cid, "Still here?")
    assert response.status_code == 409 and "cancelled" in _text(response)


def test_the_summary_waits_for_the_end_of_the_period(app, client, login_as):
    cid = _consultation(app)
    login_as("municipal_admin")
    early = client.post(
        _admin(cid) + "summary?_l_=en",
        data={"summary_hy": "Ամփոփում", "decision_reference": "N 1", "decision_url": "https://example.am/1"},
    )
    assert early.status_code == 409 and "after the comment period has ended" in _text(early)
    _close(app, cid)
    for url in ("ftp://example.am/1", "https://", "https://exa mple.am", "//example.am/1", "https://user@example.am/"):
        response = client.post(
            _admin(cid) + "summary?_l_=en",
            data={"summary_hy": "Ամփոփում", "decision_reference": "N 1", "decision_url": url},
        )
        assert response.status_code == 400, url
    missing = client.post(_admin(cid) + "summary?_l_=en", data={"decision_url": "https://example.am/1"})
    assert missing.status_code == 400 and "Enter the text in Armenian" in _text(missing)
    assert "Enter the decision" in _text(missing)
    with app.app_context():
        assert db.session.get(Consultation, cid).summary is None


# -- the public page's cost ---------------------------------------------------------------------------


def test_the_public_page_costs_the_same_whatever_the_number_of_comments(app, client):
    cid = _consultation(app)
    ids = [_resident(app, f"r{n}@example.org", name=f"Resident{n} Test") for n in range(6)]
    with app.app_context():
        consultation = db.session.get(Consultation, cid)
        root = cs.add_comment(db.session, actor_for(ids[0]), consultation, body="Root.")
        cs.add_comment(db.session, actor_for(ids[1]), consultation, body="Reply.", parent_id=root.id)
        db.session.commit()
    login(client, "r2@example.org", PASSWORD)
    url = _page(cid) + "?_l_=en"
    client.get(url)
    few = count_statements(app, lambda: client.get(url))
    with app.app_context():
        consultation = db.session.get(Consultation, cid)
        for n in range(10):
            parent = cs.add_comment(db.session, actor_for(ids[n % 6]), consultation, body=f"Comment {n}.")
            cs.add_comment(
                db.session, actor_for(ids[(n + 1) % 6]), consultation, body=f"Reply {n}.", parent_id=parent.id
            )
            cs.support(db.session, actor_for(ids[2]) if n % 6 != 2 else actor_for(ids[3]), consultation, parent)
        db.session.commit()
    many = count_statements(app, lambda: client.get(url))
    assert many == few
    assert len(re.findall(r'id="comment-\d+"', _text(client.get(url)))) == 22
    client.post("/logout/")
    assert count_statements(app, lambda: client.get(url)) <= few


def test_admin_files_refuse_disguised_uploads_and_can_be_removed(app, client, login_as):
    import io

    from werkzeug.datastructures import FileStorage

    cid = _consultation(app, status="draft")
    login_as("municipal_admin")
    disguised = FileStorage(stream=io.BytesIO(b"<html><script>alert(1)</script></html>"), filename="draft.pdf")
    refused = client.post(_admin(cid) + "files?_l_=en", data={"files": [disguised]}, content_type="multipart/form-data")
    assert refused.status_code == 400 and "web page (HTML)" in _text(refused)
    wrong_field = client.post(
        _admin(cid) + "files?_l_=en", data={"photo": [attach("pdf")]}, content_type="multipart/form-data"
    )
    assert wrong_field.status_code == 400
    assert _count(app, ParticipationFile) == 0
    ok = client.post(
        _admin(cid) + "files", data={"files": [attach("pdf"), attach("png")]}, content_type="multipart/form-data"
    )
    assert ok.status_code == 302
    assert len(_events(app, cs.AUDIT_FILES)) == 1
    with app.app_context():
        fid, key = db.session.execute(select(ParticipationFile.id, ParticipationFile.storage_key)).first()
    assert client.post(_admin(cid) + f"files/{fid}/remove").status_code == 302
    assert _count(app, ParticipationFile) == 1
    with app.app_context():
        assert not get_storage(app).exists(key)


def test_the_period_and_comment_times_are_written_as_on_the_poll_pages(app, client, login_as):
    from app.domain.formatting import format_moment

    cid = _consultation(app)
    _resident(app, "anna@example.org")
    login(client, "anna@example.org", PASSWORD)
    _comment(client, cid, "A comment.")
    with app.app_context():
        consultation = db.session.get(Consultation, cid)
        comment = db.session.get(ConsultationComment, _comment_ids(app)[0])
        expected = [
            format_moment(at, "hy") for at in (consultation.opens_at, consultation.closes_at, comment.created_at)
        ]
    assert all(re.fullmatch(r"\d{1,2} \w+ \d{4}, \d\d:\d\d", text) for text in expected)  # no seconds
    public = client.get(_page(cid) + "?_l_=hy").get_data(as_text=True)
    assert all(text in public for text in expected)
    login_as("municipal_admin")
    staff = client.get(_admin(cid) + "?_l_=hy").get_data(as_text=True)
    assert all(text in staff for text in expected)
