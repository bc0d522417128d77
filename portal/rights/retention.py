"""The retention job: deletes every monitoring item whose retention period (the register's
``retention_days`` for its category) has passed, in batches, so that the date the dashboard
promises for the oldest item is kept (docs/architecture.md, "Retention").

Per category, an item is due once ``its time + retention_days`` is reached: events by
``occurred_at``, screenshots by ``captured_at`` (their sealed files too), records of use in AI
training by ``used_on``. A person under an active legal hold keeps the categories it covers, and a
record of use in AI training that an erasure marked "removal required" is kept as the evidence it
is. Rows go first, a batch per transaction; screenshot files are removed only after the
transaction that deleted their rows commits (a crash in between leaves files no row points to,
which the hourly sweep removes). Each batch is taken off the person's dashboard aggregates and
category totals in the transaction that deletes it, at a cost proportional to what it deletes
(not to what is left): every commit leaves rows and aggregates consistent. Each run (not a dry
run) that found anything past its period, deleted or kept under a hold, writes one audit entry
with the counts per category: no person is named in it. A run that found nothing due writes
nothing (every process runs it at start).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select

from portal.audit.services import Actor, record
from portal.db import utcnow
from portal.extensions import db
from portal.jobs import services as jobs
from portal.jobs.models import Job, JobState
from portal.jobs.runners import periodic
from portal.monitoring.aggregates import zone_of
from portal.monitoring.artifacts import screenshot_path
from portal.monitoring.deletion import EVENT_KINDS, delete_events, lock_subject, subtract_stats, walk
from portal.monitoring.models import ActivityEvent, DataCategory, Screenshot, SubjectCategoryStats
from portal.people.models import Employee
from portal.training import services as ledger

from .services import active_holds

log = logging.getLogger(__name__)

RUN_EVERY_SECONDS = 24 * 3600  # the promise is "on or after" the date: a daily run keeps it
JOB_KIND = "monitoring.retention"
CATEGORIES = ("input_events", "app_activity", "screenshots", "ai_training_use")


@dataclass
class RetentionRun:
    """What one run did (or, for a dry run, would do), per category."""

    now: datetime
    dry_run: bool
    cutoffs: dict[str, datetime] = field(default_factory=dict)  # items at or before this are due
    deleted: dict[str, int] = field(default_factory=dict)  # due and deleted (or, dry, to delete)
    held: dict[str, int] = field(default_factory=dict)  # due but kept under a legal hold
    evidence: int = 0  # records of use in AI training due but kept, marked "removal required"
    people: int = 0  # persons with something deleted (or, dry, to delete)

    def as_details(self) -> dict[str, Any]:
        """Flat, as audit details are: ``deleted_<category>``, ``held_<category>``, ``cutoff_<category>``."""
        details: dict[str, Any] = {"kept_as_evidence": self.evidence, "people": self.people}
        for category, cutoff in sorted(self.cutoffs.items()):
            details[f"cutoff_{category}"] = cutoff.isoformat()
            details[f"deleted_{category}"] = self.deleted.get(category, 0)
            details[f"held_{category}"] = self.held.get(category, 0)
        return details


def _due(category: str, cutoff: datetime) -> tuple[Any, list[Any]]:
    """The time column and the conditions of the items of ``category`` due at ``cutoff``."""
    if category in EVENT_KINDS:
        return ActivityEvent.occurred_at, [ActivityEvent.kind.in_(EVENT_KINDS[category]),
                                           ActivityEvent.occurred_at <= cutoff]
    if category == "screenshots":
        return Screenshot.captured_at, [Screenshot.captured_at <= cutoff]
    raise ValueError(category)  # records of use in AI training: the ledger's own (training.services)


def _subjects_with_due(category: str, cutoff: datetime) -> list[str]:
    """The persons who have items of ``category`` due: from the per-person totals for events and
    screenshots (whose ``first_at`` is their oldest item), from the training-set ledger for uses."""
    if category == "ai_training_use":
        return ledger.subjects_with_expired(cutoff.date())
    else:
        query = select(SubjectCategoryStats.subject_id).where(SubjectCategoryStats.category == category,
                                                              SubjectCategoryStats.first_at <= cutoff)
    return sorted(set(db.session.scalars(query)))


def _count_due(category: str, subject_id: str, cutoff: datetime) -> int:
    if category == "ai_training_use":
        return ledger.count_expired(subject_id, cutoff.date())
    column, conditions = _due(category, cutoff)
    subject_column = column.table.c.subject_id
    return db.session.scalar(select(func.count()).select_from(column.table)
                             .where(subject_column == subject_id, *conditions)) or 0


def _delete_due(category: str, subject_id: str, cutoff: datetime, tick: Callable[[int], None]) -> int:
    """Delete the subject's items of ``category`` due at ``cutoff``, a batch per transaction that
    also takes the batch off the subject's aggregates and totals; screenshot files after their
    rows' commit; ``tick(n)`` after each batch. Returns how many were deleted."""
    deleted = 0
    if category in EVENT_KINDS:
        # Days and hours are counted in the employee's zone, as ingestion and rebuild_aggregates count them.
        zone = zone_of(db.session.scalar(select(Employee.timezone).where(Employee.id == subject_id)))
        # delete_events takes rows *before* its end: the instant just after the cutoff.
        for tally in delete_events(subject_id, [category], None, cutoff + timedelta(microseconds=1),
                                   subtract_in=zone):
            deleted += tally.get(category, 0)
            db.session.commit()
            tick(tally.get(category, 0))
        return deleted
    if category == "screenshots":
        for ids in walk(Screenshot.captured_at, Screenshot.id,
                        [Screenshot.subject_id == subject_id, *_due(category, cutoff)[1]]):
            lock_subject(subject_id)  # its category total: one after the other with a recount
            result = cast(CursorResult[Any], db.session.execute(delete(Screenshot).where(Screenshot.id.in_(ids))))
            gone = result.rowcount  # what this run deleted: an erasure may have taken some meanwhile
            if gone:
                subtract_stats(subject_id, category, gone)
            db.session.commit()
            for shot_id in ids:  # only now that the rows are gone for good
                screenshot_path(subject_id, shot_id).unlink(missing_ok=True)
            deleted += len(ids)
            tick(len(ids))
        return deleted
    deleted = ledger.delete_expired(subject_id, cutoff.date())  # a person's snapshots: a handful
    db.session.commit()
    tick(deleted)
    return deleted


