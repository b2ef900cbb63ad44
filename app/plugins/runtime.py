"""Binds the plug-in host to an app and gives the rest of the core one way to reach it."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from app.domain.declarations import Service
from app.extensions import current_flask_app
from app.plugins.host import PluginHost, build_plugin_host
from app.plugins.registry import ServiceRegistry


def checking_from_command_line(argv: list[str] | None = None) -> bool:
    """Whether this process runs ``flask hamaynk check`` (or ``hamaynk hamaynk check``).

    Flask creates the app before it can even find the ``hamaynk`` commands, and a strict app
    stops at the first broken plug-in; ``check`` must see them all, so its app is built
    forgiving. Click has already taken the words off its context by then: only the command
    line tells."""
    words = list(sys.argv[1:] if argv is None else argv)
    return any(words[i : i + 2] == ["hamaynk", "check"] for i in range(len(words)))


def init_app(app: Flask) -> None:
    strict = bool(app.config.get("HAMAYNK_STRICT_PLUGINS", True)) and not checking_from_command_line()
    host = build_plugin_host(app.config, strict=strict)
    app.extensions["hamaynk.plugins"] = host
    # Plug-ins' own catalogs (app.sdk.gettext finds their strings). Babel merges directories
    # in order, later ones winning: plug-ins go before the core's, so a plug-in can add texts
    # but never change the core's. Set before Flask-AppBuilder starts Babel with this value.
    plugin_catalogs = host.translation_dirs()
    if plugin_catalogs:
        core = app.config.get("BABEL_TRANSLATION_DIRECTORIES") or ""
        app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join([*plugin_catalogs, *([core] if core else [])])
    # Services built in the admin UI live in the database; they join after every plug-in.
    # A plug-in or definition file declaring a built service's key is refused (it is the
    # newcomer: the builder never takes a plug-in's key), and a strict start says so.
    from app.plugins import builder_services

    builder_services.init_app(app)
    host.raise_if_strict()


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
