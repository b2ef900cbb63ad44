"""``flask hamaynk …`` commands (also available as the ``hamaynk`` script)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from app.extensions import current_appbuilder, current_flask_app

hamaynk = AppGroup("hamaynk", help="Hamaynk administration commands.")


@hamaynk.command("plugins")
@with_appcontext
def plugins_command() -> None:
    """List every plug-in and the services it declares."""
    from app.plugins import runtime as plugin_runtime

    host = plugin_runtime.host()
    for record in sorted(host.records.values(), key=lambda r: r.name):
        version = f" {record.version}" if record.version else ""
        click.echo(f"{record.name}{version} [{record.source}] {record.status}  ({record.origin})")
        for key, service_version in record.services:
            click.echo(f"    {key} v{service_version}")
        if record.error:
            click.echo(f"    error: {record.error}")


def _staffing_report(ctx: click.Context) -> int | None:
    """Print every step of an offered service that nobody in its municipality can act on
    (app.domain.activations.staffing_gaps); return how many, or ``None`` when there is no
    database to ask (not run through ``flask --app …``, or not migrated yet)."""
    from flask.cli import ScriptInfo
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    info = ctx.find_object(ScriptInfo)
    if info is None:
        click.echo("staffing: not checked (run as `flask --app app:create_app hamaynk check` to check it)")
        return None
    try:
        app = info.load_app()
    except Exception as exc:
        click.echo(f"staffing: not checked, the app did not start: {exc}")
        return None
    from app.domain import access
    from app.domain.activations import staffing_gaps
    from app.extensions import db
    from app.models import Municipality
    from app.plugins import runtime as plugin_runtime

    found = 0
    with app.app_context():
        try:
            municipalities = (
                db.session.execute(
                    access.unscoped(select(Municipality), reason="the staffing of every municipality").order_by(
                        Municipality.code
                    )
                )
                .scalars()
                .all()
            )
            for municipality in municipalities:
                for service in staffing_gaps(db.session, municipality.id, plugin_runtime.registry(app)):
                    for gap in service.steps:
                        found += 1
                        if gap.missing_department:
                            why = f"the municipality has no department {gap.department_code!r}"
                        elif gap.department_code is not None:
                            why = f"nobody active with the role {gap.role!r} in department {gap.department_code!r}"
                        else:
                            why = f"nobody active with the role {gap.role!r}"
                        click.echo(
                            f"warning: {municipality.code}: service {service.key!r} "
                            f"v{service.registered.version}, step {gap.step_key!r}: {why}"
                        )
        except SQLAlchemyError as exc:
            click.echo(f"staffing: not checked, the database is not ready ({exc.__class__.__name__})")
            return None
        finally:
            db.session.remove()
    click.echo(f"staffing: {found} step(s) of offered services nobody can act on")
    return found


@hamaynk.command("check", with_appcontext=False)
@click.option(
    "--strict", is_flag=True, help="Count steps nobody can act on (staffing gaps) as problems: exit 1 on any."
)
@click.option("--traceback", "show_traceback", is_flag=True, help="Show where check itself failed, if it does.")
@click.pass_context
def check_command(ctx: click.Context, strict: bool, show_traceback: bool) -> None:
    """Validate all plug-ins, definition files and services built in the admin UI, listing
    every problem and warning, and report offered services with steps nobody can act on;
    exit 1 on any problem (staffing gaps only with --strict)."""
    try:
        problems = _check(ctx, strict)
    except Exception as exc:
        if show_traceback:
            raise
        click.echo(f"check could not finish: {type(exc).__name__}: {exc} (--traceback shows where)", err=True)
        sys.exit(2)
    if problems:
        sys.exit(1)


def _app_for_check(ctx: click.Context) -> Flask | None:
    """The app ``flask --app …`` names (its database has the builder services and the
    departments), or ``None``. The app is built forgiving for ``check``
    (app.plugins.runtime.checking_from_command_line); should it fail anyway, plug-ins and
    files are still checked without it."""
    from flask.cli import ScriptInfo

    info = ctx.find_object(ScriptInfo)
    if info is None:
        return None
    try:
        return info.load_app()
    except Exception as exc:
        click.echo(f"the app did not start ({type(exc).__name__}: {exc}); checking plug-ins and files without it")
        return None


def _check(ctx: click.Context, strict: bool) -> int:
    import config as settings
    from app.domain.declarations import LANGUAGES
    from app.plugins import checkup
    from app.plugins.host import ACTIVE, build_plugin_host

    app = _app_for_check(ctx)
    if app is not None:
        from app.plugins import runtime as plugin_runtime

        host = plugin_runtime.host(app)
    else:
        cfg = settings.from_env()
        values = {k: getattr(cfg, k) for k in dir(cfg) if k.isupper()}
        host = build_plugin_host(values, strict=False)  # every problem, not just the first
    findings = checkup.plugin_findings(host)
    if app is not None:
        from sqlalchemy.exc import SQLAlchemyError

        from app.extensions import db

        with app.app_context():
            try:
                findings += checkup.department_findings(db.session, host)
            except SQLAlchemyError as exc:
                click.echo(f"departments: not checked, the database is not ready ({exc.__class__.__name__})")
            finally:
                db.session.remove()
    problems = 0
    for finding in findings:
        if finding.level == checkup.ERROR:
            problems += 1
            click.echo(finding.line(), err=True)
        else:
            click.echo(finding.line())
    for registered in host.registry.all():
        missing = [lang for lang in LANGUAGES if lang not in registered.service.title]
        if missing:
            click.echo(
                f"warning: service {registered.key!r} v{registered.version} ({registered.plugin}) has no title in {missing}"
            )
    gaps = _staffing_report(ctx)
    if strict and gaps:
        problems += gaps
    active = sum(1 for r in host.records.values() if r.status == ACTIVE)
    click.echo(f"{active} plug-in(s) active, {len(host.registry)} service version(s), {problems} problem(s)")
    return problems


@hamaynk.command("sync-permissions")
@with_appcontext
def sync_permissions_command() -> None:
    """Write the roles and permissions defined in app/security.py to the database."""
    counts = current_appbuilder().sm.sync_roles()
    for role, count in counts.items():
        click.echo(f"{role}: {count} permission(s)")


@hamaynk.command("create-admin")
@click.option("--username", prompt=True)
@click.option("--email", prompt=True)
@click.option("--first-name", default="System")
@click.option("--last-name", default="Administrator")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@with_appcontext
def create_admin_command(username: str, email: str, first_name: str, last_name: str, password: str) -> None:
    """Create a system administrator."""
    from app.demo import ensure_user
    from app.domain.roles import SYSTEM_ADMIN

    sm = current_appbuilder().sm
    sm.sync_roles()
    if len(password) < 10:
        raise click.ClickException("The password must have at least 10 characters.")
    user, created = ensure_user(
        sm,
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        password=password,
        roles=[SYSTEM_ADMIN],
        municipality_id=None,
    )
    click.echo(("Created" if created else "Already exists:") + f" system administrator {user.username}")


@hamaynk.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed demo data: Abovyan and two more municipalities, staff for every role, services on.

    Safe to run again: what exists is left alone.
    """
    from app.demo import DEMO_PASSWORD, seed_demo

    logins = seed_demo(progress=lambda msg: click.echo(f"  {msg}"))
    click.echo("")
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for username, role, municipality in logins:
        click.echo(f"  {username:<24} {role:<16} {municipality}")


