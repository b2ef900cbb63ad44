"""gunicorn's settings for Hamaynk (docs/deploy.md), read from the environment:

    gunicorn -c python:app.gunicorn_conf

``HAMAYNK_HOST``/``HAMAYNK_PORT`` (default 127.0.0.1:8000: the reverse proxy on the same
machine is the only client) are the address, the same variables the app checks its
``SECRET_KEY`` against. ``HAMAYNK_WEB_WORKERS`` is the number of worker processes (default
2 × cores + 1), ``HAMAYNK_WEB_THREADS`` the threads in each (default 1: sync workers),
``HAMAYNK_WEB_TIMEOUT`` the seconds a request may take before its worker is killed and
replaced (default 60). Any of gunicorn's own command-line options still overrides these.

No job runs in these processes: background and scheduled work runs in the separate worker
(``flask hamaynk worker``), so a scheduled task runs once however many web workers there are.
"""

from __future__ import annotations

import os
from typing import Any

wsgi_app = "app.wsgi:application"

bind = f"{os.environ.get('HAMAYNK_HOST', '127.0.0.1')}:{os.environ.get('HAMAYNK_PORT', '8000')}"
# The usual starting point: two per core keeps the cores busy while some workers wait on the
# database, plus one. Each worker holds its own database pool (SQLAlchemy's default: 5, and
# up to 10 more under load), so workers × 15 plus the job worker's must stay below
# PostgreSQL's max_connections (100 by default).
workers = int(os.environ.get("HAMAYNK_WEB_WORKERS") or 2 * (os.cpu_count() or 1) + 1)
# Sync workers (one request at a time each) are right behind a buffering proxy such as
# nginx, which receives slow uploads and slow readers itself; threads > 1 selects gthread.
threads = int(os.environ.get("HAMAYNK_WEB_THREADS") or 1)
timeout = int(os.environ.get("HAMAYNK_WEB_TIMEOUT") or 60)
# On SIGTERM (a deploy, a restart) requests in progress get this long to finish.
graceful_timeout = 30
keepalive = 5
# Replaced after this many requests (each at a slightly different count, so they are not all
# replaced at once): whatever a long-lived process accumulates is given back.
max_requests = 2000
max_requests_jitter = 200

# Not preloaded: each worker imports and builds the app after the fork, so no database
# connection, Redis connection, S3 client or thread is shared between processes (a pooled
# connection used from two processes corrupts both sides' traffic). Building the app takes a
# second or two per worker, paid at start and when a worker is replaced. If you preload anyway
# (--preload), post_fork below throws the inherited database pool away in each worker.
preload_app = False

# One line per request on stdout (the service manager's journal keeps it); errors on stderr.
# With a proxy in front, %(h)s is the proxy: the client's address is the forwarded one.
accesslog = "-"
errorlog = "-"
access_log_format = '%({x-forwarded-for}i)s %(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'

# In a container, add --worker-tmp-dir /dev/shm (docs/deploy.md): the workers' heartbeat files
# on an overlay file system can be slow enough for the arbiter to think a healthy worker hung.

# The client's address comes from X-Forwarded-For through the app's own setting
# (HAMAYNK_TRUSTED_PROXIES, app.wsgi), not from gunicorn: gunicorn only uses forwarded
# headers for the scheme. Its default (loopback only) is kept.


# gunicorn's own log settings cover its loggers only; the app's (app.web's unscoped-query
# errors, app.domain.storage's "storage is full", …) would reach stderr bare, without time or
# level, through Python's last-resort handler. post_fork gives them gunicorn's error-log form.
APP_LOG_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"


def _app_logging() -> None:
    import logging

    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()  # stderr, where errorlog "-" goes too
        handler.setFormatter(logging.Formatter(APP_LOG_FORMAT, "[%Y-%m-%d %H:%M:%S %z]"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


def post_fork(server: Any, worker: Any) -> None:
    """Each worker logs the app's warnings and errors with time, level and logger. With
    ``--preload`` the app (and its database engine) was built in the arbiter before the fork:
    each worker drops the inherited pool's connections without closing them (they belong to
    the parent) and opens its own on first use. Without preloading there is nothing yet."""
    import sys

    _app_logging()
    wsgi = sys.modules.get("app.wsgi")
    built = getattr(wsgi, "_built", None) or {}
    flask_app = built.get("app")
    if flask_app is None:
        return
    from app.extensions import db

    with flask_app.app_context():
        db.engine.dispose(close=False)
