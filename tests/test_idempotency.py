"""``Idempotency-Key`` on the API's POSTs that create something: the same key and body replay
the first answer (one draft, one comment), another body is refused with 422, concurrent
duplicates over a real HTTP server create one draft, and old records are purged by the job."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
import requests
from sqlalchemy import func, select
from test_api import DATA, SERVICE_KEY, file_application, set_up, token, world  # noqa: F401 - fixtures
from werkzeug.serving import make_server

from app import jobs
from app.extensions import db
from app.models import Application, TransitionRecord
from app.models.base import utcnow
from app.models.security import IdempotencyRecord

BODY = {
    "service_key": SERVICE_KEY,
    "data": {"address": "Abovyan 2", "purpose": "bank", "copies": "2"},
    "applicant": {"name": "Ani Hakobyan", "phone": "010 123456"},
}


def drafts(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Application)).scalar_one()


def records(app) -> list[IdempotencyRecord]:
    with app.app_context():
        return list(db.session.execute(select(IdempotencyRecord)).scalars())


def test_the_same_key_and_body_replays_the_first_answer_and_creates_one_draft(app, client, world, token):  # noqa: F811
    headers = {**token("alpha.front_clerk"), "Idempotency-Key": str(uuid.uuid4())}
    before = drafts(app)
    first = client.post("/api/v1/applications", headers=headers, json=BODY)
    assert first.status_code == 201, first.json
    assert "Idempotent-Replayed" not in first.headers
    # The same JSON with its keys in another order is the same request.
    again = client.post("/api/v1/applications", headers=headers, json=dict(reversed(list(BODY.items()))))
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.json["result"]["access_code"] == first.json["result"]["access_code"]
    assert drafts(app) == before + 1
    # The access code in the kept answer is not stored readable.
    [record] = records(app)
    assert first.json["result"]["access_code"] not in record.response_body
    assert record.status_code == 201


def test_the_same_key_with_another_body_is_refused_with_422(app, client, world, token):  # noqa: F811
    headers = {**token("alpha.front_clerk"), "Idempotency-Key": "key-1"}
    assert client.post("/api/v1/applications", headers=headers, json=BODY).status_code == 201
    before = drafts(app)
    other = dict(BODY, applicant={"name": "Someone Else"})
    refused = client.post("/api/v1/applications", headers={**headers, "Accept-Language": "en"}, json=other)
    assert refused.status_code == 422
    # In the caller's language: Armenian unless asked otherwise.
    assert "Idempotency-Key" in refused.json["message"] and refused.json["message"] != ""
    assert drafts(app) == before


def test_keys_are_per_user_and_without_one_nothing_changes(app, client, world, token):  # noqa: F811
    key = {"Idempotency-Key": "shared"}
    a = client.post("/api/v1/applications", headers={**token("alpha.front_clerk"), **key}, json=BODY)
    b = client.post("/api/v1/applications", headers={**token("alpha.clerk"), **key}, json=BODY)
    assert a.status_code == b.status_code == 201
    assert a.json["result"]["id"] != b.json["result"]["id"]
    # No header: two requests, two drafts, no record.
    before = drafts(app)
    for _ in range(2):
        assert client.post("/api/v1/applications", headers=token("alpha.front_clerk"), json=BODY).status_code == 201
    assert drafts(app) == before + 2
    assert len(records(app)) == 2


@pytest.mark.parametrize("bad", ["", "x" * 256, "with space", "caf\u00e9"])
def test_a_malformed_key_is_refused_with_400_and_nothing_is_created(app, client, world, token, bad):  # noqa: F811
    before = drafts(app)
    headers = {**token("alpha.front_clerk"), "Accept-Language": "en"}
    # Header values travel as latin-1; the test client encodes them so.
    headers["Idempotency-Key"] = bad
    response = client.post("/api/v1/applications", headers=headers, json=BODY)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json["message"]
    assert drafts(app) == before and records(app) == []


def test_a_refused_request_is_replayed_as_refused(app, client, world, token):  # noqa: F811
    headers = {**token("alpha.front_clerk"), "Idempotency-Key": "k-400"}
    bad = dict(BODY, service_key="no-such-service")
    first = client.post("/api/v1/applications", headers=headers, json=bad)
    assert first.status_code == 400
    again = client.post("/api/v1/applications", headers=headers, json=bad)
    assert (again.status_code, again.json) == (400, first.json)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_comment_action_with_a_key_is_added_once(app, client, world, token):  # noqa: F811
    application_id = file_application(app)
    headers = {**token("alpha.registrar"), "Idempotency-Key": "comment-1"}

    def history() -> int:
        with app.app_context():
            return db.session.execute(
                select(func.count())
                .select_from(TransitionRecord)
                .where(TransitionRecord.application_id == application_id)
            ).scalar_one()

    before = history()
    body = {"action": "comment", "comment": "Checked the address"}
    first = client.post(f"/api/v1/applications/{application_id}/actions", headers=headers, json=body)
    assert first.status_code == 200, first.json
    again = client.post(f"/api/v1/applications/{application_id}/actions", headers=headers, json=body)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert history() == before + 1


def test_the_spec_documents_the_header(client, world, token):  # noqa: F811
    paths = client.get("/api/v1/_openapi", headers=token("alpha.clerk")).json["paths"]
    for path in ("/api/v1/applications", "/api/v1/applications/{pk}/actions"):
        post = paths[path]["post"]
        names = [p.get("name") for p in post.get("parameters", [])]
        assert "Idempotency-Key" in names, (path, names)
        assert "422" in post["responses"]


@pytest.fixture
def server(app):
    """The app on a real threaded HTTP server on 127.0.0.1."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


