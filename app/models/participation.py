"""E-participation: settlements and verified residents, polls and participatory-budget votes,
consultations on draft decisions, and citizens' proposals.

Ballot secrecy is a property of these tables, not only of the code that writes them:

- :class:`PollVoter` says *that* a person voted in a poll and holds nothing else: no id of
  its own, no time, no channel, no link to a ballot.
- :class:`Ballot` says *what* was chosen and holds nothing about who: its key is the voter's
  random receipt code, with no time and no counter.
- On SQLite both are ``WITHOUT ROWID`` tables, stored in the order of their keys (the
  person, the random receipt), never in the order the votes came in. On PostgreSQL, whose
  heap keeps rows in arrival order and stamps each with its transaction, the ballot writer
  re-writes other ballots of the same poll in each vote's transaction
  (:mod:`app.domain.participation.ballots`, threat model in ``docs/participation.md``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Model, MunicipalityOwned, utcnow

# Both secrecy tables are stored by key, not by arrival, on SQLite.
WITHOUT_ROWID = {"sqlite_with_rowid": False}


class Settlement(MunicipalityOwned, Model):
    """A settlement (village, town, district) of a municipality; consolidated communities have
    many. Polls and consultations may be limited to residents of some of them."""

    __tablename__ = "settlement"
    __table_args__ = (UniqueConstraint("municipality_id", "code", name="uq_settlement_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name_hy: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(200))
    name_ru: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="1")


class Residency(MunicipalityOwned, Model):
    """That a citizen lives in a municipality (and settlement), as verified by a clerk who saw
    a document or by an identity/registry plug-in; valid until ``expires_at`` unless revoked.
    One row per person and municipality: verifying again renews it."""

    __tablename__ = "residency"
    __table_args__ = (UniqueConstraint("user_id", "municipality_id", name="uq_residency_person"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    settlement_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("settlement.id", ondelete="SET NULL"))
    # "office" (a clerk saw a document) or "provider:<name>" (a plug-in's registry said so).
    method: Mapped[str] = mapped_column(String(80), nullable=False)
    # Which kind of document the clerk checked ("passport", "id_card", ...); never its number.
    document_kind: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    verified_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class Poll(MunicipalityOwned, Model):
    """A poll (``kind="poll"``) or a participatory-budget vote (``kind="budget"``: one question
    whose options are feasible projects with a cost, chosen within ``budget``).

    Texts are ``{"hy": ..., "en": ..., "ru": ...}`` (Armenian required). Times are UTC;
    people enter and read them in Yerevan time. ``status`` is what the admin decided (draft,
    published, cancelled); open or closed follows from the times."""

    __tablename__ = "poll"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="ck_poll_window"),
        Index("ix_poll_municipality_window", "municipality_id", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="poll")
    title: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    description: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    opens_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    closes_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    # "residents": verified residents of the municipality (of ``settlement_ids`` when set);
    # "registered": any registered citizen (a non-binding survey).
    audience: Mapped[str] = mapped_column(String(16), nullable=False, default="residents")
    settlement_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    # "live" or "after_close".
    results_visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="after_close")
    allow_change: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="0")
    # AMD, for a budget vote.
    budget: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # When the "voting is open" and "results are out" notices were written (once each).
    opened_notice_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    results_notice_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The tally published at closing, and the sha256 of the ballot list it was counted from.
    tally: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    tallied_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ballots_sha256: Mapped[str | None] = mapped_column(String(64))

    __mapper_args__ = {"version_id_col": version}


class PollQuestion(Model):
    __tablename__ = "poll_question"
    __table_args__ = (UniqueConstraint("poll_id", "position", name="uq_poll_question_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(Integer, ForeignKey("poll.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    # 1: a single choice; more: multiple choice with at most this many marks.
    max_choices: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class PollOption(Model):
    __tablename__ = "poll_option"
    __table_args__ = (UniqueConstraint("question_id", "position", name="uq_poll_option_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(Integer, ForeignKey("poll.id", ondelete="CASCADE"), nullable=False, index=True)
    question_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("poll_question.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    # A budget vote's project: its cost (AMD) and the proposal it came from.
    cost: Mapped[int | None] = mapped_column(Integer)
    proposal_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("proposal.id", ondelete="SET NULL"))


class PollVoter(Model):
    """That ``user_id`` voted in ``poll_id``: the one-ballot rule's constraint, and nothing
    else (see the module's docstring)."""

    __tablename__ = "poll_voter"
    __table_args__ = (WITHOUT_ROWID,)

    poll_id: Mapped[int] = mapped_column(Integer, ForeignKey("poll.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)


class Ballot(Model):
    """One secret ballot, keyed by its random receipt code (published with the ballot list)."""

    __tablename__ = "ballot"
    __table_args__ = (Index("ix_ballot_poll", "poll_id"), WITHOUT_ROWID)

    receipt: Mapped[str] = mapped_column(String(32), primary_key=True)
    poll_id: Mapped[int] = mapped_column(Integer, ForeignKey("poll.id", ondelete="CASCADE"), nullable=False)
    # {"<question id>": [option ids, ascending]}.
    choices: Mapped[dict[str, list[int]]] = mapped_column(JSON, nullable=False)
    # sha256 of the change code shown to the voter once, where the poll allows changing a vote.
    change_hash: Mapped[str | None] = mapped_column(String(64))


class Consultation(MunicipalityOwned, Model):
    """A public consultation on a draft decision of the council or the head: the draft, a
    comment period, and at the end a summary of what changed and why, linked to the decision."""

    __tablename__ = "consultation"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="ck_consultation_window"),
        Index("ix_consultation_municipality_window", "municipality_id", "status", "closes_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False)
    # The draft decision's text.
    body: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    # "council" or "head".
    decided_by: Mapped[str] = mapped_column(String(16), nullable=False, default="council")
    opens_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    closes_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    audience: Mapped[str] = mapped_column(String(16), nullable=False, default="residents")
    settlement_ids: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    summary: Mapped[dict[str, str] | None] = mapped_column(JSON)
    summary_published_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The final decision: its title/number and where it is published.
    decision_reference: Mapped[str | None] = mapped_column(String(200))
    decision_url: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    opened_notice_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    results_notice_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __mapper_args__ = {"version_id_col": version}


class ConsultationComment(MunicipalityOwned, Model):
    __tablename__ = "consultation_comment"
    __table_args__ = (Index("ix_consultation_comment_thread", "consultation_id", "parent_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("consultation.id", ondelete="CASCADE"), nullable=False
    )
    parent_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("consultation_comment.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    support_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    hidden_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    hidden_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    hide_reason: Mapped[str | None] = mapped_column(String(500))


class CommentSupport(Model):
    __tablename__ = "comment_support"

    comment_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("consultation_comment.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class Proposal(MunicipalityOwned, Model):
    """A resident's proposal for the community (participatory budgeting): once it has the
    municipality's threshold of supports it goes to review, where staff find it feasible (it
    may then be put to a budget vote) or not, with a reason."""

    __tablename__ = "proposal"
    __table_args__ = (Index("ix_proposal_municipality_status", "municipality_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    # AMD, as the author estimates it; staff may set the reviewed cost.
    cost_estimate: Mapped[int] = mapped_column(Integer, nullable=False)
    reviewed_cost: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(300))
    settlement_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("settlement.id", ondelete="SET NULL"))
    # "open" (collecting supports), "review", "feasible", "unfeasible", "withdrawn".
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    status_reason: Mapped[str | None] = mapped_column(String(1000))
    reviewed_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    support_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class ProposalSupport(Model):
    __tablename__ = "proposal_support"

    proposal_id: Mapped[int] = mapped_column(Integer, ForeignKey("proposal.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


class ParticipationFile(MunicipalityOwned, Model):
    """A file of a poll (attachment), a consultation (the draft's files) or a proposal
    (photos): exactly one owner."""

    __tablename__ = "participation_file"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN poll_id IS NULL THEN 0 ELSE 1 END) + (CASE WHEN consultation_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN proposal_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="ck_participation_file_one_owner",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("poll.id", ondelete="CASCADE"), index=True)
    consultation_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    proposal_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("proposal.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    storage_key: Mapped[str] = mapped_column(String(255), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False, default=utcnow)


__all__ = [
    "Ballot",
    "CommentSupport",
    "Consultation",
    "ConsultationComment",
    "ParticipationFile",
    "Poll",
    "PollOption",
    "PollQuestion",
    "PollVoter",
    "Proposal",
    "ProposalSupport",
    "Residency",
    "Settlement",
]
