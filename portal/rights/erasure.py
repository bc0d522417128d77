"""The erasure job: deletes an approved erasure's data category by category, in batches.

Each batch removes its screenshot files first, then deletes the rows and adds to the category's
counts in one transaction; so a job killed at any point and run again carries on where it was,
and its counts match what is gone. Records of use in AI training are kept (they are the evidence
of where the data went) and marked "removal required". Data under an active legal hold is left
alone (blocked) and reported with the legal basis for keeping it; when the hold is lifted, a job
of its own (:func:`erase_after_hold`) erases what it held and tells the person. Once nothing of
the subject's monitoring data is left, the subject's key is destroyed (crypto-shredding: what is
sealed in copies in backups can no longer be opened), and the subject goes on the AI-training
suppression list.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from portal.audit.services import Actor, record
from portal.db import scrub_deleted
from portal.exports.models import Export, ExportState
from portal.exports.services import artifact_path
from portal.extensions import db
from portal.i18n.statements import statement
from portal.jobs import services as jobs
from portal.monitoring import partitions
from portal.monitoring.aggregates import zone_of
from portal.monitoring.artifacts import remove_orphan_screenshots, screenshot_path
from portal.monitoring.deletion import (
    EVENT_KINDS,
    KIND_CATEGORY,
    delete_events,
    rebuild_aggregates,
    remaining_rows,
    walk,
)
from portal.monitoring.models import (
    ActivityDaily,
    ActivityEvent,
    ActivityHourly,
    ActivityTarget,
    Screenshot,
    SubjectCategoryStats,
)
from portal.people.models import Employee
from portal.training import services as ledger
from portal.training.models import RemovalCause

from . import services, statements
from .models import CARRIED_OUT_STATES, DataRequest, ErasureCount, Rectification, RequestState, RequestType
from .statements import hold_basis, how_to_complain

log = logging.getLogger(__name__)

__all__ = ["EVENT_KINDS", "KIND_CATEGORY", "SCRUBBED_TABLES", "erase", "erase_after_hold", "hold_basis", "how_to_complain",
           "rebuild_aggregates", "remaining_rows"]

# Tables an erasure deletes from or updates (the person's rows and the aggregates made of them;
# the training-set ledger only gains rows: its removals).
SCRUBBED_TABLES = [model.__tablename__ for model in (ActivityEvent, Screenshot, ActivityDaily,
                                                     ActivityHourly, ActivityTarget, SubjectCategoryStats,
                                                     Rectification)]

def _bounds(scope: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The instants a date range covers: from the start of its first day to the end of its last,
    in the time zone the person gave them in (UTC for requests that recorded none)."""
    start = scope.get("date_from")
    end = scope.get("date_to")
    zone = zone_of(scope.get("zone") or "UTC")
    return (datetime.combine(date.fromisoformat(start), time.min, zone).astimezone(UTC) if start else None,
            datetime.combine(date.fromisoformat(end) + timedelta(days=1), time.min, zone).astimezone(UTC)
            if end else None)


def _conditions(category: str, subject_id: str, start: datetime | None, end: datetime | None) -> tuple[Any, list[Any]]:
    """The table's id column and the WHERE conditions for the subject's rows of ``category``."""
    if category in EVENT_KINDS:
        conditions = [ActivityEvent.subject_id == subject_id, ActivityEvent.kind.in_(EVENT_KINDS[category])]
        if start:
            conditions.append(ActivityEvent.occurred_at >= start)
        if end:
            conditions.append(ActivityEvent.occurred_at < end)
        return ActivityEvent.id, conditions
    if category == "screenshots":
        conditions = [Screenshot.subject_id == subject_id]
        if start:
            conditions.append(Screenshot.captured_at >= start)
        if end:
            conditions.append(Screenshot.captured_at < end)
        return Screenshot.id, conditions
    raise ValueError(category)  # records of use in AI training: see _mark_training_uses


