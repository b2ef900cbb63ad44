"""Settings classes. Everything that differs between installs comes from the environment.

Our own keys are prefixed ``HAMAYNK_``; ``SECRET_KEY`` and ``DATABASE_URL`` keep their
conventional names because every hosting platform sets them that way.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import ipaddress
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("HAMAYNK_INSTANCE_DIR", BASE_DIR / "instance"))

# Keys anyone can read in this repository, so anything signed with them can be forged: the
# one earlier versions signed with when none was configured, and the test suite's.
OLD_DEVELOPMENT_KEY = "hamaynk-development-key-do-not-use-in-production"
TEST_SECRET_KEY = "hamaynk-test-key-long-enough-for-hs256-jwt"
KNOWN_SECRET_KEYS = frozenset({OLD_DEVELOPMENT_KEY, TEST_SECRET_KEY})
MIN_SECRET_KEY_LENGTH = 32
# Where an install without SECRET_KEY keeps the random key generated for it.
SECRET_KEY_FILE = "secret_key"
# The password of the self-signed demo signing certificates (development only; anyone can
# read it here, which is fine for a certificate nobody trusts).
DEMO_SIGNING_PASSWORD = "hamaynk-demo-signing"


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


def weak_secret_key(key: str | None) -> bool:
    """Missing, public (:data:`KNOWN_SECRET_KEYS`) or too short to resist guessing."""
    return not key or key in KNOWN_SECRET_KEYS or len(key) < MIN_SECRET_KEY_LENGTH


def is_loopback(host: str) -> bool:
    """Whether a server bound to ``host`` is reachable from this machine only. An empty host,
    0.0.0.0, :: and host names other than localhost (which may resolve to anything) are not."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def instance_secret_key(instance_dir: Path) -> str:
    """This instance's own random key, generated on first use into ``instance_dir`` (readable
    by its owner only). Every process sharing the folder signs with it, and restarts keep
    everyone signed in."""
    path = Path(instance_dir) / SECRET_KEY_FILE
    if not path.exists():
        _create_secret_key(path)
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(
            f"{path} does not hold a secret key of at least {MIN_SECRET_KEY_LENGTH} characters: "
            "delete it to have a new one generated, or set the SECRET_KEY environment variable."
        )
    return key


def _create_secret_key(path: Path) -> None:
    # Written whole into a private temporary file (mkstemp: mode 0600) and then hard-linked
    # into place, which fails if the name exists: when two processes start at once, the first
    # link wins, the other reads the winner's key, and no one ever reads half a key.
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{SECRET_KEY_FILE}-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


