"""Provisioning decisions: a User from a directory becomes, changes or leaves an employee through
the people services (which audit each change, without the values)."""

from __future__ import annotations

from portal.audit.services import Actor
from portal.db import utcnow
from portal.people import services as people
from portal.people.models import Employee, EmploymentStatus
from portal.scim.resources import ScimError, UserFields


def _refused(error: people.PeopleError) -> ScimError:
    if isinstance(error, people.DuplicateError):
        return ScimError(409, str(error), "uniqueness")
    return ScimError(400, str(error), "invalidValue")


def create_user(fields: UserFields, *, actor: Actor) -> Employee:
    """A joiner (or, with ``active`` false, someone who has already left)."""
    if people.find_by_email(fields.user_name) is not None:
        raise ScimError(409, "an employee with this userName already exists", "uniqueness")
    try:
        employee = people.create_employee(
            email=fields.user_name, display_name=fields.display_name, jurisdiction=fields.jurisdiction,
            timezone=people.check_timezone(fields.timezone), actor=actor)
        _apply(employee, fields, actor=actor)
    except people.PeopleError as error:
        raise _refused(error) from None
    return employee


def replace_user(employee: Employee, fields: UserFields, *, actor: Actor) -> list[str]:
    """Everything the directory keeps, set at once (PUT, and PATCH after its operations); returns
    what changed, ``active`` included."""
    try:
        return _apply(employee, fields, actor=actor)
    except people.PeopleError as error:
        raise _refused(error) from None


def _apply(employee: Employee, fields: UserFields, *, actor: Actor) -> list[str]:
    changed = people.set_directory_fields(
        employee, email=fields.user_name, display_name=fields.display_name, jurisdiction=fields.jurisdiction,
        timezone=fields.timezone, employee_number=fields.employee_number, external_id=fields.external_id,
        personal_email=fields.personal_email, actor=actor)
    if fields.active is False and employee.employment_status == EmploymentStatus.ACTIVE:
        people.mark_leaver(employee, utcnow().date(), actor=actor)
        changed.append("active")
    elif fields.active is True and employee.is_former:
        people.reinstate(employee, actor=actor)
        changed.append("active")
    return changed


def deactivate(employee: Employee, *, actor: Actor) -> None:
    """DELETE: the person has left. Nothing is erased: their data stays under its retention rules."""
    if not employee.is_former:
        people.mark_leaver(employee, utcnow().date(), actor=actor)
