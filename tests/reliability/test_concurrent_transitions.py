"""Concurrent transitions over a real threaded HTTP server: N staff approve the same step at
the same moment with the version they all saw. Exactly one wins (200); every other gets 409
("changed meanwhile, reload") — never a 400 "not possible while Approved", never a 500, and
the history has one approval. Runs on SQLite, and on PostgreSQL when the suite runs there
(HAMAYNK_TEST_DATABASE_URL; ``python dev.py test --postgres tests/reliability``).
"""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from app import testing
from app.domain.roles import CLERK, HEAD, SPECIALIST
from app.extensions import db
from app.models import Application, TransitionRecord
from app.testing import PASSWORD, add_staff, enable_service

SERVICE_KEY = "residence-certificate"
DATA = {"address": "Abovyan, Kotayk 1", "purpose": "bank", "on_behalf": False, "copies": 1}
RACERS = 8


@pytest.fixture
def server(app):
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


@pytest.fixture
def staff(app) -> dict[str, list[str]]:
    municipality = app.seeded["alpha"]
    code = municipality["code"]
    names = {
        "specialists": [f"{code}.spec{n}" for n in range(RACERS)],
        "heads": [f"{code}.head{n}" for n in range(RACERS)],
    }
    for username in names["specialists"]:
        add_staff(app, municipality, username, [SPECIALIST], "civil_registry")
    for username in names["heads"]:
        add_staff(app, municipality, username, [HEAD], "civil_registry")
    municipality.setdefault("people", {})["front_clerk"] = add_staff(
        app, municipality, f"{code}.front_clerk", [CLERK], "front_office"
    )
    with app.app_context():
        enable_service(app, municipality["id"], SERVICE_KEY)
        db.session.commit()
    return names


def tokens(server: str, usernames: list[str]) -> list[dict[str, str]]:
    headers = []
    for username in usernames:
        response = requests.post(
            f"{server}/api/v1/security/login",
            json={"username": username, "password": PASSWORD, "provider": "db"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        headers.append({"Authorization": f"Bearer {response.json()['access_token']}", "Accept-Language": "en"})
    return headers


def race(server: str, application_id: int, headers: list[dict[str, str]], version: int) -> list[requests.Response]:
    start = threading.Barrier(len(headers))
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def approve(header: dict[str, str]) -> None:
        start.wait()
        answer = requests.post(
            f"{server}/api/v1/applications/{application_id}/actions?_l_=en",
            headers=header,
            json={"action": "approve", "expected_version": version},
            timeout=120,
        )
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=approve, args=(h,)) for h in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert len(answers) == len(headers)
    return answers


def approvals(app, application_id: int) -> list[str | None]:
    with app.app_context():
        return [
            r.step_key
            for r in db.session.execute(
                select(TransitionRecord)
                .where(TransitionRecord.application_id == application_id, TransitionRecord.action == "approve")
                .order_by(TransitionRecord.id)
            ).scalars()
        ]


def version_of(app, application_id: int) -> tuple[int, str | None]:
    with app.app_context():
        application = db.session.get(Application, application_id)
        return application.version, application.current_step


def test_exactly_one_of_n_concurrent_approvals_wins_and_the_others_get_409(app, server, staff):
    application_id = testing.file_application(
        app,
        SERVICE_KEY,
        "alpha",
        data=DATA,
        by=app.seeded["alpha"]["people"]["front_clerk"],
        applicant_name="Armen Petrosyan",
    )
    for role in ("specialists", "heads"):
        version, step = version_of(app, application_id)
        answers = race(server, application_id, tokens(server, staff[role]), version)
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] + [409] * (RACERS - 1), [(a.status_code, a.text[:200]) for a in answers]
        for loser in (a for a in answers if a.status_code == 409):
            assert "meanwhile" in loser.json()["message"].lower()
        # One approval of this step in the history, and the case moved on once.
        assert approvals(app, application_id).count(step) == 1
        assert version_of(app, application_id)[0] > version
