"""An application's documents: checked, stored and recorded as one unit of work.

The guarantee ("nothing is lost" and "bad input changes nothing"):

* Every file of a call is checked before anything is written; one refusal stores nothing.
* If writing to storage fails part-way, the objects already written by that call are
  deleted and no row is added.
* Stored objects are bound to the SQLAlchemy transaction that holds their rows. When that
  transaction commits they stay; when it rolls back, fails to commit, or the session is
  closed without committing, they are deleted. A savepoint (``begin_nested``) that rolls
  back deletes the objects written inside it; one that is released hands them to the
  enclosing transaction.

What this cannot cover: a process killed between writing an object and the end of its
transaction leaves an object without a row. Such an object is unreachable (keys are random
and only rows point to them) and can be swept later; a row without its object cannot happen,
because objects are written, and flushed to disk, before their rows are committed.

    rows = store_documents(db.session, get_storage(app), application, requirement, files, user_id)
    db.session.commit()      # files and rows together

or, committing by itself::

    with DocumentBatch(db.session, storage) as batch:
        batch.store(application, requirement, files, user_id)

Opening a stored document is :func:`open_document`, the same for every channel: it refuses
readers who may not see personal data, commits the audit event before handing the stream
over, and says which headers keep the file from being sniffed, cached or run.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol
from urllib.parse import quote

from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from app.domain import access, audit, channels
from app.domain.access import Actor
from app.domain.declarations import DOCUMENT_TYPES, Document, Service
from app.domain.errors import InvalidAction, NotAllowed, WorkflowError
from app.domain.storage import ObjectNotFound, Storage, StorageError, delete_quietly
from app.domain.uploads import CheckedUpload, check_uploads, close_all
from app.models.applications import Application, ApplicationDocument
from app.models.issuing import IssuedDocument

log = logging.getLogger(__name__)

_PENDING = "hamaynk_pending_objects"
_RELEASED = "hamaynk_released_savepoints"


@dataclass
class _Pending:
    storage: Storage
    key: str
    owner: SessionTransaction  # innermost real transaction (root or savepoint) at write time


def _real(session: Session | scoped_session) -> Session:
    return session() if isinstance(session, scoped_session) else session


def _enclosing(transaction: SessionTransaction) -> SessionTransaction:
    # Skip the subtransactions SQLAlchemy opens around a flush: only savepoints and the
    # root decide the fate of the data.
    parent = transaction.parent
    while parent is not None and not parent.nested and parent.parent is not None:
        parent = parent.parent
    return parent or transaction


def bind_to_transaction(session: Session | scoped_session, storage: Storage, keys: Iterable[str]) -> None:
    """Tie already-written objects to the session's current transaction: kept if it commits,
    deleted if it ends any other way (see the module docstring)."""
    real = _real(session)
    owner = real.get_nested_transaction() or real.get_transaction() or real.begin()
    real.info.setdefault(_PENDING, []).extend(_Pending(storage, key, owner) for key in keys)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if not pending:
        return
    savepoint = session.get_nested_transaction()
    if savepoint is None:
        # The root transaction committed: the rows are durable, so are their objects.
        pending.clear()
        session.info.pop(_RELEASED, None)
    else:
        # A released savepoint still depends on its enclosing transaction; after_commit is
        # the only event that tells a release from a roll-back, so note it for the end.
        session.info.setdefault(_RELEASED, []).append(savepoint)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    pending = session.info.get(_PENDING)
    if not pending or not (transaction.nested or transaction.parent is None):
        return
    released = session.info.get(_RELEASED, [])
    if transaction.nested and any(t is transaction for t in released):
        released[:] = [t for t in released if t is not transaction]
        parent = _enclosing(transaction)
        for item in pending:
            if item.owner is transaction:
                item.owner = parent
        return
    doomed = [item for item in pending if item.owner is transaction]
    if transaction.parent is None:
        # Whatever is still pending when the root ends did not commit (a commit clears the
        # list first), including objects whose owner was lost track of.
        doomed = list(pending)
        session.info.pop(_RELEASED, None)
    if not doomed:
        return
    pending[:] = [item for item in pending if all(item is not gone for gone in doomed)]
    keep = _committed_keys(session, [item.key for item in doomed])
    for item in doomed:
        if item.key not in keep:
            delete_quietly(item.storage, [item.key])


def _committed_keys(session: Session, keys: list[str]) -> set[str]:
    """The keys that committed rows point to after all, read on a connection of its own.

    Deleting the object of a committed row would lose a citizen's document, so the
    transaction bookkeeping above is not trusted alone: a driver can commit behind
    SQLAlchemy's back (pysqlite commits a SAVEPOINT opened before any write when it is
    released). When in doubt, keep the object: an orphan costs disk space, a loss costs trust.
    """
    try:
        engine = session.get_bind(mapper=ApplicationDocument).engine
        with engine.connect() as conn:
            found = set(
                conn.execute(
                    select(ApplicationDocument.storage_key).where(ApplicationDocument.storage_key.in_(keys))
                ).scalars()
            )
            # Issued decisions are stored through the same bookkeeping (app.domain.issuing).
            found.update(
                conn.execute(select(IssuedDocument.storage_key).where(IssuedDocument.storage_key.in_(keys))).scalars()
            )
            return found
    except Exception:
        log.warning("could not check whether objects %s are still referenced; keeping them", keys, exc_info=True)
        return set(keys)


def count_stored(session: Session | scoped_session, application: Application, requirement_key: str) -> int:
    if application.id is None:
        return sum(1 for doc in application.documents if doc.requirement_key == requirement_key)
    counted = select(func.count(ApplicationDocument.id))
    return session.execute(
        access.within(counted, ApplicationDocument, application.municipality_id).where(
            ApplicationDocument.application_id == application.id,
            ApplicationDocument.requirement_key == requirement_key,
        )
    ).scalar_one()


def write_bound(
    session: Session | scoped_session, storage: Storage, checked: Sequence[CheckedUpload]
) -> list[tuple[str, CheckedUpload]]:
    """Write the checked files to ``storage``, each paired with its new key: the objects are
    kept only if ``session``'s transaction commits (:func:`bind_to_transaction`), and a failed
    write leaves none behind. Closing the files is the caller's."""
    staged = storage.staged()
    written: list[tuple[str, CheckedUpload]] = []
    try:
        for item in checked:
            written.append((staged.put(item.stream), item))
    except BaseException:
        staged.rollback()
        raise
    bind_to_transaction(session, storage, staged.commit())
    return written


