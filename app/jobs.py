"""Background and scheduled work, through Huey: embedded without extra services, on Redis at scale.

One Huey instance per app, built from its config on first use (:func:`get_huey`):

``HAMAYNK_JOBS=sqlite`` (default)
    ``SqliteHuey`` with its queue in ``HAMAYNK_HUEY_PATH`` (default ``instance/huey.sqlite3``):
    no extra service; ``flask hamaynk worker`` consumes it next to the web process.
``HAMAYNK_JOBS=redis``
    ``RedisHuey`` at ``HAMAYNK_REDIS_URL``: several app processes enqueue, separate workers
    consume (install the ``redis`` extra).
``HAMAYNK_JOBS=immediate``
    every task runs at once in the caller (tests).

Tasks are registered per instance with fixed names, so a worker process built from the same
config runs what the web process enqueued. Each task runs inside an app context of the app
that built the instance, and owns its transaction: it commits, or rolls back and re-raises.

Tasks
    ``hamaynk.escalate``  periodic (crontab minute ``HAMAYNK_ESCALATION_MINUTES``, default
                          every 15 minutes): :func:`app.domain.escalation.escalate_overdue`;
                          its e-mails are enqueued when it commits (see below).
    ``hamaynk.deliver``   sends one notification over its channel (e-mail, SMS, a plug-in's);
                          retried with back-off (``HAMAYNK_NOTIFICATION_RETRIES`` times from
                          ``HAMAYNK_NOTIFICATION_RETRY_DELAY`` seconds, doubling); the last
                          failure marks the row ``failed``. Each attempt holds a lease of
                          ``HAMAYNK_NOTIFY_LEASE_SECONDS`` (default 120) on the row.
    ``hamaynk.sweep``     periodic (every minute, and once when a worker starts): re-enqueues
                          the notifications whose task was lost (Huey's SQLite queue drops a
                          task it handed to a worker that is then killed; a queue flushed):
                          pending rows not handed out within a lease or whose retry is
                          overdue, rows whose worker's lease ran out before it sent anything,
                          and uncertain rows due to be sent once more
                          (:func:`app.domain.notifications.due_for_delivery`).

The outbox is enqueued automatically (:func:`init_app`): a session listener notes the
notification rows a transaction adds that still have to be sent, and once that transaction
commits it enqueues ``hamaynk.deliver`` for each. Nobody enqueues by hand; a row whose task
is lost anyway is found by the sweep. The same listeners hand the domain the app's
notification channels and config on ``session.info``
(:func:`app.domain.notifications.session_catalogue`).
    ``hamaynk.purge_idempotency``  periodic (hourly, at minute 17): removes the API's
                          ``Idempotency-Key`` records older than ``HAMAYNK_IDEMPOTENCY_HOURS``
                          (default 24) (:mod:`app.domain.idempotency`).
    ``hamaynk.purge_staged``  periodic (hourly, at minute 23): removes the uploads kept from
                          refused submissions (:mod:`app.domain.staging`) older than
                          ``HAMAYNK_STAGING_HOURS`` (default 6), rows and stored files, except
                          those of a citizen's online draft that still exists; and first the
                          drafts (:mod:`app.domain.drafts`) nobody saved for
                          ``HAMAYNK_DRAFT_DAYS`` (default 90), with their files.
    ``hamaynk.sweep_storage``  periodic (hourly, at minute 41): the orphan sweep
                          (:mod:`app.domain.sweep`): stored files no row names and left-over
                          ``.tmp-*`` parts older than ``HAMAYNK_ORPHAN_GRACE_HOURS`` (default 24).
    ``hamaynk.announce``  periodic (every minute): e-participation's announcements
                          (:func:`app.domain.participation.announcements.announce`): closes the
                          polls whose time is up (storing their tally), then tells the eligible
                          residents that a poll, budget vote or consultation opened, that results
                          are out, or that a consultation's summary is published; in batches,
                          at most ``HAMAYNK_ANNOUNCE_PER_RUN`` (default 5000) people per run, each
                          batch its own transaction, safe to run twice at once (dedup keys).
                          ``flask hamaynk participation announce`` runs it once.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.domain import notifications as outbox
from app.domain.notifications import NotificationChannel
from app.extensions import current_flask_app
from app.models import Notification

if TYPE_CHECKING:
    # Huey (with the redis, psycopg and gevent modules its storages and consumer try) is
    # imported when the app first enqueues or runs a task (get_jobs), not when it starts.
    from huey import Huey

log = logging.getLogger(__name__)

MODES = ("sqlite", "redis", "immediate")
EXTENSION = "hamaynk.jobs"
CHANNELS_EXTENSION = "hamaynk.notification_channels"
# session.info: ids of notification rows flushed in the open transaction that are to be sent.
OUTBOX_KEY = "hamaynk.outbox"


class JobsMisconfigured(RuntimeError):
    """HAMAYNK_JOBS names no known mode, or its backend cannot be used."""


@dataclass(frozen=True)
class Jobs:
    """The tasks registered on one Huey instance. Calling a task enqueues it (Huey ships no
    types for its task wrappers, hence ``Any``); ``run_escalation`` runs the escalation here,
    now, and enqueues the e-mails it wrote."""

    huey: Huey
    escalate: Any
    deliver: Any
    sweep: Any
    purge_staged: Any
    run_escalation: Callable[[dt.date | None], list[int]]
    sweep_storage: Any = None
    purge_idempotency: Any = None
    announce: Any = None
    run_announcements: Callable[[], Any] | None = None


def make_huey(config: Mapping[str, Any], instance_path: str) -> Huey:
    from huey import MemoryHuey, RedisHuey, SqliteHuey

    mode = (config.get("HAMAYNK_JOBS") or "sqlite").strip().lower()
    if mode == "immediate":
        return MemoryHuey("hamaynk", immediate=True, results=False)
    if mode == "sqlite":
        filename = config.get("HAMAYNK_HUEY_PATH") or str(Path(instance_path) / "huey.sqlite3")
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey("hamaynk", filename=filename, results=False)
    if mode == "redis":
        try:
            import redis  # noqa: F401 - only to fail with a clear message
        except ImportError:
            raise JobsMisconfigured(
                "HAMAYNK_JOBS=redis needs the redis package: pip install 'hamaynk[redis]'"
            ) from None
        return RedisHuey("hamaynk", url=config.get("HAMAYNK_REDIS_URL"), results=False)
    raise JobsMisconfigured(f"HAMAYNK_JOBS={mode!r} is not one of: {', '.join(MODES)}")


def _register(app: Flask, huey: Huey) -> Jobs:
    from huey import crontab

    from app.domain import drafts, escalation, notifications, staging
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.plugins import builder_services
    from app.plugins import runtime as plugin_runtime

    config = app.config

    @huey.task(
        name="hamaynk.deliver",
        context=True,
        retries=int(config.get("HAMAYNK_NOTIFICATION_RETRIES", 12)),
        retry_delay=int(config.get("HAMAYNK_NOTIFICATION_RETRY_DELAY", 60)),
        retry_backoff=2,
    )
    def deliver(notification_id: int, task: Any = None) -> str:
        with app.app_context():
            try:
                # The task's remaining retries say whether this is the last chance, and its
                # delay when Huey will try again (the sweep leaves the row alone until then).
                final = task is None or not task.retries
                retry_in = None if final else float(task.retry_delay or 0)
                return notifications.deliver(
                    db.session,
                    notification_id,
                    app.config,
                    notification_channels(app),
                    final_attempt=final,
                    retry_in=retry_in,
                )
            except BaseException:
                db.session.rollback()
                raise

    def run_escalation(on: dt.date | None = None) -> list[int]:
        with app.app_context():
            # A long-running worker must see services built in the admin UI since it started.
            builder_services.refresh_if_changed(app)
            try:
                written = escalation.escalate_overdue(
                    db.session, on, registry=plugin_runtime.registry(app), config=app.config
                )
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
            # Enqueued for delivery by the commit above (the outbox listener, init_app).
            emails = [n.id for n in written if n.channel == notifications.EMAIL]
            log.info("escalation wrote %d notification(s)", len(written))
        return emails

    minutes = str(config.get("HAMAYNK_ESCALATION_MINUTES") or "*/15")

    @huey.periodic_task(crontab(minute=minutes), name="hamaynk.escalate")
    def escalate() -> int:
        return len(run_escalation())

    @huey.periodic_task(crontab(minute="*"), name="hamaynk.sweep")
    def sweep() -> int:
        with app.app_context():
            try:
                ids = notifications.due_for_delivery(db.session, app.config)
            except BaseException:
                db.session.rollback()
                raise
        for notification_id in ids:
            deliver(notification_id)
        if ids:
            log.info("sweep re-enqueued %d notification(s)", len(ids))
        return len(ids)

    @huey.on_startup(name="hamaynk.sweep_on_start")
    def sweep_on_start() -> None:
        # A worker (re)started after a kill finds the rows its predecessor held without
        # waiting for the next minute.
        sweep.call_local()

    staging_age = dt.timedelta(
        hours=float(config.get("HAMAYNK_STAGING_HOURS") or staging.MAX_AGE.total_seconds() / 3600)
    )

    draft_age = drafts.draft_age(config)

    @huey.periodic_task(crontab(minute="23"), name="hamaynk.purge_staged")
    def purge_staged() -> int:
        with app.app_context():
            try:
                # Abandoned drafts first, with their files; then the files no live draft keeps.
                old_drafts = drafts.purge(db.session, get_storage(app), older_than=draft_age)
                removed = staging.purge(db.session, get_storage(app), older_than=staging_age)
            except BaseException:
                db.session.rollback()
                raise
        if old_drafts:
            log.info("purged %d abandoned draft(s)", old_drafts)
        if removed:
            log.info("purged %d staged upload(s)", removed)
        return removed

    # Daily: audit events older than HAMAYNK_AUDIT_RETENTION_DAYS (default 365) go; the chain's
    # origin moves so the rest still verifies (app.domain.audit.prune).
    @huey.periodic_task(crontab(minute="53", hour="3"), name="hamaynk.prune_audit")
    def prune_audit() -> int:
        from app.domain import audit

        days = int(app.config.get("HAMAYNK_AUDIT_RETENTION_DAYS", 365))
        with app.app_context():
            try:
                cutoff = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)
                pruned = audit.prune(db.session, older_than=cutoff)
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
        log.info("pruned %d audit event(s) older than %d day(s)", pruned.deleted, days)
        return pruned.deleted

    @huey.periodic_task(crontab(minute="41"), name="hamaynk.sweep_storage")
    def sweep_storage() -> int:
        from app.domain import sweep as orphans

        with app.app_context():
            try:
                report = orphans.sweep(db.session, get_storage(app), grace=orphans.grace_period(app.config))
            finally:
                db.session.rollback()  # it only read
        return len(report.removed)

    idempotency_age = dt.timedelta(hours=float(config.get("HAMAYNK_IDEMPOTENCY_HOURS") or 24))

    @huey.periodic_task(crontab(minute="17"), name="hamaynk.purge_idempotency")
    def purge_idempotency() -> int:
        # API Idempotency-Key answers are replayed for a day (app.domain.idempotency).
        from app.domain import idempotency

        with app.app_context():
            try:
                removed = idempotency.purge(db.session, older_than=idempotency_age)
            except BaseException:
                db.session.rollback()
                raise
        if removed:
            log.info("purged %d idempotency record(s)", removed)
        return removed

    def run_announcements() -> Any:
        from app.domain.participation import announcements

        with app.app_context():
            try:
                # Commits batch by batch itself: a large audience is not one long transaction.
                return announcements.announce(
                    db.session,
                    app.config,
                    run_limit=int(app.config.get("HAMAYNK_ANNOUNCE_PER_RUN") or announcements.RUN_LIMIT),
                )
            except BaseException:
                db.session.rollback()
                raise

    @huey.periodic_task(crontab(minute="*"), name="hamaynk.announce")
    def announce() -> int:
        return run_announcements().notices

    return Jobs(
        announce=announce,
        run_announcements=run_announcements,
        purge_idempotency=purge_idempotency,
        huey=huey,
        escalate=escalate,
        deliver=deliver,
        sweep=sweep,
        purge_staged=purge_staged,
        run_escalation=run_escalation,
        sweep_storage=sweep_storage,
    )


def get_jobs(app: Flask | None = None) -> Jobs:
    """The app's jobs (built on first use, so processes that never enqueue pay nothing)."""
    app = app or current_flask_app()
    jobs = app.extensions.get(EXTENSION)
    if jobs is None:
        jobs = _register(app, make_huey(app.config, app.instance_path))
        app.extensions[EXTENSION] = jobs
    return jobs


