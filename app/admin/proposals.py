"""Administration: residents' proposals (participatory budgeting, issue 11).

The review queue (proposals that reached the support threshold), the decision on each
(feasible at a reviewed cost, or not feasible with a reason), the municipality's support
threshold, and the form that puts feasible proposals to a budget vote: a draft poll of kind
"budget" that the polls screen (app.admin.polls) then checks and publishes.

Who: the municipal administrator does everything; heads decide feasibility (``can_review``);
auditors read. Every rule is app.domain.participation.proposals; this module parses the form
and shows the domain's messages next to the fields.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import web
from app.admin.common import chosen_municipality, municipality_choices
from app.domain import access, channels
from app.domain.access import Actor
from app.domain.errors import ChangedMeanwhile, NotAllowed
from app.domain.participation import files, processes
from app.domain.participation import proposals as props
from app.domain.storage import get_storage
from app.extensions import current_flask_app, db
from app.i18n import current_locale
from app.models import Municipality
from app.models.participation import Proposal

LANGUAGES = ("hy", "en", "ru")
LANGUAGE_LABELS = {"hy": _l("Armenian"), "en": _l("English"), "ru": _l("Russian")}
VISIBILITIES = {"after_close": _l("Only after closing"), "live": _l("Live, while voting is open")}
# The polls screen shows a draft budget vote (helper C's); linked only when it exists.
POLL_ENDPOINT = "PollsView.show"


class ProposalsView(BaseView):
    """A municipality's proposals, for its staff."""

    route_base = "/admin/proposals"
    class_permission_name = "ProposalsAdmin"
    method_permission_name = {
        "list": "list",
        "show": "list",
        "photo": "list",
        "review": "review",
        "threshold": "edit",
        "budget_vote": "edit",
    }
    default_view = "list"

    # -- whose proposals ------------------------------------------------------------------------

    def _municipality(self, actor: Actor) -> Municipality | None:
        """The actor's own municipality; a system administrator chooses (``?municipality=``)."""
        return chosen_municipality(actor, request.values.get("municipality", "") if actor.is_system_admin else "")

    def _proposal(self, actor: Actor, proposal_id: int) -> Proposal:
        stmt = access.scoped(select(Proposal), Proposal, actor).where(Proposal.id == proposal_id)
        proposal = db.session.execute(stmt).scalar_one_or_none()
        if proposal is None:
            abort(404)
        return proposal

    def _can(self, permission: str) -> bool:
        return bool(self.appbuilder.sm.has_access(permission, self.class_permission_name))

    # -- the queue -------------------------------------------------------------------------------

    @expose("/")
    @has_access
    def list(self):
        actor = web.require_actor()
        municipality = self._municipality(actor)
        status = request.args.get("status", props.REVIEW)
        status = status if status in props.STATUSES or status == "all" else props.REVIEW
        rows = (
            props.review_queue(db.session, municipality.id, None if status == "all" else status) if municipality else []
        )
        return self.render_template(
            "admin/proposals/list.html",
            title=_("Residents' proposals"),
            municipality=municipality,
            choices=municipality_choices(actor),
            rows=rows,
            status=status,
            statuses=props.STATUS_LABELS,
            can_edit=municipality is not None
            and self._can("can_edit")
            and props.may_administer(actor, municipality.id),
        )

    # -- one proposal ---------------------------------------------------------------------------

    def _render_show(self, actor: Actor, proposal: Proposal, *, errors=None, form=None, status: int = 200):
        municipality = access.get_municipality(db.session, actor, proposal.municipality_id)
        settlement = next(
            (s for s in props.settlements_of(db.session, proposal.municipality_id) if s.id == proposal.settlement_id),
            None,
        )
        return self.render_template(
            "admin/proposals/show.html",
            title=proposal.title,
            proposal=proposal,
            municipality=municipality,
            settlement=props.settlement_name(settlement, current_locale()),
            photos=files.files_of(db.session, proposal.municipality_id, ("proposal", proposal.id)),
            status_label=props.STATUS_LABELS[proposal.status],
            can_review=self._can("can_review")
            and props.may_review(actor, proposal.municipality_id)
            and proposal.status == props.REVIEW,
            errors=errors or {},
            form=form or {},
            max_reason=props.MAX_REASON,
        ), status

    @expose("/<int:proposal_id>/")
    @has_access
    def show(self, proposal_id: int):
        actor = web.require_actor()
        return self._render_show(actor, self._proposal(actor, proposal_id))

    @expose("/<int:proposal_id>/review", methods=["POST"])
    @has_access
    def review(self, proposal_id: int):
        actor = web.require_actor()
        proposal = self._proposal(actor, proposal_id)
        form = request.form
        decision = form.get("decision", "")
        if decision not in (props.FEASIBLE, props.UNFEASIBLE):
            return self._render_show(
                actor, proposal, errors={"decision": _("Choose feasible or not feasible.")}, form=form, status=400
            )
        try:
            props.review(
                db.session,
                actor,
                proposal,
                feasible=decision == props.FEASIBLE,
                reviewed_cost=form.get("reviewed_cost"),
                reason=form.get("reason"),
                expected_version=form.get("version"),
                config=current_flask_app().config,
                ip=request.remote_addr,
            )
            db.session.commit()
        except props.InvalidProposal as exc:
            db.session.rollback()
            return self._render_show(actor, proposal, errors=exc.errors, form=form, status=400)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        except (props.ProposalRefused, ChangedMeanwhile) as exc:
            db.session.rollback()
            proposal = self._proposal(actor, proposal_id)
            return self._render_show(actor, proposal, errors={"decision": str(exc)}, form=form, status=409)
        flash(_("The decision was saved and the author told."), "success")
        return redirect(url_for(".show", proposal_id=proposal_id))

    @expose("/<int:proposal_id>/photos/<int:file_id>")
    @has_access
    def photo(self, proposal_id: int, file_id: int):
        actor = web.require_actor()
        proposal = self._proposal(actor, proposal_id)
        try:
            opened = files.open_file(
                db.session,
                get_storage(current_flask_app()),
                actor,
                municipality_id=proposal.municipality_id,
                owner=("proposal", proposal.id),
                file_id=file_id,
                channel=channels.OFFICE,
                ip=request.remote_addr,
            )
        except access.NotFound:
            abort(404)
        except files.FileUnavailable:
            abort(503)
        response = send_file(opened.stream, mimetype=opened.content_type, etag=False, conditional=False, max_age=0)
        response.headers.update(opened.headers)
        return response

    # -- the threshold --------------------------------------------------------------------------

    @expose("/settings", methods=["GET", "POST"])
    @has_access
    def threshold(self):
        actor = web.require_actor()
        municipality = self._municipality(actor)
        if municipality is None:
            abort(404)
        errors: dict[str, str] = {}
        value = str(municipality.proposal_support_threshold)
        if request.method == "POST":
            value = (request.form.get("threshold") or "").strip()[:10]
            try:
                props.set_threshold(db.session, actor, municipality.id, value, ip=request.remote_addr)
                db.session.commit()
            except props.InvalidProposal as exc:
                db.session.rollback()
                errors = exc.errors
            except NotAllowed:
                db.session.rollback()
                abort(403)
            else:
                flash(_("Saved."), "success")
                return redirect(url_for(".list", municipality=municipality.id))
        return self.render_template(
            "admin/proposals/settings.html",
            title=_("Support needed for review"),
            municipality=municipality,
            value=value,
            errors=errors,
            minimum=props.MIN_THRESHOLD,
            maximum=props.MAX_THRESHOLD,
        ), (400 if errors else 200)

    # -- a budget vote --------------------------------------------------------------------------

    @expose("/budget-vote", methods=["GET", "POST"])
    @has_access
    def budget_vote(self):
        actor = web.require_actor()
        municipality = self._municipality(actor)
        if municipality is None:
            abort(404)
        if not props.may_administer(actor, municipality.id):
            abort(403)
        candidates = props.feasible(db.session, municipality.id)
        form: Any = request.form if request.method == "POST" else {}
        errors: dict[str, str] = {}
        if request.method == "POST":
            try:
                poll = props.create_budget_vote(
                    db.session,
                    actor,
                    municipality.id,
                    proposal_ids=request.form.getlist("proposal_ids"),
                    budget=form.get("budget"),
                    opens_at=form.get("opens_at", ""),
                    closes_at=form.get("closes_at", ""),
                    title={lang: form.get(f"title_{lang}", "") for lang in LANGUAGES},
                    description={lang: form.get(f"description_{lang}", "") for lang in LANGUAGES},
                    results_visibility=form.get("results_visibility", "after_close"),
                    allow_change=form.get("allow_change") == "1",
                    ip=request.remote_addr,
                )
                db.session.commit()
            except (props.InvalidProposal, processes.InvalidProcess) as exc:
                db.session.rollback()
                errors = {_field(key): str(message) for key, message in exc.errors.items()}
            else:
                flash(_("The draft budget vote was created. Check it and publish it on the polls screen."), "success")
                return redirect(_poll_url(poll.id) or url_for(".list", municipality=municipality.id))
        return self.render_template(
            "admin/proposals/budget_vote.html",
            title=_("Put feasible proposals to a budget vote"),
            municipality=municipality,
            candidates=candidates,
            chosen=set(request.form.getlist("proposal_ids")) if request.method == "POST" else set(),
            form=form,
            errors=errors,
            languages=LANGUAGES,
            language_labels=LANGUAGE_LABELS,
            visibilities=VISIBILITIES,
        ), (400 if errors else 200)


def _field(key: str) -> str:
    """The form field a domain error is about (the polls' keys name the vote's parts)."""
    if key.startswith("questions"):
        return "proposal_ids"
    return key.replace(".", "_")


def _poll_url(poll_id: int) -> str | None:
    from flask import current_app

    if POLL_ENDPOINT not in current_app.view_functions:
        return None
    return url_for(POLL_ENDPOINT, poll_id=poll_id)


__all__ = ["ProposalsView"]
