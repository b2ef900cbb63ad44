"""Hamaynk: the application factory. Wiring only; every subsystem has its own init_app."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def _collector_paused(*, freeze: bool) -> Iterator[None]:
    """Start-up creates several hundred thousand objects (modules, models, views, routes).
    The cyclic collector would examine them again and again as they pile up, finding nothing
    to free: a fifth of a start-up's CPU time. It waits meanwhile; reference counting frees
    everything else as usual. With ``freeze``, what exists at the end is then set aside
    for good (``gc.freeze``): objects that live as long as the process, which later
    collections (during requests too) no longer walk; otherwise the collector's next run
    examines them once. Any cycle left over meanwhile is collected (or, frozen, kept)."""
    if not gc.isenabled():  # paused by an enclosing start-up, or by the embedding program
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        gc.enable()


# Importing modules makes objects that live as long as the process.
with _collector_paused(freeze=True):
    from flask import Flask

    from app.sdk import hookimpl

__all__ = ["create_app", "hookimpl"]

_first_app = True


def _load_config(app: Flask, config: Any, overrides: Mapping[str, Any] | None) -> None:
    import config as settings

    if config is None:
        config = settings.from_env()
    elif isinstance(config, str):
        config = settings.CONFIGS[config]
    app.config.from_object(config)
    if overrides:
        app.config.update(overrides)
    check = getattr(config, "check", None)
    if check is not None:
        check(app.config)
    if not app.config.get("SECRET_KEY"):
        # Before anything signs with it: never a key that ships with the code.
        app.config["SECRET_KEY"] = settings.instance_secret_key(Path(app.instance_path))


def create_app(config: Any = None, overrides: Mapping[str, Any] | None = None) -> Flask:
    """Build an app. ``config`` is a class from config.py, its name, or None for $HAMAYNK_ENV."""
    global _first_app
    # A server builds one app and keeps it as long as the process: the first app (with the
    # modules it imports) is frozen too. Tests build many, and only the first is kept.
    first, _first_app = _first_app, False
    with _collector_paused(freeze=first):
        return _build_app(config, overrides)


def _build_app(config: Any, overrides: Mapping[str, Any] | None) -> Flask:
    import config as settings

    app = Flask(__name__, instance_path=str(settings.INSTANCE_DIR), instance_relative_config=False)
    _load_config(app, config, overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from app import (
        admin,
        api,
        cli,
        database,
        errors,
        i18n,
        jobs,
        menu,
        office,
        plugins,
        portal,
        security,
        web,
        workspace,
    )
    from app.auditing import init_app as init_auditing
    from app.cleaning import init_app as init_cleaning
    from app.domain import storage
    from app.extensions import csrf, new_appbuilder
    from app.headers import init_app as init_headers

    database.init_app(app)
    # The audit chain's listeners, the acting user for ORM-level audit events, refused requests.
    init_auditing(app)
    web.init_app(app)
    storage.init_app(app)
    csrf.init_app(app)
    plugins.init_app(app)
    # Notification channels (plug-ins) and the outbox's enqueue-on-commit listener.
    jobs.init_app(app)
    i18n.init_app(app)
    menu.init_app(app)
    # Hostile input refused before any view; after i18n, whose template finalize it wraps.
    init_cleaning(app)
    with app.app_context():
        appbuilder = new_appbuilder()
        appbuilder.init_app(app, database.db.session)
        admin.init_app(app, appbuilder)
        office.init_app(app, appbuilder)
        workspace.init_app(app, appbuilder)
        api.init_app(app, appbuilder)
    i18n.init_templates(app)
    portal.init_app(app)
    errors.init_app(app)
    security.init_app(app)
    init_headers(app)
    cli.init_app(app)
    return app
