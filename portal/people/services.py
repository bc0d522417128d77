"""Creating and finding employees; keeping their roles in step with the IdP's groups."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select

from portal.audit.services import Actor, record
from portal.crypto import blind_index, directory_cipher, keystore
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.i18n import LANGUAGES
from portal.people.models import Employee, EmploymentStatus, Role, StaffRole

JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class PeopleError(ValueError):
    """A person's details were refused; the message says which and why."""


def normalise_jurisdiction(value: str) -> str:
    value = (value or "").strip().upper()
    if not JURISDICTION.match(value):
        raise PeopleError(f"jurisdiction must be an ISO country code with an optional subdivision (ES, US-CA), not {value!r}")
    return value


def find_by_email(email: str) -> Employee | None:
    return db.session.scalar(select(Employee).where(Employee.email_index == blind_index("email", email)))


def find_by_employee_number(number: str) -> Employee | None:
    return db.session.scalar(
        select(Employee).where(Employee.employee_number_index == blind_index("employee-number", number, fold_case=False))
    )


def create_employee(*, email: str, display_name: str, jurisdiction: str, employee_number: str | None = None,
                    timezone: str = "UTC", status: EmploymentStatus = EmploymentStatus.ACTIVE,
                    actor: Actor) -> Employee:
    email = email.strip()
    if not EMAIL.match(email):
        raise PeopleError("a valid e-mail address is required")
    display_name = display_name.strip() or email.split("@", 1)[0]
    jurisdiction = normalise_jurisdiction(jurisdiction)
    if find_by_email(email) is not None:
        raise PeopleError("an employee with this e-mail address already exists")
    cipher = directory_cipher()
    employee_id = new_id()
    employee = Employee(
        id=employee_id,
        email_index=blind_index("email", email),
        email_sealed=cipher.seal_text(employee_id, "email", email),
        name_sealed=cipher.seal_text(employee_id, "name", display_name[:200]),
        jurisdiction=jurisdiction,
        timezone=timezone,
        employment_status=status,
        left_at=utcnow() if status == EmploymentStatus.FORMER else None,
    )
    if employee_number:
        employee.employee_number_index = blind_index("employee-number", employee_number, fold_case=False)
        employee.employee_number_sealed = cipher.seal_text(employee_id, "employee_number", employee_number)
    db.session.add(employee)
    keystore().create(employee_id)
    record("people:employee:create", actor=actor, subject_id=employee_id,
           details={"jurisdiction": jurisdiction, "status": status.value})
    return employee


def update_profile(employee: Employee, *, display_name: str | None = None, jurisdiction: str | None = None,
                   locale: str | None = None) -> list[str]:
    """Refresh the fields the IdP is the source of; returns the names of what changed.
    ``locale`` is the IdP's claim already matched to a language of the portal (or None)."""
    changed: list[str] = []
    if locale != employee.idp_locale:
        employee.idp_locale = locale
        changed.append("idp_locale")
    cipher = directory_cipher()
    if display_name and display_name.strip() and display_name.strip() != employee.display_name:
        employee.name_sealed = cipher.seal_text(employee.id, "name", display_name.strip()[:200])
        employee.__dict__.pop("display_name", None)
        changed.append("display_name")
    if jurisdiction:
        value = normalise_jurisdiction(jurisdiction)
        if value != employee.jurisdiction:
            employee.jurisdiction = value
            changed.append("jurisdiction")
    return changed


def choose_language(employee: Employee, language: str, *, actor: Actor) -> bool:
    """Remember the language ``employee`` chose in the portal (one of ``LANGUAGES``); audited.
    Returns whether it changed."""
    if language not in LANGUAGES:
        raise PeopleError(f"{language!r} is not a language of the portal")
    if employee.language == language:
        return False
    previous = employee.language
    employee.language = language
    record("people:language:choose", actor=actor, subject_id=employee.id,
           details={"language": language, "previous": previous})
    return True


def sync_roles(employee: Employee, roles: Iterable[Role], *, actor: Actor) -> None:
    wanted = set(roles)
    current = employee.role_names
    if wanted == current:
        return
    employee.roles = [r for r in employee.roles if r.role in wanted] + [
        StaffRole(role=role) for role in sorted(wanted - current)
    ]
    record("people:roles:update", actor=actor, subject_id=employee.id,
           details={"added": sorted(wanted - current), "removed": sorted(current - wanted)})


def roles_from_groups(groups: Iterable[str], *, dpo: Iterable[str], admin: Iterable[str], auditor: Iterable[str]) -> set[Role]:
    names = set(groups)
    roles: set[Role] = set()
    if names & set(dpo):
        roles.add(Role.DPO)
    if names & set(admin):
        roles.add(Role.ADMIN)
    if names & set(auditor):
        roles.add(Role.AUDITOR)
    return roles


def mark_former(employee: Employee, *, actor: Actor) -> None:
    """Employment has ended: SSO no longer admits them, and their sessions end now."""
    from portal.auth.services import end_all_sessions

    if employee.employment_status == EmploymentStatus.FORMER:
        return
    employee.employment_status = EmploymentStatus.FORMER
    employee.left_at = utcnow()
    end_all_sessions(employee, reason="employment-ended", actor=actor)
    record("people:employee:leave", actor=actor, subject_id=employee.id)
