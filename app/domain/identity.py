"""Identity providers: the ways a person proves to the citizen portal who they are.

A provider is a plain declaration, :class:`IdentityProvider`, that plug-ins return from the
``register_identity_providers`` hook (and installs configure through
``HAMAYNK_OIDC_PROVIDERS``). Two kinds exist:

* the built-in **password** provider (:data:`PASSWORD`): the portal's own accounts, with an
  e-mail address and a password (app.domain.accounts). Always there, always listed first;
  it has no callables, the sign-in form is the portal's;
* **redirect** providers, which send the browser to an outside service and read the answer
  it sends back: ``authorize`` builds the address to send the browser to, ``complete``
  turns the answer into an :class:`ExternalIdentity`. The portal keeps what the two share
  (``memo``) in the signed session, checks the ``state`` value before ``complete`` runs,
  and links the identity to a citizen account (:class:`~app.models.CitizenIdentity`).

:class:`OpenIDConnect` is the built-in redirect provider: any OpenID Connect provider (the
national e-ID or mobile-ID gateway, a municipality's own Keycloak) through Authlib's client,
with the authorization code flow and PKCE, ``state`` and ``nonce`` checked, and the ID token
verified against the provider's published keys (JWKS). No Flask here: the portal
(app.portal.identity_flow) hands in the addresses and the memo.

docs/identity.md shows how to write a provider plug-in.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

log = logging.getLogger(__name__)

# The key of the built-in provider: accounts with an e-mail address and a password.
PASSWORD = "password"  # noqa: S105 - a provider's name, not a secret
# Keys appear in addresses (/account/identity/<key>) and are stored on every linked identity.
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LANGUAGES = ("hy", "en", "ru")

__all__ = [
    "KEY_RE",
    "PASSWORD",
    "DuplicateIdentityProvider",
    "ExternalIdentity",
    "IdentityError",
    "IdentityProvider",
    "IdentityProviderError",
    "OIDCSettings",
    "OpenIDConnect",
    "collect_providers",
    "constant_time_equal",
    "oidc_provider",
    "password_provider",
    "providers_from_config",
]


class IdentityError(Exception):
    """Signing in at a provider did not give an identity: refused there, cancelled, a
    forged or stale answer, a provider that cannot be reached. The message is for the log;
    the person sees one plain sentence (the portal's), never the provider's details."""


class IdentityProviderError(ValueError):
    """A provider declaration or setting that cannot work; the message names it."""


class DuplicateIdentityProvider(IdentityProviderError):
    """Two providers (plug-ins, settings or the built-in one) declare the same key."""

    def __init__(self, key: str, first: str, second: str) -> None:
        super().__init__(f"identity provider {key!r} is declared by both {first} and {second}")
        self.key = key
        self.owners = (first, second)


@dataclass(frozen=True)
class ExternalIdentity:
    """Who a provider says signed in.

    ``subject`` is the provider's permanent id of the person (never reused); with the
    provider's key it names the identity. ``verified`` means the provider vouches for who the
    person is (a national e-ID): the portal then marks the account's identity verified and
    takes ``psn`` (public service number) and ``name`` from it."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    psn: str | None = None
    verified: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict)


# authorize(redirect_uri=..., state=..., memo=...) -> the address to send the browser to.
Authorize = Callable[..., str]
# complete(params=..., redirect_uri=..., memo=...) -> ExternalIdentity, or raise IdentityError.
Complete = Callable[..., ExternalIdentity]


