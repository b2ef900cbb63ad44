"""Identity providers: the ``register_identity_providers`` hook, and signing in through the
built-in OpenID Connect provider against a local OpenID Connect provider served on 127.0.0.1
(real HTTP: discovery, authorization with PKCE, the token endpoint and the JWKS).

The local provider signs its ID tokens with joserfc (Authlib's JOSE library) and checks PKCE
with Authlib's own S256 function; the portal's side is Authlib's OAuth 2.0 client, not mocked.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
import types
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Flask, jsonify, redirect
from flask import request as provider_request
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.domain import identity
from app.extensions import db
from app.models import CitizenIdentity, CitizenProfile, User
from app.sdk import DuplicateIdentityProvider, IdentityProvider, IdentityProviderError, hookimpl, oidc_provider
from app.testing import login, make_app, make_citizen, seed_municipality

CLIENT_ID = "hamaynk-test"
CLIENT_SECRET = "s3cret-of-the-test-client"
STRONG = "correct horse battery staple"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "identity.md"


class LocalProvider:
    """A small OpenID Connect provider: it signs in whoever ``person`` says, at once."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "current", "use": "sig", "alg": "RS256"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "current", "use": "sig", "alg": "RS256"})
        self.person: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tamper: dict[str, Any] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests = 0
        self.app = self._app()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "key": "eid",
            "label": {"hy": "Նույնականացման քարտ", "en": "ID card", "ru": "ID-карта"},
            "issuer": self.issuer,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "verifies_identity": True,
            "psn_claim": "psn",
            **overrides,
        }

    def _id_token(self, grant: dict[str, Any], access_token: str) -> str:
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode()).digest()
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": grant["person"]["sub"],
            "nonce": grant["nonce"],
            "iat": now,
            "exp": now + 300,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
            **{k: v for k, v in grant["person"].items() if k != "sub"},
        }
        claims.update(self.tamper.get("claims", {}))
        key = self.other_key if self.tamper.get("other_key") else self.key
        header = {"alg": "RS256", "kid": "current"}
        return jwt.encode(header, claims, key)

    def _app(self) -> Flask:
        app = Flask("local-oidc")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize():
            args = provider_request.args.to_dict()
            self.authorize_requests.append(args)
            if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
                return "bad client", 400
            if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
                return "PKCE required", 400
            if "openid" not in args.get("scope", "").split():
                return "not OpenID", 400
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "redirect_uri": args["redirect_uri"],
                "challenge": args["code_challenge"],
                "nonce": args.get("nonce", ""),
                "person": dict(self.person),
            }
            return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args.get('state', '')})}")

        @app.post("/token")
        def token():
            self.token_requests += 1
            auth = provider_request.authorization
            client_id = auth.username if auth else provider_request.form.get("client_id")
            secret = auth.password if auth else provider_request.form.get("client_secret")
            if client_id != CLIENT_ID or secret != CLIENT_SECRET:
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(provider_request.form.get("code", ""), None)  # a code works once
            if grant is None or provider_request.form.get("grant_type") != "authorization_code":
                return jsonify(error="invalid_grant"), 400
            if provider_request.form.get("redirect_uri") != grant["redirect_uri"]:
                return jsonify(error="invalid_grant"), 400
            verifier = provider_request.form.get("code_verifier", "")
            if create_s256_code_challenge(verifier) != grant["challenge"]:
                return jsonify(error="invalid_grant", error_description="PKCE"), 400
            access_token = secrets.token_urlsafe(24)
            return jsonify(
                access_token=access_token,
                token_type="Bearer",
                expires_in=300,
                id_token=self._id_token(grant, access_token),
            )

        return app


@pytest.fixture(scope="module")
def provider():
    local = LocalProvider()
    yield local
    local.close()


@pytest.fixture
def oidc_app(tmp_path, provider):
    provider.tamper = {}
    provider.person = {
        "sub": "person-1",
        "email": "Anna@Example.am",
        "email_verified": True,
        "name": "Anna Petrosyan",
        "psn": "1234567890",
    }
    app = make_app(tmp_path, HAMAYNK_OIDC_PROVIDERS=[provider.settings()])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _round_trip(client, start: str = "/account/identity/eid") -> tuple[Any, str]:
    """Start at the portal, pass the provider over real HTTP, and come back: the callback's
    response and its address."""
    started = client.get(start)
    assert started.status_code == 302, started.get_data(as_text=True)[:500]
    at_provider = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    callback = f"{back.path}?{back.query}"
    return client.get(callback + "&_l_=en"), callback


