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
                          every 15 minutes): :func:`app.domain.escalation.escalate_overdue`,
                          then enqueues the e-mails it wrote.
    ``hamaynk.deliver``   sends one e-mail notification; retried with back-off
                          (``HAMAYNK_NOTIFICATION_RETRIES`` times from
                          ``HAMAYNK_NOTIFICATION_RETRY_DELAY`` seconds, doubling); the last
                          failure marks the row ``failed``.
    ``hamaynk.sweep``     periodic (hourly): re-enqueues e-mails still pending after an
                          hour whose task was lost (a worker killed mid-way, a queue flushed).
    ``hamaynk.purge_staged``  periodic (hourly, at minute 23): removes the uploads kept from
                          refused submissions (:mod:`app.domain.staging`) older than
                          ``HAMAYNK_STAGING_HOURS`` (default 6), rows and stored files.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab

from app.extensions import current_flask_app

log = logging.getLogger(__name__)

MODES = ("sqlite", "redis", "immediate")
EXTENSION = "hamaynk.jobs"
SWEEP_AFTER = dt.timedelta(hours=1)


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


def make_huey(config: Mapping[str, Any], instance_path: str) -> Huey:
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
    from app.domain import escalation, notifications, staging
    from app.domain.storage import get_storage
    from app.extensions import db
    from app.models.base import utcnow
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
                # The task's remaining retries say whether this is the last chance.
                final = task is None or not task.retries
                return notifications.deliver_email(db.session, notification_id, app.config, final_attempt=final)
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
            emails = [n.id for n in written if n.channel == notifications.EMAIL]
            log.info("escalation wrote %d notification(s)", len(written))
        for notification_id in emails:
            deliver(notification_id)
        return emails

    minutes = str(config.get("HAMAYNK_ESCALATION_MINUTES") or "*/15")

    @huey.periodic_task(crontab(minute=minutes), name="hamaynk.escalate")
    def escalate() -> int:
        return len(run_escalation())

    @huey.periodic_task(crontab(minute="7"), name="hamaynk.sweep")
    def sweep() -> int:
        with app.app_context():
            ids = notifications.pending_email_ids(db.session, older_than=utcnow() - SWEEP_AFTER)
            db.session.rollback()
        for notification_id in ids:
            deliver(notification_id)
        return len(ids)

    staging_age = dt.timedelta(
        hours=float(config.get("HAMAYNK_STAGING_HOURS") or staging.MAX_AGE.total_seconds() / 3600)
    )

    @huey.periodic_task(crontab(minute="23"), name="hamaynk.purge_staged")
    def purge_staged() -> int:
        with app.app_context():
            try:
                removed = staging.purge(db.session, get_storage(app), older_than=staging_age)
            except BaseException:
                db.session.rollback()
                raise
        if removed:
            log.info("purged %d staged upload(s)", removed)
        return removed

    return Jobs(
        huey=huey,
        escalate=escalate,
        deliver=deliver,
        sweep=sweep,
        purge_staged=purge_staged,
        run_escalation=run_escalation,
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


__all__ = ["MODES", "Jobs", "JobsMisconfigured", "get_huey", "get_jobs", "make_huey", "run_escalation", "run_worker"]
