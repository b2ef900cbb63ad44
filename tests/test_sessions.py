"""Sign-ins are server-side sessions (issue 12: "sessions and tokens survive logout and password
change"): after signing out, a password change or reset, or deactivation, the old cookie (and
any copy of it), the old access token and the old refresh token are all refused; refresh
tokens rotate and a spent one presented again ends the session; idle staff sessions end;
signing out is a POST."""

from __future__ import annotations

import datetime as dt
import re
import time

import pyotp
import pytest
from sqlalchemy import select, update

from app.domain import citizen_notices, second_factor, sessions
from app.extensions import db
from app.models import Notification, User
from app.models.security import AuthSession
from app.testing import PASSWORD, login, make_citizen, recorded_statements

NEW_PASSWORD = "violet kettle drums softly 42"
USERINFO = "/users/userinfo/"


# -- helpers --------------------------------------------------------------------------------------


def _cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def _browser(app, cookie: str):
    """A second browser holding a copy of ``cookie``."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def _signed_in(browser, url: str = USERINFO) -> bool:
    response = browser.get(url)
    assert response.status_code in (200, 302), response.status_code
    return response.status_code == 200


def _api_login(client, username: str, password: str = PASSWORD, **extra):
    body = {"username": username, "password": password, "provider": "db", "refresh": True, **extra}
    return client.post("/api/v1/security/login", json=body)


def _tokens(client, username: str) -> tuple[str, str]:
    response = _api_login(client, username)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return body["access_token"], body["refresh_token"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _api_ok(client, access: str) -> bool:
    response = client.get("/api/v1/applications", headers=_bearer(access))
    assert response.status_code in (200, 401), response.status_code
    return response.status_code == 200


def _refresh(client, refresh: str):
    return client.post("/api/v1/security/refresh", headers=_bearer(refresh))


def _rows(app, user_id: int) -> list[AuthSession]:
    with app.app_context():
        found = list(db.session.scalars(select(AuthSession).where(AuthSession.user_id == user_id)))
        for row in found:
            db.session.expunge(row)
        return found


def _open_rows(app, user_id: int, kind: str | None = None) -> list[AuthSession]:
    return [r for r in _rows(app, user_id) if r.ended_at is None and (kind is None or r.kind == kind)]


def _age_sessions(app, user_id: int, minutes: int) -> None:
    with app.app_context():
        moment = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=minutes)
        db.session.execute(update(AuthSession).where(AuthSession.user_id == user_id).values(last_seen_at=moment))
        db.session.commit()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


# -- the cookie ------------------------------------------------------------------------------------


def test_signing_in_stores_only_a_random_id_and_its_hash(app, client, login_as):
    login_as("clerk")
    clerk = app.seeded["alpha"]["users"]["clerk"]
    with client.session_transaction() as cookie:
        raw = cookie[sessions_key()]
    [row] = _open_rows(app, clerk)
    assert row.kind == "web" and row.token_hash == sessions.digest(raw) and raw not in row.token_hash
    assert _signed_in(client)


def sessions_key() -> str:
    from app.security import SESSION_ID

    return SESSION_ID


def test_staff_logout_refuses_a_copy_of_the_cookie_taken_before(app, client, login_as):
    login_as("clerk")
    copy = _cookie(client)
    assert _signed_in(_browser(app, copy))
    response = client.post("/logout/")
    assert response.status_code == 302
    assert not _signed_in(client)
    assert not _signed_in(_browser(app, copy))
    [row] = _rows(app, app.seeded["alpha"]["users"]["clerk"])
    assert row.end_reason == sessions.LOGOUT


def test_a_cookie_without_a_session_row_is_refused(app, client, login_as):
    """A cookie signed with the right key but naming no open session (a forged one, or one
    from before sessions were kept) signs nobody in."""
    login_as("clerk")
    with client.session_transaction() as cookie:
        cookie.pop(sessions_key())
    assert not _signed_in(client)
    login_as("clerk")
    with client.session_transaction() as cookie:
        cookie[sessions_key()] = "made-up"
    assert not _signed_in(client)


def test_staff_logout_is_post_only_with_the_csrf_token(app, client, login_as):
    login_as("clerk")
    page = client.get("/logout/?_l_=en")
    assert page.status_code == 200 and 'method="post"' in page.get_data(as_text=True)
    assert _signed_in(client)  # a GET (a link, an image elsewhere) signs nobody out
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post("/logout/").status_code == 400
        assert _signed_in(client)
        token = _csrf(client.get("/logout/").get_data(as_text=True))
        assert client.post("/logout/", data={"csrf_token": token}).status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert not _signed_in(client)


def test_the_staff_navbar_signs_out_with_a_form(app, client, login_as):
    login_as("clerk")
    page = client.get(USERINFO).get_data(as_text=True)
    assert re.search(r'<form[^>]*method="post"[^>]*action="/logout/"', page)
    assert 'href="/logout/"' not in page


def test_portal_logout_refuses_a_copy_of_the_cookie(app, client):
    make_citizen(app, "anna@example.am")
    assert client.post("/account/login", data={"email": "anna@example.am", "password": PASSWORD}).status_code == 302
    copy = _cookie(client)
    assert _signed_in(_browser(app, copy), "/account/profile")
    assert client.post("/account/logout").status_code == 302
    assert not _signed_in(client, "/account/profile")
    assert not _signed_in(_browser(app, copy), "/account/profile")


def test_signing_in_again_ends_the_browsers_previous_session(app, client):
    make_citizen(app, "anna@example.am")
    make_citizen(app, "aram@example.am", name="Aram Petrosyan")
    client.post("/account/login", data={"email": "anna@example.am", "password": PASSWORD})
    copy = _cookie(client)
    client.post("/account/login", data={"email": "aram@example.am", "password": PASSWORD})
    assert _signed_in(client, "/account/profile")
    assert not _signed_in(_browser(app, copy), "/account/profile")


# -- password changes -------------------------------------------------------------------------------


def test_a_staff_password_change_ends_every_other_cookie_and_token(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    other = app.test_client()
    login(other, "alpha.clerk")
    access, refresh = _tokens(other, "alpha.clerk")
    login_as("clerk")
    own_copy = _cookie(client)
    other_copy = _cookie(other)
    assert _api_ok(other, access)

    response = client.post("/resetmypassword/form", data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert response.status_code == 302
    with app.app_context():
        assert app.appbuilder.sm.auth_user_db("alpha.clerk", NEW_PASSWORD) is not None

    # The browser that changed it goes on, under a new session id ...
    assert _signed_in(client)
    assert _cookie(client) != own_copy
    # ... and everything issued before is refused: both cookies, the access and refresh token.
    assert not _signed_in(_browser(app, own_copy))
    assert not _signed_in(other)
    assert not _signed_in(_browser(app, other_copy))
    assert not _api_ok(other, access)
    assert _refresh(other, refresh).status_code == 401
    ended = {r.end_reason for r in _rows(app, clerk) if r.ended_at is not None}
    assert ended == {sessions.PASSWORD}
    assert len(_open_rows(app, clerk)) == 1


def test_an_admin_resetting_a_password_ends_all_that_users_sessions(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    other = app.test_client()
    login(other, "alpha.clerk")
    access, _refresh_token = _tokens(other, "alpha.clerk")
    login_as("system_admin")
    response = client.post(
        f"/resetpassword/form?pk={clerk}", data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert not _signed_in(other)
    assert not _api_ok(other, access)
    assert _signed_in(client)  # the admin's own session is not touched
    assert _open_rows(app, clerk) == []


def _reset_link(app, user_id: int) -> str:
    with app.app_context():
        body = db.session.scalars(
            select(Notification.body).where(
                Notification.recipient_user_id == user_id,
                Notification.kind == citizen_notices.PASSWORD_RESET,
                Notification.channel == "email",
            )
        ).all()[-1]
    found = re.search(r"/account/reset/[A-Za-z0-9_.\-]+", body)
    assert found, body
    return found.group(0)


def test_a_citizen_password_reset_ends_every_session(app, client):
    anna = make_citizen(app, "anna@example.am")
    signed_in = app.test_client()
    assert signed_in.post("/account/login", data={"email": "anna@example.am", "password": PASSWORD}).status_code == 302
    copy = _cookie(signed_in)
    client.post("/account/reset", data={"email": "anna@example.am"})
    link = _reset_link(app, anna)
    done = client.post(link, data={"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 302
    assert not _signed_in(signed_in, "/account/profile")
    assert not _signed_in(_browser(app, copy), "/account/profile")
    assert {r.end_reason for r in _rows(app, anna)} == {sessions.PASSWORD}


def test_a_deactivated_users_sessions_end_and_stay_ended(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    login_as("clerk")
    copy = _cookie(client)
    api = app.test_client()
    access, refresh = _tokens(api, "alpha.clerk")
    with app.app_context():
        db.session.get(User, clerk).active = False
        db.session.commit()
    assert {r.end_reason for r in _rows(app, clerk)} == {sessions.DEACTIVATED}
    with app.app_context():
        db.session.get(User, clerk).active = True  # taken back: the old sign-ins stay ended
        db.session.commit()
    assert not _signed_in(_browser(app, copy))
    assert not _api_ok(api, access)
    assert _refresh(api, refresh).status_code == 401


def test_other_changes_to_the_user_end_nothing(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    login_as("clerk")
    with app.app_context():
        db.session.get(User, clerk).first_name = "Lilit"
        db.session.commit()
    assert _signed_in(client)
    assert len(_open_rows(app, clerk)) == 1


# -- idle timeout ------------------------------------------------------------------------------------


def test_an_idle_staff_session_ends(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    login_as("clerk")
    _age_sessions(app, clerk, app.config["HAMAYNK_STAFF_IDLE_MINUTES"] - 1)
    assert _signed_in(client)  # used within the limit: it goes on (and is touched)
    _age_sessions(app, clerk, app.config["HAMAYNK_STAFF_IDLE_MINUTES"] + 1)
    assert not _signed_in(client)
    [row] = _rows(app, clerk)
    assert row.end_reason == sessions.IDLE
    # Once ended, it stays ended.
    _age_sessions(app, clerk, 0)
    assert not _signed_in(client)


def test_citizens_may_be_idle_longer_than_staff(app, client):
    anna = make_citizen(app, "anna@example.am")
    client.post("/account/login", data={"email": "anna@example.am", "password": PASSWORD})
    _age_sessions(app, anna, app.config["HAMAYNK_STAFF_IDLE_MINUTES"] + 1)
    assert _signed_in(client, "/account/profile")
    _age_sessions(app, anna, app.config["HAMAYNK_CITIZEN_IDLE_MINUTES"] + 1)
    assert not _signed_in(client, "/account/profile")


def test_no_idle_limit_when_set_to_zero(app, client, login_as):
    app.config["HAMAYNK_STAFF_IDLE_MINUTES"] = 0
    clerk = app.seeded["alpha"]["users"]["clerk"]
    login_as("clerk")
    _age_sessions(app, clerk, 60 * 24 * 30)
    assert _signed_in(client)


def test_a_session_is_touched_at_most_once_a_minute(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    login_as("clerk")
    _age_sessions(app, clerk, 2)

    def touches() -> int:
        statements = recorded_statements(app, lambda: client.get(USERINFO), session_touches=True)
        return sum(1 for s in statements if s.lstrip().upper().startswith("UPDATE AUTH_SESSION"))

    assert touches() == 1
    assert touches() == 0


# -- the API's tokens --------------------------------------------------------------------------------


def test_api_tokens_carry_a_session_and_logout_ends_both(app, client):
    access, refresh = _tokens(client, "alpha.clerk")
    assert _api_ok(client, access)
    [row] = _open_rows(app, app.seeded["alpha"]["users"]["clerk"], "api")
    assert row.refresh_jti
    response = client.post("/api/v1/security/logout", headers=_bearer(access))
    assert response.status_code == 200
    assert not _api_ok(client, access)
    assert _refresh(client, refresh).status_code == 401
    assert client.post("/api/v1/security/logout", headers=_bearer(access)).status_code == 401


def test_api_logout_with_the_refresh_token_ends_the_session_too(app, client):
    access, refresh = _tokens(client, "alpha.clerk")
    assert client.post("/api/v1/security/logout", headers=_bearer(refresh)).status_code == 200
    assert not _api_ok(client, access)


def test_api_logout_needs_a_post(app, client):
    access, _refresh_token = _tokens(client, "alpha.clerk")
    assert client.get("/api/v1/security/logout", headers=_bearer(access)).status_code == 405
    assert _api_ok(client, access)


def test_refresh_rotates_the_refresh_token(app, client):
    _access, first = _tokens(client, "alpha.clerk")
    response = _refresh(client, first)
    assert response.status_code == 200
    body = response.get_json()
    second = body["refresh_token"]
    assert second != first and _api_ok(client, body["access_token"])
    third = _refresh(client, second).get_json()["refresh_token"]
    assert _refresh(client, third).status_code == 200


def test_a_spent_refresh_token_presented_again_ends_the_session(app, client):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    access, first = _tokens(client, "alpha.clerk")
    body = _refresh(client, first).get_json()
    newest_access, second = body["access_token"], body["refresh_token"]
    replay = _refresh(client, first)  # the thief (or the owner) replays the spent token
    assert replay.status_code == 401
    # Everything of that session is refused now, the newest tokens too.
    assert _refresh(client, second).status_code == 401
    assert not _api_ok(client, newest_access)
    assert not _api_ok(client, access)
    [row] = _rows(app, clerk)
    assert row.end_reason == sessions.REFRESH_REUSE


def test_an_access_token_is_not_a_refresh_token(app, client):
    access, _refresh_token = _tokens(client, "alpha.clerk")
    assert _refresh(client, access).status_code in (401, 422)


def test_a_token_without_a_session_is_refused(app, client):
    """A token signed with the right key but carrying no open session (issued before
    sessions were kept, or forged) is refused."""
    from flask_jwt_extended import create_access_token

    clerk = app.seeded["alpha"]["users"]["clerk"]
    with app.test_request_context():
        bare = create_access_token(identity=str(clerk))
        made_up = create_access_token(identity=str(clerk), additional_claims={"sid": "made-up"})
    assert not _api_ok(client, bare)
    assert not _api_ok(client, made_up)


def test_a_token_of_one_user_cannot_name_another_users_session(app, client):
    from flask_jwt_extended import create_access_token, decode_token

    access, _refresh_token = _tokens(client, "alpha.clerk")
    head = app.seeded["alpha"]["users"]["head"]
    with app.test_request_context():
        sid = decode_token(access)["sid"]
        swapped = create_access_token(identity=str(head), additional_claims={"sid": sid})
    assert not _api_ok(client, swapped)


def test_api_login_without_refresh_gives_no_refresh_token(app, client):
    response = client.post(
        "/api/v1/security/login", json={"username": "alpha.clerk", "password": PASSWORD, "provider": "db"}
    )
    assert response.status_code == 200 and "refresh_token" not in response.get_json()


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"username": "alpha.clerk"},
        {"username": "alpha.clerk", "password": 12345},
        {"username": "alpha.clerk", "password": PASSWORD, "provider": "ldap"},
        {"username": "alpha.clerk", "password": PASSWORD, "refresh": "yes"},
        {"username": "alpha.clerk\ud800", "password": PASSWORD},
    ],
)
def test_bad_api_login_bodies_are_400_and_open_nothing(app, client, body):
    response = client.post("/api/v1/security/login", json=body)
    assert response.status_code == 400
    assert _open_rows(app, app.seeded["alpha"]["users"]["clerk"]) == []


def test_wrong_api_password_is_401_and_opens_nothing(app, client):
    assert _api_login(client, "alpha.clerk", "wrong-password").status_code == 401
    assert _open_rows(app, app.seeded["alpha"]["users"]["clerk"]) == []


def test_api_login_is_limited(app, client):
    app.config["HAMAYNK_LIMIT_LOGIN"] = "3 per minute"
    for _attempt in range(3):
        assert _api_login(client, "alpha.clerk", "wrong-password").status_code == 401
    refused = _api_login(client, "alpha.clerk")  # even the right password, over the limit
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert _open_rows(app, app.seeded["alpha"]["users"]["clerk"]) == []


def _enrol(app, user_id: int) -> str:
    """Switch the second factor on for ``user_id`` (its code a step ago); returns the secret."""
    with app.app_context():
        key = app.config["SECRET_KEY"]
        secret = second_factor.begin_enrolment(db.session, user_id, "clerk", secret_key=key).secret
        earlier = time.time() - 30
        code = pyotp.TOTP(secret).at(earlier)
        assert second_factor.confirm_enrolment(db.session, user_id, code, secret_key=key, now=earlier)
        db.session.commit()
    return secret


def test_api_login_of_an_account_with_a_second_factor_needs_the_code(app, client):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    secret = _enrol(app, clerk)
    without = _api_login(client, "alpha.clerk")
    assert without.status_code == 401 and "totp" in without.get_json()["message"]
    assert _api_login(client, "alpha.clerk", totp="not a code").status_code == 401
    assert _open_rows(app, clerk) == []
    code = pyotp.TOTP(secret).now()
    assert _api_login(client, "alpha.clerk", totp=code).status_code == 200
    assert _api_login(client, "alpha.clerk", totp=code).status_code == 401  # a code is good once
    assert len(_open_rows(app, clerk, "api")) == 1
