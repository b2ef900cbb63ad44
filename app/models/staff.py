from __future__ import annotations

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Model, MunicipalityScoped
from app.models.municipality import Department, Municipality


class StaffProfile(MunicipalityScoped, Model):
    """Links a Flask-AppBuilder user to the municipality (and department) they work for.

    System administrators have no municipality; everyone else who is staff has exactly one.
    Roles stay on the FAB user, so FAB's permission checks keep working unchanged.
    """

    __tablename__ = "staff_profile"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    municipality_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("municipality.id", ondelete="RESTRICT"), index=True
    )
    department_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("department.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship(User, foreign_keys=[user_id])
    municipality: Mapped[Municipality | None] = relationship(Municipality)
    department: Mapped[Department | None] = relationship(Department)
