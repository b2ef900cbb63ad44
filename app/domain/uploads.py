"""Checking an uploaded file against one line of a service's document checklist.

Nothing the client says about a file is believed: its type is read from its content (with
the ``filetype`` library), never from the extension or the browser's MIME type; its size is
counted while reading, and reading stops as soon as the limit is passed, so an upload of any
size costs at most the limit plus one chunk; its name is only ever shown to people, never
used to build a path.

    checked = check_uploads(files, requirement, already_stored=0)
    try:
        for item in checked: storage.put(key, item.stream)
    finally:
        close_all(checked)

Every refusal is an :class:`UploadRefused` whose ``str()`` is a translated sentence naming the
file and the reason, ready to show; ``reason`` is a stable code for API clients.
"""

from __future__ import annotations

import hashlib
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

import filetype
from babel.lists import format_list
from babel.numbers import format_decimal
from flask_babel import gettext as _

from app.domain.declarations import DOCUMENT_TYPES, MAX_DOCUMENT_BYTES, Document, pick

CHUNK_SIZE = 64 * 1024
# filetype looks at most this far into a file (its own constant, not part of its API).
SNIFF_BYTES = 8192
# Past this the spooled copy of an upload moves from memory to a temporary file.
SPOOL_IN_MEMORY = 1024 * 1024
MAX_NAME_LENGTH = 200  # application_document.original_name holds 255; leave room to spare

# How formats are named to people. Format names are the same in every language.
TYPE_LABELS = {
    "pdf": "PDF",
    "jpeg": "JPEG",
    "png": "PNG",
    "tiff": "TIFF",
    "webp": "WebP",
    "heic": "HEIC",
    "docx": "DOCX",
    "odt": "ODT",
    "xlsx": "XLSX",
}
# Extensions people give files, to say "photo.pdf is not a real PDF file" rather than just
# "not accepted". Used for wording only: the decision is always made on the content.
EXTENSIONS = {
    "pdf": "pdf",
    "jpg": "jpeg",
    "jpeg": "jpeg",
    "jpe": "jpeg",
    "jfif": "jpeg",
    "png": "png",
    "tif": "tiff",
    "tiff": "tiff",
    "webp": "webp",
    "heic": "heic",
    "heif": "heic",
    "docx": "docx",
    "odt": "odt",
    "xlsx": "xlsx",
}
_MIME_TO_TYPE = {mime: name for name, mimes in DOCUMENT_TYPES.items() for mime in mimes}
# Programs, as filetype names them: refused with the plainest possible reason.
_EXECUTABLE_MIMES = {
    "application/x-executable",  # ELF
    "application/x-msdownload",  # PE / MZ
    "application/wasm",
    "application/x-deb",
    "application/x-google-chrome-extension",
    "application/x-shockwave-flash",
}
# Bidirectional overrides and isolates let "invoice\u202efdp.exe" display as "invoiceexe.pdf".
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


