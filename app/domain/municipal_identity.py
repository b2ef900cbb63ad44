"""A municipality's face on the documents it issues: its coat of arms.

The municipal administrator (or a system administrator) uploads one image, a PNG or a JPEG of
at most 1 MB; it is checked by its content (``filetype`` for the format, Pillow for the
picture itself: it must open, decode and have sensible dimensions), written to the document
storage (:mod:`app.domain.storage`) under a fresh random key, and that key is kept on
:attr:`Municipality.coat_of_arms_key`. The issued-document renderer reads it back with
:func:`coat_of_arms_bytes` and draws :func:`placeholder_emblem` when there is none.

Storage objects follow the database: an object written for a change that does not commit is
deleted, and the object a committed change replaced (or removed) is deleted once the commit
has happened. Both are decided when the session's outermost transaction ends, by asking the
database which keys committed rows still point to (:func:`_settle`), so a rolled-back
savepoint or a failed commit never deletes an image a municipality still uses.

    set_coat_of_arms(db.session, storage, municipality, request.files["image"], actor)
    db.session.commit()
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import filetype
from babel.numbers import format_decimal
from flask_babel import gettext as _
from PIL import Image, ImageDraw, UnidentifiedImageError
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

from app.domain import access, audit, roles
from app.domain.access import Actor
from app.domain.errors import NotAllowed
from app.domain.notifications import session_config
from app.domain.storage import ObjectNotFound, Storage, StorageError, delete_quietly, get_storage, new_key
from app.domain.uploads import check_filename, shown_name
from app.models import Municipality

log = logging.getLogger(__name__)

MAX_BYTES = 1024 * 1024
# A coat of arms is printed a few centimetres wide: 4000 pixels is far beyond any print
# resolution, 32 too few to see anything. The upper bound also caps the memory decoding takes.
MAX_SIDE = 4000
MIN_SIDE = 32
CHUNK_SIZE = 64 * 1024
ACCEPTED = {"image/png": "PNG", "image/jpeg": "JPEG"}
# Pillow's format names for the accepted types: the sniffed type and the decoder must agree.
_PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
# How other formats are named in a refusal. The name is the same in every language.
_OTHER_LABELS = {
    "image/gif": "GIF",
    "image/apng": "APNG",
    "image/webp": "WebP",
    "image/tiff": "TIFF",
    "image/bmp": "BMP",
    "image/heic": "HEIC",
    "image/avif": "AVIF",
    "image/x-icon": "ICO",
    "image/jpx": "JPEG 2000",
    "application/pdf": "PDF",
}

# session.info key: the (storage, key) pairs whose fate the end of the transaction decides.
_UNSETTLED = "hamaynk_coat_of_arms_objects"


class CoatOfArmsRefused(ValueError):
    """An image that cannot be the coat of arms; nothing was changed. ``str()`` is the
    translated sentence to show, ``reason`` a stable code."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class CheckedImage:
    """An image that passed every check, held in memory (it is at most :data:`MAX_BYTES`)."""

    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str

    @property
    def format_label(self) -> str:
        return ACCEPTED[self.content_type]


@dataclass(frozen=True)
class CoatOfArms:
    """What a page shows about a municipality's coat of arms."""

    key: str | None
    content_type: str | None
    width: int | None
    height: int | None

    @property
    def is_set(self) -> bool:
        return self.key is not None


# -- who ------------------------------------------------------------------------------------------


def may_change(actor: Actor | None, municipality_id: int) -> bool:
    """A system administrator for every municipality; a municipal administrator for their own."""
    if actor is None or not actor.active:
        return False
    if actor.is_system_admin:
        return True
    return access.staff_of(actor, municipality_id) and actor.has(roles.MUNICIPAL_ADMIN)


def may_see(actor: Actor | None, municipality_id: int) -> bool:
    """Who may change it, and the municipality's auditors."""
    if may_change(actor, municipality_id):
        return True
    return access.staff_of(actor, municipality_id) and actor.has(roles.AUDITOR)


# -- checking an image ----------------------------------------------------------------------------


