"""All core tables. Importing this package registers every model on the shared metadata."""

from flask_appbuilder.security.sqla import models as fab_models  # noqa: F401 - registers ab_* tables

# Flask-AppBuilder's user and role tables, named here so the domain imports models from one place.
from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role

from app.models.applications import Application, ApplicationDocument, AuditEvent, TransitionRecord
from app.models.base import Model, metadata
from app.models.deadlines import DeadlineAdjustment, MunicipalHoliday
from app.models.guards import install_guards
from app.models.municipality import Department, Municipality
from app.models.services import ServiceActivation
from app.models.staff import StaffProfile
from app.models.tracking import TrackingCounter

__all__ = [
    "Application",
    "ApplicationDocument",
    "AuditEvent",
    "DeadlineAdjustment",
    "Department",
    "Model",
    "MunicipalHoliday",
    "Municipality",
    "Role",
    "ServiceActivation",
    "StaffProfile",
    "TrackingCounter",
    "TransitionRecord",
    "User",
    "assoc_user_role",
    "install_guards",
    "metadata",
]

from app.models.service_definitions import ServiceDefinition

__all__ += ["ServiceDefinition"]

from app.models.notifications import Notification  # noqa: E402

__all__ += ["Notification"]

from app.models.office import PendingReceiptCode, StagedUpload, Substitution  # noqa: E402

__all__ += ["PendingReceiptCode", "StagedUpload", "Substitution"]

from app.models.portal import (  # noqa: E402
    CitizenIdentity,
    CitizenProfile,
    NotificationText,
    Payment,
    PortalDraft,
    Question,
    QuestionAttachment,
    QuestionMessage,
)

__all__ += [
    "CitizenIdentity",
    "CitizenProfile",
    "NotificationText",
    "Payment",
    "PortalDraft",
    "Question",
    "QuestionAttachment",
    "QuestionMessage",
]

from app.models.issuing import IssuedDocument, StatAction, StatDuration, StatMonth  # noqa: E402

__all__ += ["IssuedDocument", "StatAction", "StatDuration", "StatMonth"]

from app.models.security import AccountSecurity, AuditChain, AuthSession, IdempotencyRecord  # noqa: E402

__all__ += ["AccountSecurity", "AuditChain", "AuthSession", "IdempotencyRecord"]

from app.models.participation import (  # noqa: E402
    Ballot,
    CommentSupport,
    Consultation,
    ConsultationComment,
    ParticipationFile,
    Poll,
    PollOption,
    PollQuestion,
    PollVoter,
    Proposal,
    ProposalSupport,
    Residency,
    Settlement,
)

__all__ += [
    "Ballot",
    "CommentSupport",
    "Consultation",
    "ConsultationComment",
    "ParticipationFile",
    "Poll",
    "PollOption",
    "PollQuestion",
    "PollVoter",
    "Proposal",
    "ProposalSupport",
    "Residency",
    "Settlement",
]
