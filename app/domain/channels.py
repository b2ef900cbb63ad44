"""The ways an application reaches the municipality, as stored in ``Application.channel``
and named in audit events: the front office (and the staff screens behind it), the staff
REST API, and the citizen portal."""

from __future__ import annotations

OFFICE = "office"
API = "api"
ONLINE = "online"
CHANNELS = (OFFICE, API, ONLINE)


def require(channel: str) -> str:
    """``channel`` if it is one of :data:`CHANNELS`. Any other value is a bug in the caller,
    never input to show a person, so the error names the bad value in English."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}")
    return channel


__all__ = ["API", "CHANNELS", "OFFICE", "ONLINE", "require"]
