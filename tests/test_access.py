"""app.domain.access: one actor, one set of loaders, and the backstop behind them.

The loaders decide who sees which application (drafts are their creator's alone, another
municipality's rows do not exist); the backstop makes a request fail that queries a
municipality-owned model without them; and a crawl of every view and API endpoint, as every
role, lists which of them load municipality-owned rows and shows that each load went
through the loaders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import defaultdict

import pytest
from flask import has_request_context, jsonify, request
from issued_kit import issue_directly
from sqlalchemy import column, delete, event, func, literal_column, select, table, text, union_all, update
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

import config
from app import web
from app.demo import ensure_user
from app.domain import access, audit, channels, intake, roles, statuses
from app.domain.access import Actor
from app.domain.storage import get_storage
from app.extensions import db, limiter
from app.models import (
    Application,
    AuditEvent,
    Department,
    Municipality,
    ServiceActivation,
    ServiceDefinition,
    StaffProfile,
    Substitution,
    User,
)
from app.models.portal import QuestionAttachment
from app.plugins import runtime as plugin_runtime
from app.testing import (
    PASSWORD,
    SAMPLE_PSN,
    apply,
    ask_question,
    attach,
    enable_service,
    file_application,
    login,
    make_app,
    office_today,
    recorded_statements,
    staff_user,
)

SERVICE_KEY = "residence-certificate"
# Filed by the applicant in person: no power of attorney on the checklist.
FORM = {"address": "Abovyan 2", "purpose": "bank", "copies": "1"}
DRAFT = {
    "service_key": SERVICE_KEY,
    "data": {"address": "Abovyan 2", "purpose": "bank", "copies": "1"},
    "applicant": {"name": "Նազելի Սևագիր", "phone": "010 123456"},
}


def api_headers(client, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    )
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def enable(app, municipality: str, key: str = SERVICE_KEY) -> None:
    enable_service(app, municipality, key)


def actor_of(app, user_id: int) -> Actor:
    with app.app_context():
        actor = access.load_actor(db.session, user_id)
    assert actor is not None
    return actor


# -- drafts ----------------------------------------------------------------------------------


def test_another_clerks_api_draft_is_nowhere_to_be_seen(app, client, login_as):
    """Before app.domain.access, the office receipt looked applications up by municipality
    only, and showed another clerk's API draft (with the applicant's personal data)."""
    enable(app, "alpha")
    alpha = app.seeded["alpha"]
    with app.app_context():
        other_clerk = staff_user(
            app, alpha["id"], "clerk", alpha["departments"]["front_office"], exclude=[alpha["users"]["clerk"]]
        )
        other_username = db.session.get(User, other_clerk).username
    created = client.post("/api/v1/applications", headers=api_headers(client, "alpha.clerk"), json=DRAFT)
    assert created.status_code == 201, created.json
    draft_id = created.json["result"]["id"]
    assert created.json["result"]["status"] == statuses.DRAFT

    pages = (
        f"/office/receipt/{draft_id}",
        f"/office/receipt/{draft_id}/receipt.pdf",
        f"/workspace/applications/{draft_id}",
    )
    # A draft has no receipt: its creator is told so (test_office), the others nothing at all.
    not_filed_yet = "ստացական չունի"  # "has no receipt"
    login_as("clerk")
    for page in pages[:2]:
        assert not_filed_yet in client.get(page).get_data(as_text=True), page
    for who in (other_username, "alpha.municipal_admin", "alpha.head"):
        login(client, who)
        for page in pages:
            response = client.get(page)
            assert response.status_code in (403, 404), (who, page)
            assert "Սևագիր" not in response.get_data(as_text=True), (who, page)
            assert not_filed_yet not in response.get_data(as_text=True), (who, page)
        headers = api_headers(client, who)
        assert client.get(f"/api/v1/applications/{draft_id}", headers=headers).status_code == 404
        listed = client.get("/api/v1/applications", headers=headers).json["result"]
        assert draft_id not in {row["id"] for row in listed}
        assert "Նազելի" not in client.get("/workspace/?tab=all&q=Սևագիր").get_data(as_text=True)
        found = client.get("/office/applicants?q=Սևագիր")
        assert found.status_code != 200 or found.get_json()["results"] == [], who
    creator = api_headers(client, "alpha.clerk")
    assert client.get(f"/api/v1/applications/{draft_id}", headers=creator).status_code == 200
    assert draft_id in {row["id"] for row in client.get("/api/v1/applications", headers=creator).json["result"]}


# -- the loaders -------------------------------------------------------------------------------


def test_another_municipalitys_application_and_a_missing_one_are_the_same_not_found(app, client):
    beta = apply(app, SERVICE_KEY, municipality="beta", data=FORM, documents={"identity": [attach("pdf")]})
    alpha_clerk = actor_of(app, app.seeded["alpha"]["users"]["clerk"])
    beta_clerk = actor_of(app, app.seeded["beta"]["users"]["clerk"])
    with app.app_context():
        document_id = db.session.get(Application, beta.id).documents[0].id
        missing = beta.id + 1000
        assert access.get_application(db.session, beta_clerk, beta.id).id == beta.id
        assert access.get_document(db.session, beta_clerk, beta.id, document_id).application.id == beta.id
        for application_id in (beta.id, missing, 0, -1, 2**63):
            with pytest.raises(access.NotFound):
                access.get_application(db.session, alpha_clerk, application_id)
        with pytest.raises(access.NotFound):
            access.get_document(db.session, alpha_clerk, beta.id, document_id)
        # bool is an int to Python: True must not read as application (or document) 1.
        assert beta.id == document_id == 1
        with pytest.raises(access.NotFound):
            access.get_application(db.session, beta_clerk, True)
        with pytest.raises(access.NotFound):
            access.get_document(db.session, beta_clerk, beta.id, True)
        with pytest.raises(access.NotFound):
            access.get_application(db.session, None, beta.id)
    headers = api_headers(client, "alpha.clerk")
    foreign = client.get(f"/api/v1/applications/{beta.id}", headers=headers)
    absent = client.get(f"/api/v1/applications/{missing}", headers=headers)
    assert (foreign.status_code, foreign.json) == (absent.status_code, absent.json)
    assert foreign.status_code == 404


def test_a_document_belongs_to_its_own_application_only(app):
    first = apply(app, SERVICE_KEY, municipality="alpha", data=FORM, documents={"identity": [attach("pdf")]})
    second = apply(app, SERVICE_KEY, municipality="alpha", data=FORM, documents={"identity": [attach("pdf")]})
    head = actor_of(app, app.seeded["alpha"]["users"]["head"])
    with app.app_context():
        first_document = db.session.get(Application, first.id).documents[0].id
        assert access.get_document(db.session, head, first.id, first_document).id == first_document
        with pytest.raises(access.NotFound):
            access.get_document(db.session, head, second.id, first_document)
        assert [d.id for d in access.documents_of(db.session, db.session.get(Application, first.id))] == [
            first_document
        ]


def test_who_sees_which_municipality(app):
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    clerk = actor_of(app, alpha["users"]["clerk"])
    sysadmin = actor_of(app, app.seeded["sysadmin"])
    assert access.visible_municipality_ids(clerk) == {alpha["id"]}
    assert access.visible_municipality_ids(sysadmin) is None
    assert access.visible_municipality_ids(None) == frozenset()
    inactive = Actor(clerk.user_id, clerk.roles, False, clerk.municipality_id, clerk.department_id)
    assert access.visible_municipality_ids(inactive) == frozenset()
    stranger = Actor(999, frozenset({roles.CLERK}), True, None, None)
    with app.app_context():

        def departments(actor):
            stmt = access.scoped(select(Department.municipality_id), Department, actor)
            return set(db.session.execute(stmt).scalars())

        assert departments(clerk) == {alpha["id"]}
        assert departments(sysadmin) == {alpha["id"], beta["id"]}
        assert departments(stranger) == departments(None) == set()
        municipalities = access.scoped(select(Municipality.id), Municipality, clerk)
        assert set(db.session.execute(municipalities).scalars()) == {alpha["id"]}


def test_an_unscoped_query_must_say_why():
    with pytest.raises(ValueError):
        access.unscoped(select(Department), reason="")
    stmt = access.unscoped(select(Department), reason="escalation runs for every municipality")
    scope = stmt.get_execution_options()[access.SCOPE_OPTION]
    assert scope == access.Scope(None, "unscoped: escalation runs for every municipality")


def test_a_scope_names_the_tables_it_limited():
    clerk = Actor(1, frozenset({roles.CLERK}), True, 7, None)
    stmt = access.scoped(select(Department.id).join(Application), Department, clerk)
    assert stmt.get_execution_options()[access.SCOPE_OPTION].tables == {"department"}
    assert access.owned_reads(stmt) == {
        "Department": access.Scope(frozenset({Department.__table__}), "actor"),
        "Application": None,
    }
    both = access.scoped(stmt, Application, clerk)
    assert set(access.owned_reads(both)) == {"Department", "Application"}
    assert None not in access.owned_reads(both).values()


def test_scoping_applications_keeps_drafts_their_creators(app):
    enable(app, "alpha")
    alpha = app.seeded["alpha"]
    with app.app_context():
        other_clerk = staff_user(
            app, alpha["id"], "clerk", alpha["departments"]["front_office"], exclude=[alpha["users"]["clerk"]]
        )
    clerk, other, head = (actor_of(app, uid) for uid in (alpha["users"]["clerk"], other_clerk, alpha["users"]["head"]))
    with app.test_request_context("/"):
        filed = intake.file(
            db.session,
            plugin_runtime.host(app),
            get_storage(app),
            clerk,
            municipality_id=alpha["id"],
            service_key=SERVICE_KEY,
            data=FORM,
            applicant={"name": "Նազելի Սևագիր"},
            channel=channels.OFFICE,
            submit=False,
        )
        draft = filed.application.id

        def seen_by(actor):
            return set(db.session.execute(access.scoped(select(Application.id), Application, actor)).scalars())

        assert draft in seen_by(clerk)
        assert draft not in seen_by(other) | seen_by(head)


def test_municipal_applications_are_the_visible_ones_of_the_own_municipality_each_term_once(app):
    """The staff lists' loader (inbox "My tasks" on PostgreSQL): what the actor may see, of
    their own municipality only, each WHERE term once (a repeated term made PostgreSQL's
    estimates wrong), nothing for an actor without a municipality."""
    enable(app, "alpha")
    enable(app, "beta")
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    file_application(app, SERVICE_KEY, "alpha")
    file_application(app, SERVICE_KEY, "beta")
    with app.app_context():
        for who in (alpha["users"]["clerk"], alpha["users"]["specialist"], beta["users"]["clerk"]):
            actor = actor_of(app, who)
            stmt = access.municipal_applications(actor, Application.id)
            mine = set(db.session.execute(stmt).scalars())
            visible = set(db.session.execute(access.visible_applications(actor, Application.id)).scalars())
            own = set(
                db.session.execute(
                    select(Application.id).where(Application.municipality_id == actor.municipality_id)
                ).scalars()
            )
            assert mine and mine == visible & own
            where = str(stmt.whereclause.compile(compile_kwargs={"literal_binds": True}))
            assert where.count("municipality_id") == 1 and "applicant_user_id" not in where, where
        nobody = dataclasses.replace(actor_of(app, alpha["users"]["clerk"]), municipality_id=None)
        assert not db.session.execute(access.municipal_applications(nobody, Application.id)).all()
        assert not db.session.execute(access.municipal_applications(None, Application.id)).all()


def test_an_applicant_sees_the_applications_filed_under_their_account(app):
    """The online channel files under the citizen's account; app.domain.access shows them
    their own (drafts too), and nobody else's."""
    at_the_office = apply(app, SERVICE_KEY, municipality="alpha", data=FORM).id
    with app.app_context():
        citizen_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
        other_citizen, _created = ensure_user(
            app.appbuilder.sm,
            username="citizen.2",
            email="citizen.2@test.example",
            first_name="Other",
            last_name="Citizen",
            password=PASSWORD,
            roles=[roles.CITIZEN],
            municipality_id=None,
        )
        stranger_id = other_citizen.id
    citizen, stranger = actor_of(app, citizen_id), actor_of(app, stranger_id)
    staff = actor_of(app, app.seeded["alpha"]["users"]["head"])
    assert citizen.municipality_id is None

    def file_online(submit: bool) -> int:
        filed = intake.file(
            db.session,
            plugin_runtime.host(app),
            get_storage(app),
            citizen,
            municipality_id=app.seeded["alpha"]["id"],
            service_key=SERVICE_KEY,
            data=FORM,
            applicant={"name": "Արմեն Քաղաքացի", "phone": "010 123456"},
            uploads={"identity": [attach("pdf")]},
            channel=channels.ONLINE,
            submit=submit,
        )
        return filed.application.id

    with app.test_request_context("/"):
        submitted, draft = file_online(True), file_online(False)
        for application_id in (submitted, draft):
            assert access.get_application(db.session, citizen, application_id).applicant_user_id == citizen.user_id
            with pytest.raises(access.NotFound):
                access.get_application(db.session, stranger, application_id)
        mine = set(db.session.execute(access.visible_applications(citizen, Application.id)).scalars())
        assert mine == {submitted, draft}
        assert set(db.session.execute(access.visible_applications(staff, Application.id)).scalars()) == {
            submitted,
            at_the_office,
        }


