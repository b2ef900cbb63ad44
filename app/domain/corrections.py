"""Corrections: what a return for correction names, what a resubmission may change, and
which of an application's documents are current.

A return (:func:`app.domain.workflow.return_for_correction`) names form fields and checklist
documents to fix, besides (or instead of) free text; its history record keeps them as
``details = {"fields": [...], "documents": [...]}``. A resubmission
(:func:`app.domain.workflow.resubmit`) may then

* change exactly the named fields: a value sent for another field is refused when it differs
  from the stored one (the same value is accepted and ignored, so a client may send the whole
  form back); the whole form is validated again by the rules every channel uses
  (:func:`app.domain.intake.validate_form_data`), because a changed field can make another
  one required or hide it;
* attach files to exactly the named documents (and to a document the changed data has just
  made required and that has none), checked by :mod:`app.domain.uploads` like any intake. A
  named document needs at least one new file. The new files *replace* the document's current
  files unless the channel asks to *add* them; replaced files are never deleted.

Its record keeps ``details = {"changes": {field: [old, new]}, "documents": {"replaced":
[{"requirement": key, "old": [ids], "new": [ids]}], "added": [{"requirement": key, "new":
[ids]}]}}``. Which documents are current is derived from that history alone: a document is
*superseded* once a resubmission listed it under ``replaced[].old``
(:func:`superseded_ids`). Nothing else records it, so the history cannot disagree with it.

Plain functions without a session of their own: the workflow hands them what it loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l

from app.domain.declarations import Service
from app.domain.documents import check_checklist
from app.domain.uploads import UploadRefused, check_uploads, close_all

if TYPE_CHECKING:
    from app.models import ApplicationDocument, TransitionRecord
    from app.plugins.host import PluginHost

RETURN = "return"
RESUBMIT = "resubmit"
# What a channel asks for a document's new files: replace the current ones (the default) or
# add to them.
REPLACE = "replace"
ADD = "add"
# More keys than any form declares: a longer list is a client's mistake, not a request.
MAX_KEYS = 200

NOT_A_KEY_LIST = _l("Send a list of keys.")
FIELD_NOT_NAMED = _l("This field was not named for correction, so it cannot be changed.")
DOCUMENT_NOT_NAMED = _l("This document was not named for correction, so no file can be attached to it.")
UNKNOWN_FIELD = _l("There is no such field in this form.")
UNKNOWN_DOCUMENT = _l("There is no such document in this service's checklist.")
CORRECTED_FILE_MISSING = _l("Attach the corrected file.")
ATTACH_DOCUMENT = _l("Attach this document.")


# -- what a return names ----------------------------------------------------------------------


def key_list(value: Any) -> list[str] | None:
    """``value`` as a list of distinct keys in the order given, or ``None`` when it is not a
    list (or tuple) of strings of sane length."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        return None
    items = list(value)
    if len(items) > MAX_KEYS or not all(isinstance(item, str) and 0 < len(item) <= 100 for item in items):
        return None
    return list(dict.fromkeys(item.strip() for item in items if item.strip()))


def check_named(service: Service, fields: Sequence[str], documents: Sequence[str]) -> dict[str, Any]:
    """Errors (keyed ``fields`` / ``documents``) for keys the service does not declare."""
    errors: dict[str, Any] = {}
    declared_fields = {spec.name for spec in service.fields}
    declared_documents = {req.key for req in service.documents}
    unknown = [key for key in fields if key not in declared_fields]
    if unknown:
        errors["fields"] = _l("These are not fields of this form: %(keys)s.", keys=", ".join(unknown))
    unknown = [key for key in documents if key not in declared_documents]
    if unknown:
        errors["documents"] = _l(
            "These are not documents of this service's checklist: %(keys)s.", keys=", ".join(unknown)
        )
    return errors


def in_declared_order(service: Service, fields: Iterable[str], documents: Iterable[str]) -> dict[str, list[str]]:
    """The ``details`` of a return: the named keys, in the order the service declares them."""
    wanted_fields, wanted_documents = set(fields), set(documents)
    return {
        "fields": [spec.name for spec in service.fields if spec.name in wanted_fields],
        "documents": [req.key for req in service.documents if req.key in wanted_documents],
    }


@dataclass(frozen=True)
class Requested:
    """What the open return asks to fix."""

    fields: tuple[str, ...] = ()
    documents: tuple[str, ...] = ()
    text: str | None = None
    record: TransitionRecord | None = None


def requested(records: Sequence[TransitionRecord]) -> Requested:
    """What the last return in ``records`` (the history, oldest first) named; empty when the
    application was never returned. Only meaningful while the application is returned."""
    for record in reversed(records):
        if record.action == RETURN:
            details = record.details or {}
            return Requested(
                fields=tuple(details.get("fields") or ()),
                documents=tuple(details.get("documents") or ()),
                text=record.comment,
                record=record,
            )
    return Requested()


# -- which documents are current ------------------------------------------------------------------


def superseded_ids(records: Iterable[TransitionRecord]) -> set[int]:
    """The ids of documents a resubmission replaced (they are kept, no longer current)."""
    gone: set[int] = set()
    for record in records:
        if record.action != RESUBMIT:
            continue
        for entry in ((record.details or {}).get("documents") or {}).get("replaced") or ():
            gone.update(int(i) for i in entry.get("old") or ())
    return gone


