"""Settings classes. Everything that differs between installs comes from the environment.

Our own keys are prefixed ``HAMAYNK_``; ``SECRET_KEY`` and ``DATABASE_URL`` keep their
conventional names because every hosting platform sets them that way.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("HAMAYNK_INSTANCE_DIR", BASE_DIR / "instance"))

# Refused by ProductionConfig: a deployment must bring its own.
DEFAULT_SECRET_KEY = "hamaynk-development-key-do-not-use-in-production"


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def _database_url(default_file: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Heroku-style URLs name the dialect "postgres"; SQLAlchemy wants the driver spelled out.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{INSTANCE_DIR / default_file}"


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = _database_url("hamaynk.sqlite3")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}

    # Flask-AppBuilder
    APP_NAME = "Hamaynk"
    APP_ICON = ""
    APP_THEME = ""
    AUTH_TYPE = 1  # AUTH_DB
    AUTH_ROLE_ADMIN = "System admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    FAB_SECURITY_MANAGER_CLASS = "app.security.HamaynkSecurityManager"
    # Permissions are written by `flask hamaynk sync-permissions`, never as a side effect of
    # starting a process: several app processes starting at once must not race on them.
    FAB_UPDATE_PERMS = False
    # Tables come from Alembic migrations only; FAB must not create its own behind their back.
    FAB_CREATE_DB = False
    FAB_ADD_SECURITY_VIEWS = True
    FAB_API_SWAGGER_UI = True
    FAB_BASE_TEMPLATE = "hamaynk/base.html"
    FAB_INDEX_VIEW = "app.admin.views.HomeView"
    FAB_PASSWORD_COMPLEXITY_ENABLED = False
    RATELIMIT_ENABLED = False

    # Flask-WTF: CSRF on every form.
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None

    # Werkzeug refuses larger request bodies with 413 before any view reads them (app.office
    # turns that into a translated page). One intake carries all its scans at once; a single
    # document may be up to 50 MB (app.domain.declarations.MAX_DOCUMENT_BYTES).
    MAX_CONTENT_LENGTH = int(os.environ.get("HAMAYNK_MAX_REQUEST_MB", "100")) * 1024 * 1024

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"

    # i18n: Armenian first.
    BABEL_DEFAULT_LOCALE = "hy"
    BABEL_DEFAULT_TIMEZONE = "Asia/Yerevan"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "app" / "translations")
    LANGUAGES = {
        "hy": {"flag": "am", "name": "Հայերեն"},
        "en": {"flag": "gb", "name": "English"},
        "ru": {"flag": "ru", "name": "Русский"},
    }

    # Plug-ins
    HAMAYNK_LOAD_ENTRYPOINTS = _bool("HAMAYNK_LOAD_ENTRYPOINTS", True)
    HAMAYNK_PLUGINS = _list("HAMAYNK_PLUGINS")  # extra modules, loaded by import path
    HAMAYNK_BLOCKED_PLUGINS = _list("HAMAYNK_BLOCKED_PLUGINS")
    HAMAYNK_SERVICE_DIRS = _list("HAMAYNK_SERVICE_DIRS", [str(INSTANCE_DIR / "services")])
    # In development and tests a broken plug-in stops the start; in production it is
    # disabled and shown on the admin "Plug-ins" page.
    HAMAYNK_STRICT_PLUGINS = _bool("HAMAYNK_STRICT_PLUGINS", True)

    HAMAYNK_SQLITE_WAL = True
    # A request that queries municipality-owned rows without app.domain.access: "raise"
    # (development, tests), "log" (production's default), or "off"; anything else stops the
    # start (app.web). Jobs and commands are not checked.
    HAMAYNK_SCOPE_CHECK = os.environ.get("HAMAYNK_SCOPE_CHECK", "raise")

    # Uploaded documents (app.domain.storage): "local" keeps them on this machine's disk;
    # "s3" puts them in S3-compatible object storage so several app processes share them.
    # S3 credentials come from the standard AWS_* variables (or the instance role), never
    # from this file.
    HAMAYNK_STORAGE = os.environ.get("HAMAYNK_STORAGE", "local")
    HAMAYNK_STORAGE_PATH = os.environ.get("HAMAYNK_STORAGE_PATH", str(INSTANCE_DIR / "documents"))
    HAMAYNK_S3_BUCKET = os.environ.get("HAMAYNK_S3_BUCKET", "")
    HAMAYNK_S3_ENDPOINT_URL = os.environ.get("HAMAYNK_S3_ENDPOINT_URL") or None
    HAMAYNK_S3_REGION = os.environ.get("HAMAYNK_S3_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None

    # REST API (app.api): tokens from POST /api/v1/security/login, signed with SECRET_KEY
    # (Flask-JWT-Extended's default). Short-lived: a leaked token is worth little for long.
    JWT_ACCESS_TOKEN_EXPIRES = _dt.timedelta(minutes=int(os.environ.get("HAMAYNK_JWT_MINUTES", "30")))
    HAMAYNK_API_MAX_PAGE_SIZE = int(os.environ.get("HAMAYNK_API_MAX_PAGE_SIZE", "100"))

    # Background jobs (app.jobs, Huey): "sqlite" runs embedded with its queue in
    # HAMAYNK_HUEY_PATH (default: instance/huey.sqlite3); "redis" shares one queue between
    # separate workers at HAMAYNK_REDIS_URL; "immediate" runs every task at once, in-process.
    HAMAYNK_JOBS = os.environ.get("HAMAYNK_JOBS", "sqlite")
    HAMAYNK_HUEY_PATH = os.environ.get("HAMAYNK_HUEY_PATH", "")
    HAMAYNK_REDIS_URL = os.environ.get("HAMAYNK_REDIS_URL", "redis://localhost:6379/0")
    # Crontab minute field of the escalation run ("*/15": every quarter of an hour).
    HAMAYNK_ESCALATION_MINUTES = os.environ.get("HAMAYNK_ESCALATION_MINUTES", "*/15")

    # Outgoing e-mail (notification delivery). Retries back off from the delay, doubling.
    HAMAYNK_SMTP_HOST = os.environ.get("HAMAYNK_SMTP_HOST", "localhost")
    HAMAYNK_SMTP_PORT = int(os.environ.get("HAMAYNK_SMTP_PORT", "25"))
    HAMAYNK_SMTP_USER = os.environ.get("HAMAYNK_SMTP_USER", "")
    HAMAYNK_SMTP_PASSWORD = os.environ.get("HAMAYNK_SMTP_PASSWORD", "")
    HAMAYNK_SMTP_STARTTLS = _bool("HAMAYNK_SMTP_STARTTLS", False)
    HAMAYNK_SMTP_TIMEOUT = float(os.environ.get("HAMAYNK_SMTP_TIMEOUT", "20"))
    # Where people reach this install; links in e-mails start with it.
    HAMAYNK_PUBLIC_URL = os.environ.get("HAMAYNK_PUBLIC_URL", "http://127.0.0.1:5000")
    HAMAYNK_MAIL_FROM = os.environ.get("HAMAYNK_MAIL_FROM", "hamaynk@localhost")
    HAMAYNK_NOTIFICATION_RETRIES = int(os.environ.get("HAMAYNK_NOTIFICATION_RETRIES", "12"))
    HAMAYNK_NOTIFICATION_RETRY_DELAY = int(os.environ.get("HAMAYNK_NOTIFICATION_RETRY_DELAY", "60"))


class DevelopmentConfig(Config):
    DEBUG = False  # the quick start serves through waitress; debug stays an explicit choice


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "hamaynk-test-key-long-enough-for-hs256-jwt"
    SQLALCHEMY_DATABASE_URI = os.environ.get("HAMAYNK_TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    HAMAYNK_LOAD_ENTRYPOINTS = False
    HAMAYNK_PLUGINS: list[str] = []
    HAMAYNK_SERVICE_DIRS: list[str] = []
    HAMAYNK_STRICT_PLUGINS = True
    HAMAYNK_JOBS = "immediate"


class ProductionConfig(Config):
    HAMAYNK_STRICT_PLUGINS = _bool("HAMAYNK_STRICT_PLUGINS", False)
    HAMAYNK_SCOPE_CHECK = os.environ.get("HAMAYNK_SCOPE_CHECK", "log")
    SESSION_COOKIE_SECURE = _bool("HAMAYNK_SECURE_COOKIES", True)

    @classmethod
    def check(cls, settings: dict) -> None:
        """Refuse settings that are fine on a laptop and dangerous on a server."""
        secret = settings.get("SECRET_KEY")
        if not secret or secret in {DEFAULT_SECRET_KEY, TestConfig.SECRET_KEY} or len(secret) < 32:
            raise RuntimeError(
                "Refusing to start in production without a SECRET_KEY of at least 32 "
                "characters of your own: set the SECRET_KEY environment variable."
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def from_env() -> type[Config]:
    name = os.environ.get("HAMAYNK_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"HAMAYNK_ENV={name!r} is not one of: {', '.join(sorted(CONFIGS))}") from None