# -- the backstop ------------------------------------------------------------------------------


@pytest.fixture
def probe(app):
    """Routes that query departments (and the rows around them) in the ways a view might
    (added before any request)."""
    alpha_id = app.seeded["alpha"]["id"]

    def rows(stmt):
        return jsonify(sorted(db.session.execute(stmt).scalars()))

    def actor():
        return web.current_actor()

    def department_ids():
        return access.scoped(select(Department.id), Department, actor())

    def first_application():
        stmt = access.unscoped(select(Application), reason="a probe").where(Application.municipality_id == alpha_id)
        return db.session.execute(stmt.order_by(Application.id)).scalars().first()

    def first_profile():
        stmt = select(StaffProfile).where(StaffProfile.department_id.is_not(None)).order_by(StaffProfile.user_id)
        return db.session.execute(stmt).scalars().first()

    routes = {
        "raw": lambda: rows(select(Department.id)),
        "get": lambda: jsonify(db.session.get(Department, 1) is not None),
        "count": lambda: rows(select(func.count()).select_from(Department)),
        "joined": lambda: rows(select(Municipality.id).join(Department, Department.municipality_id == Municipality.id)),
        "subquery": lambda: rows(
            select(Municipality.id).where(Municipality.id.in_(select(Department.municipality_id)))
        ),
        "scoped": lambda: rows(department_ids()),
        "within": lambda: rows(access.within(select(Department.id), Department, alpha_id)),
        "reasoned": lambda: rows(access.unscoped(select(Department.id), reason="a probe")),
        # Another owned model riding along a scoped statement.
        "scoped_join": lambda: rows(department_ids().join(Application, Application.department_id == Department.id)),
        "scoped_subquery": lambda: rows(department_ids().where(Department.id.in_(select(Application.department_id)))),
        "both_scoped": lambda: rows(
            access.scoped(
                department_ids().join(Application, Application.department_id == Department.id), Application, actor()
            )
        ),
        "correlated": lambda: rows(
            access.scoped(select(Application.id), Application, actor()).where(
                access.correlated(select(ServiceActivation.id), ServiceActivation, Application)
                .where(ServiceActivation.service_key == Application.service_key)
                .exists()
            )
        ),
        "correlated_unscoped_outer": lambda: rows(
            select(Application.id).where(
                access.correlated(select(ServiceActivation.id), ServiceActivation, Application).exists()
            )
        ),
        # Owned rows reached through a row that never went through a loader.
        "relationship": lambda: jsonify(len(db.session.get(Municipality, alpha_id).departments)),
        "selectin": lambda: jsonify(
            len(
                db.session.execute(select(Municipality).options(selectinload(Municipality.departments))).scalars().all()
            )
        ),
        "eager": lambda: jsonify(
            len(
                db.session.execute(select(Municipality).options(joinedload(Municipality.departments)))
                .unique()
                .scalars()
                .all()
            )
        ),
        "profile": lambda: jsonify(first_profile().department.code),
        # Owned rows reached through an owned row, which did.
        "owned_parent": lambda: jsonify(len(first_application().documents)),
    }
    for name, view in routes.items():
        app.add_url_rule(f"/_probe/{name}", f"probe_{name}", view)
    return app


