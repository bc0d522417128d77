"""Small helpers for the tests of the requests domain's services and the erasure job: staff and
queues, monitoring data through real ingestion, jobs run by the test itself, and row snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from portal.audit.models import AuditEntry
from portal.audit.services import Actor
from portal.consent.models import Purpose
from portal.consent.services import has_consent, record_training_use
from portal.db import new_id
from portal.exports.services import JOB_KIND as EXPORT_JOB
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import EXTENSION
from portal.monitoring.ingest import ingest_batch
from portal.people import services as people
from portal.people.models import Employee, Role
from portal.rights.models import DataRequest, Queue, QueueMember, RequestEvent, RoutingRule
from portal.rights.services import ERASURE_JOB
from tests.conftest import _stop_job_runner
from tests.helpers import T, event, existing, grant_all_consents, make_employee
from tests.monitoring.support import png

FULFILMENT_JOBS = (ERASURE_JOB, EXPORT_JOB)
# Event kinds of both event categories: input_events (click, key_timing, mouse_move, scroll) and
# app_activity (site_visit, app_focus).
KINDS = ("site_visit", "click", "key_timing", "app_focus", "mouse_move", "scroll")


@dataclass
class RecordingRunner:
    """Stands in for the job transport: records dispatches; the test runs the jobs itself."""

    dispatched: list[tuple[str, float]] = field(default_factory=list)

    def dispatch(self, job_id: str, delay: float = 0) -> None:
        self.dispatched.append((job_id, delay))


def manual_jobs(app: Flask) -> RecordingRunner:
    """Stop the thread runner (and its sweeper) so that jobs run only when the test says so."""
    _stop_job_runner(app)
    recorder = RecordingRunner()
    app.extensions[EXTENSION] = recorder
    return recorder


# -- people and queues -----------------------------------------------------------------------------

def make_queue(name: str, *, rules: Iterable[tuple[str, str]] = ()) -> str:
    """Inside an app context: a queue with routing rules (jurisdiction, type) to it."""
    queue = Queue(id=new_id(), name=name, description=f"{name} queue")
    db.session.add(queue)
    db.session.flush()
    for jurisdiction, request_type in rules:
        db.session.add(RoutingRule(jurisdiction=jurisdiction, request_type=request_type, queue_id=queue.id))
    db.session.flush()
    return queue.id


def make_staff(app: Flask, email: str, *roles: Role, queues: Iterable[str] = (), name: str = "Staff Member") -> str:
    """A staff member with ``roles``, a member of ``queues`` (ids)."""
    staff_id = make_employee(app, email, name=name, consents=False)
    with app.app_context():
        staff = db.session.get(Employee, staff_id)
        assert staff is not None
        people.sync_roles(staff, roles, actor=Actor.system())
        for queue_id in queues:
            db.session.add(QueueMember(queue_id=queue_id, employee_id=staff_id))
        db.session.commit()
    return staff_id


def get(model: type[T], key: Any) -> T:
    """A fresh copy of a row (inside an app context)."""
    return existing(model, key, fresh=True)


# -- monitoring data -------------------------------------------------------------------------------

def days_ago(days: int, minutes: int = 0) -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=days,
                                                                                                minutes=minutes)


def fill(subject_id: str, *, events: int = 12, shots: int = 2, training: bool = True, at_days_ago: int = 0,
         prefix: str = "") -> None:
    """Inside an app context: events of both event categories, screenshots (sealed files) and a
    training-set use, through real ingestion, ``at_days_ago`` days back (noon UTC); committed."""
    if not has_consent(subject_id, Purpose.SCREENSHOT_CAPTURE):
        grant_all_consents(subject_id)
    base = days_ago(at_days_ago) if at_days_ago else datetime.now(UTC) - timedelta(hours=1)
    batch = [event(n, event_id=f"{prefix}ev-{at_days_ago}-{n}", kind=KINDS[n % len(KINDS)],
                   occurred_at=(base - timedelta(minutes=n)).isoformat(), x=n, y=2 * n, payload={"n": n},
                   site_domain="github.com" if KINDS[n % len(KINDS)] == "site_visit" else None)
             for n in range(events)]
    images = [{"screenshot_id": f"{prefix}shot-{at_days_ago}-{n}",
               "captured_at": (base - timedelta(minutes=n, seconds=30)).isoformat(),
               "application": "Slack", "site_domain": "slack.com", "image": png(f"shot {n}", size=(40 + n, 30))}
              for n in range(shots)]
    ingest_batch(subject_id, events=batch, screenshots=images)
    if training:
        record_training_use(subject_id, dataset="assist-v2", snapshot=f"{prefix}{at_days_ago}-{new_id()[:6]}",
                            record_count=100, used_on=(base - timedelta(hours=1)).date(), model="assist-7b",
                            actor=Actor.system())
    db.session.commit()


# -- jobs --------------------------------------------------------------------------------------------

def pending_jobs(kinds: Iterable[str] = FULFILMENT_JOBS) -> list[str]:
    """Queued jobs of ``kinds``, ignoring their back-off (the test is the clock)."""
    ids = list(db.session.scalars(sa.select(Job.id).where(Job.kind.in_(list(kinds)), Job.state == JobState.QUEUED)
                                  .order_by(Job.created_at, Job.id)))
    db.session.rollback()
    return ids


def run_now(job_id: str | None) -> JobState | None:
    """Run one job to its end at once, even while it waits out a retry's back-off (``job_id``: a
    request's or an export's, which must have one)."""
    assert job_id is not None, "no job to run"
    db.session.execute(sa.update(Job).where(Job.id == job_id, Job.state == JobState.QUEUED)
                       .values(not_before=datetime.now(UTC) - timedelta(seconds=1)))
    db.session.commit()
    state = jobs.run_job(job_id)
    db.session.remove()
    return state


def run_pending(kinds: Iterable[str] = FULFILMENT_JOBS, *, limit: int = 50) -> list[JobState | None]:
    """Inside an app context: run the queued jobs of ``kinds`` (retries included) until none is left."""
    kinds = tuple(kinds)
    outcomes: list[JobState | None] = []
    for _ in range(limit):
        ids = pending_jobs(kinds)
        if not ids:
            return outcomes
        for job_id in ids:
            outcomes.append(run_now(job_id))
    raise AssertionError("jobs kept coming back")


# -- what a refusal must not change ------------------------------------------------------------------

REQUEST_COLUMNS = list(DataRequest.__table__.c)


def request_row(request_id: str) -> tuple[Any, ...]:
    row = db.session.execute(sa.select(*REQUEST_COLUMNS).where(DataRequest.id == request_id)).one()
    return tuple(row)


def count(model: Any, *conditions: Any) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions)) or 0


def request_state_of_world(request_id: str) -> tuple[Any, ...]:
    """The request's row, its timeline length and the number of audit entries (all of them)."""
    return (request_row(request_id), count(RequestEvent, RequestEvent.request_id == request_id), count(AuditEntry))


