"""Deadline reminders to the DPOs: a week before a request is due, and the day before (or on the
day, or once it is overdue).

:func:`remind` is safe to run as often as anyone likes (cron, ``flask --app wsgi requests remind``,
the job runner's sweep): what was sent is recorded in ``DataRequest.reminded`` in the same
transaction as the e-mails are queued, so a second run finds nothing to send. Two runs at the same
moment do not both send either: on PostgreSQL the rows are locked (``FOR UPDATE SKIP LOCKED``), and
on SQLite the run takes the database's write lock before it reads.

``reminded`` is ``{"7": date sent, "1": date sent, "due": the deadline they were about}``; an
extension moves the deadline, and the reminders then start again for the new one.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from portal.audit.services import Actor, record
from portal.db import utcnow, write_lock
from portal.extensions import db
from portal.jobs.runners import periodic

from .models import OPEN_STATES, Channel, DataRequest, QueueMember

WEEK = "7"
DAY = "1"
TEMPLATES = {WEEK: "dpo_reminder_7", DAY: "dpo_reminder_1"}


def recipients(request: DataRequest) -> list[str]:
    """The assignee, or else every DPO of the request's queue."""
    if request.assignee_id:
        return [request.assignee_id]
    if request.queue_id is None:
        return []
    return list(db.session.scalars(select(QueueMember.employee_id).where(QueueMember.queue_id == request.queue_id)
                                   .order_by(QueueMember.employee_id)))


def due_reminder(request: DataRequest, today: date) -> str | None:
    """Which reminder ``request`` should get today, if any: the day one when it is due within a day
    (or overdue) and has not had it; else the week one when due within a week and it has had neither."""
    due = request.effective_due
    if due is None:
        return None
    sent = _sent_for(request, due)
    left = (due - today).days
    if left <= 1:
        return DAY if DAY not in sent else None
    if left <= 7 and WEEK not in sent:
        return WEEK
    return None


def _sent_for(request: DataRequest, due: date) -> dict[str, Any]:
    """The reminders already sent about the deadline ``due`` (none, if they were about an earlier one)."""
    sent = dict(request.reminded or {})
    about = sent.get("due")
    if about is not None and about != due.isoformat():
        return {}
    return sent


def remind(today: date | None = None) -> int:
    """Queue the reminders due ``today`` (default: today, UTC) and record them; the caller commits.
    Returns how many e-mails were queued."""
    from portal.mail.services import notify

    today = today or utcnow().date()
    # SQLite has no row locks: its write lock is taken before reading, so that a concurrent run
    # waits for this one's commit and then sees what it recorded (PostgreSQL: the rows, below).
    write_lock(DataRequest.__table__)
    due = func.coalesce(DataRequest.extended_due_on, DataRequest.due_on)
    query = (select(DataRequest)
             .where(DataRequest.state.in_([s.value for s in OPEN_STATES]),
                    DataRequest.channel != Channel.SELF_SERVICE.value,
                    due.is_not(None), due <= today + timedelta(days=7))
             .order_by(due, DataRequest.id))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=DataRequest, skip_locked=True)
    queued = 0
    for request in db.session.scalars(query):
        kind = due_reminder(request, today)
        if kind is None:
            continue
        effective = request.effective_due
        assert effective is not None  # noqa: S101 - due_reminder said so
        to = recipients(request)
        for recipient_id in to:
            notify(TEMPLATES[kind], recipient_id=recipient_id, refs={"request": request.id})
        request.reminded = {**_sent_for(request, effective), kind: today.isoformat(), "due": effective.isoformat()}
        record("requests:reminder:send", actor=Actor.system(), subject_id=request.subject_id,
               targets={"request": request.id},
               details={"reminder": kind, "due": effective.isoformat(), "days_left": (effective - today).days,
                        "recipients": len(to), "assigned": request.assignee_id is not None})
        queued += len(to)
    return queued


@periodic
def send_due_reminders() -> int:
    """At each sweep of the job runner: queue what is due and commit (nothing is sent twice)."""
    count = remind()
    db.session.commit()
    return count
