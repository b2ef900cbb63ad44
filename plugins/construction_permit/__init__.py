"""Construction permit (շինարարության թույլտվություն).

1. The owner of a land plot (or their representative) fills in the plot's cadastral code,
   its area, the planned building (footprint, total floor area, floors) and the zone.
2. The ownership certificate, the architectural-planning assignment and the design
   documentation are attached; a heritage consent for historic zones, an expert review for
   large buildings and the co-owners' consent when the plot has co-owners.
3. The front office checks that the file is complete (1 working day).
4. An urban-planning specialist reviews the design against the zoning plan (6 working days).
5. Only in a historic zone: the chief architect's office reviews architecture and heritage
   protection (5 working days).
6. Only when the total floor area is above 300 m²: fire-safety and engineering review
   (3 working days).
7. The head of the urban planning department signs the permit (2 working days).
8. The permit is issued as a PDF with a verification code; the local duty is paid once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from app.sdk import Choice, Condition, Document, Field, Output, Service, Step, gettext, hookimpl

REQUIRES_CORE_API = ">=1,<2"

KEY = "construction-permit"

# Above this total floor area (m²) a fire-safety and engineering review is needed, and the
# design must come with an expert review conclusion.
LARGE_BUILDING_M2 = 300

# Region (marz) codes used in Armenian cadastral codes: 01 Yerevan ... 11 Tavush.
REGION_CODES = {f"{n:02d}" for n in range(1, 12)}
# region-community-block-parcel, e.g. 07-001-0123-0045
CADASTRAL_RE = re.compile(r"^(\d{2})-(\d{3})-(\d{4})-(\d{4})$")

ZONES = (
    Choice("residential", {"hy": "Բնակելի կառուցապատման գոտի", "en": "Residential zone", "ru": "Жилая зона"}),
    Choice(
        "public",
        {"hy": "Հասարակական կառուցապատման գոտի", "en": "Public and commercial zone", "ru": "Общественно-деловая зона"},
    ),
    Choice("industrial", {"hy": "Արտադրական գոտի", "en": "Industrial zone", "ru": "Производственная зона"}),
    Choice(
        "agricultural", {"hy": "Գյուղատնտեսական գոտի", "en": "Agricultural zone", "ru": "Сельскохозяйственная зона"}
    ),
    Choice(
        "historic",
        {
            "hy": "Պատմամշակութային պահպանության գոտի",
            "en": "Historic and cultural heritage zone",
            "ru": "Зона охраны историко-культурного наследия",
        },
    ),
)

WORK_TYPES = (
    Choice("new", {"hy": "Նոր շինարարություն", "en": "New construction", "ru": "Новое строительство"}),
    Choice("reconstruction", {"hy": "Վերակառուցում", "en": "Reconstruction", "ru": "Реконструкция"}),
    Choice(
        "extension",
        {
            "hy": "Ընդլայնում (կցակառույց, վերնահարկ)",
            "en": "Extension (annex, added storey)",
            "ru": "Расширение (пристройка, надстройка)",
        },
    ),
    Choice("renovation", {"hy": "Հիմնանորոգում", "en": "Major renovation", "ru": "Капитальный ремонт"}),
)

PURPOSES = (
    Choice("house", {"hy": "Անհատական բնակելի տուն", "en": "Detached family house", "ru": "Индивидуальный жилой дом"}),
    Choice("apartment", {"hy": "Բազմաբնակարան շենք", "en": "Apartment building", "ru": "Многоквартирный дом"}),
    Choice(
        "commercial",
        {
            "hy": "Առևտրային կամ սպասարկման շենք",
            "en": "Shop or service building",
            "ru": "Торговое или сервисное здание",
        },
    ),
    Choice("public", {"hy": "Հասարակական շենք", "en": "Public building", "ru": "Общественное здание"}),
    Choice(
        "auxiliary",
        {
            "hy": "Օժանդակ շինություն (ավտոտնակ, պահեստ)",
            "en": "Auxiliary building (garage, shed)",
            "ru": "Вспомогательное строение (гараж, склад)",
        },
    ),
)

HISTORIC = (Condition("zone", "eq", "historic"),)
LARGE = (Condition("building_area", "gt", LARGE_BUILDING_M2),)

SERVICE = Service(
    key=KEY,
    version=1,
    category="urban-planning",
    title={
        "hy": "Շինարարության թույլտվություն",
        "en": "Construction permit",
        "ru": "Разрешение на строительство",
    },
    description={
        "hy": "Թույլտվություն համայնքի տարածքում շենքի կամ շինության նոր շինարարության, "
        "վերակառուցման, ընդլայնման կամ հիմնանորոգման համար՝ հաստատված նախագծային "
        "փաստաթղթերի հիման վրա։",
        "en": "Permission to build, reconstruct, extend or substantially renovate a building in "
        "the community, on the basis of approved design documentation.",
        "ru": "Разрешение на новое строительство, реконструкцию, расширение или капитальный ремонт "
        "здания или сооружения на территории общины на основании утверждённой проектной "
        "документации.",
    },
    who_may_apply={
        "hy": "Հողամասի սեփականատերը կամ օգտագործողը (ֆիզիկական կամ իրավաբանական անձ) կամ նրա լիազորված ներկայացուցիչը",
        "en": "The owner or lawful user of the land plot (a person or a company), or their authorised representative",
        "ru": "Собственник или законный пользователь земельного участка (физическое или "
        "юридическое лицо) либо его доверенное лицо",
    },
    delivery={
        "hy": "Էլեկտրոնային PDF՝ ստուգման կոդով, կամ թղթային՝ սպասարկման գրասենյակում",
        "en": "Electronic PDF with a verification code, or on paper at the service office",
        "ru": "Электронный PDF с кодом проверки или на бумаге в офисе обслуживания",
    },
    legal_basis={
        "hy": "«Քաղաքաշինության մասին» ՀՀ օրենք, «Տեղական ինքնակառավարման մասին» ՀՀ օրենք, "
        "«Տեղական տուրքերի և վճարների մասին» ՀՀ օրենք, ՀՀ կառավարության 2015 թ. N 596-Ն որոշում",
        "en": "Law of the Republic of Armenia on Urban Development; Law on Local Self-Government; "
        "Law on Local Duties and Fees; Government Decision No. 596-N of 2015",
        "ru": "Закон РА «О градостроительстве», Закон РА «О местном самоуправлении», Закон РА "
        "«О местных пошлинах и сборах», постановление Правительства РА № 596-Н от 2015 г.",
    },
    fee=30000,
    fee_period="once",
    deadline_days=20,
    fields=(
        Field(
            "cadastral_code",
            "text",
            {
                "hy": "Հողամասի կադաստրային ծածկագիր",
                "en": "Cadastral code of the plot",
                "ru": "Кадастровый код участка",
            },
            required=True,
            max_length=20,
            help={
                "hy": "Ձևաչափը՝ 07-001-0123-0045 (մարզ-համայնք-թաղամաս-հողամաս), ինչպես սեփականության վկայականում",
                "en": "Format 07-001-0123-0045 (region-community-block-parcel), as on the ownership certificate",
                "ru": "Формат 07-001-0123-0045 (область-община-квартал-участок), как в свидетельстве о собственности",
            },
        ),
        Field(
            "plot_address",
            "address",
            {"hy": "Հողամասի հասցեն", "en": "Address of the plot", "ru": "Адрес участка"},
            required=True,
            max_length=300,
        ),
        Field(
            "zone",
            "choice",
            {
                "hy": "Գոտին ըստ գլխավոր հատակագծի",
                "en": "Zone under the master plan",
                "ru": "Зона по генеральному плану",
            },
            required=True,
            choices=ZONES,
        ),
        Field(
            "work_type",
            "choice",
            {"hy": "Աշխատանքների տեսակը", "en": "Type of works", "ru": "Вид работ"},
            required=True,
            choices=WORK_TYPES,
        ),
        Field(
            "building_purpose",
            "choice",
            {"hy": "Շենքի նշանակությունը", "en": "Use of the building", "ru": "Назначение здания"},
            required=True,
            choices=PURPOSES,
        ),
        Field(
            "plot_area",
            "decimal",
            {"hy": "Հողամասի մակերեսը, մ²", "en": "Plot area, m²", "ru": "Площадь участка, м²"},
            required=True,
            min_value=1,
            max_value=10_000_000,
        ),
        Field(
            "footprint_area",
            "decimal",
            {"hy": "Կառուցապատման մակերեսը, մ²", "en": "Building footprint, m²", "ru": "Площадь застройки, м²"},
            required=True,
            min_value=1,
            max_value=10_000_000,
            help={
                "hy": "Շենքի հատակագծային մակերեսը գետնի մակարդակում",
                "en": "The area the building covers at ground level",
                "ru": "Площадь, занимаемая зданием на уровне земли",
            },
        ),
        Field(
            "building_area",
            "integer",
            {"hy": "Շենքի ընդհանուր մակերեսը, մ²", "en": "Total floor area, m²", "ru": "Общая площадь здания, м²"},
            required=True,
            min_value=1,
            max_value=1_000_000,
            help={
                "hy": "Բոլոր հարկերի մակերեսների գումարը՝ ամբողջ քառակուսի մետրերով",
                "en": "The floor areas of all storeys added up, in whole square metres",
                "ru": "Сумма площадей всех этажей в целых квадратных метрах",
            },
        ),
        Field(
            "floors",
            "integer",
            {"hy": "Վերգետնյա հարկերի քանակը", "en": "Storeys above ground", "ru": "Количество надземных этажей"},
            required=True,
            min_value=1,
            max_value=40,
        ),
        Field(
            "underground_floors",
            "integer",
            {"hy": "Ստորգետնյա հարկերի քանակը", "en": "Storeys below ground", "ru": "Количество подземных этажей"},
            min_value=0,
            max_value=10,
        ),
        Field(
            "designer",
            "text",
            {"hy": "Նախագծող կազմակերպությունը", "en": "Design organisation", "ru": "Проектная организация"},
            required=True,
            max_length=200,
        ),
        Field(
            "designer_licence",
            "text",
            {
                "hy": "Նախագծողի լիցենզիայի համարը",
                "en": "Designer's licence number",
                "ru": "Номер лицензии проектировщика",
            },
            required=True,
            max_length=50,
        ),
        Field(
            "co_owned",
            "boolean",
            {
                "hy": "Հողամասն ունի համասեփականատերեր",
                "en": "The plot has co-owners",
                "ru": "У участка есть совладельцы",
            },
        ),
        Field(
            "planned_start",
            "date",
            {"hy": "Շինարարության նախատեսվող սկիզբը", "en": "Planned start of works", "ru": "Планируемое начало работ"},
        ),
    ),
    documents=(
        Document(
            "ownership_certificate",
            {
                "hy": "Հողամասի նկատմամբ իրավունքի պետական գրանցման վկայական",
                "en": "Certificate of registered rights to the plot",
                "ru": "Свидетельство о государственной регистрации прав на участок",
            },
        ),
        Document(
            "planning_assignment",
            {
                "hy": "Ճարտարապետահատակագծային առաջադրանք",
                "en": "Architectural-planning assignment",
                "ru": "Архитектурно-планировочное задание",
            },
            types=("pdf",),
        ),
        Document(
            "design_documentation",
            {"hy": "Նախագծային փաստաթղթեր", "en": "Design documentation", "ru": "Проектная документация"},
            types=("pdf",),
            max_size_mb=50,
            max_count=10,
        ),
        Document(
            "expert_review",
            {
                "hy": "Նախագծի փորձաքննության դրական եզրակացություն",
                "en": "Positive expert review of the design",
                "ru": "Положительное заключение экспертизы проекта",
            },
            required=False,
            required_when=LARGE,
            types=("pdf",),
            max_size_mb=20,
        ),
        Document(
            "heritage_consent",
            {
                "hy": "Պատմամշակութային հուշարձանների պահպանության լիազոր մարմնի համաձայնությունը",
                "en": "Consent of the heritage protection authority",
                "ru": "Согласие уполномоченного органа по охране памятников истории и культуры",
            },
            required=False,
            required_when=HISTORIC,
            types=("pdf",),
        ),
        Document(
            "co_owners_consent",
            {
                "hy": "Համասեփականատերերի նոտարական համաձայնությունը",
                "en": "Notarised consent of the co-owners",
                "ru": "Нотариальное согласие совладельцев",
            },
            required=False,
            required_when=(Condition("co_owned", "eq", True),),
            max_count=5,
        ),
    ),
    steps=(
        Step(
            "completeness_check",
            {
                "hy": "Փաստաթղթերի ամբողջականության ստուգում",
                "en": "Completeness check",
                "ru": "Проверка комплектности документов",
            },
            role="clerk",
            days=1,
            department="front_office",
            actions=("approve", "return"),
            citizen_text={
                "hy": "Ստուգում ենք, որ բոլոր փաստաթղթերը ներկայացված են։",
                "en": "We are checking that every document is there.",
                "ru": "Проверяем, что все документы представлены.",
            },
        ),
        Step(
            "planning_review",
            {
                "hy": "Քաղաքաշինական փորձաքննություն",
                "en": "Urban planning review",
                "ru": "Градостроительная экспертиза",
            },
            role="specialist",
            days=6,
            department="urban_planning",
            citizen_text={
                "hy": "Մասնագետը համեմատում է նախագիծը գոտևորման նախագծի հետ։",
                "en": "A specialist compares the design with the zoning plan.",
                "ru": "Специалист сверяет проект с проектом зонирования.",
            },
        ),
        Step(
            "heritage_review",
            {
                "hy": "Ճարտարապետական և պատմամշակութային փորձաքննություն",
                "en": "Architecture and heritage review",
                "ru": "Архитектурная и историко-культурная экспертиза",
            },
            role="specialist",
            days=5,
            department="urban_planning",
            when=HISTORIC,
        ),
        Step(
            "engineering_review",
            {
                "hy": "Հրդեհային անվտանգության և ինժեներական փորձաքննություն",
                "en": "Fire-safety and engineering review",
                "ru": "Пожарно-техническая и инженерная экспертиза",
            },
            role="specialist",
            days=3,
            department="urban_planning",
            when=LARGE,
        ),
        Step(
            "signature",
            {"hy": "Թույլտվության ստորագրում", "en": "Signing the permit", "ru": "Подписание разрешения"},
            role="head",
            days=2,
            department="urban_planning",
            actions=("approve", "reject"),
            forbid_self_approval=True,
        ),
    ),
    output=Output(
        title={"hy": "Շինարարության թույլտվություն", "en": "Construction permit", "ru": "Разрешение на строительство"},
        template_file="templates/permit.html",
    ),
)


def _decimal(value):
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return None


def check_cadastral_code(code: str) -> str | None:
    """The problem with a cadastral code, or None when it is well formed."""
    match = CADASTRAL_RE.match(code.strip())
    if not match:
        return gettext("Enter the cadastral code as on the ownership certificate, e.g. 07-001-0123-0045.")
    region, community, block, parcel = match.groups()
    if region not in REGION_CODES:
        return gettext("The cadastral code must start with a region code from 01 to 11.")
    if community == "000" or block == "0000" or parcel == "0000":
        return gettext("The community, block and parcel numbers of a cadastral code cannot be zero.")
    return None


@hookimpl
def validate_application(service: Service, data: Mapping[str, Any]) -> dict[str, str] | None:
    if service.key != KEY:
        return None
    errors = {}
    code = data.get("cadastral_code")
    if code:
        problem = check_cadastral_code(code)
        if problem:
            errors["cadastral_code"] = problem
    plot, footprint = _decimal(data.get("plot_area")), _decimal(data.get("footprint_area"))
    if plot is not None and footprint is not None and footprint > plot:
        errors["footprint_area"] = gettext("The building footprint cannot be larger than the plot.")
    return errors


@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]
