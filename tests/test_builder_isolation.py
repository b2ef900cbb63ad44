"""One municipality's builder services stay its own (issue 12): not listed, not offered and not
in the schema API for another municipality's staff, and however many versions it saves,
another municipality's inbox sends the same queries (no step of them reaches its SQL)."""

from __future__ import annotations

import pytest

from app.plugins import runtime as plugin_runtime
from app.testing import PASSWORD, login, recorded_statements
from tests.test_builder import BASE, form_data

VERSIONS = 40
KEY = "market-stall"


def _steps(count: int) -> dict[str, object]:
    """A route of ``count`` steps, as the builder form posts it."""
    steps: dict[str, object] = {}
    for n in range(count):
        steps.update(
            {
                f"steps-{n}-key": f"step_{n}",
                f"steps-{n}-title_hy": f"Քայլ {n}",
                f"steps-{n}-role": "specialist",
                f"steps-{n}-days": "3",
                f"steps-{n}-actions": ["approve", "reject", "return"],
            }
        )
    return steps


def signed_in(app, username: str):
    """A client of its own signed in as ``username`` (no sign-out needed between people)."""
    client = app.test_client()
    login(client, username, PASSWORD)
    return client


def _save_versions(app, count: int) -> None:
    client = signed_in(app, "alpha.municipal_admin")
    response = client.post(f"{BASE}/new", data=form_data(key=KEY, **_steps(5)))
    assert response.status_code == 302, response.get_data(as_text=True)
    for n in range(1, count):
        response = client.post(f"{BASE}/{KEY}/edit", data=form_data(key=KEY, fee=str(1000 + n), **_steps(5)))
        assert response.status_code == 302, response.get_data(as_text=True)


def _inbox(app, client, tab: str) -> list[str]:
    client.get(f"/workspace/?tab={tab}")  # the registry takes in new versions on the first request
    return recorded_statements(app, lambda: client.get(f"/workspace/?tab={tab}"))


@pytest.mark.parametrize("tab", ["mine", "department"])
def test_another_municipalitys_builder_versions_do_not_change_this_inbox(app, tab):
    client = signed_in(app, "beta.specialist")
    before = _inbox(app, client, tab)

    _save_versions(app, VERSIONS)
    assert len(plugin_runtime.registry(app).versions(KEY)) == VERSIONS

    after = _inbox(app, client, tab)
    assert len(after) == len(before)
    # The same statements word for word: not one of alpha's 200 steps is a parameter here.
    assert after == before


def test_the_owning_municipality_sees_its_own_versions_steps(app):
    """The same measurement can tell: alpha's own inbox does take its versions' steps in."""
    client = signed_in(app, "alpha.specialist")
    before = _inbox(app, client, "mine")
    _save_versions(app, 3)
    assert _inbox(app, client, "mine") != before


def test_builder_services_are_not_visible_to_another_municipality(app, client):
    _save_versions(app, 2)
    client = signed_in(app, "beta.municipal_admin")
    assert KEY not in client.get("/admin/builder/").get_data(as_text=True)
    assert client.get(f"/admin/builder/{KEY}/edit").status_code == 404
    assert KEY not in client.get("/admin/services/").get_data(as_text=True)
    assert KEY not in client.get("/admin/plugins/").get_data(as_text=True)
    client = signed_in(app, "beta.specialist")
    inbox = client.get("/workspace/?tab=all").get_data(as_text=True)
    assert KEY not in inbox and "Market stall" not in inbox
    assert client.get(f"/workspace/?tab=all&service={KEY}").status_code in (200, 400)
    client = signed_in(app, "beta.clerk")
    assert client.get(f"/office/new/{KEY}").status_code == 404
    assert client.get(f"/api/v1/services/{KEY}/schema", headers=_bearer(client, "beta.clerk")).status_code == 404
    # Alpha's own staff do see it: the checks above can fail.
    assert client.get(f"/api/v1/services/{KEY}/schema", headers=_bearer(client, "alpha.clerk")).status_code == 200


def _bearer(client, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/security/login", json={"username": username, "password": PASSWORD, "provider": "db"}
    )
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}
