"""Uploads kept across a failed submission, so a validation error never drops a scan.

When a submission is refused (a missing field, a missing document, one bad file), the files
in it that pass their checklist line's checks are kept server-side: written to the document
storage under :data:`PREFIX` and recorded as :class:`~app.models.StagedUpload` rows tied to
the form's submission token, to the user who sent them and to the municipality. The
re-rendered form lists them as attached; the next submission of the same form files them
together with any new ones (:func:`as_uploads` hands them to :func:`app.domain.intake.file`
like fresh uploads, so they are checked and stored exactly as intake stores documents, with
the same hashes) and :func:`consume` deletes their rows in the filing's transaction. Someone
else's token or account finds nothing. What is never resubmitted is removed by
:func:`purge`, run periodically by the job worker (:mod:`app.jobs`).

Objects are deleted only after the rows that point to them are gone (committed): a crash in
between leaves an orphan object under the prefix, which costs disk space, never a document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, scoped_session

from app.domain import access
from app.domain.access import Actor
from app.domain.declarations import Service
from app.domain.storage import Storage, StorageError, StorageFull, delete_quietly, new_key
from app.domain.uploads import CHUNK_SIZE, UploadRefused, check_uploads, close_all
from app.models.base import utcnow
from app.models.office import StagedUpload
from app.models.portal import PortalDraft

log = logging.getLogger(__name__)

PREFIX = "staging"
# Long enough for a citizen to fetch a forgotten paper from home, short enough that scans of
# abandoned forms do not linger.
MAX_AGE = dt.timedelta(hours=6)
# The office's form tokens (app.domain.intake.new_submission_token); anything else finds nothing.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

AnySession = Session | scoped_session[Session]


def _valid_token(token: Any) -> bool:
    return isinstance(token, str) and bool(_TOKEN_RE.match(token))


def _mine(actor: Actor | None, municipality_id: int) -> bool:
    # Staff keep files for their own municipality's forms; a citizen for the online drafts
    # they prepare for any municipality (app.domain.drafts): rows are theirs by user and token.
    if actor is None or not actor.active:
        return False
    return actor.municipality_id == municipality_id or actor.is_citizen


def staged_for(session: AnySession, actor: Actor | None, municipality_id: int, token: str) -> list[StagedUpload]:
    """The files kept for ``actor``'s form ``token`` in ``municipality_id``, oldest first;
    nothing for a token that is not theirs, a stranger or another municipality's staff."""
    if not _valid_token(token) or not _mine(actor, municipality_id):
        return []
    assert actor is not None
    stmt = access.within(select(StagedUpload), StagedUpload, municipality_id)
    stmt = stmt.where(StagedUpload.submission_token == token, StagedUpload.user_id == actor.user_id)
    return list(session.execute(stmt.order_by(StagedUpload.id)).scalars())


def by_requirement(rows: Iterable[StagedUpload]) -> dict[str, list[StagedUpload]]:
    grouped: dict[str, list[StagedUpload]] = {}
    for row in rows:
        grouped.setdefault(row.requirement_key, []).append(row)
    return grouped


def _sent(files: Iterable[Any]) -> list[Any]:
    # An empty file input still sends a part without a name.
    return [f for f in files if f is not None and (getattr(f, "filename", None) or "") != ""]


def _rewind(upload: Any) -> None:
    stream = getattr(upload, "stream", upload)
    if hasattr(stream, "seek"):
        stream.seek(0)


def stage(
    session: AnySession,
    storage: Storage,
    actor: Actor | None,
    municipality_id: int,
    token: str,
    service: Service,
    uploads: Mapping[str, Sequence[Any]],
    already: Sequence[StagedUpload] = (),
) -> tuple[list[StagedUpload], dict[str, str]]:
    """Keep the files of a refused submission that pass their line's checks (type read from
    the content, size, count together with ``already`` kept ones); commit them.

    Returns the new rows and, per checklist key, why that line's new files were not kept (a
    line's files are kept all or none, like at filing). A storage failure keeps nothing and
    is reported on every line that had files: the person then chooses them again."""
    if not _valid_token(token) or not _mine(actor, municipality_id):
        return [], {}
    assert actor is not None
    counts = {key: len(rows) for key, rows in by_requirement(already).items()}
    refused: dict[str, str] = {}
    rows: list[StagedUpload] = []
    writes = storage.staged()
    try:
        for requirement in service.documents:
            files = _sent(uploads.get(requirement.key, ()))
            if not files:
                continue
            for upload in files:
                _rewind(upload)  # a failed filing may have read it already
            try:
                checked = check_uploads(files, requirement, already_stored=counts.get(requirement.key, 0))
            except UploadRefused as exc:
                refused[requirement.key] = str(exc)
                continue
            try:
                for item in checked:
                    key = writes.put(item.stream, f"{PREFIX}/{new_key()}")
                    rows.append(
                        StagedUpload(
                            submission_token=token,
                            user_id=actor.user_id,
                            municipality_id=municipality_id,
                            requirement_key=requirement.key,
                            original_name=item.display_name,
                            content_type=item.content_type,
                            size=item.size,
                            sha256=item.sha256,
                            storage_key=key,
                        )
                    )
            finally:
                close_all(checked)
        session.add_all(rows)
        session.commit()
    except StorageError as exc:
        session.rollback()
        writes.rollback()
        log.warning("could not keep the uploads of a refused submission", exc_info=True)
        if isinstance(exc, StorageFull):
            # Not a passing hiccup: say on every line that had files that the office cannot take them.
            return [], {r.key: str(exc) for r in service.documents if _sent(uploads.get(r.key, ()))}
        return [], {}
    except BaseException:
        session.rollback()
        writes.rollback()
        raise
    writes.commit()
    return rows, refused


