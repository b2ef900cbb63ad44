"""Administration: a municipality's polls and participatory-budget votes (issue 11).

A municipal administrator writes a draft (texts in Armenian, English and Russian, the voting
window in Yerevan time, who may vote, the questions and their options, attachments), publishes
it after a confirmation, or cancels it with a reason; after closing, the page shows the
results and links to the public results page. Auditors read. Turnout is a number, never a
list of people.

Everything goes through app.domain.participation.polls (validation, audit, versions); this
module only turns the form into a :class:`~app.domain.participation.polls.PollSpec` and the
domain's per-field messages back onto the inputs.

No JavaScript is needed: "add a question", "add an option" and "remove" are submit buttons
that re-render the form on the server (like the service builder), so everything works by
keyboard and without script. Which municipality a list is about comes from
``?municipality=<id>`` (a system administrator's choice); by default the actor's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError

from app import web
from app.admin.common import chosen_municipality, municipality_choices
from app.domain import access, audit, channels
from app.domain.access import MAX_PK, Actor
from app.domain.declarations import pick
from app.domain.errors import ChangedMeanwhile, NotAllowed, WorkflowError
from app.domain.participation import ballots, polls, processes
from app.domain.participation import files as participation_files
from app.domain.storage import StorageError, get_storage
from app.domain.uploads import UploadRefused
from app.extensions import db
from app.i18n import current_locale
from app.models import Municipality
from app.models.participation import Poll, PollVoter, Settlement

LANGUAGES = ("hy", "en", "ru")
LANGUAGE_LABELS = {"hy": _l("Armenian"), "en": _l("English"), "ru": _l("Russian")}
KINDS = {"poll": _l("Poll"), "budget": _l("Budget vote")}
AUDIENCES = {
    "residents": _l("Verified residents of the municipality"),
    "registered": _l("Any registered citizen (a non-binding survey)"),
}
VISIBILITIES = {"live": _l("Live, while voting is open"), "after_close": _l("Only after closing")}
PHASES = {
    "draft": _l("Draft"),
    "upcoming": _l("Published, not open yet"),
    # The stage, an adjective (Armenian "Բաց"), not the verb of an "Open" link ("Բացել").
    "open": lazy_pgettext("process stage", "Open"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}
# A form with more than this is not being typed by a person.
MAX_QUESTIONS = polls.MAX_QUESTIONS
MAX_OPTIONS = polls.MAX_OPTIONS
MAX_REASON = 500
# A closed vote's count stands; a cancelled one stays cancelled.
CANCELLABLE = ("draft", "upcoming", "open")
MAX_AMOUNT = polls.MAX_AMOUNT
COST_MESSAGE = _l("Enter the cost in AMD (a whole number).")
BUDGET_MESSAGE = _l("Enter the budget in AMD (a whole number above 0).")
# The public results page (app.portal.polls, helper D's); shown only if it exists.
PUBLIC_ENDPOINT = "polls.show"
AUDIT_ATTACH = "poll.attach"
_OP = re.compile(r"(add-question|add-option-(\d{1,3})|remove-question-(\d{1,3})|remove-option-(\d{1,3})-(\d{1,3}))")


# -- the form, as typed ---------------------------------------------------------------------


def _texts(form: Mapping[str, Any], prefix: str) -> dict[str, str]:
    return {lang: str(form.get(f"{prefix}_{lang}", "") or "") for lang in LANGUAGES}


@dataclass
class OptionRow:
    text: dict[str, str] = field(default_factory=dict)
    cost: str = ""
    # A budget vote's project taken from a citizen's proposal (kept as it came).
    proposal_id: str = ""


@dataclass
class QuestionRow:
    text: dict[str, str] = field(default_factory=dict)
    multiple: bool = False
    max_choices: str = "1"
    options: list[OptionRow] = field(default_factory=list)


@dataclass
class PollForm:
    """The poll form exactly as typed (strings), so a refused or re-rendered form shows what
    the person wrote; :meth:`spec` turns it into the domain's spec."""

    kind: str = "poll"
    title: dict[str, str] = field(default_factory=dict)
    description: dict[str, str] = field(default_factory=dict)
    opens_at: str = ""
    closes_at: str = ""
    audience: str = "residents"
    settlement_ids: list[str] = field(default_factory=list)
    results_visibility: str = "after_close"
    allow_change: bool = False
    budget: str = ""
    questions: list[QuestionRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls, kind: str) -> PollForm:
        question = QuestionRow(options=[OptionRow(), OptionRow()])
        if kind == "budget":
            # A budget vote asks one thing; the administrator may reword it.
            question.text = {
                "hy": "Ո՞ր նախագծերը պետք է ֆինանսավորվեն",
                "en": "Which projects should be funded?",
                "ru": "Какие проекты следует профинансировать?",
            }
        return cls(kind=kind, questions=[question])

    @classmethod
    def from_request(cls, form: MultiDict[str, str], kind: str) -> PollForm:
        questions = []
        for i in range(MAX_QUESTIONS):
            prefix = f"q-{i}"
            if f"{prefix}-text_hy" not in form:
                break
            options = []
            for j in range(MAX_OPTIONS):
                option = f"{prefix}-o-{j}"
                if f"{option}-text_hy" not in form:
                    break
                options.append(
                    OptionRow(
                        _texts(form, f"{option}-text"),
                        cost=form.get(f"{option}-cost", "").strip(),
                        proposal_id=form.get(f"{option}-proposal", "").strip(),
                    )
                )
            questions.append(
                QuestionRow(
                    _texts(form, f"{prefix}-text"),
                    multiple=form.get(f"{prefix}-multiple") == "1",
                    max_choices=form.get(f"{prefix}-max_choices", "").strip() or "1",
                    options=options,
                )
            )
        return cls(
            kind=kind,
            title=_texts(form, "title"),
            description=_texts(form, "description"),
            opens_at=form.get("opens_at", "").strip(),
            closes_at=form.get("closes_at", "").strip(),
            audience=form.get("audience", ""),
            settlement_ids=[v for v in form.getlist("settlement_ids") if v][:1000],
            results_visibility=form.get("results_visibility", ""),
            allow_change=form.get("allow_change") == "1",
            budget=form.get("budget", "").strip(),
            questions=questions,
        )

    @classmethod
    def from_poll(cls, view: Any) -> PollForm:
        poll = view.poll
        return cls(
            kind=poll.kind,
            title=dict(poll.title or {}),
            description=dict(poll.description or {}),
            opens_at=_local_input(poll.opens_at),
            closes_at=_local_input(poll.closes_at),
            audience=poll.audience,
            settlement_ids=[str(s) for s in poll.settlement_ids or []],
            results_visibility=poll.results_visibility,
            allow_change=bool(poll.allow_change),
            budget="" if poll.budget is None else str(poll.budget),
            questions=[
                QuestionRow(
                    dict(q.text),
                    multiple=q.max_choices > 1,
                    max_choices=str(q.max_choices),
                    options=[
                        OptionRow(
                            dict(o.text),
                            cost="" if o.cost is None else str(o.cost),
                            proposal_id="" if getattr(o, "proposal_id", None) is None else str(o.proposal_id),
                        )
                        for o in q.options
                    ],
                )
                for q in view.questions
            ],
        )

    def merge(self, errors: Mapping[str, str]) -> None:
        """The domain's messages, on this form's inputs (what the form found itself stays)."""
        for key, message in errors.items():
            self.errors.setdefault(own_key(key), str(message))

    # -- the add / remove buttons -------------------------------------------------------------

    def apply(self, op: str) -> str | None:
        """Do an add/remove button's work; return the id of the input to focus next, or
        ``None`` when ``op`` is not such a button (a save)."""
        matched = _OP.fullmatch(op)
        if matched is None:
            return None
        if op == "add-question":
            if self.kind != "budget" and len(self.questions) < MAX_QUESTIONS:
                self.questions.append(QuestionRow(options=[OptionRow(), OptionRow()]))
            return f"q-{len(self.questions) - 1}-text_hy"
        if matched.group(2) is not None:
            i = int(matched.group(2))
            if i < len(self.questions) and len(self.questions[i].options) < MAX_OPTIONS:
                self.questions[i].options.append(OptionRow())
                return f"q-{i}-o-{len(self.questions[i].options) - 1}-text_hy"
            return "questions"
        if matched.group(3) is not None:
            i = int(matched.group(3))
            if i < len(self.questions) and len(self.questions) > 1:
                del self.questions[i]
            return "questions"
        i, j = int(matched.group(4)), int(matched.group(5))
        if i < len(self.questions) and j < len(self.questions[i].options):
            del self.questions[i].options[j]
        return f"q-{i}-options" if i < len(self.questions) else "questions"

    # -- to the domain ------------------------------------------------------------------------

    def _int(self, raw: str, key: str, *, low: int, high: int, message: Any) -> int | None:
        if raw == "":
            return None
        if not raw.isdecimal() or len(raw) > 19 or not low <= int(raw) <= high:
            self.errors.setdefault(key, str(message))
            return None
        return int(raw)

    def _time(self, raw: str, key: str) -> Any:
        if raw == "":
            return None
        try:
            return processes.parse_local(raw)
        except (ValueError, TypeError, OverflowError):
            self.errors.setdefault(key, _("Enter a date and time, such as 2027-03-01 09:00."))
            return None

    def _settlements(self, known: Mapping[int, str]) -> tuple[int, ...]:
        chosen: list[int] = []
        for raw in self.settlement_ids:
            if not raw.isdecimal() or len(raw) > 19 or int(raw) not in known:
                self.errors.setdefault("settlements", _("Choose settlements from the list."))
                continue
            chosen.append(int(raw))
        return tuple(sorted(set(chosen)))

    def spec(self, settlements: Mapping[int, str]) -> Any:
        """The domain's :class:`PollSpec`; what cannot even be read (a date, a number) is put
        in :attr:`errors` next to its input, and the domain then judges the rest."""
        questions = []
        for i, q in enumerate(self.questions):
            options = tuple(
                polls.OptionSpec(
                    text=o.text,
                    cost=self._int(o.cost, f"q-{i}-o-{j}-cost", low=0, high=MAX_AMOUNT, message=COST_MESSAGE)
                    if self.kind == "budget"
                    else None,
                    proposal_id=self._int(
                        o.proposal_id, f"q-{i}-o-{j}-text", low=1, high=MAX_PK, message=_("Not a valid choice.")
                    ),
                )
                for j, o in enumerate(q.options)
            )
            if self.kind == "budget":
                # Knapsack ballot: as many projects as fit the budget.
                max_choices = max(len(options), 1)
            elif q.multiple:
                max_choices = (
                    self._int(
                        q.max_choices,
                        f"q-{i}-max_choices",
                        low=1,
                        high=MAX_OPTIONS,
                        message=_("Enter how many options a voter may mark, from 1 to %(max)d.", max=MAX_OPTIONS),
                    )
                    or 0
                )
            else:
                max_choices = 1
            questions.append(polls.QuestionSpec(text=q.text, max_choices=max_choices, options=options))
        return polls.PollSpec(
            title=self.title,
            description=self.description,
            opens_at=self._time(self.opens_at, "opens_at"),
            closes_at=self._time(self.closes_at, "closes_at"),
            audience=self.audience,
            settlement_ids=self._settlements(settlements),
            results_visibility=self.results_visibility,
            allow_change=self.allow_change,
            budget=self._int(self.budget, "budget", low=0, high=MAX_AMOUNT, message=BUDGET_MESSAGE)
            if self.kind == "budget"
            else None,
            questions=tuple(questions),
        )


