"""The ways an application reaches the municipality, as stored in ``Application.channel``
and named in audit events: the front office (and the staff screens behind it), the staff
REST API, and the citizen portal."""

from __future__ import annotations

OFFICE = "office"
API = "api"
ONLINE = "online"
CHANNELS = (OFFICE, API, ONLINE)

__all__ = ["API", "CHANNELS", "OFFICE", "ONLINE"]
