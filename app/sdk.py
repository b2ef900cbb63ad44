"""The only module plug-in authors import from.

    from app.sdk import hookimpl, Service, Field, Document, Step, Output, Condition

Everything here is a stable API (see CORE_API_VERSION); anything else in ``app`` may change
without notice. Pluggy is an implementation detail and is never imported by plug-ins.
"""

from __future__ import annotations

import pluggy
from flask_babel import gettext, lazy_gettext

from app.domain.declarations import (
    ACTIONS,
    DOCUMENT_TYPES,
    STEP_ROLES,
    Choice,
    Condition,
    Document,
    Field,
    FieldType,
    Output,
    Service,
    Step,
)
from app.domain.errors import TransitionVetoed
from app.domain.tracking import office_today
from app.plugins.definitions import load_definition_file, service_from_dict

# Bumped in its major part whenever a change here could break a plug-in. A plug-in states the
# range it supports in a module-level REQUIRES_CORE_API, e.g. ">=1,<2".
CORE_API_VERSION = "1.0"

hookimpl = pluggy.HookimplMarker("hamaynk")

__all__ = [
    "ACTIONS",
    "CORE_API_VERSION",
    "DOCUMENT_TYPES",
    "STEP_ROLES",
    "Choice",
    "Condition",
    "Document",
    "Field",
    "FieldType",
    "Output",
    "Service",
    "Step",
    "TransitionVetoed",
    "gettext",
    "hookimpl",
    "lazy_gettext",
    "load_definition_file",
    "office_today",
    "service_from_dict",
]
