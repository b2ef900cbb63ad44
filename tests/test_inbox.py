"""The inbox queries (app.domain.inbox) against the workflow's own rules: the SQL "may act"
and "responsible department" clauses agree with check_can_act_on_step and
responsible_department_id for every person and application; cursors; keyset paging; search."""

from __future__ import annotations

import datetime as dt
import itertools
import types

import pytest
from sqlalchemy import select

from app.demo import ensure_user
from app.domain import access, inbox, statuses, workflow
from app.domain.activations import set_activation
from app.domain.errors import NotAllowed
from app.domain.roles import ROLE_BY_KEY
from app.extensions import db
from app.models import Application
from app.plugins import runtime as plugin_runtime
from app.sdk import Field, Service, Step, hookimpl
from app.testing import (
    PASSWORD,
    actor_for,
    builtin_plugins,
    make_app,
    password_hash,
    seed_municipality,
    seed_system_admin,
)

# A service whose steps name no department: the municipality's choice (or the application's
# own department) decides, which the built-in services never exercise.
LOCAL = Service(
    key="inbox-local-service",
    version=1,
    title={"hy": "Տեղական", "en": "Local", "ru": "Местная"},
    fields=(Field("note", "text", {"hy": "Նշում", "en": "Note", "ru": "Заметка"}),),
    steps=(
        Step("review", {"hy": "Ստուգում", "en": "Review", "ru": "Проверка"}, role="specialist", days=2),
        Step(
            "front", {"hy": "Գրասենյակ", "en": "Front", "ru": "Офис"}, role="clerk", days=1, department="front_office"
        ),
        Step("sign", {"hy": "Ստորագրում", "en": "Sign", "ru": "Подпись"}, role="head", days=1),
    ),
    deadline_days=10,
)


@pytest.fixture
def app(tmp_path):
    module = types.ModuleType("inbox_local_plugin")
    module.register_services = hookimpl(lambda: [LOCAL])
    app = make_app(tmp_path, plugins=[*builtin_plugins(), module])
    app.seeded = {
        "alpha": seed_municipality(app, "alpha", "Alpha"),
        "beta": seed_municipality(app, "beta", "Beta"),
        "sysadmin": seed_system_admin(app),
    }
    with app.app_context():
        registry = plugin_runtime.registry(app)
        for municipality in ("alpha", "beta"):
            for registered in registry.latest():
                set_activation(
                    db.session,
                    registry,
                    app.seeded[municipality]["id"],
                    registered.key,
                    enabled=True,
                    fee_override=None,
                    deadline_override=None,
                    department_id=None,
                    actor_id=None,
                )
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def person(app, municipality: str, role: str, department: str | None, n: int = 0) -> int:
    m = app.seeded[municipality]
    username = f"{m['code']}.{role}.{department}.{n}"
    with app.app_context():
        user, _ = ensure_user(
            app.appbuilder.sm,
            username=username,
            email=f"{username}@test.example",
            first_name=role,
            last_name=str(department),
            password=PASSWORD,
            password_hash=password_hash(),
            roles=[ROLE_BY_KEY[role]],
            municipality_id=m["id"],
            department_id=m["departments"].get(department) if department else None,
        )
        return user.id


def file(app, service_key: str, municipality: str = "alpha", data=None, **applicant) -> int:
    m = app.seeded[municipality]
    with app.app_context():
        service = plugin_runtime.registry(app).get(service_key).service
        application, _ = workflow.new_application(
            db.session,
            service=service,
            municipality_id=m["id"],
            data=data or {},
            applicant_name=applicant.pop("applicant_name", "Applicant"),
            created_by_id=m["users"]["clerk"],
            channel="office",
            **applicant,
        )
        workflow.submit(
            db.session,
            application,
            actor=actor_for(m["users"]["clerk"]),
            expected_version=application.version,
            host=plugin_runtime.host(app),
        )
        db.session.commit()
        return application.id


def python_may_act(session, application: Application, actor: access.Actor) -> bool:
    if application.status not in workflow.AT_STEP or application.current_step is None:
        return False
    step = workflow.current_step(application, workflow.service_of(application, plugin_runtime.registry()))
    try:
        workflow.check_can_act_on_step(session, application, step, actor)
    except NotAllowed:
        return False
    return True