def _local_input(value: Any) -> str:
    """A stored UTC time as a datetime-local input's value, in Yerevan time."""
    if value is None:
        return ""
    return processes.local(value).strftime("%Y-%m-%dT%H:%M")


_ROW_KEY = re.compile(r"q-(\d+)(?:-o-(\d+))?-(\w+)")
FIELD_LABELS = {
    "title": _l("Title"),
    "description": _l("Description"),
    "opens_at": _l("Opens"),
    "closes_at": _l("Closes"),
    "audience": _l("Voters"),
    "settlements": _l("Settlements"),
    "results_visibility": _l("Results are shown"),
    "allow_change": _l("Changing a vote"),
    "budget": _l("Budget (AMD)"),
    "questions": _l("Questions"),
}


def error_label(key: str, kind: str) -> str:
    """Which input an error in the summary is about ("Question 2, option 1"), since the same
    message ("Enter the text in Armenian.") can be about many."""
    if key in FIELD_LABELS:
        return str(FIELD_LABELS[key])
    matched = _ROW_KEY.fullmatch(key)
    if matched is None:
        return ""
    question = int(matched.group(1)) + 1
    if matched.group(2) is not None:
        option = int(matched.group(2)) + 1
        if kind == "budget":
            return _("Project %(n)d", n=option)
        return _("Question %(q)d, option %(n)d", q=question, n=option)
    return _("Question %(q)d", q=question)


