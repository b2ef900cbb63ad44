"""A municipality's coat of arms (app.domain.municipal_identity) and its admin screen
(app.admin.coat_of_arms): what is accepted, what is refused and why (nothing changed), who may
change it, that the stored objects follow the database, and what the screen says about the
signing certificate."""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.admin import coat_of_arms as view_module
from app.domain import access, signing
from app.domain import municipal_identity as identity
from app.domain.errors import NotAllowed
from app.domain.storage import get_storage
from app.extensions import db
from app.models import AuditEvent, Municipality

PAGE = "/admin/coat-of-arms/"
UPLOAD = "/admin/coat-of-arms/upload"
REMOVE = "/admin/coat-of-arms/remove"
IMAGE = "/admin/coat-of-arms/image"


# -- images ----------------------------------------------------------------------------------------


def picture(fmt: str, size: tuple[int, int] = (120, 140), *, noise: bool = False, mode: str = "RGB") -> bytes:
    if noise:
        image = Image.frombytes(mode, size, os.urandom(size[0] * size[1] * len(mode)))
    else:
        image = Image.new(mode, size, (180, 20, 40) if mode == "RGB" else 128)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


PNG = picture("PNG")
JPEG = picture("JPEG", (200, 200))
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def upload(data: bytes, name: str = "coat.png") -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def stored_files(app) -> set[str]:
    root = Path(app.config["HAMAYNK_STORAGE_PATH"])
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def actor(app, role: str = "municipal_admin", municipality: str = "alpha") -> access.Actor:
    user_id = app.seeded["sysadmin"] if role == "system_admin" else app.seeded[municipality]["users"][role]
    loaded = access.load_actor(db.session, user_id)
    assert loaded is not None
    return loaded


def municipality(app, code: str = "alpha") -> Municipality:
    return db.session.execute(select(Municipality).where(Municipality.code == code)).scalar_one()


def key_of(app, code: str = "alpha") -> str | None:
    with app.app_context():
        return db.session.execute(select(Municipality.coat_of_arms_key).where(Municipality.code == code)).scalar_one()


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(
                select(AuditEvent.action)
                .where(AuditEvent.action.like("municipality.coat_of_arms.%"))
                .order_by(AuditEvent.id)
            ).scalars()
        )


def set_image(app, data: bytes, name: str = "coat.png", *, role: str = "municipal_admin", code: str = "alpha"):
    with app.test_request_context("/?_l_=en"):
        checked = identity.set_coat_of_arms(
            db.session, get_storage(app), municipality(app, code), upload(data, name), actor(app, role)
        )
        db.session.commit()
        return checked


