"""Residence / family-composition certificate (տեղեկանք բնակության վայրի և ընտանիքի կազմի մասին).

1. The citizen (or a clerk at the front office) fills in who needs the certificate and why.
2. The passport or ID card is attached; a power of attorney when applying for someone else.
3. A population-registry specialist checks the registration records (1 working day).
4. The head of the department signs the certificate (1 working day).
5. The certificate is issued as a PDF with a verification code.
"""

from __future__ import annotations

from app.sdk import Choice, Condition, Document, Field, Output, Service, Step, hookimpl

REQUIRES_CORE_API = ">=1,<2"

PURPOSES = [
    Choice("bank", {"hy": "Բանկի համար", "en": "For a bank", "ru": "Для банка"}),
    Choice("court", {"hy": "Դատարանի համար", "en": "For a court", "ru": "Для суда"}),
    Choice("embassy", {"hy": "Դեսպանատան համար", "en": "For an embassy", "ru": "Для посольства"}),
    Choice(
        "social", {"hy": "Սոցիալական ծառայության համար", "en": "For social services", "ru": "Для социальной службы"}
    ),
    Choice("other", {"hy": "Այլ", "en": "Other", "ru": "Другое"}),
]

SERVICE = Service(
    key="residence-certificate",
    version=1,
    category="civil-registry",
    title={
        "hy": "Տեղեկանք բնակության վայրի և ընտանիքի կազմի մասին",
        "en": "Certificate of residence and family composition",
        "ru": "Справка о месте жительства и составе семьи",
    },
    description={
        "hy": "Տեղեկանք հաշվառման հասցեում բնակվող անձանց կազմի մասին։",
        "en": "A certificate listing the people registered at an address.",
        "ru": "Справка о составе лиц, зарегистрированных по адресу.",
    },
    who_may_apply={
        "hy": "Հասցեում հաշվառված չափահաս անձը կամ նրա լիազորված ներկայացուցիչը",
        "en": "An adult registered at the address, or their authorised representative",
        "ru": "Совершеннолетний, зарегистрированный по адресу, или его доверенное лицо",
    },
    delivery={
        "hy": "Էլեկտրոնային PDF կամ թղթային՝ սպասարկման գրասենյակում",
        "en": "Electronic PDF, or on paper at the service office",
        "ru": "Электронный PDF или на бумаге в офисе обслуживания",
    },
    legal_basis={
        "hy": "«Տեղական ինքնակառավարման մասին» ՀՀ օրենք, հոդված 35",
        "en": "Law of the Republic of Armenia on Local Self-Government, Article 35",
        "ru": "Закон РА «О местном самоуправлении», статья 35",
    },
    fee=0,
    deadline_days=3,
    fields=(
        Field("address", "address", {"hy": "Հասցե", "en": "Address", "ru": "Адрес"}, required=True, max_length=300),
        Field(
            "purpose", "choice", {"hy": "Նպատակ", "en": "Purpose", "ru": "Цель"}, required=True, choices=tuple(PURPOSES)
        ),
        Field(
            "purpose_other",
            "text",
            {"hy": "Նշեք նպատակը", "en": "State the purpose", "ru": "Укажите цель"},
            visible_when=(Condition("purpose", "eq", "other"),),
            required_when=(Condition("purpose", "eq", "other"),),
            max_length=200,
        ),
        Field(
            "on_behalf",
            "boolean",
            {
                "hy": "Դիմում եմ այլ անձի անունից",
                "en": "I apply on someone else's behalf",
                "ru": "Подаю от имени другого лица",
            },
        ),
        Field(
            "copies",
            "integer",
            {"hy": "Օրինակների քանակ", "en": "Number of copies", "ru": "Количество экземпляров"},
            required=True,
            min_value=1,
            max_value=5,
        ),
    ),
    documents=(
        Document(
            "identity",
            {"hy": "Անձնագիր կամ նույնականացման քարտ", "en": "Passport or ID card", "ru": "Паспорт или ID-карта"},
            types=("pdf", "jpeg", "png"),
            max_size_mb=10,
            max_count=2,
        ),
        Document(
            "power_of_attorney",
            {"hy": "Լիազորագիր", "en": "Power of attorney", "ru": "Доверенность"},
            required=False,
            required_when=(Condition("on_behalf", "eq", True),),
            types=("pdf", "jpeg", "png"),
            max_size_mb=10,
        ),
    ),
    steps=(
        Step(
            "registry_check",
            {"hy": "Հաշվառման տվյալների ստուգում", "en": "Registry check", "ru": "Проверка учётных данных"},
            role="specialist",
            days=1,
            department="civil_registry",
        ),
        Step(
            "signature",
            {"hy": "Ստորագրում", "en": "Signature", "ru": "Подписание"},
            role="head",
            days=1,
            department="civil_registry",
            actions=("approve", "reject"),
            forbid_self_approval=True,
        ),
    ),
    output=Output(
        title={"hy": "Տեղեկանք", "en": "Certificate", "ru": "Справка"},
        template_file="templates/certificate.html",
    ),
)


@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]