@dataclass(frozen=True)
class IdentityProvider:
    """One way of signing in, as a plug-in declares it.

    ``key``: lower-case letters, digits, ``-`` and ``_`` (at most 64), permanent: it is in
    the provider's addresses and stored with every identity linked through it.
    ``label``: the button's words per language (``{"hy": ..., "en": ..., "ru": ...}``).

    A redirect provider gives both callables, each called with keywords only:

    ``authorize(redirect_uri, state, memo)`` returns the address to send the browser to.
    ``redirect_uri`` is where the provider must send it back; ``state`` is a random value
    the answer must carry back unchanged (the portal checks it); ``memo`` is a dict of
    strings to keep until the answer comes (a nonce, a PKCE verifier): it lives in the
    person's signed session cookie, so keep it small and put no secrets of yours in it.

    ``complete(params, redirect_uri, memo)`` gets the query parameters of the answer and
    the same ``redirect_uri`` and ``memo``, and returns an :class:`ExternalIdentity`, or
    raises :class:`IdentityError`.

    ``verifies_identity``: the provider vouches for who people are (national e-ID), so
    accounts signed in through it are marked verified. ``link_by_email``: a first sign-in
    whose verified e-mail address belongs to an existing account links to that account
    instead of being refused; only for providers that check addresses themselves.
    """

    key: str
    label: Mapping[str, str]
    authorize: Authorize | None = None
    complete: Complete | None = None
    verifies_identity: bool = False
    link_by_email: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", MappingProxyType(dict(self.label or {})))

    @property
    def redirects(self) -> bool:
        """Whether signing in goes through the provider's own pages (everything but passwords)."""
        return self.authorize is not None

    def problems(self) -> list[str]:
        """What is wrong with this declaration (empty when nothing is)."""
        found = []
        if not isinstance(self.key, str) or not KEY_RE.match(self.key):
            found.append(f"key {self.key!r} must be lower-case letters, digits, '-' or '_' (at most 64)")
        if not self.label or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in self.label.items()):
            found.append("label must map languages to non-empty texts")
        if (self.authorize is None) != (self.complete is None):
            found.append("give both authorize and complete, or neither")
        if self.authorize is not None and not (callable(self.authorize) and callable(self.complete)):
            found.append("authorize and complete must be callable")
        if self.key != PASSWORD and self.authorize is None:
            found.append("only the built-in password provider signs in without authorize and complete")
        return found


def password_provider() -> IdentityProvider:
    """The built-in provider: the portal's own e-mail and password accounts."""
    return IdentityProvider(
        key=PASSWORD,
        label={"hy": "Էլ. փոստ և գաղտնաբառ", "en": "E-mail and password", "ru": "Эл. почта и пароль"},
    )


def constant_time_equal(a: str | None, b: str | None) -> bool:
    """Whether two secrets are equal, in time that does not depend on where they differ."""
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


# -- collecting the providers -------------------------------------------------------------------------


class _HookImpl(Protocol):
    plugin_name: str
    function: Callable[..., Any]


def collect_providers(
    impls: Iterable[_HookImpl], config: Mapping[str, Any], *, strict: bool = True
) -> tuple[list[IdentityProvider], list[str]]:
    """Every identity provider of an install: the password provider first, then the ones
    ``HAMAYNK_OIDC_PROVIDERS`` configures and every plug-in's ``register_identity_providers``
    (``impls``: the hook's implementations), sorted by key.

    Returns ``(providers, problems)``. A plug-in returning something that is not a list of
    valid :class:`IdentityProvider` contributes nothing and its problem is listed; a key
    declared twice raises :class:`DuplicateIdentityProvider`. With ``strict`` (development,
    tests) any problem raises :class:`IdentityProviderError` instead."""
    owners: dict[str, str] = {PASSWORD: "the core"}
    found: dict[str, IdentityProvider] = {PASSWORD: password_provider()}
    problems: list[str] = []

    def add(provider: IdentityProvider, owner: str) -> None:
        if provider.key in owners:
            raise DuplicateIdentityProvider(provider.key, owners[provider.key], owner)
        owners[provider.key] = owner
        found[provider.key] = provider

    for provider in providers_from_config(config.get("HAMAYNK_OIDC_PROVIDERS")):
        add(provider, "HAMAYNK_OIDC_PROVIDERS")
    for impl in sorted(impls, key=lambda i: str(i.plugin_name)):
        owner = f"plug-in {impl.plugin_name!r}"
        try:
            accepted = inspect.signature(impl.function).parameters
            value = impl.function(**({"config": config} if "config" in accepted else {}))
        except Exception as exc:
            problems.append(f"{owner}: register_identity_providers() raised {type(exc).__name__}: {exc}")
            continue
        items = [value] if isinstance(value, IdentityProvider) else value
        if items is None:
            continue
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, IdentityProvider) for i in items):
            problems.append(f"{owner}: register_identity_providers() must return a list of IdentityProvider")
            continue
        bad = [f"{owner}: identity provider {i.key!r}: {p}" for i in items for p in i.problems()]
        if bad:
            problems += bad
            continue
        for item in sorted(items, key=lambda i: i.key):
            add(item, owner)
    if problems and strict:
        raise IdentityProviderError("; ".join(problems))
    for problem in problems:
        log.error("identity providers: %s", problem)
    ordered = [found[PASSWORD]] + [found[key] for key in sorted(found) if key != PASSWORD]
    return ordered, problems


