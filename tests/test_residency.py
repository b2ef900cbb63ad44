"""Verified residents (issue 11, point 1): verified at the office by a clerk of the municipality
or through a registry plug-in, renewed, revoked with a reason, expiring; every act audit-logged
with the kind of document and never its number; and the clerk's, the administrator's and the
citizen's screens."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
import types

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from app.domain import access
from app.domain.errors import HookFailed, NotAllowed
from app.domain.participation import residency, settlements
from app.extensions import db
from app.models import AuditEvent, User
from app.models.base import utcnow
from app.models.participation import Residency, Settlement
from app.models.portal import CitizenProfile
from app.sdk import ResidencyFinding, hookimpl
from app.testing import PASSWORD, actor_for, count_statements, login, make_citizen, seed_municipality

DOC_NUMBER = "AN0123456"


def _settlement(app, municipality: str, code: str, *, active: bool = True) -> int:
    with app.app_context():
        row = Settlement(
            municipality_id=app.seeded[municipality]["id"],
            code=code,
            name_hy=f"{code.title()} hy",
            name_en=code.title(),
            active=active,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


@pytest.fixture
def town(app):
    """Alpha with two settlements (one closed), beta with one, and a citizen."""
    return {
        "arinj": _settlement(app, "alpha", "arinj"),
        "closed": _settlement(app, "alpha", "closed", active=False),
        "beta_village": _settlement(app, "beta", "village"),
        "citizen": make_citizen(app, "anna@example.am", name="Anna Petrosyan"),
    }


def _user(app, municipality: str, role: str) -> int:
    return app.seeded[municipality]["users"][role]


def _verify(app, town, *, by=None, settlement=None, kind="passport", **more):
    alpha = app.seeded["alpha"]["id"]
    return residency.verify(
        db.session,
        actor_for(by or _user(app, "alpha", "clerk")),
        user_id=more.pop("user_id", town["citizen"]),
        municipality_id=more.pop("municipality_id", alpha),
        settlement_id=town["arinj"] if settlement is None else settlement,
        document_kind=kind,
        **more,
    )


def _counts() -> tuple[int, int]:
    residencies = db.session.execute(select(func.count()).select_from(Residency)).scalar_one()
    events = db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("residency.%"))
    ).scalar_one()
    return residencies, events


# -- the domain ---------------------------------------------------------------------------------


def test_verify_renew_revoke_and_expire(app, town):
    alpha = app.seeded["alpha"]["id"]
    citizen = town["citizen"]
    with app.app_context():
        assert not residency.is_resident(db.session, citizen, alpha)
        row = _verify(app, town, ip="203.0.113.9")
        db.session.commit()
        first_id, expires = row.id, row.expires_at
        assert row.method == "office" and row.document_kind == "passport"
        assert dt.timedelta(days=364) < expires - utcnow() <= dt.timedelta(days=365)
        assert residency.is_resident(db.session, citizen, alpha)
        assert residency.is_resident(db.session, citizen, alpha, settlement_ids=[town["arinj"]])
        assert not residency.is_resident(db.session, citizen, alpha, settlement_ids=[town["closed"]])
        assert not residency.is_resident(db.session, citizen, app.seeded["beta"]["id"])
        assert not residency.is_resident(db.session, citizen, alpha, at=expires + dt.timedelta(seconds=1))
        assert list(db.session.execute(residency.residents(db.session, alpha)).scalars()) == [citizen]
        assert list(db.session.execute(residency.residents(db.session, alpha, [town["closed"]])).scalars()) == []

        # Revoked: no longer a resident; the reason is kept.
        admin = actor_for(_user(app, "alpha", "municipal_admin"))
        residency.revoke(db.session, admin, first_id, reason="  Moved   to Yerevan ")
        db.session.commit()
        assert not residency.is_resident(db.session, citizen, alpha)
        assert db.session.get(Residency, first_id).revoke_reason == "Moved to Yerevan"
        with pytest.raises(residency.ResidencyRefused):
            residency.revoke(db.session, admin, first_id, reason="again")
        db.session.rollback()

        # Verifying again renews the one row and clears the revocation.
        later = utcnow() + dt.timedelta(days=100)
        renewed = _verify(app, town, kind="id_card", now=later)
        db.session.commit()
        assert renewed.id == first_id and renewed.revoked_at is None and renewed.revoke_reason is None
        assert renewed.document_kind == "id_card" and renewed.expires_at == later + dt.timedelta(days=365)
        assert [r.id for r in residency.of_citizen(db.session, citizen)] == [first_id]
        actions = db.session.execute(
            select(AuditEvent.action).where(AuditEvent.object_type == "residency").order_by(AuditEvent.id)
        ).scalars()
        assert list(actions) == ["residency.verify", "residency.revoke", "residency.renew"]


def test_expiry_follows_the_setting(app, town):
    app.config["HAMAYNK_RESIDENCY_VALID_DAYS"] = 30
    with app.app_context():
        now = utcnow()
        row = _verify(app, town, config=app.config, now=now)
        db.session.commit()
        assert row.expires_at == now + dt.timedelta(days=30)
        alpha = app.seeded["alpha"]["id"]
        assert residency.is_resident(db.session, town["citizen"], alpha, at=now + dt.timedelta(days=29))
        assert not residency.is_resident(db.session, town["citizen"], alpha, at=now + dt.timedelta(days=30))
    assert residency.valid_days({"HAMAYNK_RESIDENCY_VALID_DAYS": "nonsense"}) == 365
    assert residency.valid_days({"HAMAYNK_RESIDENCY_VALID_DAYS": 10**9}) == residency.MAX_VALID_DAYS


@pytest.mark.parametrize(
    "who", [("beta", "clerk"), ("beta", "municipal_admin"), ("alpha", "specialist"), ("alpha", "auditor")]
)
def test_only_a_clerk_or_admin_of_the_municipality_verifies(app, town, who):
    with app.app_context():
        with pytest.raises(NotAllowed):
            _verify(app, town, by=_user(app, *who))
        db.session.rollback()
        assert _counts() == (0, 0)


def test_the_system_admin_and_another_municipalitys_clerk_cannot_revoke(app, town):
    with app.app_context():
        row = _verify(app, town)
        db.session.commit()
        with pytest.raises(access.NotFound):
            residency.revoke(db.session, actor_for(_user(app, "beta", "clerk")), row.id, reason="x")
        with pytest.raises(NotAllowed):
            residency.revoke(db.session, actor_for(app.seeded["sysadmin"]), row.id, reason="x")
        with pytest.raises(NotAllowed):
            _verify(app, town, by=app.seeded["sysadmin"])
        db.session.rollback()
        assert db.session.get(Residency, row.id).revoked_at is None


def _staff_citizen(app) -> int:
    return _user(app, "alpha", "clerk")


@pytest.mark.parametrize(
    "change, field",
    [
        ({"settlement": "beta_village"}, "settlement"),  # another municipality's settlement
        ({"settlement": "closed"}, "settlement"),  # a deactivated one
        ({"settlement": 0}, "settlement"),
        ({"settlement": 2**70}, "settlement"),
        ({"settlement": True}, "settlement"),
        ({"settlement": "none"}, "settlement"),  # alpha has settlements: one must be chosen
        ({"kind": "passport number AN0123456"}, "document_kind"),
        ({"kind": ""}, "document_kind"),
        ({"kind": ["passport"]}, "document_kind"),
        ({"user": "staff"}, "person"),
        ({"user": "blocked"}, "person"),
        ({"user": 10**12}, "person"),
        ({"user": True}, "person"),
    ],
)
def test_bad_input_is_refused_by_name_and_changes_nothing(app, town, change, field):
    blocked = make_citizen(app, "blocked@example.am")
    with app.app_context():
        db.session.get(User, blocked).active = False
        db.session.commit()
        settlement = change.get("settlement")
        settlement_id = (
            {"none": None}.get(settlement, town.get(settlement, settlement)) if settlement is not None else None
        )
        user = change.get("user")
        user_id = {"staff": _staff_citizen(app), "blocked": blocked}.get(user, user) if user is not None else None
        kwargs = {"kind": change.get("kind", "passport")}
        if user_id is not None:
            kwargs["user_id"] = user_id
        with app.test_request_context("/?_l_=en"), pytest.raises(residency.ResidencyRefused) as refused:
            if settlement is not None and settlement_id is None:
                residency.verify(
                    db.session,
                    actor_for(_user(app, "alpha", "clerk")),
                    user_id=town["citizen"],
                    municipality_id=app.seeded["alpha"]["id"],
                    settlement_id=None,
                    document_kind="passport",
                )
            else:
                _verify(app, town, settlement=settlement_id, **kwargs)
        assert refused.value.field == field and str(refused.value)
        db.session.rollback()
        assert _counts() == (0, 0)


def test_a_municipality_without_settlements_verifies_without_one(app, town):
    gamma = seed_municipality(app, "gamma", "Gamma")
    with app.app_context():
        row = residency.verify(
            db.session,
            actor_for(gamma["users"]["clerk"]),
            user_id=town["citizen"],
            municipality_id=gamma["id"],
            settlement_id=None,
            document_kind="other",
        )
        db.session.commit()
        assert row.settlement_id is None and residency.is_resident(db.session, town["citizen"], gamma["id"])


@pytest.mark.parametrize("reason", ["", "   ", None, "x" * 501, ["why"]])
def test_revoking_needs_a_reason(app, town, reason):
    with app.app_context():
        row = _verify(app, town)
        db.session.commit()
        with app.test_request_context("/?_l_=en"), pytest.raises(residency.ResidencyRefused) as refused:
            residency.revoke(db.session, actor_for(_user(app, "alpha", "clerk")), row.id, reason=reason)
        assert refused.value.field == "reason"
        db.session.rollback()
        assert db.session.get(Residency, row.id).revoked_at is None


# -- the clerk's screen ---------------------------------------------------------------------------


def _audit_text(app) -> str:
    with app.app_context():
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.action.like("residency.%"))).scalars()
        return json.dumps([[e.action, e.object_type, e.object_id, e.details] for e in rows], ensure_ascii=False)


def _result_link(page: bytes, user_id: int) -> str:
    """The href of a search result's link to ``user_id``'s page (it carries the person token)."""
    match = re.search(rf'href="(/office/residents/person/{user_id}\?t=[^"]+)"', page.decode())
    assert match, "no link to the person in the search results"
    return html.unescape(match.group(1))


def _form_token(page: bytes) -> str:
    match = re.search(r'name="t" value="([^"]+)"', page.decode())
    assert match, "the verify form carries no person token"
    return html.unescape(match.group(1))


def test_the_clerk_finds_verifies_and_revokes_in_english(app, client, login_as, town):
    login_as("clerk")
    page = client.get("/office/residents/?_l_=en")
    assert page.status_code == 200 and b"Name, e-mail address or public service number" in page.data
    # Anna lives elsewhere so far: part of her name does not find her (it would list every
    # municipality's citizens to any clerk); the whole e-mail address she brings does.
    assert b"Anna" not in client.get("/office/residents/?q=Petros&_l_=en").data
    assert b"Type at least" in client.get("/office/residents/?q=ab&_l_=en").data
    found = client.get("/office/residents/?q=ANNA@example.am&_l_=en")
    assert found.status_code == 200 and b"Anna Petrosyan" in found.data and b"Not verified" in found.data

    # Anna has no residency here yet: her page opens through the search result's link only.
    person = f"/office/residents/person/{town['citizen']}"
    link = _result_link(found.data, town["citizen"])
    shown = client.get(f"{link}&_l_=en")
    assert shown.status_code == 200 and b">Arinj</option>" in shown.data and b">Closed</option>" not in shown.data
    assert b'<label for="document_kind"' in shown.data and b'<label for="settlement"' in shown.data
    token = _form_token(shown.data)

    # A forged settlement: refused on the page (which keeps the token), nothing written.
    refused = client.post(
        f"{person}/verify?_l_=en",
        data={"settlement_id": str(town["beta_village"]), "document_kind": "passport", "t": token},
    )
    assert refused.status_code == 400 and b"Choose a settlement from the list." in refused.data
    assert _form_token(refused.data) == token
    refused = client.post(
        f"{person}/verify?_l_=en", data={"settlement_id": "1e9", "document_kind": "passport", "t": token}
    )
    assert refused.status_code == 400

    # A number typed in anyway is neither kept nor logged. Resident now: no token needed after.
    done = client.post(
        f"{person}/verify?_l_=en",
        data={
            "settlement_id": str(town["arinj"]),
            "document_kind": "passport",
            "document_number": DOC_NUMBER,
            "t": token,
        },
    )
    assert done.status_code == 302
    shown = client.get(f"{person}?_l_=en")
    assert b"Verified" in shown.data and b"Passport" in shown.data and b"Revoke the residency" in shown.data
    # A resident now: part of her name finds her here.
    assert b"Anna Petrosyan" in client.get("/office/residents/?q=Petros&_l_=en").data

    no_reason = client.post(f"{person}/revoke?_l_=en", data={"reason": " "})
    assert no_reason.status_code == 400 and b"Say why the residency is revoked." in no_reason.data
    assert client.post(f"{person}/revoke?_l_=en", data={"reason": "Moved away"}).status_code == 302
    assert b"Moved away" in client.get(f"{person}?_l_=en").data

    logged = _audit_text(app)
    assert "residency.verify" in logged and "residency.revoke" in logged and '"document_kind": "passport"' in logged
    assert DOC_NUMBER not in logged
    with app.app_context():
        stored = db.session.execute(select(Residency)).scalar_one()
        assert DOC_NUMBER not in json.dumps([str(getattr(stored, c.key)) for c in Residency.__table__.columns])


def test_the_search_page_costs_the_same_for_one_citizen_or_many(app, client, login_as, town):
    for number in range(6):
        make_citizen(app, f"petros{number}@example.am", name=f"Aram Petrosyan{number}")
    login_as("clerk")
    with app.app_context():
        for user_id in db.session.execute(select(User.id).where(User.email.like("petros%"))).scalars():
            _verify(app, town, user_id=user_id)
        db.session.commit()
    client.get("/office/residents/?q=Petrosyan0")  # warm caches

    def one():
        assert b"Aram Petrosyan0" in client.get("/office/residents/?q=Petrosyan0").data

    def many():
        assert b"Petrosyan5" in client.get("/office/residents/?q=Petrosyan").data

    assert count_statements(app, one) == count_statements(app, many)


@pytest.mark.parametrize("role", ["specialist", "head", "auditor", "citizen"])
def test_others_do_not_reach_the_residents_screen(app, client, login_as, town, role):
    login_as(role)
    assert client.get("/office/residents/").status_code in (302, 403)
    response = client.post(
        f"/office/residents/person/{town['citizen']}/verify",
        data={"settlement_id": str(town["arinj"]), "document_kind": "passport"},
    )
    assert response.status_code in (302, 403)
    with app.app_context():
        assert _counts() == (0, 0)


def test_another_municipalitys_clerk_gets_not_found_for_a_staff_account(app, client, login_as, town):
    login_as("clerk", "beta")
    staff_id = _user(app, "alpha", "clerk")
    assert client.get(f"/office/residents/person/{staff_id}").status_code == 404
    # The citizen is found by a search (people move between communities), and only beta's
    # residency is shown; by id alone they are not (no link to beta).
    assert client.get(f"/office/residents/person/{town['citizen']}").status_code == 404
    found = client.get("/office/residents/?q=anna@example.am")
    assert client.get(_result_link(found.data, town["citizen"])).status_code == 200
    assert client.post(f"/office/residents/person/{town['citizen']}/revoke", data={"reason": "x"}).status_code == 404


# -- who a clerk may look at: a resident here, or a person a search found ------------------------


def _page(response, user_id: int) -> str:
    # All that differs between the answers for two ids: the script nonce, and the address
    # (with the id) the language switch comes back to.
    text = re.sub(r'nonce="[^"]*"', "", response.get_data(as_text=True))
    return text.replace(f"person%2F{user_id}", "person%2FID")


def test_counting_up_the_id_shows_no_one_without_a_link_here(app, client, login_as, town):
    """The stranger walk's finding: /person/<id> listed every citizen's name and e-mail."""
    stranger = make_citizen(app, "stranger@example.am", name="Secret Stranger")
    login_as("clerk")
    missing = client.get("/office/residents/person/999999")
    assert missing.status_code == 404
    for person in (stranger, town["citizen"]):
        shown = client.get(f"/office/residents/person/{person}")
        assert (shown.status_code, _page(shown, person)) == (404, _page(missing, 999999))
        posted = client.post(
            f"/office/residents/person/{person}/verify",
            data={"settlement_id": str(town["arinj"]), "document_kind": "passport"},
        )
        assert posted.status_code == 404
    assert "Secret Stranger" not in missing.get_data(as_text=True)
    with app.app_context():
        assert _counts() == (0, 0)
        # The same one read answers a forged id and a person with no link (nothing to time).
        clerk = actor_for(_user(app, "alpha", "clerk"))
        alpha = app.seeded["alpha"]["id"]

        def ask(user_id):
            def run():
                with pytest.raises(access.NotFound):
                    residency.citizen(db.session, clerk, alpha, user_id)

            return run

        assert count_statements(app, ask(999999)) == count_statements(app, ask(stranger)) == 1


def test_a_search_link_opens_the_page_and_a_bad_token_does_not(app, client, login_as, town):
    secret = app.config["SECRET_KEY"]
    alpha = app.seeded["alpha"]["id"]
    clerk, admin = _user(app, "alpha", "clerk"), _user(app, "alpha", "municipal_admin")
    other = make_citizen(app, "other@example.am", name="Other Person")
    login_as("clerk")
    found = client.get("/office/residents/?q=anna@example.am")
    link = _result_link(found.data, town["citizen"])
    assert client.get(link).status_code == 200

    class Earlier(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - residency.PERSON_TOKEN_HOURS * 3600 - 60

    claims = {"c": clerk, "u": town["citizen"], "m": alpha}
    good = residency.person_token(secret, clerk_user_id=clerk, person_user_id=town["citizen"], municipality_id=alpha)
    bad = {
        "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "forged": URLSafeTimedSerializer("not the secret", salt=residency.PERSON_SALT).dumps(claims),
        "other salt": URLSafeTimedSerializer(secret, salt="hamaynk.office-ballot-booth").dumps(claims),
        "expired": URLSafeTimedSerializer(secret, salt=residency.PERSON_SALT, signer=Earlier).dumps(claims),
        "other clerk": residency.person_token(
            secret, clerk_user_id=admin, person_user_id=town["citizen"], municipality_id=alpha
        ),
        "other person": residency.person_token(
            secret, clerk_user_id=clerk, person_user_id=other, municipality_id=alpha
        ),
        "other municipality": residency.person_token(
            secret, clerk_user_id=clerk, person_user_id=town["citizen"], municipality_id=app.seeded["beta"]["id"]
        ),
        "too long": "x" * (residency.MAX_TOKEN + 1),
    }
    person = f"/office/residents/person/{town['citizen']}"
    assert client.get(person, query_string={"t": good}).status_code == 200
    for name, token in bad.items():
        assert client.get(person, query_string={"t": token}).status_code == 404, name
        # The verify POST obeys the same rule.
        posted = client.post(
            f"{person}/verify", data={"settlement_id": str(town["arinj"]), "document_kind": "passport", "t": token}
        )
        assert posted.status_code == 404, name
    with app.app_context():
        assert _counts() == (0, 0)
    # The municipal administrator's own search link is theirs; the clerk's does not open for them.
    login_as("municipal_admin")
    assert client.get(link).status_code == 404
    found = client.get("/office/residents/?q=anna@example.am")
    assert client.get(_result_link(found.data, town["citizen"])).status_code == 200


def test_a_resident_or_former_resident_opens_without_a_token(app, client, login_as, town):
    with app.app_context():
        row = _verify(app, town)
        db.session.commit()
        row_id = row.id
    login_as("clerk")
    person = f"/office/residents/person/{town['citizen']}"
    assert b"Anna Petrosyan" in client.get(person).data
    assert client.post(f"{person}/revoke", data={"reason": "Moved away"}).status_code == 302
    # Revoked: they *held* a residency here, so the page (and verifying again) stays open.
    assert client.get(person).status_code == 200
    again = client.post(f"{person}/verify", data={"settlement_id": str(town["arinj"]), "document_kind": "passport"})
    assert again.status_code == 302
    with app.app_context():
        assert db.session.get(Residency, row_id).revoked_at is None
    # Another municipality's clerk: no link to beta, so not without a search.
    login_as("clerk", "beta")
    assert client.get(person).status_code == 404


# -- the administrator's settlements ----------------------------------------------------------------


def test_the_municipal_admin_keeps_the_settlements(app, client, login_as, town):
    login_as("municipal_admin")
    listing = client.get("/admin/settlements/?_l_=en")
    assert listing.status_code == 200 and b"Arinj hy" in listing.data and b"Village hy" not in listing.data
    added = client.post("/admin/settlements/add", data={"code": "Yeghvard", "name_hy": "Եղվարդ", "name_en": "Yeghvard"})
    assert added.status_code == 302
    twice = client.post("/admin/settlements/add?_l_=en", data={"code": "yeghvard", "name_hy": "Եղվարդ"})
    assert twice.status_code == 400 and b"Another settlement of the municipality has this code." in twice.data
    bad = client.post("/admin/settlements/add?_l_=en", data={"code": "<script>", "name_hy": ""})
    assert bad.status_code == 400 and b"Enter the name in Armenian." in bad.data
    with app.app_context():
        new_id = db.session.execute(select(Settlement.id).where(Settlement.code == "yeghvard")).scalar_one()
    assert (
        client.post(
            f"/admin/settlements/edit/{new_id}", data={"code": "yeghvard", "name_hy": "Եղվարդ քաղաք"}
        ).status_code
        == 302
    )
    assert client.post(f"/admin/settlements/active/{new_id}", data={"active": "0"}).status_code == 302
    with app.app_context():
        row = db.session.get(Settlement, new_id)
        assert row.name_hy == "Եղվարդ քաղաք" and row.active is False
        actions = db.session.execute(
            select(AuditEvent.action).where(AuditEvent.object_type == "settlement").order_by(AuditEvent.id)
        ).scalars()
        assert list(actions) == ["settlement.create", "settlement.update", "settlement.deactivate"]
    # Another municipality's settlement is not found, and the clerk does not reach the screen.
    assert client.get(f"/admin/settlements/edit/{town['beta_village']}").status_code == 404
    assert client.post(f"/admin/settlements/active/{town['beta_village']}", data={"active": "0"}).status_code == 404
    login_as("clerk")
    assert client.get("/admin/settlements/").status_code in (302, 403)
    with app.app_context():
        assert db.session.get(Settlement, town["beta_village"]).active is True


def test_settlement_input_is_cleaned():
    with pytest.raises(settlements.InvalidSettlement) as invalid:
        settlements.clean({"code": "a b", "name_hy": "x" * 201, "name_en": ["list"]})
    assert set(invalid.value.errors) == {"code", "name_hy"}
    assert settlements.clean({"code": " Arinj ", "name_hy": " Առինջ "}).code == "arinj"


# -- a registry plug-in ------------------------------------------------------------------------------


def _registry_app(hamaynk_app_factory, answer):
    module = types.ModuleType("population_registry")
    module.residency_from_registry = hookimpl(answer)
    silent = types.ModuleType("aaa_silent")
    silent.residency_from_registry = hookimpl(lambda psn: None)  # a subset of the arguments
    app = hamaynk_app_factory(plugins=[module, silent])
    app.seeded = {"alpha": seed_municipality(app, "alpha", "Alpha")}
    _settlement(app, "alpha", "arinj")
    citizen = make_citizen(app, "vardan@example.am", name="Vardan Hakobyan")
    with app.app_context():
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == citizen)).scalar_one()
        profile.psn, profile.identity_verified_at, profile.identity_provider = "1234567890", utcnow(), "e-id"
        db.session.commit()
    return app, citizen


def test_hook_residency_from_registry(hamaynk_app_factory):
    calls = []

    def registry(psn, municipality_code):
        calls.append((psn, municipality_code))
        return ResidencyFinding(settlement_code="arinj", valid_days=30) if psn == "1234567890" else None

    app, citizen = _registry_app(hamaynk_app_factory, registry)
    from app.plugins import runtime as plugin_runtime

    with app.app_context():
        host = plugin_runtime.host(app)
        assert residency.registry_available(host)
        now = utcnow()
        row = residency.verify_from_registry(
            db.session, host, actor_for(citizen), municipality_id=app.seeded["alpha"]["id"], config=app.config, now=now
        )
        db.session.commit()
        assert row.method == "provider:population_registry" and row.document_kind is None
        assert row.expires_at == now + dt.timedelta(days=30) and row.verified_by_id == citizen
        assert db.session.get(Settlement, row.settlement_id).code == "arinj"
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "residency.verify")).scalar_one()
        assert event.details["method"] == "provider:population_registry" and event.actor_id == citizen
    assert calls == [("1234567890", "alpha")]

    # Through the account page: the button, then a renewal.
    client = app.test_client()
    login(client, "vardan@example.am", PASSWORD)
    page = client.get("/account/profile?_l_=en")
    assert b"Verify my residency" in page.data and b"valid until" in page.data
    done = client.post("/account/residency?_l_=en", data={"municipality_id": str(app.seeded["alpha"]["id"])})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Residency)).scalar_one() == 1
        assert (
            db.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "residency.renew")
            ).scalar_one()
            == 1
        )
    assert client.post("/account/residency", data={"municipality_id": "999999"}).status_code == 303
    assert client.post("/account/residency", data={"municipality_id": "<x>"}).status_code == 303


def test_the_registry_not_listing_a_person_or_answering_nonsense_changes_nothing(hamaynk_app_factory):
    answers = {"value": None}
    app, citizen = _registry_app(hamaynk_app_factory, lambda psn, municipality_code: answers["value"])
    from app.plugins import runtime as plugin_runtime

    alpha = app.seeded["alpha"]["id"]
    with app.test_request_context("/?_l_=en"):
        host = plugin_runtime.host(app)
        with pytest.raises(residency.ResidencyRefused, match="does not list you"):
            residency.verify_from_registry(db.session, host, actor_for(citizen), municipality_id=alpha)
        answers["value"] = ResidencyFinding(settlement_code="atlantis")
        with pytest.raises(residency.ResidencyRefused, match="does not list"):
            residency.verify_from_registry(db.session, host, actor_for(citizen), municipality_id=alpha)
        answers["value"] = ResidencyFinding(settlement_code=None)
        with pytest.raises(residency.ResidencyRefused, match="in which settlement"):
            residency.verify_from_registry(db.session, host, actor_for(citizen), municipality_id=alpha)
        for nonsense in ({"settlement_code": "arinj"}, ResidencyFinding("arinj", valid_days=0)):
            answers["value"] = nonsense
            with pytest.raises(HookFailed, match="population_registry"):
                residency.verify_from_registry(db.session, host, actor_for(citizen), municipality_id=alpha)
        db.session.rollback()
        assert db.session.execute(select(func.count()).select_from(Residency)).scalar_one() == 0
    # The account page says to try later; nothing is written.
    client = app.test_client()
    login(client, "vardan@example.am", PASSWORD)
    response = client.post("/account/residency?_l_=en", data={"municipality_id": str(alpha)}, follow_redirects=True)
    assert b"cannot be reached now" in response.data


def test_an_unconfirmed_identity_is_not_sent_to_the_registry(hamaynk_app_factory):
    calls = []
    app, citizen = _registry_app(hamaynk_app_factory, lambda psn, municipality_code: calls.append(psn))
    from app.plugins import runtime as plugin_runtime

    with app.app_context():
        profile = db.session.execute(select(CitizenProfile).where(CitizenProfile.user_id == citizen)).scalar_one()
        profile.identity_verified_at = None  # a number typed into the profile proves nothing
        db.session.commit()
    with app.test_request_context("/?_l_=en"):
        with pytest.raises(residency.ResidencyRefused, match="identity provider"):
            residency.verify_from_registry(
                db.session, plugin_runtime.host(app), actor_for(citizen), municipality_id=app.seeded["alpha"]["id"]
            )
        staff = seed_municipality(app, "beta")["users"]["clerk"]
        with pytest.raises(NotAllowed):
            residency.verify_from_registry(
                db.session, plugin_runtime.host(app), actor_for(staff), municipality_id=app.seeded["alpha"]["id"]
            )
    assert calls == []


def test_the_account_page_lists_residencies_without_a_registry(app, client, town):
    with app.app_context():
        _verify(app, town)
        db.session.commit()
    login(client, "anna@example.am", PASSWORD)
    page = client.get("/account/profile?_l_=en")
    assert page.status_code == 200
    assert b"Alpha" in page.data and b"Arinj" in page.data and b"Verified at the office (Passport)" in page.data
    assert b"Verify my residency" not in page.data  # no registry plug-in here
