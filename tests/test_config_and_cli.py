from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy import func, select

import config as settings
from app import create_app
from app.extensions import db
from app.models import Department, Municipality, ServiceActivation, StaffProfile

ROOT = Path(__file__).resolve().parent.parent


def test_production_refuses_the_old_development_key():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(
            "production", overrides={"SECRET_KEY": settings.OLD_DEVELOPMENT_KEY, "HAMAYNK_LOAD_ENTRYPOINTS": False}
        )


def test_production_refuses_to_start_without_a_key_and_generates_none(tmp_path, monkeypatch):
    # Several production servers must share one key; a generated one would be theirs alone.
    monkeypatch.setattr(settings, "INSTANCE_DIR", tmp_path)
    with pytest.raises(RuntimeError, match="without a SECRET_KEY"):
        create_app("production", overrides={"SECRET_KEY": None, "HAMAYNK_LOAD_ENTRYPOINTS": False})
    assert not (tmp_path / settings.SECRET_KEY_FILE).exists()


def test_production_refuses_a_short_secret_key():
    with pytest.raises(RuntimeError, match="at least 32"):
        create_app("production", overrides={"SECRET_KEY": "short", "HAMAYNK_LOAD_ENTRYPOINTS": False})


def test_production_starts_with_a_real_secret_and_is_lenient_with_plugins(tmp_path):
    app = create_app(
        "production",
        overrides={
            "SECRET_KEY": "x" * 40,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.sqlite3'}",
            "HAMAYNK_LOAD_ENTRYPOINTS": False,
            "HAMAYNK_PLUGINS": ["no_such_module_anywhere"],
        },
    )
    record = app.extensions["hamaynk.plugins"].records["no_such_module_anywhere"]
    assert record.status == "disabled" and "cannot be imported" in record.error
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_without_a_secret_key_every_app_of_an_instance_signs_with_its_own_random_key(tmp_path):
    """Run as `dev.py run` runs it: development, no SECRET_KEY in the environment."""
    instance = tmp_path / "instance"
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "SECRET_KEY" and not name.startswith(("HAMAYNK_", "DATABASE_URL"))
    }
    env.update(
        HAMAYNK_ENV="development",
        HAMAYNK_INSTANCE_DIR=str(instance),
        HAMAYNK_LOAD_ENTRYPOINTS="0",
        HAMAYNK_JOBS="immediate",
    )
    two_apps = "from app import create_app; print(create_app().secret_key); print(create_app().secret_key)"
    result = subprocess.run([sys.executable, "-c", two_apps], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split()
    key_file = instance / settings.SECRET_KEY_FILE
    assert first == second == key_file.read_text().strip()
    assert len(first) >= 64 and not settings.weak_secret_key(first)
    if os.name == "posix":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in instance.iterdir() if p.name.startswith(".")] == []  # no temporary left
    # Another instance gets another key.
    assert settings.instance_secret_key(tmp_path / "elsewhere") != first


