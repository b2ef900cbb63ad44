"""The staff second factor (issue 12): TOTP enrolment, codes good once, the sign-in that waits
for its code, the requirement for administrators, switching off (by the person with a code or
by an administrator), all audit-logged (app.domain.second_factor, app.admin.login)."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pyotp
import pytest
from babel.support import Translations
from sqlalchemy import select

import app as app_package
from app.domain import audit, second_factor
from app.extensions import db
from app.models import AccountSecurity, AuditEvent, Municipality
from app.testing import PASSWORD

KEY = "second-factor-test-key-of-enough-length"


def _code(secret: str, shift: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + shift * 30)


def _enable(app, user_id: int) -> str:
    """Switch the second factor on for ``user_id`` the way the pages do; returns the secret."""
    with app.app_context():
        key = app.config["SECRET_KEY"]
        enrolment = second_factor.begin_enrolment(db.session, user_id, "someone", secret_key=key)
        # A code of the step before now: the tests' own sign-in codes (now, later) stay unused.
        assert second_factor.confirm_enrolment(db.session, user_id, _code(enrolment.secret, -1), secret_key=key)
        db.session.commit()
        return enrolment.secret


def _signed_in(client) -> bool:
    with client.session_transaction() as session:
        return "_user_id" in session


def _password(client, username: str):
    client.post("/logout/")
    return client.post("/login/", data={"username": username, "password": PASSWORD})


def _events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent).where(AuditEvent.action == action)).scalars())


# -- the domain --------------------------------------------------------------------------------


def test_enrolment_stores_the_secret_sealed_and_switches_on_only_with_a_right_code(app):
    user_id = app.seeded["alpha"]["users"]["clerk"]
    with app.app_context():
        enrolment = second_factor.begin_enrolment(db.session, user_id, "alpha.clerk", secret_key=KEY)
        assert enrolment.uri.startswith("otpauth://totp/") and "secret=" + enrolment.secret in enrolment.uri
        row = db.session.get(AccountSecurity, user_id)
        assert row.totp_secret and enrolment.secret not in row.totp_secret
        # Reloading the page keeps the secret the app scanned.
        assert (
            second_factor.begin_enrolment(db.session, user_id, "alpha.clerk", secret_key=KEY).secret == enrolment.secret
        )
        assert not second_factor.is_enabled(db.session, user_id)
        assert not second_factor.check_code(db.session, user_id, _code(enrolment.secret), secret_key=KEY)
        assert not second_factor.confirm_enrolment(db.session, user_id, "not a code", secret_key=KEY)
        assert second_factor.confirm_enrolment(db.session, user_id, _code(enrolment.secret), secret_key=KEY)
        db.session.commit()
        assert second_factor.is_enabled(db.session, user_id)
        # Sealed under another key (a rotated SECRET_KEY) it opens nothing.
        assert not second_factor.check_code(db.session, user_id, _code(enrolment.secret, 1), secret_key="another-key-x")
    assert [e.object_id for e in _events(app, second_factor.AUDIT_ENABLED)] == [str(user_id)]


def test_a_code_is_good_once_and_older_codes_are_refused(app):
    user_id = app.seeded["alpha"]["users"]["clerk"]
    secret = _enable(app, user_id)
    with app.app_context():
        key = app.config["SECRET_KEY"]
        now = _code(secret)
        assert second_factor.check_code(db.session, user_id, now, secret_key=key)
        db.session.commit()
        assert not second_factor.check_code(db.session, user_id, now, secret_key=key)  # replayed
        assert not second_factor.check_code(db.session, user_id, _code(secret, -1), secret_key=key)  # older
        assert second_factor.check_code(
            db.session, user_id, _code(secret, 1)[:3] + " " + _code(secret, 1)[3:], secret_key=key
        )
        for junk in ("", "12345", "1234567", "abcdef", "１２３４５６", None):
            assert not second_factor.check_code(db.session, user_id, junk, secret_key=key)  # type: ignore[arg-type]


def test_required_for_municipal_admins_when_their_municipality_asks_and_system_admins_by_setting(app):
    alpha = app.seeded["alpha"]
    with app.app_context():
        config = dict(app.config)
        admin, clerk = alpha["users"]["municipal_admin"], alpha["users"]["clerk"]
        assert not second_factor.required_for(db.session, admin, config)
        db.session.get(Municipality, alpha["id"]).require_admin_totp = True
        db.session.commit()
        assert second_factor.required_for(db.session, admin, config)
        assert not second_factor.required_for(db.session, clerk, config)
        assert not second_factor.required_for(db.session, app.seeded["beta"]["users"]["municipal_admin"], config)
        sysadmin = app.seeded["sysadmin"]
        assert not second_factor.required_for(db.session, sysadmin, config)
        assert second_factor.required_for(db.session, sysadmin, {**config, "HAMAYNK_REQUIRE_ADMIN_TOTP": True})


# -- signing in --------------------------------------------------------------------------------


def _said_not_right(page: str) -> bool:
    """The code page says the code was wrong, in English or in Armenian (the default)."""
    msgid = "This code is not right, or it was used already. Enter the code your app shows now."
    armenian = Translations.load(str(Path(app_package.__file__).parent / "translations"), ["hy"]).gettext(msgid)
    return html.escape(msgid, quote=False) in page or armenian in page


def test_a_right_password_alone_does_not_sign_in_an_account_with_a_second_factor(app, client):
    user_id = app.seeded["alpha"]["users"]["clerk"]
    secret = _enable(app, user_id)
    response = _password(client, "alpha.clerk")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    assert not _signed_in(client)
    assert client.get("/admin/staff/").status_code in (302, 401, 403)
    wrong = client.post("/login/code?_l_=en", data={"code": "000000"})
    assert wrong.status_code == 400 and _said_not_right(wrong.get_data(as_text=True))
    assert not _signed_in(client)
    failed = _events(app, audit.LOGIN_FAILED)
    assert [(e.details["reason"], e.object_id) for e in failed] == [("second_factor", str(user_id))]
    assert "000000" not in str(failed[0].details)
    code = _code(secret)
    right = client.post("/login/code", data={"code": code})
    assert right.status_code == 302 and _signed_in(client)
    assert [e.details.get("second_factor") for e in _events(app, audit.LOGIN)] == [True]
    # The same code cannot sign in again, not even in another browser right away.
    _password(client, "alpha.clerk")
    assert client.post("/login/code", data={"code": code}).status_code == 400
    assert not _signed_in(client)


def test_wrong_codes_end_the_waiting_sign_in(app, client):
    _enable(app, app.seeded["alpha"]["users"]["clerk"])
    _password(client, "alpha.clerk")
    statuses = [client.post("/login/code", data={"code": "000000"}).status_code for _ in range(5)]
    assert statuses[:4] == [400] * 4 and statuses[4] == 302  # the fifth: back to the password
    assert client.get("/login/code").headers["Location"].endswith("/login/")
    assert not _signed_in(client)


def test_wrong_codes_are_limited_per_account_even_with_a_replayed_cookie(app, client):
    app.config["HAMAYNK_LIMIT_SECOND_FACTOR"] = "3 per hour"
    secret = _enable(app, app.seeded["alpha"]["users"]["clerk"])
    _password(client, "alpha.clerk")
    with client.session_transaction() as session:
        waiting = dict(session)
    for n in range(3):
        # The attacker puts back the cookie from before each wrong code (its count of tries).
        with client.session_transaction() as session:
            session.update(waiting)
        client.post("/login/code", data={"code": "000000"}, environ_overrides={"REMOTE_ADDR": f"10.9.0.{n}"})
    with client.session_transaction() as session:
        session.update(waiting)
    refused = client.post("/login/code", data={"code": _code(secret)}, environ_overrides={"REMOTE_ADDR": "10.9.1.1"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert not _signed_in(client)


def test_the_waiting_sign_in_expires(app, client):
    app.config["HAMAYNK_SECOND_FACTOR_WINDOW"] = -1
    secret = _enable(app, app.seeded["alpha"]["users"]["clerk"])
    _password(client, "alpha.clerk")
    response = client.post("/login/code", data={"code": _code(secret)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/")
    assert not _signed_in(client)


def test_staff_signing_in_through_the_portal_are_asked_for_the_code_too(app, client):
    _enable(app, app.seeded["alpha"]["users"]["clerk"])
    response = client.post("/account/login", data={"email": "alpha.clerk@test.example", "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"].endswith("/login/code")
    assert not _signed_in(client)


def test_an_admin_required_to_use_one_enrols_before_anything_else(app, client, login_as):
    login_as("municipal_admin")
    assert client.post("/second-factor/municipality", data={"required": "yes"}).status_code == 302
    with app.app_context():
        assert db.session.get(Municipality, app.seeded["alpha"]["id"]).require_admin_totp
    assert [e.details for e in _events(app, second_factor.AUDIT_REQUIREMENT)] == [{"required": True}]
    # The clerk is not asked; the administrator is, at the next sign-in.
    assert _password(client, "alpha.clerk").headers["Location"].endswith("/")
    assert _signed_in(client)
    response = _password(client, "alpha.municipal_admin")
    assert response.headers["Location"].endswith("/login/enrol") and not _signed_in(client)
    assert client.get("/admin/staff/").status_code in (302, 401, 403)
    page = client.get("/login/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert client.post("/login/enrol", data={"code": "000000"}).status_code == 400
    assert client.post("/login/enrol", data={"code": _code(secret)}).status_code == 302
    assert _signed_in(client)
    with app.app_context():
        assert second_factor.is_enabled(db.session, app.seeded["alpha"]["users"]["municipal_admin"])
    # Next time: the code page.
    assert _password(client, "alpha.municipal_admin").headers["Location"].endswith("/login/code")


def test_a_system_admin_is_required_to_enrol_when_the_install_says_so(app, client):
    app.config["HAMAYNK_REQUIRE_ADMIN_TOTP"] = True
    assert _password(client, "sysadmin").headers["Location"].endswith("/login/enrol")
    assert not _signed_in(client)


# -- the account menu's page ------------------------------------------------------------------


def test_staff_enrol_and_switch_off_with_a_code_from_the_menu_audited(app, client, login_as):
    user_id = app.seeded["alpha"]["users"]["specialist"]
    login_as("specialist")
    assert client.get("/second-factor/").status_code == 200
    page = client.get("/second-factor/enrol").get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    assert client.post("/second-factor/enrol", data={"code": _code(secret, -1)}).status_code == 302
    wrong = client.post("/second-factor/disable", data={"code": "000000"})
    assert wrong.status_code == 400
    with app.app_context():
        assert second_factor.is_enabled(db.session, user_id)
    assert client.post("/second-factor/disable", data={"code": _code(secret)}).status_code == 302
    with app.app_context():
        assert not second_factor.is_enabled(db.session, user_id)
        assert db.session.get(AccountSecurity, user_id).totp_secret is None
    assert [e.actor_id for e in _events(app, second_factor.AUDIT_DISABLED)] == [user_id]


def test_an_administrator_resets_a_lost_second_factor_of_their_own_staff_only(app, client, login_as):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    _enable(app, clerk)
    login_as("municipal_admin", "beta")
    assert client.post(f"/second-factor/reset/{clerk}").status_code == 404
    login_as("clerk", "beta")
    assert client.post(f"/second-factor/reset/{clerk}").status_code == 404
    with app.app_context():
        assert second_factor.is_enabled(db.session, clerk)
    login_as("municipal_admin")
    assert client.post(f"/second-factor/reset/{clerk}").status_code == 302
    with app.app_context():
        assert not second_factor.is_enabled(db.session, clerk)
    events = _events(app, second_factor.AUDIT_RESET)
    assert [(e.actor_id, e.object_id) for e in events] == [
        (app.seeded["alpha"]["users"]["municipal_admin"], str(clerk))
    ]


@pytest.mark.parametrize("path", ["/second-factor/", "/second-factor/enrol"])
def test_the_pages_are_for_signed_in_staff(app, client, login_as, path):
    assert client.get(path).status_code in (302, 401)
    login_as("citizen")
    assert client.get(path).status_code == 403
