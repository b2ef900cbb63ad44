"""The only module plug-in authors import from.

    from app.sdk import hookimpl, Service, Field, Document, Step, Output, Condition

Everything here is a stable API (see CORE_API_VERSION); anything else in ``app`` may change
without notice. Pluggy is an implementation detail and is never imported by plug-ins. The
module is fully typed: the closed vocabularies of a declaration are ``Literal`` types, and
hooks receive read-only views (:class:`ApplicationView`, :class:`TransitionView`,
:class:`IssuedDocumentView`), never
the core's database models.

Texts a plug-in's code shows go through :func:`gettext` / :func:`lazy_gettext`; the plug-in
ships their translations in a ``translations/`` folder next to its module (found when it
loads; see docs/plugins.md, section 6).
"""

from __future__ import annotations

import pluggy
from flask_babel import gettext, lazy_gettext

from app.domain.declarations import (
    ACTIONS,
    CONDITION_OPS,
    DOCUMENT_TYPES,
    FEE_PERIODS,
    INPUT_TYPES,
    PYTHON_TYPES,
    ROLE_KEYS,
    STEP_ROLES,
    TRANSITION_ACTIONS,
    Action,
    Choice,
    Condition,
    ConditionOp,
    Document,
    DocumentType,
    FeeItem,
    FeePeriod,
    Field,
    FieldCleaner,
    FieldType,
    InputType,
    Output,
    PythonType,
    RoleKey,
    Service,
    Step,
    StepRole,
    TransitionAction,
)
from app.domain.errors import TransitionVetoed
from app.domain.identity import (
    DuplicateIdentityProvider,
    ExternalIdentity,
    IdentityError,
    IdentityProvider,
    IdentityProviderError,
    OIDCSettings,
    oidc_provider,
)
from app.domain.notifications import DeliveryFailed, DuplicateChannel, NotificationChannel, OutgoingMessage
from app.domain.participation.residency import ResidencyFinding
from app.domain.payments import (
    OUTCOMES,
    CallbackRefused,
    CallbackResult,
    DuplicatePaymentProvider,
    Outcome,
    PaymentProvider,
    PaymentProviderError,
    PaymentView,
    Redirect,
)
from app.domain.protocols import ApplicationView, IssuedDocumentView, TransitionView
from app.domain.tracking import office_today
from app.plugins.definitions import load_definition_file, service_from_dict

# Bumped in its major part whenever a change here could break a plug-in. A plug-in states the
# range it supports in a module-level REQUIRES_CORE_API, e.g. ">=1,<2".
CORE_API_VERSION = "1.3"

hookimpl = pluggy.HookimplMarker("hamaynk")

__all__ = [
    "ACTIONS",
    "CONDITION_OPS",
    "CORE_API_VERSION",
    "DOCUMENT_TYPES",
    "FEE_PERIODS",
    "INPUT_TYPES",
    "OUTCOMES",
    "PYTHON_TYPES",
    "ROLE_KEYS",
    "STEP_ROLES",
    "TRANSITION_ACTIONS",
    "Action",
    "ApplicationView",
    "CallbackRefused",
    "CallbackResult",
    "Choice",
    "Condition",
    "ConditionOp",
    "DeliveryFailed",
    "Document",
    "DocumentType",
    "DuplicateChannel",
    "DuplicateIdentityProvider",
    "DuplicatePaymentProvider",
    "ExternalIdentity",
    "FeeItem",
    "FeePeriod",
    "Field",
    "FieldCleaner",
    "FieldType",
    "IdentityError",
    "IdentityProvider",
    "IdentityProviderError",
    "InputType",
    "IssuedDocumentView",
    "NotificationChannel",
    "OIDCSettings",
    "Outcome",
    "OutgoingMessage",
    "Output",
    "PaymentProvider",
    "PaymentProviderError",
    "PaymentView",
    "PythonType",
    "Redirect",
    "ResidencyFinding",
    "RoleKey",
    "Service",
    "Step",
    "StepRole",
    "TransitionAction",
    "TransitionVetoed",
    "TransitionView",
    "gettext",
    "hookimpl",
    "lazy_gettext",
    "load_definition_file",
    "office_today",
    "oidc_provider",
    "service_from_dict",
]
