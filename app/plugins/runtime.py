"""Binds the plug-in host to an app and gives the rest of the core one way to reach it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from app.domain.declarations import Service
from app.extensions import current_flask_app
from app.plugins.host import PluginHost, build_plugin_host
from app.plugins.registry import ServiceRegistry


def init_app(app: Flask) -> None:
    host = build_plugin_host(app.config)
    app.extensions["hamaynk.plugins"] = host
    # Services built in the admin UI live in the database; they join after every plug-in,
    # so a plug-in always keeps its key.
    from app.plugins import builder_services

    builder_services.init_app(app)


def host(app: Flask | None = None) -> PluginHost:
    return (app or current_app).extensions["hamaynk.plugins"]


def registry(app: Flask | None = None) -> ServiceRegistry:
    return host(app).registry


def validate_application_data(
    service: Service, raw: Mapping[str, Any], app: Flask | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Declared rules first, then every plug-in's ``validate_application`` (merged): what
    filing (:func:`app.domain.intake.file`) checks on every channel."""
    from app.domain.intake import validate_form_data

    return validate_form_data(host(app), service, raw)


def applicant_from_registry(psn: str, app: Flask | None = None) -> Mapping[str, Any] | None:
    return host(app).hook.applicant_from_registry(psn=psn)


def form_class(service: Service, locale: str, app: Flask | None = None):
    """The WTForms class for a service's form, validating through validate_application_data."""
    from app.domain.formbuilder import build_form_class

    the_app = app or current_flask_app()
    return build_form_class(
        service, registry(the_app).field_types, locale, lambda svc, raw: validate_application_data(svc, raw, the_app)
    )


def json_schema(service: Service, locale: str = "en", app: Flask | None = None) -> dict[str, Any]:
    from app.domain.fieldtypes import json_schema as build

    return build(service, registry(app).field_types, locale)
