"""Deadline reminders: a week before and the day before (or once overdue), each sent once however
often the run is repeated, to the assignee or else the queue's DPOs, never for closed requests or
far deadlines; again for a deadline moved by an extension; two runs at once send once (row locks
on PostgreSQL, the write lock on SQLite); the CLI command and the periodic task."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from portal.audit.services import Actor
from portal.db import utcnow
from portal.extensions import db
from portal.jobs.models import Job
from portal.jobs.runners import PERIODIC
from portal.mail.services import SEND_KIND
from portal.people.models import Employee, Role
from portal.rights import deadlines, reminders
from portal.rights import services as rights
from portal.rights.models import DataRequest, RequestType
from tests.conftest import both_databases
from tests.helpers import audit_entries, make_employee
from tests.rights.support import make_queue, make_staff, manual_jobs


@dataclass
class Desk:
    app: Flask
    alice: str
    dana: str
    pat: str
    olga: str

    def file(self, kind: RequestType = RequestType.ACCESS, *, received_at: datetime | None = None) -> tuple[str, date]:
        """A request of alice's (Spain: due a calendar month after receipt); its id and due date."""
        with self.app.app_context():
            subject = db.session.get(Employee, self.alice)
            assert subject is not None
            details: dict[str, Any] = {"grounds": "g"} if kind == RequestType.OBJECTION else \
                {"wrong": "w", "correct": "c"} if kind == RequestType.RECTIFICATION else {}
            request = rights.file_request(subject, kind, received_at=received_at, **details).request
            db.session.commit()
            assert request.due_on is not None
            return request.id, request.due_on

    def staff(self, who: str) -> Employee:
        """Inside an app context: one of the cast (``alice`` too) as a row."""
        found = db.session.get(Employee, getattr(self, who))
        assert found is not None
        return found

    def request(self, request_id: str) -> DataRequest:
        found = db.session.get(DataRequest, request_id, populate_existing=True)
        assert found is not None
        return found

    def remind(self, day: date | None) -> int:
        with self.app.app_context():
            count = reminders.remind(day)
            db.session.commit()
            return count

    def sent(self) -> list[tuple[str, str, str]]:
        """(template, recipient, request) of every reminder queued so far, in order."""
        with self.app.app_context():
            jobs = db.session.scalars(sa.select(Job).where(Job.kind == SEND_KIND).order_by(Job.created_at, Job.id))
            found = [(j.params["template"], j.params["recipient_id"], j.params["refs"]["request"]) for j in jobs
                     if j.params["template"].startswith("dpo_reminder")]
            db.session.rollback()
            return found


@pytest.fixture
def desk(app: Flask) -> Desk:
    """alice (Spain); dana and pat are the DPOs of the Spain queue, olga of Colombia's."""
    manual_jobs(app)
    with app.app_context():
        spain = make_queue("Spain", rules=[("ES", "*")])
        colombia = make_queue("Colombia", rules=[("CO", "*")])
        db.session.commit()
    return Desk(app=app, alice=make_employee(app, "alice@example.com", name="Alice Martín", jurisdiction="ES"),
                dana=make_staff(app, "dana@example.com", Role.DPO, queues=[spain], name="Dana Okafor"),
                pat=make_staff(app, "pat@example.com", Role.DPO, queues=[spain], name="Pat Second"),
                olga=make_staff(app, "olga@example.com", Role.DPO, queues=[colombia], name="Olga Other"))


