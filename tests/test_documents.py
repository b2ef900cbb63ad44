"""Documents as a unit of work: rows in the database and files in storage stand or fall
together; hostile uploads store nothing; the checklist names what is missing; opening a
document is refused to readers who may not see personal data and leaves its audit event
committed before a byte is read."""

from __future__ import annotations

import hashlib
import io
import itertools
import re

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from test_uploads import ELF, HTML, MZ, SVG
from werkzeug.datastructures import FileStorage

from app.domain.access import load_actor
from app.domain.declarations import Condition, Document, Service, Step
from app.domain.documents import (
    PREVIEW,
    PREVIEW_CSP,
    PREVIEW_TYPES,
    DocumentBatch,
    DocumentMissing,
    DocumentUnavailable,
    NoPreview,
    check_checklist,
    content_disposition,
    download_name,
    group_by_requirement,
    open_document,
    store_documents,
)
from app.domain.errors import NotAllowed
from app.domain.storage import LocalStorage, StorageError
from app.domain.uploads import DisguisedFile, EmptyFile, FileTooLarge, TooManyFiles, UnsafeFileName, UploadRefused
from app.extensions import db
from app.models import Application, ApplicationDocument, AuditEvent
from app.testing import make_jpeg, make_pdf, make_png

_numbers = itertools.count(1)

PASSPORT = Document(key="passport", title={"hy": "Անձնագիր", "en": "Passport"}, max_count=3)
SMALL = Document(key="photo", title={"en": "Photo"}, types=("jpeg", "png"), max_size_mb=0.01, max_count=1)


def upload(data: bytes, filename: str) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename)


def files_under(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def document_rows() -> list[ApplicationDocument]:
    db.session.expire_all()
    return list(db.session.execute(select(ApplicationDocument).order_by(ApplicationDocument.id)).scalars())


def new_application(app, tracking_number: str | None = None) -> Application:
    application = Application(
        tracking_number=tracking_number or f"T-{next(_numbers):05d}",
        access_secret_hash="not-a-real-hash",
        service_key="residence-certificate",
        service_version=1,
        applicant_name="Անի Պետրոսյան",
        municipality_id=app.seeded["alpha"]["id"],
    )
    db.session.add(application)
    db.session.commit()
    return application


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "documents")


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield app


# --- the happy path ---------------------------------------------------------------------


def test_documents_are_stored_hashed_and_recorded(ctx, storage):
    application = new_application(ctx)
    clerk = ctx.seeded["alpha"]["users"]["clerk"]
    pdf, png, jpeg = make_pdf(), make_png(), make_jpeg()
    rows = store_documents(
        db.session,
        storage,
        application,
        PASSPORT,
        [upload(pdf, "անձնագիր.pdf"), upload(png, "page2.png"), upload(jpeg, "page3.jpg")],
        uploaded_by_id=clerk,
    )
    db.session.commit()

    stored = document_rows()
    assert [r.id for r in stored] == [r.id for r in rows]
    assert [(r.original_name, r.content_type, r.size) for r in stored] == [
        ("անձնագիր.pdf", "application/pdf", len(pdf)),
        ("page2.png", "image/png", len(png)),
        ("page3.jpg", "image/jpeg", len(jpeg)),
    ]
    for row, data in zip(stored, (pdf, png, jpeg), strict=False):
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert row.requirement_key == "passport"
        assert row.application_id == application.id
        assert row.municipality_id == application.municipality_id
        assert row.uploaded_by_id == clerk
        with storage.open(row.storage_key) as f:
            assert f.read() == data
    # The storage holds exactly these files, under generated keys unrelated to the names.
    assert files_under(storage.root) == sorted(storage.root / r.storage_key for r in stored)
    assert all("pdf" not in r.storage_key and "page" not in r.storage_key for r in stored)


def test_document_batch_commits_on_leaving_the_block(ctx, storage):
    application = new_application(ctx)
    with DocumentBatch(db.session, storage) as batch:
        batch.store(application, PASSPORT, [upload(make_pdf(), "a.pdf")])
    db.session.remove()  # a fresh session sees what was committed
    assert [r.original_name for r in document_rows()] == ["a.pdf"]
    assert len(files_under(storage.root)) == 1


