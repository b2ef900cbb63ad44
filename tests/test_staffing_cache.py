"""The inbox's staffing banner from cached facts (issue 13): the staff inbox sends at most six
statements; a staffing change made in this process shows on the next view; one made by
another process within HAMAYNK_STAFFING_RECHECK_SECONDS (app.domain.activations)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, update

from app.domain import activations
from app.domain.roles import HEAD, SPECIALIST
from app.extensions import db
from app.models import Department, User
from app.testing import add_staff, enable_service, file_application, login, recorded_statements

RESIDENCE = "residence-certificate"
INBOX = "/workspace/?tab=all"
GAP = "Registry check: nobody with the role Specialist"


@pytest.fixture
def alpha(app):
    enable_service(app, "alpha", RESIDENCE)
    file_application(app, RESIDENCE)
    return app.seeded["alpha"]


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(activations, "_clock", lambda: now[0])
    return now


def inbox_page(client) -> str:
    response = client.get(INBOX)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def as_clerk(client) -> None:
    login(client, "alpha.clerk")
    client.get("/lang/en")


def cold_request(app, client):
    """One GET of the inbox from an empty database session, as every browser request starts."""

    def request() -> None:
        with app.app_context():
            db.session.remove()
        assert client.get(INBOX).status_code == 200

    return recorded_statements(app, request)


def test_the_inbox_sends_at_most_six_statements(app, client, alpha):
    as_clerk(client)
    assert GAP in inbox_page(client)
    seen = cold_request(app, client)
    assert len(seen) <= 6, seen
    # The department's code comes with the sign-in; the staffing facts from the cache.
    assert not any("FROM department" in s or "FROM service_activation" in s for s in seen), seen


def test_a_staffing_change_in_this_process_shows_on_the_next_inbox_view(app, client, alpha, clock):
    as_clerk(client)
    assert GAP in inbox_page(client)
    registrar = add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    page = inbox_page(client)
    assert GAP not in page and "Signature: nobody with the role Head" in page
    add_staff(app, alpha, "alpha.registry.head", [HEAD], "civil_registry")
    assert 'id="staffing-gaps"' not in inbox_page(client)

    # An ORM UPDATE statement (no object loaded) counts too.
    with app.app_context():
        db.session.execute(update(User).where(User.id == registrar).values(active=False))
        db.session.commit()
    assert GAP in inbox_page(client)
    with app.app_context():
        db.session.get(User, registrar).active = True
        db.session.commit()
    assert GAP not in inbox_page(client)

    # A department renamed: its steps name a department the municipality lacks now.
    with app.app_context():
        department = db.session.execute(
            select(Department).where(Department.municipality_id == alpha["id"], Department.code == "civil_registry")
        ).scalar_one()
        department.code = "registry_renamed"
        db.session.commit()
    assert "this municipality has no department civil_registry" in inbox_page(client)
    # The clock never moved: each change was seen through the writes of this process.
    assert clock == [1_000_000.0]


def test_a_rolled_back_change_is_not_shown(app, client, alpha, clock):
    as_clerk(client)
    assert GAP in inbox_page(client)
    with app.app_context():
        department = db.session.execute(
            select(Department).where(Department.municipality_id == alpha["id"], Department.code == "civil_registry")
        ).scalar_one()
        department.code = "registry_renamed"
        db.session.flush()
        db.session.rollback()
    page = inbox_page(client)
    assert GAP in page and "has no department" not in page


def test_a_change_by_another_process_shows_once_the_recheck_delay_passed(app, client, alpha, clock):
    registrar = add_staff(app, alpha, "alpha.registrar", [SPECIALIST], "civil_registry")
    add_staff(app, alpha, "alpha.registry.head", [HEAD], "civil_registry")
    as_clerk(client)
    assert 'id="staffing-gaps"' not in inbox_page(client)
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with other.begin() as conn:
            conn.execute(update(User.__table__).where(User.__table__.c.id == registrar).values(active=False))
        # Within the delay: the cached facts, no query of them.
        seen = recorded_statements(app, lambda: client.get(INBOX))
        assert not any("FROM service_activation" in s for s in seen), seen
        assert 'id="staffing-gaps"' not in inbox_page(client)
        clock[0] += app.config[activations.RECHECK_SECONDS] + 0.1
        assert GAP in inbox_page(client)
    finally:
        other.dispose()


def test_a_recheck_delay_of_zero_reads_on_every_view(app, client, alpha, clock):
    app.config[activations.RECHECK_SECONDS] = 0
    as_clerk(client)
    inbox_page(client)
    seen = cold_request(app, client)
    assert sum(1 for s in seen if "FROM service_activation" in s) == 1, seen
    # Read on this view, the facts are one statement: still at most six.
    assert len(seen) <= 6, seen