def discard(
    session: AnySession, storage: Storage, actor: Actor | None, municipality_id: int, token: str, ids: Iterable[Any]
) -> int:
    """Remove the kept files ``ids`` (the person unticked them) of ``actor``'s form ``token``;
    ids that are not theirs are ignored. Commits; returns how many were removed."""
    wanted = {int(i) for i in ids if str(i).isdigit() and 0 < int(i) <= access.MAX_PK}
    rows = [row for row in staged_for(session, actor, municipality_id, token) if row.id in wanted]
    if not rows:
        return 0
    keys = consume(session, municipality_id, [row.id for row in rows])
    session.commit()
    delete_quietly(storage, keys)
    return len(rows)


def consume(session: AnySession, municipality_id: int, ids: Sequence[int]) -> list[str]:
    """Delete the rows ``ids`` (already loaded through :func:`staged_for`) in the caller's
    transaction and return their storage keys: delete those objects once it has committed."""
    if not ids:
        return []
    scoped = access.within(select(StagedUpload.storage_key), StagedUpload, municipality_id)
    keys = list(session.execute(scoped.where(StagedUpload.id.in_(ids))).scalars())
    gone = access.within(delete(StagedUpload), StagedUpload, municipality_id)
    session.execute(gone.where(StagedUpload.id.in_(ids)), execution_options={"synchronize_session": False})
    return keys


def _digest(upload: Any) -> str | None:
    stream = getattr(upload, "stream", upload)
    if not hasattr(stream, "read") or not hasattr(stream, "seek"):
        return None
    digest = hashlib.sha256()
    stream.seek(0)
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def resent(kept: Sequence[StagedUpload], uploads: Mapping[str, Sequence[Any]]) -> list[StagedUpload]:
    """The kept files that come again among ``uploads`` for the same line, byte for byte: a
    person used to choosing every file again after an error. The new copy is filed and the
    kept one dropped, so the document is neither doubled nor counted twice against the limit."""
    lines = {row.requirement_key for row in kept}
    sent: dict[str, set[str | None]] = {
        key: {_digest(upload) for upload in _sent(uploads.get(key, ()))} for key in lines
    }
    return [row for row in kept if row.sha256 in sent.get(row.requirement_key, set())]


class _StoredStream:
    """A stored object read like an upload's stream, opened on first read; rewinding reopens
    it (storage streams, S3's among them, cannot always seek), so a retried filing reads the
    whole file again."""

    def __init__(self, storage: Storage, key: str) -> None:
        self._storage = storage
        self._key = key
        self._file: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        if self._file is None:
            self._file = self._storage.open(self._key)
        return self._file.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise ValueError("a stored upload can only be rewound to its start")
        self.close()
        return 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class StoredUpload:
    """A kept file offered to :func:`app.domain.intake.file` as if it had just been sent: the
    name the person gave it and its content, checked again like every upload."""

    def __init__(self, storage: Storage, row: StagedUpload) -> None:
        self.filename = row.original_name
        self.staged_id = row.id
        self.stream = _StoredStream(storage, row.storage_key)

    def close(self) -> None:
        self.stream.close()


def as_uploads(storage: Storage, rows: Iterable[StagedUpload]) -> dict[str, list[StoredUpload]]:
    """The kept files per checklist key, ready to be filed (close them afterwards)."""
    uploads: dict[str, list[StoredUpload]] = {}
    for row in rows:
        uploads.setdefault(row.requirement_key, []).append(StoredUpload(storage, row))
    return uploads


def purge(
    session: AnySession, storage: Storage, *, older_than: dt.timedelta = MAX_AGE, now: dt.datetime | None = None
) -> int:
    """Remove every kept file older than ``older_than``, in every municipality (rows first,
    committed, then their objects). Returns how many were removed. The files of a citizen's
    online draft that still exists are kept whatever their age: they go with the draft
    (:func:`app.domain.drafts.purge`, after ``HAMAYNK_DRAFT_DAYS``)."""
    cutoff = (now or utcnow()) - older_than
    stmt = access.unscoped(
        select(StagedUpload.id, StagedUpload.storage_key), reason="the job purging old staged uploads"
    )
    live_drafts = select(PortalDraft.token)
    found = session.execute(
        stmt.where(StagedUpload.created_at < cutoff, StagedUpload.submission_token.not_in(live_drafts))
    ).all()
    if not found:
        session.rollback()
        return 0
    ids = [row_id for row_id, _key in found]
    gone = access.unscoped(delete(StagedUpload), reason="the job purging old staged uploads")
    session.execute(gone.where(StagedUpload.id.in_(ids)), execution_options={"synchronize_session": False})
    session.commit()
    delete_quietly(storage, [key for _id, key in found])
    return len(ids)


__all__ = [
    "MAX_AGE",
    "PREFIX",
    "StoredUpload",
    "as_uploads",
    "by_requirement",
    "consume",
    "discard",
    "purge",
    "resent",
    "stage",
    "staged_for",
]
