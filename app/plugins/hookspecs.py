"""Every hook Hamaynk calls. Plug-ins implement them with ``@hookimpl`` from :mod:`app.sdk`.

Rules that hold for every hook:

* The core always calls hooks with keyword arguments; an implementation may accept any
  subset of the arguments listed here.
* Nothing may depend on the order in which plug-ins run. Collect hooks (``register_*``) are
  merged, sorted and checked for duplicates; resolvers (``*_from_*``) stop at the first
  answer that is not ``None`` and are meant to be implemented by one plug-in per install.
* Each hook is documented in docs/plugins.md with this exact signature, and has a test named
  ``test_hook_<name>``; tests/test_hooks_documented.py enforces both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

from app.domain.declarations import FieldType, Service, Step, TransitionAction
from app.domain.identity import IdentityProvider
from app.domain.notifications import NotificationChannel
from app.domain.participation.residency import ResidencyFinding
from app.domain.payments import PaymentProvider
from app.domain.protocols import ApplicationView, IssuedDocumentView, TransitionView

hookspec = pluggy.HookspecMarker("hamaynk")


@hookspec
def register_services() -> list[Service]:
    """Return the services this plug-in provides.

    Fires once per app process, while the app is being created, before any request is
    served. Each returned :class:`Service` is validated; one bad declaration disables the
    whole plug-in (production) or stops the start (development, tests). Return several
    versions of one key to keep older applications working after a change.
    """


@hookspec
def register_field_types() -> list[FieldType]:
    """Return extra field types that service declarations may use by name.

    Fires once per app process, before ``register_services`` results are validated, so any
    plug-in's services may use any plug-in's field types. A name already taken by the core
    or another plug-in is refused.
    """


@hookspec
def validate_application(service: Service, data: Mapping[str, Any]) -> Mapping[str, str] | None:
    """Check submitted form data beyond what the declaration can express.

    Fires on every channel (front office, citizen portal, API) after the declared field
    rules passed and before anything is saved. ``data`` holds the cleaned values of the
    visible fields. Return ``{field_name: message}`` for each problem (messages in the
    current language, e.g. through ``app.sdk.gettext``), or ``None``/``{}`` when all is well.
    Errors from all plug-ins are merged.
    """


@hookspec(firstresult=True)
def applicant_from_registry(psn: str) -> Mapping[str, Any] | None:
    """Look a person up by public service number to prefill the applicant.

    Fires when a clerk or the API asks to prefill an applicant by a well-formed public
    service number. Return a mapping with any of ``name``, ``phone``, ``email``,
    ``address``, or ``None`` when this plug-in does not know the person; the first answer
    that is not ``None`` wins.
    """


@hookspec(firstresult=True)
def residency_from_registry(psn: str, municipality_code: str) -> ResidencyFinding | None:
    """Say whether the person with public service number ``psn`` lives in the municipality
    ``municipality_code`` (a population or address registry answers).

    Fires when a citizen whose identity an identity provider confirmed (their ``psn`` comes
    from it, never from a form) asks on their account page to verify their residency in a
    municipality. Return a ``ResidencyFinding(settlement_code, valid_days)`` when the person
    lives there (``settlement_code``: the code of their settlement as the municipality lists
    it, ``None`` where it has none; ``valid_days``: how long the answer holds, ``None`` for the
    install's setting), or ``None`` when they do not or you do not know. Plug-ins are asked in
    the order of their names and the first answer that is not ``None`` wins; the residency
    records which plug-in gave it. A raise or an answer of another type is logged and the
    citizen is asked to try later; nothing is written.
    """


@hookspec
def after_submit(application: ApplicationView, service: Service) -> None:
    """React to a new submission (e.g. send it to an outside system, notify someone).

    Fires once per application, when a draft is submitted from any channel: after its status,
    first step and due dates are set and its ``submit`` history record is written, inside the
    same database transaction and before it is committed — rows a plug-in adds to the session
    are committed together with the submission or not at all. ``after_transition`` has
    already fired for the ``submit`` record. Do not commit or roll back the session. In
    production an exception is logged and ignored; in development and tests it propagates.
    """


@hookspec
def before_transition(
    application: ApplicationView, service: Service, step: Step | None, action: TransitionAction, actor_id: int | None
) -> None:
    """Check an action before the core performs it; raise ``app.sdk.TransitionVetoed`` to refuse.

    Fires for every workflow action (``action`` is one of ``submit``, ``approve``,
    ``reject``, ``return``, ``resubmit``, ``withdraw``, ``comment``, ``reassign``,
    ``extend``, ``hand_over``) after the core's own checks (status, version, role, department,
    self-approval) passed and before anything is changed. ``step`` is the step the
    application is at (for ``submit``, the first step it will go to; ``None`` when it is
    at none). Raise ``TransitionVetoed(message)`` with a message in the current language
    to refuse; nothing is written and the actor sees the message. It may also fire for an
    attempt that then loses a race with a concurrent action and is refused as "changed
    meanwhile". Do not change the application here.
    """


@hookspec
def after_transition(application: ApplicationView, service: Service, record: TransitionView) -> None:
    """React to a recorded action (notify the applicant, update an outside system).

    Fires after every workflow action listed under ``before_transition`` has changed the
    application and its immutable history ``record`` (who, when, step, action, from and to
    status, comment) has been written, inside the same database transaction and before it is
    committed, so rows a plug-in adds (e.g. a notification) are committed with the change or
    not at all. Do not commit or roll back the session. In production an exception is logged
    and ignored; in development and tests it propagates and the caller rolls back.
    """


@hookspec
def output_context(application: ApplicationView, service: Service) -> Mapping[str, Any] | None:
    """Add data to the template of a service's issued document (its ``Output``).

    Fires once per document rendered from an ``Output`` template: when the last step approves
    an application of a service that declares one, and when the head re-issues such a
    document; inside the decision's transaction, before the template is rendered. Check
    ``service.key`` (it fires for every service). Return a mapping of names to values, or
    ``None``: each name is available in the template as ``extra.<name>`` and, unless the core
    already uses it (``application``, ``data``, ``number``, …), as ``<name>`` itself. Two
    plug-ins giving the same name is an error. Values are escaped like every value; do not
    write to the database here. In production an exception is logged and the document is
    issued without this plug-in's data; in development and tests it propagates.
    """


@hookspec
def after_issue(application: ApplicationView, service: Service, document: IssuedDocumentView) -> None:
    """React to an issued document (send its verification code somewhere, archive it).

    Fires once per issued document — a final approval of a service with an ``Output``, every
    refusal, and each re-issue by the head — after its PDF was rendered, signed (when the
    municipality has a certificate) and stored and its row written, inside the same database
    transaction as the decision (or the re-issue) and before it is committed: rows a plug-in
    adds are committed with it or not at all. Do not commit or roll back the session. In
    production an exception is logged and ignored; in development and tests it propagates
    and the decision is rolled back.
    """


@hookspec
def register_payment_providers(config: Mapping[str, Any]) -> list[PaymentProvider]:
    """Return the payment providers (online card or wallet gateways) this plug-in offers.

    Fires once per app process, while the app is being created, before any request is
    served. ``config`` is the app's configuration: read the merchant id and secret from it.
    The providers are merged with the built-in ones (``office``, and ``test`` where test
    payments are enabled) and sorted by key; a key already taken is refused with
    ``DuplicatePaymentProvider`` naming both plug-ins, and a bad declaration with
    ``PaymentProviderError`` (development and tests stop; production leaves the plug-in's
    providers out and logs why). See docs/payments.md.
    """


@hookspec
def register_notification_channels(config: Mapping[str, Any]) -> list[NotificationChannel]:
    """Return the notification channels (SMS gateways, messengers) this plug-in offers.

    Fires once per app process, while the app is being created, before any request is
    served. ``config`` is the app's configuration: read the gateway's address and key from
    it. The channels are merged with the built-in ones (``email``, ``sms``, ``inapp``) and
    sorted by key; a plug-in may register ``sms`` to replace the built-in log-only SMS
    channel, any other key already taken is refused with ``DuplicateChannel`` naming both
    owners (development and tests stop; production leaves the plug-in's channels out and
    logs why). ``send(message)`` runs later in the job worker, inside the app context, once
    per notification; raising retries it with back-off. See docs/notifications.md.
    """


@hookspec
def register_identity_providers(config: Mapping[str, Any]) -> list[IdentityProvider]:
    """Return the identity providers (national e-ID, mobile ID, an OpenID Connect server)
    citizens may sign in with through this plug-in.

    Fires once per app process, while the app is being created, before any request is
    served. ``config`` is the app's configuration: read client ids and secrets from it.
    The providers are merged with the built-in ``password`` provider (always listed first)
    and those ``HAMAYNK_OIDC_PROVIDERS`` configures, and sorted by key; a key already taken
    is refused with ``DuplicateIdentityProvider`` naming both owners, and a bad declaration
    with ``IdentityProviderError`` (development and tests stop; production leaves the
    plug-in's providers out and logs why). ``app.sdk.oidc_provider(settings)`` builds an
    OpenID Connect provider. See docs/identity.md.
    """