class Config:
    # Signs sessions, JWTs and inbox cursors. Unset, the instance gets a random key of its
    # own (instance_secret_key, from app.create_app); production refuses to start instead.
    SECRET_KEY = os.environ.get("SECRET_KEY") or None
    # The address the web server listens on, as whoever starts it says (dev.py sets it).
    # A weak SECRET_KEY is refused in every mode unless this is a loopback address; a server
    # started otherwise (gunicorn -b ...) is only checked if it is set to match.
    HAMAYNK_HOST = os.environ.get("HAMAYNK_HOST", "127.0.0.1")
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
    # Staff passwords (every Flask-AppBuilder password form and the staff screen) are judged
    # like citizens' (HAMAYNK_PASSWORD_MIN_LENGTH, HAMAYNK_PASSWORD_MIN_SCORE below): the
    # validator is app.admin.security_views.staff_password_policy, set by app.admin.
    FAB_PASSWORD_COMPLEXITY_ENABLED = True
    # Flask-Limiter (app.extensions.limiter; Flask-AppBuilder's own limiter has no limits set).
    # One process: memory. Several processes: the same Redis for all, e.g.
    # HAMAYNK_RATELIMIT_STORAGE_URI=redis://localhost:6379/1.
    RATELIMIT_ENABLED = _bool("HAMAYNK_RATELIMIT", True)
    RATELIMIT_STORAGE_URI = os.environ.get("HAMAYNK_RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_HEADERS_ENABLED = True
    # The public status look-up and claiming a walk-in application (app.portal.mine), in
    # Flask-Limiter's notation: every attempt per client address; failed attempts per tracking
    # number (whoever makes them: the window must pass before anyone looks that number up
    # again) and per account claiming (the owner, signed in, is not held up by strangers).
    HAMAYNK_LIMIT_LOOKUP = os.environ.get("HAMAYNK_LIMIT_LOOKUP", "5 per minute; 30 per hour")
    HAMAYNK_LIMIT_LOOKUP_NUMBER = os.environ.get("HAMAYNK_LIMIT_LOOKUP_NUMBER", "10 per hour")
    HAMAYNK_LIMIT_CLAIM = os.environ.get("HAMAYNK_LIMIT_CLAIM", "5 per 10 minutes; 20 per day")
    # Public verification of issued documents (app.portal.verify): every look-up of a code's
    # page and every file checked there, per client address.
    HAMAYNK_LIMIT_VERIFY = os.environ.get("HAMAYNK_LIMIT_VERIFY", "20 per minute; 200 per hour")

    # Flask-WTF: CSRF on every form.
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None

    # Werkzeug refuses larger request bodies with 413 before any view reads them (app.office
    # turns that into a translated page). One intake carries all its scans at once; a single
    # document may be up to 50 MB (app.domain.declarations.MAX_DOCUMENT_BYTES).
    MAX_CONTENT_LENGTH = int(os.environ.get("HAMAYNK_MAX_REQUEST_MB", "100")) * 1024 * 1024
    # Online applications (app.domain.drafts): a citizen's draft, and the files uploaded for
    # it, are kept this many days after it was last saved, then purged by the job worker.
    HAMAYNK_DRAFT_DAYS = int(os.environ.get("HAMAYNK_DRAFT_DAYS", "90"))
    # Stored files no row names (left by a killed process) and left-over ".tmp-*" parts are
    # removed by the orphan sweep (app.domain.sweep) once older than this many hours.
    HAMAYNK_ORPHAN_GRACE_HOURS = float(os.environ.get("HAMAYNK_ORPHAN_GRACE_HOURS", "24"))
    # Audit events are kept this many days, then pruned (app.domain.audit.prune; the GovStack
    # Registration Building Block asks for one year).
    HAMAYNK_AUDIT_RETENTION_DAYS = int(os.environ.get("HAMAYNK_AUDIT_RETENTION_DAYS", "365"))
    # A verified residency (app.domain.participation.residency) holds this many days after a
    # clerk or a registry plug-in last verified it; then the citizen has it verified again.
    HAMAYNK_RESIDENCY_VALID_DAYS = int(os.environ.get("HAMAYNK_RESIDENCY_VALID_DAYS", "365"))
    # At most this many residents are told per run of the every-minute announcements job
    # (app.domain.participation.announcements); a large audience is told over several runs.
    HAMAYNK_ANNOUNCE_PER_RUN = int(os.environ.get("HAMAYNK_ANNOUNCE_PER_RUN", "5000"))

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Security headers (app.headers). HSTS: seconds browsers keep to HTTPS (0: not sent; on in
    # production), sent on HTTPS requests, or on every request when a reverse proxy terminates
    # TLS in front of us (HAMAYNK_TLS_UPSTREAM). HAMAYNK_CSP_FORM_ACTION: origins, besides this
    # site, that forms may post or be redirected to (an outside payment gateway's, say).
    HAMAYNK_HSTS_SECONDS = int(os.environ.get("HAMAYNK_HSTS_SECONDS", "0"))
    HAMAYNK_TLS_UPSTREAM = _bool("HAMAYNK_TLS_UPSTREAM", False)
    # How many reverse proxies stand in front of the app server started through app.wsgi
    # (gunicorn, docs/deploy.md): the client's address is read from that many entries of
    # X-Forwarded-For, counted from the right, so rate limits count per client and not per
    # proxy. 0 (the default) trusts no header: set it only when every request passes the proxy.
    HAMAYNK_TRUSTED_PROXIES = int(os.environ.get("HAMAYNK_TRUSTED_PROXIES", "0"))
    HAMAYNK_CSP_FORM_ACTION = _list("HAMAYNK_CSP_FORM_ACTION")

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
    # A refresh token is spent on use (a new one comes with each refresh) and dies with its
    # session (sign-out, password change, deactivation); unused, it expires after these days.
    JWT_REFRESH_TOKEN_EXPIRES = _dt.timedelta(days=int(os.environ.get("HAMAYNK_JWT_REFRESH_DAYS", "30")))
    # Sign-ins are server-side sessions (app.domain.sessions): a browser session unused this
    # many minutes ends. Staff (any role but Citizen) short; citizens longer (their drafts are
    # saved, and public computers are common). 0: no idle limit.
    HAMAYNK_STAFF_IDLE_MINUTES = int(os.environ.get("HAMAYNK_STAFF_IDLE_MINUTES", "30"))
    HAMAYNK_CITIZEN_IDLE_MINUTES = int(os.environ.get("HAMAYNK_CITIZEN_IDLE_MINUTES", "120"))
    HAMAYNK_API_MAX_PAGE_SIZE = int(os.environ.get("HAMAYNK_API_MAX_PAGE_SIZE", "100"))
    # How often (seconds) a process looks for builder services saved by another process
    # (app.plugins.builder_services); 0: on every request, at one query each.
    HAMAYNK_BUILDER_RECHECK_SECONDS = float(os.environ.get("HAMAYNK_BUILDER_RECHECK_SECONDS", "2"))
    # How old (seconds) the staffing facts behind the inbox's "nobody can act on these steps"
    # banner may be (app.domain.activations.staffing_gaps): a change made in this process
    # shows at once, one made by another process within this delay; 0: read on every view,
    # at one query each. The banner is advice: every act checks who may act, live.
    HAMAYNK_STAFFING_RECHECK_SECONDS = float(os.environ.get("HAMAYNK_STAFFING_RECHECK_SECONDS", "30"))

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
    # Signing issued documents (app.domain.signing): a PKCS#12 file per municipality,
    # <HAMAYNK_SIGNING_DIR>/<municipality code>.p12, opened with the password in
    # HAMAYNK_SIGNING_PASSWORD_<CODE> (the code upper-cased) or else HAMAYNK_SIGNING_PASSWORD,
    # both from the environment. No file (or an empty folder setting): documents are issued
    # unsigned. `flask hamaynk demo` makes self-signed demo certificates here.
    HAMAYNK_SIGNING_DIR = os.environ.get("HAMAYNK_SIGNING_DIR", str(INSTANCE_DIR / "signing"))
    HAMAYNK_SIGNING_PASSWORD = os.environ.get("HAMAYNK_SIGNING_PASSWORD", "")
    HAMAYNK_MAIL_FROM = os.environ.get("HAMAYNK_MAIL_FROM", "hamaynk@localhost")
    HAMAYNK_NOTIFICATION_RETRIES = int(os.environ.get("HAMAYNK_NOTIFICATION_RETRIES", "12"))
    HAMAYNK_NOTIFICATION_RETRY_DELAY = int(os.environ.get("HAMAYNK_NOTIFICATION_RETRY_DELAY", "60"))
    # A delivery attempt's lease on its row: a worker killed mid-delivery leaves a row the
    # minute sweep takes back this long after its claim. An uncertain row (the worker died while
    # handing the message to the mail server) is sent once more after HAMAYNK_NOTIFY_UNCERTAIN_SECONDS,
    # with the same Message-ID; 0 marks it failed instead (docs/notifications.md).
    HAMAYNK_NOTIFY_LEASE_SECONDS = float(os.environ.get("HAMAYNK_NOTIFY_LEASE_SECONDS", "120"))
    HAMAYNK_NOTIFY_UNCERTAIN_SECONDS = float(os.environ.get("HAMAYNK_NOTIFY_UNCERTAIN_SECONDS", "21600"))
    # How long the API replays the answer to a request sent with an Idempotency-Key.
    HAMAYNK_IDEMPOTENCY_HOURS = float(os.environ.get("HAMAYNK_IDEMPOTENCY_HOURS", "24"))
    # How long the unsubscribe link in an e-mail of an optional notice works (docs/notifications.md).
    HAMAYNK_UNSUBSCRIBE_DAYS = int(os.environ.get("HAMAYNK_UNSUBSCRIBE_DAYS", "90"))

    # Citizen accounts (app.domain.accounts). Passwords: a minimum length and zxcvbn's score
    # (0-4) against the person's own name and address; no composition rules. Links in
    # e-mails stop working after these many seconds.
    HAMAYNK_PASSWORD_MIN_LENGTH = int(os.environ.get("HAMAYNK_PASSWORD_MIN_LENGTH", "10"))
    HAMAYNK_PASSWORD_MIN_SCORE = int(os.environ.get("HAMAYNK_PASSWORD_MIN_SCORE", "3"))
    HAMAYNK_VERIFY_MAX_AGE = int(os.environ.get("HAMAYNK_VERIFY_MAX_AGE", str(3 * 24 * 3600)))
    HAMAYNK_RESET_MAX_AGE = int(os.environ.get("HAMAYNK_RESET_MAX_AGE", "3600"))
    # Rate limits of the account pages (Flask-Limiter's notation), each counted per client
    # address and, separately, per e-mail address typed in (app.limits). HAMAYNK_LIMIT_LOGIN
    # counts failed sign-ins on every sign-in path together: staff /login/, the portal and the API.
    HAMAYNK_LIMIT_LOGIN = os.environ.get("HAMAYNK_LIMIT_LOGIN", "10 per minute; 100 per hour")
    HAMAYNK_LIMIT_REGISTER = os.environ.get("HAMAYNK_LIMIT_REGISTER", "5 per minute; 50 per hour")
    HAMAYNK_LIMIT_RESET = os.environ.get("HAMAYNK_LIMIT_RESET", "5 per minute; 20 per hour")
    HAMAYNK_LIMIT_VERIFY_RESEND = os.environ.get("HAMAYNK_LIMIT_VERIFY_RESEND", "3 per minute; 20 per hour")
    HAMAYNK_LIMIT_IDENTITY = os.environ.get("HAMAYNK_LIMIT_IDENTITY", "20 per minute; 200 per hour")
    # Sign-in codes of the second factor (app.admin.login): wrong codes per client address and
    # per account waiting for its code. A sign-in waits for its code this many seconds (and
    # allows 5 wrong ones). HAMAYNK_REQUIRE_ADMIN_TOTP: system administrators must use a second
    # factor (municipal administrators: when their municipality switches it on).
    HAMAYNK_LIMIT_SECOND_FACTOR = os.environ.get("HAMAYNK_LIMIT_SECOND_FACTOR", "5 per 5 minutes; 20 per day")
    # Links from e-mails (verify an address, reset a password, unsubscribe): links that do not
    # work, per client address (they are signed, so this only stops a flood of guesses).
    HAMAYNK_LIMIT_LINKS = os.environ.get("HAMAYNK_LIMIT_LINKS", "20 per minute; 200 per hour")
    HAMAYNK_SECOND_FACTOR_WINDOW = int(os.environ.get("HAMAYNK_SECOND_FACTOR_WINDOW", "300"))
    HAMAYNK_REQUIRE_ADMIN_TOTP = _bool("HAMAYNK_REQUIRE_ADMIN_TOTP", False)
    # OpenID Connect identity providers (docs/identity.md): a JSON list of provider settings,
    # e.g. [{"key": "eid", "label": "ID card", "issuer": "https://...", "client_id": "...",
    # "client_secret": "...", "verifies_identity": true, "psn_claim": "psn"}].
    HAMAYNK_OIDC_PROVIDERS = os.environ.get("HAMAYNK_OIDC_PROVIDERS", "")

    # Payments (app.domain.payments). The "test" provider is a pretend online gateway served
    # by this app ("Test payments — no money moves"): on in development, demos and tests, off
    # in production. Its callbacks are signed with HAMAYNK_TEST_GATEWAY_KEY, derived from
    # SECRET_KEY when empty; callbacks older than the window (seconds) are refused.
    HAMAYNK_TEST_PAYMENTS = _bool("HAMAYNK_TEST_PAYMENTS", True)
    HAMAYNK_TEST_GATEWAY_KEY = os.environ.get("HAMAYNK_TEST_GATEWAY_KEY", "")
    HAMAYNK_TEST_GATEWAY_WINDOW = int(os.environ.get("HAMAYNK_TEST_GATEWAY_WINDOW", "300"))

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> None:
        """Refuse a key anyone could forge sessions with on a server others can reach."""
        key, host = settings.get("SECRET_KEY"), settings.get("HAMAYNK_HOST", "127.0.0.1")
        if key and weak_secret_key(key) and not is_loopback(host):
            raise RuntimeError(
                f"Refusing to serve on {host!r} with a known SECRET_KEY or one shorter than "
                f"{MIN_SECRET_KEY_LENGTH} characters: set SECRET_KEY to a long random value of "
                "your own, or unset it to use this instance's generated key."
            )


class DevelopmentConfig(Config):
    DEBUG = False  # the quick start serves through waitress; debug stays an explicit choice
    # The password of the self-signed demo certificates `flask hamaynk demo` makes, so the
    # quick start issues signed documents out of the box. Never a real certificate's.
    HAMAYNK_SIGNING_PASSWORD = os.environ.get("HAMAYNK_SIGNING_PASSWORD", DEMO_SIGNING_PASSWORD)


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = TEST_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = os.environ.get("HAMAYNK_TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    HAMAYNK_LOAD_ENTRYPOINTS = False
    HAMAYNK_PLUGINS: list[str] = []
    HAMAYNK_SERVICE_DIRS: list[str] = []
    HAMAYNK_STRICT_PLUGINS = True
    HAMAYNK_JOBS = "immediate"
    HAMAYNK_TEST_PAYMENTS = True
    # Unsigned unless a test gives a folder of certificates (never the instance's own).
    HAMAYNK_SIGNING_DIR = ""
    # Query counts must not depend on how long a test ran: no timed look for builder services
    # saved elsewhere (a save in this process is still seen on the next request).
    HAMAYNK_BUILDER_RECHECK_SECONDS = 3600.0
    # Likewise the inbox's staffing facts (a change in this process is still seen at once).
    HAMAYNK_STAFFING_RECHECK_SECONDS = 3600.0


class ProductionConfig(Config):
    HAMAYNK_STRICT_PLUGINS = _bool("HAMAYNK_STRICT_PLUGINS", False)
    HAMAYNK_TEST_PAYMENTS = _bool("HAMAYNK_TEST_PAYMENTS", False)
    HAMAYNK_SCOPE_CHECK = os.environ.get("HAMAYNK_SCOPE_CHECK", "log")
    SESSION_COOKIE_SECURE = _bool("HAMAYNK_SECURE_COOKIES", True)
    HAMAYNK_HSTS_SECONDS = int(os.environ.get("HAMAYNK_HSTS_SECONDS", str(365 * 24 * 3600)))

    @classmethod
    def check(cls, settings: Mapping[str, Any]) -> None:
        """Refuse settings that are fine on a laptop and dangerous on a server. Several
        servers share one key, so production never generates one."""
        if weak_secret_key(settings.get("SECRET_KEY")):
            raise RuntimeError(
                f"Refusing to start in production without a SECRET_KEY of at least {MIN_SECRET_KEY_LENGTH} "
                "characters of your own: set the SECRET_KEY environment variable."
            )
        super().check(settings)


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