def store_documents(
    session: Session | scoped_session,
    storage: Storage,
    application: Application,
    requirement: Document,
    files: Sequence[Any],
    uploaded_by_id: int | None = None,
    *,
    already_stored: int | None = None,
    flush: bool = True,
) -> list[ApplicationDocument]:
    """Check ``files`` against ``requirement`` (together with what the application already
    has for it), write them to ``storage`` and add their rows to ``session``, flushed but not
    committed: the caller commits them together with whatever else the request changes.
    ``already_stored`` is what the files count against ``max_count`` when that is not every
    stored file (a resubmission replacing superseded ones, app.domain.corrections; 0 for a
    new application). ``flush=False`` leaves the rows pending for the caller's next flush
    (intake: an application not inserted yet).

    Raises an :class:`app.domain.uploads.UploadRefused` (nothing written, nothing added) or
    a :class:`app.domain.storage.StorageError` (nothing left written, nothing added).
    """
    already = count_stored(session, application, requirement.key) if already_stored is None else already_stored
    checked: list[CheckedUpload] = check_uploads(files, requirement, already_stored=already)
    try:
        written = write_bound(session, storage, checked)
    finally:
        close_all(checked)

    rows = [
        ApplicationDocument(
            application=application,
            municipality_id=application.municipality_id,
            requirement_key=requirement.key,
            original_name=item.display_name,
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
            storage_key=key,
            uploaded_by_id=uploaded_by_id,
        )
        for key, item in written
    ]
    session.add_all(rows)
    if flush:
        session.flush()
    return rows


