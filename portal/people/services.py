"""Creating and finding employees; keeping their roles in step with the IdP's groups."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import lazyload

from portal.audit.services import Actor, record
from portal.crypto import blind_index
from portal.crypto.services import create_subject_key
from portal.db import new_id, utcnow
from portal.extensions import db
from portal.i18n import LANGUAGES
from portal.people.models import Employee, EmploymentStatus, Role, StaffRole

JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class PeopleError(ValueError):
    """A person's details were refused; the message says which and why."""


class DuplicateError(PeopleError):
    """The value is another employee's (work e-mail, employee number, externalId)."""


def normalise_jurisdiction(value: str) -> str:
    value = (value or "").strip().upper()
    if not JURISDICTION.match(value):
        raise PeopleError(f"jurisdiction must be an ISO country code with an optional subdivision (ES, US-CA), not {value!r}")
    return value


# A look-up by address or number (a collector's batch, a sign-in, SCIM) leaves the staff roles to be
# loaded when they are read: most callers never read them, and it saves a query per look-up.
def find_by_email(email: str) -> Employee | None:
    return db.session.scalar(select(Employee).options(lazyload(Employee.roles))
                             .where(Employee.email_index == blind_index("email", email)))


def find_by_employee_number(number: str) -> Employee | None:
    return db.session.scalar(
        select(Employee).options(lazyload(Employee.roles))
        .where(Employee.employee_number_index == blind_index("employee-number", number, fold_case=False))
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
    employee_id = new_id()
    employee = Employee(
        id=employee_id,
        email_index=blind_index("email", email),
        jurisdiction=jurisdiction,
        timezone=timezone,
        employment_status=status,
        left_at=utcnow() if status == EmploymentStatus.FORMER else None,
    )
    employee.email = email
    employee.display_name = display_name[:200]
    if employee_number:
        employee.employee_number_index = blind_index("employee-number", employee_number, fold_case=False)
        employee.employee_number = employee_number
    db.session.add(employee)
    # The row first, then its key: a row the database refuses (a concurrent insert of the same
    # person won the unique key) leaves no key behind, and one rolled back later takes its key along.
    db.session.flush()
    create_subject_key(employee_id)
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
    if display_name and display_name.strip() and display_name.strip() != employee.display_name:
        employee.display_name = display_name.strip()[:200]
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


def find_former_by_personal_email(address: str) -> Employee | None:
    """The former employee whose recorded personal e-mail this is (through its keyed index), or None."""
    found = db.session.scalar(
        select(Employee).where(Employee.personal_email_index == blind_index("personal-email", address)))
    return found if found is not None and found.is_former else None


def set_personal_email(employee: Employee, address: str, *, actor: Actor) -> None:
    """Record the personal e-mail a former employee verifies with (sealed, plus a keyed index)."""
    address = address.strip()
    if not EMAIL.match(address):
        raise PeopleError("a valid personal e-mail address is required")
    index = blind_index("personal-email", address)
    holder = db.session.scalar(select(Employee.id).where(Employee.personal_email_index == index))
    if holder is not None and holder != employee.id:
        raise PeopleError("another person already has this personal e-mail address on record")
    if blind_index("email", address) == employee.email_index:
        raise PeopleError("the personal e-mail address must not be the work address")
    employee.personal_email_index = index
    employee.personal_email = address
    record("people:employee:personal-email", actor=actor, subject_id=employee.id)


def mark_leaver(employee: Employee, left_on: date, *, actor: Actor, personal_email: str | None = None) -> int:
    """Employment has ended on ``left_on``: the employee becomes former, every portal session of
    theirs ends now (SSO no longer admits them; see docs/architecture.md, "Leavers and former
    employees"). Their data stays under its retention rules and their open requests go on.
    Returns how many sessions were ended. A date in the future is refused: run it when they leave."""
    from portal.auth.services import end_all_sessions

    if left_on > utcnow().date():
        raise PeopleError(f"the leave date {left_on.isoformat()} is in the future: mark a leaver on or after "
                          f"the day they leave")
    if personal_email:
        set_personal_email(employee, personal_email, actor=actor)
    was_former = employee.is_former
    employee.employment_status = EmploymentStatus.FORMER
    employee.left_at = datetime.combine(left_on, time.min, tzinfo=UTC)
    ended = end_all_sessions(employee, reason="employment-ended", actor=actor)
    record("people:employee:leave", actor=actor, subject_id=employee.id,
           details={"left_on": left_on.isoformat(), "already_former": was_former, "sessions_ended": ended})
    return ended


def find_by_external_id(external_id: str) -> Employee | None:
    """The employee a provisioning system knows by this SCIM ``externalId`` (case-exact), or None."""
    return db.session.scalar(
        select(Employee).where(Employee.external_id_index == blind_index("external-id", external_id, fold_case=False)))


def _sealed_unique(employee: Employee, column: str, kind: str, value: str, *, fold_case: bool = True) -> str:
    index = blind_index(kind, value, fold_case=fold_case)
    holder = db.session.scalar(select(Employee.id).where(getattr(Employee, column) == index))
    if holder is not None and holder != employee.id:
        raise DuplicateError(f"another employee already has this {kind.replace('-', ' ')}")
    return index


def set_directory_fields(employee: Employee, *, email: str, display_name: str, jurisdiction: str, timezone: str,
                         employee_number: str | None, external_id: str | None, personal_email: str | None,
                         actor: Actor) -> list[str]:
    """Set what a provisioning system (SCIM) keeps about an employee, all at once; returns the names
    of the fields that changed, audited without their values. Refuses (nothing changed) a malformed
    or another person's value."""
    email = email.strip()
    if not EMAIL.match(email):
        raise PeopleError("a valid work e-mail address is required")
    display_name = display_name.strip()[:200] or email.split("@", 1)[0]
    jurisdiction = normalise_jurisdiction(jurisdiction)
    timezone = check_timezone(timezone)
    if employee_number is not None and not employee_number.strip():
        employee_number = None
    if external_id is not None and not external_id.strip():
        external_id = None
    if personal_email is not None:
        personal_email = personal_email.strip() or None
    if personal_email is not None and not EMAIL.match(personal_email):
        raise PeopleError("a valid personal e-mail address is required")
    if personal_email is not None and blind_index("email", personal_email) == blind_index("email", email):
        raise PeopleError("the personal e-mail address must not be the work address")
    email_index = _sealed_unique(employee, "email_index", "email", email)
    number_index = (None if employee_number is None else
                    _sealed_unique(employee, "employee_number_index", "employee-number", employee_number, fold_case=False))
    external_index = (None if external_id is None else
                      _sealed_unique(employee, "external_id_index", "external-id", external_id, fold_case=False))
    personal_index = (None if personal_email is None else
                      _sealed_unique(employee, "personal_email_index", "personal-email", personal_email))
    changed: list[str] = []
    if email_index != employee.email_index or email != employee.email:
        employee.email_index = email_index
        employee.email = email
        changed.append("email")
    if display_name != employee.display_name:
        employee.display_name = display_name
        changed.append("display_name")
    if jurisdiction != employee.jurisdiction:
        employee.jurisdiction = jurisdiction
        changed.append("jurisdiction")
    if timezone != employee.timezone:
        employee.timezone = timezone
        changed.append("timezone")
    if employee_number != employee.employee_number:
        employee.employee_number_index = number_index
        employee.employee_number = employee_number
        changed.append("employee_number")
    if external_id != employee.external_id:
        employee.external_id_index = external_index
        employee.external_id = external_id
        changed.append("external_id")
    if personal_email != employee.personal_email:
        employee.personal_email_index = personal_index
        employee.personal_email = personal_email
        changed.append("personal_email")
    if changed:
        db.session.flush()
        record("people:employee:update", actor=actor, subject_id=employee.id, details={"fields": changed})
    return changed


def check_timezone(value: str) -> str:
    """An IANA time zone name (Europe/Madrid); refused otherwise."""
    value = (value or "").strip() or "UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeopleError(f"timezone must be an IANA time zone name such as Europe/Madrid, not {value[:64]!r}") from None
    return value


def reinstate(employee: Employee, *, actor: Actor) -> bool:
    """A former employee is employed again (re-hired, or a leave recorded by mistake): SSO admits
    them again. Their personal e-mail stays on record. Returns whether anything changed."""
    if not employee.is_former:
        return False
    left_at = employee.left_at
    employee.employment_status = EmploymentStatus.ACTIVE
    employee.left_at = None
    record("people:employee:reinstate", actor=actor, subject_id=employee.id,
           details={"left_on": left_at.date().isoformat() if left_at else None})
    return True
