"""Binds the plug-in host to an app and gives the rest of the core one way to reach it."""

from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, current_app

from app.domain.declarations import Service
from app.domain.fieldtypes import validate_data
from app.plugins import PluginHost, build_plugin_host
from app.registry import ServiceRegistry


def init_app(app: Flask) -> None:
    host = build_plugin_host(app.config)
    app.extensions["hamaynk.plugins"] = host


def host(app: Flask | None = None) -> PluginHost:
    return (app or current_app).extensions["hamaynk.plugins"]


def registry(app: Flask | None = None) -> ServiceRegistry:
    return host(app).registry


def validate_application_data(service: Service, raw: Mapping[str, Any], app: Flask | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Declared rules first, then every plug-in's ``validate_application`` (merged)."""
    h = host(app)

    def extra(svc: Service, data: dict[str, Any]) -> dict[str, str]:
        merged: dict[str, str] = {}
        for result in h.hook.validate_application(service=svc, data=data):
            for name, message in sorted((result or {}).items()):
                merged.setdefault(name, str(message))
        return merged

    return validate_data(service, raw, h.registry.field_types, extra)


def applicant_from_registry(psn: str, app: Flask | None = None) -> Mapping[str, Any] | None:
    return host(app).hook.applicant_from_registry(psn=psn)
