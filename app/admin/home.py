"""The signed-in home page (``/``): one panel per role the user holds, each with the counts
and links that role starts its day with. Thin: the numbers come from app.domain.landing
(and app.domain.activations for the staffing warnings); this module only picks the panels
and what each may link to (Flask-AppBuilder's permissions), then renders.
"""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from app import web
from app.domain import access, activations, landing
from app.extensions import db
from app.plugins import runtime as plugin_runtime

# The permissions (permission, view) behind each link, as app.security grants them.
_LINKS = {
    "intake": ("can_intake", "OfficeIntake"),
    "inbox": ("can_list", "Workspace"),
    "services": ("can_list", "ServicesAdmin"),
    "staff": ("can_list", "StaffAdmin"),
    "departments": ("can_list", "DepartmentAdmin"),
    "municipalities": ("can_list", "MunicipalityAdmin"),
    "plugins": ("can_list", "PluginsAdmin"),
    "builder": ("can_list", "ServiceBuilder"),
}


_ENDPOINTS = {
    "intake": "OfficeView.index",
    "inbox": "WorkspaceView.inbox",
    "services": "ServicesView.list",
    "staff": "StaffView.list",
    "departments": "DepartmentView.list",
    "municipalities": "MunicipalityView.list",
    "plugins": "PluginsView.list",
    "builder": "ServiceBuilderView.list",
}


def _may(sm, key: str) -> bool:
    return bool(sm.has_access(*_LINKS[key]))


def _url(endpoint: str, **values: Any) -> str | None:
    try:
        return url_for(endpoint, **values)
    except BuildError:  # a view this install left out: no link, not a 500
        return None


def home_context(appbuilder) -> dict[str, Any]:
    """What hamaynk/index.html needs for the current user (nothing for a visitor)."""
    actor = web.current_actor()
    panels = landing.role_of_home(actor)
    if actor is None or not panels:
        return {"panels": [], "title": _("Home")}
    sm = appbuilder.sm
    registry = plugin_runtime.registry()
    context: dict[str, Any] = {"panels": panels, "title": _("Home")}
    # Only the links the user's panels show: each is a permission query.
    wanted = {
        "clerk": ("intake", "inbox"),
        "caseworker": ("inbox",),
        "municipal_admin": ("inbox", "services", "staff", "departments", "builder"),
        "auditor": ("inbox", "services", "staff"),
        "system_admin": ("municipalities", "plugins", "services", "staff"),
    }
    keys = {key for panel in panels for key in wanted.get(panel, ())}
    links: dict[str, str | None] = dict.fromkeys(_ENDPOINTS)
    for key in keys:
        links[key] = _url(_ENDPOINTS[key]) if _may(sm, key) else None
    context["links"] = links
    if "clerk" in panels:
        context["returned"] = landing.returned_cases(db.session, actor)
    if "clerk" in panels or "caseworker" in panels:
        context["tasks"] = landing.task_summary(db.session, registry, actor)
    if "municipal_admin" in panels and actor.municipality_id is not None:
        gaps = activations.staffing_gaps(db.session, actor.municipality_id, registry)
        context["overview"] = landing.municipality_overview(
            db.session, registry, actor, actor.municipality_id, gaps=gaps
        )
        context["municipality"] = access.get_municipality(db.session, actor, actor.municipality_id)
    if "auditor" in panels and actor.municipality_id is not None and "overview" not in context:
        context["open_applications"] = landing.open_applications(db.session, actor, actor.municipality_id)
    if "system_admin" in panels:
        host = plugin_runtime.host()
        records = list(host.records.values())
        context["system"] = {
            "municipalities": landing.municipality_count(db.session, actor),
            "plugins": len(records),
            "plugin_problems": sum(1 for r in records if r.status != "active"),
            "services": len(registry.latest()),
        }
    return context


__all__ = ["home_context"]
