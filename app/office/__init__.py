"""Front-office audience ("one window"): intake of walk-in citizens' applications and receipts."""

from __future__ import annotations

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l

from app.office.residents import ResidentsView
from app.office.views import OfficeView
from app.office.voting import OfficeVotingView


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
    appbuilder.add_view(ResidentsView, "Residents", label=_l("Residents"), icon="fa-id-card", category="Office")
    appbuilder.add_view(
        OfficeVotingView, "OfficeVoting", label=_l("Voting at the office"), icon="fa-check-square-o", category="Office"
    )
