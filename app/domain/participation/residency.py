"""Verified residents: that a citizen lives in a municipality (and one of its settlements).

A residency is verified in one of two ways, and renewed the same way (one row per person and
municipality, :class:`~app.models.participation.Residency`):

* at the office: a clerk or a municipal administrator of *that* municipality saw a document
  (:func:`verify`); the kind of document is kept ("passport", "id_card", "other"), never
  its number, here or in the audit trail;
* through a registry: a citizen whose identity an identity provider confirmed (their public
  service number) asks, and an identity/registry plug-in's ``residency_from_registry`` hook
  answers (:func:`verify_from_registry`); the method is ``"provider:<plug-in>"``.

A residency is valid until ``expires_at`` (``HAMAYNK_RESIDENCY_VALID_DAYS`` after the last
verification, 365 by default) unless revoked; verifying again renews it and clears a
revocation. Every verification, renewal and revocation is audit-logged. Bad input raises
:class:`ResidencyRefused` with a translated sentence, and nothing is changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Select, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from app.domain import access, audit, roles
from app.domain.access import MAX_PK, Actor
from app.domain.errors import HookFailed, NotAllowed, WorkflowError
from app.domain.fieldtypes import normalize_psn
from app.domain.tracking import OFFICE_TZ
from app.models import Municipality, Role, User
from app.models.base import utcnow
from app.models.participation import Residency, Settlement
from app.models.portal import CitizenProfile

if TYPE_CHECKING:
    from app.plugins.host import PluginHost

# What callers hold: a plain session or Flask-SQLAlchemy's scoped one.
DbSession = Session | scoped_session[Session]

OFFICE = "office"
PROVIDER_PREFIX = "provider:"
# The kinds of document a clerk may have checked; the number is never asked for.
DOCUMENT_KINDS: Mapping[str, Any] = {
    "passport": _l("Passport"),
    "id_card": _l("ID card"),
    "other": _l("Other identity document"),
}
DEFAULT_VALID_DAYS = 365
# No verification is trusted for more than ten years, whatever a setting or a plug-in says.
MAX_VALID_DAYS = 3650
MAX_REASON = 500
# A citizen search needs this much text and shows at most this many people.
SEARCH_MIN_CHARS = 3
SEARCH_LIMIT = 20
MAX_QUERY = 128
HOOK = "residency_from_registry"
# Why reading a citizen's own residencies crosses municipalities: they are the person's own.
OWN_RESIDENCIES = "a citizen's own residencies, in every municipality"

# A clerk opens a person's page (or registers their office vote) only for someone who holds or
# held a residency in the clerk's municipality, or with a *person token* from a search that
# found them: signed with the app's secret under this salt, binding clerk, person and
# municipality, good for PERSON_TOKEN_HOURS. Without it, counting up the id in the address
# would list every citizen's name and e-mail and get round the search rule above.
PERSON_SALT = "hamaynk.office-person-page"
PERSON_TOKEN_HOURS = 2
MAX_TOKEN = 500

VERIFIED = "residency.verify"
RENEWED = "residency.renew"
REVOKED = "residency.revoke"
# Staff who may verify and revoke at the office of their own municipality.
VERIFIER_ROLES = (roles.CLERK, roles.MUNICIPAL_ADMIN)


@dataclass(frozen=True)
class ResidencyFinding:
    """What a registry plug-in says about a person's residency (``residency_from_registry``):
    the code of their settlement in the municipality (``None`` when the registry does not
    know it or the municipality has no settlements), and how many days the answer may be
    trusted (``None``: the install's ``HAMAYNK_RESIDENCY_VALID_DAYS``)."""

    settlement_code: str | None = None
    valid_days: int | None = None


class ResidencyRefused(WorkflowError):
    """Bad input to verify, renew or revoke: ``message`` says what, ``field`` which input
    (``"settlement"``, ``"document_kind"``, ``"reason"``, ``"person"``, …)."""

    default_message = _l("The residency could not be changed.")

    def __init__(self, message: Any = None, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class CitizenMatch:
    """A citizen account found by a clerk's search, with its residency here (if any)."""

    user_id: int
    name: str
    email: str
    psn: str | None
    identity_verified: bool
    residency: Residency | None
    # The person token a search result carries (see PERSON_SALT); None elsewhere.
    token: str | None = None


@dataclass(frozen=True)
class ResidencyView:
    """One of a citizen's residencies as their account page shows it."""

    residency: Residency
    municipality: Municipality
    settlement: Settlement | None
    status: str  # "valid", "expired" or "revoked"


# -- settings and small checks ----------------------------------------------------------------


def valid_days(config: Mapping[str, Any] | None) -> int:
    """``HAMAYNK_RESIDENCY_VALID_DAYS`` (365 unless set), kept between 1 day and ten years."""
    raw = (config or {}).get("HAMAYNK_RESIDENCY_VALID_DAYS", DEFAULT_VALID_DAYS)
    try:
        days = int(raw)
    except (TypeError, ValueError):
        days = DEFAULT_VALID_DAYS
    return min(max(days, 1), MAX_VALID_DAYS)


def _valid_id(value: object) -> bool:
    # bool is an int to Python; True must not read as row 1.
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_PK


def status_of(residency: Residency, now: dt.datetime | None = None) -> str:
    if residency.revoked_at is not None:
        return "revoked"
    return "valid" if residency.expires_at > (now or utcnow()) else "expired"


def local_date(value: dt.datetime) -> dt.date:
    """The office's (Yerevan) calendar day of a stored UTC time: what "valid until" shows."""
    return value.replace(tzinfo=dt.UTC).astimezone(OFFICE_TZ).date()


def settlement_name(settlement: Settlement | None, locale: str) -> str:
    if settlement is None:
        return ""
    return str(getattr(settlement, f"name_{locale}", None) or settlement.name_hy)


def may_verify(actor: Actor | None, municipality_id: int) -> bool:
    """Whether ``actor`` verifies and revokes residencies of ``municipality_id``: its own
    clerks and municipal administrators (a system administrator acts for no municipality)."""
    return access.staff_of(actor, municipality_id) and actor.has(*VERIFIER_ROLES)


def _valid_clause(at: dt.datetime) -> Any:
    return (Residency.revoked_at.is_(None)) & (Residency.expires_at > at)


# -- who is a resident ------------------------------------------------------------------------


def is_resident(
    session: DbSession,
    user_id: int,
    municipality_id: int,
    *,
    settlement_ids: Collection[int] = (),
    at: dt.datetime | None = None,
) -> bool:
    """Whether ``user_id`` is a verified resident of ``municipality_id`` at ``at`` (now): a
    residency that is neither revoked nor expired, in one of ``settlement_ids`` when any are
    given. One query."""
    if not _valid_id(user_id) or not _valid_id(municipality_id):
        return False
    stmt = access.within(select(Residency.id), Residency, municipality_id).where(
        Residency.user_id == user_id, _valid_clause(at or utcnow())
    )
    if settlement_ids:
        stmt = stmt.where(Residency.settlement_id.in_(sorted(settlement_ids)))
    return session.execute(stmt.limit(1)).first() is not None


def residents(
    session: DbSession,
    municipality_id: int,
    settlement_ids: Collection[int] = (),
    at: dt.datetime | None = None,
) -> Select[Any]:
    """A SELECT of the user ids of the verified residents of ``municipality_id`` (of
    ``settlement_ids`` when given) at ``at``, active accounts only: whom to tell when a poll
    opens. ``session`` is not used; it is there so every function here is called alike."""
    stmt = (
        access.within(select(Residency.user_id), Residency, municipality_id)
        .join(User, User.id == Residency.user_id)
        .where(_valid_clause(at or utcnow()), User.active.is_(True))
    )
    if settlement_ids:
        stmt = stmt.where(Residency.settlement_id.in_(sorted(settlement_ids)))
    return stmt.order_by(Residency.user_id)


def of_citizen(session: DbSession, user_id: int) -> list[Residency]:
    """Every residency of ``user_id`` (valid, expired or revoked), by municipality."""
    if not _valid_id(user_id):
        return []
    stmt = access.unscoped(select(Residency), reason=OWN_RESIDENCIES)
    return list(session.execute(stmt.where(Residency.user_id == user_id).order_by(Residency.municipality_id)).scalars())


def citizen_overview(session: DbSession, user_id: int, now: dt.datetime | None = None) -> list[ResidencyView]:
    """A citizen's residencies with their municipality and settlement, for their account
    page: one query."""
    if not _valid_id(user_id):
        return []
    stmt = access.unscoped(
        select(Residency, Municipality, Settlement)
        .join(Municipality, Municipality.id == Residency.municipality_id)
        .outerjoin(Settlement, Settlement.id == Residency.settlement_id),
        reason=OWN_RESIDENCIES,
    )
    rows = session.execute(stmt.where(Residency.user_id == user_id).order_by(Municipality.code)).all()
    return [ResidencyView(r, m, s, status_of(r, now)) for r, m, s in rows]


# -- the office: find a citizen ---------------------------------------------------------------


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _person_serializer(secret_key: str | bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=PERSON_SALT)


def person_token(secret_key: str | bytes, *, clerk_user_id: int, person_user_id: int, municipality_id: int) -> str:
    """The token a search result links with: lets ``clerk_user_id`` open ``person_user_id``'s
    page in ``municipality_id`` for :data:`PERSON_TOKEN_HOURS` (see :func:`citizen`)."""
    payload = {"c": clerk_user_id, "u": person_user_id, "m": municipality_id}
    return str(_person_serializer(secret_key).dumps(payload))


def _token_admits(
    secret_key: str | bytes | None,
    token: object,
    *,
    clerk_user_id: int,
    person_user_id: int,
    municipality_id: int,
    max_age: int | None = None,
) -> bool:
    """Whether ``token`` is a good person token for exactly this clerk, person and
    municipality (no database read: a forged one costs nothing but a signature check)."""
    if not secret_key or not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        return False
    age = PERSON_TOKEN_HOURS * 3600 if max_age is None else max_age
    try:
        data = _person_serializer(secret_key).loads(token, max_age=age)
    except BadSignature:  # SignatureExpired is one
        return False
    return isinstance(data, dict) and data == {"c": clerk_user_id, "u": person_user_id, "m": municipality_id}


def find_citizens(
    session: DbSession,
    actor: Actor | None,
    municipality_id: int,
    query: str,
    *,
    secret_key: str | bytes | None = None,
) -> list[CitizenMatch]:
    """Active citizen accounts matching ``query`` — a public service number (exactly), an
    e-mail address (exactly, any case) or, among those who hold or held a residency here,
    part of the name — with their residency in
    ``municipality_id``; for those who may verify there, nothing for anyone else. At most
    :data:`SEARCH_LIMIT`, by name. Two queries whatever is found. With ``secret_key`` each
    match carries its person token (:func:`person_token`), for the link to its page."""
    text = (query or "").strip()[:MAX_QUERY] if isinstance(query, str) else ""
    if len(text) < SEARCH_MIN_CHARS or not may_verify(actor, municipality_id):
        return []
    psn = None
    with contextlib.suppress(ValueError):
        psn = normalize_psn(text)
    if psn is not None:
        match = CitizenProfile.psn == psn
    elif "@" in text:
        match = func.lower(User.email) == text.lower()
    else:
        # A part of a name finds only people who live or lived here: otherwise any clerk could
        # list the citizens of every municipality, e-mails included, three letters at a time.
        # Anyone else (a newcomer to verify) is found by what they bring: the whole e-mail
        # address or public service number.
        full_name = User.first_name + " " + User.last_name
        known_here = access.within(select(Residency.user_id), Residency, municipality_id)
        match = and_(full_name.ilike(_like(text), escape="\\"), User.id.in_(known_here))
    citizen_ids = select(User.id).join(User.roles).where(Role.name == roles.CITIZEN)
    staff_ids = select(User.id).join(User.roles).where(Role.name.in_(roles.STAFF_ROLES))
    rows = session.execute(
        select(User, CitizenProfile)
        .outerjoin(CitizenProfile, CitizenProfile.user_id == User.id)
        .where(match, User.active.is_(True), User.id.in_(citizen_ids), User.id.not_in(staff_ids))
        .order_by(User.first_name, User.last_name, User.id)
        .limit(SEARCH_LIMIT)
    ).all()
    ids = [user.id for user, _profile in rows]
    here: dict[int, Residency] = {}
    if ids:
        stmt = access.within(select(Residency), Residency, municipality_id).where(Residency.user_id.in_(ids))
        here = {r.user_id: r for r in session.execute(stmt).scalars()}
    return [
        CitizenMatch(
            user_id=user.id,
            name=_person_name(user),
            email=user.email,
            psn=profile.psn if profile is not None else None,
            identity_verified=profile is not None and profile.identity_verified_at is not None,
            residency=here.get(user.id),
            token=(
                person_token(
                    secret_key, clerk_user_id=actor.user_id, person_user_id=user.id, municipality_id=municipality_id
                )
                if secret_key and actor is not None
                else None
            ),
        )
        for user, profile in rows
    ]


def _person_name(user: User) -> str:
    return " ".join(p for p in (user.first_name, user.last_name) if p and p != "-")


def citizen(
    session: DbSession,
    actor: Actor | None,
    municipality_id: int,
    user_id: object,
    *,
    secret_key: str | bytes | None = None,
    token: object = None,
) -> CitizenMatch:
    """One active citizen account, with its residency in ``municipality_id``, for those who
    may verify there, and only a person they may look at: one who holds or held a residency
    there (revoked and expired ones count), or one a search found for this clerk (``token``
    from :func:`find_citizens`, checked with ``secret_key``).
    :class:`~app.domain.access.NotFound` for anything else (no such id, a person with no link
    to the municipality and no good token, a staff account, a blocked one): the same error
    after the same one query, so the answers cannot be told apart."""
    if not may_verify(actor, municipality_id) or not _valid_id(user_id):
        raise access.NotFound(user_id)
    assert actor is not None  # may_verify said so
    row = _row(session, user_id, municipality_id)  # type: ignore[arg-type]
    if row is None and not _token_admits(
        secret_key,
        token,
        clerk_user_id=actor.user_id,
        person_user_id=user_id,  # type: ignore[arg-type]
        municipality_id=municipality_id,
    ):
        raise access.NotFound(user_id)
    user = _citizen_account(session, user_id)  # type: ignore[arg-type]
    if user is None:
        raise access.NotFound(user_id)
    profile = session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user.id)).scalar_one_or_none()
    return CitizenMatch(
        user_id=user.id,
        name=_person_name(user),
        email=user.email,
        psn=profile.psn if profile is not None else None,
        identity_verified=profile is not None and profile.identity_verified_at is not None,
        residency=row,
    )


