"""Demo data for the quick start and for trying things out. Idempotent: run it as often as
you like; what already exists is left as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.domain import access, signing, statistics
from app.domain.access import Actor
from app.domain.activations import ActivationError, set_activation
from app.domain.participation import ballots, consultations, polls, processes, proposals, residency, settlements
from app.domain.roles import AUDITOR, CITIZEN, CLERK, HEAD, MUNICIPAL_ADMIN, SPECIALIST, STAFF_ROLES, SYSTEM_ADMIN
from app.domain.storage import get_storage
from app.domain.tracking import OFFICE_TZ
from app.extensions import current_appbuilder, db
from app.models import CitizenProfile, Department, Municipality, ServiceActivation, StaffProfile
from app.models.base import utcnow
from app.models.participation import Consultation, ConsultationComment, Poll, Proposal, Residency, Settlement
from app.plugins import runtime as plugin_runtime

DEMO_PASSWORD = "hamaynk-demo-2026"
# The demo citizen's account (a verified e-mail address): signs in on the portal. In the
# e-participation demo it is a verified resident of Abovyan who has not voted, commented or
# supported anything yet, so everything can be tried with it.
DEMO_CITIZEN = "citizen@hamaynk.example"
# A citizen account nobody verified as a resident: shows how taking part is refused.
DEMO_NEWCOMER = "newcomer@hamaynk.example"
# Residents whose ballots, comments, proposals and supports fill the demo's participation pages.
DEMO_RESIDENTS = [f"{name}@hamaynk.example" for name in ("gohar", "samvel", "lusine", "davit", "hasmik")]
PARTICIPATION_MUNICIPALITY = "abovyan"

# (e-mail, first name, last name, the code of the Abovyan settlement they are verified in,
# or None for no residency)
CITIZENS = [
    (DEMO_CITIZEN, "Արմեն", "Քաղաքացի", "abovyan"),
    (DEMO_NEWCOMER, "Տիգրան", "Նորեկյան", None),
    (DEMO_RESIDENTS[0], "Գոհար", "Մանուկյան", "arinj"),
    (DEMO_RESIDENTS[1], "Սամվել", "Ղազարյան", "geghashen"),
    (DEMO_RESIDENTS[2], "Լուսինե", "Բաղդասարյան", "abovyan"),
    (DEMO_RESIDENTS[3], "Դավիթ", "Սահակյան", "abovyan"),
    (DEMO_RESIDENTS[4], "Հասմիկ", "Կարապետյան", "arinj"),
]

# Abovyan is a consolidated community: the town and villages around it.
SETTLEMENTS = [
    ("abovyan", "Աբովյան", "Abovyan", "Абовян"),
    ("arinj", "Առինջ", "Arinj", "Аринж"),
    ("geghashen", "Գեղաշեն", "Geghashen", "Гехашен"),
]

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


def _shared_hash(sm, usernames: Iterable[str]) -> str | None:
    """One password hash for the demo accounts still to be created (they share the password),
    or ``None`` when all exist: hashing is slow on purpose, once is enough for the demo."""
    if all(sm.find_user(username=name) is not None for name in usernames):
        return None
    return generate_password_hash(DEMO_PASSWORD)


def ensure_citizen(sm, email: str, first_name: str, last_name: str, password_hash: str | None = None) -> int:
    """A citizen account as registration leaves it (its e-mail address verified); its id."""
    citizen, _created = ensure_user(
        sm,
        username=email,
        email=email,
        first_name=first_name,
        last_name=last_name,
        password=DEMO_PASSWORD,
        password_hash=password_hash,
        roles=[CITIZEN],
        municipality_id=None,
    )
    if db.session.execute(select(CitizenProfile.id).where(CitizenProfile.user_id == citizen.id)).first() is None:
        db.session.add(CitizenProfile(user_id=citizen.id, language="hy", email_verified_at=utcnow()))
        db.session.commit()
    return int(citizen.id)


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
    hashed = _shared_hash(sm, [email for email, *_rest in CITIZENS])
    citizens = {email: ensure_citizen(sm, email, first, last, hashed) for email, first, last, _where in CITIZENS}
    for email, *_rest in CITIZENS:
        logins.append((email, CITIZEN, "—"))
    seed_participation(citizens, progress)
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


# -- e-participation --------------------------------------------------------------------------------
# Abovyan's demo residents, settlements, polls, a budget vote, consultations and proposals. All of
# it goes through the domain functions a clerk, an administrator or a citizen would trigger, so the
# audit trail, the ballot secrecy rules, receipts and tallies are what they would be in real use.
# Times are relative to the moment of seeding (Yerevan time): the open processes stay open for
# weeks after it. The past ones are made by handing the domain functions a past ``now`` (the
# audit log still says when the demo was seeded).

OPEN_POLL: dict[str, Any] = {
    "title": {"hy": "Կենտրոնական զբոսայգու բարեկարգում"},
    "description": {
        "hy": "Համայնքապետարանը պատրաստվում է բարեկարգել կենտրոնական զբոսայգին։ "
        "Ասեք, թե ինչն է ձեզ համար առաջնահերթ։ Արդյունքները երևում են քվեարկության ընթացքում։"
    },
    "questions": [
        (
            "Ո՞ր աշխատանքներից սկսել",
            1,
            ["Նստարաններ և լուսավորություն", "Մանկական խաղահրապարակ", "Ծառատունկ և ոռոգում"],
        ),
        (
            "Ի՞նչ ավելացնել զբոսայգում (առավելագույնը երկու)",
            2,
            ["Խմելու ջրի աղբյուրներ", "Հանրային զուգարան", "Հեծանիվների կայանատեղի", "Ամառային բացօթյա կինոդահլիճ"],
        ),
    ],
}
CLOSED_POLL: dict[str, Any] = {
    "title": {"hy": "Աղբահանության ժամանակացույց"},
    "description": {
        "hy": "Ե՞րբ է ձեզ հարմար, որ աղբատար մեքենան անցնի ձեր թաղամասով, և ինչ ծառայություններ են պակասում։"
    },
    "questions": [
        ("Օրվա ո՞ր ժամին", 1, ["Վաղ առավոտյան", "Կեսօրին", "Երեկոյան"]),
        (
            "Ի՞նչ ծառայություններ են անհրաժեշտ (առավելագույնը երկու)",
            2,
            ["Խոշոր իրերի ամսական հավաք", "Պլաստիկի առանձին հավաք", "Տերևների և ճյուղերի հավաք աշնանը"],
        ),
    ],
}
# The closed poll's ballots: per resident, the option positions marked per question.
CLOSED_BALLOTS = [[[0], [1, 2]], [[2], [0]], [[0], [1]], [[2], [0, 1]], [[0], []]]

# (author's index in DEMO_RESIDENTS, settlement code, title, description, cost estimate AMD,
#  location, supporters' indexes, decision: None to stay as supports left it, or
#  ("feasible", reviewed cost, reason) / ("unfeasible", None, reason))
PROPOSALS: list[tuple[int, str, str, str, int, str, list[int], tuple[str, int | None, str] | None]] = [
    (
        0, "arinj", "Մանկական խաղահրապարակ Առինջում",
        "Առինջում երեխաների համար խաղահրապարակ չկա։ Առաջարկում եմ այն կառուցել դպրոցի կողքի ազատ տարածքում։",
        7_000_000, "Առինջ, դպրոցի հարևանությամբ", [1, 2, 4],
        ("feasible", 6_500_000, "Տարածքը համայնքային սեփականություն է, նախահաշիվը ճշգրտված է։"),
    ),
    (
        1, "geghashen", "Փողոցային լուսավորություն Գեղաշենի գլխավոր փողոցում",
        "Գլխավոր փողոցը երեկոյան մութ է, երեխաները դպրոցից վերադառնում են առանց լույսի։",
        3_000_000, "Գեղաշեն, գլխավոր փողոց", [0, 2, 3],
        ("feasible", 3_200_000, ""),
    ),
    (
        2, "abovyan", "Կենտրոնական գրադարանի ընթերցասրահի վերանորոգում",
        "Ընթերցասրահի տանիքը կաթում է, կահույքը մաշված է։ Վերանորոգումից հետո այն կարող է ծառայել նաև որպես ուսումնական տարածք։",
        5_000_000, "Աբովյան, կենտրոնական գրադարան", [0, 3, 4],
        ("feasible", 4_800_000, "Նախահաշիվը ներառում է տանիքի և կահույքի նորոգումը։"),
    ),
    (
        3, "abovyan", "Փակ լողավազան",
        "Համայնքում չկա լողավազան․ երեխաները լողի պարապմունքների համար գնում են Երևան։",
        450_000_000, "Աբովյան", [1, 2, 4],
        (
            "unfeasible", None,
            "Ծախսը մի քանի անգամ գերազանցում է համայնքի տարեկան կապիտալ ծախսերը։ "
            "Առաջարկը կներկայացվի պետական ծրագրերին։",
        ),
    ),
    (
        1, "geghashen", "Խմելու ջրի աղբյուրներ Գեղաշենի հրապարակում",
        "Ամռանը հրապարակում խմելու ջուր չկա։ Առաջարկում եմ տեղադրել երկու աղբյուր։",
        800_000, "Գեղաշեն, կենտրոնական հրապարակ", [0, 3, 4],
        ("feasible", 900_000, "Ջրագիծն անցնում է հրապարակի մոտով։ Կառաջարկվի հաջորդ քվեարկությանը։"),
    ),
    (
        4, "arinj", "Հեծանվային արահետ Առինջից Աբովյան",
        "Անվտանգ հեծանվային արահետ բնակավայրերի միջև՝ մայրուղուց առանձին։",
        12_000_000, "Առինջ – Աբովյան", [0, 1, 2], None,
    ),
    (
        2, "abovyan", "Աղբամաններ բազմաբնակարան շենքերի բակերում",
        "Բակերում աղբամանները քիչ են, աղբը թափվում է կողքին։ Առաջարկում եմ յուրաքանչյուր բակում տեղադրել երկուսը։",
        1_200_000, "Աբովյան, բազմաբնակարան շենքերի բակեր", [3], None,
    ),
]  # fmt: skip
# The supports that move a proposal to review in the demo (Abovyan's threshold, set by its
# administrator): a few demo residents are enough to show every status.
DEMO_SUPPORT_THRESHOLD = 3
BUDGET_VOTE: dict[str, Any] = {
    "title": {"hy": "Մասնակցային բյուջե․ որ ծրագրերը ֆինանսավորել"},
    "description": {
        "hy": "Բնակիչների առաջարկներից իրագործելի ճանաչվածները։ Նշեք ծրագրեր, որոնց արժեքը միասին "
        "չի գերազանցում բյուջեն։"
    },
    "budget": 10_000_000,
    # The first feasible proposals are put to the vote; the one after stays feasible.
    "projects": 3,
}
OPEN_CONSULTATION: dict[str, Any] = {
    "title": {"hy": "Համայնքի կանաչ տարածքների պահպանման կարգ (նախագիծ)"},
    "body": {
        "hy": "1. Համայնքի կանաչ տարածքներում ծառերը հատվում են միայն համայնքապետարանի թույլտվությամբ։\n"
        "2. Յուրաքանչյուր հատված ծառի փոխարեն տնկվում է առնվազն երեք նոր ծառ։\n"
        "3. Բակերի կանաչապատումը կատարվում է բնակիչների հետ համաձայնեցված նախագծով։"
    },
    # (author's index, text, index of the comment answered or None, supporters' indexes)
    "comments": [
        (0, "Առաջարկում եմ երրորդ կետում ավելացնել, որ բնակիչները կարող են իրենք խնամել բակի ծառերը։", None, [1, 2, 4]),
        (1, "Համաձայն եմ, բայց ջրի ծախսը ո՞վ է հոգալու։", 0, []),
        (2, "Ոռոգումը կարելի է թողնել համայնքին, իսկ խնամքը՝ բնակիչներին։", 0, [0]),
        (3, "Մեծ ծառի դիմաց երեք տնկին քիչ է․ թող թիվը կախված լինի հատված ծառի տարիքից։", None, [0]),
    ],
}
CLOSED_CONSULTATION: dict[str, Any] = {
    "title": {"hy": "Ոռոգման ջրի բաշխման ժամանակացույց (նախագիծ)"},
    "body": {
        "hy": "Ոռոգման ջուրը բաշխվում է հերթափոխով․ Աբովյանում՝ երկուշաբթի և հինգշաբթի, "
        "Առինջում՝ երեքշաբթի և ուրբաթ, Գեղաշենում՝ չորեքշաբթի և շաբաթ։"
    },
    "comments": [
        (1, "Գեղաշենում շաբաթ օրը ջրի ճնշումը թույլ է․ խնդրում ենք ավելացնել նաև կիրակին։", None, [3, 4]),
        (4, "Առինջի համար երկու օրը բավարար է։", None, []),
    ],
    "summary": {
        "hy": "Գեղաշենի բնակիչների դիտողությունը հաշվի է առնվել․ Գեղաշենին ավելացվել է կիրակին։ "
        "Մյուս բնակավայրերի ժամանակացույցը մնացել է անփոփոխ։"
    },
    "reference": "Համայնքի ղեկավարի որոշում N 45-Ա",
    "url": "https://abovyan.example/decisions/45",
}


def _yerevan(days: int, hour: int) -> dt.datetime:
    """``days`` from today at ``hour``:00 Yerevan time (aware: the forms' functions take it as
    entered in Yerevan time, whatever the machine's zone)."""
    today = dt.datetime.now(OFFICE_TZ)
    return (today + dt.timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def _utc(moment: dt.datetime) -> dt.datetime:
    """A Yerevan time as the UTC (naive) a domain function's ``now`` is."""
    return processes.parse_local(moment)


def _has_participation(municipality_id: int) -> bool:
    """Whether anyone (an earlier seeding or the municipality's staff) has made participation
    content here: then the demo adds nothing, so it never mixes into real use."""
    for model in (Settlement, Residency, Poll, Consultation, Proposal):
        stmt = access.within(select(model.id), model, municipality_id).limit(1)
        if db.session.execute(stmt).first() is not None:
            return True
    return False


def _actor(user_id: int | None, username: str) -> Actor:
    actor = access.load_actor(db.session, user_id) if user_id is not None else None
    if actor is None:
        raise RuntimeError(f"the demo user {username} is missing")
    return actor


def _staff(username: str) -> Actor:
    user = current_appbuilder().sm.find_user(username=username)
    return _actor(user.id if user is not None else None, username)


def _poll_spec(data: Mapping[str, Any], opens_at: dt.datetime, closes_at: dt.datetime, **settings: Any):
    questions = tuple(
        polls.QuestionSpec(
            text={"hy": text}, max_choices=most, options=tuple(polls.OptionSpec(text={"hy": o}) for o in options)
        )
        for text, most, options in data["questions"]
    )
    return polls.PollSpec(
        title=data["title"], description=data["description"], opens_at=opens_at, closes_at=closes_at,
        questions=questions, **settings,
    )  # fmt: skip


def _cast(poll: Poll, voter: int, marks: list[list[int]], now: dt.datetime | None = None) -> None:
    """``voter``'s ballot marking, per question, the options at the positions in ``marks``.
    The receipt is thrown away: the demo voters are not real people who would keep it."""
    view = polls.structure(db.session, poll)
    choices = {
        question.id: [question.options[i].id for i in positions]
        for question, positions in zip(view.questions, marks, strict=True)
    }
    ballots.cast(db.session, poll, voter_user_id=voter, choices=choices, now=now)  # commits


def _comments(consultation: Consultation, people: list[Actor], data: Mapping[str, Any], now: dt.datetime) -> None:
    made: list[ConsultationComment] = []
    for author, text, answers, supporters in data["comments"]:
        parent = made[answers].id if answers is not None else None
        comment = consultations.add_comment(
            db.session, people[author], consultation, body=text, parent_id=parent, now=now
        )
        made.append(comment)
        for supporter in supporters:
            consultations.support(db.session, people[supporter], consultation, comment, now=now)
        now += dt.timedelta(hours=3)


def seed_participation(citizens: Mapping[str, int], progress: Callable[[str], None] = lambda _m: None) -> None:
    """Abovyan's e-participation demo (see above), once: left alone when Abovyan already has
    any settlement, residency, poll, consultation or proposal."""
    session = db.session
    municipality = session.execute(
        select(Municipality).where(Municipality.code == PARTICIPATION_MUNICIPALITY)
    ).scalar_one()
    where = municipality.name_en
    if _has_participation(municipality.id):
        progress(f"e-participation in {where} left as it is")
        return
    config = current_app.config
    admin, clerk, head = (_staff(f"{PARTICIPATION_MUNICIPALITY}.{role}") for role in ("admin", "clerk", "head"))

    progress(f"e-participation in {where}: settlements and verified residents")
    places = {
        code: settlements.create(session, admin, municipality.id, settlements.SettlementInput(code, hy, en, ru))
        for code, hy, en, ru in SETTLEMENTS
    }
    for index, (email, _first, _last, place) in enumerate(CITIZENS):
        if place is not None:  # the newcomer stays unverified
            residency.verify(
                session, clerk, user_id=citizens[email], municipality_id=municipality.id,
                settlement_id=places[place].id, document_kind="id_card" if index % 2 else "passport", config=config,
            )  # fmt: skip
    session.commit()
    residents = [_actor(citizens[email], email) for email in DEMO_RESIDENTS]

    progress(f"e-participation in {where}: proposals")
    proposals.set_threshold(session, admin, municipality.id, DEMO_SUPPORT_THRESHOLD)
    to_vote: list[int] = []
    for author, place, title, description, cost, location, supporters, decision in PROPOSALS:
        proposal = proposals.submit(
            session, get_storage(current_app), residents[author], municipality.id, title=title,
            description=description, cost_estimate=cost, location=location, settlement_id=places[place].id,
        )  # fmt: skip
        for supporter in supporters:
            proposals.support(session, residents[supporter], proposal, config=config)
        if decision is not None:
            status, reviewed_cost, reason = decision
            proposals.review(
                session, head, proposal, feasible=status == proposals.FEASIBLE, reviewed_cost=reviewed_cost,
                reason=reason, config=config,
            )  # fmt: skip
            if status == proposals.FEASIBLE and len(to_vote) < BUDGET_VOTE["projects"]:
                to_vote.append(proposal.id)  # the last one waits for the next vote
        session.commit()

    progress(f"e-participation in {where}: polls and a budget vote")
    now = utcnow()
    poll = polls.create(
        session, admin, municipality.id,
        _poll_spec(OPEN_POLL, _yerevan(-3, 9), _yerevan(28, 20), results_visibility=polls.LIVE, allow_change=True),
    )  # fmt: skip
    polls.publish(session, admin, poll)
    session.commit()
    # A few ballots, so the live results show something before the demo citizen votes.
    for voter, marks in zip(residents[:3], [[[1], [0, 2]], [[0], [0]], [[1], [3]]], strict=True):
        _cast(poll, voter.user_id, marks)

    opens, closes = _yerevan(-30, 9), _yerevan(-10, 20)
    closed = polls.create(session, admin, municipality.id, _poll_spec(CLOSED_POLL, opens, closes))
    polls.publish(session, admin, closed, now=_utc(opens - dt.timedelta(days=1)))
    session.commit()
    for day, (voter, marks) in enumerate(zip(residents, CLOSED_BALLOTS, strict=True), start=1):
        _cast(closed, voter.user_id, marks, now=_utc(opens + dt.timedelta(days=day, hours=2)))
    ballots.close(session, closed, now=now)
    session.commit()

    budget = proposals.create_budget_vote(
        session, admin, municipality.id, proposal_ids=to_vote, budget=BUDGET_VOTE["budget"],
        opens_at=_yerevan(-1, 9), closes_at=_yerevan(30, 20), title=BUDGET_VOTE["title"],
        description=BUDGET_VOTE["description"],
    )  # fmt: skip
    polls.publish(session, admin, budget)
    session.commit()
    _cast(budget, residents[0].user_id, [[0, 1]])
    _cast(budget, residents[1].user_id, [[1, 2]])

    progress(f"e-participation in {where}: consultations on draft decisions")
    spec = consultations.ConsultationSpec(
        title=OPEN_CONSULTATION["title"], body=OPEN_CONSULTATION["body"], decided_by=consultations.COUNCIL,
        opens_at=_yerevan(-5, 9), closes_at=_yerevan(21, 18),
    )  # fmt: skip
    consultation = consultations.create(session, admin, municipality.id, spec)
    consultations.publish(session, admin, consultation)
    _comments(consultation, residents, OPEN_CONSULTATION, now - dt.timedelta(days=2))
    session.commit()

    opens, closes = _yerevan(-45, 9), _yerevan(-25, 18)
    spec = consultations.ConsultationSpec(
        title=CLOSED_CONSULTATION["title"], body=CLOSED_CONSULTATION["body"], decided_by=consultations.HEAD,
        opens_at=opens, closes_at=closes,
    )  # fmt: skip
    consultation = consultations.create(session, admin, municipality.id, spec)
    consultations.publish(session, admin, consultation, now=_utc(opens - dt.timedelta(days=1)))
    _comments(consultation, residents, CLOSED_CONSULTATION, _utc(opens + dt.timedelta(days=2)))
    consultations.publish_summary(
        session, admin, consultation, summary=CLOSED_CONSULTATION["summary"],
        decision_reference=CLOSED_CONSULTATION["reference"], decision_url=CLOSED_CONSULTATION["url"],
    )  # fmt: skip
    session.commit()
    progress(
        f"e-participation in {where}: {DEMO_CITIZEN} is a verified resident (not voted yet), {DEMO_NEWCOMER} is not"
    )
