"""Administration audience: registers its views and menu with Flask-AppBuilder."""

from __future__ import annotations

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l

from app.admin.builder import ServiceBuilderView
from app.admin.coat_of_arms import CoatOfArmsView
from app.admin.consultations import ConsultationsView
from app.admin.login import SecondFactorView
from app.admin.notification_texts import NotificationTextsView
from app.admin.polls import PollsView
from app.admin.proposals import ProposalsView
from app.admin.security_views import staff_password_policy
from app.admin.settlements import SettlementsView
from app.admin.views import DepartmentView, MunicipalityView, PluginsView, ServicesView, StaffView


def init_app(app: Flask, appbuilder: AppBuilder) -> None:
    # Every Flask-AppBuilder password form (add user, reset a password, reset my own) is
    # judged by the staff password policy (app.admin.security_views).
    app.config.setdefault("FAB_PASSWORD_COMPLEXITY_VALIDATOR", staff_password_policy)
    # The account menu's "Second factor" (app.admin.login).
    appbuilder.add_view_no_menu(SecondFactorView)
    # Menu item names are stable identifiers (permissions hang on them); labels are translated.
    appbuilder.add_view(
        MunicipalityView,
        "Municipalities",
        label=_l("Municipalities"),
        icon="fa-city",
        category="System",
        category_label=_l("System"),
    )
    appbuilder.add_view(PluginsView, "Plugins", label=_l("Plug-ins"), icon="fa-puzzle-piece", category="System")
    appbuilder.add_view(
        ServicesView,
        "Services",
        label=_l("Services"),
        icon="fa-list",
        category="Municipality",
        category_label=_l("Municipality"),
    )
    appbuilder.add_view(
        DepartmentView, "Departments", label=_l("Departments"), icon="fa-sitemap", category="Municipality"
    )
    appbuilder.add_view(StaffView, "Staff", label=_l("Staff"), icon="fa-users", category="Municipality")
    appbuilder.add_view(
        ServiceBuilderView, "ServiceBuilder", label=_l("Service builder"), icon="fa-wrench", category="Municipality"
    )
    appbuilder.add_view(
        NotificationTextsView,
        "NotificationTexts",
        label=_l("Notification texts"),
        icon="fa-envelope",
        category="Municipality",
    )
    appbuilder.add_view(
        CoatOfArmsView,
        "CoatOfArms",
        label=_l("Coat of arms and signing"),
        icon="fa-certificate",
        category="Municipality",
    )
    appbuilder.add_view(
        PollsView,
        "Polls",
        label=_l("Polls and budget votes"),
        icon="fa-check-square",
        category="Participation",
        category_label=_l("Participation"),
    )
    appbuilder.add_view(
        SettlementsView,
        "Settlements",
        label=_l("Settlements"),
        icon="fa-map-marker",
        category="Participation",
        category_label=_l("Participation"),
    )
    appbuilder.add_view(
        ProposalsView,
        "Proposals",
        label=_l("Residents' proposals"),
        icon="fa-lightbulb",
        category="Participation",
        category_label=_l("Participation"),
    )
    appbuilder.add_view(
        ConsultationsView,
        "Consultations",
        label=_l("Consultations on draft decisions"),
        icon="fa-comments",
        category="Participation",
        category_label=_l("Participation"),
    )