def test_a_request_that_queries_owned_rows_past_the_loaders_fails(probe, client):
    for name in ("raw", "get", "count", "joined", "subquery"):
        with pytest.raises(web.UnscopedQuery, match="unscoped query of Department"):
            client.get(f"/_probe/{name}")
    assert client.get("/_probe/scoped").json == []  # nobody signed in: nothing
    assert len(client.get("/_probe/within").json) == len(probe.seeded["alpha"]["departments"])
    assert len(client.get("/_probe/reasoned").json) == 2 * len(probe.seeded["alpha"]["departments"])


def test_every_owned_table_of_a_statement_needs_its_own_scope(probe, client, login_as):
    enable(probe, "alpha")
    apply(probe, SERVICE_KEY, municipality="alpha", data=FORM)
    login_as("clerk")
    for name in ("scoped_join", "scoped_subquery"):
        with pytest.raises(web.UnscopedQuery, match="unscoped query of Application:"):
            client.get(f"/_probe/{name}")
    assert client.get("/_probe/both_scoped").status_code == 200
    assert len(client.get("/_probe/correlated").json) == 1
    with pytest.raises(web.UnscopedQuery, match="unscoped query of Application:"):
        client.get("/_probe/correlated_unscoped_outer")
    with pytest.raises(TypeError):
        access.correlated(select(Department), Department, Municipality)


def test_owned_rows_load_through_a_relationship_only_of_an_owned_row(probe, client, login_as):
    """A municipality is public, so its row proves nothing: its departments are loaded like
    any other owned rows. An application went through a loader, so its documents may follow."""
    apply(probe, SERVICE_KEY, municipality="alpha", data=FORM, documents={"identity": [attach("pdf")]})
    for name in ("relationship", "selectin", "eager"):
        with pytest.raises(web.UnscopedQuery, match=r"Department loaded through Municipality\.departments"):
            client.get(f"/_probe/{name}")
    login_as("municipal_admin")  # even for someone who may see that municipality's departments
    with pytest.raises(web.UnscopedQuery, match=r"Municipality\.departments"):
        client.get("/_probe/relationship")
    # A staff profile is scoped by its municipality like any owned row.
    with pytest.raises(web.UnscopedQuery, match=r"unscoped query of StaffProfile"):
        client.get("/_probe/profile")
    assert client.get("/_probe/owned_parent").json == 1


