"""Backup and restore of one Hamaynk instance: its database and its stored files, in one tar.

    flask hamaynk backup /backups/hamaynk-2026-11-30.tar
    flask hamaynk restore /backups/hamaynk-2026-11-30.tar      (into an empty instance)

The archive holds

``database.sqlite3`` or ``database.pgdump``
    SQLite: a copy made with SQLite's online backup API (consistent while the app runs);
    PostgreSQL: ``pg_dump -Fc`` of a snapshot exported from a repeatable-read transaction.
``files/<key>``
    every stored object some row of that same snapshot names (the orphan sweep's columns,
    :func:`app.domain.sweep.storage_columns`), so the files match the database.
``manifest.json`` (last)
    format and version, the database kind, the row count of every table and the sha256 and
    size of the database file and of every object; objects a row names but the storage did
    not have are listed under ``missing`` (and warned about).

A restore first reads the whole archive and checks every hash against the manifest, then
refuses an instance that is not empty (any row beyond the roles and permissions every
instance starts with, or any stored object) unless forced, and only then writes: the
database, then the files, each hashed again as it is stored.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess  # nosec B404 - runs pg_dump/pg_restore with fixed argument lists, no shell
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from sqlalchemy import Connection, Engine, create_engine, inspect, select, text
from sqlalchemy.engine import URL

from app.domain import sweep
from app.domain.storage import Storage, StorageError, validate_key

log = logging.getLogger(__name__)

FORMAT = "hamaynk-backup"
VERSION = 1
MANIFEST = "manifest.json"
FILES = "files/"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
CHUNK = 1024 * 1024
# Filled by every instance as it starts (Flask-AppBuilder's roles and permissions) or by the
# migrations: a fresh instance has rows here and is still empty.
BOOTSTRAP_TABLES = frozenset(
    {"ab_permission", "ab_view_menu", "ab_permission_view", "ab_role", "ab_permission_view_role", "alembic_version"}
    # SQLite's name-search FTS5 table (app.models.applications) keeps its settings and index
    # structure in these from its creation on, with no application at all.
    | {"application_name_fts_config", "application_name_fts_data"}
)

# progress(stage, done, total): stages "files" and "verify" and "restore" count objects.
Progress = Callable[[str, int, int], None]


class BackupError(Exception):
    """The backup or restore could not be done; ``str()`` says why, for the operator."""


class NotEmpty(BackupError):
    def __init__(self, tables: list[str], objects: int) -> None:
        self.tables = tables
        self.objects = objects
        where = [f"rows in {', '.join(tables)}"] if tables else []
        if objects:
            where.append(f"{objects} stored object(s)")
        super().__init__(
            f"the instance is not empty ({'; '.join(where)}): restore only into an empty one, or pass --force "
            "to overwrite it"
        )


class CorruptArchive(BackupError):
    pass


@dataclass
class Summary:
    """What a backup wrote or a restore put back."""

    database: str
    tables: dict[str, int] = field(default_factory=dict)
    objects: int = 0
    bytes: int = 0
    missing: list[str] = field(default_factory=list)


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


def dialect_of(engine: Engine) -> str:
    name = engine.dialect.name
    if name not in DATABASE_MEMBERS:
        raise BackupError(f"backup supports SQLite and PostgreSQL, not {name}")
    return name


# -- reading a database snapshot ----------------------------------------------------------------


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows per table, every table the database has (not only the models')."""
    counts = {}
    for name in sorted(inspect(conn).get_table_names()):
        quoted = conn.dialect.identifier_preparer.quote(name)
        counts[name] = int(conn.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one())  # noqa: S608  # nosec B608 - names from the catalogue, quoted
    return counts


def _referenced(conn: Connection) -> set[str]:
    present = set(inspect(conn).get_table_names())
    keys: set[str] = set()
    for column in sweep.storage_columns():
        if column.table.name in present:
            keys.update(k for k in conn.execute(select(column).where(column.is_not(None))).scalars())
    return keys


class _Hashing:
    """A reader that hashes and counts what passes through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        self.size += len(data)
        return data


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- PostgreSQL tools ---------------------------------------------------------------------------


def _pg_env(url: URL) -> tuple[dict[str, str], str]:
    """libpq's environment for ``url`` (the password never on a command line) and the database."""
    env = dict(os.environ)
    for var, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
    ):
        if value is not None:
            env[var] = str(value)
    return env, url.database or ""