def settlements(session: DbSession, municipality_id: int, *, active_only: bool = True) -> list[Settlement]:
    """The settlements of ``municipality_id`` (the active ones unless told), by name."""
    stmt = access.within(select(Settlement), Settlement, municipality_id)
    if active_only:
        stmt = stmt.where(Settlement.active.is_(True))
    return list(session.execute(stmt.order_by(Settlement.name_hy, Settlement.id)).scalars())


# -- verifying, renewing, revoking ------------------------------------------------------------


def _citizen_account(session: DbSession, user_id: int) -> User | None:
    # Beyond the key's range PostgreSQL refuses the query itself ("integer out of range").
    user = session.get(User, user_id) if _valid_id(user_id) else None
    if user is None or not user.active:
        return None
    names = {role.name for role in user.roles}
    if roles.CITIZEN not in names or names & set(roles.STAFF_ROLES):
        return None
    return user


def _row(session: DbSession, user_id: int, municipality_id: int) -> Residency | None:
    stmt = access.within(select(Residency), Residency, municipality_id).where(Residency.user_id == user_id)
    return session.execute(stmt).scalar_one_or_none()


def _settlement(session: DbSession, municipality_id: int, settlement_id: object) -> Settlement | None:
    """The active settlement chosen, or ``None`` where the municipality has none to choose;
    :class:`ResidencyRefused` for a missing choice, another municipality's or a closed one."""
    if settlement_id is None or settlement_id == "":
        if settlements(session, municipality_id):
            raise ResidencyRefused(_("Choose the settlement the person lives in."), "settlement")
        return None
    if not _valid_id(settlement_id):
        raise ResidencyRefused(_("Choose a settlement from the list."), "settlement")
    stmt = access.within(select(Settlement), Settlement, municipality_id).where(
        Settlement.id == settlement_id, Settlement.active.is_(True)
    )
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise ResidencyRefused(_("Choose a settlement from the list."), "settlement")
    return found