def _size_label(num_bytes: int) -> str:
    from app.domain.formatting import current_locale

    return _("%(size)s MB", size=format_decimal(round(num_bytes / (1024 * 1024), 2), locale=current_locale()))


def _read_limited(upload: Any, shown: str) -> bytes:
    stream = getattr(upload, "stream", None)
    if stream is None and hasattr(upload, "read"):
        stream = upload
    if stream is None:
        raise CoatOfArmsRefused(_("Choose an image file to upload."), "missing")
    buffer = bytearray()
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        buffer += chunk
        if len(buffer) > MAX_BYTES:
            raise CoatOfArmsRefused(
                _(
                    "%(name)s is too large: a coat of arms may be at most %(limit)s.",
                    name=shown,
                    limit=_size_label(MAX_BYTES),
                ),
                "too_large",
            )
    return bytes(buffer)


def _type_refusal(data: bytes, shown: str) -> CoatOfArmsRefused:
    kind = filetype.guess(data[:8192])
    if kind is None:
        head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
        if head.startswith(b"<") and b"<svg" in data[:8192].lower():
            return CoatOfArmsRefused(
                _(
                    "%(name)s is an SVG drawing, which can carry scripts. Upload the coat of arms as a PNG or JPEG image.",
                    name=shown,
                ),
                "type_not_accepted",
            )
        return CoatOfArmsRefused(
            _("%(name)s is not an image. Upload the coat of arms as a PNG or JPEG image.", name=shown),
            "type_not_accepted",
        )
    actual = _OTHER_LABELS.get(kind.mime, (kind.extension or "").upper())
    return CoatOfArmsRefused(
        _(
            "%(name)s is a %(actual)s file. Upload the coat of arms as a PNG or JPEG image.",
            name=shown,
            actual=actual,
        ),
        "type_not_accepted",
    )


def check_image(upload: Any) -> CheckedImage:
    """Check an upload (a Werkzeug ``FileStorage``, or anything with ``filename`` and
    ``stream``/``read``); raise :class:`CoatOfArmsRefused` or return the image.

    The format is read from the content, never from the name or the browser's type: a GIF,
    an SVG drawing or a text file named ``.png`` is refused. The picture must then decode as
    that format (a cut or damaged file fails), with each side between :data:`MIN_SIDE` and
    :data:`MAX_SIDE` pixels (the size is read from the header before any pixel is decoded)."""
    raw_name = getattr(upload, "filename", None) or ""
    raw_name = raw_name if isinstance(raw_name, str) else ""
    try:
        check_filename(raw_name)
    except ValueError as exc:
        raise CoatOfArmsRefused(str(exc), "unsafe_name") from None
    shown = shown_name(raw_name) or _("The file")
    data = _read_limited(upload, shown)
    if not data:
        raise CoatOfArmsRefused(_("%(name)s is empty.", name=shown), "empty")

    kind = filetype.guess(data[:8192])
    mime = kind.mime if kind is not None else None
    if mime not in ACCEPTED:
        raise _type_refusal(data, shown)
    assert mime is not None

    corrupt = CoatOfArmsRefused(
        _(
            "%(name)s looks like a %(type)s image but cannot be read: it is damaged or incomplete. Save it again and upload it.",
            name=shown,
            type=ACCEPTED[mime],
        ),
        "corrupt",
    )
    too_many_pixels = CoatOfArmsRefused(
        _(
            "%(name)s has too many pixels; a coat of arms may be at most %(max)d × %(max)d. Make it smaller and upload it again.",
            name=shown,
            max=MAX_SIDE,
        ),
        "too_many_pixels",
    )
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its limit refuses) on huge pictures; ours is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[mime]]) as image:
                width, height = image.size
                if width > MAX_SIDE or height > MAX_SIDE:
                    raise CoatOfArmsRefused(
                        _(
                            "%(name)s is %(width)d × %(height)d pixels; a coat of arms may be at most %(max)d × %(max)d. Make it smaller and upload it again.",
                            name=shown,
                            width=width,
                            height=height,
                            max=MAX_SIDE,
                        ),
                        "too_many_pixels",
                    )
                if width < MIN_SIDE or height < MIN_SIDE:
                    raise CoatOfArmsRefused(
                        _(
                            "%(name)s is only %(width)d × %(height)d pixels, too small to print; upload an image at least %(min)d × %(min)d pixels.",
                            name=shown,
                            width=width,
                            height=height,
                            min=MIN_SIDE,
                        ),
                        "too_small",
                    )
                image.load()  # decodes every pixel: truncated or damaged data fails here
    except CoatOfArmsRefused:
        raise
    except Image.DecompressionBombError:
        raise too_many_pixels from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise corrupt from None
    return CheckedImage(
        data=data, content_type=mime, width=width, height=height, sha256=hashlib.sha256(data).hexdigest()
    )


