"""Application statuses: draft → submitted → in review (step by step) ⇄ returned for
correction → approved → issued; rejected and withdrawn are final.

The stored values are defined with the column, in app.models.applications (the models sit
below the domain); this module says what they mean and how they read.
"""

from flask_babel import lazy_gettext as _l

from app.models.applications import APPROVED, DRAFT, IN_REVIEW, ISSUED, REJECTED, RETURNED, SUBMITTED, WITHDRAWN

ALL = (DRAFT, SUBMITTED, IN_REVIEW, RETURNED, APPROVED, ISSUED, REJECTED, WITHDRAWN)
FINAL = (ISSUED, REJECTED, WITHDRAWN)
# While the application waits on the citizen its clock is suspended.
WAITING_ON_CITIZEN = (DRAFT, RETURNED)

LABELS = {
    DRAFT: _l("Draft"),
    SUBMITTED: _l("Submitted"),
    IN_REVIEW: _l("In review"),
    RETURNED: _l("Returned for correction"),
    APPROVED: _l("Approved"),
    ISSUED: _l("Issued"),
    REJECTED: _l("Rejected"),
    WITHDRAWN: _l("Withdrawn"),
}

__all__ = [
    "ALL",
    "APPROVED",
    "DRAFT",
    "FINAL",
    "IN_REVIEW",
    "ISSUED",
    "LABELS",
    "REJECTED",
    "RETURNED",
    "SUBMITTED",
    "WAITING_ON_CITIZEN",
    "WITHDRAWN",
]
