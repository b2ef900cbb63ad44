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
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the app is imported lazily: pytest loads this plug-in before any test
    from flask import Flask

    from app.domain.access import Actor
    from app.domain.declarations import RoleKey
    from app.plugins.registry import RegisteredService

PASSWORD = "test-password-123"


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    # Hashing is deliberately slow; a dozen users per test would dominate the suite.
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)


def builtin_plugins() -> list[str]:
    """Import paths of the built-in services, read from hamaynk's own entry points."""
    eps = metadata.entry_points(group="hamaynk")
    return sorted(
        ep.value for ep in eps if ep.dist is not None and ep.dist.name == "hamaynk" and ep.value.startswith("plugins.")
    )


def database_url(tmp_path) -> str:
    url = os.environ.get("HAMAYNK_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


def _server_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(url: str, name: str) -> str:
    """Create PostgreSQL database ``name``, empty (dropping any old one), on the server of
    ``url``; returns its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(_server_dsn(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    created = make_url(url).set(database=name).render_as_string(hide_password=False)
    # Empty now: what reset_schema noted of an earlier database of this name no longer holds
    # (a second test of a module recreates its database, and must build the schema again).
    _POSTGRES_FRESH.pop(created, None)
    return created


def drop_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_server_dsn(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_configure(config) -> None:
    """Under pytest-xdist each worker runs on a PostgreSQL database of its own, named after the
    one in HAMAYNK_TEST_DATABASE_URL plus the worker id (``hamaynk_suite_gw0``, …): tests empty
    every table between them, which must never happen under another worker's feet. Made fresh
    when the worker starts, dropped when it ends; processes a test starts inherit the URL."""
    url = os.environ.get("HAMAYNK_TEST_DATABASE_URL", "")
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker and url.startswith("postgresql"):
        from sqlalchemy.engine import make_url

        name = f"{make_url(url).database}_{worker}"
        os.environ["HAMAYNK_TEST_DATABASE_URL"] = create_database(url, name)
        config.add_cleanup(lambda: drop_database(url, name))


_SQLITE_TEMPLATE: dict[str, Path] = {}
# What a fresh schema holds: rows per table (roles and permissions) and sequence positions.
_PostgresContents = tuple[list[tuple[Any, list[dict[str, Any]]]], dict[str, int | None]]
_POSTGRES_FRESH: dict[str, _PostgresContents] = {}


def _rebuild_schema(app) -> None:
    from app.extensions import db
    from app.models import metadata

    metadata.drop_all(db.engine)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    metadata.create_all(db.engine)
    app.appbuilder.sm.sync_roles()


def _postgres_contents(conn) -> _PostgresContents:
    from app.models import metadata

    rows = [(table, [dict(row) for row in conn.execute(table.select()).mappings()]) for table in metadata.sorted_tables]
    sequences = conn.exec_driver_sql(
        "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()"
    )
    return [(table, found) for table, found in rows if found], dict(sequences.all())


def _postgres_restore(conn, rows, sequences) -> None:
    from app.models import metadata

    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    for table, found in rows:
        conn.execute(table.insert(), found)
    if sequences:
        # A sequence never used has no last value: its next one must be its first, 1.
        positions = (
            f"setval('\"{name}\"', {value or 1}, {str(value is not None).lower()})" for name, value in sequences.items()
        )
        conn.exec_driver_sql("SELECT " + ", ".join(positions))


def reset_schema(app) -> None:
    """Drop and recreate every table and sync roles (the migrations-match-models test proves
    this equals running the migrations).

    On PostgreSQL the first app of the process builds the schema and notes what it then holds
    (roles, permissions, sequence positions); later ones empty every table and put that back in
    one transaction, instead of syncing the roles again with a thousand statements. On SQLite
    files the first app of the process builds a template database and every later one starts
    from a copy of it: the same empty schema and roles, in milliseconds instead of most of a
    second, which is what keeps a thousand tests each with a fresh app fast.
    """
    from app.extensions import db

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        if url.startswith("postgresql"):
            fresh = _POSTGRES_FRESH.get(url)
            if fresh is None:
                _rebuild_schema(app)
                with db.engine.connect() as conn:
                    _POSTGRES_FRESH[url] = _postgres_contents(conn)
            else:
                with db.engine.begin() as conn:
                    _postgres_restore(conn, *fresh)
            return
        if not url.startswith("sqlite:///") or ":memory:" in url:
            _rebuild_schema(app)
            return
        target = Path(url[len("sqlite:///") :])
        template = _SQLITE_TEMPLATE.get("path")
        if template is None:
            _rebuild_schema(app)
            db.session.remove()
            db.engine.dispose()  # closing the last connection folds the WAL into the file
            template = Path(tempfile.mkdtemp(prefix="hamaynk-schema-")) / "template.sqlite3"
            shutil.copyfile(target, template)
            _SQLITE_TEMPLATE["path"] = template
            return
        db.session.remove()
        db.engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(template, target)


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
    # create_app loaded the builder services the database held before the reset (on a shared
    # PostgreSQL database, an earlier test's); the test config looks for changes only once an
    # hour, so load them again from the reset database now.
    from app.plugins import builder_services

    builder_services.refresh(app, force=True)
    return app


def seed_municipality(app, code: str, name: str | None = None) -> dict[str, Any]:
    """A municipality with departments and one user per staff role; returns their ids."""
    from sqlalchemy import select

    from app.demo import DEPARTMENTS, ensure_user
    from app.domain.roles import AUDITOR, CLERK, HEAD, MUNICIPAL_ADMIN, SPECIALIST
    from app.extensions import db
    from app.models import Department, Municipality

    with app.app_context():
        municipality = db.session.execute(select(Municipality).where(Municipality.code == code)).scalar_one_or_none()
        if municipality is None:
            municipality = Municipality(
                code=code, name_hy=name or code.title(), name_en=name or code.title(), name_ru=name or code.title()
            )
            db.session.add(municipality)
            db.session.flush()
            for department_code, dhy, den, dru in DEPARTMENTS:
                db.session.add(
                    Department(
                        municipality_id=municipality.id, code=department_code, name_hy=dhy, name_en=den, name_ru=dru
                    )
                )
            db.session.commit()
        departments = {
            d.code: d.id
            for d in db.session.execute(
                select(Department).where(Department.municipality_id == municipality.id)
            ).scalars()
        }
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
                sm,
                username=f"{code}.{key}",
                email=f"{code}.{key}@test.example",
                first_name=key.title(),
                last_name=code.title(),
                password=PASSWORD,
                password_hash=password_hash(),
                roles=[role],
                municipality_id=municipality.id,
                department_id=departments.get(dcode) if dcode else None,
            )
            users[key] = user.id
        return {"id": municipality.id, "code": code, "departments": departments, "users": users}


def seed_system_admin(app) -> int:
    from app.demo import ensure_user
    from app.domain.roles import CITIZEN, SYSTEM_ADMIN

    with app.app_context():
        user, _ = ensure_user(
            app.appbuilder.sm,
            username="sysadmin",
            email="sysadmin@test.example",
            first_name="Sys",
            last_name="Admin",
            password=PASSWORD,
            password_hash=password_hash(),
            roles=[SYSTEM_ADMIN],
            municipality_id=None,
        )
        ensure_user(
            app.appbuilder.sm,
            username="citizen",
            email="citizen@test.example",
            first_name="Cit",
            last_name="Izen",
            password=PASSWORD,
            password_hash=password_hash(),
            roles=[CITIZEN],
            municipality_id=None,
        )
        return user.id


def make_citizen(
    app: Flask,
    email: str,
    *,
    name: str = "Anna Petrosyan",
    password: str = PASSWORD,
    verified: bool = True,
    language: str = "hy",
) -> int:
    """Create a citizen account as registration leaves it (username = the e-mail address,
    citizen role, a :class:`~app.models.CitizenProfile`), its e-mail verified unless
    ``verified`` is false; returns the user id. Sign in with :func:`login` (``email``, ``password``)."""
    from app.demo import ensure_user
    from app.domain.roles import CITIZEN
    from app.extensions import current_appbuilder, db
    from app.models import CitizenProfile
    from app.models.base import utcnow

    first, _, last = name.partition(" ")
    with app.app_context():
        user, _created = ensure_user(
            current_appbuilder().sm,
            username=email.lower(),
            email=email.lower(),
            first_name=first,
            last_name=last or "-",
            password=password,
            password_hash=password_hash() if password == PASSWORD else None,
            roles=[CITIZEN],
            municipality_id=None,
        )
        if db.session.query(CitizenProfile).filter_by(user_id=user.id).one_or_none() is None:
            db.session.add(
                CitizenProfile(user_id=user.id, language=language, email_verified_at=utcnow() if verified else None)
            )
        db.session.commit()
        return int(user.id)


def login(client, username: str, password: str = PASSWORD):
    client.post("/logout/")
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


# -- helpers for plug-in authors: fill, attach, apply, walk ---------------------------------------
#
#     def test_my_service(hamaynk_app):
#         filed = apply(hamaynk_app, "my-service", data={"address": "1 Main St"})
#         assert walk(hamaynk_app, filed.id, outcome="approved") == "approved"

import io  # noqa: E402
import math  # noqa: E402
import struct  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Callable, Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from app.domain.tracking import office_today  # noqa: E402

SAMPLE_PSN = "1234567890"
SAMPLE_PHONE = "+37491123456"
DEFAULT_REJECTION = "The application does not meet the requirements."

# -- real files, built from their specifications ------------------------------------------------


def make_pdf(text: str = "Hamaynk") -> bytes:
    """A minimal but complete PDF 1.4 (catalog, page tree, one page, xref with true offsets)."""
    stream = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_png(width: int = 2, height: int = 2) -> bytes:
    """An RGB PNG: signature, IHDR, zlib-compressed IDAT (filter byte per row), IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def make_jpeg() -> bytes:
    """A baseline JPEG of one grey pixel: JFIF header, quantisation table, frame, one-code
    Huffman tables (DC category 0, AC end-of-block) and a scan of two zero bits."""

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15) + b"\x00"
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xDB, b"\x00" + b"\x01" * 64)
        + segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
        + segment(0xC4, b"\x00" + one_code)
        + segment(0xC4, b"\x10" + one_code)
        + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + b"\x3f"
        + b"\xff\xd9"
    )


