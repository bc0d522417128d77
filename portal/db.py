"""The declarative base, its constraint naming convention and reusable column types."""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar

from sqlalchemy import CheckConstraint, DateTime, MetaData, String, Table, TypeDecorator, func, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


_CLOCK: ContextVar[datetime | None] = ContextVar("portal_clock", default=None)


def utcnow() -> datetime:
    """Now, in UTC; inside :func:`clock_at`, the moment it set."""
    fixed = _CLOCK.get()
    return fixed if fixed is not None else datetime.now(UTC)


@contextmanager
def clock_at(moment: datetime) -> Iterator[None]:
    """Make :func:`utcnow` answer ``moment`` in this context (the demo seed only: it builds its
    history step by step at the times it shows, so that every record, audit entry included, is
    stamped with the moment it describes; the steps run in time order, as the audit log wants)."""
    if moment.tzinfo is None:
        raise ValueError("clock_at needs an aware moment")
    token = _CLOCK.set(moment.astimezone(UTC))
    try:
        yield
    finally:
        _CLOCK.reset(token)


def instant(value: datetime | None) -> str | None:
    """A moment as ISO 8601 UTC to the second (``2026-11-23T14:05:00Z``); a naive value is UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """A random surrogate identifier (128 bits, hex): reveals nothing and cannot be guessed."""
    return secrets.token_hex(16)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


E = TypeVar("E", bound=enum.StrEnum)


class EnumString(TypeDecorator[E]):
    """A :class:`~enum.StrEnum` stored as its value in a ``VARCHAR(length)``, read back as the member.

    Only the Python side changes: the column is the plain ``String(length)`` the migrations create,
    and :func:`enum_check` (in the table's arguments) is what keeps the database to the values. A
    value that is not one of the enum's, written or compared, raises :class:`ValueError`."""

    impl = String
    cache_ok = True

    def __init__(self, enum_cls: type[E], length: int) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls
        # A member hashes and compares as its value, so one look-up takes a member or a string.
        self._values: dict[str, str] = {m.value: m.value for m in enum_cls}
        self._members: dict[str, E] = {m.value: m for m in enum_cls}

    @property
    def python_type(self) -> type[E]:
        return self.enum_cls

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        try:
            return self._values[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a {self.enum_cls.__name__} value") from None

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        if value is None:
            return None
        member = self._members.get(value)
        if member is None:
            raise ValueError(f"{value!r} is not a {self.enum_cls.__name__} value")
        return member


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        __table__: ClassVar[Table]  # every model maps a table of its own (SQLAlchemy types it FromClause)


SurrogateId = Annotated[str, mapped_column(String(32), primary_key=True, default=new_id)]
CreatedAt = Annotated[datetime, mapped_column(UTCDateTime(), default=utcnow, server_default=func.now(), nullable=False)]


def enum_check(column: str, enum_cls: type[enum.StrEnum], name: str | None = None) -> CheckConstraint:
    """A CHECK constraint that keeps a StrEnum column to its values."""
    values = ", ".join(f"'{member.value}'" for member in enum_cls)
    return CheckConstraint(f"{column} IN ({values})", name=name or f"{column}_valid")


# -- one statement, each dialect's SQL (docs/architecture.md, "Dialects") --------------------------

def _session() -> Any:
    from portal.extensions import db

    return db.session


def upsert(table: Any, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]], index_elements: Sequence[Any],
           set_: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None = None, *,
           returning: Sequence[Any] = (), connection: Any = None) -> Any:
    """``INSERT ... ON CONFLICT (index_elements) DO UPDATE SET set_`` (``DO NOTHING`` without
    ``set_``), the same SQL on SQLite and PostgreSQL, run in the session (or on ``connection``);
    returns the result. ``table`` is a table or a mapped class; ``rows`` one row (its values in the
    statement, for ``returning``) or a list of rows (executemany: no Python work per row here).
    ``set_`` may be a function of the statement's ``excluded`` (the row that was refused)."""
    executor = _session() if connection is None else connection
    dialect = executor.dialect if connection is not None else executor.get_bind().dialect
    statement: Any = (postgresql.insert if dialect.name == "postgresql" else sqlite.insert)(table)
    if isinstance(rows, Mapping):
        statement = statement.values(**rows)
    if set_ is None:
        statement = statement.on_conflict_do_nothing(index_elements=index_elements)
    else:
        changes = set_(statement.excluded) if callable(set_) else set_
        statement = statement.on_conflict_do_update(index_elements=index_elements, set_=changes)
    if returning:
        statement = statement.returning(*returning)
    if isinstance(rows, Mapping):
        return executor.execute(statement)
    return executor.execute(statement, rows)


def write_lock(table: Any) -> bool:
    """SQLite has no row locks, only one writer: take the database's write lock now, by a write
    to ``table`` that changes nothing, so that what the transaction reads next stays as it is until
    it commits (a concurrent writer waits). False elsewhere (PostgreSQL locks rows instead)."""
    session = _session()
    if session.get_bind().dialect.name != "sqlite":
        return False
    first = next(iter(table.primary_key.columns))
    session.execute(update(table).where(first.is_(None)).values({first.name: None})
                    .execution_options(synchronize_session=False))
    return True