class UploadRefused(ValueError):
    """An upload that cannot be accepted. ``str(exc)`` is the translated message."""

    reason = "refused"

    def __init__(self, message: str, *, filename: str = "", requirement_key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.filename = filename
        self.requirement_key = requirement_key


class EmptyFile(UploadRefused):
    reason = "empty"


class FileTooLarge(UploadRefused):
    reason = "too_large"


class TooManyFiles(UploadRefused):
    reason = "too_many"


class UnsafeFileName(UploadRefused):
    reason = "unsafe_name"


class DisguisedFile(UploadRefused):
    """Content that is dangerous to keep or to show: a program, a web page or an SVG
    drawing (which can carry scripts) handed in as a document or an image."""

    reason = "disguised"

    def __init__(self, message: str, *, kind: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.kind = kind


class FileTypeNotAccepted(UploadRefused):
    reason = "type_not_accepted"


@dataclass
class CheckedUpload:
    """A file that passed every check, with its content spooled (memory, then a temporary
    file) and rewound, ready to be written to storage. Close it when done."""

    display_name: str
    type_name: str
    content_type: str
    size: int
    sha256: str
    stream: IO[bytes] = field(repr=False)

    def close(self) -> None:
        self.stream.close()


def close_all(items: Iterable[CheckedUpload]) -> None:
    for item in items:
        item.close()


# --- file names ------------------------------------------------------------------------


def _strip_controls(raw: str) -> str:
    return "".join(ch for ch in raw if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)


def _shorten(name: str, limit: int = MAX_NAME_LENGTH) -> str:
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16:
        return stem[: limit - len(ext) - 2] + "…." + ext
    return name[: limit - 1] + "…"


def shown_name(raw: str | None) -> str:
    """How a client-sent name may appear in a message: control characters removed and
    length limited, but otherwise as sent, so the person recognises what was refused."""
    return _shorten(_strip_controls(unicodedata.normalize("NFC", raw or "")).strip())


def display_name(raw: str | None) -> str:
    """A safe name to keep and show for an upload: the last path component, Unicode NFC,
    without control or direction-override characters, at most ``MAX_NAME_LENGTH``
    characters (keeping the extension). Armenian and Cyrillic names are kept as they are:
    the name never reaches a file system, so there is no reason to flatten it to ASCII."""
    name = _strip_controls(unicodedata.normalize("NFC", raw or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if name in (".", ".."):
        name = ""
    return _shorten(name)


def check_filename(raw: str | None, requirement_key: str = "") -> None:
    """Refuse names carrying a folder path or control characters: no browser sends those,
    so they come from a tool trying its luck, and refusing says so plainly."""
    raw = raw or ""
    if any(unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS for ch in raw):
        raise UnsafeFileName(
            _(
                "The file name “%(name)s” contains control characters. Rename the file and upload it again.",
                name=shown_name(raw),
            ),
            filename=shown_name(raw),
            requirement_key=requirement_key,
        )
    if "/" in raw or "\\" in raw or raw.strip() in (".", ".."):
        raise UnsafeFileName(
            _(
                "The file name “%(name)s” contains a folder path. Upload the file under its own name only.",
                name=shown_name(raw),
            ),
            filename=shown_name(raw),
            requirement_key=requirement_key,
        )


# --- content -----------------------------------------------------------------------------


def _locale() -> str:
    from app.domain.formatting import current_locale

    return current_locale()


def _labels(type_names: Sequence[str]) -> str:
    labels = [TYPE_LABELS.get(name, name.upper()) for name in type_names]
    return format_list(labels, style="or", locale=_locale()) if labels else ""


def _size_label(num_bytes: int) -> str:
    megabytes = num_bytes / (1024 * 1024)
    return _("%(size)s MB", size=format_decimal(round(megabytes, 2), locale=_locale()))


def _claimed_type(name: str) -> str | None:
    _stem, dot, ext = name.rpartition(".")
    return EXTENSIONS.get(ext.lower()) if dot else None


def _markup_kind(head: bytes) -> str | None:
    """Name text content that filetype (a binary-signature library) leaves unidentified,
    so the refusal can say what it is. It only chooses the wording: anything filetype does
    not identify as an accepted type is refused whatever this returns."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n\f").lower()
    if text.startswith(b"#!"):
        return "executable"
    if not text.startswith(b"<"):
        return None
    if b"<svg" in text:
        return "svg"
    if any(tag in text for tag in (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe")):
        return "html"
    return None


def _disguised(kind: str, name: str, claimed: str | None, requirement_key: str) -> DisguisedFile:
    label = TYPE_LABELS.get(claimed or "")
    if kind == "executable":
        message = (
            _("%(name)s is not a real %(type)s file: its content is an executable program.", name=name, type=label)
            if label
            else _("%(name)s cannot be accepted: its content is an executable program.", name=name)
        )
    elif kind == "html":
        message = (
            _("%(name)s is not a real %(type)s file: its content is a web page (HTML).", name=name, type=label)
            if label
            else _("%(name)s cannot be accepted: its content is a web page (HTML).", name=name)
        )
    else:
        message = (
            _(
                "%(name)s is not a real %(type)s file: its content is an SVG drawing, which can carry scripts.",
                name=name,
                type=label,
            )
            if label
            else _("%(name)s cannot be accepted: its content is an SVG drawing, which can carry scripts.", name=name)
        )
    return DisguisedFile(message, kind=kind, filename=name, requirement_key=requirement_key)


def _read_stream(file: Any) -> BinaryIO:
    stream = getattr(file, "stream", None)
    if stream is None and hasattr(file, "read"):
        stream = file
    if stream is None:
        raise TypeError(f"expected an uploaded file (with .stream or .read), got {type(file).__name__}")
    return stream


def _file_name(file: Any) -> str:
    name = getattr(file, "filename", None)
    if name is None:
        name = getattr(file, "name", None)
    return name if isinstance(name, str) else ""


def check_upload(file: Any, requirement: Document) -> CheckedUpload:
    """Check one upload (a Werkzeug ``FileStorage`` or anything with ``filename`` and
    ``stream``/``read``) against ``requirement``; raise an :class:`UploadRefused` or return
    the spooled, hashed, typed file."""
    key = requirement.key
    raw_name = _file_name(file)
    check_filename(raw_name, key)
    name = display_name(raw_name)
    shown = name or _("(no name)")
    limit = min(requirement.max_bytes, MAX_DOCUMENT_BYTES)
    source = _read_stream(file)

    # Handed on to the caller open (it becomes the CheckedUpload's stream), so no `with` here.
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        digest = hashlib.sha256()
        head = bytearray()
        size = 0
        while True:
            chunk = source.read(CHUNK_SIZE)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise FileTooLarge(
                    _(
                        "%(name)s is too large: this document may be at most %(limit)s.",
                        name=shown,
                        limit=_size_label(limit),
                    ),
                    filename=shown,
                    requirement_key=key,
                )
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise EmptyFile(_("%(name)s is empty.", name=shown), filename=shown, requirement_key=key)

        claimed = _claimed_type(name)
        kind = filetype.guess(bytes(head))
        detected_mime = kind.mime if kind is not None else None
        if detected_mime in _EXECUTABLE_MIMES:
            raise _disguised("executable", shown, claimed, key)
        type_name = _MIME_TO_TYPE.get(detected_mime or "")
        if detected_mime is None or type_name is None or type_name not in requirement.types:
            if kind is None:
                markup = _markup_kind(bytes(head))
                if markup is not None:
                    raise _disguised(markup, shown, claimed, key)
            accepted = _labels(requirement.types)
            title = pick(requirement.title, _locale())
            if kind is None:
                message = _(
                    "%(name)s is not a file type that “%(document)s” accepts; accepted: %(accepted)s.",
                    name=shown,
                    document=title,
                    accepted=accepted,
                )
            else:
                actual = TYPE_LABELS.get(type_name or "", (kind.extension or "").upper())
                message = _(
                    "%(name)s is a %(actual)s file, but “%(document)s” accepts only %(accepted)s.",
                    name=shown,
                    actual=actual,
                    document=title,
                    accepted=accepted,
                )
            raise FileTypeNotAccepted(message, filename=shown, requirement_key=key)

        if not name:
            # Browsers always send a name; API clients may not. Something must be shown.
            name = f"{requirement.key}.{kind.extension}"
        spool.seek(0)
        return CheckedUpload(
            display_name=name,
            type_name=type_name,
            content_type=detected_mime,
            size=size,
            sha256=digest.hexdigest(),
            stream=spool,
        )
    except BaseException:
        spool.close()
        raise


def check_count(requirement: Document, adding: int, already_stored: int = 0) -> None:
    if already_stored + adding > requirement.max_count:
        title = pick(requirement.title, _locale())
        raise TooManyFiles(
            _(
                "Too many files for “%(document)s”: at most %(max)d may be attached, and this would make %(count)d.",
                document=title,
                max=requirement.max_count,
                count=already_stored + adding,
            ),
            requirement_key=requirement.key,
        )


def check_uploads(files: Sequence[Any], requirement: Document, already_stored: int = 0) -> list[CheckedUpload]:
    """Check every file for one requirement; all pass or none is kept (the first refusal
    is raised and every spooled copy is closed)."""
    files = [f for f in files if f is not None]
    check_count(requirement, len(files), already_stored)
    checked: list[CheckedUpload] = []
    try:
        for file in files:
            checked.append(check_upload(file, requirement))
    except BaseException:
        close_all(checked)
        raise
    return checked


__all__ = [
    "CheckedUpload",
    "DisguisedFile",
    "EmptyFile",
    "FileTooLarge",
    "FileTypeNotAccepted",
    "TooManyFiles",
    "UnsafeFileName",
    "UploadRefused",
    "check_count",
    "check_filename",
    "check_upload",
    "check_uploads",
    "close_all",
    "display_name",
    "shown_name",
]