def _count(request_id: str, category: str) -> ErasureCount:
    row = db.session.get(ErasureCount, (request_id, category))
    if row is None:
        row = ErasureCount(request_id=request_id, category=category, deleted=0, blocked=0, removal_required=0)
        db.session.add(row)
    return row


def _mark_training_uses(request_id: str, subject_id: str, start: datetime | None, end: datetime | None) -> int:
    """Mark the snapshots in scope (made within the bounds) that hold the person "removal
    required" in the training-set ledger (one marked before keeps its first mark) and return how
    many in scope are so marked. Nothing of the ledger is deleted."""
    created_from, created_before = _days(start, end)
    return ledger.mark_removals(subject_id, RemovalCause.ERASURE, request_id=request_id,
                                created_from=created_from, created_before=created_before)


def _days(start: datetime | None, end: datetime | None) -> tuple[date | None, date | None]:
    """The snapshot days within the bounds: from the start's day, before the end's (a snapshot made
    on the day the bounds end in is within them unless they end at midnight)."""
    before = None if end is None else (end.date() if end.time() == time.min else end.date() + timedelta(days=1))
    return (start.date() if start else None), before


def _erase_categories(ctx: jobs.JobContext, request_id: str, subject_id: str, categories: list[str],
                      start: datetime | None, end: datetime | None, done: int) -> int:
    """Erase ``categories`` of the subject between ``start`` and ``end``, batch by batch, each
    batch committed with its counts; records of use in AI training are marked. Returns how many
    rows were deleted in place (rather than with the tables that held them)."""
    in_place = 0
    if start is None and end is None:
        done = _drop_partitions(ctx, request_id, subject_id, categories, done)
    for tally in delete_events(subject_id, [c for c in categories if c in EVENT_KINDS], start, end):
        for category, deleted in tally.items():
            _count(request_id, category).deleted += deleted
        db.session.commit()
        done += sum(tally.values())
        in_place += sum(tally.values())
        ctx.progress(done, None)
    for category in categories:
        if category == "ai_training_use":
            _count(request_id, category).removal_required = _mark_training_uses(request_id, subject_id, start, end)
            db.session.commit()
            continue
        id_column, conditions = _conditions(category, subject_id, start, end)
        if category in EVENT_KINDS:  # deleted above
            _count(request_id, category)
            db.session.commit()
            continue
        for ids in walk(Screenshot.captured_at, id_column, conditions):
            for shot_id in ids:  # files first: a crash leaves rows whose files are gone, deleted next run
                screenshot_path(subject_id, shot_id).unlink(missing_ok=True)
            db.session.execute(delete(Screenshot).where(Screenshot.id.in_(ids)))
            _count(request_id, category).deleted += len(ids)
            db.session.commit()
            done += len(ids)
            in_place += len(ids)
            ctx.progress(done, None)
        _count(request_id, category)
        db.session.commit()
        remove_orphan_screenshots(subject_id)  # and the files of screenshots whose ingestion never committed
    return in_place


def _drop_partitions(ctx: jobs.JobContext, request_id: str, subject_id: str, categories: list[str],
                     done: int) -> int:
    """PostgreSQL: when all of the subject's events, or all of their screenshots, go, their tables
    (partitions) are detached and dropped instead of their rows deleted; the counts are recorded
    in the transaction that drops them. Returns ``done`` plus the items so erased."""
    if not partitions.partitioned():
        return done
    # A detach waits for every transaction that has the tables open: this job's own too.
    db.session.commit()
    all_events = set(EVENT_KINDS) <= set(categories)
    all_shots = "screenshots" in categories
    if all_events:
        names = partitions.detach(subject_id, partitions.EVENT_TABLES)
        events = partitions.partition_name("activity_events", subject_id)
        if events in names:
            for kind, count in partitions.detached_rows(events, "kind, count(*)", "kind"):
                _count(request_id, KIND_CATEGORY[kind]).deleted += count
                done += count
        partitions.drop(names)
        db.session.commit()
        ctx.progress(done, None)
    if all_shots:
        names = partitions.detach(subject_id, partitions.SCREENSHOT_TABLES)
        for name in names:
            ids = [row[0] for row in partitions.detached_rows(name, "id")]
            for shot_id in ids:  # files first: a crash leaves the table, whose files go on the next run
                screenshot_path(subject_id, shot_id).unlink(missing_ok=True)
            _count(request_id, "screenshots").deleted += len(ids)
            done += len(ids)
        partitions.drop(names)
        db.session.commit()
        ctx.progress(done, None)
    if all_events and all_shots:  # nothing is left to count: the totals' table goes too
        partitions.drop(partitions.detach(subject_id, ("subject_category_stats",)))
        db.session.commit()
    return done


