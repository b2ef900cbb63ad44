"""Security headers on every response: content sniffing, framing, referrer, a strict Content
Security Policy with a per-request nonce, no-store for personal data, and HSTS in production.

The page policy allows no inline script: every ``<script>`` is a file from this site, and the
few inline ones (Flask-AppBuilder's list, search and chart widgets, Swagger UI) carry the
request's nonce through ``csp_nonce()``, which Flask-AppBuilder's ``baselib.get_nonce()``
already calls when it exists. Inline ``style="..."`` attributes are allowed (``style-src-attr``)
because Flask-AppBuilder's templates and widgets write them (hidden action forms,
``white-space: pre-line`` cells, pagination) and select2/bootstrap set them from script;
``<style>`` elements still need the nonce. Style attributes cannot run script.

A response that already carries its own policy (a document preview, the coat of arms image)
keeps it; only ``frame-ancestors 'none'`` is added when it lacks one, which only narrows it.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request, session

NONCE = "hamaynk.csp_nonce"
# Flask's and Flask-AppBuilder's static files: public, cached, never personal.
STATIC_ENDPOINTS = frozenset({"static", "appbuilder.static"})
REFERRER_POLICY = "strict-origin-when-cross-origin"
# Answers that are data, never a page: nothing in them may load or run anything.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


def csp_nonce() -> str:
    """This request's nonce for inline ``<script>``/``<style>`` (the same all through one request)."""
    # On the request, not on g: an app context (and its g) may outlive one request.
    nonce = request.environ.get(NONCE)
    if nonce is None:
        nonce = request.environ[NONCE] = secrets.token_urlsafe(18)
    return str(nonce)


def page_policy(nonce: str, form_action: str = "") -> str:
    """The Content-Security-Policy of an HTML page. ``form_action``: further sources forms may
    post to (and be redirected to afterwards), e.g. an outside payment gateway's origin."""
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        f"style-src-elem 'self' 'nonce-{nonce}'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        f"form-action 'self'{' ' + form_action if form_action else ''}",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def _signed_in() -> bool:
    # The user Flask-Login loaded for this request if it did; else whether the session names
    # one. Never a load of our own: this runs on every response, failed ones included (the
    # database may be the reason it failed). API requests (JWT) are all /api/, handled apart.
    user = g.get("_login_user")
    if user is not None:
        return bool(getattr(user, "is_authenticated", False))
    return "_user_id" in session


def _content_policy(response: Response, form_action: str) -> None:
    existing = response.headers.get("Content-Security-Policy")
    if existing:
        if "frame-ancestors" not in existing:
            response.headers["Content-Security-Policy"] = f"{existing}; frame-ancestors 'none'"
        return
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = page_policy(csp_nonce(), form_action)
    elif response.is_json:
        response.headers["Content-Security-Policy"] = DATA_POLICY
    else:
        # Files (PDFs, images, spreadsheets) open in the browser's own viewers, which a
        # stricter policy can break; views that show uploaded files set their own.
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"


def _caching(response: Response) -> None:
    if request.endpoint in STATIC_ENDPOINTS:
        return
    personal = _signed_in() or request.path.startswith("/api/")
    # A view that declared its answer public (the open-data dashboard) knows it is the same
    # for everyone; everything else a signed-in person sees may be theirs alone.
    if personal and not response.cache_control.public:
        response.cache_control.no_store = True


def _transport(app: Flask, response: Response) -> None:
    seconds = int(app.config.get("HAMAYNK_HSTS_SECONDS") or 0)
    if seconds <= 0:
        return
    # Behind a reverse proxy that terminates TLS the request reaches us as plain HTTP; the
    # operator says so with HAMAYNK_TLS_UPSTREAM rather than us trusting a forwarded header.
    if request.is_secure or app.config.get("HAMAYNK_TLS_UPSTREAM"):
        response.headers["Strict-Transport-Security"] = f"max-age={seconds}; includeSubDomains"


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    form_action = " ".join(app.config.get("HAMAYNK_CSP_FORM_ACTION") or [])

    @app.after_request
    def _secure(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        _content_policy(response, form_action)
        _caching(response)
        _transport(app, response)
        return response