def get_huey(app: Flask | None = None) -> Huey:
    return get_jobs(app).huey


def run_escalation(app: Flask | None = None, on: dt.date | None = None) -> list[int]:
    """Run the escalation once now, in this process; returns the ids of the e-mails queued."""
    return get_jobs(app).run_escalation(on)


def run_announcements(app: Flask | None = None) -> Any:
    """Close due polls and write the due e-participation announcements once, now, in this
    process (:class:`app.domain.participation.announcements.Announced`)."""
    run = get_jobs(app).run_announcements
    assert run is not None
    return run()


def run_worker(
    app: Flask | None = None, *, workers: int = 1, periodic: bool = True, scheduler_interval: int = 1
) -> None:
    """Run Huey's consumer in this process until interrupted (SIGINT/SIGTERM)."""
    huey = get_huey(app)
    if huey.immediate:
        raise JobsMisconfigured(
            "HAMAYNK_JOBS=immediate runs tasks in the caller; there is nothing for a worker to consume"
        )
    consumer = huey.create_consumer(
        workers=workers,
        periodic=periodic,
        worker_type="thread",
        scheduler_interval=scheduler_interval,
        check_worker_health=True,
    )
    consumer.run()


# -- notification channels and the outbox ------------------------------------------------------


class ChannelPluginFailed(RuntimeError):
    """A plug-in's ``register_notification_channels`` raised or returned something unusable."""


