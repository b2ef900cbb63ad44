"""Demo data for the quick start and for trying things out. Idempotent: run it as often as
you like; what already exists is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.domain import signing, statistics
from app.domain.activations import ActivationError, set_activation
from app.domain.roles import AUDITOR, CITIZEN, CLERK, HEAD, MUNICIPAL_ADMIN, SPECIALIST, STAFF_ROLES, SYSTEM_ADMIN
from app.extensions import current_appbuilder, db
from app.models import CitizenProfile, Department, Municipality, ServiceActivation, StaffProfile
from app.models.base import utcnow
from app.plugins import runtime as plugin_runtime

DEMO_PASSWORD = "hamaynk-demo-2026"
# The demo citizen's account (a verified e-mail address): signs in on the portal.
DEMO_CITIZEN = "citizen@hamaynk.example"

MUNICIPALITIES = [
    ("abovyan", "Աբովյան", "Abovyan", "Абовян", "Kotayk"),
    ("gyumri", "Գյումրի", "Gyumri", "Гюмри", "Shirak"),
    ("dilijan", "Դիլիջան", "Dilijan", "Дилижан", "Tavush"),
]

DEPARTMENTS = [
    ("front_office", "Քաղաքացիների սպասարկման գրասենյակ", "Citizen Service Office", "Офис обслуживания граждан"),
    ("civil_registry", "Բնակչության հաշվառման բաժին", "Population Registry Department", "Отдел учёта населения"),
    ("urban_planning", "Քաղաքաշինության բաժին", "Urban Planning Department", "Отдел градостроительства"),
    ("trade", "Առևտրի և ծառայությունների բաժին", "Trade and Services Department", "Отдел торговли и услуг"),
    ("social", "Սոցիալական աջակցության բաժին", "Social Support Department", "Отдел социальной поддержки"),
    (
        "education",
        "Կրթության, մշակույթի և սպորտի բաժին",
        "Education, Culture and Sport Department",
        "Отдел образования, культуры и спорта",
    ),
]

# (username suffix, role, department code, first name, last name)
STAFF = [
    ("admin", MUNICIPAL_ADMIN, None, "Անի", "Հակոբյան"),
    ("clerk", CLERK, "front_office", "Լիլիթ", "Սարգսյան"),
    ("specialist", SPECIALIST, "urban_planning", "Արամ", "Պետրոսյան"),
    ("social", SPECIALIST, "social", "Նարինե", "Մկրտչյան"),
    ("head", HEAD, "urban_planning", "Գագիկ", "Ավետիսյան"),
    ("auditor", AUDITOR, None, "Սոնա", "Գրիգորյան"),
    # Every department a built-in service's steps go to has someone to act, so no demo
    # application waits in nobody's inbox.
    ("registrar", SPECIALIST, "civil_registry", "Մարիամ", "Հովհաննիսյան"),
    ("registry.head", HEAD, "civil_registry", "Վահե", "Մարտիրոսյան"),
    ("trade", SPECIALIST, "trade", "Արմեն", "Վարդանյան"),
    ("trade.head", HEAD, "trade", "Կարեն", "Խաչատրյան"),
    ("education", SPECIALIST, "education", "Գայանե", "Աբրահամյան"),
    ("education.head", HEAD, "education", "Անահիտ", "Մելքոնյան"),
    ("social.head", HEAD, "social", "Սուսաննա", "Պողոսյան"),
]


def ensure_user(
    sm,
    *,
    username: str,
    email: str,
    first_name: str,
    last_name: str,
    password: str,
    roles: Iterable[str],
    municipality_id: int | None,
    department_id: int | None = None,
    password_hash: str | None = None,
):
    user = sm.find_user(username=username)
    if user is not None:
        return user, False
    user = sm.user_model(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        active=True,
        password=password_hash or generate_password_hash(password),
    )
    roles = list(roles)
    user.roles = [sm.find_role(name) for name in roles]
    db.session.add(user)
    db.session.flush()
    if any(name in STAFF_ROLES for name in roles):
        db.session.add(StaffProfile(user_id=user.id, municipality_id=municipality_id, department_id=department_id))
    db.session.commit()
    return user, True


def seed_demo(progress: Callable[[str], None] = lambda _m: None) -> list[tuple[str, str, str]]:
    sm = current_appbuilder().sm
    progress("syncing roles and permissions")
    sm.sync_roles()
    logins: list[tuple[str, str, str]] = []
    ensure_user(
        sm,
        username="admin",
        email="admin@hamaynk.example",
        first_name="System",
        last_name="Administrator",
        password=DEMO_PASSWORD,
        roles=[SYSTEM_ADMIN],
        municipality_id=None,
    )
    logins.append(("admin", SYSTEM_ADMIN, "—"))
    registry = plugin_runtime.registry()
    total = len(MUNICIPALITIES)
    for index, (code, hy, en, ru, region) in enumerate(MUNICIPALITIES, start=1):
        progress(f"[{index}/{total}] municipality {en}")
        municipality = db.session.execute(select(Municipality).where(Municipality.code == code)).scalar_one_or_none()
        # Services are enabled on the first seeding only: a plug-in installed later is the
        # municipal admin's to enable (with its responsible department), not every start's.
        first_seeding = municipality is None
        if municipality is None:
            municipality = Municipality(code=code, name_hy=hy, name_en=en, name_ru=ru, region=region)
            db.session.add(municipality)
            db.session.flush()
        departments = {}
        for dcode, dhy, den, dru in DEPARTMENTS:
            department = db.session.execute(
                select(Department).where(Department.municipality_id == municipality.id, Department.code == dcode)
            ).scalar_one_or_none()
            if department is None:
                department = Department(
                    municipality_id=municipality.id, code=dcode, name_hy=dhy, name_en=den, name_ru=dru
                )
                db.session.add(department)
                db.session.flush()
            departments[dcode] = department
        db.session.commit()
        for suffix, role, staff_department, first, last in STAFF:
            username = f"{code}.{suffix}"
            user, created = ensure_user(
                sm,
                username=username,
                email=f"{username}@hamaynk.example",
                first_name=first,
                last_name=last,
                password=DEMO_PASSWORD,
                roles=[role],
                municipality_id=municipality.id,
                department_id=departments[staff_department].id if staff_department else None,
            )
            if created and role == HEAD and staff_department:
                departments[staff_department].head_user_id = user.id
                db.session.commit()
            logins.append((username, role, en))
        if not first_seeding:
            progress(f"[{index}/{total}] services of {en} left as its administrator set them")
            continue
        progress(f"[{index}/{total}] enabling {len(registry.latest())} services in {en}")
        existing = set(
            db.session.execute(
                select(ServiceActivation.service_key).where(ServiceActivation.municipality_id == municipality.id)
            ).scalars()
        )
        for registered in registry.latest():
            if registered.key in existing:
                continue  # an admin may have changed it since; leave their choice alone
            if registered.municipality_id not in (None, municipality.id):
                continue  # another municipality's own (service builder) service
            try:
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
            except ActivationError as exc:
                # E.g. a step needs a department the demo does not create: say so, go on.
                progress(f"[{index}/{total}] not enabling {registered.key} in {en}: {exc}")
        db.session.commit()
    # Citizens sign in on the portal with their e-mail address, which is their username.
    citizen, _created = ensure_user(
        sm,
        username=DEMO_CITIZEN,
        email=DEMO_CITIZEN,
        first_name="Արմեն",
        last_name="Քաղաքացի",
        password=DEMO_PASSWORD,
        roles=[CITIZEN],
        municipality_id=None,
    )
    if db.session.execute(select(CitizenProfile.id).where(CitizenProfile.user_id == citizen.id)).first() is None:
        db.session.add(CitizenProfile(user_id=citizen.id, language="hy", email_verified_at=utcnow()))
        db.session.commit()
    logins.append((DEMO_CITIZEN, CITIZEN, "—"))
    # A self-signed signing certificate per demo municipality (when the signing folder and a
    # password are configured, as in development), so issued documents are signed out of the box.
    signing.ensure_demo_certificates(
        current_app.config, [(code, f"{en} municipality") for code, _hy, en, _ru, _region in MUNICIPALITIES], progress
    )
    # The dashboard's counters follow every change as it happens; recounting here also covers
    # history recorded before they existed (an older demo database).
    progress("counting the transparency dashboard's figures")
    statistics.rebuild(db.session, registry)
    db.session.commit()
    return logins