SAMPLE_FILES = {
    "pdf": (make_pdf(), "application/pdf"),
    "png": (make_png(), "image/png"),
    "jpeg": (make_jpeg(), "image/jpeg"),
}


def attach(kind: str = "pdf", filename: str | None = None):
    """An in-memory upload (Werkzeug ``FileStorage``) holding a tiny but valid file of ``kind``
    ("pdf", "png" or "jpeg"), as a browser would send it."""
    from werkzeug.datastructures import FileStorage

    if kind not in SAMPLE_FILES:
        raise ValueError(f"attach() makes {sorted(SAMPLE_FILES)} files, not {kind!r}")
    content, mime = SAMPLE_FILES[kind]
    extension = "jpg" if kind == "jpeg" else kind
    return FileStorage(stream=io.BytesIO(content), filename=filename or f"sample.{extension}", content_type=mime)


def _sample_number(spec, whole: bool) -> str:
    low, high = spec.min_value, spec.max_value
    value = 1 if low is None else low
    if high is not None and value > high:
        value = high
    return str(math.ceil(value) if whole else value)


def _sample_text(spec, text: str) -> str:
    if spec.max_length is not None:
        text = text[: spec.max_length]
    if spec.min_length is not None and len(text) < spec.min_length:
        text = text + "x" * (spec.min_length - len(text))
    return text