def tags_for(request_id: str) -> list[str]:
    """The audit tags written about a request, in order."""
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq))
    return [e.tag for e in entries if (e.targets or {}).get("request") == request_id]


# -- a small world: two employees, two queues with two DPOs each, an admin ---------------------------

@dataclass
class World:
    app: Flask
    alice: str  # an employee in Spain (the Spain queue)
    bob: str  # an employee in California (the Americas queue)
    spain: str
    americas: str
    dpo: str  # DPOs of the Spain queue
    dpo2: str
    us_dpo: str  # a DPO of the Americas queue only
    admin: str

    def __getitem__(self, name: str) -> Employee:
        """The employee called ``name`` in this world, fresh from the database."""
        found: Employee = get(Employee, getattr(self, name))
        return found


def start_world(app: Flask) -> Iterator[World]:
    """The body of each test module's ``world`` fixture: jobs run by the test, the world made."""
    manual_jobs(app)
    made = make_world(app)
    with app.app_context():
        yield made
        db.session.rollback()


def make_world(app: Flask) -> World:
    """Routing: ES -> Spain, US-CA -> Americas, anything else -> the default queue."""
    alice = make_employee(app, "alice@example.com", name="Alice Example", jurisdiction="ES")
    bob = make_employee(app, "bob@example.com", name="Bob Example", jurisdiction="US-CA")
    with app.app_context():
        spain = make_queue("Spain", rules=[("ES", "*")])
        americas = make_queue("Americas", rules=[("US-CA", "*")])
        db.session.commit()
    return World(app=app, alice=alice, bob=bob, spain=spain, americas=americas,
                 dpo=make_staff(app, "dana@example.com", Role.DPO, queues=[spain]),
                 dpo2=make_staff(app, "dario@example.com", Role.DPO, queues=[spain]),
                 us_dpo=make_staff(app, "uma@example.com", Role.DPO, queues=[americas]),
                 admin=make_staff(app, "admin@example.com", Role.ADMIN))
