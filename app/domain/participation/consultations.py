"""Public consultations on draft decisions of the council or the head (issue 11, point 5).

A municipal administrator writes the consultation (the draft decision's title and text in
Armenian, optionally English and Russian; who decides; the comment period in Yerevan time;
the audience and settlements, as for polls; the draft's files) and publishes it. While it is
open, eligible citizens (:func:`app.domain.participation.processes.eligible`) comment on it,
reply to comments (one level of threads: a reply to a reply joins the same thread) and
support comments, once per person per comment (the key of
:class:`~app.models.participation.CommentSupport`; ``support_count`` is raised by one in the
same transaction by an ``UPDATE … SET support_count = support_count + 1``, so concurrent
supports never lose one).

Moderation: the administrator hides a comment with a reason (audit-logged; the author is told
why by a notice, :data:`COMMENT_HIDDEN`) and may show it again. The public page shows a hidden
comment as "hidden by the moderator: <reason>", never its text.

At the end the administrator publishes a summary of what changed and why, linked to the final
decision (its reference and the http(s) address where it is published). The notice that the
summary is out is written by the announcements job (``results_notice_at``).

Every administrator act is audit-logged. Functions add rows to the caller's session; the
caller commits (a support commits its own savepoint so a duplicate is told apart).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, select
from sqlalchemy import update as sa_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.domain import access, audit, citizen_notices, inputs, roles
from app.domain.access import Actor
from app.domain.errors import ChangedMeanwhile, InvalidAction, NotAllowed
from app.domain.participation import processes
from app.domain.participation.processes import (
    CANCELLED,
    DRAFT,
    PUBLISHED,
    InvalidProcess,
    ParticipationRefused,
    clean_texts,
    parse_local,
)
from app.models import Municipality, User
from app.models.base import utcnow
from app.models.participation import CommentSupport, Consultation, ConsultationComment, Settlement

AnySession = Session

COUNCIL = "council"
HEAD = "head"
DECIDED_BY = (COUNCIL, HEAD)
DECIDED_BY_LABELS = {COUNCIL: _l("The council of elders"), HEAD: _l("The head of the community")}

MAX_TITLE = 200
MAX_BODY = 50_000
MIN_COMMENT = 2
MAX_COMMENT = 3000
MAX_REASON = 500  # consultation_comment.hide_reason
MIN_REASON = 3
MAX_SUMMARY = 20_000
MAX_REFERENCE = 200  # consultation.decision_reference
MAX_URL = 500  # consultation.decision_url
EXCERPT = 200

COMMENT_HIDDEN = citizen_notices.COMMENT_HIDDEN  # the notice telling an author why

AUDIT_CREATE = "consultation.create"
AUDIT_UPDATE = "consultation.update"
AUDIT_PUBLISH = "consultation.publish"
AUDIT_CANCEL = "consultation.cancel"
AUDIT_SUMMARY = "consultation.summary"
AUDIT_HIDE = "consultation_comment.hide"
AUDIT_UNHIDE = "consultation_comment.unhide"
AUDIT_FILES = "consultation.files"


# -- refusals -------------------------------------------------------------------------------------


class InvalidComment(ParticipationRefused):
    """The comment's text (or the comment replied to) cannot be accepted; nothing written."""

    default_message = _l("This comment cannot be accepted.")


class AlreadySupported(ParticipationRefused):
    default_message = _l("You already support this comment.")


class CommentHidden(ParticipationRefused):
    default_message = _l("This comment was hidden by the moderator; it cannot be replied to or supported.")


class OwnComment(ParticipationRefused):
    default_message = _l("You cannot support your own comment.")


# -- who may --------------------------------------------------------------------------------------


def may_manage(actor: Actor | None, municipality_id: int) -> bool:
    """The municipality's own administrators write, publish, moderate and summarise."""
    return access.staff_of(actor, municipality_id) and actor.has(roles.MUNICIPAL_ADMIN)


def _require_manager(actor: Actor | None, municipality_id: int) -> Actor:
    if not may_manage(actor, municipality_id):
        raise NotAllowed(_l("Only the municipality's administrators manage its consultations."))
    assert actor is not None
    return actor


# -- loading --------------------------------------------------------------------------------------