def sample_data(service, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Raw form input (as a browser posts it) that satisfies the declaration: the first choice
    of every choice field, a valid PSN and phone, today's date, numbers within bounds, text
    within length limits. Every field gets a value, so whatever a condition makes visible or
    required is filled, and validation drops what a condition hides. ``overrides`` wins: use
    it for rules a declaration cannot express (patterns, plug-in validators)."""
    data: dict[str, Any] = {}
    for spec in service.fields:
        kind = spec.type
        if kind == "choice":
            value: Any = spec.choices[0].value if spec.choices else ""
        elif kind == "multichoice":
            value = [spec.choices[0].value] if spec.choices else []
        elif kind == "integer":
            value = _sample_number(spec, whole=True)
        elif kind == "decimal":
            value = _sample_number(spec, whole=False)
        elif kind == "date":
            value = office_today().isoformat()
        elif kind == "boolean":
            value = True
        elif kind == "email":
            value = "applicant@example.com"
        elif kind == "phone":
            value = SAMPLE_PHONE
        elif kind == "psn":
            value = SAMPLE_PSN
        elif kind == "address":
            value = _sample_text(spec, "1 Abovyan Street, Yerevan")
        else:
            value = _sample_text(spec, "Sample text")
        data[spec.name] = value
    data.update(overrides or {})
    return data


def _registered(app, service_key: str, version: int | None = None):
    from app.plugins import builder_services
    from app.plugins import runtime as plugin_runtime

    # Outside a request nothing else notices services saved in the service builder.
    builder_services.refresh_if_changed(app)
    registered = plugin_runtime.registry(app).get(service_key, version)
    if registered is None:
        known = plugin_runtime.registry(app).keys()
        raise AssertionError(
            f"no service {service_key!r}" + (f" version {version}" if version else "") + f"; registered: {known}"
        )
    return registered


class FormChecker:
    """``check(raw) -> (cleaned, errors)``: validates raw form input exactly as every channel
    does; ``check.service`` and ``check.registered`` are the declaration."""

    def __init__(self, app: Flask, registered: RegisteredService, path: str) -> None:
        self.app = app
        self.registered = registered
        self.service = registered.service
        self._path = path

    def __call__(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        from app.plugins import runtime as plugin_runtime

        with self.app.test_request_context(self._path):
            return plugin_runtime.validate_application_data(self.service, raw, self.app)


def form_checker(app, service_key: str, version: int | None = None, locale: str | None = None) -> FormChecker:
    """A :class:`FormChecker` for a service: declared rules, then plug-ins'
    ``validate_application``, with messages in ``locale`` (the default language, Armenian,
    when not given)."""
    path = f"/?_l_={locale}" if locale else "/"
    return FormChecker(app, _registered(app, service_key, version), path)


def discovered_plugins(**config: Any) -> dict[str, Any]:
    """The plug-ins an install finds, by name, as ``flask hamaynk plugins`` lists them: each
    record has ``status`` ("active", "disabled", "blocked"), ``source`` ("installed" for an
    entry point), ``error`` and ``services`` (key, version pairs). Entry points are loaded
    unless ``HAMAYNK_LOAD_ENTRYPOINTS=False`` is passed."""
    from app.plugins.host import build_plugin_host

    host = build_plugin_host({"HAMAYNK_LOAD_ENTRYPOINTS": True, **config})
    return dict(host.records)


def fill_form(app, service_key: str, data: Mapping[str, Any], version: int | None = None) -> dict[str, Any]:
    """Validate ``data`` as the service's form does (declared rules, then every plug-in's
    ``validate_application``); return the cleaned data, or raise AssertionError listing the
    errors (in English)."""
    from app.domain.intake import HOOK_FAILED_KEY
    from app.plugins import runtime as plugin_runtime

    service = _registered(app, service_key, version).service
    with app.test_request_context("/?_l_=en"):
        cleaned, errors = plugin_runtime.validate_application_data(service, data, app)
        if HOOK_FAILED_KEY in errors:
            # The clerk sees a generic message; the author's test needs the plug-in and hook
            # that failed (HookFailed), so ask the hooks again and let it raise.
            plugin_runtime.host(app).validate_application(service, cleaned)
    if errors:
        listed = "; ".join(f"{name}: {message}" for name, message in sorted(errors.items()))
        raise AssertionError(f"the form of {service_key!r} refused the data: {listed}")
    return cleaned


def _municipality(app, code: str):
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Municipality

    municipality = db.session.execute(select(Municipality).where(Municipality.code == code)).scalar_one_or_none()
    if municipality is None:
        seed_municipality(app, code)
        municipality = db.session.execute(select(Municipality).where(Municipality.code == code)).scalar_one()
    return municipality


def staff_user(
    app, municipality_id: int, role_key: RoleKey, department_id: int | None = None, exclude: Sequence[int] = ()
) -> int:
    """The id of an active staff member with ``role_key`` (a Step.role) in that municipality
    (and department, when given) who is not in ``exclude``; one is created when none is."""
    from sqlalchemy import select

    from app.demo import ensure_user
    from app.domain.roles import ROLE_BY_KEY
    from app.extensions import db
    from app.models import Municipality, StaffProfile

    role_name = ROLE_BY_KEY[role_key]
    stmt = select(StaffProfile).where(StaffProfile.municipality_id == municipality_id).order_by(StaffProfile.user_id)
    if department_id is not None:
        stmt = stmt.where(StaffProfile.department_id == department_id)
    for profile in db.session.execute(stmt).scalars():
        user = profile.user
        if user.active and user.id not in exclude and any(r.name == role_name for r in user.roles):
            return user.id
    code = db.session.get_one(Municipality, municipality_id).code
    number = 1
    while app.appbuilder.sm.find_user(username=f"{code}.{role_key}.{number}") is not None:
        number += 1
    username = f"{code}.{role_key}.{number}"
    user, _created = ensure_user(
        app.appbuilder.sm,
        username=username,
        email=f"{username}@test.example",
        first_name=role_key.title(),
        last_name=code.title(),
        password=PASSWORD,
        password_hash=password_hash(),
        roles=[role_name],
        municipality_id=municipality_id,
        department_id=department_id,
    )
    return user.id


def add_staff(
    app: Flask,
    municipality: Mapping[str, Any],
    username: str,
    roles: Sequence[str],
    department: str | None = None,
    *,
    active: bool = True,
) -> int:
    """Create (or find) a staff member of a seeded ``municipality`` (one of ``app.seeded``'s
    dicts) with the stored role names ``roles``, in ``department`` (a department code)."""
    from app.demo import ensure_user
    from app.extensions import current_appbuilder, db

    with app.app_context():
        user, _created = ensure_user(
            current_appbuilder().sm,
            username=username,
            email=f"{username}@test.example",
            first_name=username.title(),
            last_name=str(municipality["code"]).title(),
            password=PASSWORD,
            password_hash=password_hash(),
            roles=list(roles),
            municipality_id=municipality["id"],
            department_id=municipality["departments"].get(department) if department else None,
        )
        user.active = active
        db.session.commit()
        return int(user.id)


def actor_for(user_id: int) -> Actor:
    """The :class:`~app.domain.access.Actor` of user ``user_id``, as a request builds it for
    the domain functions (inside an app context)."""
    from app.domain import access
    from app.extensions import db

    actor = access.load_actor(db.session, user_id)
    if actor is None:
        raise AssertionError(f"no user {user_id}")
    return actor


def file_application(
    app: Flask,
    service_key: str,
    municipality: str = "alpha",
    *,
    data: Mapping[str, Any] | None = None,
    by: int | None = None,
    submit: bool = True,
    applicant_name: str = "Armen Petrosyan",
    **applicant: Any,
) -> int:
    """File (and submit) an application straight through the workflow, without documents:
    the quick way to get a case into the inbox. ``data`` is used as it is (already clean);
    by default it is :func:`sample_data` run through :func:`fill_form`. ``by`` is the filing
    user's id (the seeded municipality's clerk by default); ``applicant`` holds the other
    ``applicant_*`` columns. Recorded as filed at the office. Returns the application's id."""
    from app.domain import channels, workflow
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    service = _registered(app, service_key).service
    if data is None:
        data = fill_form(app, service_key, sample_data(service))
    seeded = app.seeded[municipality]  # type: ignore[attr-defined]
    filer = by if by is not None else seeded["users"]["clerk"]
    with app.app_context():
        application, _secret = workflow.new_application(
            db.session,
            service=service,
            municipality_id=seeded["id"],
            data=dict(data),
            applicant_name=applicant_name,
            created_by_id=filer,
            channel=channels.OFFICE,
            **applicant,
        )
        if submit:
            workflow.submit(
                db.session,
                application,
                actor=actor_for(filer),
                expected_version=application.version,
                host=plugin_runtime.host(app),
            )
        db.session.commit()
        return int(application.id)


