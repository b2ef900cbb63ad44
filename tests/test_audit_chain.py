"""The audit log (issue 12, point 4): a tamper-evident chain that ``flask hamaynk audit verify``
checks and names the first broken link of, pruning that keeps it verifying, concurrent writers
that still make one chain, what is audited, and that no password, token or ID number ends up in
the audit log or the application log."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import logging
import threading

import pytest
from sqlalchemy import func, select, text
from test_office import RESIDENCE, application_id_of, open_form, post, residence_data

from app.domain import audit
from app.extensions import db
from app.models import AuditChain, AuditEvent, TransitionRecord
from app.models.base import utcnow
from app.testing import (
    PASSWORD,
    apply,
    count_statements,
    enable_service,
    file_application,
    login,
    make_citizen,
    walk,
)

PG_DATABASE = "hamaynk_test_audit"


# -- helpers -------------------------------------------------------------------------------


def write(app, count: int, action: str = "test.event", **details) -> list[int]:
    ids = []
    with app.app_context():
        for i in range(count):
            event = audit.record(db.session, action, actor=None, details={"i": i, **details})
            db.session.commit()
            ids.append(event.id)
    return ids


def raw(app, sql: str, **params) -> None:
    """Change the table behind the ORM's back, as someone with database access would."""
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(sql), params)


def verify(app) -> audit.Verification:
    with app.app_context():
        return audit.verify(db.session)


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["hamaynk", "audit", *args])


def events(app, action: str | None = None) -> list[AuditEvent]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            stmt = stmt.where(AuditEvent.action == action)
        found = db.session.execute(stmt).scalars().all()
        db.session.expunge_all()
        return list(found)


# -- the chain -----------------------------------------------------------------------------


def test_every_event_links_to_the_one_before_and_the_chain_verifies(app):
    ids = write(app, 5)
    rows = events(app)
    chained = [e for e in rows if e.hash is not None]
    assert [e.id for e in chained][-5:] == ids
    assert ids == list(range(ids[0], ids[0] + 5))  # no gaps: a missing id is a deleted event
    for before, after in itertools.pairwise(chained):
        assert after.prev_hash == before.hash
        assert after.hash == audit.event_hash({n: getattr(after, n) for n in audit.HASHED_FIELDS}, after.prev_hash)
    result = verify(app)
    assert result.ok and result.checked == len(chained) and result.head_id == ids[-1]
    answer = cli(app, "verify")
    assert answer.exit_code == 0, answer.output
    assert f"OK. Head: event {ids[-1]} {chained[-1].hash}" in answer.output


def test_one_changed_byte_in_one_event_is_named(app):
    ids = write(app, 6, note="abc")
    target = ids[3]
    raw(app, "UPDATE audit_event SET details = :d WHERE id = :id", d=json.dumps({"i": 3, "note": "abd"}), id=target)
    result = verify(app)
    assert result.broken == audit.Break(target, "hash mismatch: the event was changed after it was written")
    answer = cli(app, "verify")
    assert answer.exit_code == 1
    assert f"event {target}: hash mismatch" in answer.output


def test_a_rehashed_event_breaks_the_link_of_the_next_one(app):
    ids = write(app, 5)
    target = ids[2]
    forged = events(app)[-3]
    assert forged.id == target
    fields = {n: getattr(forged, n) for n in audit.HASHED_FIELDS} | {"details": {"i": 99}}
    raw(
        app,
        "UPDATE audit_event SET details = :d, hash = :h WHERE id = :id",
        d=json.dumps({"i": 99}),
        h=audit.event_hash(fields, forged.prev_hash),
        id=target,
    )
    assert verify(app).broken == audit.Break(ids[3], "prev_hash mismatch: it does not link to the event before it")


def test_a_deleted_event_in_the_middle_is_named(app):
    ids = write(app, 6)
    raw(app, "DELETE FROM audit_event WHERE id = :id", id=ids[2])
    broken = verify(app).broken
    assert broken is not None and broken.event_id == ids[2] and broken.problem.startswith("gap:")
    answer = cli(app, "verify")
    assert answer.exit_code == 1 and f"event {ids[2]}: gap: event {ids[2]} missing" in answer.output


def test_deleted_last_events_are_named(app):
    ids = write(app, 4)
    raw(app, "DELETE FROM audit_event WHERE id >= :id", id=ids[2])
    broken = verify(app).broken
    assert broken is not None and broken.event_id == ids[2] and "missing" in broken.problem


def test_an_event_without_hash_after_the_origin_is_named(app):
    ids = write(app, 3)
    raw(app, "UPDATE audit_event SET hash = NULL, prev_hash = NULL WHERE id = :id", id=ids[1])
    assert verify(app).broken == audit.Break(ids[1], "missing hash after the chain's origin")


