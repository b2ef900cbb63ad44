"""(h) Enumeration: sign-in, reset and registration answer the same whether an account exists;
the tracking-number look-up answers the same for an unknown number and a wrong code; unknown
verification codes all get the same 404, and guessing is rate-limited."""

from __future__ import annotations

import re

import requests

from .conftest import csrf_token

TOKEN_RE = re.compile(r'value="[^"]{20,}"')


def _post(live, path: str, data: dict) -> requests.Response:
    session = requests.Session()
    token = csrf_token(session, live.base, path)
    return session.post(
        live.url(f"{path}?_l_=en"), data={**data, "csrf_token": token}, allow_redirects=False, timeout=60
    )


def _same(first: requests.Response, second: requests.Response, *typed: str) -> None:
    assert first.status_code == second.status_code
    assert first.headers.get("Location") == second.headers.get("Location")

    def text(response, own):
        body = TOKEN_RE.sub("", response.text)
        for value in own:
            body = body.replace(value, "")
        return body

    assert text(first, typed) == text(second, typed)


def test_sign_in_does_not_tell_whether_an_account_exists(live):
    live.reset_limits()
    for path, field, existing in (
        ("/login/", "username", "alpha.clerk"),
        ("/account/login", "email", "citizen.a@example.com"),
    ):
        known = _post(live, path, {field: existing, "username": existing, "password": "wrong-password-1"})
        unknown_name = existing.replace("alpha", "nobody").replace("citizen.a", "nobody.zz")
        unknown = _post(live, path, {field: unknown_name, "username": unknown_name, "password": "wrong-password-1"})
        _same(known, unknown, existing, unknown_name)


def test_reset_and_registration_do_not_tell_whether_an_account_exists(live):
    live.reset_limits()
    known = _post(live, "/account/reset", {"email": "citizen.a@example.com"})
    unknown = _post(live, "/account/reset", {"email": "nobody.zz@example.com"})
    _same(known, unknown, "citizen.a@example.com", "nobody.zz@example.com")
    form = {
        "name": "Some One",
        "password": "a-Long-passw0rd-for-tests",
        "confirm": "a-Long-passw0rd-for-tests",
        "password_confirm": "a-Long-passw0rd-for-tests",
        "language": "en",
        "accept": "y",
        "consent": "y",
    }
    existing = _post(live, "/account/register", {**form, "email": "citizen.b@example.com"})
    fresh = _post(live, "/account/register", {**form, "email": "brand.new.zz@example.com"})
    _same(existing, fresh, "citizen.b@example.com", "brand.new.zz@example.com")


def test_tracking_look_up_does_not_tell_which_numbers_exist(live):
    live.reset_limits()
    real = live.victims["citizen_a"]["tracking_number"]
    from app.domain.tracking import format_tracking_number, parse_tracking_number

    parsed = parse_tracking_number(real)
    assert parsed is not None
    # Well-formed (a valid check character), so only the database could tell it apart.
    fake = format_tracking_number(real.split("-")[0], int(real.split("-")[1]), 999_999)
    known = _post(live, "/track", {"tracking_number": real, "access_code": "WRONG-CODE-1234"})
    unknown = _post(live, "/track", {"tracking_number": fake, "access_code": "WRONG-CODE-1234"})
    assert known.status_code != 500
    _same(known, unknown, real, fake)
    answers = [
        _post(live, "/track", {"tracking_number": fake, "access_code": "WRONG-CODE-1234"}).status_code
        for _ in range(40)
    ]
    assert 429 in answers, answers


def test_verification_codes_all_get_the_same_404_and_are_rate_limited(live):
    live.reset_limits()
    session = requests.Session()
    bodies = set()
    statuses = []
    for number in range(60):
        response = session.get(live.url(f"/verify/AAAA-BBBB-CCCC-{number:04d}?_l_=en"), timeout=60)
        statuses.append(response.status_code)
        if response.status_code == 404:
            bodies.add(response.text.replace(f"{number:04d}", ""))
    assert statuses[0] == 404
    assert len(bodies) == 1
    assert 429 in statuses, statuses