@pytest.fixture
def bypasses(app):
    """Routes that read another municipality's applications (beta's) past the scope in every
    way a reviewer found, each answering the rows it read or the backstop's refusal."""
    enable_service(app, "alpha", SERVICE_KEY)
    enable_service(app, "beta", SERVICE_KEY)
    beta = apply(app, SERVICE_KEY, municipality="beta", data=FORM).id
    other = aliased(Application)

    def scoped(stmt, model=Application):
        return access.scoped(stmt, model, web.current_actor())

    statements = {
        "aliased": lambda: select(other.id),
        "self_join": lambda: scoped(select(other.id).join_from(Application, other, other.id != Application.id)),
        "scalar_subquery": lambda: scoped(
            select(Application.id, select(Application.id).where(Application.id == beta).scalar_subquery())
        ),
        # Correlated to the outer row, but reading an alias of its own that nothing scoped.
        "alias_subquery": lambda: scoped(
            select(
                Application.id,
                select(other.id).where(other.id == Application.id).correlate(Application).scalar_subquery(),
            )
        ),
        "derived_table": lambda: select(select(Application.id).subquery()),
        "cte": lambda: select(select(Application.id).cte("c")),
        "union": lambda: union_all(scoped(select(Application.id)), select(Application.id)),
        "table": lambda: Application.__table__.select(),
        "lightweight_table": lambda: select(column("id")).select_from(table("application")),
        "text": lambda: text("SELECT id FROM application"),
        "text_from": lambda: select(literal_column("id")).select_from(text("application")),
        "from_statement": lambda: select(Application).from_statement(text("SELECT * FROM application")),
        "literal": lambda: select(literal_column("(SELECT max(id) FROM application)")),
        "update": lambda: update(Application).where(Application.id == beta).values(applicant_name="x"),
        "delete": lambda: delete(Application).where(Application.id == beta),
        "services": lambda: select(ServiceDefinition.key),
        "profiles": lambda: select(StaffProfile.user_id),
        "audit": lambda: select(AuditEvent.id),
        # The same reads, through the loaders.
        "scoped_alias": lambda: scoped(select(other.id), other),
        # Reads the outer (scoped) row only.
        "correlated_subquery": lambda: scoped(
            select(Application.id, select(Application.applicant_name).correlate(Application).scalar_subquery())
        ),
        "scoped_update": lambda: scoped(update(Application).where(Application.id == beta).values(applicant_name="x")),
        "unscoped_text": lambda: access.unscoped(text("SELECT id FROM application"), reason="a probe"),
    }

    def view(name):
        try:
            result = db.session.execute(statements[name]())
            rows = result.rowcount if "update" in name or "delete" in name else result.all()
            db.session.rollback()
            return jsonify(rows=str(rows))
        except web.UnscopedQuery as exc:
            return jsonify(refused=str(exc))

    for name in statements:
        app.add_url_rule(f"/_probe/{name}", f"probe_{name}", lambda name=name: view(name))
    return beta


def test_every_read_past_the_scope_is_refused(app, client, login_as, bypasses):
    login_as("clerk")
    refusals = {
        "aliased": "unscoped query of Application",
        "self_join": "unscoped query of Application",
        "scalar_subquery": "unscoped query of Application",
        "alias_subquery": "unscoped query of Application",
        "derived_table": "unscoped query of Application",
        "cte": "unscoped query of Application",
        "union": "unscoped query of Application",
        "table": "unscoped query of Application",
        "lightweight_table": "unscoped query of Application",
        "text": "raw SQL",
        "text_from": "raw SQL",
        "from_statement": "raw SQL",
        "literal": "raw SQL",
        "update": "unscoped query of Application",
        "delete": "unscoped query of Application",
        "services": "unscoped query of ServiceDefinition",
        "profiles": "unscoped query of StaffProfile",
        "audit": "unscoped query of AuditEvent",
    }
    for name, refusal in refusals.items():
        assert refusal in client.get(f"/_probe/{name}").json.get("refused", ""), name
    for name in ("scoped_alias", "correlated_subquery", "scoped_update", "unscoped_text"):
        assert "rows" in client.get(f"/_probe/{name}").json, name
    assert client.get("/_probe/scoped_update").json == {"rows": "0"}  # beta's row is not alpha's
    assert str(bypasses) not in client.get("/_probe/scoped_alias").json["rows"]


def test_production_logs_raw_sql_instead_of_failing(app, client, login_as, bypasses, caplog):
    app.config[web.SCOPE_CHECK] = "log"
    login_as("clerk")
    with caplog.at_level(logging.ERROR, logger="app.web"):
        assert "rows" in client.get("/_probe/text").json
    assert any("raw SQL" in record.getMessage() for record in caplog.records)


def test_applications_are_never_bounded_by_municipality_alone(app):
    for bound in (
        lambda: access.within(select(Application), Application, 1),
        lambda: access.within(select(aliased(Application)), aliased(Application), 1),
        lambda: access.correlated(select(Application.id), Application, ServiceActivation),
    ):
        with pytest.raises(TypeError, match="drafts are private"):
            bound()


def test_rows_without_a_municipality_are_shared_only_where_the_model_says_so(app):
    clerk = Actor(1, frozenset({roles.CLERK}), True, 7, None)
    citizen = Actor(2, frozenset(), True, None, None)
    admin = Actor(3, frozenset({roles.SYSTEM_ADMIN}), True, None, None)
    with app.app_context():
        db.session.add_all(
            [
                ServiceDefinition(key="everyones", version=1, definition={}, municipality_id=None),
                ServiceDefinition(key="alphas", version=1, definition={}, municipality_id=app.seeded["alpha"]["id"]),
            ]
        )
        db.session.flush()

        def keys(actor):
            stmt = access.scoped(select(ServiceDefinition.key), ServiceDefinition, actor)
            return set(db.session.execute(stmt.where(ServiceDefinition.key.in_(["everyones", "alphas"]))).scalars())

        alpha_clerk = Actor(1, frozenset({roles.CLERK}), True, app.seeded["alpha"]["id"], None)
        assert keys(clerk) == keys(citizen) == {"everyones"}
        assert keys(alpha_clerk) == keys(admin) == {"everyones", "alphas"}
        profiles = access.scoped(select(StaffProfile.user_id), StaffProfile, alpha_clerk)
        unowned = profiles.where(StaffProfile.municipality_id.is_(None))
        assert db.session.execute(unowned).first() is None  # a system administrator's profile
        db.session.rollback()


