"""The benchmark runner: ``python3 -m bench run --database-url URL`` (and ``smoke`` for CI).

It serves the app from a subprocess (``python -m bench.serve``: waitress on 127.0.0.1, four
threads) and a bare Flask endpoint under the same server (the **ceiling**), drives pages over
HTTP with one keep-alive ``requests`` session per user, and times, on the same database in the
same run, the raw SQL that returns the same rows (the **floor**). For every page: p50/p95 of
K requests, queries per request (the server's ``X-Bench-Queries`` header), the floor, the
ceiling, ``ratio = p50 / (ceiling + floor)`` against the target ``≤ 1.5``, and whether the
page showed the floor's rows (ids parsed from the HTML or the API's JSON).

It reads nothing of the app's query code: pages are HTTP, floors are SQL written here. The
one import of app code is :func:`app.domain.inbox.encode_cursor`, to sign the cursor of a deep
keyset page (following 10,000 "next" links would take longer than the benchmark).
"""

# The runner prints its table, builds SQL from its own constants (never from input) and starts
# its own server process: what print, S608 and S603 warn about is what it is for.
# ruff: noqa: T201, S608, S603
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import PASSWORD, SECRET_KEY, access_code, is_sqlite, normalize_url, workdir_for
from bench.generate import read_summary
from bench.serve import HEADER

TARGET = 1.5
OPEN = ("submitted", "in_review", "returned_for_correction")
AT_STEP = ("submitted", "in_review")
PAGE = 25  # the inbox's page size
CITIZEN_PAGE = 20  # "My applications"
INBOX_ROW = re.compile(r'<th scope="row"><a href="/workspace/applications/(\d+)"')
RESULTS = Path(__file__).resolve().parent / "results"


class BenchError(RuntimeError):
    """Something the benchmark itself could not do (not a slow page)."""


# -- results -------------------------------------------------------------------------------


@dataclass
class Result:
    page: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    floor_ms: float | None = None
    ceiling_ms: float | None = None
    ratio: float | None = None
    target_ok: bool | None = None
    queries: int | None = None
    rows_match: bool | None = None
    requests: int = 0
    note: str = ""
    error: str | None = None
    floor_plan: str = ""

    def finish(self, times: Sequence[float], floor: Sequence[float], ceiling_ms: float) -> Result:
        self.requests = len(times)
        if times:
            self.p50_ms = round(_pct(times, 50) * 1000, 2)
            self.p95_ms = round(_pct(times, 95) * 1000, 2)
        if floor:
            self.floor_ms = round(statistics.median(floor) * 1000, 3)
        self.ceiling_ms = round(ceiling_ms, 2)
        if self.p50_ms is not None and self.floor_ms is not None:
            self.ratio = round(self.p50_ms / (self.ceiling_ms + self.floor_ms), 2)
            self.target_ok = self.ratio <= TARGET
        return self