def current_by_requirement(
    documents: Iterable[ApplicationDocument], records: Iterable[TransitionRecord]
) -> dict[str, list[ApplicationDocument]]:
    gone = superseded_ids(records)
    current: dict[str, list[ApplicationDocument]] = {}
    for doc in documents:
        if doc.id not in gone:
            current.setdefault(doc.requirement_key, []).append(doc)
    return current


# -- checking a resubmission ------------------------------------------------------------------------


@dataclass
class Plan:
    """A resubmission that passed every check: what to store and what changed."""

    data: dict[str, Any]
    changes: dict[str, list[Any]]
    # Requirement key -> the files to store, in checklist order.
    uploads: dict[str, list[Any]] = field(default_factory=dict)
    # Requirement keys whose new files replace the current ones.
    replacing: set[str] = field(default_factory=set)
    current: dict[str, list[ApplicationDocument]] = field(default_factory=dict)

    def already_stored(self, key: str) -> int:
        """What the new files of ``key`` count against the checklist line's ``max_count``."""
        return 0 if key in self.replacing else len(self.current.get(key, ()))


def _uploaded(files: Sequence[Any] | None) -> list[Any]:
    # An empty file input still sends a part without a name (as in app.domain.intake).
    return [f for f in files or () if f is not None and (getattr(f, "filename", None) or "") != ""]


def rewind(files: Iterable[Any]) -> None:
    for upload in files:
        stream = getattr(upload, "stream", upload)
        if hasattr(stream, "seek"):
            stream.seek(0)


def plan_resubmission(
    host: PluginHost,
    service: Service,
    stored: Mapping[str, Any],
    asked: Requested,
    current: dict[str, list[ApplicationDocument]],
    *,
    data: Mapping[str, Any] | None,
    uploads: Mapping[str, Sequence[Any]] | None,
    add_to: Iterable[str] = (),
) -> tuple[Plan | None, dict[str, Any]]:
    """``(plan, {})`` or ``(None, errors)`` for a resubmission; nothing is written either way.

    ``data`` holds raw values (as a form or the API sends them) for the fields to change;
    ``uploads`` maps a requirement key to uploaded files; ``add_to`` names the requirements
    whose new files are added to the current ones instead of replacing them. Errors are
    keyed ``data.<field>`` and ``documents.<requirement>``, as intake reports them.
    """
    from app.domain.intake import validate_form_data  # intake imports the workflow, which imports us

    errors: dict[str, Any] = {}
    stored = dict(stored or {})
    declared = {spec.name for spec in service.fields}
    posted = dict(data or {})
    for key in list(posted):
        if key not in declared:
            errors[f"data.{key}"] = UNKNOWN_FIELD
            posted.pop(key)
    cleaned, data_errors = validate_form_data(host, service, {**stored, **posted})
    named_fields = set(asked.fields)
    for key in posted:
        if key not in named_fields and cleaned.get(key) != stored.get(key):
            errors[f"data.{key}"] = FIELD_NOT_NAMED
    for key, message in data_errors.items():
        errors.setdefault(f"data.{key}", message)

    requirements = {req.key: req for req in service.documents}
    chosen = {key: _uploaded(files) for key, files in (uploads or {}).items()}
    chosen = {key: files for key, files in chosen.items() if files}
    counts: dict[str, int] = {key: len(docs) for key, docs in current.items()}
    # A document the changed data has just made required, with nothing attached, may be
    # attached too: refusing it would leave the application stuck.
    newly_required = {req.key for req in check_checklist(service, cleaned, counts)}
    named_documents = set(asked.documents)
    replacing = {key for key in named_documents if key not in set(add_to)}
    for key in chosen:
        if key not in requirements:
            errors[f"documents.{key}"] = UNKNOWN_DOCUMENT
        elif key not in named_documents | newly_required:
            errors[f"documents.{key}"] = DOCUMENT_NOT_NAMED
    for key in asked.documents:
        if key in requirements and not chosen.get(key):
            errors.setdefault(f"documents.{key}", CORRECTED_FILE_MISSING)
    plan = Plan(
        data=cleaned,
        changes={},
        uploads={key: chosen[key] for key in requirements if key in chosen},
        replacing={key for key in replacing if key in chosen and current.get(key)},
        current=current,
    )
    # The files themselves, every one, so all problems are reported together; the streams
    # are rewound for storing afterwards.
    for key, files in plan.uploads.items():
        if f"documents.{key}" in errors:
            continue
        try:
            close_all(check_uploads(files, requirements[key], already_stored=plan.already_stored(key)))
        except UploadRefused as exc:
            errors[f"documents.{key}"] = str(exc)
        finally:
            rewind(files)
    after = dict(counts)
    for key, files in plan.uploads.items():
        after[key] = plan.already_stored(key) + len(files)
    for req in check_checklist(service, cleaned, after):
        # Only what this correction touches: a named document, or one the changed data has
        # made required. An older gap (a case filed with its papers on the desk) is the
        # specialist's to name, not a reason to refuse this resubmission.
        if req.key in named_documents or not req.is_required(stored):
            errors.setdefault(f"documents.{req.key}", ATTACH_DOCUMENT)
    if errors:
        return None, errors
    plan.changes = {
        key: [stored.get(key), cleaned.get(key)]
        for key in [spec.name for spec in service.fields]
        if stored.get(key) != cleaned.get(key)
    }
    return plan, {}


__all__ = [
    "ADD",
    "REPLACE",
    "Plan",
    "Requested",
    "check_named",
    "current_by_requirement",
    "in_declared_order",
    "key_list",
    "plan_resubmission",
    "requested",
    "rewind",
    "superseded_ids",
]