def _count(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _signed_in_as(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# -- the hook -------------------------------------------------------------------------------------


def _module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook_name, function in hooks.items():
        setattr(module, hook_name, hookimpl(function))
    return module


def test_hook_register_identity_providers(hamaynk_app_factory, provider):
    seen = {}

    def register(config):
        seen["config"] = config
        return [oidc_provider(provider.settings(key="city-sso", label="City SSO"))]

    app = hamaynk_app_factory(plugins=[_module("city_sso", register_identity_providers=register)])
    assert seen["config"]["SECRET_KEY"] == app.config["SECRET_KEY"]
    page = app.test_client().get("/account/login?_l_=en").get_data(as_text=True)
    assert "Other ways to sign in" in page and 'href="/account/identity/city-sso"' in page and "City SSO" in page
    # The password provider is always there, first; the rest sorted by key.
    with app.app_context():
        from app.portal import identity_flow

        assert [p.key for p in identity_flow.providers()] == ["password", "city-sso"]


def test_identity_providers_refuse_duplicates_and_bad_declarations(hamaynk_app_factory, provider):
    one = _module("one", register_identity_providers=lambda: [oidc_provider(provider.settings())])
    with pytest.raises(
        DuplicateIdentityProvider, match="'eid' is declared by both HAMAYNK_OIDC_PROVIDERS and plug-in 'one'"
    ):
        hamaynk_app_factory(plugins=[one], HAMAYNK_OIDC_PROVIDERS=[provider.settings()])
    password = _module("pw", register_identity_providers=lambda: [IdentityProvider("password", {"en": "Mine"})])
    with pytest.raises(DuplicateIdentityProvider, match="the core"):
        hamaynk_app_factory(plugins=[password])
    half = _module(
        "half", register_identity_providers=lambda: [IdentityProvider("Bad Key!", {}, authorize=lambda **k: "")]
    )
    with pytest.raises(IdentityProviderError, match="plug-in 'half'"):
        hamaynk_app_factory(plugins=[half])
    wrong = _module("wrong", register_identity_providers=lambda: ["not a provider"])
    with pytest.raises(IdentityProviderError, match="must return a list of IdentityProvider"):
        hamaynk_app_factory(plugins=[wrong])
    # Production: the bad plug-in's providers are left out and the site starts.
    app = hamaynk_app_factory(plugins=[wrong], HAMAYNK_STRICT_PLUGINS=False)
    assert app.test_client().get("/account/login").status_code == 200


def test_configured_providers_are_checked_at_start(hamaynk_app_factory):
    with pytest.raises(IdentityProviderError, match="not valid JSON"):
        hamaynk_app_factory(plugins=[], HAMAYNK_OIDC_PROVIDERS="[{")
    with pytest.raises(IdentityProviderError, match="needs 'issuer'"):
        hamaynk_app_factory(plugins=[], HAMAYNK_OIDC_PROVIDERS=[{"key": "x", "label": "X", "client_id": "c"}])
    with pytest.raises(IdentityProviderError, match="unknown"):
        hamaynk_app_factory(
            plugins=[],
            HAMAYNK_OIDC_PROVIDERS=[{"key": "x", "label": "X", "client_id": "c", "issuer": "https://x", "colour": 1}],
        )


# -- signing in -----------------------------------------------------------------------------------


def test_first_sign_in_creates_a_verified_account(oidc_app, provider):
    client = oidc_app.test_client()
    page = client.get("/account/login?_l_=en").get_data(as_text=True)
    assert 'href="/account/identity/eid"' in page and "ID card" in page
    users = _count(oidc_app, User)
    response, _callback = _round_trip(client)
    assert response.status_code == 302, _text(response)[:2000]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    asked = provider.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    assert asked["redirect_uri"].endswith("/account/identity/eid/callback")
    assert _count(oidc_app, User) == users + 1
    with oidc_app.app_context():
        user = db.session.execute(select(User).where(User.username == "anna@example.am")).scalar_one()
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user.id)).scalar_one()
        linked = db.session.execute(select(CitizenIdentity)).scalar_one()
        assert user.active and (user.first_name, user.last_name) == ("Anna", "Petrosyan")
        assert profile.identity_verified_at is not None and profile.identity_provider == "eid"
        assert profile.psn == "1234567890" and profile.email_verified_at is not None
        assert (linked.provider, linked.subject, linked.user_id) == ("eid", "person-1", user.id)
        user_id = user.id
    assert _signed_in_as(client) == str(user_id)
    profile_page = _text(client.get("/account/profile?_l_=en"))
    assert "Verified" in profile_page and "by ID card" in profile_page


def test_a_returning_identity_signs_in_the_same_account(oidc_app, provider):
    client = oidc_app.test_client()
    _round_trip(client)
    client.post("/account/logout")
    assert _signed_in_as(client) is None
    users = _count(oidc_app, User)
    provider.person["psn"] = "1111122222"
    response, _callback = _round_trip(client)
    assert response.status_code == 302
    assert _count(oidc_app, User) == users and _count(oidc_app, CitizenIdentity) == 1
    with oidc_app.app_context():
        assert db.session.execute(select(CitizenProfile.psn)).scalar_one() == "1111122222"
    assert _signed_in_as(client) is not None