def _counts(request_id: str) -> dict[str, dict[str, int]]:
    counts = {}
    for c in db.session.scalars(select(ErasureCount).where(ErasureCount.request_id == request_id)
                                .order_by(ErasureCount.category)):
        counts[c.category] = {"deleted": c.deleted, "blocked": c.blocked}
        if c.removal_required:
            counts[c.category]["removal_required"] = c.removal_required
    return counts


def _shred_if_empty(subject_id: str, request_id: str) -> bool:
    """Destroy the subject's key once nothing sealed with it is left; returns whether it is gone."""
    if remaining_rows(subject_id) != 0:
        return False
    from portal.crypto.keys import keystore
    from portal.crypto.services import shred_subject

    _discard_rectifications(subject_id)
    return shred_subject(subject_id, actor=Actor.system(), reason="erasure",
                         targets={"request": request_id}) or not keystore().exists(subject_id)


def _scrub(request_id: str, subject_id: str, in_place: int) -> None:
    """Scrub the database files after the erasure's commit, and record how on the request. On
    PostgreSQL with the monitoring tables partitioned by subject, only the subject's remaining
    partitions (and the unpartitioned tables) are vacuumed; when no row was deleted in place, the
    erased items went with the tables that held them ("removed")."""
    try:
        scrubbed = scrub_deleted(db.engine, partitions.relations_of(subject_id, SCRUBBED_TABLES))
        if scrubbed == "freed" and not in_place and partitions.partitioned():
            scrubbed = "removed"
    except Exception:  # the erasure itself is done and recorded: this must not undo or repeat it
        log.exception("erasure %s: scrubbing the database files failed", request_id)
        scrubbed = "deleted"
    request = db.session.get(DataRequest, request_id)
    assert request is not None  # noqa: S101 - completed just now
    request.result = {**(request.result or {}), "database_files": scrubbed}
    db.session.commit()


def _on_give_up(job: Any, reason: str) -> None:
    request = db.session.scalar(select(DataRequest).where(DataRequest.job_id == job.id))
    if request is not None and request.state == RequestState.FULFILLING:
        services.fail(request, reason)


