"""``flask hamaynk …`` commands (also available as the ``hamaynk`` script)."""

from __future__ import annotations

import sys

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


@hamaynk.command("check", with_appcontext=False)
def check_command() -> None:
    """Validate all plug-ins and definition files; exit 1 on any problem."""
    import config as settings
    from app.domain.declarations import LANGUAGES
    from app.plugins.host import DISABLED, build_plugin_host

    cfg = settings.from_env()
    values = {k: getattr(cfg, k) for k in dir(cfg) if k.isupper()}
    values["HAMAYNK_STRICT_PLUGINS"] = False  # collect every problem instead of stopping at the first
    host = build_plugin_host(values)
    problems = 0
    for record in sorted(host.records.values(), key=lambda r: r.name):
        if record.status == DISABLED:
            problems += 1
            click.echo(f"ERROR {record.name} ({record.origin}): {record.error}", err=True)
    for registered in host.registry.all():
        missing = [lang for lang in LANGUAGES if lang not in registered.service.title]
        if missing:
            click.echo(
                f"warning: service {registered.key!r} v{registered.version} ({registered.plugin}) has no title in {missing}"
            )
    active = sum(1 for r in host.records.values() if r.status == "active")
    click.echo(f"{active} plug-in(s) active, {len(host.registry)} service version(s), {problems} problem(s)")
    if problems:
        sys.exit(1)


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


def init_app(app: Flask) -> None:
    app.cli.add_command(hamaynk)


def main() -> None:
    from app import create_app

    cli = FlaskGroup(create_app=lambda: create_app())
    cli.main(prog_name="hamaynk")
