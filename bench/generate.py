"""The data generator: ``python3 -m bench generate --database-url URL --size S --seed N``.

A fresh database gets the schema from the migrations (as ``flask hamaynk init`` does), then a
small set-up through the app's own code (municipalities, departments, staff, every registered
service offered everywhere), then the bulk: citizens and their residencies, applications with
their documents, history and questions, polls with voters and secret ballots — written with
COPY on PostgreSQL and ``executemany`` in one transaction on SQLite — and finally the
statistics rebuilt from the history and ``ANALYZE``.

Reproducible: the same ``--seed``, ``--size`` and ``--today`` give the same rows (dates are
laid out backwards from ``--today``, default: the office's today). The generator prints one
JSON line (``summary``) that the runner reads back from the ``bench_meta`` table.
"""

# Prints progress and its summary; table names in SQL are its own constants; its randomness
# is seeded test data, never a secret (T201, S608, S311).
# ruff: noqa: T201, S608, S311
from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import MUNICIPALITIES, PASSWORD, access_code, access_hash, is_sqlite, make_app, workdir_for

# -- shapes of the data --------------------------------------------------------------------

# Three years of history, ids growing with time; the last RECENT_DAYS are mostly still open.
HISTORY_DAYS = 3 * 365
RECENT_DAYS = 60
# Statuses of applications filed in the last RECENT_DAYS, and of older ones (most closed;
# a few old ones are stuck open, which is what makes the overdue filter non-empty).
RECENT_STATUSES = {
    "draft": 5,
    "submitted": 28,
    "in_review": 35,
    "returned_for_correction": 12,
    "approved": 5,
    "issued": 10,
    "rejected": 3,
    "withdrawn": 2,
}
OLD_STATUSES = {
    "draft": 1,
    "submitted": 1,
    "in_review": 3,
    "returned_for_correction": 1,
    "approved": 4,
    "issued": 72,
    "rejected": 12,
    "withdrawn": 6,
}
# Documents per application: 0..5, mean 2.6.
DOCUMENT_COUNTS = ([0, 1, 2, 3, 4, 5], [5, 15, 30, 25, 15, 10])
# Comments added to the history of a filed application: mean 0.8 (with the workflow's own
# transitions, about four per application).
COMMENT_COUNTS = ([0, 1, 2], [40, 40, 20])
PORTAL_SHARE = 0.4  # filed online by a signed-in citizen; the rest at the office
QUESTION_SHARE = 0.05  # of online applications, with a two-message thread
CITIZENS_PER_APPLICATION = 0.2
RESIDENT_SHARE = 0.7  # citizens verified as residents of their municipality
CLOSED_POLLS = 2  # per municipality, with ballots from VOTER_SHARE of the residents
VOTER_SHARE = 0.35
OPEN_POLL_VOTER_SHARE = 0.1  # of the largest municipality's open poll (the vote burst's)
# Applications with exactly this many documents, open and visible to the largest
# municipality's clerk: the case page and API show are measured on them.
BIG_CASES = 5
BIG_CASE_DOCUMENTS = 20
# The newest applications before the big cases: submitted to the largest municipality for a
# service whose first step is a clerk's, so the approve benchmark has cases at any size.
APPROVABLE = 60
CHUNK = 10_000

FIRST_NAMES = [
    "Արմեն", "Անի", "Գագիկ", "Լիլիթ", "Նարեկ", "Մարիամ", "Տիգրան", "Սոնա", "Դավիթ", "Աննա",
    "Armen", "Ani", "Gagik", "Lilit", "Narek", "Mariam", "Tigran", "Sona", "Davit", "Anna",
    "Ashot", "Hasmik", "Karen", "Nune", "Vahe", "Gayane", "Hayk", "Siranush", "Levon", "Astghik",
]  # fmt: skip
LAST_NAMES = [
    "Պետրոսյան", "Սարգսյան", "Հակոբյան", "Գրիգորյան", "Մկրտչյան", "Ավետիսյան", "Վարդանյան",
    "Petrosyan", "Sargsyan", "Hakobyan", "Grigoryan", "Mkrtchyan", "Avetisyan", "Vardanyan",
    "Harutyunyan", "Khachatryan", "Hovhannisyan", "Karapetyan", "Ghazaryan", "Poghosyan",
    "Abrahamyan", "Melkonyan", "Martirosyan", "Margaryan", "Simonyan", "Aleksanyan",
]  # fmt: skip


def _dt(value: dt.datetime | None) -> str | None:
    # The stored spelling of SQLAlchemy's DateTime on SQLite; PostgreSQL parses it as well.
    return None if value is None else value.isoformat(" ", "microseconds")