# -- OpenID Connect ---------------------------------------------------------------------------------


# Signature algorithms an ID token may use. Never "none", and never a symmetric one (HS256
# would make the client secret a signing key, which the provider's JWKS cannot vouch for).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
# How long discovered metadata and keys are trusted before they are fetched again.
METADATA_SECONDS = 3600


@dataclass(frozen=True)
class OIDCSettings:
    """One OpenID Connect provider, as ``HAMAYNK_OIDC_PROVIDERS`` or a plug-in describes it.

    ``issuer`` is the provider's issuer URL exactly as its ID tokens name it; its metadata is
    read from ``metadata_url`` (default: ``<issuer>/.well-known/openid-configuration``).
    ``psn_claim`` names the claim that carries the public service number, ``name_claim`` the
    person's full name. ``verifies_identity`` marks accounts signed in here as verified (the
    national e-ID); ``link_by_email`` see :class:`IdentityProvider`."""

    key: str
    label: Mapping[str, str]
    issuer: str
    client_id: str
    client_secret: str = ""
    scope: str = "openid email profile"
    metadata_url: str = ""
    verifies_identity: bool = False
    link_by_email: bool = False
    psn_claim: str = ""
    name_claim: str = "name"
    # Seconds of clock difference tolerated on the token's times, and of waiting for the provider.
    leeway: int = 60
    timeout: float = 10.0
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> OIDCSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise IdentityProviderError(
                f"OpenID Connect provider setting(s) {unknown} are unknown (known: {sorted(known)})"
            )
        for required in ("key", "label", "issuer", "client_id"):
            if not raw.get(required):
                raise IdentityProviderError(f"OpenID Connect provider {raw.get('key')!r} needs {required!r}")
        label = raw["label"]
        if isinstance(label, str):
            label = dict.fromkeys(LANGUAGES, label)
        return cls(**{**raw, "label": label})