def test_events_from_before_the_chain_are_outside_it_and_cannot_be_passed_off_as_inside(app):
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AuditChain)).scalar() == 0
        db.session.execute(text("DELETE FROM audit_event"))
        db.session.commit()
    for i in (1, 2):
        raw(
            app,
            "INSERT INTO audit_event (id, at, action, details) VALUES (:id, :at, 'old.event', '{}')",
            id=i,
            at=utcnow(),
        )
    ids = write(app, 2)
    assert ids == [3, 4]
    with app.app_context():
        chain = db.session.get(AuditChain, audit.CHAIN_ID)
        assert (chain.origin_id, chain.origin_prev_hash, chain.head_id) == (3, audit.GENESIS, 4)
    assert verify(app).ok
    # Moving the origin past an event hides nothing: a hashed event before it is named.
    raw(app, "UPDATE audit_chain SET origin_id = 4, origin_prev_hash = (SELECT hash FROM audit_event WHERE id = 3)")
    broken = verify(app).broken
    assert broken is not None and broken.event_id == 3 and "before the chain's origin" in broken.problem


def test_chaining_costs_two_statements_per_flush_however_many_events(app):
    write(app, 1)  # the chain row exists from here on

    def one() -> None:
        with app.app_context():
            audit.record(db.session, "test.one", actor=None)
            db.session.commit()

    def five() -> None:
        with app.app_context():
            for i in range(5):
                audit.record(db.session, "test.five", actor=None, details={"i": i})
            db.session.commit()

    # The event INSERT, plus locking the head and moving it.
    assert count_statements(app, one) == 3
    assert count_statements(app, five) == 3
    assert verify(app).ok


def test_a_rolled_back_event_leaves_neither_a_link_nor_a_gap(app):
    write(app, 2)
    with app.app_context():
        audit.record(db.session, "test.undone", actor=None)
        db.session.flush()
        db.session.rollback()
    ids = write(app, 1)
    assert verify(app).ok
    assert not events(app, "test.undone")
    assert ids[0] == events(app)[-2].id + 1


# -- retention -----------------------------------------------------------------------------


def _old_events(app, days_ago: list[int]) -> None:
    with app.app_context():
        for days in days_ago:
            db.session.add(AuditEvent(action="test.old", at=utcnow() - dt.timedelta(days=days), details={"d": days}))
            db.session.commit()


def test_prune_deletes_old_events_moves_the_origin_and_the_rest_still_verifies(app):
    _old_events(app, [500, 400, 366])
    kept = write(app, 3)
    answer = app.test_cli_runner().invoke(args=["hamaynk", "audit", "prune"])
    assert answer.exit_code == 0, answer.output
    assert "Deleted 3 audit event(s) older than 365 day(s)" in answer.output
    assert not events(app, "test.old")
    [pruned] = events(app, audit.PRUNED)
    assert pruned.details["deleted"] == 3 and pruned.details["new_origin_id"] == kept[0]
    with app.app_context():
        assert db.session.get(AuditChain, audit.CHAIN_ID).origin_id == kept[0]
    result = verify(app)
    assert result.ok and result.origin_id == kept[0] and result.checked == 4
    assert cli(app, "verify").exit_code == 0
    # The same done again removes nothing more and still verifies.
    assert "Deleted 0 audit event(s)" in cli(app, "prune").output
    assert verify(app).ok


def test_retention_is_configurable_and_pruning_everything_still_verifies(app):
    _old_events(app, [40, 31])
    app.config["HAMAYNK_AUDIT_RETENTION_DAYS"] = 30
    answer = cli(app, "prune")
    assert answer.exit_code == 0 and "older than 30 day(s)" in answer.output
    remaining = events(app)
    assert [e.action for e in remaining] == [audit.PRUNED]
    result = verify(app)
    assert result.ok and result.origin_id == remaining[0].id
    write(app, 2)
    assert verify(app).ok


def test_prune_runs_as_a_daily_job(app):
    from app.jobs import get_huey

    names = {task.__name__ for task in get_huey(app)._registry._periodic_tasks}
    assert "hamaynk.prune_audit" in names


# -- concurrency ---------------------------------------------------------------------------


def _concurrent_writers(app, threads: int = 6, each: int = 15) -> None:
    write(app, 1)
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(each):
                    audit.record(db.session, "test.concurrent", actor=None, details={"thread": n, "i": i})
                    db.session.commit()
                db.session.remove()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    written = events(app, "test.concurrent")
    assert len(written) == threads * each
    result = verify(app)
    assert result.ok, result.broken
    assert result.head_id == written[-1].id


