"""Front office: a clerk registers the vote of a verified resident who came to the office.

The clerk picks an open poll or budget vote of the municipality, finds the person, and the
system checks that they may vote (saying why not); then the clerk opens the ballot booth, a
page turned to the voter that carries a short-lived signed token (poll, voter, clerk). The
voter marks the ballot, it is cast as online, and the voter gets a printable receipt; the
clerk goes back to the start. The rules live in app.domain.participation.office_votes.

Secrecy on screen: the booth and the receipt never name the voter, the pages that name the
voter never show a choice, and the choices and the receipt code are never flashed, logged,
kept in the session or put in an address. The receipt is the answer to the POST that cast
the ballot (not a redirect), sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, make_response, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app import web
from app.domain import access
from app.domain.declarations import pick
from app.domain.errors import NotAllowed
from app.domain.participation import office_votes, polls, processes, residency
from app.extensions import current_flask_app, db
from app.i18n import current_locale
from app.models.base import utcnow
from app.models.participation import Poll

# Longest option id list a question may post (more is a forged form).
MAX_MARKS = 100


def _no_store(response):
    # The booth and the receipt must not linger in a shared office browser's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _posted_id(name: str) -> int:
    raw = request.form.get(name, "")
    if not isinstance(raw, str) or not raw.isdecimal() or len(raw) > len(str(access.MAX_PK)):
        return 0
    return int(raw)


def _choices(view: polls.PollView) -> dict[int, list[int]] | None:
    """The marks posted for each question of ``view``; ``None`` when something posted is no
    option id at all (a forged form)."""
    choices: dict[int, list[int]] = {}
    for question in view.questions:
        # The field names of the shared ballot (shared/_ballot.html), as on the portal.
        raw = request.form.getlist(f"q-{question.id}")
        if len(raw) > MAX_MARKS or not all(isinstance(v, str) and v.isdecimal() and len(v) < 19 for v in raw):
            return None
        choices[question.id] = sorted({int(v) for v in raw})
    return choices


class OfficeVotingView(web.NamedLikeItsMenuItem, BaseView):
    """Votes of residents who come to the office."""

    route_base = "/office/voting"
    class_permission_name = "OfficeVoting"
    method_permission_name = {"index": "vote", "poll": "vote", "booth": "vote", "cast": "vote"}
    default_view = "index"

    # -- helpers ------------------------------------------------------------------------

    def _error(self, message: str, status: int, back_url: str | None = None):
        return self.render_template(
            "hamaynk/error.html",
            title=_("Voting at the office"),
            message=message,
            back_url=back_url or url_for(".index"),
        ), status

    def _municipality_id(self) -> int:
        actor = web.require_actor()
        mid = actor.municipality_id if actor.active else None
        if mid is None or not residency.may_verify(actor, mid):
            abort(
                make_response(
                    self._error(
                        _("Only a clerk or an administrator of a municipality registers votes at its office."), 403
                    )
                )
            )
        return mid

    def _poll(self, poll_id: int) -> Poll:
        self._municipality_id()
        try:
            return office_votes.poll_for(db.session, web.require_actor(), poll_id)
        except access.NotFound:
            abort(404)

    def _page(
        self,
        poll: Poll,
        *,
        query: str = "",
        problem: str | None = None,
        status: int = 200,
        verify_url: str | None = None,
    ):
        """The poll's page: its state, the person search and its results."""
        actor = web.require_actor()
        found = (
            residency.find_citizens(db.session, actor, poll.municipality_id, query, secret_key=self._secret())
            if query
            else []
        )
        now = utcnow()
        response = make_response(
            self.render_template(
                "office/voting/poll.html",
                title=pick(poll.title, current_locale()),
                poll=poll,
                phase=processes.phase(poll, now),
                phase_label=processes.PHASE_LABELS[processes.phase(poll, now)],
                closes=processes.local_text(poll.closes_at),
                query=query,
                searched=bool(query),
                too_short=bool(query) and len(query) < residency.SEARCH_MIN_CHARS,
                min_chars=residency.SEARCH_MIN_CHARS,
                found=found,
                status_of=residency.status_of,
                problem=problem,
                verify_url=verify_url,
            ),
            status,
        )
        return _no_store(response)

    def _booth_page(self, view: polls.PollView, token: str, errors: dict[str, str] | None = None, status: int = 200):
        """The ballot booth: the portal's ballot (shared/_ballot.html) on a bare page
        (office/voting/_booth_base.html); ``errors`` keyed as there (``q-<question id>`` or
        ``ballot``), never the marks."""
        response = make_response(
            self.render_template(
                "office/voting/booth.html",
                title=_("Ballot"),
                poll=view.poll,
                view=view,
                token=token,
                errors=errors or {},
                minutes=office_votes.BOOTH_MINUTES,
            ),
            status,
        )
        return _no_store(response)

    @staticmethod
    def _secret() -> str:
        return current_flask_app().config["SECRET_KEY"]

    # -- pages --------------------------------------------------------------------------

    @expose("/")
    @has_access
    def index(self):
        """The clerk's start: the polls and budget votes open now."""
        mid = self._municipality_id()
        now = utcnow()
        open_now = office_votes.open_polls(db.session, web.require_actor(), mid, now)
        return self.render_template(
            "office/voting/index.html",
            title=_("Voting at the office"),
            polls=open_now,
            closes={p.id: processes.local_text(p.closes_at) for p in open_now},
        )

    @expose("/<int:poll_id>/")
    @has_access
    def poll(self, poll_id: int):
        poll = self._poll(poll_id)
        raw = request.args.get("q", "")
        query = raw.strip()[: residency.MAX_QUERY] if isinstance(raw, str) else ""
        return self._page(poll, query=query)

    @expose("/<int:poll_id>/booth", methods=["POST"])
    @has_access
    def booth(self, poll_id: int):
        """Check that the person may vote and open the ballot booth for them."""
        poll = self._poll(poll_id)
        actor = web.require_actor()
        # The search result's person token: a voter with no residency here is found only through it.
        raw_token = request.form.get("t", "")
        person_token = raw_token if isinstance(raw_token, str) else ""
        try:
            person = office_votes.check_voter(
                db.session, actor, poll, _posted_id("voter_id"), secret_key=self._secret(), token=person_token
            )
        except access.NotFound:
            return self._page(poll, problem=_("There is no active citizen account like that."), status=404)
        except NotAllowed:
            abort(403)
        except processes.ParticipationRefused as refused:
            # The citizen-facing reason, said to the clerk about the person; where it is their
            # residency, the clerk can verify it (after seeing a document) and come back.
            verify_url = None
            if (
                isinstance(refused, processes.NotEligible)
                and "ResidentsView.person" in current_flask_app().view_functions
            ):
                verify_url = url_for("ResidentsView.person", user_id=_posted_id("voter_id"), t=person_token or None)
            return self._page(
                poll,
                problem=_("This person cannot vote here: %(reason)s", reason=str(refused)),
                status=409,
                verify_url=verify_url,
            )
        finally:
            db.session.rollback()  # it only read
        token = office_votes.booth_token(
            self._secret(), poll_id=poll.id, voter_user_id=person.user_id, clerk_user_id=actor.user_id
        )
        return self._booth_page(polls.structure(db.session, poll), token)

    @expose("/<int:poll_id>/cast", methods=["POST"])
    @has_access
    def cast(self, poll_id: int):
        """Cast the marked ballot; the answer is the voter's receipt."""
        poll = self._poll(poll_id)
        actor = web.require_actor()
        token = request.form.get("token", "")
        try:
            booth = office_votes.read_booth(self._secret(), token, poll_id=poll.id, clerk_user_id=actor.user_id)
        except office_votes.BoothRefused as refused:
            return self._error(str(refused), 400, url_for(".poll", poll_id=poll.id))
        view = polls.structure(db.session, poll)
        choices = _choices(view)
        if choices is None:
            return self._booth_page(
                view, token, {"ballot": _("The ballot was not filled in properly; mark it again.")}, 400
            )
        try:
            receipt = office_votes.cast(db.session, actor, poll, booth, choices)
        except office_votes.BoothRefused as refused:
            db.session.rollback()
            return self._error(str(refused), 409, url_for(".poll", poll_id=poll.id))
        except processes.ParticipationRefused as refused:
            db.session.rollback()
            return self._refused(view, token, refused)
        return self._receipt(poll, receipt)

    def _refused(self, view: polls.PollView, token: str, refused: Exception):
        from app.domain.participation import ballots

        if isinstance(refused, ballots.OverBudget) and view.questions:
            # Said next to the projects, as online (the portal's ballot_errors does the same).
            return self._booth_page(view, token, {f"q-{view.questions[0].id}": str(refused)}, 400)
        if isinstance(refused, ballots.InvalidBallot | ballots.OverBudget):
            # The voter can mark the ballot again (the marks are not shown back: the clerk may see the screen).
            return self._booth_page(view, token, {"ballot": str(refused)}, 400)
        return self._error(str(refused), 409, url_for(".poll", poll_id=view.poll.id))

    def _receipt(self, poll: Poll, receipt: Any):
        municipality = access.get_municipality(db.session, web.require_actor(), poll.municipality_id)
        check_url = ""
        if "polls.results" in current_flask_app().view_functions:
            # The address printed for the voter: the install's public one, as on intake receipts.
            base = str(current_flask_app().config.get("HAMAYNK_PUBLIC_URL") or "").rstrip("/")
            check_url = base + url_for("polls.results", code=municipality.code, poll_id=poll.id)
        response = make_response(
            self.render_template(
                "office/voting/receipt.html",
                title=_("Your ballot was cast"),
                poll=poll,
                municipality=municipality,
                code=receipt.code,
                change_code=getattr(receipt, "change_code", None),
                check_url=check_url,
                closes=processes.local_text(poll.closes_at),
            )
        )
        return _no_store(response)