def test_the_week_and_the_day_reminders_go_once_each_to_the_queue(desk: Desk) -> None:
    request_id, due = desk.file()
    assert desk.remind(due - timedelta(days=30)) == 0
    assert desk.remind(due - timedelta(days=8)) == 0  # not yet
    assert desk.remind(due - timedelta(days=7)) == 2  # unassigned: both DPOs of the queue, not olga
    week = [("dpo_reminder_7", desk.dana, request_id), ("dpo_reminder_7", desk.pat, request_id)]
    assert sorted(desk.sent()) == sorted(week)
    for day in (7, 7, 6, 3, 2):
        assert desk.remind(due - timedelta(days=day)) == 0  # cron, again and again: nothing twice
    assert desk.remind(due - timedelta(days=1)) == 2
    day_before = [("dpo_reminder_1", desk.dana, request_id), ("dpo_reminder_1", desk.pat, request_id)]
    assert sorted(desk.sent()) == sorted(week + day_before)
    for day in (1, 0, -1, -30):
        assert desk.remind(due - timedelta(days=day)) == 0
    assert len(desk.sent()) == 4
    with desk.app.app_context():
        assert desk.request(request_id).reminded == {"7": (due - timedelta(days=7)).isoformat(),
                                                      "1": (due - timedelta(days=1)).isoformat(),
                                                      "due": due.isoformat()}

    entries = audit_entries(desk.app, "requests:reminder:send")
    assert [(e.targets, e.details["reminder"], e.details["recipients"], e.details["days_left"]) for e in entries] == [
        ({"request": request_id}, "7", 2, 7), ({"request": request_id}, "1", 2, 1)]
    assert all(e.actor_type == "system" and e.subject_id == desk.alice for e in entries)
    dumped = json.dumps([[e.targets, e.details] for e in entries], ensure_ascii=False)
    assert "@" not in dumped and "Alice" not in dumped and "Dana" not in dumped


def test_the_assignee_alone_is_reminded(desk: Desk) -> None:
    request_id, due = desk.file()
    with desk.app.app_context():
        rights.claim(desk.request(request_id), desk.staff("pat"))
        db.session.commit()
    assert desk.remind(due - timedelta(days=5)) == 1
    assert desk.sent() == [("dpo_reminder_7", desk.pat, request_id)]


def test_the_day_reminder_on_the_day_itself(desk: Desk) -> None:
    request_id, due = desk.file()
    assert desk.remind(due) == 2  # the first run comes late: only the day reminder, no week one
    assert {t for t, _, _ in desk.sent()} == {"dpo_reminder_1"}
    assert desk.remind(due) == 0


def test_an_overdue_request_gets_the_day_reminder_once_and_not_the_week_one(desk: Desk) -> None:
    received = utcnow() - timedelta(days=45)
    request_id, due = desk.file(received_at=received)
    assert due < utcnow().date()
    assert desk.remind(None) == 2  # today, by default
    assert sorted(desk.sent()) == sorted([("dpo_reminder_1", desk.dana, request_id),
                                          ("dpo_reminder_1", desk.pat, request_id)])
    assert desk.remind(None) == 0
    assert desk.remind(utcnow().date() + timedelta(days=3)) == 0
    with desk.app.app_context():
        assert set(desk.request(request_id).reminded or {}) == {"1", "due"}


def test_nothing_for_closed_requests_or_far_deadlines(desk: Desk) -> None:
    withdrawn, due = desk.file(RequestType.ACCESS)
    refused, _ = desk.file(RequestType.OBJECTION)
    corrected, _ = desk.file(RequestType.RECTIFICATION)
    far, far_due = desk.file(RequestType.PORTABILITY, received_at=utcnow() + timedelta(days=20))
    with desk.app.app_context():
        dana = desk.staff("dana")
        rights.withdraw(desk.request(withdrawn), desk.staff("alice"))
        for request_id in (refused, corrected):
            rights.claim(desk.request(request_id), dana)
            rights.start_review(desk.request(request_id), dana)
        rights.reject(desk.request(refused), dana, "other", "Explained on the page.")
        rights.approve(desk.request(corrected), dana)  # a rectification completes at once
        rights.record_self_service_access(desk.alice, "ES", actor=Actor.system(), details={})
        db.session.commit()
    for day in (7, 1, 0, -10):
        assert desk.remind(due - timedelta(days=day)) == 0
    assert far_due > due + timedelta(days=14)
    assert desk.sent() == []
    assert desk.remind(far_due - timedelta(days=7)) == 2  # its own time comes
    assert {r for _, _, r in desk.sent()} == {far}