def test_concurrent_writers_make_one_unbroken_chain_on_sqlite(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the suite runs on PostgreSQL here; the postgres-marked test covers it")
    _concurrent_writers(app)


@pytest.mark.postgres
def test_concurrent_writers_make_one_unbroken_chain_on_postgresql(pg_app):
    with pg_app.app_context():
        assert db.engine.dialect.name == "postgresql"
    _concurrent_writers(pg_app, threads=8, each=20)


@pytest.mark.postgres
def test_tampering_is_named_on_postgresql(pg_app):
    ids = write(pg_app, 4, note="abc")
    assert verify(pg_app).ok
    raw(pg_app, "UPDATE audit_event SET details = :d WHERE id = :id", d=json.dumps({"i": 1, "note": "abd"}), id=ids[1])
    assert verify(pg_app).broken == audit.Break(ids[1], "hash mismatch: the event was changed after it was written")


# -- what is audited -----------------------------------------------------------------------


def test_every_transition_is_in_the_chain_with_a_digest_of_its_history_row(app):
    enable_service(app, "alpha", RESIDENCE)
    application_id = file_application(app, RESIDENCE, "alpha")
    walk(app, application_id)
    with app.app_context():
        records = (
            db.session.execute(select(TransitionRecord).where(TransitionRecord.application_id == application_id))
            .scalars()
            .all()
        )
        mirrored = {e.details["transition_id"]: e for e in events(app, audit.TRANSITION)}
        assert len(records) >= 3
        for record in records:
            event = mirrored[record.id]
            assert (event.object_id, event.actor_id) == (str(application_id), record.actor_id)
            assert (event.details["from"], event.details["to"]) == (record.from_status, record.to_status)
            assert event.municipality_id == app.seeded["alpha"]["id"]
    assert verify(app).ok


def test_a_refused_request_is_recorded_once_per_window(app, client, login_as):
    login_as("clerk")
    clerk = app.seeded["alpha"]["users"]["clerk"]
    assert client.get("/users/list/").status_code == 403
    assert client.get("/users/list/").status_code == 403
    [event] = events(app, audit.ACCESS_DENIED)
    assert (event.actor_id, event.object_type, event.municipality_id) == (clerk, "endpoint", app.seeded["alpha"]["id"])
    assert event.object_id.endswith(".list") and event.details == {"method": "GET"}
    # Another endpoint and another person each get their own.
    client.get("/roles/list/")
    login_as("specialist")
    client.get("/users/list/")
    assert len(events(app, audit.ACCESS_DENIED)) == 3
    # Once the window has passed, the same refusal is recorded again.
    with app.app_context():
        later = utcnow() + audit.DENIED_WINDOW + dt.timedelta(seconds=1)
        again = audit.access_denied(
            db.session, actor_id=clerk, ip=None, endpoint=event.object_id, method="GET", now=later
        )
        assert again is not None
        db.session.rollback()
    assert verify(app).ok


def test_role_and_account_changes_through_the_security_screens_are_recorded(app, client, login_as):
    login_as("system_admin")
    sysadmin = app.seeded["sysadmin"]
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Auditor")
        auditor_role, clerk_role = role.id, sm.find_role("Clerk").id
        kept = [pv.id for pv in role.permissions][:-1]
        dropped = role.permissions[-1]
        dropped_name = f"{dropped.permission.name} on {dropped.view_menu.name}"
    response = client.post(f"/roles/edit/{auditor_role}", data={"name": "Auditor", "permissions": kept})
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    [event] = events(app, audit.ROLE_UPDATE)
    assert event.actor_id == sysadmin and event.object_id == str(auditor_role)
    assert event.details["permissions_removed"] == [dropped_name] and "permissions_added" not in event.details

    response = client.post(
        "/users/add",
        data={
            "first_name": "New",
            "last_name": "Person",
            "username": "new.person",
            "email": "new.person@test.example",
            "active": "y",
            "roles": [clerk_role],
            "password": "a-long-enough-password-9",
            "conf_password": "a-long-enough-password-9",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    [created] = events(app, audit.USER_CREATE)
    assert created.details["roles_added"] == ["Clerk"] and created.actor_id == sysadmin
    assert "a-long-enough-password-9" not in json.dumps(created.details)
    assert verify(app).ok


def test_role_sync_from_code_and_test_set_up_are_not_peoples_changes(app):
    # sync_roles ran for this app and seeding created users: neither is anybody's act.
    assert not [e for e in events(app) if e.action.startswith(("role.", "user."))]


def test_sign_ins_and_failed_sign_ins_are_recorded_without_what_was_typed(app, client):
    clerk = app.seeded["alpha"]["users"]["clerk"]
    login(client, "alpha.clerk", PASSWORD)
    client.post("/logout/")
    client.post("/login/", data={"username": "alpha.clerk", "password": "wrong-password-1"})
    client.post("/login/", data={"username": PASSWORD, "password": "alpha.clerk"})
    [ok] = [e for e in events(app, audit.LOGIN) if e.object_id == str(clerk)]
    assert ok.actor_id == clerk
    failed = events(app, audit.LOGIN_FAILED)
    assert len(failed) == 2
    assert failed[0].object_id == str(clerk)
    assert failed[1].object_id is None and len(failed[1].details["username_digest"]) == 32
    dumped = json.dumps([e.details for e in failed])
    assert "wrong-password-1" not in dumped and PASSWORD not in dumped
    assert verify(app).ok


def test_portal_sign_ins_and_failed_sign_ins_are_recorded(app, client):
    anna = make_citizen(app, "anna@example.am")
    client.post("/account/login", data={"email": "anna@example.am", "password": "wrong-password-2"})
    client.post("/account/login", data={"email": "nobody@example.am", "password": PASSWORD})
    client.post("/account/login", data={"email": "anna@example.am", "password": PASSWORD})
    portal = [e for e in events(app) if e.action.startswith("auth.") and e.details.get("channel") == "portal"]
    assert [(e.action, e.object_id) for e in portal] == [
        (audit.LOGIN_FAILED, str(anna)),
        (audit.LOGIN_FAILED, None),
        (audit.LOGIN, str(anna)),
    ]
    assert "nobody@example.am" not in json.dumps([e.details for e in portal])
    assert verify(app).ok


def test_document_downloads_are_in_the_chain(app, client, login_as):
    from app.models import ApplicationDocument

    application_id = apply(app, RESIDENCE, "alpha").id
    with app.app_context():
        document_id = db.session.execute(
            select(ApplicationDocument.id).where(ApplicationDocument.application_id == application_id)
        ).scalar()
    login_as("specialist")
    response = client.get(f"/workspace/applications/{application_id}/documents/{document_id}")
    assert response.status_code == 200
    [event] = events(app, "document.download")
    assert (event.object_id, event.actor_id) == (str(document_id), app.seeded["alpha"]["users"]["specialist"])
    assert event.hash is not None and verify(app).ok


# -- nothing secret in the logs ------------------------------------------------------------


def test_no_password_token_or_id_number_reaches_the_audit_log_or_the_application_log(app, client, login_as, caplog):
    caplog.set_level(logging.DEBUG)
    psn, new_password = "2468013579", "Brand-new-Password-77"
    enable_service(app, "alpha", RESIDENCE)
    login_as("clerk")
    client.get("/lang/en")
    token = open_form(client, RESIDENCE)
    application_id = application_id_of(post(client, RESIDENCE, residence_data(token, **{"applicant-psn": psn})))
    # A failed sign-in with the password typed into the name box.
    client.post("/logout/")
    client.post("/login/", data={"username": PASSWORD, "password": "alpha.clerk"})
    # The municipal admin sets a new password for the clerk, who signs in with it.
    login_as("municipal_admin")
    alpha = app.seeded["alpha"]
    clerk = alpha["users"]["clerk"]
    from test_staff_password import _edit_form

    response = client.post(f"/admin/staff/{clerk}/edit", data=_edit_form(app, password=new_password))
    assert response.status_code == 302
    login(client, "alpha.clerk", new_password)
    client.post("/logout/")
    # The API: a token pair, used once.
    answer = client.post(
        "/api/v1/security/login",
        json={"username": "alpha.clerk", "password": new_password, "provider": "db", "refresh": True},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    tokens = answer.get_json()
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert (
        client.get(f"/api/v1/applications/{application_id}", headers={"Authorization": f"Bearer {access}"}).status_code
        == 200
    )
    client.post("/api/v1/security/login", json={"username": "alpha.clerk", "password": "not-it-9", "provider": "db"})

    secrets = {
        "the PSN": psn,
        "the old password": PASSWORD,
        "the new password": new_password,
        "the wrong password": "not-it-9",
        "the access token": access,
        "the refresh token": refresh,
        "the access token's signature": access.rsplit(".", 1)[-1],
        "the refresh token's signature": refresh.rsplit(".", 1)[-1],
    }
    with app.app_context():
        rows = db.session.execute(select(AuditEvent)).scalars().all()
        audited = "\n".join(
            json.dumps([e.action, e.object_type, e.object_id, e.details], ensure_ascii=False) for e in rows
        )
        actions = {e.action for e in rows}
    assert {audit.LOGIN, audit.LOGIN_FAILED, "staff.update", audit.TRANSITION} <= actions
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for what, secret in secrets.items():
        assert secret not in audited, f"{what} is in the audit log"
        assert secret not in logged, f"{what} is in the application log"
    assert verify(app).ok