def test_outside_a_request_nothing_is_checked(probe):
    with probe.app_context():
        assert db.session.execute(select(Department.id)).first() is not None
        assert db.session.get(Municipality, probe.seeded["alpha"]["id"]).departments
    with probe.test_request_context("/"):
        assert db.session.execute(select(Department.id)).first() is not None


def test_production_logs_an_unscoped_query_instead_of_failing(probe, client, caplog):
    probe.config[web.SCOPE_CHECK] = "log"
    with caplog.at_level(logging.ERROR, logger="app.web"):
        assert client.get("/_probe/raw").status_code == 200
        assert client.get("/_probe/relationship").status_code == 200
    messages = [record.getMessage() for record in caplog.records]
    assert any("unscoped query of Department" in message for message in messages)
    assert any("through Municipality.departments" in message for message in messages)


def test_a_mistyped_scope_check_stops_the_start(tmp_path):
    with pytest.raises(RuntimeError, match=r"HAMAYNK_SCOPE_CHECK='Log' is not one of: raise, log, off"):
        make_app(tmp_path, HAMAYNK_SCOPE_CHECK="Log")
    assert config.ProductionConfig.HAMAYNK_SCOPE_CHECK in web.SCOPE_CHECK_MODES


def test_the_owned_tables_are_found_once_not_per_query():
    owned = access._owned_tables()
    assert owned["department"] == "Department"
    assert "municipality" not in owned
    assert access._owned_tables() is owned


# -- every endpoint ------------------------------------------------------------------------------

ROLES = ("municipal_admin", "clerk", "specialist", "head", "auditor", "system_admin", "citizen")
# Rules the crawl does not request, each with the reason; any other rule it cannot build a
# URL for fails the crawl instead of being skipped in silence.
NOT_APPLICABLE = {
    "/static": "files on disk",
    "/appbuilder": "Flask-AppBuilder's static files",
    "/lang/": "switches the language",
    "/swagger": "the OpenAPI page",
    "/api/<version>/_openapi": "the OpenAPI document",
    "/login/": "signs in",
    "/logout/": "would end the crawl's session",
    "/api/v1/security/": "issues tokens",
    # Flask-AppBuilder's own user and role screens hold no municipality-owned rows.
    "/users/": "user accounts",
    "/roles/": "roles",
    "/groups/": "groups",
    "/permissions/": "permissions",
    "/permissionviews/": "permissions",
    "/viewmenus/": "permissions",
    "/resetpassword/": "user accounts",
    "/resetmypassword/": "user accounts",
    "/userinfoeditview/": "user accounts",
    "/account/logout": "would end the crawl's session",
}
# Every view and API function that loads municipality-owned rows. A new one fails the crawl
# below until it is added here, and passes only if its loads go through app.domain.access.
LOADERS = {
    "ApplicationsApi.act",
    "ApplicationsApi.create_application",
    "ApplicationsApi.get_document",
    "ApplicationsApi.list_applications",
    "ApplicationsApi.show_application",
    "DepartmentView.delete",
    "DepartmentView.edit",
    "DepartmentView.list",
    "DepartmentView.show",
    "HomeView.index",
    "OfficeView.applicants",
    "OfficeView.find",
    "OfficeView.index",
    "OfficeView.new",
    "OfficeView.receipt",
    "OfficeView.receipt_handed_over",
    "OfficeView.receipt_new_code",
    "OfficeView.receipt_pdf",
    "OfficeVotingView.booth",
    "OfficeVotingView.cast",
    "OfficeVotingView.index",
    "OfficeVotingView.poll",
    "PaymentsView.receipt",
    "PaymentsView.record",
    "PaymentsView.waive",
    "QuestionsView.answer",
    "QuestionsView.attachment",
    "QuestionsView.close",
    "QuestionsView.list",
    "QuestionsView.reassign",
    "QuestionsView.show",
    "ResidentsView.index",
    "ResidentsView.person",
    "ResidentsView.revoke",
    "ResidentsView.verify",
    "SettlementsView.active",
    "SettlementsView.edit",
    "SettlementsView.list",
    "PollsView.add",
    "PollsView.cancel",
    "PollsView.edit",
    "PollsView.file",
    "PollsView.list",
    "PollsView.publish",
    "PollsView.remove_file",
    "PollsView.show",
    "PollsView.upload",
    "ProposalsView.budget_vote",
    "ProposalsView.list",
    "ProposalsView.photo",
    "ProposalsView.review",
    "ProposalsView.show",
    "proposals.index",
    "proposals.new",
    "proposals.photo",
    "proposals.show",
    "proposals.support",
    "proposals.withdraw",
    "ConsultationsView.add",
    "ConsultationsView.cancel",
    "ConsultationsView.edit",
    "ConsultationsView.file",
    "ConsultationsView.hide",
    "ConsultationsView.list",
    "ConsultationsView.publish",
    "ConsultationsView.remove_file",
    "ConsultationsView.show",
    "ConsultationsView.summary",
    "ConsultationsView.unhide",
    "ConsultationsView.upload",
    "consultations.comment",
    "consultations.file",
    "consultations.show",
    "consultations.support",
    "polls.attachment",
    "polls.ballots_csv",
    "polls.ballots_json",
    "polls.change",
    "polls.check",
    "polls.results",
    "polls.results_csv",
    "polls.results_json",
    "polls.show",
    "polls.vote",
    "NotificationTextsView.edit",
    "NotificationTextsView.list",
    "ServiceBuilderView.add",
    "ServiceBuilderView.edit",
    "ServiceBuilderView.export",
    "ServiceBuilderView.list",
    "ServicesView.edit",
    "ServicesView.list",
    "StaffView.add",
    "StaffView.edit",
    "StaffView.list",
    "StaffReportsView.export",
    "StaffReportsView.index",
    "SubstitutesView.add",
    "SubstitutesView.end",
    "SubstitutesView.list",
    "WorkspaceView.act",
    "WorkspaceView.case",
    "WorkspaceView.download",
    "WorkspaceView.inbox",
    "WorkspaceView.issued_download",
    "WorkspaceView.issued_reissue",
    "WorkspaceView.issued_revoke",
    "WorkspaceView.preview",
    "site.municipality",
    "site.service",
    "pay.returned",
    "pay.test_gateway",
    "mine.claim",  # the page shell's notices bell (signed in)
    "mine.correct",
    "mine.document",
    "mine.index",
    "mine.lookup",  # the page shell's notices bell (signed in)
    "mine.show",
    "mine.withdraw",
    "questions.attachment",
    "questions.index",
    "questions.new",
    "questions.show",
    "apply.delete",
    "apply.done",
    "apply.drafts",
    "apply.stage",
    "apply.start",
    "apply.submit",
    "account.identity_callback",  # the page shell's notices bell (signed in)
    "account.identity_start",  # the page shell's notices bell (signed in)
    "account.login",  # the page shell's notices bell (signed in)
    "account.profile",  # the page shell's notices bell (signed in)
    "account.register",  # the page shell's notices bell (signed in)
    "account.reset",  # the page shell's notices bell (signed in)
    "account.reset_request",  # the page shell's notices bell (signed in)
    "account.sent",  # the page shell's notices bell (signed in)
    "account.verify",  # the page shell's notices bell (signed in)
    "account.verify_resend",  # the page shell's notices bell (signed in)
    "notices.index",
    "documents.download",
    # Public: counts only (overdue applications, answered questions), read with a stated reason.
    "dashboard.csv",
    "dashboard.index",
    "dashboard.json",
    "dashboard.municipality",
    "dashboard.municipality_csv",
    "dashboard.municipality_json",
    "verify.form",  # the page shell's notices bell (signed in)
    "verify.show",  # public: a document is found by its code alone
    "notices.unsubscribe",  # the page shell's notices bell (signed in)
}
# Query strings an endpoint needs before it loads anything (a search, a tab, a filter);
# each is requested, as well as the bare URL.
QUERIES = {
    "OfficeView.find": ["tracking={tracking_number}"],
    "OfficeView.applicants": ["q=Applicant", f"q={SAMPLE_PSN}", "q=091123456"],
    "OfficeVotingView.poll": ["q=citizen@test.example"],
    "WorkspaceView.inbox": [
        "tab=mine",
        "tab=department",
        "tab=all&q=Applicant&service=residence-certificate&status=submitted&overdue=1",
    ],
    "ApplicationsApi.list_applications": ["status=submitted&service=residence-certificate&overdue=true&limit=5"],
    "ServicesView.list": ["municipality={municipality_id}"],
    "ResidentsView.index": ["q=Izen", "q=citizen@test.example"],
    "PollsView.list": ["municipality={municipality_id}"],
    "ProposalsView.list": ["municipality={municipality_id}&status=all"],
    "proposals.index": ["status=review"],
    "PollsView.add": ["kind=budget", "municipality={municipality_id}&kind=poll"],
    "NotificationTextsView.list": ["municipality={municipality_id}&service=residence-certificate"],
    "NotificationTextsView.edit": [
        "municipality={municipality_id}&event=submitted&language=en",
        "municipality={municipality_id}&event=submitted&language=en&service=residence-certificate",
    ],
    "ServiceBuilderView.edit": ["version=1"],
    "questions.new": ["municipality_id={municipality_id}", "application_id={application_id}"],
    "QuestionsView.list": ["view=all&status=any&overdue=1", "view=department"],
    "StaffReportsView.index": ["report=overdue", "report=steps&municipality=alpha", "report=returns&from=2020-01-01"],
    "StaffReportsView.export": ["report=workload&format=csv", "report=steps&format=xlsx&municipality=alpha"],
}


