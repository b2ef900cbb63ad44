"""Public verification of issued documents (app.domain.verification, app.portal.verify): the
original verifies and a tampered copy does not; a revoked document says so with the date and
the reason, a superseded one names the document in its place; the holder shows as initials
only; malformed and unknown codes get one and the same answer; a thousand guessed codes find
nothing and are stopped by the rate limit with a page in the reader's language."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from issued_kit import issue_directly, supersede
from sqlalchemy import select

from app.domain import access, issuing, verification
from app.domain.errors import NotAllowed
from app.extensions import db
from app.models import Application, AuditEvent, IssuedDocument
from app.plugins import runtime as plugin_runtime
from app.testing import SAMPLE_PHONE, SAMPLE_PSN, actor_for, add_staff, apply

HOLDER = "Աննա Պետրոսյան"
INITIALS = "Ա. Պ."
ADDRESS = "Գաղտնի փողոց 12"


@pytest.fixture
def filed(app):
    return apply(
        app,
        "residence-certificate",
        applicant_name=HOLDER,
        data={"address": ADDRESS, "purpose": "bank", "copies": "1"},
    )


@pytest.fixture
def issued(app, filed):
    return issue_directly(app, filed.id)


def text(response) -> str:
    return response.get_data(as_text=True)


def visit(client, code: str, address: str = "203.0.113.5", lang: str = "en"):
    return client.get(f"/verify/{code}?_l_={lang}", environ_base={"REMOTE_ADDR": address})


def upload(client, code: str, content: bytes, address: str = "203.0.113.5", name: str = "copy.pdf"):
    return client.post(
        f"/verify/{code}?_l_=en",
        data={"copy": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
        environ_base={"REMOTE_ADDR": address},
    )


def assert_nothing_personal(page: str) -> None:
    for leak in (HOLDER, "Աննա", "Պետրոսյան", SAMPLE_PSN, SAMPLE_PHONE, ADDRESS):
        assert leak not in page, leak


def head(app, municipality: str = "alpha"):
    return actor_for(app.seeded[municipality]["users"]["head"])


# -- the page ------------------------------------------------------------------------------------


def test_the_original_verifies_and_shows_only_the_holders_initials(app, client, issued, filed):
    response = visit(client, issued.printed)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = text(response)
    assert 'data-status="valid"' in page and "Valid" in page and "is in force" in page
    assert "Alpha" in page  # the issuer
    assert "Certificate of residence" in page  # the service, in the reader's language
    assert issued.number in page and issued.sha256 in page and issued.printed in page
    assert INITIALS in page
    assert_nothing_personal(page)

    checked = upload(client, issued.printed, issued.content)
    assert checked.status_code == 200
    assert 'data-result="match"' in text(checked) and "byte-for-byte identical" in text(checked)
    assert_nothing_personal(text(checked))


def test_a_tampered_copy_does_not_match(app, client, issued):
    tampered = bytearray(issued.content)
    tampered[len(tampered) // 2] ^= 0x01
    for copy in (bytes(tampered), issued.content + b"\n", issued.content[:-1], b"%PDF-1.4 another"):
        response = upload(client, issued.printed, copy)
        assert response.status_code == 200
        assert 'data-result="mismatch"' in text(response) and "does NOT match" in text(response)
    with app.app_context():
        assert verification.check_copy(db.session, issued.printed, io.BytesIO(issued.content)) is True
        assert verification.check_copy(db.session, issued.code.lower(), io.BytesIO(bytes(tampered))) is False


def test_an_upload_without_a_file_or_too_large_is_refused_with_a_message(app, client, issued, monkeypatch):
    empty = client.post(f"/verify/{issued.printed}?_l_=en", data={}, environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert empty.status_code == 400 and "Choose the file to check" in text(empty)
    monkeypatch.setattr(verification, "MAX_COPY_BYTES", 1000)
    big = upload(client, issued.printed, b"%PDF" + b"0" * 5000, address="198.51.100.1")
    assert big.status_code == 413 and "nothing was checked" in text(big)
    assert 'data-result="' not in text(big)


def test_the_domain_view_has_the_public_facts_and_nothing_else(app, issued, filed):
    with app.test_request_context("/?_l_=en"):
        found = verification.find(db.session, issued.printed.lower(), registry=plugin_runtime.registry(), locale="en")
        assert found is not None
        assert (found.code, found.number, found.sha256) == (issued.printed, issued.number, issued.sha256)
        assert found.municipality == "Alpha" and found.holder_initials == INITIALS
        assert found.status == "valid" and found.successor_code is None and found.revoked_on is None
        assert found.service_title.startswith("Certificate of residence")
        with pytest.raises(dataclasses.FrozenInstanceError):
            found.status = "revoked"  # type: ignore[misc]
        assert verification.find(db.session, issuing.format_code(issuing.new_code())) is None


def test_a_typed_code_in_any_form_reaches_the_printed_address(client, issued):
    for typed in (issued.code.lower(), issued.code, f" {issued.printed.lower()} ", issued.printed.replace("-", " ")):
        response = client.get("/verify/", query_string={"code": typed})
        assert response.status_code == 303 and response.headers["Location"].endswith(f"/verify/{issued.printed}")
    # In the address itself: one canonical address per document.
    loose = visit(client, issued.code.lower())
    assert loose.status_code == 301 and loose.headers["Location"].endswith(f"/verify/{issued.printed}")


def test_the_form_explains_a_malformed_code(client):
    form = client.get("/verify/?_l_=en")
    assert form.status_code == 200 and 'name="code"' in text(form)
    empty = client.get("/verify/?_l_=en&code=")
    assert empty.status_code == 400 and "Enter the verification code" in text(empty)
    for bad in (
        "12345",
        "K7QM-3XZP-9D2H-T4W!",
        "K7QM-3XZP-9D2H-T4WAX",
        "<script>alert(1)</script>",
        "Ա" * 16,
        "x" * 500,
    ):
        response = client.get("/verify/", query_string={"code": bad, "_l_": "en"})
        assert response.status_code == 400, bad
        assert "This is not a verification code" in text(response)
        assert "<script>alert(1)</script>" not in text(response)


def _not_found_body(response) -> str:
    # The language links repeat the address asked for; that is the reader's own input.
    return re.sub(r'href="/lang/[^"]*"', "", text(response))


def test_malformed_and_unknown_codes_get_the_same_not_found_page(client, issued):
    unknown = visit(client, issuing.format_code(issuing.new_code()), address="198.51.100.2")
    assert unknown.status_code == 404 and "No document issued through this system has this verification code" in text(
        unknown
    )
    reference = _not_found_body(unknown)
    for bad in ("abc", "K7QM-3XZP-9D2H-T4W!", "%3Cscript%3E", "0" * 17, "%D4%B1" * 16, "x" * 300):
        response = visit(client, bad, address="198.51.100.2")
        assert response.status_code == 404, bad
        assert _not_found_body(response) == reference, bad
    assert issued.number not in reference
    # A control character in the address never reaches the page: the input layer (app.cleaning)
    # answers the site's own "Not found", which says nothing of any document either.
    control = visit(client, "%00", address="198.51.100.2")
    assert control.status_code == 404
    page = text(control)
    assert "<title>Not found" in page and "There is nothing at this address, or you may not see it." in page
    assert issued.number not in page and issued.sha256 not in page and INITIALS not in page


def test_a_thousand_random_codes_reveal_nothing_and_are_rate_limited(app, client, issued):
    per_minute = int(app.config["HAMAYNK_LIMIT_VERIFY"].split()[0])  # "20 per minute; ..."
    seen: list[int] = []
    bodies: set[str] = set()
    for _attempt in range(1000):
        response = visit(client, issuing.format_code(issuing.new_code()), address="192.0.2.66", lang="hy")
        seen.append(response.status_code)
        page = text(response)
        assert issued.number not in page and issued.sha256 not in page and INITIALS not in page
        if response.status_code == 404:
            bodies.add(_not_found_body(response))
    assert seen[:per_minute] == [404] * per_minute
    assert set(seen[per_minute:]) == {429}
    assert len(bodies) == 1  # every miss the same page
    # Stopped: also the right code, from that address, with a page in the reader's language.
    stopped = visit(client, issued.printed, address="192.0.2.66", lang="hy")
    assert stopped.status_code == 429 and "Retry-After" in stopped.headers
    assert '<html lang="hy">' in text(stopped)
    assert "Կարճ ժամանակահատվածում չափազանց շատ հարցումներ" in text(stopped)
    assert issued.number not in text(stopped)
    # Checking a file counts too.
    assert upload(client, issued.printed, issued.content, address="192.0.2.66").status_code == 429
    # Other readers are not held up.
    assert visit(client, issued.printed, address="192.0.2.67").status_code == 200


def test_the_form_itself_is_not_limited(app, client):
    for _attempt in range(30):
        assert client.get("/verify/", environ_base={"REMOTE_ADDR": "192.0.2.90"}).status_code == 200


# -- revoked and superseded ----------------------------------------------------------------------


def test_a_revoked_document_shows_revoked_with_date_and_reason(app, client, issued):
    reason = "Տրվել է սխալմամբ՝ հասցեն սխալ էր"
    with app.app_context():
        document = db.session.get(IssuedDocument, issued.id)
        verification.revoke(db.session, document, head(app), f"  {reason}  ", ip="192.0.2.1")
        db.session.commit()
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "issued_document.revoke")).scalar_one()
        assert event.object_id == str(issued.id) and event.details["reason"] == reason
        assert event.municipality_id == app.seeded["alpha"]["id"] and event.ip == "192.0.2.1"
        document = db.session.get(IssuedDocument, issued.id)
        assert document.status == "revoked" and document.revoke_reason == reason
        assert document.revoked_by_id == app.seeded["alpha"]["users"]["head"] and document.revoked_at is not None
        revoked_on = verification.find(db.session, issued.code).revoked_on
    response = visit(client, issued.printed)
    page = text(response)
    assert response.status_code == 200 and 'data-status="revoked"' in page
    assert "Revoked" in page and "no longer in force" in page
    assert reason in page
    from babel.dates import format_date

    assert format_date(revoked_on, format="long", locale="en") in page
    # A byte-identical copy of a revoked document is still identical, and the page says mind the status.
    checked = text(upload(client, issued.printed, issued.content))
    assert 'data-result="match"' in checked and "no longer in force" in checked


def test_revoking_takes_the_head_of_the_municipality_and_a_reason(app, issued):
    alpha = app.seeded["alpha"]
    with app.app_context():
        document = db.session.get(IssuedDocument, issued.id)
        for user_id in (
            alpha["users"]["specialist"],
            alpha["users"]["clerk"],
            alpha["users"]["municipal_admin"],
            app.seeded["beta"]["users"]["head"],
            app.seeded["sysadmin"],
        ):
            with pytest.raises(NotAllowed):
                verification.revoke(db.session, document, actor_for(user_id), "reason")
        with pytest.raises(NotAllowed):
            verification.revoke(db.session, document, None, "reason")
        for empty in (None, "", "   ", 42):
            with pytest.raises(verification.ReasonMissing):
                verification.revoke(db.session, document, head(app), empty)
        with pytest.raises(verification.InvalidAction):
            verification.revoke(db.session, document, head(app), "x" * (verification.MAX_REASON + 1))
        with pytest.raises(verification.InvalidAction):
            verification.revoke(db.session, document, head(app), "bad\x00text")
        db.session.rollback()
        assert db.session.get(IssuedDocument, issued.id).status == "valid"
        verification.revoke(db.session, document, head(app), "first")
        db.session.commit()
        with pytest.raises(verification.AlreadyRevoked):
            verification.revoke(db.session, db.session.get(IssuedDocument, issued.id), head(app), "second")
        db.session.rollback()
        assert db.session.get(IssuedDocument, issued.id).revoke_reason == "first"
        assert (
            len(
                db.session.execute(select(AuditEvent).where(AuditEvent.action == "issued_document.revoke"))
                .scalars()
                .all()
            )
            == 1
        )


def test_two_revocations_at_once_one_wins(app, issued):
    """The second head loaded the document while it was still valid: the conditional update
    changes nothing, and it is told the document is already revoked."""
    with app.app_context():
        stale = db.session.get(IssuedDocument, issued.id)
        db.session.execute(
            IssuedDocument.__table__.update()
            .where(IssuedDocument.id == issued.id)
            .values(status="revoked", revoke_reason="the first head")
        )
        # The stale object still says valid; the revocation must not overwrite the first.
        assert stale.status == "valid"
        with pytest.raises(verification.AlreadyRevoked):
            verification.revoke(db.session, stale, head(app), "the second head")
        db.session.commit()
        assert db.session.get(IssuedDocument, issued.id).revoke_reason == "the first head"


def test_a_superseded_document_names_the_one_in_its_place(app, client, filed, issued):
    newer = issue_directly(app, filed.id)
    supersede(app, issued, newer)
    old_page = text(visit(client, issued.printed))
    assert 'data-status="superseded"' in old_page and "Superseded" in old_page
    assert newer.printed in old_page and f'href="/verify/{newer.printed}"' in old_page
    new_page = text(visit(client, newer.printed))
    assert 'data-status="valid"' in new_page and issued.printed not in new_page
    # The old file is still the old file: identical to what was issued under the old code only.
    assert 'data-result="match"' in text(upload(client, issued.printed, issued.content))
    assert 'data-result="mismatch"' in text(upload(client, newer.printed, issued.content))
    with app.app_context(), pytest.raises(verification.NotInForce):
        verification.revoke(db.session, db.session.get(IssuedDocument, issued.id), head(app), "x")


def test_the_lookup_crosses_municipalities_only_by_code(app, client):
    """A beta document verifies for anyone; staff of alpha still cannot reach beta's case."""
    beta = apply(app, "residence-certificate", municipality="beta", applicant_name="Բետա Բնակիչ")
    document = issue_directly(app, beta.id)
    assert visit(client, document.printed).status_code == 200
    with app.app_context():
        application = db.session.get(Application, beta.id)
        with pytest.raises(access.NotFound):
            access.get_application(db.session, head(app), application.id)
        with pytest.raises(access.NotFound):
            issuing.get_document(
                db.session, actor_for(app.seeded["beta"]["users"]["head"]), application.id, document.id + 1000
            )


def test_a_staff_member_added_later_as_head_may_revoke(app, issued):
    alpha = app.seeded["alpha"]
    second = add_staff(app, alpha, "second.head", roles=["Head"], department="urban_planning")
    with app.app_context():
        document = db.session.get(IssuedDocument, issued.id)
        verification.revoke(db.session, document, actor_for(second), "wrong")
        db.session.commit()
        assert db.session.get(IssuedDocument, issued.id).revoked_by_id == second
