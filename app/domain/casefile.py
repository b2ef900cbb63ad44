"""What the case page shows, worked out without a request: the form data as the service's own
version declared it, masked where the reader does not need personal data, the timeline,
deadlines, reassignment candidates and safe download headers.

Who sees personal data (fields declared ``personal=True``, the applicant's public service
number, phone, e-mail and address, and the documents themselves): the staff who work on the
municipality's applications — its clerks, specialists, heads and municipal administrators.
Auditors read everything else but get these masked and cannot open documents: they check
that the process was followed, which needs neither a passport scan nor a PSN. System
administrators run the installation, not cases, and are treated like auditors.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from flask_appbuilder.security.sqla.models import Role, User
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import deadlines, roles, statuses, workflow
from app.domain.declarations import DOCUMENT_TYPES, Field, Service, Step, pick
from app.domain.errors import WorkflowError
from app.i18n import format_date
from app.models import Application, StaffProfile, TransitionRecord

PERSONAL_DATA_ROLES = (roles.CLERK, roles.SPECIALIST, roles.HEAD, roles.MUNICIPAL_ADMIN)
MASK = "\u2022"
# Types a browser shows by itself; anything else is only ever downloaded.
PREVIEW_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png", "image/webp"})
# Served with every inline preview: nothing may load, run or navigate from inside the file.
PREVIEW_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"

ACTION_LABELS = {
    workflow.SUBMIT: _l("Submitted"),
    workflow.APPROVE: _l("Approved the step"),
    workflow.REJECT: _l("Rejected"),
    workflow.RETURN: _l("Returned for correction"),
    workflow.RESUBMIT: _l("Resubmitted after correction"),
    workflow.COMMENT: _l("Internal comment"),
    workflow.REASSIGN: _l("Reassigned"),
    workflow.EXTEND: _l("Extended the deadline"),
    workflow.WITHDRAW: _l("Withdrawn"),
}


def may_see_personal(actor: workflow.Actor | None, application: Application) -> bool:
    return bool(
        actor is not None
        and actor.active
        and actor.municipality_id == application.municipality_id
        and actor.has(*PERSONAL_DATA_ROLES)
    )


def mask(value: Any) -> str:
    """All but the last two characters hidden: enough to tell two applicants apart on the
    phone, not enough to reuse the number."""
    text = str(value or "")
    if not text:
        return ""
    if len(text) <= 4:
        return MASK * len(text)
    return MASK * (len(text) - 2) + text[-2:]


# -- form data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    name: str
    label: str
    value: str
    personal: bool
    masked: bool


def _choice_label(spec: Field, value: Any, locale: str) -> str:
    for choice in spec.choices:
        if choice.value == value:
            return pick(choice.label, locale)
    return str(value)


def display_value(spec: Field, value: Any, locale: str) -> str:
    """A stored value as the reader should see it: choice labels, yes/no, local dates."""
    if spec.type == "choice":
        return _choice_label(spec, value, locale)
    if spec.type == "multichoice" and isinstance(value, (list, tuple)):
        return ", ".join(_choice_label(spec, item, locale) for item in value)
    if spec.type == "boolean" or isinstance(value, bool):
        return _("Yes") if value else _("No")
    if spec.type == "date" and isinstance(value, str):
        try:
            return format_date(dt.date.fromisoformat(value), "long", locale)
        except ValueError:
            return value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def form_rows(service: Service, data: Mapping[str, Any], locale: str, show_personal: bool) -> list[FieldRow]:
    """One row per declared field that holds a value, in declared order."""
    rows = []
    for spec in service.fields:
        value = (data or {}).get(spec.name)
        if value is None or value == "" or value == []:
            continue
        shown = display_value(spec, value, locale)
        masked = spec.personal and not show_personal
        rows.append(
            FieldRow(spec.name, pick(spec.label, locale), mask(shown) if masked else shown, spec.personal, masked)
        )
    return rows


def applicant_rows(application: Application, show_personal: bool) -> list[tuple[str, str, bool]]:
    """(label, value, masked) for the applicant's own details."""
    rows = [(_("Name"), application.applicant_name, False)]
    for label, value in (
        (_("Public service number"), application.applicant_psn),
        (_("Phone"), application.applicant_phone),
        (_("E-mail"), application.applicant_email),
        (_("Address"), application.applicant_address),
    ):
        if value:
            rows.append((label, value if show_personal else mask(value), not show_personal))
    return rows


# -- timeline ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: dt.datetime
    action: str
    label: str
    actor: str
    step: str
    status: str
    comment: str | None


def user_names(session: Session, user_ids) -> dict[int, str]:
    ids = sorted({uid for uid in user_ids if uid is not None})
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.first_name, User.last_name).where(User.id.in_(ids))).all()
    return {uid: " ".join(p for p in (first, last) if p) for uid, first, last in rows}