def _question_rows(app) -> dict[str, int]:
    """A question of the seeded citizen to alpha, with an attachment (app.domain.questions)."""
    with app.app_context():
        citizen_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
    question_id = ask_question(app, citizen_id, files=[attach("pdf", "question.pdf")])
    with app.app_context():
        attachment_id = db.session.execute(select(QuestionAttachment.id)).scalar_one()
    return {"question_id": question_id, "attachment_id": attachment_id}


def _payment_rows(app, application_id: int) -> dict[str, object]:
    """A payment recorded at the office for the application (app.domain.payments)."""
    from app.models import Payment

    with app.app_context():
        filed = db.session.get(Application, application_id)
        row = Payment(
            municipality_id=filed.municipality_id,
            application_id=filed.id,
            provider="test",
            reference="HP0123456789ABCDEF012345",
            amount=1000,
            status="paid",
            receipt_number="R-1",
        )
        db.session.add(row)
        db.session.commit()
        return {"payment_id": row.id, "reference": row.reference, "provider": "test"}


def _draft_rows(app) -> dict[str, int]:
    """An online draft of the seeded citizen with alpha, with a file (app.domain.drafts)."""
    from app.domain import drafts, staging
    from app.domain.storage import get_storage

    with app.app_context():
        citizen_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
        citizen = access.load_actor(db.session, citizen_id)
        registry = plugin_runtime.registry(app)
        alpha = app.seeded["alpha"]["id"]
        draft = drafts.start(db.session, registry, citizen, municipality_id=alpha, service_key=SERVICE_KEY)
        service = drafts.service_of(db.session, registry, draft)
        files = {"identity": [attach("pdf")]}
        staging.stage(db.session, get_storage(app), citizen, alpha, draft.token, service, files)
        return {"draft_id": draft.id}


def _poll_rows(app) -> dict[str, int]:
    """A draft poll of alpha with an attachment (app.admin.polls)."""
    from app.domain.participation import files as participation_files
    from app.models.participation import Poll, PollOption, PollQuestion

    with app.app_context():
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        poll = Poll(
            municipality_id=app.seeded["alpha"]["id"],
            title={"hy": "Հարցում"},
            opens_at=now + dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=8),
        )
        db.session.add(poll)
        db.session.flush()
        question = PollQuestion(poll_id=poll.id, position=0, text={"hy": "Հարց"}, max_choices=1)
        db.session.add(question)
        db.session.flush()
        for position in (0, 1):
            db.session.add(PollOption(poll_id=poll.id, question_id=question.id, position=position, text={"hy": "Ա"}))
        [attachment] = participation_files.store(
            db.session,
            get_storage(app),
            municipality_id=poll.municipality_id,
            owner=("poll", poll.id),
            uploads=[attach("pdf", "map.pdf")],
            kind="document",
        )
        db.session.commit()
        return {"poll_id": poll.id, "file_id": attachment.id}


