"""Tree felling permit (ծառահատման թույլտվություն).

1. The applicant says where the trees stand, how many, and why they must go.
2. A photo of the trees is attached; a dendrologist's opinion when more than five trees.
3. An urban-planning specialist inspects the site (5 working days).
4. The head of the department signs the permit (2 working days).
5. The permit is issued as a PDF with a verification code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.sdk import Choice, Condition, Document, Field, Output, Service, Step, gettext, hookimpl

REQUIRES_CORE_API = ">=1,<2"

# Above this many trees the council decides, not the department (a local rule, hence a hook).
COUNCIL_THRESHOLD = 100

SERVICE = Service(
    key="tree-felling",
    version=1,
    category="environment",
    title={"hy": "Ծառահատման թույլտվություն", "en": "Tree felling permit", "ru": "Разрешение на вырубку деревьев"},
    description={
        "hy": "Թույլտվություն համայնքի տարածքում ծառեր հատելու համար։",
        "en": "Permission to fell trees on community land or private plots.",
        "ru": "Разрешение на вырубку деревьев на территории общины.",
    },
    who_may_apply={
        "hy": "Հողամասի սեփականատեր կամ վարձակալ",
        "en": "The owner or tenant of the plot",
        "ru": "Собственник или арендатор участка",
    },
    delivery={"hy": "Էլեկտրոնային PDF", "en": "Electronic PDF", "ru": "Электронный PDF"},
    legal_basis={
        "hy": "«Բուսական աշխարհի մասին» ՀՀ օրենք",
        "en": "Law of the Republic of Armenia on Flora",
        "ru": "Закон РА «О растительном мире»",
    },
    fee=5000,
    deadline_days=10,
    fields=(
        Field("address", "address", {"hy": "Հասցե", "en": "Address", "ru": "Адрес"}, required=True, max_length=300),
        Field(
            "trees",
            "integer",
            {"hy": "Ծառերի քանակ", "en": "Number of trees", "ru": "Количество деревьев"},
            required=True,
            min_value=1,
            max_value=500,
        ),
        Field(
            "reason",
            "choice",
            {"hy": "Պատճառ", "en": "Reason", "ru": "Причина"},
            required=True,
            choices=(
                Choice("dry", {"hy": "Չորացած", "en": "Dry or dead", "ru": "Сухое"}),
                Choice("danger", {"hy": "Վտանգավոր", "en": "Dangerous", "ru": "Опасное"}),
                Choice("construction", {"hy": "Շինարարություն", "en": "Construction", "ru": "Строительство"}),
            ),
        ),
        Field(
            "permit_number",
            "text",
            {
                "hy": "Շինթույլտվության համար",
                "en": "Construction permit number",
                "ru": "Номер разрешения на строительство",
            },
            visible_when=(Condition("reason", "eq", "construction"),),
            required_when=(Condition("reason", "eq", "construction"),),
        ),
    ),
    documents=(
        Document(
            "photo",
            {"hy": "Ծառերի լուսանկար", "en": "Photo of the trees", "ru": "Фото деревьев"},
            types=("jpeg", "png"),
            max_size_mb=5,
            max_count=5,
        ),
        Document(
            "dendrology",
            {"hy": "Դենդրոլոգի եզրակացություն", "en": "Dendrologist's opinion", "ru": "Заключение дендролога"},
            required=False,
            required_when=(Condition("trees", "gt", 5),),
            types=("pdf",),
        ),
    ),
    steps=(
        Step(
            "inspection",
            {"hy": "Տեղազննում", "en": "Site inspection", "ru": "Осмотр на месте"},
            role="specialist",
            days=5,
            department="urban_planning",
        ),
        Step(
            "signature",
            {"hy": "Ստորագրում", "en": "Signature", "ru": "Подписание"},
            role="head",
            days=2,
            department="urban_planning",
            actions=("approve", "reject"),
            forbid_self_approval=True,
        ),
    ),
    output=Output(
        {"hy": "Ծառահատման թույլտվություն", "en": "Tree felling permit", "ru": "Разрешение на вырубку"},
        template_file="templates/permit.html",
    ),
)


@hookimpl
def register_services() -> list[Service]:
    return [SERVICE]


@hookimpl
def validate_application(service: Service, data: Mapping[str, Any]) -> dict[str, str] | None:
    if service.key == SERVICE.key and data.get("trees", 0) > COUNCIL_THRESHOLD:
        return {
            "trees": gettext(
                "More than %(count)d trees needs a council decision, not a permit.", count=COUNCIL_THRESHOLD
            )
        }
    return None
