"""Permit for outdoor trade, an open-air service area or outdoor advertising
(թույլտվություն արտաքին առևտրի, բացօթյա սպասարկման կամ արտաքին գովազդի համար).

1. A business (a company or a registered sole trader) says what it wants to place and where:
   a trading stall, an open-air café or terrace, or an advertising structure; the area, the
   start date and for how many months.
2. The state registration extract and a location scheme are attached; for advertising also
   the design of the structure and the building owner's consent.
3. A trade and services specialist checks the place against the community's rules on trade
   and the local duty rates (4 working days).
4. Only for terraces and advertising: an urban-planning specialist checks the effect on the
   street's look and on pedestrians (3 working days).
5. The head of the trade and services department signs the permit (2 working days).
6. The permit is issued as a PDF with a verification code; the local duty is charged for
   every month of the permit.
"""

from __future__ import annotations

from app.sdk import Choice, Condition, Document, Field, Output, Service, Step, hookimpl

REQUIRES_CORE_API = ">=1,<2"

PERMIT_TYPES = (
    Choice(
        "outdoor_trade",
        {
            "hy": "Արտաքին առևտուր (կրպակ, վաճառասեղան)",
            "en": "Outdoor trade (stall, kiosk)",
            "ru": "Выездная торговля (киоск, лоток)",
        },
    ),
    Choice(
        "terrace",
        {
            "hy": "Բացօթյա սպասարկման տարածք (ամառային սրճարան)",
            "en": "Open-air service area (summer terrace)",
            "ru": "Открытая площадка обслуживания (летнее кафе)",
        },
    ),
    Choice(
        "advertising",
        {"hy": "Արտաքին գովազդի տեղադրում", "en": "Outdoor advertising", "ru": "Размещение наружной рекламы"},
    ),
)

GOODS = (
    Choice("food", {"hy": "Պարենային ապրանքներ", "en": "Food", "ru": "Продовольственные товары"}),
    Choice("produce", {"hy": "Մրգեր և բանջարեղեն", "en": "Fruit and vegetables", "ru": "Фрукты и овощи"}),
    Choice("flowers", {"hy": "Ծաղիկներ", "en": "Flowers", "ru": "Цветы"}),
    Choice("non_food", {"hy": "Ոչ պարենային ապրանքներ", "en": "Non-food goods", "ru": "Непродовольственные товары"}),
    Choice("books_press", {"hy": "Գրքեր և մամուլ", "en": "Books and newspapers", "ru": "Книги и пресса"}),
)

AD_TYPES = (
    Choice("billboard", {"hy": "Վահանակ (բիլբորդ)", "en": "Billboard", "ru": "Билборд"}),
    Choice("facade_sign", {"hy": "Ճակատային ցուցանակ", "en": "Facade sign", "ru": "Фасадная вывеска"}),
    Choice("lightbox", {"hy": "Լուսային վահանակ", "en": "Lightbox", "ru": "Световой короб"}),
    Choice("banner", {"hy": "Պաստառ", "en": "Banner", "ru": "Баннер"}),
    Choice("screen", {"hy": "Էլեկտրոնային էկրան", "en": "Digital screen", "ru": "Электронный экран"}),
)

TRADE = (Condition("permit_type", "eq", "outdoor_trade"),)
ADVERTISING = (Condition("permit_type", "eq", "advertising"),)
CHANGES_STREETSCAPE = (Condition("permit_type", "in", ["terrace", "advertising"]),)

