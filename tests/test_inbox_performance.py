"""The inbox at scale (issue 13): the indexes the tabs need exist and are used, keyset pages
seek, name search goes through a trigram index, and none of that changes which rows come back.

Plans are read with SQLite's EXPLAIN QUERY PLAN / PostgreSQL's EXPLAIN of the very statement
the domain function ran (captured as it went to the database), after ANALYZE, on a municipality
where most applications are closed, as in a real one. ``python3 dev.py test --postgres
tests/test_inbox_performance.py -n 0`` runs the same file on PostgreSQL."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import warnings
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, func, insert, or_, select, text, update

from app import create_app
from app.database import MIGRATIONS_DIR, SQLITE_ANALYSIS_LIMIT, analyze
from app.domain import access, inbox, statuses
from app.extensions import db
from app.models import Application, ApplicationDocument, metadata
from app.models.applications import OPEN_STATUSES, queue_key
from app.plugins import runtime as plugin_runtime

CLOSED = (statuses.APPROVED, statuses.ISSUED, statuses.REJECTED, statuses.WITHDRAWN)
START = dt.date(2026, 1, 5)
NAMES = (
    "Արամ Պետրոսյան",
    "ԱՐԱՄ ՊԵՏՐՈՍՅԱՆ",
    "արամ պետրոսյան",
    "Սոնա Գրիգորյան",
    "Aram 100% Petrosyan",
    "ARAM PETROSYAN",
    'a_b Quote"d',
    "Ёлка Иванова",
    "ЁЛКА ИВАНОВА",
    "Ли",
)
RARE = "Զարուհի Մկրտչյան"


def _is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def _steps(app, service_key: str):
    registered = plugin_runtime.registry(app).get(service_key)
    return registered.version, [step.key for step in registered.service.steps]


def load(app, closed: int = 1500, open_: int = 120) -> dict[str, list[int]]:
    """Alpha gets ``closed`` closed and ``open_`` open applications (some unassigned at every
    step, some assigned to the specialist, some returned; many sharing a due date, some with
    none), beta a few hundred; then ANALYZE, as the bench generator does."""
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    with app.app_context():
        version, steps = _steps(app, "construction-permit")
        rows = []
        for i in range(closed + open_ + 300):
            municipality = alpha if i < closed + open_ else beta
            is_open = closed <= i < closed + open_
            status = (statuses.IN_REVIEW, statuses.SUBMITTED, statuses.RETURNED)[i % 3] if is_open else CLOSED[i % 4]
            rows.append(
                {
                    "municipality_id": municipality["id"],
                    "tracking_number": f"PERF-{i:06d}",
                    "access_secret_hash": "x",
                    "service_key": "construction-permit",
                    "service_version": version,
                    "status": status,
                    "current_step": steps[i % len(steps)] if status != statuses.RETURNED else None,
                    "channel": "office",
                    "data": {},
                    # And a rare name, as most searched names are.
                    "applicant_name": f"{RARE if i % 401 == 0 else NAMES[i % len(NAMES)]} {i}",
                    "assignee_id": municipality["users"]["specialist"] if is_open and i % 5 == 0 else None,
                    "created_by_id": municipality["users"]["clerk"],
                    "fee": 0,
                    # Ties: five applications per due date; every seventh has none.
                    "due_at": None if i % 7 == 0 else START + dt.timedelta(days=(i // 5) % 40),
                    "step_due_at": None,
                    "version": 1,
                }
            )
        db.session.execute(insert(Application), rows)
        db.session.commit()
        analyze(db.session)
        db.session.commit()
        ids = db.session.execute(select(Application.municipality_id, Application.id)).all()
    return {
        "alpha": [i for m, i in ids if m == alpha["id"]],
        "beta": [i for m, i in ids if m == beta["id"]],
    }


@contextlib.contextmanager
def statements():
    """Every SELECT of ``application`` run inside, as (statement, parameters) for the driver."""
    seen: list[tuple[str, object]] = []

    def listener(_conn, _cursor, statement, parameters, _context, _executemany):
        if statement.lstrip().upper().startswith("SELECT") and "application" in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


def plan(statement: str, parameters) -> str:
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        return "\n".join(row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))
    # At test size a sequential scan is as cheap as any index; the question is which index
    # the planner takes when it takes one, as it does at a million rows.
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def page_plan(app, role: str, tab: str, **kwargs) -> tuple[str, inbox.Page]:
    actor = access.load_actor(db.session, app.seeded["alpha"]["users"][role])
    with statements() as seen:
        page = inbox.list_page(db.session, plugin_runtime.registry(app), actor, tab, **kwargs)
    (statement, parameters) = next((s, p) for s, p in reversed(seen) if "coalesce(application.due_at" in s)
    return plan(statement, parameters), page


# -- indexes declared on the models are the migration's ------------------------------------------


def _sqlite_schema(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            # The table itself is the Alembic comparison's; the rest is not.
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND ((tbl_name = 'application' "
            "AND type IN ('index', 'trigger')) OR name LIKE 'application_name_fts%')"
        ).all()
    engine.dispose()
    return {name: re.sub(r"\s+|IF NOT EXISTS", "", sql).lower().replace('"', "") for name, sql in rows}


def _postgres_schema(url: str) -> dict[str, str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'application'").all()
    engine.dispose()
    return dict(rows)


def test_migrated_and_created_schemas_have_the_same_indexes_triggers_and_search_table(tmp_path, request):
    """Alembic cannot compare expression indexes on SQLite, nor any partial index's WHERE, nor
    triggers and virtual tables: compare what the database itself says it holds instead."""
    postgres = os.environ.get("HAMAYNK_TEST_DATABASE_URL", "").startswith("postgresql")
    if postgres:
        fresh = request.getfixturevalue("fresh_postgres_database")
        migrated_url, created_url = fresh("perf_db_migrated"), fresh("perf_db_created")
        read = _postgres_schema
    else:
        migrated_url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
        created_url = f"sqlite:///{tmp_path / 'created.sqlite3'}"
        read = _sqlite_schema
    for url, make in ((migrated_url, "migrate"), (created_url, "create")):
        app = create_app("test", overrides={"SQLALCHEMY_DATABASE_URI": url, "HAMAYNK_PLUGINS": []})
        with app.app_context():
            if make == "migrate":
                upgrade(directory=str(MIGRATIONS_DIR))
            else:
                metadata.create_all(db.engine)
            db.engine.dispose()
    migrated, created = read(migrated_url), read(created_url)
    assert migrated == created
    wanted = {"ix_application_queue", "ix_application_open_queue", "ix_application_open_assignee"}
    wanted |= {"ix_application_open_step", "ix_application_inbox"}
    wanted |= {"ix_application_name_trgm"} if postgres else {"application_name_fts", "application_name_fts_update"}
    assert wanted <= set(migrated)


# -- keyset paging -------------------------------------------------------------------------------


def _walk(app, role: str, tab: str, limit: int, **kwargs) -> tuple[list[int], list[inbox.Page]]:
    actor = access.load_actor(db.session, app.seeded["alpha"]["users"][role])
    registry = plugin_runtime.registry(app)
    pages, cursor = [], None
    while True:
        page = inbox.list_page(db.session, registry, actor, tab, cursor=cursor, limit=limit, **kwargs)
        pages.append(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return [r.application.id for p in pages for r in p.rows], pages


def test_keyset_pages_visit_every_row_once_in_order_with_ties_and_undated_rows(app):
    ids = load(app, closed=130, open_=40)
    with app.app_context():
        rows = db.session.execute(
            select(Application.id, Application.due_at).where(Application.id.in_(ids["alpha"]))
        ).all()
        expected = [i for i, due in sorted(rows, key=lambda r: (r[1] is None, r[1] or dt.date.min, r[0]))]
        assert sum(1 for _i, due in rows if due is None) > 5  # undated rows, sorted last
        for limit in (1, 7, 25):
            walked, pages = _walk(app, "head", inbox.ALL, limit)
            assert walked == expected
            # And back from the last page, page by page, to the first.
            back, current = [], pages[-1]
            actor = access.load_actor(db.session, app.seeded["alpha"]["users"]["head"])
            while current.prev_cursor is not None:
                current = inbox.list_page(
                    db.session, plugin_runtime.registry(app), actor, inbox.ALL, cursor=current.prev_cursor, limit=limit
                )
                back = [r.application.id for r in current.rows] + back
            assert back == expected[: len(back)] and len(back) == len(expected) - len(pages[-1].rows)
        # A working tab pages the same way through its (open) rows.
        walked, _pages = _walk(app, "specialist", inbox.MINE, 3)
        whole = inbox.list_page(
            db.session,
            plugin_runtime.registry(app),
            access.load_actor(db.session, app.seeded["alpha"]["users"]["specialist"]),
            inbox.MINE,
            limit=inbox.MAX_LIMIT,
        )
        assert walked == [r.application.id for r in whole.rows] and len(walked) > 3


def test_my_tasks_pages_forward_and_back_as_the_single_where_orders_them(app):
    """PostgreSQL pages "My tasks" from a UNION of its branches, each walked in queue order and
    cut at a page (inbox._mine_per_branch); SQLite from the one WHERE. Either way a reader
    meets exactly the rows of that WHERE, in its order, going forward and coming back."""
    load(app, closed=200, open_=90)
    with app.app_context():
        registry = plugin_runtime.registry(app)
        for role in ("clerk", "specialist"):
            actor = access.load_actor(db.session, app.seeded["alpha"]["users"][role])
            where = inbox.tab_clause(db.session, registry, actor, inbox.MINE)
            expected = list(
                db.session.scalars(
                    access.visible_applications(actor, Application.id)
                    .where(where)
                    .order_by(queue_key(), Application.id)
                )
            )
            assert len(expected) > 10, role
            with statements() as seen:
                walked, pages = _walk(app, role, inbox.MINE, 4)
            assert walked == expected, role
            unions = [s for s, _p in seen if "UNION" in s.upper()]
            assert bool(unions) == _is_postgres(), role
            back, current = [r.application.id for r in pages[-1].rows], pages[-1]
            while current.prev_cursor is not None:
                current = inbox.list_page(db.session, registry, actor, inbox.MINE, cursor=current.prev_cursor, limit=4)
                back = [r.application.id for r in current.rows] + back
            assert back == expected, role
            db.session.rollback()


# -- the indexes are used ------------------------------------------------------------------------


def test_working_tabs_walk_open_applications_only(app):
    load(app)
    with app.app_context():
        for role, tab, kwargs in (
            ("specialist", inbox.MINE, {}),
            ("specialist", inbox.DEPARTMENT, {}),
            ("head", inbox.ALL, {"filters": inbox.Filters(overdue=True), "on": START + dt.timedelta(days=20)}),
        ):
            text_plan, page = page_plan(app, role, tab, **kwargs)
            if _is_postgres():
                # PostgreSQL may also combine indexes (BitmapOr) or take the status-led one; what
                # it must not do is walk every row, closed ones included.
                assert re.search(r"ix_application_open_|ix_application_inbox", text_plan), (tab, text_plan)
                assert not re.search(r"Seq Scan on application|ix_application_queue\b", text_plan), (tab, text_plan)
            else:
                assert "SEARCH application USING INDEX ix_application_open_queue (municipality_id=?)" in text_plan
                assert "TEMP B-TREE" not in text_plan, (tab, text_plan)  # read in order, no sort
            assert page.rows and all(r.application.status in OPEN_STATUSES for r in page.rows)
            db.session.rollback()


def test_my_tasks_branches_per_step_select_what_the_single_where_selects(app, monkeypatch):
    """The per-step branches (PostgreSQL's union) are the same rows as the steps in one
    branch, and past MAX_STEP_BRANCHES the steps stay one branch. Checked as ORs on both
    databases: which rows, not which plan."""
    load(app, closed=200, open_=90)
    with app.app_context():
        registry = plugin_runtime.registry(app)
        for role in ("clerk", "specialist", "head"):
            actor = access.load_actor(db.session, app.seeded["alpha"]["users"][role])

            def ids(branches, actor=actor):
                stmt = access.visible_applications(actor, Application.id).where(or_(*branches))
                return set(db.session.scalars(stmt))

            joined = inbox.mine_branches(db.session, registry, actor)
            apart = inbox.mine_branches(db.session, registry, actor, per_step=True)
            steps = len(inbox.can_act_per_step(registry, actor, inbox.department_code_of(db.session, actor)))
            assert len(apart) == len(joined) + max(steps - 1, 0), role
            assert ids(apart) == ids(joined) and ids(joined), role
            monkeypatch.setattr(inbox, "MAX_STEP_BRANCHES", 1)
            capped = inbox.mine_branches(db.session, registry, actor, per_step=True)
            assert len(capped) == len(joined) and ids(capped) == ids(joined), role
            monkeypatch.undo()


def test_my_tasks_on_postgresql_is_a_branch_per_step_with_literal_statuses(app):
    """PostgreSQL underestimates the rows at a (service, version, step) and, given the steps
    in one branch, gathered them all in a bitmap and sorted them (21 ms at a million); one
    branch per step walks ``ix_application_open_step`` (which ends with the queue key) in
    order and stops at a page (the benchmark shows the plan at a million: at this size any
    plan is cheap, and PostgreSQL rightly picks others). The statuses are written into the
    statement, so that a prepared statement's generic plan may still use the partial indexes."""
    if not _is_postgres():
        pytest.skip("PostgreSQL only: SQLite pages 'My tasks' from the single WHERE (tested above)")
    load(app)
    with app.app_context():
        registry = plugin_runtime.registry(app)
        actor = access.load_actor(db.session, app.seeded["alpha"]["users"]["specialist"])
        steps = inbox.can_act_per_step(registry, actor, inbox.department_code_of(db.session, actor))
        assert len(steps) > 1
        with statements() as seen:
            page = inbox.list_page(db.session, registry, actor, inbox.MINE)
        union = next(s for s, _p in seen if "UNION" in s.upper())
        # The page's own LIMIT, then a member each: assigned to me, one per step, returned cases
        # I filed (no stand-ins today).
        assert union.upper().count("LIMIT") == 1 + 1 + len(steps) + 1, union
        assert "status IN ('submitted', 'in_review')" in union and "status = 'returned_for_correction'" in union
        assert page.rows
        single = inbox.tab_clause(db.session, registry, actor, inbox.MINE)
        expected = db.session.scalars(
            access.visible_applications(actor, Application.id).where(single).order_by(queue_key(), Application.id)
        ).all()
        assert [r.application.id for r in page.rows] == expected[: len(page.rows)]


def test_a_deep_page_is_a_seek_not_a_scan(app):
    ids = load(app)
    with app.app_context():
        last = db.session.get(Application, sorted(ids["alpha"])[len(ids["alpha"]) // 2])
        cursor = inbox.Cursor(last.due_at, last.id)
        text_plan, page = page_plan(app, "head", inbox.ALL, cursor=cursor)
        if _is_postgres():
            assert "ix_application_queue" in text_plan and "ROW(COALESCE" in text_plan, text_plan
        else:
            assert "ix_application_queue (municipality_id=? AND <expr>>?)" in text_plan, text_plan
        assert page.rows


def test_name_search_uses_the_trigram_index(app):
    load(app)
    with app.app_context():
        with statements() as seen:
            if _is_postgres():
                # At test size PostgreSQL rightly reads one municipality's ~2000 rows rather
                # than the GIN index; that the index serves the very predicate is the question.
                db.session.execute(select(Application.id).where(inbox.search_clause("մկրտչ"))).all()
            else:
                inbox.list_page(
                    db.session,
                    plugin_runtime.registry(app),
                    access.load_actor(db.session, app.seeded["alpha"]["users"]["head"]),
                    inbox.ALL,
                    filters=inbox.Filters(q="մկրտչ"),
                )
        statement, parameters = seen[-1]
        text_plan = plan(statement, parameters)
        expected = "ix_application_name_trgm" if _is_postgres() else "application_name_fts VIRTUAL TABLE INDEX"
        assert expected in text_plan, text_plan


def test_api_show_reads_documents_through_their_application_once_statistics_exist(app):
    ids = load(app, closed=400, open_=20)
    with app.app_context():
        municipality = app.seeded["alpha"]["id"]
        # ~2.5 documents per application: the municipality's index matches them all.
        db.session.execute(
            insert(ApplicationDocument),
            [
                {
                    "municipality_id": municipality,
                    "application_id": application_id,
                    "requirement_key": "doc",
                    "original_name": "a.pdf",
                    "content_type": "application/pdf",
                    "size": 1,
                    "sha256": "0" * 64,
                    "storage_key": f"perf/{application_id}/{n}",
                }
                for application_id in ids["alpha"]
                for n in range(2 + application_id % 2)
            ],
        )
        db.session.commit()
        analyze(db.engine)
        application = db.session.get(Application, ids["alpha"][3])
        with statements() as seen:
            documents = access.documents_of(db.session, application)
        statement, parameters = next((s, p) for s, p in seen if "application_document" in s)
        text_plan = plan(statement, parameters)
        assert "ix_application_document_application_id" in text_plan, text_plan
        assert "ix_application_document_municipality_id" not in text_plan
        assert [d.application_id for d in documents] == [application.id] * len(documents) and documents


# -- name search: the same rows as a case-insensitive match -------------------------------------


def test_name_search_finds_the_same_rows_as_a_case_insensitive_match_armenian_included(app):
    load(app, closed=200, open_=30)
    with app.app_context():
        # Quotes and backslashes reach the SQL as part of it on PostgreSQL (the pattern is
        # written into the statement, inbox._name_contains): they must stay characters.
        first = db.session.execute(select(func.min(Application.id))).scalar_one()
        db.session.execute(update(Application).where(Application.id == first).values(applicant_name="O'Brien \\ Արամ"))
        db.session.commit()
        names = dict(db.session.execute(select(Application.id, Application.applicant_name)).all())

        def found(q):
            return set(db.session.execute(select(Application.id).where(inbox.search_clause(q))).scalars())

        for q in ("արամ", "ԱՐԱՄ", "Արամ պետ", "ՊԵՏՐՈՍ", "petros", "PETROSYAN", "100%", "0% P", "0%P", "a_b", 'e"d'):
            assert found(q) == {i for i, name in names.items() if q.lower() in name.lower()}, q
        for q in ("o'brien", "O'BRIEN \\ ա", "\\ Ար", "'; DELETE FROM application; --", "\\'", "%' OR '1'='1"):
            assert found(q) == {i for i, name in names.items() if q.lower() in name.lower()}, q
        assert found("o'brien \\") == {first}
        for q in ("ёлка", "ЁЛКА", "елка"):
            assert found(q) == {i for i, name in names.items() if q.lower() in name.lower()}, q
        assert found("արամ") == found("ԱՐԱՄ") != set()  # Ա/ա are one letter to the search
        # Shorter than a trigram: the scan, as before (SQLite folds ASCII only; PostgreSQL all).
        for wildcard in ("_", "%"):  # literal characters, not patterns
            assert found(wildcard) == {i for i, name in names.items() if wildcard in name} != set()
        assert found("Ли") >= {i for i, name in names.items() if "Ли" in name} != set()
        if _is_postgres():
            assert found("ли") == {i for i, name in names.items() if "ли" in name.lower()}
        else:
            # As typed, or with ASCII folded (SQLite's lower()): the scan as it always was.
            assert found("ли") == {i for i, name in names.items() if "ли" in name} == set()
            assert found("ar") == {i for i, name in names.items() if "ar" in name.lower()} != set()

        # The index follows the table: a renamed applicant is found by the new name only, a
        # deleted application not at all.
        some = next(i for i, name in names.items() if name.startswith("Սոնա"))
        db.session.execute(update(Application).where(Application.id == some).values(applicant_name="Նարե Հակոբյան"))
        db.session.commit()
        assert found("ՆԱՐԵ") == {some} and some not in found("սոնա")
        db.session.execute(text("DELETE FROM application WHERE id = :id"), {"id": some})
        db.session.commit()
        assert found("նարե") == set()


def test_sqlite_connections_optimize_with_a_bounded_sample(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's PRAGMAs")
    with app.app_context(), db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA analysis_limit").scalar() == SQLITE_ANALYSIS_LIMIT


def test_analyze_gives_sqlite_statistics(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's autovacuum analyzes on its own; sqlite_stat1 is SQLite's")
    load(app, closed=50, open_=10)
    with app.app_context():
        stats = db.session.execute(text("SELECT DISTINCT idx FROM sqlite_stat1 WHERE tbl = 'application'")).scalars()
        assert "ix_application_open_queue" in set(stats)


def test_migrations_leave_statistics_behind(tmp_path):
    url = f"sqlite:///{tmp_path / 'analyzed.sqlite3'}"
    app = create_app("test", overrides={"SQLALCHEMY_DATABASE_URI": url, "HAMAYNK_PLUGINS": []})
    with app.app_context():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar() == 1
        db.engine.dispose()
    assert Path(url[len("sqlite:///") :]).exists()
