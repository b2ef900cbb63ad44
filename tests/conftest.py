"""Core test fixtures: a fresh app per test (two municipalities, a user per role),
``client`` from pytest-flask, and ``login_as(role, municipality)``."""

from __future__ import annotations

import os

import pytest

from app.testing import PASSWORD, create_database, drop_database, login, make_app, seed_municipality, seed_system_admin

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_URL = os.environ.get("HAMAYNK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    app.seeded = {
        "alpha": seed_municipality(app, "alpha", "Alpha"),
        "beta": seed_municipality(app, "beta", "Beta"),
        "sysadmin": seed_system_admin(app),
    }
    yield app
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def login_as(client, app):
    """``login_as("clerk")`` signs the test client in as alpha's clerk; roles are
    municipal_admin, clerk, specialist, head, auditor, system_admin, citizen."""

    def _login(role: str, municipality: str = "alpha"):
        if role == "system_admin":
            username = "sysadmin"
        elif role == "citizen":
            username = "citizen"
        else:
            username = f"{municipality}.{role}"
        login(client, username, PASSWORD)
        return username

    return _login


def postgres_available() -> str | None:
    """None when reachable, else the reason."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            return None
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}"


@pytest.fixture
def postgres_url():
    reason = postgres_available()
    if reason:
        if IN_CI:
            pytest.fail(f"CI must run the PostgreSQL suite, but {reason}")
        pytest.skip(reason)
    return POSTGRES_URL


REDIS_URL = os.environ.get("HAMAYNK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url():
    """A Redis database for the tests (number 15 unless HAMAYNK_TEST_REDIS_URL says
    otherwise), emptied before use; skipped with the reason where no server answers, except
    in CI, where it fails."""
    try:
        import redis
    except ImportError:
        reason = "the redis package is not installed"
    else:
        try:
            client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
            client.flushdb()
        except redis.RedisError as exc:
            reason = f"Redis at {REDIS_URL} is not reachable: {exc}"
        else:
            yield REDIS_URL
            client.flushdb()
            return
    if IN_CI:
        pytest.fail(f"CI must run the Redis tests, but {reason}")
    pytest.skip(reason)


@pytest.fixture
def fresh_postgres_database(postgres_url):
    """``fresh_postgres_database("name")`` -> URL of a newly created, empty database.

    Each suite gets its own database, and each pytest-xdist worker its own copy of it
    (``name_gw0``), so parallel or repeated runs never see each other's tables; it is dropped
    again afterwards."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    created = []

    def make(name: str) -> str:
        name = f"{name}_{worker}" if worker else name
        created.append(name)
        return create_database(postgres_url, name)

    yield make
    for name in created:
        drop_database(postgres_url, name)


@pytest.fixture
def pg_app(request, tmp_path, fresh_postgres_database):
    """An app on a PostgreSQL database of its own (the test module's ``PG_DATABASE``), with
    municipality "alpha" seeded: for tests that need PostgreSQL whatever the suite runs on."""
    from app.extensions import db

    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=fresh_postgres_database(request.module.PG_DATABASE))
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
