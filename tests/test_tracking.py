"""Tracking numbers (format, check character, allocation under concurrency) and access secrets."""

from __future__ import annotations

import re
import sqlite3
import threading

import pytest
from sqlalchemy import select

from app.domain import tracking
from app.domain.tracking import (
    ALPHABET,
    allocate_tracking_number,
    check_character,
    format_tracking_number,
    hash_access_secret,
    is_valid_tracking_number,
    new_access_secret,
    parse_tracking_number,
    verify_access_secret,
)
from app.extensions import db
from app.models import Municipality, TrackingCounter
from app.testing import make_app, seed_municipality

PG_DATABASE = "hamaynk_test_tracking"


# -- format and check character -----------------------------------------------------------


def test_format_is_prefix_year_sequence_check():
    number = format_tracking_number("ABV", 2026, 123)
    assert re.fullmatch(r"ABV-2026-000123-[0-9A-Z]", number)
    assert is_valid_tracking_number(number)
    parts = parse_tracking_number(number)
    assert (parts.prefix, parts.year, parts.sequence) == ("ABV", 2026, 123)
    assert str(parts) == number


def test_sequence_grows_past_six_digits_instead_of_wrapping():
    number = format_tracking_number("ABV", 2026, 1_234_567)
    assert number.startswith("ABV-2026-1234567-")
    assert is_valid_tracking_number(number)


def test_every_single_mistyped_character_is_caught():
    number = format_tracking_number("GYU", 2026, 4711)
    checked = 0
    for index, char in enumerate(number):
        if char == "-":
            continue
        for other in ALPHABET:
            if other == char:
                continue
            typo = number[:index] + other + number[index + 1 :]
            checked += 1
            assert not is_valid_tracking_number(typo), typo
    assert checked == 35 * len(number.replace("-", ""))


def test_almost_every_swap_of_neighbours_is_caught():
    caught = total = 0
    for sequence in range(1, 2000):
        chars = list(format_tracking_number("ABV", 2026, sequence))
        for i in range(len(chars) - 1):
            if "-" in (chars[i], chars[i + 1]) or chars[i] == chars[i + 1]:
                continue
            swapped = chars[:]
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            total += 1
            caught += not is_valid_tracking_number("".join(swapped))
    assert total > 10_000
    assert caught / total > 0.998


def test_check_character_follows_iso_7064_mod_37_36():
    # The defining property of the hybrid system: running the whole string, check character
    # included, through the recurrence ends with the intermediate sum 1.
    m = 36
    for body in ("ABV2026000001", "GYUMRI2026123456", "0", "Z9"):
        product = m
        total = None
        for char in body + check_character(body):
            total = (product + ALPHABET.index(char)) % m or m
            product = (total * 2) % (m + 1)
        assert total == 1, body


def test_what_people_type_is_normalised():
    number = format_tracking_number("ABV", 2026, 7)
    assert is_valid_tracking_number(f"  {number.lower()} ")
    assert is_valid_tracking_number(number.replace("-", " "))
    assert is_valid_tracking_number(number.replace("-", "\u2013"))  # en dash from a word processor


@pytest.mark.parametrize(
    "value", ["", "ABV-2026-000123", "ABV-26-000123-K", "ABV-2026-12-K", "A-B-C-D", None, 123, "ABV-2026-000123-KK"]
)
def test_malformed_numbers_are_invalid(value):
    assert not is_valid_tracking_number(value)


@pytest.mark.parametrize(
    ("typed", "completed"),
    [
        ("ABV-2026-000123", "ABV-2026-000123-{c}"),
        (" abv 2026 123 ", "ABV-2026-000123-{c}"),
        ("ABV\u20132026\u2013000123-{c}", "ABV-2026-000123-{c}"),
    ],
)
def test_a_number_without_its_check_character_is_completed(typed, completed):
    check = check_character("ABV2026000123")
    assert str(tracking.complete_tracking_number(typed.format(c=check))) == completed.format(c=check)


@pytest.mark.parametrize("value", ["", "ABV", "ABV-2026", "ABV-26-000123", "2026-000123", "ABV-2026-12X", None, 7])
def test_what_cannot_be_completed_is_none(value):
    assert tracking.complete_tracking_number(value) is None


def test_a_wrong_check_character_is_not_corrected():
    # One of the characters before it is a typo, and which one cannot be known.
    right = format_tracking_number("ABV", 2026, 123)
    wrong = right[:-1] + ("0" if right[-1] != "0" else "1")
    assert tracking.complete_tracking_number(wrong) is None


def test_check_character_refuses_other_characters():
    with pytest.raises(ValueError):
        check_character("ԱԲՎ-2026")


# -- access secrets ------------------------------------------------------------------------


def test_access_secret_is_random_long_and_stored_only_as_a_hash():
    secret, stored = new_access_secret()
    other_secret, other_stored = new_access_secret()
    assert secret != other_secret and stored != other_stored
    # token_urlsafe(16): 128 bits in 22 base64url characters.
    assert len(secret) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)
    assert secret not in stored
    assert stored == hash_access_secret(secret)
    assert len(stored) <= 128  # fits Application.access_secret_hash


