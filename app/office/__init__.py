"""Front-office audience ("one window"): intake of walk-in citizens' applications and receipts."""

from __future__ import annotations

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l

from app.office.views import OfficeView


def init_app(app: Flask, appbuilder: AppBuilder) -> None:
    # The menu name is a stable identifier (permissions hang on it); the label is translated.
    appbuilder.add_view(
        OfficeView,
        "Intake",
        label=_l("New application"),
        icon="fa-inbox",
        category="Office",
        category_label=_l("Office"),
    )
