"""The identity providers of this app, and the browser's round trip through one of them.

The providers (app.domain.identity) are collected once, when the portal is registered on
the app: the built-in password provider, ``HAMAYNK_OIDC_PROVIDERS`` and every plug-in's
``register_identity_providers``. A strict app (development, tests) stops on a bad one.

A sign-in through a redirect provider keeps what it needs until the answer comes back in
the signed session cookie: a random ``state`` (checked in constant time against the one the
answer carries), the provider's memo (nonce, PKCE verifier), where to go afterwards, and
when it started (an answer older than :data:`MAX_AGE` seconds is refused). One sign-in at a
time per browser; the entry is removed when the answer arrives, so an answer works once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, session, url_for

from app.domain import identity
from app.domain.identity import ExternalIdentity, IdentityError, IdentityProvider
from app.plugins import runtime as plugin_runtime

EXTENSION = "hamaynk.identity_providers"
SESSION_KEY = "hamaynk_identity"
MAX_AGE = 600


def collect(app: Flask) -> list[IdentityProvider]:
    """Collect (once) and keep the app's providers."""
    if EXTENSION not in app.extensions:
        host = plugin_runtime.host(app)
        hook = getattr(host.pm.hook, "register_identity_providers", None)
        impls = hook.get_hookimpls() if hook is not None else []
        found, _problems = identity.collect_providers(
            impls, app.config, strict=bool(app.config.get("HAMAYNK_STRICT_PLUGINS", True))
        )
        app.extensions[EXTENSION] = found
    providers: list[IdentityProvider] = app.extensions[EXTENSION]
    return providers


def providers() -> list[IdentityProvider]:
    """Every provider, the password provider first."""
    return collect(current_app)


def redirect_providers() -> list[IdentityProvider]:
    """The providers signed in with on their own pages (buttons on the sign-in page)."""
    return [p for p in providers() if p.redirects]


def find(key: str) -> IdentityProvider | None:
    """The redirect provider ``key``, or ``None``."""
    return next((p for p in redirect_providers() if p.key == key), None)


def callback_url(provider: IdentityProvider) -> str:
    """Where the provider sends the browser back: on this install's public address (the
    address registered with the provider), else this request's host."""
    path = url_for("account.identity_callback", provider=provider.key)
    base = str(current_app.config.get("HAMAYNK_PUBLIC_URL") or "").rstrip("/")
    return f"{base}{path}" if base else url_for("account.identity_callback", provider=provider.key, _external=True)


def start(provider: IdentityProvider, *, next_url: str | None, link: bool) -> str:
    """Begin a sign-in (``link``: connect to the signed-in account): the provider's address."""
    assert provider.authorize is not None
    state = secrets.token_urlsafe(32)
    memo: dict[str, str] = {}
    target = provider.authorize(redirect_uri=callback_url(provider), state=state, memo=memo)
    session[SESSION_KEY] = {
        "provider": provider.key,
        "state": state,
        "memo": {str(k): str(v) for k, v in memo.items()},
        "next": next_url or "",
        "link": bool(link),
        "at": int(time.time()),
    }
    return target


def finish(provider: IdentityProvider, params: Mapping[str, str]) -> tuple[ExternalIdentity, dict[str, Any]]:
    """The identity the provider's answer names and what :func:`start` kept (``next``,
    ``link``); :class:`IdentityError` for an answer this browser did not ask for, a stale
    one, one used already or one the provider refuses."""
    kept = session.pop(SESSION_KEY, None)
    if not isinstance(kept, dict) or kept.get("provider") != provider.key:
        raise IdentityError(f"{provider.key}: no sign-in was started in this browser")
    if not identity.constant_time_equal(params.get("state"), kept.get("state")):
        raise IdentityError(f"{provider.key}: the answer's state does not match this sign-in")
    if not isinstance(kept.get("at"), int) or time.time() - kept["at"] > MAX_AGE:
        raise IdentityError(f"{provider.key}: the sign-in took too long")
    assert provider.complete is not None
    memo = kept.get("memo") if isinstance(kept.get("memo"), dict) else {}
    found = provider.complete(params=dict(params), redirect_uri=callback_url(provider), memo=memo)
    if not isinstance(found, ExternalIdentity) or not isinstance(found.subject, str) or not found.subject:
        raise IdentityError(f"{provider.key}: complete() returned no identity")
    if len(found.subject) > 255:
        raise IdentityError(f"{provider.key}: the subject is longer than 255 characters")
    return found, {"next": kept.get("next") or "", "link": bool(kept.get("link"))}
