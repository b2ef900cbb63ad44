"""Enrolment in a municipal kindergarten (երեխայի ընդգրկում համայնքային մանկապարտեզում).

1. A parent or guardian gives the child's name and date of birth, ranks up to three
   kindergartens, picks the group language and ticks the categories that give priority.
2. The child's birth certificate, the parent's identity document and the child's medical
   record are attached; proof for each priority category, and the pedagogical-psychological
   assessment when the child has special educational needs.
3. The child must be at least 2 and not yet 6 years old on the 1 September the enrolment is
   for; the form checks it at once.
4. The education department places the child in the highest-ranked kindergarten with a free
   place, priority categories first (5 working days).
5. The head of the education department signs the referral (2 working days).
6. The referral to the kindergarten is issued as a PDF with a verification code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from app.sdk import (
    ApplicationView,
    Choice,
    Condition,
    Document,
    Field,
    Output,
    Service,
    Step,
    gettext,
    hookimpl,
    office_today,
)

REQUIRES_CORE_API = ">=1,<2"

KEY = "kindergarten-enrolment"

MIN_AGE = 2  # years, on the 1 September of enrolment
MAX_AGE = 6  # children who are 6 by then go to school instead

KINDERGARTENS = tuple(
    Choice(f"kg_{n}", {"hy": f"Մանկապարտեզ №{n}", "en": f"Kindergarten No. {n}", "ru": f"Детский сад № {n}"})
    for n in range(1, 9)
)

LANGUAGES = (
    Choice("hy", {"hy": "Հայերեն", "en": "Armenian", "ru": "Армянский"}),
    Choice("ru", {"hy": "Ռուսերեն", "en": "Russian", "ru": "Русский"}),
)

PRIORITY_CATEGORIES = (
    Choice(
        "fallen_serviceman",
        {
            "hy": "Զոհված կամ հաշմանդամ դարձած զինծառայողի երեխա",
            "en": "Child of a serviceman killed or disabled defending the homeland",
            "ru": "Ребёнок военнослужащего, погибшего или ставшего инвалидом при защите Родины",
        },
    ),
    Choice(
        "disability",
        {"hy": "Հաշմանդամություն ունեցող երեխա", "en": "Child with a disability", "ru": "Ребёнок с инвалидностью"},
    ),
    Choice(
        "many_children",
        {
            "hy": "Բազմազավակ ընտանիքի երեխա",
            "en": "Child of a many-children family",
            "ru": "Ребёнок из многодетной семьи",
        },
    ),
    Choice(
        "sibling",
        {
            "hy": "Եղբայրը կամ քույրը հաճախում է նույն մանկապարտեզը",
            "en": "A brother or sister attends the same kindergarten",
            "ru": "Брат или сестра посещает тот же детский сад",
        },
    ),
    Choice(
        "displaced",
        {
            "hy": "Բռնի տեղահանված ընտանիքի երեխա",
            "en": "Child of a forcibly displaced family",
            "ru": "Ребёнок из насильственно перемещённой семьи",
        },
    ),
    Choice(
        "single_parent",
        {"hy": "Միայնակ ծնողի երեխա", "en": "Child of a single parent", "ru": "Ребёнок одинокого родителя"},
    ),
)

RANKED = ("first_choice", "second_choice", "third_choice")
SPECIAL_NEEDS = (Condition("special_needs", "eq", True),)

SERVICE = Service(
    key=KEY,
    version=1,
    category="education",
    title={
        "hy": "Երեխայի ընդգրկում համայնքային մանկապարտեզում",
        "en": "Enrolment in a municipal kindergarten",
        "ru": "Зачисление ребёнка в муниципальный детский сад",
    },
    description={
        "hy": "Հերթագրում և ուղեգիր համայնքային նախադպրոցական ուսումնական հաստատություն 2-ից 6 "
        "տարեկան երեխաների համար։",
        "en": "Waiting list and referral to a municipal preschool for children aged 2 to 6.",
        "ru": "Постановка в очередь и направление в муниципальное дошкольное учреждение для детей от 2 до 6 лет.",
    },
    who_may_apply={
        "hy": "Երեխայի ծնողը, որդեգրողը կամ խնամակալը",
        "en": "The child's parent, adoptive parent or guardian",
        "ru": "Родитель, усыновитель или опекун ребёнка",
    },
    delivery={
        "hy": "Ուղեգիր՝ էլեկտրոնային PDF ստուգման կոդով կամ թղթային՝ սպասարկման գրասենյակում",
        "en": "A referral as a PDF with a verification code, or on paper at the service office",
        "ru": "Направление в виде PDF с кодом проверки или на бумаге в офисе обслуживания",
    },
    legal_basis={
        "hy": "«Նախադպրոցական կրթության մասին» ՀՀ օրենք, «Տեղական ինքնակառավարման մասին» ՀՀ օրենք",
        "en": "Law of the Republic of Armenia on Preschool Education; Law on Local Self-Government",
        "ru": "Закон РА «О дошкольном образовании», Закон РА «О местном самоуправлении»",
    },
    fee=0,
    deadline_days=10,
    fields=(
        Field(
            "child_name",
            "text",
            {"hy": "Երեխայի անունը, ազգանունը", "en": "Child's full name", "ru": "Имя и фамилия ребёнка"},
            required=True,
            max_length=200,
            personal=True,
        ),
        Field(
            "child_birth_date",
            "date",
            {"hy": "Երեխայի ծննդյան ամսաթիվը", "en": "Child's date of birth", "ru": "Дата рождения ребёнка"},
            required=True,
            personal=True,
        ),
        Field(
            "child_psn",
            "psn",
            {"hy": "Երեխայի ՀԾՀ", "en": "Child's public service number", "ru": "Номер соцкарты ребёнка (НОСУ)"},
            personal=True,
            help={
                "hy": "Նշված է ծննդյան վկայականում",
                "en": "As on the birth certificate",
                "ru": "Указан в свидетельстве о рождении",
            },
        ),
        Field(
            "first_choice",
            "choice",
            {"hy": "Նախընտրելի մանկապարտեզ", "en": "Preferred kindergarten", "ru": "Предпочитаемый детский сад"},
            required=True,
            choices=KINDERGARTENS,
        ),
        Field(
            "second_choice",
            "choice",
            {"hy": "Երկրորդ նախընտրություն", "en": "Second choice", "ru": "Второй вариант"},
            choices=KINDERGARTENS,
        ),
        Field(
            "third_choice",
            "choice",
            {"hy": "Երրորդ նախընտրություն", "en": "Third choice", "ru": "Третий вариант"},
            choices=KINDERGARTENS,
            visible_when=(Condition("second_choice", "set"),),
        ),
        Field(
            "group_language",
            "choice",
            {"hy": "Խմբի ուսուցման լեզուն", "en": "Group language", "ru": "Язык обучения группы"},
            required=True,
            choices=LANGUAGES,
        ),
        Field(
            "priority_categories",
            "multichoice",
            {"hy": "Արտոնյալ խմբեր", "en": "Priority categories", "ru": "Льготные категории"},
            choices=PRIORITY_CATEGORIES,
        ),
        Field(
            "sibling_name",
            "text",
            {
                "hy": "Մանկապարտեզ հաճախող եղբոր կամ քրոջ անունը",
                "en": "Name of the brother or sister who attends",
                "ru": "Имя брата или сестры, посещающих детский сад",
            },
            visible_when=(Condition("priority_categories", "eq", "sibling"),),
            required_when=(Condition("priority_categories", "eq", "sibling"),),
            max_length=200,
        ),
        Field(
            "special_needs",
            "boolean",
            {
                "hy": "Երեխան ունի կրթական առանձնահատուկ պայմանների կարիք",
                "en": "The child has special educational needs",
                "ru": "Ребёнок нуждается в особых условиях обучения",
            },
        ),
        Field(
            "special_needs_details",
            "textarea",
            {"hy": "Նկարագրեք կարիքները", "en": "Describe the needs", "ru": "Опишите потребности"},
            visible_when=SPECIAL_NEEDS,
            required_when=SPECIAL_NEEDS,
            max_length=2000,
        ),
        Field(
            "full_day",
            "boolean",
            {"hy": "Անհրաժեշտ է լրիվ օրվա խումբ", "en": "A full-day group is needed", "ru": "Нужна группа полного дня"},
        ),
    ),
    documents=(
        Document(
            "birth_certificate",
            {
                "hy": "Երեխայի ծննդյան վկայական",
                "en": "Child's birth certificate",
                "ru": "Свидетельство о рождении ребёнка",
            },
        ),
        Document(
            "parent_identity",
            {
                "hy": "Ծնողի անձնագիր կամ նույնականացման քարտ",
                "en": "Parent's passport or ID card",
                "ru": "Паспорт или ID-карта родителя",
            },
            max_count=2,
        ),
        Document(
            "medical_record",
            {
                "hy": "Երեխայի բժշկական քարտ և պատվաստումների թերթիկ",
                "en": "Child's medical record and vaccination card",
                "ru": "Медицинская карта и прививочный сертификат ребёнка",
            },
            max_count=3,
        ),
        Document(
            "priority_proof",
            {
                "hy": "Արտոնությունը հավաստող փաստաթղթեր",
                "en": "Proof of priority categories",
                "ru": "Документы, подтверждающие льготу",
            },
            required=False,
            required_when=(Condition("priority_categories", "set"),),
            max_count=5,
        ),
        Document(
            "special_needs_assessment",
            {
                "hy": "Մանկավարժահոգեբանական գնահատման եզրակացություն",
                "en": "Pedagogical-psychological assessment",
                "ru": "Заключение психолого-педагогической оценки",
            },
            required=False,
            required_when=SPECIAL_NEEDS,
        ),
    ),
    steps=(
        Step(
            "placement",
            {"hy": "Տեղի հատկացում", "en": "Placement", "ru": "Распределение места"},
            role="specialist",
            days=5,
            department="education",
            citizen_text={
                "hy": "Տեղը հատկացվում է ըստ Ձեր նախընտրությունների և արտոնությունների։",
                "en": "A place is given following your ranking and any priority.",
                "ru": "Место выделяется с учётом ваших предпочтений и льгот.",
            },
        ),
        Step(
            "referral_signature",
            {"hy": "Ուղեգրի ստորագրում", "en": "Signing the referral", "ru": "Подписание направления"},
            role="head",
            days=2,
            department="education",
            actions=("approve", "reject"),
            forbid_self_approval=True,
        ),
    ),
    output=Output(
        title={"hy": "Ուղեգիր մանկապարտեզ", "en": "Kindergarten referral", "ru": "Направление в детский сад"},
        template_file="templates/referral.html",
    ),
)


def school_year_start(today: dt.date | None = None) -> dt.date:
    """The 1 September the enrolment is for: the next one, or today if it is 1 September."""
    today = today or office_today()
    start = dt.date(today.year, 9, 1)
    return start if today <= start else dt.date(today.year + 1, 9, 1)


def age_on(birth: dt.date, day: dt.date) -> int:
    """Full years of age on ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@hookimpl
