"""On PostgreSQL, each person's monitoring rows live in tables of their own: partitions of the
monitoring tables, one per person (docs/architecture.md, "Erasure").

PostgreSQL never overwrites a deleted row in place: a ``DELETE`` and even a ``VACUUM`` leave the
row's bytes in the table's and indexes' files until the space is reused. An erasure that covers
everything of a kind therefore does not delete rows: it detaches the person's partitions (without
blocking anyone: ``DETACH PARTITION ... CONCURRENTLY``) and drops them, so that their files are
emptied and removed; nothing of them is left in the live database files. Erasures of a part
(a period, some kinds) delete rows and vacuum, as on SQLite.

Partitions are made the first time something is stored for a person (:func:`ensure`), as a
table of its own that is then attached (``ATTACH PARTITION`` takes a lock that does not stop
reads or writes; ``CREATE TABLE ... PARTITION OF`` would). On SQLite, and on a PostgreSQL
database whose tables are not partitioned, every function here does nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import text

from portal.db import Busy, serialised
from portal.extensions import db

# The tables partitioned by subject (LIST on subject_id), in the order they are made and dropped.
EVENT_TABLES = ("activity_events", "activity_daily", "activity_hourly", "activity_targets")
SCREENSHOT_TABLES = ("screenshots",)
TABLES = (*EVENT_TABLES, *SCREENSHOT_TABLES, "subject_category_stats")
_SUBJECT = re.compile(r"[0-9a-f]{32}")
LOCK_TIMEOUT = "15s"  # DDL waits at most this long for a lock, then fails clearly (and is retried)


_PARTITION = re.compile(r"(?:%s)_[0-9a-f]{32}" % "|".join(TABLES))  # noqa: UP031 - a pattern, built once


def not_a_partition(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's ``include_name``: everything but a person's partition and its indexes (those
    are made as data is stored, not by migrations)."""
    if type_ == "table":
        return not (name and _PARTITION.fullmatch(name))
    if type_ == "index":
        return not (name and re.match(r"(?:%s)_[0-9a-f]{32}_" % "|".join(TABLES), name))  # noqa: UP031
    return True


def partition_name(table: str, subject_id: str) -> str:
    if not _SUBJECT.fullmatch(subject_id):  # it is placed in DDL: only our own surrogates
        raise ValueError("not a subject id")
    return f"{table}_{subject_id}"


def _engine() -> Any:
    return db.engine


def partitioned(engine: Any | None = None) -> bool:
    """Whether the monitoring tables are partitioned by subject here (PostgreSQL, after the
    migration that made them so)."""
    engine = engine or _engine()
    if engine.dialect.name != "postgresql":
        return False
    cached = engine.__dict__.get("_portal_partitioned")
    if cached is None:
        with engine.connect() as conn:
            cached = conn.execute(text("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('activity_events')"
                                       )).scalar() is True
        engine.__dict__["_portal_partitioned"] = cached
    return bool(cached)


class ErasureUnderway(Busy):
    """The subject's tables are being dropped by an erasure (detached, not yet dropped): nothing
    can be stored for them until it finishes; the caller rolls back and may try again later."""


def ensure(subject_ids: Iterable[str], tables: Sequence[str] = TABLES) -> None:
    """Make sure the subjects' partitions of ``tables`` exist, creating and attaching what is
    missing in the caller's transaction (so that it goes with what the caller stores, and a
    transaction that has just added the employee does not wait on itself: attaching clones the
    foreign keys, which locks the employees table against writers until the commit)."""
    subject_ids = sorted(set(subject_ids))
    if not subject_ids or not partitioned():
        return
    conn = db.session.connection()
    names = [partition_name(t, s) for s in subject_ids for t in tables]
    present = set(conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid "
        "WHERE c.relname = ANY(:names) AND NOT i.inhdetachpending"), {"names": names}).scalars())
    if len(present) == len(names):
        return
    previous = conn.execute(text("SELECT current_setting('lock_timeout')")).scalar()
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": LOCK_TIMEOUT})
    for subject_id in subject_ids:
        for table in tables:
            name = partition_name(table, subject_id)
            if name in present:
                continue
            # One maker at a time per partition: a second transaction then finds it made.
            serialised(name)
            state = conn.execute(text(
                "SELECT i.inhdetachpending FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
                "WHERE c.oid = to_regclass(:name)"), {"name": name}).first()
            if state is not None and state[0] is False:
                continue  # made meanwhile
            if state is not None:  # left detached (or half-detached) by an erasure: not to be reused
                raise ErasureUnderway(f"a detached partition {name} is waiting to be dropped")
            conn.exec_driver_sql(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS '
                                 "INCLUDING CONSTRAINTS INCLUDING STORAGE)")
            conn.exec_driver_sql(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" '
                                 f"FOR VALUES IN ('{subject_id}')")
    conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": str(previous)})


def detach(subject_id: str, tables: Sequence[str]) -> list[str]:
    """Detach the subject's partitions of ``tables`` (concurrently: readers and writers of other
    partitions are not held up) and return the names of the detached tables, which hold the
    rows until :func:`drop` removes them in the caller's transaction. Run again after a crash,
    it finishes a detach that was cut short."""
    engine = _engine()
    if not partitioned(engine):
        return []
    detached = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        for table in tables:
            name = partition_name(table, subject_id)
            state = conn.execute(text(
                "SELECT i.inhdetachpending FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid "
                "WHERE c.oid = to_regclass(:name)"), {"name": name}).first()
            if state is None:
                continue  # never made, or already dropped
            if state[0] is False:
                conn.exec_driver_sql(f'ALTER TABLE "{table}" DETACH PARTITION "{name}" CONCURRENTLY')
            elif state[0] is True:
                conn.exec_driver_sql(f'ALTER TABLE "{table}" DETACH PARTITION "{name}" FINALIZE')
            detached.append(name)
    return detached


def detached_rows(name: str, columns: str = "count(*)", group_by: str | None = None) -> list[Any]:
    """Read from a detached partition (in the caller's transaction)."""
    if not re.fullmatch(r"[a-z_]+_[0-9a-f]{32}", name):
        raise ValueError("not a partition name")
    statement = f'SELECT {columns} FROM "{name}"' + (f" GROUP BY {group_by}" if group_by else "")  # noqa: S608
    return list(db.session.execute(text(statement)).all())


def drop(names: Iterable[str]) -> None:
    """Drop detached partitions in the caller's transaction: their files are emptied when it
    commits, with the counts recorded in it."""
    for name in names:
        if not re.fullmatch(r"[a-z_]+_[0-9a-f]{32}", name):
            raise ValueError("not a partition name")
        db.session.execute(text(f'DROP TABLE IF EXISTS "{name}"'))


def relations_of(subject_id: str, tables: Iterable[str]) -> list[str]:
    """The relations to vacuum after the subject's rows were deleted from ``tables``: for a
    partitioned table, the subject's partition if it is still there; others as they are."""
    tables = list(tables)
    if not partitioned():
        return tables
    names = {table: partition_name(table, subject_id) for table in tables if table in TABLES}
    with _engine().connect() as conn:
        present = set(conn.execute(text("SELECT relname FROM pg_class WHERE relname = ANY(:names)"),
                                   {"names": list(names.values())}).scalars())
        conn.rollback()
    return [names.get(table, table) for table in tables
            if table not in names or names[table] in present]
