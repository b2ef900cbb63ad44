"""Upload checks: type from content, size while streaming, names, counts."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from werkzeug.datastructures import FileStorage

from app.domain.declarations import Document
from app.domain.uploads import (
    CHUNK_SIZE,
    DisguisedFile,
    EmptyFile,
    FileTooLarge,
    FileTypeNotAccepted,
    TooManyFiles,
    UnsafeFileName,
    UploadRefused,
    check_upload,
    check_uploads,
    display_name,
)
from app.testing import make_jpeg, make_pdf, make_png

# --- real files, built from their specifications ---------------------------------------


def make_docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    return buffer.getvalue()


ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 50 + b"PE\x00\x00" + b"\x00" * 200
SCRIPT = b"#!/bin/sh\nrm -rf / --no-preserve-root\n"
HTML = b"\xef\xbb\xbf\n<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>\n'


def upload(data: bytes, filename: str | None) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=filename)


def requirement(**overrides) -> Document:
    values = {"key": "passport", "title": {"hy": "Անձնագիր", "en": "Passport"}, "types": ("pdf", "jpeg", "png")}
    values.update(overrides)
    return Document(**values)


# --- accepted ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,filename,type_name,mime",
    [
        (make_pdf(), "անձնագիր.pdf", "pdf", "application/pdf"),
        (make_png(), "scan.png", "png", "image/png"),
        (make_jpeg(), "photo.JPG", "jpeg", "image/jpeg"),
    ],
)
def test_real_files_are_accepted_with_type_size_and_hash_from_content(data, filename, type_name, mime):
    checked = check_upload(upload(data, filename), requirement())
    try:
        assert checked.type_name == type_name
        assert checked.content_type == mime
        assert checked.size == len(data)
        assert checked.sha256 == hashlib.sha256(data).hexdigest()
        assert checked.display_name == filename
        assert checked.stream.read() == data
    finally:
        checked.close()


def test_the_content_decides_not_the_extension_or_the_browser():
    # A genuine PNG with a .jpg name and a lying client MIME type is still a PNG.
    file = FileStorage(stream=io.BytesIO(make_png()), filename="scan.jpg", content_type="application/pdf")
    checked = check_upload(file, requirement(types=("png",)))
    checked.close()
    assert (checked.type_name, checked.content_type) == ("png", "image/png")


def test_an_office_document_is_accepted_where_declared():
    checked = check_upload(upload(make_docx(), "statement.docx"), requirement(types=("docx", "pdf")))
    checked.close()
    assert checked.type_name == "docx"


def test_a_file_sent_without_a_name_gets_one_to_show():
    checked = check_upload(upload(make_pdf(), None), requirement())
    checked.close()
    assert checked.display_name == "passport.pdf"


def test_a_large_file_is_spooled_to_disk_not_kept_in_memory():
    data = make_pdf() + b"%" + b"0" * (3 * 1024 * 1024)
    checked = check_upload(upload(data, "big.pdf"), requirement())
    try:
        assert checked.stream._rolled  # SpooledTemporaryFile moved to a real temporary file
        assert checked.sha256 == hashlib.sha256(data).hexdigest()
    finally:
        checked.close()


# --- refused: disguised content ---------------------------------------------------------


@pytest.mark.parametrize(
    "data,filename,kind,phrases",
    [
        (ELF, "photo.pdf", "executable", ["photo.pdf is not a real PDF file", "executable program"]),
        (MZ, "scan.pdf", "executable", ["scan.pdf is not a real PDF file", "executable program"]),
        (SCRIPT, "passport.pdf", "executable", ["passport.pdf", "executable program"]),
        (MZ, "setup", "executable", ["setup cannot be accepted", "executable program"]),
        (HTML, "photo.jpg", "html", ["photo.jpg is not a real JPEG file", "web page"]),
        (SVG, "logo.png", "svg", ["logo.png is not a real PNG file", "SVG"]),
    ],
)
def test_programs_web_pages_and_svg_posing_as_documents_are_refused(data, filename, kind, phrases):
    with pytest.raises(DisguisedFile) as caught:
        check_upload(upload(data, filename), requirement())
    assert caught.value.kind == kind
    assert caught.value.reason == "disguised"
    assert caught.value.filename == filename
    for phrase in phrases:
        assert phrase in str(caught.value)


def test_html_is_refused_even_where_no_type_is_claimed():
    with pytest.raises(DisguisedFile) as caught:
        check_upload(upload(HTML, "page"), requirement())
    assert caught.value.kind == "html"


def test_a_real_file_of_a_type_the_requirement_does_not_take_is_refused_with_both_types_named():
    with pytest.raises(FileTypeNotAccepted) as caught:
        check_upload(upload(make_png(), "scan.png"), requirement(types=("pdf",)))
    message = str(caught.value)
    assert "scan.png is a PNG file" in message
    assert "accepts only PDF" in message
    assert "Անձնագիր" in message  # the requirement's title, in the current language (Armenian)


def test_unrecognisable_content_is_refused():
    with pytest.raises(FileTypeNotAccepted) as caught:
        check_upload(upload(b"just some text, not a scan\n", "notes.pdf"), requirement())
    assert "notes.pdf" in str(caught.value)


def test_a_bare_zip_is_not_taken_for_an_office_document():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.exe", "MZ")
    with pytest.raises(FileTypeNotAccepted):
        check_upload(upload(buffer.getvalue(), "letter.docx"), requirement(types=("docx",)))


# --- refused: size, emptiness, names, counts --------------------------------------------


def test_an_empty_file_is_refused():
    with pytest.raises(EmptyFile) as caught:
        check_upload(upload(b"", "empty.pdf"), requirement())
    assert str(caught.value) == "empty.pdf is empty."


def test_an_oversized_file_is_refused_with_the_limit_named():
    data = make_pdf() + b"%" + b"x" * 20_000
    with pytest.raises(FileTooLarge) as caught:
        check_upload(upload(data, "big.pdf"), requirement(max_size_mb=0.01))
    assert "big.pdf is too large" in str(caught.value)
    assert "0,01" in str(caught.value) or "0.01" in str(caught.value)


class EndlessPdf(io.RawIOBase):
    """A PDF header followed by an unending stream of bytes, counting what was read: the
    shape of a client that keeps sending."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        head = b"%PDF-1.4\n"
        n = len(buffer)
        data = (head + b"0" * n)[:n] if self.sent == 0 else b"0" * n
        buffer[:n] = data
        self.sent += n
        return n