# --- hostile uploads store nothing ------------------------------------------------------


@pytest.mark.parametrize(
    "requirement,files,error",
    [
        (PASSPORT, [("photo.pdf", ELF)], DisguisedFile),
        (PASSPORT, [("scan.pdf", MZ)], DisguisedFile),
        (PASSPORT, [("photo.jpg", HTML)], DisguisedFile),
        (PASSPORT, [("logo.png", SVG)], DisguisedFile),
        (SMALL, [("big.png", make_png(200, 200) + b"\x00" * 20_000)], FileTooLarge),
        (PASSPORT, [("../../etc/passwd", make_pdf())], UnsafeFileName),
        (PASSPORT, [("scan\x00.pdf", make_pdf())], UnsafeFileName),
        (PASSPORT, [("scan\n.pdf", make_pdf())], UnsafeFileName),
        (PASSPORT, [("empty.pdf", b"")], EmptyFile),
        (SMALL, [("a.png", make_png()), ("b.png", make_png())], TooManyFiles),
        # A good file next to a bad one: the good one is not kept either.
        (PASSPORT, [("good.pdf", make_pdf()), ("bad.pdf", ELF)], DisguisedFile),
    ],
    ids=[
        "elf",
        "mz",
        "html-as-jpg",
        "svg-as-png",
        "oversized",
        "traversal",
        "nul",
        "newline",
        "empty",
        "too-many",
        "mixed",
    ],
)
def test_hostile_uploads_are_refused_and_nothing_is_stored(ctx, storage, requirement, files, error):
    application = new_application(ctx)
    with pytest.raises(error) as caught:
        store_documents(db.session, storage, application, requirement, [upload(data, name) for name, data in files])
    assert str(caught.value)  # a sentence to show, not an empty error
    db.session.commit()  # the session is still usable, and committing it adds nothing
    assert document_rows() == []
    assert files_under(storage.root) == []


def test_the_count_limit_includes_documents_already_attached(ctx, storage):
    application = new_application(ctx)
    store_documents(db.session, storage, application, SMALL, [upload(make_png(), "first.png")])
    db.session.commit()
    with pytest.raises(TooManyFiles):
        store_documents(db.session, storage, application, SMALL, [upload(make_png(), "second.png")])
    assert [r.original_name for r in document_rows()] == ["first.png"]
    assert len(files_under(storage.root)) == 1


# --- the database fails after files were written ----------------------------------------


