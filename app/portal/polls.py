"""Polls and participatory-budget votes, the public's and the voter's side (issue 11).

* ``GET  /m/<code>/polls/<id>/`` — the process: description, attachments, window, audience,
  and for a signed-in eligible citizen while it is open the ballot; anyone else is told why
  they cannot vote (sign in, not a verified resident, already voted, not open).
* ``POST /m/<code>/polls/<id>/vote`` — cast the ballot (app.domain.participation.ballots);
  the answer *is* the receipt page: the receipt code (and the change code where the poll
  allows changing a vote) is shown there once and nowhere else — never in the session, a
  flash, a log, a notice or an address.
* ``GET|POST /m/<code>/polls/<id>/change`` — change a vote with the receipt and change codes.
* ``GET  /m/<code>/polls/<id>/results`` — the results when the poll shows them (live, or after
  closing): a chart per question with a table of the same numbers, turnout, a budget vote's
  winners; after closing the open data and a receipt check.
* ``GET  /m/<code>/polls/<id>/results.{json,csv}``, ``ballots.{json,csv}`` — the open data.

Thin: who may vote, what a ballot may hold and what is counted is the domain's; a view reads
the form into ids and shows the domain's answer. A bad ballot is the form again with the
reason, and nothing written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import func, select

from app import web
from app.domain import access, channels, inputs
from app.domain.access import MAX_PK
from app.domain.errors import WorkflowError
from app.domain.participation import ballots, office_votes, polls, processes, residency
from app.domain.participation import files as participation_files
from app.domain.storage import get_storage
from app.extensions import current_flask_app, db, limiter
from app.i18n import current_locale, tr
from app.models import Municipality, Poll
from app.models.base import utcnow
from app.portal import dashboard
from app.portal.common import citizen, require_citizen
from app.portal.site import _municipality_or_404, error_page
from app.web import current_actor

bp = Blueprint("polls", __name__)

for _code in (400, 403, 404, 405, 413, 429):
    bp.register_error_handler(_code, error_page)

# Trying codes is cheap: a change of vote and a receipt check are limited per client.
CODE_LIMIT = "20/minute;200/hour"
# Longest code read as typed; a receipt or change code is much shorter.
MAX_CODE = 64
CHOICE_FIELD = re.compile(r"q-(\d{1,19})")
TALLY_SCHEMA = "hamaynk-poll-tally/1"
CSV_COLUMNS = ("poll_id", "question_id", "question", "option_id", "option", "cost", "votes", "winner")
RECOUNT_COMMAND = "flask hamaynk polls recount FILE --sha256 {sha256}"
EXAMPLE_CODE = "7K3M-Q9XD-2PRT-H4WN-C8VB"


def _respond(body: str, status: int = 200) -> ResponseReturnValue:
    response = make_response(body, status)
    # Ballot pages show who may vote and, after a vote, its codes: never cached or passed on.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _poll(code: str, poll_id: int) -> tuple[Municipality, Poll]:
    """The published poll ``poll_id`` of the municipality ``code``, else 404."""
    municipality = _municipality_or_404(code)
    if not 0 < poll_id <= MAX_PK:
        abort(404)
    try:
        poll = polls.get(db.session, citizen(), poll_id)
    except (LookupError, WorkflowError):
        abort(404)
    if poll.municipality_id != municipality.id or poll.status == "draft":
        abort(404)
    return municipality, poll


# -- who may vote -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Whether the visitor may vote now, and if not, why (and what they can do about it)."""

    may_vote: bool
    reason: str | None = None
    # "sign_in", "residency", "voted" or None: which advice goes with the reason.
    advice: str | None = None


def standing(poll: Poll, phase: str) -> Standing:
    if phase == "upcoming":
        return Standing(False, _("Voting has not opened yet."))
    if phase == "closed":
        return Standing(False, _("Voting is closed."))
    if phase != "open":
        return Standing(False, _("This vote was cancelled."))
    actor = current_actor()
    if actor is None:
        return Standing(False, _("Sign in to vote."), "sign_in")
    if not actor.is_citizen:
        return Standing(False, _("Staff accounts do not vote online. Sign in with your citizen account."))
    try:
        processes.eligible(db.session, actor.user_id, poll)
    except processes.NotEligible as exc:
        # The residency advice (how to get verified) fits only the citizen who is not a verified
        # resident at all; it restates the reason, so the page shows it instead of the reason.
        advice = "residency" if str(exc.message) == str(processes.NOT_A_RESIDENT) else None
        return Standing(False, str(exc.message), advice)
    except processes.ParticipationRefused as exc:
        return Standing(False, str(exc.message))
    if office_votes.has_voted(db.session, poll, actor.user_id):
        return Standing(False, str(ballots.AlreadyVoted().message), "voted")
    return Standing(True)


