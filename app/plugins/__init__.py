"""The plug-in machinery, in one package.

- ``hookspecs``: every hook a plug-in may implement (project ``hamaynk``);
- ``host``: builds the plug-in manager (entry points, configured modules, block list,
  core-API ranges, strict or forgiving start);
- ``registry``: validates declarations and holds the services and field types;
- ``definitions``: services declared in YAML/JSON files, the low-code path;
- ``builder_services``: services built in the admin UI, kept in step across processes;
- ``runtime``: binds the host to an app and hands it to the rest of the core;
- ``scaffold``: ``flask hamaynk new-service``.

Plug-in authors never import from here: ``app.sdk`` is their only API.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.plugins import runtime

    runtime.init_app(app)
