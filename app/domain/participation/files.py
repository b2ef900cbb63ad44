"""The files of participation processes: a poll's attachments, a consultation's draft
documents, a proposal's photos (:class:`~app.models.participation.ParticipationFile`, exactly
one owner each).

Storing follows the upload rules (:func:`app.domain.uploads.check_uploads`: type by content,
size and count limits) and the documents' discipline
(:func:`app.domain.documents.write_bound`): every file is checked before anything is written,
a failed write leaves nothing behind, and the objects are kept only if the caller's
transaction commits. :func:`store` adds the rows to the caller's session; the caller commits.

Who opens what: the files of a published poll or consultation, and the photos of a proposal
that is public (not withdrawn), are public like the page that shows them; anyone downloads
them, nothing is recorded (a public notice board keeps no list of readers). Any other file
(a draft process's, a withdrawn proposal's) is opened only by the municipality's staff, and
by a proposal's author for its photos; that opening is audit-logged like a document's. To
everybody else such a file does not exist (:class:`~app.domain.access.NotFound`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, audit, channels
from app.domain.access import Actor
from app.domain.declarations import Document
from app.domain.documents import (
    DocumentMissing,
    DocumentUnavailable,
    OpenedDocument,
    download_name,
    open_recorded,
    write_bound,
)
from app.domain.errors import NotAllowed
from app.domain.storage import ObjectNotFound, Storage, StorageError, StorageFull, delete_quietly
from app.domain.uploads import CheckedUpload, check_uploads, close_all
from app.models.participation import Consultation, ParticipationFile, Poll, Proposal

OwnerKind = Literal["poll", "consultation", "proposal"]
FileKind = Literal["document", "photo"]
OWNER_KINDS: tuple[str, ...] = ("poll", "consultation", "proposal")
_OWNER_MODELS: dict[str, Any] = {"poll": Poll, "consultation": Consultation, "proposal": Proposal}
_OWNER_COLUMNS: dict[str, Any] = {
    "poll": ParticipationFile.poll_id,
    "consultation": ParticipationFile.consultation_id,
    "proposal": ParticipationFile.proposal_id,
}

MAX_DOCUMENTS = 10
MAX_DOCUMENT_MB = 20
MAX_PHOTOS = 5
MAX_PHOTO_MB = 10
# A process's documents (a draft decision is often a word-processor file) and a proposal's photos.
REQUIREMENTS: dict[str, Document] = {
    "document": Document(
        key="document",
        title={"hy": "Փաստաթուղթ", "en": "Document", "ru": "Документ"},
        required=False,
        types=("pdf", "docx", "odt", "jpeg", "png"),
        max_size_mb=MAX_DOCUMENT_MB,
        max_count=MAX_DOCUMENTS,
    ),
    "photo": Document(
        key="photo",
        title={"hy": "Լուսանկար", "en": "Photo", "ru": "Фотография"},
        required=False,
        types=("jpeg", "png"),
        max_size_mb=MAX_PHOTO_MB,
        max_count=MAX_PHOTOS,
    ),
}
# Photos are shown in the page (<img>), so they are served inline, under the preview CSP.
INLINE_TYPES = frozenset({"image/jpeg", "image/png"})
# Statuses whose files everybody may see.
PUBLIC_PROCESS_STATUSES = frozenset({"published"})
PUBLIC_PROPOSAL_STATUSES = frozenset({"open", "review", "feasible", "unfeasible"})

AUDIT_DOWNLOAD = "participation_file.download"
AUDIT_DELETE = "participation_file.delete"


class FileUnavailable(DocumentUnavailable):
    default_message = _l("The file storage cannot be reached now; try again in a moment.")


class FileMissing(FileUnavailable, DocumentMissing):
    default_message = _l("This file is missing from the storage; tell the administrator.")


def storage_problem(exc: StorageError) -> str:
    """What to tell the person whose files could not be stored: a full store needs an
    operator, so "try again in a moment" would be untrue there."""
    if isinstance(exc, StorageFull):
        return str(exc)
    return _("The files could not be stored just now; nothing was saved. Try again in a moment.")


def chosen(files: Iterable[Any] | None) -> list[Any]:
    """The files of a form's file input that were really chosen: a browser sends an empty
    part without a name when none was."""
    return [f for f in files or () if f is not None and (getattr(f, "filename", None) or "") != ""]


def _owner_column(kind: str) -> Any:
    if kind not in _OWNER_COLUMNS:
        raise ValueError(f"unknown owner kind {kind!r}; use one of {', '.join(OWNER_KINDS)}")
    return _OWNER_COLUMNS[kind]


def files_of(
    session: Session | scoped_session, municipality_id: int, owner: tuple[str, int]
) -> list[ParticipationFile]:
    """The files of one owner (``("consultation", 7)``), oldest first."""
    column = _owner_column(owner[0])
    stmt = access.within(select(ParticipationFile), ParticipationFile, municipality_id)
    return list(session.execute(stmt.where(column == owner[1]).order_by(ParticipationFile.id)).scalars())


def files_by_owner(
    session: Session | scoped_session, municipality_id: int, kind: str, owner_ids: Sequence[int]
) -> dict[int, list[ParticipationFile]]:
    """The files of many owners of one kind in one query (for list pages)."""
    column = _owner_column(kind)
    found: dict[int, list[ParticipationFile]] = {owner_id: [] for owner_id in owner_ids}
    if not owner_ids:
        return found
    stmt = access.within(select(ParticipationFile), ParticipationFile, municipality_id)
    for row in session.execute(stmt.where(column.in_(list(owner_ids))).order_by(ParticipationFile.id)).scalars():
        found.setdefault(getattr(row, column.key), []).append(row)
    return found


def _count(session: Session | scoped_session, municipality_id: int, owner: tuple[str, int]) -> int:
    column = _owner_column(owner[0])
    stmt = access.within(select(func.count(ParticipationFile.id)), ParticipationFile, municipality_id)
    return int(session.execute(stmt.where(column == owner[1])).scalar_one())


def store(
    session: Session | scoped_session,
    storage: Storage,
    *,
    municipality_id: int,
    owner: tuple[str, int],
    uploads: Sequence[Any],
    kind: FileKind,
) -> list[ParticipationFile]:
    """Check ``uploads`` (Werkzeug ``FileStorage``s; empty parts are skipped) against the
    rules of ``kind`` together with what ``owner`` already has, write them to ``storage`` and
    add their rows, flushed, not committed: the caller commits them with the rest of the
    request (the objects are deleted if it does not).

    Raises :class:`app.domain.uploads.UploadRefused` (its ``str()`` is for the person) or
    :class:`StorageError` (show :func:`storage_problem`); either way nothing is written and
    nothing added."""
    column = _owner_column(owner[0])
    requirement = REQUIREMENTS[kind]
    files = chosen(uploads)
    if not files:
        return []
    checked: list[CheckedUpload] = check_uploads(
        files, requirement, already_stored=_count(session, municipality_id, owner)
    )
    try:
        written = write_bound(session, storage, checked)
        rows = [
            ParticipationFile(
                municipality_id=municipality_id,
                filename=item.display_name,
                content_type=item.content_type,
                size=item.size,
                sha256=item.sha256,
                storage_key=key,
                **{column.key: owner[1]},
            )
            for key, item in written
        ]
        session.add_all(rows)
        session.flush()
    finally:
        close_all(checked)
    return rows


def _owner_of(session: Session | scoped_session, file: ParticipationFile) -> tuple[str, Any]:
    for kind, column in _OWNER_COLUMNS.items():
        owner_id = getattr(file, column.key)
        if owner_id is not None:
            model = _OWNER_MODELS[kind]
            stmt = access.within(select(model), model, file.municipality_id).where(model.id == owner_id)
            return kind, session.execute(stmt).scalar_one()
    raise ValueError(f"participation file {file.id} has no owner")  # the check constraint forbids it


def is_public(kind: str, owner: Any) -> bool:
    """Whether the files of ``owner`` (a Poll, Consultation or Proposal) are public."""
    if kind == "proposal":
        return owner.status in PUBLIC_PROPOSAL_STATUSES
    return owner.status in PUBLIC_PROCESS_STATUSES


def may_open_private(actor: Actor | None, kind: str, owner: Any) -> bool:
    """Who opens files that are not public: the municipality's staff; a proposal's author."""
    if access.staff_of(actor, owner.municipality_id):
        return True
    return kind == "proposal" and actor is not None and actor.active and actor.user_id == owner.user_id


def get(
    session: Session | scoped_session, municipality_id: int, owner: tuple[str, int], file_id: Any
) -> ParticipationFile:
    """File ``file_id`` of ``owner`` in ``municipality_id`` (ids may come from a URL);
    :class:`access.NotFound` when there is none."""
    column = _owner_column(owner[0])
    if not isinstance(file_id, int) or isinstance(file_id, bool) or not 0 < file_id <= access.MAX_PK:
        raise access.NotFound(file_id)
    stmt = access.within(select(ParticipationFile), ParticipationFile, municipality_id)
    row = session.execute(stmt.where(ParticipationFile.id == file_id, column == owner[1])).scalar_one_or_none()
    if row is None:
        raise access.NotFound(file_id)
    return row


@dataclass(frozen=True)
class _Stored:
    # What app.domain.documents.open_recorded needs of a stored file.
    id: int
    storage_key: str
    original_name: str
    content_type: str
    size: int


def open_file(
    session: Session | scoped_session,
    storage: Storage,
    actor: Actor | None,
    *,
    municipality_id: int,
    owner: tuple[str, int],
    file_id: Any,
    channel: str,
    ip: str | None = None,
) -> OpenedDocument:
    """Open file ``file_id`` of ``owner`` for ``actor`` (``None``: not signed in). Public
    files open for anyone and record nothing; other files open for :func:`may_open_private`
    only, after their audit event is committed (no byte leaves without its trace). The
    caller sends the stream with ``headers`` and closes it.

    Raises :class:`access.NotFound` (no such file, or one the actor may not know of),
    :class:`FileMissing` or :class:`FileUnavailable` (storage)."""
    channels.require(channel)
    row = get(session, municipality_id, owner, file_id)
    kind, owner_row = _owner_of(session, row)
    inline = row.content_type in INLINE_TYPES
    if is_public(kind, owner_row):
        try:
            stream = storage.open(row.storage_key)
        except ObjectNotFound:
            raise FileMissing() from None
        except StorageError:
            raise FileUnavailable() from None
        return OpenedDocument(
            stream=stream,
            name=download_name(row.filename, row.id, row.content_type),
            content_type=row.content_type,
            size=row.size,
            document_id=row.id,
            inline=inline,
        )
    if not may_open_private(actor, kind, owner_row):
        raise access.NotFound(file_id)
    stored = _Stored(row.id, row.storage_key, row.filename, row.content_type, row.size)
    return open_recorded(
        session,
        storage,
        actor,
        stored,
        action=AUDIT_DOWNLOAD,
        target="participation_file",
        municipality_id=municipality_id,
        details={kind + "_id": owner[1], "sha256": row.sha256, "channel": channel},
        ip=ip,
        inline=inline,
        missing=FileMissing,
        unavailable=FileUnavailable,
    )


def delete(
    session: Session | scoped_session,
    storage: Storage,
    actor: Actor | None,
    file: ParticipationFile,
    *,
    ip: str | None = None,
    commit: bool = True,
) -> str:
    """Delete ``file`` (loaded with :func:`get`) for staff of its municipality, or a proposal's
    author: the row and an audit event are committed first, then the stored object is removed
    (a failed removal leaves an orphan for the sweep, never a row without its file). With
    ``commit=False`` the caller commits and then calls :func:`remove_objects` with the key
    returned."""
    kind, owner_row = _owner_of(session, file)
    if not may_open_private(actor, kind, owner_row):
        raise NotAllowed(_l("Only the municipality's staff may remove this file."))
    audit.record(
        session,
        AUDIT_DELETE,
        actor=actor,
        target=("participation_file", file.id),
        municipality_id=file.municipality_id,
        details={kind + "_id": owner_row.id, "sha256": file.sha256, "filename": file.filename},
        ip=ip,
    )
    key = file.storage_key
    session.delete(file)
    session.flush()
    if commit:
        session.commit()
        remove_objects(storage, [key])
    return key


def remove_objects(storage: Storage, keys: list[str]) -> None:
    """Remove stored objects whose rows were deleted and committed (best effort)."""
    delete_quietly(storage, keys)


__all__ = [
    "AUDIT_DELETE",
    "AUDIT_DOWNLOAD",
    "REQUIREMENTS",
    "FileMissing",
    "FileUnavailable",
    "chosen",
    "delete",
    "files_by_owner",
    "files_of",
    "get",
    "is_public",
    "may_open_private",
    "open_file",
    "remove_objects",
    "storage_problem",
    "store",
]
