"""The public status look-up with a paper receipt's tracking number and access code, and
claiming a walk-in application into a citizen's account (app.portal.mine): the status in
plain words and nothing personal; one answer for an unknown number and a wrong code, in the
same work; rate limits per client address and per tracking number that stop guessing without
locking the owner out for good."""

from __future__ import annotations

import re
import time
import types

import pytest
from sqlalchemy import select

from app.domain import citizen_cases, statuses, tracking
from app.domain.errors import NotAllowed
from app.extensions import db
from app.models import Application, AuditEvent
from app.testing import PASSWORD, apply, login, make_citizen

SERVICE_KEY = "residence-certificate"
NAME = "Hovhannes Tumanyan"


@pytest.fixture
def walk_in(app):
    """An application filed at the front office with its paper receipt's code."""
    return apply(app, SERVICE_KEY, applicant_name=NAME)


@pytest.fixture
def anna(app):
    return make_citizen(app, "anna@test.example", name="Anna Petrosyan")


def look_up(client, number: str, code: str, address: str = "203.0.113.7"):
    return client.post(
        "/track?_l_=en",
        data={"tracking_number": number, "access_code": code},
        environ_base={"REMOTE_ADDR": address},
    )


def claim(client, number: str, code: str, address: str = "203.0.113.8"):
    return client.post(
        "/my/claim?_l_=en",
        data={"tracking_number": number, "access_code": code},
        environ_base={"REMOTE_ADDR": address},
    )


def text(response) -> str:
    return response.get_data(as_text=True)