def _proposal_rows(app) -> dict[str, int]:
    """An open proposal of alpha by the seeded citizen (app.domain.participation.proposals)."""
    from app.models.participation import Proposal

    with app.app_context():
        citizen_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
        row = Proposal(
            municipality_id=app.seeded["alpha"]["id"],
            user_id=citizen_id,
            title="A playground",
            description="Swings",
            cost_estimate=1000,
        )
        db.session.add(row)
        db.session.commit()
        return {"proposal_id": row.id}


def _consultation_rows(app) -> dict[str, int]:
    """A published consultation of alpha with a comment (app.domain.participation.consultations)."""
    from app.models.participation import Consultation, ConsultationComment

    with app.app_context():
        citizen_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        row = Consultation(
            municipality_id=app.seeded["alpha"]["id"],
            title={"hy": "Նախագիծ"},
            body={"hy": "Տեքստ"},
            status="published",
            opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=8),
        )
        db.session.add(row)
        db.session.flush()
        comment = ConsultationComment(
            municipality_id=row.municipality_id, consultation_id=row.id, user_id=citizen_id, body="A comment"
        )
        db.session.add(comment)
        db.session.commit()
        return {"consultation_id": row.id, "comment_id": comment.id}


def _issued_rows(app, application_id: int) -> dict[str, object]:
    """An issued decision of the filed application, for the staff panel and /verify/<code>."""
    issued = issue_directly(app, application_id)
    return {"issued_id": issued.id, "verify_code": issued.printed}


@pytest.fixture
def own_rows(app):
    enable(app, "alpha")
    filed = apply(app, SERVICE_KEY, municipality="alpha", data=FORM, documents={"identity": [attach("pdf", "own.pdf")]})
    alpha = app.seeded["alpha"]
    questions = _question_rows(app)
    with app.app_context():
        # A substitution, so ending one finds a row (while the crawl is away).
        substitution = Substitution(
            municipality_id=alpha["id"],
            absent_id=alpha["users"]["specialist"],
            substitute_id=alpha["users"]["head"],
            starts_on=office_today(),
            ends_on=office_today() + dt.timedelta(days=3),
        )
        db.session.add(substitution)
        db.session.commit()
        return {
            "substitution_id": substitution.id,
            **_payment_rows(app, filed.id),
            **questions,
            **_draft_rows(app),
            "application_id": filed.id,
            "tracking_number": filed.tracking_number,
            "document_id": db.session.get(Application, filed.id).documents[0].id,
            **_issued_rows(app, filed.id),
            **_poll_rows(app),
            **_proposal_rows(app),
            **_consultation_rows(app),
            "user_id": alpha["users"]["clerk"],
            "municipality_id": alpha["id"],
            "department_id": alpha["departments"]["front_office"],
        }


def _not_applicable(rule) -> bool:
    return rule.rule.startswith(tuple(NOT_APPLICABLE))


def _url(rule, rows) -> str:
    values = {}
    for argument in rule.arguments:
        if argument in (
            *("application_id", "document_id", "user_id", "substitution_id", "question_id", "attachment_id"),
            "issued_id",
            *("payment_id", "reference", "provider"),
            *("poll_id", "file_id"),
            "proposal_id",
            *("consultation_id", "comment_id"),
        ):
            values[argument] = rows[argument]
        elif argument == "pk":
            if rule.rule.startswith("/api/"):
                values[argument] = rows["application_id"]
            elif rule.rule.startswith("/admin/municipalities/"):
                values[argument] = rows["municipality_id"]
            else:
                values[argument] = rows["department_id"]
        elif argument in ("service_key", "key"):
            values[argument] = SERVICE_KEY
        elif argument == "code":
            values[argument] = rows["verify_code"] if rule.endpoint.startswith("verify.") else "alpha"
        elif argument == "draft_id":
            values[argument] = rows["draft_id"]
        elif argument == "stage":
            values[argument] = "documents"
        elif argument == "token":
            values[argument] = "not-a-valid-token"
        elif argument == "what":
            values[argument] = "register"
        elif argument == "name":
            values[argument] = "muldelete"
        elif argument == "action":
            values[argument] = "approve"
        elif argument == "filename":
            values[argument] = "csv"
        else:
            pytest.fail(
                f"the crawl has no value for <{argument}> of {rule.rule}: add one, or list it in NOT_APPLICABLE"
            )
    return rule.build(values, append_unknown=False)[1]


def _urls(rule, rows) -> list[str]:
    url = _url(rule, rows)
    return [url] + [f"{url}?{query.format(**rows)}" for query in QUERIES.get(rule.endpoint, ())]


@pytest.fixture
def owned_loads():
    """(endpoint, model, how it was scoped) of every ORM SELECT of municipality-owned rows
    during a request, relationship and refresh loads of rows already loaded aside (the
    backstop itself fails those that start from a row that is not owned)."""
    seen: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def record(state) -> None:
        if not has_request_context() or not state.is_select or state.is_relationship_load or state.is_column_load:
            return
        scope = state.execution_options.get(access.SCOPE_OPTION)
        if scope == access.Scope(None, f"unscoped: {access.OWN_PROFILE}"):
            return  # who is acting: every request reads it
        if scope == access.Scope(None, f"unscoped: {audit.DENIED_DEDUPE}"):
            return  # a refusal's de-duplication (app.auditing): every refused request reads it
        for model, scope in access.owned_reads(state.statement).items():
            seen[request.endpoint or "?"].add((model, scope.how if scope is not None else "UNSCOPED"))

    event.listen(Session, "do_orm_execute", record)
    yield seen
    event.remove(Session, "do_orm_execute", record)


def test_the_crawl_builds_every_rule_it_does_not_list_as_not_applicable(app):
    """A rule with an argument the crawl cannot fill must fail it, not drop out of it."""
    app.add_url_rule("/_probe/<widget>", "probe_widget", lambda widget: widget)
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "probe_widget")
    with pytest.raises(pytest.fail.Exception, match="no value for <widget>"):
        _url(rule, {})