# -- the domain ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "content_type"), [(PNG, "coat.png", "image/png"), (JPEG, "զինանշան.jpg", "image/jpeg")]
)
def test_a_png_or_jpeg_becomes_the_coat_of_arms(app, data, name, content_type):
    checked = set_image(app, data, name)
    assert (checked.content_type, checked.data) == (content_type, data)
    key = key_of(app)
    assert key is not None and stored_files(app) == {key}
    with app.app_context():
        # What the document renderer calls: the app's storage comes from the session's config.
        assert identity.coat_of_arms_bytes(db.session, municipality(app)) == data
        assert identity.emblem_bytes(db.session, municipality(app)) == data
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action.like("municipality.coat_of_arms.%"))
        ).scalar_one()
        assert event.action == "municipality.coat_of_arms.set"
        assert event.actor_id == app.seeded["alpha"]["users"]["municipal_admin"]
        assert event.municipality_id == app.seeded["alpha"]["id"]
        assert event.details["content_type"] == content_type and event.details["replaced"] is False
        assert event.details["width"] == Image.open(io.BytesIO(data)).size[0]


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` × ``height`` (grey) with a few rows of data: what a
    decompression bomb looks like before anything is decoded."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def too_big_png() -> bytes:
    data = picture("PNG", (700, 700), noise=True)  # random pixels do not compress
    assert len(data) > identity.MAX_BYTES
    return data


def truncated_png() -> bytes:
    data = picture("PNG", (300, 300), noise=True)
    return data[: len(data) // 2]


def damaged_jpeg() -> bytes:
    data = bytearray(picture("JPEG", (300, 300), noise=True))
    data[400:4000] = b"\x00" * 3600  # the header survives, the picture does not
    return bytes(data[:5000])


REFUSALS = [
    pytest.param(
        lambda: picture("GIF"),
        "coat.gif",
        "type_not_accepted",
        "coat.gif is a GIF file. Upload the coat of arms as a PNG or JPEG image.",
        id="gif",
    ),
    pytest.param(lambda: picture("GIF"), "coat.png", "type_not_accepted", "coat.png is a GIF file", id="gif-named-png"),
    pytest.param(
        lambda: SVG, "coat.svg", "type_not_accepted", "coat.svg is an SVG drawing, which can carry scripts", id="svg"
    ),
    pytest.param(lambda: SVG, "coat.png", "type_not_accepted", "coat.png is an SVG drawing", id="svg-named-png"),
    pytest.param(
        lambda: b"This is not a picture at all.\n" * 10,
        "coat.png",
        "type_not_accepted",
        "coat.png is not an image. Upload the coat of arms as a PNG or JPEG image.",
        id="text-named-png",
    ),
    pytest.param(lambda: picture("WEBP"), "coat.png", "type_not_accepted", "coat.png is a WebP file", id="webp"),
    pytest.param(lambda: b"", "coat.png", "empty", "coat.png is empty.", id="empty"),
    pytest.param(
        too_big_png, "big.png", "too_large", "big.png is too large: a coat of arms may be at most 1 MB.", id="over-1mb"
    ),
    pytest.param(
        lambda: picture("PNG", (4001, 200)),
        "wide.png",
        "too_many_pixels",
        "wide.png is 4001 × 200 pixels; a coat of arms may be at most 4000 × 4000.",
        id="too-wide",
    ),
    pytest.param(
        lambda: png_declaring(10000, 10000),
        "big.png",
        "too_many_pixels",
        "big.png is 10000 × 10000 pixels; a coat of arms may be at most 4000 × 4000.",
        id="past-pillows-warning",
    ),
    pytest.param(
        lambda: png_declaring(20000, 20000),
        "bomb.png",
        "too_many_pixels",
        "bomb.png has too many pixels",
        id="decompression-bomb",
    ),
    pytest.param(
        lambda: picture("PNG", (10, 10)),
        "tiny.png",
        "too_small",
        "tiny.png is only 10 × 10 pixels, too small to print",
        id="tiny",
    ),
    pytest.param(
        truncated_png, "cut.png", "corrupt", "cut.png looks like a PNG image but cannot be read", id="truncated-png"
    ),
    pytest.param(
        damaged_jpeg, "bad.jpg", "corrupt", "bad.jpg looks like a JPEG image but cannot be read", id="damaged-jpeg"
    ),
    pytest.param(lambda: PNG, "../../coat.png", "unsafe_name", "contains a folder path", id="path-in-name"),
]


@pytest.mark.parametrize(("make", "name", "reason", "message"), REFUSALS)
def test_refused_images_change_nothing_and_say_why(app, make, name, reason, message):
    before = set_image(app, PNG)  # a coat of arms in use: a refusal must leave it
    key = key_of(app)
    with app.test_request_context("/?_l_=en"):
        with pytest.raises(identity.CoatOfArmsRefused) as refused:
            identity.set_coat_of_arms(db.session, get_storage(app), municipality(app), upload(make(), name), actor(app))
        db.session.rollback()
    assert refused.value.reason == reason
    assert message in refused.value.message
    assert key_of(app) == key and stored_files(app) == {key}
    assert audit_actions(app) == ["municipality.coat_of_arms.set"]
    with app.app_context():
        assert identity.coat_of_arms_bytes(db.session, municipality(app)) == before.data


def test_the_decompression_bomb_is_small_on_the_wire():
    # The point of the pixel check: a tiny file that would decode to gigabytes.
    assert len(png_declaring(20000, 20000)) < identity.MAX_BYTES


def test_refusals_are_translated(app):
    with app.test_request_context("/?_l_=ru"), pytest.raises(identity.CoatOfArmsRefused) as refused:
        identity.check_image(upload(b"plain text", "coat.png"))
    with app.test_request_context("/?_l_=en"), pytest.raises(identity.CoatOfArmsRefused) as english:
        identity.check_image(upload(b"plain text", "coat.png"))
    # Translators run after this work; the message goes through gettext either way.
    assert "coat.png" in refused.value.message and "coat.png" in english.value.message


@pytest.mark.parametrize(
    ("role", "code", "allowed"),
    [
        ("municipal_admin", "alpha", True),
        ("system_admin", "alpha", True),
        ("municipal_admin", "beta", False),  # another municipality's administrator
        ("head", "alpha", False),
        ("auditor", "alpha", False),
        ("clerk", "alpha", False),
    ],
)
def test_only_the_municipalitys_admin_or_a_system_admin_may_change_it(app, role, code, allowed):
    with app.test_request_context("/?_l_=en"):
        who = actor(app, role, code)
        alpha = municipality(app, "alpha")
        if allowed:
            identity.set_coat_of_arms(db.session, get_storage(app), alpha, upload(PNG), who)
            assert identity.remove_coat_of_arms(db.session, get_storage(app), alpha, who) is True
            db.session.commit()
            assert audit_actions(app) == ["municipality.coat_of_arms.set", "municipality.coat_of_arms.remove"]
        else:
            with pytest.raises(NotAllowed):
                identity.set_coat_of_arms(db.session, get_storage(app), alpha, upload(PNG), who)
            with pytest.raises(NotAllowed):
                identity.remove_coat_of_arms(db.session, get_storage(app), alpha, who)
            db.session.rollback()
            assert audit_actions(app) == []
    assert key_of(app) is None and stored_files(app) == set()


def test_replacing_deletes_the_old_object_once_the_change_commits(app):
    set_image(app, PNG)
    old = key_of(app)
    with app.test_request_context("/?_l_=en"):
        identity.set_coat_of_arms(db.session, get_storage(app), municipality(app), upload(JPEG, "new.jpg"), actor(app))
        new = municipality(app).coat_of_arms_key
        # Until the commit both exist: a failed commit must not cost the old image.
        assert stored_files(app) == {old, new}
        db.session.commit()
    assert key_of(app) == new != old
    assert stored_files(app) == {new}
    with app.app_context():
        assert identity.coat_of_arms_bytes(db.session, municipality(app)) == JPEG
        details = (
            db.session.execute(
                select(AuditEvent.details)
                .where(AuditEvent.action == "municipality.coat_of_arms.set")
                .order_by(AuditEvent.id)
            )
            .scalars()
            .all()
        )
        assert [d["replaced"] for d in details] == [False, True]


def test_a_change_that_does_not_commit_keeps_the_old_image_and_drops_the_new(app):
    set_image(app, PNG)
    old = key_of(app)
    with app.test_request_context("/?_l_=en"):
        identity.set_coat_of_arms(db.session, get_storage(app), municipality(app), upload(JPEG, "new.jpg"), actor(app))
        db.session.rollback()
    assert key_of(app) == old and stored_files(app) == {old}
    # A savepoint rolled back inside a transaction that commits: the old image is still in use.
    with app.test_request_context("/?_l_=en"):
        alpha = municipality(app)
        with db.session.begin_nested() as savepoint:
            identity.set_coat_of_arms(db.session, get_storage(app), alpha, upload(JPEG, "new.jpg"), actor(app))
            savepoint.rollback()
        db.session.commit()
    assert key_of(app) == old and stored_files(app) == {old}
    assert audit_actions(app) == ["municipality.coat_of_arms.set"]


def test_removal_deletes_the_object_and_documents_get_the_placeholder(app):
    set_image(app, PNG)
    old = key_of(app)
    with app.test_request_context("/?_l_=en"):
        alpha = municipality(app)
        assert identity.remove_coat_of_arms(db.session, get_storage(app), alpha, actor(app)) is True
        assert stored_files(app) == {old}  # not before the commit
        db.session.commit()
        assert identity.coat_of_arms_bytes(db.session, municipality(app)) is None
        emblem = identity.emblem_bytes(db.session, municipality(app))
        assert emblem == identity.placeholder_emblem()
        assert Image.open(io.BytesIO(emblem)).format == "PNG"
        # Nothing to remove: nothing recorded.
        assert identity.remove_coat_of_arms(db.session, get_storage(app), municipality(app), actor(app)) is False
        db.session.commit()
    assert key_of(app) is None and stored_files(app) == set()
    assert audit_actions(app) == ["municipality.coat_of_arms.set", "municipality.coat_of_arms.remove"]


def test_an_image_missing_from_storage_reads_as_none(app, caplog):
    set_image(app, PNG)
    for path in Path(app.config["HAMAYNK_STORAGE_PATH"]).rglob("*"):
        if path.is_file():
            path.unlink()
    with app.app_context():
        assert identity.coat_of_arms_bytes(db.session, municipality(app)) is None
        assert identity.emblem_bytes(db.session, municipality(app)) == identity.placeholder_emblem()
    assert "missing from storage" in caplog.text


# -- the admin screen ------------------------------------------------------------------------------


def test_the_municipal_admin_uploads_replaces_and_removes_on_the_screen(app, client, login_as):
    login_as("municipal_admin")
    page = client.get(PAGE + "?_l_=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No coat of arms yet" in html and 'name="csrf_token"' in html and 'data-set="no"' in html
    placeholder = client.get(f"{IMAGE}?municipality={app.seeded['alpha']['id']}")
    assert placeholder.status_code == 200 and placeholder.data == identity.placeholder_emblem()
    assert placeholder.headers["X-Content-Type-Options"] == "nosniff"

    response = client.post(
        UPLOAD + "?_l_=en", data={"image": (io.BytesIO(PNG), "coat.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    page = client.get(PAGE + "?_l_=en").get_data(as_text=True)
    assert "Saved. Documents issued from now on carry this coat of arms (PNG, 120 × 140 pixels)." in page
    assert 'data-set="yes"' in page and "Remove the coat of arms" in page
    served = client.get(f"{IMAGE}?municipality={app.seeded['alpha']['id']}")
    assert served.data == PNG and served.mimetype == "image/png"

    response = client.post(
        UPLOAD + "?_l_=en", data={"image": (io.BytesIO(JPEG), "coat.jpg")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302
    assert client.get(IMAGE).data == JPEG and client.get(IMAGE).mimetype == "image/jpeg"
    assert len(stored_files(app)) == 1

    assert client.post(REMOVE + "?_l_=en").status_code == 302
    page = client.get(PAGE + "?_l_=en").get_data(as_text=True)
    assert "Removed. Documents issued from now on carry the neutral emblem." in page
    assert key_of(app) is None and stored_files(app) == set()


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (
            b"GIF89a" + b"\x00" * 40,
            "coat.png",
            "coat.png is a GIF file. Upload the coat of arms as a PNG or JPEG image.",
        ),
        (SVG, "coat.svg", "coat.svg is an SVG drawing, which can carry scripts."),
        (b"hello", "coat.png", "coat.png is not an image."),
    ],
)
def test_a_refused_upload_on_the_screen_says_why_and_changes_nothing(app, client, login_as, data, name, message):
    set_image(app, PNG)
    key = key_of(app)
    login_as("municipal_admin")
    response = client.post(
        UPLOAD + "?_l_=en", data={"image": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and "Nothing was changed." in html and 'aria-invalid="true"' in html
    assert key_of(app) == key and stored_files(app) == {key}


def test_an_upload_without_a_file_is_a_clear_400(app, client, login_as):
    login_as("municipal_admin")
    response = client.post(UPLOAD + "?_l_=en", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose an image file to upload." in response.get_data(as_text=True)


def test_another_municipality_is_not_found_and_other_roles_are_refused(app, client, login_as):
    beta = app.seeded["beta"]["id"]
    login_as("municipal_admin")  # alpha's
    for url in (f"{PAGE}?municipality={beta}", f"{IMAGE}?municipality={beta}"):
        assert client.get(url).status_code == 404
    response = client.post(
        f"{UPLOAD}?municipality={beta}",
        data={"image": (io.BytesIO(PNG), "coat.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 404
    assert client.post(f"{REMOVE}?municipality={beta}").status_code == 404
    assert client.get(f"{PAGE}?municipality=99999999999999999999999").status_code == 404
    assert client.get(f"{PAGE}?municipality=-1").status_code == 404

    login_as("auditor")  # reads, does not change
    page = client.get(PAGE + "?_l_=en")
    assert page.status_code == 200 and 'type="file"' not in page.get_data(as_text=True)
    response = client.post(UPLOAD, data={"image": (io.BytesIO(PNG), "coat.png")}, content_type="multipart/form-data")
    assert response.status_code in (302, 403)  # Flask-AppBuilder refuses a missing permission
    assert client.post(REMOVE).status_code in (302, 403)

    for role in ("clerk", "head", "specialist"):
        login_as(role)
        assert client.get(PAGE).status_code in (302, 403)
        response = client.post(
            UPLOAD, data={"image": (io.BytesIO(PNG), "coat.png")}, content_type="multipart/form-data"
        )
        assert response.status_code in (302, 403)
    assert key_of(app) is None and key_of(app, "beta") is None and stored_files(app) == set()
    assert audit_actions(app) == []


def test_the_system_admin_chooses_a_municipality(app, client, login_as):
    login_as("system_admin")
    page = client.get(PAGE + "?_l_=en").get_data(as_text=True)
    assert "Choose a municipality." in page and "Beta" in page
    beta = app.seeded["beta"]["id"]
    response = client.post(
        f"{UPLOAD}?municipality={beta}",
        data={"image": (io.BytesIO(PNG), "coat.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(f"municipality={beta}")
    assert key_of(app, "beta") is not None and key_of(app, "alpha") is None


def test_the_menu_shows_the_screen_to_municipal_admins(app, client, login_as):
    login_as("municipal_admin")
    assert PAGE.rstrip("/") in client.get("/admin/notification-texts/?_l_=en").get_data(as_text=True)


# -- the signing certificate -----------------------------------------------------------------------


@pytest.fixture
def signing_dir(app, tmp_path):
    folder = tmp_path / "signing"
    folder.mkdir()
    app.config.update(HAMAYNK_SIGNING_DIR=str(folder), HAMAYNK_SIGNING_PASSWORD_ALPHA="alpha-secret")
    return folder


def certificate_section(client) -> str:
    html = client.get(PAGE + "?_l_=en").get_data(as_text=True)
    return html[html.index('class="signing-certificate"') :]


def test_without_a_certificate_the_screen_says_documents_go_unsigned(app, client, login_as, signing_dir):
    login_as("municipal_admin")
    section = certificate_section(client)
    assert 'data-state="none"' in section
    assert "No signing certificate is configured: documents are issued without a digital signature" in section


def test_a_valid_certificate_shows_whom_it_names_and_until_when(app, client, login_as, signing_dir):
    info = signing.make_demo_certificate(signing_dir / "alpha.p12", "alpha-secret", "Alpha municipality")
    login_as("municipal_admin")
    section = certificate_section(client)
    assert 'data-state="valid"' in section
    assert "CN=Alpha municipality" in section
    assert f'data-valid-until="{info.not_after.date().isoformat()}"' in section
    assert info.sha256_fingerprint in section
    assert "This certificate is self-signed" in section
    login_as("municipal_admin", "beta")  # beta has no file of its own
    assert 'data-state="none"' in certificate_section(client)


def test_an_expired_or_unopenable_certificate_is_reported_not_a_500(app, client, login_as, signing_dir):
    signing.make_demo_certificate(signing_dir / "alpha.p12", "alpha-secret", "Alpha municipality", days=-1)
    login_as("municipal_admin")
    section = certificate_section(client)
    assert 'data-state="expired"' in section and "The signing certificate has expired" in section

    signing.make_demo_certificate(signing_dir / "alpha.p12", "another password", "Alpha municipality")
    section = certificate_section(client)
    assert 'data-state="broken"' in section
    assert "cannot be used (a wrong password or a damaged file)" in section
    assert "password is wrong" in section  # the reason, from app.domain.signing

    (signing_dir / "alpha.p12").write_bytes(b"not a PKCS#12 file")
    assert 'data-state="broken"' in certificate_section(client)


def test_a_failing_certificate_reader_does_not_break_the_page(monkeypatch):
    def broken(config, code):
        raise OSError("disk on fire")

    monkeypatch.setattr(signing, "certificate_info", broken)
    assert view_module.certificate_status({}, "alpha").state == "broken"


def docs_blocks() -> list[str]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text[text.index("## Issued documents: coat of arms and signing certificates") :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_openssl_commands_of_the_operations_guide_make_files_hamaynk_opens(tmp_path):
    """Both recipes in docs/operations.md, run as written: the authority-signed one (with a
    test authority standing in for the real one) and the self-signed one."""
    signed, self_signed = docs_blocks()
    password = "a long password of your own"
    folder = tmp_path / "signing"
    folder.mkdir()
    env = {**os.environ, "HAMAYNK_SIGNING_DIR": str(folder)}
    work = tmp_path / "work"
    work.mkdir()

    def run(script: str) -> None:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr

    request, pack = signed.split("# ... the authority returns abovyan.crt and its chain, ca-chain.crt ...\n")
    run(request)
    run(  # a test certification authority answers the request
        "openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca-chain.crt -subj '/CN=Test CA'\n"
        "openssl x509 -req -in abovyan.csr -CA ca-chain.crt -CAkey ca.key -CAcreateserial -days 30 -out abovyan.crt\n"
    )
    run(pack)
    assert not (work / "abovyan.key").exists()  # shredded
    config = {"HAMAYNK_SIGNING_DIR": str(folder), "HAMAYNK_SIGNING_PASSWORD_ABOVYAN": password}
    info = signing.certificate_info(config, "abovyan")
    assert info is not None and info.usable, info
    assert "CN=Abovyan municipality" in info.subject and "CN=Test CA" in info.issuer and not info.self_signed
    assert (folder / "abovyan.p12").stat().st_mode & 0o777 == 0o600

    (folder / "abovyan.p12").unlink()
    run(self_signed)
    info = signing.certificate_info(config, "abovyan")
    assert info is not None and info.usable and info.self_signed, info
    assert info.subject.startswith("CN=Abovyan municipality (test)")
    # pyHanko signs with it (what issuing does).
    from app.testing import make_pdf

    assert signing.sign_pdf(config, "abovyan", make_pdf("test")) is not None


# -- on the issued document ------------------------------------------------------------------------


def test_the_issued_document_carries_the_coat_of_arms(app):
    """End to end with app.domain.issuing: the PDF of a decision embeds the uploaded image."""
    from pypdf import PdfReader

    from app.models import IssuedDocument
    from app.testing import apply, walk

    coat = picture("PNG", (150, 170))
    set_image(app, coat)
    filed = apply(app, "residence-certificate")
    assert walk(app, filed.id) == "approved"
    with app.app_context():
        key = db.session.execute(
            select(IssuedDocument.storage_key).where(IssuedDocument.application_id == filed.id)
        ).scalar_one()
    with get_storage(app).open(key) as stream:
        pdf = stream.read()
    sizes = {image.image.size for page in PdfReader(io.BytesIO(pdf)).pages for image in page.images}
    assert (150, 170) in sizes


def test_changes_need_the_forms_csrf_token(app, client, login_as):
    login_as("municipal_admin")
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post(UPLOAD, data={"image": (io.BytesIO(PNG), "coat.png")}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert client.post(REMOVE).status_code == 400
    assert key_of(app) is None and stored_files(app) == set()
    html = client.get(PAGE).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post(
        UPLOAD, data={"csrf_token": token, "image": (io.BytesIO(PNG), "coat.png")}, content_type="multipart/form-data"
    )
    assert response.status_code == 302 and key_of(app) is not None
