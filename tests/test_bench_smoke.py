"""The benchmark kit (bench/) end to end at a tiny size on SQLite: the generator's data has the
shape docs/performance.md promises, and every page the runner measures showed the same rows
as its raw-SQL floor. Nothing here looks at a time: timings belong to the runner's table."""

from __future__ import annotations

import sqlite3

import pytest

from bench.generate import generate
from bench.runner import failures, run

SIZE = 300


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('bench') / 'bench.sqlite3'}"
    summary = generate(url, SIZE, seed=7, out=lambda _line: None)
    return url, summary


def counts(url: str, sql: str) -> list[tuple]:
    conn = sqlite3.connect(url[len("sqlite:///") :])
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_the_generated_data_has_the_promised_shape(generated):
    url, summary = generated
    one = lambda sql: counts(url, sql)[0][0]  # noqa: E731
    assert one("SELECT count(*) FROM application") == SIZE
    documents = one("SELECT count(*) FROM application_document") / SIZE
    transitions = one("SELECT count(*) FROM transition_record") / SIZE
    assert 2.0 <= documents <= 3.5, documents
    assert 3.0 <= transitions <= 5.0, transitions
    statuses = dict(counts(url, "SELECT status, count(*) FROM application GROUP BY status"))
    closed = sum(statuses.get(s, 0) for s in ("approved", "issued", "rejected", "withdrawn"))
    assert closed / SIZE >= 0.55, statuses
    assert statuses.get("submitted") and statuses.get("in_review") and statuses.get("returned_for_correction")
    # Skewed municipalities, every one used; every registered service filed.
    per_municipality = [n for (n,) in counts(url, "SELECT count(*) FROM application GROUP BY municipality_id")]
    assert len(per_municipality) == 10 and max(per_municipality) >= 0.3 * SIZE
    services = {k for (k,) in counts(url, "SELECT DISTINCT service_key FROM application")}
    assert services == set(summary["services"]) and len(services) >= 7
    # Citizens, questions with messages, residents.
    assert one("SELECT count(*) FROM citizen_profile") == summary["citizens"] >= 60
    assert one("SELECT count(*) FROM residency") > 0
    assert one("SELECT count(*) FROM question_message") == 2 * one("SELECT count(*) FROM question")
    # The big cases have twenty documents each, and their files exist.
    for app_id in summary["big_cases"]:
        assert one(f"SELECT count(*) FROM application_document WHERE application_id = {app_id}") == 20
    # Ballots: one per voter and poll, and nothing in the ballot table names a person.
    voters = dict(counts(url, "SELECT poll_id, count(*) FROM poll_voter GROUP BY poll_id"))
    ballots = dict(counts(url, "SELECT poll_id, count(*) FROM ballot GROUP BY poll_id"))
    assert voters == ballots and sum(ballots.values()) > 0
    columns = {row[1] for row in counts(url, "PRAGMA table_info(ballot)")}
    assert columns == {"receipt", "poll_id", "choices", "change_hash"}
    # New filings continue the generated tracking numbers instead of colliding with them.
    assert one("SELECT sum(last_value) FROM tracking_counter") == SIZE


def test_the_load_leaves_the_schema_and_name_search_as_migrated(generated, tmp_path):
    """On SQLite the generator drops the indexes and triggers for the load and builds them
    again (bench.generate._defer_sqlite_indexes): the same ones as a migrated database, and the
    name search's FTS5 table finds what the triggers would have indexed."""
    from app.testing import make_app

    url, _summary = generated
    make_app(tmp_path, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    # The test app creates its tables without Alembic: no alembic_version table.
    schema = (
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
        "AND tbl_name != 'alembic_version' ORDER BY type, name"
    )
    assert counts(url, schema) == counts(f"sqlite:///{tmp_path / 'migrated.sqlite3'}", schema)
    name = counts(url, "SELECT applicant_name FROM application ORDER BY id LIMIT 1")[0][0]
    part = name.split()[-1][1:5]
    by_fts = counts(
        url,
        f"SELECT rowid FROM application_name_fts WHERE application_name_fts MATCH '\"{part}\"' ORDER BY rowid",
    )
    by_scan = counts(url, f"SELECT id FROM application WHERE applicant_name LIKE '%{part}%' ORDER BY id")
    assert by_fts == by_scan != []


def test_every_page_shows_the_rows_of_its_floor(generated):
    url, _summary = generated
    report = run(url, k=2, threads=2, out=lambda _line: None)
    measured = [r for r in report["results"] if not r["page"].startswith("ceiling")]
    pages = {r["page"] for r in measured}
    for expected in (
        'inbox "My tasks", clerk',
        'inbox "My tasks", specialist',
        "inbox filter overdue",
        'inbox "All" page 1',
        "search by tracking number",
        "search by full name",
        "case page, 20 documents",
        "API show, 20 documents",
        "public status look-up",
        'citizen "My applications"',
        "dashboard",
        "approve, alone",
        "walk-in submission, 2 uploads",
    ):
        assert expected in pages, (expected, sorted(pages))
    assert any(p.startswith("approve, contended") for p in pages)
    assert any(p.startswith("poll vote burst") for p in pages)
    assert failures(report) == []
    assert all(r["rows_match"] is True for r in measured), [(r["page"], r["note"]) for r in measured]
    assert all(r["queries"] is None or r["queries"] > 0 for r in measured)