def get(session: AnySession, actor: Actor | None, municipality_id: int, consultation_id: Any) -> Consultation:
    """Consultation ``consultation_id`` of ``municipality_id``: the municipality's staff see
    every one, everybody else published and cancelled ones (a draft does not exist for
    them). :class:`access.NotFound` otherwise."""
    if not isinstance(consultation_id, int) or isinstance(consultation_id, bool):
        raise access.NotFound(consultation_id)
    if not 0 < consultation_id <= access.MAX_PK:
        raise access.NotFound(consultation_id)
    stmt = access.within(select(Consultation), Consultation, municipality_id).where(Consultation.id == consultation_id)
    if not access.staff_of(actor, municipality_id):
        stmt = stmt.where(Consultation.status.in_((PUBLISHED, CANCELLED)))
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise access.NotFound(consultation_id)
    return found


def get_comment(session: AnySession, consultation: Consultation, comment_id: Any) -> ConsultationComment:
    """Comment ``comment_id`` of ``consultation`` (ids may be forged); :class:`access.NotFound`."""
    number = comment_id if isinstance(comment_id, int) and not isinstance(comment_id, bool) else None
    if number is None and isinstance(comment_id, str):
        number = inputs.whole_number(comment_id, access.MAX_PK)
    if number is None or not 0 < number <= access.MAX_PK:
        raise access.NotFound(comment_id)
    stmt = access.within(select(ConsultationComment), ConsultationComment, consultation.municipality_id).where(
        ConsultationComment.id == number, ConsultationComment.consultation_id == consultation.id
    )
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise access.NotFound(comment_id)
    return found


@dataclass(frozen=True)
class AdminRow:
    consultation: Consultation
    phase: str
    comments: int
    hidden: int


def admin_list(session: AnySession, actor: Actor | None, municipality_id: int) -> list[AdminRow]:
    """Every consultation of the municipality, newest first, with its comment counts (two
    queries whatever their number); for the municipality's staff."""
    if not access.staff_of(actor, municipality_id):
        raise NotAllowed()
    stmt = access.within(select(Consultation), Consultation, municipality_id).order_by(Consultation.id.desc())
    rows = list(session.execute(stmt).scalars())
    counts = access.within(
        select(
            ConsultationComment.consultation_id,
            func.count(ConsultationComment.id),
            func.count(ConsultationComment.hidden_at),
        ),
        ConsultationComment,
        municipality_id,
    ).group_by(ConsultationComment.consultation_id)
    by_id = {cid: (total, hidden) for cid, total, hidden in session.execute(counts).all()}
    now = utcnow()
    return [AdminRow(row, processes.phase(row, now), *by_id.get(row.id, (0, 0))) for row in rows]


def published(session: AnySession, municipality_id: int) -> list[Consultation]:
    """The municipality's published consultations (for its public home)."""
    stmt = access.within(select(Consultation), Consultation, municipality_id)
    return list(session.execute(stmt.where(Consultation.status == PUBLISHED)).scalars())


# -- writing the consultation ------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsultationSpec:
    """What the administrator entered, as entered: texts per language, times in Yerevan time
    (``YYYY-MM-DDTHH:MM``) or datetimes, settlement ids as sent."""

    title: Mapping[str, Any]
    body: Mapping[str, Any]
    decided_by: Any
    opens_at: Any
    closes_at: Any
    audience: Any = processes.RESIDENTS
    settlement_ids: Sequence[Any] = field(default_factory=tuple)


@dataclass(frozen=True)
class _Clean:
    title: dict[str, str]
    body: dict[str, str]
    decided_by: str
    opens_at: dt.datetime
    closes_at: dt.datetime
    audience: str
    settlement_ids: list[int]


def _texts(errors: dict[str, str], value: Any, *, name: str, max_len: int) -> dict[str, str]:
    try:
        return clean_texts(value, field=name, max_len=max_len)
    except InvalidProcess as exc:
        errors.update(exc.errors)
        return {}