def test_access_secret_verification():
    secret, stored = new_access_secret()
    assert verify_access_secret(secret, stored)
    assert verify_access_secret(f" {secret}\n", stored)
    assert not verify_access_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"), stored)
    assert not verify_access_secret("", stored)
    assert not verify_access_secret(None, stored)
    assert not verify_access_secret(secret, "md5$" + stored.split("$", 1)[1])


def test_verification_compares_in_constant_time(monkeypatch):
    calls = []
    real = tracking.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tracking.hmac, "compare_digest", spy)
    secret, stored = new_access_secret()
    assert verify_access_secret(secret, stored)
    assert len(calls) == 1


# -- allocation ----------------------------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path):
    """On a SQLite file whatever database the suite runs on: these tests are about SQLite."""
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'tracking.sqlite3'}")
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_numbers_count_up_per_municipality_and_year(app):
    alpha, beta = app.seeded["alpha"]["id"], app.seeded["beta"]["id"]
    with app.app_context():
        first = [allocate_tracking_number(db.session, alpha, 2026) for _ in range(3)]
        other = allocate_tracking_number(db.session, beta, 2026)
        next_year = allocate_tracking_number(db.session, alpha, 2027)
        db.session.commit()
        assert [parse_tracking_number(n).sequence for n in first] == [1, 2, 3]
        assert all(n.startswith("ALPHA-2026-") for n in first)
        assert other.startswith("BETA-2026-000001-")
        assert next_year.startswith("ALPHA-2027-000001-")
        counters = {
            (c.municipality_id, c.year): c.last_value for c in db.session.execute(select(TrackingCounter)).scalars()
        }
        assert counters == {(alpha, 2026): 3, (beta, 2026): 1, (alpha, 2027): 1}


def test_the_municipality_may_choose_a_short_prefix(app):
    alpha = app.seeded["alpha"]["id"]
    with app.app_context():
        db.session.get(Municipality, alpha).tracking_prefix = "ALF"
        db.session.commit()
        number = allocate_tracking_number(db.session, alpha, 2026)
        assert number.startswith("ALF-2026-000001-") and is_valid_tracking_number(number)


def test_default_year_is_the_current_one_in_yerevan(app):
    with app.app_context():
        number = allocate_tracking_number(db.session, app.seeded["alpha"]["id"])
        assert parse_tracking_number(number).year == tracking.current_year()


def test_a_rolled_back_allocation_gives_its_number_back(app):
    alpha = app.seeded["alpha"]["id"]
    with app.app_context():
        allocate_tracking_number(db.session, alpha, 2026)
        db.session.commit()
        lost = allocate_tracking_number(db.session, alpha, 2026)
        db.session.rollback()
        again = allocate_tracking_number(db.session, alpha, 2026)
        db.session.commit()
        assert lost == again
        assert parse_tracking_number(again).sequence == 2


def test_sqlite_uses_update_returning_when_it_can(sqlite_app):
    with sqlite_app.app_context():
        dialect = db.engine.dialect
        assert dialect.name == "sqlite"
        assert bool(dialect.update_returning) == (sqlite3.sqlite_version_info >= (3, 35))


def _allocate_in_threads(app, municipality_id: int, threads: int = 8, each: int = 25) -> list[str]:
    numbers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker():
        try:
            with app.app_context():
                start.wait()
                for _ in range(each):
                    number = allocate_tracking_number(db.session, municipality_id, 2026)
                    db.session.commit()
                    with lock:
                        numbers.append(number)
                db.session.remove()
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not errors, errors
    return numbers


def _assert_gapless_and_unique(numbers: list[str], expected: int) -> None:
    assert len(numbers) == expected
    assert len(set(numbers)) == expected
    assert all(is_valid_tracking_number(n) for n in numbers)
    assert sorted(parse_tracking_number(n).sequence for n in numbers) == list(range(1, expected + 1))


def test_concurrent_allocation_on_sqlite_file_gives_unique_numbers(sqlite_app):
    with sqlite_app.app_context():
        assert db.engine.url.database.endswith(".sqlite3")  # a real file shared by the threads
    numbers = _allocate_in_threads(sqlite_app, sqlite_app.seeded["alpha"]["id"])
    _assert_gapless_and_unique(numbers, 200)


def test_concurrent_allocation_without_returning_falls_back_to_locking(app, monkeypatch):
    # Runs on whatever database the suite uses: SQLite's write lock or PostgreSQL's FOR UPDATE.
    with app.app_context():
        monkeypatch.setattr(db.engine.dialect, "update_returning", False)
    numbers = _allocate_in_threads(app, app.seeded["alpha"]["id"], threads=6, each=15)
    _assert_gapless_and_unique(numbers, 90)


@pytest.mark.postgres
def test_concurrent_allocation_on_postgresql_gives_unique_numbers(pg_app):
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
    numbers = _allocate_in_threads(pg_app, pg_app.seeded["alpha"]["id"])
    _assert_gapless_and_unique(numbers, 200)
