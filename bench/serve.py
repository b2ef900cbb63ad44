"""The server the runner measures: ``python -m bench.serve URL PORT`` serves the app (bench
settings, bench/common.py) with waitress on 127.0.0.1, or ``--bare`` a Flask app with one
endpoint (the ceiling) under the very same server and threads. The app gets one page more
than it has, the signed-in empty page (``LAYOUT_PATH``): its layout and nothing else.

Queries per request are counted here, server-side, and returned in an ``X-Bench-Queries``
header: a SQLAlchemy ``before_cursor_execute`` listener counts the statements of the thread
serving the request. Only this bench wrapper installs it; the app itself has no such header.
"""

# "ready" on stdout is how the runner knows the server listens.
# ruff: noqa: T201
from __future__ import annotations

import argparse
import sys
import threading

THREADS = 4
HEADER = "X-Bench-Queries"


def counted(app):
    from flask import g
    from sqlalchemy import event

    from app.extensions import db

    local = threading.local()

    with app.app_context():
        engine = db.engine

    def on_execute(*_args, **_kwargs) -> None:
        local.count = getattr(local, "count", 0) + 1

    event.listen(engine, "before_cursor_execute", on_execute)

    @app.before_request
    def _reset() -> None:
        local.count = 0
        g.bench_counted = True

    @app.after_request
    def _header(response):
        response.headers[HEADER] = str(getattr(local, "count", 0))
        return response

    return app


# The signed-in empty page (bench/runner.py's second ceiling): the app's own layout — navbar,
# menu, language links, footer — for a signed-in member of staff, and no content.
LAYOUT_PATH = "/__bench/layout"


def with_layout_page(app):
    """Add the signed-in empty page to ``app`` (this benchmark's wrapper only; the app has no
    such page): what every staff page costs before its own content and queries."""
    from flask import abort, render_template
    from flask_login import current_user

    from app.extensions import current_appbuilder

    def layout() -> str:
        if not current_user.is_authenticated:
            abort(403)
        appbuilder = current_appbuilder()
        return render_template(appbuilder.base_template, appbuilder=appbuilder, title="layout")

    app.add_url_rule(LAYOUT_PATH, "bench_layout", layout)
    return app


def bare_app():
    from flask import Flask

    bare = Flask("bench_ceiling")

    @bare.route("/")
    def ceiling() -> str:
        return "<!doctype html><title>ceiling</title><p>ok</p>"

    return bare


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("database_url")
    parser.add_argument("port", type=int)
    parser.add_argument("--bare", action="store_true")
    args = parser.parse_args(argv)
    import waitress

    if args.bare:
        app = bare_app()
        options = {}
    else:
        from app.serve import server_options
        from bench.common import make_app

        app = with_layout_page(counted(make_app(args.database_url)))
        options = server_options(app)
    server = waitress.create_server(app, host="127.0.0.1", port=args.port, threads=THREADS, **options)
    print("ready", flush=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
