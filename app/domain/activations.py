"""Which services a municipality offers, and on what terms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain import access, audit
from app.models import Department, ServiceActivation

if TYPE_CHECKING:
    from app.plugins.registry import RegisteredService, ServiceRegistry


class ActivationError(ValueError):
    """A municipal admin asked for something impossible; the message is for them."""


@dataclass(frozen=True)
class OfferedService:
    registered: RegisteredService
    activation: ServiceActivation | None

    @property
    def enabled(self) -> bool:
        return bool(self.activation and self.activation.enabled)

    @property
    def fee(self) -> int:
        if self.activation and self.activation.fee_override is not None:
            return self.activation.fee_override
        return self.registered.service.fee

    @property
    def deadline_days(self) -> int:
        if self.activation and self.activation.deadline_override is not None:
            return self.activation.deadline_override
        return self.registered.service.deadline_days


def offered_to(registered: RegisteredService | None, municipality_id: int) -> bool:
    """Whether the municipality may offer the service at all: a service a municipal admin
    built in the admin UI belongs to that municipality alone."""
    return registered is not None and registered.municipality_id in (None, municipality_id)


def catalogue(session: Session, registry: ServiceRegistry, municipality_id: int) -> list[OfferedService]:
    """Every service this municipality may offer (newest version) with its terms: 2 queries."""
    rows = session.execute(access.within(select(ServiceActivation), ServiceActivation, municipality_id)).scalars()
    by_key = {row.service_key: row for row in rows}
    return [OfferedService(reg, by_key.get(reg.key)) for reg in registry.latest() if offered_to(reg, municipality_id)]


def set_activation(
    session: Session,
    registry: ServiceRegistry,
    municipality_id: int,
    service_key: str,
    *,
    enabled: bool,
    fee_override: int | None,
    deadline_override: int | None,
    department_id: int | None,
    actor_id: int | None,
) -> ServiceActivation:
    """Create or update the activation; the caller commits (one transaction with the audit row)."""
    from flask_babel import gettext as _

    if not offered_to(registry.get(service_key), municipality_id):
        raise ActivationError(_("There is no service %(key)s.", key=service_key))
    if fee_override is not None and fee_override < 0:
        raise ActivationError(_("The fee cannot be negative."))
    if deadline_override is not None and deadline_override < 1:
        raise ActivationError(_("The deadline must be at least one working day."))
    if department_id is not None:
        ours = access.within(select(Department.id), Department, municipality_id)
        if session.execute(ours.where(Department.id == department_id)).first() is None:
            raise ActivationError(_("Choose a department of this municipality."))
    stmt = access.within(select(ServiceActivation), ServiceActivation, municipality_id)
    row = session.execute(stmt.where(ServiceActivation.service_key == service_key)).scalar_one_or_none()
    if row is None:
        row = ServiceActivation(municipality_id=municipality_id, service_key=service_key)
        session.add(row)
    before = {
        "enabled": row.enabled,
        "fee_override": row.fee_override,
        "deadline_override": row.deadline_override,
        "department_id": row.department_id,
    }
    row.enabled = enabled
    row.fee_override = fee_override
    row.deadline_override = deadline_override
    row.department_id = department_id
    row.updated_by_id = actor_id
    after = {
        "enabled": enabled,
        "fee_override": fee_override,
        "deadline_override": deadline_override,
        "department_id": department_id,
    }
    audit.record(
        session,
        "service.activation",
        actor=actor_id,
        target=("service", service_key),
        municipality_id=municipality_id,
        details={"before": before, "after": after},
    )
    return row
