"""Administration audience: registers its views and menu with Flask-AppBuilder."""

from __future__ import annotations

from flask import Flask, current_app, g, render_template, request
from flask_appbuilder import AppBuilder
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from app.admin.builder import ServiceBuilderView
from app.admin.views import DepartmentView, MunicipalityView, PluginsView, ServicesView, StaffView


def init_app(app: Flask, appbuilder: AppBuilder) -> None:
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

    @app.errorhandler(CSRFError)
    def _csrf_refused(error: CSRFError):
        # Flask-WTF's own answer is a bare English page; say what happened, in the user's language.
        # Nothing was written: the check runs before any view.
        # CSRFProtect runs before FAB's own before_request, which sets g.user for the menu.
        if not hasattr(g, "user"):
            g.user = current_user
        back = request.referrer if request.referrer and request.referrer.startswith(request.host_url) else request.path
        return render_template(
            "hamaynk/error.html",
            appbuilder=current_app.appbuilder,
            title=_("The form could not be accepted"),
            message=_(
                "The form has expired or did not come from this site. Go back, reload the page and send it again."
            ),
            back_url=back,
        ), 400