def _record(
    session: DbSession,
    *,
    actor_id: int | None,
    user_id: int,
    municipality_id: int,
    settlement: Settlement | None,
    method: str,
    document_kind: str | None,
    days: int,
    ip: str | None,
    now: dt.datetime,
) -> Residency:
    """Create the person's residency here, or renew it (clearing a revocation), and log it."""
    row = _row(session, user_id, municipality_id)
    action = RENEWED if row is not None else VERIFIED
    if row is None:
        row = Residency(user_id=user_id, municipality_id=municipality_id)
        try:
            with session.begin_nested():
                _fill(row, actor_id, settlement, method, document_kind, days, now)
                session.add(row)
        except IntegrityError:
            # Someone verified the same person here a moment ago: renew theirs.
            row = _row(session, user_id, municipality_id)
            if row is None:
                raise
            action = RENEWED
    _fill(row, actor_id, settlement, method, document_kind, days, now)
    session.flush()
    audit.record(
        session,
        action,
        actor=actor_id,
        target=("residency", row.id),
        municipality_id=municipality_id,
        details={
            "user_id": user_id,
            "settlement_id": settlement.id if settlement is not None else None,
            "method": method,
            # The kind of document only: its number is never asked for nor kept.
            "document_kind": document_kind,
            "expires_at": row.expires_at.isoformat(timespec="seconds"),
        },
        ip=ip,
    )
    return row


