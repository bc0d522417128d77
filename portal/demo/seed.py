"""Demo data: the demo identities and about 30 days of synthetic monitoring data each.

``seed`` is idempotent: people who exist are left as they are, and data is added only to
someone who has none.  ``generate`` adds bulk data to one employee."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from portal.audit.services import Actor, record
from portal.auth.models import SsoIdentity
from portal.consent import services as consent
from portal.consent.models import Decision, Purpose
from portal.crypto import blind_index, keystore
from portal.db import utcnow
from portal.demo import synthetic
from portal.demo.identities import PEOPLE, DemoPerson
from portal.demo.seed_extra import seed_policy_and_access
from portal.demo.seed_recipients import ensure_recipients
from portal.demo.seed_requests import seed_requests
from portal.extensions import db
from portal.monitoring.ingest import ingest_batch, store_events, store_screenshots
from portal.monitoring.models import ActivityEvent, TrainingSetUse
from portal.people import services as people
from portal.people.models import Employee, EmploymentStatus, Role

DAYS = 30
SCREENSHOTS = 20


@dataclass
class SeedReport:
    created: list[str]
    existing: list[str]
    events: int
    screenshots: int


def _ensure_person(person: DemoPerson, issuer: str) -> tuple[Employee, bool]:
    employee = people.find_by_email(person.email)
    created = employee is None
    if employee is None:
        employee = people.create_employee(
            email=person.email, display_name=person.name, jurisdiction=person.country,
            employee_number=person.employee_number, timezone=person.timezone, actor=Actor.system(),
            status=EmploymentStatus.FORMER if person.former else EmploymentStatus.ACTIVE,
        )
        people.sync_roles(employee, {Role(r) for r in
                                     people.roles_from_groups(person.groups, dpo=["dpo"], admin=["privacy-admin"],
                                                              auditor=["auditor"])}, actor=Actor.system())
    if person.personal_email and employee.personal_email_index is None:
        people.set_personal_email(employee, person.personal_email, actor=Actor.system())
    digest = blind_index("sso-subject", f"{issuer}\n{person.email}", fold_case=False)
    if not db.session.scalar(select(SsoIdentity.id).where(SsoIdentity.issuer == issuer,
                                                          SsoIdentity.subject_digest == digest)):
        db.session.add(SsoIdentity(issuer=issuer, subject_digest=digest, employee=employee))
    db.session.flush()
    return employee, created


@contextmanager
def _while_employed(employee: Employee) -> Iterator[None]:
    """For the demo's backfill only: the employee as they were when the data was collected."""
    status, left_at = employee.employment_status, employee.left_at
    employee.employment_status = EmploymentStatus.ACTIVE
    try:
        yield
    finally:
        employee.employment_status, employee.left_at = status, left_at


def _as_record(item: synthetic.ValidEvent | synthetic.ValidScreenshot) -> dict[str, Any]:
    """A generated record as a collector sends it (the fields of POST /api/v1/ingest)."""
    if isinstance(item, synthetic.ValidEvent):
        return {"event_id": item.source_event_id, "kind": item.kind.value, "occurred_at": item.occurred_at,
                "application": item.application, "site_domain": item.site_domain, "duration_ms": item.duration_ms,
                **item.secret}
    return {"screenshot_id": item.source_id, "captured_at": item.captured_at, "application": item.application,
            "site_domain": item.site_domain, "image": item.image}


def _has_data(employee: Employee) -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(
        select(ActivityEvent.id).where(ActivityEvent.subject_id == employee.id).limit(1).subquery())))


