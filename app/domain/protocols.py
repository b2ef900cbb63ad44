"""Read-only views of the core's records, as plug-in hooks receive them.

Hooks are handed the core's own rows, but a plug-in author programs against these protocols
(re-exported by :mod:`app.sdk`), never against the ORM classes: they name what a plug-in may
rely on, and a type checker flags any attempt to assign to a record from a hook. New
attributes may be added in a minor core-API version; none is removed or renamed without a
major one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable


@runtime_checkable
class ApplicationView(Protocol):
    """One application, as ``after_submit``, ``before_transition`` and ``after_transition`` see it."""

    @property
    def id(self) -> int: ...

    @property
    def tracking_number(self) -> str: ...

    @property
    def municipality_id(self) -> int: ...

    @property
    def service_key(self) -> str: ...

    @property
    def service_version(self) -> int: ...

    @property
    def status(self) -> str:
        """One of the statuses in ``app.domain.statuses`` (``draft``, ``submitted``, …)."""

    @property
    def current_step(self) -> str | None:
        """The key of the step the application is at; ``None`` when it is at none."""

    @property
    def channel(self) -> str:
        """Where it was filed: ``office``, ``api`` or ``online``."""

    @property
    def data(self) -> Mapping[str, Any]:
        """The cleaned form values of the visible fields, by field name."""

    @property
    def applicant_name(self) -> str: ...

    @property
    def applicant_psn(self) -> str | None: ...

    @property
    def applicant_phone(self) -> str | None: ...

    @property
    def applicant_email(self) -> str | None: ...

    @property
    def applicant_address(self) -> str | None: ...

    @property
    def fee(self) -> int:
        """The fee in whole drams, as the municipality set it when the application was filed."""

    @property
    def created_at(self) -> dt.datetime: ...

    @property
    def submitted_at(self) -> dt.datetime | None: ...

    @property
    def due_at(self) -> dt.date | None:
        """The statutory deadline (a working day)."""

    @property
    def closed_at(self) -> dt.datetime | None: ...


@runtime_checkable
class TransitionView(Protocol):
    """One line of an application's immutable history, as ``after_transition`` sees it."""

    @property
    def id(self) -> int: ...

    @property
    def application_id(self) -> int: ...

    @property
    def action(self) -> str:
        """One of ``app.sdk.TRANSITION_ACTIONS``."""

    @property
    def step_key(self) -> str | None: ...

    @property
    def from_status(self) -> str | None: ...

    @property
    def to_status(self) -> str: ...

    @property
    def actor_id(self) -> int | None:
        """The user who acted; ``None`` for the system (escalation, a job)."""

    @property
    def comment(self) -> str | None:
        """Internal notes on ``comment`` records: never show them to the applicant."""

    @property
    def at(self) -> dt.datetime: ...


@runtime_checkable
class IssuedDocumentView(Protocol):
    """One issued document (a decision as a stored PDF), as ``after_issue`` sees it."""

    @property
    def id(self) -> int: ...

    @property
    def application_id(self) -> int: ...

    @property
    def municipality_id(self) -> int: ...

    @property
    def sequence(self) -> int:
        """1 for the first issue of the application's decision, 2 for its re-issue, …"""

    @property
    def kind(self) -> str:
        """``approval`` or ``rejection``."""

    @property
    def number(self) -> str:
        """The tracking number and the sequence, e.g. ``ABV-2026-000042-7/1``."""

    @property
    def code(self) -> str:
        """The verification code (16 characters, stored without dashes); the public checks the
        document with it at ``/verify/<code>``."""

    @property
    def service_key(self) -> str: ...

    @property
    def language(self) -> str:
        """The language the document is written in: ``hy``, ``en`` or ``ru``."""

    @property
    def title(self) -> str: ...

    @property
    def signer_name(self) -> str | None: ...

    @property
    def signer_role(self) -> str | None: ...

    @property
    def issued_at(self) -> dt.datetime:
        """When it was issued (UTC, naive, like every stored time)."""

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the stored PDF, which never changes."""

    @property
    def size(self) -> int: ...

    @property
    def signed(self) -> bool:
        """Whether the PDF carries the municipality's PAdES signature."""

    @property
    def status(self) -> str:
        """``valid``, ``superseded`` or ``revoked``."""

    @property
    def superseded_by_id(self) -> int | None: ...


if TYPE_CHECKING:
    from app.models import Application, IssuedDocument, TransitionRecord

    # The type checker proves here that the rows the core hands to hooks satisfy the views.
    def _application_is_a_view(application: Application) -> ApplicationView:
        return application

    def _record_is_a_view(record: TransitionRecord) -> TransitionView:
        return record

    def _document_is_a_view(document: IssuedDocument) -> IssuedDocumentView:
        return document
