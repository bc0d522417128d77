from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.crypto.sealed import TEXT, Sealed
from portal.db import Base, CreatedAt, EnumString, SurrogateId, UTCDateTime, enum_check


class EmploymentStatus(enum.StrEnum):
    ACTIVE = "active"
    FORMER = "former"


class Role(enum.StrEnum):
    DPO = "dpo"
    ADMIN = "admin"
    AUDITOR = "auditor"


class Employee(Base):
    """A data subject. Personal fields are sealed; lookups go through keyed blind indexes."""

    __tablename__ = "employees"

    id: Mapped[SurrogateId]
    email_index: Mapped[str] = mapped_column(String(64), unique=True, comment="HMAC of the e-mail")
    email_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    name_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    employee_number_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    employee_number_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    jurisdiction: Mapped[str] = mapped_column(String(8), comment="ISO 3166 country, optionally -subdivision")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    language: Mapped[str | None] = mapped_column(
        String(8), comment="the language the person chose in the portal (en, es, pt_BR); none: not chosen")
    idp_locale: Mapped[str | None] = mapped_column(
        String(8), comment="the IdP's locale claim at the last sign-in, as one of the portal's languages")
    employment_status: Mapped[EmploymentStatus] = mapped_column(
        EnumString(EmploymentStatus, 16), default=EmploymentStatus.ACTIVE,
        server_default=EmploymentStatus.ACTIVE.value)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), comment="the leave date (midnight UTC) of a former employee")
    personal_email_index: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="HMAC of the personal e-mail a former employee verifies with")
    personal_email_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    external_id_index: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="HMAC of the provisioning system's SCIM externalId")
    external_id_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[CreatedAt]

    email = Sealed(email_sealed, "email", TEXT)
    display_name = Sealed(name_sealed, "name", TEXT)
    employee_number = Sealed(employee_number_sealed, "employee_number", TEXT)
    personal_email = Sealed(personal_email_sealed, "personal_email", TEXT)
    external_id = Sealed(external_id_sealed, "external_id", TEXT)

    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="employee", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (enum_check("employment_status", EmploymentStatus),)

    # Flask-Login: the identifier kept in the session is the sign-in session's handle, not the
    # employee id, so that ending that session (sign-out, revocation) takes effect at once.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str | None:
        handle: str | None = self.__dict__.get("_auth_session_id")
        return handle

    def bind_auth_session(self, handle: str) -> None:
        self.__dict__["_auth_session_id"] = handle

    @property
    def role_names(self) -> set[Role]:
        return {r.role for r in self.roles}

    def has_role(self, role: Role) -> bool:
        return role in self.role_names

    @property
    def is_staff(self) -> bool:
        return bool(self.roles)

    @property
    def is_former(self) -> bool:
        return self.employment_status == EmploymentStatus.FORMER


class StaffRole(Base):
    __tablename__ = "staff_roles"

    employee_id: Mapped[str] = mapped_column(ForeignKey("employees.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(EnumString(Role, 16), primary_key=True)
    granted_at: Mapped[CreatedAt]

    employee: Mapped[Employee] = relationship(back_populates="roles")

    __table_args__ = (enum_check("role", Role),)
