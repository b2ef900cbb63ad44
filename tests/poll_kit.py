"""Polls for tests that are about voting: residents made directly (app.domain.participation.
residency verifies real ones; see tests/test_residency.py), and a published poll or budget
vote made through app.domain.participation.polls (inside an app context)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

from app.domain.participation import polls
from app.domain.participation.polls import OptionSpec, PollSpec, QuestionSpec
from app.extensions import db
from app.models.base import utcnow
from app.models.participation import Poll, Residency, Settlement
from app.testing import actor_for, make_citizen

_numbers = itertools.count(1)


def citizen(app, *, name: str = "Anna Petrosyan") -> int:
    return make_citizen(app, f"voter{next(_numbers)}@test.example", name=name)


def make_resident(
    app,
    municipality_id: int,
    user_id: int | None = None,
    *,
    settlement_id: int | None = None,
    expires_at: dt.datetime | None = None,
    revoked: bool = False,
) -> int:
    """A citizen (new unless ``user_id``) with a verified residency; returns the user id."""
    user_id = user_id or citizen(app)
    with app.app_context():
        now = utcnow()
        db.session.add(
            Residency(
                municipality_id=municipality_id,
                user_id=user_id,
                settlement_id=settlement_id,
                method="office",
                document_kind="passport",
                verified_at=now - dt.timedelta(days=1),
                expires_at=expires_at or now + dt.timedelta(days=365),
                revoked_at=now if revoked else None,
            )
        )
        db.session.commit()
    return user_id


def make_settlement(app, municipality_id: int, code: str) -> int:
    with app.app_context():
        row = Settlement(municipality_id=municipality_id, code=code, name_hy=code, name_en=code)
        db.session.add(row)
        db.session.commit()
        return row.id


def texts(hy: str, en: str | None = None) -> dict[str, str]:
    return {"hy": hy, "en": en or hy}


def poll_spec(
    *,
    questions: Sequence[QuestionSpec] | None = None,
    opens_at: dt.datetime | str | None = None,
    closes_at: dt.datetime | str | None = None,
    **settings,
) -> PollSpec:
    now = utcnow()
    questions = (
        questions
        if questions is not None
        else (
            QuestionSpec(
                texts("Հարց 1", "Which park?"), 1, (OptionSpec(texts("Ա", "North")), OptionSpec(texts("Բ", "South")))
            ),
            QuestionSpec(
                texts("Հարց 2", "Which days?"),
                2,
                (OptionSpec(texts("Երկ", "Mon")), OptionSpec(texts("Չոր", "Wed")), OptionSpec(texts("Ուրբ", "Fri"))),
            ),
        )
    )
    return PollSpec(
        title=texts("Հարցում", "A poll"),
        description=texts("Նկարագրություն", "Description"),
        opens_at=opens_at or now - dt.timedelta(hours=1),
        closes_at=closes_at or now + dt.timedelta(hours=2),
        questions=tuple(questions),
        **settings,
    )


def budget_spec(costs: Sequence[int], budget: int, **settings) -> PollSpec:
    question = QuestionSpec(
        texts("Ո՞ր ծրագրերը", "Which projects?"),
        len(costs),
        tuple(OptionSpec(texts(f"Ծրագիր {n}", f"Project {n}"), cost=cost) for n, cost in enumerate(costs, 1)),
    )
    return poll_spec(questions=[question], budget=budget, **settings)


def published(app, municipality, spec: PollSpec | None = None, *, kind: str = "poll") -> int:
    """A published poll of ``municipality`` (one of ``app.seeded``'s), made by its
    administrator; returns its id."""
    with app.app_context():
        admin = actor_for(municipality["users"]["municipal_admin"])
        poll = polls.create(db.session, admin, municipality["id"], spec or poll_spec(), kind=kind)
        polls.publish(db.session, admin, poll)
        db.session.commit()
        return poll.id


def load(poll_id: int) -> Poll:
    return db.session.get_one(Poll, poll_id)


def options_of(poll: Poll) -> list[list[int]]:
    """Option ids per question, in order."""
    view = polls.structure(db.session, poll)
    return [[o.id for o in q.options] for q in view.questions]


def question_ids(poll: Poll) -> list[int]:
    return [q.id for q in polls.structure(db.session, poll).questions]
