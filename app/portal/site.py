"""Public pages: the list of municipalities, each one's catalogue of services, a service's page.

Anyone may read them, signed in or not. Every number and text comes from the service's
declaration and the municipality's terms for it (app.domain.activations: a municipality's
fee and deadline win over the declared ones). A municipality that does not exist, is not
active, or does not offer the service answers 404, the same as an address with nothing at it.

Each page costs a fixed number of queries whatever the number of services (tests count them).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from app.domain import access, activations, inputs, intake
from app.domain.declarations import Service
from app.domain.participation import processes as participation
from app.domain.uploads import TYPE_LABELS
from app.errors import MESSAGES
from app.extensions import db
from app.i18n import current_locale, tr
from app.models import Municipality, ServiceActivation
from app.plugins import runtime as plugin_runtime

bp = Blueprint("site", __name__)

# Longest search text read; anything longer is cut (a search box is not a document).
MAX_QUERY = 200
MAX_CODE = 32
MAX_KEY = 100

# Words for the categories services declare (docs/plugins.md lists them); any other category
# shows as written, so a plug-in should pick one of these.
CATEGORY_LABELS: dict[str, Any] = {
    "general": _l("General"),
    "civil-registry": _l("Civil registry and residence"),
    "urban-planning": _l("Construction and urban planning"),
    "trade": _l("Trade and business"),
    "education": _l("Education"),
    "social": _l("Social support"),
    "public-order": _l("Public events and order"),
    "environment": _l("Environment and greenery"),
    "land": _l("Land and property"),
    "utilities": _l("Housing and utilities"),
    "transport": _l("Transport and roads"),
    "culture": _l("Culture and sport"),
    "health": _l("Health"),
    "taxes": _l("Local taxes and fees"),
    "agriculture": _l("Agriculture"),
}

FEE_PERIOD_LABELS: dict[str, Any] = {
    "once": None,
    "day": _l("per day"),
    "month": _l("per month"),
    "quarter": _l("per quarter"),
    "year": _l("per year"),
    "event": _l("per event"),
}


def category_label(category: str) -> str:
    label = CATEGORY_LABELS.get(category)
    return str(label) if label is not None else category.replace("-", " ").replace("_", " ").capitalize()


def _municipality_or_404(code: str) -> Municipality:
    # A code with control characters names no municipality (and PostgreSQL refuses NUL).
    if not isinstance(code, str) or not code or len(code) > MAX_CODE or inputs.text_problem(code):
        abort(404)
    municipality = db.session.execute(
        select(Municipality).where(Municipality.code == code, Municipality.active.is_(True))
    ).scalar_one_or_none()
    if municipality is None:
        abort(404)
    return municipality


def _matches(service: Service, words: list[str], locale: str) -> bool:
    text = f"{tr(service.title, locale)} {tr(service.description, locale)}".casefold()
    return all(word in text for word in words)


@bp.route("/favicon.ico", endpoint="favicon")
def favicon() -> WerkzeugResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (a plain error page, a PDF)."""
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.route("/", endpoint="home")
def home() -> str:
    """Every active municipality, with how many services it offers online."""
    registry = plugin_runtime.registry()
    municipalities = list(db.session.execute(select(Municipality).where(Municipality.active.is_(True))).scalars())
    municipalities.sort(key=lambda m: m.name.casefold())
    # Which services each municipality offers is public: it is what these pages publish.
    stmt = access.unscoped(
        select(ServiceActivation.municipality_id, ServiceActivation.service_key).where(
            ServiceActivation.enabled.is_(True)
        ),
        reason="the public catalogue: which services every municipality offers",
    )
    counts: dict[int, int] = defaultdict(int)
    for municipality_id, key in db.session.execute(stmt).all():
        if activations.offered_to(registry.get(key), municipality_id):
            counts[municipality_id] += 1
    return render_template(
        "portal/site/home.html",
        title=_("Municipal services online"),
        municipalities=municipalities,
        counts=counts,
    )


@bp.route("/m/<code>/", endpoint="municipality")
def municipality(code: str) -> str:
    """The services a municipality offers, grouped by category; ``?q=`` searches their
    titles and descriptions in the page's language."""
    found = _municipality_or_404(code)
    locale = current_locale()
    raw = request.args.get("q", "")
    query = " ".join(raw.split())[:MAX_QUERY] if isinstance(raw, str) else ""
    words = [w.casefold() for w in query.split()]
    offered = intake.offered_services(db.session, plugin_runtime.registry(), found.id)
    total = len(offered)
    shown = [o for o in offered if not words or _matches(o.registered.service, words, locale)]
    groups: dict[str, list[activations.OfferedService]] = defaultdict(list)
    for item in shown:
        groups[item.registered.service.category or "general"].append(item)
    grouped = sorted(
        (
            (category_label(category), sorted(items, key=lambda o: tr(o.registered.service.title, locale).casefold()))
            for category, items in groups.items()
        ),
        key=lambda pair: pair[0].casefold(),
    )
    return render_template(
        "portal/site/municipality.html",
        title=found.name,
        municipality=found,
        groups=grouped,
        query=query,
        total=total,
        shown=len(shown),
        # Its published polls, budget votes and consultations (app.domain.participation).
        processes=participation.public_processes(db.session, found.id),
        process_phase=participation.phase,
    )


@bp.route("/m/<code>/services/<key>/", endpoint="service")
def service(code: str, key: str) -> str:
    """Everything a person needs to know before applying, and the way to apply online."""
    found = _municipality_or_404(code)
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        abort(404)
    registry = plugin_runtime.registry()
    registered = registry.get(key)
    if registered is None or not activations.offered_to(registered, found.id):
        abort(404)
    stmt = access.within(select(ServiceActivation), ServiceActivation, found.id).where(
        ServiceActivation.service_key == key
    )
    activation = db.session.execute(stmt).scalar_one_or_none()
    offered = activations.OfferedService(registered, activation)
    if not offered.enabled:
        abort(404)
    declared = registered.service
    documents = [
        {
            "document": document,
            "types": ", ".join(TYPE_LABELS.get(t, t.upper()) for t in document.types),
            "conditional": bool(document.required_when),
        }
        for document in declared.documents
    ]
    return render_template(
        "portal/site/service.html",
        title=tr(declared.title),
        municipality=found,
        offered=offered,
        service=declared,
        documents=documents,
        category=category_label(declared.category or "general"),
        fee_period=FEE_PERIOD_LABELS.get(declared.fee_period),
    )


def error_page(error: HTTPException) -> tuple[str, int]:
    """A portal page for an error of a portal address (not found, too many requests, …),
    in the page's language, with the portal's own look."""
    code = error.code or 500
    title, message = MESSAGES.get(code, MESSAGES[500 if code >= 500 else 400])
    return render_template("portal/site/error.html", title=str(title), message=str(message), code=code), code


for _code in (400, 403, 404, 405, 429):
    bp.register_error_handler(_code, error_page)