def seed(issuer: str, *, seed_value: int = 2026, progress: Callable[[str], None] = lambda _: None) -> SeedReport:
    report = SeedReport([], [], 0, 0)
    now = utcnow()
    start = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    for index, person in enumerate(PEOPLE):
        employee, created = _ensure_person(person, issuer)
        (report.created if created else report.existing).append(person.email)
        if not person.data or _has_data(employee):
            continue
        for purpose in Purpose:
            if consent.latest(employee.id, purpose) is None:
                consent.decide(employee.id, purpose, Decision.GRANTED, actor=Actor("employee", employee.id),
                               method="demo-seed", device="Chrome on Windows", policy_version=None)
        rng = random.Random(seed_value + index)  # noqa: S311 - synthetic demo data, not secrets
        was_former = employee.employment_status == EmploymentStatus.FORMER
        end_days = DAYS if not was_former else DAYS - 10
        events = list(synthetic.generate_events(rng, subject_id=employee.id, tz=employee.timezone, start=start,
                                                days=end_days, id_prefix=f"demo-{index}"))
        shots = synthetic.generate_screenshots(rng, tz=employee.timezone, start=start, days=end_days,
                                               count=SCREENSHOTS, id_prefix=f"demo-{index}-shot")
        # Through the ingestion service, as a collector's batch through the API: every check applies.
        # A former employee's data was collected while they worked here: taken in as of then.
        with _while_employed(employee):
            result = ingest_batch(employee.id, [_as_record(e) for e in events], [_as_record(s) for s in shots])
        count = result.screenshots_stored
        for use in synthetic.training_set_uses(rng, subject_id=employee.id, today=now.date()):
            db.session.add(use)
        report.events += len(events)
        report.screenshots += count
        record("demo:data:seed", actor=Actor.system(), subject_id=employee.id,
               details={"events": len(events), "screenshots": count})
        progress(f"{person.email}: {len(events)} events, {count} screenshots")
    ids = {person.email: employee_id for person in PEOPLE
           if (employee_id := getattr(people.find_by_email(person.email), "id", None)) is not None}
    seed_policy_and_access(ids)
    named = ensure_recipients()
    if named:
        progress(f"recipient systems: {', '.join(named)}")
    made = seed_requests(ids)  # commits: its export and erasure jobs run after that
    if made.created:
        progress(f"{len(made.created)} requests (alice, bob, carla, frank), queues and routing")
    return report


def generate(employee: Employee, *, events: int, screenshots: int, seed_value: int | None = None,
             progress: Callable[[int, int], None] = lambda done, total: None) -> tuple[int, int]:
    """Add ``events`` synthetic events and ``screenshots`` screenshots to one employee, in chunks
    committed as they go (so a million events never sit in memory at once)."""
    if employee.employment_status != EmploymentStatus.ACTIVE:
        raise ValueError("bulk data can only be added to an active employee")
    rng = random.Random(seed_value if seed_value is not None else time.time_ns())  # noqa: S311
    cipher = keystore().cipher(employee.id)
    prefix = f"bulk-{time.time_ns():x}"
    end = utcnow() - timedelta(minutes=1)
    chunk: list[synthetic.ValidEvent] = []
    done = 0
    for event in synthetic.generate_bulk_events(rng, subject_id=employee.id, tz=employee.timezone, count=events,
                                                end=end, id_prefix=prefix):
        chunk.append(event)
        if len(chunk) >= 50_000:
            store_events(cipher, chunk)
            db.session.commit()
            done += len(chunk)
            chunk.clear()
            progress(done, events)
    if chunk:
        store_events(cipher, chunk)
        done += len(chunk)
    shots_done = 0
    if screenshots:
        span = max(1, screenshots // 20 + 1)
        written: list[Path] = []
        shots_done = store_screenshots(cipher, synthetic.generate_screenshots(
            rng, tz=employee.timezone, start=end - timedelta(days=span), days=span + 1, count=screenshots,
            id_prefix=f"{prefix}-shot"), written)
        db.session.info.setdefault("portal.written_files", []).extend(written)
    record("demo:data:generate", actor=Actor.system(), subject_id=employee.id,
           details={"events": done, "screenshots": shots_done})
    db.session.commit()
    progress(done, events)
    return done, shots_done


__all__ = ["generate", "seed", "SeedReport", "TrainingSetUse", "datetime", "UTC"]
