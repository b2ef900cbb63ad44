"""What the generator and the runner share: the app they build, the accounts they create and
sign in with, and the deterministic secrets that let the runner find what the generator made.

Nothing here reaches into the app's query code: the runner measures pages over HTTP and
compares them with raw SQL of its own, so changes to indexes, caches or the inbox's queries
show up as numbers, never as a broken benchmark.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.metadata as metadata
import os
import tempfile
from pathlib import Path
from typing import Any

# Every bench account signs in with this password (the hash is computed once per run).
PASSWORD = "bench-password-2026"  # noqa: S105 (public on purpose, like the demo's)
# Long enough for production's checks; public, so never for anything but a loopback bench.
SECRET_KEY = "hamaynk-bench-secret-key-only-for-loopback-benchmarks"  # noqa: S105

# Ten municipalities of skewed sizes (code, tracking prefix, Armenian name, share of the
# applications): the largest holds ~40%.
MUNICIPALITIES: list[tuple[str, str, str, float]] = [
    ("yerevan-kentron", "KEN", "Կենտրոն", 0.40),
    ("gyumri", "GYU", "Գյումրի", 0.15),
    ("vanadzor", "VAN", "Վանաձոր", 0.10),
    ("abovyan", "ABO", "Աբովյան", 0.08),
    ("hrazdan", "HRA", "Հրազդան", 0.07),
    ("ejmiatsin", "EJM", "Էջմիածին", 0.06),
    ("kapan", "KAP", "Կապան", 0.05),
    ("dilijan", "DIL", "Դիլիջան", 0.04),
    ("goris", "GOR", "Գորիս", 0.03),
    ("jermuk", "JER", "Ջերմուկ", 0.02),
]


def builtin_plugins() -> list[str]:
    """Import paths of the built-in services, from hamaynk's own entry points (as the test
    helpers find them), so the bench serves every built-in service and nothing else."""
    eps = metadata.entry_points(group="hamaynk")
    return sorted(
        ep.value for ep in eps if ep.dist is not None and ep.dist.name == "hamaynk" and ep.value.startswith("plugins.")
    )


def normalize_url(url: str) -> str:
    """A SQLite path or any PostgreSQL spelling, as SQLAlchemy wants it."""
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def workdir_for(url: str) -> Path:
    """Files that belong to a generated database (documents, the job queue): next to a SQLite
    file, or in <temporary folder>/hamaynk-bench/<database name> for PostgreSQL (never in the
    source tree)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if is_sqlite(url):
        path = Path(parsed.database or "bench.sqlite3").resolve()
        return path.parent / (path.name + ".files")
    return Path(tempfile.gettempdir()) / "hamaynk-bench" / (parsed.database or "bench")


def settings(url: str, **extra: Any) -> dict[str, Any]:
    """The production configuration with what a loopback benchmark needs changed, and why:
    plain-HTTP cookies (no TLS on 127.0.0.1), no rate limits (the runner sends thousands of
    requests from one address), no CSRF tokens (the runner posts forms without scraping them;
    the check costs microseconds), only the built-in services, jobs queued and never run."""
    work = workdir_for(url)
    config = {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": SECRET_KEY,
        "SESSION_COOKIE_SECURE": False,
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        "HAMAYNK_PLUGINS": builtin_plugins(),
        "HAMAYNK_LOAD_ENTRYPOINTS": False,
        "HAMAYNK_SERVICE_DIRS": [],
        "HAMAYNK_STORAGE": "local",
        "HAMAYNK_STORAGE_PATH": str(work / "documents"),
        "HAMAYNK_JOBS": "sqlite",
        "HAMAYNK_HUEY_PATH": str(work / "huey.sqlite3"),
        "HAMAYNK_SIGNING_DIR": "",
        "HAMAYNK_HOST": "127.0.0.1",
    }
    config.update(extra)
    return config


def make_app(url: str, **extra: Any):
    from app import create_app

    work = workdir_for(url)
    (work / "documents").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HAMAYNK_INSTANCE_DIR", str(work / "instance"))
    return create_app("production", overrides=settings(url, **extra))


def access_code(seed: int, application_id: int) -> str:
    """The access code of generated application ``application_id``: derived from the seed, so
    the runner can look any application up without the generator keeping a list."""
    digest = hmac.new(f"bench-{seed}".encode(), str(application_id).encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


def access_hash(code: str) -> str:
    # The stored form (app.domain.tracking.hash_access_secret): sha256 of the code.
    return "sha256$" + hashlib.sha256(code.encode("utf-8")).hexdigest()
