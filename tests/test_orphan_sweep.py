"""The orphan sweep (app.domain.sweep): stored objects no row names, and left-over temporary
parts, are removed once older than the grace period, on local disk and on S3 (moto's server);
everything a row names stays; a dry run removes nothing; the command and the log say what went.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, select
from test_office import RESIDENCE, application_id_of, enable, open_form, post, residence_data
from test_storage import s3_config, s3_endpoint  # noqa: F401 - fixtures

from app.domain import sweep
from app.domain.storage import TEMP_PREFIX, LocalStorage, get_storage, new_key
from app.extensions import db
from app.models import ApplicationDocument
from app.models.base import utcnow

DAY = 24 * 3600


def test_every_column_named_like_a_key_is_classified():
    """A new table with a stored file must be seen by the sweep (and the backup): every column
    named ``*_key`` is a storage column or explicitly not one."""
    assert sweep.unclassified_key_columns() == []
    names = {f"{c.table.name}.{c.name}" for c in sweep.storage_columns()}
    assert {
        "application_document.storage_key",
        "issued_document.storage_key",
        "question_attachment.storage_key",
        "staged_upload.storage_key",
        "municipality.coat_of_arms_key",
    } <= names
    # A new table: its storage_key is picked up by name; a new *_key must be decided on.
    extra = MetaData()
    scan = Table("scan", extra, Column("preview_storage_key", String), Column("thumbnail_key", String))
    assert [c.name for c in sweep.storage_columns([scan])] == ["preview_storage_key"]
    assert sweep.unclassified_key_columns([scan]) == ["scan.thumbnail_key"]


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def _file_one(app, client, login_as) -> list[str]:
    enable(app, "alpha", RESIDENCE)
    login_as("clerk")
    application_id_of(post(client, RESIDENCE, residence_data(open_form(client, RESIDENCE))))
    with app.app_context():
        return list(db.session.execute(select(ApplicationDocument.storage_key)).scalars())


def test_local_sweep_removes_old_orphans_and_temp_parts_and_keeps_the_rest(app, client, login_as, caplog):
    filed = _file_one(app, client, login_as)
    assert len(filed) == 2
    storage = get_storage(app)
    assert isinstance(storage, LocalStorage)
    old_orphan, young_orphan = new_key(), new_key()
    storage.put(old_orphan, io.BytesIO(b"x" * 1000))
    storage.put(young_orphan, io.BytesIO(b"y" * 10))
    temp = storage.path(new_key()).parent / f"{TEMP_PREFIX}killed"
    temp.parent.mkdir(parents=True, exist_ok=True)
    temp.write_bytes(b"z" * 500)
    young_temp = storage.path(filed[0]).parent / f"{TEMP_PREFIX}writing"
    young_temp.write_bytes(b"w")
    for key in filed:
        _age(storage.path(key), 3 * DAY)  # referenced: kept however old
    _age(storage.path(old_orphan), 2 * DAY)
    _age(temp, 2 * DAY)

    with app.app_context():
        dry = sweep.sweep(db.session, storage, grace=sweep.grace_period(app.config), dry_run=True)
    assert sorted(f.key for f in dry.removed) == sorted([old_orphan, temp.relative_to(storage.root).as_posix()])
    assert storage.exists(old_orphan) and temp.exists()

    caplog.set_level(logging.INFO, logger="app.domain.sweep")
    with app.app_context():
        report = sweep.sweep(db.session, storage, grace=dt.timedelta(hours=24))
    assert (len(report.removed), report.removed_bytes, report.temporary_parts) == (2, 1500, 1)
    assert (report.referenced, report.too_young, report.failed) == (2, 2, 0)
    assert not storage.exists(old_orphan) and not temp.exists()
    assert not temp.parent.exists()  # its empty shard directories went with it
    assert storage.exists(young_orphan) and young_temp.exists()
    assert all(storage.exists(key) for key in filed)
    logged = caplog.text
    assert f"removed {old_orphan} (1000 bytes)" in logged and "removed 2 object(s), 1500 bytes" in logged


def test_a_key_committed_after_the_listing_is_not_removed(app, client, login_as, monkeypatch):
    filed = _file_one(app, client, login_as)
    storage = get_storage(app)
    for key in filed:
        _age(storage.path(key), 2 * DAY)
    # The rows are read after the listing: one that names a key only then is re-checked.
    monkeypatch.setattr(sweep, "referenced_keys", lambda session: set())
    with app.app_context():
        report = sweep.sweep(db.session, storage, grace=dt.timedelta(0))
    assert report.removed == [] and report.referenced == 2
    assert all(storage.exists(key) for key in filed)


def test_the_command_prints_what_it_removed_and_dry_run_keeps_it(app):
    storage = get_storage(app)
    orphan = new_key()
    storage.put(orphan, io.BytesIO(b"orphan"))
    _age(storage.path(orphan), 2 * DAY)
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["hamaynk", "storage", "sweep", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"would remove {orphan} (6 bytes)" in dry.output and "Would remove 1 object(s), 6 bytes" in dry.output
    assert storage.exists(orphan)
    done = runner.invoke(args=["hamaynk", "storage", "sweep"])
    assert done.exit_code == 0, done.output
    assert f"removed {orphan} (6 bytes)" in done.output and "Removed 1 object(s), 6 bytes" in done.output
    assert not storage.exists(orphan)


def test_the_grace_period_is_a_setting(app, monkeypatch):
    assert sweep.grace_period(app.config) == dt.timedelta(hours=24)
    assert sweep.grace_period({"HAMAYNK_ORPHAN_GRACE_HOURS": "0.5"}) == dt.timedelta(minutes=30)


def test_the_periodic_job_sweeps(app):
    from app.jobs import get_jobs

    app.config["HAMAYNK_JOBS"] = "immediate"
    app.config["HAMAYNK_ORPHAN_GRACE_HOURS"] = 0
    storage = get_storage(app)
    orphan = new_key()
    storage.put(orphan, io.BytesIO(b"gone"))
    _age(storage.path(orphan), 10)
    jobs = get_jobs(app)
    assert "hamaynk.sweep_storage" in [t.name for t in jobs.huey.read_periodic(dt.datetime(2026, 3, 2, 10, 41))]
    assert jobs.sweep_storage.call_local() == 1
    assert not storage.exists(orphan)


@pytest.mark.usefixtures("s3_endpoint")
def test_s3_sweep_removes_orphans_and_interrupted_uploads(app, client, login_as, s3_config):  # noqa: F811
    """On S3 the "temporary part" is an interrupted multipart upload: its parts are kept (and
    billed) until it is aborted."""
    filed = _file_one(app, client, login_as)
    local = get_storage(app)
    s3 = get_storage(s3_config)
    for key in filed:
        with local.open(key) as f:
            s3.put(key, f)
    orphan = new_key()
    s3.put(orphan, io.BytesIO(b"o" * 2048))
    upload = s3.client.create_multipart_upload(Bucket=s3.bucket, Key=new_key())
    s3.client.upload_part(
        Bucket=s3.bucket, Key=upload["Key"], UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 1024
    )

    with app.app_context():
        # (moto dates every multipart upload in 2010: it is always old enough.)
        young = sweep.sweep(db.session, s3, grace=dt.timedelta(hours=24), dry_run=True)
        assert [f for f in young.removed if not f.temporary] == [] and young.too_young == 1
        assert young.referenced == 2
        later = utcnow() + dt.timedelta(days=2)
        dry = sweep.sweep(db.session, s3, grace=dt.timedelta(hours=24), now=later, dry_run=True)
        assert len(dry.removed) == 2 and s3.exists(orphan)
        report = sweep.sweep(db.session, s3, grace=dt.timedelta(hours=24), now=later)
    assert sorted((f.temporary, f.size) for f in report.removed) == [(False, 2048), (True, 0)]
    assert not s3.exists(orphan)
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert sorted(s3.iter_keys()) == sorted(filed)
