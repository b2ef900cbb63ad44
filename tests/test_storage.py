"""Document storage: keys, the local disk backend and the S3 backend (against moto's
standalone S3 server, a real HTTP endpoint on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.domain.storage import (
    InvalidStorageKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    StorageError,
    get_storage,
    init_app,
    new_key,
    storage_from_config,
    validate_key,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- keys -------------------------------------------------------------------------------


def test_new_keys_are_random_sharded_and_valid():
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}", key)
        assert key.split("/")[2].startswith(key[:2] + key[3:5])
        assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        None,
        42,
        "../x",
        "ab/../../etc/passwd",
        "/etc/passwd",
        "a//b",
        "a/./b",
        "a\\b",
        "a/b/",
        "a b",
        "x\x00y",
        "..",
        "a" * 256,
    ],
)
def test_keys_that_could_leave_the_root_are_refused(tmp_path, key):
    with pytest.raises(InvalidStorageKey):
        validate_key(key)
    storage = LocalStorage(tmp_path / "root")
    with pytest.raises(InvalidStorageKey):
        storage.put(key, io.BytesIO(b"x"))
    assert not (tmp_path / "root").exists()


# --- local disk -------------------------------------------------------------------------


def test_local_round_trip(tmp_path):
    storage = LocalStorage(tmp_path / "documents")
    key = new_key()
    data = os.urandom(200_000)
    assert not storage.exists(key)
    assert storage.put(key, io.BytesIO(data)) == len(data)
    assert storage.exists(key)
    assert (tmp_path / "documents" / key).read_bytes() == data
    with storage.open(key) as f:
        assert hashlib.sha256(f.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)  # already gone: clean-up may run twice
    with pytest.raises(ObjectNotFound):
        storage.open(key)


def test_a_write_that_fails_half_way_leaves_nothing_behind(tmp_path):
    class DroppedConnection(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            self.calls += 1
            if self.calls > 3:
                raise ConnectionResetError("client went away")
            buffer[:] = b"x" * len(buffer)
            return len(buffer)

    storage = LocalStorage(tmp_path / "documents")
    key = new_key()
    with pytest.raises(StorageError):
        storage.put(key, DroppedConnection())
    assert not storage.exists(key)
    assert files_under(tmp_path / "documents") == []  # no partial file, no temporary file


def test_a_symlink_planted_in_the_root_cannot_lead_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "documents"
    root.mkdir()
    (root / "ab").symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(root)
    with pytest.raises(InvalidStorageKey):
        storage.put("ab/cd/" + "0" * 32, io.BytesIO(b"secret"))
    assert files_under(outside) == []


def test_an_unusable_root_is_a_storage_error_not_a_crash(tmp_path):
    not_a_dir = tmp_path / "documents"
    not_a_dir.write_text("a file where the storage root should be")
    with pytest.raises(StorageError) as caught:
        LocalStorage(not_a_dir).put(new_key(), io.BytesIO(b"x"))
    assert "nothing was saved" in str(caught.value)


def test_staged_writes_are_deleted_on_rollback_and_kept_on_commit(tmp_path):
    storage = LocalStorage(tmp_path / "documents")
    with pytest.raises(RuntimeError), storage.staged() as staged:
        staged.put(io.BytesIO(b"one"))
        staged.put(io.BytesIO(b"two"))
        assert len(files_under(storage.root)) == 2
        raise RuntimeError("the database said no")
    assert files_under(storage.root) == []

    with storage.staged() as staged:
        key = staged.put(io.BytesIO(b"kept"))
    assert storage.exists(key)


# --- configuration ----------------------------------------------------------------------


def test_local_storage_is_the_default_and_follows_the_configured_path(tmp_path):
    storage = storage_from_config({"HAMAYNK_STORAGE_PATH": str(tmp_path / "docs")})
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "docs").resolve()


def test_the_app_keeps_one_storage_and_init_app_rebuilds_it(app, tmp_path):
    app.config["HAMAYNK_STORAGE_PATH"] = str(tmp_path / "first")
    first = init_app(app)
    assert get_storage(app) is first
    assert get_storage(app) is first  # kept, not rebuilt per call
    app.config["HAMAYNK_STORAGE_PATH"] = str(tmp_path / "second")
    assert init_app(app).root == (tmp_path / "second").resolve()


def test_out_of_the_box_documents_go_to_the_instance_folder():
    if any(name.startswith(("HAMAYNK_STORAGE", "HAMAYNK_INSTANCE_DIR")) for name in os.environ):
        pytest.skip("this environment configures its own storage")
    from config import INSTANCE_DIR, Config

    storage = storage_from_config({k: getattr(Config, k) for k in dir(Config) if k.startswith("HAMAYNK_")})
    assert isinstance(storage, LocalStorage)
    assert storage.root == (INSTANCE_DIR / "documents").resolve()


@pytest.mark.parametrize(
    "config,error",
    [
        ({"HAMAYNK_STORAGE": "ftp", "HAMAYNK_STORAGE_PATH": "/x"}, "is not one of"),
        ({"HAMAYNK_STORAGE": "s3", "HAMAYNK_S3_BUCKET": ""}, "HAMAYNK_S3_BUCKET"),
        ({"HAMAYNK_STORAGE": "local", "HAMAYNK_STORAGE_PATH": ""}, "HAMAYNK_STORAGE_PATH"),
    ],
)
def test_wrong_settings_fail_at_start_with_the_setting_named(config, error):
    with pytest.raises(ValueError, match=error):
        storage_from_config(config)


# --- S3, against moto's standalone server -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    missing = [name for name in ("moto", "boto3") if importlib.util.find_spec(name) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(f"CI must run the S3 storage tests, but {reason}")
        pytest.skip(reason)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto S3 server did not start on {url}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def s3_config(s3_endpoint, monkeypatch, tmp_path):
    """A fresh bucket, reached the way production reaches one: settings for the endpoint and
    bucket, credentials only from the standard AWS variables."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "hamaynk-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hamaynk-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Nothing from the developer's own AWS setup may leak into the test.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bucket = "hamaynk-" + new_key().rsplit("/", 1)[1][:12]
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return {"HAMAYNK_STORAGE": "s3", "HAMAYNK_S3_BUCKET": bucket, "HAMAYNK_S3_ENDPOINT_URL": s3_endpoint}


