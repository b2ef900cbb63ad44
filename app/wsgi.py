"""The WSGI entry point of production app servers (docs/deploy.md):

    gunicorn -c python:app.gunicorn_conf          # names app.wsgi:application itself

The first look at ``application`` (gunicorn's, in each worker) builds the app from the
environment (``HAMAYNK_ENV=production``, …): each worker builds its own, after the fork (see
app.gunicorn_conf on why). ``application`` is the app behind :func:`behind_proxies`; ``app`` is
the Flask app.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app


def behind_proxies(flask_app: Flask) -> Any:
    """``flask_app`` as the server should call it: with ``HAMAYNK_TRUSTED_PROXIES`` = N > 0,
    the client's address and scheme come from the Nth entry from the right of the
    X-Forwarded-For and X-Forwarded-Proto headers the proxies add (Werkzeug's ProxyFix), so
    rate limits (app.limits) count per client, not all clients as the one proxy. Entries left
    of that are whatever the client sent and are never trusted. 0: the socket's address."""
    hops = int(flask_app.config.get("HAMAYNK_TRUSTED_PROXIES") or 0)
    if hops <= 0:
        return flask_app
    return ProxyFix(flask_app, x_for=hops, x_proto=hops)


# Built on first access (PEP 562), so importing this module for behind_proxies builds nothing.
_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name not in ("app", "application"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _built:
        flask_app = create_app()
        _built.update(app=flask_app, application=behind_proxies(flask_app))
    return _built[name]


__all__ = ["app", "application", "behind_proxies"]  # noqa: F822 - made by __getattr__
