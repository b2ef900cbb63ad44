"""On PostgreSQL a request that only read ends its transaction with COMMIT instead of ROLLBACK
(app.database): psycopg forgets its prepared statements on every ROLLBACK, so with a
rollback at the end of each request nothing was ever prepared and PostgreSQL planned every
statement anew (the sign-in SELECT: ~2 ms of planning for 0.3 ms of work). Whatever wrote,
failed or left changes in the session still rolls back: nothing half-written is kept."""

from __future__ import annotations

import pytest
from flask.globals import _cv_request
from sqlalchemy import event, func, select, text

from app.domain.access import unscoped
from app.extensions import db
from app.models import Department

INBOX = "/workspace/?tab=all"


@pytest.fixture
def postgres(app):
    """The app, each request in an app context of its own as in a server: pytest-flask keeps
    one pushed for the whole test, and requests inside it share its session and transaction."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only (psycopg's prepared statements); the PostgreSQL pass runs it")
    pushed = _cv_request.get(None)
    if pushed is not None:
        pushed.pop()
    yield app
    if pushed is not None:
        pushed.push()


def endings(app, call) -> list[str]:
    """How the transactions ``call()`` ran ended, in order."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def committed(_conn) -> None:
        seen.append("commit")

    def rolled_back(_conn) -> None:
        seen.append("rollback")

    event.listen(engine, "commit", committed)
    event.listen(engine, "rollback", rolled_back)
    try:
        call()
    finally:
        event.remove(engine, "commit", committed)
        event.remove(engine, "rollback", rolled_back)
    return seen


def test_a_page_that_only_read_commits_and_its_statements_get_prepared(postgres, client, login_as):
    login_as("clerk")
    assert client.get(INBOX).status_code == 200
    assert endings(postgres, lambda: client.get(INBOX)) == ["commit"]
    for _ in range(7):
        assert client.get(INBOX).status_code == 200
    with postgres.app_context():
        # One request at a time: the pool hands this context the connection the requests used.
        prepared = db.session.execute(
            text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%FROM auth_session%'")
        ).scalar_one()
    assert prepared >= 1


def _routes(app) -> None:
    def write_and_return():
        department = Department(municipality_id=app.seeded["alpha"]["id"], code="half-written", name_hy="Կիսատ")
        db.session.add(department)
        db.session.flush()  # sent to the database, never committed
        return "ok"

    def read_and_fail():
        db.session.execute(unscoped(select(func.count(Department.id)), reason="a test route")).scalar_one()
        raise RuntimeError("failed after reading")

    def set_and_return():
        db.session.execute(unscoped(text("SET LOCAL statement_timeout = 5000"), reason="a test route"))
        return "ok"

    def read_then_add():
        db.session.execute(unscoped(select(func.count(Department.id)), reason="a test route")).scalar_one()
        db.session.add(Department(municipality_id=app.seeded["alpha"]["id"], code="pending", name_hy="Սպասող"))
        return "ok"

    for view in (write_and_return, read_and_fail, set_and_return, read_then_add):
        app.add_url_rule(f"/test-only/{view.__name__}", view.__name__, view)


def test_whatever_wrote_failed_or_left_changes_rolls_back(postgres, client):
    _routes(postgres)
    for name, status in (
        ("write_and_return", 200),
        ("read_and_fail", 500),
        ("set_and_return", 200),
        ("read_then_add", 200),
    ):
        seen: list[int] = []

        def call(name=name, seen=seen) -> None:
            try:
                seen.append(client.get(f"/test-only/{name}").status_code)
            except RuntimeError:  # the test app propagates what a server answers with 500
                seen.append(500)

        ends = endings(postgres, call)
        assert seen == [status], name
        assert "commit" not in ends and "rollback" in ends, (name, ends)
    with postgres.app_context():
        kept = db.session.execute(select(Department.id).where(Department.code.in_(["half-written", "pending"]))).all()
    assert kept == []


def test_rows_read_in_an_app_context_keep_their_values_after_it(postgres):
    """A command or test that read rows in an app context and uses them after it ended: the
    commit keeps their loaded values, as the rollback of the session's close did."""
    with postgres.app_context():
        department = db.session.execute(
            unscoped(select(Department).order_by(Department.id).limit(1), reason="a test")
        ).scalar_one()
        code = department.code
    assert department.code == code