def collect_channels(app: Flask) -> dict[str, NotificationChannel]:
    """The install's notification channels: the built-in ones, then each plug-in's
    ``register_notification_channels(config)`` result (a plug-in may replace the log-only ``sms``;
    any other key taken twice raises :class:`~app.domain.notifications.DuplicateChannel`).
    A plug-in whose hook fails stops a strict start; otherwise it is logged and left out."""
    from app.plugins import runtime as plugin_runtime

    host = plugin_runtime.host(app)
    contributed: list[tuple[str, NotificationChannel]] = []
    impls = host.pm.hook.register_notification_channels.get_hookimpls()
    for impl in sorted(impls, key=lambda i: i.plugin_name):
        try:
            wants_config = "config" in inspect.signature(impl.function).parameters
            value: Any = impl.function(config=app.config) if wants_config else impl.function()
            items: list[Any] = [value] if isinstance(value, NotificationChannel) else list(value or [])
            for item in items:
                if not isinstance(item, NotificationChannel):
                    raise TypeError(f"{item!r} is not a NotificationChannel")
        except Exception as exc:
            problem = ChannelPluginFailed(
                f"plug-in {impl.plugin_name!r}: register_notification_channels() failed: {type(exc).__name__}: {exc}"
            )
            if host.strict:
                raise problem from exc
            log.error("%s; leaving its channels out", problem)
            continue
        contributed += [(impl.plugin_name, item) for item in items]
    try:
        return outbox.catalogue(outbox.builtin_channels(app.config), contributed)
    except outbox.DuplicateChannel:
        if host.strict:
            raise
        log.exception("notification channels clash; using the built-in ones only")
        return outbox.catalogue(outbox.builtin_channels(app.config))