def test_the_size_limit_is_enforced_while_streaming_never_reading_past_it():
    stream = EndlessPdf()
    limit = requirement(max_size_mb=0.5).max_bytes
    with pytest.raises(FileTooLarge):
        check_upload(FileStorage(stream=stream, filename="endless.pdf"), requirement(max_size_mb=0.5))
    assert limit < stream.sent <= limit + CHUNK_SIZE


def test_the_size_limit_is_exact():
    req = requirement(max_size_mb=0.01)
    data = make_pdf()
    data += b"%" * (req.max_bytes - len(data))
    check_upload(upload(data, "exact.pdf"), req).close()
    with pytest.raises(FileTooLarge):
        check_upload(upload(data + b"%", "one-more.pdf"), req)


@pytest.mark.parametrize(
    "filename,phrase",
    [
        ("../../etc/passwd", "folder path"),
        ("..\\..\\windows\\win.ini", "folder path"),
        ("/etc/passwd", "folder path"),
        ("..", "folder path"),
        ("scan\x00.pdf", "control characters"),
        ("scan\n.pdf", "control characters"),
        ("scan\r\nX-Injected: 1.pdf", "control characters"),
        ("invoice\u202efdp.exe", "control characters"),
    ],
)
def test_file_names_with_paths_or_control_characters_are_refused(filename, phrase):
    with pytest.raises(UnsafeFileName) as caught:
        check_upload(upload(make_pdf(), filename), requirement())
    message = str(caught.value)
    assert phrase in message
    # The message names the file, but never echoes the control characters back.
    assert not any(ch in message for ch in "\x00\n\r\u202e")


def test_too_many_files_for_one_requirement_are_refused_before_any_is_read():
    streams = [io.BytesIO(make_pdf()) for _ in range(3)]
    files = [FileStorage(stream=s, filename=f"page{i}.pdf") for i, s in enumerate(streams)]
    with pytest.raises(TooManyFiles) as caught:
        check_uploads(files, requirement(max_count=2))
    assert "at most 2" in str(caught.value)
    assert all(s.tell() == 0 for s in streams)


def test_files_already_stored_count_towards_the_limit():
    with pytest.raises(TooManyFiles):
        check_uploads([upload(make_pdf(), "second.pdf")], requirement(max_count=1), already_stored=1)


def test_one_bad_file_refuses_the_whole_set():
    with pytest.raises(UploadRefused) as caught:
        check_uploads([upload(make_pdf(), "good.pdf"), upload(ELF, "bad.pdf")], requirement(max_count=5))
    assert caught.value.filename == "bad.pdf"


# --- display names ----------------------------------------------------------------------


def test_display_names_keep_every_script_and_lose_only_what_is_unsafe():
    assert display_name("Անձնագիր Պողոսյան.pdf") == "Անձնագիր Պողոսյան.pdf"
    assert display_name("Паспорт.pdf") == "Паспорт.pdf"
    assert display_name("C:\\Users\\anna\\scan.pdf") == "scan.pdf"
    assert display_name("a\x00b\u202e.pdf") == "ab.pdf"
    long = display_name("ա" * 500 + ".pdf")
    assert len(long) <= 200 and long.endswith(".pdf")
