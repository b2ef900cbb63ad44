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

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.domain.declarations import Service
from app.models import Application, TransitionRecord

if TYPE_CHECKING:
    from app.plugins.host import PluginHost


def on_decision(
    session: Session, host: PluginHost, application: Application, service: Service, record: TransitionRecord
) -> None:
    """Issue the decision ``record`` just made (final approval or refusal); called by
    app.domain.workflow in the decision's transaction."""