class DocumentBatch:
    """A unit of work that commits by itself: rows and objects are committed on leaving the
    ``with`` block, or rolled back (objects deleted) if the block or the commit fails."""

    def __init__(self, session: Session | scoped_session, storage: Storage) -> None:
        self.session = session
        self.storage = storage
        self.documents: list[ApplicationDocument] = []

    def store(
        self, application: Application, requirement: Document, files: Sequence[Any], uploaded_by_id: int | None = None
    ) -> list[ApplicationDocument]:
        rows = store_documents(self.session, self.storage, application, requirement, files, uploaded_by_id)
        self.documents.extend(rows)
        return rows

    def commit(self) -> None:
        try:
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise

    def rollback(self) -> None:
        self.session.rollback()

    def __enter__(self) -> DocumentBatch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


def group_by_requirement(documents: Iterable[ApplicationDocument]) -> dict[str, list[ApplicationDocument]]:
    grouped: dict[str, list[ApplicationDocument]] = {}
    for doc in documents:
        grouped.setdefault(doc.requirement_key, []).append(doc)
    return grouped


def check_checklist(
    service: Service, data: Mapping[str, Any], documents_by_requirement: Mapping[str, Sized | int]
) -> list[Document]:
    """The checklist lines still missing: required ones (plainly, or by ``required_when`` on
    the form ``data``) with nothing attached. ``documents_by_requirement`` maps a requirement
    key to its documents (any sized collection) or to their count."""
    missing = []
    for requirement in service.documents:
        if not requirement.is_required(data):
            continue
        attached = documents_by_requirement.get(requirement.key, 0)
        count = attached if isinstance(attached, int) else len(attached)
        if count < 1:
            missing.append(requirement)
    return missing


# -- opening a stored document ------------------------------------------------------------------

DOWNLOAD = "download"
PREVIEW = "preview"
# Types a browser shows by itself; anything else is only ever downloaded.
PREVIEW_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/webp"})
# Served with every inline preview: nothing may load, run or navigate from inside the file.
PREVIEW_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"
AUDIT_ACTIONS = {DOWNLOAD: "document.download", PREVIEW: "document.view"}


class NoPreview(InvalidAction):
    default_message = _l("This type of file cannot be previewed; download it instead.")


class DocumentUnavailable(WorkflowError):
    """The storage could not hand the file over just now; nothing was recorded."""

    default_message = _l("The document storage cannot be reached now; try again in a moment.")


class DocumentMissing(DocumentUnavailable):
    default_message = _l("The file of this document is missing from the storage; tell the administrator.")


@dataclass
class OpenedDocument:
    """A document ready to be sent: its open stream (the caller sends and closes it) and the
    response headers that keep the file from being sniffed, cached or run."""

    stream: BinaryIO
    name: str
    content_type: str
    size: int
    document_id: int
    inline: bool

    @property
    def headers(self) -> dict[str, str]:
        headers = {
            "Content-Disposition": content_disposition(
                "inline" if self.inline else "attachment", self.name, self.document_id
            ),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        }
        if self.inline:
            headers["Content-Security-Policy"] = PREVIEW_CSP
        return headers


def open_document(
    session: Session | scoped_session,
    storage: Storage,
    actor: Actor | None,
    application: Application,
    document: ApplicationDocument,
    *,
    purpose: str = DOWNLOAD,
    channel: str,
    ip: str | None = None,
) -> OpenedDocument:
    """Open ``document`` of ``application`` (both loaded through :mod:`app.domain.access`)
    for ``actor`` to download or preview, and commit its audit event before returning: no
    byte leaves without its trace.

    Raises :class:`NotAllowed` (the reader may know the document exists, not open it),
    :class:`NoPreview`, :class:`DocumentMissing` or :class:`DocumentUnavailable`; then
    nothing was recorded and nothing is open. A ``purpose`` other than :data:`DOWNLOAD` and
    :data:`PREVIEW`, or an unknown ``channel``, is the caller's bug: :class:`ValueError`,
    raised before the storage is touched.
    """
    if purpose not in AUDIT_ACTIONS:
        raise ValueError(f"unknown purpose {purpose!r}; use one of {', '.join(AUDIT_ACTIONS)}")
    channels.require(channel)
    if document.application_id != application.id or not access.may_see_personal_data(actor, application):
        raise NotAllowed(_l("Documents hold personal data; your role may see that they exist, not open them."))
    if purpose == PREVIEW and document.content_type not in PREVIEW_TYPES:
        raise NoPreview()
    return open_recorded(
        session,
        storage,
        actor,
        document,
        action=AUDIT_ACTIONS[purpose],
        target="application_document",
        municipality_id=application.municipality_id,
        details={"application_id": application.id, "sha256": document.sha256, "channel": channel},
        ip=ip,
        inline=purpose == PREVIEW,
    )


