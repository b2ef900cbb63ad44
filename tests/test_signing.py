"""Signing issued documents (app.domain.signing): a PAdES signature with the municipality's
PKCS#12 certificate that pyHanko's validator accepts and that breaks when one byte changes;
unsigned without a certificate (or with one that cannot be used); certificate details for the
admin; demo certificates from `flask hamaynk demo`."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader
from sqlalchemy import select

from app.domain import issuing, signing
from app.domain.storage import get_storage
from app.extensions import db
from app.models import IssuedDocument, Municipality
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, apply, builtin_plugins, make_pdf, sample_data, seed_municipality, walk
from plugins import samples

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def demo_p12(tmp_path_factory):
    """One demo certificate for the module (an RSA key takes a moment to make)."""
    path = tmp_path_factory.mktemp("certs") / "source.p12"
    signing.make_demo_certificate(path, PASSWORD, "Ալֆա համայնք (demo)")
    return path


def _trust(path, password=PASSWORD) -> ValidationContext:
    _key, certificate, _others = pkcs12.load_key_and_certificates(path.read_bytes(), password.encode())
    root = asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
    return ValidationContext(trust_roots=[root])


def _validate(pdf: bytes, context: ValidationContext):
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    [signature] = reader.embedded_signatures
    return validate_pdf_signature(signature, context)


def _folder(tmp_path, demo_p12, code="alpha"):
    folder = tmp_path / "signing"
    folder.mkdir(exist_ok=True)
    shutil.copyfile(demo_p12, folder / f"{code}.p12")
    return folder


def test_the_signature_validates_and_one_changed_byte_breaks_it(tmp_path, demo_p12):
    config = {"HAMAYNK_SIGNING_DIR": str(_folder(tmp_path, demo_p12)), "HAMAYNK_SIGNING_PASSWORD": PASSWORD}
    original = make_pdf("Hamaynk decision")
    signed = signing.sign_pdf(config, "alpha", original, reason="Տեղեկանք", location="Ալֆա", signer_name="Արամ")
    assert signed is not None and signed.startswith(original)  # an incremental update
    status = _validate(signed, _trust(demo_p12))
    assert status.bottom_line and status.intact and status.valid and status.trusted
    [embedded] = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    assert "Ալֆա համայնք (demo)" in status.signing_cert.subject.human_friendly
    # Change one byte inside the signed range (the original document's body).
    tampered = bytearray(signed)
    position = original.index(b"Hamaynk decision")
    tampered[position] ^= 0x01
    broken = _validate(bytes(tampered), _trust(demo_p12))
    assert not broken.intact and not broken.bottom_line


def test_an_untrusted_certificate_is_intact_but_not_trusted(tmp_path, demo_p12):
    config = {"HAMAYNK_SIGNING_DIR": str(_folder(tmp_path, demo_p12)), "HAMAYNK_SIGNING_PASSWORD": PASSWORD}
    signed = signing.sign_pdf(config, "alpha", make_pdf())
    status = _validate(signed, ValidationContext(trust_roots=[]))
    assert status.intact and not status.trusted


def test_no_certificate_means_unsigned(tmp_path):
    pdf = make_pdf()
    assert signing.sign_pdf({}, "alpha", pdf) is None
    assert signing.sign_pdf({"HAMAYNK_SIGNING_DIR": str(tmp_path)}, "alpha", pdf) is None
    assert signing.certificate_info({"HAMAYNK_SIGNING_DIR": str(tmp_path)}, "alpha") is None
    assert signing.certificate_info({}, "alpha") is None
    # A code that is no file name never reaches the file system.
    assert signing.certificate_path({"HAMAYNK_SIGNING_DIR": str(tmp_path)}, "../etc/passwd") is None


def test_certificate_info_for_the_admin(tmp_path, demo_p12):
    config = {"HAMAYNK_SIGNING_DIR": str(_folder(tmp_path, demo_p12)), "HAMAYNK_SIGNING_PASSWORD": PASSWORD}
    info = signing.certificate_info(config, "alpha")
    assert info is not None and info.usable and info.problem is None
    assert "CN=Ալֆա համայնք (demo)" in info.subject and info.self_signed
    assert info.not_after - dt.datetime.now(dt.UTC) > dt.timedelta(days=3 * 365 - 2)
    assert info.not_before <= dt.datetime.now(dt.UTC)
    assert len(info.sha256_fingerprint) == 64
    wrong = signing.certificate_info({**config, "HAMAYNK_SIGNING_PASSWORD": "nope"}, "alpha")
    assert wrong is not None and not wrong.usable and "password is wrong" in wrong.problem
    assert wrong.not_after is None and PASSWORD not in wrong.problem


def test_the_municipalitys_own_password_comes_first(tmp_path, demo_p12, monkeypatch):
    folder = _folder(tmp_path, demo_p12, code="gyumri-2")
    assert signing.password_variable("gyumri-2") == "HAMAYNK_SIGNING_PASSWORD_GYUMRI_2"
    config = {"HAMAYNK_SIGNING_DIR": str(folder), "HAMAYNK_SIGNING_PASSWORD": "shared-but-wrong"}
    assert not signing.certificate_info(config, "gyumri-2").usable
    monkeypatch.setenv("HAMAYNK_SIGNING_PASSWORD_GYUMRI_2", PASSWORD)
    assert signing.certificate_info(config, "gyumri-2").usable
    assert signing.sign_pdf(config, "gyumri-2", make_pdf()) is not None


def _expired_p12(path, password: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Expired")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now - dt.timedelta(days=35))
        .sign(key, hashes.SHA256())
    )
    data = pkcs12.serialize_key_and_certificates(
        b"x", key, certificate, None, serialization.BestAvailableEncryption(password.encode())
    )
    path.write_bytes(data)


def test_an_expired_or_unreadable_certificate_issues_unsigned_and_says_why(tmp_path, caplog):
    folder = tmp_path / "signing"
    folder.mkdir()
    _expired_p12(folder / "alpha.p12", PASSWORD)
    (folder / "beta.p12").write_bytes(b"not a certificate")
    config = {"HAMAYNK_SIGNING_DIR": str(folder), "HAMAYNK_SIGNING_PASSWORD": PASSWORD}
    assert signing.sign_pdf(config, "alpha", make_pdf()) is None
    assert signing.sign_pdf(config, "beta", make_pdf()) is None
    assert "expired" in caplog.text and "not a PKCS#12 file" in caplog.text
    assert "expired on" in signing.certificate_info(config, "alpha").problem
    assert "not a PKCS#12 file" in signing.certificate_info(config, "beta").problem


def test_the_certificate_is_loaded_once_per_file(tmp_path, demo_p12, monkeypatch):
    folder = _folder(tmp_path, demo_p12)
    config = {"HAMAYNK_SIGNING_DIR": str(folder), "HAMAYNK_SIGNING_PASSWORD": PASSWORD}
    loads = []
    real = signers.SimpleSigner.load_pkcs12

    def counting(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(signers.SimpleSigner, "load_pkcs12", counting)
    signing._SIGNERS.clear()
    for _ in range(3):
        assert signing.sign_pdf(config, "alpha", make_pdf()) is not None
    assert len(loads) == 1
    # A replaced file is read again.
    signing.make_demo_certificate(folder / "alpha.p12", PASSWORD, "Replaced (demo)")
    assert signing.sign_pdf(config, "alpha", make_pdf()) is not None
    assert len(loads) == 2


def test_an_issued_decision_is_signed_and_its_text_survives(hamaynk_app_factory, tmp_path, demo_p12):
    app = hamaynk_app_factory(
        plugins=builtin_plugins(),
        HAMAYNK_SIGNING_DIR=str(_folder(tmp_path, demo_p12)),
        HAMAYNK_SIGNING_PASSWORD=PASSWORD,
    )
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    service = plugin_runtime.registry(app).get("residence-certificate").service
    filed = apply(
        app,
        "residence-certificate",
        data=sample_data(service, samples.overrides("residence-certificate")),
        applicant_name="Պողոս Պետրոսյան",
    )
    walk(app, filed.id)
    with app.app_context():
        document = db.session.execute(select(IssuedDocument)).scalar_one()
        db.session.expunge(document)
    with get_storage(app).open(document.storage_key) as stream:
        pdf = stream.read()
    assert document.signed and document.sha256 == hashlib.sha256(pdf).hexdigest()
    assert _validate(pdf, _trust(demo_p12)).bottom_line
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Պողոս Պետրոսյան" in text and "Սույնով տեղեկացվում է" in text
    # A re-issue is signed too.
    with app.test_request_context("/?_l_=en"):
        row = db.session.get(IssuedDocument, document.id)
        new = issuing.reissue(
            db.session, plugin_runtime.host(app), row, actor=actor_for(app.seeded["alpha"]["users"]["head"])
        )
        assert new.signed


def test_demo_makes_a_certificate_per_demo_municipality_once(hamaynk_app_factory, tmp_path):
    folder = tmp_path / "signing"
    app = hamaynk_app_factory(
        plugins=builtin_plugins(), HAMAYNK_SIGNING_DIR=str(folder), HAMAYNK_SIGNING_PASSWORD="demo"
    )
    result = app.test_cli_runner().invoke(args=["hamaynk", "demo"])
    assert result.exit_code == 0, result.output
    from app.demo import MUNICIPALITIES

    codes = [code for code, *_rest in MUNICIPALITIES]
    files = {code: folder / f"{code}.p12" for code in codes}
    assert all(path.is_file() for path in files.values())
    assert oct(files[codes[0]].stat().st_mode & 0o777) == "0o600"
    assert "demo signing certificate for Abovyan municipality" in result.output
    with app.app_context():
        names = {m.code: m.name_en for m in db.session.execute(select(Municipality)).scalars()}
    for code in codes:
        info = signing.certificate_info(app.config, code)
        assert info.usable and f"{names[code]} municipality (demo)" in info.subject
    before = {code: path.read_bytes() for code, path in files.items()}
    again = app.test_cli_runner().invoke(args=["hamaynk", "demo"])
    assert again.exit_code == 0 and "demo signing certificate" not in again.output
    assert {code: path.read_bytes() for code, path in files.items()} == before


def test_demo_without_a_password_makes_no_certificate(tmp_path):
    messages = []
    made = signing.ensure_demo_certificates(
        {"HAMAYNK_SIGNING_DIR": str(tmp_path)}, [("abovyan", "Abovyan")], messages.append
    )
    assert made == [] and not (tmp_path / "abovyan.p12").exists()
    assert "no signing password" in messages[0]
    assert signing.ensure_demo_certificates({}, [("abovyan", "Abovyan")], messages.append) == []


def test_development_signs_out_of_the_box():
    import config

    assert config.DevelopmentConfig.HAMAYNK_SIGNING_PASSWORD
    assert config.DevelopmentConfig.HAMAYNK_SIGNING_DIR.endswith("signing")
    assert config.TestConfig.HAMAYNK_SIGNING_DIR == ""