def _pct(values: Sequence[float], pct: int) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- the servers ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m bench.serve`` in a subprocess, stopped (by its own pid) on exit."""

    def __init__(self, url: str, bare: bool = False) -> None:
        self.port = _free_port()
        args = [sys.executable, "-m", "bench.serve", url, str(self.port)] + (["--bare"] if bare else [])
        root = Path(__file__).resolve().parent.parent
        self.log = tempfile.NamedTemporaryFile(prefix="bench-serve-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.stop()
            raise BenchError(f"the server did not start: {Path(self.log.name).read_text()[-2000:]}")
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def errors(self) -> str:
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(line for line in text.splitlines() if "Traceback" in line or "Error" in line)[-3000:]


# -- the database, raw -----------------------------------------------------------------------


class Raw:
    """One DBAPI connection for the floors; ``?`` placeholders on both databases."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.sqlite = is_sqlite(url)
        if self.sqlite:
            import sqlite3

            self.conn: Any = sqlite3.connect(make_url(url).database or "", isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=30000")
            self.conn.execute("PRAGMA foreign_keys=ON")
        else:
            import psycopg

            self.conn = psycopg.connect(
                make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
            )

    def sql(self, text: str) -> str:
        return text if self.sqlite else text.replace("?", "%s")

    def all(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        cur.execute(self.sql(text), tuple(params))
        return list(cur.fetchall())

    def one(self, text: str, params: Sequence[Any] = ()) -> Any:
        rows = self.all(text, params)
        return rows[0][0] if rows else None

    def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        cur = self.conn.cursor()
        if self.sqlite:
            cur.execute("BEGIN IMMEDIATE")
            for text, params in statements:
                cur.execute(text, tuple(params))
            cur.execute("COMMIT")
        else:
            with self.conn.transaction():
                for text, params in statements:
                    cur.execute(self.sql(text), tuple(params))

    def date(self, value: dt.date) -> Any:
        return value.isoformat() if self.sqlite else value

    def stamp(self, value: dt.datetime) -> Any:
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

    def close(self) -> None:
        self.conn.close()


# psycopg's prepare_threshold (its default): a statement is prepared on a connection the
# time after it was sent this many times there.
PREPARE_AFTER = 5


def timed_floor(run: Callable[[], Any], k: int) -> tuple[list[float], Any]:
    # Warm, as the page is: on PostgreSQL the floor's one connection prepares its statements
    # after PREPARE_AFTER runs, as the server's do.
    for _ in range(PREPARE_AFTER + 1):
        result = run()
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
    return times, result


# -- HTTP ------------------------------------------------------------------------------------


def session():
    import requests

    s = requests.Session()
    s.headers["Accept-Language"] = "en"
    return s


def staff_login(base: str, username: str):
    s = session()
    r = s.post(f"{base}/login/", data={"username": username, "password": PASSWORD}, allow_redirects=False)
    if r.status_code != 302:
        raise BenchError(f"staff sign-in as {username} failed: {r.status_code}")
    return s


def citizen_login(base: str, email: str):
    s = session()
    r = s.post(f"{base}/account/login", data={"email": email, "password": PASSWORD}, allow_redirects=False)
    if r.status_code != 302:
        raise BenchError(f"citizen sign-in as {email} failed: {r.status_code}")
    return s


def timed_requests(call: Callable[[], Any], k: int, warm: int = 2) -> tuple[list[float], Any, int | None]:
    """``k`` timed calls after ``warm`` untimed ones; the last response and its query count."""
    response = None
    for _ in range(warm):
        response = call()
    times = []
    for _ in range(k):
        t0 = time.perf_counter()
        response = call()
        times.append(time.perf_counter() - t0)
        if response.status_code >= 400:
            raise BenchError(f"{response.request.method} {response.url}: HTTP {response.status_code}")
    queries = int(response.headers.get(HEADER, "-1")) if response is not None else None
    return times, response, queries


def ids_in(html: str, pattern: re.Pattern[str] = INBOX_ROW) -> list[int]:
    seen: dict[int, None] = {}
    for match in pattern.finditer(html):
        seen.setdefault(int(match.group(1)), None)
    return list(seen)


# -- the floors: raw SQL for the same rows ---------------------------------------------------


def step_terms(summary: dict[str, Any], role: str, department: str | None) -> list[tuple[str, list[Any]]]:
    """Applications waiting at a step ``role`` of ``department`` acts on, one term per step:
    a step naming that department, or naming none (the generator leaves the service's own
    department unset, so such a step is anyone's with the role)."""
    terms = []
    for key, info in summary["steps"].items():
        for step_key, step_role, step_department in info["steps"]:
            if step_role == role and step_department in (department, None):
                terms.append(
                    ("(service_key = ? AND service_version = ? AND current_step = ?)", [key, info["version"], step_key])
                )
    return terms


def step_clause(summary: dict[str, Any], role: str, department: str | None) -> tuple[str, list[Any]]:
    """:func:`step_terms` joined with OR."""
    terms = step_terms(summary, role, department)
    if not terms:
        return "(1 = 0)", []
    return "(" + " OR ".join(sql for sql, _p in terms) + ")", [p for _sql, params in terms for p in params]


def mine_sql(
    summary: dict[str, Any], m_id: int, user_id: int, role: str, department: str | None, *, per_step: bool = False
) -> tuple[str, list]:
    """The "My tasks" rule as a union of its parts, each cut to one page in the inbox's order
    before they are merged: each part can walk an index in order, where one WHERE with ORs
    cannot (as one query it cost 93 ms at 100k on SQLite, as this union a fraction of it).
    With ``per_step`` each step is a part of its own: the steps joined with OR are gathered
    and sorted on PostgreSQL (21 ms at a million), each on its own is walked in order; SQLite
    does better with them joined. The floor takes the faster (:func:`mine_floor`)."""
    page = f"ORDER BY {{due}}, id LIMIT {PAGE}"
    # "+": no index on assignee_id for IS NULL, which most rows are (SQLite chose one).
    waiting = "municipality_id = ? AND +assignee_id IS NULL AND status IN ('submitted', 'in_review') AND "
    steps = step_terms(summary, role, department) if per_step else [step_clause(summary, role, department)]
    parts = [
        (
            "municipality_id = ? AND assignee_id = ? "
            "AND status IN ('submitted', 'in_review', 'returned_for_correction')",
            [m_id, user_id],
        ),
        *((waiting + sql, [m_id, *params]) for sql, params in steps),
        (
            "municipality_id = ? AND status = 'returned_for_correction'"
            + ("" if role == "clerk" else " AND created_by_id = ?"),
            [m_id] if role == "clerk" else [m_id, user_id],
        ),
    ]
    union = " UNION ".join(
        f"SELECT * FROM (SELECT id, {{due}} AS sort_due FROM application WHERE {w} {page}) AS p{i}"
        for i, (w, _) in enumerate(parts)
    )
    params = [p for _w, ps in parts for p in ps]
    return f"SELECT id FROM ({union}) AS mine ORDER BY sort_due, id LIMIT {PAGE}", params


def mine_floor(ctx: Context, username: str, role: str, department: str) -> tuple[str, list, list]:
    """The "My tasks" floor: the steps joined, and (as an equivalent formulation) each apart."""
    args = (ctx.summary, ctx.m_id, ctx.user_id(username), role, department)
    sql, params = mine_sql(*args)
    apart, apart_params = mine_sql(*args, per_step=True)
    return sql, params, [(variant, apart_params) for variant in variants(apart)]


def plan(raw: Raw, sql: str, params: Sequence[Any]) -> str:
    """The floor's query plan, saved with the results (which index the database chose)."""
    try:
        if raw.sqlite:
            return " / ".join(str(r[-1]) for r in raw.all("EXPLAIN QUERY PLAN " + sql, params))
        return " / ".join(str(r[0]).strip() for r in raw.all("EXPLAIN " + sql, params))
    except Exception as exc:  # a plan is a nicety; never fail the run for it
        return f"no plan: {exc}"


# -- the pages -------------------------------------------------------------------------------


@dataclass
class Context:
    url: str
    summary: dict[str, Any]
    app: Server
    bare: Server
    raw: Raw
    k: int
    threads: int
    today: dt.date
    users: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.app.base

    @property
    def warm(self) -> int:
        """Untimed requests before a page's timed ones. On PostgreSQL, enough for every pooled
        connection to have sent each statement PREPARE_AFTER times: psycopg prepares a
        statement then, and a running server's connections all have (docs/performance.md)."""
        return 2 if is_sqlite(self.url) else PREPARE_AFTER * self.threads + 2

    @property
    def ceiling_ms(self) -> float:
        """The bare endpoint's p50, measured again for each page right after it: on a shared
        machine the load changes from one minute to the next, and a ratio must compare the
        page with the ceiling of the same moment."""
        if not hasattr(self, "_bare_session"):
            self._bare_session = session()
        times, _r, _q = timed_requests(lambda: self._bare_session.get(f"{self.bare.base}/"), max(self.k, 20), warm=2)
        return _pct(times, 50) * 1000

    @property
    def m_id(self) -> int:
        return int(self.summary["largest"]["id"])

    @property
    def code(self) -> str:
        return str(self.summary["largest"]["code"])

    def user_id(self, username: str) -> int:
        if username not in self.users:
            self.users[username] = int(self.raw.one("SELECT id FROM ab_user WHERE username = ?", [username]))
        return self.users[username]


# The inbox's order, due date first with undated rows last (every filed application has one),
# spelled two ways: the plain columns, and the expression an index may be built on
# (perf-db's indexes lead with coalesce(due_at, '9999-12-31')). Both give the same rows; the
# floor is the faster, so it is the best raw SQL for the schema as it stands.
ORDERS = ("due_at", "coalesce(due_at, '9999-12-31')")


def variants(template: str) -> list[str]:
    return [template.replace("{due}", order) for order in ORDERS]


def best_floor(
    ctx: Context, candidates: Sequence[str], params: Sequence[Any], extra: Sequence[tuple[str, Sequence[Any]]] = ()
) -> tuple[list[float], list[int], str, Sequence[Any], bool]:
    """The fastest formulation (by median): its times, rows, SQL and parameters, and whether
    the ``candidates`` (equivalent by construction) agreed. ``extra`` formulations (an index
    only some schemas have, e.g. a trigram or FTS5 index for names) count only when they
    return the very rows of the first candidate."""
    best: tuple[float, list[float], list[int], str, Sequence[Any]] | None = None
    reference: list[int] | None = None
    agree = True
    for sql, args, optional in [(c, params, False) for c in candidates] + [(c, a, True) for c, a in extra]:
        try:
            times, rows = timed_floor(lambda sql=sql, args=args: ctx.raw.all(sql, args), ctx.k)
        except Exception:
            if not optional:
                raise
            if not ctx.raw.sqlite:
                ctx.raw.conn.rollback()
            continue
        ids = [r[0] for r in rows]
        if reference is None:
            reference = ids
        elif ids != reference:
            agree = agree and optional
            continue
        if best is None or statistics.median(times) < best[0]:
            best = (statistics.median(times), times, ids, sql, args)
    assert best is not None
    return best[1], best[2], best[3], best[4], agree


def inbox_page(
    ctx: Context,
    name: str,
    username: str,
    query: str,
    floor_sql: str,
    floor_params: Sequence[Any],
    extra: Sequence[tuple[str, Sequence[Any]]] = (),
) -> Result:
    s = staff_login(ctx.base, username)
    times, response, queries = timed_requests(lambda: s.get(f"{ctx.base}/workspace/?{query}"), ctx.k, warm=ctx.warm)
    floor_times, expected, best, best_params, agree = best_floor(ctx, variants(floor_sql), floor_params, extra)
    shown = ids_in(response.text)
    result = Result(name, queries=queries, rows_match=shown == expected and agree, note=f"{len(shown)} rows")
    result.floor_plan = plan(ctx.raw, best, best_params)
    if not agree:
        result.note += "; the floor's formulations disagree"
    if shown != expected:
        result.note += f"; page {shown[:5]}… floor {expected[:5]}…"
    return result.finish(times, floor_times, ctx.ceiling_ms)


def page_inbox(ctx: Context) -> list[Result]:
    from urllib.parse import urlencode

    from app.domain.inbox import Cursor, encode_cursor

    m, code = ctx.m_id, ctx.code
    results = []
    clerk = f"{code}.clerk"
    specialist = f"{code}.specialist"
    sql, params, apart = mine_floor(ctx, clerk, "clerk", "front_office")
    results.append(inbox_page(ctx, 'inbox "My tasks", clerk', clerk, "tab=mine", sql, params, apart))
    sql, params, apart = mine_floor(ctx, specialist, "specialist", "urban_planning")
    results.append(inbox_page(ctx, 'inbox "My tasks", specialist', specialist, "tab=mine", sql, params, apart))
    midnight = dt.datetime.combine(ctx.today, dt.time.min)
    overdue = f"""
        SELECT id FROM application
        WHERE municipality_id = ? AND status IN ('submitted', 'in_review')
          AND ((due_at IS NOT NULL AND due_at < ?) OR (step_due_at IS NOT NULL AND step_due_at < ?))
        ORDER BY {{due}}, id LIMIT {PAGE}"""
    results.append(
        inbox_page(
            ctx,
            "inbox filter overdue",
            clerk,
            "tab=all&overdue=1",
            overdue,
            [m, ctx.raw.date(ctx.today), ctx.raw.stamp(midnight)],
        )
    )
    first = (
        f"SELECT id FROM application WHERE municipality_id = ? AND status <> 'draft' ORDER BY {{due}}, id LIMIT {PAGE}"
    )
    results.append(inbox_page(ctx, 'inbox "All" page 1', clerk, "tab=all", first, [m]))
    filed = int(ctx.raw.one("SELECT count(*) FROM application WHERE municipality_id = ? AND status <> 'draft'", [m]))
    depth = max(2, min(10_000, filed // PAGE // 2))
    row = ctx.raw.all(
        "SELECT due_at, id FROM application WHERE municipality_id = ? AND status <> 'draft' "
        f"ORDER BY due_at, id LIMIT 1 OFFSET {(depth - 1) * PAGE - 1}",
        [m],
    )[0]
    due = row[0] if isinstance(row[0], dt.date) else dt.date.fromisoformat(str(row[0]))
    cursor = encode_cursor(SECRET_KEY, Cursor(due, int(row[1]), "n"))
    deep = (
        "SELECT id FROM application WHERE municipality_id = ? AND status <> 'draft' AND ({due}, id) > (?, ?) "
        f"ORDER BY {{due}}, id LIMIT {PAGE}"
    )
    results.append(
        inbox_page(
            ctx,
            f'inbox "All" page {depth:,} (keyset)',
            clerk,
            urlencode({"tab": "all", "cursor": cursor}),
            deep,
            [m, ctx.raw.date(due), int(row[1])],
        )
    )
    middle = ctx.raw.all(
        "SELECT tracking_number, applicant_name FROM application WHERE municipality_id = ? AND status <> 'draft' "
        "ORDER BY id LIMIT 1 OFFSET ?",
        [m, filed // 2],
    )[0]
    tracking, name = middle
    by_number = (
        "SELECT id FROM application WHERE tracking_number = ? AND municipality_id = ? AND status <> 'draft' "
        f"ORDER BY {{due}}, id LIMIT {PAGE}"
    )
    results.append(
        inbox_page(
            ctx,
            "search by tracking number",
            clerk,
            urlencode({"tab": "all", "q": tracking}),
            by_number,
            [
                tracking,
                m,
            ],
        )
    )
    by_name = (
        "SELECT id FROM application WHERE municipality_id = ? AND status <> 'draft' "
        "AND (applicant_name LIKE ? OR lower(applicant_name) LIKE ?) "
        f"ORDER BY {{due}}, id LIMIT {PAGE}"
    )
    results.append(
        inbox_page(
            ctx,
            "search by full name",
            clerk,
            urlencode({"tab": "all", "q": name}),
            by_name,
            [m, f"%{name}%", f"%{name.lower()}%"],
            name_index_floors(ctx, m, name),
        )
    )
    return results


def name_index_floors(ctx: Context, m: int, name: str) -> list[tuple[str, list[Any]]]:
    """Name search through an index, where the schema has one: PostgreSQL's trigram GIN
    serves ILIKE; SQLite's FTS5 trigram table (if a migration made one) serves LIKE. Counted
    only when they return the same rows as the plain match (see best_floor)."""
    floors = []
    for order in ORDERS:
        if ctx.raw.sqlite:
            floors.append(
                (
                    "SELECT id FROM application WHERE municipality_id = ? AND status <> 'draft' AND id IN "
                    "(SELECT rowid FROM application_name_fts WHERE applicant_name LIKE ?) "
                    f"ORDER BY {order}, id LIMIT {PAGE}",
                    [m, f"%{name}%"],
                )
            )
        else:
            floors.append(
                (
                    "SELECT id FROM application WHERE municipality_id = ? AND status <> 'draft' "
                    f"AND applicant_name ILIKE ? ORDER BY {order}, id LIMIT {PAGE}",
                    [m, f"%{name}%"],
                )
            )
    return floors


def _case_floor(ctx: Context, app_id: int) -> Callable[[], list[int]]:
    def run() -> list[int]:
        ctx.raw.all("SELECT * FROM application WHERE id = ?", [app_id])
        docs = ctx.raw.all(
            "SELECT id, requirement_key, original_name, content_type, size, uploaded_at FROM application_document "
            "WHERE application_id = ? ORDER BY id",
            [app_id],
        )
        ctx.raw.all("SELECT * FROM transition_record WHERE application_id = ? ORDER BY id", [app_id])
        return [d[0] for d in docs]

    return run


def page_case(ctx: Context) -> list[Result]:
    app_id = int(ctx.summary["big_cases"][0])
    s = staff_login(ctx.base, f"{ctx.code}.clerk")
    times, response, queries = timed_requests(
        lambda: s.get(f"{ctx.base}/workspace/applications/{app_id}"), ctx.k, warm=ctx.warm
    )
    floor_times, expected = timed_floor(_case_floor(ctx, app_id), ctx.k)
    shown = ids_in(response.text, re.compile(rf"/workspace/applications/{app_id}/documents/(\d+)"))
    case = Result("case page, 20 documents", queries=queries, rows_match=sorted(shown) == sorted(expected))
    case.note = f"{len(shown)} documents"
    results = [case.finish(times, floor_times, ctx.ceiling_ms)]

    import requests

    api = requests.Session()
    login = api.post(
        f"{ctx.base}/api/v1/security/login",
        json={"username": f"{ctx.code}.clerk", "password": PASSWORD, "provider": "db"},
    )
    if login.status_code != 200:
        raise BenchError(f"API sign-in failed: {login.status_code}")
    api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    times, response, queries = timed_requests(
        lambda: api.get(f"{ctx.base}/api/v1/applications/{app_id}"), ctx.k, warm=ctx.warm
    )
    shown = [d["id"] for d in response.json()["result"]["documents"]]
    show = Result("API show, 20 documents", queries=queries, rows_match=sorted(shown) == sorted(expected))
    show.note = f"{len(shown)} documents"
    results.append(show.finish(times, floor_times, ctx.ceiling_ms))
    return results


def page_lookup(ctx: Context) -> list[Result]:
    row = ctx.raw.all(
        "SELECT id, tracking_number FROM application WHERE municipality_id = ? AND status = 'in_review' "
        "ORDER BY id DESC LIMIT 1",
        [ctx.m_id],
    )[0]
    app_id, tracking = int(row[0]), row[1]
    code = access_code(int(ctx.summary["seed"]), app_id)
    s = session()
    times, response, queries = timed_requests(
        lambda: s.post(f"{ctx.base}/track", data={"tracking_number": tracking, "access_code": code}), ctx.k
    )

    def floor() -> bool:
        found = ctx.raw.all(
            "SELECT status, access_secret_hash FROM application WHERE tracking_number = ? AND status <> 'draft'",
            [tracking],
        )
        return bool(found) and found[0][1] == "sha256$" + hashlib.sha256(code.encode()).hexdigest()

    floor_times, ok = timed_floor(floor, ctx.k)
    result = Result("public status look-up", queries=queries, rows_match=ok and tracking in response.text)
    return [result.finish(times, floor_times, ctx.ceiling_ms)]


def page_citizen(ctx: Context) -> list[Result]:
    row = ctx.raw.all(
        "SELECT applicant_user_id, count(*) FROM application WHERE municipality_id = ? AND status <> 'draft' "
        "AND applicant_user_id IS NOT NULL GROUP BY applicant_user_id ORDER BY count(*) DESC, applicant_user_id LIMIT 1",
        [ctx.m_id],
    )[0]
    user_id = int(row[0])
    email = ctx.raw.one("SELECT email FROM ab_user WHERE id = ?", [user_id])
    s = citizen_login(ctx.base, email)
    times, response, queries = timed_requests(lambda: s.get(f"{ctx.base}/my/applications/"), ctx.k, warm=ctx.warm)
    sql = (
        "SELECT id FROM application WHERE applicant_user_id = ? AND status <> 'draft' "
        f"ORDER BY submitted_at DESC, created_at DESC, id DESC LIMIT {CITIZEN_PAGE}"
    )
    floor_times, rows = timed_floor(lambda: ctx.raw.all(sql, [user_id]), ctx.k)
    shown = ids_in(response.text, re.compile(r'href="/my/applications/(\d+)"'))
    expected = [r[0] for r in rows]
    result = Result('citizen "My applications"', queries=queries, rows_match=shown == expected)
    result.floor_plan = plan(ctx.raw, sql, [user_id])
    result.note = f"{len(shown)} rows ({row[1]} filed)"
    return [result.finish(times, floor_times, ctx.ceiling_ms)]


def page_dashboard(ctx: Context) -> list[Result]:
    s = session()
    times, _response, queries = timed_requests(lambda: s.get(f"{ctx.base}/dashboard/"), ctx.k, warm=ctx.warm)
    month = ctx.today.replace(day=1)
    for _ in range(11):
        month = (month - dt.timedelta(days=1)).replace(day=1)

    def floor() -> tuple[int, int]:
        measures = dict(
            ctx.raw.all(
                "SELECT measure, sum(count) FROM stat_month WHERE month >= ? GROUP BY measure", [ctx.raw.date(month)]
            )
        )
        late = ctx.raw.one(
            "SELECT count(*) FROM application WHERE status IN ('submitted', 'in_review') AND due_at < ?",
            [ctx.raw.date(ctx.today)],
        )
        return int(measures.get("received") or 0), int(late or 0)

    floor_times, (received, _late) = timed_floor(floor, ctx.k)
    data = s.get(f"{ctx.base}/dashboard.json").json()
    shown = int(data["totals"]["received"])
    result = Result(
        "dashboard", queries=queries, rows_match=shown == received and data["totals"]["currently_overdue"] == _late
    )
    result.note = f"received {shown} vs floor {received}; overdue {data['totals']['currently_overdue']} vs {_late}"
    return [result.finish(times, floor_times, ctx.ceiling_ms)]


# -- writes ---------------------------------------------------------------------------------


def _approvable(ctx: Context, count: int, skip: Sequence[int] = ()) -> list[tuple[int, int]]:
    """``count`` (id, version) of unassigned submitted applications at a clerk's step."""
    steps, params = step_clause(ctx.summary, "clerk", "front_office")
    rows = ctx.raw.all(
        f"SELECT id, version FROM application WHERE municipality_id = ? AND status = 'submitted' "
        f"AND assignee_id IS NULL AND {steps} ORDER BY id DESC LIMIT ?",
        [ctx.m_id, *params, count + len(skip)],
    )
    return [(int(r[0]), int(r[1])) for r in rows if r[0] not in skip][:count]


def _next_step(ctx: Context, app_id: int) -> tuple[str, str | None]:
    key, step = ctx.raw.all("SELECT service_key, current_step FROM application WHERE id = ?", [app_id])[0]
    steps = [s[0] for s in ctx.summary["steps"][key]["steps"]]
    index = steps.index(step)
    return ("in_review", steps[index + 1]) if index + 1 < len(steps) else ("approved", None)


def _approve_floor(ctx: Context, cases: list[tuple[int, int]]) -> list[float]:
    """One optimistic-locked UPDATE and one history row, committed: what an approval must write."""
    times = []
    clerk = ctx.user_id(f"{ctx.code}.clerk")
    for app_id, version in cases:
        status, step = _next_step(ctx, app_id)
        now = ctx.raw.stamp(dt.datetime.now(dt.UTC).replace(tzinfo=None))
        t0 = time.perf_counter()
        ctx.raw.transaction(
            [
                (
                    "UPDATE application SET status = ?, current_step = ?, version = ? WHERE id = ? AND version = ?",
                    [status, step, version + 1, app_id, version],
                ),
                (
                    "INSERT INTO transition_record (municipality_id, application_id, at, actor_id, step_key, action, "
                    "from_status, to_status, details) VALUES (?, ?, ?, ?, ?, 'approve', 'submitted', ?, '{}')",
                    [ctx.m_id, app_id, now, clerk, step, status],
                ),
            ]
        )
        times.append(time.perf_counter() - t0)
    return times


def _approvals(ctx: Context, ids: Sequence[int]) -> int:
    marks = ", ".join("?" * len(ids))
    return int(
        ctx.raw.one(
            f"SELECT count(*) FROM transition_record WHERE action = 'approve' AND from_status = 'submitted' "
            f"AND application_id IN ({marks})",
            list(ids),
        )
        or 0
    )


def page_approve(ctx: Context) -> list[Result]:
    k = ctx.k
    rounds = max(1, k // 2)
    cases = _approvable(ctx, k + 2 + rounds + k)
    if len(cases) < 4:
        return [Result("approve", note=f"skipped: {len(cases)} cases at a clerk's step")]
    alone = cases[: max(1, min(k + 2, len(cases) // 3))]
    contended = cases[len(alone) : len(alone) + max(1, min(rounds, len(cases) // 3))]
    floor_cases = cases[len(alone) + len(contended) :] or alone[-1:]
    s = staff_login(ctx.base, f"{ctx.code}.clerk")
    before = _approvals(ctx, [c[0] for c in alone])
    times: list[float] = []
    queries = None
    errors = 0
    for i, (app_id, version) in enumerate(alone):
        t0 = time.perf_counter()
        r = s.post(
            f"{ctx.base}/workspace/applications/{app_id}/approve",
            data={"version": str(version), "confirmed": "1", "comment": ""},
            allow_redirects=False,
        )
        elapsed = time.perf_counter() - t0
        errors += r.status_code >= 400
        if i >= 2 or len(alone) <= 2:
            times.append(elapsed)
        queries = int(r.headers.get(HEADER, "-1"))
    floor_times = _approve_floor(ctx, floor_cases[: max(1, k)]) if floor_cases else []
    written = _approvals(ctx, [c[0] for c in alone]) - before
    one = Result("approve, alone", queries=queries, rows_match=written == len(alone) and not errors)
    one.note = f"{written}/{len(alone)} approved"
    results = [one.finish(times, floor_times, ctx.ceiling_ms)]

    # Contended: N clerks' sessions approve the same application at once, round after round;
    # exactly one approval per application may be written (optimistic locking), the others
    # are refused in words (HTTP 4xx or a page saying so), never a 500.
    sessions = [staff_login(ctx.base, f"{ctx.code}.clerk") for _ in range(ctx.threads)]
    c_times: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    for app_id, version in contended:
        barrier = threading.Barrier(len(sessions))

        def approve(sess: Any, app_id: int = app_id, version: int = version, barrier: Any = barrier) -> None:
            barrier.wait()
            t0 = time.perf_counter()
            r = sess.post(
                f"{ctx.base}/workspace/applications/{app_id}/approve",
                data={"version": str(version), "confirmed": "1", "comment": ""},
                allow_redirects=False,
            )
            with lock:
                c_times.append(time.perf_counter() - t0)
                statuses.append(r.status_code)

        threads = [threading.Thread(target=approve, args=(sess,)) for sess in sessions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    written = _approvals(ctx, [c[0] for c in contended])
    crashed = sum(1 for code in statuses if code >= 500)
    many = Result(
        f"approve, contended ({ctx.threads} threads, same case)",
        queries=None,
        rows_match=written == len(contended) and not crashed,
    )
    many.note = f"{written} approvals for {len(contended)} cases; HTTP {sorted(set(statuses))}"
    results.append(many.finish(c_times, floor_times, ctx.ceiling_ms))
    return results


def page_vote(ctx: Context) -> list[Result]:
    poll = ctx.summary.get("open_poll")
    if not poll:
        return [Result("poll vote burst", note="skipped: no open poll")]
    voters_needed = ctx.threads * max(1, ctx.k // ctx.threads)
    candidates = [int(u) for u in poll["non_voters"]]
    voted = {r[0] for r in ctx.raw.all("SELECT user_id FROM poll_voter WHERE poll_id = ?", [poll["id"]])}
    candidates = [u for u in candidates if u not in voted]
    floor_voters = candidates[voters_needed : voters_needed + max(1, ctx.k)]
    candidates = candidates[:voters_needed]
    if not candidates:
        return [Result("poll vote burst", note="skipped: no resident left to vote")]
    emails = {u: ctx.raw.one("SELECT email FROM ab_user WHERE id = ?", [u]) for u in candidates}
    sessions = [citizen_login(ctx.base, emails[u]) for u in candidates]
    ballot = {f"q-{q}": str(options[0]) for q, options in poll["questions"]}
    url = f"{ctx.base}/m/{poll['code']}/polls/{poll['id']}/vote"
    before = int(ctx.raw.one("SELECT count(*) FROM ballot WHERE poll_id = ?", [poll["id"]]))
    times: list[float] = []
    codes: list[int] = []
    queries: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(ctx.threads)

    def worker(chunk: list[Any]) -> None:
        barrier.wait()
        for sess in chunk:
            t0 = time.perf_counter()
            r = sess.post(url, data=ballot, allow_redirects=False)
            with lock:
                times.append(time.perf_counter() - t0)
                codes.append(r.status_code)
                queries.append(int(r.headers.get(HEADER, "-1")))

    chunks = [sessions[i :: ctx.threads] for i in range(ctx.threads)]
    threads = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = int(ctx.raw.one("SELECT count(*) FROM ballot WHERE poll_id = ?", [poll["id"]]))
    voters = int(ctx.raw.one("SELECT count(*) FROM poll_voter WHERE poll_id = ?", [poll["id"]]))
    ok = sum(1 for c in codes if c == 200)

    from app.domain.participation.ballots import new_code

    choices = json.dumps({str(q): [options[0]] for q, options in poll["questions"]}, sort_keys=True)
    floor_times = []
    for user in floor_voters:
        t0 = time.perf_counter()
        ctx.raw.transaction(
            [
                ("INSERT INTO poll_voter (poll_id, user_id) VALUES (?, ?)", [poll["id"], user]),
                (
                    "INSERT INTO ballot (receipt, poll_id, choices, change_hash) VALUES (?, ?, ?, NULL)",
                    [new_code(), poll["id"], choices],
                ),
            ]
        )
        floor_times.append(time.perf_counter() - t0)
    result = Result(
        f"poll vote burst ({ctx.threads} threads)",
        queries=max(queries) if queries else None,
        rows_match=ok == len(sessions) and after - before == ok and voters - len(voted) == ok,
    )
    result.note = f"{ok}/{len(sessions)} ballots; HTTP {sorted(set(codes))}"
    return [result.finish(times, floor_times, ctx.ceiling_ms)]


def page_walk_in(ctx: Context) -> list[Result]:
    from app.testing import make_pdf, make_png

    service = "residence-certificate"
    if service not in ctx.summary["steps"]:
        return [Result("walk-in submission, 2 uploads", note=f"skipped: no {service}")]
    s = staff_login(ctx.base, f"{ctx.code}.clerk")
    pdf, png = make_pdf("passport"), make_png()
    token_re = re.compile(r'name="applicant-token" type="hidden" value="([A-Za-z0-9_-]{32})"')
    times: list[float] = []
    filed: list[int] = []
    queries = None
    for i in range(ctx.k + 2):
        form = s.get(f"{ctx.base}/office/new/{service}")
        match = token_re.search(form.text)
        if match is None:
            raise BenchError("the walk-in form carries no submission token")
        # The residence certificate's form, as tests/test_office.py fills it.
        data = {
            "applicant-token": match.group(1),
            "applicant-name": "Արմեն Պետրոսյան",
            "applicant-psn": "1234567890",
            "applicant-phone": "091 123456",
            "applicant-address": "Աբովյան, Հանրապետության 10",
            "address": "Աբովյան, Հանրապետության 10",
            "purpose": "bank",
            "copies": "2",
        }
        files = [
            ("doc-identity", ("passport.pdf", pdf, "application/pdf")),
            ("doc-identity", ("id.png", png, "image/png")),
        ]
        t0 = time.perf_counter()
        r = s.post(f"{ctx.base}/office/new/{service}", data=data, files=files, allow_redirects=False)
        elapsed = time.perf_counter() - t0
        if r.status_code != 302:
            raise BenchError(f"walk-in submission refused: HTTP {r.status_code}")
        match = re.search(r"/office/receipt/(\d+)", r.headers.get("Location", ""))
        if match:
            filed.append(int(match.group(1)))
        if i >= 2:
            times.append(elapsed)
        queries = int(r.headers.get(HEADER, "-1"))
    # Floor: hash both files, write them fsync'd, and one transaction of the rows they make.
    storage = workdir_for(ctx.url) / "floor"
    storage.mkdir(parents=True, exist_ok=True)
    floor_times = []
    made: list[str] = []
    for n in range(ctx.k):
        t0 = time.perf_counter()
        keys = []
        for content in (pdf, png):
            digest = hashlib.sha256(content).hexdigest()
            path = storage / f"{digest[:8]}-{os.getpid()}-{time.time_ns()}-{len(keys)}"
            with open(path, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            keys.append((path.name, digest, len(content)))
        tracking = f"FLOOR-{int(time.time() * 1000)}-{n}"
        made.append(tracking)
        now = ctx.raw.stamp(dt.datetime.now(dt.UTC).replace(tzinfo=None))
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "INSERT INTO application (municipality_id, tracking_number, access_secret_hash, service_key, "
                "service_version, status, channel, data, applicant_name, fee, created_at, submitted_at, version) "
                "VALUES (?, ?, 'x', ?, 1, 'submitted', 'office', '{}', 'Floor', 0, ?, ?, 1)",
                [ctx.m_id, tracking, service, now, now],
            )
        ]
        for key, digest, size in keys:
            statements.append(
                (
                    "INSERT INTO application_document (municipality_id, application_id, requirement_key, original_name, "
                    "content_type, size, sha256, storage_key, uploaded_at) SELECT ?, id, 'identity', 'f', "
                    "'application/pdf', ?, ?, ?, ? FROM application WHERE tracking_number = ?",
                    [ctx.m_id, size, digest, f"floor/{key}", now, tracking],
                )
            )
        statements.append(
            (
                "INSERT INTO transition_record (municipality_id, application_id, at, action, from_status, to_status, "
                "details) SELECT ?, id, ?, 'submit', 'draft', 'submitted', '{}' FROM application WHERE tracking_number = ?",
                [ctx.m_id, now, tracking],
            )
        )
        ctx.raw.transaction(statements)
        floor_times.append(time.perf_counter() - t0)
    marks = ", ".join("?" * len(made))
    # The floor's rows go again, so the database stays as generated (the app's pages never
    # saw them: every page was measured before).
    owned = f"SELECT id FROM application WHERE tracking_number IN ({marks})"
    ctx.raw.transaction(
        [
            (f"DELETE FROM application_document WHERE application_id IN ({owned})", made),
            (f"DELETE FROM transition_record WHERE application_id IN ({owned})", made),
            (f"DELETE FROM application WHERE tracking_number IN ({marks})", made),
        ]
    )
    for path in storage.iterdir():
        path.unlink(missing_ok=True)
    docs = (
        ctx.raw.all(
            f"SELECT application_id, count(*) FROM application_document WHERE application_id IN ({', '.join('?' * len(filed))}) "
            "GROUP BY application_id",
            filed,
        )
        if filed
        else []
    )
    ok = len(filed) == ctx.k + 2 and all(count == 2 for _id, count in docs) and len(docs) == len(filed)
    result = Result("walk-in submission, 2 uploads", queries=queries, rows_match=ok)
    result.note = f"{len(filed)} filed, each with 2 documents: {ok}"
    return [result.finish(times, floor_times, ctx.ceiling_ms)]


PAGES: list[tuple[str, Callable[[Context], list[Result]]]] = [
    ("inbox", page_inbox),
    ("case", page_case),
    ("lookup", page_lookup),
    ("citizen", page_citizen),
    ("dashboard", page_dashboard),
    ("approve", page_approve),
    ("vote", page_vote),
    ("walk-in", page_walk_in),
]


def layout_page(ctx: Context) -> Result:
    """The signed-in empty page (bench.serve's ``LAYOUT_PATH``): a clerk's page with the
    app's layout and no content, its "floor" nothing. Its ratio says how far from the ceiling
    any staff page starts, whatever its own content costs."""
    from bench.serve import LAYOUT_PATH

    s = staff_login(ctx.base, f"{ctx.code}.clerk")
    times, _r, queries = timed_requests(lambda: s.get(f"{ctx.base}{LAYOUT_PATH}"), max(ctx.k, 20), warm=ctx.warm)
    result = Result("ceiling: signed-in empty staff page (layout only)", queries=queries)
    result.note = "no content: what every staff page costs before its own"
    return result.finish(times, [0.0], ctx.ceiling_ms)


# -- the run ---------------------------------------------------------------------------------


def ceiling(bare: Server, k: int) -> tuple[float, float]:
    s = session()
    times, _r, _q = timed_requests(lambda: s.get(f"{bare.base}/"), max(k, 50), warm=5)
    return _pct(times, 50) * 1000, _pct(times, 95) * 1000


def run(
    url: str, k: int = 30, threads: int = 4, only: Sequence[str] = (), out: Callable[[str], None] = print
) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    url = normalize_url(url)
    summary = read_summary(url)
    started = time.perf_counter()
    bare = Server("sqlite://", bare=True)
    ceiling_p50, ceiling_p95 = ceiling(bare, k)
    out(f"ceiling (bare Flask under the same waitress): p50 {ceiling_p50:.2f} ms, p95 {ceiling_p95:.2f} ms")
    raw = Raw(url)
    server = Server(url)
    results: list[Result] = [
        Result("ceiling: bare Flask endpoint", p50_ms=round(ceiling_p50, 2), p95_ms=round(ceiling_p95, 2), requests=k)
    ]
    try:
        ctx = Context(
            url=url,
            summary=summary,
            app=server,
            bare=bare,
            raw=raw,
            k=k,
            threads=threads,
            today=dt.datetime.now(ZoneInfo("Asia/Yerevan")).date(),
        )
        if not only:
            out("measuring the signed-in empty page …")
            results.append(layout_page(ctx))
        for name, measure in PAGES:
            if only and not any(word in name for word in only):
                continue
            out(f"measuring {name} …")
            try:
                results.extend(measure(ctx))
            except Exception as exc:  # one broken page must not hide the others' numbers
                results.append(Result(name, error=f"{exc.__class__.__name__}: {exc}"))
    finally:
        server.stop()
        bare.stop()
        raw.close()
    report = {
        "database": summary["dialect"],
        "size": summary["size"],
        "seed": summary["seed"],
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "requests_per_page": k,
        "threads": threads,
        "ceiling_ms": round(ceiling_p50, 2),
        "target": f"p50 <= {TARGET} x (ceiling + floor)",
        "seconds": round(time.perf_counter() - started, 1),
        "server_errors": server.errors(),
        "results": [asdict(r) for r in results],
    }
    return report


def machine() -> dict[str, Any]:
    import platform

    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "system": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gb"] = round(int(mem) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def table(report: dict[str, Any]) -> str:
    head = ("page", "p50 ms", "p95 ms", "floor ms", "ceil ms", "ratio", "target", "queries", "rows", "note")
    lines = [
        f"{report['database']} · {report['size']:,} applications · K={report['requests_per_page']} · "
        f"target {report['target']}",
        " | ".join(head),
        " | ".join("---" for _ in head),
    ]

    def fmt(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, bool):
            return "ok" if value else "NO"
        if isinstance(value, float):
            return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        return str(value)

    for r in report["results"]:
        note = f"ERROR {r['error']}" if r["error"] else r["note"]
        lines.append(
            " | ".join(
                fmt(v)
                for v in (
                    r["page"],
                    r["p50_ms"],
                    r["p95_ms"],
                    r["floor_ms"],
                    r["ceiling_ms"],
                    r["ratio"],
                    r["target_ok"],
                    r["queries"],
                    r["rows_match"],
                    note,
                )
            )
        )
    return "\n".join(lines)


def save(report: dict[str, Any], folder: Path | None = None) -> Path:
    folder = folder or RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{report['database']}-{report['size']}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return path


def failures(report: dict[str, Any]) -> list[str]:
    """Errors and rows that differ from the floor: what makes the command fail (timings never do)."""
    return [
        f"{r['page']}: {r['error'] or 'rows differ from the floor (' + r['note'] + ')'}"
        for r in report["results"]
        if r["error"] or r["rows_match"] is False
    ]


def main(args: Any) -> int:
    def out(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    report = run(args.database_url, args.requests, args.threads, args.only, out)
    print(table(report))
    path = save(report, Path(args.results) if args.results else None)
    print(f"\nJSON: {path}")
    bad = failures(report)
    for line in bad:
        print(f"FAILED {line}", file=sys.stderr)
    return 1 if bad else 0


def smoke(args: Any) -> int:
    """Generate + run at ``--size`` on SQLite and (unless 'none') PostgreSQL; ratios printed,
    never asserted; non-zero only on an error or rows that differ from the floor."""
    from bench.generate import generate

    def out(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hamaynk-bench-"))
    urls = [normalize_url(str(work / "smoke.sqlite3"))]
    if args.postgres_url and args.postgres_url != "none":
        urls.append(normalize_url(args.postgres_url))
    status = 0
    for url in urls:
        t0 = time.perf_counter()
        generate(url, args.size, 1, force=True, out=out)
        report = run(url, args.requests, 4, (), out)
        print(table(report))
        print(f"\nJSON: {save(report)}  ({time.perf_counter() - t0:.0f}s generate + run)\n")
        bad = failures(report)
        for line in bad:
            print(f"FAILED {line}", file=sys.stderr)
        status = status or (1 if bad else 0)
    return status
