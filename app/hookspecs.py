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

from typing import Any, Mapping

import pluggy

from app.domain.declarations import FieldType, Service

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