def anchor(key: str) -> str:
    """The id of the input an error summary's link goes to."""
    if key in ("title", "description") or key.endswith("-text"):
        return f"{key}_hy"
    return key


_KEY_PART = re.compile(r"[.\[\]_-]+")


def own_key(key: str) -> str:
    """The domain's error key (``questions.0.options.1.cost``, ``title.hy``, ...) as this
    form's: ``q-0-o-1-cost``, ``title``; anything unknown stays as it came."""
    parts = [p for p in _KEY_PART.split(str(key)) if p]
    if not parts:
        return "form"
    if parts[0] in ("question", "questions") and len(parts) >= 2 and parts[1].isdecimal():
        out = [f"q-{parts[1]}"]
        rest = parts[2:]
        if rest and rest[0] in ("option", "options") and len(rest) >= 2 and rest[1].isdecimal():
            out.append(f"o-{rest[1]}")
            rest = rest[2:]
        elif rest and rest[0] in ("option", "options"):
            return "-".join([*out, "options"])
        if rest and rest[0] == "proposal":
            rest = ["text"]
        elif rest and rest[0] in ("max", "choices", "max_choices"):
            rest = ["max_choices"]
        elif rest and rest[0] in ("hy", "en", "ru"):
            rest = ["text"]
        return "-".join(out + ([rest[0]] if rest else ["text"]))
    if parts[0] in ("settlement", "settlements"):
        return "settlements"
    if parts[0] == "opens" or parts[:2] == ["opens", "at"]:
        return "opens_at"
    if parts[0] == "closes":
        return "closes_at"
    if parts[0] == "results":
        return "results_visibility"
    if parts[0] == "allow":
        return "allow_change"
    return parts[0]


