"""Shared by the payment tests: a plug-in with paid services, and drafts to pay for."""

from __future__ import annotations

import secrets
from typing import Any

from app.sdk import FeeItem, Field, Service, Step, hookimpl

PAID = "paid-permit"  # 5 000 ֏ in two items, processed only once paid
LATER = "stall-permit"  # 3 000 ֏, one item, may be paid after filing
FREE = "free-notice"

REVIEW = Step(key="review", title={"hy": "Քննում", "en": "Review"}, role="specialist", days=5)
NOTE = Field(name="note", type="text", label={"hy": "Նշում", "en": "Note"})


def paid_services() -> list[Service]:
    return [
        Service(
            key=PAID,
            version=1,
            title={"hy": "Վճարովի թույլտվություն", "en": "Paid permit", "ru": "Платное разрешение"},
            steps=(REVIEW,),
            fields=(NOTE,),
            fee=5000,
            fee_items=(
                FeeItem(label={"hy": "Պետական տուրք", "en": "State duty", "ru": "Госпошлина"}, amount=3000),
                FeeItem(label={"hy": "Սպասարկման վճար", "en": "Service charge", "ru": "Сбор"}, amount=2000),
            ),
            payment_first=True,
        ),
        Service(
            key=LATER,
            version=1,
            title={"hy": "Տաղավարի թույլտվություն", "en": "Stall permit"},
            steps=(REVIEW,),
            fields=(NOTE,),
            fee=3000,
        ),
        Service(
            key=FREE, version=1, title={"hy": "Անվճար ծանուցում", "en": "Free notice"}, steps=(REVIEW,), fields=(NOTE,)
        ),
    ]


class PaidServices:
    """A plug-in object (registered directly through HAMAYNK_PLUGINS)."""

    __name__ = "paid_services"

    @hookimpl
    def register_services(self) -> list[Service]:
        return paid_services()


def make_draft(app: Any, user_id: int, service_key: str, municipality: str = "alpha") -> int:
    from app.extensions import db
    from app.models import PortalDraft

    with app.app_context():
        draft = PortalDraft(
            municipality_id=app.seeded[municipality]["id"],
            user_id=user_id,
            service_key=service_key,
            service_version=1,
            token=secrets.token_hex(16),
            data={"note": "x", "applicant_name": "Anna Petrosyan"},
            stage="fee",
        )
        db.session.add(draft)
        db.session.commit()
        return int(draft.id)
