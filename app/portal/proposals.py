"""Citizens' proposals for their community (participatory budgeting), the public and
resident side: the list and page of each municipality's proposals, submitting one, supporting
one, withdrawing one's own. Staff review them in app.admin.proposals.

Thin: who may submit, support and withdraw, and every rule of them, is
app.domain.participation.proposals; a proposal of another municipality, or none, is a 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from app.domain import access, channels
from app.domain.errors import ChangedMeanwhile, NotAllowed
from app.domain.participation import files, residency
from app.domain.participation import proposals as props
from app.domain.storage import StorageError, get_storage
from app.domain.uploads import UploadRefused
from app.extensions import current_flask_app, db, limiter
from app.i18n import current_locale
from app.models import Municipality
from app.models.participation import Proposal
from app.portal.common import citizen, require_citizen
from app.portal.site import _municipality_or_404, error_page

bp = Blueprint("proposals", __name__)

# A proposal costs staff time to read; supporting is one click but still a write.
SUBMIT_LIMIT = "10/hour;30/day"
SUPPORT_LIMIT = "120/hour"


def _private(response: Any) -> Any:
    response = make_response(response)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _proposal(municipality: Municipality, proposal_id: int) -> Proposal:
    try:
        return props.get(db.session, municipality.id, proposal_id)
    except access.NotFound:
        abort(404)


def _resident(municipality: Municipality) -> bool:
    """Whether the signed-in citizen is a verified resident (for what the page offers; the
    domain checks again on every act)."""
    actor = citizen()
    return actor is not None and residency.is_resident(db.session, actor.user_id, municipality.id)


@bp.route("/m/<code>/proposals/")
def index(code: str):
    municipality = _municipality_or_404(code)
    status = request.args.get("status", "")
    # Withdrawn proposals leave the public pages (their authors still open their own).
    status = status if status in props.LISTED else ""
    found = props.page(db.session, municipality.id, status=status or None, before=request.args.get("before"))
    actor = citizen()
    ids = [p.id for p in found.proposals]
    settlements = {s.id: s for s in props.settlements_of(db.session, municipality.id)}
    return render_template(
        "portal/proposals/index.html",
        title=_("Proposals of %(name)s", name=municipality.name),
        municipality=municipality,
        page=found,
        status=status,
        statuses={key: props.STATUS_LABELS[key] for key in props.LISTED},
        settlements=settlements,
        settlement_name=props.settlement_name,
        locale=current_locale(),
        supported=props.supported_by(db.session, actor.user_id if actor else None, ids),
        threshold=municipality.proposal_support_threshold,
    )


def _render_new(municipality: Municipality, *, errors: dict[str, str] | None = None, form=None, status: int = 200):
    return _private(
        (
            render_template(
                "portal/proposals/new.html",
                title=_("Propose a project for %(name)s", name=municipality.name),
                municipality=municipality,
                settlements=props.settlements_of(db.session, municipality.id),
                settlement_name=props.settlement_name,
                locale=current_locale(),
                resident=_resident(municipality),
                errors=errors or {},
                form=form or {},
                limits={
                    "title": props.MAX_TITLE,
                    "description": props.MAX_DESCRIPTION,
                    "location": props.MAX_LOCATION,
                    "photos": files.MAX_PHOTOS,
                    "photo_mb": files.MAX_PHOTO_MB,
                },
            ),
            status,
        )
    )


@bp.route("/m/<code>/proposals/new", methods=["GET", "POST"])
@limiter.limit(SUBMIT_LIMIT, methods=["POST"])
def new(code: str):
    municipality = _municipality_or_404(code)
    actor = require_citizen()
    if request.method == "GET":
        return _render_new(municipality)
    form = request.form
    try:
        proposal = props.submit(
            db.session,
            get_storage(current_flask_app()),
            actor,
            municipality.id,
            title=form.get("title"),
            description=form.get("description"),
            cost_estimate=form.get("cost_estimate"),
            location=form.get("location"),
            settlement_id=form.get("settlement_id"),
            photos=request.files.getlist("photos"),
        )
        db.session.commit()
    except props.NotResident as exc:
        db.session.rollback()
        return _render_new(municipality, errors={"resident": str(exc)}, form=form, status=403)
    except props.InvalidProposal as exc:
        db.session.rollback()
        return _render_new(municipality, errors=exc.errors, form=form, status=400)
    except UploadRefused as exc:
        db.session.rollback()
        return _render_new(municipality, errors={"photos": str(exc)}, form=form, status=400)
    except StorageError as exc:
        db.session.rollback()
        return _render_new(municipality, errors={"photos": files.storage_problem(exc)}, form=form, status=503)
    flash(_("Your proposal was published. Other residents can support it now."), "success")
    return redirect(url_for(".show", code=code, proposal_id=proposal.id), 303)


def _render_show(municipality: Municipality, proposal: Proposal, *, refusal: str | None = None, status: int = 200):
    actor = citizen()
    mine = actor is not None and proposal.user_id == actor.user_id
    if proposal.status == props.WITHDRAWN and not mine:
        abort(404)
    settlement = next(
        (s for s in props.settlements_of(db.session, municipality.id) if s.id == proposal.settlement_id), None
    )
    supported = bool(actor and props.supported_by(db.session, actor.user_id, [proposal.id]))
    open_to_support = actor is not None and not mine and not supported and proposal.status in props.SUPPORTABLE
    response = make_response(
        render_template(
            "portal/proposals/show.html",
            title=proposal.title,
            municipality=municipality,
            proposal=proposal,
            photos=files.files_of(db.session, municipality.id, ("proposal", proposal.id)),
            settlement=props.settlement_name(settlement, current_locale()),
            status_label=props.STATUS_LABELS[proposal.status],
            threshold=municipality.proposal_support_threshold,
            mine=mine,
            supported=supported,
            may_support=open_to_support and _resident(municipality),
            signed_in=actor is not None,
            refusal=refusal,
        ),
        status,
    )
    return _private(response) if actor is not None else response


@bp.route("/m/<code>/proposals/<int:proposal_id>")
def show(code: str, proposal_id: int):
    municipality = _municipality_or_404(code)
    return _render_show(municipality, _proposal(municipality, proposal_id))


@bp.route("/m/<code>/proposals/<int:proposal_id>/support", methods=["POST"])
@limiter.limit(SUPPORT_LIMIT)
def support(code: str, proposal_id: int):
    municipality = _municipality_or_404(code)
    actor = require_citizen()
    proposal = _proposal(municipality, proposal_id)
    try:
        moved = props.support(db.session, actor, proposal, config=current_flask_app().config)
        db.session.commit()
    except props.ProposalRefused as exc:
        db.session.rollback()
        return _render_show(municipality, _proposal(municipality, proposal_id), refusal=str(exc), status=409)
    if moved:
        flash(_("Thank you: with your support the proposal goes to the municipality for review."), "success")
    else:
        flash(_("Thank you for your support."), "success")
    return redirect(url_for(".show", code=code, proposal_id=proposal_id), 303)


@bp.route("/m/<code>/proposals/<int:proposal_id>/withdraw", methods=["POST"])
def withdraw(code: str, proposal_id: int):
    municipality = _municipality_or_404(code)
    actor = require_citizen()
    proposal = _proposal(municipality, proposal_id)
    try:
        props.withdraw(db.session, actor, proposal, expected_version=request.form.get("version"))
        db.session.commit()
    except NotAllowed:
        db.session.rollback()
        abort(404)
    except (props.ProposalRefused, ChangedMeanwhile) as exc:
        db.session.rollback()
        flash(str(exc), "warning")
        return redirect(url_for(".show", code=code, proposal_id=proposal_id), 303)
    flash(_("Your proposal was withdrawn."), "success")
    return redirect(url_for(".show", code=code, proposal_id=proposal_id), 303)


@bp.route("/m/<code>/proposals/<int:proposal_id>/photos/<int:file_id>")
def photo(code: str, proposal_id: int, file_id: int):
    municipality = _municipality_or_404(code)
    proposal = _proposal(municipality, proposal_id)
    try:
        opened = files.open_file(
            db.session,
            get_storage(current_flask_app()),
            citizen(),
            municipality_id=municipality.id,
            owner=("proposal", proposal.id),
            file_id=file_id,
            channel=channels.ONLINE,
            ip=request.remote_addr,
        )
    except access.NotFound:
        abort(404)
    except files.FileUnavailable:
        abort(503)
    response = send_file(opened.stream, mimetype=opened.content_type, etag=False, conditional=False, max_age=0)
    response.headers.update(opened.headers)
    return response


for _code in (400, 403, 404, 405, 429):
    bp.register_error_handler(_code, error_page)

__all__ = ["bp"]