# -- the view -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollRow:
    poll: Poll
    title: str
    phase: str
    voters: int


class PollsView(BaseView):
    """A municipality's polls and budget votes: municipal administrators write and publish
    them, auditors read."""

    route_base = "/admin/polls"
    class_permission_name = "PollsAdmin"
    method_permission_name = {
        "list": "list",
        "show": "show",
        "file": "show",
        "add": "add",
        "edit": "edit",
        "publish": "edit",
        "cancel": "edit",
        "upload": "edit",
        "remove_file": "edit",
    }
    default_view = "list"

    # -- whose polls --------------------------------------------------------------------------

    def _municipality(self, actor: Actor) -> Municipality | None:
        return chosen_municipality(actor, request.args.get("municipality", ""))

    def _poll(self, actor: Actor, poll_id: int) -> Poll:
        try:
            poll = polls.get(db.session, actor, poll_id)
        except access.NotFound:
            abort(404)
        # polls.get shows published polls to anyone; this screen is for the municipality's staff.
        visible = access.visible_municipality_ids(actor)
        if visible is not None and poll.municipality_id not in visible:
            abort(404)
        return poll

    def _can(self, permission: str) -> bool:
        return bool(self.appbuilder.sm.has_access(permission, self.class_permission_name))

    def _settlements(self, municipality_id: int, *, active_only: bool = True) -> dict[int, str]:
        """The settlements a vote can be limited to (all of them, to name those already chosen)."""
        stmt = access.within(select(Settlement), Settlement, municipality_id).order_by(Settlement.name_hy)
        if active_only:
            stmt = stmt.where(Settlement.active.is_(True))
        locale = current_locale()
        return {
            s.id: pick({"hy": s.name_hy, "en": s.name_en or "", "ru": s.name_ru or ""}, locale)
            for s in db.session.execute(stmt).scalars()
        }

    def _voters(self, municipality_id: int, poll_ids: list[int]) -> dict[int, int]:
        """How many people voted in each poll: a count, never who."""
        if not poll_ids:
            return {}
        stmt = access.within(
            select(PollVoter.poll_id, func.count()).join(Poll, Poll.id == PollVoter.poll_id), Poll, municipality_id
        )
        stmt = stmt.where(PollVoter.poll_id.in_(poll_ids)).group_by(PollVoter.poll_id)
        return {int(poll_id): int(count) for poll_id, count in db.session.execute(stmt).all()}

    # -- the list -----------------------------------------------------------------------------

    @expose("/")
    @has_access
    def list(self):
        actor = web.require_actor()
        municipality = self._municipality(actor)
        rows: list[PollRow] = []
        if municipality is not None:
            stmt = access.within(select(Poll), Poll, municipality.id).order_by(Poll.opens_at.desc(), Poll.id.desc())
            found = list(db.session.execute(stmt).scalars())
            voters = self._voters(municipality.id, [p.id for p in found])
            locale = current_locale()
            rows = [PollRow(p, pick(p.title, locale), processes.phase(p), voters.get(p.id, 0)) for p in found]
        return self.render_template(
            "admin/polls/list.html",
            title=_("Polls and budget votes"),
            municipality=municipality,
            choices=municipality_choices(actor),
            rows=rows,
            phases=PHASES,
            kinds=KINDS,
            can_add=municipality is not None and self._can("can_add") and polls.may_manage(actor, municipality.id),
        )

    # -- one poll -----------------------------------------------------------------------------

    @expose("/<int:poll_id>/")
    @has_access
    def show(self, poll_id: int):
        actor = web.require_actor()
        try:
            found = polls.get_for_staff(db.session, actor, poll_id)
        except access.NotFound:
            abort(404)
        return self._render_show(actor, found.poll, municipality=found.municipality, voters=found.voters)

    def _render_show(
        self,
        actor: Actor,
        poll: Poll,
        *,
        upload_error: str = "",
        status: int = 200,
        municipality: Municipality | None = None,
        voters: int | None = None,
    ):
        """The poll's page; ``municipality`` and ``voters`` when the caller loaded them with
        the poll (:func:`polls.get_for_staff`)."""
        phase = processes.phase(poll)
        structure = polls.structure(db.session, poll)
        if municipality is None:
            municipality = access.get_municipality(db.session, actor, poll.municipality_id)
        if voters is None:
            voters = self._voters(poll.municipality_id, [poll.id]).get(poll.id, 0)
        manager = self._can("can_edit") and polls.may_manage(actor, poll.municipality_id)
        # Names of the settlements the vote is limited to (all of them: an inactive one too).
        settlements = self._settlements(poll.municipality_id, active_only=False) if poll.settlement_ids else {}
        # What the public page shows, when it shows it: after closing, or live if so chosen.
        tally = _tally(poll) if phase in ("open", "closed") else None
        return self.render_template(
            "admin/polls/show.html",
            title=pick(poll.title, current_locale()),
            poll=poll,
            view=structure,
            phase=phase,
            phases=PHASES,
            kinds=KINDS,
            audiences=AUDIENCES,
            visibilities=VISIBILITIES,
            voters=voters,
            settlement_names=[settlements.get(s, "?") for s in poll.settlement_ids or []],
            files=participation_files.files_of(db.session, poll.municipality_id, ("poll", poll.id)),
            tally=tally,
            results=results_rows(structure, tally),
            public_url=public_url(municipality, poll) if phase != "draft" else None,
            can_edit=manager and phase == "draft",
            can_publish=manager and phase == "draft",
            can_cancel=manager and phase in CANCELLABLE,
            upload_error=upload_error,
            max_files=participation_files.MAX_DOCUMENTS,
            max_mb=participation_files.MAX_DOCUMENT_MB,
        ), status

    # -- create and edit ----------------------------------------------------------------------

    @expose("/new", methods=["GET", "POST"])
    @has_access
    def add(self):
        actor = web.require_actor()
        municipality = self._municipality(actor)
        if municipality is None:
            abort(404)
        if not polls.may_manage(actor, municipality.id):
            abort(403)
        kind = request.args.get("kind", "poll")
        if kind not in KINDS:
            abort(404)
        settlements = self._settlements(municipality.id)
        if request.method == "GET":
            return self._render_form(PollForm.blank(kind), municipality, settlements, poll=None)
        form = PollForm.from_request(request.form, kind)
        focus = form.apply(request.form.get("op", ""))
        if focus is not None:
            return self._render_form(form, municipality, settlements, poll=None, focus=focus)
        spec = form.spec(settlements)
        if not _checked(form, spec, kind, municipality.id):
            return self._refused(form, municipality, settlements, poll=None)
        try:
            poll = polls.create(db.session, actor, municipality.id, spec, kind=kind)
            db.session.commit()
        except processes.InvalidProcess as exc:
            db.session.rollback()
            form.merge(exc.errors)
            return self._refused(form, municipality, settlements, poll=None)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        flash(_("Saved as a draft. Check it, then publish it."), "success")
        return redirect(url_for(".show", poll_id=poll.id))

    @expose("/<int:poll_id>/edit", methods=["GET", "POST"])
    @has_access
    def edit(self, poll_id: int):
        actor = web.require_actor()
        poll = self._poll(actor, poll_id)
        municipality = access.get_municipality(db.session, actor, poll.municipality_id)
        # Those offered, and any the draft names that is no longer active (shown, not dropped in silence).
        every = self._settlements(poll.municipality_id, active_only=False)
        active = self._settlements(poll.municipality_id)
        settlements = {sid: name for sid, name in every.items() if sid in active or sid in poll.settlement_ids}
        if processes.phase(poll) != "draft":
            flash(_("Only a draft can be changed; this one is published or cancelled."), "warning")
            return redirect(url_for(".show", poll_id=poll.id))
        if request.method == "GET":
            form = PollForm.from_poll(polls.structure(db.session, poll))
            return self._render_form(form, municipality, settlements, poll=poll, version=poll.version)
        version = _version(request.form.get("version", ""))
        form = PollForm.from_request(request.form, poll.kind)
        focus = form.apply(request.form.get("op", ""))
        if focus is not None:
            return self._render_form(form, municipality, settlements, poll=poll, version=version, focus=focus)
        spec = form.spec(settlements)
        if version != poll.version:
            return self._stale(poll_id)
        if not _checked(form, spec, poll.kind, poll.municipality_id):
            return self._refused(form, municipality, settlements, poll=poll, version=version)
        try:
            polls.update(db.session, actor, poll, spec, expected_version=version)
            db.session.commit()
        except processes.InvalidProcess as exc:
            db.session.rollback()
            form.merge(exc.errors)
            return self._refused(form, municipality, settlements, poll=poll, version=version)
        except (ChangedMeanwhile, StaleDataError):
            db.session.rollback()
            return self._stale(poll_id)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        except WorkflowError as exc:
            db.session.rollback()
            form.errors = {"form": str(exc)}
            return self._refused(form, municipality, settlements, poll=poll, version=version, status=409)
        flash(_("Saved."), "success")
        return redirect(url_for(".show", poll_id=poll_id))

    def _render_form(self, form, municipality, settlements, *, poll, version=None, focus=None, status=200):
        if poll is None:
            title = _("New budget vote") if form.kind == "budget" else _("New poll")
            action = url_for(".add", kind=form.kind, municipality=municipality.id)
        else:
            title = _("Change the draft: %(title)s", title=pick(poll.title, current_locale()))
            action = url_for(".edit", poll_id=poll.id)
        return self.render_template(
            "admin/polls/form.html",
            title=title,
            form=form,
            poll=poll,
            version=version,
            action=action,
            municipality=municipality,
            settlements=settlements,
            languages=LANGUAGES,
            language_labels=LANGUAGE_LABELS,
            audiences=AUDIENCES,
            visibilities=VISIBILITIES,
            focus=focus,
            max_questions=MAX_QUESTIONS,
            max_options=MAX_OPTIONS,
            anchor=anchor,
            error_label=error_label,
        ), status

    def _refused(self, form, municipality, settlements, *, poll, version=None, status=400):
        return self._render_form(form, municipality, settlements, poll=poll, version=version, status=status)

    def _stale(self, poll_id: int):
        return self.render_template(
            "admin/polls/stale.html",
            title=_("Changed meanwhile"),
            back=url_for(".show", poll_id=poll_id),
        ), 409

    # -- publish and cancel -------------------------------------------------------------------

    def _change(self, poll_id: int, change: Callable[[], object], success: str) -> tuple[Any, str, int]:
        """Run ``change`` (publish or cancel, with the version the form was written against)
        and commit it. Returns ``(response, "", 0)`` when the request ends here: back to the
        poll with ``success`` flashed, or the changed-meanwhile page. Returns
        ``(None, error, status)`` when the domain refused, for the confirmation page to show
        again: a rule broken (400) or a phase that no longer allows it (409)."""
        try:
            change()
            db.session.commit()
        except processes.InvalidProcess as exc:
            db.session.rollback()
            return None, " ".join(str(v) for v in exc.errors.values()), 400
        except (ChangedMeanwhile, StaleDataError):
            db.session.rollback()
            return self._stale(poll_id), "", 0
        except NotAllowed:
            db.session.rollback()
            abort(403)
        except WorkflowError as exc:
            db.session.rollback()
            return None, str(exc), 409
        flash(success, "success")
        return redirect(url_for(".show", poll_id=poll_id)), "", 0

    @expose("/<int:poll_id>/publish", methods=["GET", "POST"])
    @has_access
    def publish(self, poll_id: int):
        actor = web.require_actor()
        poll = self._poll(actor, poll_id)
        error = ""
        status = 200
        if request.method == "POST":
            version = _version(request.form.get("version", ""))
            done, error, status = self._change(
                poll_id,
                lambda: polls.publish(db.session, actor, poll, expected_version=version),
                _("Published. Voters see it now and can vote from the opening time."),
            )
            if done is not None:
                return done
            poll = self._poll(actor, poll_id)
        return self.render_template(
            "admin/polls/publish.html",
            title=_("Publish: %(title)s", title=pick(poll.title, current_locale())),
            poll=poll,
            phase=processes.phase(poll),
            audiences=AUDIENCES,
            visibilities=VISIBILITIES,
            view=polls.structure(db.session, poll),
            error=error,
        ), status

    @expose("/<int:poll_id>/cancel", methods=["GET", "POST"])
    @has_access
    def cancel(self, poll_id: int):
        actor = web.require_actor()
        poll = self._poll(actor, poll_id)
        reason = ""
        error = ""
        status = 200
        if request.method == "POST":
            reason = request.form.get("reason", "").strip()
            version = _version(request.form.get("version", ""))
            if processes.phase(poll) not in CANCELLABLE:
                error, status = _("This vote can no longer be cancelled: it is closed or cancelled already."), 409
            elif not reason:
                error, status = _("Write why the vote is cancelled."), 400
            elif len(reason) > MAX_REASON:
                error, status = _("Use at most %(max)d characters.", max=MAX_REASON), 400
            else:
                done, error, status = self._change(
                    poll_id,
                    lambda: polls.cancel(db.session, actor, poll, reason=reason, expected_version=version),
                    _("Cancelled."),
                )
                if done is not None:
                    return done
                poll = self._poll(actor, poll_id)
        return self.render_template(
            "admin/polls/cancel.html",
            title=_("Cancel: %(title)s", title=pick(poll.title, current_locale())),
            poll=poll,
            phase=processes.phase(poll),
            reason=reason,
            error=error,
            max_reason=MAX_REASON,
        ), status

    # -- attachments --------------------------------------------------------------------------

    @expose("/<int:poll_id>/files", methods=["POST"])
    @has_access
    def upload(self, poll_id: int):
        actor = web.require_actor()
        poll = self._poll(actor, poll_id)
        if processes.phase(poll) != "draft":
            return self._render_show(
                actor, poll, upload_error=_("Attachments can be changed only in a draft."), status=409
            )
        uploads = participation_files.chosen(request.files.getlist("attachments"))
        if not uploads:
            return self._render_show(actor, poll, upload_error=_("Choose a file to attach."), status=400)
        try:
            stored = participation_files.store(
                db.session,
                get_storage(current_app),
                municipality_id=poll.municipality_id,
                owner=("poll", poll.id),
                uploads=uploads,
                kind="document",
            )
            audit.record(
                db.session,
                AUDIT_ATTACH,
                actor=actor,
                target=("poll", poll.id),
                municipality_id=poll.municipality_id,
                details={"files": [{"id": f.id, "filename": f.filename, "sha256": f.sha256} for f in stored]},
                ip=request.remote_addr,
            )
            db.session.commit()
        except UploadRefused as exc:
            db.session.rollback()
            return self._render_show(actor, poll, upload_error=str(exc), status=400)
        except StorageError as exc:
            db.session.rollback()
            return self._render_show(actor, poll, upload_error=participation_files.storage_problem(exc), status=503)
        flash(_("Attached."), "success")
        return redirect(url_for(".show", poll_id=poll_id) + "#attachments")

    @expose("/<int:poll_id>/files/<int:file_id>")
    @has_access
    def file(self, poll_id: int, file_id: int):
        actor = web.require_actor()
        poll = self._poll(actor, poll_id)
        try:
            opened = participation_files.open_file(
                db.session,
                get_storage(current_app),
                actor,
                municipality_id=poll.municipality_id,
                owner=("poll", poll.id),
                file_id=file_id,
                channel=channels.OFFICE,
                ip=request.remote_addr,
            )
        except access.NotFound:
            abort(404)
        except participation_files.FileMissing:
            abort(404)
        except participation_files.FileUnavailable:
            abort(503)
        return web.send_document(opened)

    @expose("/<int:poll_id>/files/<int:file_id>/remove", methods=["POST"])
    @has_access
    def remove_file(self, poll_id: int, file_id: int):
        actor = web.require_actor()
        poll = self._poll(actor, poll_id)
        try:
            row = participation_files.get(db.session, poll.municipality_id, ("poll", poll.id), file_id)
        except access.NotFound:
            abort(404)
        if processes.phase(poll) != "draft":
            return self._render_show(
                actor, poll, upload_error=_("Attachments can be changed only in a draft."), status=409
            )
        try:
            participation_files.delete(db.session, get_storage(current_app), actor, row, ip=request.remote_addr)
        except NotAllowed:
            db.session.rollback()
            abort(403)
        flash(_("Removed."), "success")
        return redirect(url_for(".show", poll_id=poll_id) + "#attachments")