# -- the ballot form ----------------------------------------------------------------------------


def read_choices(form: Mapping[str, Any], view: polls.PollView) -> tuple[dict[int, list[int]], dict[str, str]]:
    """The ballot as ``{question id: [option ids]}`` and the problems found reading it, keyed
    ``q-<question id>`` (or ``ballot``): only ids are read here, what they may be is the
    domain's to say."""
    known = {question.id for question in view.questions}
    choices: dict[int, list[int]] = {question.id: [] for question in view.questions}
    errors: dict[str, str] = {}
    for key in form:
        match = CHOICE_FIELD.fullmatch(key)
        if key.startswith("q-") and (match is None or int(match.group(1)) not in known):
            errors["ballot"] = _(
                "The ballot names a question that is not in this vote. Reload the page and vote again."
            )
    for question in view.questions:
        field = f"q-{question.id}"
        values = form.getlist(field) if hasattr(form, "getlist") else []
        if len(values) > len(question.options):
            errors[field] = _("Choose among the options listed.")
            continue
        for raw in values:
            number = inputs.whole_number(raw, MAX_PK)
            if number is None:
                errors[field] = _("Choose among the options listed.")
                break
            choices[question.id].append(number)
    return choices, errors


def ballot_errors(view: polls.PollView, choices: Mapping[int, Sequence[int]]) -> dict[str, str]:
    """What is wrong with ``choices``, each message next to its question: the domain's own
    check (:func:`ballots.check_choices`) asked of each marked question alone, then of the
    whole ballot (nothing marked, over the budget). ``cast`` checks again; this only says where."""
    errors: dict[str, str] = {}
    for question in view.questions:
        if not choices.get(question.id):
            continue
        try:
            ballots.check_choices(view, {question.id: choices[question.id]})
        except ballots.OverBudget:
            pass  # a whole-ballot rule, below
        except ballots.InvalidBallot as exc:
            errors[f"q-{question.id}"] = str(exc.message)
    if errors:
        return errors
    try:
        ballots.check_choices(view, choices)
    except ballots.OverBudget as exc:
        errors[f"q-{view.questions[0].id}" if view.questions else "ballot"] = str(exc.message)
    except ballots.InvalidBallot as exc:
        errors["ballot"] = str(exc.message)
    return errors


def refusal_errors(exc: processes.ParticipationRefused) -> dict[str, str]:
    return {"ballot": str(exc.message)}


def _may_cast(poll: Poll, user_id: int) -> None:
    """Raise the refusal :func:`ballots.cast` would give for the voter (not open, not
    eligible, voted already) before the marks are read: those reasons come first."""
    processes.eligible(db.session, user_id, poll)
    if office_votes.has_voted(db.session, poll, user_id):
        raise ballots.AlreadyVoted()


