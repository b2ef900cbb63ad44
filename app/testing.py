"""Test helpers for Hamaynk and for plug-in authors (registered as a pytest plug-in through
the ``pytest11`` entry point, so ``pip install hamaynk`` gives every plug-in these fixtures).

    def test_my_service(hamaynk_app_factory):
        app = hamaynk_app_factory(plugins=["my_plugin"])

Apps built here use a fresh database per test (SQLite file under pytest's tmp_path, or the
PostgreSQL URL in HAMAYNK_TEST_DATABASE_URL), entry-point autoload off, and only the
plug-ins given.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
from typing import Any, Iterable

import pytest

PASSWORD = "test-password-123"


@functools.lru_cache(maxsize=None)
def password_hash(password: str = PASSWORD) -> str:
    # Hashing is deliberately slow; a dozen users per test would dominate the suite.
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)


def builtin_plugins() -> list[str]:
    """Import paths of the built-in services, read from hamaynk's own entry points."""
    eps = metadata.entry_points(group="hamaynk")
    return sorted(ep.value for ep in eps if ep.dist is not None and ep.dist.name == "hamaynk" and ep.value.startswith("plugins."))


def database_url(tmp_path) -> str:
    url = os.environ.get("HAMAYNK_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


def reset_schema(app) -> None:
    """Drop and recreate every table (the migrations-match-models test proves this equals
    running the migrations, and it is several times faster per test)."""
    from app.extensions import db
    from app.models import metadata

    with app.app_context():
        metadata.drop_all(db.engine)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        metadata.create_all(db.engine)
        app.appbuilder.sm.sync_roles()


def make_app(tmp_path, plugins: Iterable[Any] | None = None, **overrides: Any):
    from app import create_app

    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url(tmp_path),
        "HAMAYNK_PLUGINS": list(builtin_plugins() if plugins is None else plugins),
        "HAMAYNK_LOAD_ENTRYPOINTS": False,
        "HAMAYNK_SERVICE_DIRS": [],
        "HAMAYNK_STORAGE": "local",
        "HAMAYNK_STORAGE_PATH": str(tmp_path / "documents"),
    }
    settings.update(overrides)
    app = create_app("test", overrides=settings)
    reset_schema(app)
    return app


def seed_municipality(app, code: str, name: str | None = None) -> dict[str, Any]:
    """A municipality with departments and one user per staff role; returns their ids."""
    from sqlalchemy import select

    from app.demo import DEPARTMENTS, ensure_user
    from app.extensions import db
    from app.models import Department, Municipality
    from app.security import AUDITOR, CLERK, HEAD, MUNICIPAL_ADMIN, SPECIALIST

    with app.app_context():
        municipality = db.session.execute(select(Municipality).where(Municipality.code == code)).scalar_one_or_none()
        if municipality is None:
            municipality = Municipality(code=code, name_hy=name or code.title(), name_en=name or code.title(), name_ru=name or code.title())
            db.session.add(municipality)
            db.session.flush()
            for dcode, dhy, den, dru in DEPARTMENTS:
                db.session.add(Department(municipality_id=municipality.id, code=dcode, name_hy=dhy, name_en=den, name_ru=dru))
            db.session.commit()
        departments = {d.code: d.id for d in db.session.execute(select(Department).where(Department.municipality_id == municipality.id)).scalars()}
        users = {}
        sm = app.appbuilder.sm
        for key, role, dcode in (
            ("municipal_admin", MUNICIPAL_ADMIN, None),
            ("clerk", CLERK, "front_office"),
            ("specialist", SPECIALIST, "urban_planning"),
            ("head", HEAD, "urban_planning"),
            ("auditor", AUDITOR, None),
        ):
            user, _created = ensure_user(
                sm, username=f"{code}.{key}", email=f"{code}.{key}@test.example", first_name=key.title(), last_name=code.title(),
                password=PASSWORD, password_hash=password_hash(), roles=[role], municipality_id=municipality.id,
                department_id=departments.get(dcode) if dcode else None,
            )
            users[key] = user.id
        return {"id": municipality.id, "code": code, "departments": departments, "users": users}


def seed_system_admin(app) -> int:
    from app.demo import ensure_user
    from app.security import CITIZEN, SYSTEM_ADMIN

    with app.app_context():
        user, _ = ensure_user(app.appbuilder.sm, username="sysadmin", email="sysadmin@test.example", first_name="Sys", last_name="Admin",
                              password=PASSWORD, password_hash=password_hash(), roles=[SYSTEM_ADMIN], municipality_id=None)
        ensure_user(app.appbuilder.sm, username="citizen", email="citizen@test.example", first_name="Cit", last_name="Izen",
                    password=PASSWORD, password_hash=password_hash(), roles=[CITIZEN], municipality_id=None)
        return user.id


def login(client, username: str, password: str = PASSWORD):
    client.get("/logout/")
    response = client.post("/login/", data={"username": username, "password": password}, follow_redirects=False)
    assert response.status_code == 302, f"login as {username} failed: {response.status_code}"
    return response


@pytest.fixture
def hamaynk_app_factory(tmp_path):
    """Build apps with just the given plug-ins: ``hamaynk_app_factory(plugins=[...], **config)``."""
    made = []

    def factory(plugins: Iterable[Any] | None = None, **overrides: Any):
        app = make_app(tmp_path, plugins, **overrides)
        made.append(app)
        return app

    yield factory
    for app in made:
        from app.extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
