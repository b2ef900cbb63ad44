"""Unbound singletons; each is bound to an app in create_app()."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import click
from flask import Flask, current_app
from flask_appbuilder import AppBuilder
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    class ScopedSession(Session):
        """``db.session`` as the type checker sees it: a scoped session forwards every
        Session method to the current app context's session, and can be removed at teardown."""

        def remove(self) -> None: ...


class Database(SQLAlchemy):
    # Domain functions take a plain Session and the audiences hand them ``db.session``; typed
    # as the scoped_session it is, that call would not check, though the proxy forwards every
    # method the functions use.
    session: ScopedSession  # type: ignore[assignment]


class _MigrationCommands(click.Group):
    """``flask db``: Flask-Migrate's command group, imported when the command runs."""

    def __init__(self) -> None:
        super().__init__("db", help="Perform database migrations.")

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # (flask_migrate.cli has no type stubs; the group is a click.Group.)
        commands: click.Group = importlib.import_module("flask_migrate.cli").db
        # The context is Flask-Migrate's group's own, so click runs that group from here on.
        return commands.make_context(info_name, args, parent=parent, **extra)


class _PendingMigrateConfig:
    """``app.extensions["migrate"]`` until something reads it (Flask-Migrate's functions,
    migrations/env.py): then Flask-Migrate is set up as :meth:`DeferredMigrate.init_app` was
    asked to, and its own config takes this one's place."""

    def __init__(self, app: Flask, database: SQLAlchemy, options: dict[str, Any]) -> None:
        self._app = app
        self._database = database
        self._options = options

    def __getattr__(self, name: str) -> Any:
        from flask_migrate import Migrate

        Migrate().init_app(self._app, self._database, **self._options)
        return getattr(self._app.extensions["migrate"], name)


class DeferredMigrate:
    """Flask-Migrate, imported (and Alembic with it, a tenth of a second) only when migrations
    run (``flask db …``, ``flask hamaynk init``, ``flask_migrate.upgrade()``), not by every
    process that starts. Takes Flask-Migrate's ``init_app`` arguments."""

    def init_app(self, app: Flask, database: SQLAlchemy, **options: Any) -> None:
        app.extensions["migrate"] = _PendingMigrateConfig(app, database, options)
        app.cli.add_command(_MigrationCommands())


db = Database()
migrate = DeferredMigrate()
csrf = CSRFProtect()
# Rate limits of the public and citizen pages (sign-in, registration, reset, status look-up).
# Counters live where RATELIMIT_STORAGE_URI says: memory for one process, Redis when several
# processes serve the same install. Limits are named per view (app.portal), none by default.
limiter = Limiter(key_func=get_remote_address)


def new_appbuilder() -> AppBuilder:
    """Flask-AppBuilder keeps per-app state (views, menu, security manager) on the instance,
    so unlike the others it cannot be one shared singleton when a process builds several apps
    (tests do). Each app gets its own, reachable as ``current_app.appbuilder``."""
    # The index view and base template come from config (FAB_INDEX_VIEW, FAB_BASE_TEMPLATE).
    return AppBuilder(update_perms=False)


def current_appbuilder() -> AppBuilder:
    """The current app's AppBuilder (Flask-AppBuilder also sets it as ``app.appbuilder``,
    an attribute the type checker cannot see on ``Flask``)."""
    return current_app.extensions["appbuilder"]


def current_flask_app() -> Flask:
    """The app object behind ``current_app``, for work that must keep it after the context."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app
