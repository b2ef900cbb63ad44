"""Who may act on an application, as app.domain.access answers it for every channel: file for
a municipality, submit a draft, speak for the applicant, read personal data."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.domain import access, casefile, channels, intake, workflow
from app.domain.access import Actor
from app.domain.roles import AUDITOR, CITIZEN, CLERK, SPECIALIST, SYSTEM_ADMIN
from app.extensions import db
from app.models import Application, User
from app.plugins import runtime as plugin_runtime
from app.testing import actor_for, apply, enable_service, file_application

ALPHA, BETA = 1, 2
CITIZEN_ID = 50


def person(user_id: int, *role_names: str, municipality_id: int | None = ALPHA, active: bool = True) -> Actor:
    return Actor(user_id, frozenset(role_names), active, municipality_id, None)


def filed(*, created_by_id: int = 10, applicant_user_id: int | None = None) -> Application:
    return Application(municipality_id=ALPHA, created_by_id=created_by_id, applicant_user_id=applicant_user_id)


CLERK_OF_ALPHA = person(10, CLERK)
OTHER_CLERK_OF_ALPHA = person(11, CLERK)
SPECIALIST_OF_ALPHA = person(12, SPECIALIST)
AUDITOR_OF_ALPHA = person(13, AUDITOR)
CLERK_OF_BETA = person(20, CLERK, municipality_id=BETA)
SYSADMIN = person(30, SYSTEM_ADMIN, municipality_id=None)
THE_CITIZEN = person(CITIZEN_ID, CITIZEN, municipality_id=None)


def test_acting_takes_active_staff_of_the_municipality_itself():
    assert access.staff_of(SPECIALIST_OF_ALPHA, ALPHA)
    assert not access.staff_of(CLERK_OF_BETA, ALPHA)
    assert not access.staff_of(person(12, SPECIALIST, active=False), ALPHA)
    # Seeing every municipality is not working for one.
    assert not access.staff_of(SYSADMIN, ALPHA) and not access.staff_of(None, ALPHA)
    assert access.same_municipality(AUDITOR_OF_ALPHA, filed())
    assert not access.caseworker_of(AUDITOR_OF_ALPHA, ALPHA)


def test_staff_file_for_their_own_municipality_and_citizens_for_themselves_online():
    for channel in (channels.OFFICE, channels.API):
        assert access.may_file_for(CLERK_OF_ALPHA, ALPHA, channel)
        assert access.may_file_for(SPECIALIST_OF_ALPHA, ALPHA, channel)
        assert not access.may_file_for(CLERK_OF_BETA, ALPHA, channel)
        assert not access.may_file_for(AUDITOR_OF_ALPHA, ALPHA, channel)
        assert not access.may_file_for(THE_CITIZEN, ALPHA, channel)
    assert access.may_file_for(THE_CITIZEN, BETA, channels.ONLINE)
    # Online is the citizen's own channel: staff and administrators file at the office or the API.
    for staff in (SPECIALIST_OF_ALPHA, AUDITOR_OF_ALPHA, SYSADMIN):
        assert not access.may_file_for(staff, ALPHA, channels.ONLINE), staff
    assert not access.may_file_for(person(CITIZEN_ID, CITIZEN, municipality_id=None, active=False), BETA, "online")
    with pytest.raises(ValueError, match="unknown channel"):
        access.may_file_for(CLERK_OF_ALPHA, ALPHA, "fax")


def test_a_draft_is_submitted_by_its_applicant_or_the_municipalitys_caseworkers():
    own = filed(created_by_id=CITIZEN_ID, applicant_user_id=CITIZEN_ID)
    assert access.may_submit(THE_CITIZEN, own)
    assert access.may_submit(SPECIALIST_OF_ALPHA, own)
    assert not access.may_submit(AUDITOR_OF_ALPHA, own)
    assert not access.may_submit(CLERK_OF_BETA, own)
    assert not access.may_submit(person(CITIZEN_ID + 1, CITIZEN, municipality_id=None), own)


def test_the_applicant_is_spoken_for_by_themselves_whoever_filed_and_the_front_office():
    at_the_office = filed(created_by_id=CLERK_OF_ALPHA.user_id)
    assert access.speaks_for_applicant(CLERK_OF_ALPHA, at_the_office)
    assert access.speaks_for_applicant(OTHER_CLERK_OF_ALPHA, at_the_office)
    assert not access.speaks_for_applicant(SPECIALIST_OF_ALPHA, at_the_office)
    assert not access.speaks_for_applicant(CLERK_OF_BETA, at_the_office)
    online = filed(created_by_id=CITIZEN_ID, applicant_user_id=CITIZEN_ID)
    assert access.speaks_for_applicant(THE_CITIZEN, online)
    assert not access.speaks_for_applicant(person(CITIZEN_ID, CITIZEN, municipality_id=None, active=False), online)


def test_who_filed_counts_as_the_applicant_only_while_a_caseworker_of_the_municipality():
    at_the_office = filed(created_by_id=CLERK_OF_ALPHA.user_id)
    assert access.is_applicant(CLERK_OF_ALPHA, at_the_office)
    # The same person later made an auditor, or moved to another municipality.
    for former in (
        person(CLERK_OF_ALPHA.user_id, AUDITOR),
        person(CLERK_OF_ALPHA.user_id, CLERK, municipality_id=BETA),
    ):
        assert not access.is_applicant(former, at_the_office), former
        assert not access.speaks_for_applicant(former, at_the_office), former
    # The citizen it was filed for stays its applicant.
    for_a_citizen = filed(created_by_id=CLERK_OF_ALPHA.user_id, applicant_user_id=CITIZEN_ID)
    assert access.is_applicant(THE_CITIZEN, for_a_citizen)


def test_personal_data_is_for_the_municipalitys_caseworkers():
    application = filed()
    assert access.may_see_personal_data(CLERK_OF_ALPHA, application)
    assert access.may_see_personal_data(SPECIALIST_OF_ALPHA, application)
    for reader in (AUDITOR_OF_ALPHA, CLERK_OF_BETA, SYSADMIN, person(12, SPECIALIST, active=False), None):
        assert not access.may_see_personal_data(reader, application), reader


def test_returning_applicants_are_found_only_by_the_municipalitys_caseworkers(app):
    apply(app, "residence-certificate", applicant_name="Anahit Sargsyan")
    alpha, beta = app.seeded["alpha"], app.seeded["beta"]
    with app.app_context():
        host = plugin_runtime.host(app)

        def names(user_id: int) -> list[str]:
            found = intake.find_applicants(db.session, host, actor_for(user_id), alpha["id"], "Sargsyan")
            return [known.name for known in found]

        assert names(alpha["users"]["clerk"]) == ["Anahit Sargsyan"]
        # The search hands out phone numbers and public service numbers: not to an auditor,
        # nor to another municipality's clerk who names this municipality.
        assert names(alpha["users"]["auditor"]) == []
        assert names(beta["users"]["clerk"]) == []


def test_drafts_are_not_returning_applicants_not_even_the_callers_own(app):
    alpha = app.seeded["alpha"]
    clerk = alpha["users"]["clerk"]
    enable_service(app, "alpha", "residence-certificate")
    file_application(app, "residence-certificate", by=clerk, submit=False, applicant_name="Gohar Draftyan")
    with app.app_context():
        found = intake.find_applicants(db.session, plugin_runtime.host(app), actor_for(clerk), alpha["id"], "Draftyan")
        assert found == []


def test_internal_comments_are_left_out_of_the_case_for_the_applicant(app):
    alpha = app.seeded["alpha"]
    enable_service(app, "alpha", "residence-certificate")
    application_id = file_application(app, "residence-certificate")
    with app.app_context():
        application = db.session.get(Application, application_id)
        citizen = actor_for(db.session.execute(select(User.id).where(User.username == "citizen")).scalar_one())
        application.applicant_user_id = citizen.user_id
        host = plugin_runtime.host(app)
        clerk = actor_for(alpha["users"]["clerk"])
        workflow.act(db.session, application, action="comment", actor=clerk, host=host, comment="Seems forged")
        db.session.commit()

        def comments(reader: Actor) -> list[str | None]:
            shown = casefile.summary(
                db.session, host.registry, reader, application, "en", may_act=False, may_open_documents=False
            )
            return [event.comment for event in shown.events if event.action == "comment"]

        assert access.is_applicant(citizen, application)
        assert comments(citizen) == []
        assert comments(clerk) == ["Seems forged"]
        # Staff of the municipality who do not work cases still see its internal notes.
        assert comments(actor_for(alpha["users"]["auditor"])) == ["Seems forged"]
        assert comments(actor_for(app.seeded["beta"]["users"]["clerk"])) == []