def _time(errors: dict[str, str], value: Any, name: str) -> dt.datetime | None:
    if isinstance(value, str) and inputs.text_problem(value):
        errors[name] = str(inputs.text_problem(value))
        return None
    try:
        return parse_local(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        pass
    errors[name] = _("Enter a date and time (Yerevan time) such as 2026-05-01 09:00.")
    return None


def _settlements(session: AnySession, municipality_id: int, raw: Sequence[Any], errors: dict[str, str]) -> list[int]:
    ids: list[int] = []
    for value in raw or ():
        number = inputs.whole_number(value, access.MAX_PK) if isinstance(value, (str, int)) else None
        if number is None or isinstance(value, bool):
            errors["settlement_ids"] = _("Choose settlements from the list.")
            return []
        if number not in ids:
            ids.append(number)
    if not ids:
        return []
    stmt = access.within(select(Settlement.id), Settlement, municipality_id).where(
        Settlement.id.in_(ids), Settlement.active.is_(True)
    )
    known = set(session.execute(stmt).scalars())
    if set(ids) - known:
        errors["settlement_ids"] = _("Choose settlements from the list.")
        return []
    return sorted(ids)


def _validate(session: AnySession, municipality_id: int, spec: ConsultationSpec) -> _Clean:
    errors: dict[str, str] = {}
    title = _texts(errors, spec.title, name="title", max_len=MAX_TITLE)
    body = _texts(errors, spec.body, name="body", max_len=MAX_BODY)
    if spec.decided_by not in DECIDED_BY:
        errors["decided_by"] = _("Choose who decides: the council or the head.")
    if spec.audience not in processes.AUDIENCES:
        errors["audience"] = _("Choose who may comment.")
    opens_at = _time(errors, spec.opens_at, "opens_at")
    closes_at = _time(errors, spec.closes_at, "closes_at")
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        errors["closes_at"] = _("The comment period must end after it starts.")
    settlement_ids = _settlements(session, municipality_id, spec.settlement_ids, errors)
    if errors:
        raise InvalidProcess(errors)
    assert opens_at is not None and closes_at is not None
    return _Clean(title, body, str(spec.decided_by), opens_at, closes_at, str(spec.audience), settlement_ids)


def _apply(consultation: Consultation, clean: _Clean) -> None:
    consultation.title = clean.title
    consultation.body = clean.body
    consultation.decided_by = clean.decided_by
    consultation.opens_at = clean.opens_at
    consultation.closes_at = clean.closes_at
    consultation.audience = clean.audience
    consultation.settlement_ids = clean.settlement_ids


def create(
    session: AnySession, actor: Actor | None, municipality_id: int, spec: ConsultationSpec, *, ip: str | None = None
) -> Consultation:
    """A new draft consultation; :class:`InvalidProcess` with per-field errors (nothing written)."""
    actor = _require_manager(actor, municipality_id)
    clean = _validate(session, municipality_id, spec)
    consultation = Consultation(municipality_id=municipality_id, status=DRAFT, created_by_id=actor.user_id)
    _apply(consultation, clean)
    session.add(consultation)
    session.flush()
    audit.record(
        session,
        AUDIT_CREATE,
        actor=actor,
        target=("consultation", consultation.id),
        municipality_id=municipality_id,
        details={"title": clean.title.get("hy", "")},
        ip=ip,
    )
    return consultation


def _require_version(consultation: Consultation, expected_version: Any) -> None:
    if expected_version is not None and str(expected_version) != str(consultation.version):
        raise ChangedMeanwhile(_l("Someone else changed this consultation meanwhile; reload it and try again."))


def update(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    spec: ConsultationSpec,
    *,
    expected_version: Any = None,
    ip: str | None = None,
) -> Consultation:
    """Change a draft (a published consultation's text is what people commented on)."""
    actor = _require_manager(actor, consultation.municipality_id)
    _require_version(consultation, expected_version)
    if consultation.status != DRAFT:
        raise InvalidAction(_l("Only a draft can be changed; this consultation is already published."))
    clean = _validate(session, consultation.municipality_id, spec)
    _apply(consultation, clean)
    session.flush()
    audit.record(
        session,
        AUDIT_UPDATE,
        actor=actor,
        target=("consultation", consultation.id),
        municipality_id=consultation.municipality_id,
        details={"title": clean.title.get("hy", "")},
        ip=ip,
    )
    return consultation


def publish(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    *,
    expected_version: Any = None,
    now: dt.datetime | None = None,
    ip: str | None = None,
) -> None:
    """Publish a draft whose comment period has not ended: its page becomes public."""
    actor = _require_manager(actor, consultation.municipality_id)
    _require_version(consultation, expected_version)
    if consultation.status != DRAFT:
        raise InvalidAction(_l("Only a draft can be published."))
    if consultation.closes_at <= (now or utcnow()):
        raise InvalidAction(_l("The comment period has already ended; change its end before publishing."))
    consultation.status = PUBLISHED
    session.flush()
    audit.record(
        session,
        AUDIT_PUBLISH,
        actor=actor,
        target=("consultation", consultation.id),
        municipality_id=consultation.municipality_id,
        ip=ip,
    )


def cancel(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    *,
    reason: Any = "",
    expected_version: Any = None,
    ip: str | None = None,
) -> None:
    """Cancel a draft or a published consultation (not one whose summary is out)."""
    actor = _require_manager(actor, consultation.municipality_id)
    _require_version(consultation, expected_version)
    if consultation.status == CANCELLED or consultation.summary_published_at is not None:
        raise InvalidAction(_l("This consultation cannot be cancelled any more."))
    text = reason.strip() if isinstance(reason, str) else ""
    problem = inputs.text_problem(text)
    if problem or len(text) > MAX_REASON:
        raise InvalidProcess({"reason": problem or _("At most %(max)d characters.", max=MAX_REASON)})
    consultation.status = CANCELLED
    session.flush()
    audit.record(
        session,
        AUDIT_CANCEL,
        actor=actor,
        target=("consultation", consultation.id),
        municipality_id=consultation.municipality_id,
        details={"reason": text},
        ip=ip,
    )


def record_files(
    session: AnySession, actor: Actor, consultation: Consultation, *, added: Sequence[str], ip: str | None = None
) -> None:
    """Audit the files added to a consultation (their names), in the caller's transaction."""
    audit.record(
        session,
        AUDIT_FILES,
        actor=actor,
        target=("consultation", consultation.id),
        municipality_id=consultation.municipality_id,
        details={"added": list(added)},
        ip=ip,
    )


# -- the summary --------------------------------------------------------------------------------------


def clean_url(raw: Any) -> str:
    """The decision's address: an absolute http(s) URL with a host, no spaces, at most
    :data:`MAX_URL` characters; :class:`InvalidProcess` naming ``decision_url`` otherwise."""
    text = raw.strip() if isinstance(raw, str) else ""
    message = _("Enter the full address of the published decision, starting with https:// or http://.")
    if not text or len(text) > MAX_URL or inputs.text_problem(text) or re.search(r"\s", text):
        raise InvalidProcess({"decision_url": message})
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise InvalidProcess({"decision_url": message}) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok or parts.username:
        raise InvalidProcess({"decision_url": message})
    return text


def publish_summary(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    *,
    summary: Mapping[str, Any],
    decision_reference: Any,
    decision_url: Any,
    now: dt.datetime | None = None,
    ip: str | None = None,
) -> None:
    """Publish what changed and why, with the final decision's reference and address, once
    the comment period is over. Published once: it is a public record."""
    actor = _require_manager(actor, consultation.municipality_id)
    if consultation.status != PUBLISHED or processes.phase(consultation, now) != "closed":
        raise InvalidAction(_l("The summary is published after the comment period has ended."))
    if consultation.summary_published_at is not None:
        raise InvalidAction(_l("The summary of this consultation is already published."))
    errors: dict[str, str] = {}
    texts = _texts(errors, summary, name="summary", max_len=MAX_SUMMARY)
    reference = decision_reference.strip() if isinstance(decision_reference, str) else ""
    problem = inputs.text_problem(reference)
    if problem:
        errors["decision_reference"] = problem
    elif not reference or len(reference) > MAX_REFERENCE:
        errors["decision_reference"] = _(
            "Enter the decision's title or number (at most %(max)d characters).", max=MAX_REFERENCE
        )
    try:
        url = clean_url(decision_url)
    except InvalidProcess as exc:
        errors.update(exc.errors)
    if errors:
        raise InvalidProcess(errors)
    consultation.summary = texts
    consultation.decision_reference = " ".join(reference.split())
    consultation.decision_url = url
    consultation.summary_published_at = now or utcnow()
    session.flush()
    audit.record(
        session,
        AUDIT_SUMMARY,
        actor=actor,
        target=("consultation", consultation.id),
        municipality_id=consultation.municipality_id,
        details={"decision_reference": consultation.decision_reference, "decision_url": url},
        ip=ip,
    )


# -- comments -----------------------------------------------------------------------------------------


def clean_comment(raw: Any) -> str:
    """The comment as stored (NFC, ``\\n`` line ends, trimmed); :class:`InvalidComment`."""
    text = raw if isinstance(raw, str) else ""
    problem = inputs.text_problem(text)
    if problem:
        raise InvalidComment(problem)
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) < MIN_COMMENT:
        raise InvalidComment(_("Write your comment (at least %(min)d characters).", min=MIN_COMMENT))
    if len(text) > MAX_COMMENT:
        raise InvalidComment(
            _("A comment may be at most %(max)d characters long; yours has %(n)d.", max=MAX_COMMENT, n=len(text))
        )
    return text