@hamaynk.command("new-service", with_appcontext=False)
@click.argument("key")
@click.option("--dir", "target", default=".", type=click.Path(file_okay=False), help="Folder to create the package in.")
@click.option("--title", default=None, help="English title of the service.")
def new_service_command(key: str, target: str, title: str | None) -> None:
    """Scaffold an installable plug-in package for service KEY (e.g. tree-felling)."""
    from pathlib import Path

    from app.plugins.scaffold import ScaffoldError, create_package

    try:
        root = create_package(key, Path(target), title)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {root}")
    click.echo(f"Next: pip install -e {root} && pytest {root}/tests")


@hamaynk.command("init")
@with_appcontext
def init_command() -> None:
    """Bring the database to the newest schema and sync permissions (idempotent)."""
    from flask_migrate import upgrade

    upgrade()
    current_appbuilder().sm.sync_roles()
    click.echo("Database is up to date; permissions synced.")


@hamaynk.command("worker")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@click.option("--no-periodic", is_flag=True, help="Do not run scheduled tasks (when another worker does).")
@with_appcontext
def worker_command(workers: int, no_periodic: bool) -> None:
    """Run the background job consumer (Huey) in this process, scheduled tasks included."""
    import logging

    from app.jobs import JobsMisconfigured, run_worker

    # The consumer reports through logging; a worker started by hand should show it.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run_worker(current_flask_app(), workers=workers, periodic=not no_periodic)
    except JobsMisconfigured as exc:
        raise click.ClickException(str(exc)) from None


