"""The signed-in home page: one panel per role with counts that are the inbox's own, never
another municipality's, in a number of queries that does not grow with the data."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from app.domain import landing, statuses
from app.extensions import db
from app.models import Application
from app.testing import actor_for, cold_statements, enable_service, file_application, fill_form, login, sample_data

PERMIT = "construction-permit"  # its steps are the urban planning department's (seeded staff)


def _text(response) -> str:
    html = response.get_data(as_text=True)
    main = html[html.index("<main") : html.index("</main>")]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


def _set(app, application_id: int, **values) -> None:
    with app.app_context():
        db.session.execute(update(Application).where(Application.id == application_id).values(**values))
        db.session.commit()


def _file(app, municipality: str = "alpha", n: int = 1, at_specialist: bool = False) -> list[int]:
    """``n`` construction permits filed at the front office; its first step is the clerk's
    completeness check, ``at_specialist`` moves them on to the urban planners' first step."""
    from app.plugins import runtime as plugin_runtime

    enable_service(app, municipality, PERMIT)
    registered = plugin_runtime.registry(app).get(PERMIT)
    assert registered is not None
    service = registered.service
    data = fill_form(app, PERMIT, sample_data(service, {"cadastral_code": "07-001-0123-0045"}))
    ids = [file_application(app, PERMIT, municipality, data=data) for _ in range(n)]
    if at_specialist:
        step = next(s for s in service.steps if s.role == "specialist")
        for application_id in ids:
            _set(app, application_id, current_step=step.key, status=statuses.IN_REVIEW)
    return ids


def _home(client, username: str) -> str:
    login(client, username)
    client.get("/lang/en?next=/")
    response = client.get("/")
    assert response.status_code == 200
    return _text(response)


def test_visitor_is_invited_to_sign_in(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/login/"' in html
    assert " · " in html.split("<title>")[1].split("</title>")[0]
    assert "My tasks" not in html


def test_specialist_sees_their_tasks_and_the_overdue_ones(app, client):
    first, second, _third = _file(app, n=3, at_specialist=True)
    _set(app, first, due_at=dt.date(2020, 1, 1))
    _file(app, "beta", n=2, at_specialist=True)  # another municipality's work is never counted
    with app.app_context():
        actor = actor_for(app.seeded["alpha"]["users"]["specialist"])
        from app.plugins import runtime as plugin_runtime

        summary = landing.task_summary(db.session, plugin_runtime.registry(), actor)
    assert summary.mine == landing.Counts(total=3, overdue=1)
    assert summary.department == landing.Counts(total=3, overdue=1)
    text = _home(client, "alpha.specialist")
    assert "My tasks" in text
    assert "3 in my tasks" in text
    assert "1 of them overdue" in text
    assert second  # filed, counted above


def test_clerk_sees_new_application_and_their_returned_cases(app, client):
    mine, other = _file(app, n=2)
    _set(app, mine, status=statuses.RETURNED)
    beta = _file(app, "beta")[0]
    _set(app, beta, status=statuses.RETURNED)
    with app.app_context():
        returned = landing.returned_cases(db.session, actor_for(app.seeded["alpha"]["users"]["clerk"]))
        tracking = db.session.execute(select(Application.tracking_number).where(Application.id == mine)).scalar_one()
        other_tracking = db.session.execute(
            select(Application.tracking_number).where(Application.id == other)
        ).scalar_one()
    assert returned.count == 1
    assert [a.id for a in returned.shown] == [mine]
    text = _home(client, "alpha.clerk")
    assert "New application" in text
    assert "1 application waits for the applicant's correction." in text
    assert tracking in text
    assert other_tracking not in text
    html = client.get("/").get_data(as_text=True)
    assert 'href="/office/"' in html
    assert f'href="/workspace/applications/{mine}"' in html


def test_municipal_admin_sees_services_staff_and_unstaffed_services(app, client):
    enable_service(app, "alpha", "residence-certificate")  # its department has nobody seeded
    text = _home(client, "alpha.municipal_admin")
    assert "Services that nobody can work on" in text
    assert "Certificate of residence" in text
    assert "active staff members" in text
    assert re.search(r"\b1 of \d+ services offered", text)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/admin/services/"' in html
    assert 'href="/admin/staff/"' in html


def test_system_admin_auditor_and_citizen_each_get_their_panel(app, client):
    text = _home(client, "sysadmin")
    assert "System" in text and "municipalities" in text
    assert "2 municipalities" in text
    text = _home(client, "alpha.auditor")
    assert "you cannot change anything" in text
    assert "New application" not in text
    text = _home(client, "citizen")
    # Citizens get the citizen portal's home (app.portal.site), not a staff landing.
    assert "Choose your municipality" in text
    assert "My tasks" not in text


@pytest.mark.parametrize("username", ["alpha.clerk", "alpha.specialist", "alpha.head", "alpha.municipal_admin"])
def test_home_page_queries_do_not_grow_with_the_data(app, client, username):
    enable_service(app, "alpha", PERMIT)
    login(client, username)
    client.get("/")  # what only a first request after signing in does is not counted
    # Each count from an empty session (cold_statements): a warm count depends on the garbage
    # collector, which kept or freed the roles an earlier request loaded.
    few = cold_statements(app, client, "/")
    ids = _file(app, n=6) + _file(app, n=6, at_specialist=True)
    for application_id in ids[:6]:
        _set(app, application_id, status=statuses.RETURNED, due_at=dt.date(2020, 1, 1))
    many = cold_statements(app, client, "/")
    assert many == few
    # The user, roles and profile, Flask-AppBuilder's menu (a permission check per item) and a
    # few aggregates per panel: a fixed budget whatever the data.
    assert many <= 40, many


def test_every_page_title_names_the_page(app, client):
    login(client, "alpha.municipal_admin")
    titles = set()
    for url in ("/", "/admin/services/", "/admin/staff/", "/workspace/"):
        html = client.get(url).get_data(as_text=True)
        titles.add(html.split("<title>")[1].split("</title>")[0].strip())
    assert len(titles) == 4, titles
    assert all(" · " in t for t in titles), titles


def test_language_switch_returns_to_the_page(app, client):
    login(client, "alpha.clerk")
    response = client.get("/lang/en?next=/office/%3Fx%3D1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/office/?x=1"
    # Without ?next: back to the referring page of this site, never to another site.
    response = client.get("/lang/ru", headers={"Referer": "http://localhost/workspace/?tab=all"})
    assert response.headers["Location"] == "/workspace/?tab=all"
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        response = client.get("/lang/hy", query_string={"next": hostile})
        assert response.headers["Location"] == "/", hostile
    response = client.get("/lang/hy", headers={"Referer": "https://evil.example/x"})
    assert response.headers["Location"] == "/"
    assert client.get("/lang/xx").status_code == 404
    # The navbar's links carry the page they are on.
    html = client.get("/office/").get_data(as_text=True)
    assert "/lang/en?next=%2Foffice%2F" in html