def add_comment(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    *,
    body: Any,
    parent_id: Any = None,
    now: dt.datetime | None = None,
) -> ConsultationComment:
    """A comment (or, with ``parent_id``, a reply) by an eligible citizen while the period is
    open. A reply to a reply joins the thread of the comment it answers. Raises
    :class:`ParticipationRefused` subclasses (nothing written)."""
    if actor is None:
        raise processes.NotEligible(_l("Sign in to comment."))
    now = now or utcnow()
    processes.eligible(session, actor.user_id, consultation, now)
    text = clean_comment(body)
    parent: ConsultationComment | None = None
    if parent_id not in (None, ""):
        try:
            parent = get_comment(session, consultation, parent_id)
        except access.NotFound:
            raise InvalidComment(_l("The comment you reply to does not exist.")) from None
        if parent.hidden_at is not None:
            raise CommentHidden()
    comment = ConsultationComment(
        municipality_id=consultation.municipality_id,
        consultation_id=consultation.id,
        parent_id=None if parent is None else (parent.parent_id or parent.id),
        user_id=actor.user_id,
        body=text,
        created_at=now,
    )
    session.add(comment)
    session.flush()
    return comment


def support(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    comment: ConsultationComment,
    *,
    now: dt.datetime | None = None,
) -> None:
    """Support ``comment``: once per person (the table's key decides under concurrency),
    ``support_count`` raised in the same transaction. :class:`AlreadySupported` for a second
    time (nothing changed)."""
    if actor is None:
        raise processes.NotEligible(_l("Sign in to support comments."))
    now = now or utcnow()
    processes.eligible(session, actor.user_id, consultation, now)
    if comment.hidden_at is not None:
        raise CommentHidden()
    if comment.user_id == actor.user_id:
        raise OwnComment()
    try:
        with session.begin_nested():
            session.add(CommentSupport(comment_id=comment.id, user_id=actor.user_id, created_at=now))
    except IntegrityError:
        raise AlreadySupported() from None
    stmt = access.within(sa_update(ConsultationComment), ConsultationComment, consultation.municipality_id)
    session.execute(
        stmt.where(ConsultationComment.id == comment.id).values(support_count=ConsultationComment.support_count + 1),
        execution_options={"synchronize_session": False},
    )
    session.expire(comment, ["support_count"])


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1].rstrip() + "\u2026"


