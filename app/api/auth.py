"""The API's token endpoints under /api/v1/security: sign in, refresh, sign out.

Flask-AppBuilder's own SecurityApi hands out tokens that live until they expire, whatever
happens to the account. Here every sign-in is a server-side session (app.domain.sessions,
kind "api") and both tokens carry its id in a ``sid`` claim; a token whose session has ended
is refused (app.security checks every token). So:

- ``POST /login``: username and password (and ``totp`` when the account has a second
  factor); counted against the same sign-in limits as the other login pages (app.limits).
- ``POST /refresh``: a refresh token buys a new access token *and* a new refresh token; the
  old refresh token is spent. Presenting a spent one again ends the session (someone else
  holds a copy), so both holders must sign in again.
- ``POST /logout``: ends the session of the token sent (access or refresh).

Changing or resetting the password, or deactivating the account, ends the sessions too.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, current_app, jsonify, request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.const import API_SECURITY_ACCESS_TOKEN_KEY, API_SECURITY_REFRESH_TOKEN_KEY
from flask_appbuilder.security.api import SecurityApi
from flask_babel import gettext as _
from flask_jwt_extended import JWTManager, create_access_token, create_refresh_token, get_jwt, jwt_required
from marshmallow import Schema, fields

from app import limits, signin
from app.domain import second_factor, sessions
from app.extensions import db

MAX_CREDENTIAL = 1024
# The audit's name for this way in (app.domain.audit.login).
CHANNEL = "api"


class LoginRefused(Exception):
    """The credentials (or the second factor) did not check out; carries what to say."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and 0 < len(value) <= MAX_CREDENTIAL else None


def _check_second_factor(user_id: int, body: dict[str, Any]) -> None:
    """Refuse unless the account's second factor (if any) checks out: the code is sent as
    ``totp``. An account that must have one but has not set it up is refused too: that is
    done on the staff pages (/second-factor/), never through the API."""
    if not second_factor.is_enabled(db.session, user_id):
        if second_factor.required_for(db.session, user_id, current_app.config):
            raise LoginRefused(_("This account must set up its second factor on the staff pages first."))
        return
    code = _text(body, "totp")
    if code is None:
        raise LoginRefused(_('This account needs the code from its authenticator app: send it as "totp".'))
    if not second_factor.check_code(db.session, user_id, code, secret_key=signin.secret_key()):
        raise LoginRefused(_("The code is not right or was used already."))


def _access_token(user_id: int, sid: str, *, fresh: bool) -> str:
    return create_access_token(identity=str(user_id), fresh=fresh, additional_claims={"sid": sid})


def _refresh_token(user_id: int, sid: str, jti: str) -> str:
    # The jti is chosen here, not by the library, so it is known before the token exists
    # and stored as the session's one spendable refresh token.
    return create_refresh_token(identity=str(user_id), additional_claims={"sid": sid, "jti": jti})


def _tokens(user_id: int, sid: str, *, fresh: bool, refresh_jti: str | None) -> dict[str, str]:
    """What a sign-in and a refresh answer: an access token of session ``sid`` and, when the
    session has a spendable refresh token (``refresh_jti``), that refresh token. One place, so
    both ways hand out tokens with the same claims."""
    tokens = {API_SECURITY_ACCESS_TOKEN_KEY: _access_token(user_id, sid, fresh=fresh)}
    if refresh_jti is not None:
        tokens[API_SECURITY_REFRESH_TOKEN_KEY] = _refresh_token(user_id, sid, refresh_jti)
    return tokens