def without_token(page: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def other_number(number: str) -> str:
    """A well-formed tracking number of the same municipality and year that nobody has."""
    prefix, year, _sequence, _check = number.split("-")
    return tracking.format_tracking_number(prefix, int(year), 999_999)


class Clock:
    """Time for the rate limits' storage, moved by hand."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def clock(monkeypatch):
    import limits.storage.memory

    fake = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", types.SimpleNamespace(time=fake.time))
    monkeypatch.setattr("app.portal.mine.time", types.SimpleNamespace(time=fake.time))
    return fake


# -- the look-up ---------------------------------------------------------------------------------


def test_the_form_is_public_and_a_receipt_shows_the_status_and_nothing_personal(app, client, walk_in):
    form = client.get("/track?_l_=en")
    assert form.status_code == 200 and 'name="access_code"' in text(form)
    response = look_up(client, walk_in.tracking_number, walk_in.access_code)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = text(response)
    assert walk_in.tracking_number in page
    assert "Submitted" in page and "Registry check" in page  # status and step in plain words
    assert "Certificate of residence and family composition" in page
    assert "Expected by" in page
    with app.app_context():
        application = db.session.get(Application, walk_in.id)
        personal = [NAME, application.applicant_psn, application.applicant_phone, application.data["address"]]
        document_names = [d.original_name for d in application.documents]
    for value in [*personal, *document_names]:
        assert value and value not in page, value
    # The same with spaces, lower case and typographic dashes, as people type it.
    typed = walk_in.tracking_number.lower().replace("-", " \u2013 ")
    assert look_up(client, typed, f"  {walk_in.access_code} ", address="203.0.113.9").status_code == 200


def test_an_unknown_number_and_a_wrong_code_get_the_same_answer(app, client, walk_in):
    wrong_code = look_up(client, walk_in.tracking_number, "not-the-code", address="198.51.100.1")
    unknown = look_up(client, other_number(walk_in.tracking_number), walk_in.access_code, address="198.51.100.1")
    assert wrong_code.status_code == unknown.status_code == 404
    assert without_token(text(wrong_code)).replace(walk_in.tracking_number, "N") == without_token(
        text(unknown)
    ).replace(other_number(walk_in.tracking_number), "N")
    assert "We found no application with this tracking number and access code" in text(wrong_code)
    for leak in ("Submitted", "Registry check", "Certificate of residence", NAME):
        assert leak not in text(wrong_code), leak
    # A draft is no application to look up either.
    with app.app_context():
        application = db.session.get(Application, walk_in.id)
        application.status = statuses.DRAFT
        db.session.commit()
    draft = look_up(client, walk_in.tracking_number, walk_in.access_code, address="198.51.100.2")
    assert draft.status_code == 404


def test_every_miss_costs_one_hash_and_one_constant_time_comparison(app, walk_in, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = tracking.hmac.compare_digest

    def counting(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tracking.hmac, "compare_digest", counting)
    with app.app_context():
        for number, code in (
            (walk_in.tracking_number, "wrong"),
            (other_number(walk_in.tracking_number), "wrong"),
            ("not a number", "wrong"),
            (walk_in.tracking_number, ""),
        ):
            compared.clear()
            assert tracking.find_by_access_code(db.session, number, code) is None
            assert len(compared) == 1, (number, code)
        compared.clear()
        assert tracking.find_by_access_code(db.session, walk_in.tracking_number, walk_in.access_code).id == walk_in.id
        assert len(compared) == 1


def test_bad_input_is_answered_in_words_never_with_a_500(client, walk_in):
    for number, code, expected in (
        ("", "", "Enter the tracking number"),
        (walk_in.tracking_number, "", "Enter the access code"),
        ("ABC-2026-000123-Q", "x", "This is not a tracking number"),
        ("x" * 5000, "y" * 5000, "This is not a tracking number"),
        ("<script>alert(1)</script>", "x", "This is not a tracking number"),
        # Control characters: refused by the input layer (app.cleaning) before the look-up.
        (
            "<script>alert(1)</script>",
            "\x00\x01",
            "This text contains control characters; remove them. Nothing was changed.",
        ),
    ):
        response = look_up(client, number, code, address=f"192.0.2.{len(number) % 200}")
        assert response.status_code == 400, number
        assert expected in text(response)
        assert "<script>alert(1)</script>" not in text(response)
    # A form field sent twice, or not at all.
    assert client.post("/track?_l_=en", data={}, environ_base={"REMOTE_ADDR": "192.0.2.250"}).status_code == 400


def test_a_thousand_wrong_codes_reveal_nothing_are_stopped_early_and_the_owner_still_gets_in(
    app, client, walk_in, anna, clock
):
    number_limit = app.config["HAMAYNK_LIMIT_LOOKUP_NUMBER"]  # "10 per hour"
    allowed = int(number_limit.split()[0])
    statuses_seen: list[int] = []
    for attempt in range(1000):
        # Every attempt from another address: the per-address limit never applies, the
        # per-number one must.
        response = look_up(
            client, walk_in.tracking_number, f"guess-{attempt:04d}", address=f"10.{attempt // 250}.{attempt % 250}.1"
        )
        statuses_seen.append(response.status_code)
        page = text(response)
        for leak in ("Registry check", "Certificate of residence", NAME, "Expected by"):
            assert leak not in page, (attempt, leak)
    assert statuses_seen[:allowed] == [404] * allowed
    assert set(statuses_seen[allowed:]) == {429}
    # Stopped: the right code too, from anywhere, until the window has passed; the answer
    # says when, without saying whether the number exists.
    blocked = look_up(client, walk_in.tracking_number, walk_in.access_code, address="172.16.0.1")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Too many attempts" in text(blocked) and "Registry check" not in text(blocked)
    unknown = other_number(walk_in.tracking_number)
    for attempt in range(allowed):
        look_up(client, unknown, "x", address=f"172.17.0.{attempt}")
    assert look_up(client, unknown, "x", address="172.17.1.1").status_code == 429  # the same for a number nobody has
    # The owner, signed in, claims it meanwhile: claiming is limited per account, not per number.
    login(client, "anna@test.example", PASSWORD)
    assert claim(client, walk_in.tracking_number, walk_in.access_code).status_code == 303
    # Once the window has passed the receipt works again for everyone who holds it.
    clock.offset += 3601
    response = look_up(client, walk_in.tracking_number, walk_in.access_code, address="172.16.0.2")
    assert response.status_code == 200 and "Registry check" in text(response)


def test_one_address_is_stopped_after_a_few_tries_whatever_it_asks(app, client, walk_in, clock):
    per_minute = int(app.config["HAMAYNK_LIMIT_LOOKUP"].split()[0])  # "5 per minute; ..."
    for attempt in range(per_minute):
        number = other_number(walk_in.tracking_number) if attempt % 2 else walk_in.tracking_number
        assert look_up(client, number, f"guess-{attempt}", address="198.51.100.77").status_code == 404
    # The right code from that address waits too (a successful look-up counts like any other).
    stopped = look_up(client, walk_in.tracking_number, walk_in.access_code, address="198.51.100.77")
    assert stopped.status_code == 429 and "Retry-After" in stopped.headers
    # Other addresses are not held up, and a minute later this one may ask again.
    assert look_up(client, walk_in.tracking_number, walk_in.access_code, address="198.51.100.78").status_code == 200
    clock.offset += 61
    assert look_up(client, walk_in.tracking_number, walk_in.access_code, address="198.51.100.77").status_code == 200


def test_limits_switched_off_do_not_limit(app, client, walk_in):
    app.config["RATELIMIT_ENABLED"] = False
    for attempt in range(30):
        assert look_up(client, walk_in.tracking_number, f"g{attempt}", address="198.51.100.90").status_code == 404
    assert look_up(client, walk_in.tracking_number, walk_in.access_code, address="198.51.100.90").status_code == 200


# -- claiming ------------------------------------------------------------------------------------


def test_a_walk_in_application_is_claimed_into_the_account_and_shows_in_my_applications(app, client, walk_in, anna):
    login(client, "anna@test.example", PASSWORD)
    assert 'name="access_code"' in text(client.get(f"/my/claim?_l_=en&tracking_number={walk_in.tracking_number}"))
    assert walk_in.tracking_number in text(client.get(f"/my/claim?_l_=en&tracking_number={walk_in.tracking_number}"))
    response = claim(client, walk_in.tracking_number, walk_in.access_code)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/my/applications/{walk_in.id}")
    with app.app_context():
        application = db.session.get(Application, walk_in.id)
        assert application.applicant_user_id == anna
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "application.claim")).scalar_one()
        assert (event.actor_id, event.object_id, event.municipality_id) == (
            anna,
            str(walk_in.id),
            application.municipality_id,
        )
    page = text(client.get(f"/my/applications/{walk_in.id}?_l_=en"))
    assert "The application is now in your account." in page and "Registry check" in page
    listed = text(client.get("/my/applications/?_l_=en"))
    assert f'data-application="{walk_in.id}"' in listed
    # The applicant now opens the scans the office took.
    assert f"/my/applications/{walk_in.id}/documents/" in page
    # Claiming again is harmless.
    again = claim(client, walk_in.tracking_number, walk_in.access_code)
    assert again.status_code == 303
    assert "already in your account" in text(client.get(f"/my/applications/{walk_in.id}?_l_=en"))


def test_claiming_is_refused_for_someone_elses_application_and_a_wrong_code(app, client, walk_in, anna):
    bella = make_citizen(app, "bella@test.example", name="Bella Hakobyan")
    login(client, "anna@test.example", PASSWORD)
    wrong = claim(client, walk_in.tracking_number, "wrong-code")
    assert wrong.status_code == 404 and "We found no application" in text(wrong)
    assert claim(client, walk_in.tracking_number, walk_in.access_code).status_code == 303
    login(client, "bella@test.example", PASSWORD)
    refused = claim(client, walk_in.tracking_number, walk_in.access_code, address="203.0.113.50")
    assert refused.status_code == 409 and "already linked to another account" in text(refused)
    with app.app_context():
        assert db.session.get(Application, walk_in.id).applicant_user_id == anna
    assert client.get(f"/my/applications/{walk_in.id}?_l_=en").status_code == 404
    assert bella


def test_claiming_is_limited_per_account_and_bad_input_is_no_500(app, client, walk_in, anna, clock):
    login(client, "anna@test.example", PASSWORD)
    for number, code in (("", ""), ("nonsense", "x"), ("x" * 5000, "y" * 5000)):
        assert claim(client, number, code, address="203.0.113.60").status_code == 400
    per_account = int(app.config["HAMAYNK_LIMIT_CLAIM"].split()[0])  # failed attempts only
    for attempt in range(per_account):
        assert (
            claim(client, walk_in.tracking_number, f"g{attempt}", address=f"203.0.113.{70 + attempt}").status_code
            == 404
        )
    stopped = claim(client, walk_in.tracking_number, walk_in.access_code, address="203.0.113.99")
    assert stopped.status_code == 429 and "Too many attempts" in text(stopped)
    with app.app_context():
        assert db.session.get(Application, walk_in.id).applicant_user_id is None
    clock.offset += 11 * 60
    assert claim(client, walk_in.tracking_number, walk_in.access_code, address="203.0.113.99").status_code == 303


def test_only_a_signed_in_citizen_claims(app, client, walk_in, login_as):
    anonymous = client.post(
        "/my/claim", data={"tracking_number": walk_in.tracking_number, "access_code": walk_in.access_code}
    )
    assert anonymous.status_code in (302, 401)
    login_as("clerk")
    staff = client.post(
        "/my/claim", data={"tracking_number": walk_in.tracking_number, "access_code": walk_in.access_code}
    )
    assert staff.status_code == 403
    with app.app_context():
        assert db.session.get(Application, walk_in.id).applicant_user_id is None


def test_the_domain_claim_refuses_staff_and_reports_unknown_numbers(app, walk_in):
    from app.domain import access
    from app.testing import actor_for

    with app.test_request_context("/?_l_=en"):
        clerk = actor_for(app.seeded["alpha"]["users"]["clerk"])
        with pytest.raises(NotAllowed):
            citizen_cases.claim(db.session, clerk, walk_in.tracking_number, walk_in.access_code)
        citizen = actor_for(make_citizen(app, "carl@test.example"))
        with pytest.raises(access.NotFound):
            citizen_cases.claim(db.session, citizen, other_number(walk_in.tracking_number), walk_in.access_code)


def test_with_redis_the_limits_hold_across_processes(tmp_path, redis_url):
    """Several app processes behind one address share their counters through Redis
    (HAMAYNK_RATELIMIT_STORAGE_URI): tries spent on one process count on the other."""
    from app.testing import make_app

    first = make_app(tmp_path / "one", RATELIMIT_STORAGE_URI=redis_url)
    second = make_app(tmp_path / "two", RATELIMIT_STORAGE_URI=redis_url)
    per_minute = int(first.config["HAMAYNK_LIMIT_LOOKUP"].split()[0])
    number = tracking.format_tracking_number("ALPHA", 2026, 4242)
    with first.test_client() as one, second.test_client() as two:
        for attempt in range(per_minute):
            assert look_up(one, number, f"guess-{attempt}", address="198.51.100.201").status_code == 404
        refused = look_up(two, number, "one-more", address="198.51.100.201")
        assert refused.status_code == 429 and "Retry-After" in refused.headers
        # Another address is still answered by either process.
        assert look_up(two, number, "other", address="198.51.100.202").status_code == 404