def bucket_keys(storage: S3Storage) -> list[str]:
    listing = storage.client.list_objects_v2(Bucket=storage.bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_s3_round_trip(s3_config):
    storage = get_storage(s3_config)
    assert isinstance(storage, S3Storage)
    key = new_key()
    data = os.urandom(300_000)
    assert not storage.exists(key)
    assert storage.put(key, io.BytesIO(data)) == len(data)
    assert storage.exists(key)
    assert bucket_keys(storage) == [key]
    with storage.open(key) as body:
        assert body.read() == data
    storage.delete(key)
    storage.delete(key)
    assert not storage.exists(key)
    assert bucket_keys(storage) == []
    with pytest.raises(ObjectNotFound):
        storage.open(key)


def test_s3_multipart_upload_of_a_large_file(s3_config):
    storage = get_storage(s3_config)
    key = new_key()
    data = os.urandom(9 * 1024 * 1024)  # above boto3's 8 MiB multipart threshold
    assert storage.put(key, io.BytesIO(data)) == len(data)
    with storage.open(key) as body:
        assert hashlib.sha256(body.read()).digest() == hashlib.sha256(data).digest()


def test_s3_staged_writes_are_deleted_on_rollback(s3_config):
    storage = get_storage(s3_config)
    with pytest.raises(RuntimeError), storage.staged() as staged:
        staged.put(io.BytesIO(b"one"))
        staged.put(io.BytesIO(b"two"))
        assert len(bucket_keys(storage)) == 2
        raise RuntimeError("the database said no")
    assert bucket_keys(storage) == []


def test_s3_refuses_unsafe_keys_before_any_request(s3_config):
    storage = get_storage(s3_config)
    with pytest.raises(InvalidStorageKey):
        storage.put("../escape", io.BytesIO(b"x"))
    assert bucket_keys(storage) == []


def test_s3_missing_bucket_is_a_storage_error(s3_config):
    storage = get_storage({**s3_config, "HAMAYNK_S3_BUCKET": "no-such-bucket-hamaynk"})
    with pytest.raises(StorageError) as caught:
        storage.put(new_key(), io.BytesIO(b"x"))
    assert "nothing was saved" in str(caught.value)


def test_documents_on_s3_vanish_with_a_failed_transaction(app, s3_config):
    """The unit of work holds on S3 too: rows rolled back, objects deleted."""
    from app.domain.declarations import Document
    from app.domain.documents import store_documents
    from app.extensions import db
    from app.models import Application

    storage = get_storage(s3_config)
    requirement = Document(key="passport", title={"en": "Passport"}, max_count=2)
    with app.app_context():
        application = Application(
            tracking_number="S3-0001",
            access_secret_hash="x",
            service_key="residence-certificate",
            service_version=1,
            applicant_name="Anna",
            municipality_id=app.seeded["alpha"]["id"],
        )
        db.session.add(application)
        db.session.commit()
        pdf = b"%PDF-1.4\n%%EOF\n"
        from werkzeug.datastructures import FileStorage

        rows = store_documents(db.session, storage, application, requirement, [FileStorage(io.BytesIO(pdf), "a.pdf")])
        assert bucket_keys(storage) == [rows[0].storage_key]
        db.session.rollback()
        assert bucket_keys(storage) == []

        rows = store_documents(db.session, storage, application, requirement, [FileStorage(io.BytesIO(pdf), "b.pdf")])
        db.session.commit()
        assert bucket_keys(storage) == [rows[0].storage_key]