def _refused(message: str, error: str) -> Response:
    """401 in the API's shape (``{"message": …}``) and the user's language, with the
    RFC 6750 challenge a client library reads to know it should sign in (again)."""
    response = jsonify(message=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = f'Bearer error="{error}"' if error else "Bearer"
    return response


def answer_token_errors(manager: JWTManager) -> None:
    """Flask-JWT-Extended's refusals say what went wrong in English under ``msg`` (and a
    malformed token is a 422): here each is a 401 that says it in the caller's language,
    under ``message`` as every other API error."""

    def missing(_reason: str) -> Response:
        return _refused(_('Sign in first and send the access token as "Authorization: Bearer <token>".'), "")

    def invalid(_reason: str) -> Response:
        return _refused(_("This access token is not valid. Sign in again."), "invalid_token")

    def expired(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return _refused(_("This access token has expired. Refresh it or sign in again."), "invalid_token")

    def ended(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return _refused(
            _("This sign-in has ended (signed out, or the password changed). Sign in again."), "invalid_token"
        )

    def stale(_header: dict[str, Any], _payload: dict[str, Any]) -> Response:
        return _refused(_("This needs a fresh sign-in, not a refreshed token. Sign in again."), "invalid_token")

    manager.unauthorized_loader(missing)
    manager.invalid_token_loader(invalid)
    manager.expired_token_loader(expired)
    manager.revoked_token_loader(ended)
    manager.user_lookup_error_loader(ended)
    manager.token_verification_failed_loader(ended)
    manager.needs_fresh_token_loader(stale)


class Tokens(Schema):
    """The OpenAPI schema of :func:`_tokens`' answer, shared by /login and /refresh."""

    access_token = fields.String()
    refresh_token = fields.String()


class HamaynkSecurityApi(SecurityApi):
    """Flask-AppBuilder's token API with server-side sessions (see the module docstring)."""

    openapi_spec_component_schemas = (Tokens,)

    @expose("/login", methods=["POST"])
    @limits.sign_in("username")
    @safe
    def login(self) -> Response:
        """Sign in and get a JWT access token and, on request, a refresh token
        ---
        post:
          description: >-
            Sign in with a username (or e-mail address) and password. Accounts with a second
            factor also send the current code from their authenticator app as `totp`.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  required: [username, password]
                  properties:
                    username:
                      type: string
                    password:
                      type: string
                    provider:
                      type: string
                      enum: [db]
                    refresh:
                      description: If true a refresh token is provided also
                      type: boolean
                    totp:
                      description: The six-digit code, for accounts with a second factor
                      type: string
          responses:
            200:
              description: Signed in
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Tokens'
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            429:
              description: Too many failed attempts; wait as Retry-After says
        """
        body = request.get_json(silent=True) if request.is_json else None
        if not isinstance(body, dict):
            return self.response_400(message=_("Send a JSON object with a username and a password."))
        username, password = _text(body, "username"), _text(body, "password")
        provider, refresh = body.get("provider", "db"), body.get("refresh", False)
        if username is None or password is None or provider != "db" or not isinstance(refresh, bool):
            return self.response_400(message=_("Send a JSON object with a username and a password."))
        user = self.appbuilder.sm.auth_user_db(username, password)
        if not user:
            signin.audit_failed(channel=CHANNEL, reason="credentials", username=username)
            db.session.commit()
            return self.response(401, message=_("The user name or the password is not right."))
        try:
            _check_second_factor(user.id, body)
        except LoginRefused as refused:
            signin.audit_failed(channel=CHANNEL, reason="second_factor", user_id=user.id)
            db.session.commit()
            return self.response(401, message=refused.message)
        jti = str(uuid.uuid4()) if refresh else None
        raw, _row = sessions.open_session(db.session, user.id, sessions.API, ip=request.remote_addr, refresh_jti=jti)
        signin.audit_login(user, channel=CHANNEL, second_factor_used=second_factor.is_enabled(db.session, user.id))
        db.session.commit()
        return self.response(200, **_tokens(user.id, raw, fresh=True, refresh_jti=jti))

    @expose("/refresh", methods=["POST"])
    @jwt_required(refresh=True)
    @safe
    def refresh(self) -> Response:
        """Exchange a refresh token for a new access token and a new refresh token
        ---
        post:
          description: >-
            The refresh token sent is spent: keep the new one. Sending a spent refresh token
            again ends the session (someone else holds a copy); sign in again then.
          responses:
            200:
              description: A new access token and a new refresh token
              content:
                application/json:
                  schema:
                    $ref: '#/components/schemas/Tokens'
            401:
              $ref: '#/components/responses/401'
          security:
            - jwt_refresh: []
        """
        claims = get_jwt()
        row = sessions.find(db.session, claims.get("sid"))
        if row is None:  # the token check found it a moment ago; only a race gets here
            return self.response(
                401, message=_("This sign-in has ended (signed out, or the password changed). Sign in again.")
            )
        user_id, sid, jti = row.user_id, str(claims["sid"]), str(uuid.uuid4())
        if not sessions.rotate_refresh(db.session, row, str(claims.get("jti")), jti):
            db.session.commit()
            current_app.logger.warning("a spent refresh token was presented again; API session %s ended", row.id)
            return self.response(401, message=_("This refresh token was used already. Sign in again."))
        db.session.commit()
        return self.response(200, **_tokens(user_id, sid, fresh=False, refresh_jti=jti))

    @expose("/logout", methods=["POST"])
    @jwt_required(verify_type=False)
    @safe
    def logout(self) -> Response:
        """End the session of the token sent
        ---
        post:
          description: >-
            Ends the session the token (access or refresh) belongs to: neither its access
            token nor its refresh token works afterwards.
          responses:
            200:
              description: Signed out
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      message:
                        type: string
            401:
              $ref: '#/components/responses/401'
          security:
            - jwt: []
        """
        row = sessions.find(db.session, get_jwt().get("sid"))
        if row is not None:
            sessions.end(db.session, row, sessions.LOGOUT)
            db.session.commit()
        return self.response(200, message=_("You are signed out."))


__all__ = ["HamaynkSecurityApi"]