def _d(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


# -- progress ------------------------------------------------------------------------------


class Progress:
    """One line per step and per ~5% of a long step: rows written, rows/s, ETA."""

    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.started = time.perf_counter()

    def step(self, message: str) -> None:
        self.out(f"[{time.perf_counter() - self.started:7.1f}s] {message}")

    def rows(self, label: str, done: int, total: int, rows: int, since: float) -> None:
        elapsed = max(time.perf_counter() - since, 1e-9)
        rate = rows / elapsed
        eta = (total - done) / max(done, 1) * elapsed
        self.out(
            f"[{time.perf_counter() - self.started:7.1f}s] {label} {done:,}/{total:,} ({100 * done // max(total, 1)}%)"
            f"  {rate:,.0f} rows/s  ETA {eta:,.0f}s"
        )


# -- the writers ---------------------------------------------------------------------------


class Writer:
    """Bulk rows into one open transaction: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, raw_connection: Any, sqlite: bool) -> None:
        self.raw = raw_connection
        self.sqlite = sqlite
        self.counts: dict[str, int] = defaultdict(int)
        self.cursor = raw_connection.cursor()

    def write(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        self.counts[table] += len(rows)
        if self.sqlite:
            marks = ", ".join("?" * len(columns))
            self.cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return
        with self.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


# -- the set-up through the app's own code ----------------------------------------------------


@dataclass
class Setup:
    municipalities: list[dict[str, Any]]
    services: list[Any]  # RegisteredService, newest version of each key
    staff: dict[int, dict[tuple[str, str | None], int]]  # municipality id -> (role key, department code) -> user id
    departments: dict[int, dict[str, int]]
    citizen_role_id: int
    next_user_id: int
    samples: dict[str, str] = field(default_factory=dict)  # service key -> its form data as JSON


def _prepare_database(url: str, force: bool) -> None:
    from sqlalchemy.engine import make_url

    work = workdir_for(url)
    if is_sqlite(url):
        path = Path(make_url(url).database or "")
        if path.exists() and not force:
            raise SystemExit(f"{path} exists: pass --force to replace it (the generator fills a fresh database)")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        import psycopg

        parsed = make_url(url)
        name = parsed.database
        server = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
        with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists and not force:
                target = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
                with psycopg.connect(target, connect_timeout=5) as db_conn:
                    tables = db_conn.execute(
                        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                    ).fetchone()
                if tables and tables[0]:
                    raise SystemExit(f"database {name!r} is not empty: pass --force to drop and recreate it")
            if force or not exists:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
    shutil.rmtree(work, ignore_errors=True)


def _setup(app: Any, progress: Progress) -> Setup:
    from flask_migrate import upgrade
    from sqlalchemy import func, select
    from werkzeug.security import generate_password_hash

    from app.demo import DEPARTMENTS, STAFF, ensure_user
    from app.domain import roles
    from app.domain.activations import missing_departments, set_activation
    from app.extensions import db
    from app.models import Department, Municipality, User
    from app.plugins import runtime as plugin_runtime

    upgrade()
    progress.step("schema migrated (alembic upgrade head)")
    sm = app.appbuilder.sm
    sm.sync_roles()
    hashed = generate_password_hash(PASSWORD)
    registry = plugin_runtime.registry(app)
    newest: dict[str, Any] = {}
    for registered in registry.all():
        if registered.municipality_id is None and (
            registered.key not in newest or registered.version > newest[registered.key].version
        ):
            newest[registered.key] = registered
    services = [newest[key] for key in sorted(newest)]
    municipalities = []
    staff: dict[int, dict[tuple[str, str | None], int]] = {}
    departments: dict[int, dict[str, int]] = {}
    for code, prefix, name_hy, share in MUNICIPALITIES:
        municipality = Municipality(
            code=code, tracking_prefix=prefix, name_hy=name_hy, name_en=code.title(), name_ru=code.title()
        )
        db.session.add(municipality)
        db.session.flush()
        for department_code, dhy, den, dru in DEPARTMENTS:
            db.session.add(
                Department(municipality_id=municipality.id, code=department_code, name_hy=dhy, name_en=den, name_ru=dru)
            )
        db.session.flush()
        for registered in services:
            for step in missing_departments(db.session, registered, municipality.id):
                if step.department:
                    db.session.add(
                        Department(
                            municipality_id=municipality.id,
                            code=step.department,
                            name_hy=step.department,
                            name_en=step.department,
                            name_ru=step.department,
                        )
                    )
                    db.session.flush()
        departments[municipality.id] = {
            d.code: d.id
            for d in db.session.execute(
                select(Department).where(Department.municipality_id == municipality.id)
            ).scalars()
        }
        staff[municipality.id] = {}
        for suffix, role_name, department_code, first, last in STAFF:
            user, _created = ensure_user(
                sm,
                username=f"{code}.{suffix}",
                email=f"{code}.{suffix}@bench.example",
                first_name=first,
                last_name=last,
                password=PASSWORD,
                password_hash=hashed,
                roles=[role_name],
                municipality_id=municipality.id,
                department_id=departments[municipality.id].get(department_code) if department_code else None,
            )
            role_key = next(k for k, v in roles.ROLE_BY_KEY.items() if v == role_name)
            staff[municipality.id].setdefault((role_key, department_code), user.id)
            staff[municipality.id].setdefault((role_key, None), user.id)
        for registered in services:
            set_activation(
                db.session,
                registry,
                municipality.id,
                registered.key,
                enabled=True,
                fee_override=None,
                deadline_override=None,
                department_id=None,
                actor_id=None,
            )
        db.session.commit()
        municipalities.append({"id": municipality.id, "code": code, "prefix": prefix, "share": share})
    citizen_role_id = sm.find_role(roles.CITIZEN).id
    next_user_id = int(db.session.execute(select(func.max(User.id))).scalar_one() or 0) + 1
    progress.step(
        f"set up {len(municipalities)} municipalities, staff, {len(services)} services offered everywhere: "
        + ", ".join(r.key for r in services)
    )
    setup = Setup(municipalities, services, staff, departments, citizen_role_id, next_user_id)
    setup.samples = {r.key: json.dumps(_sample(app, r), ensure_ascii=False, sort_keys=True) for r in services}
    setup.samples["_hash"] = hashed
    return setup


def _sample(app: Any, registered: Any) -> dict[str, Any]:
    """Form data that the service's own validation accepts (the test kit's sample input run
    through the form), so case pages render what a real application holds."""
    from app.testing import fill_form, sample_data

    raw = sample_data(registered.service)
    try:
        return fill_form(app, registered.key, raw, registered.version)
    except AssertionError:
        # A plug-in rule the generic sample cannot satisfy: keep the raw input, still JSON.
        return {k: v for k, v in raw.items() if isinstance(v, (str, int, float, bool, list))}


# -- the bulk ------------------------------------------------------------------------------


APPLICATION_COLUMNS = (
    "id", "municipality_id", "tracking_number", "access_secret_hash", "service_key", "service_version",
    "status", "current_step", "channel", "data", "applicant_name", "applicant_psn", "applicant_phone",
    "applicant_email", "applicant_address", "applicant_user_id", "department_id", "assignee_id",
    "created_by_id", "fee", "payment_status", "created_at", "submitted_at", "due_at", "step_due_at",
    "closed_at", "submission_key", "version",
)  # fmt: skip
DOCUMENT_COLUMNS = (
    "id", "municipality_id", "application_id", "requirement_key", "original_name", "content_type", "size",
    "sha256", "storage_key", "uploaded_at", "uploaded_by_id",
)  # fmt: skip
TRANSITION_COLUMNS = (
    "id", "municipality_id", "application_id", "at", "actor_id", "step_key", "action", "from_status",
    "to_status", "comment", "details", "on_behalf_of_id",
)  # fmt: skip
QUESTION_COLUMNS = (
    "id", "municipality_id", "citizen_user_id", "application_id", "department_id", "assignee_id", "subject",
    "status", "created_at", "due_on", "first_answered_at", "last_message_at", "closed_at",
)  # fmt: skip
MESSAGE_COLUMNS = ("id", "municipality_id", "question_id", "author_id", "from_staff", "body", "created_at", "read_at")
CLOSED = {"approved", "issued", "rejected", "withdrawn"}
AT_STEP = {"submitted", "in_review"}

# The real files that big cases' documents point at (a few small files, never millions).
SAMPLE_FILES = {
    "application/pdf": (b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n", "scan.pdf"),
}


@dataclass
class Citizen:
    id: int
    municipality_id: int
    name: str
    psn: str


def picker(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Callable[[], Any]:
    """A weighted choice with the cumulative weights computed once (``rng.choices`` computes
    them on every call, which was a tenth of the generator's time)."""
    from bisect import bisect
    from itertools import accumulate

    cumulative = list(accumulate(weights))
    total = cumulative[-1]
    items = list(items)
    last = len(items) - 1

    def pick() -> Any:
        return items[min(bisect(cumulative, rng.random() * total), last)]

    return pick


class Generator:
    def __init__(self, setup: Setup, writer: Writer, size: int, seed: int, today: dt.date, progress: Progress):
        self.s = setup
        self.w = writer
        self.size = size
        self.seed = seed
        self.today = today
        self.now = dt.datetime.combine(today, dt.time(12, 0))
        self.rng = random.Random(seed)
        self.progress = progress
        self.citizens_by_municipality: dict[int, list[Citizen]] = defaultdict(list)
        self.residents_by_municipality: dict[int, list[int]] = defaultdict(list)
        self.sequences: dict[tuple[int, int], int] = defaultdict(int)
        self.ids: dict[str, int] = defaultdict(int)
        self.big_cases: list[int] = []
        self.status_counts: dict[str, int] = defaultdict(int)

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def psn(self) -> str:
        return f"{self.rng.randrange(10**9, 10**10)}"

    def key(self, document_id: int) -> str:
        # The shape of app.domain.storage.new_key, but led by the row id instead of all random:
        # a random unique key lands anywhere in its index, which made the load several times
        # slower; reading pages never depends on the key's value.
        h = f"{document_id:010x}{self.rng.getrandbits(88):022x}"
        return f"{h[:2]}/{h[2:4]}/{h}"

    # -- citizens ------------------------------------------------------------------------------

    def citizens(self) -> None:
        count = max(60, int(self.size * CITIZENS_PER_APPLICATION))
        pick_municipality = picker(self.rng, self.s.municipalities, [m["share"] for m in self.s.municipalities])
        user_id = self.s.next_user_id
        stamp = _dt(self.now - dt.timedelta(days=400))
        started = time.perf_counter()
        for start in range(0, count, CHUNK):
            users, user_roles, profiles, residencies = [], [], [], []
            for n in range(start, min(count, start + CHUNK)):
                municipality = pick_municipality()
                first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
                email = f"citizen{n}@bench.example"
                psn = self.psn()
                users.append((user_id, first, last, email, self.s.samples["_hash"], True, email, stamp, stamp, 0, 0))
                user_roles.append((user_id, user_id, self.s.citizen_role_id))
                profiles.append(
                    (
                        user_id,
                        user_id,
                        psn,
                        None,
                        None,
                        "hy",
                        '["email", "inapp"]',
                        True,
                        stamp,
                        None,
                        None,
                        stamp,
                        stamp,
                    )
                )
                self.citizens_by_municipality[municipality["id"]].append(
                    Citizen(user_id, municipality["id"], f"{first} {last}", psn)
                )
                if self.rng.random() < RESIDENT_SHARE:
                    verified = self.now - dt.timedelta(days=self.rng.randrange(1, 300))
                    residencies.append(
                        (
                            self.next_id("residency"), user_id, None, "office", "passport", _dt(verified), None,
                            _dt(verified + dt.timedelta(days=365)), None, None, None, municipality["id"],
                        )
                    )  # fmt: skip
                    self.residents_by_municipality[municipality["id"]].append(user_id)
                user_id += 1
            self.w.write(
                "ab_user",
                ("id", "first_name", "last_name", "username", "password", "active", "email", "created_on",
                 "changed_on", "login_count", "fail_login_count"),
                users,
            )  # fmt: skip
            self.w.write("ab_user_role", ("id", "user_id", "role_id"), user_roles)
            self.w.write(
                "citizen_profile",
                ("id", "user_id", "psn", "phone", "address", "language", "channels", "optional_notices",
                 "email_verified_at", "identity_verified_at", "identity_provider", "created_at", "updated_at"),
                profiles,
            )  # fmt: skip
            self.w.write(
                "residency",
                ("id", "user_id", "settlement_id", "method", "document_kind", "verified_at", "verified_by_id",
                 "expires_at", "revoked_at", "revoked_by_id", "revoke_reason", "municipality_id"),
                residencies,
            )  # fmt: skip
            done = min(count, start + CHUNK)
            self.progress.rows("citizens", done, count, done * 4, started)
        self.citizen_count = count

    # -- applications -----------------------------------------------------------------------

    def applications(self, storage_root: Path) -> None:
        from app.domain.tracking import format_tracking_number

        pick_municipality = picker(self.rng, self.s.municipalities, [m["share"] for m in self.s.municipalities])
        pick_recent = picker(self.rng, list(RECENT_STATUSES), list(RECENT_STATUSES.values()))
        pick_old = picker(self.rng, list(OLD_STATUSES), list(OLD_STATUSES.values()))
        pick_documents = picker(self.rng, *DOCUMENT_COUNTS)
        pick_comments = picker(self.rng, *COMMENT_COUNTS)
        clerk_first = [r for r in self.s.services if r.service.steps and r.service.steps[0].role == "clerk"]
        started = time.perf_counter()
        written = 0
        for start in range(0, self.size, CHUNK):
            apps: list[tuple[Any, ...]] = []
            docs: list[tuple[Any, ...]] = []
            history: list[tuple[Any, ...]] = []
            questions: list[tuple[Any, ...]] = []
            messages: list[tuple[Any, ...]] = []
            for n in range(start, min(self.size, start + CHUNK)):
                app_id = self.next_id("application")
                age_days = (self.size - n) / self.size * HISTORY_DAYS
                created = self.now - dt.timedelta(days=age_days, seconds=self.rng.randrange(0, 3600))
                recent = age_days < RECENT_DAYS
                status = pick_recent() if recent else pick_old()
                municipality = pick_municipality()
                registered = self.rng.choice(self.s.services)
                # The big cases: the newest applications, of the largest municipality, in
                # review, each with BIG_CASE_DOCUMENTS documents (case page, API show).
                big = n >= self.size - BIG_CASES
                if big:
                    municipality, status = self.s.municipalities[0], "in_review"
                elif n >= self.size - BIG_CASES - APPROVABLE and clerk_first:
                    municipality, status = self.s.municipalities[0], "submitted"
                    registered = self.rng.choice(clerk_first)
                m_id = municipality["id"]
                service = registered.service
                steps = list(service.steps)
                staff = self.s.staff[m_id]
                portal = self.rng.random() < PORTAL_SHARE and self.citizens_by_municipality[m_id]
                citizen = self.rng.choice(self.citizens_by_municipality[m_id]) if portal else None
                clerk = staff[("clerk", "front_office")]
                filer = citizen.id if citizen else clerk
                applicant_name = citizen.name if citizen else self.name()
                psn = citizen.psn if citizen else self.psn()
                phone = f"+3749{self.rng.randrange(1000000, 9999999)}"
                year = created.year
                self.sequences[(m_id, year)] += 1
                tracking = format_tracking_number(municipality["prefix"], year, self.sequences[(m_id, year)])
                submitted = None if status == "draft" else created + dt.timedelta(minutes=self.rng.randrange(1, 90))
                due = (submitted + dt.timedelta(days=20)).date() if submitted else None
                current_step = None
                assignee = None
                step_due = None
                closed_at = None
                t = submitted
                events: list[tuple[Any, ...]] = []

                def event(at, actor, step_key, action, from_status, to_status, comment=None, events=events):
                    events.append((at, actor, step_key, action, from_status, to_status, comment))

                def staff_for(step, staff=staff, clerk=clerk) -> int:
                    return staff.get((step.role, step.department)) or staff.get((step.role, None)) or clerk

                if submitted is not None:
                    event(submitted, filer, steps[0].key if steps else None, "submit", "draft", "submitted")
                    t = submitted + dt.timedelta(hours=self.rng.randrange(2, 72))
                if status == "submitted":
                    current_step = steps[0].key if steps else None
                    step_due = dt.datetime.combine(submitted.date() + dt.timedelta(days=5), dt.time(23, 59))
                elif status == "in_review":
                    index = self.rng.randrange(1, len(steps)) if len(steps) > 1 else 0
                    step = steps[index]
                    event(t, staff_for(steps[0]), steps[0].key, "approve", "submitted", "in_review")
                    current_step = step.key
                    if self.rng.random() < 0.5 and not big:
                        assignee = staff_for(step)
                    step_due = dt.datetime.combine(t.date() + dt.timedelta(days=5), dt.time(23, 59))
                elif status == "returned_for_correction":
                    step = self.rng.choice(steps)
                    current_step = step.key
                    event(t, staff_for(step), step.key, "return", "submitted", "returned_for_correction")
                elif status in ("approved", "issued", "rejected"):
                    event(t, staff_for(steps[0]), steps[0].key, "approve", "submitted", "in_review")
                    t += dt.timedelta(days=self.rng.randrange(1, 15))
                    last = steps[-1]
                    if status == "rejected":
                        event(t, staff_for(last), last.key, "reject", "in_review", "rejected")
                    else:
                        event(t, staff_for(last), last.key, "approve", "in_review", "approved")
                    closed_at = t
                    if status == "issued":
                        t += dt.timedelta(days=self.rng.randrange(1, 5))
                        event(t, clerk, None, "hand_over", "approved", "issued")
                elif status == "withdrawn":
                    event(t, filer, None, "withdraw", "submitted", "withdrawn")
                    closed_at = t
                if submitted is not None:
                    # Comments fall between the submission and the last decision (a closed
                    # file takes none), and carry the status the case had at that moment.
                    end = max(e[0] for e in events)
                    span = max(int((end - submitted).total_seconds() // 60), 1)
                    for _ in range(pick_comments()):
                        at = submitted + dt.timedelta(minutes=self.rng.randrange(0, span))
                        event(at, clerk, None, "comment", None, None, "Զանգահարել դիմողին")
                    events.sort(key=lambda e: (e[0], e[3] == "comment"))
                    state = "draft"
                    for i, e in enumerate(events):
                        if e[3] == "comment":
                            events[i] = (*e[:4], state, state, e[6])
                        else:
                            state = e[5]
                self.status_counts[status] += 1
                apps.append(
                    (
                        app_id, m_id, tracking, access_hash(access_code(self.seed, app_id)), registered.key,
                        registered.version, status, current_step, "portal" if citizen else "office",
                        self.s.samples[registered.key], applicant_name, psn, phone,
                        None, None, citizen.id if citizen else None, None, assignee, filer, service.fee or 0,
                        None, _dt(created), _dt(submitted), _d(due), _dt(step_due), _dt(closed_at), None,
                        1 + len(events),
                    )
                )  # fmt: skip
                for at, actor, step_key, action, from_status, to_status, comment in events:
                    history.append(
                        (self.next_id("transition_record"), m_id, app_id, _dt(at), actor, step_key, action,
                         from_status, to_status, comment, "{}", None)
                    )  # fmt: skip
                count = BIG_CASE_DOCUMENTS if big else pick_documents()
                requirements = [d.key for d in service.documents] or ["document"]
                for k in range(count):
                    doc_id = self.next_id("application_document")
                    key = self.key(doc_id)
                    content, filename = SAMPLE_FILES["application/pdf"]
                    if big:
                        # The pages measured on big cases may open a document: it exists.
                        target = storage_root / key
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(content)
                    docs.append(
                        (doc_id, m_id, app_id, requirements[k % len(requirements)],
                         f"{k + 1:02d}-{filename}", "application/pdf", len(content),
                         "0" * 64, key, _dt(created), filer)
                    )  # fmt: skip
                if big:
                    self.big_cases.append(app_id)
                if citizen and submitted is not None and self.rng.random() < QUESTION_SHARE:
                    q_id = self.next_id("question")
                    answered = submitted + dt.timedelta(days=1)
                    questions.append(
                        (q_id, m_id, citizen.id, app_id, None, None, "Երբ կլինի պատասխանը", "answered",
                         _dt(submitted), _d(submitted.date() + dt.timedelta(days=5)), _dt(answered), _dt(answered),
                         None)
                    )  # fmt: skip
                    messages.append(
                        (self.next_id("question_message"), m_id, q_id, citizen.id, False, "Բարև, երբ կլինի?",
                         _dt(submitted), _dt(answered))
                    )  # fmt: skip
                    messages.append(
                        (self.next_id("question_message"), m_id, q_id, clerk, True, "Մինչև ժամկետի ավարտը",
                         _dt(answered), None)
                    )  # fmt: skip
            self.w.write("application", APPLICATION_COLUMNS, apps)
            self.w.write("application_document", DOCUMENT_COLUMNS, docs)
            self.w.write("transition_record", TRANSITION_COLUMNS, history)
            self.w.write("question", QUESTION_COLUMNS, questions)
            self.w.write("question_message", MESSAGE_COLUMNS, messages)
            written += len(apps) + len(docs) + len(history) + len(questions) + len(messages)
            self.progress.rows("applications", min(self.size, start + CHUNK), self.size, written, started)
        # Filing goes on after the bulk: the counters continue where the generated numbers end.
        self.w.write(
            "tracking_counter",
            ("id", "municipality_id", "year", "last_value"),
            [(i + 1, m, y, v) for i, ((m, y), v) in enumerate(sorted(self.sequences.items()))],
        )

    # -- polls, voters, ballots ------------------------------------------------------------

    def polls(self) -> None:
        """Closed polls with turnout, and one open poll in the largest municipality. Voters
        and ballots are drawn independently and written in key order, never in "arrival"
        order, with nothing shared between them but the poll: what the secrecy design of
        app/models/participation.py and docs/participation.md asks of real data too."""
        from app.domain.participation.ballots import CODE_ALPHABET, CODE_GROUP, CODE_LENGTH

        def receipt() -> str:
            raw = "".join(self.rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))

        polls, questions, options, voters, ballots = [], [], [], [], []
        self.open_poll: dict[str, Any] | None = None
        for index, municipality in enumerate(self.s.municipalities):
            m_id = municipality["id"]
            residents = self.residents_by_municipality[m_id]
            admin = self.s.staff[m_id][("municipal_admin", None)]
            plans = [("closed", n) for n in range(CLOSED_POLLS)] + ([("open", 0)] if index == 0 else [])
            for kind, n in plans:
                poll_id = self.next_id("poll")
                if kind == "closed":
                    opens = self.now - dt.timedelta(days=90 * (n + 1) + 14)
                    closes = opens + dt.timedelta(days=14)
                    share = VOTER_SHARE
                else:
                    opens = self.now - dt.timedelta(days=1)
                    closes = self.now + dt.timedelta(days=30)
                    share = OPEN_POLL_VOTER_SHARE
                title = json.dumps({"hy": f"Հարցում {poll_id}", "en": f"Poll {poll_id}"}, ensure_ascii=False)
                polls.append(
                    (poll_id, m_id, "poll", title, "{}", _dt(opens), _dt(closes), "residents", "[]",
                     "after_close", False, None, "published", admin, _dt(opens - dt.timedelta(days=7)),
                     _dt(opens - dt.timedelta(days=7)), 1)
                )  # fmt: skip
                shape: list[tuple[int, list[int], int]] = []
                for position in range(2):
                    q_id = self.next_id("poll_question")
                    max_choices = 1 if position == 0 else 2
                    questions.append(
                        (q_id, poll_id, position, json.dumps({"hy": f"Հարց {position + 1}"}, ensure_ascii=False),
                         max_choices)
                    )  # fmt: skip
                    option_ids = []
                    for o in range(3 + position):
                        o_id = self.next_id("poll_option")
                        options.append(
                            (o_id, poll_id, q_id, o, json.dumps({"hy": f"Տարբերակ {o + 1}"}, ensure_ascii=False),
                             None, None)
                        )  # fmt: skip
                        option_ids.append(o_id)
                    shape.append((q_id, option_ids, max_choices))
                who = sorted(self.rng.sample(residents, int(len(residents) * share)))
                voters.extend((poll_id, user_id) for user_id in who)
                cast = []
                for _ in who:
                    choices = {
                        str(q_id): sorted(self.rng.sample(option_ids, self.rng.randint(1, max_choices)))
                        for q_id, option_ids, max_choices in shape
                    }
                    cast.append((receipt(), poll_id, json.dumps(choices, sort_keys=True), None))
                ballots.extend(sorted(cast))
                if kind == "open":
                    self.open_poll = {
                        "id": poll_id,
                        "municipality_id": m_id,
                        "code": municipality["code"],
                        "questions": [[q, opts] for q, opts, _m in shape],
                        "non_voters": [u for u in residents if u not in set(who)][:2000],
                    }
        self.w.write(
            "poll",
            ("id", "municipality_id", "kind", "title", "description", "opens_at", "closes_at", "audience",
             "settlement_ids", "results_visibility", "allow_change", "budget", "status", "created_by_id",
             "created_at", "updated_at", "version"),
            polls,
        )  # fmt: skip
        self.w.write("poll_question", ("id", "poll_id", "position", "text", "max_choices"), questions)
        self.w.write(
            "poll_option", ("id", "poll_id", "question_id", "position", "text", "cost", "proposal_id"), options
        )
        self.w.write("poll_voter", ("poll_id", "user_id"), voters)
        self.w.write("ballot", ("receipt", "poll_id", "choices", "change_hash"), ballots)


# -- the command -----------------------------------------------------------------------------


def _office_today() -> dt.date:
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Asia/Yerevan")).date()


def _defer_sqlite_indexes(dbapi: Any) -> list[str]:
    """Drop every secondary index and trigger (the name-search triggers among them) for the
    bulk load; return what builds them again. Inserting a million rows into seven indexes
    and a trigram index one row at a time took SQLite over twenty minutes; building each
    index once from the loaded table takes a fraction of that."""
    found = dbapi.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
        "ORDER BY type, name"
    ).fetchall()
    for kind, name, _sql in found:
        dbapi.execute(f'DROP {kind.upper()} "{name}"')
    return [sql for _kind, _name, sql in found]


def _restore_sqlite_indexes(dbapi: Any, statements: Sequence[str]) -> None:
    for sql in statements:
        dbapi.execute(sql)
    # The name search's FTS5 table reads its text from the application table (external
    # content); the triggers that keep it were off during the load, so index it in one pass.
    fts = dbapi.execute("SELECT 1 FROM sqlite_master WHERE name = 'application_name_fts'").fetchone()
    if fts is not None:
        dbapi.execute("INSERT INTO application_name_fts(application_name_fts) VALUES ('rebuild')")


def _reset_sequences(cursor: Any, tables: Iterable[str]) -> None:
    for table in tables:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 1))"
        )


