"""A task as the recipient reads it (API, webhook): the subject by pseudonym only, unless the
recipient is an internal team, which is given the name to find the data."""

from __future__ import annotations

from datetime import date

from portal.api import schemas as s
from portal.crypto.keys import SealError
from portal.extensions import db
from portal.people.models import Employee
from portal.people.pseudonyms import pseudonym
from portal.rights.models import DataRequest

from .models import Recipient, RecipientRole, RecipientTask


def _day(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def item(task: RecipientTask, recipient: Recipient) -> s.RecipientTaskItem:
    name = None
    if recipient.role == RecipientRole.INTERNAL and recipient.needs_name:
        person = db.session.get(Employee, task.subject_id)
        try:
            name = person.display_name if person is not None else None
        except SealError:
            name = None
    period = task.period or None
    correction = task.correction
    request = db.session.get(DataRequest, task.request_id) if task.request_id else None
    confirmation = None
    if task.outcome is not None and task.confirmed_at is not None:
        details = task.details or {}
        confirmation = s.TaskConfirmation(
            outcome=task.outcome, confirmed_at=task.confirmed_at, via=task.confirmed_via or "api",  # type: ignore[arg-type]
            reason=task.reason, details=s.ConfirmationDetails(**details) if details else None)
    return s.RecipientTaskItem(
        id=task.id, action=task.action, subject=s.TaskSubject(pseudonym=pseudonym(task.subject_id), name=name),  # type: ignore[arg-type]
        categories=list(task.categories),
        period=s.TaskPeriod(_day(period.get("date_from")), _day(period.get("date_to"))) if period else None,
        correction=s.Correction(correction.get("wrong", ""), correction.get("correct", "")) if correction else None,
        due=task.due_on, request=request.reference if request is not None else None, created_at=task.created_at,
        state=task.state, confirmation=confirmation)  # type: ignore[arg-type]