# -- changing it ----------------------------------------------------------------------------------


def _real(session: Session | scoped_session[Session]) -> Session:
    return session() if isinstance(session, scoped_session) else session


def _unsettled(session: Session | scoped_session[Session], storage: Storage, *keys: str) -> None:
    """Leave ``keys`` for the end of the current outermost transaction to keep or delete."""
    real = _real(session)
    if not real.in_transaction():
        real.begin()
    real.info.setdefault(_UNSETTLED, []).extend((storage, key) for key in keys)


@event.listens_for(Session, "after_transaction_end")
def _settle(session: Session, transaction: SessionTransaction) -> None:
    """At the end of the outermost transaction (committed or not): delete the objects no
    committed municipality points to. A savepoint's end decides nothing, since its fate
    is its enclosing transaction's."""
    if transaction.parent is not None:
        return
    pending = session.info.pop(_UNSETTLED, None)
    if not pending:
        return
    keys = sorted({key for _storage, key in pending})
    try:
        engine = session.get_bind(mapper=Municipality).engine
        with engine.connect() as conn:
            used = set(
                conn.execute(
                    select(Municipality.coat_of_arms_key).where(Municipality.coat_of_arms_key.in_(keys))
                ).scalars()
            )
    except Exception:
        # When in doubt keep them: an orphan costs disk space, a lost coat of arms costs a reprint.
        log.warning("could not check which coat-of-arms objects are in use; keeping %s", keys, exc_info=True)
        return
    for storage, key in pending:
        if key not in used:
            delete_quietly(storage, [key])
            used.add(key)  # delete each key once


def set_coat_of_arms(
    session: Session | scoped_session[Session],
    storage: Storage,
    municipality: Municipality,
    upload: Any,
    actor: Actor | None,
    *,
    ip: str | None = None,
) -> CheckedImage:
    """Make ``upload`` the coat of arms of ``municipality`` (loaded through
    :func:`app.domain.access.get_municipality`). Raises :class:`NotAllowed` unless
    :func:`may_change`, :class:`CoatOfArmsRefused` for an unusable image, or a
    :class:`~app.domain.storage.StorageError`; in each case nothing changed. The caller
    commits; the image it replaces is deleted from storage once that commit has happened."""
    if not may_change(actor, municipality.id):
        raise NotAllowed()
    checked = check_image(upload)
    key = new_key()
    # Registered before writing, so a write that fails half-way is cleaned up too.
    _unsettled(session, storage, key)
    storage.put(key, io.BytesIO(checked.data))
    previous = municipality.coat_of_arms_key
    if previous:
        _unsettled(session, storage, previous)
    municipality.coat_of_arms_key = key
    audit.record(
        session,
        "municipality.coat_of_arms.set",
        actor=actor,
        target=("municipality", municipality.id),
        municipality_id=municipality.id,
        details={
            "content_type": checked.content_type,
            "size": len(checked.data),
            "width": checked.width,
            "height": checked.height,
            "sha256": checked.sha256,
            "replaced": previous is not None,
        },
        ip=ip,
    )
    session.flush()
    return checked