@jobs.handler(services.ERASURE_JOB, on_give_up=_on_give_up)
def erase(ctx: jobs.JobContext) -> dict[str, Any]:
    request = db.session.get(DataRequest, ctx.params["request_id"])
    if request is None or request.type != RequestType.ERASURE:
        raise jobs.JobError("The erasure request no longer exists.", retry=False)
    if request.state in CARRIED_OUT_STATES:
        return {"request_id": request.id, "already": True}
    if request.state != RequestState.FULFILLING:
        raise jobs.JobError("The request is not approved for fulfilment (not yet, or no longer); nothing was erased.",
                            retry=False)
    subject = db.session.get(Employee, request.subject_id)
    if subject is None:
        raise jobs.JobError("The employee no longer exists.", retry=False)
    request_id, subject_id = request.id, subject.id
    scope = request.scope or {}
    categories = list(scope.get("categories") or services.ERASABLE)
    categories = [c for c in services.ERASABLE if c in categories]
    start, end = _bounds(scope)
    holds = services.active_holds(subject_id)
    total = 0
    for category in categories:
        if category == "ai_training_use":  # kept and marked, not deleted
            continue
        id_column, conditions = _conditions(category, subject_id, start, end)
        total += db.session.scalar(select(func.count()).select_from(id_column.table).where(*conditions)) or 0
    done = sum(c.deleted for c in db.session.scalars(select(ErasureCount).where(ErasureCount.request_id == request_id)))
    ctx.progress(done, done + total, force=True)
    held_categories = [c for c in categories if any(hold.covers(c) for hold in holds)]
    for category in held_categories:
        if category == "ai_training_use":
            _count(request_id, category).blocked = ledger.memberships(subject_id, *_days(start, end))
        else:
            id_column, conditions = _conditions(category, subject_id, start, end)
            _count(request_id, category).blocked = db.session.scalar(
                select(func.count()).select_from(id_column.table).where(*conditions)) or 0
        db.session.commit()
    in_place = _erase_categories(ctx, request_id, subject_id, [c for c in categories if c not in held_categories],
                                 start, end, done)
    subject = db.session.get(Employee, subject_id)
    request = db.session.get(DataRequest, request_id)
    assert subject is not None and request is not None  # noqa: S101 - read above, nothing deletes them
    rebuild_aggregates(subject)
    counts = _counts(request_id)
    _discard_exports(subject_id, request_id)
    shredded = _shred_if_empty(subject_id, request_id)
    services.suppress(subject_id, "erasure")
    held = {k: v["blocked"] for k, v in counts.items() if v["blocked"]}
    outcome = statement(statements.ERASED, key_destroyed=shredded, jurisdiction=request.jurisdiction,
                        removal_required=bool(counts.get("ai_training_use", {}).get("removal_required")),
                        held=held)
    result: dict[str, Any] = {"categories": counts, "key_destroyed": shredded}
    if held:
        result["hold_basis"] = hold_basis(request.jurisdiction)
    services.complete(request, result=result, outcome=outcome)
    if shredded:
        services.tell_of_erasure(request)
    db.session.commit()  # the erasure is done; what follows only scrubs the database files
    _scrub(request_id, subject_id, in_place)
    request = db.session.get(DataRequest, request_id)
    assert request is not None  # noqa: S101 - completed just now
    return {"scrubbed": request.result.get("database_files") if request.result else None, "request_id": request_id,
            "deleted": sum(v["deleted"] for v in counts.values()), "blocked": sum(held.values())}