def timeline(session: Session, application: Application, service: Service | None, locale: str) -> list[Event]:
    records: list[TransitionRecord] = workflow.history(session, application)
    names = user_names(session, [r.actor_id for r in records])
    events = []
    for record in records:
        step = service.step(record.step_key) if service and record.step_key else None
        events.append(
            Event(
                at=record.at,
                action=record.action,
                label=str(ACTION_LABELS.get(record.action, record.action)),
                actor=names.get(record.actor_id, _("System")) if record.actor_id else _("System"),
                step=pick(step.title, locale) if step else (record.step_key or ""),
                status=str(statuses.LABELS.get(record.to_status, record.to_status)),
                comment=record.comment,
            )
        )
    return events


# -- deadlines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineInfo:
    due_at: dt.date | None
    step_due_at: dt.datetime | None
    overdue: bool
    step_overdue: bool
    suspended_since: dt.date | None


def deadline_info(session: Session, application: Application, on: dt.date | None = None) -> DeadlineInfo:
    suspended_since = None
    if application.status == statuses.RETURNED:
        suspension = workflow.open_suspension(session, application)
        suspended_since = suspension.start_date if suspension else None
    return DeadlineInfo(
        due_at=application.due_at,
        step_due_at=application.step_due_at,
        overdue=deadlines.is_overdue(application, on),
        step_overdue=deadlines.is_step_overdue(application, on),
        suspended_since=suspended_since,
    )


# -- reassignment ------------------------------------------------------------------------------


def reassign_candidates(session: Session, application: Application, step: Step | None) -> list[tuple[int, str]]:
    """Active staff of the application's municipality with the step's role, in its
    responsible department (when it has one) — the people :func:`workflow.reassign` accepts."""
    if step is None:
        return []
    try:
        department_id = workflow.responsible_department_id(session, application, step)
    except WorkflowError:
        return []
    role_name = roles.ROLE_BY_KEY.get(step.role, step.role)
    stmt = (
        select(User.id, User.first_name, User.last_name)
        .join(StaffProfile, StaffProfile.user_id == User.id)
        .where(
            StaffProfile.municipality_id == application.municipality_id,
            User.active.is_(True),
            User.roles.any(Role.name == role_name),
        )
        .order_by(User.last_name, User.first_name, User.id)
    )
    if department_id is not None:
        stmt = stmt.where(StaffProfile.department_id == department_id)
    if application.assignee_id is not None:
        stmt = stmt.where(User.id != application.assignee_id)
    return [(uid, " ".join(p for p in (first, last) if p)) for uid, first, last in session.execute(stmt).all()]


# -- downloads ---------------------------------------------------------------------------------

_EXTENSION_BY_TYPE = {mime: name for name, mimes in DOCUMENT_TYPES.items() for mime in mimes}
_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._ -]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f/\\]+")


def download_name(original: str, document_id: int, content_type: str) -> str:
    """The name to offer: the uploaded one without path parts or control characters, with
    the extension of the type the content really is."""
    name = _CONTROL.sub("_", unicodedata.normalize("NFC", original or "")).strip(" ._")[:150]
    extension = _EXTENSION_BY_TYPE.get(content_type)
    if not name:
        name = f"document-{document_id}"
    if (
        extension
        and not name.lower().endswith("." + extension)
        and not (extension == "jpeg" and name.lower().endswith(".jpg"))
    ):
        name = f"{name}.{extension}"
    return name


def content_disposition(disposition: str, name: str, document_id: int) -> str:
    """``attachment``/``inline`` with an ASCII ``filename`` any browser takes and the real
    name as an RFC 5987 ``filename*`` (UTF-8, percent-encoded, so no quote or newline can
    break out of the header)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = _UNSAFE_ASCII.sub("_", ascii_name).strip(" ._")
    stem = ascii_name.rsplit(".", 1)[0] if "." in ascii_name else ascii_name
    if not stem.strip("_ "):
        suffix = name.rsplit(".", 1)[1] if "." in name else ""
        suffix = _UNSAFE_ASCII.sub("", suffix)
        ascii_name = f"document-{document_id}" + (f".{suffix}" if suffix else "")
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


__all__ = [
    "ACTION_LABELS",
    "PREVIEW_CSP",
    "PREVIEW_TYPES",
    "DeadlineInfo",
    "Event",
    "FieldRow",
    "applicant_rows",
    "content_disposition",
    "deadline_info",
    "display_value",
    "download_name",
    "form_rows",
    "mask",
    "may_see_personal",
    "reassign_candidates",
    "timeline",
    "user_names",
]
