"""Unbound singletons; each is bound to an app in create_app()."""

from flask_appbuilder import AppBuilder
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

db = SQLAlchemy()
migrate = Migrate()
csrf = CSRFProtect()
# The index view and base template come from config (FAB_INDEX_VIEW, FAB_BASE_TEMPLATE).
appbuilder = AppBuilder(update_perms=False)