def notification_channels(app: Flask | None = None) -> dict[str, NotificationChannel]:
    """The app's notification channels by key (collected once, by :func:`init_app`)."""
    app = app or current_flask_app()
    channels: dict[str, NotificationChannel] | None = app.extensions.get(CHANNELS_EXTENSION)
    if channels is None:
        channels = collect_channels(app)
        app.extensions[CHANNELS_EXTENSION] = channels
    return channels


def _app_with_outbox() -> Flask | None:
    if not has_app_context():
        return None
    app = current_flask_app()
    return app if CHANNELS_EXTENSION in app.extensions else None


def _after_begin(session: Session, _transaction: Any, _connection: Any) -> None:
    # The domain is handed a session, not the app: leave it the app's channels and config.
    app = _app_with_outbox()
    if app is not None:
        session.info[outbox.CATALOGUE_INFO_KEY] = app.extensions[CHANNELS_EXTENSION]
        session.info[outbox.CONFIG_INFO_KEY] = app.config


def _after_flush(session: Session, _context: Any) -> None:
    # After the flush the new rows have their ids; ``session.new`` still lists them here.
    for row in session.new:
        if isinstance(row, Notification) and row.status == outbox.PENDING and row.channel != outbox.INAPP:
            session.info.setdefault(OUTBOX_KEY, set()).add(row.id)


def _after_commit(session: Session) -> None:
    ids = session.info.pop(OUTBOX_KEY, None)
    if not ids:
        return
    app = _app_with_outbox()
    if app is None:
        return  # no app to enqueue on (a bare session): the sweep will find the rows
    try:
        deliver = get_jobs(app).deliver
    except Exception:
        log.exception("cannot enqueue %d notification(s); the hourly sweep will", len(ids))
        return
    for notification_id in sorted(ids):
        try:
            # HAMAYNK_JOBS=immediate delivers right here; the task pushes an app context of
            # its own, so it works on a session of its own, not this committed one.
            deliver(notification_id)
        except Exception:
            # The change is committed; a lost enqueue is the sweep's to repair.
            log.exception("cannot enqueue notification %s; the hourly sweep will", notification_id)


def _after_rollback(session: Session) -> None:
    session.info.pop(OUTBOX_KEY, None)


_listening = False


def init_app(app: Flask) -> None:
    """Collect the notification channels and install the outbox listeners (once per process;
    they act only for apps that ran this)."""
    global _listening
    app.extensions[CHANNELS_EXTENSION] = collect_channels(app)
    if not _listening:
        event.listen(Session, "after_begin", _after_begin)
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
        _listening = True


__all__ = [
    "MODES",
    "ChannelPluginFailed",
    "Jobs",
    "JobsMisconfigured",
    "collect_channels",
    "get_huey",
    "get_jobs",
    "init_app",
    "make_huey",
    "notification_channels",
    "run_announcements",
    "run_escalation",
    "run_worker",
]