def remove_coat_of_arms(
    session: Session | scoped_session[Session],
    storage: Storage,
    municipality: Municipality,
    actor: Actor | None,
    *,
    ip: str | None = None,
) -> bool:
    """Remove the coat of arms of ``municipality``: documents issued from now on carry the
    placeholder emblem (those issued already keep theirs). ``False`` when there was none.
    :class:`NotAllowed` unless :func:`may_change`. The caller commits; the stored image is
    deleted once that commit has happened."""
    if not may_change(actor, municipality.id):
        raise NotAllowed()
    previous = municipality.coat_of_arms_key
    if not previous:
        return False
    _unsettled(session, storage, previous)
    municipality.coat_of_arms_key = None
    audit.record(
        session,
        "municipality.coat_of_arms.remove",
        actor=actor,
        target=("municipality", municipality.id),
        municipality_id=municipality.id,
        details={},
        ip=ip,
    )
    session.flush()
    return True


# -- reading it -----------------------------------------------------------------------------------


def _storage_of(session: Session | scoped_session[Session], storage: Storage | None) -> Storage:
    if storage is not None:
        return storage
    config: Mapping[str, Any] = session_config(_real(session))
    return get_storage(config)


def coat_of_arms_bytes(
    session: Session | scoped_session[Session], municipality: Municipality, storage: Storage | None = None
) -> bytes | None:
    """The stored coat of arms of ``municipality`` (PNG or JPEG bytes), or ``None`` when it has
    none. ``storage`` defaults to the app's, from the session's config. An image that has gone
    missing from storage, or storage that cannot be reached, is logged and read as ``None``:
    the document is then issued with the placeholder emblem rather than not at all."""
    key = municipality.coat_of_arms_key
    if not key:
        return None
    try:
        with _storage_of(session, storage).open(key) as stream:
            data = stream.read(MAX_BYTES + 1)
    except ObjectNotFound:
        log.error("the coat of arms of municipality %s (%s) is missing from storage", municipality.code, key)
        return None
    except StorageError:
        log.exception("cannot read the coat of arms of municipality %s (%s)", municipality.code, key)
        return None
    if len(data) > MAX_BYTES or filetype.guess_mime(data[:8192]) not in ACCEPTED:
        log.error("the stored coat of arms of municipality %s (%s) is not a checked image", municipality.code, key)
        return None
    return data


def describe(session: Session | scoped_session[Session], municipality: Municipality, storage: Storage) -> CoatOfArms:
    """What there is to show about the coat of arms (its format and size in pixels)."""
    data = coat_of_arms_bytes(session, municipality, storage)
    if data is None:
        return CoatOfArms(municipality.coat_of_arms_key, None, None, None)
    mime = filetype.guess_mime(data[:8192])
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return CoatOfArms(municipality.coat_of_arms_key, mime, None, None)
    return CoatOfArms(municipality.coat_of_arms_key, mime, width, height)


@functools.cache
def placeholder_emblem() -> bytes:
    """A neutral emblem (a grey shield outline, PNG, 256 × 256, transparent around) for the
    documents of a municipality without a coat of arms of its own."""
    size = 256
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    grey = (110, 110, 110, 255)
    light = (235, 235, 235, 255)
    top, left, right, bottom = 24, 40, 216, 236
    mid = size // 2
    shield = [
        (left, top),
        (right, top),
        (right, 128),
        (mid + 48, 200),
        (mid, bottom),
        (mid - 48, 200),
        (left, 128),
    ]
    draw.polygon(shield, fill=light, outline=grey, width=8)
    draw.ellipse((mid - 28, 92, mid + 28, 148), outline=grey, width=6)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def emblem_bytes(
    session: Session | scoped_session[Session], municipality: Municipality, storage: Storage | None = None
) -> bytes:
    """What an issued document shows: the coat of arms, or the placeholder emblem."""
    return coat_of_arms_bytes(session, municipality, storage) or placeholder_emblem()


__all__ = [
    "ACCEPTED",
    "MAX_BYTES",
    "MAX_SIDE",
    "MIN_SIDE",
    "CheckedImage",
    "CoatOfArms",
    "CoatOfArmsRefused",
    "check_image",
    "coat_of_arms_bytes",
    "describe",
    "emblem_bytes",
    "may_change",
    "may_see",
    "placeholder_emblem",
    "remove_coat_of_arms",
    "set_coat_of_arms",
]