def test_an_answer_works_once_and_only_in_the_browser_that_asked(oidc_app, provider):
    client = oidc_app.test_client()
    users = _count(oidc_app, User)
    started = client.get("/account/identity/eid")
    at_provider = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_provider.headers["Location"])
    callback = f"{back.path}?{back.query}&_l_=en"
    # Another browser cannot use it (login CSRF): no sign-in was started there.
    stranger = oidc_app.test_client()
    refused = stranger.get(callback)
    assert refused.status_code == 400 and "could not be completed" in _text(refused)
    # A changed state is refused, and uses up the sign-in.
    query = parse_qs(back.query)
    forged = f"{back.path}?{urlencode({'code': query['code'][0], 'state': 'x' + query['state'][0]})}"
    assert client.get(forged).status_code == 400
    assert client.get(callback).status_code == 400  # the sign-in is gone from the session
    assert _count(oidc_app, User) == users and _signed_in_as(client) is None
    # Replaying a completed answer is refused too.
    response, callback = _round_trip(client)
    assert response.status_code == 302
    client.post("/account/logout")
    assert client.get(callback).status_code == 400


@pytest.mark.parametrize(
    ("tamper", "why"),
    [
        ({"other_key": True}, "signed with a key the provider does not publish"),
        ({"claims": {"aud": "someone-else"}}, "issued to another client"),
        ({"claims": {"aud": [CLIENT_ID, "someone-else"]}}, "several audiences and no azp"),
        ({"claims": {"iss": "https://evil.example"}}, "from another issuer"),
        ({"claims": {"exp": int(time.time()) - 3600}}, "expired"),
        ({"claims": {"iat": int(time.time()) + 3600}}, "issued in the future"),
        ({"claims": {"nonce": "replayed-nonce"}}, "for another sign-in"),
        ({"claims": {"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}}, "for another access token"),
        ({"claims": {"sub": ""}}, "without a subject"),
    ],
)
def test_an_id_token_that_does_not_verify_is_refused(oidc_app, provider, tamper, why):
    provider.tamper = tamper
    client = oidc_app.test_client()
    before = _count(oidc_app, User)
    response, _callback = _round_trip(client)
    assert response.status_code == 400, why
    assert "could not be completed" in _text(response), why
    assert _count(oidc_app, User) == before and _count(oidc_app, CitizenIdentity) == 0
    assert _signed_in_as(client) is None


def test_unsigned_tokens_are_refused(provider):
    oidc = identity.OpenIDConnect(identity.OIDCSettings.from_mapping(provider.settings()))
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = (
        base64.urlsafe_b64encode(
            f'{{"iss":"{provider.issuer}","aud":"{CLIENT_ID}","sub":"x","nonce":"n","iat":{int(time.time())},"exp":{int(time.time()) + 60}}}'.encode()
        )
        .rstrip(b"=")
        .decode()
    )
    with pytest.raises(identity.IdentityError, match="signature"):
        oidc.verify_id_token(f"{header}.{payload}.", nonce="n")


def test_the_provider_refusing_or_not_answering_changes_nothing(oidc_app, provider):
    client = oidc_app.test_client()
    users = _count(oidc_app, User)
    started = client.get("/account/identity/eid")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    denied = client.get(f"/account/identity/eid/callback?{urlencode({'error': 'access_denied', 'state': state})}")
    assert denied.status_code == 400
    assert client.get("/account/identity/nope").status_code == 404
    assert client.get("/account/identity/password").status_code == 404
    # A provider that cannot be reached: a clear page, not a crash.
    with oidc_app.app_context():
        from app.portal import identity_flow

        broken = oidc_provider(provider.settings(key="down", issuer="http://127.0.0.1:9"))
        oidc_app.extensions[identity_flow.EXTENSION] = [*identity_flow.providers(), broken]
    down = client.get("/account/identity/down?_l_=en")
    assert down.status_code == 400 and "cannot be reached" in _text(down)
    assert _count(oidc_app, User) == users


def test_an_address_with_an_account_is_not_taken_over(oidc_app, provider):
    owner = make_citizen(oidc_app, "anna@example.am", password=STRONG)
    client = oidc_app.test_client()
    response, _callback = _round_trip(client)
    assert response.status_code == 400 and "exists already" in _text(response)
    assert _count(oidc_app, CitizenIdentity) == 0 and _signed_in_as(client) is None
    # Signed in with the password, the owner connects the provider from the profile.
    client.post("/account/login", data={"email": "anna@example.am", "password": STRONG})
    assert 'href="/account/identity/eid"' in client.get("/account/profile").get_data(as_text=True)
    linked, _callback = _round_trip(client)
    assert linked.status_code == 302 and linked.headers["Location"] == "/account/profile"
    with oidc_app.app_context():
        row = db.session.execute(select(CitizenIdentity)).scalar_one()
        assert row.user_id == owner
    client.post("/account/logout")
    again, _callback = _round_trip(client)
    assert again.status_code == 302 and _signed_in_as(client) == str(owner)


def test_link_by_email_links_a_verified_address_at_once(tmp_path, provider):
    provider.tamper = {}
    provider.person = {"sub": "person-2", "email": "anna@example.am", "email_verified": True}
    app = make_app(tmp_path, HAMAYNK_OIDC_PROVIDERS=[provider.settings(link_by_email=True)])
    owner = make_citizen(app, "anna@example.am", password=STRONG)
    client = app.test_client()
    response, _callback = _round_trip(client)
    assert response.status_code == 302 and _signed_in_as(client) == str(owner)
    # Not when the provider did not verify the address.
    provider.person = {"sub": "person-3", "email": "anna@example.am", "email_verified": False}
    client.post("/account/logout")
    refused, _callback = _round_trip(client)
    assert refused.status_code == 400


def test_an_identity_of_another_account_is_not_linked_twice(oidc_app, provider):
    client = oidc_app.test_client()
    _round_trip(client)  # person-1 now has an account
    client.post("/account/logout")
    other = make_citizen(oidc_app, "other@example.am", password=STRONG)
    client.post("/account/login", data={"email": "other@example.am", "password": STRONG})
    response, _callback = _round_trip(client)
    assert response.status_code == 400 and "another account" in _text(response)
    with oidc_app.app_context():
        assert db.session.execute(select(CitizenIdentity.user_id)).scalar_one() != other


def test_no_email_means_connect_from_a_signed_in_account(oidc_app, provider):
    provider.person = {"sub": "person-9"}
    client = oidc_app.test_client()
    response, _callback = _round_trip(client)
    assert response.status_code == 400 and "did not share an e-mail address" in _text(response)


def test_staff_cannot_sign_in_or_link_through_the_portal_providers(oidc_app, provider):
    client = oidc_app.test_client()
    login(client, "alpha.clerk")
    assert client.get("/account/identity/eid").status_code == 403


# -- the documented examples ----------------------------------------------------------------------


def _doc_blocks() -> list[str]:
    text = DOCS.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _doc_module(n: int, name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    exec(compile(_doc_blocks()[n], f"docs/identity.md#{n}", "exec"), module.__dict__)
    return module


def test_the_documented_oidc_plugin_signs_people_in(tmp_path, provider):
    provider.tamper = {}
    provider.person = {"sub": "doc-1", "email": "doc@example.am", "email_verified": True, "psn": "5555555555"}
    plugin = _doc_module(0, "docs_eid")
    gateway = {"issuer": provider.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    app = make_app(tmp_path, plugins=[plugin], EID_GATEWAY=gateway)
    client = app.test_client()
    response, _callback = _round_trip(client)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.execute(select(CitizenProfile.psn)).scalar_one() == "5555555555"
    # Not configured: no provider, no button.
    assert plugin.register_identity_providers({}) == []


def test_the_documented_custom_provider_works_from_a_profile(tmp_path):
    plugin = _doc_module(1, "docs_mobile_id")
    app = make_app(tmp_path, plugins=[plugin])
    user_id = make_citizen(app, "anna@example.am", password=STRONG)
    client = app.test_client()
    client.post("/account/login", data={"email": "anna@example.am", "password": STRONG})
    started = client.get("/account/identity/mobile-id")
    assert started.status_code == 302 and started.headers["Location"].startswith("https://mobile-id.example.am/start?")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    import hmac

    sig = hmac.new(plugin.SHARED_KEY, b"AM-0001", hashlib.sha256).hexdigest()
    bad = client.get(
        f"/account/identity/mobile-id/callback?{urlencode({'state': state, 'person': 'AM-0001', 'sig': 'x'})}"
    )
    assert bad.status_code == 400
    client.get("/account/identity/mobile-id")  # a new sign-in: the refused one was used up
    state = parse_qs(urlsplit(client.get("/account/identity/mobile-id").headers["Location"]).query)["state"][0]
    ok = client.get(
        f"/account/identity/mobile-id/callback?{urlencode({'state': state, 'person': 'AM-0001', 'sig': sig})}"
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "/account/profile"
    with app.app_context():
        row = db.session.execute(select(CitizenIdentity)).scalar_one()
        assert (row.user_id, row.provider, row.subject) == (user_id, "mobile-id", "AM-0001")
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user_id)).scalar_one()
        assert profile.identity_provider == "mobile-id"