def run_retention(*, now: datetime | None = None, dry_run: bool = False,
                  categories: Iterable[str] = CATEGORIES, actor: Actor | None = None,
                  progress: Callable[[int], None] | None = None) -> RetentionRun:
    """Delete (``dry_run``: only count) every item whose retention period has passed at ``now``.
    Commits as it goes, calling ``progress(items deleted so far)`` after each batch; the audit
    entry of a real run is committed last."""
    now = now or utcnow()
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done)

    run = RetentionRun(now=now, dry_run=dry_run)
    days = {c.key: c.retention_days for c in db.session.scalars(select(DataCategory))}
    affected: set[str] = set()
    for category in categories:
        if category not in days:
            continue
        cutoff = now - timedelta(days=days[category])
        run.cutoffs[category] = cutoff
        run.deleted[category] = run.held[category] = 0
        for subject_id in _subjects_with_due(category, cutoff):
            if any(hold.covers(category) for hold in active_holds(subject_id)):
                run.held[category] += _count_due(category, subject_id, cutoff)
                continue
            deleted = _count_due(category, subject_id, cutoff) if dry_run else _delete_due(category, subject_id,
                                                                                               cutoff, tick)
            run.deleted[category] += deleted
            if deleted:
                affected.add(subject_id)
    if "ai_training_use" in run.cutoffs:
        run.evidence = ledger.evidence_count(run.cutoffs["ai_training_use"].date())
    run.people = len(affected)
    if dry_run or not (any(run.deleted.values()) or any(run.held.values())):
        db.session.rollback()
        return run
    record("monitoring:retention:run", actor=actor or Actor.system(), details=run.as_details())
    db.session.commit()
    return run


@jobs.handler(JOB_KIND)
def retention_job(ctx: jobs.JobContext) -> dict[str, Any]:
    """The run as a job: on the job runner's pool with a lease it renews batch by batch, so that a
    long first run neither holds up a process's sweeps nor runs twice at once in one process;
    run again after a crash, it carries on with what is still due."""
    ctx.progress(0, None, force=True)
    run = run_retention(progress=lambda done: ctx.progress(done, None))
    deleted = sum(run.deleted.values())
    ctx.progress(deleted, deleted, force=True)
    if deleted:
        log.info("retention: deleted %s", ", ".join(f"{v} {k}" for k, v in run.deleted.items() if v))
    return {"deleted": sum(run.deleted.values()), "held": sum(run.held.values()), "people": run.people}


@periodic(every=RUN_EVERY_SECONDS)
def retention_periodically() -> None:
    """Daily (and at each process's first sweep): a retention job, unless one is waiting or running."""
    pending = db.session.scalar(select(func.count()).select_from(Job).where(
        Job.kind == JOB_KIND, Job.state.in_([JobState.QUEUED, JobState.RUNNING])))
    if pending:
        return
    jobs.enqueue(JOB_KIND, max_attempts=3)
    db.session.commit()