def test_concurrent_duplicates_create_one_draft(app, client, world, token, server):  # noqa: F811
    headers = {**token("alpha.front_clerk"), "Idempotency-Key": str(uuid.uuid4())}
    before = drafts(app)
    count = 6
    start = threading.Barrier(count)
    answers: list[requests.Response] = []

    def send() -> None:
        start.wait()
        answers.append(requests.post(f"{server}/api/v1/applications", headers=headers, json=BODY, timeout=60))

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == count
    assert drafts(app) == before + 1
    created = [a for a in answers if a.status_code == 201]
    # The others waited and replayed the same draft, or were told it is still in progress.
    assert created and {a.json()["result"]["id"] for a in created} == {created[0].json()["result"]["id"]}
    assert all(a.status_code in (201, 409) for a in answers), [a.status_code for a in answers]


def test_records_older_than_a_day_are_purged_by_the_job(app, client, world, token):  # noqa: F811
    headers = {**token("alpha.front_clerk"), "Idempotency-Key": "old"}
    assert client.post("/api/v1/applications", headers=headers, json=BODY).status_code == 201
    headers["Idempotency-Key"] = "new"
    assert client.post("/api/v1/applications", headers=headers, json=BODY).status_code == 201
    with app.app_context():
        old = db.session.execute(select(IdempotencyRecord).where(IdempotencyRecord.key == "old")).scalar_one()
        old.created_at = utcnow() - dt.timedelta(hours=25)
        db.session.commit()
    assert jobs.get_jobs(app).purge_idempotency.call_local() == 1
    assert [r.key for r in records(app)] == ["new"]


def test_a_key_whose_record_is_gone_still_files_no_second_draft(app, client, world, token):  # noqa: F811
    """The key also becomes the draft's submission key: intake's own double-submit check
    finds the first draft after the record was purged (or its answer lost to a dropped
    connection), and says so without the access code shown the first time."""
    headers = {**token("alpha.front_clerk"), "Idempotency-Key": "long-ago"}
    first = client.post("/api/v1/applications", headers=headers, json=BODY)
    assert first.status_code == 201
    with app.app_context():
        db.session.execute(IdempotencyRecord.__table__.delete())
        db.session.commit()
    before = drafts(app)
    again = client.post("/api/v1/applications", headers=headers, json=BODY)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert again.json["result"]["id"] == first.json["result"]["id"]
    assert again.json["result"]["access_code"] is None
    assert drafts(app) == before