SERVICE = Service(
    key="trade-permit",
    version=1,
    category="trade",
    title={
        "hy": "Թույլտվություն արտաքին առևտրի, բացօթյա սպասարկման կամ արտաքին գովազդի համար",
        "en": "Permit for outdoor trade, an open-air service area or outdoor advertising",
        "ru": "Разрешение на выездную торговлю, открытую площадку обслуживания или наружную рекламу",
    },
    description={
        "hy": "Համայնքի տարածքում կրպակ կամ վաճառասեղան տեղադրելու, ամառային սրճարան կազմակերպելու "
        "կամ արտաքին գովազդ տեղադրելու թույլտվություն՝ որոշակի ժամկետով։",
        "en": "Permission, for a set number of months, to put up a stall or kiosk, run a summer "
        "terrace or place outdoor advertising in the community.",
        "ru": "Разрешение на определённый срок установить киоск или лоток, организовать летнее кафе "
        "или разместить наружную рекламу на территории общины.",
    },
    who_may_apply={
        "hy": "Պետական գրանցում ունեցող իրավաբանական անձ կամ անհատ ձեռնարկատեր",
        "en": "A registered company or registered sole trader",
        "ru": "Зарегистрированное юридическое лицо или индивидуальный предприниматель",
    },
    delivery={
        "hy": "Էլեկտրոնային PDF՝ ստուգման կոդով, կամ թղթային՝ սպասարկման գրասենյակում",
        "en": "Electronic PDF with a verification code, or on paper at the service office",
        "ru": "Электронный PDF с кодом проверки или на бумаге в офисе обслуживания",
    },
    legal_basis={
        "hy": "«Առևտրի և ծառայությունների մասին» ՀՀ օրենք, «Գովազդի մասին» ՀՀ օրենք, "
        "«Տեղական տուրքերի և վճարների մասին» ՀՀ օրենք, համայնքի ավագանու որոշումը տեղական "
        "տուրքերի դրույքաչափերի մասին",
        "en": "Law of the Republic of Armenia on Trade and Services; Law on Advertising; Law on Local "
        "Duties and Fees; the community council's decision on local duty rates",
        "ru": "Закон РА «О торговле и услугах», Закон РА «О рекламе», Закон РА «О местных пошлинах "
        "и сборах», решение совета общины о ставках местных пошлин",
    },
    fee=10000,
    fee_period="month",
    deadline_days=10,
    fields=(
        Field(
            "permit_type",
            "choice",
            {"hy": "Թույլտվության տեսակը", "en": "Type of permit", "ru": "Вид разрешения"},
            required=True,
            choices=PERMIT_TYPES,
        ),
        Field(
            "business_name",
            "text",
            {
                "hy": "Կազմակերպության կամ ձեռնարկատիրոջ անվանումը",
                "en": "Business name",
                "ru": "Наименование организации или предпринимателя",
            },
            required=True,
            max_length=200,
        ),
        Field(
            "tax_id",
            "text",
            {"hy": "ՀՎՀՀ", "en": "Taxpayer identification number (TIN)", "ru": "ИНН (УНН)"},
            required=True,
            pattern=r"\d{8}",
            help={"hy": "8 թվանշան", "en": "8 digits", "ru": "8 цифр"},
        ),
        Field(
            "location",
            "address",
            {"hy": "Տեղադրման վայրը", "en": "Location", "ru": "Место размещения"},
            required=True,
            max_length=300,
        ),
        Field("start_date", "date", {"hy": "Սկիզբը", "en": "Start date", "ru": "Дата начала"}, required=True),
        Field(
            "period_months",
            "integer",
            {"hy": "Ժամկետը, ամիս", "en": "Duration, months", "ru": "Срок, месяцев"},
            required=True,
            min_value=1,
            max_value=12,
            help={
                "hy": "Տեղական տուրքը գանձվում է յուրաքանչյուր ամսվա համար",
                "en": "The local duty is charged for every month",
                "ru": "Местная пошлина взимается за каждый месяц",
            },
        ),
        Field(
            "area",
            "decimal",
            {"hy": "Զբաղեցվող մակերեսը, մ²", "en": "Area used, m²", "ru": "Занимаемая площадь, м²"},
            visible_when=(Condition("permit_type", "in", ["outdoor_trade", "terrace"]),),
            required_when=(Condition("permit_type", "in", ["outdoor_trade", "terrace"]),),
            min_value=0.5,
            max_value=500,
        ),
        Field(
            "goods",
            "multichoice",
            {"hy": "Վաճառվող ապրանքները", "en": "Goods sold", "ru": "Реализуемые товары"},
            visible_when=TRADE,
            required_when=TRADE,
            choices=GOODS,
        ),
        Field(
            "seats",
            "integer",
            {"hy": "Նստատեղերի քանակը", "en": "Number of seats", "ru": "Количество посадочных мест"},
            visible_when=(Condition("permit_type", "eq", "terrace"),),
            required_when=(Condition("permit_type", "eq", "terrace"),),
            min_value=1,
            max_value=500,
        ),
        Field(
            "ad_type",
            "choice",
            {
                "hy": "Գովազդային կառույցի տեսակը",
                "en": "Type of advertising structure",
                "ru": "Тип рекламной конструкции",
            },
            visible_when=ADVERTISING,
            required_when=ADVERTISING,
            choices=AD_TYPES,
        ),
        Field(
            "ad_surface",
            "decimal",
            {"hy": "Գովազդային մակերեսը, մ²", "en": "Advertising surface, m²", "ru": "Рекламная площадь, м²"},
            visible_when=ADVERTISING,
            required_when=ADVERTISING,
            min_value=0.1,
            max_value=200,
        ),
        Field(
            "illuminated",
            "boolean",
            {"hy": "Լուսավորվող է", "en": "Illuminated", "ru": "С подсветкой"},
            visible_when=ADVERTISING,
        ),
        Field(
            "on_building",
            "boolean",
            {
                "hy": "Տեղադրվում է ուրիշի շենքի վրա",
                "en": "Placed on someone else's building",
                "ru": "Размещается на чужом здании",
            },
            visible_when=ADVERTISING,
        ),
    ),
    documents=(
        Document(
            "registration_extract",
            {
                "hy": "Իրավաբանական անձանց պետական ռեգիստրի քաղվածք",
                "en": "Extract from the state register of legal entities",
                "ru": "Выписка из государственного регистра юридических лиц",
            },
        ),
        Document(
            "location_scheme",
            {"hy": "Տեղադրման սխեմա", "en": "Location scheme", "ru": "Схема размещения"},
            types=("pdf", "jpeg", "png"),
            max_size_mb=20,
        ),
        Document(
            "ad_design",
            {
                "hy": "Գովազդային կառույցի էսքիզը",
                "en": "Design of the advertising structure",
                "ru": "Эскиз рекламной конструкции",
            },
            required=False,
            required_when=ADVERTISING,
            max_size_mb=20,
            max_count=3,
        ),
        Document(
            "owner_consent",
            {
                "hy": "Շենքի սեփականատիրոջ համաձայնությունը",
                "en": "Consent of the building's owner",
                "ru": "Согласие собственника здания",
            },
            required=False,
            required_when=(Condition("on_building", "eq", True),),
        ),
    ),
    steps=(
        Step(
            "trade_review",
            {
                "hy": "Առևտրի բաժնի ուսումնասիրություն",
                "en": "Trade department review",
                "ru": "Рассмотрение отделом торговли",
            },
            role="specialist",
            days=4,
            department="trade",
        ),
        Step(
            "streetscape_review",
            {
                "hy": "Քաղաքաշինական համաձայնեցում",
                "en": "Urban design approval",
                "ru": "Градостроительное согласование",
            },
            role="specialist",
            days=3,
            department="urban_planning",
            when=CHANGES_STREETSCAPE,
        ),
        Step(
            "signature",
            {"hy": "Թույլտվության ստորագրում", "en": "Signing the permit", "ru": "Подписание разрешения"},
            role="head",
            days=2,
            department="trade",
            actions=("approve", "reject"),
            forbid_self_approval=True,
        ),
    ),
    output=Output(
        title={"hy": "Թույլտվություն", "en": "Permit", "ru": "Разрешение"},
        template_file="templates/permit.html",
    ),
)


@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]
