"""Citizen accounts: registration with e-mail verification, sign-in and sign-out, password
reset and the profile; no user enumeration; rate limits; bad input changes nothing."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from app.domain import accounts, citizen_notices, roles
from app.extensions import db
from app.models import CitizenProfile, Notification, StaffProfile, User
from app.testing import PASSWORD, make_citizen

STRONG = "correct horse battery staple"
NEW_STRONG = "violet kettle drums softly"
NAME = "Anna Petrosyan"


def _text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def _refused_by_input_layer(response, problem: str) -> None:
    """The input layer's 400 page (app.cleaning, in English): its title, ``problem`` and that
    nothing was changed."""
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    text = _text(response)
    assert "The request could not be accepted" in text
    assert f"{problem} Nothing was changed." in text
    assert "Location" not in response.headers


def _without_nonces(response) -> str:
    return re.sub(r'nonce="[^"]*"', "", _text(response))


CONTROL_CHARACTERS = "This text contains control characters; remove them."


def _register(client, **overrides):
    data = {
        "name": NAME,
        "email": "Anna@Example.am",
        "password": STRONG,
        "password_again": STRONG,
        "language": "en",
    }
    data.update(overrides)
    return client.post("/account/register?_l_=en", data=data)


def _users(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count(User.id))).scalar_one()


def _user(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.execute(select(User).where(User.username == email)).scalar_one_or_none()
        if user is not None:
            db.session.expunge(user)
        return user


def _profile(app, user_id: int) -> CitizenProfile | None:
    with app.app_context():
        profile = db.session.execute(
            select(CitizenProfile).where(CitizenProfile.user_id == user_id)
        ).scalar_one_or_none()
        if profile is not None:
            db.session.expunge(profile)
        return profile


def _notices(app, user_id: int, kind: str | None = None) -> list[Notification]:
    with app.app_context():
        stmt = select(Notification).where(Notification.recipient_user_id == user_id).order_by(Notification.id)
        if kind:
            stmt = stmt.where(Notification.kind == kind)
        rows = list(db.session.execute(stmt).scalars())
        for row in rows:
            db.session.expunge(row)
        return rows


def _link(app, user_id: int, kind: str, pattern: str) -> str:
    bodies = [n.body for n in _notices(app, user_id, kind) if n.channel == "email"]
    assert bodies, f"no {kind} e-mail"
    found = re.search(pattern + r"([A-Za-z0-9_.\-]+)", bodies[-1])
    assert found, bodies[-1]
    return found.group(0)[found.group(0).index("/account/") :]


def _verify_link(app, user_id: int) -> str:
    return _link(app, user_id, citizen_notices.ACCOUNT_VERIFY, r"/account/verify/")


def _reset_link(app, user_id: int) -> str:
    return _link(app, user_id, citizen_notices.PASSWORD_RESET, r"/account/reset/")


def _portal_login(client, email, password=STRONG, **extra):
    return client.post("/account/login?_l_=en", data={"email": email, "password": password, **extra})


def _signed_in_as(client) -> str | None:
    with client.session_transaction() as session:
        return session.get("_user_id")


# -- registration ---------------------------------------------------------------------------------


def test_registration_creates_an_inactive_citizen_and_sends_a_verification_link(app, client):
    response = _register(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sent/register"
    user = _user(app, "anna@example.am")
    assert user is not None and not user.active
    assert (user.first_name, user.last_name, user.email) == ("Anna", "Petrosyan", "anna@example.am")
    with app.app_context():
        fresh = db.session.get(User, user.id)
        assert [r.name for r in fresh.roles] == [roles.CITIZEN]
        assert db.session.execute(select(StaffProfile).where(StaffProfile.user_id == user.id)).first() is None
    profile = _profile(app, user.id)
    assert profile.language == "en" and profile.email_verified_at is None
    mails = [n for n in _notices(app, user.id, citizen_notices.ACCOUNT_VERIFY) if n.channel == "email"]
    assert len(mails) == 1 and mails[0].recipient_address == "anna@example.am" and mails[0].municipality_id is None
    assert "/account/verify/" in mails[0].body
    assert "Check your e-mail" in _text(client.get("/account/sent/register?_l_=en"))


def test_verification_link_opens_the_account_once(app, client):
    _register(client)
    user = _user(app, "anna@example.am")
    link = _verify_link(app, user.id)
    # Not verified yet: signing in says so, and signs nobody in.
    refused = _portal_login(client, "anna@example.am")
    assert "Confirm your e-mail address first" in _text(refused)
    assert _signed_in_as(client) is None
    response = client.get(link + "?_l_=en")
    assert response.status_code == 200 and "confirmed" in _text(response)
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert _user(app, "anna@example.am").active
    assert _profile(app, user.id).email_verified_at is not None
    again = client.get(link + "?_l_=en")
    assert again.status_code == 200 and "works only once" in _text(again)
    signed = _portal_login(client, "anna@example.am")
    assert signed.status_code == 302 and _signed_in_as(client) == str(user.id)


def test_forged_expired_and_foreign_verification_links_change_nothing(app, client):
    _register(client)
    user = _user(app, "anna@example.am")
    link = _verify_link(app, user.id)
    token = link.rsplit("/", 1)[1]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, "x", "a" * 2000, "<script>", token.replace(".", "")):
        response = client.get(f"/account/verify/{bad}?_l_=en")
        assert response.status_code in (400, 404), bad
        assert "Traceback" not in response.get_data(as_text=True)
    # A reset token is not a verification token (another salt).
    with app.app_context():
        reset = accounts.reset_token(app.config, db.session.get(User, user.id))
    assert client.get(f"/account/verify/{reset}").status_code == 400
    app.config["HAMAYNK_VERIFY_MAX_AGE"] = -1
    expired = client.get(link + "?_l_=en")
    assert expired.status_code == 400 and "too old" in _text(expired)
    app.config["HAMAYNK_VERIFY_MAX_AGE"] = 3600
    # A link for an address the account no longer has is no good either.
    with app.app_context():
        db.session.get(User, user.id).email = "other@example.am"
        db.session.commit()
    assert client.get(link).status_code == 400
    assert not _user(app, "anna@example.am").active
    assert _profile(app, user.id).email_verified_at is None


def test_resending_the_link_works_for_unverified_accounts_only_and_answers_the_same(app, client):
    app.config["HAMAYNK_LIMIT_VERIFY_RESEND"] = "100 per minute"
    _register(client)
    user = _user(app, "anna@example.am")
    make_citizen(app, "verified@example.am")
    for email in ("anna@example.am", "verified@example.am", "nobody@example.am"):
        response = client.post("/account/verify/resend?_l_=en", data={"email": email})
        assert response.status_code == 302 and response.headers["Location"] == "/account/sent/verify"
    assert len([n for n in _notices(app, user.id, citizen_notices.ACCOUNT_VERIFY) if n.channel == "email"]) == 2
    verified = _user(app, "verified@example.am")
    assert _notices(app, verified.id, citizen_notices.ACCOUNT_VERIFY) == []
    bad = client.post("/account/verify/resend?_l_=en", data={"email": "not an address"})
    assert bad.status_code == 400 and "valid e-mail address" in _text(bad)


def test_registering_a_taken_address_looks_the_same_and_tells_the_owner(app, client):
    owner_id = make_citizen(app, "anna@example.am")
    before = _users(app)
    fresh = _register(client, email="new@example.am")
    taken = _register(client, email="ANNA@example.am ")
    assert fresh.status_code == taken.status_code == 302
    assert fresh.headers["Location"] == taken.headers["Location"]
    assert _users(app) == before + 1  # only the new address made an account
    told = [n for n in _notices(app, owner_id, accounts.ACCOUNT_EXISTS) if n.channel == "email"]
    assert len(told) == 1
    assert "already has one" in told[0].body or told[0].language != "en"
    assert "/account/reset" in told[0].body
    # Staff addresses too: no account made, nothing said on the page.
    staff = _register(client, email="alpha.clerk@test.example")
    assert staff.status_code == 302 and _users(app) == before + 1


def test_registering_again_before_verifying_sends_a_new_link(app, client):
    _register(client)
    _register(client, name="Anna P")
    user = _user(app, "anna@example.am")
    assert len([n for n in _notices(app, user.id, citizen_notices.ACCOUNT_VERIFY) if n.channel == "email"]) == 2
    assert _users(app) and user.first_name == "Anna"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"name": "", "email": "", "password": "", "password_again": ""}, "name", "Enter your name"),
        ({"email": ""}, "email", "Enter your e-mail address"),
        ({"email": "anna@"}, "email", "valid e-mail address"),
        ({"email": "anna example.am"}, "email", "valid e-mail address"),
        ({"email": "a" * 120 + "@example.am"}, "email", "at most 128"),
        ({"name": "A" * 200}, "name", "at most"),
        ({"name": "A" * 70 + " B"}, "name", "shorter name"),
        ({"name": "Anna\x00Petrosyan"}, "name", "control characters"),
        ({"name": "Anna\x07"}, "name", "control characters"),
        ({"password": "short", "password_again": "short"}, "password", "at least 10"),
        ({"password": "password1234", "password_again": "password1234"}, "password", "people use most"),
        ({"password": "aaaaaaaaaaaaaa", "password_again": "aaaaaaaaaaaaaa"}, "password", "Repeated"),
        ({"password": "asdfghjkl;lkjh", "password_again": "asdfghjkl;lkjh"}, "password", "keyboard"),
        ({"password": "annapetrosyan1", "password_again": "annapetrosyan1"}, "password", "your name or e-mail"),
        ({"password": "x" * 300, "password_again": "x" * 300}, "password", "at most 256"),
        ({"password_again": STRONG + "!"}, "password_again", "not the same"),
        ({"password_again": ""}, "password_again", "Enter the password again"),
    ],
)
def test_bad_registration_says_why_next_to_the_field_and_creates_nothing(app, client, overrides, field, words):
    before = _users(app)
    response = _register(client, **overrides)
    page = response.get_data(as_text=True)
    if words == "control characters":
        # Refused by the input layer (app.cleaning) before the form is read: its page, not the form.
        _refused_by_input_layer(response, CONTROL_CHARACTERS)
    else:
        assert response.status_code == 400
        text = _text(response)
        assert words in text, text[:2000]
        assert f'href="#{field}"' in page  # the error summary links to the field
        assert re.search(rf'id="{field}"[^>]*aria-invalid="true"', page)
    assert STRONG not in page  # a password is never sent back
    assert _users(app) == before
    with app.app_context():
        assert db.session.execute(select(func.count(Notification.id))).scalar_one() == 0


def test_the_language_of_the_form_is_kept_and_hostile_values_are_escaped(app, client):
    response = _register(client, name="<script>alert(1)</script>", password="x", password_again="y")
    page = response.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    response = _register(client, language="xx")  # not a language: the page's language instead
    user = _user(app, "anna@example.am")
    assert response.status_code == 302 and _profile(app, user.id).language == "en"


# -- signing in -----------------------------------------------------------------------------------


def test_wrong_address_and_wrong_password_get_the_same_answer(app, client, monkeypatch):
    make_citizen(app, "anna@example.am", password=STRONG)
    hashed = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: hashed.append(h) or real(h, p))
    unknown = _portal_login(client, "nobody@example.am")
    assert len(hashed) == 1
    wrong = _portal_login(client, "anna@example.am", "not the password at all")
    assert len(hashed) == 2  # a password hash is checked on both paths: same time within noise
    assert unknown.status_code == wrong.status_code == 400
    assert _text(unknown) == _text(wrong).replace("anna@example.am", "nobody@example.am")
    assert "The e-mail address or the password is not right." in _text(unknown)
    assert _signed_in_as(client) is None
    # Hostile input is the same wrong answer, not a crash.
    for email, password in (("", ""), ("a" * 5000, "b" * 5000), ("' OR 1=1 --", "x")):
        response = _portal_login(client, email, password)
        assert response.status_code == 400 and "not right" in _text(response)
    # A control character is refused by the input layer (app.cleaning) before any look-up:
    # the same refusal whether the address or only the password holds it.
    hashed.clear()
    nul_address = _portal_login(client, "\x00", "\x00")
    nul_password = _portal_login(client, "anna@example.am", "\x00")
    _refused_by_input_layer(nul_address, CONTROL_CHARACTERS)
    _refused_by_input_layer(nul_password, CONTROL_CHARACTERS)
    # The page's script nonces differ from response to response; nothing else may.
    assert _without_nonces(nul_address) == _without_nonces(nul_password)
    assert hashed == [] and _signed_in_as(client) is None


def test_sign_in_sets_the_profile_language_and_goes_to_next(app, client):
    user_id = make_citizen(app, "anna@example.am", password=STRONG, language="ru")
    response = _portal_login(client, "ANNA@example.am", next="/m/alpha/?q=x")
    assert response.status_code == 302 and response.headers["Location"] == "/m/alpha/?q=x"
    assert _signed_in_as(client) == str(user_id)
    with client.session_transaction() as session:
        assert session["locale"] == "ru"
    assert '<html lang="ru">' in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/account/logout",
        "\x00/x",
        "/%0d%0aSet-Cookie:x=1",
    ],
)
def test_sign_in_never_redirects_off_the_site(app, client, target):
    make_citizen(app, "anna@example.am", password=STRONG)
    if "\x00" in target:
        # Refused by the input layer (app.cleaning): no form, no sign-in, no redirect at all.
        shown = client.get("/account/login", query_string={"next": target, "_l_": "en"})
        _refused_by_input_layer(shown, CONTROL_CHARACTERS)
        _refused_by_input_layer(_portal_login(client, "anna@example.am", next=target), CONTROL_CHARACTERS)
        assert _signed_in_as(client) is None
        return
    page = client.get("/account/login", query_string={"next": target}).get_data(as_text=True)
    response = _portal_login(client, "anna@example.am", next=target)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith(("//", "/\\"))
    assert "evil" not in location and "logout" not in location and "\n" not in location
    assert 'value="https://evil' not in page


def test_staff_signing_in_here_go_to_the_office_home(app, client):
    response = _portal_login(client, "alpha.clerk@test.example", PASSWORD, next="/m/alpha/")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "Clerk Alpha" in client.get("/").get_data(as_text=True)


def test_a_disabled_account_cannot_sign_in_and_is_told_nothing_more(app, client):
    user_id = make_citizen(app, "anna@example.am", password=STRONG)
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
    response = _portal_login(client, "anna@example.am")
    assert response.status_code == 400 and "not right" in _text(response)
    assert _signed_in_as(client) is None


def test_the_login_page_lists_the_ways_to_sign_in(app, client):
    page = _text(client.get("/account/login?_l_=en"))
    assert "Forgot your password?" in page and "Create an account" in page
    assert "Other ways to sign in" not in page  # only passwords configured


def test_logout_is_post_only_and_needs_the_csrf_token(app, client):
    make_citizen(app, "anna@example.am", password=STRONG)
    _portal_login(client, "anna@example.am")
    assert client.get("/account/logout").status_code == 405
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = client.post("/account/logout")
        assert refused.status_code == 400
        assert _signed_in_as(client) is not None
        page = client.get("/account/profile").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post("/account/logout", data={"csrf_token": token})
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert _signed_in_as(client) is None
    assert client.get("/account/profile").status_code == 302


# -- password reset -------------------------------------------------------------------------------


def test_reset_request_answers_the_same_and_mails_only_citizen_accounts(app, client):
    user_id = make_citizen(app, "anna@example.am", password=STRONG)
    answers = set()
    for email in ("anna@example.am", "nobody@example.am", "alpha.clerk@test.example"):
        response = client.post("/account/reset?_l_=en", data={"email": email})
        assert response.status_code == 302
        answers.add(response.headers["Location"])
    assert answers == {"/account/sent/reset"}
    assert len([n for n in _notices(app, user_id, citizen_notices.PASSWORD_RESET) if n.channel == "email"]) == 1
    clerk = app.seeded["alpha"]["users"]["clerk"]
    assert _notices(app, clerk, citizen_notices.PASSWORD_RESET) == []
    bad = client.post("/account/reset?_l_=en", data={"email": "<b>"})
    assert bad.status_code == 400 and "valid e-mail address" in _text(bad)


def test_reset_sets_a_new_password_once(app, client):
    user_id = make_citizen(app, "anna@example.am", password=STRONG)
    client.post("/account/reset", data={"email": "anna@example.am"})
    link = _reset_link(app, user_id)
    form = client.get(link + "?_l_=en")
    assert form.status_code == 200 and form.headers["Referrer-Policy"] == "no-referrer"
    weak = client.post(link + "?_l_=en", data={"password": "password", "password_again": "password"})
    assert weak.status_code == 400 and "at least 10" in _text(weak)
    mismatch = client.post(link + "?_l_=en", data={"password": NEW_STRONG, "password_again": STRONG})
    assert mismatch.status_code == 400 and "not the same" in _text(mismatch)
    assert _portal_login(client, "anna@example.am").status_code == 302  # still the old password
    client.post("/account/logout")
    done = client.post(link + "?_l_=en", data={"password": NEW_STRONG, "password_again": NEW_STRONG})
    assert done.status_code == 302 and done.headers["Location"] == "/account/login"
    assert _portal_login(client, "anna@example.am").status_code == 400
    assert _portal_login(client, "anna@example.am", NEW_STRONG).status_code == 302
    # The link worked once: the password hash it was bound to is gone.
    used = client.post(link + "?_l_=en", data={"password": STRONG, "password_again": STRONG})
    assert used.status_code == 400 and "works only once" in _text(used)
    assert "works only once" in _text(client.get(link + "?_l_=en"))


def test_forged_and_expired_reset_links_change_nothing(app, client):
    user_id = make_citizen(app, "anna@example.am", password=STRONG)
    client.post("/account/reset", data={"email": "anna@example.am"})
    link = _reset_link(app, user_id)
    with app.app_context():
        before = db.session.get(User, user_id).password
        verify = accounts.verify_token(app.config, db.session.get(User, user_id))
    for token in (link.rsplit("/", 1)[1][:-2] + "zz", "nonsense", verify):
        response = client.post(
            f"/account/reset/{token}?_l_=en", data={"password": NEW_STRONG, "password_again": NEW_STRONG}
        )
        assert response.status_code == 400 and "not valid" in _text(response)
    app.config["HAMAYNK_RESET_MAX_AGE"] = -1
    expired = client.post(link + "?_l_=en", data={"password": NEW_STRONG, "password_again": NEW_STRONG})
    assert expired.status_code == 400 and "too old" in _text(expired)
    with app.app_context():
        assert db.session.get(User, user_id).password == before


def test_a_reset_link_verifies_an_unverified_account(app, client):
    _register(client)
    user = _user(app, "anna@example.am")
    client.post("/account/reset", data={"email": "anna@example.am"})
    link = _reset_link(app, user.id)
    client.post(link, data={"password": NEW_STRONG, "password_again": NEW_STRONG})
    assert _user(app, "anna@example.am").active
    assert _portal_login(client, "anna@example.am", NEW_STRONG).status_code == 302


# -- the profile ----------------------------------------------------------------------------------


def test_profile_needs_a_signed_in_citizen(app, client, login_as):
    response = client.get("/account/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/account/login?next=")
    login_as("clerk")
    assert client.get("/account/profile").status_code == 403


def test_profile_saves_contact_details_language_and_channels(app, client):
    user_id = make_citizen(app, "anna@example.am", password=STRONG, language="hy")
    _portal_login(client, "anna@example.am")
    page = client.get("/account/profile?_l_=en")
    assert page.status_code == 200
    text = _text(page)
    assert "anna@example.am" in text and "Not verified" in text
    for channel in ("email", "sms", "inapp"):
        assert f'value="{channel}"' in page.get_data(as_text=True)
    response = client.post(
        "/account/profile",
        data={
            "name": "Anna  Petrosyan-Hakobyan",
            "psn": "12345 67890",
            "phone": "091 123 456",
            "address": "Yerevan, Abovyan 1",
            "language": "en",
            "channels": ["email", "sms"],
        },
    )
    assert response.status_code == 302
    profile = _profile(app, user_id)
    assert (profile.psn, profile.phone, profile.address, profile.language) == (
        "1234567890",
        "+37491123456",
        "Yerevan, Abovyan 1",
        "en",
    )
    assert profile.channels == ["email", "sms"]
    assert _user(app, "anna@example.am").last_name == "Petrosyan-Hakobyan"
    with client.session_transaction() as session:
        assert session["locale"] == "en"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("psn", "123", "exactly 10 digits"),
        ("psn", "12345678901", "exactly 10 digits"),
        ("phone", "12", "phone number such as"),
        ("phone", "x" * 100, "at most 32"),
        ("name", "", "Enter your name"),
        ("address", "a" * 600, "at most 500"),
        ("address", "Abovyan\x001", "control characters"),
        ("language", "de", "languages listed"),
        ("channels", "carrier-pigeon", "ways of contact listed"),
    ],
)
def test_bad_profile_input_says_why_and_changes_nothing(app, client, field, value, words):
    user_id = make_citizen(app, "anna@example.am", password=STRONG)
    _portal_login(client, "anna@example.am")
    data = {"name": NAME, "psn": "", "phone": "", "address": "", "language": "en", "channels": ["email"]}
    data[field] = value
    before = _profile(app, user_id)
    response = client.post("/account/profile?_l_=en", data=data)
    assert response.status_code == 400
    assert words in _text(response)
    after = _profile(app, user_id)
    assert (after.psn, after.phone, after.address, after.language, after.channels) == (
        before.psn,
        before.phone,
        before.address,
        before.language,
        before.channels,
    )


def test_a_citizen_without_a_profile_gets_one_on_the_first_save(app, client, login_as):
    login_as("citizen")
    assert client.get("/account/profile").status_code == 200
    response = client.post(
        "/account/profile", data={"name": "Cit Izen", "language": "ru", "channels": ["inapp"], "psn": "", "phone": ""}
    )
    assert response.status_code == 302
    with app.app_context():
        user_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
    profile = _profile(app, user_id)
    assert profile is not None and profile.language == "ru" and profile.channels == ["inapp"]


def test_a_verified_public_service_number_cannot_be_changed_in_the_profile(app, client):
    user_id = make_citizen(app, "anna@example.am", password=STRONG)
    with app.app_context():
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == user_id)).scalar_one()
        profile.psn, profile.identity_provider = "1111111111", "eid"
        profile.identity_verified_at = profile.created_at
        db.session.commit()
    _portal_login(client, "anna@example.am")
    page = client.get("/account/profile?_l_=en").get_data(as_text=True)
    assert re.search(r'id="psn"[^>]*readonly', page)
    client.post("/account/profile", data={"name": NAME, "psn": "2222222222", "language": "en", "channels": ["email"]})
    assert _profile(app, user_id).psn == "1111111111"


# -- rate limits ----------------------------------------------------------------------------------


def test_sign_in_is_limited_per_address_and_per_client(app, client):
    app.config["HAMAYNK_LIMIT_LOGIN"] = "3 per minute"
    user_id = make_citizen(app, "anna@example.am", password=STRONG)

    def attempt(email, password, address, language="en"):
        return client.post(
            f"/account/login?_l_={language}",
            data={"email": email, "password": password},
            environ_overrides={"REMOTE_ADDR": address},
        )

    for n in range(3):
        assert attempt("anna@example.am", f"wrong {n}", f"10.0.0.{n}").status_code == 400
    # The fourth try at this address, from yet another client, is refused even with the right password.
    limited = attempt("anna@example.am", STRONG, "10.0.0.9")
    assert limited.status_code == 429
    assert 'class="portal"' in limited.get_data(as_text=True) and "Too many requests" in _text(limited)
    assert "Retry-After" in limited.headers
    assert _signed_in_as(client) is None
    with app.app_context():
        assert db.session.get(User, user_id).login_count in (0, None)
    # One client trying many addresses is limited too.
    for n in range(3):
        attempt(f"x{n}@example.am", "x", "10.0.1.1")
    assert attempt("fresh@example.am", "x", "10.0.1.1").status_code == 429
    # Reading the page is not limited.
    assert client.get("/account/login", environ_overrides={"REMOTE_ADDR": "10.0.1.1"}).status_code == 200


def test_the_too_many_requests_page_is_the_portals_in_armenian(app, client):
    app.config["HAMAYNK_LIMIT_LOGIN"] = "1 per minute"
    client.post("/account/login", data={"email": "a@example.am", "password": "x"})
    response = client.post("/account/login", data={"email": "a@example.am", "password": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 429
    assert '<html lang="hy">' in page and 'class="portal"' in page
    assert "Too many requests" not in page and "Traceback" not in page


def test_registration_reset_and_resend_are_limited_and_change_nothing_over_the_limit(app, client):
    for setting in ("HAMAYNK_LIMIT_REGISTER", "HAMAYNK_LIMIT_RESET", "HAMAYNK_LIMIT_VERIFY_RESEND"):
        app.config[setting] = "2 per minute"
    user_id = make_citizen(app, "owner@example.am", password=STRONG)
    assert _register(client, email="one@example.am").status_code == 302
    assert _register(client, email="two@example.am").status_code == 302
    before = _users(app)
    assert _register(client, email="three@example.am").status_code == 429
    assert _users(app) == before
    for _n in range(2):
        assert client.post("/account/reset", data={"email": "owner@example.am"}).status_code == 302
    assert client.post("/account/reset", data={"email": "owner@example.am"}).status_code == 429
    assert len([n for n in _notices(app, user_id, citizen_notices.PASSWORD_RESET) if n.channel == "email"]) == 2
    for _n in range(2):
        assert client.post("/account/verify/resend", data={"email": "one@example.am"}).status_code == 302
    assert client.post("/account/verify/resend", data={"email": "one@example.am"}).status_code == 429


def test_registration_hashes_a_password_whether_or_not_the_address_is_taken(app, client, monkeypatch):
    make_citizen(app, "anna@example.am", password=STRONG)
    made = []
    real = accounts.generate_password_hash
    monkeypatch.setattr(accounts, "generate_password_hash", lambda *a, **k: made.append(1) or real(*a, **k))
    _register(client, email="new@example.am")
    assert len(made) == 1
    _register(client, email="anna@example.am")
    assert len(made) == 2