def python_responsible(session, application: Application, department_id: int) -> bool:
    if application.status not in workflow.OPEN or application.current_step is None:
        return False
    step = workflow.current_step(application, workflow.service_of(application, plugin_runtime.registry()))
    try:
        return workflow.responsible_department_id(session, application, step) == department_id
    except NotAllowed:
        return False


def test_the_sql_rules_agree_with_the_workflow_for_every_person_and_application(app):
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    ids = []
    # Every built-in service at its first step, in both municipalities.
    with app.app_context():
        keys = [r.key for r in plugin_runtime.registry(app).latest() if r.key != LOCAL.key]
    for key in keys:
        ids.append(file(app, key, "alpha", data={}))
        ids.append(file(app, key, "beta", data={}))
    # The local service: department by activation, by application, by nobody; at each step.
    local = [file(app, LOCAL.key, "alpha") for _ in range(6)]
    ids += local
    with app.app_context():
        rows = {a.id: a for a in db.session.execute(select(Application).where(Application.id.in_(local))).scalars()}
        rows[local[1]].department_id = alpha["departments"]["social"]
        rows[local[2]].department_id = alpha["departments"]["trade"]
        rows[local[3]].current_step = "front"
        rows[local[4]].current_step = "sign"
        rows[local[4]].department_id = alpha["departments"]["urban_planning"]
        rows[local[5]].status = statuses.RETURNED
        db.session.commit()
    # A second municipality-wide choice: beta makes the education department responsible.
    beta_local = file(app, LOCAL.key, "beta")
    ids.append(beta_local)
    with app.app_context():
        set_activation(
            db.session,
            plugin_runtime.registry(app),
            beta["id"],
            LOCAL.key,
            enabled=True,
            fee_override=None,
            deadline_override=None,
            department_id=beta["departments"]["education"],
            actor_id=None,
        )
        db.session.commit()

    people = [alpha["users"][k] for k in ("municipal_admin", "clerk", "specialist", "head", "auditor")]
    people += [beta["users"][k] for k in ("clerk", "specialist", "head")]
    for municipality, role, department in itertools.product(
        ("alpha", "beta"),
        ("specialist", "head", "clerk"),
        (None, "social", "trade", "civil_registry", "education", "front_office"),
    ):
        people.append(person(app, municipality, role, department))

    with app.app_context():
        registry = plugin_runtime.registry(app)
        applications = db.session.execute(select(Application).where(Application.id.in_(ids))).scalars().all()
        checked = 0
        for user_id in people:
            actor = access.load_actor(db.session, user_id)
            code = inbox.department_code_of(db.session, actor)
            by_sql = set(
                db.session.execute(
                    select(Application.id).where(Application.id.in_(ids), inbox.can_act_clause(registry, actor, code))
                ).scalars()
            )
            by_python = {a.id for a in applications if python_may_act(db.session, a, actor)}
            assert by_sql == by_python, (user_id, sorted(by_sql ^ by_python))
            if actor.department_id is not None:
                responsible_sql = set(
                    db.session.execute(
                        select(Application.id).where(
                            Application.id.in_(ids),
                            Application.status.in_(workflow.OPEN),
                            inbox.responsible_department_clause(
                                registry, actor.municipality_id, actor.department_id, code
                            ),
                        )
                    ).scalars()
                )
                responsible_py = {a.id for a in applications if python_responsible(db.session, a, actor.department_id)}
                assert responsible_sql == responsible_py, (user_id, sorted(responsible_sql ^ responsible_py))
            checked += len(by_python)
        assert checked > 10  # the comparison found real work, not two empty sets


def test_my_tasks_include_what_is_assigned_to_me(app):
    application_id = file(app, "residence-certificate")
    registrar = person(app, "alpha", "specialist", "civil_registry")
    other = person(app, "alpha", "specialist", "civil_registry", 1)
    with app.app_context():
        a = db.session.get(Application, application_id)
        a.assignee_id = other
        db.session.commit()
        registry = plugin_runtime.registry(app)

        def mine(user_id):
            actor = access.load_actor(db.session, user_id)
            page = inbox.list_page(db.session, registry, actor, inbox.MINE)
            return [r.application.id for r in page.rows]

        assert mine(other) == [application_id]
        assert mine(registrar) == []  # someone else has it
        page = inbox.list_page(
            db.session,
            registry,
            access.load_actor(db.session, other),
            inbox.MINE,
        )
        assert page.rows[0].assignee_name == "specialist civil_registry"