def test_processes_starting_together_agree_on_one_instance_key(tmp_path):
    instance = tmp_path / "instance"
    start = threading.Barrier(8)
    keys: list[str] = []

    def start_up() -> None:
        start.wait()
        keys.append(settings.instance_secret_key(instance))

    threads = [threading.Thread(target=start_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(p.name for p in instance.iterdir()) == [settings.SECRET_KEY_FILE]


def test_a_damaged_instance_key_is_a_clear_error_not_a_weak_key(tmp_path):
    (tmp_path / settings.SECRET_KEY_FILE).write_text("\n")
    with pytest.raises(RuntimeError, match="delete it to have a new one generated"):
        settings.instance_secret_key(tmp_path)


@pytest.mark.parametrize("key", [settings.OLD_DEVELOPMENT_KEY, settings.TEST_SECRET_KEY, "x" * 31])
@pytest.mark.parametrize("config_name", ["development", "test"])
def test_a_known_or_short_key_is_refused_on_any_address_but_loopback(config_name, key):
    config = settings.CONFIGS[config_name]
    for host in ("0.0.0.0", "::", "", "192.168.1.20", "office.example.am"):
        with pytest.raises(RuntimeError, match="Refusing to serve on"):
            config.check({"SECRET_KEY": key, "HAMAYNK_HOST": host})
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        config.check({"SECRET_KEY": key, "HAMAYNK_HOST": host})
    # A long key of one's own, or none (the instance's generated key), serves anywhere.
    for good in ("k" * 32, None):
        config.check({"SECRET_KEY": good, "HAMAYNK_HOST": "0.0.0.0"})


def test_the_app_refuses_the_old_key_when_dev_py_serves_the_network(monkeypatch):
    monkeypatch.setenv("HAMAYNK_HOST", "0.0.0.0")
    dev = _dev()
    assert dev.HOST == "0.0.0.0" and dev.app_env()["HAMAYNK_HOST"] == "0.0.0.0"
    with pytest.raises(RuntimeError, match=r"Refusing to serve on '0\.0\.0\.0'"):
        create_app(
            "development",
            overrides={
                "SECRET_KEY": settings.OLD_DEVELOPMENT_KEY,
                "HAMAYNK_HOST": dev.app_env()["HAMAYNK_HOST"],
                "HAMAYNK_LOAD_ENTRYPOINTS": False,
            },
        )
    monkeypatch.delenv("HAMAYNK_HOST")
    assert _dev().app_env()["HAMAYNK_HOST"] == "127.0.0.1"


def test_database_url_is_normalised_for_psycopg(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/db")
    assert settings._database_url("x") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    assert settings._database_url("x") == "postgresql+psycopg://u@h/db"


def test_unknown_environment_name_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HAMAYNK_ENV", "staging")
    with pytest.raises(RuntimeError, match="HAMAYNK_ENV='staging' is not one of"):
        settings.from_env()


def test_cli_plugins_lists_services(app):
    result = app.test_cli_runner().invoke(args=["hamaynk", "plugins"])
    assert result.exit_code == 0
    assert "residence_certificate" in result.output and "residence-certificate v1" in result.output


def test_cli_check_passes_on_good_plugins_and_fails_on_bad_files(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from app.cli import check_command

    folder = tmp_path / "services"
    folder.mkdir()
    monkeypatch.setenv("HAMAYNK_ENV", "test")
    monkeypatch.setattr(settings.TestConfig, "HAMAYNK_SERVICE_DIRS", [str(folder)])
    monkeypatch.setattr(settings.TestConfig, "HAMAYNK_PLUGINS", ["plugins.residence_certificate"])
    good = CliRunner().invoke(check_command)
    assert good.exit_code == 0, good.output
    assert "0 problem(s)" in good.output

    (folder / "bad.yaml").write_text(
        "key: bad-service\nversion: 1\ntitle: {hy: Վատ}\ndeadline_days: -2\nsteps:\n  - {key: a, title: {hy: Ա}, role: boss, days: 1}\n",
        encoding="utf-8",
    )
    bad = CliRunner().invoke(check_command)
    assert bad.exit_code == 1
    assert "ERROR file:bad.yaml" in bad.output
    assert "deadline_days -2" in bad.output and "unknown role 'boss'" in bad.output


def test_cli_demo_is_idempotent(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["hamaynk", "demo"])
    assert first.exit_code == 0, first.output
    assert "abovyan.clerk" in first.output and "[1/3] municipality Abovyan" in first.output

    def counts():
        with app.app_context():
            return tuple(
                db.session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (Municipality, Department, StaffProfile, ServiceActivation)
            )

    before = counts()
    second = runner.invoke(args=["hamaynk", "demo"])
    assert second.exit_code == 0, second.output
    assert counts() == before
    with app.app_context():
        abovyan = db.session.execute(select(Municipality).where(Municipality.code == "abovyan")).scalar_one()
        enabled = (
            db.session.execute(select(ServiceActivation).where(ServiceActivation.municipality_id == abovyan.id))
            .scalars()
            .all()
        )
        assert enabled and all(a.enabled for a in enabled)
        roles = {r.name for r in app.appbuilder.sm.find_user(username="abovyan.head").roles}
        assert roles == {"Head"}


def test_cli_create_admin(app):
    result = app.test_cli_runner().invoke(
        args=[
            "hamaynk",
            "create-admin",
            "--username",
            "root2",
            "--email",
            "root2@x.am",
            "--password",
            "a-long-password-1",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="root2")
        assert [r.name for r in user.roles] == ["System admin"]
    short = app.test_cli_runner().invoke(
        args=["hamaynk", "create-admin", "--username", "root3", "--email", "r3@x.am", "--password", "short"]
    )
    assert short.exit_code != 0 and "at least 10 characters" in short.output


# --- dev.py: the quick start's installer and test runner -------------------------------------


def _dev():
    spec = importlib.util.spec_from_file_location("hamaynk_dev", ROOT / "dev.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dev_test_runs_on_every_core_unless_told_otherwise():
    dev = _dev()
    assert dev.parallel([]) == ["-n", "auto"]
    assert dev.parallel(["tests/test_i18n.py", "-x"]) == ["-n", "auto", "tests/test_i18n.py", "-x"]
    for chosen in (["-n", "1"], ["-n2"], ["--numprocesses=3", "-k", "plugins"], ["-p", "no:xdist"], ["-pno:xdist"]):
        assert dev.parallel(chosen) == chosen


def test_check_lock_fails_on_any_difference_from_the_lock():
    lock_problems = _dev().lock_problems
    locked = {"flask": "3.1.0", "pip": "26.3", "babel": "2.17.0"}
    assert lock_problems(locked, dict(locked)) == []
    # Our own packages and what the venv module seeds but the lock leaves out are not extras.
    assert lock_problems(locked, {**locked, "hamaynk": "0.1.0", "hamaynk-tree-felling": "0.1.0", "wheel": "0.45"}) == []
    assert lock_problems(locked, {**locked, "flask": "3.1.1", "vulture": "2.16"}) == [
        "flask: locked 3.1.0, installed 3.1.1",
        "vulture: installed 2.16, not in the lock",
    ]
    # A seeded package the lock holds must be at its locked version, like any other.
    assert lock_problems(locked, {"flask": "3.1.0", "pip": "24.0"}) == [
        "babel: locked 2.17.0, not installed",
        "pip: locked 26.3, installed 24.0",
    ]


def _locked_within_range(requirement: Requirement, locked: dict[str, str]) -> bool:
    version = locked.get(canonicalize_name(requirement.name))
    return version is not None and requirement.specifier.contains(version, prereleases=True)


def test_the_lock_pins_every_declared_dependency_within_its_range():
    """Fails when pyproject.toml changed without `python3 dev.py lock`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    locked = _dev().locked_versions()
    applicable = [r for r in declared if r.marker is None or r.marker.evaluate()]
    assert len(applicable) > 30
    stale = [str(r) for r in applicable if not _locked_within_range(r, locked)]
    assert stale == [], f"requirements.lock is out of date for {stale}: run `python3 dev.py lock`"


def test_demo_staffs_every_step_of_every_service_it_enables(app):
    """In the demo no application waits in nobody's inbox: for every enabled service, every
    step (whatever route the data takes) has an active person with the step's role in the
    step's department."""
    from app.domain.roles import ROLE_BY_KEY
    from app.plugins import runtime as plugin_runtime

    result = app.test_cli_runner().invoke(args=["hamaynk", "demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        registry = plugin_runtime.registry(app)
        missing = []
        for municipality in db.session.execute(select(Municipality)).scalars():
            departments = {d.code: d.id for d in municipality.departments}
            people = {
                (role.name, profile.department_id)
                for profile in db.session.execute(
                    select(StaffProfile).where(StaffProfile.municipality_id == municipality.id)
                ).scalars()
                if profile.user.active
                for role in profile.user.roles
            }
            activations = db.session.execute(
                select(ServiceActivation).where(
                    ServiceActivation.municipality_id == municipality.id, ServiceActivation.enabled.is_(True)
                )
            ).scalars()
            for activation in activations:
                for step in registry.get(activation.service_key).service.steps:
                    department = departments.get(step.department) if step.department else None
                    if (ROLE_BY_KEY[step.role], department) not in people:
                        missing.append(
                            (municipality.code, activation.service_key, step.key, step.role, step.department)
                        )
    assert missing == []


def test_demo_leaves_other_municipalities_builder_services_alone(app):
    """A service built in Abovyan's admin UI is Abovyan's: the demo seeder must not try to
    enable it elsewhere (it used to stop with an ActivationError)."""
    from app.plugins import builder_services

    runner = app.test_cli_runner()
    assert runner.invoke(args=["hamaynk", "demo"]).exit_code == 0
    with app.app_context():
        abovyan = db.session.execute(select(Municipality).where(Municipality.code == "abovyan")).scalar_one()
        builder_services.save(
            db.session,
            {
                "key": "abovyan-market-stall",
                "title": {"hy": "Տոնավաճառի տաղավար", "en": "Market stall"},
                "fields": [{"name": "goods", "type": "text", "label": {"hy": "Ապրանք"}}],
                "steps": [{"key": "review", "title": {"hy": "Ստուգում"}, "role": "specialist", "days": 2}],
            },
            mode=builder_services.CREATE,
            owner_municipality_id=abovyan.id,
            actor_id=None,
            viewer_municipality_ids=None,
            app=app,
        )
        db.session.commit()
    # As a fresh `flask hamaynk demo` process would: builder services load at start-up.
    builder_services.refresh(app, force=True)
    again = runner.invoke(args=["hamaynk", "demo"])
    assert again.exit_code == 0, again.output
    with app.app_context():
        where = db.session.execute(
            select(Municipality.code)
            .join(ServiceActivation, ServiceActivation.municipality_id == Municipality.id)
            .where(ServiceActivation.service_key == "abovyan-market-stall")
        ).scalars()
        assert set(where) <= {"abovyan"}


def test_demo_enables_services_only_when_it_first_creates_a_municipality(app):
    """Issue 14 item 10: a plug-in installed after the demo was seeded is not switched on by the
    next `dev.py run` (which runs `flask hamaynk demo` on every start) anywhere."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["hamaynk", "demo"]).exit_code == 0
    with app.app_context():
        gyumri = db.session.execute(select(Municipality).where(Municipality.code == "gyumri")).scalar_one()
        gyumri_id = gyumri.id
        # As if residence-certificate were installed only now: Gyumri has never had it.
        row = db.session.execute(
            select(ServiceActivation).where(
                ServiceActivation.municipality_id == gyumri_id,
                ServiceActivation.service_key == "residence-certificate",
            )
        ).scalar_one()
        db.session.delete(row)
        db.session.commit()
    again = runner.invoke(args=["hamaynk", "demo"])
    assert again.exit_code == 0, again.output
    assert "services of Gyumri left as its administrator set them" in again.output
    with app.app_context():
        assert (
            db.session.execute(
                select(ServiceActivation.id).where(
                    ServiceActivation.municipality_id == gyumri_id,
                    ServiceActivation.service_key == "residence-certificate",
                )
            ).first()
            is None
        )


def test_first_demo_seeding_skips_a_builder_service_of_another_municipality(app):
    """Issue 14 item 3: a builder service that exists before the demo municipalities do
    belongs to its owner (here the test's alpha) and is enabled nowhere else."""
    from app.plugins import builder_services

    with app.app_context():
        builder_services.save(
            db.session,
            {
                "key": "alpha-market-stall",
                "title": {"hy": "Տոնավաճառի տաղավար", "en": "Market stall"},
                "steps": [{"key": "review", "title": {"hy": "Ստուգում"}, "role": "specialist", "days": 2}],
            },
            mode=builder_services.CREATE,
            owner_municipality_id=app.seeded["alpha"]["id"],
            actor_id=None,
            viewer_municipality_ids=None,
            app=app,
        )
        db.session.commit()
    builder_services.refresh(app, force=True)
    result = app.test_cli_runner().invoke(args=["hamaynk", "demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        where = db.session.execute(
            select(Municipality.code)
            .join(ServiceActivation, ServiceActivation.municipality_id == Municipality.id)
            .where(ServiceActivation.service_key == "alpha-market-stall")
        ).scalars()
        assert list(where) == []
        # ...while the demo municipalities did get the plug-ins' services on this first seeding.
        assert db.session.execute(
            select(ServiceActivation.id)
            .join(Municipality, ServiceActivation.municipality_id == Municipality.id)
            .where(Municipality.code == "dilijan", ServiceActivation.enabled.is_(True))
        ).first()