def _checked(form: PollForm, spec: Any, kind: str, municipality_id: int) -> bool:
    """Whether the form can be saved. When something could not even be read (a date, a
    number), the domain still judges the rest, without writing, so every problem is marked
    at once. (The domain's check is private to it: a dry run of create() would burn an audit
    event id, which the audit chain reads as a deleted event.)"""
    if not form.errors:
        return True
    try:
        polls._check(db.session, spec, kind, municipality_id)
    except processes.InvalidProcess as exc:
        form.merge(exc.errors)
    return False


def _tally(poll: Poll) -> ballots.Tally | None:
    return ballots.tally(db.session, poll) if ballots.results_visible(poll) else None


def _version(raw: str) -> int:
    """The version a form was written against; a forged one simply does not match."""
    return int(raw) if raw.isdecimal() and len(raw) < 10 else -1


def public_url(municipality: Municipality, poll: Poll) -> str | None:
    """The public page of the poll, with its results (app.portal.polls), if the portal has one."""
    try:
        return url_for(PUBLIC_ENDPOINT, code=municipality.code, poll_id=poll.id)
    except BuildError:
        return None


def results_rows(structure: Any, tally: Any) -> list[dict[str, Any]]:
    """Per question, its options with their votes (and, in a budget vote, whether and in which
    order each project is funded), for the results table."""
    if tally is None:
        return []
    locale = current_locale()
    funded = {option_id: rank for rank, option_id in enumerate(tally.winners, start=1)}
    return [
        {
            "text": pick(question.text, locale),
            "options": [
                {
                    "text": pick(option.text, locale),
                    "cost": option.cost,
                    "votes": tally.counts.get(question.id, {}).get(option.id, 0),
                    "funded": funded.get(option.id),
                }
                for option in question.options
            ],
        }
        for question in structure.questions
    ]