def serialised(lock: int | str, *, wait: str | None = None, sqlite_table: Any = None) -> bool:
    """Take ``lock`` until the current transaction ends, so that the transactions that take it run
    one after the other. Returns whether a lock was taken.

    PostgreSQL: ``pg_advisory_xact_lock`` on ``lock`` (a number as it is, a name through
    ``hashtext``); with ``wait`` (``'5s'``) the wait for it is bounded, as ``lock_timeout`` for this
    statement only, and a lock not had in time raises ``OperationalError`` with SQLSTATE 55P03.
    SQLite has one writer and no other lock: with ``sqlite_table``, its write lock is taken at once
    (:func:`write_lock`); without, nothing is taken here and the transaction's first write takes it."""
    session = _session()
    if session.get_bind().dialect.name != "postgresql":
        return write_lock(sqlite_table) if sqlite_table is not None else False
    previous = None
    if wait is not None:
        previous = session.execute(text("SELECT current_setting('lock_timeout')")).scalar_one()
        session.execute(text("SELECT set_config('lock_timeout', :wait, true)"), {"wait": wait})
    if isinstance(lock, int):
        session.execute(text(f"SELECT pg_advisory_xact_lock({lock:d})"))
    else:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": lock})
    if wait is not None:
        session.execute(text("SELECT set_config('lock_timeout', :was, true)"), {"was": previous})
    return True


def scrub_deleted(engine: Any, tables: list[str], *, attempts: int = 20, pause: float = 0.25) -> str:
    """After an erasure: what can be done at once so that the deleted rows do not linger in the live
    database files. Returns what was done, as the deletion certificate states it:

    - ``"overwritten"`` (SQLite): every connection deletes with ``secure_delete``, so freed content
      is overwritten with zeros; here the write-ahead log, which still holds the pages as they were
      before, is copied back and truncated to nothing. A reader in the middle of a long query can
      hold the old pages for a moment: the checkpoint waits briefly and is tried ``attempts`` times.
    - ``"freed"`` (PostgreSQL): the deleted rows' tuples and index entries are removed by a plain
      ``VACUUM`` of ``tables`` (it does not block reads or writes); their bytes stay in the files'
      free space until it is reused (docs/architecture.md, "Keys and backups").
    - ``"deleted"``: neither could be done now (busy); the database's own maintenance does it later.
    """
    import time

    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("SET lock_timeout = '10s'")
            try:
                conn.exec_driver_sql("VACUUM (INDEX_CLEANUP ON) " + ", ".join(
                    engine.dialect.identifier_preparer.quote(table) for table in tables))
            except Exception:
                log.warning("the vacuum after an erasure did not run; autovacuum will do it", exc_info=True)
                return "deleted"
        return "freed"
    if engine.dialect.name != "sqlite":
        return "deleted"
    with engine.connect() as conn:
        # Wait briefly for readers and writers, then let go and try again: a checkpoint that waited
        # the whole busy timeout would hold up every other writer that long.
        conn.exec_driver_sql("PRAGMA busy_timeout=100")
        try:
            for _ in range(attempts):
                busy, _frames, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                if not busy:
                    return "overwritten"
                time.sleep(pause)
            return "deleted"
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout=10000")  # as every connection of the pool has it


# -- the database going away ----------------------------------------------------------------------

TRANSIENT_SQLSTATES = frozenset({
    "40001",  # serialization_failure: the same transaction run again can succeed
    "40P01",  # deadlock_detected
    "57P01",  # admin_shutdown: the server is stopping or restarting (pg_ctl stop, a failover)
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: the server is starting up
})


def is_transient(exc: BaseException) -> bool:
    """Whether a database error says "not now" rather than "never": the connection was lost or
    refused, the server is shutting down or starting, a serialization failure or deadlock, or
    (SQLite) the database stayed locked. The same work can succeed once the database is back."""
    from sqlalchemy.exc import DBAPIError

    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith("08")  # class 08: connection exception
    module = type(orig).__module__
    if module.startswith("psycopg"):
        # No SQLSTATE: the client could not reach the server or lost it (refused, closed, reset).
        import psycopg

        return isinstance(orig, psycopg.OperationalError | psycopg.InterfaceError)
    if module.startswith("sqlite3"):
        return "database is locked" in str(orig)
    return False


class Busy(RuntimeError):
    """The work could not be done now (a lock was not free in time, or the rows' tables are being
    dropped): the transaction is rolled back and nothing of it kept; the same work can be tried
    again shortly. Pages answer 503 with ``Retry-After``."""


class DatabaseUnavailable(RuntimeError):
    """The database stayed unreachable (or kept failing transiently) for the whole time allowed."""

    def __init__(self, waited: float, last: BaseException) -> None:
        super().__init__(f"the database did not answer for {waited:.0f} s ({describe_failure(last)})")
        self.waited = waited
        self.last = last


def describe_failure(exc: BaseException) -> str:
    """A short description of a transient failure for messages and logs: its kind, never a
    statement or its parameters."""
    from sqlalchemy.exc import DBAPIError

    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    return f"{type(orig).__name__}{f' {sqlstate}' if sqlstate else ''}"


def retry_transient(work: Any, *, seconds: float, what: str, session: Any = None,
                    first_pause: float = 0.5, max_pause: float = 8.0) -> Any:
    """Run ``work()`` until it returns, retrying after a transient database error with growing
    pauses (0.5 s, 1 s, 2 s ... at most 8 s) for at most ``seconds``; then raise
    :class:`DatabaseUnavailable`. Other errors go through at once. ``work`` must be safe to run
    again (it starts its own transaction); ``session`` is rolled back after each failure so that
    the next attempt starts clean."""
    import time

    started = time.monotonic()
    pause = first_pause
    while True:
        try:
            return work()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if session is not None:
                try:
                    session.rollback()
                except Exception:  # the rollback needs the connection that is gone; the next use reconnects
                    log.debug("rollback after a lost connection failed", exc_info=True)
            waited = time.monotonic() - started
            if waited + pause > seconds:
                raise DatabaseUnavailable(waited, exc) from exc
            log.warning("%s: the database did not answer (%s); trying again in %.1f s",
                        what, describe_failure(exc), pause)
            time.sleep(pause)
            pause = min(max_pause, pause * 2)
