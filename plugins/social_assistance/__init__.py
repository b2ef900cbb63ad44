"""One-off social assistance from the community budget (միանվագ սոցիալական աջակցություն).

1. A resident in hardship says what help is needed (cash help, medical treatment, funeral
   costs, winter fuel), describes the household (members, children, monthly income) and
   ticks the categories that give priority.
2. An identity document and the household's income statement are attached, plus the proof
   for each ticked category and, for medical or funeral help, the medical bills or the
   death certificate.
3. The front office registers the application and checks the file (1 working day).
4. A social worker assesses the household, visiting it when needed (7 working days).
5. The community's social assistance committee decides on the help and the amount
   (10 working days). The head of the social department records the committee's decision.
6. The decision is issued as a PDF with a verification code; granted money is paid to the
   bank account given, or in cash at the municipality's cash desk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.sdk import Choice, Condition, Document, Field, Output, Service, Step, gettext, hookimpl

REQUIRES_CORE_API = ">=1,<2"

KEY = "social-assistance"

# A "many children" family under the form's own definition below.
MANY_CHILDREN = 4

ASSISTANCE_TYPES = (
    Choice(
        "cash",
        {"hy": "Միանվագ դրամական օգնություն", "en": "One-off cash assistance", "ru": "Единовременная денежная помощь"},
    ),
    Choice(
        "medical",
        {
            "hy": "Բուժման ծախսերի փոխհատուցում",
            "en": "Help with medical treatment costs",
            "ru": "Помощь в оплате лечения",
        },
    ),
    Choice(
        "funeral",
        {
            "hy": "Հուղարկավորության ծախսերի փոխհատուցում",
            "en": "Help with funeral costs",
            "ru": "Помощь в оплате похорон",
        },
    ),
    Choice(
        "winter_fuel",
        {"hy": "Ձմեռային վառելիքի աջակցություն", "en": "Winter fuel assistance", "ru": "Помощь топливом на зиму"},
    ),
)

PRIORITY_CATEGORIES = (
    Choice(
        "disability",
        {
            "hy": "Ընտանիքում կա հաշմանդամություն ունեցող անձ",
            "en": "A family member has a disability",
            "ru": "В семье есть лицо с инвалидностью",
        },
    ),
    Choice(
        "many_children",
        {
            "hy": "Բազմազավակ ընտանիք (4 և ավելի անչափահաս երեխա)",
            "en": "Family with four or more children under 18",
            "ru": "Многодетная семья (4 и более несовершеннолетних детей)",
        },
    ),
    Choice(
        "fallen_serviceman",
        {
            "hy": "Հայրենիքի պաշտպանության ժամանակ զոհված կամ հաշմանդամ դարձած զինծառայողի ընտանիք",
            "en": "Family of a serviceman killed or disabled defending the homeland",
            "ru": "Семья военнослужащего, погибшего или ставшего инвалидом при защите Родины",
        },
    ),
    Choice(
        "displaced",
        {"hy": "Բռնի տեղահանված անձ", "en": "Forcibly displaced person", "ru": "Насильственно перемещённое лицо"},
    ),
    Choice(
        "lonely_pensioner", {"hy": "Միայնակ կենսաթոշակառու", "en": "Pensioner living alone", "ru": "Одинокий пенсионер"}
    ),
    Choice("single_parent", {"hy": "Միայնակ ծնող", "en": "Single parent", "ru": "Одинокий родитель"}),
    Choice(
        "orphan",
        {
            "hy": "Առանց ծնողական խնամքի մնացած երեխա",
            "en": "Child left without parental care",
            "ru": "Ребёнок, оставшийся без попечения родителей",
        },
    ),
)

PAYMENT_METHODS = (
    Choice("bank", {"hy": "Բանկային հաշվին", "en": "To a bank account", "ru": "На банковский счёт"}),
    Choice(
        "cash_desk",
        {
            "hy": "Կանխիկ՝ համայնքապետարանի դրամարկղից",
            "en": "In cash at the municipality's cash desk",
            "ru": "Наличными в кассе муниципалитета",
        },
    ),
)


def _category(value: str) -> tuple[Condition, ...]:
    # On a multichoice field "eq" means "this option was ticked".
    return (Condition("priority_categories", "eq", value),)


BANK = (Condition("payment_method", "eq", "bank"),)

SERVICE = Service(
    key=KEY,
    version=1,
    category="social",
    title={
        "hy": "Միանվագ սոցիալական աջակցություն",
        "en": "One-off social assistance",
        "ru": "Единовременная социальная помощь",
    },
    description={
        "hy": "Համայնքի բյուջեից տրամադրվող միանվագ աջակցություն դժվարին կացության մեջ հայտնված "
        "բնակիչներին. որոշումը կայացնում է սոցիալական աջակցության հանձնաժողովը։",
        "en": "One-off help from the community budget for residents in hardship, decided by the "
        "community's social assistance committee.",
        "ru": "Единовременная помощь из бюджета общины жителям, оказавшимся в трудной жизненной "
        "ситуации; решение принимает комиссия по социальной помощи.",
    },
    who_may_apply={
        "hy": "Համայնքում հաշվառված բնակիչը կամ նրա օրինական ներկայացուցիչը",
        "en": "A resident registered in the community, or their legal representative",
        "ru": "Житель, зарегистрированный в общине, или его законный представитель",
    },
    delivery={
        "hy": "Որոշումը՝ էլեկտրոնային PDF կամ թղթային, գումարը՝ բանկային հաշվին կամ դրամարկղից",
        "en": "The decision as a PDF or on paper; the money to a bank account or at the cash desk",
        "ru": "Решение — в PDF или на бумаге; деньги — на банковский счёт или в кассе",
    },
    legal_basis={
        "hy": "«Սոցիալական աջակցության մասին» ՀՀ օրենք, «Տեղական ինքնակառավարման մասին» ՀՀ օրենք, "
        "համայնքի ավագանու որոշումը սոցիալական աջակցության կարգի մասին",
        "en": "Law of the Republic of Armenia on Social Assistance; Law on Local Self-Government; "
        "the community council's decision on the social assistance procedure",
        "ru": "Закон РА «О социальной помощи», Закон РА «О местном самоуправлении», решение совета "
        "общины о порядке оказания социальной помощи",
    },
    fee=0,
    deadline_days=20,
    fields=(
        Field(
            "assistance_type",
            "choice",
            {"hy": "Աջակցության տեսակը", "en": "Type of assistance", "ru": "Вид помощи"},
            required=True,
            choices=ASSISTANCE_TYPES,
        ),
        Field(
            "household_members",
            "integer",
            {"hy": "Ընտանիքի անդամների քանակը", "en": "People in the household", "ru": "Количество членов семьи"},
            required=True,
            min_value=1,
            max_value=20,
            help={"hy": "Ներառյալ դիմողը", "en": "Including yourself", "ru": "Включая заявителя"},
        ),
        Field(
            "children",
            "integer",
            {
                "hy": "Որից՝ մինչև 18 տարեկան երեխաներ",
                "en": "Of whom children under 18",
                "ru": "Из них детей до 18 лет",
            },
            required=True,
            min_value=0,
            max_value=19,
        ),
        Field(
            "monthly_income",
            "integer",
            {
                "hy": "Ընտանիքի ամսական եկամուտը, դրամ",
                "en": "Household income per month, AMD",
                "ru": "Ежемесячный доход семьи, драм",
            },
            required=True,
            min_value=0,
            max_value=100_000_000,
            help={
                "hy": "Աշխատավարձ, կենսաթոշակ, նպաստներ և այլ եկամուտներ՝ միասին",
                "en": "Wages, pensions, benefits and any other income together",
                "ru": "Зарплата, пенсии, пособия и другие доходы вместе",
            },
        ),
        Field(
            "receives_family_benefit",
            "boolean",
            {
                "hy": "Ընտանիքը ստանում է ընտանեկան նպաստ",
                "en": "The family receives the state family benefit",
                "ru": "Семья получает государственное семейное пособие",
            },
        ),
        Field(
            "priority_categories",
            "multichoice",
            {"hy": "Արտոնյալ խմբեր", "en": "Priority categories", "ru": "Льготные категории"},
            choices=PRIORITY_CATEGORIES,
            help={"hy": "Նշեք բոլոր համապատասխանողները", "en": "Tick all that apply", "ru": "Отметьте все подходящие"},
        ),
        Field(
            "circumstances",
            "textarea",
            {"hy": "Նկարագրեք իրավիճակը", "en": "Describe your situation", "ru": "Опишите ситуацию"},
            required=True,
            min_length=20,
            max_length=3000,
        ),
        Field(
            "requested_amount",
            "integer",
            {"hy": "Հայցվող գումարը, դրամ", "en": "Amount requested, AMD", "ru": "Запрашиваемая сумма, драм"},
            visible_when=(Condition("assistance_type", "in", ["cash", "medical", "funeral"]),),
            min_value=1000,
            max_value=5_000_000,
        ),
        Field(
            "payment_method",
            "choice",
            {"hy": "Վճարման եղանակը", "en": "How to pay", "ru": "Способ выплаты"},
            required=True,
            choices=PAYMENT_METHODS,
        ),
        Field(
            "bank_account",
            "text",
            {"hy": "Բանկային հաշվի համարը", "en": "Bank account number", "ru": "Номер банковского счёта"},
            visible_when=BANK,
            required_when=BANK,
            pattern=r"\d{16}",
            personal=True,
            help={"hy": "16 թվանշան", "en": "16 digits", "ru": "16 цифр"},
        ),
    ),
    documents=(
        Document(
            "identity",
            {"hy": "Անձնագիր կամ նույնականացման քարտ", "en": "Passport or ID card", "ru": "Паспорт или ID-карта"},
            max_count=2,
        ),
        Document(
            "income_statement",
            {
                "hy": "Ընտանիքի եկամուտների մասին տեղեկանք",
                "en": "Statement of the household's income",
                "ru": "Справка о доходах семьи",
            },
            max_count=5,
        ),
        Document(
            "disability_certificate",
            {
                "hy": "Հաշմանդամությունը հավաստող փաստաթուղթ",
                "en": "Proof of disability",
                "ru": "Документ, подтверждающий инвалидность",
            },
            required=False,
            required_when=_category("disability"),
        ),
        Document(
            "serviceman_status",
            {
                "hy": "Զինծառայողի կարգավիճակը հավաստող փաստաթուղթ",
                "en": "Proof of the serviceman's status",
                "ru": "Документ, подтверждающий статус военнослужащего",
            },
            required=False,
            required_when=_category("fallen_serviceman"),
        ),
        Document(
            "displaced_status",
            {
                "hy": "Բռնի տեղահանված անձի կարգավիճակը հավաստող փաստաթուղթ",
                "en": "Proof of forcibly displaced status",
                "ru": "Документ о статусе насильственно перемещённого лица",
            },
            required=False,
            required_when=_category("displaced"),
        ),
        Document(
            "medical_bills",
            {
                "hy": "Բժշկական փաստաթղթեր և հաշիվներ",
                "en": "Medical documents and bills",
                "ru": "Медицинские документы и счета",
            },
            required=False,
            required_when=(Condition("assistance_type", "eq", "medical"),),
            max_count=10,
        ),
        Document(
            "death_certificate",
            {"hy": "Մահվան վկայական", "en": "Death certificate", "ru": "Свидетельство о смерти"},
            required=False,
            required_when=(Condition("assistance_type", "eq", "funeral"),),
        ),
    ),
    steps=(
        Step(
            "intake",
            {
                "hy": "Դիմումի գրանցում և ստուգում",
                "en": "Registration and check",
                "ru": "Регистрация и проверка заявления",
            },
            role="clerk",
            days=1,
            department="front_office",
            actions=("approve", "return"),
        ),
        Step(
            "assessment",
            {
                "hy": "Սոցիալական աշխատողի գնահատում",
                "en": "Social worker's assessment",
                "ru": "Оценка социального работника",
            },
            role="specialist",
            days=7,
            department="social",
            citizen_text={
                "hy": "Սոցիալական աշխատողը կարող է այցելել Ձեզ կամ զանգահարել։",
                "en": "A social worker may visit or call you.",
                "ru": "Социальный работник может навестить вас или позвонить.",
            },
        ),
        Step(
            "committee_decision",
            {
                "hy": "Սոցիալական աջակցության հանձնաժողովի որոշում",
                "en": "Social assistance committee decision",
                "ru": "Решение комиссии по социальной помощи",
            },
            role="head",
            days=10,
            department="social",
            actions=("approve", "reject"),
            forbid_self_approval=True,
            citizen_text={
                "hy": "Դիմումը քննարկվում է հանձնաժողովի հերթական նիստում։",
                "en": "The committee discusses the application at its next meeting.",
                "ru": "Заявление рассматривается на очередном заседании комиссии.",
            },
        ),
    ),
    output=Output(
        title={
            "hy": "Որոշում սոցիալական աջակցության մասին",
            "en": "Social assistance decision",
            "ru": "Решение о социальной помощи",
        },
        template_file="templates/decision.html",
    ),
)


@hookimpl
def validate_application(service: Service, data: Mapping[str, Any]) -> dict[str, str] | None:
    if service.key != KEY:
        return None
    errors = {}
    members, children = data.get("household_members"), data.get("children")
    if members is not None and children is not None and children > members:
        errors["children"] = gettext("There cannot be more children than people in the household.")
    elif "many_children" in (data.get("priority_categories") or []) and (children or 0) < MANY_CHILDREN:
        errors["priority_categories"] = gettext(
            "A many-children family has at least %(count)d children under 18.", count=MANY_CHILDREN
        )
    return errors


@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]