def clean_reason(raw: Any) -> str:
    text = " ".join(raw.split()) if isinstance(raw, str) else ""
    problem = inputs.text_problem(raw) if isinstance(raw, str) else None
    if problem:
        raise InvalidProcess({"reason": problem})
    if len(text) < MIN_REASON or len(text) > MAX_REASON:
        raise InvalidProcess(
            {
                "reason": _(
                    "Give the reason the author will be told (%(min)d to %(max)d characters).",
                    min=MIN_REASON,
                    max=MAX_REASON,
                )
            }
        )
    return text


def page_path(municipality_code: str, consultation_id: int) -> str:
    return f"/m/{municipality_code}/consultations/{consultation_id}/"


def hide(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    comment: ConsultationComment,
    *,
    reason: Any,
    config: Mapping[str, Any],
    now: dt.datetime | None = None,
    ip: str | None = None,
) -> None:
    """Hide ``comment`` with a reason: audit-logged, and its author is told why."""
    actor = _require_manager(actor, consultation.municipality_id)
    text = clean_reason(reason)
    if comment.hidden_at is not None:
        raise InvalidAction(_l("This comment is already hidden."))
    now = now or utcnow()
    comment.hidden_at = now
    comment.hidden_by_id = actor.user_id
    comment.hide_reason = text
    session.flush()
    audit.record(
        session,
        AUDIT_HIDE,
        actor=actor,
        target=("consultation_comment", comment.id),
        municipality_id=consultation.municipality_id,
        details={"consultation_id": consultation.id, "author_id": comment.user_id, "reason": text},
        ip=ip,
    )
    municipality = session.get(Municipality, consultation.municipality_id)
    code = municipality.code if municipality is not None else ""
    citizen_notices.emit(
        session,
        event=COMMENT_HIDDEN,
        user_id=comment.user_id,
        municipality_id=consultation.municipality_id,
        config=config,
        context={
            "title": dict(consultation.title),
            "reason": text,
            "excerpt": _excerpt(comment.body),
            "path": page_path(code, consultation.id) + f"#comment-{comment.id}",
        },
        dedup=f"{COMMENT_HIDDEN}:{comment.id}:{now.isoformat()}",
    )