@jobs.handler(services.ERASURE_AFTER_HOLD_JOB)
def erase_after_hold(ctx: jobs.JobContext) -> dict[str, Any]:
    """A legal hold was lifted: erase what it kept back from the completed erasure ``request_id``
    (the categories it blocked that no other active hold covers, within the request's scope and
    collected before the erasure ran), update the request's counts, tell the person (a message on
    the request and an e-mail) and audit it. Run again after a crash, it carries on."""
    request = db.session.get(DataRequest, ctx.params["request_id"])
    if request is None or request.type != RequestType.ERASURE or request.state not in CARRIED_OUT_STATES:
        raise jobs.JobError("There is no completed erasure to carry on.", retry=False)
    request_id, subject_id, jurisdiction = request.id, request.subject_id, request.jurisdiction
    holds = services.active_holds(subject_id)
    blocked = [c.category for c in db.session.scalars(select(ErasureCount).where(
        ErasureCount.request_id == request_id, ErasureCount.blocked > 0).order_by(ErasureCount.category))]
    categories = [c for c in services.ERASABLE if c in blocked and not any(h.covers(c) for h in holds)]
    if not categories:
        return {"request_id": request_id, "erased": {}}
    start, end = _bounds(request.scope or {})
    completed = request.done_at
    if completed is not None and (end is None or end > completed):
        end = completed  # what was collected after the erasure was never part of it
    # The counts as the request last recorded them (a run cut short has not changed them yet).
    before: dict[str, Any] = dict((request.result or {}).get("categories") or {})
    done = sum(int(v.get("deleted") or 0) for v in before.values())
    ctx.progress(done, None, force=True)
    in_place = _erase_categories(ctx, request_id, subject_id, categories, start, end, done)
    for category in categories:
        _count(request_id, category).blocked = 0
    subject = db.session.get(Employee, subject_id)
    assert subject is not None  # noqa: S101 - the request's foreign key cascades
    rebuild_aggregates(subject)
    _discard_exports(subject_id, request_id)
    shredded = _shred_if_empty(subject_id, request_id)
    counts = _counts(request_id)
    erased = {c: counts[c]["deleted"] - before.get(c, {}).get("deleted", 0) for c in categories}
    marked = counts.get("ai_training_use", {}).get("removal_required", 0) if "ai_training_use" in categories else 0
    request = db.session.get(DataRequest, request_id)
    assert request is not None  # noqa: S101 - read above
    key_destroyed = bool((request.result or {}).get("key_destroyed")) or shredded
    request.result = {**(request.result or {}), "categories": counts, "key_destroyed": key_destroyed}
    still_held = {k: v["blocked"] for k, v in counts.items() if v["blocked"]}
    if not still_held:
        request.result.pop("hold_basis", None)
    said = statement(statements.ERASURE_RESUMED, ref=request.reference, categories=categories, erased=erased,
                     marked=marked, key_destroyed=shredded, still_held=still_held, jurisdiction=jurisdiction)
    services.tell_requester(request, said, template="request_erasure_resumed")
    # What the hold kept back is erased now: the recipients that received it are told too (their
    # tasks do not hold up the request, which was complete already).
    from portal.recipients import services as recipients
    from portal.recipients.models import TaskAction

    now_erased = tuple(c for c in categories if erased.get(c) or (c == "ai_training_use" and marked))
    if now_erased:
        recipients.open_tasks(subject_id, recipients.Affected(TaskAction.ERASE, now_erased), request=request)
    if shredded:  # the person's other open requests learn what that means for them, as after an erasure
        services.tell_of_erasure(request)
    record("requests:erasure:resume", actor=Actor.system(), subject_id=subject_id,
           targets={"request": request_id, "job": ctx.job_id},
           details={**{f"deleted_{c}": n for c, n in erased.items() if c != "ai_training_use"},
                    "removal_required": marked, "key_destroyed": shredded, "still_blocked": sorted(still_held)})
    db.session.commit()
    _scrub(request_id, subject_id, in_place)
    return {"request_id": request_id, "erased": erased, "key_destroyed": shredded}


def _discard_exports(subject_id: str, request_id: str) -> None:
    """A ready export is a copy of the data as it was: after any erasure (a date range or some
    categories too) it may hold what was just erased, so it is removed, like an expired one. One
    still being made is cancelled (its job finds it so and keeps nothing), and an access request
    it was fulfilling fails, for its DPO to make again or to close."""
    reason = "Cancelled: data was erased while this copy was being prepared."
    for export in db.session.scalars(select(Export).where(
            Export.subject_id == subject_id,
            Export.state.in_([ExportState.READY, ExportState.QUEUED, ExportState.RUNNING]))):
        if export.state == ExportState.READY:
            path = artifact_path(export)
            if path is not None:
                path.unlink(missing_ok=True)
            export.state = ExportState.EXPIRED
            export.deleted_at = datetime.now(UTC)
            export.erased_by_request_id = request_id
            record("exports:export:expire", actor=Actor.system(), subject_id=subject_id,
                   targets={"export": export.id, "request": request_id}, details={"reason": "erasure"})
            continue
        export.state = ExportState.FAILED
        export.error = reason
        record("exports:export:cancel", actor=Actor.system(), subject_id=subject_id,
               targets={"export": export.id, "request": request_id}, details={"reason": "erasure"})
        linked = db.session.get(DataRequest, export.request_id) if export.request_id else None
        if linked is not None and linked.state == RequestState.FULFILLING:
            services.fail(linked, reason)


def _discard_rectifications(subject_id: str) -> None:
    """Corrections are sealed with the subject's key: once it is destroyed they cannot be read, and
    what they corrected is gone. The request keeps its own record of having been fulfilled."""
    db.session.execute(delete(Rectification).where(Rectification.subject_id == subject_id))
