"""Answers read more than once within one transaction, kept until anything changes.

One page asks the same question many times: the case page checks each action it may offer
(approve, take, reassign, …) with the very checks the actions run, and each check asks who
the reader stands in for today, which department a step names, what the history holds. The
checks stay as they are (one rule, one place); :func:`remember` makes the repeats free.

A value lives in the session's ``info`` for as long as nothing could have changed it:

* it is dropped when the transaction (or a savepoint) ends — commit, rollback or close — so
  nothing outlives a job's unit of work;
* it is dropped when the thread commits anything (through another session, or a bare
  connection) and when the thread starts handling a request (:func:`request_started`, which
  app.web connects to Flask's signal): a test whose app context, and so session and transaction, spans several requests
  and writes in between through sessions of its own sees every change, and no request reads
  an answer remembered before it began. (In production each request has its own session,
  closed at its end; other threads' commits do not drop it: within one request its answers
  stay one consistent reading, as under REPEATABLE READ.)
* it is dropped on every flush and every statement that is not a SELECT (bulk UPDATE,
  DELETE, INSERT, raw SQL), so a transaction reads its own writes;
* it is not used while the session holds changes not flushed yet (the query it would save
  would flush them first).

Keys are tuples whose first item names the question (``"departments"``) and that hold all the
answer depends on (the day, for what is in force today). Callers must not change a value:
remember immutable ones (tuples, frozen dataclasses).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, scoped_session

T = TypeVar("T")

# session.info key of the remembered answers (a _Memo).
INFO_KEY = "hamaynk_memo"


class _Epoch(threading.local):
    # Moves on with each commit and each request start in the thread.
    value = 0


_epoch = _Epoch()


@dataclass
class _Memo:
    epoch: int  # _epoch.value when it was started
    values: dict[Hashable, Any] = field(default_factory=dict)


def _real(session: Session | scoped_session[Session]) -> Session:
    return session() if isinstance(session, scoped_session) else session


def _memo(session: Session) -> _Memo:
    found = session.info.get(INFO_KEY)
    if not isinstance(found, _Memo) or found.epoch != _epoch.value:
        found = _Memo(_epoch.value)
        session.info[INFO_KEY] = found
    return found


def _unflushed(session: Session) -> bool:
    # Changes not flushed yet: a remembered answer may not hold them (module docstring).
    return bool(session.new or session.dirty or session.deleted)


def remember(session: Session | scoped_session[Session], key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``'s answer for ``key``, computed once while nothing is written (see the
    module docstring)."""
    real = _real(session)
    if _unflushed(real):
        return compute()
    values = _memo(real).values
    if key in values:
        return values[key]
    value = compute()
    # Only within a transaction, whose end drops it (compute() normally opened one). Stored in
    # the memo of now: compute() may have flushed or written, and so dropped the earlier one.
    if real.in_transaction():
        _memo(real).values[key] = value
    return value


def known(session: Session | scoped_session[Session], key: Hashable) -> bool:
    """Whether an answer for ``key`` is remembered (and may be used: see :func:`remember`)."""
    real = _real(session)
    return not _unflushed(real) and key in _memo(real).values


def keep(session: Session | scoped_session[Session], key: Hashable, value: Any) -> None:
    """Remember ``value`` for ``key``, read by the caller in this transaction, as
    :func:`remember` would have (for answers read several at once)."""
    real = _real(session)
    if real.in_transaction() and not _unflushed(real):
        _memo(real).values[key] = value


def forget(session: Session | scoped_session[Session]) -> None:
    """Drop every remembered answer of ``session``."""
    _real(session).info.pop(INFO_KEY, None)


def _next_epoch() -> None:
    _epoch.value += 1


@event.listens_for(Engine, "commit")
def _on_commit(_connection: Connection) -> None:
    _next_epoch()


def request_started(_sender: Any = None, **_extra: Any) -> None:
    """A request begins in this thread: nothing remembered before it is used in it (a
    receiver of Flask's ``request_started`` signal; the domain knows no requests)."""
    _next_epoch()


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, _transaction: SessionTransaction) -> None:
    forget(session)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    forget(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not state.is_select:
        forget(state.session)


__all__ = ["INFO_KEY", "forget", "keep", "known", "remember", "request_started"]
