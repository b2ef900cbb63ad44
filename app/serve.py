"""Serve Hamaynk with waitress, the server's own body limit taken from the app's setting.

    python -m app.serve [--host 127.0.0.1] [--port 5000] [--threads 8]

Werkzeug applies ``MAX_CONTENT_LENGTH`` only once a view reads the body, and by then waitress
has already buffered it: up to 1 GiB by default, from anyone, signed in or not. Waitress's
``max_request_body_size`` refuses a larger declared body (413) as soon as the headers are in,
and a chunked one as soon as it passes the limit, before the app ever sees it. Both limits come
from the one setting (``HAMAYNK_MAX_REQUEST_MB``), so they cannot drift apart.

``waitress-serve --call app:create_app`` has a ``--max-request-body-size`` option, but it cannot
read the app's configuration; use this module instead (``dev.py run`` does).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Flask


def body_limit(config: Mapping[str, Any]) -> int | None:
    """Waitress's ``max_request_body_size`` for an app with this configuration: just above
    ``MAX_CONTENT_LENGTH`` (waitress refuses a body *at* its limit, Werkzeug only one above),
    or ``None`` (waitress's default) where the app sets no limit."""
    limit = config.get("MAX_CONTENT_LENGTH")
    return int(limit) + 1 if limit else None


def server_options(app: Flask) -> dict[str, Any]:
    """Keyword arguments for ``waitress.serve``/``waitress.create_server`` that this app needs."""
    limit = body_limit(app.config)
    return {"max_request_body_size": limit} if limit is not None else {}


def main(argv: Sequence[str] | None = None) -> None:
    import waitress

    from app import create_app

    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default=os.environ.get("HAMAYNK_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HAMAYNK_PORT", "5000")))
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    app = create_app()
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, **server_options(app))


if __name__ == "__main__":
    main()