@hamaynk.command("escalate")
@click.option("--on", "on", default=None, help="Escalate as on this date (YYYY-MM-DD); default today.")
@with_appcontext
def escalate_command(on: str | None) -> None:
    """Escalate overdue steps once, now (the worker does this every 15 minutes)."""
    import datetime as dt

    from app.jobs import JobsMisconfigured, run_escalation

    try:
        day = dt.date.fromisoformat(on) if on else None
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--on") from None
    try:
        queued = run_escalation(current_flask_app(), day)
    except JobsMisconfigured as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Escalation done; {len(queued)} e-mail(s) queued for delivery.")


@hamaynk.group("participation")
def participation_group() -> None:
    """E-participation: polls, budget votes, consultations."""


@participation_group.command("announce")
@with_appcontext
def participation_announce_command() -> None:
    """Close the polls whose time is up and write the due announcements once, now (the worker
    does this every minute)."""
    from app.jobs import JobsMisconfigured, run_announcements

    try:
        done = run_announcements(current_flask_app())
    except JobsMisconfigured as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"Announcements done: {len(done.closed)} poll(s) closed, {done.notices} notice(s) "
        f"to {done.people} person(s), {len(done.finished)} announcement(s) finished."
    )


@hamaynk.group("polls")
def polls_group() -> None:
    """Polls and budget votes: count a closed poll, recount a downloaded ballot list."""


@polls_group.command("recount")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--sha256", "expected", default=None, help="The sha256 published with the ballot list.")
def polls_recount_command(file: str, expected: str | None) -> None:
    """Recount the ballot list FILE (the JSON downloaded from a poll's results page) and print
    the tally; with --sha256, say whether the file is the one published (exit code 1 if not).
    Needs no database: anyone can run it."""
    import hashlib
    import json
    from pathlib import Path

    from app.domain.participation import ballots

    raw = Path(file).read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
        rows, poll = data["ballots"], data["poll"]
        with click.progressbar(rows, label="Counting", file=sys.stderr, show_pos=True) as bar:
            counted = ballots.recount(bar, poll)
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{file} is not a ballot list that can be counted: {exc}") from None
    for line in ballots.tally_lines(counted, poll):
        click.echo(line)
    digest = hashlib.sha256(raw).hexdigest()
    click.echo(f"sha256 of {file}: {digest}")
    if expected is not None:
        if expected.strip().lower() != digest:
            click.echo("DOES NOT MATCH the published sha256: this is not the published ballot list.", err=True)
            sys.exit(1)
        click.echo("Matches the published sha256.")


@polls_group.command("close")
@click.argument("poll_id", type=click.IntRange(1))
def polls_close_command(poll_id: int) -> None:
    """Count poll POLL_ID now (its voting time must have ended) and store the tally and the
    ballot list's sha256; a poll counted before is left as it is."""
    from sqlalchemy import select

    from app.domain import access
    from app.domain.errors import WorkflowError
    from app.domain.participation import ballots
    from app.extensions import db
    from app.models.participation import Poll

    stmt = access.unscoped(select(Poll), reason="an operator's command").where(Poll.id == poll_id)
    poll = db.session.execute(stmt).scalar_one_or_none()
    if poll is None:
        raise click.ClickException(f"There is no poll {poll_id}.")
    try:
        counted = ballots.close(db.session, poll)
    except WorkflowError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    state = "Counted" if counted else "Already counted"
    click.echo(f"{state}: poll {poll_id}, {poll.tally and poll.tally['ballots']} ballot(s).")
    click.echo(f"Ballot list sha256: {poll.ballots_sha256}")


@hamaynk.group("stats")
def stats_group() -> None:
    """The counters behind the transparency dashboard and the statistics API."""