# The once-a-minute touch of the sign-in session (app.domain.sessions.touch): when it comes
# depends on the clock, not on the data, so counts leave it out unless asked for it.
_SESSION_TOUCH = re.compile(r"\s*UPDATE auth_session SET last_seen_at=\S+ WHERE ", re.IGNORECASE)


def recorded_statements(app: Flask, run: Callable[[], Any], *, session_touches: bool = False) -> list[str]:
    """The SQL statements ``run()`` sends, in order: tests assert query counts, never times.
    The sign-in session's touch (at most one UPDATE a minute, app.domain.sessions) is left
    out unless ``session_touches``: a count must not depend on how long a test ran."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if session_touches or not _SESSION_TOUCH.match(statement):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return seen


def count_statements(app: Flask, run: Callable[[], Any]) -> int:
    return len(recorded_statements(app, run))


def cold_statements(app: Flask, client: Any, path: str) -> int:
    """The statements of one GET of ``path`` started from an empty database session, as every
    browser request is (each has its own). Counted warm, a test client's request reuses the
    session of the test's app context, whose identity map holds what earlier requests loaded
    (the user's roles and groups) only weakly: whether they are still there depends on when the
    garbage collector last ran, so on what ran before (+2 statements either way). Use this for
    counts compared across requests."""
    from app.extensions import db

    def request() -> None:
        db.session.remove()
        client.get(path)

    return count_statements(app, request)


@dataclass(frozen=True)
class Filed:
    """What :func:`apply` filed: the application's id, tracking number, access code and status."""

    id: int
    tracking_number: str
    access_code: str
    status: str


def enable_service(app: Flask, municipality: int | str | Mapping[str, Any], service_key: str) -> None:
    """Offer ``service_key`` in a municipality (its id, seeded code, or one of ``app.seeded``'s
    dicts), as its admin would on the Services page; nothing happens when it is offered.

    The office refuses to offer a service whose steps name a department the municipality
    lacks; like :func:`walk`, this first creates such departments (named by their code), so
    a plug-in's tests can use department codes of their own."""
    from sqlalchemy import select

    from app.domain.activations import missing_departments, set_activation
    from app.extensions import db
    from app.models import Department, ServiceActivation
    from app.plugins import runtime as plugin_runtime

    if isinstance(municipality, int):
        municipality_id = municipality
    else:
        seeded = app.seeded[municipality] if isinstance(municipality, str) else municipality  # type: ignore[attr-defined]
        municipality_id = int(seeded["id"])
    with app.app_context():
        row = db.session.execute(
            select(ServiceActivation).where(
                ServiceActivation.municipality_id == municipality_id, ServiceActivation.service_key == service_key
            )
        ).scalar_one_or_none()
        if row is not None and row.enabled:
            return
        registered = plugin_runtime.registry(app).get(service_key)
        if registered is not None:
            for code in dict.fromkeys(
                step.department or "" for step in missing_departments(db.session, registered, municipality_id)
            ):
                db.session.add(
                    Department(municipality_id=municipality_id, code=code, name_hy=code, name_en=code, name_ru=code)
                )
        set_activation(
            db.session,
            plugin_runtime.registry(app),
            municipality_id,
            service_key,
            enabled=True,
            fee_override=None,
            deadline_override=None,
            department_id=row.department_id if row else None,
            actor_id=None,
        )
        db.session.commit()


def apply(
    app,
    service_key: str,
    municipality: str = "alpha",
    data: Mapping[str, Any] | None = None,
    documents: Mapping[str, Any] | None = None,
    version: int | None = None,
    applicant_name: str = "Test Applicant",
    *,
    skip_documents: bool = False,
) -> Filed:
    """File and submit an application at the front office of ``municipality`` as its clerk
    would (the municipality is created if missing, the service enabled there if it is not):
    the office's own checks of the form (declared rules and every ``validate_application``)
    and of the document checklist (required and conditional documents, types, sizes,
    counts), through :func:`app.domain.intake.file`. A refusal raises
    :class:`ApplicationRefused` (an ``AssertionError``) whose ``errors`` name each problem,
    so a plug-in's tests can test its own rules.

    ``data`` defaults to :func:`sample_data`. ``documents`` maps a checklist key to one
    upload or a list of them (see :func:`attach`) and is checked as given; left out, every
    document the data makes required gets one sample file of an accepted type.
    ``skip_documents=True`` files with no documents at all, skipping the checklist (only
    for tests about something else; the office never does this).
    ``version`` files under that version instead of the newest.
    """
    from app.domain import channels, intake
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    service = _registered(app, service_key, version).service
    raw = sample_data(service) if data is None else data
    cleaned = fill_form(app, service_key, raw, version)
    if skip_documents:
        if documents:
            raise AssertionError("pass documents or skip_documents=True, not both")
        return _apply_without_documents(app, service, municipality, raw, applicant_name)
    with app.test_request_context("/?_l_=en"):
        municipality_row = _municipality(app, municipality)
        enable_service(app, municipality_row.id, service_key)
        departments = {d.code: d.id for d in municipality_row.departments}
        clerk_id = staff_user(app, municipality_row.id, "clerk", departments.get("front_office"))
        if documents is None:
            documents = {
                req.key: [attach(next((t for t in req.types if t in SAMPLE_FILES), "pdf"))]
                for req in service.documents
                if req.is_required(cleaned)
            }
        uploads: dict[str, list[Any]] = {}
        for key, files in documents.items():
            if service.document(key) is None:
                raise AssertionError(
                    f"{service_key!r} has no document {key!r} (checklist: {[d.key for d in service.documents]})"
                )
            uploads[key] = list(files) if isinstance(files, (list, tuple)) else [files]
        try:
            # The front office's own path (app.domain.intake), so a plug-in's tests file as clerks do.
            filed = intake.file(
                db.session,
                plugin_runtime.host(app),
                get_storage(app),
                actor_for(clerk_id),
                municipality_id=municipality_row.id,
                service_key=service_key,
                service_version=service.version,
                data=raw,
                applicant={"name": applicant_name, "psn": SAMPLE_PSN, "phone": SAMPLE_PHONE},
                uploads=uploads,
                channel=channels.OFFICE,
            )
        except intake.FilingRefused as exc:
            raise ApplicationRefused(service_key, exc.errors()) from None
        application = filed.application
        assert filed.access_code is not None  # a new application always has one
        return Filed(application.id, application.tracking_number, filed.access_code, application.status)


class ApplicationRefused(AssertionError):
    """The office refused what :func:`apply` filed. ``errors`` maps ``data.<field>``,
    ``applicant.<field>`` and ``documents.<key>`` to the message (in English)."""

    def __init__(self, service_key: str, errors: Mapping[str, str]):
        self.service_key = service_key
        self.errors = dict(errors)
        listed = "; ".join(f"{name}: {message}" for name, message in sorted(self.errors.items()))
        super().__init__(f"the office refused the application for {service_key!r}: {listed}")


def _apply_without_documents(app, service, municipality: str, raw: Mapping[str, Any], applicant_name: str) -> Filed:
    """:func:`apply` with ``skip_documents``: the same form checks, no checklist."""
    from app.domain import channels, intake, workflow
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    with app.test_request_context("/?_l_=en"):
        municipality_row = _municipality(app, municipality)
        enable_service(app, municipality_row.id, service.key)
        departments = {d.code: d.id for d in municipality_row.departments}
        clerk_id = staff_user(app, municipality_row.id, "clerk", departments.get("front_office"))
        host = plugin_runtime.host(app)
        data, errors = intake.validate_form_data(host, service, raw)
        if errors:
            raise ApplicationRefused(service.key, {f"data.{k}": v for k, v in errors.items()})
        actor = actor_for(clerk_id)
        application, secret = workflow.new_application(
            db.session,
            service=service,
            municipality_id=municipality_row.id,
            data=data,
            applicant_name=applicant_name,
            created_by_id=clerk_id,
            channel=channels.OFFICE,
            applicant_psn=SAMPLE_PSN,
            applicant_phone=SAMPLE_PHONE,
        )
        workflow.submit(db.session, application, actor=actor, expected_version=application.version, host=host)
        db.session.commit()
        return Filed(application.id, application.tracking_number, secret, application.status)


def walk(
    app,
    application_id: int,
    outcome: str = "approved",
    as_roles: Mapping[str, int] | None = None,
    reason: str = DEFAULT_REJECTION,
) -> str:
    """Walk an application along its route as the right people; return its final status.

    At each step a staff member with the step's role in the responsible department of the
    application's municipality acts — found, or created (with the department, when the step
    names one the municipality lacks); where the step forbids self-approval, someone who has
    not acted on the application yet. ``outcome="approved"`` approves every step;
    ``"rejected"`` approves up to the first step that allows rejecting and rejects there with
    ``reason``. ``as_roles`` maps a step key or role key to the user id who acts instead.
    """
    from sqlalchemy import select

    from app.domain import statuses, workflow
    from app.domain.errors import NotAllowed
    from app.extensions import db
    from app.models import Application, Department, TransitionRecord

    if outcome not in (statuses.APPROVED, statuses.REJECTED):
        raise ValueError(f"outcome must be 'approved' or 'rejected', not {outcome!r}")
    as_roles = dict(as_roles or {})
    from app.plugins import builder_services
    from app.plugins import runtime as plugin_runtime

    builder_services.refresh_if_changed(app)
    with app.test_request_context("/?_l_=en"):
        for _guard in range(100):
            application = db.session.get(Application, application_id)
            if application is None:
                raise AssertionError(f"no application {application_id}")
            db.session.refresh(application)
            if application.status not in workflow.AT_STEP:
                return application.status
            service = workflow.service_of(application, plugin_runtime.registry(app))
            step = workflow.current_step(application, service)
            if step is None:
                raise AssertionError(f"application {application_id} is {application.status} at no step")
            try:
                department_id = workflow.responsible_department_id(db.session, application, step)
            except NotAllowed:
                db.session.add(
                    Department(
                        municipality_id=application.municipality_id,
                        code=step.department,
                        name_hy=step.department,
                        name_en=step.department,
                        name_ru=step.department,
                    )
                )
                db.session.commit()
                department_id = workflow.responsible_department_id(db.session, application, step)
            actor_id = as_roles.get(step.key) or as_roles.get(step.role)
            if actor_id is None:
                exclude: tuple[int, ...] = ()
                if step.forbid_self_approval:
                    acted = set(
                        db.session.execute(
                            select(TransitionRecord.actor_id).where(TransitionRecord.application_id == application.id)
                        ).scalars()
                    )
                    acted |= {application.created_by_id, application.applicant_user_id}
                    exclude = tuple(uid for uid in acted if uid is not None)
                actor_id = staff_user(app, application.municipality_id, step.role, department_id, exclude)
            try:
                if outcome == statuses.REJECTED and workflow.REJECT in step.actions:
                    workflow.reject(
                        db.session,
                        application,
                        actor=actor_for(actor_id),
                        expected_version=application.version,
                        reason=reason,
                        host=plugin_runtime.host(app),
                    )
                else:
                    workflow.approve(
                        db.session,
                        application,
                        actor=actor_for(actor_id),
                        expected_version=application.version,
                        host=plugin_runtime.host(app),
                    )
                workflow.commit(db.session)
            except BaseException:
                db.session.rollback()
                raise
        raise AssertionError(f"application {application_id} did not finish within 100 steps")


@pytest.fixture
def hamaynk_app(hamaynk_app_factory):
    """An app with every built-in service and one seeded municipality, "alpha" (one user per
    staff role: ``alpha.clerk``, ``alpha.specialist``, …; ids in ``app.seeded["alpha"]``)."""
    app = hamaynk_app_factory()
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    return app


# -- questions to the specialist ----------------------------------------------------------------


def ask_question(
    app: Flask,
    citizen_id: int,
    *,
    municipality: str = "alpha",
    department: str | None = "urban_planning",
    application_id: int | None = None,
    subject: str = "When is the office open?",
    body: str = "Please tell me the opening hours.",
    files: Sequence[Any] = (),
) -> int:
    """Ask a question as citizen ``citizen_id`` through :func:`app.domain.questions.ask` (as
    the portal does): about their application ``application_id``, or a general one to
    ``department`` (a code) of the seeded ``municipality``. Returns the question's id."""
    from app.domain import questions
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    seeded = app.seeded[municipality]  # type: ignore[attr-defined]
    with app.test_request_context("/?_l_=en"):
        question = questions.ask(
            db.session,
            get_storage(app),
            actor_for(citizen_id),
            subject=subject,
            body=body,
            files=list(files),
            application_id=application_id,
            municipality_id=None if application_id else seeded["id"],
            department_id=None if application_id or department is None else seeded["departments"][department],
            registry=plugin_runtime.registry(app),
            config=app.config,
        )
        db.session.commit()
        return int(question.id)


class SmtpInbox:
    """A real SMTP server (aiosmtpd) on a free loopback port that keeps what it receives:
    ``messages`` holds ``(mail_from, rcpt_tos, email.message.EmailMessage)``. ``start()`` and
    ``stop()`` may be called again (the same port), to test an outage of the mail server.

    For the delivery faults it can hold one conversation (``hold_at``) at RCPT, before the
    message is handed over, or at the end of DATA, after it was: ``holding`` is set then, and
    the conversation goes on once ``release`` is set. As a context manager it releases any held
    conversation (which would keep it from stopping) and stops."""

    def __init__(self) -> None:
        import socket
        import threading

        self.messages: list[tuple[str, list[str], Any]] = []
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self._controller: Any = None
        self.hold_at: str | None = None
        # Whether a message held at DATA is taken once released (else the server refuses it).
        self.take_held = True
        self.holding = threading.Event()
        self.release = threading.Event()
        # The server runs in a thread of its own; the test reads from another.
        self.lock = threading.Lock()

    async def _hold(self, stage: str) -> None:
        import asyncio

        if self.hold_at != stage:
            return
        self.hold_at = None  # one conversation only
        self.holding.set()
        while not self.release.is_set():
            await asyncio.sleep(0.05)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        await self._hold("rcpt")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        # Like a real server, it queues the message before answering: a client that dies
        # while the answer is pending leaves a message that was taken.
        if self.hold_at != "data" or self.take_held:
            message = message_from_bytes(envelope.content, policy=policy.default)
            with self.lock:
                self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        await self._hold("data")
        return "250 Message accepted for delivery"

    def counts(self) -> Counter[str]:
        """How often each Message-ID arrived (exactly once each, when delivery is right)."""
        with self.lock:
            return Counter(str(message["Message-ID"]) for _from, _to, message in self.messages)

    def refuses(self) -> bool:
        """Whether the port refuses connections (the server is down)."""
        import socket

        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return True
        return False

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpInbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.stop()


@functools.cache
def _catalog(locale: str) -> Any:
    from babel.support import Translations

    return Translations.load(str(Path(__file__).parent / "translations"), [locale])


def in_armenian(msgid: str) -> str:
    """``msgid`` as Armenian pages, commands and domain messages say it (their default
    language), for asserting on text produced outside an English request."""
    return _catalog("hy").gettext(msgid)
