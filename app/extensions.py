"""Unbound singletons; each is bound to an app in create_app()."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, current_app
from flask_appbuilder import AppBuilder
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
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


db = Database()
migrate = Migrate()
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
