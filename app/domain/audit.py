"""The audit trail: one function writes every :class:`~app.models.AuditEvent`, and every event
is a link of one tamper-evident chain.

Events are append-only (:mod:`app.models.guards`) and added to the caller's session, so an
event commits or rolls back together with the change it records. Where the act itself writes
nothing (opening a document), the caller commits the event before the act happens: a view
that left no trace must not be possible.

The chain
    Each event carries ``prev_hash`` (the previous event's ``hash``) and ``hash``: sha256 over
    the canonical JSON (sorted keys) of its own fields and ``prev_hash``. Changing one byte of
    one event, deleting one, or re-ordering them breaks the chain at that event, and
    :func:`verify` names it. The single :class:`~app.models.AuditChain` row holds the head
    (the last event's id and hash) and the origin (the first event the chain covers and the
    hash it links back to). A flush that adds events locks that row first (``SELECT … FOR
    UPDATE`` on PostgreSQL; on SQLite an ``UPDATE`` takes the one write lock before the head
    is read), so concurrent writers are chained one after another, then moves the head in the
    same transaction: two statements per flush however many events it writes. Chained events
    get their ids from the head (head id + 1, …), which is how the id can be in the hash
    before the INSERT, and why ids within the chain have no gaps: a missing id is a deleted
    event. Events written before the chain existed keep empty hashes; the chain's origin says
    where it begins.

    Anyone able to rewrite the database can also recompute every hash: the chain proves
    nothing was changed *after* its head was seen. Operators keep the head that
    ``flask hamaynk audit verify`` prints somewhere else (docs/operations.md).

Retention
    :func:`prune` deletes the events older than the retention period in one id-ordered prefix,
    deliberately past the append-only guard (keeping personal data forever is not allowed
    either), moves the origin to the first event kept and records an ``audit.pruned`` event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, event, func, inspect, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, attributes, scoped_session

from app.domain import access
from app.domain.access import Actor
from app.models import AuditChain, AuditEvent, Role, TransitionRecord, User
from app.models.base import utcnow

# An IP address column holds at most this much (IPv6 with a zone fits).
MAX_IP = 45
# The one chain row.
CHAIN_ID = 1
# What the very first event links back to.
GENESIS = ""

LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
ACCESS_DENIED = "access.denied"
PRUNED = "audit.pruned"
TRANSITION = "application.transition"
USER_CREATE = "user.create"
USER_UPDATE = "user.update"
USER_DELETE = "user.delete"
ROLE_CREATE = "role.create"
ROLE_UPDATE = "role.update"
ROLE_DELETE = "role.delete"

# The fields the hash covers, in the canonical form's key names.
HASHED_FIELDS = ("id", "at", "actor_id", "municipality_id", "action", "object_type", "object_id", "details", "ip")

_events = cast(Table, AuditEvent.__table__)
_chain = cast(Table, AuditChain.__table__)


def record(
    session: Session | scoped_session[Session],
    action: str,
    *,
    actor: Actor | int | None,
    target: tuple[str, Any] | None = None,
    municipality_id: int | None = None,
    details: Mapping[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEvent:
    """Add one event: ``action`` (``"document.download"``, ``"staff.update"``, …) done by
    ``actor`` (an :class:`Actor`, a user id, or ``None`` for the system) to ``target``
    (``(object_type, object_id)``), within ``municipality_id`` (``None`` for system-level
    events). ``details`` must be JSON-serialisable and never hold a password, a token or a
    full ID number. The event is chained when the session flushes."""
    actor_id = actor.user_id if isinstance(actor, Actor) else actor
    object_type, object_id = target if target is not None else (None, None)
    event_ = AuditEvent(
        actor_id=actor_id,
        municipality_id=municipality_id,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=dict(details or {}),
        ip=(ip or "")[:MAX_IP] or None,
    )
    session.add(event_)
    _written(session).add((object_type, event_.object_id))
    return event_


# -- sign-ins --------------------------------------------------------------------------------


def login(
    session: Session | scoped_session[Session],
    user_id: int,
    *,
    channel: str,
    ip: str | None = None,
    municipality_id: int | None = None,
    second_factor: bool = False,
) -> AuditEvent:
    """A successful sign-in of ``user_id`` through ``channel`` (``"staff"``, ``"portal"``,
    ``"api"``, …)."""
    details: dict[str, Any] = {"channel": channel}
    if second_factor:
        details["second_factor"] = True
    return record(
        session, LOGIN, actor=user_id, target=("user", user_id), municipality_id=municipality_id, details=details, ip=ip
    )


def login_failed(
    session: Session | scoped_session[Session],
    *,
    channel: str,
    ip: str | None = None,
    user_id: int | None = None,
    username_digest: str | None = None,
    reason: str = "credentials",
) -> AuditEvent:
    """A refused sign-in through ``channel``. Name the account by ``user_id`` when the typed
    name matched one; otherwise pass only :func:`username_digest` of what was typed: people
    type their password into the name box, so a typed name is never stored as it is.
    ``reason``: ``"credentials"``, ``"second_factor"``, ``"inactive"``, ``"limited"``, …"""
    details: dict[str, Any] = {"channel": channel, "reason": reason}
    if user_id is None and username_digest:
        details["username_digest"] = username_digest
    target = ("user", user_id) if user_id is not None else None
    return record(session, LOGIN_FAILED, actor=None, target=target, details=details, ip=ip)


def username_digest(username: str, key: bytes | str) -> str:
    """A keyed digest of a typed user name (pass the app's secret key): the same name gives
    the same digest, so repeated attempts on one unknown name show, but a password typed into
    the name box cannot be read back or guessed offline without the key."""
    raw_key = key.encode() if isinstance(key, str) else key
    return hmac.new(raw_key, username.strip().casefold().encode(), hashlib.sha256).hexdigest()[:32]


# -- refused requests ------------------------------------------------------------------------

# One "access.denied" event per (who, what) per window: enough to see someone probing, while
# a crawler hammering one address cannot flood the table (nor the chain's lock).
DENIED_WINDOW = dt.timedelta(minutes=10)
# Why the de-duplication reads the log across municipalities: it looks for the same refusal
# of the same person (or address), wherever it was recorded.
DENIED_DEDUPE = "de-duplicating refused requests across the whole log"


def access_denied(
    session: Session | scoped_session[Session],
    *,
    actor_id: int | None,
    ip: str | None,
    endpoint: str,
    method: str,
    municipality_id: int | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent | None:
    """A refused request (403) by ``actor_id`` (or an anonymous visitor from ``ip``) to
    ``endpoint`` (the view's name, never the query string: it may hold an ID number).
    ``None`` when the same was already recorded within :data:`DENIED_WINDOW`."""
    since = (now or utcnow()) - DENIED_WINDOW
    who = AuditEvent.actor_id == actor_id if actor_id is not None else AuditEvent.ip == (ip or "")[:MAX_IP]
    seen = session.execute(
        access.unscoped(select(AuditEvent.id), reason=DENIED_DEDUPE)
        .where(AuditEvent.action == ACCESS_DENIED, AuditEvent.at >= since, AuditEvent.object_id == endpoint[:64], who)
        .limit(1)
    ).first()
    if seen is not None:
        return None
    return record(
        session,
        ACCESS_DENIED,
        actor=actor_id,
        target=("endpoint", endpoint[:64]),
        municipality_id=municipality_id,
        details={"method": method},
        ip=ip,
    )


# -- hashing ---------------------------------------------------------------------------------


def _iso(at: dt.datetime | None) -> str | None:
    if at is None:
        return None
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    return at.isoformat()


def canonical(fields: Mapping[str, Any], prev_hash: str | None) -> bytes:
    """The exact bytes an event's hash is taken over: its fields and ``prev_hash`` as JSON with
    sorted keys, no whitespace, UTF-8."""
    body = {name: fields[name] for name in HASHED_FIELDS}
    body["at"] = _iso(body["at"]) if isinstance(body["at"], dt.datetime) else body["at"]
    body["object_id"] = None if body["object_id"] is None else str(body["object_id"])
    body["prev_hash"] = prev_hash
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(fields: Mapping[str, Any], prev_hash: str | None) -> str:
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


def _fields(event_: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event_, name) for name in HASHED_FIELDS}


# -- the chain's head ------------------------------------------------------------------------


@dataclass
class Head:
    head_id: int | None
    head_hash: str | None
    origin_id: int | None
    origin_prev_hash: str | None


def _lock_head(connection: Connection) -> Head:
    """The chain row, locked until this transaction ends; created on first use."""
    row = _read_locked(connection)
    if row is None:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        # Two first writers at once: one creates the row, the other waits for it.
        connection.execute(insert(_chain).values(id=CHAIN_ID).on_conflict_do_nothing())
        row = _read_locked(connection)
    assert row is not None
    return Head(row.head_id, row.head_hash, row.origin_id, row.origin_prev_hash)


def _read_locked(connection: Connection) -> Any:
    columns = (_chain.c.head_id, _chain.c.head_hash, _chain.c.origin_id, _chain.c.origin_prev_hash)
    if connection.dialect.name == "sqlite":
        # A plain SELECT takes no lock on SQLite (the driver begins a transaction only before
        # a write): write first, so the head read is the one no other writer can move.
        stmt = update(_chain).where(_chain.c.id == CHAIN_ID).values(id=_chain.c.id).returning(*columns)
        return connection.execute(stmt).first()
    return connection.execute(select(*columns).where(_chain.c.id == CHAIN_ID).with_for_update()).first()


_FLUSH = "hamaynk_audit_flush"


@dataclass
class _Flush:
    """The chain's head while one flush writes events (this transaction holds the lock)."""

    next_id: int
    prev: str
    values: dict[str, Any]
    transitions: list[TransitionRecord]


def _insert_order(obj: Any) -> int:
    return inspect(obj).insert_order or 0


def _chain_new_events(session: Session, _flush_context: Any, _instances: Any) -> None:
    new = [obj for obj in session.new if isinstance(obj, AuditEvent)]
    transitions = [obj for obj in session.new if isinstance(obj, TransitionRecord)]
    if not new and not transitions:
        return
    connection = session.connection()
    head = _lock_head(connection)
    values: dict[str, Any] = {}
    if head.head_id is None:
        # The chain starts here, after whatever was written before it existed.
        before = connection.execute(select(func.max(_events.c.id))).scalar()
        head.head_id, head.head_hash = before or 0, GENESIS
        values.update(origin_id=head.head_id + 1, origin_prev_hash=GENESIS, note="chain started")
    next_id, prev = head.head_id + 1, head.head_hash or GENESIS
    # In the order they were added, which is the order they happened in.
    for obj in sorted(new, key=_insert_order):
        obj.id = next_id
        if obj.at is None:
            obj.at = utcnow()
        elif obj.at.tzinfo is not None:
            obj.at = obj.at.astimezone(dt.UTC).replace(tzinfo=None)
        # Stored exactly as hashed: what reads back from the JSON column is what was hashed.
        obj.details = json.loads(json.dumps(obj.details or {}))
        obj.ip = (obj.ip or "")[:MAX_IP] or None
        obj.prev_hash = prev
        obj.hash = prev = event_hash(_fields(obj), obj.prev_hash)
        next_id += 1
    # Transitions get their ids in this flush; their events are written once it has run.
    session.info[_FLUSH] = _Flush(next_id, prev, values, sorted(transitions, key=_insert_order))


def _after_flush(session: Session, _flush_context: Any) -> None:
    state: _Flush | None = session.info.pop(_FLUSH, None)
    if state is None:
        return
    connection = session.connection()
    rows = []
    context = _context_provider() if _context_provider is not None else None
    for record_ in state.transitions:
        row = _transition_event(record_, state.next_id, context)
        row["prev_hash"] = state.prev
        row["hash"] = state.prev = event_hash(row, row["prev_hash"])
        rows.append(row)
        state.next_id += 1
    if rows:
        connection.execute(_events.insert(), rows)
    state.values.update(head_id=state.next_id - 1, head_hash=state.prev)
    connection.execute(update(_chain).where(_chain.c.id == CHAIN_ID).values(**state.values))


def _transition_event(record_: TransitionRecord, event_id: int, context: Context | None) -> dict[str, Any]:
    """Every transition is in the chain too: its event names the history row and carries a
    digest of it, so a history row changed later no longer matches its event."""
    digest = hashlib.sha256(
        json.dumps(
            {
                "id": record_.id,
                "application_id": record_.application_id,
                "at": _iso(record_.at),
                "actor_id": record_.actor_id,
                "step_key": record_.step_key,
                "action": record_.action,
                "from_status": record_.from_status,
                "to_status": record_.to_status,
                "comment": record_.comment,
                "details": record_.details,
                "on_behalf_of_id": record_.on_behalf_of_id,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        ).encode()
    ).hexdigest()
    details: dict[str, Any] = {
        "transition_id": record_.id,
        "step": record_.step_key,
        "action": record_.action,
        "from": record_.from_status,
        "to": record_.to_status,
        "record_sha256": digest,
    }
    if record_.on_behalf_of_id is not None:
        details["on_behalf_of"] = record_.on_behalf_of_id
    return {
        "id": event_id,
        "at": record_.at or utcnow(),
        "actor_id": record_.actor_id,
        "municipality_id": getattr(record_, "municipality_id", None),
        "action": TRANSITION,
        "object_type": "application",
        "object_id": str(record_.application_id),
        "details": details,
        "ip": context.ip if context is not None else None,
    }


def _forget_flush(session: Session, *_args: Any) -> None:
    session.info.pop(_FLUSH, None)


# -- verification ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first broken link: the event (by id) and what is wrong with it."""

    event_id: int | None
    problem: str

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else "chain"
        return f"{where}: {self.problem}"


@dataclass
class Verification:
    checked: int = 0
    origin_id: int | None = None
    head_id: int | None = None
    head_hash: str | None = None
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(session: Session | scoped_session[Session], progress: Callable[[int], None] | None = None) -> Verification:
    """Walk the chain from its origin in id order (streamed) and stop at the first broken
    link. ``progress`` is called with the number of events checked so far, every few hundred."""
    chain = session.execute(select(_chain).where(_chain.c.id == CHAIN_ID)).first()
    result = Verification()
    if chain is None or chain.origin_id is None:
        return result
    result.origin_id, result.head_id, result.head_hash = chain.origin_id, chain.head_id, chain.head_hash
    # Only events written before the chain began (never hashed) may lie before its origin;
    # a hashed one there means the origin was moved to hide what follows it.
    stray = session.execute(
        select(func.min(_events.c.id)).where(_events.c.id < chain.origin_id, _events.c.hash.is_not(None))
    ).scalar()
    if stray is not None:
        result.broken = Break(stray, f"hashed event before the chain's origin {chain.origin_id} (origin moved?)")
        return result
    expected_id, expected_prev = chain.origin_id, chain.origin_prev_hash
    last_id, last_hash = None, None
    for row in _stream(session, chain.origin_id):
        problem = _check(row, expected_id, expected_prev, last_id)
        if problem is not None:
            result.broken = problem
            return result
        result.checked += 1
        last_id, last_hash = row.id, row.hash
        expected_id, expected_prev = row.id + 1, row.hash
        if progress is not None and result.checked % 500 == 0:
            progress(result.checked)
    if (last_id, last_hash) != (chain.head_id, chain.head_hash) and not (last_id is None and _empty_after_prune(chain)):
        result.broken = Break(
            expected_id if last_id is not None else chain.origin_id,
            f"missing: the chain ends at event {last_id} but its head is event {chain.head_id} "
            "(the last events were deleted, or the head was changed)",
        )
    return result


def _empty_after_prune(chain: Any) -> bool:
    # Everything pruned and nothing written since cannot happen (prune records an event), so
    # an empty chain is fine only before its first event.
    return chain.head_id is None


def _stream(session: Session | scoped_session[Session], origin_id: int) -> Iterator[Any]:
    stmt = (
        select(*(_events.c[name] for name in HASHED_FIELDS), _events.c.prev_hash, _events.c.hash)
        .where(_events.c.id >= origin_id)
        .order_by(_events.c.id)
        .execution_options(yield_per=1000)
    )
    yield from session.execute(stmt)


def _check(row: Any, expected_id: int, expected_prev: str | None, last_id: int | None) -> Break | None:
    if row.id != expected_id:
        missing = f"{expected_id}" if row.id == expected_id + 1 else f"{expected_id}–{row.id - 1}"
        after = f"after event {last_id}" if last_id is not None else "at the chain's origin"
        return Break(expected_id, f"gap: event {missing} missing ({after}, before event {row.id})")
    if row.hash is None or row.prev_hash is None:
        return Break(row.id, "missing hash after the chain's origin")
    if row.prev_hash != expected_prev:
        return Break(row.id, "prev_hash mismatch: it does not link to the event before it")
    if event_hash(row._mapping, row.prev_hash) != row.hash:
        return Break(row.id, "hash mismatch: the event was changed after it was written")
    return None


# -- retention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pruned:
    deleted: int
    origin_id: int | None
    event_id: int


def prune(session: Session | scoped_session[Session], *, older_than: dt.datetime) -> Pruned:
    """Delete the events written before ``older_than`` and move the chain's origin to the
    first event kept, so what is kept still verifies; record an ``audit.pruned`` event (in the
    same transaction; the caller commits).

    This is the one place events are deleted, on purpose past the append-only guard: the
    retention period is the law's, and keeping personal data beyond it is not allowed either.
    The deletion is an id-ordered prefix (up to the first event at or after ``older_than``),
    so the chain never gets a hole in the middle."""
    connection = session.connection()
    head = _lock_head(connection)
    keep_from = connection.execute(select(func.min(_events.c.id)).where(_events.c.at >= older_than)).scalar()
    if keep_from is None:
        # Everything is older: the audit.pruned event below becomes the chain's first link.
        keep_from = (head.head_id or connection.execute(select(func.max(_events.c.id))).scalar() or 0) + 1
    deleted = connection.execute(delete(_events).where(_events.c.id < keep_from)).rowcount or 0
    old_origin = head.origin_id
    if head.origin_id is not None and keep_from > head.origin_id:
        if head.head_id is not None and keep_from > head.head_id:
            new_prev = head.head_hash
        else:
            new_prev = connection.execute(select(_events.c.prev_hash).where(_events.c.id == keep_from)).scalar()
        connection.execute(
            update(_chain)
            .where(_chain.c.id == CHAIN_ID)
            .values(origin_id=keep_from, origin_prev_hash=new_prev, note=f"pruned before {_iso(older_than)}")
        )
    pruned_event = record(
        session,
        PRUNED,
        actor=None,
        details={
            "older_than": _iso(older_than),
            "deleted": deleted,
            "old_origin_id": old_origin,
            "new_origin_id": keep_from if old_origin is not None and keep_from > old_origin else old_origin,
        },
    )
    session.flush()
    return Pruned(deleted=deleted, origin_id=keep_from, event_id=pruned_event.id)


# -- role, permission and account changes ----------------------------------------------------


@dataclass(frozen=True)
class Context:
    """Who is acting and from where, for changes the ORM sees but no domain function audits."""

    actor_id: int | None
    ip: str | None


_context_provider: Callable[[], Context | None] | None = None


def set_context_provider(provider: Callable[[], Context | None] | None) -> None:
    """The web layer says who is acting during a request. Without a context (commands,
    start-up's permission sync from code, tests setting up data) ORM-level changes are not
    audited: only people's changes are."""
    global _context_provider
    _context_provider = provider


# Fields of a user whose change is worth an event (logins touch the rest).
USER_FIELDS = ("username", "first_name", "last_name", "email", "active", "password")
_PENDING = "hamaynk_audit_pending"
_WRITTEN = "hamaynk_audit_written"


@dataclass
class _Change:
    kind: str  # "create", "update", "delete"
    fields: set[str] = field(default_factory=set)
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    ident: int | None = None
    name: str | None = None


def _written(session: Session | scoped_session[Session]) -> set[tuple[str | None, str | None]]:
    return session.info.setdefault(_WRITTEN, set())


def _pending(session: Session) -> dict[int, tuple[Any, _Change]]:
    return session.info.setdefault(_PENDING, {})


def _collection_names(obj: Any, key: str, describe: Callable[[Any], str]) -> tuple[set[str], set[str]]:
    history = attributes.get_history(obj, key, passive=attributes.PASSIVE_NO_INITIALIZE)
    return {describe(x) for x in history.added or ()}, {describe(x) for x in history.deleted or ()}


def _permission_name(pv: Any) -> str:
    permission = getattr(getattr(pv, "permission", None), "name", "?")
    view = getattr(getattr(pv, "view_menu", None), "name", "?")
    return f"{permission} on {view}"


def _note(session: Session, obj: Any, kind: str) -> _Change:
    pending = _pending(session)
    entry = pending.get(id(obj))
    if entry is None:
        entry = (obj, _Change(kind))
        pending[id(obj)] = entry
    elif kind != "update":
        entry[1].kind = kind
    return entry[1]


def _collect_access_changes(session: Session, _flush_context: Any, _instances: Any) -> None:
    if _context_provider is None or _context_provider() is None:
        return
    for obj in session.new:
        if isinstance(obj, (User, Role)):
            _note_changes(session, obj, _note(session, obj, "create"))
    for obj in session.dirty:
        if isinstance(obj, (User, Role)) and session.is_modified(obj):
            _note_changes(session, obj, _note(session, obj, "update"))
    for obj in session.deleted:
        if isinstance(obj, (User, Role)):
            change = _note(session, obj, "delete")
            change.ident, change.name = obj.id, _name(obj)


def _name(obj: Any) -> str | None:
    return getattr(obj, "username", None) if isinstance(obj, User) else getattr(obj, "name", None)


def _note_changes(session: Session, obj: Any, change: _Change) -> None:
    if isinstance(obj, User):
        added, removed = _collection_names(obj, "roles", lambda role: role.name)
        state = inspect(obj)
        change.fields |= {name for name in USER_FIELDS if state.attrs[name].history.has_changes()}
    else:
        added, removed = _collection_names(obj, "permissions", _permission_name)
        if inspect(obj).attrs["name"].history.has_changes():
            change.fields.add("name")
    change.added = (change.added - removed) | (added - change.removed)
    change.removed = (change.removed - added) | (removed - change.added)


def _emit_access_changes(session: Session) -> None:
    if _context_provider is None:
        return
    # Changes not flushed yet are noted by the flush (and new rows get their ids): flush now.
    if any(isinstance(obj, (User, Role)) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.flush()
    pending = session.info.pop(_PENDING, None)
    if not pending or _context_provider is None:
        return
    context = _context_provider() or Context(None, None)
    written = _written(session)
    for obj, change in pending.values():
        is_user = isinstance(obj, User)
        ident = change.ident if change.kind == "delete" else obj.id
        object_type = "user" if is_user else "role"
        # A domain function (staff.create, staff.update, …) already described this change.
        if (object_type, None if ident is None else str(ident)) in written:
            continue
        details: dict[str, Any] = {"name": change.name if change.kind == "delete" else _name(obj)}
        if change.fields:
            details["changed"] = sorted(change.fields)
        if change.added:
            details["roles_added" if is_user else "permissions_added"] = sorted(change.added)
        if change.removed:
            details["roles_removed" if is_user else "permissions_removed"] = sorted(change.removed)
        if change.kind == "update" and len(details) == 1:
            continue
        action = f"{object_type}.{change.kind}"
        record(session, action, actor=context.actor_id, target=(object_type, ident), details=details, ip=context.ip)


def _forget(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_WRITTEN, None)


_installed = False


def install() -> None:
    """Chain every event any session writes, and audit role, permission and account changes
    made during requests. Once per process (the listeners are on the Session class)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _collect_access_changes)
    event.listen(Session, "before_commit", _emit_access_changes)
    # Last of the before_flush listeners: events added by the others are chained too.
    event.listen(Session, "before_flush", _chain_new_events)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_rollback", _forget_flush)
    event.listen(Session, "after_commit", _forget)
    event.listen(Session, "after_soft_rollback", _forget)
    _installed = True


__all__ = [
    "ACCESS_DENIED",
    "DENIED_DEDUPE",
    "DENIED_WINDOW",
    "LOGIN",
    "LOGIN_FAILED",
    "PRUNED",
    "TRANSITION",
    "Break",
    "Context",
    "Pruned",
    "Verification",
    "access_denied",
    "canonical",
    "event_hash",
    "install",
    "login",
    "login_failed",
    "prune",
    "record",
    "set_context_provider",
    "username_digest",
    "verify",
]