class StoredFile(Protocol):
    """A file row kept in the storage: an application's document, a question's attachment."""

    @property
    def id(self) -> int: ...
    @property
    def storage_key(self) -> str: ...
    @property
    def original_name(self) -> str: ...
    @property
    def content_type(self) -> str: ...
    @property
    def size(self) -> int: ...


def open_recorded(
    session: Session | scoped_session,
    storage: Storage,
    actor: Actor | None,
    stored: StoredFile,
    *,
    action: str,
    target: str,
    municipality_id: int,
    details: Mapping[str, Any],
    ip: str | None,
    inline: bool,
    missing: type[WorkflowError] = DocumentMissing,
    unavailable: type[WorkflowError] = DocumentUnavailable,
) -> OpenedDocument:
    """Open ``stored`` (its reader already allowed) and commit the audit event ``action`` on
    ``(target, stored.id)`` before returning: no byte leaves without its trace. Raises
    ``missing`` or ``unavailable`` when the storage has not the file or cannot be reached;
    then nothing was recorded and nothing is open."""
    try:
        stream = storage.open(stored.storage_key)
    except ObjectNotFound:
        raise missing() from None
    except StorageError:
        raise unavailable() from None
    audit.record(
        session,
        action,
        actor=actor,
        target=(target, stored.id),
        municipality_id=municipality_id,
        details=details,
        ip=ip,
    )
    try:
        session.commit()
    except BaseException:
        stream.close()
        session.rollback()
        raise
    return OpenedDocument(
        stream=stream,
        name=download_name(stored.original_name, stored.id, stored.content_type),
        content_type=stored.content_type,
        size=stored.size,
        document_id=stored.id,
        inline=inline,
    )


_EXTENSION_BY_TYPE = {mime: name for name, mimes in DOCUMENT_TYPES.items() for mime in mimes}
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._ -]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f/\\]+")


def download_name(original: str, document_id: int, content_type: str) -> str:
    """The name to offer: the uploaded one without path parts or control characters, with
    the extension of the type the content really is."""
    name = _CONTROL.sub("_", unicodedata.normalize("NFC", original or "")).strip(" ._")[:150]
    extension = _EXTENSION_BY_TYPE.get(content_type)
    if not name:
        name = f"document-{document_id}"
    if (
        extension
        and not name.lower().endswith("." + extension)
        and not (extension == "jpeg" and name.lower().endswith(".jpg"))
    ):
        name = f"{name}.{extension}"
    return name


def content_disposition(disposition: str, name: str, document_id: int) -> str:
    """``attachment``/``inline`` with an ASCII ``filename`` any browser takes and the real
    name as an RFC 5987 ``filename*`` (UTF-8, percent-encoded, so no quote or newline can
    break out of the header)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = _UNSAFE_ASCII.sub("_", ascii_name).strip(" ._")
    stem = ascii_name.rsplit(".", 1)[0] if "." in ascii_name else ascii_name
    if not stem.strip("_ "):
        suffix = name.rsplit(".", 1)[1] if "." in name else ""
        suffix = _UNSAFE_ASCII.sub("", suffix)
        ascii_name = f"document-{document_id}" + (f".{suffix}" if suffix else "")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


__all__ = [
    "DOWNLOAD",
    "PREVIEW",
    "PREVIEW_CSP",
    "PREVIEW_TYPES",
    "DocumentBatch",
    "DocumentMissing",
    "DocumentUnavailable",
    "NoPreview",
    "OpenedDocument",
    "StoredFile",
    "bind_to_transaction",
    "check_checklist",
    "content_disposition",
    "count_stored",
    "download_name",
    "group_by_requirement",
    "open_document",
    "open_recorded",
    "store_documents",
    "write_bound",
]