def test_tabs_per_role(app):
    alpha = app.seeded["alpha"]
    with app.app_context():
        tabs = {key: inbox.tabs_for(access.load_actor(db.session, uid)) for key, uid in alpha["users"].items()}
        sysadmin = inbox.tabs_for(access.load_actor(db.session, app.seeded["sysadmin"]))
    assert tabs["auditor"] == [inbox.ALL]
    assert tabs["specialist"] == [inbox.MINE, inbox.DEPARTMENT]
    assert tabs["head"] == [inbox.MINE, inbox.DEPARTMENT, inbox.ALL]
    assert tabs["clerk"] == [inbox.MINE, inbox.DEPARTMENT, inbox.ALL]
    assert tabs["municipal_admin"] == [inbox.MINE, inbox.ALL]
    assert sysadmin == [inbox.ALL]


def test_cursors_are_signed_and_round_trip():
    secret = "a-secret"
    for cursor in (inbox.Cursor(dt.date(2026, 3, 1), 42, inbox.NEXT), inbox.Cursor(None, 7, inbox.PREV)):
        token = inbox.encode_cursor(secret, cursor)
        assert inbox.decode_cursor(secret, token) == cursor
        with pytest.raises(inbox.BadCursor):
            inbox.decode_cursor("another-secret", token)
        with pytest.raises(inbox.BadCursor):
            inbox.decode_cursor(secret, token[:-1] + ("A" if token[-1] != "A" else "B"))
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer(secret, salt="hamaynk.inbox.cursor")
    for payload in (["2026-13-01", 1, "n"], [None, "1", "n"], [None, 1, "x"], [None, True, "n"], "plain", [1, 2]):
        with pytest.raises(inbox.BadCursor):
            inbox.decode_cursor(secret, forged.dumps(payload))
    for junk in ("", "x" * 500, "...", None, 5):
        with pytest.raises(inbox.BadCursor):
            inbox.decode_cursor(secret, junk)


def test_keyset_paging_visits_every_row_once_in_order_both_ways(app):
    ids = [file(app, "residence-certificate", data={"address": "x", "purpose": "bank", "copies": 1}) for _ in range(11)]
    ids += [file(app, LOCAL.key) for _ in range(2)]
    with app.app_context():
        rows = db.session.execute(select(Application).where(Application.id.in_(ids))).scalars().all()
        for row in rows:
            # Ties on due date, and a row with no due date at all (sorted last).
            row.due_at = dt.date(2026, 5, 1) + dt.timedelta(days=row.id % 3)
        rows[4].due_at = None
        db.session.commit()
        expected = [a.id for a in sorted(rows, key=lambda a: (a.due_at is None, a.due_at or dt.date.min, a.id))]
        registry = plugin_runtime.registry(app)
        actor = access.load_actor(db.session, app.seeded["alpha"]["users"]["head"])

        def page(cursor=None):
            return inbox.list_page(
                db.session,
                registry,
                actor,
                inbox.ALL,
                cursor=cursor,
                limit=4,
            )

        pages, cursor = [], None
        while True:
            current = page(cursor)
            pages.append(current)
            if current.next_cursor is None:
                break
            cursor = current.next_cursor
        assert [r.application.id for p in pages for r in p.rows] == expected
        assert [len(p.rows) for p in pages] == [4, 4, 4, 1]
        assert pages[0].prev_cursor is None and all(p.prev_cursor for p in pages[1:])
        # And back again from the last page.
        back, current = [], pages[-1]
        while current.prev_cursor is not None:
            current = page(current.prev_cursor)
            back.insert(0, [r.application.id for r in current.rows])
        assert back == [[r.application.id for r in p.rows] for p in pages[:-1]]


def test_search_matches_tracking_numbers_psn_phone_and_names(app):
    one = file(
        app,
        "residence-certificate",
        applicant_name="Սոնա Գրիգորյան",
        applicant_psn="1111111111",
        applicant_phone="+37491000001",
    )
    two = file(app, "residence-certificate", applicant_name="Aram 100% Petrosyan")
    with app.app_context():
        tracking = db.session.get(Application, one).tracking_number

        def found(q):
            return set(db.session.execute(select(Application.id).where(inbox.search_clause(q))).scalars())

        assert found(tracking) == {one}
        assert found(" " + tracking.lower().replace("-", "\u2013") + " ") == {one}
        assert found(tracking[:-1] + ("0" if tracking[-1] != "0" else "1")) == set()  # typo: no near match
        # Without its check character (and the sequence's leading zeros) it is completed.
        body = tracking.rsplit("-", 1)[0]
        prefix, year, sequence = body.split("-")
        assert found(body) == {one} and found(body.lower().replace("-", " ")) == {one}
        assert found(f"{prefix}-{year}-{int(sequence)}") == {one}
        assert found(f"{prefix}-{year}-{int(sequence) + 100}") == set()
        assert found("1111111111") == {one} and found("111-111-1111") == {one}
        assert found("+374 91 000001") == {one} and found("091000001") == {one}
        assert found("Գրիգոր") == {one} and found("petros") == {two}
        assert found("100%") == {two} and found("0%P") == set() and found("_") == set()  # wildcards are literal
        assert inbox.search_clause("   ") is None


