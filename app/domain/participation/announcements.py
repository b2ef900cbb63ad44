"""Announcements of e-participation processes: the notices residents get when a poll, budget
vote or consultation opens, when a poll's or budget vote's results are out, and when a
consultation's summary is published. Run every minute by the job ``hamaynk.announce``
(app.jobs) and once by ``flask hamaynk participation announce``.

:func:`announce` does, in this order:

1. closes every published poll whose closing time has passed and has no tally yet
   (:func:`app.domain.participation.ballots.close`: it stores the tally);
2. writes the notices still due, process by process:

   - a published poll, budget vote or consultation whose window is open and whose
     ``opened_notice_at`` is empty: "voting is open" / "have your say";
   - a closed, tallied poll or budget vote whose ``results_notice_at`` is empty: "results
     are out";
   - a consultation whose summary is published and whose ``results_notice_at`` is empty:
     "summary published";

   and stamps that column once everybody was told.

Who is told: the people who may take part (:func:`app.domain.participation.residency.residents`
of the municipality, of the chosen settlements where the process names some). For the
audience ``registered`` (a survey any registered citizen may answer) only the municipality's
verified residents are told: a citizen account says nothing about where its owner lives, so
telling every citizen of the install would spam the other municipalities' residents. Each
person gets the notice on their own channels (:func:`app.domain.citizen_notices.emit`); these
notices are optional, so an unsubscribed citizen gets none by e-mail or SMS.

Large audiences: people are taken in ascending user id, :data:`BATCH` per transaction and at
most :data:`RUN_LIMIT` per run; the next run goes on. Where a process got to is an audit
event per batch (``participation.announce`` on the process: the event, the last user id
told, how many people and notices): it commits with that batch's notices, so a batch is
written entirely or not at all, and operators see who was told what and when. Nothing about
ballots is read or written here except the closing tally.

Twice at once: each notice has a dedup key (event, process, channel, person), unique in the
outbox, so two concurrent runs cannot both write a batch: the loser's commit fails, it rolls
back and leaves that process to the next run, which starts after the winner's batch.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, audit, citizen_notices
from app.domain.errors import WorkflowError
from app.domain.participation import processes
from app.models import AuditEvent, Municipality
from app.models.base import utcnow
from app.models.participation import Consultation, Poll

log = logging.getLogger(__name__)

AnySession = Session | scoped_session[Session]

# People per transaction, and per run over all processes (the job runs every minute).
BATCH = 500
RUN_LIMIT = 5000
ACTION = "participation.announce"

OPENED = "opened"
RESULTS = "results"
SUMMARY = "summary"

# Where a notice sends people: the process's public page (app.portal.polls / consultations).
POLL_PATH = "/m/{code}/polls/{id}/"
RESULTS_PATH = "/m/{code}/polls/{id}/results"
CONSULTATION_PATH = "/m/{code}/consultations/{id}/"


@dataclass(frozen=True)
class Due:
    """One announcement still to be written: ``stage`` (OPENED, RESULTS, SUMMARY) of ``process``."""

    process: Poll | Consultation
    stage: str

    @property
    def object_type(self) -> str:
        return "poll" if isinstance(self.process, Poll) else "consultation"

    @property
    def event(self) -> str:
        if self.stage == RESULTS:
            return citizen_notices.RESULTS_PUBLISHED
        if self.stage == SUMMARY:
            return citizen_notices.SUMMARY_PUBLISHED
        if isinstance(self.process, Consultation):
            return citizen_notices.CONSULTATION_OPENED
        return citizen_notices.BUDGET_OPENED if self.process.kind == "budget" else citizen_notices.POLL_OPENED

    @property
    def column(self) -> Any:
        model = type(self.process)
        return model.opened_notice_at if self.stage == OPENED else model.results_notice_at

    @property
    def dedup(self) -> str:
        return f"{self.event}:{self.object_type}:{self.process.id}"


@dataclass
class Announced:
    """What one run did."""

    closed: list[int] = field(default_factory=list)
    people: int = 0
    notices: int = 0
    # (object type, id, stage) of the announcements finished in this run.
    finished: list[tuple[str, int, str]] = field(default_factory=list)
    # Processes left to the next run after losing a race to a concurrent one.
    skipped: int = 0


# -- what is due ------------------------------------------------------------------------------------

WHY = "the announcements job works for every municipality"


def _polls_to_close(session: AnySession, now: dt.datetime) -> list[Poll]:
    stmt = select(Poll).where(
        Poll.status.in_(processes.OPEN_STATUSES), Poll.closes_at <= now, Poll.tallied_at.is_(None)
    )
    return list(session.execute(access.unscoped(stmt.order_by(Poll.id), reason=WHY)).scalars())


def due(session: AnySession, now: dt.datetime) -> Iterator[Due]:
    """The announcements still to be written at ``now``, oldest process first."""
    published = processes.OPEN_STATUSES
    for model in (Poll, Consultation):
        stmt: Select[Any] = select(model).where(
            model.status.in_(published),
            model.opens_at <= now,
            model.closes_at > now,
            model.opened_notice_at.is_(None),
        )
        for process in session.execute(access.unscoped(stmt.order_by(model.id), reason=WHY)).scalars():
            yield Due(process, OPENED)
    results = select(Poll).where(
        Poll.status.in_(published),
        Poll.closes_at <= now,
        Poll.tallied_at.is_not(None),
        Poll.results_notice_at.is_(None),
    )
    for poll in session.execute(access.unscoped(results.order_by(Poll.id), reason=WHY)).scalars():
        yield Due(poll, RESULTS)
    summaries = select(Consultation).where(
        Consultation.status != processes.CANCELLED,
        Consultation.status != processes.DRAFT,
        Consultation.summary_published_at.is_not(None),
        Consultation.results_notice_at.is_(None),
    )
    for consultation in session.execute(access.unscoped(summaries.order_by(Consultation.id), reason=WHY)).scalars():
        yield Due(consultation, SUMMARY)


def audience(session: AnySession, process: Poll | Consultation, now: dt.datetime) -> Select[Any]:
    """A SELECT of the user ids to tell about ``process`` (see the module docstring)."""
    from app.domain.participation import residency

    settlements = tuple(process.settlement_ids or ()) if process.audience == processes.RESIDENTS else ()
    return residency.residents(session, process.municipality_id, settlements, at=now)


def _cursor(session: AnySession, item: Due) -> int:
    """The last user id already told about ``item`` (0 when nobody was)."""
    stmt = (
        access.within(select(AuditEvent.details), AuditEvent, item.process.municipality_id)
        .where(
            AuditEvent.action == ACTION,
            AuditEvent.object_type == item.object_type,
            AuditEvent.object_id == str(item.process.id),
        )
        .order_by(AuditEvent.id.desc())
    )
    for details in session.execute(stmt).scalars():
        if isinstance(details, Mapping) and details.get("event") == item.event:
            return int(details.get("through_user_id") or 0)
    return 0


def _next_people(session: AnySession, item: Due, now: dt.datetime, after: int, limit: int) -> list[int]:
    people = audience(session, item.process, now).subquery()
    user_id = next(iter(people.c))
    stmt = select(user_id).where(user_id > after).order_by(user_id).limit(limit)
    return [int(uid) for uid in session.execute(stmt).scalars()]


# -- writing ----------------------------------------------------------------------------------------


def _context(session: AnySession, item: Due) -> dict[str, Any]:
    process = item.process
    municipality = session.get(Municipality, process.municipality_id)
    assert municipality is not None
    names = {"hy": municipality.name_hy, "en": municipality.name_en, "ru": municipality.name_ru}
    if isinstance(process, Poll):
        template = RESULTS_PATH if item.stage == RESULTS else POLL_PATH
    else:
        template = CONSULTATION_PATH
    return {
        "title": dict(process.title or {}),
        "municipality": {lang: name or municipality.name_hy for lang, name in names.items()},
        "path": template.format(code=municipality.code, id=process.id),
    }


def _batch(
    session: AnySession, item: Due, config: Mapping[str, Any], now: dt.datetime, limit: int
) -> tuple[int, int, bool]:
    """Tell the next ``limit`` people about ``item`` in the caller's transaction; returns
    (people, notices, finished)."""
    after = _cursor(session, item)
    people = _next_people(session, item, now, after, limit)
    context = _context(session, item)
    written = 0
    for user_id in people:
        written += len(
            citizen_notices.emit(
                cast(Session, session),
                event=item.event,
                user_id=user_id,
                municipality_id=item.process.municipality_id,
                config=config,
                context=context,
                dedup=item.dedup,
            )
        )
    finished = len(people) < limit
    if people:
        audit.record(
            session,
            ACTION,
            actor=None,
            target=(item.object_type, item.process.id),
            municipality_id=item.process.municipality_id,
            details={"event": item.event, "through_user_id": people[-1], "people": len(people), "notices": written},
        )
    if finished:
        # A plain UPDATE: announcing is not an edit, so it must not bump the version an
        # administrator's open form was loaded with.
        model = type(item.process)
        session.execute(
            access.within(update(model), model, item.process.municipality_id)
            .where(model.id == item.process.id, item.column.is_(None))
            .values({item.column.key: now})
        )
    return len(people), written, finished


def _close_polls(session: AnySession, now: dt.datetime, done: Announced) -> None:
    from app.domain.participation import ballots

    for poll in _polls_to_close(session, now):
        try:
            ballots.close(session, poll, now)
            session.commit()
        except IntegrityError:
            # A concurrent run closing the same poll: its tally stands; ours is not needed.
            session.rollback()
            log.info("poll %s was being closed by another run", poll.id)
            continue
        except WorkflowError:
            # One poll that cannot be counted must not stop the others' closing and notices.
            session.rollback()
            log.exception("poll %s could not be closed", poll.id)
            continue
        done.closed.append(poll.id)


def announce(
    session: AnySession,
    config: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    batch: int = BATCH,
    run_limit: int = RUN_LIMIT,
) -> Announced:
    """Close the polls due to close and write the announcements due (see the module
    docstring). Commits each batch; a batch lost to a concurrent run is rolled back and
    left to the next run."""
    now = now or utcnow()
    done = Announced()
    _close_polls(session, now, done)
    budget = run_limit
    for item in list(due(session, now)):
        while budget > 0:
            try:
                people, notices, finished = _batch(session, item, config, now, min(batch, budget))
                session.commit()
            except IntegrityError:
                session.rollback()
                done.skipped += 1
                log.info("%s %s: another run wrote this batch; the next run goes on", item.object_type, item.process.id)
                break
            budget -= max(people, 1)
            done.people += people
            done.notices += notices
            if finished:
                done.finished.append((item.object_type, item.process.id, item.stage))
                break
        if budget <= 0:
            break
    if done.people or done.closed:
        log.info(
            "announcements: %d poll(s) closed, %d notice(s) to %d person(s)",
            len(done.closed),
            done.notices,
            done.people,
        )
    return done


__all__ = ["ACTION", "BATCH", "RUN_LIMIT", "Announced", "Due", "announce", "audience", "due"]