def _fill(
    row: Residency,
    actor_id: int | None,
    settlement: Settlement | None,
    method: str,
    document_kind: str | None,
    days: int,
    now: dt.datetime,
) -> None:
    row.settlement_id = settlement.id if settlement is not None else None
    row.method = method
    row.document_kind = document_kind
    row.verified_at = now
    row.verified_by_id = actor_id
    row.expires_at = now + dt.timedelta(days=days)
    row.revoked_at = None
    row.revoked_by_id = None
    row.revoke_reason = None


def verify(
    session: DbSession,
    actor: Actor | None,
    *,
    user_id: int,
    municipality_id: int,
    settlement_id: int | None,
    document_kind: str,
    ip: str | None = None,
    config: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Residency:
    """A clerk (or municipal administrator) of ``municipality_id`` checked a document of
    ``document_kind`` and verifies that ``user_id`` lives in ``settlement_id``: creates the
    residency or renews it (clearing a revocation), valid for ``HAMAYNK_RESIDENCY_VALID_DAYS``
    from ``config``, audit-logged. Flushes, does not commit.

    Raises :class:`~app.domain.errors.NotAllowed` for anyone else and
    :class:`ResidencyRefused` for bad input; nothing is changed then."""
    if not _valid_id(municipality_id) or not may_verify(actor, municipality_id):
        raise NotAllowed(_("Only a clerk or an administrator of this municipality can verify its residents."))
    assert actor is not None  # may_verify said so
    if not _valid_id(user_id) or _citizen_account(session, user_id) is None:
        raise ResidencyRefused(_("There is no active citizen account like that."), "person")
    if not isinstance(document_kind, str) or document_kind not in DOCUMENT_KINDS:
        raise ResidencyRefused(_("Choose the kind of document you checked."), "document_kind")
    settlement = _settlement(session, municipality_id, settlement_id)
    return _record(
        session,
        actor_id=actor.user_id,
        user_id=user_id,
        municipality_id=municipality_id,
        settlement=settlement,
        method=OFFICE,
        document_kind=document_kind,
        days=valid_days(config),
        ip=ip,
        now=now or utcnow(),
    )


def clean_reason(reason: object) -> str:
    text = " ".join(reason.split()) if isinstance(reason, str) else ""
    if not text:
        raise ResidencyRefused(_("Say why the residency is revoked."), "reason")
    if len(text) > MAX_REASON:
        raise ResidencyRefused(_("The reason is too long: at most %(max)d characters.", max=MAX_REASON), "reason")
    return text


def revoke(
    session: DbSession,
    actor: Actor | None,
    residency_id: int,
    *,
    reason: str,
    ip: str | None = None,
    now: dt.datetime | None = None,
) -> Residency:
    """Revoke a residency (the person moved away, the document was false) with a reason,
    audit-logged. :class:`~app.domain.access.NotFound` for a residency ``actor`` may not see,
    :class:`~app.domain.errors.NotAllowed` for staff who may not verify, and
    :class:`ResidencyRefused` without a reason or when it is revoked already. Flushes."""
    if not _valid_id(residency_id):
        raise access.NotFound(residency_id)
    stmt = access.scoped(select(Residency), Residency, actor).where(Residency.id == residency_id)
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise access.NotFound(residency_id)
    if not may_verify(actor, row.municipality_id):
        raise NotAllowed(_("Only a clerk or an administrator of this municipality can revoke its residents."))
    assert actor is not None
    text = clean_reason(reason)
    if row.revoked_at is not None:
        raise ResidencyRefused(_("This residency is revoked already."), "reason")
    row.revoked_at = now or utcnow()
    row.revoked_by_id = actor.user_id
    row.revoke_reason = text
    session.flush()
    audit.record(
        session,
        REVOKED,
        actor=actor,
        target=("residency", row.id),
        municipality_id=row.municipality_id,
        details={"user_id": row.user_id, "reason": text},
        ip=ip,
    )
    return row


# -- a registry plug-in -----------------------------------------------------------------------


def registry_available(host: PluginHost) -> bool:
    """Whether a plug-in answers ``residency_from_registry`` (the portal offers the button)."""
    return host.implemented(HOOK)


def verify_from_registry(
    session: DbSession,
    host: PluginHost,
    actor: Actor | None,
    *,
    municipality_id: int,
    config: Mapping[str, Any] | None = None,
    ip: str | None = None,
    now: dt.datetime | None = None,
) -> Residency:
    """A citizen with a verified identity asks the registry plug-in whether they live in
    ``municipality_id``; a finding creates or renews their residency (method
    ``provider:<plug-in>``, audit-logged). :class:`ResidencyRefused` when their identity is
    not verified, the municipality is unknown or the registry does not list them;
    :class:`~app.domain.errors.HookFailed` when a plug-in raises or answers nonsense (the
    caller logs it and tells the citizen to try later). Flushes, does not commit."""
    if actor is None or not actor.active or not actor.is_citizen or _citizen_account(session, actor.user_id) is None:
        raise NotAllowed()
    profile = session.execute(
        select(CitizenProfile).where(CitizenProfile.user_id == actor.user_id)
    ).scalar_one_or_none()
    if profile is None or profile.identity_verified_at is None or not profile.psn:
        raise ResidencyRefused(
            _("Sign in with an identity provider that confirms your public service number first."), "person"
        )
    municipality = session.get(Municipality, municipality_id) if _valid_id(municipality_id) else None
    if municipality is None or not municipality.active:
        raise ResidencyRefused(_("Choose a municipality from the list."), "municipality")
    answer = host.first_answer(HOOK, psn=profile.psn, municipality_code=municipality.code)
    if answer is None:
        raise ResidencyRefused(
            _(
                "The registry does not list you as a resident of %(municipality)s. "
                "Visit its office with your passport or ID card.",
                municipality=municipality.name,
            ),
            "municipality",
        )
    plugin, finding = answer
    days = _finding_days(plugin, finding, config)
    settlement = _finding_settlement(session, plugin, finding, municipality)
    return _record(
        session,
        actor_id=actor.user_id,
        user_id=actor.user_id,
        municipality_id=municipality.id,
        settlement=settlement,
        method=f"{PROVIDER_PREFIX}{plugin}"[:80],
        document_kind=None,
        days=days,
        ip=ip,
        now=now or utcnow(),
    )


def _finding_days(plugin: str, finding: object, config: Mapping[str, Any] | None) -> int:
    if not isinstance(finding, ResidencyFinding):
        raise HookFailed(plugin, HOOK, f"must return a ResidencyFinding or None, got {type(finding).__name__}")
    if finding.valid_days is None:
        return valid_days(config)
    if not _valid_id(finding.valid_days) or finding.valid_days > MAX_VALID_DAYS:
        raise HookFailed(plugin, HOOK, f"valid_days must be 1..{MAX_VALID_DAYS}, got {finding.valid_days!r}")
    return min(finding.valid_days, valid_days(config))


def _finding_settlement(
    session: DbSession, plugin: str, finding: ResidencyFinding, municipality: Municipality
) -> Settlement | None:
    known = settlements(session, municipality.id)
    if finding.settlement_code is None:
        if known:
            raise ResidencyRefused(
                _(
                    "The registry does not say in which settlement of %(municipality)s you live. "
                    "Visit its office with your passport or ID card.",
                    municipality=municipality.name,
                ),
                "municipality",
            )
        return None
    match = [s for s in known if s.code == finding.settlement_code]
    if not match:
        # The registry and the municipality's list disagree: a person at the office decides.
        raise ResidencyRefused(
            _(
                "The registry names a settlement %(municipality)s does not list. "
                "Visit its office with your passport or ID card.",
                municipality=municipality.name,
            ),
            "municipality",
        )
    return match[0]


def is_registry_method(method: str) -> bool:
    return method.startswith(PROVIDER_PREFIX)