def test_filters(app):
    first = file(app, "residence-certificate")
    second = file(app, LOCAL.key)
    with app.app_context():
        a = db.session.get(Application, second)
        a.due_at = dt.date(2020, 1, 1)
        a.submitted_at = dt.datetime(2020, 1, 1, 9, 0)
        db.session.commit()

        def found(**kwargs):
            clauses = inbox.filter_clauses(inbox.Filters(**kwargs))
            return set(
                db.session.execute(
                    select(Application.id).where(Application.id.in_([first, second]), *clauses)
                ).scalars()
            )

        assert found() == {first, second}
        assert found(service=LOCAL.key) == {second}
        assert found(status=statuses.SUBMITTED) == {first, second}
        assert found(status=statuses.APPROVED) == set()
        assert found(overdue=True) == {second}
        assert found(submitted_from=dt.date(2020, 1, 1), submitted_to=dt.date(2020, 1, 1)) == {second}
        assert found(submitted_from=dt.date(2020, 1, 2)) == {first}


def test_an_unfiltered_tab_is_built_once_per_reader_and_again_when_what_it_depends_on_changes(app):
    """The statement of an unfiltered tab is kept per reader (building it costs more than
    running it) and built again when its reader's roles, whom they stand in for today or the
    services change; what it shows stays what a fresh statement shows."""
    import datetime as dt

    from sqlalchemy import event

    from app.domain import substitutes
    from app.testing import office_today

    application_id = file(app, "residence-certificate")
    registrar = person(app, "alpha", "specialist", "civil_registry")
    absent = person(app, "alpha", "specialist", "civil_registry", 1)
    with app.app_context():
        db.session.get(Application, application_id).assignee_id = absent
        db.session.commit()
        registry = plugin_runtime.registry(app)
        ran: list = []

        def record(state):
            ran.append(state.statement)

        event.listen(db.session, "do_orm_execute", record)

        def mine(user_id, cursor=None):
            ran.clear()
            db.session.rollback()
            actor = access.load_actor(db.session, user_id)
            page = inbox.list_page(db.session, registry, actor, inbox.MINE, cursor=cursor)
            return [r.application.id for r in page.rows], ran[-1]

        first, statement = mine(registrar)
        again, kept = mine(registrar)
        assert first == again == [] and kept is statement
        # Another reader: their own statement.
        assert mine(absent)[0] == [application_id]
        assert mine(absent)[1] is not statement
        # Standing in for the absent colleague from today: built again, and it shows their task.
        substitutes.name_substitute(
            db.session,
            access.load_actor(db.session, app.seeded["alpha"]["users"]["municipal_admin"]),
            absent_id=absent,
            substitute_id=registrar,
            starts_on=office_today(),
            ends_on=office_today() + dt.timedelta(days=2),
        )
        db.session.commit()
        standing_in, rebuilt = mine(registrar)
        assert standing_in == [application_id] and rebuilt is not statement
        # The services change (a new one registered): built again.
        registered = registry.get(LOCAL.key)
        registry.replace(lambda r: r is registered, [registered])
        shown, after_change = mine(registrar)
        assert shown == [application_id] and after_change is not rebuilt
        # The next page's statement is kept too, its cursor bound when it runs.
        cursor = inbox.Cursor(dt.date(2000, 1, 1), 1, inbox.NEXT)
        assert mine(registrar, cursor)[0] == [application_id]
        assert mine(registrar, cursor)[1] is mine(registrar, inbox.Cursor(None, 10**6, inbox.NEXT))[1]
        assert mine(registrar, inbox.Cursor(None, 10**6, inbox.NEXT))[0] == []
        event.remove(db.session, "do_orm_execute", record)
