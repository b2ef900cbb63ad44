"""Signing issued documents: a PAdES signature with the municipality's certificate (pyHanko).

Each municipality may have a signing certificate with its private key, as a PKCS#12 file
``<HAMAYNK_SIGNING_DIR>/<municipality code>.p12``. Its password comes from the environment
(or the app's config): ``HAMAYNK_SIGNING_PASSWORD_<CODE>`` for that municipality (the code
upper-cased, anything but letters and digits as ``_``: ``abovyan`` → ``ABOVYAN``), else
``HAMAYNK_SIGNING_PASSWORD`` for all. Never in a file.

:func:`sign_pdf` signs a PDF with it (PAdES baseline B-B: a CMS signature over the whole file
with the signing certificate embedded, ``ETSI.CAdES.detached``), so any PDF reader shows who
signed and detects a changed byte. Without a file for the municipality it answers ``None``
and the document is issued unsigned; its verification page is then its proof. A file that
cannot be used (a wrong password, not a PKCS#12, an expired certificate) is logged as an
error and also answers ``None``: a decision is never held up by the signing set-up, and
:func:`certificate_info` tells the administrator what is wrong.

A loaded certificate is kept per process (keyed by the file's path, modification time and
size and the password), so signing inside the decision's transaction costs the signature
only; replacing the file takes effect with the next document.

:func:`make_demo_certificate` makes a self-signed certificate for trying things out
(``flask hamaynk demo`` makes one per demo municipality). Readers show its signature as
"validity unknown" until the certificate is trusted; that is what a demo certificate is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

SUFFIX = ".p12"
FIELD_NAME = "HamaynkSignature"
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SigningError(Exception):
    """The certificate file exists but cannot be used; ``str()`` says why (for the log and
    the administrator, never the certificate's password)."""


@dataclass(frozen=True)
class CertificateInfo:
    """What the administrator sees of a municipality's signing certificate.

    ``problem`` is ``None`` when the file opens and the certificate is valid now; otherwise it
    says what is wrong (the password, the file, the dates), and the certificate's own fields
    are filled as far as they could be read."""

    path: str
    subject: str = ""
    issuer: str = ""
    not_before: dt.datetime | None = None  # UTC, timezone-aware
    not_after: dt.datetime | None = None  # UTC, timezone-aware
    self_signed: bool = False
    sha256_fingerprint: str = ""
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


# -- where the certificate is and how it opens -----------------------------------------------


def password_variable(municipality_code: str) -> str:
    """The environment variable (or config key) of one municipality's password."""
    return "HAMAYNK_SIGNING_PASSWORD_" + re.sub(r"[^A-Z0-9]", "_", municipality_code.upper())


def certificate_path(config: Mapping[str, Any], municipality_code: str) -> Path | None:
    """Where the municipality's PKCS#12 file would be; ``None`` when no signing folder is
    configured or the code cannot be a file name."""
    folder = str(config.get("HAMAYNK_SIGNING_DIR") or "").strip()
    if not folder or not _CODE_RE.match(municipality_code or "") or ".." in municipality_code:
        return None
    return Path(folder) / f"{municipality_code}{SUFFIX}"


def password_for(config: Mapping[str, Any], municipality_code: str) -> bytes | None:
    """The municipality's own password, else the shared one; the config first, then the
    environment. ``None`` when neither is set (a file without a password)."""
    for name in (password_variable(municipality_code), "HAMAYNK_SIGNING_PASSWORD"):
        value = config.get(name) or os.environ.get(name)
        if value:
            return str(value).encode("utf-8")
    return None


def _name(name: x509.Name) -> str:
    return name.rfc4514_string()


def _load(path: Path, password: bytes | None) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        hint = "" if password else f" (no password set: {password_variable(path.stem)} or HAMAYNK_SIGNING_PASSWORD)"
        raise SigningError(f"{path} is not a PKCS#12 file or its password is wrong{hint}") from None
    if key is None or certificate is None:
        raise SigningError(f"{path} holds no private key with its certificate")
    return key, certificate, list(others or [])


def _info(path: Path, certificate: x509.Certificate, problem: str | None = None) -> CertificateInfo:
    now = dt.datetime.now(dt.UTC)
    not_before, not_after = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if problem is None and now < not_before:
        problem = f"the certificate is valid only from {not_before:%Y-%m-%d}"
    if problem is None and now > not_after:
        problem = f"the certificate expired on {not_after:%Y-%m-%d}"
    return CertificateInfo(
        path=str(path),
        subject=_name(certificate.subject),
        issuer=_name(certificate.issuer),
        not_before=not_before,
        not_after=not_after,
        self_signed=certificate.subject == certificate.issuer,
        sha256_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
        problem=problem,
    )


def certificate_info(config: Mapping[str, Any], municipality_code: str) -> CertificateInfo | None:
    """The municipality's signing certificate as the admin page shows it (subject, issuer,
    validity, whether it can be used now and if not why), or ``None`` when there is none."""
    path = certificate_path(config, municipality_code)
    if path is None or not path.is_file():
        return None
    try:
        _key, certificate, _others = _load(path, password_for(config, municipality_code))
    except SigningError as exc:
        return CertificateInfo(path=str(path), problem=str(exc))
    return _info(path, certificate)


# -- signing -------------------------------------------------------------------------------------

_SIGNERS: dict[tuple[str, int, int, str], tuple[Any, dt.datetime]] = {}
_LOCK = threading.Lock()


def _signer(path: Path, password: bytes | None) -> Any:
    """A pyHanko signer for the file, loaded once per file version and password."""
    from pyhanko.sign import signers

    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size, hashlib.sha256(password or b"").hexdigest())
    with _LOCK:
        cached = _SIGNERS.get(key)
    if cached is None:
        _private_key, certificate, _others = _load(path, password)
        info = _info(path, certificate)
        if info.problem:
            raise SigningError(f"{path}: {info.problem}")
        signer = signers.SimpleSigner.load_pkcs12(str(path), passphrase=password)
        if signer is None:
            raise SigningError(f"{path}: pyHanko cannot use this key")
        cached = (signer, certificate.not_valid_after_utc)
        with _LOCK:
            # One entry per file: a replaced file drops its old signer.
            for stale in [k for k in _SIGNERS if k[0] == key[0]]:
                del _SIGNERS[stale]
            _SIGNERS[key] = cached
    signer, not_after = cached
    if dt.datetime.now(dt.UTC) > not_after:
        raise SigningError(f"{path}: the certificate expired on {not_after:%Y-%m-%d}")
    return signer


