"""Application statuses (DESIGN §7). Stored as these strings; never rename one."""

from flask_babel import lazy_gettext as _l

DRAFT = "draft"
SUBMITTED = "submitted"
IN_REVIEW = "in_review"
RETURNED = "returned_for_correction"
APPROVED = "approved"
ISSUED = "issued"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"

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