class OpenIDConnect:
    """The built-in OpenID Connect provider: :meth:`provider` is its declaration.

    Metadata and keys are fetched over HTTPS (any URL in tests) with ``requests`` and kept
    for :data:`METADATA_SECONDS`; an ID token signed with a key the cached set does not
    have makes one fresh fetch (the provider rotated its keys)."""

    def __init__(self, settings: OIDCSettings, http: Any = None) -> None:
        import requests

        self.settings = settings
        self.http = http or requests.Session()
        self._lock = threading.Lock()
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._jwks: tuple[float, dict[str, Any]] | None = None

    def provider(self) -> IdentityProvider:
        s = self.settings
        return IdentityProvider(
            key=s.key,
            label=s.label,
            authorize=self.authorize,
            complete=self.complete,
            verifies_identity=s.verifies_identity,
            link_by_email=s.link_by_email,
        )

    # -- what the provider publishes --------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url, timeout=self.settings.timeout)
            response.raise_for_status()
            data = response.json()
        except Exception as exc:
            raise IdentityError(f"{self.settings.key}: cannot read {url}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(data, dict):
            raise IdentityError(f"{self.settings.key}: {url} did not answer with a JSON object")
        return data

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached)."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata[0] < METADATA_SECONDS:
                return self._metadata[1]
        url = self.settings.metadata_url or self.settings.issuer.rstrip("/") + "/.well-known/openid-configuration"
        data = self._get_json(url)
        if data.get("issuer") != self.settings.issuer:
            raise IdentityError(
                f"{self.settings.key}: metadata names issuer {data.get('issuer')!r}, expected {self.settings.issuer!r}"
            )
        for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(needed), str):
                raise IdentityError(f"{self.settings.key}: metadata has no {needed}")
        with self._lock:
            self._metadata = (time.monotonic(), data)
        return data

    def jwks(self, *, fresh: bool = False) -> dict[str, Any]:
        """The provider's public keys (cached unless ``fresh``)."""
        with self._lock:
            if not fresh and self._jwks is not None and time.monotonic() - self._jwks[0] < METADATA_SECONDS:
                return self._jwks[1]
        data = self._get_json(self.metadata()["jwks_uri"])
        if not isinstance(data.get("keys"), list):
            raise IdentityError(f"{self.settings.key}: the JWKS has no keys")
        with self._lock:
            self._jwks = (time.monotonic(), data)
        return data

    def _client(self, redirect_uri: str) -> Any:
        from authlib.integrations.requests_client import OAuth2Session  # type: ignore[import-untyped]

        methods = self.metadata().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if not self.settings.client_secret:
            method = "none"
        elif "client_secret_basic" in methods:
            method = "client_secret_basic"
        else:
            method = "client_secret_post"
        return OAuth2Session(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret or None,
            token_endpoint_auth_method=method,
            scope=self.settings.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    # -- the two halves of a sign-in --------------------------------------------------------------

    def authorize(self, *, redirect_uri: str, state: str, memo: MutableMapping[str, str]) -> str:
        """The provider's authorization address for a new sign-in (code flow with PKCE and a
        nonce, both remembered in ``memo``)."""
        from authlib.common.security import generate_token  # type: ignore[import-untyped]

        memo["nonce"] = generate_token(32)
        memo["verifier"] = generate_token(64)
        url, _state = self._client(redirect_uri).create_authorization_url(
            self.metadata()["authorization_endpoint"],
            state=state,
            code_verifier=memo["verifier"],
            nonce=memo["nonce"],
            **dict(self.settings.extra_authorize_params),
        )
        return str(url)

    def complete(self, *, params: Mapping[str, str], redirect_uri: str, memo: Mapping[str, str]) -> ExternalIdentity:
        """Exchange the code for tokens and verify the ID token; the person it names."""
        if params.get("error"):
            raise IdentityError(f"{self.settings.key}: the provider answered {params.get('error')!r}")
        code = params.get("code")
        if not code or not memo.get("nonce") or not memo.get("verifier"):
            raise IdentityError(f"{self.settings.key}: no code in the answer, or no sign-in was started")
        try:
            token = self._client(redirect_uri).fetch_token(
                self.metadata()["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=memo["verifier"],
                timeout=self.settings.timeout,
            )
        except IdentityError:
            raise
        except Exception as exc:
            raise IdentityError(f"{self.settings.key}: the token request failed: {type(exc).__name__}: {exc}") from exc
        id_token = token.get("id_token") if isinstance(token, Mapping) else None
        if not isinstance(id_token, str):
            raise IdentityError(f"{self.settings.key}: the token answer has no ID token")
        claims = self.verify_id_token(id_token, nonce=memo["nonce"], access_token=token.get("access_token"))
        return self.identity(claims)

    def verify_id_token(self, id_token: str, *, nonce: str, access_token: Any = None) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature (against the provider's JWKS), issuer,
        audience, times, nonce and (when present) ``at_hash`` hold; :class:`IdentityError` if not."""
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        allowed = [
            a for a in self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"] if a in ALGORITHMS
        ]
        if not allowed:
            raise IdentityError(f"{self.settings.key}: the provider signs ID tokens with no algorithm we accept")

        def decode(keys: dict[str, Any]) -> Any:
            return jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=allowed)  # type: ignore[arg-type]

        try:
            try:
                token = decode(self.jwks())
            except (JoseError, ValueError):
                token = decode(self.jwks(fresh=True))  # the provider may have rotated its keys
        except IdentityError:
            raise
        except Exception as exc:
            raise IdentityError(f"{self.settings.key}: the ID token's signature does not verify: {exc}") from exc
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=self.settings.leeway,
            iss={"essential": True, "value": self.settings.issuer},
            aud={"essential": True, "value": self.settings.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise IdentityError(f"{self.settings.key}: the ID token is not valid here: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise IdentityError(f"{self.settings.key}: the ID token was issued to another party (azp)")
        if not constant_time_equal(claims.get("nonce"), nonce):
            raise IdentityError(f"{self.settings.key}: the ID token's nonce does not match this sign-in")
        if (
            claims.get("at_hash")
            and isinstance(access_token, str)
            and not constant_time_equal(claims["at_hash"], _at_hash(access_token, token.header.get("alg", "RS256")))
        ):
            raise IdentityError(f"{self.settings.key}: the ID token's at_hash does not match the access token")
        if not isinstance(claims.get("sub"), str) or not claims["sub"] or len(claims["sub"]) > 255:
            raise IdentityError(f"{self.settings.key}: the ID token's subject is unusable")
        return claims

    def identity(self, claims: Mapping[str, Any]) -> ExternalIdentity:
        s = self.settings
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        name = claims.get(s.name_claim) if isinstance(claims.get(s.name_claim), str) else None
        if name is None and isinstance(claims.get("given_name"), str):
            name = " ".join(str(claims.get(k) or "") for k in ("given_name", "family_name")).strip() or None
        psn = claims.get(s.psn_claim) if s.psn_claim else None
        return ExternalIdentity(
            subject=str(claims["sub"]),
            email=email,
            email_verified=claims.get("email_verified") is True,
            name=name,
            psn=str(psn) if isinstance(psn, (str, int)) and not isinstance(psn, bool) else None,
            verified=s.verifies_identity,
            claims=MappingProxyType(dict(claims)),
        )


def _at_hash(access_token: str, alg: str) -> str:
    import base64

    bits = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
    digest = bits.get(alg[-3:], hashlib.sha256)(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def oidc_provider(settings: OIDCSettings | Mapping[str, Any], http: Any = None) -> IdentityProvider:
    """The declaration of an OpenID Connect provider (``settings`` as :class:`OIDCSettings`
    or a mapping of its fields): what a plug-in returns from ``register_identity_providers``."""
    if not isinstance(settings, OIDCSettings):
        settings = OIDCSettings.from_mapping(settings)
    return OpenIDConnect(settings, http).provider()


def providers_from_config(value: Any) -> list[IdentityProvider]:
    """The OpenID Connect providers ``HAMAYNK_OIDC_PROVIDERS`` configures: a list of mappings
    of :class:`OIDCSettings` fields, or that list as JSON text (the environment's form)."""
    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise IdentityProviderError(f"HAMAYNK_OIDC_PROVIDERS is not valid JSON: {exc}") from exc
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, Mapping) for v in value):
        raise IdentityProviderError("HAMAYNK_OIDC_PROVIDERS must be a list of provider settings")
    providers = []
    for raw in value:
        provider = oidc_provider(raw)
        bad = provider.problems()
        if bad:
            raise IdentityProviderError(f"HAMAYNK_OIDC_PROVIDERS: provider {provider.key!r}: {'; '.join(bad)}")
        providers.append(provider)
    return providers