def sign_pdf(
    config: Mapping[str, Any],
    municipality_code: str,
    pdf: bytes,
    *,
    reason: str | None = None,
    location: str | None = None,
    signer_name: str | None = None,
) -> bytes | None:
    """``pdf`` with a PAdES signature by the municipality's certificate, or ``None`` when the
    municipality has none that can be used (then the document is issued unsigned)."""
    path = certificate_path(config, municipality_code)
    if path is None or not path.is_file():
        return None
    try:
        signer = _signer(path, password_for(config, municipality_code))
    except (SigningError, OSError) as exc:
        log.error("issuing unsigned: the signing certificate of %s cannot be used: %s", municipality_code, exc)
        return None
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason,
        location=location,
        name=signer_name,
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        out = signers.sign_pdf(writer, meta, signer=signer)
    except Exception:
        # Never expected for the PDFs Hamaynk makes; the document is still issued (unsigned).
        log.exception("issuing unsigned: signing with the certificate of %s failed", municipality_code)
        return None
    return out.getvalue()


# -- a certificate to try things out -------------------------------------------------------------


def make_demo_certificate(
    path: str | os.PathLike[str], password: str | bytes | None, common_name: str, *, days: int = 3 * 365
) -> CertificateInfo:
    """Write a self-signed signing certificate with a fresh RSA key to ``path`` (PKCS#12,
    encrypted with ``password``; created with mode 0600) and describe it. For demos and tests
    only: nobody vouches for a self-signed certificate."""
    target = Path(path)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hamaynk demo"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "AM"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    secret = password.encode("utf-8") if isinstance(password, str) else password
    encryption = serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    data = pkcs12.serialize_key_and_certificates(common_name.encode("utf-8"), key, certificate, None, encryption)
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return _info(target, certificate)


def ensure_demo_certificates(
    config: Mapping[str, Any], municipalities: list[tuple[str, str]], progress: Any = lambda _m: None
) -> list[str]:
    """A demo certificate for each ``(code, name)`` that has none yet in the signing folder;
    returns the codes it made one for. Does nothing without a signing folder or password."""
    made: list[str] = []
    for code, name in municipalities:
        path = certificate_path(config, code)
        if path is None:
            progress("no signing folder (HAMAYNK_SIGNING_DIR): documents are issued unsigned")
            return made
        if path.exists():
            continue
        password = password_for(config, code)
        if not password:
            progress(f"no signing password ({password_variable(code)} or HAMAYNK_SIGNING_PASSWORD): {code} unsigned")
            continue
        try:
            make_demo_certificate(path, password, f"{name} (demo)")
        except OSError as exc:
            progress(f"cannot write a demo signing certificate to {path}: {exc.strerror or exc}")
            continue
        progress(f"demo signing certificate for {name}: {path}")
        made.append(code)
    return made


__all__ = [
    "CertificateInfo",
    "SigningError",
    "certificate_info",
    "certificate_path",
    "ensure_demo_certificates",
    "make_demo_certificate",
    "password_for",
    "password_variable",
    "sign_pdf",
]