def validate_application(service: Service, data: Mapping[str, Any]) -> dict[str, str] | None:
    if service.key != KEY:
        return None
    errors = {}
    raw_birth = data.get("child_birth_date")
    if raw_birth:
        birth = dt.date.fromisoformat(raw_birth)
        start = school_year_start()
        if birth > office_today():
            errors["child_birth_date"] = gettext("The date of birth cannot be in the future.")
        elif age_on(birth, start) < MIN_AGE:
            errors["child_birth_date"] = gettext(
                "The child must be at least %(age)d years old on %(date)s.", age=MIN_AGE, date=start.isoformat()
            )
        elif age_on(birth, start) >= MAX_AGE:
            errors["child_birth_date"] = gettext(
                "A child who is %(age)d or older on %(date)s goes to school instead.",
                age=MAX_AGE,
                date=start.isoformat(),
            )
    seen = set()
    for name in RANKED:
        value = data.get(name)
        if not value:
            continue
        if value in seen:
            errors[name] = gettext("Choose a kindergarten you have not already ranked.")
        seen.add(value)
    return errors


@hookimpl
def output_context(application: ApplicationView, service: Service) -> dict[str, Any] | None:
    # The referral names the kindergarten in words; the form data holds its value. The first
    # choice is the one granted (places are allocated before the specialist approves).
    if service.key != KEY:
        return None
    chosen = application.data.get("first_choice")
    label = next((choice.label for choice in KINDERGARTENS if choice.value == chosen), None)
    return {"kindergarten_label": label["hy"] if label else ""}


@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]