def _pg_tool(name: str, server_version_num: int) -> str:
    """The path of ``pg_dump``/``pg_restore``, refusing one older than the server (it would
    fail half-way, or, for pg_restore, not read the dump)."""
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not installed (the PostgreSQL client tools are needed to back up PostgreSQL)")
    found = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout  # noqa: S603  # nosec B603
    match = re.search(r"(\d+)(?:\.(\d+))?", found)
    major = int(match.group(1)) if match else 0
    if major < server_version_num // 10000:
        raise BackupError(
            f"{name} {major} is older than the PostgreSQL server {server_version_num // 10000}; "
            "install the client tools of the server's version"
        )
    return path


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
    if done.returncode != 0:
        raise BackupError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _sqlite_copy(source: str | Path, target: str | Path) -> None:
    """Copy SQLite database ``source`` over ``target`` with the online backup API: consistent
    while others write to ``source``, and every page of ``target`` replaced, schema included
    (so backup and restore are the same call, in opposite directions)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


# -- backup ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def _snapshot(engine: Engine, workdir: Path) -> Iterator[tuple[Path, dict[str, int], set[str]]]:
    """The database as one consistent snapshot: its file in ``workdir``, its row counts and the
    storage keys its rows name."""
    kind = dialect_of(engine)
    target = workdir / DATABASE_MEMBERS[kind]
    if kind == "sqlite":
        source = engine.url.database
        if not source or source == ":memory:":
            raise BackupError("an in-memory SQLite database cannot be backed up")
        _sqlite_copy(source, target)
        copy = create_engine(f"sqlite:///{target}")
        try:
            with copy.connect() as conn:
                counts, keys = table_counts(conn), _referenced(conn)
        finally:
            copy.dispose()
        yield target, counts, keys
        return
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
        pg_dump = _pg_tool("pg_dump", version)
        snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
        counts, keys = table_counts(conn), _referenced(conn)
        env, database = _pg_env(engine.url)
        # pg_dump reads the very snapshot counted above while this transaction holds it.
        _run(
            [pg_dump, "-Fc", "--no-owner", "--no-privileges", f"--snapshot={snapshot_id}", "-f", str(target), database],
            env,
            "pg_dump",
        )
        yield target, counts, keys


def _member(name: str, size: int) -> tarfile.TarInfo:
    """A member of the archive: readable by its owner only (it holds personal data)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o600
    return info


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_member(name, len(data)), io.BytesIO(data))


def backup(
    engine: Engine, storage: Storage, output: str | os.PathLike[str], *, progress: Progress | None = None
) -> Summary:
    """Write the backup archive ``output`` (a new file; written beside it and renamed into
    place, so a failed backup leaves no half archive under that name)."""
    progress = progress or _no_progress
    output = Path(output)
    if output.exists():
        raise BackupError(f"{output} exists already; choose a new file name")
    kind = dialect_of(engine)
    partial = output.with_name(f".{output.name}.part")
    try:
        with tempfile.TemporaryDirectory(prefix="hamaynk-backup-") as tmp, _snapshot(engine, Path(tmp)) as snap:
            db_file, counts, keys = snap
            summary = Summary(database=kind, tables=counts)
            sizes = {found.key: found.size for found in storage.iter_objects() if not found.temporary}
            wanted = sorted(keys)
            objects: dict[str, dict[str, Any]] = {}
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                tar.add(db_file, arcname=DATABASE_MEMBERS[kind], recursive=False)
                for done, key in enumerate(wanted, 1):
                    if key not in sizes:
                        summary.missing.append(key)
                        log.warning("backup: stored object %s is named by a row but missing from the storage", key)
                        continue
                    objects[key] = _add_object(tar, storage, key, sizes[key])
                    summary.objects += 1
                    summary.bytes += sizes[key]
                    progress("files", done, len(wanted))
                manifest = {
                    "format": FORMAT,
                    "version": VERSION,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "database": {"kind": kind, "member": DATABASE_MEMBERS[kind], "sha256": file_sha256(db_file)},
                    "tables": counts,
                    "objects": objects,
                    "missing": summary.missing,
                }
                _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            with open(partial, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    log.info(
        "backup written to %s: %d table(s), %d object(s), %d bytes", output, len(counts), summary.objects, summary.bytes
    )
    return summary


def _add_object(tar: tarfile.TarFile, storage: Storage, key: str, size: int) -> dict[str, Any]:
    try:
        with storage.open(key) as stream:
            reader = _Hashing(stream)
            tar.addfile(_member(FILES + key, size), cast(IO[bytes], reader))  # a reader is all tarfile needs
    except StorageError as exc:
        raise BackupError(f"cannot read stored object {key}: {exc}") from exc
    if reader.size != size:
        raise BackupError(f"stored object {key} changed while it was copied")
    return {"sha256": reader.sha256.hexdigest(), "size": size}


# -- restore --------------------------------------------------------------------------------------


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        stream = tar.extractfile(member)
        manifest = json.load(stream) if stream is not None else None
    except (KeyError, ValueError) as exc:
        raise CorruptArchive(f"no readable {MANIFEST} in the archive: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CorruptArchive("this is not a Hamaynk backup")
    if manifest.get("version") != VERSION:
        raise CorruptArchive(f"backup format version {manifest.get('version')!r}; this Hamaynk reads {VERSION}")
    return manifest


def non_empty(engine: Engine, storage: Storage) -> tuple[list[str], int]:
    """The tables with rows (beyond :data:`BOOTSTRAP_TABLES`) and the number of stored objects."""
    with engine.connect() as conn:
        tables = [name for name, rows in table_counts(conn).items() if rows and name not in BOOTSTRAP_TABLES]
    objects = sum(1 for _ in storage.iter_keys())
    return tables, objects


def _verify(tar: tarfile.TarFile, manifest: dict[str, Any], progress: Progress) -> None:
    """Hash every member against the manifest before anything is written."""
    database = manifest["database"]
    objects: dict[str, dict[str, Any]] = manifest["objects"]
    seen: set[str] = set()
    total = len(objects) + 1
    for member in tar.getmembers():
        if member.name == MANIFEST:
            continue
        if member.name == database["member"]:
            expected = database
        elif member.name.startswith(FILES) and member.name[len(FILES) :] in objects:
            expected = objects[member.name[len(FILES) :]]
        else:
            raise CorruptArchive(f"unexpected member {member.name!r} in the archive")
        if not member.isfile():
            raise CorruptArchive(f"member {member.name!r} is not a file")
        stream = tar.extractfile(member)
        assert stream is not None
        reader = _Hashing(stream)
        while reader.read(CHUNK):
            pass
        if reader.sha256.hexdigest() != expected["sha256"]:
            raise CorruptArchive(f"{member.name}: sha256 does not match the manifest")
        seen.add(member.name)
        progress("verify", len(seen), total)
    absent = {database["member"], *(FILES + key for key in objects)} - seen
    if absent:
        raise CorruptArchive(f"{len(absent)} member(s) listed in the manifest are missing, e.g. {sorted(absent)[0]}")


def _restore_database(engine: Engine, tar: tarfile.TarFile, manifest: dict[str, Any], workdir: Path) -> None:
    kind = manifest["database"]["kind"]
    stream = tar.extractfile(manifest["database"]["member"])
    assert stream is not None
    dump = workdir / manifest["database"]["member"]
    with open(dump, "wb") as out:
        shutil.copyfileobj(stream, out, CHUNK)
    if file_sha256(dump) != manifest["database"]["sha256"]:
        raise CorruptArchive("the database in the archive changed while it was read")
    engine.dispose()
    if kind == "sqlite":
        target = engine.url.database
        if not target or target == ":memory:":
            raise BackupError("cannot restore into an in-memory SQLite database")
        _sqlite_copy(dump, target)
        return
    with engine.connect() as conn:
        version = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    pg_restore = _pg_tool("pg_restore", version)
    env, database = _pg_env(engine.url)
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "-d",
            database,
            str(dump),
        ],
        env,
        "pg_restore",
    )
    engine.dispose()


