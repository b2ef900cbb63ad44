"""Public event notification (հանրային միջոցառման մասին իրազեկում): the low-code example.

The whole service lives in service.yaml next to this file, in the same schema as the
definition files an administrator can drop into a service directory; this module only hands
it to Hamaynk. The process, in plain words:

1. The organiser notifies the community about an assembly, march, cultural or sports event
   in a public place: what, when, where and how many people are expected.
2. The organiser's identity document is attached; the route map for a march, the
   organisation's authorisation when an organisation organises, a safety plan when more
   than 1000 people are expected.
3. The front office registers the notification (1 working day).
4. The community head's office reviews it and, only on the grounds the law allows, may
   restrict the event (2 working days).
5. An acknowledgement of the notification is issued as a PDF with a verification code.
"""

from __future__ import annotations

from pathlib import Path

from app.sdk import Service, hookimpl, load_definition_file

REQUIRES_CORE_API = ">=1,<2"

DEFINITION = Path(__file__).parent / "service.yaml"


@hookimpl
def register_services() -> list[Service]:
    return load_definition_file(DEFINITION)