def test_an_extension_starts_the_reminders_again_for_the_new_deadline(desk: Desk) -> None:
    request_id, due = desk.file(RequestType.ERASURE)
    with desk.app.app_context():
        dana = desk.staff("dana")
        rights.claim(desk.request(request_id), dana)
        rights.start_review(desk.request(request_id), dana)
        db.session.commit()
    assert desk.remind(due - timedelta(days=7)) == 1
    with desk.app.app_context():
        new_due = rights.extend(desk.request(request_id), desk.staff("dana"), "Waiting for the vendor.",
                                  today=due - timedelta(days=6))
        db.session.commit()
    assert desk.remind(due - timedelta(days=6)) == 0
    assert desk.remind(due) == 0  # the old deadline no longer counts
    assert desk.remind(new_due - timedelta(days=7)) == 1
    assert desk.remind(new_due - timedelta(days=1)) == 1
    assert desk.remind(new_due - timedelta(days=1)) == 0
    assert [t for t, _, _ in desk.sent()] == ["dpo_reminder_7", "dpo_reminder_7", "dpo_reminder_1"]


@both_databases
def test_two_runs_at_once_send_each_reminder_once(desk: Desk) -> None:
    request_id, due = desk.file()
    day = due - timedelta(days=7)
    second: dict[str, int] = {}

    def run_again() -> None:
        with desk.app.app_context():
            second["count"] = reminders.remind(day)
            db.session.commit()

    with desk.app.app_context():
        first = reminders.remind(day)  # not committed yet: it holds the rows (or SQLite's write lock)
        other = threading.Thread(target=run_again)
        other.start()
        other.join(0.5)  # PostgreSQL: skips the locked row at once; SQLite: waits for the commit
        db.session.commit()
    other.join(20)
    assert not other.is_alive()
    assert (first, second["count"]) == (2, 0)
    assert len(desk.sent()) == 2
    assert desk.remind(day) == 0
    assert len(audit_entries(desk.app, "requests:reminder:send")) == 1


def test_the_command_queues_and_commits(desk: Desk) -> None:
    request_id, due = desk.file()
    runner = desk.app.test_cli_runner()
    result = runner.invoke(args=["requests", "remind", "--today", (due - timedelta(days=3)).isoformat()])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Queued 2 reminder(s)."
    assert {(t, r) for t, _, r in desk.sent()} == {("dpo_reminder_7", request_id)}  # committed: seen from here
    again = runner.invoke(args=["requests", "remind", "--today", (due - timedelta(days=3)).isoformat()])
    assert again.output.strip() == "Queued 0 reminder(s)."
    bad = runner.invoke(args=["requests", "remind", "--today", "tomorrow"])
    assert bad.exit_code == 2 and "--today" in bad.output
    assert len(desk.sent()) == 2


def test_the_job_runner_sends_due_reminders_at_each_sweep(desk: Desk) -> None:
    assert reminders.send_due_reminders in PERIODIC
    # Received on the latest day whose deadline is within a day, counting back from a month ago
    # (a month later may fall on a weekend or a holiday, which moves the deadline on).
    today = utcnow().date()
    back = next(days for days in range(28, 60)
                if deadlines.deadline_for("ES", RequestType.ACCESS, today - timedelta(days=days)).due <= today + timedelta(days=1))
    request_id, due = desk.file(received_at=utcnow() - timedelta(days=back))
    assert (due - today).days <= 1
    with desk.app.app_context():
        assert reminders.send_due_reminders() == 2
        db.session.rollback()  # it committed its own work
        assert reminders.send_due_reminders() == 0
    assert {(t, r) for t, _, r in desk.sent()} == {("dpo_reminder_1", request_id)}