def unhide(
    session: AnySession,
    actor: Actor | None,
    consultation: Consultation,
    comment: ConsultationComment,
    *,
    ip: str | None = None,
) -> None:
    """Show a hidden comment again (audit-logged with the reason it had)."""
    actor = _require_manager(actor, consultation.municipality_id)
    if comment.hidden_at is None:
        raise InvalidAction(_l("This comment is not hidden."))
    previous = comment.hide_reason
    comment.hidden_at = None
    comment.hidden_by_id = None
    comment.hide_reason = None
    session.flush()
    audit.record(
        session,
        AUDIT_UNHIDE,
        actor=actor,
        target=("consultation_comment", comment.id),
        municipality_id=consultation.municipality_id,
        details={"consultation_id": consultation.id, "previous_reason": previous},
        ip=ip,
    )


# -- reading the thread ---------------------------------------------------------------------------------


@dataclass
class CommentView:
    """One comment as a page shows it: ``body`` is ``None`` when hidden (show ``hide_reason``);
    ``author`` is the first name and the initial of the last."""

    id: int
    parent_id: int | None
    author: str
    user_id: int
    mine: bool
    body: str | None
    hidden: bool
    hide_reason: str | None
    created_at: dt.datetime
    support_count: int
    supported: bool
    replies: list[CommentView] = field(default_factory=list)


def _public_name(first: str | None, last: str | None) -> str:
    first = (first or "").strip()
    last = (last or "").strip().strip("-")
    initial = f" {last[0]}." if last else ""
    return (first + initial).strip() or _("A citizen")


def thread(
    session: AnySession, consultation: Consultation, *, viewer: Actor | None, show_hidden: bool = False
) -> list[CommentView]:
    """The comments of ``consultation``, oldest first, each with its replies; two queries
    whatever their number (the comments with their authors' names, and the viewer's
    supports). ``show_hidden`` (the moderation queue) keeps hidden comments' text."""
    stmt = access.within(
        select(ConsultationComment, User.first_name, User.last_name), ConsultationComment, consultation.municipality_id
    )
    stmt = stmt.join(User, User.id == ConsultationComment.user_id)
    stmt = stmt.where(ConsultationComment.consultation_id == consultation.id).order_by(ConsultationComment.id)
    found = session.execute(stmt).all()
    supported: set[int] = set()
    if viewer is not None and found:
        mine = access.within(select(ConsultationComment.id), ConsultationComment, consultation.municipality_id).where(
            ConsultationComment.consultation_id == consultation.id,
            exists().where(
                CommentSupport.comment_id == ConsultationComment.id, CommentSupport.user_id == viewer.user_id
            ),
        )
        supported = set(session.execute(mine).scalars())
    views: dict[int, CommentView] = {}
    top: list[CommentView] = []
    for comment, first, last in found:
        hidden = comment.hidden_at is not None
        view = CommentView(
            id=comment.id,
            parent_id=comment.parent_id,
            author=_public_name(first, last),
            user_id=comment.user_id,
            mine=viewer is not None and viewer.user_id == comment.user_id,
            body=comment.body if (show_hidden or not hidden) else None,
            hidden=hidden,
            hide_reason=comment.hide_reason,
            created_at=comment.created_at,
            support_count=comment.support_count,
            supported=comment.id in supported,
        )
        views[comment.id] = view
        parent = views.get(comment.parent_id) if comment.parent_id is not None else None
        if parent is not None:
            parent.replies.append(view)
        else:
            top.append(view)
    return top


def count_comments(views: Sequence[CommentView]) -> int:
    return sum(1 + len(v.replies) for v in views)


__all__ = [
    "COMMENT_HIDDEN",
    "DECIDED_BY",
    "DECIDED_BY_LABELS",
    "AdminRow",
    "AlreadySupported",
    "CommentHidden",
    "CommentView",
    "ConsultationSpec",
    "InvalidComment",
    "OwnComment",
    "add_comment",
    "admin_list",
    "cancel",
    "clean_url",
    "create",
    "get",
    "get_comment",
    "hide",
    "may_manage",
    "publish",
    "publish_summary",
    "published",
    "support",
    "thread",
    "unhide",
    "update",
]