def test_every_endpoint_loads_owned_rows_only_through_the_loaders(app, client, login_as, own_rows, owned_loads):
    rules = [r for r in app.url_map.iter_rules() if not _not_applicable(r)]
    requests = [
        (method, rule, url)
        for method in ("GET", "POST")
        for rule in rules
        if method in rule.methods
        for url in _urls(rule, own_rows)
    ]
    for role in ROLES:
        # The crawl posts junk to every sign-in form, which the sign-in limit counts as failed
        # attempts from this one address; each role starts with a clean count.
        limiter.reset()
        username = login_as(role, "alpha")
        headers = api_headers(client, username)
        for method, rule, url in requests:
            if rule.rule.startswith("/api/"):
                body = None
                if method == "POST":
                    body = DRAFT if rule.endpoint.endswith("create_application") else {"action": "approve"}
                response = client.open(url, method=method, headers=headers, json=body)
            else:
                response = client.open(url, method=method, data={"version": "1", "comment": "x"})
            # The backstop raises in tests: an unscoped load would be a 500 here.
            assert response.status_code < 500, f"{role} {method} {url} -> {response.status_code}"
            # A streamed download keeps its request context until it is read or closed.
            response.close()
    unscoped = {endpoint: loads for endpoint, loads in owned_loads.items() if any(h == "UNSCOPED" for _m, h in loads)}
    assert unscoped == {}
    listing = "\n".join(f"{endpoint}: {sorted(loads)}" for endpoint, loads in sorted(owned_loads.items()))
    assert set(owned_loads) == LOADERS, listing


def test_the_actor_tells_citizens_from_staff(app):
    with app.app_context():
        citizen_id = db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one()
    citizen = actor_of(app, citizen_id)
    clerk = actor_of(app, app.seeded["alpha"]["users"]["clerk"])
    admin = actor_of(app, app.seeded["sysadmin"])
    assert citizen.is_citizen and citizen.municipality_id is None
    assert not clerk.is_citizen and clerk.municipality_id == app.seeded["alpha"]["id"]
    assert not admin.is_citizen and admin.is_system_admin


def _checked_statements(monkeypatch) -> list[str]:
    """The statements access.unscoped_load examines from now on (their SQL, in order)."""
    seen: list[str] = []
    examine = access.unscoped_load

    def counting(state):
        seen.append(str(state.statement))
        return examine(state)

    monkeypatch.setattr(access, "unscoped_load", counting)
    return seen


def test_production_checks_each_statement_shape_once(probe, client, caplog, monkeypatch):
    """Production's "log" mode remembers the verdict per statement shape (access.ShapeVerdicts): the
    second request of the same pages examines nothing, an unscoped shape is still logged on
    every request, and a request with other values is the same shape."""
    probe.config[web.SCOPE_CHECK] = "log"
    monkeypatch.setattr(web, "_VERDICTS", access.ShapeVerdicts())
    seen = _checked_statements(monkeypatch)
    assert client.get("/_probe/within").status_code == 200
    assert any("FROM department" in sql for sql in seen)
    seen.clear()
    assert client.get("/_probe/within").status_code == 200
    assert seen == []
    with caplog.at_level(logging.ERROR, logger="app.web"):
        for _ in range(2):
            assert client.get("/_probe/raw").status_code == 200
    assert sum("unscoped query of Department" in r.getMessage() for r in caplog.records) == 2
    # Examined on the first request only, reported on both.
    assert len([sql for sql in seen if "FROM department" in sql]) == 1


def test_tests_and_development_check_every_statement(probe, client, monkeypatch):
    assert probe.config[web.SCOPE_CHECK] == "raise"
    seen = _checked_statements(monkeypatch)
    for _ in range(2):
        assert client.get("/_probe/within").status_code == 200
    assert len([sql for sql in seen if "FROM department" in sql]) == 2


def test_a_shape_is_its_sql_its_loading_and_its_scope(app):
    """Statements that differ only in values share a shape; a different scope, or a scope on
    an alias (an object per call), does not."""
    shapes = []

    def remember(state):
        shapes.append(access._shape(state))

    with app.app_context():
        event.listen(Session, "do_orm_execute", remember)
        try:
            for municipality_id in (1, 2):
                db.session.execute(access.within(select(Department.id), Department, municipality_id))
            db.session.execute(select(Department.id).where(Department.municipality_id == 1))
            db.session.execute(access.unscoped(select(Department.id), reason="a probe"))
            alias = aliased(Department)
            db.session.execute(access.within(select(alias.id), alias, 1))
        finally:
            event.remove(Session, "do_orm_execute", remember)
    within_1, within_2, by_hand, unscoped, on_alias = shapes
    assert within_1 == within_2 is not None
    assert by_hand != within_1  # same SQL, no loader's scope
    assert unscoped != by_hand
    assert on_alias is None  # always checked


# -- what get_application brings along ---------------------------------------------------------


def test_get_application_brings_its_municipality_and_activation_in_one_statement(app):
    enable(app, "alpha")
    application_id = file_application(app, SERVICE_KEY, "alpha", data=FORM)
    with app.app_context():
        actor = actor_of(app, app.seeded["alpha"]["users"]["clerk"])
        db.session.rollback()
        statements = recorded_statements(
            app,
            lambda: (
                access.get_application(db.session, actor, application_id),
                access.activation_of(db.session, app.seeded["alpha"]["id"], SERVICE_KEY),
                db.session.get(Municipality, app.seeded["alpha"]["id"]),
            ),
        )
        assert len(statements) == 1, statements
        activation = access.activation_of(db.session, app.seeded["alpha"]["id"], SERVICE_KEY)
        assert activation is not None and activation.enabled and activation.service_key == SERVICE_KEY
        # What another query reads says the same.
        db.session.rollback()
        read = access.activation_of(db.session, app.seeded["alpha"]["id"], SERVICE_KEY)
        assert (read.id, read.department_id) == (activation.id, activation.department_id)
        # A service never activated there: None, remembered like a row.
        db.session.rollback()
        assert access.activation_of(db.session, app.seeded["alpha"]["id"], "no-such-service") is None
        again = recorded_statements(
            app, lambda: access.activation_of(db.session, app.seeded["alpha"]["id"], "no-such-service")
        )
        assert again == []


def test_get_application_refuses_what_the_actor_may_not_see_as_before(app):
    enable(app, "alpha")
    application_id = file_application(app, SERVICE_KEY, "alpha", data=FORM)
    with app.app_context():
        stranger = actor_of(app, app.seeded["beta"]["users"]["clerk"])
        with pytest.raises(access.NotFound):
            access.get_application(db.session, stranger, application_id)