def restore(
    engine: Engine,
    storage: Storage,
    source: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> Summary:
    """Put the archive ``source`` back into this instance (see the module's documentation)."""
    progress = progress or _no_progress
    kind = dialect_of(engine)
    try:
        tar = tarfile.open(source, "r:")  # noqa: SIM115 - closed by the with below
    except (OSError, tarfile.TarError) as exc:
        raise CorruptArchive(f"cannot read {source}: {exc}") from exc
    with tar, tempfile.TemporaryDirectory(prefix="hamaynk-restore-") as tmp:
        manifest = read_manifest(tar)
        if manifest["database"]["kind"] != kind:
            raise BackupError(
                f"the backup is of a {manifest['database']['kind']} database; this instance runs on {kind}"
            )
        for key in manifest["objects"]:
            validate_key(key)  # a tampered manifest cannot write outside the storage
        tables, objects = non_empty(engine, storage)
        if (tables or objects) and not force:
            raise NotEmpty(tables, objects)
        _verify(tar, manifest, progress)
        _restore_database(engine, tar, manifest, Path(tmp))
        summary = Summary(database=kind, tables=manifest["tables"], missing=list(manifest.get("missing", [])))
        total = len(manifest["objects"])
        for done, (key, expected) in enumerate(sorted(manifest["objects"].items()), 1):
            stream = tar.extractfile(FILES + key)
            assert stream is not None
            reader = _Hashing(stream)
            storage.put(key, cast(IO[bytes], reader))  # a reader is all put needs
            if reader.sha256.hexdigest() != expected["sha256"]:
                storage.delete(key)
                raise CorruptArchive(f"{key}: sha256 changed while it was restored")
            summary.objects += 1
            summary.bytes += reader.size
            progress("restore", done, total)
    log.info(
        "restored %s: %d table(s), %d object(s), %d bytes", source, len(summary.tables), summary.objects, summary.bytes
    )
    return summary


__all__ = [
    "BOOTSTRAP_TABLES",
    "BackupError",
    "CorruptArchive",
    "NotEmpty",
    "Summary",
    "backup",
    "non_empty",
    "read_manifest",
    "restore",
    "table_counts",
]