def analyze(app: Any) -> None:
    """Fresh planner statistics after the bulk load: without them SQLite picks the wrong index
    (issue 13: the API's 0.5-3.7 s) and PostgreSQL guesses until autovacuum comes by. The
    app's own :func:`app.database.analyze` when it has one (it reads every row on SQLite);
    plain ``ANALYZE`` otherwise."""
    from app import database
    from app.extensions import db

    own = getattr(database, "analyze", None)
    if own is not None:
        own(db.engine)
        return
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def generate(
    url: str,
    size: int,
    seed: int = 1,
    *,
    force: bool = False,
    today: dt.date | None = None,
    stats: bool = True,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    from sqlalchemy import text

    from app.domain import statistics
    from app.extensions import db
    from app.plugins import runtime as plugin_runtime

    progress = Progress(out)
    today = today or _office_today()
    _prepare_database(url, force)
    app = make_app(url)
    timings: dict[str, float] = {}
    with app.app_context():
        t0 = time.perf_counter()
        setup = _setup(app, progress)
        timings["setup"] = time.perf_counter() - t0
        engine = db.engine
        sqlite = engine.dialect.name == "sqlite"
        raw = engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            deferred: list[str] = []
            if sqlite:
                # A fresh file nobody else uses: durability buys nothing until the load ends.
                dbapi.execute("PRAGMA synchronous=OFF")
                # Random keys (storage keys, tracking numbers) land all over their indexes:
                # with SQLite's default 2 MB page cache the load slowed fourfold by 100k.
                dbapi.execute("PRAGMA cache_size=-1000000")
                dbapi.execute("BEGIN")
                deferred = _defer_sqlite_indexes(dbapi)
            writer = Writer(dbapi, sqlite)
            gen = Generator(setup, writer, size, seed, today, progress)
            t0 = time.perf_counter()
            gen.citizens()
            gen.applications(Path(app.config["HAMAYNK_STORAGE_PATH"]))
            gen.polls()
            if deferred:
                t1 = time.perf_counter()
                _restore_sqlite_indexes(dbapi, deferred)
                timings["indexes"] = time.perf_counter() - t1
                progress.step(f"{len(deferred)} indexes and triggers built again in {timings['indexes']:.1f}s")
            if not sqlite:
                _reset_sequences(
                    writer.cursor,
                    [
                        "ab_user", "ab_user_role", "citizen_profile", "residency", "application",
                        "application_document", "transition_record", "question", "question_message",
                        "tracking_counter", "poll", "poll_question", "poll_option",
                    ],
                )  # fmt: skip
            dbapi.commit()
            if sqlite:
                dbapi.execute("PRAGMA synchronous=FULL")
            timings["bulk"] = time.perf_counter() - t0
            progress.step(f"bulk rows written in {timings['bulk']:.1f}s: {dict(writer.counts)}")
        finally:
            raw.close()
        if stats:
            t0 = time.perf_counter()
            statistics.rebuild(db.session, plugin_runtime.registry(app))
            db.session.commit()
            timings["stats"] = time.perf_counter() - t0
            progress.step(f"statistics rebuilt from the history in {timings['stats']:.1f}s")
        largest = setup.municipalities[0]
        summary = {
            "size": size,
            "seed": seed,
            "today": today.isoformat(),
            "dialect": engine.dialect.name,
            "municipalities": setup.municipalities,
            "services": [r.key for r in setup.services],
            # What the runner's raw SQL needs to know of each service: its steps' role and
            # department (the workflow's "who may act" rule, written as SQL there).
            "steps": {
                r.key: {"version": r.version, "steps": [[st.key, st.role, st.department] for st in r.service.steps]}
                for r in setup.services
            },
            "largest": largest,
            "big_cases": gen.big_cases,
            "open_poll": gen.open_poll,
            "citizens": gen.citizen_count,
            "rows": dict(writer.counts),
            "statuses": dict(gen.status_counts),
            "password": PASSWORD,
        }
        db.session.execute(text("CREATE TABLE bench_meta (summary TEXT NOT NULL)"))
        db.session.execute(text("INSERT INTO bench_meta (summary) VALUES (:s)"), {"s": json.dumps(summary)})
        db.session.commit()
        t0 = time.perf_counter()
        analyze(app)
        timings["analyze"] = time.perf_counter() - t0
        progress.step(f"ANALYZE in {timings['analyze']:.1f}s")
        db.session.remove()
        db.engine.dispose()
    summary["timings"] = {k: round(v, 2) for k, v in timings.items()}
    summary["total_seconds"] = round(time.perf_counter() - progress.started, 1)
    progress.step(f"done: {size:,} applications in {summary['total_seconds']}s")
    return summary


def read_summary(url: str) -> dict[str, Any]:
    """What :func:`generate` recorded about a database (the runner needs it)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return json.loads(conn.execute(sa.text("SELECT summary FROM bench_meta")).scalar_one())
    finally:
        engine.dispose()


def main(args: Any) -> int:
    from bench.common import normalize_url

    summary = generate(
        normalize_url(args.database_url),
        args.size,
        args.seed,
        force=args.force,
        today=dt.date.fromisoformat(args.today) if args.today else None,
        stats=not args.no_stats,
        out=lambda line: print(line, file=sys.stderr, flush=True),
    )
    slim = {k: v for k, v in summary.items() if k not in ("open_poll",)}
    print(json.dumps(slim, ensure_ascii=False))
    return 0
