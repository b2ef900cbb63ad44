"""Unbound singletons; each is bound to an app in create_app()."""

from flask_appbuilder import AppBuilder
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy()
migrate = Migrate()
csrf = CSRFProtect()


def new_appbuilder() -> AppBuilder:
    """Flask-AppBuilder keeps per-app state (views, menu, security manager) on the instance,
    so unlike the others it cannot be one shared singleton when a process builds several apps
    (tests do). Each app gets its own, reachable as ``current_app.appbuilder``."""
    # The index view and base template come from config (FAB_INDEX_VIEW, FAB_BASE_TEMPLATE).
    return AppBuilder(update_perms=False)
