"""Backup and restore (app.domain.backup, `flask hamaynk backup` / `restore`): a realistic
instance (applications with uploaded documents, issued documents, a question's attachment
file kept from a refused submission) is backed up, restored into a fresh empty instance, and
every table's row count and every stored file's hash compared; a non-empty instance is refused
unless forced; a damaged archive is refused before anything is written. On SQLite and on
PostgreSQL (marker ``postgres``)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from issued_kit import issue_directly

from app.domain import backup, sweep
from app.domain.storage import get_storage, new_key
from app.extensions import db
from app.plugins import runtime as plugin_runtime
from app.testing import apply, make_app, make_pdf, sample_data, seed_municipality, seed_system_admin
from plugins import samples

RESIDENCE = "residence-certificate"


def seed(app) -> None:
    service = plugin_runtime.registry(app).get(RESIDENCE).service
    data = sample_data(service, samples.overrides(RESIDENCE))
    for name in ("Արմեն Պետրոսյան", "Anna Hakobyan"):
        filed = apply(app, RESIDENCE, data=data, applicant_name=name)
        issue_directly(app, filed.id, content=make_pdf(f"issued to {name}"))
    apply(app, RESIDENCE, municipality="beta", data=data, applicant_name="Beta Applicant")
    # An orphan: no row names it, so the backup leaves it out.
    get_storage(app).put(new_key(), io.BytesIO(b"orphan"))


def counts(app) -> dict[str, int]:
    with app.app_context(), db.engine.connect() as conn:
        return backup.table_counts(conn)


def file_hashes(app) -> dict[str, str]:
    """sha256 of every stored object some row names."""
    storage = get_storage(app)
    with app.app_context():
        keys = sweep.referenced_keys(db.session)
        db.session.rollback()
    found = {}
    for key in keys:
        with storage.open(key) as f:
            found[key] = hashlib.sha256(f.read()).hexdigest()
    return found


def run(app, *args: str):
    # pytest-flask keeps the ``app`` fixture's request context pushed: push this app's on top,
    # or the command would run on that one.
    with app.app_context():
        return app.test_cli_runner().invoke(args=["hamaynk", *args])


def round_trip(source, target, archive: Path) -> None:
    seed(source)
    before_counts, before_files = counts(source), file_hashes(source)
    assert before_counts["application"] == 3 and before_counts["issued_document"] == 2
    # Every document of the three applications and the two issued documents.
    assert len(before_files) == before_counts["application_document"] + 2 >= 5

    made = run(source, "backup", str(archive))
    assert made.exit_code == 0, made.output
    assert f"{len(before_files)} file(s)" in made.output
    with tarfile.open(archive) as tar:
        manifest = backup.read_manifest(tar)
    assert manifest["tables"] == before_counts
    assert {k: v["sha256"] for k, v in manifest["objects"].items()} == before_files

    assert counts(target)["application"] == 0
    restored = run(target, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert counts(target) == before_counts
    assert file_hashes(target) == before_files
    # Exactly the named files came back: no orphan, nothing else.
    assert sorted(get_storage(target).iter_keys()) == sorted(before_files)

    # Now it is not empty: refused, unless forced.
    again = run(target, "restore", str(archive))
    assert again.exit_code != 0 and "not empty" in again.output
    forced = run(target, "restore", str(archive), "--force")
    assert forced.exit_code == 0, forced.output
    assert counts(target) == before_counts and file_hashes(target) == before_files


def fresh(tmp_path: Path, name: str, **overrides):
    return make_app(tmp_path / name, **overrides)


def empty_like(app, tmp_path: Path, request):
    """A fresh empty instance on the same kind of database as ``app`` (the suite may run on
    PostgreSQL), with a database and storage of its own."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        url = request.getfixturevalue("fresh_postgres_database")(f"{PG_DATABASE}_{request.node.name[-20:]}")
    else:
        (tmp_path / "restored").mkdir()
        url = f"sqlite:///{tmp_path / 'restored' / 'test.sqlite3'}"
    return fresh(tmp_path, "restored", SQLALCHEMY_DATABASE_URI=url)


def test_backup_and_restore_into_an_empty_instance(app, tmp_path, request):
    target = empty_like(app, tmp_path, request)
    try:
        round_trip(app, target, tmp_path / "hamaynk.tar")
    finally:
        with target.app_context():
            db.engine.dispose()


def test_a_damaged_archive_is_refused_before_anything_is_written(app, tmp_path, request):
    seed(app)
    archive = tmp_path / "hamaynk.tar"
    assert run(app, "backup", str(archive)).exit_code == 0
    assert run(app, "backup", str(archive)).exit_code != 0  # never overwrites a backup
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith(backup.FILES))
        offset = member.offset_data
    data = bytearray(archive.read_bytes())
    data[offset + 10] ^= 0xFF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))

    target = empty_like(app, tmp_path, request)
    try:
        result = run(target, "restore", str(damaged))
        assert result.exit_code != 0 and "sha256 does not match" in result.output
        assert counts(target)["application"] == 0
        assert list(get_storage(target).iter_keys()) == []
    finally:
        with target.app_context():
            db.engine.dispose()


def test_the_manifest_is_json_with_a_hash_per_file(app, tmp_path):
    seed(app)
    archive = tmp_path / "hamaynk.tar"
    assert run(app, "backup", str(archive)).exit_code == 0
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile(backup.MANIFEST))
    kind = "postgresql" if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql") else "sqlite"
    assert names[0] == backup.DATABASE_MEMBERS[kind] and names[-1] == backup.MANIFEST
    assert manifest["format"] == backup.FORMAT and manifest["database"]["kind"] == kind
    assert all(len(entry["sha256"]) == 64 and entry["size"] > 0 for entry in manifest["objects"].values())
    with app.app_context():
        referenced = sweep.referenced_keys(db.session)
    assert referenced == set(manifest["objects"])


PG_DATABASE = "hamaynk_backup"


@pytest.mark.postgres
def test_backup_and_restore_into_an_empty_instance_postgres(tmp_path, fresh_postgres_database):
    source = fresh(tmp_path, "source", SQLALCHEMY_DATABASE_URI=fresh_postgres_database(f"{PG_DATABASE}_source"))
    source.seeded = {
        "alpha": seed_municipality(source, "alpha", "Alpha"),
        "beta": seed_municipality(source, "beta", "Beta"),
        "sysadmin": seed_system_admin(source),
    }
    target = fresh(tmp_path, "target", SQLALCHEMY_DATABASE_URI=fresh_postgres_database(f"{PG_DATABASE}_target"))
    try:
        round_trip(source, target, tmp_path / "hamaynk-pg.tar")
        with tarfile.open(tmp_path / "hamaynk-pg.tar") as tar:
            assert "database.pgdump" in tar.getnames()
    finally:
        for one in (source, target):
            with one.app_context():
                db.session.remove()
                db.engine.dispose()
