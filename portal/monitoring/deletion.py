"""Deleting a person's monitoring rows in batches, and keeping what the dashboard shows right: the
retention run takes each batch off the aggregates in the batch's transaction; the erasure job
recounts them from what is left. Shared by the erasure job (``rights/erasure.py``) and the
retention job (``rights/retention.py``); see docs/architecture.md, "Erasure" and "Retention"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, delete, func, literal, select, text, tuple_, union_all, update

from portal.db import UTCDateTime, write_lock
from portal.extensions import db
from portal.monitoring import aggregates, partitions
from portal.monitoring.models import (
    ActivityDaily,
    ActivityEvent,
    ActivityHourly,
    ActivityTarget,
    EventKind,
    Screenshot,
    SubjectCategoryStats,
)
from portal.people.models import Employee

BATCH = 5000  # rows per transaction: each holds the write lock for a few tens of milliseconds
EVENT_KINDS = {key: [k.value for k in EventKind if k.category.value == key] for key in ("input_events",
                                                                                        "app_activity")}
KIND_CATEGORY = {kind: category for category, kinds in EVENT_KINDS.items() for kind in kinds}


def delete_events(subject_id: str, categories: list[str], start: datetime | None,
                  end: datetime | None, *, subtract_in: ZoneInfo | None = None) -> Iterator[dict[str, int]]:
    """Delete the subject's events of ``categories`` (from ``start``, before ``end``), :data:`BATCH`
    at a time, walking a time index of the subject from where the last batch ended (keyset): each
    batch reads only its own rows, however many the subject has, and skips rows deleted but not yet
    vacuumed (PostgreSQL). On SQLite, when every kind of event goes, one walk of the (subject,
    time, id) index takes them in the order they were stored; otherwise, and on PostgreSQL, each
    kind is walked on (subject, kind, time, id).

    A batch is three statements over the same index range, none of which hands its rows to Python:
    the key of the batch's last row (``OFFSET``), the count of each kind up to it (one walk; in a
    transaction that already holds SQLite's write lock, so that the count is of what is deleted),
    and the ``DELETE`` of that range (a walk of one kind counts what it deleted). Handing a million
    deleted rows back through ``RETURNING`` cost more than the deletion itself (bench/erasure.py). Yields each batch's count per category; the
    caller commits it with its tally.

    With ``subtract_in`` (the retention run: the employee's time zone), the aggregates are kept
    right batch by batch instead of recounted: each batch locks the subject's employee row
    (:func:`lock_subject`), its ``DELETE`` returns the few columns the aggregates are counted
    from (what retention deletes in a day is a small part of what a person has), and before the
    batch is yielded they are taken off the aggregates
    (:meth:`~portal.monitoring.aggregates.ActivityTally.subtract`) and the category totals
    (:func:`subtract_stats`), in the batch's transaction: each commit leaves rows and aggregates
    consistent."""
    bounds = ""
    params: dict[str, Any] = {"subject": subject_id, "last": BATCH - 1}
    if start is not None:
        bounds += " AND occurred_at >= :start"
        params["start"] = start
    if end is not None:
        bounds += " AND occurred_at < :end"
        params["end"] = end
    kinds = [kind for category in categories for kind in EVENT_KINDS[category]]
    one_walk = set(kinds) == set(KIND_CATEGORY) and db.session.get_bind().dialect.name == "sqlite"
    walks: list[str | None] = [None] if one_walk else list(kinds)

    def run(sql: str, values: dict[str, Any], **columns: Any) -> Any:
        """``sql`` with the bounds typed as times, and ``columns`` (name: type) typed in its rows."""
        statement: Any = text(sql)
        if start is not None or end is not None:
            statement = statement.bindparams(*(bindparam(name, type_=UTCDateTime())
                                               for name in ("start", "end") if name in params))
        if columns:
            statement = statement.columns(**columns)
        return db.session.execute(statement, values)

    for kind in walks:
        after: tuple[Any, Any] | None = None
        while True:
            where = " WHERE subject_id = :subject" + (" AND kind = :kind" if kind is not None else "") + bounds
            if after is not None:
                where += " AND (occurred_at, id) > (:after_time, :after_id)"
            values = {**params, "kind": kind}
            if kind is None:  # SQLite: hold the write lock before counting, so no row comes in between
                write_lock(ActivityEvent.__table__)
            if after is not None:
                values.update(after_time=after[0], after_id=after[1])
            last = run("SELECT occurred_at, id FROM activity_events" + where +  # noqa: S608 - fixed text
                       " ORDER BY occurred_at, id LIMIT 1 OFFSET :last", values).first()
            batch = where
            if last is not None:  # a full batch: up to its last row; otherwise everything left
                batch += " AND (occurred_at, id) <= (:upto_time, :upto_id)"
                values.update(upto_time=last[0], upto_id=last[1])
            if subtract_in is not None:
                lock_subject(subject_id)
                gone = run("DELETE FROM activity_events" + batch +  # noqa: S608 - fixed text
                           " RETURNING kind, occurred_at, app_bidx, site_bidx, duration_ms", values,
                           occurred_at=UTCDateTime()).all()
                tally = _subtract(subject_id, gone, subtract_in)
                if tally:
                    yield tally
                if last is None:
                    break
                after = (last[0], last[1])
                continue
            if kind is None:
                tally = {}
                for row_kind, count in run(  # SQLite alone walks once: without INDEXED BY, GROUP BY kind
                        "SELECT kind, count(*) FROM activity_events INDEXED BY ix_activity_events_subject_time"  # noqa: S608
                        + batch + " GROUP BY kind", values):  # would walk every row of the subject's kind index
                    tally[KIND_CATEGORY[row_kind]] = tally.get(KIND_CATEGORY[row_kind], 0) + count
            deleted = run("DELETE FROM activity_events" + batch, values).rowcount  # noqa: S608 - fixed text
            if kind is not None:
                tally = {KIND_CATEGORY[kind]: deleted} if deleted else {}
            if deleted:
                yield tally
            if last is None:
                break
            after = (last[0], last[1])  # the driver's own values: text or timestamps


def lock_subject(subject_id: str) -> None:
    """Lock the subject's employee row ``FOR NO KEY UPDATE`` (PostgreSQL), until the transaction
    ends: against :func:`rebuild_aggregates`'s lock, so a recount and a batch taken off the
    aggregates run one after the other, but not against ingestion's foreign-key checks."""
    db.session.execute(select(Employee.id).where(Employee.id == subject_id).with_for_update(key_share=True))


def _subtract(subject_id: str, rows: list[Any], zone: ZoneInfo) -> dict[str, int]:
    """Take deleted events (kind, time, application, site, duration) off the subject's category
    totals and aggregates; their count per category."""
    counts: dict[str, int] = {}
    tally = aggregates.ActivityTally(zone)
    add = tally.add
    for kind, occurred_at, app_bidx, site_bidx, duration in rows:  # occurred_at typed by the statement
        counts[KIND_CATEGORY[kind]] = counts.get(KIND_CATEGORY[kind], 0) + 1
        add(occurred_at, app_bidx, site_bidx, duration)
    for category, count in sorted(counts.items()):  # ingestion's order: the totals, then the aggregates
        subtract_stats(subject_id, category, count)
    tally.subtract(subject_id)
    return counts


def subtract_stats(subject_id: str, category: str, count: int) -> None:
    """Take ``count`` deleted items off the subject's total for ``category`` (``item_count =
    item_count - :n``), and set its first and last time from what is left (an index seek for the
    oldest and newest of each kind), or delete the row when nothing is left. The update that
    subtracts locks the row first (PostgreSQL: after a concurrent ingestion's commit), so the
    times read by the next statement see what that ingestion stored."""
    table = SubjectCategoryStats.__table__
    key = [table.c.subject_id == subject_id, table.c.category == category]
    db.session.execute(update(table).where(*key).values(item_count=table.c.item_count - count))
    db.session.execute(delete(table).where(*key, table.c.item_count <= 0))
    if category in EVENT_KINDS:
        column: Any = ActivityEvent.occurred_at
        where = [[ActivityEvent.subject_id == subject_id, ActivityEvent.kind == kind] for kind in EVENT_KINDS[category]]
    else:
        column = Screenshot.captured_at
        where = [[Screenshot.subject_id == subject_id]]
    ends = {}
    for name in ("min", "max"):
        pick = getattr(func, name)
        each = union_all(*(select(pick(column).label("at")).where(*w) for w in where)).subquery()
        ends[name] = select(getattr(func, name)(each.c.at)).scalar_subquery()
    db.session.execute(update(table).where(*key).values(first_at=ends["min"], last_at=ends["max"]))


def walk(time_column: Any, id_column: Any, conditions: list[Any]) -> Iterator[list[Any]]:
    """The ids of the rows matching ``conditions``, :data:`BATCH` at a time in (time, id) order,
    each batch from where the last one ended (keyset), so rows deleted in between are not missed."""
    after: tuple[Any, Any] | None = None
    while True:
        where = list(conditions)
        if after is not None:
            where.append(tuple_(time_column, id_column) > tuple_(literal(after[0], time_column.type),
                                                                  literal(after[1], id_column.type)))
        rows = db.session.execute(select(time_column, id_column).where(*where)
                                  .order_by(time_column, id_column).limit(BATCH)).all()
        if not rows:
            return
        yield [row[1] for row in rows]
        after = (rows[-1][0], rows[-1][1])


def _label_from_an_event(subject_id: str, kind: str, bidx: bytes) -> bytes | None:
    """A target's sealed name made again from one of its events (a target row that had none)."""
    cipher = aggregates.subject_cipher(subject_id)
    column = ActivityEvent.site_bidx if kind == aggregates.SITE else ActivityEvent.app_bidx
    event = db.session.scalars(select(ActivityEvent).where(ActivityEvent.subject_id == subject_id, column == bidx)
                               .limit(1)).first()
    if cipher is None or event is None or event.sealed_names is None:
        return None
    application, site = event.reveal_names(cipher)
    name = site if kind == aggregates.SITE else application
    return cipher.seal_label(kind, bidx, name or "")


def remaining_rows(subject_id: str) -> int:
    """Monitoring rows of the subject still held (anything sealed with the subject's key)."""
    events = db.session.scalar(select(func.count()).select_from(ActivityEvent)
                               .where(ActivityEvent.subject_id == subject_id)) or 0
    shots = db.session.scalar(select(func.count()).select_from(Screenshot)
                              .where(Screenshot.subject_id == subject_id)) or 0
    return events + shots


def rebuild_aggregates(subject: Employee) -> None:
    """Recount the dashboard's aggregates from the rows that are left (clear columns and blind
    indexes only; each site's and application's sealed name is kept from the row it had, so a
    name whose rows are all gone goes with its row).

    The subject's row is locked first, so that two rebuilds of one person (the retention job in
    two processes, or beside an erasure) run one after the other instead of inserting the same
    totals twice."""
    db.session.execute(select(Employee.id).where(Employee.id == subject.id).with_for_update())
    if remaining_rows(subject.id):  # an erasure of everything leaves no tables to refill (partitions.py)
        partitions.ensure([subject.id])
    labels: dict[tuple[str, bytes], bytes | None] = {
        (kind, bidx): label for kind, bidx, label in db.session.execute(
            select(ActivityTarget.target_type, ActivityTarget.bidx, ActivityTarget.label)
            .where(ActivityTarget.subject_id == subject.id))}
    for model in (ActivityDaily, ActivityHourly, ActivityTarget, SubjectCategoryStats):
        db.session.execute(delete(model).where(model.subject_id == subject.id))
    tally = aggregates.ActivityTally(aggregates.zone_of(subject.timezone))
    after = 0
    while True:
        rows = db.session.execute(select(ActivityEvent.id, ActivityEvent.occurred_at, ActivityEvent.app_bidx,
                                         ActivityEvent.site_bidx, ActivityEvent.duration_ms)
                                  .where(ActivityEvent.subject_id == subject.id, ActivityEvent.id > after)
                                  .order_by(ActivityEvent.id).limit(10_000)).all()
        if not rows:
            break
        for _id, occurred_at, app_bidx, site_bidx, duration in rows:
            tally.add(occurred_at, app_bidx, site_bidx, duration)
        after = rows[-1][0]
    tally.store(subject.id, {target: labels.get(target) or _label_from_an_event(subject.id, *target)
                             for target in tally.targets()})
    for category, kinds in EVENT_KINDS.items():
        count, first, last = db.session.execute(select(func.count(), func.min(ActivityEvent.occurred_at),
                                                       func.max(ActivityEvent.occurred_at))
                                                .where(ActivityEvent.subject_id == subject.id,
                                                       ActivityEvent.kind.in_(kinds))).one()
        if count:
            db.session.add(SubjectCategoryStats(subject_id=subject.id, category=category, item_count=count,
                                                first_at=first, last_at=last))
    count, first, last = db.session.execute(select(func.count(), func.min(Screenshot.captured_at),
                                                   func.max(Screenshot.captured_at))
                                            .where(Screenshot.subject_id == subject.id)).one()
    if count:
        db.session.add(SubjectCategoryStats(subject_id=subject.id, category="screenshots", item_count=count,
                                            first_at=first, last_at=last))
