"""Assigning or changing the address of a property (անշարժ գույքին հասցեի տրամադրում).

1. The owner says which property needs an address (its cadastral code and where it is) and
   why: a newly built building, a divided or merged plot, a property that never had an
   address, or an address that has to be corrected.
2. The ownership certificate and the cadastral plan are attached; the commissioning act for
   a new building, the division or merger document when a plot was split or joined.
3. An urban-planning specialist checks the street register and prepares the address
   (5 working days).
4. The head of the urban planning department signs the decision (2 working days).
5. The address decision is issued as a PDF with a verification code; the municipality
   sends it on to the cadastre committee for registration.
"""

from __future__ import annotations

from app.sdk import Choice, Condition, Document, Field, Output, Service, Step, hookimpl

REQUIRES_CORE_API = ">=1,<2"

PROPERTY_TYPES = (
    Choice("land", {"hy": "Հողամաս", "en": "Land plot", "ru": "Земельный участок"}),
    Choice("building", {"hy": "Շենք կամ շինություն", "en": "Building", "ru": "Здание или сооружение"}),
    Choice(
        "premises",
        {
            "hy": "Բնակարան կամ տարածք շենքում",
            "en": "Flat or premises in a building",
            "ru": "Квартира или помещение в здании",
        },
    ),
    Choice("garage", {"hy": "Ավտոտնակ", "en": "Garage", "ru": "Гараж"}),
)

REASONS = (
    Choice(
        "new_building", {"hy": "Նոր կառուցված շենք", "en": "Newly built building", "ru": "Новое построенное здание"}
    ),
    Choice("division", {"hy": "Գույքի բաժանում", "en": "Division of a property", "ru": "Раздел имущества"}),
    Choice("merger", {"hy": "Գույքերի միավորում", "en": "Merger of properties", "ru": "Объединение имущества"}),
    Choice(
        "no_address",
        {
            "hy": "Գույքը երբևէ հասցե չի ունեցել",
            "en": "The property never had an address",
            "ru": "У имущества никогда не было адреса",
        },
    ),
    Choice(
        "correction",
        {
            "hy": "Հասցեի ճշգրտում կամ փոփոխում",
            "en": "Correcting or changing the address",
            "ru": "Уточнение или изменение адреса",
        },
    ),
)

HAD_ADDRESS = (Condition("reason", "in", ["division", "merger", "correction"]),)

