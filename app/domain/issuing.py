"""Issued documents: the decision an application ends with, as a PDF anyone can verify.

1. When the last step approves an application (status ``approved``) and its service declares
   an ``Output``, the output's template is rendered to a PDF in the applicant's language:
   the municipality's name and coat of arms, the document number and date, the holder, the
   decision's substance from the form data, the signer's name and role, and a verification
   block (a short code and a QR code of the public verification URL).
2. When an application is refused (status ``rejected``), a refusal decision with the reasons
   is issued the same way, whether or not the service declares an output.
3. With a signing certificate for the municipality (app.domain.signing), the PDF carries a
   PAdES signature; without one it is still issued, the verification page being its proof.
4. The file is stored once and never changed; its sha256 is kept. Issuing again (a corrected
   document) stores a new document and marks the old one superseded, pointing to the new one.
5. Plug-ins add data to the template through ``output_context`` and learn of each issued
   document through ``after_issue``.

TODO(issue 10): being written; :func:`on_decision` does nothing yet.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.domain import roles
from app.domain.access import Actor
from app.domain.declarations import Service
from app.domain.errors import NotAllowed
from app.models import Application, IssuedDocument, TransitionRecord

if TYPE_CHECKING:
    from app.plugins.host import PluginHost


def on_decision(
    session: Session, host: PluginHost, application: Application, service: Service, record: TransitionRecord
) -> None:
    """Issue the decision ``record`` just made (final approval or refusal); called by
    app.domain.workflow in the decision's transaction."""


# -- verification codes ----------------------------------------------------------------------

# Crockford's base 32: no I, L, O or U, so a code read aloud or typed from paper survives.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16  # 80 random bits: not enumerable, however fast anyone guesses
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1", "U": "V"})


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str | None) -> str | None:
    """The stored form of a code someone typed (any case, dashes or spaces, O for 0), or
    None when it cannot be one."""
    cleaned = "".join(ch for ch in (text or "").upper() if ch not in " -\t").translate(_CONFUSABLE)
    if len(cleaned) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in cleaned):
        return None
    return cleaned


def format_code(code: str) -> str:
    """``K7QM3XZP9D2HT4WA`` as printed and in URLs: ``K7QM-3XZP-9D2H-T4WA``."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def holder_initials(full_name: str) -> str:
    """What the public sees of the holder: the first letter of each name, e.g. "Ա. Պ."."""
    return " ".join(f"{part[0]}." for part in (full_name or "").split() if part[:1].isalpha())[:16]


# -- who manages issued documents ----------------------------------------------------------

MAY_NOT_MANAGE = _l("Only the head of the municipality's office may re-issue or revoke an issued document.")


def check_may_manage(actor: Actor | None, document: IssuedDocument) -> None:
    """Re-issuing and revoking are the head's decisions, in the document's own municipality."""
    if (
        actor is None
        or not actor.active
        or not actor.has(roles.HEAD)
        or actor.municipality_id != document.municipality_id
    ):
        raise NotAllowed(MAY_NOT_MANAGE)