def _show(
    municipality: Municipality,
    poll: Poll,
    *,
    errors: Mapping[str, str] | None = None,
    chosen: Mapping[int, Sequence[int]] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    phase = processes.phase(poll)
    view = polls.structure(db.session, poll)
    return _respond(
        render_template(
            "portal/polls/show.html",
            title=tr(poll.title),
            municipality=municipality,
            poll=poll,
            view=view,
            phase=phase,
            standing=standing(poll, phase),
            attachments=participation_files.files_of(db.session, poll.municipality_id, ("poll", poll.id)),
            settlements=_settlement_names(poll),
            results_visible=ballots.results_visible(poll, None),
            errors=dict(errors or {}),
            chosen={key: set(values) for key, values in (chosen or {}).items()},
        ),
        status,
    )


@bp.route("/m/<code>/polls/<int:poll_id>/", endpoint="show")
def show(code: str, poll_id: int) -> ResponseReturnValue:
    municipality, poll = _poll(code, poll_id)
    return _show(municipality, poll)


def _settlement_names(poll: Poll) -> list[str]:
    if not poll.settlement_ids:
        return []
    wanted = set(poll.settlement_ids)
    locale = current_locale()
    found = residency.settlements(db.session, poll.municipality_id, active_only=False)
    return [residency.settlement_name(s, locale) for s in found if s.id in wanted]


def _refused_status(exc: Exception) -> int:
    if isinstance(exc, ballots.AlreadyVoted | processes.NotOpen):
        return 409
    if isinstance(exc, processes.NotEligible):
        return 403
    if isinstance(exc, ballots.BallotNotStored):
        return 503
    return 400


@bp.route("/m/<code>/polls/<int:poll_id>/vote", methods=["POST"], endpoint="vote")
def vote(code: str, poll_id: int) -> ResponseReturnValue:
    actor = require_citizen()
    municipality, poll = _poll(code, poll_id)
    try:
        _may_cast(poll, actor.user_id)
    except processes.ParticipationRefused as exc:
        return _show(municipality, poll, errors=refusal_errors(exc), status=_refused_status(exc))
    view = polls.structure(db.session, poll)
    choices, errors = read_choices(request.form, view)
    errors = errors or ballot_errors(view, choices)
    if errors:
        return _show(municipality, poll, errors=errors, chosen=choices, status=400)
    try:
        receipt = ballots.cast(db.session, poll, voter_user_id=actor.user_id, choices=choices)
    except processes.ParticipationRefused as exc:
        db.session.rollback()
        return _show(municipality, poll, errors=refusal_errors(exc), chosen=choices, status=_refused_status(exc))
    return _receipt_page(municipality, poll, receipt, changed=False)


def _receipt_page(municipality: Municipality, poll: Poll, receipt: Any, *, changed: bool) -> ResponseReturnValue:
    return _respond(
        render_template(
            "portal/polls/receipt.html",
            title=_("Your vote is counted") if not changed else _("Your vote is changed"),
            municipality=municipality,
            poll=poll,
            receipt=receipt,
            changed=changed,
        )
    )


# -- changing a vote ----------------------------------------------------------------------------


def _typed_code(raw: Any) -> str:
    return " ".join(raw.split())[:MAX_CODE] if isinstance(raw, str) else ""


def _change_form(
    municipality: Municipality,
    poll: Poll,
    *,
    errors: Mapping[str, str] | None = None,
    chosen: Mapping[int, Sequence[int]] | None = None,
    receipt: str = "",
    status: int = 200,
) -> ResponseReturnValue:
    phase = processes.phase(poll)
    return _respond(
        render_template(
            "portal/polls/change.html",
            title=_("Change my vote: %(title)s", title=tr(poll.title)),
            municipality=municipality,
            poll=poll,
            view=polls.structure(db.session, poll),
            phase=phase,
            may_change=poll.allow_change and phase == "open",
            errors=dict(errors or {}),
            chosen={key: set(values) for key, values in (chosen or {}).items()},
            receipt=receipt,
            max_code=MAX_CODE,
        ),
        status,
    )


@bp.route("/m/<code>/polls/<int:poll_id>/change", methods=["GET", "POST"], endpoint="change")
@limiter.limit(CODE_LIMIT, methods=["POST"])
def change(code: str, poll_id: int) -> ResponseReturnValue:
    municipality, poll = _poll(code, poll_id)
    if request.method == "GET":
        return _change_form(municipality, poll)
    if not poll.allow_change or processes.phase(poll) != "open":
        return _change_form(municipality, poll, status=409)
    view = polls.structure(db.session, poll)
    choices, errors = read_choices(request.form, view)
    errors = errors or ballot_errors(view, choices)
    # The receipt is published with the ballot list anyway; the change code is the secret,
    # and is never written back into the page.
    receipt_code = _typed_code(request.form.get("receipt"))
    change_code = _typed_code(request.form.get("change_code"))
    if not receipt_code:
        errors["receipt"] = _("Enter the receipt code you were given when you voted.")
    if not change_code:
        errors["change_code"] = _("Enter the change code you were given when you voted.")
    if errors:
        return _change_form(municipality, poll, errors=errors, chosen=choices, receipt=receipt_code, status=400)
    try:
        receipt = ballots.change(db.session, poll, receipt=receipt_code, change_code=change_code, choices=choices)
    except processes.ParticipationRefused as exc:
        db.session.rollback()
        return _change_form(
            municipality,
            poll,
            errors=refusal_errors(exc),
            chosen=choices,
            receipt=receipt_code,
            status=_refused_status(exc),
        )
    return _receipt_page(municipality, poll, receipt, changed=True)


# -- attachments ----------------------------------------------------------------------------------


@bp.route("/m/<code>/polls/<int:poll_id>/files/<int:file_id>", endpoint="attachment")
def attachment(code: str, poll_id: int, file_id: int) -> ResponseReturnValue:
    """A published poll's attachment: public like its page, nothing recorded."""
    _municipality, poll = _poll(code, poll_id)
    try:
        opened = participation_files.open_file(
            db.session,
            get_storage(current_flask_app()),
            current_actor(),
            municipality_id=poll.municipality_id,
            owner=("poll", poll.id),
            file_id=file_id,
            channel=channels.ONLINE,
            ip=request.remote_addr,
        )
    except (access.NotFound, participation_files.FileMissing):
        abort(404)
    except participation_files.FileUnavailable as exc:
        body = render_template(
            "portal/site/error.html", title=_("The file cannot be opened now"), message=str(exc), code=503
        )
        return body, 503, {"Cache-Control": "no-store"}
    return web.send_document(opened)


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptionResult:
    id: int
    text: str
    cost: int | None
    votes: int
    share: float | None
    winner: bool


@dataclass(frozen=True)
class QuestionResult:
    id: int
    text: str
    max_choices: int
    options: list[OptionResult]
    chart: Markup


@dataclass(frozen=True)
class Results:
    ballots: int
    questions: list[QuestionResult]
    # A budget vote's winners in order, and what they cost together.
    winners: list[OptionResult]
    spent: int


def _chart(question_id: int, options: Sequence[OptionResult]) -> Markup:
    import pygal  # drawn on a results page only; not imported when the app starts

    votes = [row.votes for row in options]
    # The table under the chart has the whole texts; beside a bar, on a phone, 20 letters is
    # as much as leaves the bars room.
    labels = [dashboard.short_label(row.text, 20) for row in reversed(options)]
    font_size = dashboard.chart_style().label_font_size
    chart = dashboard._chart(
        pygal.HorizontalBar,
        height=max(200, 110 + 48 * len(options)),
        show_legend=False,
        y_labels=dashboard.whole_ticks(votes),
        # pygal reserves 0.6 of the font size per letter for the labels on the left; Armenian
        # letters are wider (about 0.75 in Noto Sans Armenian), so without the extra room
        # the longest label's first letters fall off the chart. On the right, the last axis
        # number is centred on the axis's end and needs room for its other half.
        margin_left=8 + math.ceil(0.2 * font_size * max((len(label) for label in labels), default=0)),
        margin_right=24,
        # Cut to 20 letters above, with room for them: pygal's own cut (it guesses the room
        # from Latin letters' width) would shorten them again, to a few words.
        truncate_label=-1,
    )
    # pygal draws a horizontal bar chart's first label at the bottom: reversed, the chart
    # reads top to bottom in the order of the ballot and of the table below it.
    chart.x_labels = labels
    chart.add(_("Votes"), votes[::-1])
    return dashboard.render_chart(chart, f"chart-q-{question_id}-caption")


def results_of(view: polls.PollView, tally: ballots.Tally, locale: str) -> Results:
    """The tally with the texts of the poll's questions and options, and a chart for each."""
    winner_ids = list(tally.winners)
    total = tally.ballots
    questions: list[QuestionResult] = []
    by_id: dict[int, OptionResult] = {}
    for question in view.questions:
        rows = [
            OptionResult(
                id=option.id,
                text=tr(option.text, locale),
                cost=option.cost,
                votes=tally.counts.get(question.id, {}).get(option.id, 0),
                share=tally.counts.get(question.id, {}).get(option.id, 0) / total if total else None,
                winner=option.id in winner_ids,
            )
            for option in question.options
        ]
        by_id.update((row.id, row) for row in rows)
        questions.append(
            QuestionResult(
                question.id, tr(question.text, locale), question.max_choices, rows, _chart(question.id, rows)
            )
        )
    winners = [by_id[option_id] for option_id in winner_ids if option_id in by_id]
    return Results(total, questions, winners, tally.spent)


def eligible_count(poll: Poll) -> int | None:
    """How many verified residents could vote (at closing, or now while open), for the
    turnout; ``None`` for a survey open to every registered citizen."""
    if poll.audience != processes.RESIDENTS:
        return None
    at = min(utcnow(), poll.closes_at)
    voters = residency.residents(db.session, poll.municipality_id, poll.settlement_ids or (), at).subquery()
    return int(db.session.execute(select(func.count()).select_from(voters)).scalar_one())


def _published(poll: Poll, phase: str) -> bool:
    """Whether the closed poll's tally and ballot list are published (the closing job has
    counted them)."""
    return phase == "closed" and poll.tally is not None and bool(poll.ballots_sha256)


def _results_page(
    municipality: Municipality,
    poll: Poll,
    *,
    check: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    phase = processes.phase(poll)
    if not ballots.results_visible(poll, None):
        body = render_template(
            "portal/polls/results_hidden.html",
            title=_("Results: %(title)s", title=tr(poll.title)),
            municipality=municipality,
            poll=poll,
            phase=phase,
        )
        return _respond(body, 403 if phase != "cancelled" else 404)
    locale = current_locale()
    view = polls.structure(db.session, poll)
    results = results_of(view, ballots.tally(db.session, poll), locale)
    return _respond(
        render_template(
            "portal/polls/results.html",
            title=_("Results: %(title)s", title=tr(poll.title)),
            municipality=municipality,
            poll=poll,
            phase=phase,
            results=results,
            eligible=eligible_count(poll),
            published=_published(poll, phase),
            recount_command=RECOUNT_COMMAND.format(sha256=poll.ballots_sha256 or "SHA256"),
            check=check or {},
            max_code=MAX_CODE,
            percent=lambda value: dashboard._percent(value, locale),
            number=lambda value: dashboard._number(value, locale),
        ),
        status,
    )


@bp.route("/m/<code>/polls/<int:poll_id>/results", endpoint="results")
def results(code: str, poll_id: int) -> ResponseReturnValue:
    municipality, poll = _poll(code, poll_id)
    return _results_page(municipality, poll)


@bp.route("/m/<code>/polls/<int:poll_id>/results/check", methods=["POST"], endpoint="check")
@limiter.limit(CODE_LIMIT, methods=["POST"])
def check(code: str, poll_id: int) -> ResponseReturnValue:
    """Is this receipt code's ballot in the published list, and how was it counted? (POST:
    a code is never in an address.)"""
    municipality, poll = _poll(code, poll_id)
    if not _published(poll, processes.phase(poll)):
        return _results_page(municipality, poll, status=409)
    typed = _typed_code(request.form.get("code"))
    receipt = ballots.normalize_code(typed)
    if receipt is None:
        error = (
            _(
                "This is not a receipt code. It has 20 letters and digits in groups of four, e.g. %(example)s.",
                example=EXAMPLE_CODE,
            )
            if typed
            else _("Enter the receipt code you were given when you voted.")
        )
        return _results_page(municipality, poll, check={"error": error, "typed": typed}, status=400)
    row = _ballot_row(poll, receipt)
    if row is None:
        return _results_page(municipality, poll, check={"typed": typed, "found": False}, status=404)
    counted = _counted_as(polls.structure(db.session, poll), row.choices, current_locale())
    return _results_page(municipality, poll, check={"typed": typed, "found": True, "counted": counted})


def _ballot_row(poll: Poll, receipt: str) -> ballots.BallotRow | None:
    if not ballots.find_receipt(db.session, poll, receipt):
        return None
    return next((row for row in ballots.ballot_list(db.session, poll) if row.receipt == receipt), None)


def _counted_as(view: polls.PollView, choices: Mapping[Any, Sequence[int]], locale: str) -> list[tuple[str, list[str]]]:
    """A ballot's choices as the texts of its questions and options."""
    counted = []
    for question in view.questions:
        picked = {int(option_id) for option_id in choices.get(str(question.id), choices.get(question.id, ()))}
        texts = [tr(option.text, locale) for option in question.options if option.id in picked]
        counted.append((tr(question.text, locale), texts))
    return counted


# -- open data ----------------------------------------------------------------------------------


def _published_or_404(code: str, poll_id: int) -> tuple[Municipality, Poll]:
    municipality, poll = _poll(code, poll_id)
    if not _published(poll, processes.phase(poll)):
        abort(404)
    return municipality, poll


def _iso(moment: Any) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def tally_document(municipality: Municipality, poll: Poll, view: polls.PollView, tally: Any) -> dict[str, Any]:
    """The published tally as open data: every text in every language, counts per option, a
    budget vote's winners, and the sha256 of the ballot list it was counted from."""
    results = results_of(view, tally, "hy")
    return {
        "schema": TALLY_SCHEMA,
        "municipality": {"code": municipality.code, "name": municipality.name},
        "poll": {
            "id": poll.id,
            "kind": poll.kind,
            "title": poll.title,
            "opens_at": _iso(poll.opens_at),
            "closes_at": _iso(poll.closes_at),
            "audience": poll.audience,
            "budget": poll.budget,
        },
        "tallied_at": _iso(poll.tallied_at) if poll.tallied_at else None,
        "ballots": results.ballots,
        "ballots_sha256": poll.ballots_sha256,
        "questions": [
            {
                "id": question.id,
                "text": question.text,
                "max_choices": question.max_choices,
                "options": [
                    {
                        "id": option.id,
                        "text": option.text,
                        "cost": option.cost,
                        "votes": next(row.votes for row in result.options if row.id == option.id),
                        "winner": any(row.winner for row in result.options if row.id == option.id),
                    }
                    for option in question.options
                ],
            }
            for question, result in zip(view.questions, results.questions, strict=True)
        ],
        "winners": [row.id for row in results.winners],
    }


def _download(body: str | bytes, mimetype: str, filename: str, attachment: bool) -> ResponseReturnValue:
    response = make_response(body)
    response.mimetype = mimetype
    disposition = "attachment" if attachment else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response.cache_control.public = True
    response.cache_control.max_age = dashboard.CACHE_SECONDS
    return response


@bp.route("/m/<code>/polls/<int:poll_id>/results.json", endpoint="results_json")
def results_json(code: str, poll_id: int) -> ResponseReturnValue:
    municipality, poll = _published_or_404(code, poll_id)
    document = tally_document(municipality, poll, polls.structure(db.session, poll), ballots.tally(db.session, poll))
    body = json.dumps(document, ensure_ascii=False, indent=1)
    return _download(body, "application/json", f"hamaynk-poll-{poll.id}-results.json", attachment=False)


@bp.route("/m/<code>/polls/<int:poll_id>/results.csv", endpoint="results_csv")
def results_csv(code: str, poll_id: int) -> ResponseReturnValue:
    municipality, poll = _published_or_404(code, poll_id)
    document = tally_document(municipality, poll, polls.structure(db.session, poll), ballots.tally(db.session, poll))
    locale = current_locale()
    out = io.StringIO()
    # With a byte order mark, so that spreadsheets read the Armenian texts as UTF-8.
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for question in document["questions"]:
        for option in question["options"]:
            row = (
                poll.id,
                question["id"],
                tr(question["text"], locale),
                option["id"],
                tr(option["text"], locale),
                option["cost"],
                option["votes"],
                int(option["winner"]) if poll.kind == "budget" else None,
            )
            writer.writerow([dashboard._cell(value) for value in row])
    return _download(out.getvalue(), "text/csv", f"hamaynk-poll-{poll.id}-results.csv", attachment=True)


@bp.route("/m/<code>/polls/<int:poll_id>/ballots.json", endpoint="ballots_json")
def ballots_json(code: str, poll_id: int) -> ResponseReturnValue:
    _municipality, poll = _published_or_404(code, poll_id)
    body = ballots.ballot_list_json(db.session, poll)
    return _download(body, "application/json", f"hamaynk-poll-{poll.id}-ballots.json", attachment=False)


@bp.route("/m/<code>/polls/<int:poll_id>/ballots.csv", endpoint="ballots_csv")
def ballots_csv(code: str, poll_id: int) -> ResponseReturnValue:
    _municipality, poll = _published_or_404(code, poll_id)
    # With a byte order mark and CRLF line ends, as results.csv and the dashboard's CSV.
    body = "\ufeff" + ballots.ballot_list_csv(db.session, poll)
    return _download(body, "text/csv", f"hamaynk-poll-{poll.id}-ballots.csv", attachment=True)
