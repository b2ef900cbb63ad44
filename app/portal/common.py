"""What every portal page shares: the signed-in citizen, the page shell's context, and the
way a page asks for a signed-in citizen."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, redirect, request, url_for
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from app.domain.access import Actor
from app.web import current_actor


def link(endpoint: str, **values: Any) -> str | None:
    """The URL of ``endpoint``, or ``None`` when this install has no such page (a plug-in
    area switched off, a page not built yet): templates show no link rather than a dead one."""
    if endpoint not in current_app.view_functions:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def citizen() -> Actor | None:
    """The signed-in citizen of this request, or ``None`` (anonymous, or staff)."""
    actor = current_actor()
    return actor if actor is not None and actor.active and actor.is_citizen else None


def require_citizen() -> Actor:
    """The signed-in citizen; anyone else is sent to sign in (and back here afterwards).
    Staff get 403: the portal's own pages are the citizen's, staff work in the office."""
    actor = current_actor()
    if actor is None:
        target = link("account.login", next=request.full_path.rstrip("?"))
        abort(redirect(target) if target else Response(status=401))
    if not actor.active or not actor.is_citizen:
        abort(403)
    return actor


def _context() -> dict[str, Any]:
    return {"portal_link": link, "portal_citizen": citizen}


def init_app(app: Flask) -> None:
    app.context_processor(_context)
