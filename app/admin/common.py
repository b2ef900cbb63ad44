"""What several administration screens share: which municipality a page is about.

Staff work on their own municipality; a system administrator belongs to none and chooses one
with ``?municipality=<id>`` from a picker (the ``municipality_page`` macro in
hamaynk/_page_header.html), which :func:`municipality_choices` fills.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import select

from app.domain import access
from app.domain.access import MAX_PK, Actor
from app.extensions import db
from app.models import Municipality


def own_municipality(actor: Actor) -> Municipality | None:
    """The actor's own municipality; ``None`` for someone who belongs to none (a system
    administrator). 403 when the actor's municipality is not theirs to act for."""
    if actor.municipality_id is None:
        return None
    try:
        return access.get_municipality(db.session, actor, actor.municipality_id)
    except access.NotFound:
        abort(403)


def chosen_municipality(actor: Actor, raw: str) -> Municipality | None:
    """The municipality named by ``raw`` (the ``municipality`` parameter, as the caller reads
    it), else the actor's own; ``None`` only for a system administrator who has not chosen.

    Another municipality's, a forged or an absurd id: 404, as everywhere. Anyone who is
    neither staff of a municipality nor a system administrator: 403."""
    if raw:
        # isdecimal: int() reads every such string (not "²"); the length keeps it a small number.
        if not raw.isdecimal() or len(raw) > len(str(MAX_PK)):
            abort(404)
        try:
            return access.get_municipality(db.session, actor, int(raw))
        except access.NotFound:
            abort(404)
    municipality = own_municipality(actor)
    if municipality is None and not actor.is_system_admin:
        abort(403)
    return municipality


def municipality_choices(actor: Actor) -> list[Municipality]:
    """What a system administrator's picker offers (every municipality, by code); nobody
    else gets a picker."""
    if not actor.is_system_admin:
        return []
    stmt = access.scoped(select(Municipality).order_by(Municipality.code), Municipality, actor)
    return list(db.session.execute(stmt).scalars())