SERVICE = Service(
    key="address-assignment",
    version=1,
    category="urban-planning",
    title={
        "hy": "Անշարժ գույքին հասցեի տրամադրում կամ փոփոխում",
        "en": "Assigning or changing a property address",
        "ru": "Присвоение или изменение адреса объекту недвижимости",
    },
    description={
        "hy": "Համայնքի ղեկավարի որոշում հողամասին, շենքին կամ տարածքին հասցե տրամադրելու կամ "
        "առկա հասցեն փոփոխելու մասին։",
        "en": "A decision of the head of the community giving a land plot, building or premises an "
        "address, or changing the address it has.",
        "ru": "Решение главы общины о присвоении адреса земельному участку, зданию или помещению "
        "либо об изменении существующего адреса.",
    },
    who_may_apply={
        "hy": "Անշարժ գույքի սեփականատերը կամ նրա լիազորված ներկայացուցիչը",
        "en": "The owner of the property or their authorised representative",
        "ru": "Собственник недвижимости или его доверенное лицо",
    },
    delivery={
        "hy": "Էլեկտրոնային PDF՝ ստուգման կոդով, կամ թղթային՝ սպասարկման գրասենյակում",
        "en": "Electronic PDF with a verification code, or on paper at the service office",
        "ru": "Электронный PDF с кодом проверки или на бумаге в офисе обслуживания",
    },
    legal_basis={
        "hy": "«Տեղական ինքնակառավարման մասին» ՀՀ օրենք, ՀՀ կառավարության 2005 թ. օգոստոսի 4-ի "
        "N 1231-Ն որոշում (անշարժ գույքի հասցեավորման կարգ)",
        "en": "Law of the Republic of Armenia on Local Self-Government; Government Decision "
        "No. 1231-N of 4 August 2005 (procedure for addressing real estate)",
        "ru": "Закон РА «О местном самоуправлении», постановление Правительства РА № 1231-Н от "
        "4 августа 2005 г. (порядок адресации недвижимого имущества)",
    },
    fee=0,
    deadline_days=10,
    fields=(
        Field(
            "cadastral_code",
            "text",
            {"hy": "Կադաստրային ծածկագիր", "en": "Cadastral code", "ru": "Кадастровый код"},
            required=True,
            max_length=20,
            pattern=r"\d{2}-\d{3}-\d{4}-\d{4}(-\d{3})?",
            help={
                "hy": "Օրինակ՝ 07-001-0123-0045, տարածքի համար՝ 07-001-0123-0045-012",
                "en": "For example 07-001-0123-0045, or 07-001-0123-0045-012 for premises",
                "ru": "Например, 07-001-0123-0045, для помещения — 07-001-0123-0045-012",
            },
        ),
        Field(
            "property_type",
            "choice",
            {"hy": "Գույքի տեսակը", "en": "Type of property", "ru": "Тип имущества"},
            required=True,
            choices=PROPERTY_TYPES,
        ),
        Field(
            "reason",
            "choice",
            {"hy": "Դիմելու հիմքը", "en": "Reason for the application", "ru": "Основание обращения"},
            required=True,
            choices=REASONS,
        ),
        Field(
            "location",
            "address",
            {"hy": "Գույքի գտնվելու վայրը", "en": "Where the property is", "ru": "Местонахождение имущества"},
            required=True,
            max_length=300,
            help={
                "hy": "Փողոցը, թաղամասը կամ հարևան հասցեները, որոնցով հնարավոր է գտնել գույքը",
                "en": "The street, district or neighbouring addresses that locate the property",
                "ru": "Улица, район или соседние адреса, по которым можно найти имущество",
            },
        ),
        Field(
            "current_address",
            "address",
            {"hy": "Ներկայիս հասցեն", "en": "Current address", "ru": "Нынешний адрес"},
            visible_when=HAD_ADDRESS,
            required_when=HAD_ADDRESS,
            max_length=300,
        ),
        Field(
            "parts_count",
            "integer",
            {
                "hy": "Բաժանման արդյունքում գույքերի քանակը",
                "en": "Number of properties after the division",
                "ru": "Количество объектов после раздела",
            },
            visible_when=(Condition("reason", "eq", "division"),),
            required_when=(Condition("reason", "eq", "division"),),
            min_value=2,
            max_value=50,
        ),
        Field(
            "correction_reason",
            "textarea",
            {
                "hy": "Ինչու է անհրաժեշտ փոփոխել հասցեն",
                "en": "Why the address must change",
                "ru": "Почему необходимо изменить адрес",
            },
            visible_when=(Condition("reason", "eq", "correction"),),
            required_when=(Condition("reason", "eq", "correction"),),
            max_length=1000,
        ),
    ),
    documents=(
        Document(
            "ownership_certificate",
            {
                "hy": "Սեփականության իրավունքի պետական գրանցման վկայական",
                "en": "Certificate of registered ownership",
                "ru": "Свидетельство о государственной регистрации права собственности",
            },
        ),
        Document(
            "cadastral_plan",
            {"hy": "Կադաստրային քարտեզ (հատակագիծ)", "en": "Cadastral map (plan)", "ru": "Кадастровая карта (план)"},
            types=("pdf", "jpeg", "png", "tiff"),
            max_size_mb=20,
        ),
        Document(
            "commissioning_act",
            {
                "hy": "Շահագործման ընդունման ակտ",
                "en": "Act of acceptance into operation",
                "ru": "Акт приёмки в эксплуатацию",
            },
            required=False,
            required_when=(Condition("reason", "eq", "new_building"),),
        ),
        Document(
            "division_document",
            {
                "hy": "Բաժանման կամ միավորման հիմքը հաստատող փաստաթուղթ",
                "en": "Document on the division or merger",
                "ru": "Документ, подтверждающий раздел или объединение",
            },
            required=False,
            required_when=(Condition("reason", "in", ["division", "merger"]),),
            max_count=3,
        ),
    ),
    steps=(
        Step(
            "address_review",
            {"hy": "Հասցեի նախապատրաստում", "en": "Preparing the address", "ru": "Подготовка адреса"},
            role="specialist",
            days=5,
            department="urban_planning",
            citizen_text={
                "hy": "Մասնագետը ստուգում է փողոցների ռեեստրը և նախապատրաստում հասցեն։",
                "en": "A specialist checks the street register and prepares the address.",
                "ru": "Специалист проверяет реестр улиц и готовит адрес.",
            },
        ),
        Step(
            "decision",
            {"hy": "Որոշման ստորագրում", "en": "Signing the decision", "ru": "Подписание решения"},
            role="head",
            days=2,
            department="urban_planning",
            actions=("approve", "reject"),
            forbid_self_approval=True,
        ),
    ),
    output=Output(
        title={
            "hy": "Որոշում հասցե տրամադրելու մասին",
            "en": "Address assignment decision",
            "ru": "Решение о присвоении адреса",
        },
        template_file="templates/decision.html",
    ),
)


@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]
