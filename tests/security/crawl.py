"""Building requests from the app's URL map: every rule's parameters are filled, by name, from
a victim's rows (the ``victims`` of conftest.py), so a route added later is crawled without
anyone listing it; a parameter name nobody taught here fails the crawl instead of being
skipped."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select

from app.models import metadata

SKIPPED_PREFIXES = ("/static", "/appbuilder", "/lang/", "/swagger", "/api/<version>/_openapi")
# Ids of rows the URL names directly (the parameter name is the row's table).
ID_PARAMETERS = {
    "application_id",
    "document_id",
    "issued_id",
    "payment_id",
    "substitution_id",
    "question_id",
    "attachment_id",
    "draft_id",
    "user_id",
    "reference",
    "poll_id",
    "file_id",
    "consultation_id",
    "comment_id",
    "proposal_id",
}
# A file is a poll's, a consultation's or a proposal's: the URL's other ids say whose.
FILE_OWNERS = (("consultation_id", "consultation_file_id"), ("proposal_id", "proposal_file_id"))
# FAB's generic model views: "pk" is the row of the view's table.
PK_BY_PREFIX = (
    ("/api/", "application_id"),
    ("/admin/municipalities/", "municipality_id"),
    ("/admin/departments/", "department_id"),
    ("/admin/settlements/", "settlement_id"),
    ("/users/", "user_id"),
)
# Parameters that name no tenant's row: a fixed value each.
FIXED = {
    "name": "muldelete",
    "action": "approve",
    "service_key": "residence-certificate",
    "key": "residence-certificate",
    "version": "v1",
    "filename": "csv",
    "provider": "test",
    "token": "forged.token.value",
    "stage": "documents",
    "what": "registered",
}


def is_signout(endpoint: str) -> bool:
    return "logout" in endpoint.lower()


def crawled_rules(app) -> list[Any]:
    return [
        rule
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
        if not rule.rule.startswith(SKIPPED_PREFIXES) and not is_signout(rule.endpoint)
    ]


def parameter_value(rule, argument: str, victim: dict[str, Any]) -> str:
    if argument == "file_id":
        for owner, key in FILE_OWNERS:
            if owner in rule.arguments:
                return str(victim[key])
    if argument == "user_id" and rule.rule.startswith("/office/residents/"):
        return str(victim["resident_user_id"])  # a citizen (with a residency there), not a staff member
    if argument in ID_PARAMETERS:
        return str(victim[argument])
    if argument == "pk":
        for prefix, key in PK_BY_PREFIX:
            if rule.rule.startswith(prefix):
                return str(victim[key])
        return "1"  # FAB's security screens (roles, permissions, ...): system administrators' alone
    if argument == "code":
        # A document's verification code on verify.*, a municipality's code elsewhere.
        return str(victim["issued_code"] if rule.endpoint.startswith("verify.") else victim["code"])
    if argument in FIXED:
        return FIXED[argument]
    raise AssertionError(
        f"the hostile crawl cannot fill {rule.rule} ({rule.endpoint}): teach tests/security/crawl.py "
        f"which table parameter {argument!r} names"
    )


def build_url(rule, victim: dict[str, Any]) -> str:
    return re.sub(
        r"<(?:[^:>]+:)?([^>]+)>",
        lambda m: quote(parameter_value(rule, m.group(1), victim), safe=""),
        rule.rule,
    )


def variants(victim: dict[str, Any]) -> list[dict[str, Any]]:
    """``victim`` and, for each of its ``_variants``, ``victim`` with those rows instead (an
    open poll besides a draft one, ...): pages that show other forms for other rows' states."""
    return [victim, *({**victim, **other} for other in victim.get("_variants", ()))]


def form_for(victim: dict[str, Any]) -> dict[str, str]:
    """A form that points every id a form may take at the victim's rows."""
    return {
        "application_id": str(victim["application_id"]),
        "draft_id": str(victim.get("draft_id", victim["application_id"])),
        "question_id": str(victim["question_id"]),
        "municipality_id": str(victim.get("municipality_id", 1)),
        "department_id": str(victim.get("department_id", 1)),
        "user_id": str(victim["user_id"]),
        "substitute_id": str(victim["user_id"]),
        "assignee_id": str(victim["user_id"]),
        "notice": str(victim.get("notice_id") or 1),
        "reference": str(victim["reference"]),
        "version": "1",
        "expected_version": "1",
        "comment": "x",
        "reason": "x",
        "what_to_fix": "x",
        "body": "x",
        "subject": "x",
        "rowid": str(victim["application_id"]),
        "action": "save",
    }


def without_echo(body: str, url: str) -> str:
    """The page without the language links' ``next=`` (the address asked for, sent back)."""
    path = url.split("://", 1)[-1].split("/", 1)[-1]
    return body.replace(quote("/" + path, safe=""), "").replace("/" + path, "")


DRAFTS_SEEDED = 2  # citizens A's and B's (conftest.py)


def table_counts(app) -> dict[str, Any]:
    """Rows per table, and every application's status and version: what a refused request
    must leave as it was."""
    from app.extensions import db
    from app.models import Application, IssuedDocument, Payment, PortalDraft, Question, Substitution
    from app.models.participation import Consultation, ConsultationComment, Poll, Proposal, Residency

    with app.app_context():
        counts: dict[str, Any] = {
            table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in metadata.sorted_tables
            # Written by the requests themselves, whoever makes them.
            if table.name not in VOLATILE_TABLES
        }
        counts["applications"] = db.session.execute(
            select(Application.id, Application.status, Application.version, Application.assignee_id)
        ).all()
        counts["issued"] = db.session.execute(select(IssuedDocument.id, IssuedDocument.status)).all()
        counts["questions"] = db.session.execute(select(Question.id, Question.status, Question.assignee_id)).all()
        counts["drafts"] = db.session.execute(
            select(PortalDraft.id, PortalDraft.version, PortalDraft.stage).where(PortalDraft.id <= DRAFTS_SEEDED)
        ).all()
        counts["payments"] = db.session.execute(select(Payment.id, Payment.status)).all()
        counts["substitutions"] = db.session.execute(select(Substitution.id, Substitution.cancelled_at)).all()
        counts["polls"] = db.session.execute(select(Poll.id, Poll.status, Poll.version)).all()
        counts["consultations"] = db.session.execute(
            select(Consultation.id, Consultation.status, Consultation.version)
        ).all()
        counts["comments"] = db.session.execute(
            select(ConsultationComment.id, ConsultationComment.hidden_at, ConsultationComment.support_count)
        ).all()
        counts["proposals"] = db.session.execute(
            select(Proposal.id, Proposal.status, Proposal.version, Proposal.support_count)
        ).all()
        counts["residencies"] = db.session.execute(
            select(Residency.id, Residency.revoked_at, Residency.expires_at)
        ).all()
        db.session.remove()
        return counts


# Tables any request may write (audit of refusals, sign-in sessions, limits, login stamps).
VOLATILE_TABLES = {
    "audit_event",
    "audit_chain",
    "ab_user",
    "sign_in_session",
    "user_session",
    "idempotency_record",
    "account_security",
    "notification",
    # A citizen may start drafts of their own anywhere (apply.start); the victims' drafts are
    # compared row by row below.
    "portal_draft",
    "staged_upload",
}