@stats_group.command("rebuild")
@with_appcontext
def stats_rebuild_command() -> None:
    """Recompute every counter from the transition history (after an import, a restore, or
    on a database that has history from before the counters existed)."""
    from contextlib import ExitStack

    from app.domain import statistics
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    with ExitStack() as stack:
        bars: list = []

        def progress(done: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(click.progressbar(length=total, label="Transitions", show_pos=True)))
            bar = bars[0]
            bar.update(done - bar.pos)

        rebuilt = statistics.rebuild(db.session, plugin_runtime.registry(), progress=progress)
    db.session.commit()
    click.echo(
        f"Counted {rebuilt.transitions} transition(s): {rebuilt.month_rows} monthly, "
        f"{rebuilt.duration_rows} duration and {rebuilt.action_rows} daily decision counter(s) written."
    )


@hamaynk.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log (app.domain.audit)."""


@audit_group.command("verify")
@with_appcontext
def audit_verify_command() -> None:
    """Check the audit chain from its origin; name the first broken link (exit code 1)."""
    from sqlalchemy import func, select

    from app.domain import audit
    from app.extensions import db
    from app.models import AuditEvent

    if sys.stdout.isatty():
        total = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        with click.progressbar(length=total, label="Verifying", file=sys.stderr) as bar:
            seen = [0]

            def progress(checked: int) -> None:
                bar.update(checked - seen[0])
                seen[0] = checked

            result = audit.verify(db.session, progress)
    else:
        result = audit.verify(db.session)
    if result.origin_id is None:
        click.echo("The audit chain has not started yet (no event written since it exists).")
        return
    click.echo(f"Checked {result.checked} event(s) from the origin {result.origin_id}.")
    if result.broken is not None:
        click.echo(f"BROKEN at {result.broken}", err=True)
        sys.exit(1)
    # Kept somewhere else, the head proves later that nothing before it was rewritten.
    click.echo(f"OK. Head: event {result.head_id} {result.head_hash}")


@audit_group.command("prune")
@click.option("--days", type=click.IntRange(1), default=None, help="Keep this many days (default: the setting).")
@with_appcontext
def audit_prune_command(days: int | None) -> None:
    """Delete audit events older than HAMAYNK_AUDIT_RETENTION_DAYS (default 365); the rest
    still verifies."""
    import datetime as dt

    from app.domain import audit
    from app.extensions import db
    from app.models.base import utcnow

    keep = days or int(current_flask_app().config.get("HAMAYNK_AUDIT_RETENTION_DAYS", 365))
    pruned = audit.prune(db.session, older_than=utcnow() - dt.timedelta(days=keep))
    db.session.commit()
    click.echo(
        f"Deleted {pruned.deleted} audit event(s) older than {keep} day(s); recorded as event {pruned.event_id}."
    )


@hamaynk.command("report")
@click.argument("name", type=click.Choice(["overdue", "workload", "steps", "returns"]))
@click.option("--municipality", "code", required=True, help="The municipality's code.")
@click.option("--from", "date_from", default=None, help="First day (YYYY-MM-DD); default 30 days before --to.")
@click.option("--to", "date_to", default=None, help="Last day, included (YYYY-MM-DD); default today.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True), help="File to write.")
@click.option("--language", type=click.Choice(["hy", "en", "ru"]), default=None, help="Default: the site's.")
@with_appcontext
def report_command(
    name: str, code: str, date_from: str | None, date_to: str | None, fmt: str, output: str, language: str | None
) -> None:
    """Write the staff report NAME of one municipality to a CSV or XLSX file (see
    app.domain.reports), showing progress on stderr."""
    import os
    from collections.abc import Iterator

    from flask_babel import force_locale

    from app.domain import reports
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    app = current_flask_app()
    language = language or app.config.get("BABEL_DEFAULT_LOCALE") or "hy"
    tty = sys.stderr.isatty()

    def progress(done: int) -> None:
        message = f"{name}: {done} row(s) read"
        click.echo(f"\r{message}" if tty else message, err=True, nl=not tty)

    partial = f"{output}.part"
    try:
        with force_locale(language):
            try:
                scope = reports.operator_scope(db.session, code)
                period = reports.parse_period(date_from, date_to)
            except reports.ReportError as exc:
                raise click.ClickException(str(exc)) from None
            report = reports.build(
                name,
                db.session,
                scope,
                period,
                registry=plugin_runtime.registry(app),
                language=language,
                progress=progress,
            )
            if fmt == "xlsx":
                written = reports.write_xlsx(report, partial)
            else:
                rows = report.rows
                counted = [0]

                def counting() -> Iterator[reports.Row]:
                    for row in rows:
                        counted[0] += 1
                        yield row

                report.rows = counting()
                with open(partial, "w", encoding="utf-8", newline="") as out:
                    for chunk in reports.csv_chunks(report):
                        out.write(chunk)
                written = counted[0]
        os.replace(partial, output)
    finally:
        db.session.remove()
        if os.path.exists(partial):
            os.unlink(partial)
    if tty:
        click.echo("", err=True)
    click.echo(f"Wrote {written} row(s) to {output}", err=True)


@hamaynk.group("storage")
def storage_group() -> None:
    """The stored documents."""


@storage_group.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@with_appcontext
def storage_sweep_command(dry_run: bool) -> None:
    """Remove stored files no row names and left-over temporary parts older than
    HAMAYNK_ORPHAN_GRACE_HOURS (app.domain.sweep); print each and the totals."""
    from app.domain import sweep
    from app.domain.storage import StorageError, get_storage
    from app.extensions import db

    app = current_flask_app()
    try:
        report = sweep.sweep(db.session, get_storage(app), grace=sweep.grace_period(app.config), dry_run=dry_run)
    except StorageError as exc:
        raise click.ClickException(f"the storage cannot be listed: {exc}") from None
    finally:
        db.session.rollback()
    verb = "would remove" if dry_run else "removed"
    for found in report.removed:
        click.echo(f"{verb} {found.key} ({found.size} bytes{', temporary part' if found.temporary else ''})")
    click.echo(
        f"{verb.capitalize()} {len(report.removed)} object(s), {report.removed_bytes} bytes "
        f"({report.temporary_parts} temporary part(s)); scanned {report.scanned}, referenced {report.referenced}, "
        f"younger than the grace period {report.too_young}, failed {report.failed}."
    )
    if report.failed:
        sys.exit(1)


def _progress_printer(stack: Any) -> Callable[[str, int, int], None]:
    """A progress callback for app.domain.backup: bars on a terminal, nothing otherwise."""
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = stack.enter_context(
                click.progressbar(length=total, label=stage.capitalize(), show_pos=True, file=sys.stderr)
            )
        bar.update(done - bar.pos)

    return progress


@hamaynk.command("backup")
@click.argument("output", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(output: str) -> None:
    """Write the database and every stored file its rows name, with their sha256 in a manifest,
    to the new tar archive OUTPUT (app.domain.backup)."""
    from contextlib import ExitStack

    from app.domain import backup
    from app.domain.storage import get_storage
    from app.extensions import db

    db.session.remove()
    with ExitStack() as stack:
        try:
            summary = backup.backup(
                db.engine, get_storage(current_flask_app()), output, progress=_progress_printer(stack)
            )
        except backup.BackupError as exc:
            raise click.ClickException(str(exc)) from None
    for key in summary.missing:
        click.echo(f"warning: stored object {key} is named by a row but missing from the storage", err=True)
    click.echo(
        f"Backed up the {summary.database} database ({len(summary.tables)} tables, "
        f"{sum(summary.tables.values())} rows) and {summary.objects} file(s), {summary.bytes} bytes, to {output}."
    )


@hamaynk.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an instance that is not empty.")
@with_appcontext
def restore_command(source: str, force: bool) -> None:
    """Restore the archive SOURCE (from `hamaynk backup`) into this instance, which must be
    empty unless --force; every hash is checked before anything is written."""
    from contextlib import ExitStack

    from app.domain import backup
    from app.domain.storage import StorageError, get_storage
    from app.extensions import db

    db.session.remove()
    with ExitStack() as stack:
        try:
            summary = backup.restore(
                db.engine, get_storage(current_flask_app()), source, force=force, progress=_progress_printer(stack)
            )
        except (backup.BackupError, StorageError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"Restored the {summary.database} database ({len(summary.tables)} tables, "
        f"{sum(summary.tables.values())} rows) and {summary.objects} file(s), {summary.bytes} bytes, from {source}."
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(hamaynk)


def main() -> None:
    from app import create_app

    cli = FlaskGroup(create_app=lambda: create_app())
    cli.main(prog_name="hamaynk")