def test_a_failed_commit_leaves_no_orphan_files(ctx, storage):
    taken = new_application(ctx, "T-TAKEN").tracking_number
    application = new_application(ctx)
    store_documents(
        db.session, storage, application, PASSPORT, [upload(make_pdf(), "a.pdf"), upload(make_png(), "b.png")]
    )
    assert len(files_under(storage.root)) == 2
    # Something else in the same transaction breaks a real constraint.
    db.session.add(
        Application(
            tracking_number=taken,
            access_secret_hash="x",
            service_key="residence-certificate",
            service_version=1,
            applicant_name="Duplicate",
            municipality_id=ctx.seeded["alpha"]["id"],
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert document_rows() == []
    assert files_under(storage.root) == []


def test_a_duplicate_storage_key_fails_the_new_files_and_spares_the_old_one(ctx, storage):
    application = new_application(ctx)
    [kept] = store_documents(db.session, storage, application, PASSPORT, [upload(make_pdf("kept"), "kept.pdf")])
    db.session.commit()
    kept_key = kept.storage_key

    new_rows = store_documents(db.session, storage, application, PASSPORT, [upload(make_png(), "new.png")])
    new_file = storage.root / new_rows[0].storage_key
    assert new_file.exists()
    new_rows[0].storage_key = kept_key  # the unique constraint on storage_key now fails
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()

    assert not new_file.exists()
    assert storage.exists(kept_key)  # a committed document is never touched by a later failure
    assert [r.storage_key for r in document_rows()] == [kept_key]
    assert files_under(storage.root) == [storage.root / kept_key]


def test_a_session_closed_without_commit_deletes_its_files(ctx, storage):
    application = new_application(ctx)
    store_documents(db.session, storage, application, PASSPORT, [upload(make_pdf(), "a.pdf")])
    assert len(files_under(storage.root)) == 1
    db.session.remove()  # what Flask-SQLAlchemy does when a request ends with an exception
    assert files_under(storage.root) == []
    assert document_rows() == []


def test_document_batch_rolls_back_files_when_the_block_fails(ctx, storage):
    application = new_application(ctx)
    with pytest.raises(RuntimeError), DocumentBatch(db.session, storage) as batch:
        batch.store(application, PASSPORT, [upload(make_pdf(), "a.pdf")])
        assert len(files_under(storage.root)) == 1
        raise RuntimeError("the submission failed for another reason")
    assert files_under(storage.root) == []
    assert document_rows() == []


def test_a_rolled_back_savepoint_deletes_only_its_own_files(ctx, storage):
    application = new_application(ctx)
    [outer] = store_documents(db.session, storage, application, PASSPORT, [upload(make_pdf(), "outer.pdf")])
    savepoint = db.session.begin_nested()
    [inner] = store_documents(db.session, storage, application, PASSPORT, [upload(make_png(), "inner.png")])
    inner_key = inner.storage_key
    savepoint.rollback()
    assert not storage.exists(inner_key)
    assert storage.exists(outer.storage_key)
    db.session.commit()
    assert [r.original_name for r in document_rows()] == ["outer.pdf"]
    assert files_under(storage.root) == [storage.root / outer.storage_key]


def test_a_released_savepoint_still_depends_on_the_outer_transaction(ctx, storage):
    application = new_application(ctx)
    application.applicant_phone = "+37410000000"
    db.session.flush()  # the outer transaction has written before the savepoint opens
    with db.session.begin_nested():
        store_documents(db.session, storage, application, PASSPORT, [upload(make_pdf(), "inner.pdf")])
    assert len(files_under(storage.root)) == 1  # released, not yet committed
    db.session.rollback()
    assert files_under(storage.root) == []
    assert document_rows() == []


def test_rows_and_files_stay_in_step_whatever_the_driver_does_with_savepoints(ctx, storage):
    # Here the savepoint is the first statement of its transaction. pysqlite then opens no
    # transaction of its own and releasing the savepoint commits for real, so the outer
    # rollback cannot take the row back; PostgreSQL rolls both back. Either way every row
    # must keep its file and no file may outlive its row.
    application = new_application(ctx)
    with db.session.begin_nested():
        store_documents(db.session, storage, application, PASSPORT, [upload(make_pdf(), "inner.pdf")])
    db.session.rollback()
    rows = document_rows()
    assert files_under(storage.root) == sorted(storage.root / r.storage_key for r in rows)


def test_a_failing_savepoint_block_deletes_its_files(ctx, storage):
    application = new_application(ctx)
    taken = application.tracking_number
    with pytest.raises(IntegrityError), db.session.begin_nested():
        store_documents(db.session, storage, application, PASSPORT, [upload(make_pdf(), "inner.pdf")])
        db.session.add(
            Application(
                tracking_number=taken,
                access_secret_hash="x",
                service_key="residence-certificate",
                service_version=1,
                applicant_name="Duplicate",
                municipality_id=ctx.seeded["alpha"]["id"],
            )
        )
        db.session.flush()
    assert files_under(storage.root) == []
    db.session.commit()
    assert document_rows() == []


# --- the storage fails ------------------------------------------------------------------


def test_an_unusable_storage_adds_no_rows(ctx, tmp_path):
    application = new_application(ctx)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the storage root should be")
    with pytest.raises(StorageError):
        store_documents(db.session, LocalStorage(blocked), application, PASSPORT, [upload(make_pdf(), "a.pdf")])
    db.session.commit()
    assert document_rows() == []


class DiskFullAfter(LocalStorage):
    """Local storage whose disk fills up after ``room`` files: the edge of the world,
    where a real disk can refuse a write at any point."""

    def __init__(self, root, room: int) -> None:
        super().__init__(root)
        self.room = room

    def put(self, key, stream):
        if self.room <= 0:
            raise StorageError() from OSError(28, "No space left on device")
        self.room -= 1
        return super().put(key, stream)


def test_a_storage_failure_part_way_removes_what_was_written(ctx, tmp_path):
    application = new_application(ctx)
    storage = DiskFullAfter(tmp_path / "documents", room=2)
    files = [upload(make_pdf(), "1.pdf"), upload(make_png(), "2.png"), upload(make_jpeg(), "3.jpg")]
    with pytest.raises(StorageError):
        store_documents(db.session, storage, application, PASSPORT, files)
    assert files_under(storage.root) == []
    db.session.commit()
    assert document_rows() == []


# --- the checklist ----------------------------------------------------------------------


SERVICE = Service(
    key="construction-permit",
    version=1,
    title={"en": "Construction permit"},
    steps=(Step(key="review", title={"en": "Review"}, role="specialist", days=5),),
    documents=(
        Document(key="passport", title={"en": "Passport"}),
        Document(key="ownership", title={"en": "Ownership certificate"}),
        Document(key="photo", title={"en": "Photo"}, required=False),
        Document(
            key="power-of-attorney",
            title={"en": "Power of attorney"},
            required_when=(Condition("by_proxy", "eq", True),),
        ),
    ),
)


def test_the_checklist_names_required_documents_still_missing():
    missing = check_checklist(SERVICE, {"by_proxy": False}, {"passport": ["doc"]})
    assert [d.key for d in missing] == ["ownership"]


def test_conditional_documents_are_required_only_when_their_condition_holds():
    assert [d.key for d in check_checklist(SERVICE, {"by_proxy": True}, {"passport": 1, "ownership": 1})] == [
        "power-of-attorney"
    ]
    assert check_checklist(SERVICE, {"by_proxy": True}, {"passport": 1, "ownership": 1, "power-of-attorney": 1}) == []
    assert check_checklist(SERVICE, {}, {"passport": 1, "ownership": 1}) == []


def test_the_checklist_reads_stored_documents(ctx, storage):
    application = new_application(ctx)
    store_documents(db.session, storage, application, PASSPORT, [upload(make_pdf(), "p.pdf")])
    db.session.commit()
    grouped = group_by_requirement(application.documents)
    assert [d.key for d in check_checklist(SERVICE, {}, grouped)] == ["ownership"]
    assert db.session.execute(select(func.count(ApplicationDocument.id))).scalar_one() == 1


def test_refusals_are_upload_refused_with_a_reason_code(ctx, storage):
    application = new_application(ctx)
    with force_locale("en"), pytest.raises(UploadRefused) as caught:
        store_documents(db.session, storage, application, PASSPORT, [upload(ELF, "photo.pdf")])
    assert caught.value.reason == "disguised"
    assert caught.value.requirement_key == "passport"
    assert str(caught.value) == "photo.pdf is not a real PDF file: its content is an executable program."


# --- opening a stored document (every channel) ------------------------------------------


def audit_events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())


def stored(ctx, storage, data: bytes, name: str, requirement: Document = PASSPORT):
    application = new_application(ctx)
    (document,) = store_documents(db.session, storage, application, requirement, [upload(data, name)])
    db.session.commit()
    return application, document


def actor_of(ctx, role: str, municipality: str = "alpha"):
    return load_actor(db.session, ctx.seeded[municipality]["users"][role])


def test_opening_a_document_commits_its_audit_event_first(ctx, storage):
    application, document = stored(ctx, storage, make_pdf("passport"), "Անձնագիր.pdf")
    specialist = actor_of(ctx, "specialist")
    opened = open_document(
        db.session, storage, specialist, application, document, channel="api", ip="203.0.113.9" + "0" * 60
    )
    with opened.stream:
        assert opened.stream.read() == make_pdf("passport")
    assert (opened.name, opened.content_type, opened.size) == ("Անձնագիր.pdf", "application/pdf", document.size)
    assert opened.headers["Content-Disposition"].startswith("attachment; ")
    assert opened.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in opened.headers
    db.session.rollback()  # committed already: a later rollback cannot take the trace back
    (event_row,) = audit_events()
    assert (event_row.action, event_row.actor_id, event_row.municipality_id, event_row.object_id) == (
        "document.download",
        specialist.user_id,
        application.municipality_id,
        str(document.id),
    )
    assert event_row.details == {"application_id": application.id, "sha256": document.sha256, "channel": "api"}
    assert event_row.ip == ("203.0.113.9" + "0" * 60)[:45]

    preview = open_document(db.session, storage, specialist, application, document, purpose=PREVIEW, channel="office")
    preview.stream.close()
    assert preview.headers["Content-Disposition"].startswith("inline; ")
    assert preview.headers["Content-Security-Policy"] == PREVIEW_CSP
    assert [e.action for e in audit_events()] == ["document.download", "document.view"]


@pytest.mark.parametrize("who", [("auditor", "alpha"), ("clerk", "beta"), None])
def test_readers_who_may_not_see_personal_data_open_nothing(ctx, storage, who):
    application, document = stored(ctx, storage, make_pdf(), "passport.pdf")
    actor = actor_of(ctx, *who) if who else None
    with pytest.raises(NotAllowed) as caught:
        open_document(db.session, storage, actor, application, document, channel="office")
    with force_locale("en"):  # the message is rendered in the reader's language
        assert "your role may see that they exist, not open them" in str(caught.value)
    assert audit_events() == []


def test_a_document_of_another_application_is_refused(ctx, storage):
    application, _document = stored(ctx, storage, make_pdf(), "a.pdf")
    _other, foreign = stored(ctx, storage, make_pdf(), "b.pdf")
    with pytest.raises(NotAllowed):
        open_document(db.session, storage, actor_of(ctx, "clerk"), application, foreign, channel="office")
    assert audit_events() == []


def test_only_browser_safe_types_are_previewed(ctx, storage):
    tiff = Document(key="scan", title={"en": "Scan"}, types=("tiff",), max_count=1)
    application, document = stored(ctx, storage, b"II*\x00" + b"\x00" * 64, "scan.tiff", tiff)
    assert document.content_type not in PREVIEW_TYPES
    with pytest.raises(NoPreview):
        open_document(
            db.session, storage, actor_of(ctx, "clerk"), application, document, purpose=PREVIEW, channel="office"
        )
    assert audit_events() == []


def test_a_missing_file_or_an_unreachable_storage_records_nothing(ctx, storage, tmp_path):
    application, document = stored(ctx, storage, make_pdf(), "passport.pdf")
    clerk = actor_of(ctx, "clerk")
    storage.delete(document.storage_key)
    with pytest.raises(DocumentMissing):
        open_document(db.session, storage, clerk, application, document, channel="office")

    class Down(LocalStorage):
        def open(self, key):
            raise StorageError("connection refused")

    with pytest.raises(DocumentUnavailable) as caught:
        open_document(db.session, Down(tmp_path / "elsewhere"), clerk, application, document, channel="office")
    assert not isinstance(caught.value, DocumentMissing)
    assert audit_events() == []


@pytest.mark.parametrize("purpose, channel", [("print", "office"), ("download", "fax")])
def test_an_unknown_purpose_or_channel_is_refused_before_the_storage_is_touched(ctx, storage, purpose, channel):
    application, document = stored(ctx, storage, make_pdf(), "passport.pdf")
    opened: list[str] = []

    class Watched(LocalStorage):
        def open(self, key):
            opened.append(key)
            return super().open(key)

    with pytest.raises(ValueError, match="unknown"):
        open_document(
            db.session,
            Watched(storage.root),
            actor_of(ctx, "clerk"),
            application,
            document,
            purpose=purpose,
            channel=channel,
        )
    assert opened == []  # no stream was opened, so none can leak
    assert audit_events() == []


def test_download_names_cannot_break_the_header():
    for hostile in ('a"; filename="evil.html', "line\r\nSet-Cookie: x=1", "../../etc/passwd", "", "   ", "Ֆայլ"):
        name = download_name(hostile, 7, "application/pdf")
        header = content_disposition("attachment", name, 7)
        assert "\r" not in header and "\n" not in header and "/" not in name
        assert header.count('"') == 2
        assert name.endswith(".pdf")
        assert re.fullmatch(
            r"attachment; filename=\"[A-Za-z0-9._ -]+\"; filename\*=UTF-8''[A-Za-z0-9%._~-]+", header
        ), header
